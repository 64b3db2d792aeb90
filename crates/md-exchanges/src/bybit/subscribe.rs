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

/// `{"req_id":"sub-1","op":"subscribe","args":[...]}`, at most [`ARGS_PER_SUBSCRIBE`] args each.
pub(super) fn subscribe_messages(topics: &[String]) -> Vec<String> {
    topics
        .chunks(ARGS_PER_SUBSCRIBE)
        .enumerate()
        .map(|(i, chunk)| {
            serde_json::json!({ "req_id": format!("sub-{}", i + 1), "op": "subscribe", "args": chunk })
                .to_string()
        })
        .collect()
}
