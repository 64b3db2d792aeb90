//! md-book, the terminal client, against a real `md-serve --simulate` (token required): plain
//! summaries with `--count`, the token from the environment or a file, unknown symbols, an
//! unreachable server, bad flags, and Ctrl-C both on a pipe and on a terminal (a pty by
//! `script`), where the screen must be restored.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use md_e2e::{free_port, md_book, output_within, KillOnDrop, Serve};

const TOKEN: &str = "md-book-test-token";
const LIMIT: Duration = Duration::from_secs(30);

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_flags_exit_2_with_one_line_naming_the_flag() {
    let cases: [(&[&str], &str); 8] = [
        (&[], "SYMBOL"),
        (&["BTC-USDT", "--depth", "0"], "--depth"),
        (&["BTC-USDT", "--depth", "ten"], "1 to 100"),
        (&["BTC-USDT", "--venues", "binance,kraken"], "kraken"),
        (&["BTC-USDT", "--addr", "127.0.0.1:9051"], "http://HOST:PORT"),
        (&["BTC-USDT", "--count", "0"], "--count"),
        (&["BTC/USDT"], "BASE-QUOTE"),
        (&["BTC-USDT", "--bogus"], "--bogus"),
    ];
    for (args, named) in cases {
        let output = output_within(md_book().args(args), LIMIT);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} should name {named}: {stderr}");
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none");
    let output = output_within(md_book().arg("BTC-USDT").arg("--token-file").arg(&missing), LIMIT);
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("--token-file"), "{}", stderr_of(&output));
}

#[test]
fn unreachable_server_exits_1_with_one_line() {
    let addr = format!("http://127.0.0.1:{}", free_port());
    let output = output_within(md_book().args(["BTC-USDT", "--count", "1", "--addr", &addr]), LIMIT);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot reach md-serve") && stderr.contains(&addr), "{stderr}");
}

/// The header lines of plain output, `SYMBOL  sequence N  skipped K ...`, as sequences.
fn sequences(stdout: &str, symbol: &str) -> Vec<u64> {
    let prefix = format!("{symbol}  sequence ");
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md_book_against_md_serve() {
    let serve = Serve::start(&[("MD_SERVE_TOKEN", TOKEN)]).await;
    let addr = format!("http://{}", serve.grpc_addr);
    tokio::task::spawn_blocking(move || {
        count_prints_plain_summaries(&addr);
        token_from_a_file(&addr);
        refusals_exit_1(&addr);
        ctrl_c_on_a_pipe_exits_0(&addr);
        ctrl_c_on_a_terminal_restores_it(&addr);
    })
    .await
    .unwrap();
    drop(serve);
}

fn with_token(command: &mut Command) -> &mut Command {
    command.env("MD_SERVE_TOKEN", TOKEN)
}

fn count_prints_plain_summaries(addr: &str) {
    let output =
        output_within(with_token(&mut md_book()).args(["BTC-USDT", "--count", "3", "--addr", addr]), LIMIT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(!stdout.contains('\x1b'), "plain output holds escapes: {stdout:?}");
    let seqs = sequences(&stdout, "BTC-USDT");
    assert_eq!(seqs.len(), 3, "{stdout}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // Every summary has its spread line and one line per venue asked for.
    assert_eq!(stdout.lines().filter(|l| l.starts_with("----  spread ")).count(), 3, "{stdout}");
    for venue in ["binance", "bybit", "huobi"] {
        let lines = stdout.lines().filter(|l| l.starts_with(&format!("venue {venue} "))).count();
        assert_eq!(lines, 3, "{venue}: {stdout}");
    }
    // The canonical symbol comes back for the concatenated form, and --venues narrows the set.
    let output = output_within(
        with_token(&mut md_book()).args(["btcusdt", "--count", "1", "--venues", "bybit", "--addr", addr]),
        LIMIT,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(sequences(&stdout, "BTC-USDT").len(), 1, "{stdout}");
    assert!(
        stdout.lines().filter(|l| l.starts_with("venue ")).all(|l| l.starts_with("venue bybit ")),
        "{stdout}"
    );
    assert!(stdout
        .lines()
        .filter(|l| l.starts_with("ask ") || l.starts_with("bid "))
        .all(|l| l.contains(" bybit ")));
}

fn token_from_a_file(addr: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let output = output_within(
        md_book().args(["BTC-USDT", "--count", "1", "--addr", addr]).arg("--token-file").arg(&file),
        LIMIT,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

fn refusals_exit_1(addr: &str) {
    let output = output_within(md_book().args(["BTC-USDT", "--count", "1", "--addr", addr]), LIMIT);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "no token: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Unauthenticated") || stderr.contains("unauthenticated"), "{stderr}");

    let output =
        output_within(with_token(&mut md_book()).args(["NOPE-USDT", "--count", "1", "--addr", addr]), LIMIT);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("NOPE-USDT") && stderr.contains("not found"), "{stderr}");
    assert!(output.stdout.is_empty());
}

/// Collects what `reader` yields until `needle` shows up (or `LIMIT` passes: then fails).
fn read_until(chunks: &mpsc::Receiver<Vec<u8>>, seen: &mut Vec<u8>, needle: &str) {
    let deadline = Instant::now() + LIMIT;
    while !String::from_utf8_lossy(seen).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match chunks.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(_) => panic!("no {needle:?} within {LIMIT:?}; got {:?}", String::from_utf8_lossy(seen)),
        }
    }
}

fn pump(mut reader: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (send, chunks) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            if send.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    chunks
}

fn wait_exit(process: &mut KillOnDrop) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "still running 10 s after Ctrl-C");
        // A child's exit has no portable event to await besides wait(), which cannot time out.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ctrl_c_on_a_pipe_exits_0(addr: &str) {
    let mut command = md_book();
    with_token(&mut command).args(["BTC-USDT", "--addr", addr]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut process = KillOnDrop::spawn(&mut command, false);
    let chunks = pump(process.child.stdout.take().unwrap());
    let mut seen = Vec::new();
    read_until(&chunks, &mut seen, "BTC-USDT  sequence ");
    assert!(Command::new("kill").args(["-INT", &process.id().to_string()]).status().unwrap().success());
    let status = wait_exit(&mut process);
    let mut stderr = String::new();
    process.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
}

fn ctrl_c_on_a_terminal_restores_it(addr: &str) {
    // `script` runs md-book on a pty: stdout is a terminal, so it draws live; a 0x03 written
    // to the pty is the terminal's Ctrl-C (SIGINT to md-book); -e returns md-book's exit code.
    // `exec`: the terminal's SIGINT goes to its whole foreground group, and a shell left
    // waiting between script and md-book would die of it (exit 130) whatever md-book did.
    let book = md_e2e::built_bin("md-book", "md-book");
    let line = format!("exec '{}' BTC-USDT --addr {addr}", book.display());
    let mut command = Command::new("script");
    command.args(["-qfec", &line, "/dev/null"]).env("MD_SERVE_TOKEN", TOKEN);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut process = KillOnDrop::spawn(&mut command, true);
    let chunks = pump(process.child.stdout.take().unwrap());
    let mut seen = Vec::new();
    read_until(&chunks, &mut seen, "Ctrl-C quits");
    let mut stdin = process.child.stdin.take().unwrap();
    stdin.write_all(b"\x03").unwrap();
    stdin.flush().unwrap();
    let status = wait_exit(&mut process);
    drop(stdin);
    while let Ok(chunk) = chunks.recv_timeout(Duration::from_secs(2)) {
        seen.extend(chunk);
    }
    let screen = String::from_utf8_lossy(&seen);
    assert_eq!(status.code(), Some(0), "{screen:?}");
    assert!(screen.contains("\x1b[?1049h\x1b[?25l"), "alternate screen not entered: {screen:?}");
    assert!(screen.contains("\x1b[33mbinance"), "no venue colours: {screen:?}");
    let restored = screen.rfind("\x1b[?25h\x1b[?1049l").unwrap_or_else(|| panic!("not restored: {screen:?}"));
    assert!(!screen[restored..].contains("sequence"), "drew after restoring: {screen:?}");
}
