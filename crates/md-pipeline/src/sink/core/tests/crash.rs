//! A process killed (SIGKILL, no shutdown) with a full spool: a new process on the same
//! directory delivers every spooled record exactly once, in order.
//! (Ported from md-sink-influx's `tests/spool_crash.rs`.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;

const N: u64 = 2000;
const CHILD_ENV: &str = "MD_CORE_SPOOL_CRASH_CHILD_DIR";
const CHILD_TEST: &str = "sink::core::tests::crash::spool_crash_child";

fn crash_config(dir: &Path) -> CoreConfig {
    let mut cfg = config(dir);
    cfg.batch_records = 100;
    cfg.memory_limit_bytes = 1;
    cfg
}

/// The child process: spools everything with the target down, says READY, waits to be killed.
#[tokio::test]
#[ignore = "run by spool_survives_sigkill in a child process"]
async fn spool_crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let script = Script::new();
    script.set_down(TRADES, true);
    let sink = core(crash_config(Path::new(&dir)), &script);
    let metrics = sink.metrics();
    let (publisher, sub) = input(4096);
    tokio::spawn(sink.run(sub, CancellationToken::new()));
    feed(&publisher, trades(0..N)).await;
    while metrics.snapshot().records_spooled < N {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("READY");
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test]
async fn spool_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = std::thread::spawn(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l.ends_with("READY"))
    });
    let ready = tokio::task::spawn_blocking(move || ready.join().unwrap());
    let ok = tokio::time::timeout(Duration::from_secs(60), ready).await;
    child.kill().unwrap(); // SIGKILL: no flush, no shutdown
    child.wait().unwrap();
    assert!(matches!(ok, Ok(Ok(true))), "child never reported a full spool");

    let script = Script::new();
    let (publisher, sub) = input(1);
    drop(publisher);
    let stats = core(crash_config(dir.path()), &script).run(sub, CancellationToken::new()).await.unwrap();
    assert_eq!((stats.records_replayed, stats.records_written, stats.spool_corrupt_records), (N, N, 0));
    assert_eq!(script.ids(), (0..N).collect::<Vec<_>>(), "every spooled record once, in order");
}
