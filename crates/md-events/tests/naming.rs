//! One type builds and parses file names; times format and parse both ways.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use md_core::{ExchangeId, Symbol};
use md_events::naming::{format_compact, parse_compact};
use md_events::{parse_time, EventFileName};

#[test]
fn names_carry_venue_symbol_and_start() {
    let name = EventFileName::new(ExchangeId::Binance, btc(), T0 + 123_456_789, 0);
    assert_eq!(name.to_file_name(), "BINANCE_BTC_USDT_20261201T100000Z.mdev");
    assert_eq!(name.start, T0);
    assert_eq!(EventFileName::parse(&name.to_file_name()), Some(name.clone()));
    let second = EventFileName { n: 3, ..name };
    assert_eq!(second.to_file_name(), "BINANCE_BTC_USDT_20261201T100000Z-3.mdev");
    assert_eq!(EventFileName::parse(&second.to_file_name()), Some(second));
}

#[test]
fn every_venue_and_odd_symbols_round_trip() {
    let symbols =
        [btc(), Symbol::new("1000PEPE", "USDC"), Symbol::wildcard(), md_core::symbol::guess_symbol("XYZ")];
    for exchange in
        [ExchangeId::Binance, ExchangeId::Bybit, ExchangeId::Huobi, ExchangeId::Bitstamp, ExchangeId::Custom]
    {
        for symbol in &symbols {
            for start in [0, T0, T0 + 59 * SEC, -SEC, 4_102_444_800 * SEC] {
                let name = EventFileName::new(exchange, symbol.clone(), start, 0);
                let text = name.to_file_name();
                assert_eq!(EventFileName::parse(&text).as_ref(), Some(&name), "{text}");
                assert!(!text.contains('*') && !text.contains('/'), "{text}");
            }
        }
    }
    assert_eq!(
        EventFileName::new(ExchangeId::Huobi, Symbol::wildcard(), T0, 0).to_file_name(),
        "HUOBI_x2a__20261201T100000Z.mdev"
    );
}

#[test]
fn other_names_are_refused() {
    for bad in [
        "BINANCE_BTC_USDT.mdev",
        "BINANCE_BTC_USDT_1796119200000.bin",
        "BINANCE_BTC_USDT_20261201T100000Z.bin",
        "binance_BTC_USDT_20261201T100000Z.mdev",
        "BINANCE_btc_USDT_20261201T100000Z.mdev",
        "NASDAQ_BTC_USDT_20261201T100000Z.mdev",
        "BINANCE_BTC_USDT_20261301T100000Z.mdev",
        "BINANCE_BTC_USDT_20261201T100000Z-0.mdev",
        "BINANCE_BTC_USDT_20261201T100000Z-01.mdev",
        "BINANCE_x4254432d55534454__20261201T100000Z.mdev",
        "BINANCE_BTC_USDT_20261201T100000Z.mdev.tmp",
    ] {
        assert_eq!(EventFileName::parse(bad), None, "{bad}");
    }
}

#[test]
fn times_format_and_parse() {
    assert_eq!(format_compact(T0), "20261201T100000Z");
    assert_eq!(format_compact(0), "19700101T000000Z");
    assert_eq!(format_compact(-1), "19691231T235959Z");
    assert_eq!(parse_compact("20261201T100000Z"), Some(T0));
    assert_eq!(parse_compact("20240229T000000Z").map(format_compact).as_deref(), Some("20240229T000000Z"));
    assert_eq!(parse_compact("20230229T000000Z"), None);
    assert_eq!(parse_time("2026-12-01T10:00:00Z"), Some(T0));
    assert_eq!(parse_time("2026-12-01T10:00:00.5Z"), Some(T0 + SEC / 2));
    assert_eq!(parse_time("2026-12-01T10:00:00.000000001Z"), Some(T0 + 1));
    assert_eq!(parse_time("1796119200000000000"), Some(T0));
    for bad in ["2026-12-01", "2026-12-01T10:00:00", "2026-12-01T25:00:00Z", "2026-12-01T10:00:00.Z", "x"] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
    let mut t = -200 * 366 * 86_400 * SEC;
    while t < 290 * 366 * 86_400 * SEC {
        let text = format_compact(t);
        assert_eq!(parse_compact(&text), Some(t.div_euclid(SEC) * SEC), "{text}");
        t += 86_399 * SEC * 3 + 7;
    }
}
