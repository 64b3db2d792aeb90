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
use md_driver::{Driver, DriverConfig, Selection};
use md_exchanges::{build, Endpoints};
use md_pipeline::{FanOut, Overflow, SubscriberConfig};
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
    let config = DriverConfig { channels: vec![Channel::Trades], ..DriverConfig::default() };
    // Symbols the venue does not list are refused (logged), never subscribed blindly.
    let driver = Driver::new(exchange, Selection::Symbols(wanted), config);
    // A DropOldest queue: a terminal that scrolls slowly must never hold the driver back.
    let mut fanout = FanOut::new();
    let mut rx = fanout.subscribe(SubscriberConfig::new("print", Overflow::DropOldest, 4096));
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let run = tokio::spawn(driver.run(fanout.publisher(), cancel));
    while let Some(batch) = rx.recv().await {
        for packet in batch.iter() {
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
    }
    run.await??;
    Ok(())
}
