//! Helpers of md's end-to-end tests: the md-ingest binary, a free port, InfluxDB queries.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// A binary of the md-ingest package (`md-ingest`, `md-replay`) of this build profile, brought
/// up to date first (a test package cannot depend on another package's binary, and a stale one
/// would test old code).
pub fn package_bin(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        // target/<profile>/deps/<this test> → target/<profile>/
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "md-ingest", "--bins"]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success(), "cannot build md-ingest's binaries");
        profile_dir
    });
    dir.join(name)
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

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

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
