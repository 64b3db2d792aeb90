//! A book rebuilt from event files as of a time equals the book built live from the same
//! packets (what `examples/rebuild_book.rs` does). `MD_EVENTS_KEEP=DIR` keeps the files.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use md_core::{
    BookDelta, ConnId, DataPacket, Decimal, ExchangeId, Level, OrderBook, Payload, SeqRule, Sequence, Status,
};
use md_events::{EventFilesConfig, EventQuery, EventReader, EventWriter, Order};

fn book_stream() -> Vec<DataPacket> {
    let mut rng = Rng(5);
    let mut out = vec![snapshot(&btc(), T0 - 10 * SEC, 1000, 50)];
    let mut id = 1000u64;
    for i in 0..20_000i64 {
        let local = T0 - 10 * SEC + (i + 1) * 1_000_000;
        let level = |rng: &mut Rng, base: &str| {
            let price = md_core::parse_decimal(base).unwrap() + Decimal::new(rng.below(30) as i64, 1);
            let qty =
                if rng.below(4) == 0 { Decimal::ZERO } else { Decimal::new(rng.below(100_000) as i64, 4) };
            Level::new(price, qty)
        };
        let bids = (0..rng.below(4)).map(|_| level(&mut rng, "97")).collect();
        let asks = (0..rng.below(4)).map(|_| level(&mut rng, "100.1")).collect();
        let first = id + 1;
        id += 1 + rng.below(3);
        out.push(DataPacket {
            exchange: ExchangeId::Binance,
            symbol: btc(),
            exchange_ts: local - 2_000_000,
            local_ts: local,
            data: Payload::BookDelta(BookDelta {
                bids,
                asks,
                seq: Sequence { first: Some(first), last: id, prev: None },
            }),
        });
        if i == 5000 {
            out.push(DataPacket {
                exchange: ExchangeId::Binance,
                symbol: btc(),
                exchange_ts: local,
                local_ts: local,
                data: Payload::Status(Status::Resynced { conn: ConnId(1) }),
            });
        }
    }
    out
}

#[test]
fn a_book_rebuilt_from_files_equals_the_live_book() {
    let keep = std::env::var_os("MD_EVENTS_KEEP");
    let tmp = tempfile::tempdir().unwrap();
    let dir = keep.map_or_else(|| tmp.path().to_path_buf(), std::path::PathBuf::from);
    let packets = book_stream();
    let mut config = EventFilesConfig::new(&dir);
    config.flush_interval = Duration::from_secs(3600);
    config.chunk_bytes = 32 << 10;
    let mut writer = EventWriter::new(config).unwrap();
    for p in &packets {
        writer.write(p).unwrap();
    }
    writer.close().unwrap();

    let at = T0; // 10 s into the stream
    let mut live = OrderBook::new(SeqRule::UpdateIdRange);
    for p in packets.iter().filter(|p| p.local_ts < at) {
        match &p.data {
            Payload::BookSnapshot(s) => live.apply_snapshot(s).unwrap(),
            Payload::BookDelta(d) => {
                live.apply_delta(d).unwrap();
            }
            _ => {}
        }
    }
    let query = EventQuery { to: Some(at), order: Order::LocalTime, ..EventQuery::default() };
    let mut rebuilt = OrderBook::new(SeqRule::UpdateIdRange);
    for p in EventReader::open(&dir, query).unwrap() {
        match p.unwrap().data {
            Payload::BookSnapshot(s) => rebuilt.apply_snapshot(&s).unwrap(),
            Payload::BookDelta(d) => {
                rebuilt.apply_delta(&d).unwrap();
            }
            _ => {}
        }
    }
    assert!(live.seq() > 1000);
    assert_eq!(rebuilt.seq(), live.seq());
    assert_eq!(rebuilt.top(1000), live.top(1000));
}
