//! The md-ingest binary against md-sim (every built-in venue) and a real InfluxDB: about 20 s of
//! recording, then SIGTERM. Every trade md-sim sent must be stored exactly once, the last
//! stored snapshot of every book must equal md-sim's book, and the status measurement must say
//! when each symbol's connection came up and went down.
//!
//! Needs `MD_INFLUX_URL` (set by `.ci/run`); under `CI=true` its absence fails the test.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use md_core::ExchangeId;
use md_e2e::{free_port, influx_url, md_ingest, query, terminate};
use md_sim::{SimConfig, Simulator};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_three_venues_exactly_once_into_influxdb() {
    let Some(url) = influx_url() else { return };
    let venues = ExchangeId::BUILT_IN;
    let config = SimConfig {
        venues: venues.to_vec(),
        symbols: vec![("BTC".into(), "USDT".into()), ("ETH".into(), "USDT".into())],
        seed: 11,
        updates_per_sec: 20.0,
        trades_per_sec: 10.0,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let run = format!("{}", std::process::id());
    let (incremental, snapshot) = (format!("md_e2e_incr_{run}"), format!("md_e2e_snap_{run}"));
    let data = tempfile::tempdir().unwrap();
    let metrics_addr = format!("127.0.0.1:{}", free_port());

    let exchanges: Vec<&str> = venues.iter().map(|v| v.as_str()).collect();
    let mut command = md_ingest();
    command
        .args(["--exchanges", &exchanges.join(","), "--influx-url", &url])
        .args(["--influx-db", &format!("{incremental},{snapshot}")])
        .args(["--snapshot-interval", "500ms", "--metrics-addr", &metrics_addr])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for venue in venues {
        command.args(["--ws-url", &format!("{venue}={}", sim.ws_url(venue))]);
        command.args(["--rest-url", &format!("{venue}={}", sim.rest_url(venue))]);
    }
    let child = command.spawn().unwrap();
    let pid = child.id();

    tokio::time::sleep(Duration::from_secs(17)).await;
    let client = reqwest::Client::new();
    let health = client.get(format!("http://{metrics_addr}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "healthz: {:?}", health.text().await);
    let metrics =
        client.get(format!("http://{metrics_addr}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("md_books_in_sync{exchange=\"binance\"} 2"), "{metrics}");
    assert!(metrics.contains("md_gaps_total{exchange=\"huobi\"} 0"), "{metrics}");

    // A quiescent point: nothing new after this, so the last snapshots must equal the sim's books.
    sim.pause(true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopped = Instant::now();
    terminate(pid);
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "md-ingest failed: {stderr}");
    assert!(stopped.elapsed() < Duration::from_secs(10), "shutdown took {:?}", stopped.elapsed());

    for venue in venues {
        let sent: HashSet<(String, String)> =
            sim.trades_sent(venue).into_iter().map(|(s, id)| (s.to_string(), id.to_string())).collect();
        assert!(sent.len() > 100, "{venue}: only {} trades sent", sent.len());
        let q = format!("SELECT trade_id, symbol FROM trade WHERE exchange = '{venue}'");
        let rows: Vec<Vec<Value>> =
            query(&url, &incremental, &q).await.into_iter().flat_map(|(_, rows)| rows).collect();
        let stored: HashSet<(String, String)> = rows
            .iter()
            .map(|r| (r[2].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(rows.len(), stored.len(), "{venue}: a trade was stored twice");
        assert_eq!(stored, sent, "{venue}: stored trades differ from those md-sim sent");

        for info in sim.symbols(venue) {
            let truth = sim.book(venue, &info.symbol).unwrap();
            let q = format!(
                "SELECT * FROM book_snapshot WHERE exchange = '{venue}' AND symbol = '{}'",
                info.symbol
            );
            let (columns, rows) = query(&url, &snapshot, &q).await.into_iter().next().unwrap();
            let col = |name: &str| columns.iter().position(|c| c == name).unwrap();
            let last = rows.iter().max_by_key(|r| r[col("seq")].as_u64().unwrap()).unwrap();
            assert_eq!(last[col("seq")].as_u64().unwrap(), truth.seq, "{venue} {}", info.symbol);
            for (side, levels) in [("bid", &truth.bids), ("ask", &truth.asks)] {
                for (i, level) in levels.iter().take(5).enumerate() {
                    let price = last[col(&format!("{side}_{i}_price"))].as_f64().unwrap();
                    let qty = last[col(&format!("{side}_{i}_qty"))].as_f64().unwrap();
                    assert_eq!(price, level.price.to_string().parse::<f64>().unwrap(), "{venue} {side} {i}");
                    assert_eq!(qty, level.qty.to_string().parse::<f64>().unwrap(), "{venue} {side} {i}");
                }
            }
        }
        // Where data is missing must be visible in the database: every symbol's connection up,
        // and down (md stopping) at the end, naming the connection.
        let q = format!("SELECT event, reason, conn, symbol FROM status WHERE exchange = '{venue}'");
        let rows: Vec<Vec<Value>> =
            query(&url, &incremental, &q).await.into_iter().flat_map(|(_, rows)| rows).collect();
        for info in sim.symbols(venue) {
            let of = |event: &str| {
                rows.iter()
                    .filter(|r| r[4].as_str() == Some(info.symbol.as_str()) && r[1].as_str() == Some(event))
                    .count()
            };
            assert!(of("connected") >= 1, "{venue} {}: no connected status in {rows:?}", info.symbol);
            assert!(of("disconnected") >= 1, "{venue} {}: no disconnected status", info.symbol);
        }
        assert!(
            rows.iter().all(|r| r[3].as_i64().is_some_and(|c| c > 0)),
            "every status names its connection"
        );
        eprintln!("{venue}: {} trades sent and stored exactly once; {} status rows", sent.len(), rows.len());
    }
    sim.shutdown().await;
}
