//! WebSocket side: accepting connections on the venue's paths, and one task per connection
//! that writes its queue, reads client messages and runs the server heartbeat.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::hub::{lock, now_ms, Conn, Outbound, Venue};
use crate::stats::bump;
use crate::venue::Heartbeat;

/// Accepts WebSocket connections until the venue shuts down.
pub(crate) async fn serve(venue: Arc<Venue>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            () = venue.cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(venue.clone(), stream));
    }
}

/// A Bybit-style connection id (UUID-shaped), derived from the connection number.
fn conn_id_text(venue: &Venue, n: u64) -> String {
    let mut rng = crate::rng::SplitMix64::derive(venue.config.seed, &[venue.id.as_str(), "conn"]);
    let a = rng.next_u64() ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let b = rng.next_u64() ^ n;
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// Handshakes, registers the connection with the hub, runs it, and unregisters it.
async fn connection(venue: Arc<Venue>, stream: TcpStream) {
    let protocol = venue.protocol;
    let mut target = String::new();
    // The error type is tungstenite's, not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        target = request.uri().to_string();
        if protocol.accepts_path(request.uri().path()) {
            Ok(response)
        } else {
            let mut refusal = ErrorResponse::new(Some(format!("no WebSocket at {}", request.uri().path())));
            *refusal.status_mut() = StatusCode::NOT_FOUND;
            Err(refusal)
        }
    };
    let config = WebSocketConfig::default().max_message_size(Some(1 << 20)).max_frame_size(Some(1 << 20));
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config));
    let ws = tokio::select! {
        () = venue.cancel.cancelled() => return,
        ws = tokio::time::timeout(Duration::from_secs(5), handshake) => match ws {
            Ok(Ok(ws)) => ws,
            _ => return,
        },
    };
    let n = venue.next_conn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(venue.config.queue_capacity);
    let kill = venue.cancel.child_token();
    let stall_until = Arc::new(Mutex::new(None));
    venue.lock().conns.insert(
        n,
        Conn {
            tx,
            subs: Vec::new(),
            kill: kill.clone(),
            stall_until: stall_until.clone(),
            conn_id: conn_id_text(&venue, n),
        },
    );
    bump(&venue.counters.connections_accepted);
    bump(&venue.counters.connections_open);
    if let Some((_, query)) = target.split_once('?') {
        venue.add_subs(n, protocol.url_subscriptions(&venue, query));
    }
    run(&venue, n, ws, rx, &kill, &stall_until).await;
    venue.lock().conns.remove(&n);
    venue.counters.connections_open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

/// Waits out a stall; false if the connection was killed meanwhile.
async fn wait_stall(stall: &Mutex<Option<Instant>>, kill: &CancellationToken) -> bool {
    let until = *lock(stall);
    match until {
        Some(until) if until > Instant::now() => tokio::select! {
            () = kill.cancelled() => false,
            () = tokio::time::sleep_until(until) => true,
        },
        _ => true,
    }
}

fn stalled(stall: &Mutex<Option<Instant>>) -> bool {
    lock(stall).is_some_and(|until| until > Instant::now())
}

async fn tick(timer: &mut Option<Interval>) {
    match timer {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The connection loop. Returning drops the socket: no close frame, like a venue that cuts a
/// connection (or a network fault).
async fn run(
    venue: &Venue,
    conn_id: u64,
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    mut rx: mpsc::Receiver<Outbound>,
    kill: &CancellationToken,
    stall: &Mutex<Option<Instant>>,
) {
    let (mut sink, mut stream) = ws.split();
    let interval = venue.config.ping_interval;
    let server_heartbeat = venue.protocol.server_heartbeat().filter(|_| !interval.is_zero());
    let mut timer = server_heartbeat.map(|_| {
        let mut timer = tokio::time::interval_at(Instant::now() + interval, interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer
    });
    let mut heartbeat = Heartbeat::default();
    let mut last_ping = 0u64;
    loop {
        let out = tokio::select! {
            biased;
            () = kill.cancelled() => return,
            incoming = stream.next() => {
                match incoming {
                    Some(Ok(Message::Text(text))) => venue.protocol.on_text(venue, conn_id, &text, &mut heartbeat),
                    Some(Ok(Message::Binary(bytes))) => {
                        if let Ok(text) = std::str::from_utf8(&bytes) {
                            venue.protocol.on_text(venue, conn_id, text, &mut heartbeat);
                        }
                    }
                    Some(Ok(Message::Pong(payload))) => {
                        let value = std::str::from_utf8(&payload).ok().and_then(|s| s.parse().ok());
                        if value.is_some_and(|v| heartbeat.answered(v)) {
                            bump(&venue.counters.pongs_received);
                        }
                    }
                    // tungstenite queued the pong; flushing sends it.
                    Some(Ok(Message::Ping(_))) => {
                        if sink.flush().await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
                continue;
            }
            out = rx.recv() => match out {
                Some(out) => out,
                None => return,
            },
            () = tick(&mut timer) => {
                // The timer runs only for a venue whose server pings.
                let Some(server) = server_heartbeat else { continue };
                if stalled(stall) {
                    // A stalled connection sends no heartbeat either (and expects no answer).
                    continue;
                }
                if server.close_after_unanswered.is_some_and(|limit| heartbeat.unanswered >= limit) {
                    bump(&venue.counters.ping_timeouts);
                    return;
                }
                // Unique per connection even within one millisecond.
                last_ping = u64::try_from(now_ms()).unwrap_or(0).max(last_ping + 1);
                heartbeat.sent(last_ping);
                bump(&venue.counters.pings_sent);
                Outbound::Frame((server.ping)(last_ping))
            }
        };
        if !wait_stall(stall, kill).await {
            return;
        }
        let (message, batch) = match out {
            Outbound::Frame(message) => (message, None),
            Outbound::Trades(message, batch) => (message, Some(batch)),
        };
        let sent = tokio::select! {
            () = kill.cancelled() => return,
            sent = sink.send(message) => sent,
        };
        if sent.is_err() {
            return;
        }
        bump(&venue.counters.frames_sent);
        if let Some(batch) = batch {
            venue.record_trades(&batch);
        }
    }
}
