//! Bytes per packet on disk for Binance-like streams (printed; bounded so a regression shows).
//! `cargo test -p md-events --test size -- --nocapture` prints the figures.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use md_core::DataPacket;
use md_events::{EventFilesConfig, EventQuery, EventReader, EventWriter};

fn measure(name: &str, packets: &[DataPacket]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EventFilesConfig::new(dir.path());
    config.flush_interval = Duration::from_secs(3600);
    let mut writer = EventWriter::new(config).unwrap();
    for p in packets {
        writer.write(p).unwrap();
    }
    writer.close().unwrap();
    let bytes: u64 = writer.files_created().iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    let json: usize = packets.iter().take(1000).map(|p| serde_json::to_vec(p).unwrap().len()).sum();
    let per = bytes as f64 / packets.len() as f64;
    println!(
        "{name}: {} packets, {bytes} bytes on disk, {per:.2} bytes/packet (serde JSON: {:.0} bytes/packet)",
        packets.len(),
        json as f64 / 1000.0
    );
    let back: Vec<DataPacket> =
        EventReader::open(dir.path(), EventQuery::default()).unwrap().map(Result::unwrap).collect();
    assert_eq!(back.len(), packets.len());
    assert!(back == packets);
    per
}

#[test]
fn bytes_per_packet() {
    let mut rng = Rng(42);
    // ~1 ms apart: a busy Binance book, all within one hour.
    let deltas: Vec<_> =
        (0..100_000).map(|i| binance_delta(i, &btc(), T0 + i as i64 * 1_000_317, &mut rng)).collect();
    let trades: Vec<_> =
        (0..100_000).map(|i| binance_trade(i, &btc(), T0 + i as i64 * 3_000_211, &mut rng)).collect();
    assert!(measure("deltas 5+5 levels", &deltas) < 70.0);
    assert!(measure("trades", &trades) < 15.0);
}
