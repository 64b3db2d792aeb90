//! Encode cost per line: a trade and a 5-level snapshot, into a reused buffer.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use md_core::{
    parse_decimal, BookSnapshot, DataPacket, ExchangeId, Level, Payload, Side, Symbol, Trade, TradeId,
};
use md_sink_influx::{LineEncoder, SchemaConfig};

fn packets() -> (Vec<DataPacket>, Vec<DataPacket>) {
    let d = |s: &str| parse_decimal(s).unwrap();
    let symbol = Symbol::new("BTC", "USDT");
    let trades = (0..1000u64)
        .map(|i| DataPacket {
            exchange: ExchangeId::Binance,
            symbol: symbol.clone(),
            exchange_ts: 1_700_000_000_000_000_000 + (i as i64 / 10) * 1_000_000,
            local_ts: 1_700_000_000_000_123_456 + i as i64,
            data: Payload::Trade(Trade {
                price: d("65012.34000000"),
                qty: d("0.00123000"),
                side: Side::Buy,
                trade_id: TradeId::Number(3_512_345_678 + i),
            }),
        })
        .collect();
    let level = |p: &str, q: &str| Level::new(d(p), d(q));
    let snapshots = (0..1000u64)
        .map(|i| DataPacket {
            exchange: ExchangeId::Bybit,
            symbol: symbol.clone(),
            exchange_ts: 1_700_000_000_000_000_000 + i as i64 * 1_000_000,
            local_ts: 1_700_000_000_000_123_456 + i as i64,
            data: Payload::BookSnapshot(BookSnapshot {
                bids: ["65012.34", "65012.33", "65012.30", "65012.12", "65011.00"]
                    .iter()
                    .map(|p| level(p, "0.512300"))
                    .collect(),
                asks: ["65012.35", "65012.40", "65012.41", "65013.00", "65013.50"]
                    .iter()
                    .map(|p| level(p, "1.000010"))
                    .collect(),
                seq: 40_000_000_000 + i,
            }),
        })
        .collect();
    (trades, snapshots)
}

fn bench(c: &mut Criterion) {
    let (trades, snapshots) = packets();
    let mut group = c.benchmark_group("encode");
    for (name, packets) in [("trade", &trades), ("snapshot_5_levels", &snapshots)] {
        group.throughput(Throughput::Elements(packets.len() as u64));
        group.bench_function(name, |b| {
            let mut enc = LineEncoder::new(&SchemaConfig::default()).unwrap();
            let mut out = Vec::with_capacity(1 << 20);
            b.iter(|| {
                out.clear();
                for p in packets {
                    enc.encode(black_box(p), &mut out).unwrap();
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
