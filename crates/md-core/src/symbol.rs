//! Canonical symbols (`BTC-USDT`) and a venue's listing, mapped both ways to its native names.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A canonical instrument name, `BASE-QUOTE` in upper case (`BTC-USDT`).
///
/// Cheap to clone (a shared string), because every packet carries one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Symbol(Arc<str>);

impl Symbol {
    /// Builds `BASE-QUOTE` from its parts, upper-cased.
    pub fn new(base: &str, quote: &str) -> Self {
        Self(format!("{}-{}", base.to_ascii_uppercase(), quote.to_ascii_uppercase()).into())
    }

    /// Parses a canonical `BASE-QUOTE` string; `None` unless it has exactly one `-` between
    /// two non-empty alphanumeric parts.
    pub fn parse(text: &str) -> Option<Self> {
        let (base, quote) = text.split_once('-')?;
        let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        (valid(base) && valid(quote)).then(|| Self::new(base, quote))
    }

    /// `*`: names every symbol of a connection, in status packets about the connection itself.
    pub fn wildcard() -> Self {
        Self("*".into())
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The base asset (`BTC` of `BTC-USDT`).
    pub fn base(&self) -> &str {
        self.0.split_once('-').map_or(&self.0, |(b, _)| b)
    }

    /// The quote asset (`USDT` of `BTC-USDT`).
    pub fn quote(&self) -> &str {
        self.0.split_once('-').map_or("", |(_, q)| q)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.0)
    }
}

/// One instrument as a venue lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolInfo {
    /// Canonical name.
    pub symbol: Symbol,
    /// The venue's own name, exactly as its data frames carry it (`BTCUSDT`, `btcusdt`).
    pub native: String,
    /// Whether the venue lists it as trading now.
    pub trading: bool,
}

/// A venue's symbol listing, mapped both ways between canonical and native names.
///
/// Built from the venue's REST listing by its [`crate::SymbolHandler`]; parsers use it to name
/// packets, the CLI to resolve what the user typed.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    by_native: crate::FastMap<String, SymbolInfo>,
    native_by_symbol: crate::FastMap<Symbol, String>,
}

/// Quote assets tried, longest first, when a native name is not in the listing.
const KNOWN_QUOTES: [&str; 14] =
    ["FDUSD", "USDT", "USDC", "TUSD", "BUSD", "USDD", "EUR", "TRY", "BRL", "USD", "BTC", "ETH", "BNB", "HT"];

impl Symbols {
    /// A listing of the given instruments.
    pub fn new(infos: impl IntoIterator<Item = SymbolInfo>) -> Self {
        let mut symbols = Self::default();
        for info in infos {
            symbols.insert(info);
        }
        symbols
    }

    /// Adds one instrument.
    pub fn insert(&mut self, info: SymbolInfo) {
        self.native_by_symbol.insert(info.symbol.clone(), info.native.clone());
        self.by_native.insert(info.native.clone(), info);
    }

    /// The canonical symbol of a native name as data frames carry it.
    pub fn canonical(&self, native: &str) -> Option<&Symbol> {
        self.by_native.get(native).map(|info| &info.symbol)
    }

    /// The canonical symbol of a native name; when the listing does not know it, a guess that
    /// splits off a well-known quote asset (`NKNUSDT` → `NKN-USDT`), else the native name upper-cased.
    pub fn canonical_or_guess(&self, native: &str) -> Symbol {
        match self.canonical(native) {
            Some(symbol) => symbol.clone(),
            None => guess_symbol(native),
        }
    }

    /// The native name of a canonical symbol, if the venue lists it.
    pub fn native(&self, symbol: &Symbol) -> Option<&str> {
        self.native_by_symbol.get(symbol).map(String::as_str)
    }

    /// Resolves what a user typed (canonical `BTC-USDT` or venue-native `btcusdt`) to a listed instrument.
    pub fn resolve(&self, text: &str) -> Option<&SymbolInfo> {
        if let Some(symbol) = Symbol::parse(text) {
            if let Some(native) = self.native_by_symbol.get(&symbol) {
                return self.by_native.get(native);
            }
        }
        self.by_native
            .get(text)
            .or_else(|| self.by_native.get(&text.to_ascii_uppercase()))
            .or_else(|| self.by_native.get(&text.to_ascii_lowercase()))
    }

    /// Every listed instrument, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &SymbolInfo> {
        self.by_native.values()
    }

    /// Instruments listed as trading.
    pub fn trading(&self) -> impl Iterator<Item = &SymbolInfo> {
        self.iter().filter(|info| info.trading)
    }

    /// Number of listed instruments.
    pub fn len(&self) -> usize {
        self.by_native.len()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.by_native.is_empty()
    }
}

/// Best-effort canonical name for a native one the listing does not know.
pub fn guess_symbol(native: &str) -> Symbol {
    let upper = native.to_ascii_uppercase();
    for quote in KNOWN_QUOTES {
        if upper.len() > quote.len() && upper.ends_with(quote) {
            return Symbol::new(&upper[..upper.len() - quote.len()], quote);
        }
    }
    Symbol(upper.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing() -> Symbols {
        Symbols::new([
            SymbolInfo { symbol: Symbol::new("btc", "usdt"), native: "btcusdt".into(), trading: true },
            SymbolInfo { symbol: Symbol::new("ETH", "BTC"), native: "ethbtc".into(), trading: false },
        ])
    }

    #[test]
    fn maps_both_ways() {
        let s = listing();
        assert_eq!(s.canonical("btcusdt").unwrap().as_str(), "BTC-USDT");
        assert_eq!(s.native(&Symbol::new("BTC", "USDT")), Some("btcusdt"));
        assert_eq!(s.trading().count(), 1);
    }

    #[test]
    fn resolves_user_text_in_either_form() {
        let s = listing();
        assert_eq!(s.resolve("BTC-USDT").unwrap().native, "btcusdt");
        assert_eq!(s.resolve("BTCUSDT").unwrap().native, "btcusdt");
        assert_eq!(s.resolve("ethbtc").unwrap().symbol.as_str(), "ETH-BTC");
        assert!(s.resolve("DOGE-USDT").is_none());
    }

    #[test]
    fn guesses_unknown_natives() {
        assert_eq!(guess_symbol("NKNUSDT").as_str(), "NKN-USDT");
        assert_eq!(guess_symbol("ethbtc").as_str(), "ETH-BTC");
        assert_eq!(guess_symbol("XYZ").as_str(), "XYZ");
    }

    #[test]
    fn canonical_parse_is_strict() {
        assert_eq!(Symbol::parse("btc-usdt").unwrap().as_str(), "BTC-USDT");
        for bad in ["BTCUSDT", "-USDT", "BTC-", "BTC-US-DT", "BTC USDT"] {
            assert!(Symbol::parse(bad).is_none(), "{bad}");
        }
    }
}
