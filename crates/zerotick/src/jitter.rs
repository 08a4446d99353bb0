//! `zerotick jitter`: how often and for how long this machine takes a CPU away from a busy
//! thread (see `zerotick_sync::jitter`). Run it beside a latency figure: a tick-to-signal p99
//! cannot be lower than the interruptions that land in the ticks' flight time.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use zerotick_sync::affinity;
use zerotick_sync::jitter::{
    BUCKET_BOUNDS_NS, BUCKET_LABELS, JitterConfig, WAIT_BOUNDS_NS, WAIT_LABELS, probe_cpus,
};

#[derive(Parser, Debug)]
pub(crate) struct JitterArgs {
    /// How long to probe, in seconds (every CPU at once).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// A gap between two clock reads of at least this many nanoseconds counts as an
    /// interruption.
    #[arg(long, default_value_t = 1_000)]
    threshold_ns: u64,
    /// Probe only these CPUs (comma-separated); default every CPU this process may run on.
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// Runs `zerotick jitter`.
pub(crate) fn command(args: &JitterArgs) -> Result<()> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        bail!(
            "--seconds must be above 0 and at most 3600, got {}",
            args.seconds
        );
    }
    if args.threshold_ns == 0 {
        bail!("--threshold-ns must be above 0");
    }
    let allowed = affinity::thread_affinity().context("reading this process's CPU mask")?;
    let cpus = if args.cpus.is_empty() {
        allowed
    } else {
        if let Some(cpu) = args.cpus.iter().find(|c| !allowed.contains(c)) {
            bail!("--cpus {cpu}: this process may run on CPUs {allowed:?} only");
        }
        // One probe per CPU: two on one CPU would take it from each other.
        let mut c = args.cpus.clone();
        c.sort_unstable();
        c.dedup();
        c
    };
    let config = JitterConfig {
        duration: Duration::from_secs_f64(args.seconds),
        threshold: Duration::from_nanos(args.threshold_ns),
    };
    if !args.json {
        eprintln!(
            "probing {} CPU(s) for {} s (every CPU spins at once)...",
            cpus.len(),
            args.seconds
        );
    }
    let reports = probe_cpus(&cpus, &config).context("probing")?;
    let mut out = io::stdout().lock();
    if args.json {
        let rows: Vec<_> = reports
            .iter()
            .map(|r| {
                serde_json::json!({
                    "cpu": r.cpu,
                    "seconds": r.elapsed.as_secs_f64(),
                    "clock_reads": r.reads,
                    "interruptions": r.interruptions(),
                    "interruptions_per_s": r.per_second(),
                    "lost_fraction": r.lost_fraction(),
                    "max_ns": r.max.as_nanos() as u64,
                    "wait_beyond": WAIT_LABELS.iter().enumerate().map(|(i, l)| (l.to_string(), serde_json::json!(r.wait_beyond(i)))).collect::<serde_json::Map<_, _>>(),
                    "buckets": BUCKET_LABELS.iter().zip(r.buckets).map(|(l, n)| (l.to_string(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>(),
                })
            })
            .collect();
        let j = serde_json::json!({
            "threshold_ns": args.threshold_ns,
            "bucket_upper_bounds_ns": BUCKET_BOUNDS_NS[..5],
            "wait_bounds_ns": WAIT_BOUNDS_NS,
            "cpus": rows,
        });
        writeln!(out, "{j}")?;
    } else {
        writeln!(
            out,
            "zerotick jitter: gaps of >= {} ns between clock reads of a thread spinning on each CPU",
            args.threshold_ns
        )?;
        write!(out, "{:>4} {:>9} {:>7}", "cpu", "per s", "lost")?;
        for l in BUCKET_LABELS {
            write!(out, " {l:>9}")?;
        }
        writeln!(out, " {:>10}", "max")?;
        for r in &reports {
            write!(
                out,
                "{:>4} {:>9.0} {:>6.2}%",
                r.cpu,
                r.per_second(),
                100.0 * r.lost_fraction()
            )?;
            for n in r.buckets {
                write!(out, " {n:>9}")?;
            }
            writeln!(out, " {:>7.1} us", r.max.as_nanos() as f64 / 1e3)?;
        }
        writeln!(
            out,
            "\nwait past each bound for an event arriving at a random instant (the time spent \
             in gaps past it):"
        )?;
        write!(out, "{:>4}", "cpu")?;
        for l in WAIT_LABELS {
            write!(out, " {l:>9}")?;
        }
        writeln!(out)?;
        for r in &reports {
            write!(out, "{:>4}", r.cpu)?;
            for i in 0..WAIT_LABELS.len() {
                write!(out, " {:>8.3}%", 100.0 * r.wait_beyond(i))?;
            }
            writeln!(out)?;
        }
        writeln!(
            out,
            "A latency percentile cannot be lower than the interruptions that land in the \
             ticks' flight time: at R ticks/s with ticks in flight for T, about \
             (interruptions/s x (T + gap) x R) ticks per second wait out a gap. A tick whose \
             path needs a CPU waits out the rest of the gap it arrives in: a p99 target of X \
             cannot be met on a CPU whose wait past X is above 1%, nor a p99.9 above 0.1%."
        )?;
    }
    out.flush()?;
    Ok(())
}
