//! A whole stack in one process for the server's tests: md-sim serving every simulated venue,
//! one driver per venue starting with no symbol, the spine, and the book server on loopback.
#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use md_core::{BookSet, Decimal, ExchangeId, Symbol};
use md_driver::{BackoffConfig, Driver, DriverConfig, Selection};
use md_exchanges::{build, Endpoints};
use md_pipeline::{Overflow, SubscriberConfig, Topology};
use md_proto::orderbook::aggregator_client::AggregatorClient;
use md_proto::orderbook::{Request, Summary};
use md_serve::{BookServer, HubConfig, ServeConfig, VenueBook, VenueStatus};
use md_sim::{SimConfig, Simulator};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// The longest any wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// The venues md-sim simulates, each merged.
pub fn venues() -> Vec<ExchangeId> {
    ExchangeId::BUILT_IN.into_iter().filter(|&id| md_sim::simulates(id)).collect()
}

/// md-sim, drivers, spine and server.
pub struct Stack {
    pub sim: Simulator,
    pub server: BookServer,
    pub grpc: SocketAddr,
    pub cancel: CancellationToken,
    pub liveness: Duration,
}

impl Stack {
    /// md-sim making `updates_per_sec` book updates per symbol and venue.
    pub async fn start(grace: Duration, updates_per_sec: f64) -> Self {
        Self::start_with(grace, updates_per_sec, |_| {}).await
    }

    /// [`Stack::start`] with the server's config changed by `adjust` (TLS, token).
    pub async fn start_with(
        grace: Duration,
        updates_per_sec: f64,
        adjust: impl FnOnce(&mut ServeConfig),
    ) -> Self {
        let venues = venues();
        let sim = Simulator::start(SimConfig {
            venues: venues.clone(),
            symbols: vec![
                ("BTC".into(), "USDT".into()),
                ("ETH".into(), "USDT".into()),
                ("BTC".into(), "USD".into()),
            ],
            seed: 11,
            updates_per_sec,
            trades_per_sec: 5.0,
            ping_interval: Duration::from_millis(200),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let liveness = Duration::from_millis(1500);
        let config = DriverConfig {
            channels: vec![md_core::Channel::Book],
            backoff: BackoffConfig {
                first_retry: Duration::from_millis(20),
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
                reset_after: Duration::from_secs(2),
                jitter: 0.1,
            },
            liveness_timeout: Some(liveness),
            heartbeat_interval: Some(Duration::from_millis(200)),
            sample: None,
            ..DriverConfig::default()
        };
        let books = Arc::new(BookSet::new());
        let mut topology = Topology::new();
        let mut handles = Vec::new();
        for &id in &venues {
            let endpoints = Endpoints { ws_url: Some(sim.ws_url(id)), rest_url: Some(sim.rest_url(id)) };
            let exchange = Arc::from(build(id, &endpoints).unwrap());
            let driver =
                Driver::new(exchange, Selection::None, config.clone()).with_books(Arc::clone(&books));
            handles.push(driver.handle());
            topology.add_source(Box::new(driver));
        }
        let feed = topology.subscribe(SubscriberConfig::new("book-server", Overflow::Conflate, 65_536));
        let cancel = CancellationToken::new();
        let serve = ServeConfig {
            grpc_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            http_addr: None,
            hub: HubConfig { grace, max_streams: 4096, on_demand: true },
            ..ServeConfig::default()
        };
        let mut serve = serve;
        adjust(&mut serve);
        let server = BookServer::start(serve, handles, books, feed, None, cancel.clone()).await.unwrap();
        let grpc = server.grpc_addr.unwrap();
        let run = cancel.clone();
        tokio::spawn(async move { topology.run(run).await });
        Self { sim, server, grpc, cancel, liveness }
    }

    pub async fn client(&self) -> AggregatorClient<Channel> {
        AggregatorClient::connect(format!("http://{}", self.grpc)).await.unwrap()
    }

    /// A BookSummary stream of `symbol`.
    pub async fn stream(&self, symbol: &str, depth: u32) -> tonic::Streaming<Summary> {
        let request = Request { symbol: symbol.into(), depth, venues: vec![] };
        self.client().await.book_summary(request).await.unwrap().into_inner()
    }

    /// The merge of md-sim's own books of `symbol`, `depth` rows a side, as (venue, price, amount).
    pub fn expected(&self, symbol: &Symbol, depth: usize, only: &[ExchangeId]) -> (Vec<Row>, Vec<Row>) {
        let books: Vec<VenueBook> = only
            .iter()
            .filter_map(|&id| {
                let book = self.sim.book(id, symbol)?;
                Some(VenueBook {
                    exchange: id,
                    status: VenueStatus::InSync,
                    since_ns: 0,
                    detail: String::new(),
                    bids: book.bids,
                    asks: book.asks,
                    stamp: Default::default(),
                })
            })
            .collect();
        let ladder = md_serve::merge(&books, depth);
        let rows = |rows: &[md_serve::Row]| {
            rows.iter().map(|r| (r.exchange.as_str().to_owned(), r.price, r.amount)).collect()
        };
        (rows(&ladder.bids), rows(&ladder.asks))
    }
}

/// A row as compared: venue, price, amount (numerically: `1.50` equals `1.5`).
pub type Row = (String, Decimal, Decimal);

/// A summary's rows, parsed back to exact decimals.
pub fn rows(summary: &Summary) -> (Vec<Row>, Vec<Row>) {
    let parse = |levels: &[md_proto::orderbook::Level]| {
        levels
            .iter()
            .map(|l| {
                (
                    l.exchange.clone(),
                    md_core::parse_decimal(&l.price).unwrap(),
                    md_core::parse_decimal(&l.amount).unwrap(),
                )
            })
            .collect()
    };
    (parse(&summary.bids), parse(&summary.asks))
}

/// The venues of a summary in state IN_SYNC.
pub fn in_sync(summary: &Summary) -> Vec<String> {
    summary
        .venues
        .iter()
        .filter(|v| v.state == md_proto::orderbook::State::InSync as i32)
        .map(|v| v.exchange.clone())
        .collect()
}

/// Reads the stream until `done` holds for a summary, or fails after [`WAIT`]; returns it.
pub async fn until(
    stream: &mut tonic::Streaming<Summary>,
    what: &str,
    mut done: impl FnMut(&Summary) -> bool,
) -> Summary {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = None;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(summary))) => {
                if done(&summary) {
                    return summary;
                }
                last = Some(summary);
            }
            Ok(other) => panic!("stream ended waiting for {what}: {other:?}"),
            Err(_) => panic!("timed out waiting for {what}; last summary {last:#?}"),
        }
    }
}
