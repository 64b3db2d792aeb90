//! md-driver: the one WebSocket driver of md, generic over the venue.
//!
//! For any [`md_core::Exchange`] it plans connections within the venue's limits, then for each
//! one, forever: connect, subscribe (paced at the venue's message rate), answer heartbeats,
//! parse every frame, verify every book incremental against its book, pass packets on through
//! a bounded channel, and reconnect with backoff when the connection fails or goes quiet.
//!
//! - A gap (or a crossed book) resyncs that one symbol from a fresh snapshot, REST within a
//!   weight budget, in-band, or by resubscribing, as the venue provides; the connection and the
//!   other books carry on. After a reconnect every book is rebuilt before its incrementals flow.
//! - Connection and book state travel in-band as [`md_core::Status`] packets (connected,
//!   disconnected with the reason, gap detected, resynced), so a gap is never silent downstream.
//! - Overflow policy: backpressure. When downstream is full the driver waits; it never drops.
#![forbid(unsafe_code)]

mod backoff;
mod books;
mod connection;
mod limiter;
mod metrics;
mod pace;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use md_core::{Channel, DataPacket, Exchange, SymbolInfo, Symbols};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use backoff::{Backoff, BackoffConfig};
pub use limiter::RestLimiter;
pub use metrics::{DriverMetrics, MetricsSnapshot};
pub use plan::{plan, ConnectionPlan};

/// How the driver behaves; every default is what a long unattended run wants.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverConfig {
    /// What to subscribe for every symbol.
    pub channels: Vec<Channel>,
    /// Reconnect delays.
    pub backoff: BackoffConfig,
    /// Frames larger than this close the connection (a bad peer must not exhaust memory).
    pub max_frame_bytes: usize,
    /// Incrementals a book may queue while it waits for a snapshot.
    pub max_pending_deltas: usize,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a clean close when cancelled.
    pub close_timeout: Duration,
    /// Overrides the venue's liveness timeout (no frame for this long: reconnect).
    pub liveness_timeout: Option<Duration>,
    /// Overrides the interval of the venue's client heartbeat (Bybit's 20 s ping).
    pub heartbeat_interval: Option<Duration>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            channels: Channel::ALL.to_vec(),
            backoff: BackoffConfig::default(),
            max_frame_bytes: 16 << 20,
            max_pending_deltas: 10_000,
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_millis(300),
            liveness_timeout: None,
            heartbeat_interval: None,
        }
    }
}

/// The driver could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// Nothing to subscribe: no symbols, or no channels.
    #[error("{0}: nothing to subscribe")]
    NothingToSubscribe(md_core::ExchangeId),
}

/// Runs one venue.
pub struct Driver {
    exchange: Arc<dyn Exchange>,
    symbols: Arc<Symbols>,
    subscriptions: Vec<SymbolInfo>,
    config: Arc<DriverConfig>,
    metrics: Arc<DriverMetrics>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("exchange", &self.exchange.id())
            .field("subscriptions", &self.subscriptions.len())
            .field("config", &self.config)
            .finish()
    }
}

impl Driver {
    /// A driver for `subscriptions` (a subset of the venue's listing `symbols`).
    pub fn new(
        exchange: Arc<dyn Exchange>,
        symbols: Arc<Symbols>,
        subscriptions: Vec<SymbolInfo>,
        config: DriverConfig,
    ) -> Self {
        Self { exchange, symbols, subscriptions, config: Arc::new(config), metrics: Arc::default() }
    }

    /// Its counters, live.
    pub fn metrics(&self) -> Arc<DriverMetrics> {
        Arc::clone(&self.metrics)
    }

    /// The connections it will open.
    pub fn plan(&self) -> Vec<ConnectionPlan> {
        plan(self.exchange.listener(), &self.subscriptions, &self.config.channels)
    }

    /// Runs every connection until `cancel` fires (returns within about a second) or `tx`'s
    /// receiver is dropped.
    pub async fn run(
        self,
        tx: mpsc::Sender<DataPacket>,
        cancel: CancellationToken,
    ) -> Result<(), DriverError> {
        let plans = self.plan();
        if plans.is_empty() {
            return Err(DriverError::NothingToSubscribe(self.exchange.id()));
        }
        let limiter = Arc::new(RestLimiter::new(self.exchange.rest_limits()));
        tracing::info!(exchange = %self.exchange.id(), connections = plans.len(), symbols = self.subscriptions.len(), "starting");
        let mut tasks = tokio::task::JoinSet::new();
        for (i, plan) in plans.into_iter().enumerate() {
            let ctx = connection::Context {
                exchange: Arc::clone(&self.exchange),
                parser: self.exchange.parser(Arc::clone(&self.symbols)),
                config: Arc::clone(&self.config),
                metrics: Arc::clone(&self.metrics),
                limiter: Arc::clone(&limiter),
                tx: tx.clone(),
                cancel: cancel.clone(),
            };
            tasks.spawn(connection::run(ctx, plan, i as u64));
        }
        drop(tx);
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}
