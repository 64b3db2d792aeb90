//! The simulator's configuration.

use std::time::Duration;

use md_core::{ExchangeId, Symbol};

/// What to simulate: which venues, which instruments, how fast, from which seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The venues to serve: any for which [`crate::simulates`] holds ([`ExchangeId::Binance`],
    /// [`ExchangeId::Bybit`], [`ExchangeId::Huobi`], [`ExchangeId::Bitstamp`]). The default is every built-in venue, so a
    /// venue added to [`ExchangeId::BUILT_IN`] without a simulator makes the default invalid
    /// (loudly) rather than being left out.
    pub venues: Vec<ExchangeId>,
    /// The instruments, as `(base, quote)` pairs (`("BTC", "USDT")`); every venue lists them all.
    pub symbols: Vec<(String, String)>,
    /// Instruments that exist and tick like [`SimConfig::symbols`] (books, trades, sequences,
    /// subscriptions, snapshots) but are absent from every venue's REST listing until
    /// [`crate::Simulator::set_listed`] lists them: a listing that appears at run time.
    /// Default empty.
    pub unlisted: Vec<(String, String)>,
    /// Seed of every random choice (book contents, trade sizes, sequence steps).
    pub seed: u64,
    /// Book updates per symbol per second (0 disables updates).
    pub updates_per_sec: f64,
    /// Trades per symbol per second (0 disables trades).
    pub trades_per_sec: f64,
    /// Levels per side in the true book; the book always holds exactly this many per side.
    pub depth: usize,
    /// Server heartbeat period: Binance WebSocket ping frames, HTX `{"ping":n}` messages.
    /// Zero disables server pings.
    pub ping_interval: Duration,
    /// Messages one connection may have queued; a client that falls further behind (or a
    /// stalled connection) is dropped and counted in [`crate::SimStats::queue_overflows`].
    pub queue_capacity: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            venues: ExchangeId::BUILT_IN.to_vec(),
            symbols: vec![
                ("BTC".into(), "USDT".into()),
                ("ETH".into(), "USDT".into()),
                ("SOL".into(), "USDT".into()),
            ],
            unlisted: Vec::new(),
            seed: 1,
            updates_per_sec: 20.0,
            trades_per_sec: 5.0,
            depth: 50,
            ping_interval: Duration::from_secs(5),
            queue_capacity: 4096,
        }
    }
}

/// A configuration the simulator cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A venue md-sim does not speak.
    #[error("md-sim does not simulate {0}")]
    UnsupportedVenue(ExchangeId),
    /// No venue or no symbol.
    #[error("nothing to simulate: {0}")]
    Empty(&'static str),
    /// A base or quote that is empty or not alphanumeric.
    #[error("invalid symbol {0:?}")]
    InvalidSymbol(String),
    /// An instrument of [`SimConfig::unlisted`] named twice, or also in [`SimConfig::symbols`].
    #[error("symbol {0} named twice")]
    DuplicateSymbol(String),
    /// A rate that is negative or not finite, or a zero depth or queue.
    #[error("invalid {0}")]
    InvalidNumber(&'static str),
}

impl SimConfig {
    /// Checks the configuration; [`crate::Simulator::start`] refuses an invalid one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.venues.is_empty() {
            return Err(ConfigError::Empty("no venue"));
        }
        if self.symbols.is_empty() {
            return Err(ConfigError::Empty("no symbol"));
        }
        if let Some(venue) = self.venues.iter().find(|v| crate::venue::protocol(**v).is_none()) {
            return Err(ConfigError::UnsupportedVenue(*venue));
        }
        let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        let all = || self.symbols.iter().chain(&self.unlisted);
        if let Some((b, q)) = all().find(|(b, q)| !valid(b) || !valid(q)) {
            return Err(ConfigError::InvalidSymbol(format!("{b}-{q}")));
        }
        // Two instruments of one name would be two books behind one name. Repeats within
        // `symbols` are left alone (callers pass user lists as they are).
        let canonical = |(b, q): &(String, String)| Symbol::new(b, q);
        for (i, pair) in self.unlisted.iter().enumerate() {
            let name = canonical(pair);
            let repeated = self.unlisted[..i].iter().chain(&self.symbols).any(|p| canonical(p) == name);
            if repeated {
                return Err(ConfigError::DuplicateSymbol(name.to_string()));
            }
        }
        let rate_ok = |r: f64| r.is_finite() && (0.0..=1_000_000.0).contains(&r);
        if !rate_ok(self.updates_per_sec) {
            return Err(ConfigError::InvalidNumber("updates_per_sec"));
        }
        if !rate_ok(self.trades_per_sec) {
            return Err(ConfigError::InvalidNumber("trades_per_sec"));
        }
        if self.depth == 0 || self.depth > 5000 {
            return Err(ConfigError::InvalidNumber("depth (1..=5000)"));
        }
        if self.queue_capacity == 0 {
            return Err(ConfigError::InvalidNumber("queue_capacity"));
        }
        Ok(())
    }
}
