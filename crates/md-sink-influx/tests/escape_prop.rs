//! Escaping is right for every input: encoded lines read back to the original values, and
//! anything refused is refused for a documented reason.
#![allow(clippy::unwrap_used)]

mod common;

use common::lp::{self, Value};
use md_core::{DataPacket, ExchangeId, Payload, Symbol, Trade, TradeId};
use md_sink_influx::{LineBuilder, LineEncoder, SchemaConfig};
use proptest::prelude::*;

fn name_ok(s: &str) -> bool {
    !s.is_empty() && !s.contains(['\n', '\r', '\\'])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_position_round_trips(
        m in any::<String>(), tk in any::<String>(), tv in any::<String>(),
        fk in any::<String>(), sv in any::<String>(), fk2 in "[a-z]{1,3}", n in any::<i64>(), ts in any::<i64>(),
    ) {
        let mut out = b"prev 1 2\n".to_vec();
        let before = out.clone();
        let built = (|| {
            let mut line = LineBuilder::new(&mut out, &m)?;
            line.tag(&tk, &tv)?.field_str(&fk, &sv)?.field_i64(&format!("{fk2}_i"), n)?;
            line.finish(ts)
        })();
        let valid = name_ok(&m) && !m.starts_with('#') && name_ok(&tk) && name_ok(&tv) && name_ok(&fk)
            && tk != "time" && fk != "time";
        prop_assert_eq!(built.is_ok(), valid, "m={:?} tk={:?} tv={:?} fk={:?}", m, tk, tv, fk);
        if !valid {
            prop_assert_eq!(out, before);
            return Ok(());
        }
        let text = String::from_utf8(out[before.len()..].to_vec()).unwrap();
        let points = lp::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
        prop_assert_eq!(points.len(), 1);
        let p = &points[0];
        prop_assert_eq!(&p.measurement, &m);
        prop_assert_eq!(&p.tags, &vec![(tk, tv)]);
        prop_assert_eq!(&p.fields[0], &(fk, Value::Str(sv)));
        prop_assert_eq!(&p.fields[1], &(format!("{fk2}_i"), Value::Int(n)));
        prop_assert_eq!(p.ts, ts);
    }

    #[test]
    fn encoder_round_trips_any_symbol_and_trade_id(
        symbol in any::<String>(), id in any::<String>(), mantissa in any::<i64>(), scale in 0u32..=18,
        ms in 0i64..4_000_000_000_000,
    ) {
        let symbol: Symbol = serde_json::from_value(serde_json::Value::String(symbol.clone())).unwrap();
        let price = md_core::Decimal::new(mantissa, scale);
        let packet = DataPacket {
            exchange: ExchangeId::Huobi,
            symbol: symbol.clone(),
            exchange_ts: ms * 1_000_000,
            local_ts: 5,
            data: Payload::Trade(Trade { price, qty: price, side: md_core::Side::Sell, trade_id: TradeId::Text(id.clone()) }),
        };
        let mut enc = LineEncoder::new(&SchemaConfig::default()).unwrap();
        let mut out = Vec::new();
        let r = enc.encode(&packet, &mut out);
        if !name_ok(symbol.as_str()) {
            prop_assert!(r.is_err());
            prop_assert!(out.is_empty());
            return Ok(());
        }
        prop_assert!(r.is_ok());
        let points = lp::parse(std::str::from_utf8(&out).unwrap()).map_err(TestCaseError::fail)?;
        let p = &points[0];
        prop_assert_eq!(p.tag("symbol"), Some(symbol.as_str()));
        prop_assert_eq!(p.field("trade_id"), Some(&Value::Str(id)));
        prop_assert_eq!(p.field("price"), Some(&Value::Num(price.to_string())));
        prop_assert!(p.ts >= ms * 1_000_000 && p.ts < (ms + 1) * 1_000_000);
    }
}
