//! The before/after rows, printed as a table with notes or as the JSON of DESIGN.md's
//! "Shared contracts": `{"rows": [{"metric", "origin_before", "origin_after",
//! "measured_before", "measured_idiomatic", "measured_after"}, ...]}` (extended with the two
//! ratios and a note per row, and the run's context).

use std::fmt::Write as _;

use serde_json::{Value, json};
use zerotick_bench::harness::median;
use zerotick_bench::report::cpu_model;

use crate::cachegrind::D1;
use crate::child::{Input, Measured, Which};
use crate::micro::Micro;

/// What cachegrind gave.
#[derive(Clone, Debug)]
pub enum D1Outcome {
    /// Not run, and why.
    Skipped(String),
    /// Run on `ticks` ticks; each pipeline its figures or why they are missing.
    Measured {
        ticks: u64,
        origin: Result<D1, String>,
        idiomatic: Result<D1, String>,
        zerotick: Result<D1, String>,
    },
}

/// The idiomatic pipeline's runs in its faster layout, and the other layout's figure.
#[derive(Clone, Debug)]
pub struct Idiomatic {
    /// The faster layout.
    pub which: Which,
    /// Its runs.
    pub runs: Vec<Measured>,
    /// The other layout.
    pub other: Which,
    /// The other layout's runs.
    pub other_runs: Vec<Measured>,
}

impl Idiomatic {
    /// Picks the layout with the higher median vectors/s.
    pub fn faster(two: Vec<Measured>, three: Vec<Measured>) -> Self {
        let rate = |v: &[Measured]| med(v, |m| per_s(m.vectors, m)).unwrap_or(0.0);
        if rate(&two) >= rate(&three) {
            Self {
                which: Which::Idiomatic2,
                runs: two,
                other: Which::Idiomatic3,
                other_runs: three,
            }
        } else {
            Self {
                which: Which::Idiomatic3,
                runs: three,
                other: Which::Idiomatic2,
                other_runs: two,
            }
        }
    }
}

/// Everything one `zerotick bench` measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub input: Input,
    pub runs: u32,
    pub origin: Vec<Measured>,
    pub idiomatic: Idiomatic,
    pub zerotick: Vec<Measured>,
    pub micro: Micro,
    pub d1: D1Outcome,
}

impl Outcome {
    fn all_runs(&self) -> impl Iterator<Item = &Measured> {
        self.origin
            .iter()
            .chain(&self.idiomatic.runs)
            .chain(&self.idiomatic.other_runs)
            .chain(&self.zerotick)
    }

    /// Every run of every pipeline emitted the same signals.
    pub fn checksums_match(&self) -> bool {
        let mut all = self.all_runs().map(|m| m.checksum);
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

/// One line of the table: the origin report's claims and the three measured figures.
#[derive(Clone, Debug)]
struct Row {
    metric: &'static str,
    origin_before: Option<f64>,
    origin_after: Option<f64>,
    /// `[origin-style, idiomatic, zerotick]`.
    measured: [Option<f64>; 3],
    /// How many times better zerotick's figure is than `[origin-style, idiomatic]`.
    ratios: [Option<f64>; 2],
    unit: Unit,
    note: String,
}

fn ratio(better: Better, base: Option<f64>, zerotick: Option<f64>) -> Option<f64> {
    let (b, a) = (base?, zerotick?);
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

fn row(
    metric: &'static str,
    better: Better,
    unit: Unit,
    origin: (Option<f64>, Option<f64>),
    measured: [Option<f64>; 3],
    note: String,
) -> Row {
    Row {
        metric,
        origin_before: origin.0,
        origin_after: origin.1,
        measured,
        ratios: [
            ratio(better, measured[0], measured[2]),
            ratio(better, measured[1], measured[2]),
        ],
        unit,
        note,
    }
}

fn rows(o: &Outcome) -> Vec<Row> {
    let sides = [&o.origin[..], &o.idiomatic.runs[..], &o.zerotick[..]];
    let each = |f: &dyn Fn(&Measured) -> Option<f64>| sides.map(|runs| med(runs, f));
    let window = format!(
        "from the first progress mark (every 65,536 ticks) at or after {} warm-up ticks to the \
         last one; null when the run has fewer than two marks",
        o.input.warmup_ticks
    );
    let mut rows = vec![
        row(
            "allocations_per_s",
            Better::Lower,
            Unit::PerSecond,
            (Some(1_000_000.0), Some(950.0)),
            each(&|m| m.steady_allocations_per_s),
            format!(
                "heap allocations by the pipeline threads per second in steady state (counting \
                 global allocator, each pipeline in a child process of its own), {window}"
            ),
        ),
        row(
            "pool_hit_rate",
            Better::Higher,
            Unit::Fraction,
            (None, Some(0.968)),
            each(&|m| m.pool_hit_rate),
            "origin-style: null, it has no pool (a fresh Vec per row and per step); idiomatic: \
             batches taken from its free list / batches used (a miss allocates, up to \
             pool_batches + shards); zerotick: its batch pool's hit rate; origin before: N/A"
                .to_owned(),
        ),
        row(
            "lock_wait_fraction",
            Better::Lower,
            Unit::Fraction,
            (Some(0.35), Some(0.0)),
            each(&|m| m.blocked_fraction),
            format!(
                "time the pipeline threads spent blocked (asleep on a lock, a channel or a park: \
                 wall time minus on-CPU and run-queue time, from /proc schedstat sampled every \
                 20 ms by a thread outside the pipeline) / their wall time, measured the same \
                 way for all three, {window}; a spinning wait counts as running, not blocked"
            ),
        ),
        row(
            "pipeline_vectors_per_s",
            Better::Higher,
            Unit::PerSecond,
            (Some(10_000.0), Some(102_000.0)),
            each(&|m| per_s(m.vectors, m)),
            "1,024-wide feature vectors through the compute stage per second of wall time \
             (pipeline built, run, torn down), sink discarding"
                .to_owned(),
        ),
        row(
            "pipeline_vectors_per_s_steady",
            Better::Higher,
            Unit::PerSecond,
            (None, None),
            each(&|m| {
                let share = m.vectors as f64 / m.ticks.max(1) as f64;
                m.steady_ticks_per_s.map(|t| t * share)
            }),
            format!(
                "the same pipelines in steady state: ticks processed per second {window}, \
                 times the run's vectors per tick (start-up and teardown left out; the row \
                 above counts them)"
            ),
        ),
        row(
            "rss_bytes",
            Better::Lower,
            Unit::Bytes,
            (Some(2e9), Some(5e8)),
            each(&|m| m.rss_growth_bytes.map(|v| v as f64)),
            "peak RSS (VmHWM) minus RSS before the pipeline was built, each pipeline in a child \
             process of its own; origin: \"2 GB growing\", \"500 MB stable\""
                .to_owned(),
        ),
    ];
    let (d1, d1_note) = d1_row(&o.d1);
    rows.push(row(
        "d1_hit_rate",
        Better::Higher,
        Unit::Fraction,
        (Some(0.60), Some(0.94)),
        d1,
        d1_note,
    ));
    rows.extend(micro_rows(&o.micro));
    rows
}

/// The micro rows: each row one way of doing the op; the pair's ratios are set explicitly.
fn micro_rows(m: &Micro) -> [Row; 4] {
    let samples = m.samples;
    [
        Row {
            metric: "with_allocation_ns",
            origin_before: Some(850.0),
            origin_after: None,
            measured: [Some(m.with_allocation_ns), None, None],
            ratios: [None, None],
            unit: Unit::Nanos,
            note: format!(
                "a fresh Vec<f64> with room for 1,024 (not zero-filled), one element written, \
                 dropped; median of {samples} interleaved samples; its counterparts are in row \
                 with_pool_ns"
            ),
        },
        Row {
            metric: "with_pool_ns",
            origin_before: None,
            origin_after: Some(12.0),
            measured: [None, Some(m.with_free_list_ns), Some(m.with_pool_ns)],
            ratios: [
                ratio(
                    Better::Lower,
                    Some(m.with_allocation_ns),
                    Some(m.with_pool_ns),
                ),
                ratio(
                    Better::Lower,
                    Some(m.with_free_list_ns),
                    Some(m.with_pool_ns),
                ),
            ],
            unit: Unit::Nanos,
            note: "the same work as with_allocation_ns (get room for 1,024 f64, write one, give \
                   it back; nothing zero-filled): idiomatic, a Vec from a crossbeam-channel free \
                   list; zerotick, a Pool buffer (reset to length 0); ratio vs origin-style = \
                   with_allocation_ns / with_pool_ns"
                .to_owned(),
        },
        Row {
            metric: "mutex_metric_ns",
            origin_before: Some(125.0),
            origin_after: None,
            measured: [Some(m.mutex_metric_ns), None, None],
            ratios: [None, None],
            unit: Unit::Nanos,
            note: "Mutex<HashMap<String, u64>>: lock, look the key up, add 1, uncontended; its \
                   counterparts are in row lockfree_metric_ns"
                .to_owned(),
        },
        Row {
            metric: "lockfree_metric_ns",
            origin_before: None,
            origin_after: Some(3.0),
            measured: [None, Some(m.metrics_crate_ns), Some(m.lockfree_metric_ns)],
            ratios: [
                ratio(
                    Better::Lower,
                    Some(m.mutex_metric_ns),
                    Some(m.lockfree_metric_ns),
                ),
                ratio(
                    Better::Lower,
                    Some(m.metrics_crate_ns),
                    Some(m.lockfree_metric_ns),
                ),
            ],
            unit: Unit::Nanos,
            note: "idiomatic: a metrics-crate Counter handle's increment(1) (a recorder of \
                   atomics); zerotick: metrics Counter::inc; ratio vs origin-style = \
                   mutex_metric_ns / lockfree_metric_ns"
                .to_owned(),
        },
    ]
}

/// The D1 row's three values and its explanation.
fn d1_row(d1: &D1Outcome) -> ([Option<f64>; 3], String) {
    match d1 {
        D1Outcome::Skipped(why) => ([None; 3], why.clone()),
        D1Outcome::Measured {
            ticks,
            origin,
            idiomatic,
            zerotick,
        } => {
            let side = |name: &str, r: &Result<D1, String>| match r {
                Ok(d) => format!(
                    "{name} {} D1 misses in {} data accesses ({:.1} misses per tick; whole \
                     process {}: {} in {}; {:.0} s under valgrind)",
                    d.misses,
                    d.accesses,
                    d.misses as f64 / (*ticks).max(1) as f64,
                    d.whole_hit_rate()
                        .map_or_else(|| "null".to_owned(), |r| format!("{:.2}%", r * 100.0)),
                    d.whole_misses,
                    d.whole_accesses,
                    d.took.as_secs_f64()
                ),
                Err(e) => format!("{name}: null, {e}"),
            };
            let rate = |r: &Result<D1, String>| r.as_ref().ok().and_then(D1::hit_rate);
            (
                [rate(origin), rate(idiomatic), rate(zerotick)],
                format!(
                    "cachegrind's simulated D1 in steady state: {ticks} ticks after the \
                     warm-up, the difference of a run of warm-up + {ticks} ticks and a run of \
                     the warm-up ticks alone (same start-up and tear-down); {}; {}; {}",
                    side("origin-style", origin),
                    side("idiomatic", idiomatic),
                    side("zerotick", zerotick)
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
                "origin_before": opt(r.origin_before),
                "origin_after": opt(r.origin_after),
                "measured_before": opt(r.measured[0]),
                "measured_idiomatic": opt(r.measured[1]),
                "measured_after": opt(r.measured[2]),
                "ratio_vs_origin_style": opt(r.ratios[0]),
                "ratio_vs_idiomatic": opt(r.ratios[1]),
                "note": r.note,
            })
        })
        .collect();
    let runs = |v: &[Measured]| v.iter().map(Measured::to_json).collect::<Vec<_>>();
    let i = &o.idiomatic;
    json!({
        "rows": rows,
        "idiomatic_layout": i.which.name(),
        "ticks_per_s": {
            "origin": opt(med(&o.origin, |m| per_s(m.ticks, m))),
            "idiomatic": opt(med(&i.runs, |m| per_s(m.ticks, m))),
            "zerotick": opt(med(&o.zerotick, |m| per_s(m.ticks, m))),
        },
        "checksums": {
            "origin": checksum(&o.origin),
            "idiomatic": checksum(&i.runs),
            "zerotick": checksum(&o.zerotick),
            "match": o.checksums_match(),
        },
        "config": {
            "ticks": o.input.ticks,
            "symbols": o.input.symbols,
            "seed": o.input.seed,
            "warmup_ticks": o.input.warmup_ticks,
            "runs": o.runs,
        },
        "machine": machine_json(),
        "runs": {
            "origin": runs(&o.origin),
            i.which.name(): runs(&i.runs),
            i.other.name(): runs(&i.other_runs),
            "zerotick": runs(&o.zerotick),
        },
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
    let i = &o.idiomatic;
    let _ = writeln!(
        s,
        "zerotick bench: the origin report's before/after, measured"
    );
    let _ = writeln!(s, "machine: {cpu}, {cores} cores, SIMD tier {tier}");
    let _ = writeln!(
        s,
        "config:  {} ticks, {} symbols, seed {}, warm-up {} ticks; median of {} run(s) per \
         pipeline, interleaved; micro-figures: median of {} samples",
        o.input.ticks, o.input.symbols, o.input.seed, o.input.warmup_ticks, o.runs, o.micro.samples
    );
    let vps = |v: &[Measured]| fmt_value(med(v, |m| per_s(m.vectors, m)), Unit::PerSecond);
    let _ = writeln!(
        s,
        "origin-style: feed -> std mpsc -> features into a fresh Vec per row -> Vec<Row> batches \
         over mpsc -> a clone per compute step, a fresh matrix per batch -> sink; a \
         Mutex<HashMap<String, u64>> update per event (3 threads)"
    );
    let _ = writeln!(
        s,
        "idiomatic:    feed -> crossbeam channel -> features written into reused batches -> \
         compute in place -> sink, batches recycled through a free list; metrics crate; \
         {} threads (faster of 2 and 3: {} {} vs {} {})",
        i.which.name().trim_start_matches("idiomatic-"),
        i.which.name(),
        vps(&i.runs),
        i.other.name(),
        vps(&i.other_runs)
    );
    let _ = writeln!(
        s,
        "zerotick:     feed -> spsc ring -> features into pooled batches -> compute in place -> \
         sink; lock-free metrics"
    );
    let _ = writeln!(
        s,
        "origin report columns: the origin report's claimed figures (DESIGN.md), not measured \
         here"
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| metric | origin report before | origin report after | origin-style | idiomatic | \
         zerotick | zerotick vs origin-style | zerotick vs idiomatic |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let rows = rows(o);
    for r in &rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.metric,
            fmt_value(r.origin_before, r.unit),
            fmt_value(r.origin_after, r.unit),
            fmt_value(r.measured[0], r.unit),
            fmt_value(r.measured[1], r.unit),
            fmt_value(r.measured[2], r.unit),
            fmt_ratio(r.ratios[0]),
            fmt_ratio(r.ratios[1])
        );
    }
    let _ = writeln!(s);
    let tps = |v: &[Measured]| fmt_value(med(v, |m| per_s(m.ticks, m)), Unit::PerSecond);
    let _ = writeln!(
        s,
        "ticks/s: origin-style {}, idiomatic {}, zerotick {}",
        tps(&o.origin),
        tps(&i.runs),
        tps(&o.zerotick)
    );
    let per_run = |v: &[Measured]| {
        v.iter()
            .map(|m| fmt_value(per_s(m.vectors, m), Unit::PerSecond))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let _ = writeln!(
        s,
        "vectors/s per run: origin-style {}; {} {}; {} {}; zerotick {}",
        per_run(&o.origin),
        i.which.name(),
        per_run(&i.runs),
        i.other.name(),
        per_run(&i.other_runs),
        per_run(&o.zerotick)
    );
    let sum = |v: &[Measured]| {
        v.first()
            .map_or_else(|| "-".to_owned(), |m| format!("{:016x}", m.checksum))
    };
    let _ = writeln!(
        s,
        "checksums: origin-style {}, idiomatic {}, zerotick {} ({})",
        sum(&o.origin),
        sum(&i.runs),
        sum(&o.zerotick),
        if o.checksums_match() {
            "match: every pipeline emitted the same signals in every run"
        } else {
            "MISMATCH"
        }
    );
    let _ = writeln!(
        s,
        "ratios: how many times better zerotick's figure is (other / zerotick for costs, \
         zerotick / other for rates); '-' where a side is null"
    );
    let _ = writeln!(s, "notes:");
    for r in &rows {
        let _ = writeln!(s, "- {}: {}", r.metric, r.note);
    }
    let _ = writeln!(
        s,
        "- origin report: its SIMD \"16x\" has no row here (`cargo run --release -p \
         zerotick-bench -- simd` measures it); none of its figures came from working code"
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
