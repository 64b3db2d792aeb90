//! The two tables' layout, defined once for both formats: column names and kinds, and a row's
//! cells in column order.

use md_core::{BookSnapshot, DataPacket, Decimal, Trade, TradeId};

/// The two tables an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// One row per trade.
    Trades,
    /// One row per book snapshot, its top `depth` levels per side.
    Snapshots,
}

impl Table {
    /// `trades` or `snapshots`: the file name prefix and the Parquet schema's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trades => "trades",
            Self::Snapshots => "snapshots",
        }
    }
}

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// UTF-8 text (Parquet BYTE_ARRAY, STRING).
    Text,
    /// Nanoseconds since the Unix epoch (Parquet INT64, TIMESTAMP(NANOS, UTC)).
    Nanos,
}

/// One column: its name, kind and whether it may be empty (Parquet OPTIONAL, null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub name: String,
    pub kind: Kind,
    pub nullable: bool,
}

impl Column {
    fn new(name: impl Into<String>, kind: Kind, nullable: bool) -> Self {
        Self { name: name.into(), kind, nullable }
    }
}

/// One cell of a row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    /// Text as it is.
    Text(&'a str),
    /// A clock, in ns.
    Nanos(i64),
    /// An exact decimal, written as its own text (scale kept: `0.000000012345678900`).
    Decimal(Decimal),
    /// A venue's trade id, written as it was sent.
    TradeId(&'a TradeId),
    /// No value (a book side with fewer levels than the depth).
    Empty,
}

/// The columns of `table`; `depth` levels per side for snapshots.
pub(crate) fn columns(table: Table, depth: usize) -> Vec<Column> {
    let mut columns = vec![
        Column::new("exchange", Kind::Text, false),
        Column::new("symbol", Kind::Text, false),
        Column::new("exchange_ts_ns", Kind::Nanos, false),
        Column::new("local_ts_ns", Kind::Nanos, false),
    ];
    match table {
        Table::Trades => {
            for name in ["side", "price", "qty", "trade_id"] {
                columns.push(Column::new(name, Kind::Text, false));
            }
        }
        Table::Snapshots => {
            for side in ["bid", "ask"] {
                for level in 1..=depth {
                    columns.push(Column::new(format!("{side}_price_{level}"), Kind::Text, true));
                    columns.push(Column::new(format!("{side}_qty_{level}"), Kind::Text, true));
                }
            }
        }
    }
    columns
}

fn head(packet: &DataPacket, out: &mut impl FnMut(Cell<'_>)) {
    out(Cell::Text(packet.exchange.as_str()));
    out(Cell::Text(packet.symbol.as_str()));
    out(Cell::Nanos(packet.exchange_ts));
    out(Cell::Nanos(packet.local_ts));
}

/// A trade's cells, in [`columns`] order.
pub(crate) fn trade_cells(packet: &DataPacket, trade: &Trade, mut out: impl FnMut(Cell<'_>)) {
    head(packet, &mut out);
    out(Cell::Text(trade.side.as_str()));
    out(Cell::Decimal(trade.price));
    out(Cell::Decimal(trade.qty));
    out(Cell::TradeId(&trade.trade_id));
}

/// A snapshot's cells, in [`columns`] order: the best `depth` bids, then the best `depth` asks,
/// [`Cell::Empty`] where a side has fewer levels.
pub(crate) fn snapshot_cells(
    packet: &DataPacket,
    snapshot: &BookSnapshot,
    depth: usize,
    mut out: impl FnMut(Cell<'_>),
) {
    head(packet, &mut out);
    for levels in [&snapshot.bids, &snapshot.asks] {
        for i in 0..depth {
            match levels.get(i) {
                Some(level) => {
                    out(Cell::Decimal(level.price));
                    out(Cell::Decimal(level.qty));
                }
                None => {
                    out(Cell::Empty);
                    out(Cell::Empty);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_columns_are_bids_then_asks() {
        let names: Vec<_> = columns(Table::Snapshots, 2).into_iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "exchange",
                "symbol",
                "exchange_ts_ns",
                "local_ts_ns",
                "bid_price_1",
                "bid_qty_1",
                "bid_price_2",
                "bid_qty_2",
                "ask_price_1",
                "ask_qty_1",
                "ask_price_2",
                "ask_qty_2"
            ]
        );
    }
}
