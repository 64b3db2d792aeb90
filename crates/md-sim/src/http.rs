//! A tiny HTTP/1.1 responder for the venues' REST endpoints: one GET per connection, a JSON
//! answer, `Connection: close`. Enough for reqwest and for hand-written test clients; no
//! keep-alive, no chunking, no request bodies.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::hub::Venue;
use crate::stats::bump;

/// The largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// A REST answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// JSON body.
    pub body: String,
    /// `Retry-After` seconds, for 429s.
    pub retry_after: Option<u32>,
}

impl HttpResponse {
    /// An answer with this status.
    pub(crate) fn new(status: u16, body: String) -> Self {
        Self { status, body, retry_after: None }
    }

    /// A 200 answer.
    pub(crate) fn ok(body: String) -> Self {
        Self::new(200, body)
    }

    /// Adds `Retry-After`.
    pub(crate) fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            429 => "Too Many Requests",
            _ => "Error",
        };
        let retry = self.retry_after.map_or_else(String::new, |s| format!("Retry-After: {s}\r\n"));
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n",
            self.status,
            self.body.len()
        )
        .into_bytes();
        out.extend_from_slice(self.body.as_bytes());
        out
    }
}

/// Splits `a=1&b=2` into pairs (no percent-decoding: venues' parameters are plain).
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

/// Accepts REST connections until the venue shuts down.
pub(crate) async fn serve(venue: Arc<Venue>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            () = venue.cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let venue = venue.clone();
        tokio::spawn(async move {
            let cancel = venue.cancel.clone();
            tokio::select! {
                () = cancel.cancelled() => {}
                _ = tokio::time::timeout(Duration::from_secs(10), handle(&venue, stream)) => {}
            }
        });
    }
}

/// Reads one request head and answers it.
async fn handle(venue: &Venue, mut stream: TcpStream) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_HEAD {
            let _ = stream
                .write_all(&HttpResponse::new(400, r#"{"error":"request head too large"}"#.into()).to_bytes())
                .await;
            return;
        }
    }
    let response = respond(venue, &String::from_utf8_lossy(&head));
    bump(&venue.counters.rest_requests);
    let _ = stream.write_all(&response.to_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Routes a request head.
fn respond(venue: &Venue, head: &str) -> HttpResponse {
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if method != "GET" {
        return HttpResponse::new(405, r#"{"error":"only GET is supported"}"#.into());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    venue.protocol.rest(venue, path, &parse_query(query))
}
