//! D1 cache hit rate of a pipeline's steady state under
//! `valgrind --tool=cachegrind --cache-sim=yes`.
//!
//! The child is this binary's `--inner WHICH`, run twice on the same deterministic feed: once
//! for the warm-up ticks alone, once for the warm-up ticks and `ticks` more. Both runs do the
//! same start-up, warm-up and tear-down, so the difference of their counters is the steady
//! state's: the rate is `1 - (D1mr + D1mw) / (Dr + Dw)` over those differences. (The
//! valgrind 3.19 that Debian ships cannot switch cachegrind's counting on mid-run.) The
//! longer run's whole-process figures are kept beside it: a start-up that touches a lot of
//! memory once (pools prefaulted, GEMM buffers sized) dominates them on a short run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::child::{Input, Which};

/// The D1 figures of one pipeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct D1 {
    /// Data reads plus writes in steady state (long run minus short run).
    pub accesses: u64,
    /// D1 read plus write misses in steady state.
    pub misses: u64,
    /// Data accesses of the long run's whole process.
    pub whole_accesses: u64,
    /// D1 misses of the long run's whole process.
    pub whole_misses: u64,
    /// Wall time of both valgrind runs.
    pub took: Duration,
}

impl D1 {
    /// Steady state: `1 - misses / accesses`.
    pub fn hit_rate(&self) -> Option<f64> {
        rate(self.accesses, self.misses)
    }

    /// The long run's whole process.
    pub fn whole_hit_rate(&self) -> Option<f64> {
        rate(self.whole_accesses, self.whole_misses)
    }
}

fn rate(accesses: u64, misses: u64) -> Option<f64> {
    (accesses > 0).then(|| 1.0 - misses as f64 / accesses as f64)
}

/// Whether `valgrind` can be started (found on PATH and answers `--version`).
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The steady-state D1 figures of `which` over `input.ticks` ticks after
/// `input.warmup_ticks`: two cachegrind runs (see the module docs).
///
/// # Errors
/// valgrind could not be started, a child failed, an output file was not understood, or the
/// longer run counted fewer accesses than the shorter one.
pub fn measure(exe: &Path, which: Which, input: &Input) -> Result<D1> {
    let start = Instant::now();
    let short = Input {
        ticks: input.warmup_ticks,
        ..*input
    };
    let long = Input {
        ticks: input.warmup_ticks + input.ticks,
        ..*input
    };
    let (short_accesses, short_misses) = run_once(exe, which, &short)?;
    let (whole_accesses, whole_misses) = run_once(exe, which, &long)?;
    let (Some(accesses), Some(misses)) = (
        whole_accesses.checked_sub(short_accesses),
        whole_misses.checked_sub(short_misses),
    ) else {
        bail!(
            "the {}-tick run of `{}` counted fewer data accesses or misses than the {}-tick              run ({whole_accesses}/{whole_misses} vs {short_accesses}/{short_misses})",
            long.ticks,
            which.name(),
            short.ticks
        );
    };
    Ok(D1 {
        accesses,
        misses,
        whole_accesses,
        whole_misses,
        took: start.elapsed(),
    })
}

/// `(Dr + Dw, D1mr + D1mw)` of one run of `exe --inner WHICH` on `input` under cachegrind.
fn run_once(exe: &Path, which: Which, input: &Input) -> Result<(u64, u64)> {
    let out_file = std::env::temp_dir().join(format!(
        "zerotick-cachegrind-{}-{}-{}.out",
        std::process::id(),
        which.name(),
        input.ticks
    ));
    let output = Command::new("valgrind")
        .arg("--tool=cachegrind")
        .arg("--cache-sim=yes")
        .arg(format!("--cachegrind-out-file={}", out_file.display()))
        .arg(exe)
        .args(crate::driver::inner_args(which, input))
        .output()
        .context("cannot start valgrind")?;
    let text = std::fs::read_to_string(&out_file);
    let _ = std::fs::remove_file(&out_file);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        bail!("valgrind run of `{}` failed: {last}", which.name());
    }
    let text = text.with_context(|| format!("cannot read {}", out_file.display()))?;
    parse(&text)
}

/// `(Dr + Dw, D1mr + D1mw)` from a cachegrind output file's `events:` and `summary:` lines.
fn parse(text: &str) -> Result<(u64, u64)> {
    let line = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::split_whitespace)
            .with_context(|| format!("no `{prefix}` line in the cachegrind output"))
    };
    let events: Vec<&str> = line("events:")?.collect();
    let values: Vec<u64> = line("summary:")?
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("bad number on the cachegrind summary line")?;
    let get = |name: &str| {
        events
            .iter()
            .position(|e| *e == name)
            .and_then(|i| values.get(i).copied())
            .with_context(|| {
                format!("no {name} in the cachegrind summary (was --cache-sim=yes on?)")
            })
    };
    Ok((get("Dr")? + get("Dw")?, get("D1mr")? + get("D1mw")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_cachegrind_summary() {
        let text = "desc: I1 cache: 32768 B, 64 B, 8-way associative\n\
                    cmd: ./zerotick-baseline --inner after\n\
                    events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw\n\
                    fl=foo.rs\n0 1 2 3 4 5 6 7 8 9\n\
                    summary: 1000 5 4 600 30 2 400 20 1\n";
        assert_eq!(parse(text).expect("parses"), (1000, 50));
        let d1 = D1 {
            accesses: 1000,
            misses: 50,
            whole_accesses: 4000,
            whole_misses: 400,
            took: Duration::ZERO,
        };
        assert!((d1.hit_rate().expect("rate") - 0.95).abs() < 1e-12);
        assert!((d1.whole_hit_rate().expect("rate") - 0.90).abs() < 1e-12);
    }

    #[test]
    fn a_summary_without_cache_simulation_is_an_error() {
        let text = "events: Ir\nsummary: 1000\n";
        assert!(parse(text).is_err());
        assert!(parse("nothing here").is_err());
    }
}
