//! The timing harness shared by every group.
//!
//! A case has several implementations ("impls"), each a [`Routine`]: a closure that runs the
//! operation a given number of times and returns the elapsed time of exactly that work. Setup
//! that must not be timed (building inputs, refilling a structure) happens inside the routine,
//! outside its own timed region, so cases with expensive per-sample setup work too.
//!
//! For every case the harness
//! 1. calibrates an iteration count per impl so one sample lasts about [`Config::sample_target`];
//! 2. warms every impl up for about [`Config::warmup`], interleaved, and re-calibrates from the
//!    last warm-up run (code often gets faster once caches and branch predictors are warm);
//! 3. takes [`Config::samples`] samples with the impls interleaved: round `r` runs every impl
//!    once, starting at impl `r mod n`, so slow drift (frequency, thermals, other load) hits all
//!    impls alike;
//! 4. reports, per impl, the median over samples of `elapsed / iterations`, with the fastest and
//!    slowest sample as its spread.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Runs an operation `iters` times and returns the time that work took.
pub type Routine<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// How long and how often to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Shorter samples, warm-up and fewer samples (`--quick`): for smoke runs, not for figures.
    pub quick: bool,
}

impl Config {
    /// Time one sample should last: 10 ms, or 2 ms when quick.
    pub fn sample_target(&self) -> Duration {
        Duration::from_millis(if self.quick { 2 } else { 10 })
    }

    /// Warm-up time per impl: 100 ms, or 20 ms when quick.
    pub fn warmup(&self) -> Duration {
        Duration::from_millis(if self.quick { 20 } else { 100 })
    }

    /// Samples per impl: 15, or 5 when quick.
    pub fn samples(&self) -> usize {
        if self.quick { 5 } else { 15 }
    }
}

/// One implementation of a case: a name for the report and the routine that times it.
pub struct Impl<'a> {
    /// Name shown in the `impl` column, e.g. `"zerotick"` or the peer crate's name.
    pub name: &'static str,
    routine: Routine<'a>,
}

impl<'a> Impl<'a> {
    /// An impl from a routine that does its own timing (see [`Routine`]).
    pub fn new(name: &'static str, routine: impl FnMut(u64) -> Duration + 'a) -> Self {
        Self {
            name,
            routine: Box::new(routine),
        }
    }

    /// An impl from a closure performing one operation; the harness times a loop of calls.
    ///
    /// The loop is monomorphised around `op`, so only the per-sample call is dynamic. Feed
    /// results through [`std::hint::black_box`] inside `op` so they are not optimised away.
    pub fn per_op(name: &'static str, mut op: impl FnMut() + 'a) -> Self {
        Self::new(name, move |iters| {
            let start = Instant::now();
            for _ in 0..iters {
                op();
            }
            start.elapsed()
        })
    }
}

/// One line of a report: the median time of one operation of `case` done by `imp`.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Group the case belongs to, e.g. `"pool"`.
    pub group: &'static str,
    /// Case name, e.g. `"acquire_release"`.
    pub case: &'static str,
    /// Implementation name, e.g. `"zerotick"` (the JSON field `impl`).
    pub imp: &'static str,
    /// Median over samples of nanoseconds per operation.
    pub median_ns: f64,
    /// Fastest sample, nanoseconds per operation (the low end of the spread).
    pub min_ns: f64,
    /// Slowest sample, nanoseconds per operation (the high end of the spread).
    pub max_ns: f64,
    /// Number of samples the median was taken over.
    pub samples: usize,
}

/// Measures cases for one group at a time and records which CPUs its threads were pinned to.
#[derive(Debug)]
pub struct Harness {
    config: Config,
    group: &'static str,
    pinned: BTreeSet<usize>,
    notes: Vec<String>,
    progress: bool,
}

impl Harness {
    /// A harness measuring with `config`; progress goes to stderr when it is a terminal.
    pub fn new(config: Config) -> Self {
        let progress = std::io::stderr().is_terminal();
        Self {
            config,
            group: "",
            pinned: BTreeSet::new(),
            notes: Vec::new(),
            progress,
        }
    }

    /// The measuring configuration.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Starts a group: rows from [`Harness::case`] carry its name; the pinned-CPU record is
    /// cleared.
    pub fn start_group(&mut self, group: &'static str) {
        self.group = group;
        self.pinned.clear();
        self.notes.clear();
    }

    /// Adds a line printed under the group's table in the human output (a derived figure,
    /// an origin-report claim next to the measured one); JSON output leaves notes out.
    pub fn note(&mut self, line: impl Into<String>) {
        self.notes.push(line.into());
    }

    /// The current group's notes.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Records that a thread of the current group runs pinned to `cpu` (for the report).
    pub fn note_pinned(&mut self, cpu: usize) {
        self.pinned.insert(cpu);
    }

    /// Picks `n` CPUs for the threads of a multi-thread case (see [`crate::pin::pick_cpus`])
    /// and records them for the report; `None` if this machine cannot give `n` CPUs.
    ///
    /// The measuring thread is pinned to the first allowed CPU (normally 0), which comes first
    /// here too, so it can act as one of the `n` threads, e.g. an spsc producer on CPU 0 with
    /// the consumer spawned with [`crate::pin::spawn_pinned`] on CPU 1.
    pub fn pick_cpus(&mut self, n: usize) -> Option<Vec<usize>> {
        let cpus = crate::pin::pick_cpus(n)?;
        self.pinned.extend(&cpus);
        Some(cpus)
    }

    /// Two CPUs for a pair of busy threads: [`Harness::pick_cpus`]`(2)`, or else
    /// [`crate::pin::this_and_another_cpu`]; recorded for the report either way.
    pub fn pick_two_cpus(&mut self) -> Option<[usize; 2]> {
        if let Some(cpus) = self.pick_cpus(2) {
            return Some([cpus[0], cpus[1]]);
        }
        let pair = crate::pin::this_and_another_cpu()?;
        self.pinned.extend(pair);
        Some(pair)
    }

    /// CPUs the current group's threads were pinned to, as noted with [`Harness::note_pinned`].
    pub fn pinned(&self) -> &BTreeSet<usize> {
        &self.pinned
    }

    /// Measures every impl of `case`, interleaved, and returns one row per impl, in order.
    pub fn case(&mut self, case: &'static str, mut impls: Vec<Impl<'_>>) -> Vec<Row> {
        if self.progress {
            eprint!("{}/{case}: ", self.group);
        }
        let target = self.config.sample_target();
        let mut iters: Vec<u64> = impls
            .iter_mut()
            .map(|i| calibrate(&mut i.routine, target))
            .collect();
        self.warm_up(&mut impls, &mut iters);
        let n = impls.len();
        let mut per_op: Vec<Vec<f64>> = vec![Vec::with_capacity(self.config.samples()); n];
        for round in 0..self.config.samples() {
            for k in 0..n {
                let i = (round + k) % n;
                let elapsed = (impls[i].routine)(iters[i]);
                per_op[i].push(elapsed.as_nanos() as f64 / iters[i] as f64);
            }
            self.tick();
        }
        if self.progress {
            eprintln!(" done");
        }
        impls
            .iter()
            .zip(per_op)
            .map(|(imp, mut ns)| {
                let median_ns = median(&mut ns);
                // `median` sorted the samples.
                let (min_ns, max_ns) = match (ns.first(), ns.last()) {
                    (Some(&lo), Some(&hi)) => (lo, hi),
                    _ => (f64::NAN, f64::NAN),
                };
                Row {
                    group: self.group,
                    case,
                    imp: imp.name,
                    median_ns,
                    min_ns,
                    max_ns,
                    samples: ns.len(),
                }
            })
            .collect()
    }

    /// Runs interleaved rounds until every impl has run for at least the warm-up time, then
    /// re-calibrates each impl's iteration count from its last warm-up run.
    fn warm_up(&mut self, impls: &mut [Impl<'_>], iters: &mut [u64]) {
        let (warmup, target) = (self.config.warmup(), self.config.sample_target());
        let mut spent = vec![Duration::ZERO; impls.len()];
        let mut last = vec![Duration::ZERO; impls.len()];
        while spent.iter().any(|&s| s < warmup) {
            for (i, imp) in impls.iter_mut().enumerate() {
                if spent[i] < warmup {
                    last[i] = (imp.routine)(iters[i]);
                    spent[i] += last[i];
                }
            }
            self.tick();
        }
        for (n, t) in iters.iter_mut().zip(last) {
            *n = scale(*n, t, target);
        }
    }

    fn tick(&self) {
        if self.progress {
            eprint!(".");
            let _ = std::io::stderr().flush();
        }
    }
}

/// Finds an iteration count for which one run of `routine` lasts about `target`.
///
/// Doubles from 1 until a run takes at least a tenth of `target`, then scales linearly. An
/// operation slower than `target` gets 1 iteration.
fn calibrate(routine: &mut Routine<'_>, target: Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let t = routine(iters);
        if t >= target / 10 || iters >= 1 << 40 {
            return scale(iters, t, target);
        }
        iters *= 2;
    }
}

/// Iteration count that makes a run last `target`, given that `iters` took `took`.
fn scale(iters: u64, took: Duration, target: Duration) -> u64 {
    let per_iter = took.as_nanos().max(1) as f64 / iters as f64;
    ((target.as_nanos() as f64 / per_iter) as u64).clamp(1, 1 << 40)
}

/// Median of `xs` (mean of the middle two for an even count); `NaN` if empty. Sorts `xs`.
pub fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn scale_hits_the_target() {
        assert_eq!(
            scale(1_000, Duration::from_millis(1), Duration::from_millis(10)),
            10_000
        );
        assert_eq!(
            scale(1, Duration::from_secs(1), Duration::from_millis(10)),
            1
        );
    }

    #[test]
    fn samples_are_interleaved_with_rotating_start() {
        let log = RefCell::new(Vec::new());
        let mk = |name: &'static str| {
            let log = &log;
            Impl::new(name, move |iters| {
                log.borrow_mut().push(name);
                Duration::from_micros(iters) // 1 us per op, no real work
            })
        };
        let mut h = Harness::new(Config { quick: true });
        h.progress = false;
        h.start_group("test");
        let rows = h.case("c", vec![mk("a"), mk("b"), mk("c")]);
        assert_eq!(rows.len(), 3);
        for row in &rows {
            assert_eq!((row.group, row.case, row.samples), ("test", "c", 5));
            assert!((row.median_ns - 1_000.0).abs() < 1e-9, "{row:?}");
            assert!(
                row.min_ns <= row.median_ns && row.median_ns <= row.max_ns,
                "{row:?}"
            );
        }
        let log = log.into_inner();
        let tail: Vec<_> = log[log.len() - 15..].to_vec();
        let expected = [
            "a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c", "b", "c", "a",
        ];
        assert_eq!(tail, expected);
    }
}
