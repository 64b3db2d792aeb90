//! Bad flags, variables and config files: one clear line on stderr, exit 2, nothing started.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn run(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("MD_") {
            command.env_remove(key);
        }
    }
    let output = command.args(args).envs(envs.iter().copied()).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn assert_refused(args: &[&str], envs: &[(&str, &str)], needles: &[&str]) {
    assert_refused_by(env!("CARGO_BIN_EXE_md-ingest"), args, envs, needles);
}

fn assert_refused_by(bin: &str, args: &[&str], envs: &[(&str, &str)], needles: &[&str]) {
    let (code, stderr) = run(bin, args, envs);
    assert_eq!(code, 2, "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?} must say one line, said: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{args:?}: {stderr:?} lacks {needle:?}");
    }
}

#[test]
fn unknown_exchange_names_the_valid_ones() {
    assert_refused(&["--exchanges", "binance,kraken"], &[], &["kraken", "binance, bybit, huobi, bitstamp"]);
    assert_refused(&[], &[("MD_EXCHANGES", "ftx")], &["ftx", "binance, bybit, huobi, bitstamp"]);
}

#[test]
fn malformed_urls() {
    assert_refused(&["--ws-url", "binance=not a url"], &[], &["--ws-url", "ws://"]);
    assert_refused(&["--rest-url", "bybit"], &[], &["VENUE=URL"]);
    assert_refused(&["--ws-url", "okx=wss://ws.okx.com"], &[], &["okx", "binance, bybit, huobi, bitstamp"]);
    assert_refused(&["--influx-url", "127.0.0.1:8086"], &[], &["--influx-url", "http://"]);
}

#[test]
fn v2_without_a_token() {
    assert_refused(
        &["--influx-url", "http://127.0.0.1:8086", "--influx-org", "research"],
        &[],
        &["MD_INFLUX_TOKEN"],
    );
}

#[test]
fn unreadable_or_wrong_config_files() {
    assert_refused(
        &["--config", "/nonexistent/md.toml"],
        &[],
        &["cannot read config file", "/nonexistent/md.toml"],
    );
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "exchangez = \"binance\"\n").unwrap();
    assert_refused(&["--config", typo.to_str().unwrap()], &[], &["exchangez"]);
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "exchanges = [\"binance\"\n").unwrap();
    assert_refused(&["--config", bad.to_str().unwrap()], &[], &["bad.toml"]);
}

#[test]
fn bad_values_and_flags() {
    assert_refused(&["--depth", "0"], &[], &["--depth", "1 to 100"]);
    assert_refused(&["--channels", "trades,candles"], &[], &["candles", "trades, book"]);
    assert_refused(&["--snapshot-interval", "5 parsecs"], &[], &["--snapshot-interval", "10s"]);
    assert_refused(&["--metrics-addr", "localhost"], &[], &["--metrics-addr", "HOST:PORT"]);
    assert_refused(&["--no-such-flag"], &[], &["--no-such-flag", "--help"]);
}

#[test]
fn precedence_is_cli_then_env_then_file() {
    // The file says kraken (invalid); the environment's valid value wins over it, and the
    // flag's invalid value wins over the environment.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("md.toml");
    std::fs::write(&file, "exchanges = \"kraken\"\ndepth = 500\n").unwrap();
    let config = file.to_str().unwrap();
    assert_refused(&["--config", config], &[], &["kraken"]);
    assert_refused(&["--config", config], &[("MD_EXCHANGES", "binance")], &["--depth"]);
    assert_refused(
        &["--config", config, "--depth", "5", "--exchanges", "bitmex"],
        &[("MD_EXCHANGES", "binance")],
        &["bitmex"],
    );
}

#[test]
fn help_is_complete() {
    let output = Command::new(env!("CARGO_BIN_EXE_md-ingest")).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--exchanges",
        "--symbols",
        "--channels",
        "--depth",
        "--snapshot-interval",
        "--ws-url",
        "--rest-url",
        "--influx-url",
        "--influx-org",
        "--influx-buckets",
        "--influx-db",
        "--data-dir",
        "--config",
        "--metrics-addr",
        "--simulate",
        "--capture",
        "--capture-max-age",
        "--capture-max-size",
        "--events",
        "--cross-check-interval",
        "--liveness-timeout",
        "MD_EXCHANGES",
        "MD_INFLUX_URL",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn bad_sink_sections_name_the_section_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let typo = write(
        "typo.toml",
        "[[sink]]\nkind = \"files\"\n\n[[sink]]\nkind = \"influx\"\nurll = \"http://x:8086\"\n",
    );
    assert_refused(&["--config", &typo], &[], &["[[sink]] #2", "urll", "valid:", "url"]);
    let kind = write("kind.toml", "[[sink]]\nkind = \"postgres\"\n");
    assert_refused(&["--config", &kind], &[], &["[[sink]] #1", "postgres", "influx", "files"]);
    let policy = write("policy.toml", "[[sink]]\nkind = \"files\"\noverflow = \"lossy\"\n");
    assert_refused(&["--config", &policy], &[], &["[[sink]] #1", "lossy", "block, drop_oldest, conflate"]);
    let capacity = write("capacity.toml", "[[sink]]\nkind = \"files\"\ncapacity = 0\n");
    assert_refused(&["--config", &capacity], &[], &["[[sink]] #1", "capacity", "1 to 10000000"]);
    let twice = write("twice.toml", "[[sink]]\nkind = \"files\"\n[[sink]]\nkind = \"files\"\n");
    assert_refused(&["--config", &twice], &[], &["[[sink]] #2", "\"files\"", "different name"]);
    let url = write("url.toml", "[[sink]]\nkind = \"influx\"\nname = \"second\"\n");
    assert_refused(&["--config", &url], &[], &["[[sink]] #1", "url is missing"]);
}

#[test]
fn bad_cross_check_interval() {
    let needles = ["--cross-check-interval", "seconds from 1 to 86400", "0 to turn cross-checks off"];
    assert_refused(&["--cross-check-interval", "soon"], &[], &needles);
    assert_refused(&["--cross-check-interval", "2d"], &[], &needles);
    assert_refused(&[], &[("MD_CROSS_CHECK_INTERVAL", "500ms")], &needles);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("md.toml");
    std::fs::write(&file, "cross_check_interval = -60\n").unwrap();
    assert_refused(&["--config", file.to_str().unwrap()], &[], &["--cross-check-interval", "\"-60\""]);
}

#[test]
fn bad_capture_retention() {
    assert_refused(&["--capture", "c", "--capture-max-age", "a week"], &[], &["--capture-max-age", "7d"]);
    assert_refused(&["--capture", "c", "--capture-max-size", "5X"], &[], &["--capture-max-size", "500M"]);
}

#[test]
fn md_replay_refuses_bad_input_in_one_line() {
    let replay = env!("CARGO_BIN_EXE_md-replay");
    assert_refused_by(replay, &[], &[], &["--capture DIR", "--tardis", "--cryptofeed"]);
    assert_refused_by(replay, &["--capture", "/nonexistent/capture"], &[], &["/nonexistent/capture"]);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().to_str().unwrap();
    assert_refused_by(replay, &["--capture", capture, "--speed", "fast"], &[], &["--speed", "max"]);
    assert_refused_by(
        replay,
        &["--capture", capture, "--from", "yesterday"],
        &[],
        &["--from", "2026-12-01T10:00:00Z"],
    );
    assert_refused_by(
        replay,
        &["--capture", capture, "--from", "2026-12-02T00:00:00Z", "--to", "2026-12-01T00:00:00Z"],
        &[],
        &["--from must be before --to"],
    );
    assert_refused_by(replay, &["--tardis", capture], &[], &["--exchange"]);
    assert_refused_by(replay, &["--tardis", capture, "--exchange", "bitmex"], &[], &["bitmex", "binance"]);
    let config = dir.path().join("md.toml");
    std::fs::write(&config, "depth = 10\n").unwrap();
    assert_refused_by(
        replay,
        &["--capture", capture, "--config", config.to_str().unwrap()],
        &[],
        &["depth", "recording"],
    );
}

#[test]
fn md_serve_refuses_bad_input_in_one_line() {
    let serve = env!("CARGO_BIN_EXE_md-serve");
    assert_refused_by(serve, &["--exchanges", "nasdaq"], &[], &["nasdaq", "binance"]);
    assert_refused_by(serve, &["--grpc-addr", "localhost"], &[], &["--grpc-addr", "127.0.0.1:9051"]);
    assert_refused_by(serve, &["--http-addr", "nine"], &[], &["--http-addr"]);
    assert_refused_by(serve, &["--grpc-addr", "0.0.0.0:9051"], &[], &["beyond loopback", "--tls-cert"]);
    // A token alone does not make plain-text gRPC safe beyond loopback.
    assert_refused_by(serve, &["--grpc-addr", "0.0.0.0:9051"], &[("MD_SERVE_TOKEN", "t")], &["--tls-key"]);
    assert_refused_by(serve, &["--http-addr", "0.0.0.0:9052"], &[], &["beyond loopback", "token"]);
    assert_refused_by(serve, &["--tls-cert", "c.pem"], &[], &["--tls-key"]);
    assert_refused_by(serve, &["--token-file", "/nonexistent/token"], &[], &["/nonexistent/token"]);
    assert_refused_by(serve, &["--max-clients", "0"], &[], &["--max-clients", "from 1"]);
    assert_refused_by(serve, &["--grace", "soon"], &[], &["--grace", "10s"]);
    assert_refused_by(serve, &["--bogus"], &[], &["--bogus"]);
    assert_refused_by(serve, &["--liveness-timeout", "5ms"], &[], &["--liveness-timeout", "100ms"]);
    assert_refused_by(serve, &["--cross-check-interval", "often"], &[], &["--cross-check-interval"]);
    assert_refused(&["--liveness-timeout", "soon"], &[], &["--liveness-timeout", "10s"]);
    assert_refused(
        &["--grpc-addr", "127.0.0.1:9051", "--max-symbols-per-client", "x"],
        &[],
        &["--max-symbols-per-client"],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "[serve]\ngrpc_adr = \"127.0.0.1:1\"\n").unwrap();
    assert_refused_by(serve, &["--config", config.to_str().unwrap()], &[], &["grpc_adr"]);
}
