//! Bitstamp channels and subscribe messages.

use md_core::{Channel, SymbolInfo};

/// Trades of a pair: `live_trades_btcusd` (event `trade`).
pub(super) const TRADES_PREFIX: &str = "live_trades_";

/// Changed book levels of a pair, full depth: `diff_order_book_btcusd` (event `data`).
pub(super) const BOOK_PREFIX: &str = "diff_order_book_";

/// Bitstamp closes a connection whose client frame is 513 bytes or longer (close 1009 "read
/// limited at 513 bytes"): every message md sends stays below this.
pub const MAX_CLIENT_FRAME: usize = 512;

/// `live_trades_{pair}`, `diff_order_book_{pair}`; `pair` is the listing's lower-case
/// `url_symbol`, as channel names must be spelled (upper case is `Invalid channel provided.`).
pub(super) fn topics(symbol: &SymbolInfo, channel: Channel) -> Vec<String> {
    let prefix = match channel {
        Channel::Trades => TRADES_PREFIX,
        Channel::Book => BOOK_PREFIX,
    };
    vec![format!("{prefix}{}", symbol.native)]
}

/// `{"event":"bts:subscribe","data":{"channel":"…"}}`, one channel per message: Bitstamp takes
/// no list.
pub(super) fn subscribe_messages(topics: &[String]) -> Vec<String> {
    requests("bts:subscribe", topics)
}

/// `{"event":"bts:unsubscribe","data":{"channel":"…"}}`, one channel per message.
pub(super) fn unsubscribe_messages(topics: &[String]) -> Vec<String> {
    requests("bts:unsubscribe", topics)
}

fn requests(event: &str, topics: &[String]) -> Vec<String> {
    topics
        .iter()
        // Written in the documented key order (serde_json's map would sort `data` first).
        .map(|channel| format!(r#"{{"event":"{event}","data":{{"channel":{}}}}}"#, json_string(channel)))
        .collect()
}

/// A JSON string literal (channel names are plain ASCII; anything else is escaped, not trusted).
fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The client heartbeat: answered by `{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}`.
pub(super) const HEARTBEAT: &str = r#"{"event":"bts:heartbeat"}"#;
