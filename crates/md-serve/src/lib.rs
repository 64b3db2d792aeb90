//! md-serve: the merged order-book server.
//!
//! A consumer on md's spine: it reads which verified books changed (a `Conflate` queue), merges
//! each requested symbol's books across venues ([`merge`]) into rows of one venue's level at
//! one price, with exact decimal prices, and streams the result to clients — over gRPC
//! (`orderbook.Aggregator`, [`grpc`]) and to a web page over Server-Sent Events ([`http`]).
//!
//! - On demand ([`hub`]): the first client of a symbol subscribes it on every venue listing
//!   it; the last one leaving releases it after a grace period. An unknown symbol is refused
//!   before anything is subscribed.
//! - Right, or marked: only venues in sync contribute levels; the others are listed with their
//!   state (syncing, stale, disconnected) and why. A crossed merged book is flagged.
//! - Clients cannot hurt each other: a summary is a state, published through a `watch`
//!   channel, so a slow client reads the newest one and skips the rest (the sequence number
//!   says how many), holding back nobody.
#![forbid(unsafe_code)]

pub mod auth;
pub mod convert;
pub mod error;
pub mod feed;
pub mod grpc;
pub mod http;
pub mod hub;
pub mod limit;
pub mod merge;
pub mod metrics;
pub mod server;
pub mod stream;

pub use auth::Token;
pub use error::ServeError;
pub use http::ProcessHealth;
pub use hub::{Ask, BookView, Hub, HubConfig, DEFAULT_DEPTH, MAX_DEPTH};
pub use merge::{merge, Ladder, Row, VenueBook, VenueStatus};
pub use metrics::ServeMetrics;
pub use server::{BookServer, ServeConfig, TlsFiles};
