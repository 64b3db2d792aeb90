//! Turns flags, environment and the config file into checked [`Settings`]. Every refusal is
//! one line that names the bad value and what would be valid; `main` exits 2 with it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use md_core::{Channel, ExchangeId};
use md_exchanges::Endpoints;
use md_pipeline::Overflow;
use md_sink_influx::{Api, InfluxConfig, LineFilesConfig, TargetConfig};
use serde::Deserialize;

use crate::cli::{Args, StorageArgs};

/// A bad flag, variable or config value: the one line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn usage<T>(message: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(message.into()))
}

/// What a sink stores into.
#[derive(Debug)]
pub enum SinkKind {
    /// Line-protocol files.
    Files(Box<LineFilesConfig>),
    /// An InfluxDB server.
    Influx(Box<InfluxConfig>),
    /// Per-symbol event files.
    Events(Box<md_events::EventFilesConfig>),
    /// A CSV or Parquet export of trades and snapshots.
    Export(Box<md_export::ExportConfig>),
}

/// One sink: what it is, and the queue in front of it.
#[derive(Debug)]
pub struct SinkSpec {
    /// Its name (metrics, logs, the status line).
    pub name: String,
    /// What it stores into.
    pub kind: SinkKind,
    /// Its queue's overflow policy.
    pub overflow: Overflow,
    /// Its queue's bound, in packets.
    pub capacity: usize,
}

/// Packets a storage sink's queue holds by default: about a second of every spot symbol of
/// three venues.
pub const DEFAULT_CAPACITY: usize = 65_536;

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
    /// The sinks, each with its own queue: `[[sink]]` sections, the `--influx-*` flags' one,
    /// or line files when neither is given.
    pub sinks: Vec<SinkSpec>,
    /// Prometheus `/metrics` and `/healthz` address.
    pub metrics_addr: Option<SocketAddr>,
    /// How often the status lines are logged (`None`: never).
    pub status_interval: Option<Duration>,
    /// Serve the venues from an in-process simulator.
    pub simulate: bool,
    /// Record the raw frames of every venue under this folder.
    pub capture: Option<PathBuf>,
    /// Which old capture files are deleted.
    pub capture_retention: md_capture::Retention,
    /// How often books of venues without sequence numbers are cross-checked (`None`: the
    /// venue's default; zero: never).
    pub cross_check_interval: Option<Duration>,
    /// Overrides every venue's liveness timeout (`None`: the venue's own).
    pub liveness_timeout: Option<Duration>,
    /// The merged-book server to run beside the drivers (`--grpc-addr`; md-serve always).
    pub serve: Option<md_serve::ServeConfig>,
}

/// A list given as `"a,b"` or `["a", "b"]` in the config file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum List {
    Text(String),
    Items(Vec<String>),
}

impl List {
    pub(crate) fn joined(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Items(items) => items.join(","),
        }
    }
}

/// A number given as `5` or `"5"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Number {
    Int(i64),
    Text(String),
}

/// The TOML config file: the flags' names with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub(crate) exchanges: Option<List>,
    pub(crate) symbols: Option<List>,
    pub(crate) channels: Option<List>,
    pub(crate) depth: Option<Number>,
    pub(crate) snapshot_interval: Option<String>,
    pub(crate) ws_url: Option<HashMap<String, String>>,
    pub(crate) rest_url: Option<HashMap<String, String>>,
    pub(crate) influx_url: Option<String>,
    pub(crate) influx_org: Option<String>,
    pub(crate) influx_buckets: Option<List>,
    pub(crate) influx_db: Option<List>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) metrics_addr: Option<String>,
    pub(crate) status_interval: Option<String>,
    pub(crate) simulate: Option<bool>,
    pub(crate) capture: Option<PathBuf>,
    pub(crate) capture_max_age: Option<String>,
    pub(crate) capture_max_size: Option<String>,
    pub(crate) cross_check_interval: Option<Number>,
    pub(crate) liveness_timeout: Option<String>,
    pub(crate) events: Option<PathBuf>,
    pub(crate) sink: Option<Vec<toml::Table>>,
    pub(crate) serve: Option<crate::serve::ServeFile>,
}

pub(crate) fn read_file(path: &Path) -> Result<FileConfig, UsageError> {
    let text = std::fs::read_to_string(path)
        .or_else(|e| usage(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text).or_else(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().to_owned();
        usage(format!("config file {}: {first} {}", path.display(), e.message().replace('\n', " ")))
    })
}

impl Settings {
    /// Whether symbols come from the book server's clients rather than the settings (md-serve).
    pub fn serve_on_demand(&self) -> bool {
        self.sinks.is_empty() && self.serve.is_some()
    }

    /// Merges and checks flags (already merged with the environment by clap) and the file.
    pub fn resolve(args: Args) -> Result<Self, UsageError> {
        let mut file = match &args.storage.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let exchanges = parse_exchanges(&pick(args.exchanges, file.exchanges.take().map(List::joined)))?;
        let symbols = pick(args.symbols, file.symbols.take().map(List::joined))
            .map(|text| split(&text).map(str::to_owned).collect::<Vec<_>>())
            .filter(|list| !list.is_empty());
        let channels = parse_channels(&pick(args.channels, file.channels.take().map(List::joined)))?;
        let depth = parse_depth(pick(args.depth, file.depth.take().map(number_text)))?;
        let storage = Storage::resolve(args.storage, &mut file, depth)?;
        let snapshot_interval = match pick(args.snapshot_interval, file.snapshot_interval) {
            Some(text) => parse_duration(&text, "--snapshot-interval")?,
            None => Some(Duration::from_secs(1)),
        };
        let ws = pairs(args.ws_url, file.ws_url);
        let rest = pairs(args.rest_url, file.rest_url);
        let endpoints = parse_endpoints(&ws, &rest)?;
        let simulate = args.simulate || file.simulate.unwrap_or(false);
        let capture = args.capture.or(file.capture);
        let max_age = match pick(args.capture_max_age, file.capture_max_age) {
            Some(text) => parse_duration(&text, "--capture-max-age")?,
            None => None,
        };
        let max_bytes = match pick(args.capture_max_size, file.capture_max_size) {
            Some(text) => Some(parse_size(&text, "--capture-max-size")?),
            None => None,
        };
        let capture_retention = md_capture::Retention { max_age, max_bytes };
        let cross_check_interval = parse_cross_check_interval(pick(
            args.cross_check_interval,
            file.cross_check_interval.take().map(number_text),
        ))?;
        let liveness_timeout = match pick(args.liveness_timeout, file.liveness_timeout.take()) {
            Some(text) => match parse_duration(&text, "--liveness-timeout")? {
                Some(d) if d >= Duration::from_millis(100) => Some(d),
                _ => {
                    return usage(format!(
                        "--liveness-timeout {text:?} is too short; valid: 100ms or more, e.g. 30s"
                    ))
                }
            },
            None => None,
        };
        let serve = crate::serve::resolve(args.serve, file.serve.take(), args.serve_mode)?;
        Ok(Self {
            exchanges,
            symbols,
            channels,
            depth,
            snapshot_interval,
            endpoints,
            sinks: storage.sinks,
            metrics_addr: storage.metrics_addr,
            status_interval: storage.status_interval,
            simulate,
            capture,
            capture_retention,
            cross_check_interval,
            liveness_timeout,
            serve,
        })
    }
}

/// Where and how to store, checked: the part of the settings md-ingest and md-replay share.
#[derive(Debug)]
pub struct Storage {
    /// The sinks, each with its own queue.
    pub sinks: Vec<SinkSpec>,
    /// Prometheus `/metrics` and `/healthz` address.
    pub metrics_addr: Option<SocketAddr>,
    /// How often the status lines are logged (`None`: never).
    pub status_interval: Option<Duration>,
}

impl Storage {
    /// Merges the storage flags with the file's keys; `depth` levels per stored snapshot.
    pub(crate) fn resolve(
        args: StorageArgs,
        file: &mut FileConfig,
        depth: usize,
    ) -> Result<Self, UsageError> {
        Self::resolve_with(args, file, depth, Vec::new())
    }

    /// [`Storage::resolve`], plus sinks the caller names itself (md-replay's exports) on top of
    /// the storage ones.
    pub(crate) fn resolve_with(
        args: StorageArgs,
        file: &mut FileConfig,
        depth: usize,
        mut extra: Vec<SinkSpec>,
    ) -> Result<Self, UsageError> {
        if let Some(dir) = args.events.clone().or(file.events.take()) {
            let config = md_events::EventFilesConfig::new(dir);
            extra.insert(0, lossless("events", SinkKind::Events(Box::new(config))));
        }
        let data_dir = args.data_dir.or(file.data_dir.take()).unwrap_or_else(|| PathBuf::from("./data"));
        let metrics_addr = match pick(args.metrics_addr, file.metrics_addr.take()) {
            Some(text) => Some(text.parse().or_else(|_| {
                usage(format!(
                    "--metrics-addr {text:?} is not an address; valid: HOST:PORT, e.g. 127.0.0.1:9100"
                ))
            })?),
            None => None,
        };
        let status_interval = match pick(args.status_interval, file.status_interval.take()) {
            Some(text) => parse_duration(&text, "--status-interval")?,
            None => Some(Duration::from_secs(10)),
        };
        let influx = InfluxArgs {
            url: pick(args.influx_url, file.influx_url.take()),
            org: pick(args.influx_org, file.influx_org.take()),
            buckets: pick(args.influx_buckets, file.influx_buckets.take().map(List::joined)),
            databases: pick(args.influx_db, file.influx_db.take().map(List::joined)),
            names: FLAG_NAMES,
        };
        let config_name = args.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let sinks =
            sinks(influx, file.sink.take().unwrap_or_default(), &config_name, &data_dir, depth, extra)?;
        Ok(Self { sinks, metrics_addr, status_interval })
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

pub(crate) fn split(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

pub(crate) fn parse_exchanges(text: &Option<String>) -> Result<Vec<ExchangeId>, UsageError> {
    let Some(text) = text else { return Ok(ExchangeId::BUILT_IN.to_vec()) };
    let mut venues = Vec::new();
    for name in split(text) {
        match ExchangeId::parse_built_in(name) {
            Some(id) if !venues.contains(&id) => venues.push(id),
            Some(_) => {}
            None => {
                return usage(format!("unknown exchange {name:?}; valid: {}", ExchangeId::built_in_names()))
            }
        }
    }
    if venues.is_empty() {
        return usage(format!("--exchanges is empty; valid: {}", ExchangeId::built_in_names()));
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
pub(crate) fn parse_duration(text: &str, flag: &str) -> Result<Option<Duration>, UsageError> {
    let t = text.trim();
    let split_at = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split_at);
    let Ok(n) = digits.parse::<u64>() else {
        return usage(format!("{flag} {text:?} is not a duration; valid: e.g. 500ms, 10s, 1m, 1h, 7d, or 0"));
    };
    let duration = match unit {
        "" if n == 0 => return Ok(None),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => {
            return usage(format!(
                "{flag} {text:?} is not a duration; valid: e.g. 500ms, 10s, 1m, 1h, 7d, or 0"
            ))
        }
    };
    Ok((!duration.is_zero()).then_some(duration))
}

/// `--cross-check-interval`: whole seconds or a duration, 1 s to a day; `0` turns checks off
/// (`Some(ZERO)`); not given, the venue's default (`None`).
fn parse_cross_check_interval(text: Option<String>) -> Result<Option<Duration>, UsageError> {
    let Some(text) = text else { return Ok(None) };
    let every = match text.trim().parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs)),
        Err(_) => parse_duration(&text, "--cross-check-interval").ok().map(|d| d.unwrap_or_default()),
    };
    match every {
        Some(every) if every.is_zero() || (Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&every) => {
            Ok(Some(every))
        }
        _ => usage(format!(
            "--cross-check-interval {text:?} is not valid; valid: seconds from 1 to 86400 (e.g. 60), a duration \
             (90s, 2m), or 0 to turn cross-checks off"
        )),
    }
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
            let Some(id) = ExchangeId::parse_built_in(venue.trim()) else {
                return usage(format!(
                    "{flag}: unknown exchange {venue:?}; valid: {}",
                    ExchangeId::built_in_names()
                ));
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

/// How the InfluxDB settings are named where they came from: flags, or keys of a section.
#[derive(Debug, Clone, Copy)]
struct InfluxNames {
    url: &'static str,
    org: &'static str,
    buckets: &'static str,
    db: &'static str,
}

const FLAG_NAMES: InfluxNames =
    InfluxNames { url: "--influx-url", org: "--influx-org", buckets: "--influx-buckets", db: "--influx-db" };
const KEY_NAMES: InfluxNames = InfluxNames { url: "url", org: "org", buckets: "buckets", db: "db" };

struct InfluxArgs {
    url: Option<String>,
    org: Option<String>,
    buckets: Option<String>,
    databases: Option<String>,
    names: InfluxNames,
}

impl InfluxArgs {
    /// The InfluxDB config, `None` when no URL is given (an error if other settings are).
    fn config(self, dir: &Path, depth: usize) -> Result<Option<InfluxConfig>, UsageError> {
        let n = self.names;
        let Some(url) = self.url else {
            if self.org.is_some() || self.buckets.is_some() || self.databases.is_some() {
                return usage(format!("{}/{}/{} need {}", n.org, n.buckets, n.db, n.url));
            }
            return Ok(None);
        };
        if !is_url(&url, &["http://", "https://"]) {
            return usage(format!(
                "{} {url:?} is not a valid URL; valid: http://HOST:PORT or https://HOST:PORT",
                n.url
            ));
        }
        let (api, names) = match (self.org, self.databases) {
            (Some(_), Some(_)) => {
                return usage(format!(
                    "{} selects the v2 API and {} the v1 API; give one of them",
                    n.org, n.db
                ))
            }
            (Some(org), None) => {
                let api = Api::v2_from_env(org).or_else(|_| {
                    usage(format!("the v2 API ({}) needs a token in MD_INFLUX_TOKEN or a file named by MD_INFLUX_TOKEN_FILE", n.org))
                })?;
                (api, self.buckets)
            }
            (None, databases) => {
                if self.buckets.is_some() {
                    return usage(format!(
                        "{} needs {} (v2 API); for the v1 API use {}",
                        n.buckets, n.org, n.db
                    ));
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
        let mut config = InfluxConfig::new(url, api, dir);
        if let Api::V1 { create_databases, .. } = &mut config.api {
            *create_databases = true;
        }
        config.incremental = TargetConfig::new(incremental);
        config.snapshot = TargetConfig::new(snapshot);
        config.schema.snapshot_levels = depth;
        config.validate().or_else(|e| usage(format!("InfluxDB settings: {e}")))?;
        Ok(Some(config))
    }
}

/// Line files under `dir`, `depth` levels per snapshot.
fn files(dir: PathBuf, depth: usize) -> SinkKind {
    let mut config = LineFilesConfig::new(dir);
    config.schema.snapshot_levels = depth;
    SinkKind::Files(Box::new(config))
}

/// Every sink: the flags' InfluxDB one, then each `[[sink]]` section; line files when neither.
fn sinks(
    flags: InfluxArgs,
    sections: Vec<toml::Table>,
    config: &str,
    data_dir: &Path,
    depth: usize,
    extra: Vec<SinkSpec>,
) -> Result<Vec<SinkSpec>, UsageError> {
    let mut sinks = Vec::new();
    if let Some(influx) = flags.config(&data_dir.join("influx"), depth)? {
        sinks.push(lossless("influx", SinkKind::Influx(Box::new(influx))));
    }
    for (i, table) in sections.into_iter().enumerate() {
        let spec = section(table, data_dir, depth)
            .map_err(|e| UsageError(format!("config file {config}: [[sink]] #{}: {}", i + 1, e.0)))?;
        if sinks.iter().any(|s: &SinkSpec| s.name == spec.name) {
            return usage(format!(
                "config file {config}: [[sink]] #{}: a sink named {:?} exists already; give each a different name",
                i + 1,
                spec.name
            ));
        }
        sinks.push(spec);
    }
    // Storage first: line files unless a database or a section is named. The extra sinks
    // (event files, exports) come on top, so `--events` never silently replaces storage.
    if sinks.is_empty() {
        sinks.push(lossless("files", files(data_dir.join("lines"), depth)));
    }
    for spec in extra {
        if sinks.iter().any(|s: &SinkSpec| s.name == spec.name) {
            return usage(format!(
                "a sink named {:?} exists already (a [[sink]] section); name that one differently",
                spec.name
            ));
        }
        sinks.push(spec);
    }
    Ok(sinks)
}

/// A size: bytes, or with a binary unit (`500M`, `20G`, `2T`; `K`, `M`, `G`, `T` = 1024^n).
fn parse_size(text: &str, flag: &str) -> Result<u64, UsageError> {
    let t = text.trim().trim_end_matches(['B', 'b']).trim_end_matches('i');
    let split_at = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split_at);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => 64,
    };
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && shift < 64 && n.leading_zeros() >= shift => Ok(n << shift),
        _ => usage(format!("{flag} {text:?} is not a size; valid: bytes or e.g. 500M, 20G, 2T")),
    }
}

/// A sink with a lossless queue of the default bound.
pub(crate) fn lossless(name: &str, kind: SinkKind) -> SinkSpec {
    SinkSpec { name: name.into(), kind, overflow: Overflow::Block, capacity: DEFAULT_CAPACITY }
}

/// A TOML value as the user wrote it, near enough for an error message.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => format!("{d:?}"),
        toml::Value::Array(_) => "an array".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

/// One `[[sink]]` section: `kind` (`influx` or `files`), optional `name`, `overflow`,
/// `capacity`, and the kind's own keys.
fn section(mut table: toml::Table, data_dir: &Path, depth: usize) -> Result<SinkSpec, UsageError> {
    const COMMON: [&str; 4] = ["kind", "name", "overflow", "capacity"];
    let kind = match table.remove("kind") {
        Some(toml::Value::String(kind)) => kind,
        Some(other) => {
            return usage(format!("kind {} is not valid; valid: \"influx\", \"files\"", shown(&other)))
        }
        None => return usage("kind is missing; valid: \"influx\", \"files\""),
    };
    let own: &[&str] = match kind.as_str() {
        "influx" => &["url", "org", "buckets", "db"],
        "files" => &["dir"],
        _ => return usage(format!("kind {kind:?} is not valid; valid: \"influx\", \"files\"")),
    };
    let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if let Some(unknown) = keys.iter().find(|k| !COMMON.contains(k) && !own.contains(k)) {
        let mut valid: Vec<&str> = COMMON.iter().chain(own).copied().collect();
        valid.retain(|k| *k != "kind");
        return usage(format!("({kind}) unknown key {unknown:?}; valid: {}", valid.join(", ")));
    }
    let text = |table: &mut toml::Table, key: &str| -> Result<Option<String>, UsageError> {
        match table.remove(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(toml::Value::Array(items)) => Ok(Some(
                items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| shown(v), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
            )),
            Some(other) => usage(format!("({kind}) {key} = {} is not text", shown(&other))),
        }
    };
    let name = text(&mut table, "name")?.unwrap_or_else(|| kind.clone());
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return usage(format!("({kind}) name {name:?} is not valid; valid: letters, digits, - and _"));
    }
    let overflow = match text(&mut table, "overflow")? {
        None => Overflow::Block,
        Some(policy) => Overflow::parse(&policy).ok_or_else(|| {
            let valid: Vec<&str> = Overflow::ALL.iter().map(|o| o.as_str()).collect();
            UsageError(format!("({name}) overflow {policy:?} is not valid; valid: {}", valid.join(", ")))
        })?,
    };
    let capacity = match table.remove("capacity") {
        None => DEFAULT_CAPACITY,
        Some(toml::Value::Integer(n)) if (1..=10_000_000).contains(&n) => n as usize,
        Some(other) => {
            return usage(format!(
                "({name}) capacity {} is not valid; valid: packets from 1 to 10000000",
                shown(&other)
            ))
        }
    };
    let kind = match kind.as_str() {
        "files" => {
            let dir = text(&mut table, "dir")?.map_or_else(|| data_dir.join(&name), PathBuf::from);
            files(dir, depth)
        }
        _ => {
            let args = InfluxArgs {
                url: text(&mut table, "url")?,
                org: text(&mut table, "org")?,
                buckets: text(&mut table, "buckets")?,
                databases: text(&mut table, "db")?,
                names: KEY_NAMES,
            };
            let config = args
                .config(&data_dir.join(&name), depth)
                .map_err(|e| UsageError(format!("({name}) {}", e.0)))?
                .ok_or_else(|| UsageError(format!("({name}) url is missing; valid: http://HOST:PORT")))?;
            SinkKind::Influx(Box::new(config))
        }
    };
    Ok(SinkSpec { name, kind, overflow, capacity })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cross_check_interval_in_seconds_or_as_a_duration_and_zero_is_off() {
        let parse = |text: &str| parse_cross_check_interval(Some(text.into())).unwrap();
        assert_eq!(parse("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse_cross_check_interval(None).unwrap(), None, "the venue's default");
        assert!(parse_cross_check_interval(Some("0.5".into())).is_err());
    }
}
