//! The replay sender: a WebSocket server on loopback that plays pre-encoded frames to whoever
//! connects, as fast as possible or at a fixed rate, and answers what the driver asks on the
//! way (HTX `req` snapshots in-band, Binance and Bitstamp REST snapshots on a second port).
//!
//! Paths select the mode: `/raw` plays every frame at once (the framing ceiling, no
//! subscription); `/saturate` and `/rate/<msgs per s>` wait for the client's subscriptions
//! (quiet for 1.2 s), then play only the frames of the symbols this connection subscribed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use md_core::ExchangeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

use crate::frames::{snapshot_answer, Frame, Traffic};

/// Quiet time after the last subscribe message before playing starts.
const SUBSCRIBE_QUIET: Duration = Duration::from_millis(1200);

/// Serves `traffic` on `ws` (WebSocket) and `rest` (REST snapshots) until the process ends.
pub async fn serve(traffic: Traffic, ws: TcpListener, rest: TcpListener) {
    // Encoded once: sending a frame then shares its bytes instead of copying them.
    let messages: Arc<Vec<Message>> = Arc::new(traffic.frames.iter().map(to_message).collect());
    let traffic = Arc::new(traffic);
    let venue = traffic.venue;
    let go = Arc::new(tokio::sync::Semaphore::new(0));
    tokio::spawn(serve_rest(rest, venue, Arc::clone(&go)));
    while let Ok((stream, _)) = ws.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(Arc::clone(&traffic), Arc::clone(&messages), stream, Arc::clone(&go)));
    }
}

/// REST snapshots on any path; `GET /go` releases the connections waiting after warm-up.
async fn serve_rest(listener: TcpListener, venue: ExchangeId, go: Arc<tokio::sync::Semaphore>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let go = Arc::clone(&go);
        tokio::spawn(async move {
            let mut head = [0u8; 4096];
            let n = stream.read(&mut head).await.unwrap_or(0);
            if head[..n].starts_with(b"GET /go ") {
                go.add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
            }
            let body = match snapshot_answer(venue, "", "0") {
                Some(Frame::Text(body)) => body,
                _ => String::new(),
            };
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

fn to_message(frame: &Frame) -> Message {
    match frame {
        Frame::Text(t) => Message::text(t.clone()),
        Frame::Binary(b) => Message::binary(b.clone()),
    }
}

async fn connection(
    traffic: Arc<Traffic>,
    messages: Arc<Vec<Message>>,
    stream: TcpStream,
    go: Arc<tokio::sync::Semaphore>,
) {
    let mut path = String::new();
    // The error type is tungstenite's, not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
    let (mut sink, mut source) = ws.split();
    let natives: HashMap<String, usize> =
        traffic.symbols.iter().enumerate().map(|(i, s)| (s.native.to_ascii_lowercase(), i)).collect();

    // Client messages: subscriptions (which symbols this connection carries) and HTX reqs.
    let (control_tx, mut control_rx) = mpsc::unbounded_channel::<Message>();
    let (subscribed_tx, mut subscribed_rx) = mpsc::unbounded_channel::<usize>();
    let venue = traffic.venue;
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = source.next().await {
            let Message::Text(text) = message else { continue };
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            if let Some(topic) = value["req"].as_str() {
                let native = topic.split('.').nth(1).unwrap_or_default();
                if let Some(answer) = snapshot_answer(venue, native, &value["id"].to_string()) {
                    let _ = control_tx.send(to_message(&answer));
                }
                continue;
            }
            // Binance `params`, Bybit `args`, HTX `sub`, Bitstamp `data.channel`.
            let topics: Vec<String> = ["params", "args"]
                .iter()
                .filter_map(|k| value[*k].as_array())
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .chain(value["sub"].as_str().map(str::to_owned))
                .chain(value["data"]["channel"].as_str().map(str::to_owned))
                .collect();
            for topic in topics {
                let lower = topic.to_ascii_lowercase();
                let native = lower
                    .split(['@', '.', '_'])
                    .find(|part| natives.contains_key(*part))
                    .and_then(|part| natives.get(part));
                if let Some(&i) = native {
                    let _ = subscribed_tx.send(i);
                }
            }
        }
    });

    let mut wanted: HashSet<usize> = HashSet::new();
    let rate = path.strip_prefix("/rate/").and_then(|r| r.parse::<f64>().ok());
    if path != "/raw" {
        loop {
            match tokio::time::timeout(SUBSCRIBE_QUIET, subscribed_rx.recv()).await {
                Ok(Some(i)) => {
                    wanted.insert(i);
                }
                Ok(None) => return,
                Err(_) if !wanted.is_empty() => break,
                Err(_) => {}
            }
        }
    }
    let frames =
        messages.iter().zip(&traffic.symbol_of).filter(|(_, k)| path == "/raw" || wanted.contains(k));
    // Warm-up: every book's first update (and Bybit's snapshots), then wait for `/go`, sent once
    // every book is in sync, so that the timed part measures md and not snapshot fetching.
    let warm_up = if path == "/raw" { 0 } else { traffic.warm_up_frames(wanted.len()) };
    let mut start = tokio::time::Instant::now();
    for (n, (frame, _)) in frames.enumerate() {
        if n == warm_up && warm_up > 0 {
            if sink.flush().await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    permit = go.acquire() => {
                        drop(permit);
                        break;
                    }
                    Some(control) = control_rx.recv() => {
                        if sink.send(control).await.is_err() {
                            return;
                        }
                    }
                }
            }
            start = tokio::time::Instant::now();
        }
        let n = n.saturating_sub(warm_up);
        while let Ok(control) = control_rx.try_recv() {
            if sink.send(control).await.is_err() {
                return;
            }
        }
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(n as f64 / rate);
            if due > tokio::time::Instant::now() {
                if sink.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep_until(due).await;
            }
        }
        if sink.feed(frame.clone()).await.is_err() {
            return;
        }
        if n % 64 == 63 && sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.flush().await;
    // Stay open, still answering requests, until the client leaves: a reconnect would replay.
    while let Some(control) = control_rx.recv().await {
        if sink.send(control).await.is_err() {
            break;
        }
    }
    reader.abort();
}
