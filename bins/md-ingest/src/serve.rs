//! The merged-book server's flags and settings, shared by `md-ingest --grpc-addr` (the server
//! beside the recording: one set of venue connections, one REST budget) and `md-serve` (the
//! server alone). Flags, `MD_…` variables and a `[serve]` table in the config file, checked
//! into an [`md_serve::ServeConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use md_serve::{HubConfig, ServeConfig, TlsFiles, Token};
use serde::Deserialize;

use crate::settings::{parse_duration, usage, UsageError};

/// The merged-book server's flags.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// Serve the merged order book over gRPC here (md-serve default 127.0.0.1:9051; beyond
    /// loopback only with --tls-cert, --tls-key and a token).
    #[arg(long, env = "MD_GRPC_ADDR", value_name = "ADDR")]
    pub grpc_addr: Option<String>,

    /// Serve the web page, /metrics and /healthz here (md-serve default 127.0.0.1:9052; 0 = off).
    #[arg(long, env = "MD_HTTP_ADDR", value_name = "ADDR")]
    pub http_addr: Option<String>,

    /// A file holding the bearer token clients must present (or set MD_SERVE_TOKEN).
    #[arg(long, env = "MD_SERVE_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// TLS certificate chain for gRPC (PEM).
    #[arg(long, env = "MD_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key for gRPC (PEM).
    #[arg(long, env = "MD_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Client streams served at once, over every symbol (default 4096).
    #[arg(long, env = "MD_MAX_CLIENTS", value_name = "N")]
    pub max_clients: Option<String>,

    /// Symbols one gRPC connection may stream at once (default 16).
    #[arg(long, env = "MD_MAX_SYMBOLS_PER_CLIENT", value_name = "N")]
    pub max_symbols_per_client: Option<String>,

    /// How long a symbol stays subscribed after its last client left, e.g. 30s (default 30s).
    #[arg(long, env = "MD_GRACE", value_name = "DURATION")]
    pub grace: Option<String>,
}

/// The `[serve]` table of the config file: the flags' names with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServeFile {
    grpc_addr: Option<String>,
    http_addr: Option<String>,
    token_file: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_clients: Option<toml::Value>,
    max_symbols_per_client: Option<toml::Value>,
    grace: Option<String>,
}

fn text(value: Option<toml::Value>) -> Option<String> {
    value.map(|v| match v {
        toml::Value::String(s) => s,
        toml::Value::Integer(n) => n.to_string(),
        other => format!("{other:?}"),
    })
}

/// Which program asks: md-serve serves by default; md-ingest only when `--grpc-addr` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServeMode {
    /// md-ingest: no server unless `--grpc-addr`.
    #[default]
    BesideRecording,
    /// md-serve: gRPC and HTTP on their default loopback ports.
    Alone,
}

/// The checked server settings, or `None` when md-ingest was not asked to serve.
pub(crate) fn resolve(
    args: ServeArgs,
    file: Option<ServeFile>,
    mode: ServeMode,
) -> Result<Option<ServeConfig>, UsageError> {
    let file = file.unwrap_or_default();
    let defaults = ServeConfig::default();
    let grpc = args.grpc_addr.or(file.grpc_addr);
    if grpc.is_none() && mode == ServeMode::BesideRecording {
        return Ok(None);
    }
    let grpc_addr = match grpc {
        Some(text) => addr(&text, "--grpc-addr")?,
        None => defaults.grpc_addr,
    };
    let http_addr = match args.http_addr.or(file.http_addr) {
        Some(text) => addr(&text, "--http-addr")?,
        None if mode == ServeMode::Alone => defaults.http_addr,
        None => None,
    };
    let token = token(args.token_file.or(file.token_file))?;
    let tls = match (args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key)) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => return usage("--tls-cert and --tls-key go together: give both PEM files, or neither"),
    };
    let max_streams = count(args.max_clients.or(text(file.max_clients)), "--max-clients", 4096)?;
    let per_client = count(
        args.max_symbols_per_client.or(text(file.max_symbols_per_client)),
        "--max-symbols-per-client",
        16,
    )?;
    let grace = match args.grace.or(file.grace) {
        Some(text) => parse_duration(&text, "--grace")?.unwrap_or(Duration::ZERO),
        None => defaults.hub.grace,
    };
    let config = ServeConfig {
        grpc_addr,
        http_addr,
        hub: HubConfig { grace, max_streams, on_demand: true },
        // A client needs a connection per stream at most.
        max_connections: max_streams,
        max_symbols_per_client: u32::try_from(per_client).unwrap_or(u32::MAX),
        keepalive: defaults.keepalive,
        token,
        tls,
    };
    config.check().map_err(UsageError)?;
    Ok(Some(config))
}

/// An address, or `None` for `0`/`off`.
fn addr(text: &str, flag: &str) -> Result<Option<SocketAddr>, UsageError> {
    match text.trim() {
        "0" | "off" => Ok(None),
        t => t.parse().map(Some).or_else(|_| {
            usage(format!(
                "{flag} {text:?} is not an address; valid: e.g. 127.0.0.1:9051, [::1]:9051, or 0 (off)"
            ))
        }),
    }
}

fn count(text: Option<String>, flag: &str, default: usize) -> Result<usize, UsageError> {
    match text {
        None => Ok(default),
        Some(t) => match t.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => usage(format!("{flag} {t:?} is not a count; valid: a whole number from 1")),
        },
    }
}

/// The token from `MD_SERVE_TOKEN` or a file, never from argv.
fn token(file: Option<PathBuf>) -> Result<Token, UsageError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path)
            .or_else(|e| usage(format!("cannot read the token file {}: {e}", path.display())))?;
        if text.trim().is_empty() {
            return usage(format!("the token file {} is empty", path.display()));
        }
        return Ok(Token::required(&text));
    }
    match std::env::var("MD_SERVE_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Ok(Token::required(&t)),
        _ => Ok(Token::none()),
    }
}
