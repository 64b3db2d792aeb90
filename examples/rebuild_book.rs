//! Rebuilds a symbol's order book from event files as of a given time.
//!
//! Reads the `md-events` files of one venue and symbol in local-time order (the order md
//! received the packets in), applies every book snapshot and book delta received before the
//! time to an `md_core::OrderBook` under the venue's sequence rule, and prints the top 5
//! levels of each side and the update id the book stopped at. A gap in the recording (a
//! delta that does not continue the book) leaves the book unsynced until the next snapshot,
//! as it would live.
//!
//! ```sh
//! cargo run -p md-examples --example rebuild_book -- DIR BTC-USDT 2026-12-01T10:00:00Z [binance]
//! ```
//!
//! The time is ISO 8601 UTC (`YYYY-MM-DDTHH:MM:SS[.fffffffff]Z`) or integer ns since the epoch.
#![allow(missing_docs)]

use std::process::ExitCode;

use md_core::{BookError, ExchangeId, OrderBook, Payload, SeqRule, Symbol};
use md_events::{list_files, parse_time, EventQuery, EventReader, Order};

const USAGE: &str =
    "usage: rebuild_book DIR SYMBOL TIME [VENUE]   (e.g. events BTC-USDT 2026-12-01T10:00:00Z binance)";

/// The venue's sequence rule (as `md_exchanges`' `Exchange::seq_rule` gives it).
fn seq_rule(venue: ExchangeId) -> SeqRule {
    match venue {
        ExchangeId::Bybit => SeqRule::Consecutive,
        ExchangeId::Huobi => SeqRule::PrevLink,
        ExchangeId::Bitstamp => SeqRule::Timestamped,
        _ => SeqRule::UpdateIdRange,
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, symbol, time, rest @ ..] = args.as_slice() else { return Err(USAGE.into()) };
    let symbol =
        Symbol::parse(symbol).ok_or_else(|| format!("{symbol:?} is not a BASE-QUOTE symbol; {USAGE}"))?;
    let at =
        parse_time(time).ok_or_else(|| format!("{time:?} is not an ISO 8601 UTC time or ns; {USAGE}"))?;
    let venue = match rest {
        [] => ExchangeId::Binance,
        [name] => ExchangeId::parse(name)
            .ok_or_else(|| format!("unknown venue {name:?} (valid: {})", ExchangeId::built_in_names()))?,
        _ => return Err(USAGE.into()),
    };

    let files = list_files(std::path::Path::new(dir)).unwrap_or_default();
    if files.is_empty() {
        return Err(format!("no event files in {dir} (record some with an md-events sink first)"));
    }
    let query = EventQuery {
        exchange: Some(venue),
        symbols: Some(vec![symbol.clone()]),
        from: None,
        to: Some(at),
        order: Order::LocalTime,
    };
    let mut reader = EventReader::open(dir, query).map_err(|e| e.to_string())?;
    if reader.files().is_empty() {
        return Err(format!("no event files of {venue} {symbol} in {dir} ({} other files)", files.len()));
    }

    let mut book = OrderBook::new(seq_rule(venue));
    let (mut snapshots, mut deltas, mut stale, mut gaps, mut unsynced, mut damaged) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut last_ts = None;
    for item in reader.by_ref() {
        let packet = match item {
            Ok(packet) => packet,
            Err(e) => {
                damaged += 1;
                eprintln!("warning: {e}");
                continue;
            }
        };
        match &packet.data {
            Payload::BookSnapshot(snapshot) => {
                if let Err(e) = book.apply_snapshot(snapshot) {
                    eprintln!("warning: snapshot {} refused: {e}", snapshot.seq);
                }
                snapshots += 1;
                last_ts = Some(packet.local_ts);
            }
            Payload::BookDelta(delta) => match book.apply_delta(delta) {
                Ok(md_core::Applied::Updated) => {
                    deltas += 1;
                    last_ts = Some(packet.local_ts);
                }
                Ok(md_core::Applied::Stale) => stale += 1,
                Err(BookError::NotSynced) => unsynced += 1,
                Err(e) => {
                    gaps += 1;
                    eprintln!("warning: {e}: book discarded until the next snapshot");
                }
            },
            _ => {}
        }
    }
    for issue in reader.issues() {
        eprintln!("note: {issue}");
    }

    println!("{venue} {symbol} as of {time}");
    println!(
        "applied {snapshots} snapshots and {deltas} deltas ({stale} stale, {unsynced} while unsynced, {gaps} gaps, {damaged} damaged chunks)"
    );
    if !book.is_synced() {
        println!("the book is not synced at that time (no snapshot yet, or a gap since the last one)");
        return Ok(ExitCode::from(1));
    }
    let top = book.top(5);
    println!("{:>24} {:>24} | {:<24} {:<24}", "bid qty", "bid", "ask", "ask qty");
    for i in 0..top.bids.len().max(top.asks.len()) {
        let (bq, bp) = top
            .bids
            .get(i)
            .map_or((String::new(), String::new()), |l| (l.qty.to_string(), l.price.to_string()));
        let (ap, aq) = top
            .asks
            .get(i)
            .map_or((String::new(), String::new()), |l| (l.price.to_string(), l.qty.to_string()));
        println!("{bq:>24} {bp:>24} | {ap:<24} {aq:<24}");
    }
    let (bid_depth, ask_depth) = book.depth();
    println!(
        "stopped at update id {} (last applied packet local_ts {} ns); depth {bid_depth} bids, {ask_depth} asks",
        book.seq(),
        last_ts.unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
