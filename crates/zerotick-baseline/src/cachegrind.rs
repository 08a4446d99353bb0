//! D1 cache hit rate of one pipeline run under `valgrind --tool=cachegrind --cache-sim=yes`.
//!
//! The child is this binary's `--inner before|after` on a small input; the rate is
//! `1 - (D1mr + D1mw) / (Dr + Dw)` from the summary line of the cachegrind output file, so it
//! covers the whole child process (start-up, building the pipeline, the run, tear-down).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::child::{Input, Which};

/// The D1 figures of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct D1 {
    /// Data reads plus writes.
    pub accesses: u64,
    /// D1 read plus write misses.
    pub misses: u64,
    /// Wall time of the valgrind run.
    pub took: Duration,
}

impl D1 {
    /// `1 - misses / accesses`.
    pub fn hit_rate(&self) -> Option<f64> {
        (self.accesses > 0).then(|| 1.0 - self.misses as f64 / self.accesses as f64)
    }
}

/// Whether `valgrind` can be started (found on PATH and answers `--version`).
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `exe --inner WHICH` for `input` under cachegrind and reads its D1 figures.
///
/// # Errors
/// valgrind could not be started, the child failed, or the output file was not understood.
pub fn measure(exe: &Path, which: Which, input: &Input) -> Result<D1> {
    let out_file = std::env::temp_dir().join(format!(
        "zerotick-cachegrind-{}-{}.out",
        std::process::id(),
        which.name()
    ));
    let start = Instant::now();
    let output = Command::new("valgrind")
        .arg("--tool=cachegrind")
        .arg("--cache-sim=yes")
        .arg(format!("--cachegrind-out-file={}", out_file.display()))
        .arg(exe)
        .args(crate::driver::inner_args(which, input))
        .output()
        .context("cannot start valgrind")?;
    let took = start.elapsed();
    let text = std::fs::read_to_string(&out_file);
    let _ = std::fs::remove_file(&out_file);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        bail!("valgrind run of `{}` failed: {last}", which.name());
    }
    let text = text.with_context(|| format!("cannot read {}", out_file.display()))?;
    let (accesses, misses) = parse(&text)?;
    Ok(D1 {
        accesses,
        misses,
        took,
    })
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
            took: Duration::ZERO,
        };
        assert!((d1.hit_rate().expect("rate") - 0.95).abs() < 1e-12);
    }

    #[test]
    fn a_summary_without_cache_simulation_is_an_error() {
        let text = "events: Ir\nsummary: 1000\n";
        assert!(parse(text).is_err());
        assert!(parse("nothing here").is_err());
    }
}
