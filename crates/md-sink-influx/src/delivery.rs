//! [`InfluxDelivery`]: HTTP writes to InfluxDB (v1 and v2) and what each answer means for the
//! sink core: stored, retry (with `Retry-After`), split (413) or refused (other 4xx).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use md_pipeline::sink::core::{Delivery, Outcome};
use md_pipeline::BoxError;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, Url};

use crate::config::{Api, InfluxConfig, Secret};
use crate::encode::Target;
use crate::error::{is_retryable_status, InfluxError};

/// Sends batches of lines to InfluxDB; one lane per [`Target`] (`incremental`, `snapshot`).
/// Encoding-independent: it only needs whole lines.
#[derive(Debug)]
pub struct InfluxDelivery {
    client: Client,
    write_urls: [Url; 2],
    query_url: Url,
    databases: [String; 2],
    auth: Option<HeaderValue>,
    /// User and password: a [`Secret`], so that `Debug` cannot print it.
    basic: Option<(String, Option<Secret>)>,
    create_databases: bool,
    gzip: bool,
}

fn endpoint(base: &str, path: &str, params: &[(&str, &str)]) -> Result<Url, InfluxError> {
    let url = format!("{}/{path}", base.trim_end_matches('/'));
    Url::parse_with_params(&url, params).map_err(|e| InfluxError::Config(format!("url: {e}")))
}

impl InfluxDelivery {
    /// The URLs, credentials and HTTP client of a config.
    pub fn new(cfg: &InfluxConfig) -> Result<Self, InfluxError> {
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
        let write_urls: [Url; 2] = urls.try_into().map_err(|_| InfluxError::Config("targets".into()))?;
        let (auth, basic, create_databases) = match &cfg.api {
            Api::V1 { user, password, create_databases } => {
                let basic = user.clone().map(|u| (u, password.clone()));
                (None, basic, *create_databases)
            }
            Api::V2 { token, .. } => {
                let mut value = HeaderValue::from_str(&format!("Token {}", token.expose()))
                    .map_err(|_| InfluxError::Config("token is not a valid header value".into()))?;
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
        })
    }

    /// v1 only: `CREATE DATABASE` (a no-op when it exists) for both targets.
    pub async fn create_databases(&self) -> Result<(), InfluxError> {
        if !self.create_databases {
            return Ok(());
        }
        for db in &self.databases {
            self.create_database(db).await?;
        }
        Ok(())
    }

    async fn create_database(&self, db: &str) -> Result<(), InfluxError> {
        let q = format!("CREATE DATABASE \"{}\"", db.replace('\\', "\\\\").replace('"', "\\\""));
        let mut req = self.client.post(self.query_url.clone()).form(&[("q", q.as_str())]);
        if let Some((user, password)) = &self.basic {
            req = req.basic_auth(user, password.as_ref().map(Secret::expose));
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(());
        }
        let message = resp.text().await.unwrap_or_default();
        Err(InfluxError::Status { status, message: truncate(&message), retry_after: None })
    }

    /// One POST of an (already compressed, if configured) body.
    async fn post(&self, target: Target, body: Bytes) -> Result<(), InfluxError> {
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
            req = req.basic_auth(user, password.as_ref().map(Secret::expose));
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
        Err(InfluxError::Status { status, message: truncate(&message), retry_after })
    }

    /// What an answer means: 413 splits (a single line: refused), "database not found"
    /// creates the database (v1) and retries, 408/429/5xx and network errors retry (after the
    /// server's `Retry-After`), every other status is refused for good.
    async fn classify(&self, target: Target, records: u32, err: InfluxError) -> Outcome {
        let retry = |after: Option<u64>, err: &InfluxError| Outcome::Retry {
            after: after.map(Duration::from_secs),
            error: err.to_string(),
        };
        match &err {
            InfluxError::Status { status: 413, .. } if records > 1 => Outcome::Split,
            InfluxError::Status { status: 404, message, .. }
                if self.create_databases && message.contains("database not found") =>
            {
                let db = &self.databases[target.index()];
                if let Err(e) = self.create_database(db).await {
                    tracing::warn!(error = %e, db, "cannot create database");
                }
                retry(None, &err)
            }
            InfluxError::Status { status, retry_after, .. } if is_retryable_status(*status) => {
                retry(*retry_after, &err)
            }
            InfluxError::Status { status, message, .. } => {
                Outcome::Reject { status: status.to_string(), message: message.clone() }
            }
            _ if err.is_retryable() => retry(None, &err),
            _ => Outcome::Reject { status: "error".into(), message: err.to_string() },
        }
    }
}

#[async_trait]
impl Delivery for InfluxDelivery {
    fn lanes(&self) -> Vec<String> {
        Target::ALL.iter().map(|t| t.as_str().to_owned()).collect()
    }

    async fn deliver(&self, lane: usize, body: &Bytes, records: u32) -> Outcome {
        let Some(&target) = Target::ALL.get(lane) else {
            return Outcome::Reject { status: "lane".into(), message: format!("no target for lane {lane}") };
        };
        let payload = match self.gzip {
            // Milliseconds of CPU for a 5000-line batch: off the runtime's workers, so the
            // drivers sharing them go on reading meanwhile.
            true => {
                let body = body.clone();
                match tokio::task::spawn_blocking(move || gzip(&body)).await {
                    Ok(Ok(b)) => b,
                    Ok(Err(e)) => return Outcome::Retry { after: None, error: e.to_string() },
                    Err(e) => return Outcome::Retry { after: None, error: format!("gzip task: {e}") },
                }
            }
            false => body.clone(),
        };
        match self.post(target, payload).await {
            Ok(()) => Outcome::Done,
            Err(e) => self.classify(target, records, e).await,
        }
    }

    fn split(&self, body: &Bytes) -> Option<(Bytes, Bytes)> {
        let (a, b) = split_half(body);
        (!a.is_empty() && !b.is_empty()).then_some((a, b))
    }

    fn count(&self, body: &[u8]) -> u32 {
        u32::try_from(count_lines(body)).unwrap_or(u32::MAX)
    }

    async fn prepare(&self) -> Result<(), BoxError> {
        self.create_databases().await.map_err(BoxError::from)
    }

    fn dead_letter_format(&self, lane: &str, status: &str, message: &str) -> (Vec<u8>, &'static str) {
        (dead_letter_header(lane, status, message), "lp")
    }
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

/// Lines in a body.
pub(crate) fn count_lines(body: &[u8]) -> u64 {
    line_ends(body).len() as u64
}

/// Two halves at the line boundary nearest the middle (by line count).
fn split_half(body: &Bytes) -> (Bytes, Bytes) {
    let ends = line_ends(body);
    let cut = ends.get((ends.len() / 2).saturating_sub(1)).copied().unwrap_or(body.len());
    (body.slice(..cut), body.slice(cut..))
}

/// The dead-letter header: comment lines are valid line protocol, so a fixed file can be
/// posted back as it is.
pub(crate) fn dead_letter_header(lane: &str, status: &str, message: &str) -> Vec<u8> {
    let one_line: String = message.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    format!("# md dead letter\n# target: {lane}\n# status: {status}\n# message: {one_line}\n").into_bytes()
}

fn gzip(body: &[u8]) -> Result<Bytes, InfluxError> {
    use std::io::Write;
    let mut enc =
        flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    enc.write_all(body).map_err(InfluxError::Gzip)?;
    enc.finish().map(Bytes::from).map_err(InfluxError::Gzip)
}

fn truncate(message: &str) -> String {
    message.trim().chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn credentials_never_print() {
        let v1 = Api::V1 {
            user: Some("md".into()),
            password: Some(Secret::new("hunter2")),
            create_databases: true,
        };
        let v2 = Api::V2 { org: "o".into(), token: Secret::new("s3cr3t-token") };
        for api in [v1, v2] {
            let cfg = InfluxConfig::new("http://127.0.0.1:1", api, "/tmp");
            let text = format!("{:?}", InfluxDelivery::new(&cfg).unwrap());
            assert!(!text.contains("hunter2") && !text.contains("s3cr3t"), "{text}");
        }
    }

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
