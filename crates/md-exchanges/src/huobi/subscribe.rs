//! HTX topics, `sub` messages and the in-band mbp snapshot request.

use md_core::{Channel, SymbolInfo};

use super::HuobiBook;

/// HTX takes one topic per `sub` message.
pub(super) const TOPICS_PER_MESSAGE: usize = 1;

/// `market.btcusdt.trade.detail`, `market.btcusdt.mbp.150` or `market.btcusdt.depth.step0`:
/// HTX symbols are lower case.
pub(super) fn topics(symbol: &SymbolInfo, channel: Channel, book: HuobiBook) -> Vec<String> {
    let market = symbol.native.to_ascii_lowercase();
    match (channel, book) {
        (Channel::Trades, _) => vec![format!("market.{market}.trade.detail")],
        (Channel::Book, HuobiBook::Mbp150) => vec![format!("market.{market}.mbp.150")],
        (Channel::Book, HuobiBook::Step0) => vec![format!("market.{market}.depth.step0")],
    }
}

/// A JSON string literal (quoted and escaped).
fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `{"unsub":"<topic>","id":"<topic>"}`, one per topic.
pub(super) fn unsubscribe_messages(topics: &[String]) -> Vec<String> {
    topics
        .iter()
        .map(|topic| {
            let topic = json_string(topic);
            format!(r#"{{"unsub":{topic},"id":{topic}}}"#)
        })
        .collect()
}

/// `{"sub":"<topic>","id":"<topic>"}`, one per topic; the ack echoes the id, so an error
/// reply names the topic it refused.
pub(super) fn subscribe_messages(topics: &[String]) -> Vec<String> {
    topics
        .iter()
        .map(|topic| {
            let topic = json_string(topic);
            format!(r#"{{"sub":{topic},"id":{topic}}}"#)
        })
        .collect()
}

/// `{"req":"market.<native>.mbp.150","id":"<native>"}`: the refresh image the incrementals are
/// aligned to. It must go out on the connection that carries the `sub`.
pub(super) fn snapshot_request(symbol: &SymbolInfo) -> String {
    let market = symbol.native.to_ascii_lowercase();
    let topic = json_string(&format!("market.{market}.mbp.150"));
    format!(r#"{{"req":{topic},"id":{}}}"#, json_string(&market))
}
