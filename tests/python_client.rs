//! examples/python/book_client.py (grpcio, stubs generated at run time from proto/) against a
//! real `md-serve --simulate`: one JSON line per summary, sequences increasing, exact decimal
//! prices and amounts, bids descending and asks ascending; a refused stream exits 1.
//!
//! Needs `MD_PYTHON` (the venv `.ci/run` makes with examples/python/requirements.txt); under
//! `CI=true` its absence fails the test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use md_core::{parse_decimal, Decimal};
use md_e2e::{output_within, tool_from_env, Serve};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(90);
/// Enough summaries that the later ones hold every venue's levels (the first may show venues
/// still syncing, with no levels).
const COUNT: usize = 40;

fn client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python/book_client.py")
}

/// An exact decimal: parsed without rounding, and printed back as the same text.
fn exact(text: &str) -> Decimal {
    let value = parse_decimal(text).unwrap_or_else(|e| panic!("{text:?} is not an exact decimal: {e}"));
    assert_eq!(value.to_string(), text, "{text:?} does not read back as itself");
    value
}

fn prices(levels: &Value) -> Vec<Decimal> {
    levels
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert!(["binance", "bybit", "huobi"].contains(&l["exchange"].as_str().unwrap()), "{l}");
            assert!(exact(l["amount"].as_str().unwrap()) > Decimal::ZERO, "{l}");
            exact(l["price"].as_str().unwrap())
        })
        .collect()
}

fn check_summary(summary: &Value) -> bool {
    assert_eq!(summary["symbol"], "BTC-USDT", "{summary}");
    let bids = prices(&summary["bids"]);
    let asks = prices(&summary["asks"]);
    assert!(bids.windows(2).all(|w| w[0] >= w[1]), "bids not descending: {summary}");
    assert!(asks.windows(2).all(|w| w[0] <= w[1]), "asks not ascending: {summary}");
    let spread = summary["spread"].as_str().unwrap();
    match (bids.first(), asks.first()) {
        (Some(bid), Some(ask)) => assert_eq!(exact(spread), ask - bid, "{summary}"),
        _ => assert_eq!(spread, "", "{summary}"),
    }
    let venues: Vec<&str> =
        summary["venues"].as_array().unwrap().iter().map(|v| v["exchange"].as_str().unwrap()).collect();
    assert_eq!(venues.len(), 3, "{summary}");
    !bids.is_empty() && !asks.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_streams_exact_summaries() {
    let Some(python) = tool_from_env("MD_PYTHON") else { return };
    let serve = Serve::start(&[]).await;
    let addr = serve.grpc_addr.clone();
    let (output, refused) = tokio::task::spawn_blocking(move || {
        let run = |symbol: &str| {
            let mut command = Command::new(&python);
            command.arg(client()).args(["--addr", &addr, "--symbol", symbol, "--count", &COUNT.to_string()]);
            output_within(&mut command, LIMIT)
        };
        (run("BTC-USDT"), run("NOPE-USDT"))
    })
    .await
    .unwrap();
    drop(serve);

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summaries: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(summaries.len(), COUNT, "{stdout}");
    let sequences: Vec<u64> = summaries.iter().map(|s| s["sequence"].as_u64().unwrap()).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    let full = summaries.iter().filter(|s| check_summary(s)).count();
    assert!(full >= 3, "only {full} of {COUNT} summaries hold both sides: {stdout}");
    let last = summaries.last().unwrap();
    for venue in last["venues"].as_array().unwrap() {
        assert_eq!(venue["state"], "IN_SYNC", "{last}");
        assert!(venue["lag_ns"].as_str().unwrap().parse::<i64>().is_ok(), "{venue}");
    }

    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("NOT_FOUND") && stderr.contains("NOPE-USDT"), "{stderr}");
}
