//! A complete minimal venue, to copy when adding an exchange to md.
//!
//! The "example" venue speaks a small JSON protocol over WebSocket; the file holds, in the
//! order a real venue folder (`md-exchanges/src/<venue>/`) splits them:
//! 1. the wire types (`wire.rs`): private serde structs for every frame the venue sends;
//! 2. the pure parser (`parse.rs`): frame in, normalized `DataPacket`s out, no clock, no I/O;
//! 3. the venue (`mod.rs`): config with an overridable URL, `Listener`, `SymbolHandler`,
//!    `Exchange`: topics, subscribe messages, heartbeat, limits, book sync rule;
//! 4. a tiny local server speaking the protocol, and `main`, which runs md's generic driver
//!    (reconnects, heartbeats, verified books) on the new venue and prints what comes out.
//!
//! `cargo run -p md-examples --example new_venue`
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use md_core::{
    parse_decimal, BookDelta, BookSnapshot, Channel, ConnectionLimits, Control, DataPacket, Exchange,
    ExchangeId, Frame, Heartbeat, Level, Listener, ListingParser, ParseError, Parser, Payload, SeqRule,
    Sequence, Side, SnapshotSource, Symbol, SymbolError, SymbolHandler, SymbolInfo, Symbols, Trade, TradeId,
    UnixNanos,
};
use md_driver::{Driver, DriverConfig, Selection};
use md_pipeline::{FanOut, Overflow, SubscriberConfig};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

// ---- 1. Wire types: every frame the venue can send. -------------------------------------

/// `{"topic":"book.BTCUSD","type":"delta","seq":2,"ts":1700000000000,"bids":[["100.5","0"]],"asks":[]}`,
/// `{"topic":"trades.BTCUSD","ts":1700000000000,"id":7,"price":"100.5","qty":"0.1","side":"buy"}`,
/// `{"ping":1700000000000}`, `{"op":"subscribed","topics":["book.BTCUSD"]}`, `{"op":"error","msg":"..."}`.
#[derive(Deserialize)]
struct WireFrame<'a> {
    #[serde(borrow)]
    topic: Option<&'a str>,
    #[serde(borrow, rename = "type")]
    kind: Option<&'a str>,
    seq: Option<u64>,
    ts: Option<i64>,
    #[serde(borrow, default)]
    bids: Vec<[&'a str; 2]>,
    #[serde(borrow, default)]
    asks: Vec<[&'a str; 2]>,
    id: Option<u64>,
    #[serde(borrow)]
    price: Option<&'a str>,
    #[serde(borrow)]
    qty: Option<&'a str>,
    #[serde(borrow)]
    side: Option<&'a str>,
    ping: Option<u64>,
    #[serde(borrow)]
    op: Option<&'a str>,
    msg: Option<String>,
}

// ---- 2. The pure parser. ------------------------------------------------------------------

fn levels(raw: &[[&str; 2]]) -> Result<Vec<Level>, ParseError> {
    raw.iter().map(|[p, q]| Ok(Level::new(parse_decimal(p)?, parse_decimal(q)?))).collect()
}

fn missing(field: &'static str) -> ParseError {
    ParseError::InvalidField { field, detail: "missing".into() }
}

fn parse_text(
    text: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    let frame: WireFrame<'_> = serde_json::from_str(text).map_err(|e| ParseError::json(e, text))?;
    if let Some(ping) = frame.ping {
        return Ok(Control::Reply(format!("{{\"pong\":{ping}}}")));
    }
    match frame.op {
        Some("subscribed") => return Ok(Control::Subscribed { topic: "subscribe".into() }),
        Some("error") => return Ok(Control::Rejected { message: frame.msg.unwrap_or_default() }),
        _ => {}
    }
    let topic = frame.topic.ok_or_else(|| ParseError::unknown(text))?;
    let (kind, native) = topic.split_once('.').ok_or_else(|| ParseError::unknown(text))?;
    let symbol = symbols.canonical_or_guess(native);
    let exchange_ts = md_core::ms_to_ns(frame.ts.ok_or_else(|| missing("ts"))?);
    let data = match (kind, frame.kind) {
        ("book", Some("snapshot")) => Payload::BookSnapshot(BookSnapshot {
            bids: levels(&frame.bids)?,
            asks: levels(&frame.asks)?,
            seq: frame.seq.ok_or_else(|| missing("seq"))?,
        }),
        ("book", Some("delta")) => Payload::BookDelta(BookDelta {
            bids: levels(&frame.bids)?,
            asks: levels(&frame.asks)?,
            seq: Sequence { first: None, last: frame.seq.ok_or_else(|| missing("seq"))?, prev: None },
        }),
        ("trades", _) => Payload::Trade(Trade {
            price: parse_decimal(frame.price.ok_or_else(|| missing("price"))?)?,
            qty: parse_decimal(frame.qty.ok_or_else(|| missing("qty"))?)?,
            side: match frame.side {
                Some("buy") => Side::Buy,
                Some("sell") => Side::Sell,
                other => {
                    return Err(ParseError::InvalidField { field: "side", detail: format!("{other:?}") })
                }
            },
            trade_id: TradeId::Number(frame.id.ok_or_else(|| missing("id"))?),
        }),
        _ => return Err(ParseError::unknown(text)),
    };
    out.push(DataPacket { exchange: ExchangeId::Custom, symbol, exchange_ts, local_ts, data });
    Ok(Control::Data)
}

// ---- 3. The venue. ----------------------------------------------------------------------

/// Where to reach the venue; the URL defaults to its public endpoint and can be overridden.
#[derive(Debug, Clone)]
struct ExampleConfig {
    ws_url: String,
}

impl Default for ExampleConfig {
    fn default() -> Self {
        Self { ws_url: "wss://ws.example.invalid/ws".into() }
    }
}

struct ExampleVenue {
    config: ExampleConfig,
}

/// The venue's parse function: md-core's `ListingParser` turns it into a `Parser` that names
/// symbols from the listing, so a venue writes a function, not a type.
fn parse_frame(
    frame: Frame<'_>,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    match frame {
        Frame::Text(text) => parse_text(text, symbols, local_ts, out),
        Frame::Binary(bytes) => {
            parse_text(std::str::from_utf8(bytes).map_err(ParseError::Utf8)?, symbols, local_ts, out)
        }
    }
}

impl Listener for ExampleVenue {
    fn ws_url(&self, _channels: &[Channel]) -> String {
        self.config.ws_url.clone()
    }

    fn topics(&self, symbol: &SymbolInfo, channel: Channel) -> Vec<String> {
        let kind = match channel {
            Channel::Trades => "trades",
            Channel::Book => "book",
        };
        vec![format!("{kind}.{}", symbol.native)]
    }

    fn subscribe_messages(&self, topics: &[String]) -> Vec<String> {
        vec![serde_json::json!({ "op": "subscribe", "topics": topics }).to_string()]
    }

    fn unsubscribe_messages(&self, topics: &[String]) -> Vec<String> {
        vec![serde_json::json!({ "op": "unsubscribe", "topics": topics }).to_string()]
    }

    fn heartbeat(&self) -> Option<Heartbeat> {
        None // the server pings us; the parser's Control::Reply answers
    }

    fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_streams_per_connection: 100,
            max_topics_per_subscribe: 100,
            max_messages_per_second: 10,
            max_lifetime: None,
            liveness_timeout: Duration::from_secs(10),
        }
    }
}

#[async_trait]
impl SymbolHandler for ExampleVenue {
    async fn get_symbols(&self) -> Result<Symbols, SymbolError> {
        // A real venue lists its instruments over REST here (see md-exchanges' venues).
        Ok(Symbols::new([SymbolInfo {
            symbol: Symbol::new("BTC", "USD"),
            native: "BTCUSD".into(),
            trading: true,
        }]))
    }
}

#[async_trait]
impl Exchange for ExampleVenue {
    fn id(&self) -> ExchangeId {
        ExchangeId::Custom
    }
    fn parser(&self, symbols: Arc<Symbols>) -> Box<dyn Parser> {
        Box::new(ListingParser::new(symbols, parse_frame))
    }
    fn seq_rule(&self) -> SeqRule {
        SeqRule::Consecutive // every delta's seq is the previous one + 1
    }
    fn snapshot_source(&self) -> SnapshotSource {
        SnapshotSource::Stream // a snapshot follows every subscribe
    }
}

// ---- 4. A tiny local server speaking the protocol, and the driver running the venue. --------

async fn serve(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
            // Wait for the subscription, confirm it, then stream a snapshot, deltas and trades.
            let Some(Ok(_subscribe)) = ws.next().await else { return };
            let frames = [
                r#"{"op":"subscribed","topics":["trades.BTCUSD","book.BTCUSD"]}"#.to_owned(),
                r#"{"topic":"book.BTCUSD","type":"snapshot","seq":1,"ts":1700000000000,"bids":[["100.0","1.5"],["99.5","2"]],"asks":[["100.5","1"],["101.0","3"]]}"#.to_owned(),
            ];
            for frame in frames {
                if ws.send(Message::text(frame)).await.is_err() {
                    return;
                }
            }
            for n in 2..20u64 {
                let ts = 1_700_000_000_000 + n as i64;
                let delta = format!(
                    r#"{{"topic":"book.BTCUSD","type":"delta","seq":{n},"ts":{ts},"bids":[["100.0","{}.5"]],"asks":[]}}"#,
                    n % 4
                );
                let trade = format!(
                    r#"{{"topic":"trades.BTCUSD","ts":{ts},"id":{n},"price":"100.25","qty":"0.0{n}","side":"{}"}}"#,
                    if n % 2 == 0 { "buy" } else { "sell" }
                );
                for frame in [delta, trade, format!(r#"{{"ping":{ts}}}"#)] {
                    if ws.send(Message::text(frame)).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Close, and read the client's pongs until it answers the close: a socket closed
            // with unread data sends a reset, which can destroy frames still in flight to it.
            let _ = ws.close(None).await;
            while let Some(Ok(_)) = ws.next().await {}
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/ws", listener.local_addr()?);
    tokio::spawn(serve(listener));

    let venue = Arc::new(ExampleVenue { config: ExampleConfig { ws_url: url } });
    let driver = Driver::new(venue, Selection::All, DriverConfig::default());
    // The spine: one lossless queue for this loop (a real program adds sinks to a Topology).
    let mut fanout = FanOut::new();
    let mut rx = fanout.subscribe(SubscriberConfig::new("print", Overflow::Block, 256));
    let cancel = CancellationToken::new();
    let run = tokio::spawn(driver.run(fanout.publisher(), cancel.clone()));

    let (mut trades, mut deltas) = (0, 0);
    'read: while let Some(batch) = rx.recv().await {
        for packet in batch.iter() {
            match &packet.data {
                Payload::Trade(t) => {
                    trades += 1;
                    println!(
                        "trade  {} {} {} @ {} (id {})",
                        packet.symbol,
                        t.side.as_str(),
                        t.qty,
                        t.price,
                        t.trade_id
                    );
                }
                Payload::BookSnapshot(s) => println!(
                    "book   {} snapshot seq {}: {} bids, {} asks",
                    packet.symbol,
                    s.seq,
                    s.bids.len(),
                    s.asks.len()
                ),
                Payload::BookDelta(d) => {
                    deltas += 1;
                    println!("book   {} verified delta seq {}", packet.symbol, d.seq.last);
                }
                Payload::Status(s) => println!("status {} {} {}", packet.symbol, s.event(), s.detail()),
                _ => {}
            }
            if trades == 18 && deltas == 18 {
                break 'read;
            }
        }
    }
    cancel.cancel();
    run.await??;
    println!("done: {trades} trades and {deltas} verified deltas from the new venue");
    Ok(())
}
