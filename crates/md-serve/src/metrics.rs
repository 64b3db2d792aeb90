//! The server's own counters: clients, topics, subscriptions it made, summaries produced and
//! sent. The 1,000-client test reads them to show that nothing leaks.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of one book server; gauges go up and down, totals only up.
#[derive(Debug, Default)]
pub struct ServeMetrics {
    /// Client streams open now (gRPC and web).
    pub streams_open: AtomicU64,
    /// Client streams ever opened.
    pub streams_opened: AtomicU64,
    /// Client streams ever closed (by the client, a limit, or shutdown).
    pub streams_closed: AtomicU64,
    /// Requests refused: unknown symbol or venue, bad depth, bad token.
    pub requests_refused: AtomicU64,
    /// Requests refused because the server holds its maximum of client streams.
    pub requests_over_limit: AtomicU64,
    /// Symbols with a merged book kept now (clients, or within the grace period after the last).
    pub topics: AtomicU64,
    /// Venue subscriptions this server made and still holds (a symbol another consumer, such as
    /// md-ingest's recording, subscribed is not counted and never unsubscribed by the server).
    pub subscriptions_held: AtomicU64,
    /// Venue subscriptions made, ever.
    pub subscribes: AtomicU64,
    /// Venue subscriptions released after the grace period, ever.
    pub unsubscribes: AtomicU64,
    /// Merged summaries produced (one per change of a symbol's merged book).
    pub summaries_produced: AtomicU64,
    /// Summaries sent to clients, summed over clients.
    pub summaries_sent: AtomicU64,
    /// Summaries a slow client skipped because a newer one replaced them (conflation).
    pub summaries_skipped: AtomicU64,
    /// Spine packets the server read.
    pub packets_seen: AtomicU64,
    /// Connections closed on accept because the server held its maximum.
    pub connections_refused: AtomicU64,
}

impl ServeMetrics {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Takes one from a gauge.
    pub fn drop_one(counter: &AtomicU64) {
        counter.fetch_sub(1, Relaxed);
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let series: [(&str, &str, &str, &AtomicU64); 14] = [
            ("md_serve_streams_open", "gauge", "Client streams open now", &self.streams_open),
            ("md_serve_streams_opened_total", "counter", "Client streams opened", &self.streams_opened),
            ("md_serve_streams_closed_total", "counter", "Client streams closed", &self.streams_closed),
            (
                "md_serve_requests_refused_total",
                "counter",
                "Requests refused (bad symbol, venue, depth, token)",
                &self.requests_refused,
            ),
            (
                "md_serve_requests_over_limit_total",
                "counter",
                "Requests refused at the client limit",
                &self.requests_over_limit,
            ),
            ("md_serve_topics", "gauge", "Symbols with a merged book kept now", &self.topics),
            (
                "md_serve_subscriptions_held",
                "gauge",
                "Venue subscriptions the server made and holds",
                &self.subscriptions_held,
            ),
            ("md_serve_subscribes_total", "counter", "Venue subscriptions made", &self.subscribes),
            ("md_serve_unsubscribes_total", "counter", "Venue subscriptions released", &self.unsubscribes),
            (
                "md_serve_summaries_produced_total",
                "counter",
                "Merged summaries produced",
                &self.summaries_produced,
            ),
            ("md_serve_summaries_sent_total", "counter", "Summaries sent to clients", &self.summaries_sent),
            (
                "md_serve_summaries_skipped_total",
                "counter",
                "Summaries slow clients skipped (conflated)",
                &self.summaries_skipped,
            ),
            ("md_serve_packets_seen_total", "counter", "Spine packets read", &self.packets_seen),
            (
                "md_serve_connections_refused_total",
                "counter",
                "Connections closed at the connection limit",
                &self.connections_refused,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in series {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}", value.load(Relaxed));
        }
        out
    }
}
