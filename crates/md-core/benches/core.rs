//! md-core hot paths: exact decimal parsing and order-book apply.
//!
//! `cargo bench -p md-core --bench core`. Target: book apply ≤ 60 ns per level.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use md_core::{parse_decimal, BookDelta, BookSnapshot, Decimal, Level, OrderBook, SeqRule, Sequence};

fn decimals(c: &mut Criterion) {
    let mut group = c.benchmark_group("decimal");
    for text in ["16850.04000000", "0.00150000", "9.121E-7", "26.755973959140651643"] {
        group.bench_function(text, |b| b.iter(|| parse_decimal(black_box(text)).unwrap()));
    }
    group.finish();
}

fn book_of(levels: i64) -> BookSnapshot {
    let bids =
        (0..levels).map(|i| Level::new(Decimal::new(1_000_000 - i, 2), Decimal::new(5 + i, 3))).collect();
    let asks =
        (0..levels).map(|i| Level::new(Decimal::new(1_000_001 + i, 2), Decimal::new(5 + i, 3))).collect();
    BookSnapshot { bids, asks, seq: 1 }
}

/// Ten level changes near the top of the book: replaces, one delete and one re-insert.
fn deltas(count: u64) -> Vec<BookDelta> {
    (0..count)
        .map(|n| {
            let k = (n % 7) as i64;
            let qty = if n % 5 == 0 { Decimal::ZERO } else { Decimal::new(100 + n as i64 % 50, 3) };
            BookDelta {
                bids: (0..5).map(|i| Level::new(Decimal::new(1_000_000 - k - 2 * i, 2), qty)).collect(),
                asks: (0..5).map(|i| Level::new(Decimal::new(1_000_001 + k + 2 * i, 2), qty)).collect(),
                seq: Sequence { first: None, last: n + 2, prev: None },
            }
        })
        .collect()
}

fn book_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("book_apply");
    let updates = deltas(1000);
    let levels_per_batch: u64 = updates.iter().map(|d| (d.bids.len() + d.asks.len()) as u64).sum();
    for depth in [100, 2000] {
        let snapshot = book_of(depth);
        group.throughput(Throughput::Elements(levels_per_batch));
        group.bench_function(format!("{depth}_levels_per_side_x1000_deltas"), |b| {
            b.iter_batched_ref(
                || {
                    let mut book = OrderBook::new(SeqRule::Consecutive);
                    book.apply_snapshot(&snapshot).unwrap();
                    book
                },
                |book| {
                    for delta in &updates {
                        black_box(book.apply_delta(delta)).unwrap();
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    let mut book = OrderBook::new(SeqRule::Consecutive);
    book.apply_snapshot(&book_of(2000)).unwrap();
    group.bench_function("top5_of_2000", |b| b.iter(|| black_box(book.top(5))));
    group.finish();
}

criterion_group!(benches, decimals, book_apply);
criterion_main!(benches);
