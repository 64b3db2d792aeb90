//! The scanner's answers are serde's: every frame is parsed twice, with the scanner and with
//! serde alone, and whenever the scanner read a frame, serde must give the same result.
//! Frames come from templates of the real shapes with random key order, whitespace, extra
//! fields, numbers for strings, odd decimals, leading zeros, escapes, duplicates and cuts.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;

use md_core::{Control, DataPacket, ParseError, Symbol, SymbolInfo, Symbols};
use proptest::prelude::*;

use super::scan::{HITS, OFF};

type Parse = fn(&str, &Symbols, md_core::UnixNanos, &mut Vec<DataPacket>) -> Result<Control, ParseError>;

fn listing() -> Symbols {
    Symbols::new([SymbolInfo { symbol: Symbol::new("BNB", "BTC"), native: "BNBBTC".into(), trading: true }])
}

fn both(parse: Parse, text: &str) -> Option<(String, String)> {
    let symbols = listing();
    let run = |off: bool| {
        OFF.with(|o| o.set(off));
        let mut out = Vec::new();
        let result = parse(text, &symbols, 7, &mut out);
        OFF.with(|o| o.set(false));
        (result.map_err(|e| e.to_string()), out)
    };
    let before = HITS.with(Cell::get);
    let fast = run(false);
    let scanned = HITS.with(Cell::get) > before;
    let slow = run(true);
    // When the scanner gave up, both runs were serde's: nothing to compare.
    scanned.then(|| (format!("{fast:?}"), format!("{slow:?}")))
}

fn ws() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n\t ")]
}

fn decimal() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0u32..100_000, 0u32..10_000).prop_map(|(a, b)| format!("\"{a}.{b:04}\"")),
        1 => prop::sample::select(vec!["\"0\"", "\"1e5\"", "\"9.121E-7\"", "\"-0\"", "\"1.\"", "\".5\"", "\"00.1\"",
            "\"NaN\"", "\"\"", "\"1\\u0030\"", "1.5", "2.0E-4", "-3", "01", "\"-1\"", "true", "null", "[1]"])
            .prop_map(str::to_owned),
    ]
}

fn integer() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0u64..u64::MAX / 2).prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec!["0", "-1", "007", "1.0", "1e3", "18446744073709551616", "\"5\"", "null", "-0"])
            .prop_map(str::to_owned),
    ]
}

fn levels() -> impl Strategy<Value = String> {
    prop::collection::vec((decimal(), decimal(), prop::option::of(integer()), ws()), 0..6).prop_map(
        |levels| {
            let inner: Vec<String> = levels
                .into_iter()
                .map(|(p, q, extra, w)| match extra {
                    Some(e) => format!("[{w}{p},{q},{e}]"),
                    None => format!("[{p}{w},{w}{q}]"),
                })
                .collect();
            format!("[{}]", inner.join(","))
        },
    )
}

fn extra() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        r#""x":1"#,
        r#""x":{"y":[1,2,{"z":null}],"w":"v"}"#,
        r#""x":"a\"b""#,
        r#""x":1.e5"#,
        r#""e":"depthUpdate""#,
        r#""M":true"#,
        r#""cts":1700000000000"#,
        r#""x":[nullx]"#,
    ])
    .prop_map(str::to_owned)
}

/// An object from fields, shuffled, with whitespace, an optional extra field and an optional
/// duplicate.
fn object(fields: Vec<(String, String)>) -> impl Strategy<Value = String> {
    let n = fields.len();
    (Just(fields), prop::collection::vec(any::<u32>(), n), prop::option::of(extra()), ws(), any::<bool>())
        .prop_map(|(fields, order, extra, w, duplicate)| {
            let mut fields: Vec<(u32, String)> =
                fields.into_iter().zip(order).map(|((k, v), o)| (o, format!("\"{k}\"{w}:{w}{v}"))).collect();
            fields.sort();
            let mut parts: Vec<String> = fields.into_iter().map(|(_, f)| f).collect();
            if let Some(extra) = extra {
                parts.insert(parts.len() / 2, extra);
            }
            if duplicate && !parts.is_empty() {
                parts.push(parts[0].clone());
            }
            format!("{{{w}{}{w}}}", parts.join(","))
        })
}

fn binance_depth() -> impl Strategy<Value = String> {
    (integer(), integer(), integer(), prop::option::of(integer()), levels(), levels(), any::<bool>())
        .prop_flat_map(|(e, first, last, pu, b, a, escaped)| {
            let symbol = if escaped { r#""BNB\u0042TC""# } else { r#""BNBBTC""# };
            let mut fields = vec![
                ("E".into(), e),
                ("s".into(), symbol.to_owned()),
                ("U".into(), first),
                ("u".into(), last),
                ("b".into(), b),
                ("a".into(), a),
            ];
            if let Some(pu) = pu {
                fields.push(("pu".into(), pu));
            }
            object(fields).prop_flat_map(|data| {
                object(vec![("stream".into(), r#""bnbbtc@depth@100ms""#.into()), ("data".into(), data)])
            })
        })
}

fn binance_trade() -> impl Strategy<Value = String> {
    (integer(), decimal(), decimal(), integer(), any::<bool>()).prop_flat_map(|(t, p, q, time, m)| {
        object(vec![
            ("s".into(), r#""BNBBTC""#.into()),
            ("t".into(), t),
            ("p".into(), p),
            ("q".into(), q),
            ("T".into(), time),
            ("m".into(), m.to_string()),
        ])
        .prop_flat_map(|data| {
            object(vec![("stream".into(), r#""bnbbtc@trade""#.into()), ("data".into(), data)])
        })
    })
}

fn bybit_book() -> impl Strategy<Value = String> {
    (integer(), levels(), levels(), prop::sample::select(vec!["snapshot", "delta", "other"])).prop_flat_map(
        |(u, b, a, kind)| {
            object(vec![
                ("s".into(), r#""BNBBTC""#.into()),
                ("b".into(), b),
                ("a".into(), a),
                ("u".into(), u),
            ])
            .prop_flat_map(move |data| {
                // The topic first, as the hot path's peek requires.
                object(vec![
                    ("ts".into(), "1700000000000".into()),
                    ("type".into(), format!("\"{kind}\"")),
                    ("data".into(), data),
                ])
                .prop_map(|rest| format!("{{\"topic\":\"orderbook.50.BNBBTC\",{}", &rest[1..]))
            })
        },
    )
}

fn bybit_trades() -> impl Strategy<Value = String> {
    let trade = (integer(), decimal(), decimal(), prop::sample::select(vec!["Buy", "Sell", "Hold"]))
        .prop_flat_map(|(time, p, v, side)| {
            object(vec![
                ("i".into(), r#""2290000000090712222""#.into()),
                ("T".into(), time),
                ("p".into(), p),
                ("v".into(), v),
                ("S".into(), format!("\"{side}\"")),
                ("s".into(), r#""BNBBTC""#.into()),
            ])
        });
    prop::collection::vec(trade, 0..3).prop_flat_map(|trades| {
        object(vec![
            ("ts".into(), "1700000000000".into()),
            ("data".into(), format!("[{}]", trades.join(","))),
        ])
        .prop_map(|rest| format!("{{\"topic\":\"publicTrade.BNBBTC\",{}", &rest[1..]))
    })
}

fn bare_levels() -> impl Strategy<Value = String> {
    levels().prop_map(|l| l.replace('"', ""))
}

fn huobi_mbp() -> impl Strategy<Value = String> {
    (
        integer(),
        integer(),
        prop_oneof![bare_levels(), levels(), Just("null".to_owned())],
        bare_levels(),
        any::<bool>(),
    )
        .prop_flat_map(|(seq, prev, bids, asks, with_ts)| {
            object(vec![
                ("seqNum".into(), seq),
                ("prevSeqNum".into(), prev),
                ("bids".into(), bids),
                ("asks".into(), asks),
            ])
            .prop_flat_map(move |tick| {
                let ts = if with_ts { "1700000000000" } else { "null" };
                object(vec![("ts".into(), ts.into()), ("tick".into(), tick)])
                    .prop_map(|rest| format!("{{\"ch\":\"market.bnbbtc.mbp.150\",{}", &rest[1..]))
            })
        })
}

fn huobi_trades() -> impl Strategy<Value = String> {
    let entry = (
        prop_oneof![Just("123140716701236887569077664".to_owned()), integer(), Just("\"x7\"".to_owned())],
        prop::option::of(integer()),
        integer(),
        decimal(),
        decimal(),
        prop::sample::select(vec!["buy", "sell", "hold"]),
    )
        .prop_flat_map(|(id, trade_id, ts, price, amount, direction)| {
            let mut fields = vec![
                ("id".into(), id),
                ("ts".into(), ts),
                ("price".into(), price.replace('"', "")),
                ("amount".into(), amount),
                ("direction".into(), format!("\"{direction}\"")),
            ];
            if let Some(t) = trade_id {
                fields.push(("tradeId".into(), t));
            }
            object(fields)
        });
    prop::collection::vec(entry, 0..3).prop_flat_map(|entries| {
        object(vec![
            ("id".into(), "123140716701".into()),
            ("data".into(), format!("[{}]", entries.join(","))),
        ])
        .prop_flat_map(|tick| {
            object(vec![("ts".into(), "1700000000000".into()), ("tick".into(), tick)])
                .prop_map(|rest| format!("{{\"ch\":\"market.bnbbtc.trade.detail\",{}", &rest[1..]))
        })
    })
}

/// A frame, sometimes cut short.
fn maybe_cut(frame: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (frame, prop::option::weighted(0.1, any::<prop::sample::Index>())).prop_map(|(text, cut)| match cut {
        Some(at) => {
            let mut end = at.index(text.len().max(1));
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text[..end].to_owned()
        }
        None => text,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn binance_scanner_agrees_with_serde(text in maybe_cut(prop_oneof![binance_depth(), binance_trade()])) {
        if let Some((fast, slow)) = both(crate::binance::parse_text, &text) {
            prop_assert_eq!(fast, slow, "{}", text);
        }
    }

    #[test]
    fn huobi_scanner_agrees_with_serde(text in maybe_cut(prop_oneof![huobi_mbp(), huobi_trades()])) {
        if let Some((fast, slow)) = both(crate::huobi::parse_text, &text) {
            prop_assert_eq!(fast, slow, "{}", text);
        }
    }

    #[test]
    fn bybit_scanner_agrees_with_serde(text in maybe_cut(prop_oneof![bybit_book(), bybit_trades()])) {
        if let Some((fast, slow)) = both(crate::bybit::parse_text, &text) {
            prop_assert_eq!(fast, slow, "{}", text);
        }
    }
}

#[test]
fn the_scanner_reads_the_common_frames() {
    let frames: [(Parse, &str); 5] = [
        (
            crate::huobi::parse_text,
            r#"{"ch":"market.bnbbtc.mbp.150","ts":1700000000000,"tick":{"seqNum":2,"prevSeqNum":1,"bids":[[99.07,2.1807]],"asks":[]}}"#,
        ),
        (
            crate::huobi::parse_text,
            r#"{"ch":"market.bnbbtc.trade.detail","ts":1616243199157,"tick":{"id":123140716701,"ts":1616243199156,"data":[{"id":123140716701236887569077664,"ts":1616243199156,"tradeId":102357140867,"amount":1.98E-4,"price":58911.07,"direction":"sell"}]}}"#,
        ),
        (
            crate::binance::parse_text,
            r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}}"#,
        ),
        (
            crate::bybit::parse_text,
            r#"{"topic":"orderbook.50.BNBBTC","ts":1672304484978,"type":"delta","data":{"s":"BNBBTC","b":[["16493.50","0.006"]],"a":[],"u":2,"seq":3},"cts":1672304484976}"#,
        ),
        (
            crate::bybit::parse_text,
            r#"{"topic":"publicTrade.BNBBTC","ts":1672304486868,"type":"snapshot","data":[{"T":1672304486865,"s":"BNBBTC","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950","BT":false}]}"#,
        ),
    ];
    for (parse, text) in frames {
        let (fast, slow) = both(parse, text).unwrap_or_else(|| panic!("the scanner gave up on {text}"));
        assert_eq!(fast, slow);
    }
}
