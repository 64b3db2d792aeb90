//! Several sinks from one config file: md-ingest (on its built-in simulator) writes the same
//! stream into two line-file sinks with different queue policies, and each gets every line.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

fn lines_of(dir: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "lp"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path()).unwrap().lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .filter(|l| !l.starts_with('#'))
        .collect();
    lines.sort();
    lines
}

#[test]
fn two_sinks_from_the_config_file_each_store_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let file = dir.path().join("md.toml");
    let text = format!(
        "exchanges = [\"bybit\"]\nsimulate = true\n[[sink]]\nkind = \"files\"\ndir = {first:?}\n\
         [[sink]]\nkind = \"files\"\nname = \"copy\"\ndir = {second:?}\noverflow = \"drop_oldest\"\ncapacity = 100000\n"
    );
    std::fs::write(&file, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_md-ingest"))
        .args(["--config", file.to_str().unwrap()])
        .env_remove("MD_INFLUX_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let (a, b) = (lines_of(&first), lines_of(&second));
    assert!(a.iter().filter(|l| l.starts_with("trade,")).count() > 10, "{} lines", a.len());
    assert_eq!(a, b, "both sinks got the same lines");
}
