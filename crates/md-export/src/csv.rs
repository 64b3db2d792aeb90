//! CSV files: a header row, RFC 4180 quoting where a field needs it, `\n` line ends.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md_pipeline::SinkMetrics;

use crate::files::{self, FilePaths};
use crate::table::{self, Cell, Table};
use crate::ExportError;

/// One table's CSV files, rotated every `rows_per_file` rows.
#[derive(Debug)]
pub(crate) struct CsvTable {
    table: Table,
    dir: PathBuf,
    header: String,
    rows_per_file: u64,
    next_index: u64,
    open: Option<OpenCsv>,
    line: String,
    metrics: Arc<SinkMetrics>,
}

#[derive(Debug)]
struct OpenCsv {
    paths: FilePaths,
    out: BufWriter<File>,
    rows: u64,
}

impl CsvTable {
    pub(crate) fn new(
        table: Table,
        dir: &Path,
        depth: usize,
        rows_per_file: u64,
        metrics: Arc<SinkMetrics>,
    ) -> Self {
        let mut header = String::new();
        for (i, column) in table::columns(table, depth).iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            push_field(&mut header, &column.name);
        }
        header.push('\n');
        Self {
            table,
            dir: dir.to_path_buf(),
            header,
            rows_per_file,
            next_index: 0,
            open: None,
            line: String::new(),
            metrics,
        }
    }

    /// Writes one row, given as its cells in column order.
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
    }

    fn try_write_row(&mut self, cells: impl FnOnce(&mut dyn FnMut(Cell<'_>))) -> Result<(), ExportError> {
        self.line.clear();
        let mut first = true;
        let line = &mut self.line;
        cells(&mut |cell| {
            if !first {
                line.push(',');
            }
            first = false;
            push_cell(line, cell);
        });
        self.line.push('\n');
        if self.open.is_none() {
            self.open = Some(self.create()?);
        }
        let Some(open) = self.open.as_mut() else {
            return Err(ExportError::Internal("no open CSV file after opening one"));
        };
        open.out
            .write_all(self.line.as_bytes())
            .map_err(|e| ExportError::io("writing", open.paths.partial(), e))?;
        open.rows += 1;
        SinkMetrics::add(&self.metrics.records_encoded, 1);
        SinkMetrics::add(&self.metrics.records_written, 1);
        if open.rows >= self.rows_per_file {
            self.close()?;
        }
        Ok(())
    }

    fn create(&mut self) -> Result<OpenCsv, ExportError> {
        let paths = FilePaths::new(&self.dir, self.table, self.next_index, "csv");
        self.next_index += 1;
        let file = files::create(&paths)?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        out.write_all(self.header.as_bytes()).map_err(|e| ExportError::io("writing", paths.partial(), e))?;
        Ok(OpenCsv { paths, out, rows: 0 })
    }

    /// Flushes, syncs and publishes the open file under its final name, if one is open.
    pub(crate) fn close(&mut self) -> Result<(), ExportError> {
        let Some(open) = self.open.take() else { return Ok(()) };
        let started = std::time::Instant::now();
        let file = open
            .out
            .into_inner()
            .map_err(|e| ExportError::io("writing", open.paths.partial(), e.into_error()))?;
        files::publish(file, &open.paths)?;
        SinkMetrics::add(&self.metrics.batches_written, 1);
        self.metrics.record_latency(started.elapsed());
        Ok(())
    }
}

/// Appends a cell's text, quoted when it needs to be.
fn push_cell(line: &mut String, cell: Cell<'_>) {
    // Writing to a String cannot fail.
    match cell {
        Cell::Text(text) => push_field(line, text),
        Cell::Nanos(ns) => {
            let _ = write!(line, "{ns}");
        }
        Cell::Decimal(d) => {
            let _ = write!(line, "{d}");
        }
        Cell::TradeId(id) => match id {
            md_core::TradeId::Number(n) => {
                let _ = write!(line, "{n}");
            }
            md_core::TradeId::Text(text) => push_field(line, text),
        },
        Cell::Empty => {}
    }
}

/// RFC 4180: a field holding a comma, a double quote, CR or LF is enclosed in double quotes,
/// and its double quotes are doubled. Others are written as they are.
fn push_field(line: &mut String, text: &str) {
    if text.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
        line.push('"');
        for c in text.chars() {
            if c == '"' {
                line.push('"');
            }
            line.push(c);
        }
        line.push('"');
    } else {
        line.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::push_field;

    #[test]
    fn quotes_only_where_needed() {
        for (text, want) in [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("cr\r", "\"cr\r\""),
            ("", ""),
        ] {
            let mut line = String::new();
            push_field(&mut line, text);
            assert_eq!(line, want);
        }
    }
}
