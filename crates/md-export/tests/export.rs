//! Export round trips: known packets through a fan-out into the sink, the files read back
//! (CSV parsed as text, Parquet with the parquet crate's own reader) give the exact decimal
//! strings and both clocks; other kinds are counted as skipped; bad directories fail clearly.
#![allow(clippy::unwrap_used, missing_docs)]

use std::fs::File;
use std::path::{Path, PathBuf};

use md_core::{
    parse_decimal, BookDelta, BookSnapshot, ConnId, DataPacket, ExchangeId, Level, Payload, Side, Status,
    Symbol, Trade, TradeId,
};
use md_export::{Export, ExportConfig, ExportError, Format};
use md_pipeline::{FanOut, Overflow, Sink, SinkError, SinkStats, SubscriberConfig};
use parquet::basic::{LogicalType, TimeUnit};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use tokio_util::sync::CancellationToken;

fn dec(text: &str) -> md_core::Decimal {
    parse_decimal(text).unwrap()
}

fn packet(exchange_ts: i64, data: Payload) -> DataPacket {
    DataPacket {
        exchange: ExchangeId::Binance,
        symbol: Symbol::new("BTC", "USDT"),
        exchange_ts,
        // Distinct from the venue clock, so a swapped column shows.
        local_ts: exchange_ts + 123_456,
        data,
    }
}

fn trade(price: &str, qty: &str, side: Side, id: TradeId) -> Payload {
    Payload::Trade(Trade { price: dec(price), qty: dec(qty), side, trade_id: id })
}

fn levels(pairs: &[(&str, &str)]) -> Vec<Level> {
    pairs.iter().map(|(p, q)| Level::new(dec(p), dec(q))).collect()
}

const T0: i64 = 1_700_000_000_123_456_789;

/// Three trades (an 18-digit quantity, a text id that needs CSV quoting), two snapshots with
/// fewer levels than the depth of 3, and one delta and one status to skip.
fn packets() -> Vec<DataPacket> {
    vec![
        packet(
            T0,
            trade(
                "37123.45000000",
                "0.000000012345678900",
                Side::Buy,
                TradeId::Number(2_290_000_000_090_712_222),
            ),
        ),
        packet(T0 + 1, Payload::BookDelta(BookDelta { bids: levels(&[("1", "2")]), ..BookDelta::default() })),
        packet(
            T0 + 2,
            Payload::BookSnapshot(BookSnapshot {
                bids: levels(&[("37123.40", "1.500"), ("37123.30", "0.000000012345678900")]),
                asks: levels(&[("37123.50", "3")]),
                seq: 7,
            }),
        ),
        packet(T0 + 3, trade("26.755973959140651643", "100", Side::Sell, TradeId::Text("4c7b,\"x\"".into()))),
        packet(T0 + 4, Payload::Status(Status::Resynced { conn: ConnId(1) })),
        packet(
            T0 + 5,
            Payload::BookSnapshot(BookSnapshot { bids: vec![], asks: levels(&[("0.1", "0.0")]), seq: 8 }),
        ),
        packet(T0 + 6, trade("0.00000001", "1E-8", Side::Buy, TradeId::Number(0))),
    ]
}

fn expected_trades() -> Vec<Vec<Option<String>>> {
    let row = |ts: i64, side: &str, price: &str, qty: &str, id: &str| {
        ["binance", "BTC-USDT", &ts.to_string(), &(ts + 123_456).to_string(), side, price, qty, id]
            .iter()
            .map(|s| Some((*s).to_owned()))
            .collect::<Vec<_>>()
    };
    vec![
        row(T0, "buy", "37123.45000000", "0.000000012345678900", "2290000000090712222"),
        row(T0 + 3, "sell", "26.755973959140651643", "100", "4c7b,\"x\""),
        row(T0 + 6, "buy", "0.00000001", "0.00000001", "0"),
    ]
}

fn expected_snapshots() -> Vec<Vec<Option<String>>> {
    let s = |t: &str| Some(t.to_owned());
    let head =
        |ts: i64| vec![s("binance"), s("BTC-USDT"), s(&ts.to_string()), s(&(ts + 123_456).to_string())];
    let mut first = head(T0 + 2);
    first.extend([s("37123.40"), s("1.500"), s("37123.30"), s("0.000000012345678900"), None, None]);
    first.extend([s("37123.50"), s("3"), None, None, None, None]);
    let mut second = head(T0 + 5);
    second.extend([None, None, None, None, None, None]);
    second.extend([s("0.1"), s("0.0"), None, None, None, None]);
    vec![first, second]
}

fn snapshot_header(depth: usize) -> Vec<String> {
    let mut names: Vec<String> =
        ["exchange", "symbol", "exchange_ts_ns", "local_ts_ns"].iter().map(|s| (*s).to_owned()).collect();
    for side in ["bid", "ask"] {
        for level in 1..=depth {
            names.push(format!("{side}_price_{level}"));
            names.push(format!("{side}_qty_{level}"));
        }
    }
    names
}

const TRADE_HEADER: [&str; 8] =
    ["exchange", "symbol", "exchange_ts_ns", "local_ts_ns", "side", "price", "qty", "trade_id"];

/// Publishes the packets (in batches of `batch`) through a fan-out into an export, then ends
/// the stream and returns what the sink returned.
async fn export(
    config: ExportConfig,
    packets: Vec<DataPacket>,
    batch: usize,
) -> Result<SinkStats, SinkError> {
    let sink = Box::new(Export::new(config).unwrap());
    export_with(sink, packets, batch).await
}

async fn export_with(
    sink: Box<Export>,
    packets: Vec<DataPacket>,
    batch: usize,
) -> Result<SinkStats, SinkError> {
    let mut fanout = FanOut::new();
    let input = fanout.subscribe(SubscriberConfig::new(sink.name(), Overflow::Block, 16));
    let publisher = fanout.publisher();
    let run = tokio::spawn(sink.run(input, CancellationToken::new()));
    for chunk in packets.chunks(batch) {
        publisher.publish(chunk.to_vec()).await;
    }
    drop(publisher);
    run.await.unwrap()
}

/// RFC 4180 reader, enough for the tests: quoted fields with doubled quotes, `\n` records.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the file ends with a full record");
    rows
}

/// A CSV file's header and rows, empty fields as `None`.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let mut rows = parse_csv(&std::fs::read_to_string(path).unwrap());
    let header = rows.remove(0);
    let rows =
        rows.into_iter().map(|r| r.into_iter().map(|f| (!f.is_empty()).then_some(f)).collect()).collect();
    (header, rows)
}

/// A Parquet file's column names and rows, read with the crate's own row reader; clocks as
/// their integer text, nulls as `None`.
fn read_parquet(path: &Path) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let names = schema.columns().iter().map(|c| c.name().to_owned()).collect();
    let mut rows = Vec::new();
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        let cells = row
            .get_column_iter()
            .map(|(_, field)| match field {
                Field::Str(s) => Some(s.clone()),
                Field::Long(n) => Some(n.to_string()),
                Field::Null => None,
                other => panic!("unexpected field {other:?}"),
            })
            .collect();
        rows.push(cells);
    }
    (names, rows)
}

/// With `MD_EXPORT_KEEP=DIR` set, copies an export's files there, to look at them by hand
/// (pandas, polars); the tests never need it.
fn keep(dir: &Path) {
    let Some(keep) = std::env::var_os("MD_EXPORT_KEEP") else { return };
    std::fs::create_dir_all(&keep).unwrap();
    for name in files(dir) {
        std::fs::copy(dir.join(&name), Path::new(&keep).join(name)).unwrap();
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn csv_round_trip_keeps_exact_decimals_and_both_clocks() {
    let dir = tempfile::tempdir().unwrap();
    let config = ExportConfig::new(dir.path(), Format::Csv).depth(3);
    let stats = export(config, packets(), 2).await.unwrap();
    assert_eq!(files(dir.path()), ["snapshots-000000.csv", "trades-000000.csv"]);
    keep(dir.path());

    let (header, rows) = read_csv(&dir.path().join("trades-000000.csv"));
    assert_eq!(header, TRADE_HEADER);
    assert_eq!(rows, expected_trades());
    let (header, rows) = read_csv(&dir.path().join("snapshots-000000.csv"));
    assert_eq!(header, snapshot_header(3));
    assert_eq!(rows, expected_snapshots());
    // The quoting is RFC 4180's, and only where needed.
    let text = std::fs::read_to_string(dir.path().join("trades-000000.csv")).unwrap();
    assert!(text.contains(",sell,26.755973959140651643,100,\"4c7b,\"\"x\"\"\"\n"), "{text}");
    assert!(text.starts_with("exchange,symbol,exchange_ts_ns,local_ts_ns,side,price,qty,trade_id\n"));

    assert_eq!(stats.packets_received, 7);
    assert_eq!(stats.packets_skipped, 2, "the delta and the status");
    assert_eq!(stats.unknown_kinds, 0);
    assert_eq!(stats.records_written, 5);
}

#[tokio::test]
async fn parquet_round_trip_keeps_exact_decimals_and_both_clocks() {
    let dir = tempfile::tempdir().unwrap();
    let config = ExportConfig::new(dir.path(), Format::Parquet).depth(3);
    let sink = Export::new(config).unwrap();
    assert_eq!(sink.name(), "parquet");
    let stats = export_with(Box::new(sink), packets(), 3).await.unwrap();
    assert_eq!(files(dir.path()), ["snapshots-000000.parquet", "trades-000000.parquet"]);
    keep(dir.path());

    let (names, rows) = read_parquet(&dir.path().join("trades-000000.parquet"));
    assert_eq!(names, TRADE_HEADER);
    assert_eq!(rows, expected_trades());
    let (names, rows) = read_parquet(&dir.path().join("snapshots-000000.parquet"));
    assert_eq!(names, snapshot_header(3));
    assert_eq!(rows, expected_snapshots());

    // The schema: clocks are INT64 TIMESTAMP(NANOS, UTC), everything else UTF8; SNAPPY pages.
    let reader =
        SerializedFileReader::new(File::open(dir.path().join("trades-000000.parquet")).unwrap()).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    for column in schema.columns() {
        let want = if column.name().ends_with("_ns") {
            LogicalType::timestamp(true, TimeUnit::NANOS)
        } else {
            LogicalType::String
        };
        assert_eq!(column.logical_type_ref(), Some(&want), "{}", column.name());
    }
    let chunk = reader.metadata().row_group(0).column(0);
    assert_eq!(chunk.compression(), parquet::basic::Compression::SNAPPY);

    assert_eq!(stats.packets_received, 7);
    assert_eq!(stats.packets_skipped, 2);
    assert_eq!(stats.records_written, 5);
    assert_eq!(stats.records_in_memory, 0);
}

/// `n` trades with ids 0..n.
fn trades(n: u64) -> Vec<DataPacket> {
    (0..n).map(|i| packet(T0 + i as i64, trade("1.0", "2.00", Side::Buy, TradeId::Number(i)))).collect()
}

fn ids(rows: &[Vec<Option<String>>]) -> Vec<String> {
    rows.iter().map(|r| r[7].clone().unwrap()).collect()
}

#[tokio::test]
async fn files_rotate_by_rows_and_row_groups_are_flushed_every_n_rows() {
    for format in Format::ALL {
        let dir = tempfile::tempdir().unwrap();
        let config = ExportConfig::new(dir.path(), format).rows_per_file(5).row_group_rows(2);
        let stats = export(config, trades(12), 4).await.unwrap();
        assert_eq!(stats.records_written, 12);
        let ext = format.as_str();
        let names: Vec<String> = (0..3).map(|i| format!("trades-{i:06}.{ext}")).collect();
        assert_eq!(files(dir.path()), names, "{format}");
        let mut all = Vec::new();
        for (name, want_rows) in names.iter().zip([5, 5, 2]) {
            let path = dir.path().join(name);
            let (_, rows) = if format == Format::Csv { read_csv(&path) } else { read_parquet(&path) };
            assert_eq!(rows.len(), want_rows, "{name}");
            all.extend(ids(&rows));
            if format == Format::Parquet {
                let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
                let groups: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
                let want: &[i64] = if want_rows == 5 { &[2, 2, 1] } else { &[2] };
                assert_eq!(groups, want, "{name}");
            }
        }
        let want: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        assert_eq!(all, want, "every row once, in order");
    }
}

#[tokio::test]
async fn an_input_without_rows_creates_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let only_skipped = vec![packet(T0, Payload::Status(Status::Resynced { conn: ConnId(1) }))];
    let stats = export(ExportConfig::new(dir.path(), Format::Parquet), only_skipped, 1).await.unwrap();
    assert_eq!(stats.packets_skipped, 1);
    assert!(files(dir.path()).is_empty());
}

#[test]
fn a_directory_that_cannot_be_created_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let dir: PathBuf = file.join("export");
    let err = Export::new(ExportConfig::new(&dir, Format::Csv)).unwrap_err();
    assert!(matches!(err, ExportError::CreateDir { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("cannot create export directory") && message.contains("not-a-dir"), "{message}");
}

#[test]
fn an_earlier_export_is_never_overwritten_and_bad_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("trades-000000.parquet"), b"earlier").unwrap();
    let err = Export::new(ExportConfig::new(dir.path(), Format::Parquet)).unwrap_err();
    assert!(
        matches!(err, ExportError::Exists { .. }) && err.to_string().contains("trades-000000.parquet"),
        "{err}"
    );
    // Another format's files are no obstacle.
    assert!(Export::new(ExportConfig::new(dir.path(), Format::Csv)).is_ok());
    for config in [
        ExportConfig::new(dir.path(), Format::Csv).depth(0),
        ExportConfig::new(dir.path(), Format::Csv).rows_per_file(0),
        ExportConfig::new(dir.path(), Format::Csv).row_group_rows(0),
    ] {
        assert!(matches!(Export::new(config), Err(ExportError::Config(_))));
    }
}

#[tokio::test]
async fn a_file_that_cannot_be_written_ends_the_sink_with_an_error_naming_it() {
    for format in Format::ALL {
        let dir = tempfile::tempdir().unwrap();
        let sink = Export::new(ExportConfig::new(dir.path(), format).row_group_rows(1)).unwrap();
        let metrics = sink.metrics();
        // Something else takes the file's name after the sink started (root ignores modes,
        // so a directory in the way is what makes the create fail here).
        let blocked = dir.path().join(format!("trades-000000.{format}.partial"));
        std::fs::create_dir(&blocked).unwrap();
        let err = export_with(Box::new(sink), trades(10), 2).await.unwrap_err();
        let SinkError::Failed(source) = &err else { panic!("{err:?}") };
        let export = source.downcast_ref::<ExportError>().unwrap();
        assert!(matches!(export, ExportError::Io { action: "creating", .. }), "{export:?}");
        let message = err.to_string();
        assert!(message.contains("creating") && message.contains(&*blocked.to_string_lossy()), "{message}");
        assert_eq!(metrics.last_error().as_deref(), Some(&*message));
    }
}

#[tokio::test]
async fn cancelled_at_the_deadline_it_still_closes_readable_files() {
    let dir = tempfile::tempdir().unwrap();
    let sink =
        Box::new(Export::new(ExportConfig::new(dir.path(), Format::Parquet).row_group_rows(4)).unwrap());
    let metrics = sink.metrics();
    let mut fanout = FanOut::new();
    let input = fanout.subscribe(SubscriberConfig::new("parquet", Overflow::Block, 16));
    let publisher = fanout.publisher();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(sink.run(input, cancel.clone()));
    publisher.publish(trades(10)).await;
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while metrics.snapshot().packets_received < 10 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap();
    // The publisher is still there: only the cancellation ends the sink.
    cancel.cancel();
    let stats = run.await.unwrap().unwrap();
    assert_eq!(stats.records_written, 10);
    let (_, rows) = read_parquet(&dir.path().join("trades-000000.parquet"));
    assert_eq!(rows.len(), 10);
    drop(publisher);
}
