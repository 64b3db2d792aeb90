//! [`EventFiles`]: the [`EventWriter`] as a pipeline [`Sink`], its file I/O off the runtime.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use md_pipeline::{Batch, Sink, SinkError, SinkMetrics, SinkStats, Subscription};
use tokio_util::sync::CancellationToken;

use crate::writer::{EventFilesConfig, EventWriter};
use crate::EventsError;

/// Batches taken from the queue per trip to the blocking pool, at most.
const MAX_BATCHES_PER_TRIP: usize = 256;

/// Writes the stream into per-symbol event files (see [`crate::writer`]).
///
/// Every file operation runs in `tokio::task::spawn_blocking`, one at a time, so the runtime
/// never waits on the disk and there is no lock to deadlock on. While writes fail (a full
/// disk) the sink keeps reading, keeps chunks in memory up to the configured bound, reports
/// `Failing` health with the error and `records_in_memory`, and retries every flush interval.
/// At the end of its input it writes everything it holds, retrying until it can or until
/// `cancel` (the shutdown deadline), when what is left is counted lost and returned as
/// [`SinkError::Lost`].
#[derive(Debug)]
pub struct EventFiles {
    name: String,
    writer: EventWriter,
    metrics: Arc<SinkMetrics>,
}

impl EventFiles {
    /// A sink named `events` writing into `config.dir` (created if missing).
    pub fn new(config: EventFilesConfig) -> Result<Self, EventsError> {
        Self::named("events", config)
    }

    /// A sink with another name (several event sinks in one topology).
    pub fn named(name: impl Into<String>, config: EventFilesConfig) -> Result<Self, EventsError> {
        let metrics = Arc::new(SinkMetrics::default());
        let writer = EventWriter::with_metrics(config, Arc::clone(&metrics))?;
        Ok(Self { name: name.into(), writer, metrics })
    }
}

/// Runs `f` on the writer in the blocking pool and gives the writer back.
async fn blocking<T: Send + 'static>(
    mut writer: EventWriter,
    f: impl FnOnce(&mut EventWriter) -> T + Send + 'static,
) -> Result<(EventWriter, T), SinkError> {
    tokio::task::spawn_blocking(move || {
        let out = f(&mut writer);
        (writer, out)
    })
    .await
    .map_err(|e| SinkError::Failed(Box::new(e)))
}

fn write_batches(writer: &mut EventWriter, batches: &[Batch]) {
    for batch in batches {
        for packet in batch.iter() {
            // Only a kind the format cannot encode is refused; it is counted (unknown_kinds).
            let _ = writer.write(packet);
        }
    }
    writer.poll(Instant::now());
}

#[async_trait]
impl Sink for EventFiles {
    fn name(&self) -> &str {
        &self.name
    }

    fn metrics(&self) -> Arc<SinkMetrics> {
        Arc::clone(&self.metrics)
    }

    async fn run(
        self: Box<Self>,
        mut input: Subscription,
        cancel: CancellationToken,
    ) -> Result<SinkStats, SinkError> {
        let mut writer = self.writer;
        let flush_interval = writer.config().flush_interval;
        let mut cancelled = false;
        loop {
            let deadline = writer.next_deadline();
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    cancelled = true;
                    break;
                }
                batch = input.recv() => {
                    let Some(batch) = batch else { break };
                    let mut batches = vec![batch];
                    while batches.len() < MAX_BATCHES_PER_TRIP {
                        match input.try_recv() {
                            Some(b) => batches.push(b),
                            None => break,
                        }
                    }
                    (writer, ()) = blocking(writer, move |w| write_batches(w, &batches)).await?;
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    (writer, ()) = blocking(writer, |w| w.poll(Instant::now())).await?;
                }
            }
        }
        // End of input (or the deadline): write everything, retrying while the disk refuses.
        loop {
            let result;
            (writer, result) = blocking(writer, EventWriter::close).await?;
            if result.is_ok() && writer.records_in_memory() == 0 {
                break;
            }
            if cancelled {
                break;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => cancelled = true,
                _ = tokio::time::sleep(flush_interval) => {}
            }
        }
        let lost = writer.discard();
        let records_lost = writer.metrics().snapshot().records_lost;
        if lost > 0 || records_lost > 0 {
            return Err(SinkError::Lost { records: records_lost.max(lost) });
        }
        Ok(self.metrics.snapshot())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
    }
}
