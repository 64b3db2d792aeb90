//! md's crates as a library: one venue, one or more symbols, normalized trades printed as
//! they arrive, with the venue's exact decimal text.
//!
//! ```sh
//! cargo run -p md-examples --example stream_trades -- --simulate binance BTC-USDT   # offline
//! cargo run -p md-examples --example stream_trades -- bybit BTC-USDT ETH-USDT       # live venue
//! ```
#![allow(missing_docs)]

use std::sync::Arc;

use md_core::{Channel, ExchangeId, Payload};
use md_driver::{Driver, DriverConfig};
use md_exchanges::{build, Endpoints};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let simulate = args.first().is_some_and(|a| a == "--simulate");
    if simulate {
        args.remove(0);
    }
    let venue = args.first().and_then(|v| ExchangeId::parse(v)).unwrap_or(ExchangeId::Binance);
    let wanted: Vec<String> = if args.len() > 1 { args[1..].to_vec() } else { vec!["BTC-USDT".into()] };

    // Offline, the same protocol comes from an in-process simulator on loopback.
    let simulator =
        if simulate { Some(md_sim::Simulator::start(md_sim::SimConfig::default()).await?) } else { None };
    let endpoints = match &simulator {
        Some(sim) => Endpoints { ws_url: Some(sim.ws_url(venue)), rest_url: Some(sim.rest_url(venue)) },
        None => Endpoints::default(),
    };
    let exchange: Arc<dyn md_core::Exchange> = Arc::from(build(venue, &endpoints).ok_or("unknown venue")?);
    let listing = exchange.symbol_handler().get_symbols().await?;
    let symbols: Vec<_> = wanted.iter().filter_map(|s| listing.resolve(s).cloned()).collect();
    if symbols.is_empty() {
        return Err(format!("{venue} lists none of {wanted:?}").into());
    }

    let config = DriverConfig { channels: vec![Channel::Trades], ..DriverConfig::default() };
    let driver = Driver::new(exchange, Arc::new(listing), symbols, config);
    let (tx, mut rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let run = tokio::spawn(driver.run(tx, cancel));
    while let Some(packet) = rx.recv().await {
        if let Payload::Trade(trade) = &packet.data {
            println!(
                "{} {} {:>4} {} @ {}  id {}  venue time {} ns, received {} ns",
                packet.exchange,
                packet.symbol,
                trade.side.as_str(),
                trade.qty,
                trade.price,
                trade.trade_id,
                packet.exchange_ts,
                packet.local_ts
            );
        }
    }
    run.await??;
    Ok(())
}
