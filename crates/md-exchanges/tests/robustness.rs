//! Network input never panics a parser: arbitrary bytes, and valid frames cut short or with a
//! byte changed, as text and as (gzip) binary frames, for every venue.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::Arc;

use md_core::{DataPacket, ExchangeId, Frame, Parser, Symbols};
use md_exchanges::{build, Endpoints};
use proptest::prelude::*;

const VALID: [(ExchangeId, &str); 11] = [
    (
        ExchangeId::Binance,
        r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}}"#,
    ),
    (
        ExchangeId::Binance,
        r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":9,"p":"0.5","q":"2","T":2,"m":false,"M":true}}"#,
    ),
    (ExchangeId::Binance, r#"{"error":{"code":2,"msg":"Invalid request"},"id":1}"#),
    (
        ExchangeId::Bybit,
        r#"{"topic":"orderbook.50.BTCUSDT","ts":1,"type":"delta","data":{"s":"BTCUSDT","b":[["1.5","0"]],"a":[],"u":2,"seq":3},"cts":1}"#,
    ),
    (
        ExchangeId::Bybit,
        r#"{"topic":"publicTrade.BTCUSDT","ts":1,"type":"snapshot","data":[{"i":"229","T":1,"p":"43774","v":"0.0026","S":"Sell","s":"BTCUSDT","BT":false}]}"#,
    ),
    (
        ExchangeId::Huobi,
        r#"{"ch":"market.btcusdt.mbp.150","ts":1,"tick":{"seqNum":204,"prevSeqNum":160,"bids":[[9144.1,0.0]],"asks":[[9.121E-7,2.0E-4]]}}"#,
    ),
    (
        ExchangeId::Huobi,
        r#"{"ch":"market.btcusdt.trade.detail","ts":1,"tick":{"id":1,"ts":1,"data":[{"id":100182534526255757567432481,"ts":1,"tradeId":102,"amount":0.006,"price":52648.62,"direction":"buy"}]}}"#,
    ),
    (
        ExchangeId::Bitstamp,
        r#"{"data":{"timestamp":"1641343694","microtimestamp":"1641343694435337","bids":[["1.16133","1200.00000000"],["1.16007","0.00000000"]],"asks":[["1.16456","0"]]},"channel":"diff_order_book_bateur","event":"data"}"#,
    ),
    (
        ExchangeId::Bitstamp,
        r#"{"data":{"id":216000477,"id_str":"216000477","timestamp":"1641343699","amount":0.0792,"amount_str":"1E-8","price":3805.44,"price_str":"3805.44","type":0,"microtimestamp":"1641343699596000","buy_order_id":1,"sell_order_id":2},"channel":"live_trades_ethusd","event":"trade"}"#,
    ),
    (
        ExchangeId::Bitstamp,
        r#"{"event":"bts:error","channel":"","data":{"code":4009,"message":"Bad subscription string."}}"#,
    ),
    (
        ExchangeId::Bitstamp,
        r#"{"event":"bts:subscription_succeeded","channel":"live_trades_ethusd","data":{}}"#,
    ),
];

fn parser(id: ExchangeId) -> Box<dyn Parser> {
    build(id, &Endpoints::default()).unwrap().parser(Arc::new(Symbols::default()))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Parses both ways; an error must leave no packets behind.
fn parse_every_way(id: ExchangeId, bytes: &[u8]) {
    let parser = parser(id);
    let mut out: Vec<DataPacket> = Vec::new();
    if let Ok(text) = std::str::from_utf8(bytes) {
        if parser.parse(Frame::Text(text), 0, &mut out).is_err() {
            assert!(out.is_empty(), "{id} left packets after an error on {text:?}");
        }
    }
    out.clear();
    let _ = parser.parse(Frame::Binary(bytes), 0, &mut out);
    out.clear();
    let _ = parser.parse(Frame::Binary(&gzip(bytes)), 0, &mut out);
}

#[test]
fn the_valid_frames_are_valid() {
    for (id, text) in VALID {
        let mut out = Vec::new();
        let control = parser(id).parse(Frame::Text(text), 0, &mut out).unwrap();
        assert_eq!(control == md_core::Control::Data, !out.is_empty(), "{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), venue in 0usize..md_core::ExchangeId::BUILT_IN.len()) {
        parse_every_way(md_core::ExchangeId::BUILT_IN[venue], &bytes);
    }

    #[test]
    fn damaged_valid_frames_never_panic(which in 0usize..VALID.len(), cut in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (id, text) = VALID[which];
        let bytes = text.as_bytes();
        parse_every_way(id, &bytes[..cut.index(bytes.len())]);
        let mut changed = bytes.to_vec();
        changed[at.index(bytes.len())] = byte;
        parse_every_way(id, &changed);
    }
}
