//! Parquet files through the low-level writer (no arrow): a message-type schema of
//! BYTE_ARRAY (STRING) text and INT64 TIMESTAMP(NANOS, UTC) clocks, SNAPPY pages, a row group
//! every `row_group_rows` rows, the footer written when a file is closed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use md_pipeline::SinkMetrics;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{Type, TypePtr};

use crate::files::{self, FilePaths};
use crate::table::{self, Cell, Column, Kind, Table};
use crate::ExportError;

/// A column's values for the row group being built.
#[derive(Debug)]
enum Values {
    /// Text; `defs` holds a definition level per row (1 = present) when the column is nullable.
    Text { values: Vec<ByteArray>, defs: Option<Vec<i16>> },
    /// Clocks.
    Nanos(Vec<i64>),
}

/// One table's Parquet files, rotated every `rows_per_file` rows.
pub(crate) struct ParquetTable {
    table: Table,
    dir: PathBuf,
    schema: TypePtr,
    properties: WriterPropertiesPtr,
    rows_per_file: u64,
    row_group_rows: usize,
    next_index: u64,
    open: Option<OpenParquet>,
    columns: Vec<Values>,
    buffered: usize,
    metrics: Arc<SinkMetrics>,
}

impl std::fmt::Debug for ParquetTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetTable")
            .field("table", &self.table)
            .field("dir", &self.dir)
            .field("rows_per_file", &self.rows_per_file)
            .field("row_group_rows", &self.row_group_rows)
            .field("next_index", &self.next_index)
            .field("buffered", &self.buffered)
            .finish_non_exhaustive()
    }
}

struct OpenParquet {
    paths: FilePaths,
    writer: SerializedFileWriter<File>,
    rows: u64,
}

/// The message type of a table: required text and clocks, optional (nullable) level columns.
fn schema(table: Table, columns: &[Column]) -> Result<TypePtr, parquet::errors::ParquetError> {
    let fields = columns
        .iter()
        .map(|column| {
            let repetition = if column.nullable { Repetition::OPTIONAL } else { Repetition::REQUIRED };
            let (physical, logical) = match column.kind {
                Kind::Text => (Physical::BYTE_ARRAY, LogicalType::String),
                Kind::Nanos => (Physical::INT64, LogicalType::timestamp(true, TimeUnit::NANOS)),
            };
            Type::primitive_type_builder(&column.name, physical)
                .with_repetition(repetition)
                .with_logical_type(Some(logical))
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Type::group_type_builder(table.as_str()).with_fields(fields).build()?))
}

impl ParquetTable {
    pub(crate) fn new(
        table: Table,
        dir: &Path,
        depth: usize,
        rows_per_file: u64,
        row_group_rows: usize,
        metrics: Arc<SinkMetrics>,
    ) -> Result<Self, ExportError> {
        let columns = table::columns(table, depth);
        let schema =
            schema(table, &columns).map_err(|source| ExportError::Parquet { path: dir.into(), source })?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("md-export {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "md.decimals".to_owned(),
                "prices and quantities are the exact decimal text of the venue's values (UTF8), never floats"
                    .to_owned(),
            )]))
            .build();
        let columns = columns
            .iter()
            .map(|c| match c.kind {
                Kind::Text => Values::Text { values: Vec::new(), defs: c.nullable.then(Vec::new) },
                Kind::Nanos => Values::Nanos(Vec::new()),
            })
            .collect();
        Ok(Self {
            table,
            dir: dir.to_path_buf(),
            schema,
            properties: Arc::new(properties),
            rows_per_file,
            row_group_rows,
            next_index: 0,
            open: None,
            columns,
            buffered: 0,
            metrics,
        })
    }

    /// Buffers one row, given as its cells in column order; writes a row group when the buffer
    /// is full and closes the file when it holds `rows_per_file` rows.
    pub(crate) fn write_row(
        &mut self,
        cells: impl FnOnce(&mut dyn FnMut(Cell<'_>)),
    ) -> Result<(), ExportError> {
        let result = self.try_write_row(cells);
        if result.is_err() {
            self.abandon();
        }
        result
    }

    /// After an error: the open file is left as `.partial`, never published, and nothing more
    /// is written to it.
    fn abandon(&mut self) {
        self.open = None;
        let dropped = self.buffered as u64;
        self.buffered = 0;
        self.metrics.records_in_memory.fetch_sub(dropped, std::sync::atomic::Ordering::Relaxed);
        for values in &mut self.columns {
            match values {
                Values::Text { values, defs } => {
                    values.clear();
                    if let Some(defs) = defs {
                        defs.clear();
                    }
                }
                Values::Nanos(values) => values.clear(),
            }
        }
    }

    fn try_write_row(&mut self, cells: impl FnOnce(&mut dyn FnMut(Cell<'_>))) -> Result<(), ExportError> {
        let mut i = 0;
        let columns = &mut self.columns;
        let mut mismatch = false;
        cells(&mut |cell| {
            match (columns.get_mut(i), cell) {
                (Some(Values::Nanos(values)), Cell::Nanos(ns)) => values.push(ns),
                (Some(Values::Text { values, defs }), cell) => {
                    let text = match cell {
                        Cell::Text(text) => Some(ByteArray::from(text)),
                        Cell::Decimal(d) => Some(ByteArray::from(d.to_string().into_bytes())),
                        Cell::TradeId(id) => Some(ByteArray::from(id.to_string().into_bytes())),
                        Cell::Empty => None,
                        Cell::Nanos(_) => {
                            mismatch = true;
                            None
                        }
                    };
                    match (text, defs) {
                        (Some(text), Some(defs)) => {
                            values.push(text);
                            defs.push(1);
                        }
                        (Some(text), None) => values.push(text),
                        (None, Some(defs)) => defs.push(0),
                        (None, None) => mismatch = true,
                    }
                }
                _ => mismatch = true,
            }
            i += 1;
        });
        if mismatch || i != self.columns.len() {
            return Err(ExportError::Internal("a row does not match its table's columns"));
        }
        self.buffered += 1;
        SinkMetrics::add(&self.metrics.records_encoded, 1);
        SinkMetrics::add(&self.metrics.records_in_memory, 1);
        let in_file = self.open.as_ref().map_or(0, |o| o.rows) + self.buffered as u64;
        if in_file >= self.rows_per_file {
            self.close()?;
        } else if self.buffered >= self.row_group_rows {
            self.flush_row_group()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group (opening a file if none is).
    fn flush_row_group(&mut self) -> Result<(), ExportError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let started = Instant::now();
        if self.open.is_none() {
            let paths = FilePaths::new(&self.dir, self.table, self.next_index, "parquet");
            self.next_index += 1;
            let file = files::create(&paths)?;
            let writer =
                SerializedFileWriter::new(file, Arc::clone(&self.schema), Arc::clone(&self.properties))
                    .map_err(|source| ExportError::Parquet { path: paths.partial().into(), source })?;
            self.open = Some(OpenParquet { paths, writer, rows: 0 });
        }
        let Some(open) = self.open.as_mut() else {
            return Err(ExportError::Internal("no open Parquet file after opening one"));
        };
        let fail = |source| ExportError::Parquet { path: open.paths.partial().into(), source };
        let mut group = open.writer.next_row_group().map_err(fail)?;
        for values in &mut self.columns {
            let Some(mut column) = group.next_column().map_err(fail)? else {
                return Err(ExportError::Internal("the Parquet schema has fewer columns than the table"));
            };
            match values {
                Values::Text { values, defs } => {
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(values, defs.as_deref(), None)
                        .map_err(fail)?;
                    values.clear();
                    if let Some(defs) = defs {
                        defs.clear();
                    }
                }
                Values::Nanos(values) => {
                    column.typed::<Int64Type>().write_batch(values, None, None).map_err(fail)?;
                    values.clear();
                }
            }
            column.close().map_err(fail)?;
        }
        group.close().map_err(fail)?;
        let rows = self.buffered as u64;
        open.rows += rows;
        self.buffered = 0;
        self.metrics.records_in_memory.fetch_sub(rows, std::sync::atomic::Ordering::Relaxed);
        SinkMetrics::add(&self.metrics.records_written, rows);
        SinkMetrics::add(&self.metrics.batches_written, 1);
        self.metrics.record_latency(started.elapsed());
        Ok(())
    }

    /// Writes what is buffered, then the footer, and publishes the file under its final name.
    pub(crate) fn close(&mut self) -> Result<(), ExportError> {
        self.flush_row_group()?;
        let Some(open) = self.open.take() else { return Ok(()) };
        let file = open
            .writer
            .into_inner()
            .map_err(|source| ExportError::Parquet { path: open.paths.partial().into(), source })?;
        files::publish(file, &open.paths)
    }
}
