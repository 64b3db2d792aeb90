//! md-serve's web page in a real headless Chromium, driven over the DevTools protocol: the page
//! opened with `?symbol=BTC-USDT` turns live, and the ladder it shows (venue, price, amount
//! of every row, the spread, the crossed flag) equals the gRPC summary of the same sequence,
//! string for string; an unknown symbol turns the page's status to `error` with the server's
//! 404. Chromium and the server are killed at the end, whatever happens (no orphans).
//!
//! Needs `MD_CHROMIUM` (Debian's chromium, installed by `.ci/run`); under `CI=true` its
//! absence fails the test.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use md_e2e::{tool_from_env, KillOnDrop, Serve};
use md_proto::orderbook::aggregator_client::AggregatorClient;
use md_proto::orderbook::{Level, Request, Summary};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// How long the page may take to show its first summary.
const LIVE_WITHIN: Duration = Duration::from_secs(30);
/// How many DOM summaries must equal their gRPC twin.
const MATCHES: usize = 3;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One DevTools protocol connection (a browser's or a page's).
struct Cdp {
    socket: Socket,
    next_id: u64,
}

impl Cdp {
    async fn connect(url: &str) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Self { socket, next_id: 1 }
    }

    /// Calls `method` and returns its result; events that arrive meanwhile are skipped.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(Message::Text(request.into())).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let message: Value = serde_json::from_str(&text).unwrap();
                        if message["id"] == id {
                            return message;
                        }
                    }
                    Some(Ok(_)) => {}
                    other => panic!("DevTools connection ended during {method}: {other:?}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} within 10 s"));
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// Sends `method` without waiting for an answer (for `Browser.close`, which may end the
    /// connection before it answers).
    async fn send(&mut self, method: &str) {
        let request = json!({"id": 0, "method": method, "params": {}}).to_string();
        self.socket.send(Message::Text(request.into())).await.unwrap();
    }

    /// Evaluates `expression` in the page and returns its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result =
            self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true})).await;
        assert!(result.get("exceptionDetails").is_none(), "{expression}: {result}");
        result["result"]["value"].clone()
    }
}

/// What the page shows, read in one go (a script runs between the page's tasks, never in the
/// middle of a render).
const READ_PAGE: &str = r#"(() => {
  const text = (id) => { const e = document.getElementById(id); return e ? e.textContent : null; };
  const rows = (id) => Array.from(document.querySelectorAll('#' + id + ' tr[data-exchange][data-price][data-amount]'))
    .map((tr) => [tr.dataset.exchange, tr.dataset.price, tr.dataset.amount]);
  // Null-safe: the page may still be loading (or be about:blank) when it is read.
  const status = document.getElementById('status');
  const crossed = document.getElementById('crossed');
  const symbol = document.getElementById('symbol');
  return {
    state: status ? status.dataset.state : null, message: text('message'), sequence: text('sequence'),
    spread: text('spread'), crossed: crossed ? !crossed.hidden : null,
    bids: rows('bids'), asks: rows('asks'),
    // What a person reads in each row is the data's strings, unchanged.
    text_as_data: Array.from(document.querySelectorAll('#bids tr[data-exchange], #asks tr[data-exchange]'))
      .every((tr) => tr.textContent === tr.dataset.exchange + tr.dataset.price + tr.dataset.amount),
    symbols: Array.from(document.querySelectorAll('#symbol option')).map((o) => o.value),
    selected: symbol ? symbol.value : null,
  };
})()"#;

/// Chromium headless in a process group of its own, its DevTools URL, and its stderr's tail.
struct Browser {
    process: KillOnDrop,
    devtools: String,
    log: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(chromium: &std::path::Path) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut command = Command::new(chromium);
        // The flags keep a headless root Chromium from calling out: this machine's network is
        // closed, and every refused background connection only adds noise.
        command
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .args(["--disable-dev-shm-usage", "--remote-debugging-port=0"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut process = KillOnDrop::spawn(&mut command, true);
        let stderr = process.child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, url) = std::sync::mpsc::channel();
        let tail = Arc::clone(&log);
        // Read stderr to its end, or Chromium blocks once the pipe is full.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = found.send(line[at..].trim().to_owned());
                }
                let mut tail = tail.lock().unwrap();
                tail.push(line);
                if tail.len() > 50 {
                    tail.remove(0);
                }
            }
        });
        let devtools = url.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            panic!("Chromium printed no DevTools URL within 30 s: {:?}", log.lock().unwrap())
        });
        Self { process, devtools, log, _profile: profile }
    }

    /// `ws://HOST:PORT` of the DevTools server.
    fn base(&self) -> &str {
        let path = self.devtools.find("/devtools/").unwrap();
        &self.devtools[..path]
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// The gRPC summaries of BTC-USDT (the page's book: same symbol, depth and venue set) by
/// sequence, and the newest sequence seen.
#[derive(Clone)]
struct Seen {
    by_sequence: Arc<Mutex<HashMap<u64, Summary>>>,
    newest: watch::Receiver<u64>,
}

async fn follow_grpc(addr: &str) -> Seen {
    let mut client = AggregatorClient::connect(format!("http://{addr}")).await.unwrap();
    let request = Request { symbol: "BTC-USDT".into(), depth: 10, venues: vec![] };
    let mut stream = client.book_summary(request).await.unwrap().into_inner();
    let by_sequence = Arc::new(Mutex::new(HashMap::new()));
    let (newest_tx, newest) = watch::channel(0);
    let store = Arc::clone(&by_sequence);
    tokio::spawn(async move {
        while let Ok(Some(summary)) = stream.message().await {
            let sequence = summary.sequence;
            store.lock().unwrap().insert(sequence, summary);
            newest_tx.send_replace(sequence);
        }
    });
    Seen { by_sequence, newest }
}

fn rows(levels: &[Level]) -> Vec<Value> {
    levels.iter().map(|l| json!([l.exchange, l.price, l.amount])).collect()
}

/// Whether the page's ladder is the summary's, string for string (asks shown worst first).
fn same_book(page: &Value, summary: &Summary) -> Result<(), String> {
    let mut asks = page["asks"].as_array().unwrap().clone();
    asks.reverse();
    let spread = if summary.spread.is_empty() { "-" } else { &summary.spread };
    let checks = [
        ("row text", page["text_as_data"].clone(), json!(true)),
        ("bids", json!(page["bids"]), json!(rows(&summary.bids))),
        ("asks", json!(asks), json!(rows(&summary.asks))),
        ("spread", page["spread"].clone(), json!(spread)),
        ("crossed", page["crossed"].clone(), json!(summary.crossed)),
    ];
    for (what, shown, sent) in checks {
        if shown != sent {
            return Err(format!("{what}: page {shown} != gRPC {sent}"));
        }
    }
    Ok(())
}

async fn wait_page_state(page: &mut Cdp, wanted: &[&str], browser: &Browser) -> Value {
    let deadline = Instant::now() + LIVE_WITHIN;
    loop {
        let shown = page.eval(READ_PAGE).await;
        if wanted.contains(&shown["state"].as_str().unwrap_or("")) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "page not {wanted:?} within {LIVE_WITHIN:?}: {shown}\nChromium: {}",
            browser.log()
        );
        // The page's state lives in another process: polling it is the only way to look.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_shows_the_grpc_book() {
    let Some(chromium) = tool_from_env("MD_CHROMIUM") else { return };
    let serve = Serve::start(&[]).await;
    let mut seen = follow_grpc(&serve.grpc_addr).await;
    let browser = Browser::start(&chromium);
    let mut control = Cdp::connect(&browser.devtools).await;
    let url = format!("http://{}/?symbol=BTC-USDT", serve.http_addr);
    let target = control.call("Target.createTarget", json!({"url": url})).await;
    let target_id = target["targetId"].as_str().unwrap();
    let mut page = Cdp::connect(&format!("{}/devtools/page/{target_id}", browser.base())).await;

    let live = wait_page_state(&mut page, &["live", "error", "closed"], &browser).await;
    assert_eq!(live["state"], "live", "{live}\nChromium: {}", browser.log());
    assert_eq!(live["selected"], "BTC-USDT", "{live}");
    assert!(live["symbols"].as_array().unwrap().contains(&json!("ETH-USDT")), "{live}");

    let mut matched = Vec::new();
    let mut full = 0;
    let mut misses = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while matched.len() < MATCHES || full == 0 {
        assert!(
            Instant::now() < deadline,
            "matched {matched:?} ({full} with both sides); misses: {misses:?}"
        );
        let shown = page.eval(READ_PAGE).await;
        let sequence: u64 = shown["sequence"].as_str().unwrap().parse().unwrap();
        if !matched.contains(&sequence) {
            // The gRPC stream may be a little behind the page: wait until it has passed it.
            tokio::time::timeout(Duration::from_secs(10), seen.newest.wait_for(|&s| s >= sequence))
                .await
                .unwrap_or_else(|_| panic!("gRPC never reached sequence {sequence}"))
                .unwrap();
            let summary = seen.by_sequence.lock().unwrap().get(&sequence).cloned();
            match summary {
                Some(summary) => {
                    same_book(&shown, &summary).unwrap_or_else(|e| panic!("sequence {sequence}: {e}"));
                    matched.push(sequence);
                    full += usize::from(!summary.bids.is_empty() && !summary.asks.is_empty());
                }
                // One side skipped this state (a slow reader only gets the newest): try the next.
                None => misses.push(sequence),
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    eprintln!(
        "page == gRPC at sequences {matched:?} ({full} with both sides); skipped by one side: {misses:?}"
    );

    // An unknown symbol: the server's 404 reaches the page's status.
    let url = format!("http://{}/?symbol=NOPE-USDT", serve.http_addr);
    page.call("Page.navigate", json!({"url": url})).await;
    let failed = wait_page_state(&mut page, &["error", "closed"], &browser).await;
    assert_eq!(failed["state"], "error", "{failed}");
    assert!(failed["message"].as_str().unwrap().contains("404"), "{failed}");

    // A clean exit, then proof that no Chromium process outlived it.
    control.send("Browser.close").await;
    let mut browser = browser;
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.process.group_alive() {
        assert!(Instant::now() < deadline, "Chromium processes left 10 s after Browser.close");
        let _ = browser.process.child.try_wait();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(browser);
    drop(serve);
}
