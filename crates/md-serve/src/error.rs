//! The one error type of md-serve.

/// Why a client's request or the server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// No venue lists the symbol (or none of the venues asked for does).
    #[error("no venue lists {symbol:?}{venues}; ask for a canonical symbol like BTC-USDT or its concatenated form like btcusdt")]
    NotFound {
        /// What was asked for.
        symbol: String,
        /// ` among binance, bybit` when the request named venues.
        venues: String,
    },
    /// Beside a recording of chosen symbols, only those are served.
    #[error("{symbol} is not recorded by this process, and a recording is not changed by its viewers; ask for a recorded symbol, or run md-serve")]
    NotRecorded {
        /// The symbol asked for.
        symbol: String,
    },
    /// A request field is out of range or names an unknown venue.
    #[error("{0}")]
    InvalidArgument(String),
    /// The server already serves its maximum of client streams.
    #[error("the server serves its maximum of {limit} client streams; try again later")]
    TooManyClients {
        /// The limit.
        limit: usize,
    },
    /// No or a wrong bearer token.
    #[error("missing or wrong bearer token")]
    Unauthenticated,
    /// A venue driver stopped (the process is shutting down).
    #[error("a venue driver has stopped: {0}")]
    Driver(#[source] md_driver::SubscribeError),
    /// The gRPC or HTTP listener failed.
    #[error("cannot serve on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be read.
    #[error("TLS: {0}")]
    Tls(String),
    /// The reflection service could not be built from the contract's descriptor set.
    #[error("gRPC reflection: {0}")]
    Reflection(String),
    /// The gRPC transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}
