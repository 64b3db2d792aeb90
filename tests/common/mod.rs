//! Helpers of md's end-to-end tests: the md-ingest, md-serve and md-book binaries, processes
//! killed on drop, a free port, tools from `.ci/run` (`MD_CHROMIUM`, `MD_PYTHON`), InfluxDB queries.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// A binary of the md-ingest package (`md-ingest`, `md-replay`, `md-serve`) of this build
/// profile, brought up to date first (a test package cannot depend on another package's
/// binary, and a stale one would test old code).
pub fn package_bin(name: &str) -> PathBuf {
    built_bin("md-ingest", name)
}

/// `name`, a binary of `package`, built once per test process (`cargo build -p PACKAGE --bins`).
pub fn built_bin(package: &str, name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    // target/<profile>/deps/<this test> → target/<profile>/
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf();
    let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !built.iter().any(|p| p == package) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", package, "--bins"]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success(), "cannot build {package}'s binaries");
        built.push(package.to_owned());
    }
    profile_dir.join(name)
}

/// The md-ingest binary, up to date.
pub fn md_ingest_bin() -> PathBuf {
    package_bin("md-ingest")
}

/// A command running `bin` with no `MD_*` variable of the test's environment.
fn clean_command(bin: PathBuf) -> Command {
    let mut command = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("MD_") {
            command.env_remove(key);
        }
    }
    command
}

/// A command running md-ingest with no `MD_*` variable of the test's environment.
pub fn md_ingest() -> Command {
    clean_command(md_ingest_bin())
}

/// A command running md-replay with no `MD_*` variable of the test's environment.
pub fn md_replay() -> Command {
    clean_command(package_bin("md-replay"))
}

/// Every stored line of the line files under `dir` (comments left out), sorted.
pub fn stored_lines(dir: &std::path::Path) -> Vec<String> {
    let mut lines = Vec::new();
    for file in md_sink_influx::line_files(dir).unwrap() {
        let text = std::fs::read_to_string(&file).unwrap();
        lines.extend(text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned));
    }
    lines.sort();
    lines
}

/// A loopback port nothing listens on now, outside the range a bind on port 0 draws from (see
/// [`md_sim::free_port`]).
pub use md_sim::free_port;

/// `MD_INFLUX_URL`, set by `.ci/run`; `None` (test skipped, said so) outside CI, a failure in it.
pub fn influx_url() -> Option<String> {
    match std::env::var("MD_INFLUX_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("MD_INFLUX_URL must be set under CI")
        }
        Err(_) => {
            eprintln!("MD_INFLUX_URL not set: skipping");
            None
        }
    }
}

/// An InfluxQL query: each series as (columns, rows).
pub async fn query(url: &str, db: &str, q: &str) -> Vec<(Vec<String>, Vec<Vec<Value>>)> {
    let body: Value = reqwest::Client::new()
        .get(format!("{url}/query"))
        .query(&[("db", db), ("q", q), ("epoch", "ns")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let series = body["results"][0]["series"].as_array().cloned().unwrap_or_default();
    series
        .into_iter()
        .map(|s| {
            let columns =
                s["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
            let rows =
                s["values"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().clone()).collect();
            (columns, rows)
        })
        .collect()
}

/// GETs a local HTTP endpoint: status and body.
pub async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Sends SIGTERM.
pub fn terminate(pid: u32) {
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
}

/// A child process killed (and reaped) when the guard drops, so that a failing test leaves no
/// orphan. With `group`, the child leads its own process group and the whole group is killed
/// (a browser's renderer and GPU processes with it).
#[derive(Debug)]
pub struct KillOnDrop {
    /// The child.
    pub child: std::process::Child,
    group: bool,
}

impl KillOnDrop {
    /// Spawns `command` under the guard; `group`: in a process group of its own.
    pub fn spawn(command: &mut Command, group: bool) -> Self {
        if group {
            std::os::unix::process::CommandExt::process_group(command, 0);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        Self { child, group }
    }

    /// The child's pid (and, for a group, its process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether any process of the child's group is still alive (always false for no group).
    pub fn group_alive(&self) -> bool {
        self.group
            && Command::new("kill")
                .args(["-0", "--", &format!("-{}", self.id())])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.group {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.id())])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command running md-serve with no `MD_*` variable of the test's environment.
pub fn md_serve() -> Command {
    clean_command(package_bin("md-serve"))
}

/// A command running md-book (built from its own package) with no `MD_*` variable of the
/// test's environment.
pub fn md_book() -> Command {
    clean_command(built_bin("md-book", "md-book"))
}

/// `md-serve --simulate` on two free loopback ports, up and answering HTTP, killed on drop.
#[derive(Debug)]
pub struct Serve {
    /// The server process.
    pub process: KillOnDrop,
    /// Its gRPC address, `127.0.0.1:P`.
    pub grpc_addr: String,
    /// Its HTTP address, `127.0.0.1:P`.
    pub http_addr: String,
}

impl Serve {
    /// Starts `md-serve --simulate --exchanges binance,bybit,huobi` with `env` set (for
    /// `MD_SERVE_TOKEN`) and waits (at most 60 s) until `/healthz` answers.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let grpc_addr = format!("127.0.0.1:{}", free_port());
        let http_addr = format!("127.0.0.1:{}", free_port());
        let mut command = md_serve();
        command
            .args(["--simulate", "--exchanges", "binance,bybit,huobi"])
            .args(["--grpc-addr", &grpc_addr, "--http-addr", &http_addr])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null());
        command.envs(env.iter().copied());
        let mut process = KillOnDrop::spawn(&mut command, false);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!("md-serve exited before answering: {status}");
            }
            if get(&format!("http://{http_addr}/healthz")).await.0 == 200 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "md-serve did not answer on {http_addr} within 60 s"
            );
            // Polling a port that is not open yet: there is no event to wait for.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Self { process, grpc_addr, http_addr }
    }
}

/// The path in environment variable `name` (a tool `.ci/run` installs: `MD_CHROMIUM`,
/// `MD_PYTHON`); `None` (test skipped, said so) outside CI, a failure in it.
pub fn tool_from_env(name: &str) -> Option<PathBuf> {
    match std::env::var(name) {
        Ok(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!("{name} must be set under CI"),
        _ => {
            eprintln!("{name} not set: skipping");
            None
        }
    }
}

/// Runs `command` to its end, output captured; kills it and fails the test if it takes longer
/// than `limit`.
pub fn output_within(command: &mut Command, limit: std::time::Duration) -> std::process::Output {
    command.stdin(std::process::Stdio::null());
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let pid = child.id();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match result.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{command:?} did not finish within {limit:?}");
        }
    }
}
