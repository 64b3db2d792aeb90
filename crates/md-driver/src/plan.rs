//! Which topics go on which connection, within the venue's limits.

use std::collections::BTreeMap;

use md_core::{Channel, Listener, SymbolInfo};

/// One connection to open: its URL, its topics, and the books it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPlan {
    /// WebSocket URL.
    pub url: String,
    /// Every topic to subscribe on it.
    pub topics: Vec<String>,
    /// Symbols whose book topics are on it (the books this connection keeps).
    pub books: Vec<SymbolInfo>,
}

/// Spreads the symbols' topics over as few connections as the venue's
/// `max_streams_per_connection` allows, one group per URL (HTX puts books on `/feed`).
pub fn plan(listener: &dyn Listener, symbols: &[SymbolInfo], channels: &[Channel]) -> Vec<ConnectionPlan> {
    let max = listener.limits().max_streams_per_connection.max(1);
    let mut by_url: BTreeMap<String, Vec<ConnectionPlan>> = BTreeMap::new();
    for symbol in symbols {
        for &channel in channels {
            let topics = listener.topics(symbol, channel);
            if topics.is_empty() {
                continue;
            }
            let url = listener.ws_url(&[channel]);
            let plans = by_url.entry(url.clone()).or_default();
            let fits = plans.last().is_some_and(|p| p.topics.len() + topics.len() <= max);
            if !fits {
                plans.push(ConnectionPlan { url, topics: Vec::new(), books: Vec::new() });
            }
            if let Some(current) = plans.last_mut() {
                current.topics.extend(topics);
                if channel == Channel::Book {
                    current.books.push(symbol.clone());
                }
            }
        }
    }
    by_url.into_values().flatten().collect()
}
