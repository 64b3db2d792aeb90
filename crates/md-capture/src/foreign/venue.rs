//! Per venue: which symbols a frame, a sent message or a URL names, in the exact native form the
//! venue's md parser looks up in its listing, and their canonical names.

use std::collections::HashMap;
use std::io::Read;

use flate2::read::GzDecoder;
use md_core::{ExchangeId, Symbol, Symbols};
use serde::Deserialize;
use serde_json::Value;

use super::ForeignError;

/// tardis.dev's names for the venues md reads, with md's id.
const TARDIS_NAMES: [(&str, ExchangeId); 3] =
    [("binance", ExchangeId::Binance), ("bybit-spot", ExchangeId::Bybit), ("huobi", ExchangeId::Huobi)];

/// cryptofeed's feed names for the venues md reads.
pub(crate) const CRYPTOFEED_NAMES: [(&str, ExchangeId); 3] =
    [("BINANCE", ExchangeId::Binance), ("BYBIT", ExchangeId::Bybit), ("HUOBI", ExchangeId::Huobi)];

/// The largest inflated HTX frame looked into for its symbol (as md's parser bounds it).
const MAX_INFLATED_BYTES: u64 = 16 * 1024 * 1024;

pub(crate) fn tardis_exchange(name: &str) -> Result<ExchangeId, ForeignError> {
    let lower = name.trim().to_ascii_lowercase();
    TARDIS_NAMES.iter().find(|(n, _)| *n == lower).map(|(_, id)| *id).ok_or_else(|| {
        ForeignError::Unsupported {
            what: format!("tardis exchange {name:?}"),
            supported: TARDIS_NAMES
                .iter()
                .map(|(n, id)| format!("{n} ({id})"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    })
}

/// Refuses a venue these readers cannot name symbols for: md may parse more venues
/// ([`ExchangeId::BUILT_IN`] has Bitstamp) than the foreign readers know.
pub(crate) fn check_supported(exchange: ExchangeId) -> Result<(), ForeignError> {
    if CRYPTOFEED_NAMES.iter().any(|(_, id)| *id == exchange) {
        Ok(())
    } else {
        let names: Vec<&str> = CRYPTOFEED_NAMES.iter().map(|(_, id)| id.as_str()).collect();
        Err(ForeignError::Unsupported { what: format!("venue {exchange}"), supported: names.join(", ") })
    }
}

/// The native form the venue's parser looks up: Binance upper case (`s`, REST `symbol=`),
/// Bybit as it comes (its topics carry upper case), HTX lower case (`ch`). `None` for text
/// that is no symbol name (empty, or not alphanumeric).
pub(crate) fn native(exchange: ExchangeId, raw: &str) -> Option<String> {
    if raw.is_empty() || raw.len() > 64 || !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some(match exchange {
        ExchangeId::Huobi => raw.to_ascii_lowercase(),
        ExchangeId::Binance => raw.to_ascii_uppercase(),
        _ => raw.to_owned(),
    })
}

/// A Binance stream name's symbol: `nknusdt@depth@100ms` → `NKNUSDT`; none for `!…` streams.
fn binance_stream(stream: &str, out: &mut Vec<String>) {
    let market = stream.split_once('@').map_or(stream, |(m, _)| m);
    if !market.starts_with('!') {
        out.extend(native(ExchangeId::Binance, market));
    }
}

/// A Bybit topic's symbol, its last `.` part: `orderbook.50.BTCUSDT`, `trade.BCHUSDT`.
fn bybit_topic(topic: &str, out: &mut Vec<String>) {
    if let Some((_, symbol)) = topic.rsplit_once('.') {
        out.extend(native(ExchangeId::Bybit, symbol));
    }
}

/// An HTX topic's symbol: `market.btcusdt.depth.step0` → `btcusdt`.
fn huobi_topic(topic: &str, out: &mut Vec<String>) {
    let mut parts = topic.split('.');
    if let (Some("market"), Some(symbol), Some(_)) = (parts.next(), parts.next(), parts.next()) {
        out.extend(native(ExchangeId::Huobi, symbol));
    }
}

fn topic_symbols(exchange: ExchangeId, topic: &str, out: &mut Vec<String>) {
    match exchange {
        ExchangeId::Binance => binance_stream(topic, out),
        ExchangeId::Bybit => bybit_topic(topic, out),
        ExchangeId::Huobi => huobi_topic(topic, out),
        _ => {}
    }
}

/// The fields of a frame or a sent message that name symbols.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Names {
    stream: Option<Value>,
    topic: Option<Value>,
    ch: Option<Value>,
    subbed: Option<Value>,
    unsubbed: Option<Value>,
    rep: Option<Value>,
    sub: Option<Value>,
    req: Option<Value>,
    unsub: Option<Value>,
    params: Option<Value>,
    args: Option<Value>,
    s: Option<Value>,
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    let (one, many) = match value {
        Some(Value::String(s)) => (Some(s.as_str()), None),
        Some(Value::Array(items)) => (None, Some(items.iter().filter_map(Value::as_str))),
        _ => (None, None),
    };
    one.into_iter().chain(many.into_iter().flatten())
}

/// Symbols a text frame (or a sent message) names: Binance `stream` (and a raw stream's `s`),
/// Bybit `topic`, HTX `ch`/`rep`/`subbed`; in sent messages Binance `params`, Bybit `args`, HTX
/// `sub`/`req`/`unsub`. Text that is not a JSON object names none.
pub(crate) fn text_symbols(exchange: ExchangeId, text: &str, out: &mut Vec<String>) {
    let Ok(names) = serde_json::from_str::<Names>(text) else {
        return;
    };
    let topics = [&names.stream, &names.topic, &names.ch, &names.subbed, &names.unsubbed, &names.rep]
        .into_iter()
        .chain([&names.sub, &names.req, &names.unsub, &names.params, &names.args]);
    for field in topics {
        for topic in strings(field.as_ref()) {
            topic_symbols(exchange, topic, out);
        }
    }
    if exchange == ExchangeId::Binance {
        if let Some(Value::String(s)) = &names.s {
            out.extend(native(exchange, s));
        }
    }
}

/// Symbols a binary frame names: HTX's gzip JSON, inflated (bounded); other bytes as UTF-8.
pub(crate) fn binary_symbols(exchange: ExchangeId, bytes: &[u8], out: &mut Vec<String>) {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        if GzDecoder::new(bytes).take(MAX_INFLATED_BYTES).read_to_string(&mut text).is_ok() {
            text_symbols(exchange, &text, out);
        }
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        text_symbols(exchange, text, out);
    }
}

/// Symbols a WebSocket URL names: Binance combined streams (`/stream?streams=a@x/b@y`) and raw
/// streams (`/ws/a@x`); other venues subscribe by message, their URLs name none.
pub(crate) fn url_symbols(exchange: ExchangeId, url: &str, out: &mut Vec<String>) {
    if exchange != ExchangeId::Binance {
        return;
    }
    if let Some(streams) = query_param(url, "streams") {
        streams.split('/').for_each(|s| binance_stream(s, out));
    } else if let Some((_, streams)) = url.split_once("/ws/") {
        let streams = streams.split(['?', '#']).next().unwrap_or_default();
        streams.split('/').for_each(|s| binance_stream(s, out));
    }
}

/// The symbol of a REST book request, from its `symbol=` query parameter (Binance
/// `/api/v3/depth?symbol=NKNUSDT`, HTX `/market/depth?symbol=btcusdt`, Bybit
/// `/v5/market/orderbook?…&symbol=BTCUSDT`).
pub(crate) fn rest_symbol(exchange: ExchangeId, url: &str) -> Option<String> {
    native(exchange, query_param(url, "symbol")?)
}

fn query_param<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    let query = query.split('#').next().unwrap_or_default();
    query.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// Canonical names for natives: from a venue listing found in the capture, else from the
/// capture's configuration (`BASE-QUOTE` names), else md's guess.
#[derive(Debug)]
pub(crate) struct Namer {
    exchange: ExchangeId,
    listed: HashMap<String, Symbol>,
    configured: HashMap<String, Symbol>,
}

impl Namer {
    pub(crate) fn new(exchange: ExchangeId) -> Self {
        Self { exchange, listed: HashMap::new(), configured: HashMap::new() }
    }

    /// Reads a REST body that is a venue listing (Binance `exchangeInfo`, HTX
    /// `/v1/common/symbols`, Bybit v5 `instruments-info` or v2 `symbols`); `false` when it is
    /// not one.
    pub(crate) fn add_listing(&mut self, body: &str) -> bool {
        let Ok(value) = serde_json::from_str::<Value>(body) else {
            return false;
        };
        let shapes: [(&[&str], [&str; 3]); 4] = [
            (&["symbols"], ["symbol", "baseAsset", "quoteAsset"]),
            (&["data"], ["symbol", "base-currency", "quote-currency"]),
            (&["result", "list"], ["symbol", "baseCoin", "quoteCoin"]),
            (&["result"], ["name", "base_currency", "quote_currency"]),
        ];
        let mut found = false;
        for (path, [name, base, quote]) in shapes {
            let items = path.iter().try_fold(&value, |v, key| v.get(key)).and_then(Value::as_array);
            for item in items.into_iter().flatten() {
                let field = |key: &str| item.get(key).and_then(Value::as_str);
                if let (Some(n), Some(b), Some(q)) = (field(name), field(base), field(quote)) {
                    if let Some(native) = native(self.exchange, n) {
                        found = true;
                        self.listed.entry(native).or_insert_with(|| Symbol::new(b, q));
                    }
                }
            }
        }
        found
    }

    /// Reads the `BASE-QUOTE[-…]` names of a configuration (any string in any array in it,
    /// such as cryptofeed's `{"trades":["NKN-USDT"],"l2_book":[…]}`).
    pub(crate) fn add_config(&mut self, config: &Value) {
        let mut stack = vec![config];
        while let Some(value) = stack.pop() {
            match value {
                Value::Object(map) => stack.extend(map.values()),
                Value::Array(items) => stack.extend(items),
                Value::String(name) => {
                    let mut parts = name.split('-');
                    if let (Some(base), Some(quote)) = (parts.next(), parts.next()) {
                        let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
                        if alnum(base) && alnum(quote) {
                            let key = format!("{base}{quote}").to_ascii_lowercase();
                            self.configured.entry(key).or_insert_with(|| Symbol::new(base, quote));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The canonical name of a native.
    pub(crate) fn name(&self, native: &str) -> Symbol {
        if let Some(symbol) = self.listed.get(native) {
            return symbol.clone();
        }
        if let Some(symbol) = self.configured.get(&native.to_ascii_lowercase()) {
            return symbol.clone();
        }
        // HTX quotes some pairs in HUSD, which md's guess would read as `…H-USD`.
        if self.exchange == ExchangeId::Huobi {
            if let Some(base) = native.strip_suffix("husd").filter(|b| !b.is_empty()) {
                return Symbol::new(base, "husd");
            }
        }
        Symbols::default().canonical_or_guess(native)
    }
}
