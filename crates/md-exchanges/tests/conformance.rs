//! Conformance: the real recorded captures in `../shared/fixtures` through the parsers and books
//! (Bitstamp also through cryptofeed's raw files in `cryptofeed_raw/`).
//!
//! The folder comes from `MD_FIXTURES` (set by `.ci/run`). Under CI a missing folder fails the
//! run; elsewhere the tests say so and pass, so a crate user without the captures can build.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use md_core::{
    Applied, BookDelta, BookSnapshot, BookSync, Control, DataPacket, ExchangeId, Frame, ParseError, Payload,
    SeqRule, Symbols,
};
use md_exchanges::{binance, bitstamp, build, Endpoints};

fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("MD_FIXTURES").map(PathBuf::from);
    match dir {
        Some(dir) if dir.is_dir() => Some(dir),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("MD_FIXTURES must name the shared fixtures folder under CI (got {dir:?})")
        }
        _ => {
            eprintln!("MD_FIXTURES not set: skipping the capture conformance test");
            None
        }
    }
}

fn lines(dir: &std::path::Path, file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

fn parse_all(id: ExchangeId, frames: &[String]) -> Vec<(Result<Control, ParseError>, Vec<DataPacket>)> {
    let parser = build(id, &Endpoints::default()).unwrap().parser(Arc::new(Symbols::default()));
    frames
        .iter()
        .map(|f| {
            let mut out = Vec::new();
            (parser.parse(Frame::Text(f), 1, &mut out), out)
        })
        .collect()
}

fn deltas(parsed: Vec<(Result<Control, ParseError>, Vec<DataPacket>)>) -> Vec<BookDelta> {
    let mut deltas = Vec::new();
    for (result, packets) in parsed {
        result.unwrap();
        for packet in packets {
            if let Payload::BookDelta(delta) = packet.data {
                deltas.push(delta);
            }
        }
    }
    deltas
}

fn snapshot_of(packet: DataPacket) -> BookSnapshot {
    match packet.data {
        Payload::BookSnapshot(snapshot) => snapshot,
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

#[test]
fn binance_spot_nknusdt_snapshot_and_diffs() {
    let Some(dir) = fixtures() else { return };
    let body = &lines(&dir, "binance/spot_rest_depth_snapshot_NKNUSDT.jsonl")[0];
    let snapshot =
        snapshot_of(binance::parse_depth_snapshot(body, md_core::Symbol::new("NKN", "USDT"), 1).unwrap());
    assert_eq!(snapshot.seq, 499_869_752);
    assert_eq!(snapshot.bids[0].price.to_string(), "0.35210000");

    let diffs = deltas(parse_all(
        ExchangeId::Binance,
        &lines(&dir, "binance/spot_ws_depth100ms_nknusdt_combined.jsonl"),
    ));
    assert_eq!(diffs.len(), 30);
    // The captured stream is contiguous after the first event: U == previous u + 1.
    for pair in diffs[1..].windows(2) {
        assert_eq!(pair[1].seq.first, Some(pair[0].seq.last + 1));
    }

    let mut sync = BookSync::new(SeqRule::UpdateIdRange, 1000);
    for delta in diffs.iter().cloned() {
        assert_eq!(sync.on_delta(delta), Err(md_core::BookError::NotSynced));
    }
    // The first event (u == lastUpdateId) is dropped; the other 29 apply.
    assert_eq!(sync.on_snapshot(&snapshot).unwrap(), 29);
    assert_eq!(sync.book().seq(), diffs.last().unwrap().seq.last);
    let book = sync.book();
    let (bid, ask) = (book.best_bid().unwrap(), book.best_ask().unwrap());
    assert!(bid.price < ask.price);

    // Replay the same events live on a fresh book: an event that skips one id is a gap.
    let mut live = md_core::OrderBook::new(SeqRule::UpdateIdRange);
    live.apply_snapshot(&snapshot).unwrap();
    assert_eq!(live.apply_delta(&diffs[0]).unwrap(), Applied::Stale);
    live.apply_delta(&diffs[1]).unwrap();
    assert!(matches!(live.apply_delta(&diffs[3]), Err(md_core::BookError::Gap { .. })));
}

#[test]
fn binance_usdm_sushiusdt_pu_chain() {
    let Some(dir) = fixtures() else { return };
    let body = &lines(&dir, "binance/usdm_rest_depth_snapshot_SUSHIUSDT.jsonl")[0];
    let snapshot = binance::parse_depth_snapshot(body, md_core::Symbol::new("SUSHI", "USDT"), 1).unwrap();
    assert_eq!(snapshot.exchange_ts, 1_626_992_741_264_000_000);
    let snapshot = snapshot_of(snapshot);
    let diffs = deltas(parse_all(
        ExchangeId::Binance,
        &lines(&dir, "binance/usdm_ws_depth100ms_sushiusdt_combined.jsonl"),
    ));
    assert_eq!(diffs.len(), 20);
    for pair in diffs.windows(2) {
        assert_eq!(pair[1].seq.prev, Some(pair[0].seq.last), "pu must chain to the previous u");
    }
    let mut sync = BookSync::new(SeqRule::PrevLink, 100);
    for delta in diffs {
        let _ = sync.on_delta(delta);
    }
    // Lines 1-3 end before lastUpdateId; line 4 straddles it; the rest chain by pu.
    assert_eq!(sync.on_snapshot(&snapshot).unwrap(), 17);
}

#[test]
fn binance_other_captures_parse_or_are_refused_cleanly() {
    let Some(dir) = fixtures() else { return };
    let mut packets = 0;
    for file in [
        "binance/spot_ws_aggtrade_combined.jsonl",
        "binance/spot_ws_partial_depth_combined.jsonl",
        "binance/spot_ws_misc_combined_cmp.jsonl",
        "binance/usdm_ws_depth0ms_and_trade_btcusdt_hftbacktest.jsonl",
        "binance/spot_ws_bookticker_combined.jsonl",
        "binance/spot_ws_kline_combined.jsonl",
    ] {
        for (result, out) in parse_all(ExchangeId::Binance, &lines(&dir, file)) {
            match result {
                Ok(_) => packets += out.len(),
                // Streams md does not subscribe to (bookTicker, kline, ticker) are unknown frames.
                Err(ParseError::UnknownFrame { .. }) => assert!(out.is_empty()),
                Err(other) => panic!("{file}: {other}"),
            }
        }
    }
    // 3 aggTrades + 1 partial depth + 1 spot diff + 10 futures depth/trade events.
    assert_eq!(packets, 15);
}

fn bybit_book(dir: &std::path::Path, file: &str, depth: usize) {
    let parsed = parse_all(ExchangeId::Bybit, &lines(dir, file));
    let mut sync = BookSync::new(SeqRule::Consecutive, 100);
    let mut snapshots = 0;
    let mut applied = 0;
    for (result, packets) in parsed {
        let control = result.unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(matches!(control, Control::Data | Control::Subscribed { .. }), "{control:?}");
        for packet in packets {
            match packet.data {
                Payload::BookSnapshot(snapshot) => {
                    assert_eq!(snapshot.bids.len(), depth);
                    assert_eq!(snapshot.asks.len(), depth);
                    sync.on_snapshot(&snapshot).unwrap();
                    snapshots += 1;
                }
                Payload::BookDelta(delta) => {
                    assert_eq!(sync.on_delta(delta).unwrap(), Applied::Updated);
                    applied += 1;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!((snapshots, applied), (1, 1), "{file}");
    assert!(sync.book().depth().0 > 0 && sync.book().depth().1 > 0);
}

#[test]
fn bybit_200_and_50_level_snapshot_then_delta() {
    let Some(dir) = fixtures() else { return };
    bybit_book(&dir, "bybit/spot_orderbook200_BTCUSDT_rbot.jsonl", 200);
    bybit_book(&dir, "bybit/spot_orderbook50_BTCUSDT_gocryptotrader.jsonl", 50);
}

#[test]
fn bybit_other_captures_parse_or_are_refused_cleanly() {
    let Some(dir) = fixtures() else { return };
    let mut trades = 0;
    for file in [
        "bybit/spot_publicTrade_BTCUSDT_rbot.jsonl",
        "bybit/spot_v5_mixed_tardis_CONVERTED.jsonl",
        "bybit/spot_public_control_and_ob1_linlichieh.jsonl",
        "bybit/linear_mixed_BTCUSDT_hftbacktest.jsonl",
        "bybit/derivs_v5_mixed_tardis_CONVERTED.jsonl",
        "bybit/private_pong_gocryptotrader.jsonl",
        "bybit/linear_tickers_BTCUSDT_gocryptotrader.jsonl",
    ] {
        for (result, out) in parse_all(ExchangeId::Bybit, &lines(&dir, file)) {
            match result {
                Ok(_) => trades += out.iter().filter(|p| matches!(p.data, Payload::Trade(_))).count(),
                Err(ParseError::UnknownFrame { .. }) => assert!(out.is_empty()),
                Err(other) => panic!("{file}: {other}"),
            }
        }
    }
    assert!(trades >= 8, "only {trades} trades parsed");
}

fn htx_parse(
    frames: impl IntoIterator<Item = Vec<u8>>,
) -> Vec<(Result<Control, ParseError>, Vec<DataPacket>)> {
    let parser =
        build(ExchangeId::Huobi, &Endpoints::default()).unwrap().parser(Arc::new(Symbols::default()));
    frames
        .into_iter()
        .map(|bytes| {
            let mut out = Vec::new();
            (parser.parse(Frame::Binary(&bytes), 1, &mut out), out)
        })
        .collect()
}

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn htx_raw_gzip_frames() {
    let Some(dir) = fixtures() else { return };
    let frames = lines(&dir, "huobi/spot_ws_raw_gzip_frames_cryptofeed.b64.txt")
        .iter()
        .map(|l| base64::engine::general_purpose::STANDARD.decode(l.trim()).unwrap())
        .collect::<Vec<_>>();
    assert!(frames.iter().all(|f| f.starts_with(&[0x1f, 0x8b])));
    let parsed = htx_parse(frames);
    assert!(matches!(&parsed[0].0, Ok(Control::Reply(pong)) if pong.starts_with("{\"pong\":")));
    assert!(matches!(&parsed[1].0, Ok(Control::Subscribed { .. })));
    assert!(matches!(&parsed[2].0, Ok(Control::Data)));
    assert!(parsed[2].1.iter().all(|p| matches!(p.data, Payload::Trade(_))) && !parsed[2].1.is_empty());
}

#[test]
fn htx_decoded_step0_snapshots_and_trades() {
    let Some(dir) = fixtures() else { return };
    let (mut snapshots, mut trades, mut pings) = (0, 0, 0);
    for (result, out) in
        htx_parse(lines(&dir, "huobi/spot_ws_decoded_cryptofeed.jsonl").iter().map(|l| gzip(l)))
    {
        match result.unwrap() {
            Control::Reply(_) => pings += 1,
            Control::Subscribed { .. } => {}
            Control::Data => {
                for packet in out {
                    match packet.data {
                        Payload::BookSnapshot(snapshot) => {
                            let mut book = md_core::OrderBook::new(SeqRule::PrevLink);
                            book.apply_snapshot(&snapshot).unwrap();
                            assert!(book.depth().0 > 0 && book.depth().1 > 0);
                            snapshots += 1;
                        }
                        Payload::Trade(trade) => {
                            assert!(matches!(trade.trade_id, md_core::TradeId::Number(_)));
                            trades += 1;
                        }
                        other => panic!("{other:?}"),
                    }
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(snapshots > 0 && trades > 0 && pings > 0, "{snapshots} {trades} {pings}");
    // `9.121E-7` is read exactly.
    let text = lines(&dir, "huobi/spot_ws_decoded_cryptofeed.jsonl")[1].clone();
    let (_, out) = htx_parse([gzip(&text)]).pop().unwrap();
    let snapshot = snapshot_of(out.into_iter().next().unwrap());
    assert_eq!(snapshot.bids[0].price.to_string(), "0.0000009121");
}

#[test]
fn htx_mbp150_chain_aligns_with_its_req_snapshot() {
    let Some(dir) = fixtures() else { return };
    let mut sync = BookSync::new(SeqRule::PrevLink, 100);
    let mut snapshot = None;
    for (result, out) in
        htx_parse(lines(&dir, "huobi/spot_ws_mbp150_and_bbo_tardis_CONVERTED.jsonl").iter().map(|l| gzip(l)))
    {
        match result {
            Ok(_) => {}
            Err(ParseError::UnknownFrame { .. }) => continue, // bbo is not a channel md records
            Err(other) => panic!("{other}"),
        }
        for packet in out {
            match packet.data {
                Payload::BookDelta(delta) => {
                    let _ = sync.on_delta(delta);
                }
                Payload::BookSnapshot(s) => snapshot = Some(s),
                other => panic!("{other:?}"),
            }
        }
    }
    let snapshot = snapshot.expect("the capture holds a req snapshot");
    assert_eq!(snapshot.seq, 109_409_288_160);
    // Queued: 130 and 160 are stale, 204 (prev 160) and 226 (prev 204) chain, and the last
    // increment names prev 500 after 226: the trimmed capture has a real hole, which must be
    // reported as a gap with the book at 226, not applied.
    let err = sync.on_snapshot(&snapshot).unwrap_err();
    assert_eq!(
        err,
        md_core::BookError::Gap {
            book_seq: 109_409_288_226,
            update: md_core::Sequence { first: None, last: 109_409_288_576, prev: Some(109_409_288_500) },
        }
    );
    assert_eq!(sync.pending(), 1, "the refused increment waits for the next snapshot");
}

#[test]
fn htx_mixed_captures_parse_or_are_refused_cleanly() {
    let Some(dir) = fixtures() else { return };
    let mut packets = 0;
    for (result, out) in
        htx_parse(lines(&dir, "huobi/spot_ws_mixed_btcusdt_cmp.jsonl").iter().map(|l| gzip(l)))
    {
        match result {
            Ok(_) => packets += out.len(),
            Err(ParseError::UnknownFrame { .. }) => assert!(out.is_empty()),
            Err(other) => panic!("{other}"),
        }
    }
    assert!(packets > 0);
}

fn bitstamp_parse(
    frames: &[String],
    symbols: Symbols,
) -> Vec<(Result<Control, ParseError>, Vec<DataPacket>)> {
    let parser = build(ExchangeId::Bitstamp, &Endpoints::default()).unwrap().parser(Arc::new(symbols));
    frames
        .iter()
        .map(|f| {
            let mut out = Vec::new();
            (parser.parse(Frame::Text(f), 1, &mut out), out)
        })
        .collect()
}

#[test]
fn bitstamp_bateur_snapshot_then_diffs() {
    let Some(dir) = fixtures() else { return };
    let body = &lines(&dir, "bitstamp/rest_order_book_bateur_cryptofeed.jsonl")[0];
    let snapshot = bitstamp::parse_order_book(body, md_core::Symbol::new("BAT", "EUR"), 1).unwrap();
    assert_eq!(snapshot.exchange_ts, 1_641_343_695_564_720_000);
    let snapshot = snapshot_of(snapshot);
    assert_eq!(snapshot.seq, 1_641_343_695_564_720);
    assert_eq!((snapshot.bids.len(), snapshot.asks.len()), (155, 174));

    let parsed = bitstamp_parse(
        &lines(&dir, "bitstamp/ws_diff_order_book_bateur_cryptofeed.jsonl"),
        Symbols::default(),
    );
    assert!(parsed.iter().all(|(_, out)| out.iter().all(|p| p.symbol.as_str() == "BAT-EUR")));
    let diffs = deltas(parsed);
    assert_eq!(diffs.len(), 14);
    for pair in diffs.windows(2) {
        assert!(pair[1].seq.last > pair[0].seq.last, "microtimestamps strictly increase");
    }
    let mut sync = BookSync::new(SeqRule::Timestamped, 100);
    for delta in diffs.iter().cloned() {
        assert_eq!(sync.on_delta(delta), Err(md_core::BookError::NotSynced));
    }
    // 4 diffs at or before the snapshot's microtimestamp are dropped, the 10 after it apply.
    assert_eq!(sync.on_snapshot(&snapshot).unwrap(), 10);
    assert_eq!(sync.book().seq(), 1_641_343_698_697_885);

    // Live on a fresh book: every delete hits a level that exists, and it is never crossed.
    let mut book = md_core::OrderBook::new(SeqRule::Timestamped);
    book.apply_snapshot(&snapshot).unwrap();
    let (mut stale, mut deletes) = (0, 0);
    for delta in &diffs {
        let before = book.top(usize::MAX);
        let applied = book.apply_delta(delta).unwrap();
        if applied == Applied::Stale {
            stale += 1;
            continue;
        }
        for (levels, side) in [(&delta.bids, &before.bids), (&delta.asks, &before.asks)] {
            for level in levels.iter().filter(|l| l.qty.is_zero()) {
                assert!(side.iter().any(|l| l.price == level.price), "delete of a missing level {level:?}");
                deletes += 1;
            }
        }
        let (bid, ask) = (book.best_bid().unwrap().price, book.best_ask().unwrap().price);
        assert!(bid < ask, "crossed: {bid} >= {ask}");
    }
    assert_eq!((stale, deletes), (4, 9));
    assert_eq!(book.depth(), (155, 174));
    assert_eq!(book.best_bid().unwrap().price.to_string(), "1.16134");
    assert_eq!(book.best_ask().unwrap().price.to_string(), "1.16349");
}

#[test]
fn bitstamp_trades_acks_errors_and_other_channels() {
    let Some(dir) = fixtures() else { return };
    let trades = bitstamp_parse(&lines(&dir, "bitstamp/ws_live_trades_cryptofeed.jsonl"), Symbols::default());
    let trades: Vec<md_core::Trade> = trades
        .into_iter()
        .flat_map(|(result, out)| {
            assert_eq!(result.unwrap(), Control::Data);
            out
        })
        .map(|p| {
            assert_eq!(p.symbol.as_str(), "ETH-USD");
            let Payload::Trade(trade) = p.data else { panic!("{:?}", p.data) };
            trade
        })
        .collect();
    assert_eq!(trades.len(), 6);
    assert_eq!(trades[0].side, md_core::Side::Buy);
    assert!(trades[1..].iter().all(|t| t.side == md_core::Side::Sell));
    assert_eq!(trades[0].qty.to_string(), "0.07920000");
    assert_eq!(trades[0].trade_id, md_core::TradeId::Number(216_000_477));

    for (file, count) in [
        ("bitstamp/ws_subscription_succeeded_cryptofeed.jsonl", 3),
        ("bitstamp/ws_bts_error_semenmsu_COMPACTED.jsonl", 1),
    ] {
        let parsed = bitstamp_parse(&lines(&dir, file), Symbols::default());
        assert_eq!(parsed.len(), count);
        for (result, out) in parsed {
            assert!(out.is_empty());
            match result.unwrap() {
                Control::Subscribed { topic } => assert!(topic.starts_with("diff_order_book_"), "{topic}"),
                Control::Rejected { message } => assert_eq!(message, "code null: Incorrect JSON format."),
                other => panic!("{file}: {other:?}"),
            }
        }
    }

    // The mixed capture: a trade whose `amount_str` is `1E-8`, a diff, and channels md does not
    // record (top-100 images, orders), which are unknown frames; its last line is a REST body.
    let mixed = lines(&dir, "bitstamp/ws_and_rest_mixed_btcusd_cmp.jsonl");
    let parsed = bitstamp_parse(&mixed[..4], Symbols::default());
    let Payload::Trade(trade) = &parsed[0].1[0].data else { panic!() };
    assert_eq!(trade.qty, md_core::parse_decimal("0.00000001").unwrap());
    assert_eq!(trade.price.to_string(), "57748.80");
    assert!(matches!(parsed[1].1[0].data, Payload::BookDelta(_)));
    for (result, out) in &parsed[2..] {
        assert!(matches!(result, Err(ParseError::UnknownFrame { .. })), "{result:?}");
        assert!(out.is_empty());
    }
    let rest =
        snapshot_of(bitstamp::parse_order_book(&mixed[4], md_core::Symbol::new("BTC", "USD"), 1).unwrap());
    assert_eq!((rest.seq, rest.bids.len(), rest.asks.len()), (1_654_243_213_142_992, 5, 5));
    // Top-100 images of `order_book_btcusd`: not a channel md records.
    for (result, out) in bitstamp_parse(
        &lines(&dir, "bitstamp/ws_order_book_btcusd_top100_gocryptotrader.jsonl"),
        Symbols::default(),
    ) {
        assert!(matches!(result, Err(ParseError::UnknownFrame { .. })), "{result:?}");
        assert!(out.is_empty());
    }
    // What cryptofeed sent is what md sends.
    let listing = Symbols::new([md_core::SymbolInfo {
        symbol: md_core::Symbol::new("SGB", "EUR"),
        native: "sgbeur".into(),
        trading: true,
    }]);
    let venue = build(ExchangeId::Bitstamp, &Endpoints::default()).unwrap();
    let info = listing.iter().next().unwrap();
    let ours = venue.subscribe_messages(&venue.topics(info, md_core::Channel::Book));
    assert_eq!(ours[0], lines(&dir, "bitstamp/ws_client_sent_cryptofeed.jsonl")[0]);
}

/// cryptofeed's raw files: `<ts>: <json>` received lines, `<url> -> <ts>: <body>` HTTP lines.
fn cryptofeed_bodies(dir: &std::path::Path, file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("cryptofeed_raw").join(file)).unwrap();
    text.lines()
        .filter_map(|line| {
            if let Some((url, rest)) = line.split_once(" -> ") {
                let (_, body) = rest.split_once(": ")?;
                return Some((url.to_owned(), body.to_owned()));
            }
            let (ts, body) = line.split_once(": ")?;
            ts.bytes().all(|b| b.is_ascii_digit() || b == b'.').then(|| (String::new(), body.to_owned()))
        })
        .collect()
}

#[test]
fn bitstamp_cryptofeed_capture_rebuilds_every_book_it_has_a_snapshot_for() {
    let Some(dir) = fixtures() else { return };
    let listing_body = &cryptofeed_bodies(&dir, "BITSTAMP.0.prefix.txt")[0].1;
    let listing = bitstamp::parse_trading_pairs(listing_body).unwrap();
    assert_eq!((listing.len(), listing.trading().count()), (140, 140));
    assert_eq!(listing.canonical("usdteur").unwrap().as_str(), "USDT-EUR");

    let mut books: std::collections::HashMap<md_core::Symbol, md_core::OrderBook> = Default::default();
    for (url, body) in cryptofeed_bodies(&dir, "BITSTAMP.http.prefix.txt") {
        let native = url.trim_end_matches('/').rsplit('/').next().unwrap().to_owned();
        let symbol = listing.canonical(&native).unwrap().clone();
        let snapshot = snapshot_of(bitstamp::parse_order_book(&body, symbol.clone(), 1).unwrap());
        let mut book = md_core::OrderBook::new(SeqRule::Timestamped);
        book.apply_snapshot(&snapshot).unwrap();
        books.insert(symbol, book);
    }
    assert_eq!(books.len(), 6);

    let frames: Vec<String> =
        cryptofeed_bodies(&dir, "BITSTAMP.ws.prefix.txt").into_iter().map(|(_, body)| body).collect();
    let (mut acks, mut trades) = (0, 0);
    let mut counts: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for (result, out) in bitstamp_parse(&frames, listing) {
        match result.unwrap() {
            Control::Subscribed { .. } => acks += 1,
            Control::Data => {}
            other => panic!("{other:?}"),
        }
        for packet in out {
            match packet.data {
                Payload::Trade(_) => trades += 1,
                Payload::BookDelta(delta) => {
                    let Some(book) = books.get_mut(&packet.symbol) else { continue };
                    let entry = counts.entry(packet.symbol.to_string()).or_default();
                    match book.apply_delta(&delta).unwrap() {
                        Applied::Stale => entry.0 += 1,
                        Applied::Updated => entry.1 += 1,
                    }
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!((acks, trades), (20, 10));
    // Dropped (at or before the snapshot) and applied diffs per pair, as SOURCES.md lists them;
    // SGB-EUR gets no diffs in the capture.
    let expected: std::collections::BTreeMap<String, (usize, usize)> = [
        ("BAT-EUR", (14, 75)),
        ("ETH-USD", (12, 73)),
        ("USDT-EUR", (12, 89)),
        ("USDT-USD", (13, 61)),
        ("XRP-EUR", (6, 64)),
    ]
    .into_iter()
    .map(|(s, c)| (s.to_owned(), c))
    .collect();
    assert_eq!(counts, expected);
    for (symbol, book) in &books {
        assert!(book.is_synced(), "{symbol}");
        assert!(book.best_bid().unwrap().price < book.best_ask().unwrap().price, "{symbol}");
    }
}
