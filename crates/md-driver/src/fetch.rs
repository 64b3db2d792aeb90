//! REST snapshot fetches: within the venue's weight budget, retried until a body arrives or
//! the connection that asked ends. The body comes back raw; the connection parses it.

use std::sync::Arc;
use std::time::Duration;

use md_core::{Exchange, RestResponse, SymbolInfo};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::backoff::{seed_for, Backoff, BackoffConfig};
use crate::core::Fetch;
use crate::limiter::RestLimiter;
use crate::metrics::{bump, DriverMetrics};

/// The least time between snapshot requests the venue refused (4xx other than 408/418/429),
/// or whose body could not be used.
pub(crate) const REFUSED_RETRY: Duration = Duration::from_secs(30);

/// What a fetch hands back to its connection.
pub(crate) type Fetched = (SymbolInfo, RestResponse);

/// Everything a fetch needs, shared by one connection's fetches.
#[derive(Clone)]
pub(crate) struct Fetcher {
    pub exchange: Arc<dyn Exchange>,
    pub limiter: Arc<RestLimiter>,
    pub metrics: Arc<DriverMetrics>,
    pub backoff: BackoffConfig,
}

impl Fetcher {
    /// Fetches one snapshot in the background and sends the body to `report`; stops when
    /// `cancel` fires (the session ended: its books start again anyway).
    pub(crate) fn spawn(&self, fetch: Fetch, report: mpsc::Sender<Fetched>, cancel: CancellationToken) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                response = this.fetch(&fetch.symbol, fetch.after_refusal, fetch.check) => {
                    let _ = report.send((fetch.symbol, response)).await;
                }
            }
        });
    }

    /// `check`: a cross-check, which takes only REST budget resyncs leave spare.
    async fn fetch(&self, info: &SymbolInfo, after_refusal: bool, check: bool) -> RestResponse {
        // Seeded by process, venue and symbol: books of many recorders, or of same-length
        // names, must not retry in step.
        let seed = seed_for(&[self.exchange.id().as_str(), info.native.as_str(), "snapshot"]);
        let mut backoff = Backoff::new(self.backoff.clone(), seed);
        if after_refusal {
            tokio::time::sleep(backoff.next_delay().max(REFUSED_RETRY)).await;
        }
        let weight = self.exchange.rest_limits().snapshot_weight;
        loop {
            if check {
                self.limiter.acquire_spare(weight).await;
            } else {
                self.limiter.acquire(weight).await;
            }
            let err = match self.exchange.fetch_snapshot(info).await {
                Ok(response) => return response,
                Err(err) => err,
            };
            bump(&self.metrics.snapshot_failures);
            let delay = if err.is_retryable() {
                let delay = err.retry_after().unwrap_or_else(|| backoff.next_delay());
                if err.retry_after().is_some() {
                    self.limiter.pause(delay);
                }
                tracing::warn!(symbol = %info.symbol, error = %err, ?delay, "snapshot request failed; retrying");
                delay
            } else {
                // Refused (a symbol delisted mid-run, say). Asking again on every delta would
                // spend the venue-wide weight budget every other book needs: retry, but rarely.
                let delay = backoff.next_delay().max(REFUSED_RETRY);
                tracing::error!(symbol = %info.symbol, error = %err, ?delay, "snapshot request refused; the book stays unsynced until one succeeds");
                delay
            };
            tokio::time::sleep(delay).await;
        }
    }
}
