//! md-proto: the merged order-book contract of md-serve, generated from
//! `proto/orderbook.proto` at build time with no system `protoc`.
//!
//! [`orderbook`] holds the messages ([`orderbook::Summary`], [`orderbook::Level`], ...), the
//! client ([`orderbook::aggregator_client::AggregatorClient`]) and the server trait
//! ([`orderbook::aggregator_server::Aggregator`]). Prices, amounts and the spread are exact
//! decimal strings.
#![forbid(unsafe_code)]

/// The `orderbook` protobuf package: messages, client and server.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod orderbook {
    tonic::include_proto!("orderbook");
}

/// The encoded `FileDescriptorSet` of `proto/orderbook.proto`, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/orderbook_descriptor.bin"));
