//! Against a real InfluxDB 1.x (`MD_INFLUX_URL`, started by `.ci/run`): N points in, N out, with
//! exact values, same-millisecond trades included.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{delta, exec, feed, input, query, rows, snapshot, trade};
use md_core::{DataPacket, Payload, Symbol, TradeId};
use md_sink_influx::{Api, Buffer, DecimalMode, InfluxConfig, SinkStats};
use tokio_util::sync::CancellationToken;

fn unique(prefix: &str) -> String {
    let ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), ns % 1_000_000_000)
}

fn config(url: &str, dir: &std::path::Path, db: &str) -> InfluxConfig {
    let api = Api::V1 { user: None, password: None, create_databases: true };
    let mut cfg = InfluxConfig::new(url, api, dir);
    cfg.incremental.database = format!("{db}_inc");
    cfg.snapshot.database = format!("{db}_snap");
    cfg
}

async fn run(cfg: InfluxConfig, packets: Vec<DataPacket>) -> SinkStats {
    let (publisher, sub) = input(10_000);
    let task = tokio::spawn(Buffer::new(cfg).unwrap().run(sub, CancellationToken::new()));
    feed(&publisher, packets).await;
    drop(publisher);
    tokio::time::timeout(Duration::from_secs(120), task).await.unwrap().unwrap().unwrap()
}

/// `n` trades, 1000 per millisecond, with varied exact prices.
fn trades(n: u64) -> Vec<DataPacket> {
    (0..n)
        .map(|i| {
            let price = format!("{}.{:04}", 60_000 + i % 1000, i % 10_000);
            let qty = format!("0.{:08}", i % 99_999_999 + 1);
            trade("BTC-USDT", 1_700_000_000_000 + (i / 1000) as i64, 3_000_000_000 + i, &price, &qty)
        })
        .collect()
}

fn trade_of(p: &DataPacket) -> &md_core::Trade {
    match &p.data {
        Payload::Trade(t) => t,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn same_millisecond_trades_all_stored_exactly_once() {
    let Some(url) = common::influx_url("same_millisecond") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = unique("md_same_ms");
    let packets = trades(10_000);
    let stats = run(config(&url, dir.path(), &db), packets.clone()).await;
    assert_eq!((stats.records_written, stats.adjustments), (10_000, 0));

    let inc = format!("{db}_inc");
    let v = query(&url, &inc, "SELECT count(price) FROM trade").await;
    assert_eq!(rows(&v).1[0][1], 10_000, "{v}");
    let (cols, values) = rows(&query(&url, &inc, "SELECT price, qty, trade_id, side FROM trade").await);
    assert_eq!(cols, ["time", "price", "qty", "trade_id", "side"]);
    let by_id: HashMap<String, &Vec<serde_json::Value>> =
        values.iter().map(|r| (r[3].as_str().unwrap().to_owned(), r)).collect();
    assert_eq!(by_id.len(), 10_000);
    for p in &packets {
        let t = trade_of(p);
        let row = by_id[&t.trade_id.to_string()];
        // Numeric fields are float64 in InfluxDB: the exact text parses to the stored double.
        assert_eq!(row[1].as_f64().unwrap(), t.price.to_string().parse::<f64>().unwrap());
        assert_eq!(row[2].as_f64().unwrap(), t.qty.to_string().parse::<f64>().unwrap());
        assert_eq!(row[4], t.side.as_str());
    }
    exec(&url, &format!("DROP DATABASE \"{inc}\"")).await;
    exec(&url, &format!("DROP DATABASE \"{db}_snap\"")).await;
}

#[tokio::test]
async fn string_decimals_and_awkward_text_round_trip_bit_exact() {
    let Some(url) = common::influx_url("string_decimals") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = unique("md_exact");
    let mut cfg = config(&url, dir.path(), &db);
    cfg.schema.decimals = DecimalMode::String;
    let mut packets = trades(2000);
    let odd_symbol: Symbol = serde_json::from_str(r#""BTC USDT,x=1 \"é🚀\"""#).unwrap();
    let mut odd = trade("ETH-USDT", 1_700_000_000_000, 0, "26.755973959140651643", "0.00000001");
    odd.symbol = odd_symbol.clone();
    if let Payload::Trade(t) = &mut odd.data {
        t.trade_id = TradeId::Text("id \"q\" \\ back\nslash,=".into());
    }
    packets.push(odd.clone());
    let stats = run(cfg, packets.clone()).await;
    assert_eq!(stats.records_written, 2001);

    let inc = format!("{db}_inc");
    let (cols, values) = rows(&query(&url, &inc, "SELECT price, qty, trade_id, symbol FROM trade").await);
    assert_eq!(cols, ["time", "price", "qty", "trade_id", "symbol"]);
    assert_eq!(values.len(), 2001);
    let by_id: HashMap<&str, &Vec<serde_json::Value>> =
        values.iter().map(|r| (r[3].as_str().unwrap(), r)).collect();
    for p in &packets {
        let t = trade_of(p);
        let id = t.trade_id.to_string();
        let row = by_id[id.as_str()];
        assert_eq!(row[1].as_str().unwrap(), t.price.to_string(), "bit-exact text");
        assert_eq!(row[2].as_str().unwrap(), t.qty.to_string());
        assert_eq!(row[4].as_str().unwrap(), p.symbol.as_str());
    }
    exec(&url, &format!("DROP DATABASE \"{inc}\"")).await;
    exec(&url, &format!("DROP DATABASE \"{db}_snap\"")).await;
}

#[tokio::test]
async fn snapshots_and_deltas_go_to_their_databases() {
    let Some(url) = common::influx_url("books") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = unique("md_books");
    let mut packets = Vec::new();
    for i in 0..500u64 {
        // Five updates per millisecond, several snapshots per millisecond.
        packets.push(delta("BTC-USDT", 1_700_000_000_000 + (i / 5) as i64, 10_000_000 + i));
        packets.push(snapshot("BTC-USDT", 1_700_000_000_000 + (i / 5) as i64, 20_000_000 + i, 5));
    }
    let stats = run(config(&url, dir.path(), &db), packets).await;
    assert_eq!(stats.records_written, 1000, "{stats:?}");
    let v = query(&url, &format!("{db}_inc"), "SELECT count(last_seq) FROM book_delta").await;
    assert_eq!(rows(&v).1[0][1], 500);
    let (_, values) =
        rows(&query(&url, &format!("{db}_inc"), "SELECT bids, asks FROM book_delta LIMIT 1").await);
    assert_eq!(values[0][1], "100.10:0,100.05:1.250");
    let v =
        query(&url, &format!("{db}_snap"), "SELECT count(seq), count(ask_4_qty) FROM book_snapshot").await;
    assert_eq!(rows(&v).1[0][1], 500);
    assert_eq!(rows(&v).1[0][2], 500);
    exec(&url, &format!("DROP DATABASE \"{db}_inc\"")).await;
    exec(&url, &format!("DROP DATABASE \"{db}_snap\"")).await;
}

/// Status packets (md's own events) are stored in the incremental database, each exactly once,
/// at their local time; 200 disconnects of one connection, one per symbol, all distinct.
#[tokio::test]
async fn status_events_are_stored_with_their_reason() {
    use md_core::{ConnId, DisconnectReason, Status};
    let Some(url) = common::influx_url("status") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = unique("md_status");
    let at = 1_700_000_000_000_000_000;
    let mut packets = Vec::new();
    for i in 0..200 {
        let mut p = trade(&format!("S{i}-USDT"), 1, 1, "1", "1");
        p.exchange_ts = 0;
        p.local_ts = at;
        let reason = DisconnectReason::ClosedByVenue { close_code: Some(1001), detail: "going away".into() };
        p.data = Payload::Status(Status::Disconnected { conn: ConnId(7), reason });
        packets.push(p);
    }
    let mut back = packets[0].clone();
    back.data = Payload::Status(Status::Connected { conn: ConnId(8) });
    packets.push(back);
    let stats = run(config(&url, dir.path(), &db), packets).await;
    assert_eq!((stats.records_written, stats.packets_skipped, stats.adjustments), (201, 0, 1));

    let inc = format!("{db}_inc");
    let v = query(&url, &inc, "SELECT count(conn) FROM status").await;
    assert_eq!(rows(&v).1[0][1], 201, "{v}");
    let q = "SELECT event, reason, detail, conn, local_ts FROM status WHERE symbol = 'S0-USDT'";
    let (cols, values) = rows(&query(&url, &inc, q).await);
    assert_eq!(cols, ["time", "event", "reason", "detail", "conn", "local_ts"]);
    assert_eq!(values.len(), 2);
    assert_eq!(values[0][0], at);
    assert_eq!(values[0][1], "disconnected");
    assert_eq!(values[0][2], "closed_by_venue");
    assert_eq!(values[0][3], "closed by the venue (1001): going away");
    assert_eq!(values[0][4], 7);
    assert_eq!(values[0][5], at);
    assert_eq!(values[1][0], at + 1, "a different event of the series in the same ns moves by 1 ns");
    assert_eq!(values[1][1], "connected");
    assert!(values[1][2].is_null() && values[1][3].is_null(), "no empty reason or detail written");
    exec(&url, &format!("DROP DATABASE \"{inc}\"")).await;
    exec(&url, &format!("DROP DATABASE \"{db}_snap\"")).await;
}

/// Throughput to the local influxd with batches of 5000: `cargo test -p md-sink-influx --release
/// --test influx -- --ignored --nocapture throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_5000_per_batch() {
    let Some(url) = common::influx_url("throughput") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = unique("md_tput");
    let n = 1_000_000u64;
    let mut cfg = config(&url, dir.path(), &db);
    cfg.batch_lines = 5000;
    let packets = trades(n);
    let started = Instant::now();
    let stats = run(cfg, packets).await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(stats.records_written, n);
    println!(
        "throughput: {n} lines in {secs:.2} s = {:.0} lines/s (batches of 5000, gzip, mean write {:?}, max {:?})",
        n as f64 / secs,
        stats.write_latency_mean,
        stats.write_latency_max
    );
    exec(&url, &format!("DROP DATABASE \"{db}_inc\"")).await;
    exec(&url, &format!("DROP DATABASE \"{db}_snap\"")).await;
}
