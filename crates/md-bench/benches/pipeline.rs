//! The inbound path, stage by stage and whole, per venue: decode only (JSON scan, HTX gunzip),
//! parse + normalize, and frame → verified book → line in a batch. Plus gzip of a 5000-line
//! batch. `cargo bench -p md-bench --bench pipeline`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use md_bench::frames::{self, Frame};
use md_core::{Applied, BookSync, DataPacket, ExchangeId, Payload, SeqRule};
use md_exchanges::{build, Endpoints};
use md_sink_influx::{LineEncoder, SchemaConfig};

const MESSAGES: usize = 5000;
const SYMBOLS: usize = 50;

fn as_frame(frame: &Frame) -> md_core::Frame<'_> {
    match frame {
        Frame::Text(t) => md_core::Frame::Text(t),
        Frame::Binary(b) => md_core::Frame::Binary(b),
    }
}

/// Frame → packets → verified books → line protocol in one batch buffer, as md-ingest does.
struct Pipeline {
    parser: Box<dyn md_core::Parser>,
    books: Vec<BookSync>,
    index: std::collections::HashMap<md_core::Symbol, usize>,
    encoder: LineEncoder,
    packets: Vec<DataPacket>,
    batch: Vec<u8>,
}

impl Pipeline {
    fn new(venue: ExchangeId, rule: SeqRule) -> Self {
        let exchange = build(venue, &Endpoints::default()).unwrap();
        let listing = frames::listing(venue, SYMBOLS);
        let mut books: Vec<BookSync> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for (i, info) in listing.iter().enumerate() {
            let mut sync = BookSync::new(rule, 10_000);
            if venue != ExchangeId::Bybit {
                // Binance's REST answer and HTX's req answer: the empty image at sequence 0.
                sync.on_snapshot(&md_core::BookSnapshot::default()).unwrap();
            }
            books.push(sync);
            index.insert(info.symbol.clone(), i);
        }
        Self {
            parser: exchange.parser(Arc::new(md_core::Symbols::new(listing))),
            books,
            index,
            encoder: LineEncoder::new(&SchemaConfig::default()).unwrap(),
            packets: Vec::with_capacity(8),
            batch: Vec::with_capacity(4 << 20),
        }
    }

    fn feed(&mut self, frame: &Frame) {
        self.packets.clear();
        self.parser.parse(as_frame(frame), 1, &mut self.packets).unwrap();
        for packet in self.packets.drain(..) {
            let book = &mut self.books[self.index[&packet.symbol]];
            let DataPacket { exchange, symbol, exchange_ts, local_ts, data } = packet;
            // As the driver does: the delta moves into its book and comes back once applied.
            let data = match data {
                Payload::BookDelta(delta) => match book.feed(delta) {
                    Ok((Applied::Updated, delta)) => Payload::BookDelta(delta),
                    _ => continue,
                },
                Payload::BookSnapshot(snapshot) => match book.on_snapshot(&snapshot) {
                    Ok(_) => Payload::BookSnapshot(snapshot),
                    Err(_) => continue,
                },
                other => other,
            };
            let packet = DataPacket { exchange, symbol, exchange_ts, local_ts, data };
            self.encoder.encode(&packet, &mut self.batch).unwrap();
        }
        if self.batch.len() > (4 << 20) {
            self.batch.clear();
        }
    }
}

fn whole_path(c: &mut Criterion) {
    for (venue, rule) in [
        (ExchangeId::Binance, SeqRule::UpdateIdRange),
        (ExchangeId::Bybit, SeqRule::Consecutive),
        (ExchangeId::Huobi, SeqRule::PrevLink),
    ] {
        let traffic = frames::traffic(venue, SYMBOLS, MESSAGES);
        let mut group = c.benchmark_group(format!("inbound/{venue}"));
        group.throughput(Throughput::Elements(traffic.frames.len() as u64));
        group.sample_size(20);
        group.bench_function("decode_only", |b| {
            let mut buf = Vec::new();
            b.iter(|| {
                for frame in &traffic.frames {
                    match frame {
                        Frame::Text(t) => {
                            black_box(serde_json::from_str::<serde::de::IgnoredAny>(t).unwrap());
                        }
                        Frame::Binary(bytes) => {
                            black_box(md_exchanges::huobi::gunzip(bytes, &mut buf).unwrap());
                        }
                    }
                }
            })
        });
        let parser =
            build(venue, &Endpoints::default()).unwrap().parser(Arc::new(frames::symbols(venue, SYMBOLS)));
        group.bench_function("parse_normalize", |b| {
            let mut out = Vec::with_capacity(8);
            b.iter(|| {
                for frame in &traffic.frames {
                    out.clear();
                    black_box(parser.parse(as_frame(frame), 1, &mut out)).unwrap();
                }
            })
        });
        group.bench_function("frame_to_line", |b| {
            b.iter_batched_ref(
                || Pipeline::new(venue, rule),
                |pipeline| {
                    for frame in &traffic.frames {
                        pipeline.feed(frame);
                    }
                },
                criterion::BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

fn gzip_batch(c: &mut Criterion) {
    let traffic = frames::traffic(ExchangeId::Binance, SYMBOLS, MESSAGES);
    let mut pipeline = Pipeline::new(ExchangeId::Binance, SeqRule::UpdateIdRange);
    for frame in &traffic.frames {
        pipeline.feed(frame);
    }
    let batch = pipeline.batch.clone();
    let lines = batch.iter().filter(|&&b| b == b'\n').count();
    let mut group = c.benchmark_group("gzip");
    group.throughput(Throughput::Elements(lines as u64));
    group.bench_function(format!("level1_batch_of_{lines}_lines"), |b| {
        b.iter(|| {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(batch.len() / 4),
                flate2::Compression::fast(),
            );
            encoder.write_all(&batch).unwrap();
            black_box(encoder.finish().unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, whole_path, gzip_batch);
criterion_main!(benches);
