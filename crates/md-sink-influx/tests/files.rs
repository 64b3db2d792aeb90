//! The line-protocol file sink: every packet lands in a file `influx -import` can read,
//! rotation loses nothing, and cancellation flushes what was queued.
#![allow(clippy::unwrap_used)]

use md_core::{BookSnapshot, DataPacket, Decimal, ExchangeId, Level, Payload, Side, Symbol, Trade, TradeId};
use md_sink_influx::{line_files, LineFiles, LineFilesConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn trade(i: u64) -> DataPacket {
    DataPacket {
        exchange: ExchangeId::Binance,
        symbol: Symbol::new("BTC", "USDT"),
        exchange_ts: 1_700_000_000_000_000_000 + (i / 10) as i64 * 1_000_000,
        local_ts: 1,
        data: Payload::Trade(Trade {
            price: Decimal::new(1_685_004 + i as i64, 2),
            qty: Decimal::new(15, 4),
            side: Side::Buy,
            trade_id: TradeId::Number(i),
        }),
    }
}

fn snapshot() -> DataPacket {
    let level = |p: i64| Level::new(Decimal::new(p, 1), Decimal::ONE);
    DataPacket {
        exchange: ExchangeId::Bybit,
        symbol: Symbol::new("ETH", "USDT"),
        exchange_ts: 1_700_000_000_000_000_000,
        local_ts: 1,
        data: Payload::BookSnapshot(BookSnapshot { bids: vec![level(100)], asks: vec![level(101)], seq: 9 }),
    }
}

#[tokio::test]
async fn rotated_files_hold_every_line_with_import_headers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LineFilesConfig::new(dir.path());
    config.rotate_bytes = 4096;
    let sink = LineFiles::new(config).unwrap();
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let run = tokio::spawn(sink.run(rx, cancel.clone()));
    for i in 0..1000 {
        tx.send(trade(i)).await.unwrap();
    }
    tx.send(snapshot()).await.unwrap();
    drop(tx);
    let stats = run.await.unwrap().unwrap();
    assert_eq!(stats.lines_written, 1001);

    let files = line_files(dir.path()).unwrap();
    assert!(files.len() > 2, "4 KiB files must have rotated: {files:?}");
    let (mut trades, mut snapshots) = (0, 0);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("# DML"));
        let context = lines.next().unwrap();
        for line in lines {
            if line.starts_with("trade,") {
                assert_eq!(context, "# CONTEXT-DATABASE: md_incremental");
                trades += 1;
            } else {
                assert!(line.starts_with("book_snapshot,"), "{line}");
                assert_eq!(context, "# CONTEXT-DATABASE: md_snapshot");
                snapshots += 1;
            }
        }
    }
    assert_eq!((trades, snapshots), (1000, 1));
}

#[tokio::test]
async fn cancel_writes_what_was_already_queued() {
    let dir = tempfile::tempdir().unwrap();
    let sink = LineFiles::new(LineFilesConfig::new(dir.path())).unwrap();
    let (tx, rx) = mpsc::channel(256);
    for i in 0..200 {
        tx.send(trade(i)).await.unwrap();
    }
    let cancel = CancellationToken::new();
    cancel.cancel();
    let stats = sink.run(rx, cancel).await.unwrap();
    assert_eq!(stats.lines_written, 200);
    let text = std::fs::read_to_string(&line_files(dir.path()).unwrap()[0]).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("trade,")).count(), 200);
}
