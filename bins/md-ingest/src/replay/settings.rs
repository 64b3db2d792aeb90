//! md-replay's flags and config file, checked: every refusal is one line naming the bad value
//! and what is valid (exit 2).

use std::path::PathBuf;

use md_core::{ExchangeId, Symbol, UnixNanos};

use crate::replay::cli::ReplayArgs;
use crate::settings::{
    lossless, parse_exchanges, read_file, split, usage, FileConfig, List, SinkKind, Storage, UsageError,
};

/// What to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// md's own capture (a folder of venue folders, one venue's folder, or one file).
    Capture(PathBuf),
    /// A tardis.dev raw NDJSON file of one venue.
    Tardis {
        /// The file.
        path: PathBuf,
        /// Its venue.
        exchange: ExchangeId,
    },
    /// cryptofeed raw files of one venue.
    Cryptofeed(Vec<PathBuf>),
}

/// How fast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the pipeline goes.
    Max,
    /// This many times the recorded pace.
    Times(f64),
}

/// Everything md-replay runs with, checked.
#[derive(Debug)]
pub struct ReplaySettings {
    /// What to replay.
    pub input: Input,
    /// Venues to replay (`None`: all in the input).
    pub exchanges: Option<Vec<ExchangeId>>,
    /// Symbols to store (`None`: all).
    pub symbols: Option<Vec<Symbol>>,
    /// Store nothing recorded before this.
    pub from: Option<UnixNanos>,
    /// Stop at this.
    pub to: Option<UnixNanos>,
    /// How fast.
    pub speed: Speed,
    /// Show progress on stderr.
    pub progress: bool,
    /// Where and how to store.
    pub storage: Storage,
}

impl ReplaySettings {
    /// Checks the flags and the config file; `depth` is the snapshot depth the recording was
    /// sampled at (so a replay encodes snapshots as the live run did), found by `depth_of`.
    pub fn resolve(args: ReplayArgs, depth_of: impl FnOnce(&Input) -> usize) -> Result<Self, UsageError> {
        let mut file = match &args.storage.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        refuse_live_keys(&file)?;
        let input = input(&args)?;
        let exchanges = match args.exchanges.or(file.exchanges.take().map(List::joined)) {
            Some(text) => Some(parse_exchanges(&Some(text))?),
            None => None,
        };
        let symbols = match args.symbols.or(file.symbols.take().map(List::joined)) {
            Some(text) => Some(
                split(&text)
                    .map(|s| {
                        Symbol::parse(s).ok_or_else(|| {
                            UsageError(format!(
                                "--symbols: {s:?} is not a canonical symbol; valid: BASE-QUOTE, e.g. BTC-USDT"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let from = args.from.as_deref().map(|t| time(t, "--from")).transpose()?;
        let to = args.to.as_deref().map(|t| time(t, "--to")).transpose()?;
        if let (Some(from), Some(to)) = (from, to) {
            if from >= to {
                return usage("--from must be before --to");
            }
        }
        let speed = match args.speed.as_deref() {
            None | Some("max") => Speed::Max,
            Some(text) => match text.trim_start_matches('x').parse::<f64>() {
                Ok(n) if n.is_finite() && n > 0.0 => Speed::Times(n),
                _ => {
                    return usage(format!(
                        "--speed {text:?} is not valid; valid: max, or a factor > 0 such as 1, 10, 0.5"
                    ))
                }
            },
        };
        let progress = match args.progress.as_str() {
            "auto" => std::io::IsTerminal::is_terminal(&std::io::stderr()),
            "always" => true,
            "never" => false,
            other => return usage(format!("--progress {other:?} is not valid; valid: auto, always, never")),
        };
        let depth = depth_of(&input);
        let mut exports = Vec::new();
        for (dir, format) in [(args.csv, md_export::Format::Csv), (args.parquet, md_export::Format::Parquet)]
        {
            if let Some(dir) = dir {
                let config = md_export::ExportConfig::new(dir, format).depth(depth);
                exports.push(lossless(format.as_str(), SinkKind::Export(Box::new(config))));
            }
        }
        let storage = Storage::resolve_with(args.storage, &mut file, depth, exports)?;
        Ok(Self { input, exchanges, symbols, from, to, speed, progress, storage })
    }
}

/// Exactly one input.
fn input(args: &ReplayArgs) -> Result<Input, UsageError> {
    let given = usize::from(args.capture.is_some())
        + usize::from(args.tardis.is_some())
        + usize::from(!args.cryptofeed.is_empty());
    if given != 1 {
        return usage("give one input: --capture DIR, --tardis FILE --exchange VENUE, or --cryptofeed FILES");
    }
    if let Some(dir) = &args.capture {
        if !dir.exists() {
            return usage(format!("--capture {}: no such file or folder", dir.display()));
        }
        return Ok(Input::Capture(dir.clone()));
    }
    if let Some(path) = &args.tardis {
        let Some(name) = &args.exchange else {
            return usage("--tardis needs --exchange VENUE (tardis lines do not name their venue); valid: binance, bybit-spot, huobi");
        };
        let exchange =
            md_capture::foreign::tardis_exchange(name).map_err(|e| UsageError(format!("--exchange: {e}")))?;
        if !path.is_file() {
            return usage(format!("--tardis {}: no such file", path.display()));
        }
        return Ok(Input::Tardis { path: path.clone(), exchange });
    }
    if let Some(missing) = args.cryptofeed.iter().find(|p| !p.is_file()) {
        return usage(format!("--cryptofeed {}: no such file", missing.display()));
    }
    Ok(Input::Cryptofeed(args.cryptofeed.clone()))
}

/// RFC 3339 UTC or ns since the epoch.
fn time(text: &str, flag: &str) -> Result<UnixNanos, UsageError> {
    if let Ok(ns) = text.parse::<i64>() {
        return Ok(ns);
    }
    md_capture::foreign::parse_iso8601_ns(text).map_err(|_| {
        UsageError(format!(
            "{flag} {text:?} is not a time; valid: 2026-12-01T10:00:00Z (UTC) or ns since the epoch"
        ))
    })
}

/// The config keys that shape a live run: a replay takes them from the recording.
fn refuse_live_keys(file: &FileConfig) -> Result<(), UsageError> {
    let live = [
        ("channels", file.channels.is_some()),
        ("depth", file.depth.is_some()),
        ("snapshot_interval", file.snapshot_interval.is_some()),
        ("ws_url", file.ws_url.is_some()),
        ("rest_url", file.rest_url.is_some()),
        ("simulate", file.simulate.is_some()),
        ("capture", file.capture.is_some()),
        ("capture_max_age", file.capture_max_age.is_some()),
        ("capture_max_size", file.capture_max_size.is_some()),
    ];
    match live.iter().find(|(_, set)| *set) {
        Some((key, _)) => usage(format!(
            "config key {key} is md-ingest's: a replay takes it from the recording; remove it or use another file"
        )),
        None => Ok(()),
    }
}
