//! A summary as lines of text: pure, so the ladder's layout is tested without a server.
//!
//! Prices and amounts are printed exactly as the server sent them (only padded, so that the
//! decimal points line up); text from the network is stripped of control characters first, so
//! a hostile server cannot move the cursor or rewrite the screen.

use md_proto::orderbook::{Level, State, Summary, VenueState};

/// Whether lines carry ANSI colours (a live terminal) or none (pipes, `--count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// No escape codes at all.
    Plain,
    /// Asks red, bids green, each venue its own colour.
    Colour,
}

/// Counts the summaries a stream skipped: the server's `sequence` is per symbol, and a slow
/// reader is sent only the latest state.
#[derive(Debug, Default, Clone, Copy)]
pub struct Skips {
    last: Option<u64>,
    skipped: u64,
}

impl Skips {
    /// Takes the next summary's sequence; returns the number skipped so far.
    pub fn observe(&mut self, sequence: u64) -> u64 {
        if let Some(last) = self.last {
            // A sequence that goes back means the server restarted: nothing was skipped.
            self.skipped += sequence.saturating_sub(last).saturating_sub(1);
        }
        self.last = Some(sequence);
        self.skipped
    }
}

/// The lines of one summary: a header, the asks (worst at the top, best just above the
/// spread line), the spread line, the bids (best first) and one line per venue.
pub fn lines(summary: &Summary, skipped: u64, style: Style) -> Vec<String> {
    let mut out = Vec::with_capacity(summary.asks.len() + summary.bids.len() + summary.venues.len() + 3);
    out.push(header(summary, skipped));
    let columns = Columns::of(summary.asks.iter().chain(&summary.bids));
    for level in summary.asks.iter().rev() {
        out.push(columns.row("ask", level, style));
    }
    out.push(spread_line(summary, style));
    for level in &summary.bids {
        out.push(columns.row("bid", level, style));
    }
    let width = summary.venues.iter().map(|v| clean(&v.exchange).chars().count()).max().unwrap_or(0);
    out.extend(summary.venues.iter().map(|v| venue_line(v, width, style)));
    out
}

fn header(summary: &Summary, skipped: u64) -> String {
    let time = if summary.exchange_ts_ns > 0 {
        format!("  exchange time {}", md_core::time::utc_rfc3339(summary.exchange_ts_ns))
    } else {
        String::new()
    };
    format!("{}  sequence {}  skipped {skipped}{time}", clean(&summary.symbol), summary.sequence)
}

fn spread_line(summary: &Summary, style: Style) -> String {
    let spread = if summary.spread.is_empty() { "-".to_owned() } else { clean(&summary.spread) };
    let crossed = match (summary.crossed, style) {
        (false, _) => "",
        (true, Style::Plain) => "  CROSSED",
        (true, Style::Colour) => "  \x1b[1;41;97mCROSSED\x1b[0m",
    };
    format!("----  spread {spread}{crossed}")
}

fn venue_line(venue: &VenueState, width: usize, style: Style) -> String {
    let state = State::try_from(venue.state).map(|s| s.as_str_name()).unwrap_or("UNKNOWN");
    let name = paint(&pad_right(&clean(&venue.exchange), width), venue_colour(&venue.exchange), style);
    let detail = if venue.detail.is_empty() { String::new() } else { format!("  {}", clean(&venue.detail)) };
    format!("venue {name}  {state:<12}  lag {}{detail}", lag(venue.lag_ns))
}

/// A lag in ns as milliseconds with three decimals, by integer arithmetic.
pub fn lag(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    format!("{sign}{}.{:03} ms", abs / 1_000_000, abs % 1_000_000 / 1_000)
}

/// Column widths shared by the ask and bid rows, so both sides line up on the decimal point.
struct Columns {
    venue: usize,
    price: (usize, usize),
    amount: (usize, usize),
}

impl Columns {
    fn of<'a>(levels: impl Iterator<Item = &'a Level> + Clone) -> Self {
        let widest = |f: fn(&Level) -> &str| {
            levels.clone().fold((0, 0), |(i, d), l| {
                let text = clean(f(l));
                let (int, frac) = split_point(&text);
                (i.max(int.chars().count()), d.max(frac.chars().count()))
            })
        };
        Columns {
            venue: levels.clone().map(|l| clean(&l.exchange).chars().count()).max().unwrap_or(0),
            price: widest(|l| &l.price),
            amount: widest(|l| &l.amount),
        }
    }

    fn row(&self, side: &str, level: &Level, style: Style) -> String {
        let venue =
            paint(&pad_right(&clean(&level.exchange), self.venue), venue_colour(&level.exchange), style);
        let price = align(&clean(&level.price), self.price);
        let price = paint(&price, if side == "ask" { "31" } else { "32" }, style);
        format!("{side}   {venue}  {price}  {}", align(&clean(&level.amount), self.amount))
    }
}

/// The text before and from the decimal point (`"1.50"` → `("1", ".50")`).
fn split_point(text: &str) -> (&str, &str) {
    text.find('.').map_or((text, ""), |i| text.split_at(i))
}

/// `text` padded with spaces (never digits: the value stays the server's) so that its decimal
/// point sits in the column's.
fn align(text: &str, (int_width, frac_width): (usize, usize)) -> String {
    let (int, frac) = split_point(text);
    format!("{int:>int_width$}{frac:<frac_width$}")
}

fn pad_right(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

fn venue_colour(venue: &str) -> &'static str {
    match venue {
        "binance" => "33",
        "bybit" => "36",
        "huobi" => "34",
        "bitstamp" => "35",
        _ => "37",
    }
}

fn paint(text: &str, colour: &str, style: Style) -> String {
    match style {
        Style::Plain => text.to_owned(),
        Style::Colour => format!("\x1b[{colour}m{text}\x1b[0m"),
    }
}

/// Network text with every control character replaced by `?`.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(exchange: &str, price: &str, amount: &str) -> Level {
        Level { exchange: exchange.into(), price: price.into(), amount: amount.into() }
    }

    fn summary() -> Summary {
        Summary {
            spread: "0.5".into(),
            bids: vec![level("binance", "100.5", "1.25"), level("bybit", "99", "10")],
            asks: vec![level("huobi", "101", "0.001"), level("binance", "101.25", "3")],
            symbol: "BTC-USDT".into(),
            sequence: 7,
            crossed: false,
            venues: vec![
                VenueState {
                    exchange: "binance".into(),
                    state: State::InSync as i32,
                    lag_ns: 1_234_567,
                    ..Default::default()
                },
                VenueState {
                    exchange: "huobi".into(),
                    state: State::Syncing as i32,
                    detail: "gap\u{1b}[2J".into(),
                    ..Default::default()
                },
            ],
            exchange_ts_ns: 1_764_590_400_000_000_000,
            local_ts_ns: 0,
        }
    }

    #[test]
    fn ladder_in_plain_text() {
        let got = lines(&summary(), 2, Style::Plain);
        let want = [
            "BTC-USDT  sequence 7  skipped 2  exchange time 2025-12-01T12:00:00Z",
            "ask   binance  101.25   3    ",
            "ask   huobi    101      0.001",
            "----  spread 0.5",
            "bid   binance  100.5    1.25 ",
            "bid   bybit     99     10    ",
            "venue binance  IN_SYNC       lag 1.234 ms",
            "venue huobi    SYNCING       lag 0.000 ms  gap?[2J",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn crossed_empty_and_colour() {
        let mut s = summary();
        s.crossed = true;
        s.spread = "-0.5".into();
        assert!(lines(&s, 0, Style::Plain)[3].ends_with("spread -0.5  CROSSED"));
        assert!(lines(&s, 0, Style::Plain).iter().all(|l| !l.contains('\x1b')));
        assert!(lines(&s, 0, Style::Colour)[1].contains("\x1b[33mbinance"));
        let empty = Summary { symbol: "X-Y".into(), ..Default::default() };
        assert_eq!(lines(&empty, 0, Style::Plain), ["X-Y  sequence 0  skipped 0", "----  spread -"]);
    }

    #[test]
    fn lags_and_skips() {
        assert_eq!(lag(0), "0.000 ms");
        assert_eq!(lag(-2_500_000), "-2.500 ms");
        assert_eq!(lag(i64::MIN), "-9223372036854.775 ms");
        let mut skips = Skips::default();
        assert_eq!([5, 6, 9, 10, 3, 4].map(|s| skips.observe(s)), [0, 0, 2, 2, 2, 2]);
    }
}
