//! [`InfluxError`]: the one error type of this crate (encoding, config, HTTP, files).

use std::path::PathBuf;

/// Everything that can go wrong between a [`md_core::DataPacket`] and InfluxDB or a line file.
/// (Why a whole run stopped is [`md_pipeline::SinkError`], which the sinks' `run` returns.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InfluxError {
    /// A name or value cannot be written in line protocol (see the README's escaping rules).
    #[error("cannot encode {what} {value:?}: {reason}")]
    Encode {
        /// Which position of the line (measurement, tag value, ...).
        what: &'static str,
        /// The offending text (truncated to 64 chars).
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A float field was NaN or infinite: InfluxDB cannot store it.
    #[error("field {field:?} is not finite")]
    NonFinite {
        /// Field key.
        field: String,
    },
    /// A line ended up with no fields; InfluxDB refuses such lines.
    #[error("line has no fields")]
    NoFields,
    /// The configuration is unusable.
    #[error("invalid config: {0}")]
    Config(String),
    /// A secret could not be read from its file or environment variable.
    #[error("cannot read secret from {source_name}: {source}")]
    Secret {
        /// The variable or path the secret was read from (never its value).
        source_name: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP request could not be sent or answered (connection refused, timeout, ...).
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status.
    #[error("server answered {status}: {message}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The server's error message (truncated).
        message: String,
        /// Seconds asked for by a `Retry-After` header.
        retry_after: Option<u64>,
    },
    /// Reading or writing the spool, dead-letter files or their directories failed.
    #[error("io on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// Gzip compression of a batch failed.
    #[error("gzip: {0}")]
    Gzip(#[source] std::io::Error),
    /// The sink core refused the setup (its config, or the dead-letter directory).
    #[error("sink core: {0}")]
    Core(#[source] md_pipeline::SinkError),
}

impl InfluxError {
    /// Whether sending the same batch again later may succeed: network errors, 408, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http(_) => true,
            Self::Status { status, .. } => is_retryable_status(*status),
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn encode(what: &'static str, value: &str, reason: &'static str) -> Self {
        Self::Encode { what, value: value.chars().take(64).collect(), reason }
    }
}

/// 408, 429 and every 5xx are worth retrying; other statuses will fail the same way again.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}
