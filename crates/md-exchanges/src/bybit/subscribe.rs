//! Bybit topics and subscribe messages.

use md_core::{Channel, SymbolInfo};

/// Bybit spot accepts at most 10 args per subscribe request (wire-formats.md §2.3).
pub(super) const ARGS_PER_SUBSCRIBE: usize = 10;

/// `publicTrade.BTCUSDT`, `orderbook.50.BTCUSDT`.
pub(super) fn topics(symbol: &SymbolInfo, channel: Channel, depth: u32) -> Vec<String> {
    match channel {
        Channel::Trades => vec![format!("publicTrade.{}", symbol.native)],
        Channel::Book => vec![format!("orderbook.{depth}.{}", symbol.native)],
    }
}

/// `{"req_id":"subscribe-1","op":"subscribe","args":[...]}`, at most [`ARGS_PER_SUBSCRIBE`] args each.
pub(super) fn subscribe_messages(topics: &[String]) -> Vec<String> {
    requests("subscribe", topics)
}

/// `{"req_id":"unsubscribe-1","op":"unsubscribe","args":[...]}`.
pub(super) fn unsubscribe_messages(topics: &[String]) -> Vec<String> {
    requests("unsubscribe", topics)
}

fn requests(op: &str, topics: &[String]) -> Vec<String> {
    topics
        .chunks(ARGS_PER_SUBSCRIBE)
        .enumerate()
        .map(|(i, chunk)| {
            serde_json::json!({ "req_id": format!("{op}-{}", i + 1), "op": op, "args": chunk }).to_string()
        })
        .collect()
}
