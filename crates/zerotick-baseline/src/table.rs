//! The before/after rows, printed as a table with notes or as the JSON of DESIGN.md's
//! "Shared contracts": `{"rows": [{"metric", "seed_before", "seed_after", "measured_before",
//! "measured_after"}, ...]}` (extended with `ratio` and `note` per row and the run's context).

use std::fmt::Write as _;

use serde_json::{Value, json};

use zerotick_bench::harness::median;
use zerotick_bench::report::cpu_model;

use crate::cachegrind::D1;
use crate::child::{Input, Measured};
use crate::micro::Micro;

/// What cachegrind gave.
#[derive(Clone, Debug)]
pub enum D1Outcome {
    /// Not run, and why.
    Skipped(String),
    /// Run on `ticks` ticks; each side its figures or why they are missing.
    Measured {
        ticks: u64,
        before: Result<D1, String>,
        after: Result<D1, String>,
    },
}

/// Everything one `zerotick bench` measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub input: Input,
    pub runs: u32,
    pub before: Vec<Measured>,
    pub after: Vec<Measured>,
    pub micro: Micro,
    pub d1: D1Outcome,
}

impl Outcome {
    /// Every run of both pipelines emitted the same signals.
    pub fn checksums_match(&self) -> bool {
        let mut all = self.before.iter().chain(&self.after).map(|m| m.checksum);
        all.next().is_some_and(|first| all.all(|c| c == first))
    }
}

/// Which way is better for a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Better {
    Lower,
    Higher,
}

/// How a value is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    PerSecond,
    Fraction,
    Bytes,
    Nanos,
}

/// One line of the table.
#[derive(Clone, Debug)]
struct Row {
    metric: &'static str,
    seed_before: Option<f64>,
    seed_after: Option<f64>,
    before: Option<f64>,
    after: Option<f64>,
    /// How many times better the after figure is (set explicitly for the micro pairs).
    ratio: Option<f64>,
    unit: Unit,
    note: String,
}

fn ratio(better: Better, before: Option<f64>, after: Option<f64>) -> Option<f64> {
    let (b, a) = (before?, after?);
    let r = match better {
        Better::Lower => b / a,
        Better::Higher => a / b,
    };
    r.is_finite().then_some(r)
}

/// Median over runs of `f`.
fn med(runs: &[Measured], f: impl Fn(&Measured) -> Option<f64>) -> Option<f64> {
    let mut xs: Vec<f64> = runs.iter().filter_map(f).collect();
    (!xs.is_empty()).then(|| median(&mut xs))
}

fn per_s(n: u64, m: &Measured) -> Option<f64> {
    (m.seconds > 0.0).then(|| n as f64 / m.seconds)
}

const NOT_RECORDED: &str = "origin figure not recorded";

fn rows(o: &Outcome) -> Vec<Row> {
    let (b, a) = (&o.before, &o.after);
    let mut rows = Vec::new();
    let mut push = |metric, better, unit, seeds: (Option<f64>, Option<f64>), vals, note| {
        let (before, after) = vals;
        rows.push(Row {
            metric,
            seed_before: seeds.0,
            seed_after: seeds.1,
            before,
            after,
            ratio: ratio(better, before, after),
            unit,
            note,
        });
    };
    let steady = a
        .iter()
        .filter_map(|m| m.steady_state_allocations)
        .max()
        .map_or_else(
            || "the run was shorter than the warm-up".to_owned(),
            |n| n.to_string(),
        );
    push(
        "allocations_per_s",
        Better::Lower,
        Unit::PerSecond,
        (None, None),
        (
            med(b, |m| per_s(m.allocations, m)),
            med(a, |m| per_s(m.allocations, m)),
        ),
        format!(
            "heap allocations by all pipeline threads over the whole run, setup and teardown \
             included, / wall time (counting global allocator); after in steady state (compute \
             path, after 100,000 warm-up ticks): {steady}; {NOT_RECORDED}"
        ),
    );
    push(
        "pool_hit_rate",
        Better::Higher,
        Unit::Fraction,
        (None, None),
        (None, med(a, |m| m.pool_hit_rate)),
        format!(
            "before: null, it has no pool (a fresh Vec per row and per stage); after: the \
             32 x 1,024 batch pool; {NOT_RECORDED}"
        ),
    );
    let acquisitions = med(b, |m| Some(m.lock_acquisitions as f64)).unwrap_or(0.0);
    push(
        "lock_wait_fraction",
        Better::Lower,
        Unit::Fraction,
        (None, None),
        (
            med(b, |m| {
                m.lock_wait_ns
                    .zip((m.seconds > 0.0).then_some(m.seconds))
                    .map(|(w, s)| w / (s * 1e9))
            }),
            Some(0.0),
        ),
        format!(
            "before: time spent acquiring the metrics Mutex (one acquisition in 8 timed, \
             {acquisitions:.0} acquisitions per run), summed over its 3 threads, / wall time; \
             std mpsc's internal waker locks are not included. after: 0 by construction, not \
             timed: the zerotick hot path has no lock to wait for (spsc ring, pool and metrics \
             are atomics only; zerotick-pipeline uses no Mutex or RwLock); parking on an empty \
             ring is waiting for data, not for a lock; {NOT_RECORDED}"
        ),
    );
    push(
        "pipeline_vectors_per_s",
        Better::Higher,
        Unit::PerSecond,
        (None, None),
        (
            med(b, |m| per_s(m.vectors, m)),
            med(a, |m| per_s(m.vectors, m)),
        ),
        format!(
            "1,024-wide feature vectors through the compute stage per second of wall time \
             (pipeline built, run, torn down), sink discarding; {NOT_RECORDED}"
        ),
    );
    push(
        "rss_bytes",
        Better::Lower,
        Unit::Bytes,
        (None, None),
        (
            med(b, |m| m.rss_growth_bytes.map(|v| v as f64)),
            med(a, |m| m.rss_growth_bytes.map(|v| v as f64)),
        ),
        format!(
            "peak RSS (VmHWM) minus RSS before the pipeline was built, each pipeline in a child \
             process of its own; zerotick builds its 8-batch pool (2 MiB) up front, while the \
             allocator recycles the before pipeline's freed Vecs, so its peak stays small; \
             {NOT_RECORDED}"
        ),
    );
    let (d1_b, d1_a, d1_note) = d1_row(&o.d1);
    push(
        "d1_hit_rate",
        Better::Higher,
        Unit::Fraction,
        (None, None),
        (d1_b, d1_a),
        format!("{d1_note}; {NOT_RECORDED}"),
    );
    let m = &o.micro;
    let single = |side: &str, other: &str| {
        format!(
            "one figure, the {side} side's way; its counterpart is row {other}, so the other \
             column is null"
        )
    };
    rows.push(Row {
        metric: "with_allocation_ns",
        seed_before: None,
        seed_after: None,
        before: Some(m.with_allocation_ns),
        after: None,
        ratio: None,
        unit: Unit::Nanos,
        note: format!(
            "a fresh zeroed Vec<f64> of 1,024, written once, dropped (median of {} interleaved \
             samples); {}; {NOT_RECORDED}",
            m.samples,
            single("before", "with_pool_ns")
        ),
    });
    rows.push(Row {
        metric: "with_pool_ns",
        seed_before: None,
        seed_after: None,
        before: None,
        after: Some(m.with_pool_ns),
        ratio: ratio(
            Better::Lower,
            Some(m.with_allocation_ns),
            Some(m.with_pool_ns),
        ),
        unit: Unit::Nanos,
        note: format!(
            "a 1,024-f64 buffer acquired from a zerotick Pool, written once, released; {}; \
             ratio = with_allocation_ns / with_pool_ns; {NOT_RECORDED}",
            single("after", "with_allocation_ns")
        ),
    });
    rows.push(Row {
        metric: "mutex_metric_ns",
        seed_before: Some(125.0),
        seed_after: None,
        before: Some(m.mutex_metric_ns),
        after: None,
        ratio: None,
        unit: Unit::Nanos,
        note: format!(
            "Mutex<HashMap<String, u64>>: lock, look the key up, add 1, uncontended (the origin \
             report claimed 125 ns for its uncontended Mutex metric); {}",
            single("before", "lockfree_metric_ns")
        ),
    });
    rows.push(Row {
        metric: "lockfree_metric_ns",
        seed_before: None,
        seed_after: Some(3.0),
        before: None,
        after: Some(m.lockfree_metric_ns),
        ratio: ratio(
            Better::Lower,
            Some(m.mutex_metric_ns),
            Some(m.lockfree_metric_ns),
        ),
        unit: Unit::Nanos,
        note: format!(
            "zerotick metrics Counter::inc (the origin report's 3 ns claim was for a \
             DashMap<String, u64> metric, which `zerotick-bench metrics` measures); {}; ratio = \
             mutex_metric_ns / lockfree_metric_ns",
            single("after", "mutex_metric_ns")
        ),
    });
    rows
}

/// The D1 row's two values and its explanation.
fn d1_row(d1: &D1Outcome) -> (Option<f64>, Option<f64>, String) {
    match d1 {
        D1Outcome::Skipped(why) => (None, None, why.clone()),
        D1Outcome::Measured {
            ticks,
            before,
            after,
        } => {
            let side = |name: &str, r: &Result<D1, String>| match r {
                Ok(d) => format!(
                    "{name} {} D1 misses in {} data accesses ({:.0} s under valgrind)",
                    d.misses,
                    d.accesses,
                    d.took.as_secs_f64()
                ),
                Err(e) => format!("{name}: null, {e}"),
            };
            (
                before.as_ref().ok().and_then(D1::hit_rate),
                after.as_ref().ok().and_then(D1::hit_rate),
                format!(
                    "cachegrind's simulated D1 over the whole child process (start-up included) \
                     on {ticks} ticks: {}; {}",
                    side("before", before),
                    side("after", after)
                ),
            )
        }
    }
}

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

fn checksum(runs: &[Measured]) -> Value {
    runs.first()
        .map_or(Value::Null, |m| json!(format!("{:016x}", m.checksum)))
}

/// The JSON object.
pub fn json(o: &Outcome) -> Value {
    let rows: Vec<Value> = rows(o)
        .iter()
        .map(|r| {
            json!({
                "metric": r.metric,
                "seed_before": opt(r.seed_before),
                "seed_after": opt(r.seed_after),
                "measured_before": opt(r.before),
                "measured_after": opt(r.after),
                "ratio": opt(r.ratio),
                "note": r.note,
            })
        })
        .collect();
    let runs = |v: &[Measured]| v.iter().map(Measured::to_json).collect::<Vec<_>>();
    json!({
        "rows": rows,
        "ticks_per_s": {
            "before": opt(med(&o.before, |m| per_s(m.ticks, m))),
            "after": opt(med(&o.after, |m| per_s(m.ticks, m))),
        },
        "checksums": {
            "before": checksum(&o.before),
            "after": checksum(&o.after),
            "match": o.checksums_match(),
        },
        "config": {
            "ticks": o.input.ticks,
            "symbols": o.input.symbols,
            "seed": o.input.seed,
            "runs": o.runs,
        },
        "machine": machine_json(),
        "runs": { "before": runs(&o.before), "after": runs(&o.after) },
    })
}

fn machine_json() -> Value {
    let (cpu, cores, tier) = machine();
    json!({ "cpu": cpu, "cores": cores, "simd_tier": tier })
}

/// CPU model, available cores, SIMD tier.
fn machine() -> (String, usize, &'static str) {
    let cpu = cpu_model();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cpu, cores, zerotick_kernels::active_tier().name())
}

fn fmt_value(v: Option<f64>, unit: Unit) -> String {
    let Some(v) = v else {
        return "-".to_owned();
    };
    match unit {
        Unit::PerSecond => format!("{}/s", si(v)),
        Unit::Fraction => format!("{:.2}%", v * 100.0),
        Unit::Bytes => format!("{:.1} MiB", v / (1024.0 * 1024.0)),
        Unit::Nanos if v >= 100.0 => format!("{v:.0} ns"),
        Unit::Nanos => format!("{v:.1} ns"),
    }
}

fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        None => "-".to_owned(),
        Some(r) if r >= 100.0 => format!("{r:.0}x"),
        Some(r) => format!("{r:.2}x"),
    }
}

/// The human report: context, the table, per-run figures, checksums and one note per row.
pub fn human(o: &Outcome) -> String {
    let mut s = String::new();
    let (cpu, cores, tier) = machine();
    let _ = writeln!(
        s,
        "zerotick bench: the origin report's before/after, measured"
    );
    let _ = writeln!(s, "machine: {cpu}, {cores} cores, SIMD tier {tier}");
    let _ = writeln!(
        s,
        "config:  {} ticks, {} symbols, seed {}; median of {} run(s) per pipeline, before and \
         after interleaved; micro-figures: median of {} samples",
        o.input.ticks, o.input.symbols, o.input.seed, o.runs, o.micro.samples
    );
    let _ = writeln!(
        s,
        "before:  feed -> std mpsc -> features into a fresh Vec per row -> per-shard \
         Vec<Row> batches over mpsc -> a fresh Vec per compute step (clones) and per batch \
         matrix -> sink; metrics in Arc<Mutex<HashMap<String, u64>>>"
    );
    let _ = writeln!(
        s,
        "after:   zerotick: feed -> spsc ring -> features into pooled 32 x 1,024 batches -> \
         compute in place -> sink; lock-free metrics"
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| metric | origin before | origin after | measured before | measured after | ratio |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    let rows = rows(o);
    for r in &rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.metric,
            fmt_value(r.seed_before, r.unit),
            fmt_value(r.seed_after, r.unit),
            fmt_value(r.before, r.unit),
            fmt_value(r.after, r.unit),
            fmt_ratio(r.ratio)
        );
    }
    let _ = writeln!(s);
    let tps = |v: &[Measured]| fmt_value(med(v, |m| per_s(m.ticks, m)), Unit::PerSecond);
    let _ = writeln!(
        s,
        "ticks/s: before {}, after {}",
        tps(&o.before),
        tps(&o.after)
    );
    let per_run = |v: &[Measured]| {
        v.iter()
            .map(|m| fmt_value(per_s(m.vectors, m), Unit::PerSecond))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let _ = writeln!(
        s,
        "vectors/s per run: before {}; after {}",
        per_run(&o.before),
        per_run(&o.after)
    );
    let sum = |v: &[Measured]| {
        v.first()
            .map_or_else(|| "-".to_owned(), |m| format!("{:016x}", m.checksum))
    };
    let _ = writeln!(
        s,
        "checksums: before {}, after {} ({})",
        sum(&o.before),
        sum(&o.after),
        if o.checksums_match() {
            "match: both pipelines emitted the same signals in every run"
        } else {
            "MISMATCH"
        }
    );
    let _ = writeln!(
        s,
        "ratio: how many times better the after figure is (before / after for costs, after / \
         before for rates); '-' where a side is null"
    );
    let _ = writeln!(s, "notes:");
    for r in &rows {
        let _ = writeln!(s, "- {}: {}", r.metric, r.note);
    }
    let _ = writeln!(
        s,
        "- origin report: the only figures recorded (issue 3, DESIGN.md, README) are the \
         uncontended Mutex metric (125 ns) and the DashMap metric (3 ns), and a SIMD \"16x\" \
         that has no row here (`cargo run --release -p zerotick-bench -- simd` measures it)"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_read_as_how_many_times_better() {
        assert_eq!(ratio(Better::Lower, Some(10.0), Some(2.0)), Some(5.0));
        assert_eq!(ratio(Better::Higher, Some(2.0), Some(10.0)), Some(5.0));
        assert_eq!(ratio(Better::Lower, Some(10.0), Some(0.0)), None);
        assert_eq!(ratio(Better::Higher, None, Some(1.0)), None);
    }

    #[test]
    fn values_format_with_units() {
        assert_eq!(fmt_value(None, Unit::Nanos), "-");
        assert_eq!(fmt_value(Some(2_500_000.0), Unit::PerSecond), "2.50 M/s");
        assert_eq!(fmt_value(Some(0.98765), Unit::Fraction), "98.77%");
        assert_eq!(fmt_value(Some(3.0), Unit::Nanos), "3.0 ns");
        assert_eq!(
            fmt_value(Some(2.0 * 1024.0 * 1024.0), Unit::Bytes),
            "2.0 MiB"
        );
    }
}
