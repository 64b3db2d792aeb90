//! Command-line flags, checked strictly: a bad value exits 2 with one line naming the flag,
//! what was wrong and what is valid.

use std::path::PathBuf;

use clap::Parser;
use md_core::ExchangeId;

/// The venues md-serve can merge, for "valid: ..." messages (md-serve's contract lists these).
pub const VENUES: [&str; 4] = ["binance", "bybit", "huobi", "bitstamp"];

/// The largest `--depth` md-serve serves (its `MAX_DEPTH`).
pub const MAX_DEPTH: u32 = 100;

/// Show one symbol's merged order book (across venues) from md-serve as a live ladder.
#[derive(Debug, Parser)]
#[command(name = "md-book", version, after_help = AFTER_HELP)]
pub struct Args {
    /// The symbol, canonical (BTC-USDT) or concatenated (btcusdt).
    #[arg(value_name = "SYMBOL", value_parser = parse_symbol)]
    pub symbol: String,

    /// md-serve's gRPC address.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9051", value_parser = parse_addr)]
    pub addr: String,

    /// Rows per side (one row per venue and price), 1 to 100.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = parse_depth)]
    pub depth: u32,

    /// Venues to merge, e.g. binance,bybit (default: every venue listing the symbol).
    #[arg(long, value_name = "LIST", value_parser = parse_venues)]
    pub venues: Option<Venues>,

    /// Print N summaries as plain text and exit 0 (also plain when stdout is not a terminal).
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub count: Option<u64>,

    /// Read the bearer token from this file (else from MD_SERVE_TOKEN; never from argv).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

const AFTER_HELP: &str = "\
Asks above bids, best prices next to the spread line; one line per venue with its state and lag.
Ctrl-C quits. Exit codes: 0 done or interrupted, 1 server unreachable, symbol unknown or stream
ended, 2 bad flags.";

/// The venues of `--venues`, lower-case, in the order given, no duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venues(pub Vec<String>);

/// Parses the command line; `--help`/`--version` print and exit 0, a bad flag exits 2 with
/// one line.
pub fn parse() -> Args {
    match Args::try_parse() {
        Ok(args) => args,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            // clap's first paragraph, on one line: "required arguments were not provided:"
            // names them on the lines below it.
            let text = e.to_string();
            let first: Vec<&str> = text.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
            let first = first.join(" ");
            eprintln!("md-book: {} (see --help)", first.trim_start_matches("error: "));
            std::process::exit(2);
        }
    }
}

fn parse_symbol(text: &str) -> Result<String, String> {
    let part_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric());
    let ok = match text.split_once('-') {
        Some((base, quote)) => part_ok(base) && part_ok(quote),
        None => part_ok(text),
    };
    if ok {
        Ok(text.to_owned())
    } else {
        Err("valid: BASE-QUOTE (BTC-USDT) or the concatenated form (btcusdt)".into())
    }
}

fn parse_addr(text: &str) -> Result<String, String> {
    // Plaintext gRPC only: md-serve listens on loopback or behind a proxy, and tonic is built
    // here without TLS.
    let valid = "valid: http://HOST:PORT, e.g. http://127.0.0.1:9051";
    let rest = text.strip_prefix("http://").ok_or_else(|| valid.to_owned())?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(valid.into());
    }
    tonic::transport::Endpoint::from_shared(text.to_owned()).map_err(|_| valid.to_owned())?;
    Ok(text.to_owned())
}

fn parse_depth(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_DEPTH).contains(&n) => Ok(n),
        _ => Err(format!("valid: a whole number from 1 to {MAX_DEPTH}")),
    }
}

fn parse_count(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("valid: a whole number, at least 1".into()),
    }
}

fn parse_venues(text: &str) -> Result<Venues, String> {
    let valid = VENUES.join(", ");
    let mut venues: Vec<String> = Vec::new();
    for name in text.split(',') {
        let venue = ExchangeId::parse(name.trim())
            .map(ExchangeId::as_str)
            .filter(|v| VENUES.contains(v))
            .ok_or_else(|| format!("unknown venue {:?}; valid: {valid}", name.trim()))?;
        if venues.iter().any(|v| v == venue) {
            return Err(format!("{venue} named twice"));
        }
        venues.push(venue.to_owned());
    }
    Ok(Venues(venues))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn symbols() {
        assert!(parse_symbol("BTC-USDT").is_ok());
        assert!(parse_symbol("btcusdt").is_ok());
        for bad in ["", "-", "BTC-", "-USDT", "BTC-USDT-X", "BTC/USDT", "btc usdt", "bt\u{1b}c"] {
            assert!(parse_symbol(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addrs() {
        assert!(parse_addr("http://127.0.0.1:9051").is_ok());
        assert!(parse_addr("http://localhost:1").is_ok());
        for bad in ["127.0.0.1:9051", "https://x:1", "http://", "ftp://x", "http:// x"] {
            assert!(parse_addr(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_depth("5").unwrap(), 5);
        assert!(parse_depth("0").is_err());
        assert!(parse_depth("101").is_err());
        assert!(parse_depth("-1").is_err());
        assert_eq!(parse_count("3").unwrap(), 3);
        assert!(parse_count("0").is_err());
        assert!(parse_count("x").is_err());
    }

    #[test]
    fn venues() {
        assert_eq!(parse_venues("binance,HTX").unwrap(), Venues(vec!["binance".into(), "huobi".into()]));
        assert_eq!(parse_venues("bitstamp").unwrap(), Venues(vec!["bitstamp".into()]));
        assert!(parse_venues("binance,kraken").unwrap_err().contains("kraken"));
        assert!(parse_venues("binance,binance").is_err());
        assert!(parse_venues("").is_err());
    }
}
