//! Binance stream names and SUBSCRIBE messages.

use md_core::{Channel, SymbolInfo};

/// Streams per SUBSCRIBE message: keeps each control message small; the driver paces them at
/// the venue's 5 messages/s.
pub(super) const STREAMS_PER_MESSAGE: usize = 200;

/// `nknusdt@trade`, `nknusdt@depth@100ms`: stream names are lower case.
pub(super) fn topics(symbol: &SymbolInfo, channel: Channel) -> Vec<String> {
    let market = symbol.native.to_ascii_lowercase();
    match channel {
        Channel::Trades => vec![format!("{market}@trade")],
        Channel::Book => vec![format!("{market}@depth@100ms")],
    }
}

/// `{"method":"SUBSCRIBE","params":[...],"id":N}`, one per [`STREAMS_PER_MESSAGE`] streams.
pub(super) fn subscribe_messages(topics: &[String]) -> Vec<String> {
    requests("SUBSCRIBE", topics)
}

/// `{"method":"UNSUBSCRIBE","params":[...],"id":N}`.
pub(super) fn unsubscribe_messages(topics: &[String]) -> Vec<String> {
    requests("UNSUBSCRIBE", topics)
}

fn requests(method: &str, topics: &[String]) -> Vec<String> {
    topics
        .chunks(STREAMS_PER_MESSAGE)
        .enumerate()
        .map(|(i, chunk)| serde_json::json!({ "method": method, "params": chunk, "id": i + 1 }).to_string())
        .collect()
}
