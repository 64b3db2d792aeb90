//! `md-sim`: runs the exchange simulator on loopback and prints each venue's URLs.
//!
//! `md-sim --venues binance,bybit,huobi,bitstamp --symbols BTC-USDT,ETH-USDT --rate 20 --seed 1`

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use md_core::{ExchangeId, Symbol};
use md_sim::{SimConfig, Simulator};

/// A loopback Binance / Bybit / HTX / Bitstamp market-data simulator.
#[derive(Debug, Parser)]
#[command(name = "md-sim", version, about)]
struct Args {
    /// Venues to simulate, comma-separated: binance, bybit, huobi (or htx), bitstamp.
    #[arg(long, default_value = "binance,bybit,huobi,bitstamp", value_delimiter = ',')]
    venues: Vec<String>,
    /// Canonical symbols, comma-separated (BTC-USDT,ETH-USDT).
    #[arg(long, default_value = "BTC-USDT,ETH-USDT,SOL-USDT", value_delimiter = ',')]
    symbols: Vec<String>,
    /// Book updates per symbol per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Trades per symbol per second.
    #[arg(long, default_value_t = 5.0)]
    trades: f64,
    /// Levels per side of each book.
    #[arg(long, default_value_t = 50)]
    depth: usize,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Server heartbeat period in milliseconds (0 disables).
    #[arg(long, default_value_t = 5000)]
    ping_ms: u64,
}

fn config(args: &Args) -> Result<SimConfig, String> {
    let venues = args
        .venues
        .iter()
        .map(|v| ExchangeId::parse(v.trim()).ok_or_else(|| format!("unknown venue {v:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let symbols = args
        .symbols
        .iter()
        .map(|s| {
            Symbol::parse(s.trim())
                .map(|sym| (sym.base().to_owned(), sym.quote().to_owned()))
                .ok_or_else(|| format!("invalid symbol {s:?} (expected BASE-QUOTE)"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config = SimConfig {
        venues,
        symbols,
        seed: args.seed,
        updates_per_sec: args.rate,
        trades_per_sec: args.trades,
        depth: args.depth,
        ping_interval: Duration::from_millis(args.ping_ms),
        ..SimConfig::default()
    };
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            eprintln!("md-sim: {}", text.lines().next().unwrap_or("invalid arguments"));
            return ExitCode::from(2);
        }
    };
    let config = match config(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("md-sim: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("md-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let sim = match Simulator::start(config).await {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("md-sim: {e}");
                return ExitCode::FAILURE;
            }
        };
        for venue in sim.venues() {
            println!("{venue} ws {} rest {}", sim.ws_url(venue), sim.rest_url(venue));
        }
        tracing::info!("serving; Ctrl-C stops");
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown().await;
        ExitCode::SUCCESS
    })
}
