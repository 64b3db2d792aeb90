//! Loopback ports for a test to hand to a process it starts (`--grpc-addr 127.0.0.1:P`).

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the search starts below the ephemeral range: high enough to miss well-known services.
const LOWEST: u32 = 10_000;

/// The kernel's ephemeral range (Linux), else the IANA one.
const RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The next candidate, process-wide, so that two threads of one test binary never get the same
/// port.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A loopback port nothing listens on now, and one the kernel will not hand out to a bind on
/// port 0 until it is used.
///
/// Why not bind port 0 and drop the listener: the kernel may give that very port to the next
/// bind on port 0, and the process the test starts binds several (md-sim's venues). CI once
/// failed so: md-ingest's simulated Binance took the port chosen for its gRPC server. Ports
/// below the ephemeral range are only ever taken by a bind that names them. Each process starts
/// at its own place (its pid), so test binaries run side by side rarely try the same ports, and
/// a port in use is skipped.
pub fn free_port() -> u16 {
    let ephemeral_low = std::fs::read_to_string(RANGE_FILE)
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|&low| low > LOWEST + 1_000)
        .unwrap_or(49_152);
    let span = ephemeral_low - LOWEST;
    let start = std::process::id().wrapping_mul(7_919) % span;
    let _ = NEXT.compare_exchange(0, start + 1, Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let port = u16::try_from(LOWEST + offset).unwrap_or(u16::MAX);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {LOWEST} and {ephemeral_low}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len());
        let held = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert!(ports.iter().all(|&p| p < held && u32::from(p) >= LOWEST), "{ports:?} vs {held}");
        assert!(ports.iter().all(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok()));
    }
}
