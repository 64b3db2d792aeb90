//! The encoder's lines, schema and timestamp scheme.
#![allow(clippy::unwrap_used)]

mod common;

use common::lp::{self, Value};
use common::{delta, snapshot, trade};
use md_core::{ConnId, DataPacket, DisconnectReason, ExchangeId, Gap, Payload, Status, Symbol, TradeId};
use md_sink_influx::{DecimalMode, LineEncoder, SchemaConfig, Target};

fn encode(enc: &mut LineEncoder, p: &DataPacket) -> (Option<Target>, String) {
    let mut out = Vec::new();
    let t = enc.encode(p, &mut out).unwrap();
    (t, String::from_utf8(out).unwrap())
}

fn enc() -> LineEncoder {
    LineEncoder::new(&SchemaConfig::default()).unwrap()
}

#[test]
fn trade_line_is_exact() {
    let (t, line) =
        encode(&mut enc(), &trade("BTC-USDT", 1_700_000_000_123, 4_512_345_678, "65000.10", "0.00100"));
    assert_eq!(t, Some(Target::Incremental));
    assert_eq!(
        line,
        "trade,exchange=binance,symbol=BTC-USDT price=65000.10,qty=0.00100,side=\"buy\",trade_id=\"4512345678\",\
         local_ts=1700000000123123456i 1700000000123345678\n"
    );
}

#[test]
fn string_decimals_mode_quotes_exact_text() {
    let schema = SchemaConfig { decimals: DecimalMode::String, ..SchemaConfig::default() };
    let (_, line) = encode(&mut LineEncoder::new(&schema).unwrap(), &trade("BTC-USDT", 1, 3, "1.10", "2"));
    assert!(line.contains("price=\"1.10\",qty=\"2\""), "{line}");
}

#[test]
fn snapshot_line_has_top_n_and_seq() {
    let (t, line) = encode(&mut enc(), &snapshot("ETH-USDT", 1_000, 77, 7));
    assert_eq!(t, Some(Target::Snapshot));
    let p = &lp::parse(&line).unwrap()[0];
    assert_eq!(p.measurement, "book_snapshot");
    assert_eq!(p.field("bid_0_price"), Some(&Value::Num("100.00".into())));
    assert_eq!(p.field("ask_4_qty"), Some(&Value::Num("0.005".into())));
    assert_eq!(p.field("bid_5_price"), None, "only 5 levels by default");
    assert_eq!(p.field("seq"), Some(&Value::Int(77)));
    assert_eq!(p.ts, 1_000_000_077);
    // A shallow book writes the levels it has.
    let (_, line) = encode(&mut enc(), &snapshot("ETH-USDT", 1_000, 78, 1));
    assert!(!line.contains("bid_1_price") && line.contains("ask_0_qty=0.001"), "{line}");
}

#[test]
fn delta_is_one_lossless_line() {
    let (t, line) = encode(&mut enc(), &delta("BTC-USDT", 5, 1_000_042));
    assert_eq!(t, Some(Target::Incremental));
    assert_eq!(
        line,
        "book_delta,exchange=binance,symbol=BTC-USDT bids=\"100.10:0,100.05:1.250\",asks=\"100.20:3\",\
         first_seq=1000040i,last_seq=1000042i,local_ts=5000007i 5000042\n"
    );
}

fn status(event: Status, local_ts: i64) -> DataPacket {
    let mut p = trade("BTC-USDT", 1, 1, "1", "1");
    p.exchange_ts = 0;
    p.local_ts = local_ts;
    p.data = Payload::Status(event);
    p
}

#[test]
fn status_is_stored_with_event_reason_detail_and_conn() {
    let gone =
        Status::Disconnected { conn: ConnId(7), reason: DisconnectReason::Silent { timeout_ms: 1500 } };
    let (t, line) = encode(&mut enc(), &status(gone, 1_700_000_000_123_456_789));
    assert_eq!(t, Some(Target::Incremental));
    assert_eq!(
        line,
        "status,exchange=binance,symbol=BTC-USDT event=\"disconnected\",reason=\"silent\",\
         detail=\"no frame for 1.5s\",conn=7i,local_ts=1700000000123456789i 1700000000123456789\n"
    );
    // No reason, no detail: those fields are left out, not written empty.
    let (_, line) = encode(&mut enc(), &status(Status::Connected { conn: ConnId(8) }, 5));
    assert_eq!(line, "status,exchange=binance,symbol=BTC-USDT event=\"connected\",conn=8i,local_ts=5i 5\n");
    let p = &lp::parse(&line).unwrap()[0];
    assert_eq!(p.field("event"), Some(&Value::Str("connected".into())));
    assert_eq!(p.field("reason"), None);
}

#[test]
fn status_measurement_is_configurable() {
    let schema = SchemaConfig { status_measurement: "md_events".into(), ..SchemaConfig::default() };
    let (_, line) =
        encode(&mut LineEncoder::new(&schema).unwrap(), &status(Status::Resynced { conn: ConnId(1) }, 9));
    assert!(line.starts_with("md_events,exchange=binance,symbol=BTC-USDT event=\"resynced\""), "{line}");
}

#[test]
fn status_events_in_the_same_nanosecond_stay_distinct_and_idempotent() {
    let mut e = enc();
    let gap = Status::GapDetected {
        conn: ConnId(3),
        gap: Gap::Sequence { book_seq: 5, first: Some(7), last: 9, prev: None },
    };
    let (_, a) = encode(&mut e, &status(gap.clone(), 1_000));
    let (_, b) = encode(&mut e, &status(Status::Resynced { conn: ConnId(3) }, 1_000));
    let (_, c) = encode(&mut e, &status(Status::Resynced { conn: ConnId(4) }, 1_000));
    let ts: Vec<i64> = [&a, &b, &c].iter().map(|l| lp::parse(l).unwrap()[0].ts).collect();
    assert_eq!(ts, [1_000, 1_001, 1_002], "different events of one series never overwrite each other");
    assert_eq!(e.bumps(), 3);
    // The same event again (a replay) lands on its own key.
    let (_, again) = encode(&mut e, &status(gap, 1_000));
    assert_eq!(again, a);
    assert_eq!(e.bumps(), 3);
    let p = &lp::parse(&a).unwrap()[0];
    assert_eq!(p.field("reason"), Some(&Value::Str("sequence".into())));
    assert_eq!(p.field("detail"), Some(&Value::Str("sequence gap: book at 5, update first 7 last 9".into())));
}

#[test]
fn same_millisecond_trades_get_distinct_deterministic_keys() {
    let mut e = enc();
    let mut seen = std::collections::HashSet::new();
    for id in 0..10_000u64 {
        let (_, line) = encode(&mut e, &trade("BTC-USDT", 1_000, 9_000_000 + id, "1", "1"));
        assert!(seen.insert(lp::parse(&line).unwrap()[0].ts));
    }
    assert_eq!(e.bumps(), 0);
    // The same trade again lands on the same key (idempotent), in a fresh encoder too.
    let again = trade("BTC-USDT", 1_000, 9_000_005, "1", "1");
    let (_, a) = encode(&mut e, &again);
    let (_, b) = encode(&mut enc(), &again);
    assert_eq!(a, b);
    assert_eq!(e.bumps(), 0);
}

#[test]
fn colliding_identities_are_bumped_not_overwritten() {
    let mut e = enc();
    let (_, a) = encode(&mut e, &trade("BTC-USDT", 1_000, 5, "1", "1"));
    let (_, b) = encode(&mut e, &trade("BTC-USDT", 1_000, 1_000_005, "1", "1"));
    let ta = lp::parse(&a).unwrap()[0].ts;
    let tb = lp::parse(&b).unwrap()[0].ts;
    assert_eq!((ta, tb), (1_000_000_005, 1_000_000_006));
    assert_eq!(e.bumps(), 1);
    // Re-sending the bumped trade keeps its bumped key.
    let (_, b2) = encode(&mut e, &trade("BTC-USDT", 1_000, 1_000_005, "1", "1"));
    assert_eq!(b, b2);
    // Another symbol is another series: no bump.
    encode(&mut e, &trade("ETH-USDT", 1_000, 5, "1", "1"));
    assert_eq!(e.bumps(), 1);
}

#[test]
fn microsecond_and_nanosecond_venues() {
    let mut p = trade("BTC-USDT", 0, 123_456, "1", "1");
    p.exchange_ts = 1_700_000_000_123_456_000; // µs venue
    let (_, line) = encode(&mut enc(), &p);
    assert_eq!(lp::parse(&line).unwrap()[0].ts, 1_700_000_000_123_456_456);
    let mut e = enc();
    p.exchange_ts = 1_700_000_000_123_456_789; // ns venue: the guard alone keeps points apart
    let (_, a) = encode(&mut e, &p);
    p.data = match p.data {
        Payload::Trade(mut t) => {
            t.trade_id = TradeId::Text("x".into());
            Payload::Trade(t)
        }
        other => other,
    };
    let (_, b) = encode(&mut e, &p);
    assert_eq!(lp::parse(&a).unwrap()[0].ts + 1, lp::parse(&b).unwrap()[0].ts);
}

#[test]
fn unencodable_symbol_is_an_error_and_leaves_no_fragment() {
    let mut p = trade("BTC-USDT", 1, 1, "1", "1");
    p.symbol = serde_json::from_str::<Symbol>("\"BAD\\\\SYM\"").unwrap();
    p.exchange = ExchangeId::Bybit;
    let mut out = b"x".to_vec();
    assert!(enc().encode(&p, &mut out).is_err());
    assert_eq!(out, b"x");
}
