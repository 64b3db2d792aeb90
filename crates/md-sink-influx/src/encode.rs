//! [`LineEncoder`]: one [`DataPacket`] → one line of line protocol, with a unique, deterministic
//! timestamp per point.
//!
//! InfluxDB keeps one point per measurement + tag set + timestamp, so two trades of a symbol in
//! the same millisecond would overwrite each other if written at the venue's ms. Venues stamp in
//! ms (or µs), leaving the sub-ms (sub-µs) nanoseconds free: the encoder puts a number derived
//! from the point's own identity there (trade id, sequence). The result is deterministic — a
//! re-delivered identical point lands on its own key and overwrites only itself — while distinct
//! points get distinct keys. A small per-series guard catches the rare remaining collision
//! (identities equal modulo 10⁶ in one ms, or ns-stamped venues) and bumps by 1 ns, counted.
//!
//! Status packets (connects, disconnects, gaps, resyncs) are md's own events: they are stamped
//! with the local receive time, and their identity is the event and the connection.

use md_core::{
    BookDelta, BookSnapshot, DataPacket, ExchangeId, Level, Payload, Status, Symbol, Trade, TradeId,
};

use crate::error::InfluxError;
use crate::escape::{escape_key, escape_measurement, DecimalMode, LineBuilder};

/// Which database (v1) or bucket (v2) a line goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Trades, book incrementals and status events.
    Incremental,
    /// Book snapshots.
    Snapshot,
}

impl Target {
    /// Both targets, in index order.
    pub const ALL: [Target; 2] = [Target::Incremental, Target::Snapshot];

    /// `incremental` or `snapshot` (spool and dead-letter file names).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incremental => "incremental",
            Self::Snapshot => "snapshot",
        }
    }

    /// 0 or 1, for per-target arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Measurement names, levels and number format of the written schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaConfig {
    /// Measurement of trades. Default `trade`.
    pub trade_measurement: String,
    /// Measurement of book snapshots. Default `book_snapshot`.
    pub snapshot_measurement: String,
    /// Measurement of book incrementals. Default `book_delta`.
    pub delta_measurement: String,
    /// Measurement of status events (connects, disconnects, gaps, resyncs). Default `status`.
    pub status_measurement: String,
    /// Levels per side written for a snapshot. Default 5.
    pub snapshot_levels: usize,
    /// Numeric (default) or string decimal fields.
    pub decimals: DecimalMode,
}

impl Default for SchemaConfig {
    fn default() -> Self {
        Self {
            trade_measurement: "trade".into(),
            snapshot_measurement: "book_snapshot".into(),
            delta_measurement: "book_delta".into(),
            status_measurement: "status".into(),
            snapshot_levels: 5,
            decimals: DecimalMode::Numeric,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Trade,
    Snapshot,
    Delta,
    Status,
}

/// How many recent (timestamp, identity) pairs per series the collision guard remembers.
const RECENT: usize = 8;

#[derive(Debug)]
struct Series {
    kind: Kind,
    exchange: ExchangeId,
    /// Escaped `measurement,exchange=..,symbol=..`.
    key: Box<[u8]>,
    recent: [(i64, u64); RECENT],
    next: usize,
}

/// Encodes packets into line protocol. Keeps per-series state, so use one encoder per stream.
#[derive(Debug)]
pub struct LineEncoder {
    decimals: DecimalMode,
    measurements: [Box<[u8]>; 4],
    snapshot_keys: Vec<[Box<[u8]>; 4]>,
    series: md_core::FastMap<Symbol, Vec<Series>>,
    bumps: u64,
}

impl LineEncoder {
    /// An encoder for a schema; refuses measurement names that cannot be written.
    pub fn new(schema: &SchemaConfig) -> Result<Self, InfluxError> {
        let mut measurements: [Box<[u8]>; 4] = Default::default();
        for (slot, name) in measurements.iter_mut().zip([
            &schema.trade_measurement,
            &schema.snapshot_measurement,
            &schema.delta_measurement,
            &schema.status_measurement,
        ]) {
            let mut out = Vec::new();
            escape_measurement(name, &mut out)?;
            *slot = out.into();
        }
        let snapshot_keys = (0..schema.snapshot_levels)
            .map(|i| {
                [
                    format!("bid_{i}_price").into_bytes().into(),
                    format!("bid_{i}_qty").into_bytes().into(),
                    format!("ask_{i}_price").into_bytes().into(),
                    format!("ask_{i}_qty").into_bytes().into(),
                ]
            })
            .collect();
        Ok(Self {
            decimals: schema.decimals,
            measurements,
            snapshot_keys,
            series: md_core::FastMap::default(),
            bumps: 0,
        })
    }

    /// Timestamps moved by 1 ns because another point of the series already had them.
    pub fn bumps(&self) -> u64 {
        self.bumps
    }

    /// Appends the packet's line to `out` and says which target it belongs to; `Ok(None)` for
    /// kinds this encoder does not know (md-core's `Payload` may grow). On error `out` is
    /// unchanged.
    pub fn encode(&mut self, packet: &DataPacket, out: &mut Vec<u8>) -> Result<Option<Target>, InfluxError> {
        let start = out.len();
        let r = self.encode_line(packet, out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn encode_line(&mut self, packet: &DataPacket, out: &mut Vec<u8>) -> Result<Option<Target>, InfluxError> {
        let (kind, identity, target) = match &packet.data {
            Payload::Trade(t) => (Kind::Trade, trade_identity(&t.trade_id), Target::Incremental),
            Payload::BookSnapshot(s) => (Kind::Snapshot, s.seq, Target::Snapshot),
            Payload::BookDelta(d) => (Kind::Delta, d.seq.last, Target::Incremental),
            Payload::Status(s) => (Kind::Status, status_identity(s), Target::Incremental),
            _ => return Ok(None),
        };
        let decimals = self.decimals;
        let measurement = &self.measurements[kind as usize];
        let series = series_for(&mut self.series, measurement, kind, packet.exchange, &packet.symbol)?;
        let natural = match kind {
            // md's own event: the time md saw it is the time it happened.
            Kind::Status => packet.local_ts,
            _ => natural_ts(packet.exchange_ts, packet.local_ts, identity),
        };
        let (ts, bumped) = series.unique_ts(natural, identity);
        self.bumps += bumped;
        let mut line = LineBuilder::with_series_key(out, &series.key);
        match &packet.data {
            Payload::Trade(t) => trade_fields(&mut line, t, decimals),
            Payload::BookSnapshot(s) => snapshot_fields(&mut line, s, decimals, &self.snapshot_keys)?,
            Payload::BookDelta(d) => delta_fields(&mut line, d)?,
            Payload::Status(s) => status_fields(&mut line, s)?,
            _ => {}
        }
        line.raw_key(b"local_ts");
        line.raw_i64(packet.local_ts);
        line.finish(ts)?;
        Ok(Some(target))
    }
}

fn series_for<'a>(
    map: &'a mut md_core::FastMap<Symbol, Vec<Series>>,
    measurement: &[u8],
    kind: Kind,
    exchange: ExchangeId,
    symbol: &Symbol,
) -> Result<&'a mut Series, InfluxError> {
    // Cloning the symbol is one refcount increment; it saves a second hash lookup.
    let list = map.entry(symbol.clone()).or_default();
    if let Some(i) = list.iter().position(|s| s.kind == kind && s.exchange == exchange) {
        return Ok(&mut list[i]);
    }
    let mut key = measurement.to_vec();
    key.extend_from_slice(b",exchange=");
    escape_key("tag value", exchange.as_str(), &mut key)?;
    key.extend_from_slice(b",symbol=");
    escape_key("tag value", symbol.as_str(), &mut key)?;
    list.push(Series { kind, exchange, key: key.into(), recent: [(i64::MIN, 0); RECENT], next: 0 });
    let last = list.len() - 1;
    Ok(&mut list[last])
}

impl Series {
    /// The first timestamp from `ts` on that no other point of this series holds; the same
    /// point again (same identity) keeps its timestamp. Returns the bumps made for a new point.
    fn unique_ts(&mut self, mut ts: i64, identity: u64) -> (i64, u64) {
        let mut bumps = 0;
        while let Some(&(_, id)) = self.recent.iter().find(|(t, _)| *t == ts) {
            if id == identity {
                // Itself again: same key, and no new bump.
                return (ts, 0);
            }
            ts = ts.wrapping_add(1);
            bumps += 1;
        }
        self.recent[self.next] = (ts, identity);
        self.next = (self.next + 1) % RECENT;
        (ts, bumps)
    }
}

/// The deterministic timestamp: venue time plus identity in the unused sub-ms (or sub-µs) part.
/// A venue that gave no time (0) falls back to the local receive time.
pub fn natural_ts(exchange_ts: i64, local_ts: i64, identity: u64) -> i64 {
    if exchange_ts <= 0 {
        return local_ts;
    }
    let free = if exchange_ts % 1_000_000 == 0 {
        identity % 1_000_000
    } else if exchange_ts % 1_000 == 0 {
        identity % 1_000
    } else {
        0
    };
    exchange_ts.checked_add(free as i64).unwrap_or(exchange_ts)
}

/// The number a trade id contributes to its timestamp: the id itself, or FNV-1a of its text.
pub fn trade_identity(id: &TradeId) -> u64 {
    match id {
        TradeId::Number(n) => *n,
        TradeId::Text(t) => {
            t.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
        }
    }
}

/// A status event's identity for the collision guard: FNV-1a of the event name and the
/// connection, so the same event again keeps its key and a different one at the same ns moves.
fn status_identity(status: &Status) -> u64 {
    let fnv = |h: u64, b: u8| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    let h = status.event().bytes().fold(0xcbf2_9ce4_8422_2325, fnv);
    status.conn().0.to_le_bytes().into_iter().fold(h, fnv)
}

fn status_fields(line: &mut LineBuilder<'_>, s: &Status) -> Result<(), InfluxError> {
    line.raw_key(b"event");
    line.raw_str(s.event());
    let reason = s.reason();
    if !reason.is_empty() {
        line.raw_key(b"reason");
        line.raw_str(reason);
    }
    let detail = s.detail();
    if !detail.is_empty() {
        line.raw_key(b"detail");
        line.raw_str(&detail);
    }
    let conn = i64::try_from(s.conn().0).map_err(|_| {
        InfluxError::encode("field value", &s.conn().to_string(), "connection id above i64::MAX")
    })?;
    line.raw_key(b"conn");
    line.raw_i64(conn);
    Ok(())
}

fn trade_fields(line: &mut LineBuilder<'_>, t: &Trade, decimals: DecimalMode) {
    line.raw_key(b"price");
    line.raw_decimal(&t.price, decimals);
    line.raw_key(b"qty");
    line.raw_decimal(&t.qty, decimals);
    line.raw_key(b"side");
    line.raw_bytes(if t.side == md_core::Side::Buy { b"\"buy\"" } else { b"\"sell\"" });
    line.raw_key(b"trade_id");
    match &t.trade_id {
        TradeId::Number(n) => {
            line.raw_bytes(b"\"");
            line.raw_bytes(itoa::Buffer::new().format(*n).as_bytes());
            line.raw_bytes(b"\"");
        }
        TradeId::Text(text) => line.raw_str(text),
    }
}

fn snapshot_fields(
    line: &mut LineBuilder<'_>,
    s: &BookSnapshot,
    decimals: DecimalMode,
    keys: &[[Box<[u8]>; 4]],
) -> Result<(), InfluxError> {
    for (side, levels) in [(0, &s.bids), (2, &s.asks)] {
        for (level, k) in levels.iter().zip(keys) {
            line.raw_key(&k[side]);
            line.raw_decimal(&level.price, decimals);
            line.raw_key(&k[side + 1]);
            line.raw_decimal(&level.qty, decimals);
        }
    }
    line.raw_key(b"seq");
    line.raw_i64(seq_i64(s.seq)?);
    Ok(())
}

fn delta_fields(line: &mut LineBuilder<'_>, d: &BookDelta) -> Result<(), InfluxError> {
    for (key, levels) in [(&b"bids"[..], &d.bids), (&b"asks"[..], &d.asks)] {
        line.raw_key(key);
        line.raw_bytes(b"\"");
        push_levels(line, levels);
        line.raw_bytes(b"\"");
    }
    for (key, seq) in
        [(&b"first_seq"[..], d.seq.first), (b"last_seq", Some(d.seq.last)), (b"prev_seq", d.seq.prev)]
    {
        if let Some(seq) = seq {
            let v = seq_i64(seq)?;
            line.raw_key(key);
            line.raw_i64(v);
        }
    }
    Ok(())
}

/// `price:qty,price:qty` — decimal text has no character that needs escaping in a string.
fn push_levels(line: &mut LineBuilder<'_>, levels: &[Level]) {
    for (i, level) in levels.iter().enumerate() {
        if i > 0 {
            line.raw_bytes(b",");
        }
        line.raw_decimal(&level.price, DecimalMode::Numeric);
        line.raw_bytes(b":");
        line.raw_decimal(&level.qty, DecimalMode::Numeric);
    }
}

fn seq_i64(seq: u64) -> Result<i64, InfluxError> {
    i64::try_from(seq)
        .map_err(|_| InfluxError::encode("field value", &seq.to_string(), "sequence above i64::MAX"))
}
