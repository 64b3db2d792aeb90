//! Starting and stopping a book server: the hub, its place on the spine, the gRPC listener and
//! the HTTP listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use md_core::BookSet;
use md_driver::DriverHandle;
use md_pipeline::Subscription;
use md_proto::orderbook::aggregator_server::AggregatorServer;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::auth::Token;
use crate::error::ServeError;
use crate::grpc::AggregatorService;
use crate::http::ProcessHealth;
use crate::hub::{Hub, HubConfig};
use crate::limit::LimitedListener;
use crate::metrics::ServeMetrics;

/// The largest request a client may send (a symbol, a depth and a few venue names).
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// A PEM certificate chain and key for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
}

/// How a book server listens and what it allows.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// gRPC address; `None`: no gRPC.
    pub grpc_addr: Option<SocketAddr>,
    /// HTTP address (page, SSE, `/metrics`, `/healthz`); `None`: no HTTP.
    pub http_addr: Option<SocketAddr>,
    /// Grace period and client limit.
    pub hub: HubConfig,
    /// Connections each listener holds at once; past it new ones are closed on accept.
    pub max_connections: usize,
    /// Symbols (streams) one gRPC connection may carry at once.
    pub max_symbols_per_client: u32,
    /// HTTP/2 keepalive ping interval: a half-open client is dropped after two without answer.
    pub keepalive: Duration,
    /// The bearer token clients must present, if any.
    pub token: Token,
    /// TLS for gRPC, required (with a token) beyond loopback.
    pub tls: Option<TlsFiles>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            grpc_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9051))),
            http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9052))),
            hub: HubConfig::default(),
            max_connections: 4096,
            max_symbols_per_client: 16,
            keepalive: Duration::from_secs(20),
            token: Token::none(),
            tls: None,
        }
    }
}

impl ServeConfig {
    /// Refuses to serve beyond loopback without TLS and a token (gRPC) or a token (HTTP).
    pub fn check(&self) -> Result<(), String> {
        if let Some(addr) = self.grpc_addr {
            if !addr.ip().is_loopback() && (self.tls.is_none() || !self.token.is_set()) {
                return Err(format!(
                    "gRPC on {addr} is beyond loopback: give --tls-cert, --tls-key and a token (MD_SERVE_TOKEN or --token-file), or bind 127.0.0.1"
                ));
            }
        }
        if let Some(addr) = self.http_addr {
            if !addr.ip().is_loopback() && !self.token.is_set() {
                return Err(format!(
                    "HTTP on {addr} is beyond loopback: give a token (MD_SERVE_TOKEN or --token-file), or bind 127.0.0.1"
                ));
            }
        }
        Ok(())
    }
}

/// A running book server.
#[derive(Debug)]
pub struct BookServer {
    /// Where gRPC listens (the bound port when 0 was asked for).
    pub grpc_addr: Option<SocketAddr>,
    /// Where HTTP listens.
    pub http_addr: Option<SocketAddr>,
    hub: Arc<Hub>,
    tasks: JoinSet<()>,
}

impl BookServer {
    /// Binds the listeners and starts serving `drivers`' books from `books`, with `feed` (a
    /// `Conflate` queue on the spine) telling which books changed. Runs until `cancel`.
    pub async fn start(
        config: ServeConfig,
        drivers: Vec<DriverHandle>,
        books: Arc<BookSet>,
        feed: Subscription,
        process: Option<Arc<dyn ProcessHealth>>,
        cancel: CancellationToken,
    ) -> Result<Self, ServeError> {
        let hub = Hub::new(drivers, books, config.hub.clone(), Arc::new(ServeMetrics::default()));
        let mut tasks = JoinSet::new();
        let grpc_addr = match config.grpc_addr {
            Some(addr) => Some(start_grpc(&config, addr, &hub, &cancel, &mut tasks).await?),
            None => None,
        };
        let http_addr = match config.http_addr {
            Some(addr) => {
                let listener = bind(addr).await?;
                let bound = listener.local_addr().map_err(|source| ServeError::Listen { addr, source })?;
                let router = crate::http::router(Arc::clone(&hub), config.token.clone(), process);
                let listener =
                    LimitedListener::new(listener, config.max_connections, Arc::clone(hub.metrics()));
                let stop = cancel.clone();
                tasks.spawn(async move {
                    let served =
                        axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "HTTP server failed");
                    }
                });
                tracing::info!(addr = %bound, "serving the merged-book page, /metrics and /healthz");
                Some(bound)
            }
            None => None,
        };
        let feed_hub = Arc::clone(&hub);
        tasks.spawn(async move {
            crate::feed::run(Arc::clone(&feed_hub), feed, cancel).await;
            // Ends every client stream, so that both listeners can shut down.
            feed_hub.close_all().await;
        });
        Ok(Self { grpc_addr, http_addr, hub, tasks })
    }

    /// The hub (clients, topics, counters).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Waits for the server to stop after its cancel token fired.
    pub async fn stopped(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|source| ServeError::Listen { addr, source })
}

async fn start_grpc(
    config: &ServeConfig,
    addr: SocketAddr,
    hub: &Arc<Hub>,
    cancel: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Result<SocketAddr, ServeError> {
    let listener = bind(addr).await?;
    let bound = listener.local_addr().map_err(|source| ServeError::Listen { addr, source })?;
    let service = AggregatorServer::new(AggregatorService::new(Arc::clone(hub), config.token.clone()))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<AggregatorServer<AggregatorService>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(md_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(config.keepalive))
        .http2_keepalive_timeout(Some(config.keepalive))
        .max_concurrent_streams(Some(config.max_symbols_per_client));
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls_config(tls)?)?;
    }
    let router = builder.add_service(health).add_service(reflection).add_service(service);
    let incoming =
        LimitedListener::new(listener, config.max_connections, Arc::clone(hub.metrics())).into_stream();
    let stop = cancel.clone();
    tasks.spawn(async move {
        if let Err(e) = router.serve_with_incoming_shutdown(incoming, stop.cancelled_owned()).await {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });
    tracing::info!(addr = %bound, tls = config.tls.is_some(), token = config.token.is_set(), "serving gRPC orderbook.Aggregator");
    Ok(bound)
}

fn tls_config(tls: &TlsFiles) -> Result<tonic::transport::ServerTlsConfig, ServeError> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| ServeError::Tls(format!("cannot read {}: {e}", path.display())))
    };
    let identity = tonic::transport::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
    Ok(tonic::transport::ServerTlsConfig::new().identity(identity))
}
