//! [`Buffer`]: InfluxDB storage, the sink core with an [`InfluxEncoder`] and an
//! [`InfluxDelivery`] behind the [`InfluxConfig`].

use std::sync::Arc;

use async_trait::async_trait;
use md_pipeline::sink::core::SinkCore;
use md_pipeline::{Sink, SinkError, SinkMetrics, SinkStats, Subscription};
use tokio_util::sync::CancellationToken;

use crate::config::InfluxConfig;
use crate::delivery::InfluxDelivery;
use crate::encoder::InfluxEncoder;
use crate::error::InfluxError;

/// Stores every packet of its input in InfluxDB exactly once, through outages and restarts:
/// the sink core does the batching per target, retries, spool and dead letters.
#[derive(Debug)]
pub struct Buffer {
    core: SinkCore<InfluxEncoder, InfluxDelivery>,
}

impl Buffer {
    /// Checks the config and prepares the encoder, the HTTP client and the dead-letter directory.
    pub fn new(cfg: InfluxConfig) -> Result<Self, InfluxError> {
        Self::named("influx", cfg)
    }

    /// [`Buffer::new`] with a name of its own (metrics, logs), for several InfluxDB sinks.
    pub fn named(name: impl Into<String>, cfg: InfluxConfig) -> Result<Self, InfluxError> {
        cfg.validate()?;
        let encoder = InfluxEncoder::new(&cfg.schema)?;
        let delivery = InfluxDelivery::new(&cfg)?;
        let core = SinkCore::new(name, encoder, delivery, cfg.core_config()).map_err(InfluxError::Core)?;
        Ok(Self { core })
    }

    /// The live counters and state, for another task to read while `run` goes on.
    pub fn metrics(&self) -> Arc<SinkMetrics> {
        self.core.metrics()
    }

    /// Runs until `input` ends or `cancel` fires, then flushes: everything still in memory is
    /// written to the database, or to the spool if the database does not take it within
    /// `shutdown_timeout`. Batches spooled by an earlier run are delivered first.
    pub async fn run(self, input: Subscription, cancel: CancellationToken) -> Result<SinkStats, SinkError> {
        self.core.run(input, cancel).await
    }
}

#[async_trait]
impl Sink for Buffer {
    fn name(&self) -> &str {
        self.core.name()
    }

    fn metrics(&self) -> Arc<SinkMetrics> {
        self.core.metrics()
    }

    async fn run(
        self: Box<Self>,
        input: Subscription,
        cancel: CancellationToken,
    ) -> Result<SinkStats, SinkError> {
        self.core.run(input, cancel).await
    }
}
