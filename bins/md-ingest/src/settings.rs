//! Turns flags, environment and the config file into checked [`Settings`]. Every refusal is
//! one line that names the bad value and what would be valid; `main` exits 2 with it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use md_core::{Channel, ExchangeId};
use md_exchanges::Endpoints;
use md_sink_influx::{Api, InfluxConfig, TargetConfig};
use serde::Deserialize;

use crate::cli::Args;

/// A bad flag, variable or config value: the one line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage<T>(message: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(message.into()))
}

/// Where packets are stored.
#[derive(Debug)]
pub enum Storage {
    /// Line-protocol files under the data directory (no database given).
    Files,
    /// An InfluxDB server.
    Influx(Box<InfluxConfig>),
}

/// Everything md-ingest runs with, checked.
#[derive(Debug)]
pub struct Settings {
    /// Venues, in the order given.
    pub exchanges: Vec<ExchangeId>,
    /// Requested symbols (`None`: every trading symbol).
    pub symbols: Option<Vec<String>>,
    /// Channels.
    pub channels: Vec<Channel>,
    /// Levels per side of stored snapshots.
    pub depth: usize,
    /// Interval of top-N snapshots of the verified books.
    pub snapshot_interval: Option<Duration>,
    /// Endpoint overrides per venue.
    pub endpoints: BTreeMap<ExchangeId, Endpoints>,
    /// The storage.
    pub storage: Storage,
    /// Files, spool and dead letters live here.
    pub data_dir: PathBuf,
    /// Prometheus `/metrics` and `/healthz` address.
    pub metrics_addr: Option<SocketAddr>,
    /// Serve the venues from an in-process simulator.
    pub simulate: bool,
}

/// A list given as `"a,b"` or `["a", "b"]` in the config file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum List {
    Text(String),
    Items(Vec<String>),
}

impl List {
    fn joined(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Items(items) => items.join(","),
        }
    }
}

/// A number given as `5` or `"5"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Text(String),
}

/// The TOML config file: the flags' names with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    exchanges: Option<List>,
    symbols: Option<List>,
    channels: Option<List>,
    depth: Option<Number>,
    snapshot_interval: Option<String>,
    ws_url: Option<HashMap<String, String>>,
    rest_url: Option<HashMap<String, String>>,
    influx_url: Option<String>,
    influx_org: Option<String>,
    influx_buckets: Option<List>,
    influx_db: Option<List>,
    data_dir: Option<PathBuf>,
    metrics_addr: Option<String>,
    simulate: Option<bool>,
}

fn read_file(path: &Path) -> Result<FileConfig, UsageError> {
    let text = std::fs::read_to_string(path)
        .or_else(|e| usage(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text).or_else(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().to_owned();
        usage(format!("config file {}: {first} {}", path.display(), e.message().replace('\n', " ")))
    })
}

impl Settings {
    /// Merges and checks flags (already merged with the environment by clap) and the file.
    pub fn resolve(args: Args) -> Result<Self, UsageError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let exchanges = parse_exchanges(&pick(args.exchanges, file.exchanges.map(List::joined)))?;
        let symbols = pick(args.symbols, file.symbols.map(List::joined))
            .map(|text| split(&text).map(str::to_owned).collect::<Vec<_>>())
            .filter(|list| !list.is_empty());
        let channels = parse_channels(&pick(args.channels, file.channels.map(List::joined)))?;
        let depth = parse_depth(pick(args.depth, file.depth.map(number_text)))?;
        let snapshot_interval = match pick(args.snapshot_interval, file.snapshot_interval) {
            Some(text) => parse_duration(&text, "--snapshot-interval")?,
            None => Some(Duration::from_secs(1)),
        };
        let ws = pairs(args.ws_url, file.ws_url);
        let rest = pairs(args.rest_url, file.rest_url);
        let endpoints = parse_endpoints(&ws, &rest)?;
        let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./data"));
        let metrics_addr = match pick(args.metrics_addr, file.metrics_addr) {
            Some(text) => Some(text.parse().or_else(|_| {
                usage(format!(
                    "--metrics-addr {text:?} is not an address; valid: HOST:PORT, e.g. 127.0.0.1:9100"
                ))
            })?),
            None => None,
        };
        let influx = InfluxArgs {
            url: pick(args.influx_url, file.influx_url),
            org: pick(args.influx_org, file.influx_org),
            buckets: pick(args.influx_buckets, file.influx_buckets.map(List::joined)),
            databases: pick(args.influx_db, file.influx_db.map(List::joined)),
        };
        let storage = influx.storage(&data_dir, depth)?;
        let simulate = args.simulate || file.simulate.unwrap_or(false);
        Ok(Self {
            exchanges,
            symbols,
            channels,
            depth,
            snapshot_interval,
            endpoints,
            storage,
            data_dir,
            metrics_addr,
            simulate,
        })
    }
}

/// The flag (or variable) when given, else the file's value.
fn pick<T>(flag: Option<T>, file: Option<T>) -> Option<T> {
    flag.or(file)
}

fn number_text(number: Number) -> String {
    match number {
        Number::Int(n) => n.to_string(),
        Number::Text(text) => text,
    }
}

fn split(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_exchanges(text: &Option<String>) -> Result<Vec<ExchangeId>, UsageError> {
    let Some(text) = text else { return Ok(ExchangeId::BUILT_IN.to_vec()) };
    let mut venues = Vec::new();
    for name in split(text) {
        match ExchangeId::parse(name).filter(|id| ExchangeId::BUILT_IN.contains(id)) {
            Some(id) if !venues.contains(&id) => venues.push(id),
            Some(_) => {}
            None => return usage(format!("unknown exchange {name:?}; valid: binance, bybit, huobi")),
        }
    }
    if venues.is_empty() {
        return usage("--exchanges is empty; valid: binance, bybit, huobi");
    }
    Ok(venues)
}

fn parse_channels(text: &Option<String>) -> Result<Vec<Channel>, UsageError> {
    let Some(text) = text else { return Ok(Channel::ALL.to_vec()) };
    let mut channels = Vec::new();
    for name in split(text) {
        let channel = match name.to_ascii_lowercase().as_str() {
            "trades" | "trade" => Channel::Trades,
            "book" | "books" => Channel::Book,
            _ => return usage(format!("unknown channel {name:?}; valid: trades, book")),
        };
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    if channels.is_empty() {
        return usage("--channels is empty; valid: trades, book");
    }
    Ok(channels)
}

fn parse_depth(text: Option<String>) -> Result<usize, UsageError> {
    let Some(text) = text else { return Ok(5) };
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => usage(format!("--depth {text:?} is not valid; valid: a whole number from 1 to 100")),
    }
}

/// `500ms`, `10s`, `1m`, `1h`; `0` turns the feature off.
fn parse_duration(text: &str, flag: &str) -> Result<Option<Duration>, UsageError> {
    let t = text.trim();
    let split_at = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split_at);
    let Ok(n) = digits.parse::<u64>() else {
        return usage(format!("{flag} {text:?} is not a duration; valid: e.g. 500ms, 10s, 1m, 1h, or 0"));
    };
    let duration = match unit {
        "" if n == 0 => return Ok(None),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => {
            return usage(format!("{flag} {text:?} is not a duration; valid: e.g. 500ms, 10s, 1m, 1h, or 0"))
        }
    };
    Ok((!duration.is_zero()).then_some(duration))
}

/// `VENUE=URL` pairs from the flags, else from the file's table.
fn pairs(flags: Vec<String>, file: Option<HashMap<String, String>>) -> Vec<String> {
    if !flags.is_empty() {
        return flags;
    }
    let mut pairs: Vec<String> =
        file.unwrap_or_default().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    pairs
}

fn parse_endpoints(ws: &[String], rest: &[String]) -> Result<BTreeMap<ExchangeId, Endpoints>, UsageError> {
    let mut endpoints: BTreeMap<ExchangeId, Endpoints> = BTreeMap::new();
    for (pairs, flag, schemes) in
        [(ws, "--ws-url", ["ws://", "wss://"]), (rest, "--rest-url", ["http://", "https://"])]
    {
        for pair in pairs {
            let Some((venue, url)) = pair.split_once('=') else {
                return usage(format!(
                    "{flag} {pair:?} is not VENUE=URL, e.g. binance={}127.0.0.1:9000",
                    schemes[0]
                ));
            };
            let Some(id) = ExchangeId::parse(venue.trim()).filter(|id| ExchangeId::BUILT_IN.contains(id))
            else {
                return usage(format!("{flag}: unknown exchange {venue:?}; valid: binance, bybit, huobi"));
            };
            let url = url.trim();
            if !is_url(url, &schemes) {
                return usage(format!(
                    "{flag} {url:?} is not a valid URL; valid: {}HOST[:PORT][/PATH]",
                    schemes.join(" or ")
                ));
            }
            let entry = endpoints.entry(id).or_default();
            if flag == "--ws-url" {
                entry.ws_url = Some(url.to_owned());
            } else {
                entry.rest_url = Some(url.trim_end_matches('/').to_owned());
            }
        }
    }
    Ok(endpoints)
}

/// A URL with one of these schemes and a plausible host.
fn is_url(url: &str, schemes: &[&str]) -> bool {
    let Some(rest) = schemes.iter().find_map(|s| url.strip_prefix(s)) else { return false };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let name = host.rsplit_once(':').map_or(
        host,
        |(name, port)| {
            if port.parse::<u16>().is_ok() {
                name
            } else {
                ""
            }
        },
    );
    !name.is_empty() && !url.contains(char::is_whitespace)
}

struct InfluxArgs {
    url: Option<String>,
    org: Option<String>,
    buckets: Option<String>,
    databases: Option<String>,
}

impl InfluxArgs {
    fn storage(self, data_dir: &Path, depth: usize) -> Result<Storage, UsageError> {
        let Some(url) = self.url else {
            if self.org.is_some() || self.buckets.is_some() || self.databases.is_some() {
                return usage("--influx-org/--influx-buckets/--influx-db need --influx-url");
            }
            return Ok(Storage::Files);
        };
        if !is_url(&url, &["http://", "https://"]) {
            return usage(format!(
                "--influx-url {url:?} is not a valid URL; valid: http://HOST:PORT or https://HOST:PORT"
            ));
        }
        let (api, names) = match (self.org, self.databases) {
            (Some(_), Some(_)) => {
                return usage("--influx-org selects the v2 API and --influx-db the v1 API; give one of them")
            }
            (Some(org), None) => {
                let api = Api::v2_from_env(org).or_else(|_| {
                    usage("the v2 API (--influx-org) needs a token in MD_INFLUX_TOKEN or a file named by MD_INFLUX_TOKEN_FILE")
                })?;
                (api, self.buckets)
            }
            (None, databases) => {
                if self.buckets.is_some() {
                    return usage(
                        "--influx-buckets needs --influx-org (v2 API); for the v1 API use --influx-db",
                    );
                }
                let api = Api::v1_from_env().or_else(|e| usage(format!("InfluxDB v1 credentials: {e}")))?;
                (api, databases)
            }
        };
        let (incremental, snapshot) = match names {
            None => ("md_incremental".to_owned(), "md_snapshot".to_owned()),
            Some(text) => {
                let names: Vec<&str> = split(&text).collect();
                match names.as_slice() {
                    [incremental, snapshot] => ((*incremental).to_owned(), (*snapshot).to_owned()),
                    _ => return usage(format!("{text:?}: give two names, INCREMENTAL,SNAPSHOT")),
                }
            }
        };
        let mut config = InfluxConfig::new(url, api, data_dir.join("influx"));
        if let Api::V1 { create_databases, .. } = &mut config.api {
            *create_databases = true;
        }
        config.incremental = TargetConfig::new(incremental);
        config.snapshot = TargetConfig::new(snapshot);
        config.schema.snapshot_levels = depth;
        config.validate().or_else(|e| usage(format!("InfluxDB settings: {e}")))?;
        Ok(Storage::Influx(Box::new(config)))
    }
}
