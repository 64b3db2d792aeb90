//! Shared test helpers: packet builders, a line-protocol reader, InfluxDB helpers.
#![allow(dead_code, clippy::unwrap_used)]

pub mod lp;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use md_core::{
    BookDelta, BookSnapshot, DataPacket, Decimal, ExchangeId, Level, Payload, Sequence, Side, Symbol, Trade,
    TradeId,
};
use md_pipeline::{FanOut, Overflow, Publisher, SubscriberConfig, Subscription};

/// A fan-out with one lossless (`Block`) storage queue of `capacity` packets: the input a
/// sink gets from the spine.
pub fn input(capacity: usize) -> (Publisher, Subscription) {
    let mut fanout = FanOut::new();
    let sub = fanout.subscribe(SubscriberConfig::new("storage", Overflow::Block, capacity));
    (fanout.publisher(), sub)
}

/// Publishes in bursts of 10 packets, as a source reading frames would.
pub async fn feed(publisher: &Publisher, packets: Vec<DataPacket>) {
    let mut packets = packets.into_iter().peekable();
    while packets.peek().is_some() {
        publisher.publish(packets.by_ref().take(10).collect()).await;
    }
}

pub fn dec(s: &str) -> Decimal {
    md_core::parse_decimal(s).unwrap()
}

pub fn trade(symbol: &str, ts_ms: i64, id: u64, price: &str, qty: &str) -> DataPacket {
    DataPacket {
        exchange: ExchangeId::Binance,
        symbol: Symbol::parse(symbol).unwrap_or_else(|| md_core::symbol::guess_symbol(symbol)),
        exchange_ts: ts_ms * 1_000_000,
        local_ts: ts_ms * 1_000_000 + 123_456,
        data: Payload::Trade(Trade {
            price: dec(price),
            qty: dec(qty),
            side: if id.is_multiple_of(2) { Side::Buy } else { Side::Sell },
            trade_id: TradeId::Number(id),
        }),
    }
}

pub fn snapshot(symbol: &str, ts_ms: i64, seq: u64, levels: usize) -> DataPacket {
    let lv = |i: usize, base: i64| {
        Level::new(Decimal::new(base * 100 + i as i64, 2), Decimal::new(i as i64 + 1, 3))
    };
    DataPacket {
        exchange: ExchangeId::Bybit,
        symbol: Symbol::parse(symbol).unwrap(),
        exchange_ts: ts_ms * 1_000_000,
        local_ts: ts_ms * 1_000_000 + 1,
        data: Payload::BookSnapshot(BookSnapshot {
            bids: (0..levels).map(|i| lv(i, 100)).collect(),
            asks: (0..levels).map(|i| lv(i, 101)).collect(),
            seq,
        }),
    }
}

pub fn delta(symbol: &str, ts_ms: i64, last: u64) -> DataPacket {
    DataPacket {
        exchange: ExchangeId::Binance,
        symbol: Symbol::parse(symbol).unwrap(),
        exchange_ts: ts_ms * 1_000_000,
        local_ts: ts_ms * 1_000_000 + 7,
        data: Payload::BookDelta(BookDelta {
            bids: vec![Level::new(dec("100.10"), dec("0")), Level::new(dec("100.05"), dec("1.250"))],
            asks: vec![Level::new(dec("100.20"), dec("3"))],
            seq: Sequence { first: Some(last - 2), last, prev: None },
        }),
    }
}

/// `MD_INFLUX_URL`, or `None` (with a note) when running locally without it; CI must have it.
pub fn influx_url(test: &str) -> Option<String> {
    match std::env::var("MD_INFLUX_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: MD_INFLUX_URL unset under CI")
        }
        Err(_) => {
            eprintln!("{test}: skipped, MD_INFLUX_URL is unset (run via .ci/run)");
            None
        }
    }
}

/// `MD_INFLUXD` (the influxd binary), same rules as [`influx_url`].
pub fn influxd_bin(test: &str) -> Option<PathBuf> {
    match std::env::var("MD_INFLUXD") {
        Ok(p) => Some(p.into()),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => panic!("{test}: MD_INFLUXD unset under CI"),
        Err(_) => {
            eprintln!("{test}: skipped, MD_INFLUXD is unset (run via .ci/run)");
            None
        }
    }
}

pub async fn query(url: &str, db: &str, q: &str) -> serde_json::Value {
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{url}/query"))
        .query(&[("db", db), ("q", q), ("epoch", "ns")])
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap()
}

pub async fn exec(url: &str, q: &str) {
    let client = reqwest::Client::new();
    let resp = client.post(format!("{url}/query")).form(&[("q", q)]).send().await.unwrap();
    assert!(resp.status().is_success(), "{q}: {}", resp.text().await.unwrap());
}

/// Rows of the first series of a `SELECT`, as (columns, values).
pub fn rows(v: &serde_json::Value) -> (Vec<String>, Vec<Vec<serde_json::Value>>) {
    let Some(series) = v["results"][0]["series"].as_array() else {
        return (vec![], vec![]);
    };
    let mut values = Vec::new();
    let mut columns = Vec::new();
    for s in series {
        columns = s["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
        values.extend(s["values"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().clone()));
    }
    (columns, values)
}

/// A private influxd (for tests that stop and start the server).
pub struct Influxd {
    bin: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Influxd {
    pub fn new(bin: &Path, dir: &Path) -> Self {
        let port = md_sim::free_port();
        let rpc = md_sim::free_port();
        let d = dir.display();
        let conf = format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n[meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n"
        );
        std::fs::write(dir.join("influxdb.conf"), conf).unwrap();
        Self { bin: bin.to_owned(), dir: dir.to_owned(), port, child: None }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("influxd.log")).unwrap();
        let child = Command::new(&self.bin)
            .arg("-config")
            .arg(self.dir.join("influxdb.conf"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if client.get(format!("{}/ping", self.url())).send().await.is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("influxd did not start: {}", std::fs::read_to_string(self.dir.join("influxd.log")).unwrap());
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Peak resident set size of this process, from /proc (kB).
pub fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
