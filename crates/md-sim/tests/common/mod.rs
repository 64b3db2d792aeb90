//! Helpers shared by md-sim's integration tests: a small client that parses every frame with
//! md-exchanges and keeps verified books, and a raw HTTP GET.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use md_core::{
    BookError, BookSync, Channel, Control, DataPacket, Exchange, ExchangeId, Frame, ParseError, Payload,
    SnapshotSource, Symbol, SymbolInfo, Symbols, TradeId,
};
use md_exchanges::{build, Endpoints};
use md_sim::{SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Every await in these tests is bounded.
pub async fn within<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut).await.expect("test step timed out")
}

/// A fast config for one venue.
pub fn config(venue: ExchangeId) -> SimConfig {
    SimConfig {
        venues: vec![venue],
        updates_per_sec: 100.0,
        trades_per_sec: 20.0,
        depth: 20,
        ping_interval: Duration::from_millis(100),
        ..SimConfig::default()
    }
}

pub fn exchange(sim: &Simulator, id: ExchangeId) -> Box<dyn Exchange> {
    build(id, &Endpoints { ws_url: Some(sim.ws_url(id)), rest_url: Some(sim.rest_url(id)) }).unwrap()
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the next read gave.
#[derive(Debug)]
pub enum Event {
    /// A text or binary data frame.
    Data(Message),
    /// A ping or pong frame (tungstenite answers pings itself).
    Heartbeat,
    /// The socket closed or failed.
    Closed,
    /// Nothing within the wait.
    Timeout,
}

pub async fn next_event(ws: &mut Ws, wait: Duration) -> Event {
    match tokio::time::timeout(wait, ws.next()).await {
        Err(_) => Event::Timeout,
        Ok(None | Some(Err(_))) => Event::Closed,
        Ok(Some(Ok(m @ (Message::Text(_) | Message::Binary(_))))) => Event::Data(m),
        Ok(Some(Ok(Message::Close(_)))) => Event::Closed,
        Ok(Some(Ok(_))) => Event::Heartbeat,
    }
}

/// A venue client: md-exchanges' parser, one verified book per symbol, the trades it saw.
pub struct Client {
    pub id: ExchangeId,
    pub exchange: Box<dyn Exchange>,
    pub parser: Box<dyn md_core::Parser>,
    pub infos: Vec<SymbolInfo>,
    pub ws: Ws,
    pub books: HashMap<Symbol, BookSync>,
    pub trades: Vec<(Symbol, TradeId)>,
    pub controls: Vec<Control>,
    pub parse_errors: Vec<ParseError>,
    pub book_errors: Vec<(Symbol, BookError)>,
    pub data_frames: usize,
    pub packets: usize,
    /// Packets per symbol (trades, snapshots and deltas).
    pub packets_by_symbol: HashMap<Symbol, usize>,
    /// Answer HTX pings (the parser's `Control::Reply`).
    pub answer_pings: bool,
    pub closed: bool,
}

impl Client {
    /// Connects to `url` (default: the venue's URL) using the sim's listing.
    pub async fn connect(sim: &Simulator, id: ExchangeId, url: Option<String>) -> Client {
        Self::connect_with(sim, id, url, sim.symbols(id)).await
    }

    /// Connects knowing the instruments `infos` (e.g. [`Simulator::all_symbols`], to parse
    /// instruments that are not listed).
    pub async fn connect_with(
        sim: &Simulator,
        id: ExchangeId,
        url: Option<String>,
        infos: Vec<SymbolInfo>,
    ) -> Client {
        let exchange = exchange(sim, id);
        let parser = exchange.parser(Arc::new(Symbols::new(infos.clone())));
        let url = url.unwrap_or_else(|| exchange.ws_url(&Channel::ALL));
        let (ws, _) = within(5, tokio_tungstenite::connect_async(url)).await.unwrap();
        let books =
            infos.iter().map(|i| (i.symbol.clone(), BookSync::new(exchange.seq_rule(), 100_000))).collect();
        Client {
            id,
            exchange,
            parser,
            infos,
            ws,
            books,
            trades: Vec::new(),
            controls: Vec::new(),
            parse_errors: Vec::new(),
            book_errors: Vec::new(),
            data_frames: 0,
            packets: 0,
            packets_by_symbol: HashMap::new(),
            answer_pings: true,
            closed: false,
        }
    }

    pub async fn send(&mut self, text: String) {
        within(5, self.ws.send(Message::text(text))).await.unwrap();
    }

    /// Subscribes to every channel of every symbol, as the md-exchanges listener spells it.
    pub async fn subscribe_all(&mut self) {
        let listener = self.exchange.as_ref();
        let topics: Vec<String> = self
            .infos
            .iter()
            .flat_map(|i| Channel::ALL.iter().flat_map(move |c| listener.topics(i, *c)))
            .collect();
        for message in listener.subscribe_messages(&topics) {
            self.send(message).await;
        }
    }

    /// Sends md-exchanges' unsubscribe messages for `topics`; returns how many were sent.
    pub async fn unsubscribe(&mut self, topics: &[String]) -> usize {
        let messages = self.exchange.unsubscribe_messages(topics);
        let n = messages.len();
        for message in messages {
            self.send(message).await;
        }
        n
    }

    /// Parses and applies one frame.
    pub async fn handle(&mut self, message: &Message) -> Result<Control, String> {
        let mut out: Vec<DataPacket> = Vec::new();
        let frame = match message {
            Message::Text(t) => Frame::Text(t),
            Message::Binary(b) => Frame::Binary(b),
            _ => return Err("not data".into()),
        };
        self.data_frames += 1;
        let control = match self.parser.parse(frame, 1, &mut out) {
            Ok(control) => control,
            Err(e) => {
                let text = e.to_string();
                self.parse_errors.push(e);
                return Err(text);
            }
        };
        self.packets += out.len();
        for packet in out {
            let symbol = packet.symbol.clone();
            *self.packets_by_symbol.entry(symbol.clone()).or_default() += 1;
            let Some(book) = self.books.get_mut(&symbol) else {
                panic!("packet for unknown symbol {symbol}")
            };
            match packet.data {
                Payload::Trade(t) => self.trades.push((symbol, t.trade_id)),
                Payload::BookSnapshot(s) => {
                    if let Err(e) = book.on_snapshot(&s) {
                        self.book_errors.push((symbol, e));
                    }
                }
                Payload::BookDelta(d) => match book.on_delta(d) {
                    Ok(_) | Err(BookError::NotSynced) => {}
                    Err(e) => self.book_errors.push((symbol, e)),
                },
                other => panic!("unexpected payload {other:?}"),
            }
        }
        if let Control::Reply(reply) = &control {
            if self.answer_pings {
                self.send(reply.clone()).await;
            }
        }
        self.controls.push(control.clone());
        Ok(control)
    }

    /// Reads and handles frames until `wait` passes without one that carried market data
    /// (heartbeats do not count), the socket closes, or 10 s pass. Returns the data frames.
    pub async fn drain(&mut self, wait: Duration) -> usize {
        let mut n = 0;
        let end = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut quiet_until = tokio::time::Instant::now() + wait;
        loop {
            let now = tokio::time::Instant::now();
            if now >= quiet_until || now >= end {
                return n;
            }
            match next_event(&mut self.ws, quiet_until.min(end) - now).await {
                Event::Data(m) => {
                    let packets = self.packets;
                    let _ = self.handle(&m).await;
                    if self.packets > packets {
                        n += 1;
                        quiet_until = tokio::time::Instant::now() + wait;
                    }
                }
                Event::Heartbeat => {}
                Event::Closed => {
                    self.closed = true;
                    return n;
                }
                Event::Timeout => return n,
            }
        }
    }

    /// Reads until `pred` holds or `secs` pass; returns whether it held.
    pub async fn read_until(&mut self, secs: u64, mut pred: impl FnMut(&Client) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !pred(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            match next_event(&mut self.ws, left).await {
                Event::Data(m) => {
                    let _ = self.handle(&m).await;
                }
                Event::Heartbeat => {}
                Event::Closed => {
                    self.closed = true;
                    return pred(self);
                }
                Event::Timeout => return pred(self),
            }
        }
        true
    }

    /// Packets seen for one symbol.
    pub fn packets_for(&self, symbol: &Symbol) -> usize {
        self.packets_by_symbol.get(symbol).copied().unwrap_or(0)
    }

    /// Confirmations (`Control::Subscribed`) seen: subscribe and unsubscribe acks alike.
    pub fn acks(&self) -> usize {
        self.controls.iter().filter(|c| matches!(c, Control::Subscribed { .. })).count()
    }

    /// The topics md-exchanges' listener names for one symbol, every channel.
    pub fn topics_of(&self, symbol: &Symbol) -> Vec<String> {
        let listener = self.exchange.as_ref();
        self.infos
            .iter()
            .filter(|i| &i.symbol == symbol)
            .flat_map(|i| Channel::ALL.iter().flat_map(move |c| listener.topics(i, *c)))
            .collect()
    }

    /// Whether every book holds a snapshot.
    pub fn all_synced(&self) -> bool {
        self.books.values().all(|b| b.book().is_synced())
    }

    /// Loads the snapshots the venue does not push itself: Binance and Bitstamp over REST, HTX
    /// by `req`.
    pub async fn request_snapshots(&mut self) {
        match self.exchange.snapshot_source() {
            SnapshotSource::Rest => {
                for info in self.infos.clone() {
                    let response = within(10, self.exchange.fetch_snapshot(&info)).await.unwrap();
                    let packet = self.exchange.parse_snapshot(&info, &response.body, 0).unwrap();
                    let Payload::BookSnapshot(s) = packet.data else { panic!() };
                    let book = self.books.get_mut(&info.symbol).unwrap();
                    if let Err(e) = book.on_snapshot(&s) {
                        self.book_errors.push((info.symbol.clone(), e));
                    }
                }
            }
            SnapshotSource::InBand => {
                for info in self.infos.clone() {
                    let req = self.exchange.snapshot_request(&info).unwrap();
                    self.send(req).await;
                }
            }
            SnapshotSource::Stream => {}
        }
    }

    /// Subscribes, waits for some incrementals, loads snapshots and reads until every book
    /// is synced.
    pub async fn sync_all(&mut self) {
        self.subscribe_all().await;
        let rule_needs_queue = self.exchange.snapshot_source() != SnapshotSource::Stream;
        if rule_needs_queue {
            let ok = self.read_until(5, |c| c.books.values().all(|b| b.pending() >= 2)).await;
            assert!(ok, "no incrementals arrived");
            self.request_snapshots().await;
        }
        assert!(self.read_until(5, Client::all_synced).await, "books did not sync");
    }
}

/// Polls `cond` every 10 ms until it holds or `secs` pass; returns whether it held.
pub async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// A raw HTTP/1.1 GET: (status, lower-cased head, body).
pub async fn http_get(base: &str, path: &str) -> (u16, String, String) {
    let addr = base.strip_prefix("http://").unwrap();
    let mut stream = within(5, TcpStream::connect(addr)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    within(5, stream.write_all(request.as_bytes())).await.unwrap();
    let mut response = Vec::new();
    within(5, stream.read_to_end(&mut response)).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}
