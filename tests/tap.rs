//! The raw-frame tap: it sees every frame the venue sent, in order, every message md sent, the
//! connect, the REST bodies and the listing; and tapping changes nothing downstream — a run with
//! the tap and one without, over the same recorded traffic (md-bench's deterministic frames on
//! loopback), give the same packets per symbol and the same lines (receive times aside).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md_bench::frames::{self, Frame, Traffic};
use md_core::{
    DataPacket, ExchangeId, Payload, RawEvent, RawKind, RawTap, SnapshotSource, Status, Symbol, WsMessage,
};
use md_driver::{Driver, DriverConfig, Selection};
use md_exchanges::{build, Endpoints};
use md_pipeline::{FanOut, Overflow, SubscriberConfig};
use md_sink_influx::{LineEncoder, SchemaConfig};
use tokio_util::sync::CancellationToken;

const SYMBOLS: usize = 5;
const MESSAGES: usize = 2_000;

#[derive(Default)]
struct Collect(Mutex<Vec<RawEvent>>);

impl RawTap for Collect {
    fn record(&self, event: RawEvent) {
        self.0.lock().unwrap().push(event);
    }
}

/// One run of the driver over a fresh sender of `traffic`; the packets it passed on.
async fn run(venue: ExchangeId, traffic: &Traffic, tap: Option<Arc<Collect>>) -> Vec<DataPacket> {
    let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rest = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ws_addr, rest_addr) = (ws.local_addr().unwrap(), rest.local_addr().unwrap());
    let sender = tokio::spawn(md_bench::sender::serve(traffic.clone(), ws, rest));
    let endpoints = Endpoints {
        ws_url: Some(format!("ws://{ws_addr}/saturate")),
        rest_url: Some(format!("http://{rest_addr}")),
    };
    let exchange = Arc::from(build(venue, &endpoints).unwrap());
    let config = DriverConfig { listing_refresh: None, ..DriverConfig::default() };
    let mut driver =
        Driver::new(exchange, Selection::All, config).with_listing(Arc::new(frames::symbols(venue, SYMBOLS)));
    if let Some(tap) = tap {
        driver = driver.with_tap(tap);
    }
    let metrics = driver.metrics();
    let mut fanout = FanOut::new();
    let mut input = fanout.subscribe(SubscriberConfig::new("test", Overflow::Block, 100_000));
    let cancel = CancellationToken::new();
    let running = tokio::spawn(driver.run(fanout.publisher(), cancel.clone()));
    // Once every book is in sync, release the sender's timed part (as md-bench does).
    tokio::time::timeout(Duration::from_secs(20), async {
        while metrics.books_in_sync.load(std::sync::atomic::Ordering::Relaxed) < SYMBOLS as i64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let mut go = tokio::net::TcpStream::connect(rest_addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut go, b"GET /go HTTP/1.1\r\n\r\n").await.unwrap();
    let mut packets = Vec::new();
    let market = |p: &DataPacket| !matches!(p.data, Payload::Status(_) | Payload::BookSnapshot(_));
    while packets.iter().filter(|p| market(p)).count() < MESSAGES {
        let batch = tokio::time::timeout(Duration::from_secs(20), input.recv()).await.unwrap().unwrap();
        packets.extend(batch.iter().cloned());
    }
    cancel.cancel();
    running.await.unwrap().unwrap();
    while let Some(batch) = input.try_recv() {
        packets.extend(batch.iter().cloned());
    }
    sender.abort();
    packets
}

/// Packets per symbol in order, with what differs between two runs by nature set aside: the
/// receive time and the connection id.
fn per_symbol(packets: &[DataPacket]) -> BTreeMap<Symbol, Vec<DataPacket>> {
    let mut by_symbol: BTreeMap<Symbol, Vec<DataPacket>> = BTreeMap::new();
    for packet in packets {
        let mut packet = packet.clone();
        // A venue time that is the receive time (Binance REST snapshots carry none) goes too.
        if packet.exchange_ts == packet.local_ts {
            packet.exchange_ts = 0;
        }
        packet.local_ts = 0;
        if let Payload::Status(status) = &mut packet.data {
            let normalized = match &*status {
                Status::Connected { .. } => Status::Connected { conn: md_core::ConnId(0) },
                Status::Disconnected { reason, .. } => {
                    Status::Disconnected { conn: md_core::ConnId(0), reason: reason.clone() }
                }
                other => other.clone(),
            };
            *status = normalized;
        }
        by_symbol.entry(packet.symbol.clone()).or_default().push(packet);
    }
    by_symbol
}

/// Fails on the first packet that differs, naming it: the whole maps are megabytes, too much
/// for a failure message anyone reads.
fn assert_same_packets(
    venue: ExchangeId,
    tapped: &BTreeMap<Symbol, Vec<DataPacket>>,
    plain: &BTreeMap<Symbol, Vec<DataPacket>>,
) {
    assert_eq!(tapped.keys().collect::<Vec<_>>(), plain.keys().collect::<Vec<_>>(), "{venue}: symbols");
    for (symbol, with_tap) in tapped {
        let without = &plain[symbol];
        let first_difference = with_tap.iter().zip(without).position(|(a, b)| a != b);
        if let Some(i) = first_difference {
            panic!(
                "{venue} {symbol}: the tap changed packet {i}:\n with the tap: {:?}\n without: {:?}",
                with_tap[i], without[i]
            );
        }
        assert_eq!(with_tap.len(), without.len(), "{venue} {symbol}: packets with and without the tap");
    }
}

fn lines(by_symbol: &BTreeMap<Symbol, Vec<DataPacket>>) -> Vec<String> {
    let mut encoder = LineEncoder::new(&SchemaConfig::default()).unwrap();
    let mut out = Vec::new();
    for packet in by_symbol.values().flatten() {
        encoder.encode(packet, &mut out).unwrap();
    }
    let mut lines: Vec<String> = String::from_utf8(out).unwrap().lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

fn text_of(frame: &Frame) -> WsMessage {
    match frame {
        Frame::Text(t) => WsMessage::from_text(t.clone()),
        Frame::Binary(b) => WsMessage::Binary(b.clone().into()),
    }
}

async fn sees_every_frame_and_changes_nothing(venue: ExchangeId) {
    let traffic = frames::traffic(venue, SYMBOLS, MESSAGES);
    let tap = Arc::new(Collect::default());
    let tapped = run(venue, &traffic, Some(Arc::clone(&tap))).await;
    let plain = run(venue, &traffic, None).await;

    let (tapped, plain) = (per_symbol(&tapped), per_symbol(&plain));
    assert_same_packets(venue, &tapped, &plain);
    let lines = lines(&tapped);
    assert!(lines.len() > MESSAGES, "{venue}: {} lines", lines.len());
    assert_eq!(lines, self::lines(&plain));

    let events = tap.0.lock().unwrap().clone();
    assert!(
        matches!(&events[0].kind, RawKind::Listing(listing) if listing.len() == SYMBOLS),
        "{:?}",
        events[0].kind
    );
    assert_eq!(events[0].slot, 0, "the listing is venue-wide");
    assert!(matches!(&events[1].kind, RawKind::Task { url } if url.ends_with("/saturate")));
    assert!(
        matches!(&events[2].kind, RawKind::Symbols { added, announced: false } if added.len() == SYMBOLS)
    );
    assert!(matches!(&events[3].kind, RawKind::Connected { url } if url.ends_with("/saturate")));
    assert!(events[1..].iter().all(|e| e.slot == events[1].slot && e.slot > 0), "one connection task");
    // Every frame the sender wrote, in order, and nothing else received.
    let received: Vec<WsMessage> = events
        .iter()
        .filter_map(|e| match &e.kind {
            RawKind::Received(m @ (WsMessage::Text(_) | WsMessage::Binary(_))) => Some(m.clone()),
            _ => None,
        })
        .collect();
    let data: Vec<WsMessage> = received.iter().filter(|m| !is_snapshot_answer(m)).cloned().collect();
    let sent_frames: Vec<WsMessage> = traffic.frames.iter().map(text_of).collect();
    assert_eq!(data.len(), sent_frames.len(), "{venue}: frames seen by the tap");
    assert!(data == sent_frames, "{venue}: the tap saw frames out of order");
    let sent: Vec<&RawEvent> = events.iter().filter(|e| matches!(e.kind, RawKind::Sent(_))).collect();
    assert!(!sent.is_empty(), "{venue}: the subscribe messages are missing");
    let rest = events.iter().filter(|e| matches!(e.kind, RawKind::Rest { .. })).count();
    // One REST snapshot per book where snapshots come over REST (Binance, Bitstamp).
    let expected_rest =
        if build(venue, &Endpoints::default()).unwrap().snapshot_source() == SnapshotSource::Rest {
            SYMBOLS
        } else {
            0
        };
    assert_eq!(rest, expected_rest, "{venue}: REST bodies seen by the tap");
    assert!(matches!(
        events.last().unwrap().kind,
        RawKind::Disconnected(md_core::DisconnectReason::Cancelled)
    ));
    // Both clocks, in order per connection.
    assert!(events.windows(2).all(|w| w[0].mono_ns <= w[1].mono_ns));
}

/// HTX's in-band snapshot answers are frames too, but not part of the traffic sent.
fn is_snapshot_answer(message: &WsMessage) -> bool {
    match message {
        WsMessage::Binary(bytes) => {
            let mut text = Vec::new();
            md_exchanges::huobi::gunzip(bytes, &mut text).is_ok_and(|json| json.contains("\"rep\":"))
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_tap_sees_every_frame_and_changes_nothing() {
    sees_every_frame_and_changes_nothing(ExchangeId::Binance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_tap_sees_every_frame_and_changes_nothing() {
    sees_every_frame_and_changes_nothing(ExchangeId::Bybit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huobi_tap_sees_every_frame_and_changes_nothing() {
    sees_every_frame_and_changes_nothing(ExchangeId::Huobi).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitstamp_tap_sees_every_frame_and_changes_nothing() {
    sees_every_frame_and_changes_nothing(ExchangeId::Bitstamp).await;
}
