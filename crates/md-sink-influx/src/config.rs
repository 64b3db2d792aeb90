//! [`InfluxConfig`] and the [`Secret`] it holds credentials in.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use md_pipeline::sink::core::{self, CoreConfig, MemoryOverflow};

use crate::encode::{SchemaConfig, Target};
use crate::error::InfluxError;

/// Environment variable with the v2 API token.
pub const ENV_TOKEN: &str = "MD_INFLUX_TOKEN";
/// Environment variable with a path to a file holding the v2 API token.
pub const ENV_TOKEN_FILE: &str = "MD_INFLUX_TOKEN_FILE";
/// Environment variable with the v1 API user name.
pub const ENV_USER: &str = "MD_INFLUX_USER";
/// Environment variable with the v1 API password.
pub const ENV_PASSWORD: &str = "MD_INFLUX_PASSWORD";
/// Environment variable with a path to a file holding the v1 API password.
pub const ENV_PASSWORD_FILE: &str = "MD_INFLUX_PASSWORD_FILE";

/// A credential. Its `Debug` and `Display` print `***`, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads a secret file; one trailing newline (as editors write) is dropped.
    pub fn from_file(path: &Path) -> Result<Self, InfluxError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| InfluxError::Secret { source_name: path.display().to_string(), source })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        Ok(Self(text.strip_suffix('\r').unwrap_or(text).to_owned()))
    }

    /// The value of env `var`, else the content of the file named by env `file_var`, else `None`.
    pub fn from_env_or_file(var: &str, file_var: &str) -> Result<Option<Self>, InfluxError> {
        if let Ok(value) = std::env::var(var) {
            return Ok(Some(Self(value)));
        }
        match std::env::var_os(file_var) {
            Some(path) => Self::from_file(Path::new(&path)).map(Some),
            None => Ok(None),
        }
    }

    /// The clear value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Which write API, with its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Api {
    /// InfluxDB 1.x: `POST /write?db=&rp=&precision=ns`, HTTP basic auth when a user is set.
    V1 {
        /// User name, if the server has auth enabled.
        user: Option<String>,
        /// Password of `user`.
        password: Option<Secret>,
        /// Create the databases (`CREATE DATABASE`, idempotent) at start and when a write answers
        /// "database not found".
        create_databases: bool,
    },
    /// InfluxDB 2.x: `POST /api/v2/write?org=&bucket=&precision=ns`, `Authorization: Token …`.
    V2 {
        /// Organization name.
        org: String,
        /// API token.
        token: Secret,
    },
}

impl Api {
    /// v1 credentials from `MD_INFLUX_USER` and `MD_INFLUX_PASSWORD` / `MD_INFLUX_PASSWORD_FILE`
    /// (both optional); databases are created when missing.
    pub fn v1_from_env() -> Result<Self, InfluxError> {
        Ok(Self::V1 {
            user: std::env::var(ENV_USER).ok(),
            password: Secret::from_env_or_file(ENV_PASSWORD, ENV_PASSWORD_FILE)?,
            create_databases: true,
        })
    }

    /// v2 credentials: the token from `MD_INFLUX_TOKEN` or `MD_INFLUX_TOKEN_FILE` (required).
    pub fn v2_from_env(org: impl Into<String>) -> Result<Self, InfluxError> {
        let token = Secret::from_env_or_file(ENV_TOKEN, ENV_TOKEN_FILE)?
            .ok_or_else(|| InfluxError::Config(format!("v2 API needs {ENV_TOKEN} or {ENV_TOKEN_FILE}")))?;
        Ok(Self::V2 { org: org.into(), token })
    }
}

/// Where one target's lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// v1 database, or v2 bucket.
    pub database: String,
    /// v1 retention policy (`rp=`); `None` uses the database's default. Ignored by v2.
    pub retention_policy: Option<String>,
}

impl TargetConfig {
    /// A target with the database's default retention policy.
    pub fn new(database: impl Into<String>) -> Self {
        Self { database: database.into(), retention_policy: None }
    }
}

/// Retry timing for retryable failures (network, 408, 429, 5xx), as the sink core's
/// [`core::RetryConfig`] plus the HTTP request timeout. Retries never stop while running:
/// memory pressure moves waiting batches to the spool instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// First backoff. Default 100 ms; doubles per attempt, with jitter.
    pub initial_backoff: Duration,
    /// Backoff cap. Default 30 s.
    pub max_backoff: Duration,
    /// Cap on a server's `Retry-After`. Default 300 s.
    pub max_retry_after: Duration,
    /// Timeout of one HTTP request. Default 30 s.
    pub request_timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryConfig {
    /// The sink core's part.
    pub fn core(&self) -> core::RetryConfig {
        core::RetryConfig {
            initial_backoff: self.initial_backoff,
            max_backoff: self.max_backoff,
            max_retry_after: self.max_retry_after,
        }
    }
}

/// What happens when sealed batches waiting for the database exceed `memory_limit_bytes`:
/// the sink core's [`MemoryOverflow`]. `SpillToDisk` (default) moves the oldest waiting batches
/// to the disk spool (`records_spooled`, `overflow_spills`); when the spool is at
/// `spool_limit_bytes` or unwritable, input stops (backpressure, `overflow_backpressure`).
/// `Backpressure` never spools: input stops until memory is below the limit.
pub type OverflowPolicy = MemoryOverflow;

/// Everything the [`crate::Buffer`] needs.
#[derive(Debug, Clone)]
pub struct InfluxConfig {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// API version and credentials.
    pub api: Api,
    /// Trades, book incrementals and status events. Default database/bucket `md_incremental`.
    pub incremental: TargetConfig,
    /// Book snapshots. Default database/bucket `md_snapshot`.
    pub snapshot: TargetConfig,
    /// Measurement names, snapshot depth, decimal format.
    pub schema: SchemaConfig,
    /// A batch is sealed at this many lines. Default 5000.
    pub batch_lines: usize,
    /// A batch is sealed when its body reaches this many bytes. Default 4 MiB.
    pub batch_bytes: usize,
    /// A batch is sealed when its first line has waited this long. Default 1 s.
    pub linger: Duration,
    /// Gzip request bodies. Default true.
    pub gzip: bool,
    /// Backoff and timeouts.
    pub retry: RetryConfig,
    /// Spool segments. Default `<data_dir>/spool`.
    pub spool_dir: PathBuf,
    /// Dead-letter files. Default `<data_dir>/dead-letter`.
    pub dead_letter_dir: PathBuf,
    /// Bytes of sealed batches kept in memory before the overflow policy applies. Default 256 MiB.
    pub memory_limit_bytes: usize,
    /// Spool size limit. Default 64 GiB.
    pub spool_limit_bytes: u64,
    /// What to do above `memory_limit_bytes`.
    pub overflow: OverflowPolicy,
    /// At shutdown, how long to keep trying the database before spooling the rest. Default 10 s.
    pub shutdown_timeout: Duration,
}

impl InfluxConfig {
    /// Defaults (see each field) for a server, an API and a data directory.
    pub fn new(url: impl Into<String>, api: Api, data_dir: impl AsRef<Path>) -> Self {
        let data_dir = data_dir.as_ref();
        Self {
            url: url.into(),
            api,
            incremental: TargetConfig::new("md_incremental"),
            snapshot: TargetConfig::new("md_snapshot"),
            schema: SchemaConfig::default(),
            batch_lines: 5000,
            batch_bytes: 4 << 20,
            linger: Duration::from_secs(1),
            gzip: true,
            retry: RetryConfig::default(),
            spool_dir: data_dir.join("spool"),
            dead_letter_dir: data_dir.join("dead-letter"),
            memory_limit_bytes: 256 << 20,
            spool_limit_bytes: 64 << 30,
            overflow: OverflowPolicy::SpillToDisk,
            shutdown_timeout: Duration::from_secs(10),
        }
    }

    /// The database/bucket settings of a target.
    pub fn target(&self, target: Target) -> &TargetConfig {
        match target {
            Target::Incremental => &self.incremental,
            Target::Snapshot => &self.snapshot,
        }
    }

    /// The sink core's settings: spool under `spool_dir/<target>/`, dead letters in
    /// `dead_letter_dir`.
    pub fn core_config(&self) -> CoreConfig {
        let mut core = CoreConfig::new(&self.dead_letter_dir);
        core.batch_records = self.batch_lines;
        core.batch_bytes = self.batch_bytes;
        core.linger = self.linger;
        core.retry = self.retry.core();
        core.spool_dir = Some(self.spool_dir.clone());
        core.memory_limit_bytes = self.memory_limit_bytes;
        core.spool_limit_bytes = self.spool_limit_bytes;
        core.overflow = self.overflow;
        core.shutdown_timeout = self.shutdown_timeout;
        core
    }

    /// Checks limits and names.
    pub fn validate(&self) -> Result<(), InfluxError> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| InfluxError::Config(format!("url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InfluxError::Config("url must be http or https".into()));
        }
        if self.batch_lines == 0 || self.batch_bytes == 0 {
            return Err(InfluxError::Config("batch_lines and batch_bytes must be > 0".into()));
        }
        self.core_config().validate().map_err(InfluxError::Config)?;
        for t in Target::ALL {
            if self.target(t).database.is_empty() {
                return Err(InfluxError::Config(format!("{} database/bucket is empty", t.as_str())));
            }
        }
        if let Api::V2 { org, .. } = &self.api {
            if org.is_empty() {
                return Err(InfluxError::Config("v2 org is empty".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_never_print() {
        let api = Api::V2 { org: "o".into(), token: Secret::new("hunter2") };
        let cfg = InfluxConfig::new("http://x", api, "/tmp");
        let text = format!("{cfg:?} {}", Secret::new("hunter2"));
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn secret_file_drops_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "abc");
    }
}
