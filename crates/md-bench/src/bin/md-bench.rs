//! md's end-to-end benchmark: pre-encoded venue frames replayed over loopback, from a sender
//! process, into the real driver (parse, verify books) and a counting line-protocol sink.
//!
//! ```sh
//! cargo run --release -p md-bench -- [--venues binance,bybit,huobi,bitstamp] [--symbols 100]
//!     [--messages 1000000] [--rates 20000,100000] [--seconds 10] [--influx-url URL]
//! ```
//! Per venue it reports, in one run: the raw WebSocket framing ceiling (msgs/s read with no
//! parsing); the in-process rate of the same frames (the driver's ConnectionCore: parse, verify
//! books, route, then encode; no socket, no runtime); saturation end to end on one thread and
//! on md-ingest's multi-thread runtime (msgs/s, share of in-process, CPU-seconds per million
//! messages, peak RSS); and at each fixed rate the latency from frame received to line in a
//! batch. The in-process rate is measured again after each end-to-end run, and each share
//! divides by the mean of the in-process runs just before and after it, so that the host's
//! drift between runs cancels. `--runtimes one,multi` picks the runtimes (default both);
//! `--rounds N` repeats the saturation measurements N times, venues interleaved (their order
//! rotated each round), and prints the medians (fixed-rate latency runs only in the first
//! round).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use md_bench::frames;
use md_bench::inprocess::InProcess;
use md_bench::measure::{cpu_seconds, peak_rss_mib, rss_mib, Histogram};
use md_core::{now_ns, ExchangeId};
use md_driver::{Driver, DriverConfig, Selection};
use md_exchanges::{build, Endpoints};
use md_pipeline::{FanOut, Overflow, SubscriberConfig, Subscription};
use md_sink_influx::{LineEncoder, SchemaConfig};
use tokio_util::sync::CancellationToken;

struct Options {
    venues: Vec<ExchangeId>,
    symbols: usize,
    messages: usize,
    rates: Vec<f64>,
    seconds: f64,
    influx_url: Option<String>,
    runtimes: Vec<Runtime>,
    rounds: usize,
    replay: bool,
}

/// Which tokio runtime the measured pipeline runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Runtime {
    /// A current-thread runtime: driver and sink on one thread.
    #[default]
    One,
    /// md-ingest's runtime (`md_pipeline::runtime()`): a worker per core but one, and
    /// current-thread when that leaves one (as on 2 cores).
    Multi,
    /// md-ingest's runtime with every raw event also captured to disk (`md-ingest --capture`).
    Capture,
}

impl Runtime {
    fn build(self) -> tokio::runtime::Runtime {
        match self {
            Self::One => tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
            Self::Multi | Self::Capture => {
                match std::env::var("MD_BENCH_WORKERS").ok().and_then(|w| w.parse().ok()) {
                    // An experiment's knob: the same runtime with another worker count.
                    Some(workers) => tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(workers)
                        .enable_all()
                        .build()
                        .unwrap(),
                    None => md_bench::ingest_runtime().unwrap(),
                }
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::One => "one thread",
            Self::Multi => "md-ingest runtime",
            Self::Capture => "md-ingest + capture",
        }
    }
}

const USAGE: &str = "usage: md-bench [--venues binance,bybit,huobi,bitstamp] [--symbols N] [--messages N] \
[--rates R1,R2 | --rates \"\"] [--seconds S] [--runtimes one,multi,capture] [--rounds N] [--influx-url URL] [--replay]";

/// Parses the flags; a bad one is an error naming it and what is valid.
fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        venues: ExchangeId::BUILT_IN.to_vec(),
        symbols: 100,
        messages: 1_000_000,
        rates: vec![20_000.0, 100_000.0],
        seconds: 10.0,
        influx_url: None,
        runtimes: vec![Runtime::One, Runtime::Multi],
        rounds: 1,
        replay: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value; {USAGE}"));
        match flag.as_str() {
            "--venues" => {
                o.venues = list(&value()?, |v| {
                    ExchangeId::parse_built_in(v).ok_or_else(|| {
                        format!("--venues: unknown venue {v:?}; valid: {}", ExchangeId::built_in_names())
                    })
                })?
            }
            "--symbols" => o.symbols = number(flag, &value()?)?,
            "--messages" => o.messages = number(flag, &value()?)?,
            "--rates" => o.rates = list(&value()?, |r| number(flag, r))?,
            "--seconds" => o.seconds = number(flag, &value()?)?,
            "--influx-url" => o.influx_url = Some(value()?),
            "--runtimes" => {
                o.runtimes = list(&value()?, |r| match r {
                    "one" => Ok(Runtime::One),
                    "multi" => Ok(Runtime::Multi),
                    "capture" => Ok(Runtime::Capture),
                    other => {
                        Err(format!("--runtimes: unknown runtime {other:?}; valid: one, multi, capture"))
                    }
                })?
            }
            "--rounds" => o.rounds = number(flag, &value()?)?,
            "--replay" => o.replay = true,
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    if o.symbols == 0 || o.messages == 0 || o.rounds == 0 || o.venues.is_empty() || o.runtimes.is_empty() {
        return Err(format!(
            "--symbols, --messages, --rounds, --venues and --runtimes must not be empty or 0; {USAGE}"
        ));
    }
    Ok(o)
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.trim().parse().map_err(|_| format!("{flag}: {value:?} is not a valid number"))
}

/// A comma-separated list; an empty string is an empty list (`--rates ""`: no latency runs).
fn list<T>(value: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    value.split(',').map(str::trim).filter(|x| !x.is_empty()).map(item).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "in-process") {
        let venue = ExchangeId::parse(&args[1]).unwrap();
        in_process_child(venue, args[2].parse().unwrap(), args[3].parse().unwrap());
        return;
    }
    if args.first().is_some_and(|a| a == "serve") {
        let runtime = Runtime::One.build();
        // The sender: its own process, so its CPU and memory are not counted as md's.
        let venue = ExchangeId::parse(&args[1]).unwrap();
        let (symbols, messages): (usize, usize) = (args[2].parse().unwrap(), args[3].parse().unwrap());
        runtime.block_on(async move {
            let traffic = frames::traffic(venue, symbols, messages);
            let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let rest = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{} {}", ws.local_addr().unwrap(), rest.local_addr().unwrap());
            md_bench::sender::serve(traffic, ws, rest).await;
        });
        return;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let options = match options(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("md-bench: {message}");
            std::process::exit(2);
        }
    };
    if options.replay {
        replay_bench(&options);
        return;
    }
    println!(
        "md-bench: {} symbols, {} messages; machine: {} cores",
        options.symbols,
        options.messages,
        num_cpus()
    );
    let mut rounds: Vec<(ExchangeId, Round)> = Vec::new();
    for round in 1..=options.rounds {
        if options.rounds > 1 {
            println!("-- round {round} of {}", options.rounds);
        }
        // Venues interleaved within a round, so that a noisy neighbour weighs on every venue
        // alike, and the order rotated from round to round, so that no venue always runs
        // right after the same other one (or first).
        let n = options.venues.len();
        for k in 0..n {
            let venue = options.venues[(k + round - 1) % n];
            rounds.push((venue, bench_venue(venue, &options, round)));
        }
    }
    if options.rounds > 1 {
        summary(&options, &rounds);
    }
}

/// `--replay`: per venue, the frames written as a capture, then read and replayed through the
/// connection core into a counting sink on this thread, `rounds` times; medians.
fn replay_bench(o: &Options) {
    println!("md-bench --replay: {} symbols, {} messages, {} rounds", o.symbols, o.messages, o.rounds);
    for &venue in &o.venues {
        let dir = tempfile::tempdir().unwrap();
        let written = Instant::now();
        md_bench::replay::write_capture(dir.path(), venue, o.symbols, o.messages);
        let write_secs = written.elapsed().as_secs_f64();
        let runs: Vec<md_bench::replay::ReplayRun> =
            (0..o.rounds).map(|_| md_bench::replay::replay_capture(dir.path())).collect();
        let rates: Vec<f64> = runs.iter().map(|r| r.rate()).collect();
        let reads: Vec<f64> = (0..o.rounds).map(|_| md_bench::replay::read_only(dir.path())).collect();
        println!("{venue:8} reading the capture alone: {:.0} events/s median", median(reads));
        let last = runs[runs.len() - 1];
        println!(
            "{venue:8} replay from capture: {:.0} msg/s median [{:.0}–{:.0}] ({:.0} ns per message: read, inflate, parse, books), {} frames, {} packets, {:.1} bytes on disk per frame (written in {write_secs:.1} s)",
            median(rates.clone()),
            min(&rates),
            max(&rates),
            1e9 / median(rates.clone()),
            last.frames,
            last.packets,
            last.bytes_on_disk as f64 / last.frames.max(1) as f64
        );
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A sender process for one venue and message count; killed on drop.
struct Sender {
    child: std::process::Child,
    ws: String,
    rest: String,
}

impl Sender {
    fn start(venue: ExchangeId, symbols: usize, messages: usize) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["serve", venue.as_str(), &symbols.to_string(), &messages.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
            .unwrap();
        let mut parts = line.split_whitespace();
        let (ws, rest) = (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned());
        Self { child, ws, rest }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One round's saturation figures of one venue.
#[derive(Debug, Clone, Default)]
struct Round {
    ceiling: f64,
    /// The mean of the round's in-process runs (one before the first end-to-end run, one after
    /// each).
    in_process: f64,
    /// One end-to-end run per runtime.
    e2e: Vec<EndToEnd>,
}

/// One end-to-end saturation run of a round.
#[derive(Debug, Clone, Copy)]
struct EndToEnd {
    runtime: Runtime,
    /// Messages per second.
    rate: f64,
    /// Of the mean of the in-process runs just before and just after it.
    share: f64,
    /// Of the in-process run before it alone (the harness's definition until 2026-12-02,
    /// printed beside the bracketed one).
    share_of_before: f64,
    cpu_per_million: f64,
}

impl Round {
    /// The end-to-end rate on `runtime`, if it ran.
    fn rate(&self, runtime: Runtime) -> Option<f64> {
        self.e2e.iter().find(|e| e.runtime == runtime).map(|e| e.rate)
    }
}

/// The smallest value (infinity for none).
fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The largest value (0 for none: every figure here is a rate or a ratio).
fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

/// The median; of an even count, the mean of the middle two (the upper one alone would lean
/// every ten-round summary towards the better rounds).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Medians over the rounds, per venue; shares are taken within each round, then the median.
fn summary(o: &Options, rounds: &[(ExchangeId, Round)]) {
    println!(
        "-- medians of {} rounds (share of in-process taken within each round, against the mean of the in-process runs before and after)",
        o.rounds
    );
    for &venue in &o.venues {
        let of: Vec<&Round> = rounds.iter().filter(|(v, _)| *v == venue).map(|(_, r)| r).collect();
        let ceiling = median(of.iter().map(|r| r.ceiling).collect());
        let in_process = median(of.iter().map(|r| r.in_process).collect());
        print!("{venue:8} ceiling {ceiling:>9.0} | in-process {in_process:>9.0} msg/s");
        for &runtime in &o.runtimes {
            let pick = |field: fn(&EndToEnd) -> f64| -> f64 {
                median(
                    of.iter()
                        .flat_map(|r| r.e2e.iter().filter(|e| e.runtime == runtime))
                        .map(field)
                        .collect(),
                )
            };
            print!(
                " | {}: {:.0} msg/s, {:.0}% ({:.0}% of the run before), {:.2} CPU-s/M",
                runtime.name(),
                pick(|e| e.rate),
                100.0 * pick(|e| e.share),
                100.0 * pick(|e| e.share_of_before),
                pick(|e| e.cpu_per_million)
            );
        }
        println!();
        if let [first, second, ..] = o.runtimes[..] {
            let ratios: Vec<f64> = of.iter().filter_map(|r| Some(r.rate(second)? / r.rate(first)?)).collect();
            println!(
                "{venue:8} paired: {} ÷ {} within each round {:.3} median [{:.3}–{:.3}], ≥ 1 in {} of {}",
                second.name(),
                first.name(),
                median(ratios.clone()),
                min(&ratios),
                max(&ratios),
                ratios.iter().filter(|&&r| r >= 1.0).count(),
                ratios.len()
            );
        }
    }
}

/// One venue's runs in round `number` (from 1); latency and InfluxDB runs only in the first.
fn bench_venue(venue: ExchangeId, o: &Options, number: usize) -> Round {
    let with_rates = number == 1;
    let mut round = Round::default();
    let one = Runtime::One.build();
    let sender = Sender::start(venue, o.symbols, o.messages);
    let ceiling = one.block_on(framing_ceiling(&sender, o.messages));
    drop(sender);
    let (mut before, ns_per_message) = in_process(venue, o.symbols, o.messages);
    let mut in_process_runs = vec![before];
    round.ceiling = ceiling;
    println!(
        "{venue:8} ceiling {ceiling:>9.0} msg/s | in-process {before:>9.0} msg/s ({ns_per_message:.0} ns per message: parse, books, encode)"
    );
    // The runtimes' order alternates from round to round: in one 5-round run the second
    // end-to-end run of a round was the slower for Binance in every round although both
    // runtimes were the same (current-thread on 2 cores), so a fixed order can charge the
    // host's drift to whichever runtime runs second.
    let mut runtimes = o.runtimes.clone();
    if number.is_multiple_of(2) {
        runtimes.reverse();
    }
    for runtime in runtimes {
        let rt = runtime.build();
        let sender = Sender::start(venue, o.symbols, o.messages);
        let capture = (runtime == Runtime::Capture).then(|| tempfile::tempdir().unwrap());
        let saturation = rt.block_on(pipeline_with(
            venue,
            &sender,
            "/saturate",
            (o.symbols, o.messages),
            None,
            capture.as_ref().map(|d| d.path()),
        ));
        drop(sender);
        // The host's speed drifts between runs seconds apart (±20% here), so the share divides
        // by the mean of the in-process runs just before and just after: a drift that is
        // steady over the bracket then cancels out of the ratio.
        let (after, _) = in_process(venue, o.symbols, o.messages);
        in_process_runs.push(after);
        let in_process = (before + after) / 2.0;
        println!(
            "{venue:8} end to end on {:17}: {:>9.0} msg/s ({:.0}% of in-process {:.0}k before and {:.0}k after; {:.0}% of the one before; {:.1}% of ceiling), {:.2} CPU-s per million, {:.0} packets per batch, RSS {:.1} MiB at the end (peak {:.1})",
            runtime.name(),
            saturation.rate,
            100.0 * saturation.rate / in_process,
            before / 1e3,
            after / 1e3,
            100.0 * saturation.rate / before,
            100.0 * saturation.rate / ceiling,
            saturation.cpu_per_million,
            saturation.packets_per_batch,
            saturation.steady_rss,
            saturation.peak_rss
        );
        round.e2e.push(EndToEnd {
            runtime,
            rate: saturation.rate,
            share: saturation.rate / in_process,
            share_of_before: saturation.rate / before,
            cpu_per_million: saturation.cpu_per_million,
        });
        before = after;
        let rates = if with_rates { o.rates.as_slice() } else { &[] };
        for &rate in rates {
            let messages = (rate * o.seconds) as usize;
            let sender = Sender::start(venue, o.symbols, messages);
            let r =
                rt.block_on(pipeline(venue, &sender, &format!("/rate/{rate}"), o.symbols, messages, None));
            println!(
                "{venue:8} on {:17} at {:>6.0} msg/s: latency frame -> line p50 {} us, p99 {} us, p99.9 {} us ({} samples)",
                runtime.name(),
                rate,
                r.latency.quantile_us(0.5),
                r.latency.quantile_us(0.99),
                r.latency.quantile_us(0.999),
                r.latency.count()
            );
        }
        if let Some(url) = o.influx_url.as_ref().filter(|_| with_rates) {
            let sender = Sender::start(venue, o.symbols, o.messages);
            let r = rt.block_on(pipeline(venue, &sender, "/saturate", o.symbols, o.messages, Some(url)));
            println!(
                "{venue:8} on {:17} into influxd at {url}: {:.0} lines/s written",
                runtime.name(),
                r.rate
            );
        }
    }
    round.in_process = in_process_runs.iter().sum::<f64>() / in_process_runs.len() as f64;
    round
}

/// The same frames through the driver's ConnectionCore and the encoder in a plain loop: the
/// rate after warm-up (every book synced) and the nanoseconds per message.
///
/// The frames are generated in chunks of a thousand, untimed, so that each is hot in cache
/// when fed, as a frame just read from a socket is; a million pre-built frames (450 MB) would
/// measure cache misses instead. Runs in a child process, so its memory is not counted in the
/// end-to-end RSS.
fn in_process(venue: ExchangeId, symbols: usize, messages: usize) -> (f64, f64) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["in-process", venue.as_str(), &symbols.to_string(), &messages.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

/// The in-process measurement itself: prints the rate and the nanoseconds per message.
fn in_process_child(venue: ExchangeId, symbols: usize, messages: usize) {
    const CHUNK: usize = 1000;
    let mut generator = frames::Generator::new(venue, symbols);
    let mut path = InProcess::new(venue, symbols);
    for frame in std::mem::take(&mut generator.opening) {
        path.feed(&frame);
    }
    // Warm-up: every book's first updates, its snapshot answered, out of the timed part.
    for _ in 0..symbols * 5 {
        path.feed(&generator.next_frame().1);
    }
    let mut chunk = Vec::with_capacity(CHUNK);
    let (mut elapsed, mut timed) = (Duration::ZERO, 0usize);
    while timed < messages {
        chunk.clear();
        chunk.extend((0..CHUNK.min(messages - timed)).map(|_| generator.next_frame().1));
        let started = Instant::now();
        for frame in &chunk {
            path.feed(frame);
        }
        elapsed += started.elapsed();
        timed += chunk.len();
    }
    let seconds = elapsed.as_secs_f64();
    println!("{} {}", timed as f64 / seconds, seconds * 1e9 / timed as f64);
}

/// Raw WebSocket framing: read every frame, parse nothing.
async fn framing_ceiling(sender: &Sender, messages: usize) -> f64 {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/raw", sender.ws)).await.unwrap();
    let mut first = None;
    let mut n = 0;
    while n < messages {
        match ws.next().await {
            Some(Ok(m)) if m.is_text() || m.is_binary() => {
                first.get_or_insert_with(Instant::now);
                n += 1;
            }
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    n as f64 / first.map_or(1.0, |f| f.elapsed().as_secs_f64())
}

struct Outcome {
    rate: f64,
    packets_per_batch: f64,
    cpu_per_million: f64,
    peak_rss: f64,
    steady_rss: f64,
    latency: Histogram,
}

/// The driver on the sender's stream, into a counting sink that encodes every packet into a
/// 5000-line batch (or a real Buffer when `influx` is given).
async fn pipeline(
    venue: ExchangeId,
    sender: &Sender,
    path: &str,
    symbols: usize,
    messages: usize,
    influx: Option<&String>,
) -> Outcome {
    pipeline_with(venue, sender, path, (symbols, messages), influx, None).await
}

/// [`pipeline`], with every raw event also captured under `capture` when given.
async fn pipeline_with(
    venue: ExchangeId,
    sender: &Sender,
    path: &str,
    (symbols, messages): (usize, usize),
    influx: Option<&String>,
    capture: Option<&std::path::Path>,
) -> Outcome {
    let endpoints = Endpoints {
        ws_url: Some(format!("ws://{}{path}", sender.ws)),
        rest_url: Some(format!("http://{}", sender.rest)),
    };
    let exchange: Arc<dyn md_core::Exchange> = Arc::from(build(venue, &endpoints).unwrap());
    let mut config = DriverConfig { listing_refresh: None, ..DriverConfig::default() };
    // An experiment's knob, as MD_BENCH_WORKERS is: another burst limit.
    if let Some(burst) = std::env::var("MD_BENCH_MAX_BURST").ok().and_then(|b| b.parse().ok()) {
        config.max_burst = burst;
    }
    let recorded =
        md_driver::RecordedConfig::of(&config, endpoints.ws_url.clone(), endpoints.rest_url.clone());
    let mut driver =
        Driver::new(exchange, Selection::All, config).with_listing(Arc::new(frames::symbols(venue, symbols)));
    let writer = capture.map(|dir| {
        let header =
            md_capture::CaptureHeader::new(venue, "bench", serde_json::to_string(&recorded).unwrap());
        md_capture::CaptureWriter::start(md_capture::CaptureConfig::new(dir), header).unwrap()
    });
    if let Some(writer) = &writer {
        driver = driver.with_tap(Arc::clone(writer) as Arc<dyn md_core::RawTap>);
    }
    let metrics = driver.metrics();
    let mut fanout = FanOut::new();
    let rx = fanout.subscribe(SubscriberConfig::new("count", Overflow::Block, 8192));
    let cancel = CancellationToken::new();
    let run = tokio::spawn(driver.run(fanout.publisher(), cancel.clone()));
    // Every frame is one line, plus one snapshot line per book.
    let expected = (messages + symbols) as u64;
    // Release the sender's timed part once every book is in sync.
    let (go_metrics, rest) = (Arc::clone(&metrics), sender.rest.clone());
    let releaser = tokio::spawn(async move {
        while go_metrics.books_in_sync.load(std::sync::atomic::Ordering::Relaxed) < symbols as i64 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut stream = tokio::net::TcpStream::connect(&rest).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET /go HTTP/1.1\r\n\r\n").await.unwrap();
    });
    let cpu_before = cpu_seconds();
    // The sink is a task of its own, as md-ingest's sinks are (not the bench's main thread).
    let sink = match influx {
        None => {
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move { count_lines(rx, expected, &metrics, symbols).await })
        }
        Some(url) => {
            let url = url.clone();
            tokio::spawn(async move { influx_lines(rx, &url, expected).await })
        }
    };
    let outcome = sink.await.unwrap();
    let cpu = cpu_seconds() - cpu_before;
    cancel.cancel();
    let _ = run.await;
    releaser.abort();
    if let (Some(writer), Some(dir)) = (&writer, capture) {
        let stats = writer.finish().unwrap();
        let bytes = md_bench::replay::dir_bytes(dir);
        println!(
            "{venue:8} capture: {} raw events written, {} dropped, {:.1} bytes on disk per frame",
            stats.records_flushed,
            stats.records_dropped,
            bytes as f64 / messages as f64
        );
    }
    let (rate, latency) = outcome;
    let steady_rss = rss_mib();
    let m = metrics.snapshot();
    assert_eq!(m.gaps, 0, "{venue}: a synthetic stream must never gap: {m:?}");
    Outcome {
        rate,
        packets_per_batch: m.packets_published as f64 / m.batches_published.max(1) as f64,
        cpu_per_million: cpu / (messages as f64 / 1e6),
        peak_rss: peak_rss_mib(),
        steady_rss,
        latency,
    }
}

/// Encodes every packet into a batch, counting lines until `expected`. Returns the steady-state
/// rate (lines per second from the moment every book is in sync: before that, a venue's REST
/// weight budget, not md, sets the pace) and the frame → line latencies of that state.
async fn count_lines(
    mut rx: Subscription,
    expected: u64,
    metrics: &md_driver::DriverMetrics,
    books: usize,
) -> (f64, Histogram) {
    let mut encoder = LineEncoder::new(&SchemaConfig::default()).unwrap();
    let mut batch = Vec::with_capacity(1 << 20);
    let (mut lines, mut in_batch) = (0u64, 0);
    let mut latency = Histogram::default();
    let mut steady: Option<(Instant, u64)> = None;
    while lines < expected {
        let Ok(Some(packets)) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await else {
            panic!(
                "stalled at {lines} of {expected} lines (rss {:.1} MiB): {:?}",
                rss_mib(),
                metrics.snapshot()
            );
        };
        let now = if steady.is_some() { now_ns() } else { 0 };
        for packet in packets.iter() {
            // Statuses (connected, ...) are stored too, but only market data is counted.
            if matches!(packet.data, md_core::Payload::Status(_))
                || encoder.encode(packet, &mut batch).unwrap().is_none()
            {
                continue;
            }
            lines += 1;
            in_batch += 1;
            if in_batch == 5000 {
                batch.clear();
                in_batch = 0;
            }
            if steady.is_some() {
                latency.record(now - packet.local_ts);
            }
        }
        if steady.is_none()
            && metrics.books_in_sync.load(std::sync::atomic::Ordering::Relaxed) as usize == books
        {
            steady = Some((Instant::now(), lines));
        }
    }
    let (start, at) = steady.unwrap_or((Instant::now(), lines));
    ((lines - at) as f64 / start.elapsed().as_secs_f64().max(1e-9), latency)
}

/// Writes into a real InfluxDB (v1 API, database `md_bench`) and waits until all is written.
async fn influx_lines(rx: Subscription, url: &str, expected: u64) -> (f64, Histogram) {
    let dir = std::env::temp_dir().join(format!("md-bench-{}", std::process::id()));
    let mut config = md_sink_influx::InfluxConfig::new(
        url,
        md_sink_influx::Api::V1 { user: None, password: None, create_databases: true },
        &dir,
    );
    config.incremental = md_sink_influx::TargetConfig::new("md_bench");
    config.snapshot = md_sink_influx::TargetConfig::new("md_bench_snap");
    let buffer = md_sink_influx::Buffer::new(config).unwrap();
    let sink = buffer.metrics();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(buffer.run(rx, cancel.clone()));
    let start = Instant::now();
    while sink.snapshot().records_written < expected && start.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = sink.snapshot().records_written as f64 / start.elapsed().as_secs_f64();
    cancel.cancel();
    let _ = task.await;
    let _ = std::fs::remove_dir_all(dir);
    (rate, Histogram::default())
}
