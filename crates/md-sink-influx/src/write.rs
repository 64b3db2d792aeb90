//! HTTP writes to InfluxDB (v1 and v2), retry classification, backoff, 413 splitting.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, Url};

use crate::config::{Api, InfluxConfig, RetryConfig};
use crate::deadletter::DeadLetters;
use crate::encode::Target;
use crate::error::SinkError;
use crate::metrics::SinkMetrics;

/// A sealed batch: whole lines, each ending in `\n`.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub(crate) target: Target,
    pub(crate) lines: u32,
    pub(crate) body: Bytes,
}

/// Sends batches; shared by the delivery futures of both targets.
#[derive(Debug)]
pub(crate) struct Writer {
    client: Client,
    write_urls: [Url; 2],
    query_url: Url,
    databases: [String; 2],
    auth: Option<HeaderValue>,
    basic: Option<(String, Option<String>)>,
    create_databases: bool,
    gzip: bool,
    retry: RetryConfig,
    metrics: Arc<SinkMetrics>,
    dead: Arc<DeadLetters>,
}

fn endpoint(base: &str, path: &str, params: &[(&str, &str)]) -> Result<Url, SinkError> {
    let url = format!("{}/{path}", base.trim_end_matches('/'));
    Url::parse_with_params(&url, params).map_err(|e| SinkError::Config(format!("url: {e}")))
}

impl Writer {
    pub(crate) fn new(
        cfg: &InfluxConfig,
        metrics: Arc<SinkMetrics>,
        dead: Arc<DeadLetters>,
    ) -> Result<Self, SinkError> {
        let client = Client::builder().timeout(cfg.retry.request_timeout).build()?;
        let mut urls = Vec::with_capacity(2);
        for t in Target::ALL {
            let tc = cfg.target(t);
            let url = match &cfg.api {
                Api::V1 { .. } => {
                    let mut params = vec![("db", tc.database.as_str()), ("precision", "ns")];
                    if let Some(rp) = &tc.retention_policy {
                        params.push(("rp", rp.as_str()));
                    }
                    endpoint(&cfg.url, "write", &params)?
                }
                Api::V2 { org, .. } => endpoint(
                    &cfg.url,
                    "api/v2/write",
                    &[("org", org.as_str()), ("bucket", tc.database.as_str()), ("precision", "ns")],
                )?,
            };
            urls.push(url);
        }
        let write_urls: [Url; 2] = urls.try_into().map_err(|_| SinkError::Config("targets".into()))?;
        let (auth, basic, create_databases) = match &cfg.api {
            Api::V1 { user, password, create_databases } => {
                let basic = user.clone().map(|u| (u, password.as_ref().map(|p| p.expose().to_owned())));
                (None, basic, *create_databases)
            }
            Api::V2 { token, .. } => {
                let mut value = HeaderValue::from_str(&format!("Token {}", token.expose()))
                    .map_err(|_| SinkError::Config("token is not a valid header value".into()))?;
                value.set_sensitive(true);
                (Some(value), None, false)
            }
        };
        Ok(Self {
            client,
            write_urls,
            query_url: endpoint(&cfg.url, "query", &[])?,
            databases: [cfg.incremental.database.clone(), cfg.snapshot.database.clone()],
            auth,
            basic,
            create_databases,
            gzip: cfg.gzip,
            retry: cfg.retry.clone(),
            metrics,
            dead,
        })
    }

    /// v1 only: `CREATE DATABASE` (a no-op when it exists) for both targets.
    pub(crate) async fn create_databases(&self) -> Result<(), SinkError> {
        if !self.create_databases {
            return Ok(());
        }
        for db in &self.databases {
            self.create_database(db).await?;
        }
        Ok(())
    }

    async fn create_database(&self, db: &str) -> Result<(), SinkError> {
        let q = format!("CREATE DATABASE \"{}\"", db.replace('\\', "\\\\").replace('"', "\\\""));
        let mut req = self.client.post(self.query_url.clone()).form(&[("q", q.as_str())]);
        if let Some((user, password)) = &self.basic {
            req = req.basic_auth(user, password.as_ref());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(());
        }
        let message = resp.text().await.unwrap_or_default();
        Err(SinkError::Status { status, message: truncate(&message), retry_after: None })
    }

    /// One POST of an (already compressed, if configured) body.
    async fn post(&self, target: Target, body: Bytes) -> Result<(), SinkError> {
        let mut req = self
            .client
            .post(self.write_urls[target.index()].clone())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body);
        if self.gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        if let Some((user, password)) = &self.basic {
            req = req.basic_auth(user, password.as_ref());
        }
        let resp = req.send().await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let message = resp.text().await.unwrap_or_default();
        Err(SinkError::Status { status, message: truncate(&message), retry_after })
    }

    /// Delivers a batch: every line ends up acknowledged by the server or in a dead-letter
    /// file. Retryable failures are retried until they succeed; `failing` is true meanwhile.
    pub(crate) async fn deliver(self: Arc<Self>, batch: Batch, failing: Arc<AtomicBool>) {
        let mut pieces = std::collections::VecDeque::from([batch.body]);
        while let Some(piece) = pieces.pop_front() {
            match self.deliver_piece(batch.target, &piece, &failing).await {
                Piece::Done => {}
                Piece::Split => {
                    let (a, b) = split_half(&piece);
                    SinkMetrics::add(&self.metrics.batches_split, 1);
                    pieces.push_front(b);
                    pieces.push_front(a);
                }
            }
        }
    }

    async fn deliver_piece(&self, target: Target, piece: &Bytes, failing: &AtomicBool) -> Piece {
        let lines = count_lines(piece);
        let body = match self.gzip {
            true => loop {
                match gzip(piece) {
                    Ok(b) => break b,
                    Err(e) => {
                        tracing::error!(error = %e, "gzip failed; retrying");
                        tokio::time::sleep(self.retry.max_backoff).await;
                    }
                }
            },
            false => piece.clone(),
        };
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            let err = match self.post(target, body.clone()).await {
                Ok(()) => {
                    failing.store(false, Relaxed);
                    self.metrics.record_latency(started.elapsed());
                    SinkMetrics::add(&self.metrics.lines_written, lines);
                    SinkMetrics::add(&self.metrics.batches_written, 1);
                    return Piece::Done;
                }
                Err(e) => e,
            };
            let wait = match &err {
                SinkError::Status { status: 413, .. } if lines > 1 => return Piece::Split,
                SinkError::Status { status: 404, message, .. }
                    if self.create_databases && message.contains("database not found") =>
                {
                    let db = &self.databases[target.index()];
                    if let Err(e) = self.create_database(db).await {
                        tracing::warn!(error = %e, db, "cannot create database");
                    }
                    Some(self.backoff(attempt, None))
                }
                e if e.is_retryable() => {
                    let retry_after = match e {
                        SinkError::Status { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    Some(self.backoff(attempt, retry_after))
                }
                _ => None,
            };
            let Some(wait) = wait else {
                self.dead_letter(target, &err, piece, lines, failing).await;
                return Piece::Done;
            };
            if !failing.swap(true, Relaxed) || attempt % 20 == 0 {
                tracing::warn!(target = target.as_str(), error = %err, ?wait, attempt, "write failed; will retry");
            }
            SinkMetrics::add(&self.metrics.batches_retried, 1);
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(wait).await;
        }
    }

    async fn dead_letter(
        &self,
        target: Target,
        err: &SinkError,
        piece: &[u8],
        lines: u64,
        failing: &AtomicBool,
    ) {
        let (status, message) = match err {
            SinkError::Status { status, message, .. } => (*status, message.as_str()),
            _ => (0, "unknown"),
        };
        loop {
            match self.dead.batch(target, status, message, piece) {
                Ok(path) => {
                    tracing::error!(target = target.as_str(), status, message, lines, path = %path.display(),
                        "batch refused by the server; set aside in a dead-letter file");
                    SinkMetrics::add(&self.metrics.lines_dead_lettered, lines);
                    failing.store(false, Relaxed);
                    return;
                }
                Err(e) => {
                    // Not fatal and not dropped: keep the batch and try again.
                    failing.store(true, Relaxed);
                    tracing::error!(error = %e, "cannot write dead-letter file; retrying");
                    tokio::time::sleep(self.retry.max_backoff).await;
                }
            }
        }
    }

    /// Exponential backoff with jitter, or the server's `Retry-After` (capped).
    fn backoff(&self, attempt: u32, retry_after: Option<u64>) -> Duration {
        if let Some(secs) = retry_after {
            return Duration::from_secs(secs).min(self.retry.max_retry_after);
        }
        let base =
            self.retry.initial_backoff.saturating_mul(1u32 << attempt.min(20)).min(self.retry.max_backoff);
        // Jitter in [base/2, base] keeps many writers from retrying in lockstep.
        base.mul_f64(0.5 + fastrand::f64() / 2.0)
    }
}

enum Piece {
    Done,
    Split,
}

/// Offsets just past each line's newline. A string field value may hold a raw newline (line
/// protocol allows it), so lines are found by the encoder's grammar, not by every `\n`: the
/// series key has no raw backslash or newline (refused), and in the field section `"` only
/// delimits strings, inside which `\` escapes the next byte.
pub(crate) fn line_ends(body: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut i = 0;
    while i < body.len() {
        while i < body.len() && body[i] != b' ' {
            i += if body[i] == b'\\' { 2 } else { 1 };
        }
        let mut quoted = false;
        while i < body.len() {
            match body[i] {
                b'\\' if quoted => i += 2,
                b'"' => {
                    quoted = !quoted;
                    i += 1;
                }
                b'\n' if !quoted => {
                    i += 1;
                    ends.push(i);
                    break;
                }
                _ => i += 1,
            }
        }
    }
    ends
}

pub(crate) fn count_lines(body: &[u8]) -> u64 {
    line_ends(body).len() as u64
}

/// Two halves at the line boundary nearest the middle (by line count).
fn split_half(body: &Bytes) -> (Bytes, Bytes) {
    let ends = line_ends(body);
    let cut = ends.get((ends.len() / 2).saturating_sub(1)).copied().unwrap_or(body.len());
    (body.slice(..cut), body.slice(cut..))
}

fn gzip(body: &[u8]) -> Result<Bytes, SinkError> {
    use std::io::Write;
    let mut enc =
        flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    enc.write_all(body).map_err(SinkError::Gzip)?;
    enc.finish().map(Bytes::from).map_err(SinkError::Gzip)
}

fn truncate(message: &str) -> String {
    message.trim().chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn splits_at_line_boundaries() {
        let body = Bytes::from_static(b"a 1\nb 2\nc 3\n");
        let (a, b) = split_half(&body);
        assert_eq!((&a[..], &b[..]), (&b"a 1\n"[..], &b"b 2\nc 3\n"[..]));
        let body = Bytes::from_static(b"a 1\nb 2\n");
        let (a, b) = split_half(&body);
        assert_eq!((&a[..], &b[..]), (&b"a 1\n"[..], &b"b 2\n"[..]));
    }

    #[test]
    fn newlines_inside_strings_are_not_line_ends() {
        let body = Bytes::from_static(b"m,t=a\\ \"b f=\"x\ny \\\" \\\\\",g=1i 5\nm f=\"\n\" 6\nm f=1 7\n");
        assert_eq!(count_lines(&body), 3);
        let (a, b) = split_half(&body);
        assert_eq!(count_lines(&a), 1);
        assert_eq!(count_lines(&b), 2);
        assert!(b.starts_with(b"m f=\"\n"));
    }
}
