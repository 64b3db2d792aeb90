//! Parse + normalize cost per venue and message kind: frame in, `DataPacket`s out.
//!
//! `cargo bench -p md-exchanges --bench parse`. Targets (../shared/docs/performance.md):
//! Binance 455-byte depth diff ≤ 1 µs, a trade ≤ 0.5 µs.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use md_core::{ExchangeId, Frame, Parser, Symbol, SymbolInfo, Symbols};
use md_exchanges::{build, Endpoints};

const BINANCE_DEPTH: &str = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BTCUSDT","U":157482310012,"u":157482310031,"b":[["16850.04000000","0.02980000"],["16850.01000000","0.00000000"],["16849.98000000","1.47632000"],["16849.55000000","0.11870000"],["16848.12000000","0.00000000"]],"a":[["16850.05000000","3.19824000"],["16850.06000000","0.00000000"],["16850.09000000","0.05935000"],["16850.55000000","0.60000000"],["16851.20000000","0.00000000"]]}}"#;
const BINANCE_TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":2464934153,"p":"16850.05000000","q":"0.00150000","T":1672515782136,"m":false,"M":true}}"#;
const BYBIT_DELTA: &str = r#"{"topic":"orderbook.50.BTCUSDT","ts":1731035685345,"type":"delta","data":{"s":"BTCUSDT","b":[["75848.62","0.014895"],["75837.13","0"],["75836.01","0.1"],["75835.5","0.25"],["75830","0"]],"a":[["75848.89","0.088149"],["75851.44","0.078379"],["75852.65","0"],["75855.23","0.260219"],["75857.74","0.049778"]],"u":2876701,"seq":47474967823},"cts":1731035685339}"#;
const BYBIT_TRADE: &str = r#"{"topic":"publicTrade.BTCUSDT","ts":1703430744103,"type":"snapshot","data":[{"i":"2290000000090712222","T":1703430744102,"p":"43774","v":"0.0026","S":"Sell","s":"BTCUSDT","BT":false}]}"#;
const HTX_MBP: &str = r#"{"ch":"market.btcusdt.mbp.150","ts":1593561600201,"tick":{"seqNum":109409288204,"prevSeqNum":109409288160,"bids":[[9144.1,0.0],[9143.9,0.8721],[9140.26,1.2],[9139.2,0.0],[9138.5,0.05]],"asks":[[9144.2,0.3123],[9145.8,0.0],[9146.1,2.0E-4],[9147,0.5],[9150.31,1.1]]}}"#;
const BITSTAMP_DIFF: &str = r#"{"data":{"timestamp":"1641343697","microtimestamp":"1641343697199311","bids":[["16850.04","0.02980000"],["16850.01","0.00000000"],["16849.98","1.47632000"],["16849.55","0.11870000"],["16848.12","0.00000000"]],"asks":[["16850.05","3.19824000"],["16850.06","0.00000000"],["16850.09","0.05935000"],["16850.55","0.60000000"],["16851.20","0.00000000"]]},"channel":"diff_order_book_btcusdt","event":"data"}"#;
const BITSTAMP_TRADE: &str = r#"{"data":{"id":216000477,"timestamp":"1641343699","amount":0.0792,"amount_str":"0.07920000","price":3805.44,"price_str":"3805.44","type":0,"microtimestamp":"1641343699596000","buy_order_id":1443875737346049,"sell_order_id":1443875731320832},"channel":"live_trades_btcusdt","event":"trade"}"#;
const HTX_TRADE: &str = r#"{"ch":"market.btcusdt.trade.detail","ts":1630994963175,"tick":{"id":137005445109,"ts":1630994963173,"data":[{"id":100182534526255757567432481,"ts":1630994963173,"tradeId":102523573486,"amount":0.006754,"price":52648.62,"direction":"buy"}]}}"#;

fn listing(native: &str) -> Arc<Symbols> {
    Arc::new(Symbols::new([SymbolInfo {
        symbol: Symbol::new("BTC", "USDT"),
        native: native.into(),
        trading: true,
    }]))
}

fn parser(id: ExchangeId, native: &str) -> Box<dyn Parser> {
    build(id, &Endpoints::default()).unwrap().parser(listing(native))
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

fn bench_frame(c: &mut Criterion, name: &str, parser: &dyn Parser, frame: Frame<'_>, len: usize) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(len as u64));
    let mut out = Vec::with_capacity(8);
    parser.parse(frame, 0, &mut out).unwrap();
    assert!(!out.is_empty(), "{name} produced nothing");
    group.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            black_box(parser.parse(black_box(frame), 1, &mut out)).unwrap();
        })
    });
    group.finish();
}

fn parse_paths(c: &mut Criterion) {
    let binance = parser(ExchangeId::Binance, "BTCUSDT");
    bench_frame(c, "binance_depth_455B", &*binance, Frame::Text(BINANCE_DEPTH), BINANCE_DEPTH.len());
    bench_frame(c, "binance_trade", &*binance, Frame::Text(BINANCE_TRADE), BINANCE_TRADE.len());
    let bybit = parser(ExchangeId::Bybit, "BTCUSDT");
    bench_frame(c, "bybit_delta_5x5", &*bybit, Frame::Text(BYBIT_DELTA), BYBIT_DELTA.len());
    bench_frame(c, "bybit_trade", &*bybit, Frame::Text(BYBIT_TRADE), BYBIT_TRADE.len());
    let htx = parser(ExchangeId::Huobi, "btcusdt");
    let (mbp, trade) = (gzip(HTX_MBP), gzip(HTX_TRADE));
    bench_frame(c, "htx_mbp_5x5_gzip", &*htx, Frame::Binary(&mbp), mbp.len());
    bench_frame(c, "htx_trade_gzip", &*htx, Frame::Binary(&trade), trade.len());
    bench_frame(c, "htx_mbp_5x5_plain", &*htx, Frame::Text(HTX_MBP), HTX_MBP.len());
    let bitstamp = parser(ExchangeId::Bitstamp, "btcusdt");
    bench_frame(c, "bitstamp_diff_5x5", &*bitstamp, Frame::Text(BITSTAMP_DIFF), BITSTAMP_DIFF.len());
    bench_frame(c, "bitstamp_trade", &*bitstamp, Frame::Text(BITSTAMP_TRADE), BITSTAMP_TRADE.len());
}

criterion_group!(benches, parse_paths);
criterion_main!(benches);
