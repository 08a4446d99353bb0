//! `zerotick bench` (this crate's binary): the origin report's before/after table, measured
//! in one run, with three pipelines doing the same work.
//!
//! * origin-style ([`crate::origin`]), idiomatic ([`crate::idiomatic`], both its 2- and
//!   3-thread layouts, the faster one reported) and zerotick (`zerotick_pipeline::run`); all
//!   get the same seeded synthetic feed and must emit the same signals (equal checksums).
//! * Each pipeline run happens in a child process of this binary (`--inner WHICH`, a hidden
//!   flag) so its memory and allocation figures are its own; every round runs each pipeline
//!   once, the starting one rotated each round, and the table shows the median over runs.
//! * The D1 hit rate comes from cachegrind when `valgrind` is on PATH ([`crate::cachegrind`]);
//!   the micro-figures are timed in this process ([`crate::micro`]).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::child::{Input, Measured, Which};
use crate::table::{D1Outcome, Outcome};
use crate::{cachegrind, child, micro, table};

/// Default ticks per pipeline run: about 2-5 s per pipeline on the 2-vCPU development VM.
const DEFAULT_TICKS: u64 = 2_000_000;
/// Default ticks with `--quick`.
const QUICK_TICKS: u64 = 100_000;
/// Default ticks per pipeline under cachegrind (about 50x slower than native).
const DEFAULT_CACHEGRIND_TICKS: u64 = 200_000;
/// Default cachegrind ticks with `--quick`.
const QUICK_CACHEGRIND_TICKS: u64 = 20_000;

/// Flags of `zerotick bench` (= `zerotick-baseline`).
#[derive(clap::Parser, Debug)]
#[command(
    name = "zerotick bench",
    version,
    about = "Measure the origin report's before/after table: the same pipeline written origin-style (clones, Mutex metrics), idiomatically (reused buffers, crossbeam-channel, metrics crate) and with zerotick."
)]
pub struct BenchArgs {
    /// Ticks of the synthetic feed per pipeline run [default: 2000000, or 100000 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    ticks: Option<u64>,
    /// Seed of the synthetic market.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Ticks before steady state: allocations/s, the blocked fraction and the steady-state
    /// vectors/s are measured from the first progress mark (every 65,536 ticks) at or after it.
    #[arg(long, default_value_t = 100_000)]
    warmup_ticks: u64,
    /// Symbols of the synthetic market.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    symbols: u32,
    /// Runs of each pipeline, interleaved; the table shows the median
    /// [default: 3, or 1 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=99))]
    runs: Option<u32>,
    /// Steady-state ticks (after the warm-up ticks) per pipeline under cachegrind for the D1
    /// hit rate: each pipeline runs twice, with and without them, and the rate is taken over
    /// the difference [default: 200000, or 20000 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    cachegrind_ticks: Option<u64>,
    /// Do not run cachegrind (the D1 row is then null, with the reason).
    #[arg(long)]
    no_cachegrind: bool,
    /// A short smoke run (few ticks, one run, short micro samples): for tests, not figures.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Internal: run one pipeline in this process and print its figures as one JSON line.
    #[arg(long, hide = true, value_enum)]
    inner: Option<Which>,
}

/// Runs `zerotick bench` with `args`.
///
/// # Errors
/// A child run or a measurement failed, or the pipelines' checksums differ (after the
/// report is printed).
pub fn command(args: &BenchArgs) -> Result<()> {
    let input = Input {
        ticks: args.ticks.unwrap_or(if args.quick {
            QUICK_TICKS
        } else {
            DEFAULT_TICKS
        }),
        symbols: args.symbols as usize,
        seed: args.seed,
        warmup_ticks: args.warmup_ticks,
    };
    if let Some(which) = args.inner {
        let m = child::measure(which, &input)?;
        println!("{}", m.to_json());
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 });
    let progress = std::io::stderr().is_terminal();
    let phase = |what: String| {
        if progress {
            eprintln!("bench: {what}");
        }
    };

    let mut runs_of: [Vec<Measured>; 4] = Default::default();
    for round in 0..runs {
        // Every pipeline once per round, the starting one rotated each round.
        for k in 0..Which::ALL.len() {
            let i = (round as usize + k) % Which::ALL.len();
            let which = Which::ALL[i];
            phase(format!(
                "run {}/{runs}: {} pipeline, {} ticks",
                round + 1,
                which.name(),
                input.ticks
            ));
            runs_of[i].push(child(&exe, which, &input)?);
        }
    }
    let [origin, idiomatic2, idiomatic3, zerotick] = runs_of;
    let idiomatic = table::Idiomatic::faster(idiomatic2, idiomatic3);

    phase(
        "micro-benchmarks (allocation vs free list vs pool, Mutex vs metrics vs zerotick metric)"
            .to_owned(),
    );
    let micro = micro::measure(zerotick_bench::Config { quick: args.quick })?;

    let cg_input = Input {
        ticks: args.cachegrind_ticks.unwrap_or(if args.quick {
            QUICK_CACHEGRIND_TICKS
        } else {
            DEFAULT_CACHEGRIND_TICKS
        }),
        ..input
    };
    let d1 = if args.no_cachegrind {
        D1Outcome::Skipped("not measured: --no-cachegrind".to_owned())
    } else if !cachegrind::available() {
        D1Outcome::Skipped(
            "not measured: valgrind is not installed (apt-get install valgrind, then run again)"
                .to_owned(),
        )
    } else {
        let one = |which: Which| {
            phase(format!(
                "cachegrind: {} pipeline, {} ticks",
                which.name(),
                cg_input.ticks
            ));
            cachegrind::measure(&exe, which, &cg_input).map_err(|e| format!("{e:#}"))
        };
        D1Outcome::Measured {
            ticks: cg_input.ticks,
            origin: one(Which::Origin),
            idiomatic: one(idiomatic.which),
            zerotick: one(Which::Zerotick),
        }
    };

    let outcome = Outcome {
        input,
        runs,
        origin,
        idiomatic,
        zerotick,
        micro,
        d1,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", table::json(&outcome))?;
    } else {
        out.write_all(table::human(&outcome).as_bytes())?;
    }
    out.flush()?;
    if !outcome.checksums_match() {
        bail!("the pipelines emitted different signals (checksums differ)");
    }
    Ok(())
}

/// The arguments that make this binary run one pipeline as a child.
pub(crate) fn inner_args(which: Which, input: &Input) -> Vec<String> {
    vec![
        "--inner".into(),
        which.name().into(),
        "--ticks".into(),
        input.ticks.to_string(),
        "--seed".into(),
        input.seed.to_string(),
        "--symbols".into(),
        input.symbols.to_string(),
        "--warmup-ticks".into(),
        input.warmup_ticks.to_string(),
    ]
}

/// Runs one pipeline in a child process and reads its figures.
fn child(exe: &Path, which: Which, input: &Input) -> Result<Measured> {
    let output = Command::new(exe)
        .args(inner_args(which, input))
        .output()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "the {} pipeline failed: {}",
            which.name(),
            stderr.lines().last().unwrap_or("no message").trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let value: serde_json::Value = serde_json::from_str(line)
        .with_context(|| format!("bad output from the {} pipeline: {line:?}", which.name()))?;
    Measured::from_json(&value)
}
