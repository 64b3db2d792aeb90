//! One connection's life: connect, subscribe, read, verify, heartbeat, and reconnect forever.
//! Everything venue-specific comes from the venue's trait implementations.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use md_core::{
    now_ns, Control, DataPacket, Exchange, Frame, Parser, Payload, SnapshotSource, Status, Symbol, SymbolInfo,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::books::{status, Books, Effects};
use crate::limiter::RestLimiter;
use crate::metrics::{bump, DriverMetrics};
use crate::pace::Pace;
use crate::plan::ConnectionPlan;
use crate::DriverConfig;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The least time between snapshot requests the venue refused (4xx other than 408/418/429).
const REFUSED_RETRY: Duration = Duration::from_secs(30);

/// What one connection task shares with its venue's other connections.
pub(crate) struct Context {
    pub exchange: Arc<dyn Exchange>,
    pub parser: Box<dyn Parser>,
    pub config: Arc<DriverConfig>,
    pub metrics: Arc<DriverMetrics>,
    pub limiter: Arc<RestLimiter>,
    pub tx: mpsc::Sender<DataPacket>,
    pub cancel: CancellationToken,
}

/// Why a session ended.
enum End {
    /// The driver was cancelled: stop.
    Cancelled,
    /// Nobody listens downstream any more: stop.
    DownstreamClosed,
    /// The connection failed or went quiet: reconnect after the backoff delay.
    Lost(String),
    /// The venue asked us to move, or the connection reached its planned lifetime: reconnect now.
    Rotate(String),
}

/// Runs one planned connection until cancelled.
pub(crate) async fn run(ctx: Context, plan: ConnectionPlan, seed: u64) {
    let mut backoff = Backoff::new(ctx.config.backoff.clone(), seed);
    let mut books = Books::new(&plan.books, ctx.exchange.seq_rule(), ctx.config.max_pending_deltas);
    loop {
        let started = Instant::now();
        let end = Session::new(&ctx, &plan).run(&mut books).await;
        books.reset(&ctx.metrics);
        let (reason, delay) = match end {
            End::Cancelled | End::DownstreamClosed => return,
            End::Rotate(reason) => (reason, Duration::ZERO),
            End::Lost(reason) => {
                if started.elapsed() >= ctx.config.backoff.reset_after {
                    backoff.reset();
                }
                (reason, backoff.next_delay())
            }
        };
        bump(&ctx.metrics.reconnects);
        tracing::warn!(exchange = %ctx.exchange.id(), url = %plan.url, %reason, ?delay, "connection lost; reconnecting");
        let lost = status(ctx.exchange.id(), &Symbol::wildcard(), now_ns(), Status::Disconnected { reason });
        if !forward(&ctx, lost).await {
            return;
        }
        tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Sends one packet downstream, waiting for room (the overflow policy is backpressure: the
/// driver reads more slowly rather than drop data). False when the driver must stop.
async fn forward(ctx: &Context, packet: DataPacket) -> bool {
    tokio::select! {
        biased;
        sent = ctx.tx.send(packet) => sent.is_ok(),
        _ = ctx.cancel.cancelled() => false,
    }
}

/// One connected session; dropped (and its snapshot fetches cancelled) when it ends.
struct Session<'a> {
    ctx: &'a Context,
    plan: &'a ConnectionPlan,
    /// Control messages waiting for the venue's message-rate allowance.
    outbox: VecDeque<String>,
    /// Snapshot fetches report here; a fetch of an older session can never reach a newer one.
    snapshots: (mpsc::Sender<DataPacket>, mpsc::Receiver<DataPacket>),
    fetches: CancellationToken,
    parse_log: RateLimitedLog,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.fetches.cancel();
    }
}

impl<'a> Session<'a> {
    fn new(ctx: &'a Context, plan: &'a ConnectionPlan) -> Self {
        Self {
            ctx,
            plan,
            outbox: VecDeque::new(),
            snapshots: mpsc::channel(64),
            fetches: ctx.cancel.child_token(),
            parse_log: RateLimitedLog::default(),
        }
    }

    async fn run(&mut self, books: &mut Books) -> End {
        let ctx = self.ctx;
        let mut socket = match self.connect().await {
            Ok(socket) => socket,
            Err(end) => return end,
        };
        ctx.metrics.connections_open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let end = self.serve(&mut socket, books).await;
        ctx.metrics.connections_open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if matches!(end, End::Cancelled) {
            // A clean close, bounded: cancellation must return within a second.
            let _ = tokio::time::timeout(ctx.config.close_timeout, socket.close(None)).await;
        }
        end
    }

    async fn connect(&self) -> Result<Socket, End> {
        let ctx = self.ctx;
        let ws_config = WebSocketConfig {
            max_message_size: Some(ctx.config.max_frame_bytes),
            max_frame_size: Some(ctx.config.max_frame_bytes),
            ..WebSocketConfig::default()
        };
        let connect =
            tokio_tungstenite::connect_async_with_config(self.plan.url.as_str(), Some(ws_config), true);
        tokio::select! {
            _ = ctx.cancel.cancelled() => Err(End::Cancelled),
            result = tokio::time::timeout(ctx.config.connect_timeout, connect) => match result {
                Ok(Ok((socket, _))) => Ok(socket),
                Ok(Err(e)) => Err(End::Lost(format!("connect failed: {e}"))),
                Err(_) => Err(End::Lost("connect timed out".into())),
            },
        }
    }

    async fn serve(&mut self, socket: &mut Socket, books: &mut Books) -> End {
        let ctx = self.ctx;
        let listener = ctx.exchange.listener();
        let limits = listener.limits();
        let id = ctx.exchange.id();
        if !forward(ctx, status(id, &Symbol::wildcard(), now_ns(), Status::Connected)).await {
            return End::DownstreamClosed;
        }
        self.outbox.extend(listener.subscribe_messages(&self.plan.topics));

        let mut pace = Pace::new(limits.max_messages_per_second);
        let heartbeat = listener.heartbeat();
        let beat_every = match (&heartbeat, ctx.config.heartbeat_interval) {
            (Some(_), Some(every)) => every,
            (Some(beat), None) => beat.interval,
            (None, _) => Duration::from_secs(3600),
        };
        let mut beats = tokio::time::interval_at(Instant::now() + beat_every, beat_every);
        let liveness = ctx.config.liveness_timeout.unwrap_or(limits.liveness_timeout);
        // Checked periodically rather than by a timer re-armed on every frame: at hundreds of
        // thousands of frames a second, re-arming was a measurable cost.
        let mut liveness_check = tokio::time::interval_at(Instant::now() + liveness / 4, liveness / 4);
        // Frames seen since the last check, and checks in a row without one: reading the clock
        // on every frame only to notice silence cost more than this.
        let (mut frames_seen, mut quiet_checks) = (false, 0u32);
        let rotate = tokio::time::sleep(limits.max_lifetime.unwrap_or(Duration::from_secs(86_400 * 365)));
        tokio::pin!(rotate);
        let mut packets = Vec::with_capacity(64);

        loop {
            tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return End::Cancelled,
                message = socket.next() => {
                    frames_seen = true;
                    let frame = match message {
                        None => return End::Lost("closed by the venue".into()),
                        Some(Err(e)) => return End::Lost(format!("read failed: {e}")),
                        Some(Ok(frame)) => frame,
                    };
                    let control = match &frame {
                        Message::Text(text) => self.parse(Frame::Text(text), &mut packets),
                        Message::Binary(bytes) => self.parse(Frame::Binary(bytes), &mut packets),
                        Message::Ping(_) => {
                            // tungstenite queued the pong; flush it now, not at our next write.
                            bump(&ctx.metrics.control_frames);
                            if let Err(e) = socket.flush().await {
                                return End::Lost(format!("pong failed: {e}"));
                            }
                            None
                        }
                        Message::Pong(_) | Message::Frame(_) => None,
                        Message::Close(close) => return End::Lost(format!("closed by the venue: {close:?}")),
                    };
                    match control {
                        Some(Control::Reply(text)) => {
                            // Answer heartbeats at once: HTX drops us after two unanswered pings.
                            if let Err(e) = socket.send(Message::Text(text)).await {
                                return End::Lost(format!("reply failed: {e}"));
                            }
                        }
                        Some(Control::Shutdown) => return End::Rotate("the venue announced a shutdown".into()),
                        _ => {}
                    }
                    if let Some(end) = self.route(&mut packets, books).await {
                        return end;
                    }
                }
                Some(packet) = self.snapshots.1.recv() => {
                    packets.push(packet);
                    if let Some(end) = self.route(&mut packets, books).await {
                        return end;
                    }
                }
                _ = sleep_until(pace.next_slot(Instant::now())), if !self.outbox.is_empty() => {
                    if let Some(text) = self.outbox.pop_front() {
                        pace.sent(Instant::now());
                        if let Err(e) = socket.send(Message::Text(text)).await {
                            return End::Lost(format!("send failed: {e}"));
                        }
                    }
                }
                _ = beats.tick(), if heartbeat.is_some() => {
                    if let Some(beat) = &heartbeat {
                        // Ahead of queued subscriptions: a late heartbeat costs the connection.
                        self.outbox.push_front(beat.message.clone());
                    }
                }
                _ = liveness_check.tick() => {
                    quiet_checks = if std::mem::take(&mut frames_seen) { 0 } else { quiet_checks + 1 };
                    // Four quiet quarters: silence of between one and 1.25 liveness timeouts.
                    if quiet_checks >= 4 {
                        return End::Lost(format!("no frame for {:.1}s", liveness.as_secs_f64()));
                    }
                }
                _ = &mut rotate, if limits.max_lifetime.is_some() => {
                    return End::Rotate("planned rotation before the venue's connection lifetime".into());
                }
            }
        }
    }

    /// Parses one frame into `packets`; a bad frame is counted and logged, never fatal.
    fn parse(&mut self, frame: Frame<'_>, packets: &mut Vec<DataPacket>) -> Option<Control> {
        let ctx = self.ctx;
        let len = match frame {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        };
        ctx.metrics.bytes_received.fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
        match ctx.parser.parse(frame, now_ns(), packets) {
            Ok(control) => {
                match &control {
                    Control::Data => {}
                    Control::Rejected { message } => {
                        bump(&ctx.metrics.venue_rejections);
                        tracing::warn!(exchange = %ctx.exchange.id(), %message, "the venue refused a request");
                    }
                    _ => bump(&ctx.metrics.control_frames),
                }
                Some(control)
            }
            Err(err) => {
                bump(&ctx.metrics.parse_errors);
                self.parse_log.log(ctx, &err);
                None
            }
        }
    }

    /// Passes parsed packets through the books and downstream; asks for the snapshots the
    /// books need. `Some` when the session must end.
    async fn route(&mut self, packets: &mut Vec<DataPacket>, books: &mut Books) -> Option<End> {
        let ctx = self.ctx;
        let mut effects = Effects::default();
        for packet in packets.drain(..) {
            match &packet.data {
                Payload::BookDelta(_) => books.on_delta(packet, &ctx.metrics, &mut effects),
                Payload::BookSnapshot(_) => books.on_snapshot(packet, &ctx.metrics, &mut effects),
                _ => {
                    if matches!(packet.data, Payload::Trade(_)) {
                        bump(&ctx.metrics.trades);
                    }
                    effects.forward.push(packet);
                }
            }
        }
        for info in effects.request {
            self.request_snapshot(info);
        }
        for packet in effects.forward {
            if !forward(ctx, packet).await {
                return Some(if ctx.cancel.is_cancelled() { End::Cancelled } else { End::DownstreamClosed });
            }
        }
        None
    }

    /// Asks the venue for a fresh image of one book, the way the venue provides them.
    fn request_snapshot(&mut self, info: SymbolInfo) {
        let ctx = self.ctx;
        bump(&ctx.metrics.snapshot_requests);
        match ctx.exchange.snapshot_source() {
            SnapshotSource::Rest => self.spawn_fetch(info),
            SnapshotSource::InBand => {
                if let Some(request) = ctx.exchange.snapshot_request(&info) {
                    self.outbox.push_back(request);
                }
            }
            SnapshotSource::Stream => {
                // The venue sends a snapshot after every subscribe: subscribe this book again.
                let listener = ctx.exchange.listener();
                let topics = listener.topics(&info, md_core::Channel::Book);
                self.outbox.extend(listener.unsubscribe_messages(&topics));
                self.outbox.extend(listener.subscribe_messages(&topics));
            }
        }
    }

    /// Fetches a REST snapshot within the venue's weight budget, retrying until it arrives or
    /// the session ends.
    fn spawn_fetch(&self, info: SymbolInfo) {
        let exchange = Arc::clone(&self.ctx.exchange);
        let limiter = Arc::clone(&self.ctx.limiter);
        let metrics = Arc::clone(&self.ctx.metrics);
        let report = self.snapshots.0.clone();
        let cancel = self.fetches.clone();
        let mut backoff = Backoff::new(self.ctx.config.backoff.clone(), info.native.len() as u64);
        let weight = exchange.rest_limits().snapshot_weight;
        tokio::spawn(async move {
            let fetch = async {
                loop {
                    limiter.acquire(weight).await;
                    match exchange.fetch_snapshot(&info).await {
                        Ok(packet) => return packet,
                        Err(err) if err.is_retryable() => {
                            bump(&metrics.snapshot_failures);
                            let delay = err.retry_after().unwrap_or_else(|| backoff.next_delay());
                            if err.retry_after().is_some() {
                                limiter.pause(delay);
                            }
                            tracing::warn!(symbol = %info.symbol, error = %err, ?delay, "snapshot request failed; retrying");
                            tokio::time::sleep(delay).await;
                        }
                        Err(err) => {
                            // Refused (a symbol delisted mid-run, say). Asking again on every
                            // delta would spend the venue-wide weight budget every other book
                            // needs for its resyncs: retry, but rarely.
                            bump(&metrics.snapshot_failures);
                            let delay = backoff.next_delay().max(REFUSED_RETRY);
                            tracing::error!(symbol = %info.symbol, error = %err, ?delay, "snapshot request refused; the book stays unsynced until one succeeds");
                            tokio::time::sleep(delay).await;
                        }
                    }
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => {}
                packet = fetch => {
                    let _ = report.send(packet).await;
                }
            }
        });
    }
}

/// Logs parse errors at a bounded rate: the first few, then one line per interval with a count.
#[derive(Debug, Default)]
struct RateLimitedLog {
    logged: u32,
    suppressed: u64,
    window_start: Option<Instant>,
}

impl RateLimitedLog {
    const BURST: u32 = 5;
    const WINDOW: Duration = Duration::from_secs(10);

    fn log(&mut self, ctx: &Context, err: &md_core::ParseError) {
        let now = Instant::now();
        if self.window_start.is_none_or(|start| now.duration_since(start) >= Self::WINDOW) {
            if self.suppressed > 0 {
                tracing::warn!(exchange = %ctx.exchange.id(), suppressed = self.suppressed, "more frames did not parse");
            }
            self.window_start = Some(now);
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged < Self::BURST {
            self.logged += 1;
            tracing::warn!(exchange = %ctx.exchange.id(), error = %err, "frame did not parse; skipped");
        } else {
            self.suppressed += 1;
        }
    }
}
