//! One connection's life on a real socket: connect, subscribe, read in bursts, heartbeat,
//! take commands, and reconnect forever. What a frame means is the [`ConnectionCore`]'s
//! business; this file only moves bytes, keeps time and publishes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use md_core::{
    now_ns, ConnId, DisconnectReason, Exchange, Frame, RawKind, Removal, Symbol, SymbolInfo, Symbols,
    WsMessage,
};
use md_pipeline::Publisher;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::backoff::{seed_for, Backoff};
use crate::core::{ConnectionCore, Effects};
use crate::fetch::{Fetched, Fetcher};
use crate::metrics::{bump, DriverMetrics};
use crate::pace::Pace;
use crate::tap::Tap;
use crate::ws::{Incoming, WsClient, WsError};
use crate::DriverConfig;

type Socket = WsClient;

/// Connection ids, unique within the process (a reconnect gets a new one).
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// What the supervisor tells a connection.
#[derive(Debug)]
pub(crate) enum ConnCommand {
    /// Carry these symbols too.
    Add(Vec<SymbolInfo>),
    /// Stop carrying these.
    Remove(Vec<Symbol>, Removal),
    /// Name symbols from this listing from now on.
    Listing(Arc<Symbols>),
}

/// What one connection task shares with its venue's other connections.
pub(crate) struct Context {
    pub exchange: Arc<dyn Exchange>,
    pub config: Arc<DriverConfig>,
    pub metrics: Arc<DriverMetrics>,
    pub fetcher: Fetcher,
    pub out: Publisher,
    pub cancel: CancellationToken,
    pub tap: Tap,
}

/// How a session ended.
enum End {
    /// The connection went down (or md is stopping): report it, then maybe reconnect.
    Lost(DisconnectReason),
    /// No symbol is left (the supervisor closed the command channel): close for good.
    Emptied,
}

/// Why the connection ends when the supervisor has closed its command channel. The supervisor
/// closes it for two reasons: every symbol was removed, or md is stopping. On a multi-thread
/// runtime the second can be seen here before the cancellation itself: the token fires while
/// this task is between the select's first branch (cancellation, still pending) and its
/// command branch, and the supervisor, on another thread, has already dropped the channel. The
/// token is set before the channel closes, so asking it again tells the two apart; without this
/// a shutdown was sometimes reported to every symbol as `Emptied`.
fn closed_end(cancel: &CancellationToken) -> End {
    if cancel.is_cancelled() {
        End::Lost(DisconnectReason::Cancelled)
    } else {
        End::Emptied
    }
}

/// Runs one connection until cancelled or emptied.
pub(crate) async fn run(
    ctx: Context,
    slot: u64,
    url: String,
    mut core: ConnectionCore,
    initial: Vec<SymbolInfo>,
    announce: bool,
    mut commands: mpsc::Receiver<ConnCommand>,
) {
    let seed = seed_for(&[ctx.exchange.id().as_str(), &slot.to_string(), &url, "connection"]);
    let mut backoff = Backoff::new(ctx.config.backoff.clone(), seed);
    let mut fx = Effects::default();
    let local_ts = now_ns();
    ctx.tap.record(ConnId(0), local_ts, || RawKind::Task { url: url.clone() });
    ctx.tap.record(ConnId(0), local_ts, || RawKind::Symbols { added: initial.clone(), announced: announce });
    core.add(&initial, announce, local_ts, &mut fx);
    fx.outbox.clear();
    publish(&ctx, &mut fx).await;
    loop {
        let conn = ConnId(NEXT_CONN.fetch_add(1, Ordering::Relaxed));
        let started = Instant::now();
        let end = Session::new(&ctx, &url, conn).run(&mut core, &mut commands, &mut fx).await;
        let reason = match end {
            End::Lost(reason) => reason,
            End::Emptied => DisconnectReason::Emptied,
        };
        let local_ts = now_ns();
        ctx.tap.record(conn, local_ts, || RawKind::Disconnected(reason.clone()));
        core.on_disconnected(&reason, local_ts, &mut fx);
        publish(&ctx, &mut fx).await;
        let delay = match &reason {
            DisconnectReason::Cancelled | DisconnectReason::Emptied => return,
            reason if reason.is_failure() => {
                if started.elapsed() >= ctx.config.backoff.reset_after {
                    backoff.reset();
                }
                backoff.next_delay()
            }
            _ => Duration::ZERO,
        };
        bump(&ctx.metrics.reconnects);
        tracing::warn!(exchange = %ctx.exchange.id(), %url, %reason, ?delay, "connection lost; reconnecting");
        if !wait_out(&ctx, &mut core, &mut commands, &mut fx, delay).await {
            return;
        }
    }
}

/// Waits `delay` before reconnecting, applying commands meanwhile. False when the connection
/// must stop (cancelled, or emptied).
async fn wait_out(
    ctx: &Context,
    core: &mut ConnectionCore,
    commands: &mut mpsc::Receiver<ConnCommand>,
    fx: &mut Effects,
    delay: Duration,
) -> bool {
    let until = Instant::now() + delay;
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return false,
            () = sleep_until(until) => return true,
            command = commands.recv() => {
                let Some(command) = command else { return false };
                apply_command(ctx, core, command, fx);
                // Not connected: subscriptions go out on connect; packets (statuses) flow now.
                fx.outbox.clear();
                publish(ctx, fx).await;
            }
        }
    }
}

/// Applies a supervisor command to the core.
fn apply_command(ctx: &Context, core: &mut ConnectionCore, command: ConnCommand, fx: &mut Effects) {
    let local_ts = now_ns();
    match command {
        ConnCommand::Add(infos) => {
            ctx.tap
                .record(core.conn(), local_ts, || RawKind::Symbols { added: infos.clone(), announced: true });
            core.add(&infos, true, local_ts, fx);
        }
        ConnCommand::Remove(symbols, reason) => {
            ctx.tap
                .record(core.conn(), local_ts, || RawKind::Unsubscribed { symbols: symbols.clone(), reason });
            core.remove(&symbols, reason, local_ts, fx);
        }
        ConnCommand::Listing(listing) => {
            ctx.tap.record(core.conn(), local_ts, || RawKind::ListingAdopted);
            core.adopt_listing(listing);
        }
    }
}

/// Hands the packets gathered so far downstream. Never cancelled halfway: a batch read from the
/// socket reaches every lossless subscriber, or the fan-out is aborted at the shutdown deadline.
async fn publish(ctx: &Context, fx: &mut Effects) {
    if fx.packets.is_empty() {
        return;
    }
    let packets = std::mem::replace(&mut fx.packets, Vec::with_capacity(64));
    ctx.metrics.packets_published.fetch_add(packets.len() as u64, Ordering::Relaxed);
    bump(&ctx.metrics.batches_published);
    ctx.out.publish(packets).await;
    // Let the subscribers this batch woke run now (on one worker they share the thread): a
    // driver that always finds another frame waiting would otherwise hold the worker for its
    // whole coop budget, and every packet would wait that long.
    yield_behind_woken().await;
}

/// Returns `Pending` once, having woken itself: the task goes to the back of its worker's run
/// queue, behind the subscribers the batch just woke, and runs again after them.
///
/// Not `tokio::task::yield_now`: that defers the wake-up until the runtime has polled its I/O
/// driver, which is a zero-timeout `epoll_wait` (and a timer-wheel turn) after every burst.
/// The runtime polls its I/O driver every 61 tasks anyway, so nothing starves.
async fn yield_behind_woken() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// The socket's next message if one is ready now, polled with the task's own waker (a no-op
/// waker would leave the socket registered with one that wakes nobody).
async fn ready_message(socket: &mut Socket) -> Option<Option<Result<Incoming, WsError>>> {
    std::future::poll_fn(|cx| match socket.poll_next(cx) {
        Poll::Ready(message) => Poll::Ready(Some(message)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// How often a connection asks its core which books are due a cross-check: a tenth of the
/// interval (a check is at most that late), between 100 ms and 5 s.
fn check_timer(every: Option<Duration>) -> tokio::time::Interval {
    let tick = every.map_or(Duration::from_secs(3600), |every| {
        (every / 10).clamp(Duration::from_millis(100), Duration::from_secs(5))
    });
    let mut timer = tokio::time::interval_at(Instant::now() + tick, tick);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer
}

/// One connected session; dropped (and its snapshot fetches cancelled) when it ends.
struct Session<'a> {
    ctx: &'a Context,
    url: &'a str,
    conn: ConnId,
    /// Control messages waiting for the venue's message-rate allowance.
    outbox: VecDeque<String>,
    /// Snapshot fetches report here; a fetch of an older session can never reach a newer one.
    snapshots: (mpsc::Sender<Fetched>, mpsc::Receiver<Fetched>),
    fetches: CancellationToken,
    /// A frame arrived since the last liveness check.
    frames_seen: bool,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.fetches.cancel();
    }
}

impl<'a> Session<'a> {
    fn new(ctx: &'a Context, url: &'a str, conn: ConnId) -> Self {
        Self {
            ctx,
            url,
            conn,
            outbox: VecDeque::new(),
            snapshots: mpsc::channel(64),
            fetches: ctx.cancel.child_token(),
            frames_seen: false,
        }
    }

    async fn run(
        &mut self,
        core: &mut ConnectionCore,
        commands: &mut mpsc::Receiver<ConnCommand>,
        fx: &mut Effects,
    ) -> End {
        let ctx = self.ctx;
        let mut socket = match self.connect().await {
            Ok(socket) => socket,
            Err(end) => return end,
        };
        ctx.metrics.connections_open.fetch_add(1, Ordering::Relaxed);
        let local_ts = now_ns();
        ctx.tap.record(self.conn, local_ts, || RawKind::Connected { url: self.url.to_owned() });
        core.on_connected(self.conn, local_ts, fx);
        let end = match self.act(&mut socket, fx).await {
            Some(end) => end,
            None => self.serve(&mut socket, core, commands, fx).await,
        };
        ctx.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
        if matches!(end, End::Lost(DisconnectReason::Cancelled) | End::Emptied) {
            // A clean close, bounded: cancellation must return within a second.
            let _ = tokio::time::timeout(ctx.config.close_timeout, socket.close()).await;
        }
        end
    }

    async fn connect(&self) -> Result<Socket, End> {
        let ctx = self.ctx;
        let connect = WsClient::connect(self.url, ctx.config.max_frame_bytes);
        let failed = |detail: String| End::Lost(DisconnectReason::ConnectFailed { detail });
        tokio::select! {
            _ = ctx.cancel.cancelled() => Err(End::Lost(DisconnectReason::Cancelled)),
            result = tokio::time::timeout(ctx.config.connect_timeout, connect) => match result {
                Ok(Ok(socket)) => Ok(socket),
                Ok(Err(e)) => Err(failed(e.to_string())),
                Err(_) => Err(failed("timed out".into())),
            },
        }
    }

    async fn serve(
        &mut self,
        socket: &mut Socket,
        core: &mut ConnectionCore,
        commands: &mut mpsc::Receiver<ConnCommand>,
        fx: &mut Effects,
    ) -> End {
        let ctx = self.ctx;
        let limits = ctx.exchange.limits();
        let mut pace = Pace::new(limits.max_messages_per_second);
        let heartbeat = ctx.exchange.heartbeat();
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
        let mut quiet_checks = 0u32;
        let check_every = core.cross_check_interval();
        let mut cross_checks = check_timer(check_every);
        let rotate = tokio::time::sleep(limits.max_lifetime.unwrap_or(Duration::from_secs(86_400 * 365)));
        tokio::pin!(rotate);

        loop {
            let end = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return End::Lost(DisconnectReason::Cancelled),
                message = socket.next() => self.read_burst(message, socket, core, fx).await,
                Some((info, response)) = self.snapshots.1.recv() => {
                    let local_ts = now_ns();
                    ctx.tap.record(self.conn, local_ts, || RawKind::Rest {
                        symbol: info.symbol.clone(),
                        url: response.url.clone(),
                        body: response.body.clone(),
                    });
                    core.on_snapshot_body(&info, &response.body, local_ts, fx);
                    self.settle(socket, fx).await
                }
                command = commands.recv() => match command {
                    None => return closed_end(&ctx.cancel),
                    Some(command) => {
                        apply_command(ctx, core, command, fx);
                        self.settle(socket, fx).await
                    }
                },
                _ = sleep_until(pace.next_slot(Instant::now())), if !self.outbox.is_empty() => {
                    match self.outbox.pop_front() {
                        Some(text) => {
                            pace.sent(Instant::now());
                            self.send(socket, text).await
                        }
                        None => None,
                    }
                }
                _ = beats.tick(), if heartbeat.is_some() => {
                    if let Some(beat) = &heartbeat {
                        // Ahead of queued subscriptions: a late heartbeat costs the connection.
                        self.outbox.push_front(beat.message.clone());
                    }
                    None
                }
                _ = liveness_check.tick() => {
                    quiet_checks = if std::mem::take(&mut self.frames_seen) { 0 } else { quiet_checks + 1 };
                    // Four quiet quarters: silence of between one and 1.25 liveness timeouts.
                    (quiet_checks >= 4)
                        .then_some(End::Lost(DisconnectReason::Silent { timeout_ms: liveness.as_millis() as u64 }))
                }
                _ = cross_checks.tick(), if check_every.is_some() => {
                    core.due_checks(now_ns(), fx);
                    self.settle(socket, fx).await
                }
                _ = &mut rotate, if limits.max_lifetime.is_some() => Some(End::Lost(DisconnectReason::Rotation)),
            };
            if let Some(end) = end {
                return end;
            }
        }
    }

    /// Handles the message that woke us and every further one already waiting (up to the
    /// burst limit), then publishes them as one batch: one queue operation and at most one
    /// wake-up downstream per burst, not per packet.
    async fn read_burst(
        &mut self,
        first: Option<Result<Incoming, WsError>>,
        socket: &mut Socket,
        core: &mut ConnectionCore,
        fx: &mut Effects,
    ) -> Option<End> {
        let mut next = Some(first);
        let mut frames = 0;
        while let Some(message) = next.take() {
            frames += 1;
            if let Some(end) = self.on_message(message, socket, core, fx).await {
                return Some(end);
            }
            if fx.end.is_some() || frames >= self.ctx.config.max_burst {
                break;
            }
            next = ready_message(socket).await;
        }
        self.settle(socket, fx).await
    }

    /// One message from the socket.
    async fn on_message(
        &mut self,
        message: Option<Result<Incoming, WsError>>,
        socket: &mut Socket,
        core: &mut ConnectionCore,
        fx: &mut Effects,
    ) -> Option<End> {
        self.frames_seen = true;
        let ctx = self.ctx;
        let message = match message {
            None => {
                let detail = "the stream ended".to_owned();
                return Some(End::Lost(DisconnectReason::ClosedByVenue { close_code: None, detail }));
            }
            Some(Err(e)) => return Some(End::Lost(DisconnectReason::ReadFailed { detail: e.to_string() })),
            Some(Ok(message)) => message,
        };
        let local_ts = now_ns();
        match message {
            Incoming::Text(text) => {
                core.on_frame(Frame::Text(&text), local_ts, fx);
                ctx.tap.record(self.conn, local_ts, move || RawKind::Received(WsMessage::Text(text.into())));
            }
            Incoming::Binary(bytes) => {
                core.on_frame(Frame::Binary(&bytes), local_ts, fx);
                ctx.tap.record(self.conn, local_ts, move || RawKind::Received(WsMessage::Binary(bytes)));
            }
            Incoming::Ping(payload) => {
                bump(&ctx.metrics.control_frames);
                ctx.tap.record(self.conn, local_ts, || RawKind::Received(WsMessage::Ping(payload.clone())));
                ctx.tap.record(self.conn, local_ts, || RawKind::Sent(WsMessage::Pong(payload.clone())));
                if let Err(e) = socket.send_pong(&payload).await {
                    return Some(End::Lost(DisconnectReason::SendFailed { detail: e.to_string() }));
                }
            }
            Incoming::Pong(payload) => {
                ctx.tap.record(self.conn, local_ts, move || RawKind::Received(WsMessage::Pong(payload)));
            }
            Incoming::Close(close) => {
                let (close_code, detail) = match &close {
                    Some((code, reason)) => (Some(*code), reason.clone()),
                    None => (None, "close frame without a reason".to_owned()),
                };
                ctx.tap.record(self.conn, local_ts, || RawKind::Received(WsMessage::Close(close.clone())));
                return Some(End::Lost(DisconnectReason::ClosedByVenue { close_code, detail }));
            }
        }
        // Answer heartbeats at once: HTX drops us after two unanswered pings.
        for text in std::mem::take(&mut fx.replies) {
            if let Some(end) = self.send(socket, text).await {
                return Some(end);
            }
        }
        None
    }

    /// Carries out the effects of an event and publishes its packets.
    async fn settle(&mut self, socket: &mut Socket, fx: &mut Effects) -> Option<End> {
        let end = self.act(socket, fx).await;
        publish(self.ctx, fx).await;
        end
    }

    /// Sends replies, queues paced messages, starts fetches; the end, if the core asked for one.
    async fn act(&mut self, socket: &mut Socket, fx: &mut Effects) -> Option<End> {
        for text in std::mem::take(&mut fx.replies) {
            if let Some(end) = self.send(socket, text).await {
                return Some(end);
            }
        }
        self.outbox.extend(fx.outbox.drain(..));
        for fetch in fx.fetches.drain(..) {
            self.ctx.fetcher.spawn(fetch, self.snapshots.0.clone(), self.fetches.clone());
        }
        fx.end.take().map(End::Lost)
    }

    async fn send(&mut self, socket: &mut Socket, text: String) -> Option<End> {
        self.ctx.tap.record(self.conn, now_ns(), || RawKind::Sent(WsMessage::from_text(text.clone())));
        match socket.send_text(&text).await {
            Ok(()) => None,
            Err(e) => Some(End::Lost(DisconnectReason::SendFailed { detail: e.to_string() })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_command_channel_is_a_shutdown_once_cancelled_and_an_emptying_before() {
        let cancel = CancellationToken::new();
        assert!(matches!(closed_end(&cancel), End::Emptied));
        cancel.cancel();
        assert!(matches!(closed_end(&cancel), End::Lost(DisconnectReason::Cancelled)));
    }
}
