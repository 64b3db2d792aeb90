//! [`WriteFault`]: makes a file writer's writes fail as on a full disk, or hang as on a stuck
//! one, deterministically. One hook for every writer of files md has (line files, the raw
//! capture, event files), so that each is tested against a full disk the same way.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// A test and operations hook a file writer's config takes (`fault: Option<Arc<WriteFault>>`).
/// While `enospc` is on, each
/// write writes half its data, then fails with `ENOSPC` (what a full disk does mid-block);
/// while `stall` is on, each write waits (the writer's thread is held, as by a hung disk).
#[derive(Debug, Default)]
pub struct WriteFault {
    enospc: AtomicBool,
    stall: AtomicBool,
    holding: AtomicBool,
    injected: AtomicU64,
}

impl WriteFault {
    /// A fault, off.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Switches the disk-full failure on or off.
    pub fn fail_with_enospc(&self, on: bool) {
        self.enospc.store(on, Relaxed);
    }

    /// Holds (or releases) every write of the writer's thread. `finish()` (and dropping the
    /// writer) waits while a write is held.
    pub fn stall(&self, on: bool) {
        self.stall.store(on, Relaxed);
    }

    /// Whether a write is being held now (the writer's thread is inside it).
    pub fn holding(&self) -> bool {
        self.holding.load(Relaxed)
    }

    /// Failures injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Relaxed)
    }

    /// Writes `data` as the fault says: wholly, or half and `ENOSPC`, after any stall.
    pub fn write(&self, file: &mut File, data: &[u8]) -> std::io::Result<()> {
        while self.stall.load(Relaxed) {
            self.holding.store(true, Relaxed);
            std::thread::sleep(Duration::from_millis(1));
        }
        self.holding.store(false, Relaxed);
        if !self.enospc.load(Relaxed) {
            return file.write_all(data);
        }
        self.injected.fetch_add(1, Relaxed);
        file.write_all(&data[..data.len() / 2])?;
        Err(enospc())
    }
}

/// Writes through the fault, if any.
pub fn write_all(fault: Option<&WriteFault>, file: &mut File, data: &[u8]) -> std::io::Result<()> {
    match fault {
        Some(fault) => fault.write(file, data),
        None => file.write_all(data),
    }
}

#[cfg(unix)]
fn enospc() -> std::io::Error {
    // ENOSPC is 28 on Linux, the BSDs and macOS: the same error a real full disk gives.
    std::io::Error::from_raw_os_error(28)
}

#[cfg(not(unix))]
fn enospc() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device")
}
