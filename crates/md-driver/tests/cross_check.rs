//! Cross-checks of Bitstamp's books (diffs with no sequence) in the connection core, socket-free:
//! a silently lost diff is caught by the next check (a gap, a resync, `Resynced`), an intact
//! stream passes every check, and a replay of the same events makes the same checks with the
//! same outcome. Venue frames are Bitstamp's own JSON, parsed by md-exchanges.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use md_core::{
    BookSet, BookSnapshot, ConnId, DataPacket, Exchange, ExchangeId, Frame, Gap, Level, OrderBook, Payload,
    RawEvent, RawKind, SeqRule, Status, Symbol, SymbolInfo, Symbols, UnixNanos, WsMessage,
};
use md_driver::{
    ConnectionCore, DriverConfig, DriverMetrics, Effects, Fetch, MetricsSnapshot, RecordedConfig, Replay,
};
use md_exchanges::{build, Endpoints};

const SECOND: UnixNanos = 1_000_000_000;
/// The connection's clock at the start (ns).
const T0: UnixNanos = 1_700_000_000 * SECOND;

fn btc() -> SymbolInfo {
    SymbolInfo { symbol: Symbol::new("BTC", "USD"), native: "btcusd".into(), trading: true }
}

fn levels<S: AsRef<str>>(side: &[(S, S)]) -> String {
    let rows: Vec<String> =
        side.iter().map(|(p, q)| format!(r#"["{}","{}"]"#, p.as_ref(), q.as_ref())).collect();
    format!("[{}]", rows.join(","))
}

/// A `diff_order_book_btcusd` frame at `us`.
fn diff<S: AsRef<str>>(us: u64, bids: &[(S, S)], asks: &[(S, S)]) -> String {
    format!(
        r#"{{"data":{{"timestamp":"{}","microtimestamp":"{us}","bids":{},"asks":{}}},"channel":"diff_order_book_btcusd","event":"data"}}"#,
        us / 1_000_000,
        levels(bids),
        levels(asks)
    )
}

/// A REST `order_book` body at `us`.
fn rest<S: AsRef<str>>(us: u64, bids: &[(S, S)], asks: &[(S, S)]) -> String {
    format!(
        r#"{{"timestamp":"{}","microtimestamp":"{us}","bids":{},"asks":{}}}"#,
        us / 1_000_000,
        levels(bids),
        levels(asks)
    )
}

/// A REST body holding a book.
fn rest_of(snapshot: &BookSnapshot) -> String {
    let text =
        |side: &[Level]| side.iter().map(|l| (l.price.to_string(), l.qty.to_string())).collect::<Vec<_>>();
    rest(snapshot.seq, &text(&snapshot.bids), &text(&snapshot.asks))
}

/// One Bitstamp connection core, driven by hand, recording what it was shown for a replay.
struct Conn {
    exchange: Arc<dyn Exchange>,
    config: DriverConfig,
    core: ConnectionCore,
    books: Arc<BookSet>,
    metrics: Arc<DriverMetrics>,
    events: Vec<RawEvent>,
    packets: Vec<DataPacket>,
    fx: Effects,
    url: String,
}

impl Conn {
    fn start(cross_check_interval: Option<Duration>) -> Self {
        let exchange: Arc<dyn Exchange> =
            Arc::from(build(ExchangeId::Bitstamp, &Endpoints::default()).unwrap());
        assert_eq!(exchange.seq_rule(), SeqRule::Timestamped);
        let config = DriverConfig { cross_check_interval, ..DriverConfig::default() };
        let url = exchange.ws_url(&config.channels);
        let listing = Arc::new(Symbols::new([btc()]));
        let (books, metrics) = (Arc::new(BookSet::new()), Arc::new(DriverMetrics::default()));
        let core = ConnectionCore::new(
            Arc::clone(&exchange),
            Arc::new(config.clone()),
            &url,
            Arc::clone(&listing),
            Arc::clone(&books),
            Arc::clone(&metrics),
        );
        let mut conn = Self {
            exchange,
            config,
            core,
            books,
            metrics,
            events: Vec::new(),
            packets: Vec::new(),
            fx: Effects::default(),
            url,
        };
        conn.record(0, ConnId(0), T0, RawKind::Listing(listing));
        conn.record(1, ConnId(0), T0, RawKind::Task { url: conn.url.clone() });
        conn.record(1, ConnId(0), T0, RawKind::Symbols { added: vec![btc()], announced: false });
        conn.core.add(&[btc()], false, T0, &mut conn.fx);
        conn.record(1, ConnId(1), T0, RawKind::Connected { url: conn.url.clone() });
        conn.core.on_connected(ConnId(1), T0, &mut conn.fx);
        conn.fx.outbox.clear();
        assert_eq!(kinds(&conn.take()), ["status"], "Connected");
        conn
    }

    fn record(&mut self, slot: u64, conn: ConnId, local_ts: UnixNanos, kind: RawKind) {
        self.events.push(RawEvent { exchange: ExchangeId::Bitstamp, slot, conn, local_ts, mono_ns: 0, kind });
    }

    /// A frame read at `ts`; returns the packets it caused.
    fn frame(&mut self, text: &str, ts: UnixNanos) -> Vec<DataPacket> {
        self.record(1, ConnId(1), ts, RawKind::Received(WsMessage::from_text(text)));
        self.core.on_frame(Frame::Text(text), ts, &mut self.fx);
        self.take()
    }

    /// A REST body consumed at `ts`; returns the packets it caused.
    fn rest(&mut self, body: &str, ts: UnixNanos) -> Vec<DataPacket> {
        let kind = RawKind::Rest { symbol: btc().symbol, url: "order_book".into(), body: body.into() };
        self.record(1, ConnId(1), ts, kind);
        self.core.on_snapshot_body(&btc(), body, ts, &mut self.fx);
        self.take()
    }

    /// The live loop's timer at `ts`: the checks due.
    fn due(&mut self, ts: UnixNanos) -> Vec<Fetch> {
        self.core.due_checks(ts, &mut self.fx);
        assert!(self.fx.packets.is_empty(), "asking for checks produces no packets");
        std::mem::take(&mut self.fx.fetches)
    }

    fn fetches(&mut self) -> Vec<Fetch> {
        std::mem::take(&mut self.fx.fetches)
    }

    fn take(&mut self) -> Vec<DataPacket> {
        let packets = std::mem::take(&mut self.fx.packets);
        self.packets.extend(packets.iter().cloned());
        packets
    }

    fn m(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    fn book(&self) -> BookSnapshot {
        let shared = self.books.get(ExchangeId::Bitstamp, &btc().symbol).unwrap();
        let state = shared.read();
        assert!(state.book.is_synced());
        state.book.top(usize::MAX)
    }

    /// Replays the recorded events with the recorded config: the same packets, the same
    /// check outcomes.
    fn assert_replay_agrees(&self) {
        let config = RecordedConfig::of(&self.config, None, None).driver_config();
        assert_eq!(config.cross_check_interval, self.config.cross_check_interval);
        let mut replay = Replay::new(Arc::clone(&self.exchange), config, Arc::new(BookSet::new()));
        let mut out = Vec::new();
        for event in &self.events {
            replay.apply(event, &mut out);
        }
        assert_eq!(out, self.packets, "the replay's packets");
        let (live, again) = (self.m(), replay.metrics().snapshot());
        assert_eq!(
            (again.cross_checks_passed, again.cross_checks_failed, again.cross_checks_inconclusive),
            (live.cross_checks_passed, live.cross_checks_failed, live.cross_checks_inconclusive)
        );
        assert_eq!(
            (again.cross_checks_deferred, again.gaps, again.resyncs),
            (live.cross_checks_deferred, live.gaps, live.resyncs)
        );
        assert_eq!(replay.stats().snapshots_unanswered, 0);
    }
}

fn kinds(packets: &[DataPacket]) -> Vec<&'static str> {
    packets
        .iter()
        .map(|p| match &p.data {
            Payload::BookSnapshot(_) => "snapshot",
            Payload::BookDelta(_) => "delta",
            Payload::Status(Status::GapDetected { .. }) => "gap",
            Payload::Status(Status::Resynced { .. }) => "resynced",
            Payload::Status(_) => "status",
            _ => "other",
        })
        .collect()
}

#[test]
fn a_silently_lost_diff_is_caught_by_the_next_check_and_the_book_resyncs() {
    let mut c = Conn::start(Some(Duration::from_secs(1)));
    let ms = |n: i64| T0 + n * 1_000_000;
    // Sync: the first diff asks for the snapshot, which aligns it.
    assert!(c.frame(&diff(1_000_010, &[("100", "2")], &[]), ms(10)).is_empty());
    let sync = c.fetches();
    assert_eq!(sync.len(), 1);
    assert!(!sync[0].check, "a resync is not a check");
    let synced = c.rest(&rest(1_000_000, &[("100", "1"), ("99", "1")], &[("101", "1")]), ms(20));
    assert_eq!(kinds(&synced), ["snapshot", "delta"]);
    assert!(c.due(ms(900)).is_empty(), "not due before an interval since the book was loaded");

    assert_eq!(kinds(&c.frame(&diff(1_000_020, &[("99", "3")], &[]), ms(30))), ["delta"]);
    // The venue sends 1_000_030 (ask 101 gone, ask 102×5 added); md never sees it.
    assert_eq!(kinds(&c.frame(&diff(1_000_040, &[("100", "4")], &[]), ms(1_050))), ["delta"]);

    let checks = c.due(ms(1_100));
    assert_eq!(checks.len(), 1);
    assert!(checks[0].check && checks[0].symbol == btc());
    // The venue's book at 1_000_035 holds the lost diff; md's book turned back to 1_000_035
    // (undoing 1_000_040) does not.
    let truth = rest(1_000_035, &[("100", "2"), ("99", "3")], &[("102", "5")]);
    let caught = c.rest(&truth, ms(1_200));
    assert_eq!(kinds(&caught), ["gap"], "the check snapshot itself is not passed on");
    let Payload::Status(Status::GapDetected { conn, gap }) = &caught[0].data else { unreachable!() };
    assert_eq!(*conn, ConnId(1));
    assert_eq!(
        *gap,
        Gap::CrossCheck { snapshot_seq: 1_000_035, book_seq: 1_000_040, missing: 1, extra: 1, differing: 0 }
    );
    assert!(gap.to_string().contains("1 missing, 1 extra"), "{gap}");
    let m = c.m();
    assert_eq!(
        (m.gaps, m.cross_checks_requested, m.cross_checks_failed, m.books_in_sync),
        (1, 1, 1, 0),
        "{m:?}"
    );

    // Resync through the normal path: a fresh snapshot; diffs wait for it meanwhile.
    let resync = c.fetches();
    assert_eq!(resync.len(), 1);
    assert!(!resync[0].check);
    assert!(c.frame(&diff(1_000_050, &[("98", "1")], &[]), ms(1_250)).is_empty());
    let fresh = rest(1_000_045, &[("100", "4"), ("99", "3")], &[("102", "5")]);
    assert_eq!(kinds(&c.rest(&fresh, ms(1_300))), ["snapshot", "delta", "resynced"]);
    let m = c.m();
    assert_eq!((m.resyncs, m.books_in_sync, m.cross_checks_passed), (1, 1, 0), "{m:?}");
    let book = c.book();
    assert_eq!(book.asks, [Level::new(102.into(), 5.into())]);
    assert_eq!(book.bids.len(), 3);

    // The rebuilt book passes the next check (the venue's book is now md's).
    assert!(c.due(ms(2_000)).is_empty(), "the resync counts as a check");
    assert_eq!(c.due(ms(2_400)).len(), 1);
    assert!(c.due(ms(3_500)).is_empty(), "one check at a time per book");
    // The venue's book at 1_000_060 holds a diff still on its way: compared again at the first
    // later diff, before it applies.
    let ahead = rest(1_000_060, &[("100", "4"), ("99", "3")], &[("102", "5")]);
    assert!(c.rest(&ahead, ms(3_600)).is_empty());
    assert_eq!((c.m().cross_checks_deferred, c.m().cross_checks_passed), (1, 0));
    assert_eq!(kinds(&c.frame(&diff(1_000_060, &[("98", "0")], &[]), ms(3_650))), ["delta"]);
    assert_eq!(kinds(&c.frame(&diff(1_000_070, &[("97", "1")], &[]), ms(3_700))), ["delta"]);
    let m = c.m();
    assert_eq!((m.cross_checks_passed, m.gaps, m.books_in_sync), (1, 1, 1), "{m:?}");
    // A quiet book is checked at once: the venue's image later than its last diff is the book.
    assert_eq!(c.due(ms(4_800)).len(), 1);
    let quiet = rest(1_000_900, &[("100", "4"), ("99", "3"), ("97", "1")], &[("102", "5")]);
    assert!(c.rest(&quiet, ms(4_900)).is_empty());
    let m = c.m();
    assert_eq!(
        (m.cross_checks_passed, m.cross_checks_deferred, m.cross_checks_requested),
        (2, 1, 3),
        "{m:?}"
    );
    c.assert_replay_agrees();
}

/// A deterministic generator (xorshift), so the stream is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A level on bids 90..100 or asks 100.5..110 (so the book never crosses); a quarter delete.
fn random_level(rng: &mut Rng, ask: bool) -> (String, String) {
    let tick = rng.next(20);
    let qty = if rng.next(4) == 0 { 0 } else { 1 + rng.next(9) };
    let price = if ask { 1005 + 5 * tick } else { 900 + 5 * tick };
    (format!("{}.{}", price / 10, price % 10), qty.to_string())
}

#[test]
fn an_intact_stream_passes_every_check() {
    let mut rng = Rng(0x5eed_cafe);
    // The venue: 600 diffs, some sharing a time, on bids 90..100 and asks 100.5..110.5.
    let start = BookSnapshot {
        bids: vec![Level::new(99.into(), 1.into()), Level::new(98.into(), 2.into())],
        asks: vec![Level::new(101.into(), 1.into())],
        seq: 2_000_000,
    };
    let mut venue = OrderBook::new(SeqRule::Timestamped);
    venue.apply_snapshot(&start).unwrap();
    let (mut frames, mut images) = (Vec::new(), Vec::new());
    let mut us = start.seq;
    for _ in 0..600 {
        us += if rng.next(6) == 0 && us > start.seq { 0 } else { 1 + rng.next(40) };
        let (nb, na) = (rng.next(3), rng.next(3));
        let bids: Vec<(String, String)> = (0..nb).map(|_| random_level(&mut rng, false)).collect();
        let asks: Vec<(String, String)> = (0..na).map(|_| random_level(&mut rng, true)).collect();
        let text = diff(us, &bids, &asks);
        let as_level = |(p, q): &(String, String)| Level::new(p.parse().unwrap(), q.parse().unwrap());
        let delta = md_core::BookDelta {
            bids: bids.iter().map(as_level).collect(),
            asks: asks.iter().map(as_level).collect(),
            seq: md_core::Sequence { first: None, last: us, prev: None },
        };
        venue.apply_delta(&delta).unwrap();
        // The venue's image at this time; a later diff at the same time replaces it.
        if images.last().is_some_and(|(t, _): &(u64, BookSnapshot)| *t == us) {
            images.pop();
        }
        images.push((us, BookSnapshot { seq: us, ..venue.top(usize::MAX) }));
        frames.push((us, text));
    }
    let image_at = |t: u64| images.iter().rev().find(|(at, _)| *at <= t).map(|(_, s)| s.clone()).unwrap();

    let mut c = Conn::start(Some(Duration::from_secs(1)));
    let mut ts = T0;
    let mut asked = 0;
    for (i, (us, text)) in frames.iter().enumerate() {
        ts += 50_000_000;
        c.frame(text, ts);
        if i == 0 {
            assert_eq!(c.fetches().len(), 1);
            c.rest(&rest_of(&start), ts);
        }
        for _ in c.due(ts) {
            asked += 1;
            // The venue answers at a time before the book (the usual case), at the book's
            // time, or after it, with diffs still on their way (both deferred).
            let lag = [-40i64, -3, 0, 2][asked % 4];
            let j = (i as i64 + lag).clamp(0, frames.len() as i64 - 1) as usize;
            let t = if lag == -40 { *us - 1 } else { frames[j].0 };
            let body = rest_of(&BookSnapshot { seq: t, ..image_at(t) });
            assert!(c.rest(&body, ts).is_empty(), "a passed check passes nothing on");
        }
    }
    let m = c.m();
    assert!(asked >= 25, "{asked} checks");
    assert_eq!(m.cross_checks_requested, asked as u64);
    assert_eq!((m.cross_checks_failed, m.cross_checks_inconclusive, m.gaps), (0, 0, 0), "{m:?}");
    // Every check passed; a deferred one still waiting at the end (its snapshot newer than the
    // last diff) is not counted yet.
    assert!(m.cross_checks_passed + 1 >= asked as u64, "{m:?}");
    assert!(m.cross_checks_deferred >= 5, "{m:?}");
    assert_eq!(m.book_snapshots, 1, "check snapshots are not passed on");
    eprintln!("{asked} checks asked for; {m:?}");
    let book = c.book();
    let truth = venue.top(usize::MAX);
    assert_eq!((book.bids, book.asks), (truth.bids, truth.asks));
    c.assert_replay_agrees();
}

#[test]
fn venues_with_sequence_numbers_or_checks_off_are_never_checked() {
    let mut off = Conn::start(Some(Duration::ZERO));
    assert_eq!(off.core.cross_check_interval(), None);
    off.frame(&diff(1_000_010, &[("100", "2")], &[]), T0);
    off.fetches();
    off.rest(&rest(1_000_000, &[("100", "1")], &[("101", "1")]), T0);
    assert!(off.due(T0 + 3600 * SECOND).is_empty());
    // A snapshot for a book in sync is then a reload, as on every other venue.
    let reload = off.rest(&rest(1_000_020, &[("100", "7")], &[("101", "1")]), T0 + SECOND);
    assert_eq!(kinds(&reload), ["snapshot"]);
    assert_eq!(off.m().cross_checks_passed + off.m().cross_checks_deferred, 0);

    assert_eq!(Conn::start(None).core.cross_check_interval(), Some(md_driver::DEFAULT_CROSS_CHECK_INTERVAL));
    let binance = build(ExchangeId::Binance, &Endpoints::default()).unwrap();
    let every =
        DriverConfig { cross_check_interval: Some(Duration::from_secs(1)), ..DriverConfig::default() };
    assert_eq!(md_driver::cross_check_interval(&every, binance.as_ref()), None);
}
