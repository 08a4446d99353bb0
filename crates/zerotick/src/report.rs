//! The end-of-run report: a readable table, or one JSON object (fields as in DESIGN.md).

use std::fmt::Write as _;

use serde_json::{Value, json};
use zerotick_core::RejectReason;
use zerotick_pipeline::RunReport;

/// Memory at the start, peak and end of the run, bytes.
#[derive(Debug, Clone, Copy)]
pub struct Rss {
    pub start: Option<u64>,
    pub peak: Option<u64>,
    pub end: Option<u64>,
    /// Sampled every 100 ms from the end of warm-up: the first sample and the largest.
    pub after_warmup: Option<u64>,
    pub max_after_warmup: Option<u64>,
}

impl Rss {
    /// Growth of the resident set after warm-up, percent of the first sample after it.
    pub fn growth_after_warmup_pct(&self) -> Option<f64> {
        let (a, m) = (self.after_warmup?, self.max_after_warmup?);
        Some((m as f64 - a as f64) / a as f64 * 100.0)
    }
}

fn per_s(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

/// Market events through the pipeline: trades, quotes, book levels.
fn events(r: &RunReport) -> u64 {
    r.ticks_processed + r.events.quotes + r.events.book_deltas + r.events.snapshot_levels
}

/// The JSON object of a run.
pub fn json(r: &RunReport, rss: &Rss, feed: &str) -> Value {
    let l = &r.latency;
    let rejects: serde_json::Map<String, Value> = r
        .rejects
        .nonzero()
        .map(|(reason, n)| (reason.name().to_owned(), json!(n)))
        .collect();
    json!({
        "feed": feed,
        "ticks_in": r.ticks_in,
        "ticks_processed": r.ticks_processed,
        "ticks_rejected": r.ticks_rejected,
        "rejects": rejects,
        "max_symbols": r.max_symbols,
        "events": {
            "trade": r.ticks_in - r.ticks_rejected,
            "quote": r.events.quotes,
            "depth": r.events.book_deltas,
            "snapshot": r.events.snapshot_levels,
        },
        "sequence_gaps": r.sequence_gaps,
        "time_clamped": r.time_clamped,
        "book": {
            "symbols": r.books.symbols,
            "crossed": r.books.crossed,
            "locked": r.books.locked,
            "gaps": r.sequence_gaps,
            "unknown_level_deltas": r.books.unknown_level_deltas,
            "dropped": r.books.dropped,
            "events": r.books.events,
            "quotes_on_depth_books": r.books.quotes_on_depth_books,
        },
        "seconds": r.seconds,
        "ticks_per_s": per_s(r.ticks_processed, r.seconds),
        "events_per_s": per_s(events(r), r.seconds),
        "vectors": r.vectors,
        "vectors_per_s": per_s(r.vectors, r.seconds),
        "batches": r.batches,
        "latency_ns": { "p50": l.p50(), "p99": l.p99(), "p999": l.p999(), "max": l.max() },
        "arrival_latency_ns": pct(&r.arrival_latency),
        "steady_state_allocations": r.steady_state_allocations,
        "feed_allocations": r.feed_allocations,
        "pool_hit_rate": r.pool.hit_rate(),
        "rss_bytes": {
            "start": rss.start,
            "peak": rss.peak,
            "end": rss.end,
            "after_warmup": rss.after_warmup,
            "max_after_warmup": rss.max_after_warmup,
        },
        "rss_growth_after_warmup_pct": rss.growth_after_warmup_pct(),
        "checksum": format!("{:016x}", r.checksum),
        "simd_tier": zerotick_kernels::active_tier().name(),
        "layout": {
            "workers": r.layout.workers,
            "pca_thread": r.layout.pca_thread,
            "reason": r.layout.reason,
            "pinned": r.layout.pinned.map(|(f, p)| json!({"feature_cpu": f, "feed_and_pca_cpu": p})),
            "worker_rows": r.layout.worker_rows,
            "batch_rows": r.layout.batch_rows,
            "batch_reason": r.layout.batch_reason,
        },
        "stages_ns": {
            "queue": pct(&r.stages.queue),
            "feed_lateness": pct(&r.stages.feed_lateness),
            "batch_wait": pct(&r.stages.batch_wait),
            "compute_per_batch": pct(&r.stages.compute),
            "emit": pct(&r.stages.emit),
        },
        "compute": {
            "sparse_rows": r.compute.sparse_rows,
            "dense_rows": r.compute.dense_rows,
            "pca_refreshes": r.compute.pca_refreshes,
            "pca_waits": r.compute.pca_waits,
            "filter_rows": r.compute.filter_rows,
        },
        "matrix_pool_hit_rate": r.matrix_pool.hit_rate(),
    })
}

fn pct(h: &zerotick_sync::metrics::HistogramSnapshot) -> Value {
    json!({ "p50": h.p50(), "p99": h.p99(), "p999": h.p999(), "max": h.max(), "count": h.count() })
}

/// `p50 .. p99 .. [p99.9 ..] max ..` of a latency histogram.
fn quantiles(h: &zerotick_sync::metrics::HistogramSnapshot, p999: bool) -> String {
    let tail = if p999 {
        format!("  p99.9 {}", ns(h.p999()))
    } else {
        String::new()
    };
    format!(
        "p50 {}  p99 {}{tail}  max {}",
        ns(h.p50()),
        ns(h.p99()),
        ns(h.max())
    )
}

fn ns(v: Option<u64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v) if v >= 1_000_000 => format!("{:.2} ms", v as f64 / 1e6),
        Some(v) if v >= 1_000 => format!("{:.1} us", v as f64 / 1e3),
        Some(v) => format!("{v} ns"),
    }
}

fn mib(v: Option<u64>) -> String {
    v.map_or_else(
        || "-".to_owned(),
        |b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    )
}

/// The human-readable report.
pub fn table(r: &RunReport, rss: &Rss, feed: &str) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(s, "  {k:<28} {v}");
    };
    line("feed", feed.to_owned());
    line(
        "simd tier",
        zerotick_kernels::active_tier().name().to_owned(),
    );
    line(
        "thread layout",
        format!(
            "feed thread + feature thread{}{} ({})",
            match r.layout.workers {
                0 => " (compute inline)".to_owned(),
                n => format!(" + {n} compute worker(s)"),
            },
            if r.layout.pca_thread {
                " + PCA thread"
            } else {
                ""
            },
            r.layout.reason
        ),
    );
    line(
        "  batch rows",
        format!("{} ({})", r.layout.batch_rows, r.layout.batch_reason),
    );
    if r.layout.workers > 0 && r.vectors > 0 {
        line(
            "  work sharing",
            if r.layout.worker_rows >= r.vectors {
                "every row computed by the worker(s)".to_string()
            } else {
                format!(
                    "{:.1}% of rows computed by the worker(s), the rest on the feature thread",
                    100.0 * r.layout.worker_rows as f64 / r.vectors as f64
                )
            },
        );
    }
    if let Some((f, p)) = r.layout.pinned {
        line(
            "  pinned",
            format!("feature thread on cpu {f}; feed and PCA threads on cpu {p}"),
        );
    }
    line("ticks in", r.ticks_in.to_string());
    line("ticks processed", r.ticks_processed.to_string());
    line("ticks rejected", r.ticks_rejected.to_string());
    for (reason, n) in r.rejects.nonzero() {
        line(&format!("  rejected: {reason}"), n.to_string());
        if reason == RejectReason::TooManySymbols {
            line(
                "    symbols taken",
                format!(
                    "{} (--max-symbols, or fewer where every symbol's state would not fit in memory)",
                    r.max_symbols
                ),
            );
        }
    }
    let e = &r.events;
    line(
        "events",
        format!(
            "{} trades, {} quotes, {} depth updates (levels), {} snapshot levels",
            r.ticks_in - r.ticks_rejected,
            e.quotes,
            e.book_deltas,
            e.snapshot_levels
        ),
    );
    if r.time_clamped > 0 {
        line(
            "time clamped",
            format!(
                "{} event(s) earlier than the last of their symbol, handed on at that time",
                r.time_clamped
            ),
        );
    }
    let b = &r.books;
    if b.symbols > 0 || r.sequence_gaps > 0 {
        line(
            "books",
            format!(
                "{} symbol(s), {} book events: {} crossed, {} locked, {} sequence gaps, {} unknown-level deltas",
                b.symbols, b.events, b.crossed, b.locked, r.sequence_gaps, b.unknown_level_deltas
            ),
        );
        if b.dropped + b.quotes_on_depth_books > 0 {
            line(
                "  book depth / quotes",
                format!(
                    "{} levels dropped at the depth bound, {} quotes on depth books (not applied)",
                    b.dropped, b.quotes_on_depth_books
                ),
            );
        }
    }
    line("wall time", format!("{:.3} s", r.seconds));
    line(
        "throughput",
        format!(
            "{:.0} ticks/s ({:.0} events/s, book events included)",
            per_s(r.ticks_processed, r.seconds),
            per_s(events(r), r.seconds)
        ),
    );
    line(
        "feature vectors",
        format!(
            "{} ({:.0}/s, {} batches)",
            r.vectors,
            per_s(r.vectors, r.seconds),
            r.batches
        ),
    );
    line("tick-to-signal latency", quantiles(&r.latency, true));
    if r.stages.feed_lateness.count() > 0 {
        line(
            "  from arrival (feed late)",
            quantiles(&r.arrival_latency, true),
        );
        line(
            "  feed lateness, per tick",
            quantiles(&r.stages.feed_lateness, false),
        );
    }
    for (name, h) in [
        ("  queue (feed ring)", &r.stages.queue),
        ("  batch wait", &r.stages.batch_wait),
        ("  compute, per batch", &r.stages.compute),
        ("  emit", &r.stages.emit),
    ] {
        line(name, quantiles(h, false));
    }
    line(
        "projection",
        format!(
            "{} rows sparse (SpMV), {} rows dense (SIMD dots), {} PCA refreshes ({} waited for)",
            r.compute.sparse_rows,
            r.compute.dense_rows,
            r.compute.pca_refreshes,
            r.compute.pca_waits
        ),
    );
    line(
        "filter bank",
        format!("{} rows (direct, decimated by 2)", r.compute.filter_rows),
    );
    let allocs = |v: Option<u64>| {
        v.map_or_else(
            || "- (run shorter than warm-up)".to_owned(),
            |n| n.to_string(),
        )
    };
    line(
        "steady-state allocations",
        format!(
            "{} compute path, {} feed thread",
            allocs(r.steady_state_allocations),
            allocs(r.feed_allocations)
        ),
    );
    line(
        "batch pool hit rate",
        r.pool.hit_rate().map_or_else(
            || "-".to_owned(),
            |h| format!("{:.4} ({} hits, {} misses)", h, r.pool.hits, r.pool.misses),
        ),
    );
    line(
        "memory (RSS)",
        format!(
            "start {}  peak {}  end {}",
            mib(rss.start),
            mib(rss.peak),
            mib(rss.end)
        ),
    );
    line(
        "RSS after warm-up",
        match (rss.after_warmup, rss.growth_after_warmup_pct()) {
            (Some(a), Some(g)) => format!(
                "{} at warm-up, max {} ({g:+.2}%)",
                mib(Some(a)),
                mib(rss.max_after_warmup)
            ),
            _ => "- (run shorter than warm-up plus 100 ms)".to_owned(),
        },
    );
    line("checksum", format!("{:016x}", r.checksum));
    format!("zerotick run\n{s}")
}
