//! [`Topology`]: sources → fan-out → sinks, wired from values and run as one unit.
//!
//! The binary (or a user's program) adds sources (venue drivers, a replay of a capture, later
//! a message-bus consumer) and sinks, each sink with its own overflow policy and queue bound;
//! [`Topology::run`] starts them all, and on cancellation stops the sources, lets every sink
//! drain what it was given, and reports what each stored and whether anything was lost.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::fanout::{AbortHandle, FanOut, Overflow, Publisher, QueueMetrics, SubscriberConfig, Subscription};
use crate::sink::{BoxError, Sink, SinkError, SinkMetrics, SinkStats};

/// A producer of packets: a venue driver, a replay of recorded frames, a message-bus consumer.
/// Nothing downstream of a source may assume a live socket.
#[async_trait]
pub trait Source: Send {
    /// Names it in logs.
    fn name(&self) -> String;

    /// Publishes until done (a replay at its end) or until `cancel` fires, then returns.
    async fn run(self: Box<Self>, out: Publisher, cancel: CancellationToken) -> Result<(), BoxError>;
}

/// What the metrics endpoint and status line need of one sink.
#[derive(Debug, Clone)]
pub struct SinkInfo {
    /// Its name.
    pub name: String,
    /// Its queue's policy.
    pub overflow: Overflow,
    /// Its counters and state.
    pub metrics: Arc<SinkMetrics>,
    /// Its queue's counters.
    pub queue: Arc<QueueMetrics>,
}

/// How one sink ended.
#[derive(Debug)]
pub struct SinkReport {
    /// Its name.
    pub name: String,
    /// Its stats, or why it failed.
    pub result: Result<SinkStats, SinkError>,
    /// Packets its queue dropped (its policy, or an abort at the shutdown deadline).
    pub queue_dropped: u64,
    /// Its queue's policy.
    pub overflow: Overflow,
    /// It ended while its input was still open: it failed at its job.
    pub early: bool,
}

/// How a run ended.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Each sink, in the order added.
    pub sinks: Vec<SinkReport>,
    /// Sources that failed, with why.
    pub failed_sources: Vec<(String, BoxError)>,
    /// A sink ended while its input was still open, which stopped the run.
    pub sink_failed_early: bool,
    /// Records lost beside the sinks, added by the caller (a raw capture's dropped events):
    /// counted by [`RunReport::lost`] like a sink's.
    pub lost_elsewhere: u64,
}

impl RunReport {
    /// Records a lossless (`Block`) sink was given and lost, plus packets such a sink's queue
    /// had to drop at the deadline: nonzero means the run lost data and must say so.
    pub fn lost(&self) -> u64 {
        self.sinks
            .iter()
            .map(|s| {
                let stats_lost = match &s.result {
                    Ok(stats) => stats.records_lost,
                    Err(SinkError::Lost { records }) => *records,
                    Err(_) => 0,
                };
                let queue_lost = if s.overflow == Overflow::Block { s.queue_dropped } else { 0 };
                stats_lost + queue_lost
            })
            .sum::<u64>()
            + self.lost_elsewhere
    }

    /// Whether every sink ended cleanly and nothing was lost.
    pub fn is_clean(&self) -> bool {
        self.lost() == 0 && !self.sink_failed_early && self.sinks.iter().all(|s| s.result.is_ok())
    }
}

/// Sources, sinks and plain subscribers, wired through one fan-out.
pub struct Topology {
    fanout: FanOut,
    sources: Vec<Box<dyn Source>>,
    sinks: Vec<(Box<dyn Sink>, Subscription)>,
    drain_deadline: Duration,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topology")
            .field("sources", &self.sources.iter().map(|s| s.name()).collect::<Vec<_>>())
            .field("sinks", &self.sinks.iter().map(|(s, _)| s.name().to_owned()).collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Topology {
    fn default() -> Self {
        Self::new()
    }
}

impl Topology {
    /// An empty topology; sinks get 9 s after the sources stop to drain (a whole shutdown fits
    /// in 10 s).
    pub fn new() -> Self {
        Self {
            fanout: FanOut::new(),
            sources: Vec::new(),
            sinks: Vec::new(),
            drain_deadline: Duration::from_secs(9),
        }
    }

    /// How long sinks may drain after cancellation before they are told to keep what is left.
    pub fn drain_deadline(mut self, deadline: Duration) -> Self {
        self.drain_deadline = deadline;
        self
    }

    /// Adds a source.
    pub fn add_source(&mut self, source: Box<dyn Source>) {
        self.sources.push(source);
    }

    /// Adds a sink behind a queue of `capacity` packets with `overflow` as its policy.
    pub fn add_sink(&mut self, sink: Box<dyn Sink>, overflow: Overflow, capacity: usize) -> SinkInfo {
        let name = sink.name().to_owned();
        let input = self.fanout.subscribe(SubscriberConfig::new(name.clone(), overflow, capacity));
        let info = SinkInfo { name, overflow, metrics: sink.metrics(), queue: input.metrics() };
        self.sinks.push((sink, input));
        info
    }

    /// A plain subscription, for a consumer that is not a [`Sink`] (a library user's loop).
    pub fn subscribe(&mut self, config: SubscriberConfig) -> Subscription {
        self.fanout.subscribe(config)
    }

    /// Runs everything until the sources end (a replay) or `cancel` fires and they stop; then
    /// the sinks drain within the deadline. Sinks that overrun it are cancelled (they spool what
    /// is left), and sources stuck behind a full `Block` queue are released, their batches
    /// counted as dropped.
    pub async fn run(self, cancel: CancellationToken) -> RunReport {
        let Self { fanout, sources, sinks, drain_deadline } = self;
        let publisher = fanout.publisher();
        let abort = publisher.abort_handle();
        let sink_cancel = CancellationToken::new();
        let mut sink_tasks = JoinSet::new();
        for (i, (sink, input)) in sinks.into_iter().enumerate() {
            let name = sink.name().to_owned();
            let overflow = input.config().overflow;
            let queue = input.metrics();
            let token = sink_cancel.clone();
            sink_tasks.spawn(async move {
                let result = sink.run(input, token).await;
                let early = !queue.closed.load(std::sync::atomic::Ordering::Relaxed);
                (i, SinkReport { name, result, queue_dropped: queue.snapshot().dropped, overflow, early })
            });
        }
        // Sources stop on the caller's cancel, or when a sink fails and the run must end.
        let stop = cancel.child_token();
        let mut source_tasks = JoinSet::new();
        for source in sources {
            let name = source.name();
            let (out, token) = (publisher.clone(), stop.clone());
            source_tasks.spawn(async move { (name, source.run(out, token).await) });
        }
        drop(publisher);
        let mut report = RunReport::default();
        let mut done = Vec::new();
        let stop_at = join_sources(
            &mut source_tasks,
            &mut sink_tasks,
            &stop,
            drain_deadline,
            &abort,
            &mut report,
            &mut done,
        )
        .await;
        let deadline = stop_at.unwrap_or_else(Instant::now) + drain_deadline;
        loop {
            tokio::select! {
                joined = sink_tasks.join_next() => match joined {
                    Some(Ok(entry)) => done.push(entry),
                    Some(Err(e)) => tracing::error!(error = %e, "a sink task failed"),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline), if !sink_cancel.is_cancelled() => {
                    tracing::warn!("sinks missed the shutdown deadline; keeping what is left");
                    sink_cancel.cancel();
                    abort.abort();
                }
            }
        }
        done.sort_by_key(|(i, _)| *i);
        report.sinks = done.into_iter().map(|(_, r)| r).collect();
        report
    }
}

type SinkTasks = JoinSet<(usize, SinkReport)>;

/// Waits for every source; once `stop` fired, at most `deadline` more, then releases the ones
/// stuck publishing into a full queue. A sink that ends while its input is still open has
/// failed: the run stops (a sink that cannot do its job must not leave the sources publishing
/// into nothing). Returns when the stop was seen, if it was.
async fn join_sources(
    tasks: &mut JoinSet<(String, Result<(), BoxError>)>,
    sinks: &mut SinkTasks,
    stop: &CancellationToken,
    deadline: Duration,
    abort: &AbortHandle,
    report: &mut RunReport,
    done: &mut Vec<(usize, SinkReport)>,
) -> Option<Instant> {
    let mut stopped_at: Option<Instant> = None;
    let mut aborted = false;
    loop {
        let release_at = stopped_at.map(|at| at + deadline);
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(Ok((_, Ok(())))) => {}
                Some(Ok((name, Err(e)))) => {
                    tracing::error!(source = %name, error = %e, "source failed");
                    report.failed_sources.push((name, e));
                }
                Some(Err(e)) => tracing::error!(error = %e, "a source task failed"),
                None => return stopped_at,
            },
            joined = sinks.join_next(), if !sinks.is_empty() => {
                match joined {
                    Some(Ok((i, sink))) if sink.early => {
                        tracing::error!(sink = %sink.name, result = ?sink.result, "a sink stopped while running; stopping the run");
                        report.sink_failed_early = true;
                        done.push((i, sink));
                        stop.cancel();
                    }
                    // Its input ended (the last source just stopped): a normal end.
                    Some(Ok(entry)) => done.push(entry),
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "a sink task failed; stopping the run");
                        report.sink_failed_early = true;
                        stop.cancel();
                    }
                    None => {}
                }
            }
            () = stop.cancelled(), if stopped_at.is_none() => stopped_at = Some(Instant::now()),
            () = sleep_until(release_at), if !aborted => {
                tracing::warn!("sources did not stop within the deadline (a full queue?); releasing them");
                abort.abort();
                aborted = true;
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
