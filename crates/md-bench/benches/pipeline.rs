//! The inbound path, stage by stage and whole, per venue: decode only (JSON scan, HTX gunzip),
//! parse + normalize, and frame → verified book → line in a batch. Plus gzip of a 5000-line
//! batch. `cargo bench -p md-bench --bench pipeline`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use md_bench::frames::{self, Frame};
use md_bench::inprocess::{as_frame, InProcess};
use md_core::ExchangeId;
use md_exchanges::{build, Endpoints};

const MESSAGES: usize = 5000;
const SYMBOLS: usize = 50;

fn whole_path(c: &mut Criterion) {
    for venue in ExchangeId::BUILT_IN {
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
        // The driver's own ConnectionCore (parse, verify, route) and the encoder, as live.
        group.bench_function("frame_to_line", |b| {
            b.iter_batched_ref(
                || InProcess::new(venue, SYMBOLS),
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
    let mut pipeline = InProcess::new(ExchangeId::Binance, SYMBOLS);
    for frame in &traffic.frames {
        pipeline.feed(frame);
    }
    let batch = pipeline.batch().to_vec();
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
