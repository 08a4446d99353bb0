//! Steady-state figures of one child run, instrumented identically for every pipeline.
//!
//! * Allocations: every pipeline calls `progress(n)` on its hot thread every 65,536 ticks (as
//!   zerotick's `Hooks::progress` does); from the first call at or after the warm-up on,
//!   [`Steady::progress`] records the watched threads' allocation total and the time. The
//!   rate is taken between the first and the last such mark: setup and teardown are outside.
//! * Blocked time: each pipeline thread registers itself ([`Steady::thread_start`]); a sampler
//!   thread (not a pipeline thread) reads `/proc/thread-self/task/TID/schedstat` of every
//!   registered thread every 20 ms from the warm-up mark on. A thread's blocked time over the
//!   window is its wall time minus its time on a CPU minus its time waiting for a CPU (the
//!   kernel's own figures): time asleep on a lock, a channel, a park. The fraction is the sum
//!   over threads of blocked time over the sum of their wall time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use zerotick_mem::counting::watched_total;

/// Marks of one run; shared by the pipeline's threads and the sampler.
pub struct Steady {
    warmup_ticks: u64,
    epoch: Instant,
    /// `(allocations, ns since epoch)` at the first mark at or after the warm-up; `u64::MAX`
    /// until then.
    first: [AtomicU64; 2],
    /// Ticks at the first mark and at the latest one.
    ticks: [AtomicU64; 2],
    /// The same at the latest mark.
    last: [AtomicU64; 2],
    tids: Mutex<Vec<String>>,
    done: AtomicBool,
}

/// A schedstat snapshot of every registered thread: `(on-CPU ns, run-queue ns)` summed, and the
/// thread count.
#[derive(Clone, Copy, Debug)]
struct Snapshot {
    at: Instant,
    on_cpu_ns: u64,
    waiting_ns: u64,
    threads: usize,
}

impl Steady {
    /// Marks counted from the first progress call at or after `warmup_ticks`.
    pub fn new(warmup_ticks: u64) -> Self {
        Self {
            warmup_ticks,
            epoch: Instant::now(),
            first: [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)],
            ticks: [AtomicU64::new(0), AtomicU64::new(0)],
            last: [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)],
            tids: Mutex::new(Vec::new()),
            done: AtomicBool::new(false),
        }
    }

    /// The progress hook: `n` ticks processed so far. Two atomic loads, a clock read and up to
    /// six stores; no allocation.
    pub fn progress(&self, n: u64) {
        if n < self.warmup_ticks {
            return;
        }
        let mark = [watched_total(), self.epoch.elapsed().as_nanos() as u64];
        if self.first[1].load(Ordering::Relaxed) == u64::MAX {
            self.first[0].store(mark[0], Ordering::Relaxed);
            self.ticks[0].store(n, Ordering::Relaxed);
            // Release: pairs with the sampler's Acquire load of `first[1]`.
            self.first[1].store(mark[1], Ordering::Release);
        }
        self.last[0].store(mark[0], Ordering::Relaxed);
        self.last[1].store(mark[1], Ordering::Relaxed);
        self.ticks[1].store(n, Ordering::Relaxed);
    }

    /// Ticks per second between the first and the last mark (`None`: fewer than two): the
    /// pipeline's rate with its start-up and teardown left out.
    pub fn ticks_per_s(&self) -> Option<f64> {
        let t0 = self.first[1].load(Ordering::Acquire);
        let t1 = self.last[1].load(Ordering::Relaxed);
        let (n0, n1) = (
            self.ticks[0].load(Ordering::Relaxed),
            self.ticks[1].load(Ordering::Relaxed),
        );
        (t0 != u64::MAX && t1 > t0 && n1 > n0).then(|| (n1 - n0) as f64 / ((t1 - t0) as f64 / 1e9))
    }

    /// The thread-start hook: registers the calling thread for the blocked-time figure.
    pub fn thread_start(&self) {
        if let Ok(link) = std::fs::read_link("/proc/thread-self") {
            // "PID/task/TID"
            let path = format!("/proc/{}/schedstat", link.display());
            self.tids
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(path);
        }
    }

    /// Allocations per second between the first and the last mark (`None`: fewer than two).
    pub fn allocations_per_s(&self) -> Option<f64> {
        let (a0, t0) = (
            self.first[0].load(Ordering::Relaxed),
            self.first[1].load(Ordering::Acquire),
        );
        let (a1, t1) = (
            self.last[0].load(Ordering::Relaxed),
            self.last[1].load(Ordering::Relaxed),
        );
        (t0 != u64::MAX && t1 > t0).then(|| a1.saturating_sub(a0) as f64 / ((t1 - t0) as f64 / 1e9))
    }

    /// Runs the sampler until [`Steady::finish`]; returns the blocked fraction over the
    /// window from the warm-up mark to the last snapshot in which every thread was alive
    /// (`None`: no such window, or schedstat is not readable here).
    pub fn sample_blocked(&self) -> Option<f64> {
        let mut first: Option<Snapshot> = None;
        let mut last: Option<Snapshot> = None;
        while !self.done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            if self.first[1].load(Ordering::Acquire) == u64::MAX {
                continue;
            }
            let Some(s) = self.snapshot() else { continue };
            match first {
                None => first = Some(s),
                Some(f) if f.threads == s.threads => last = Some(s),
                Some(_) => {}
            }
        }
        let (f, l) = (first?, last?);
        let wall = l.at.duration_since(f.at).as_nanos() as f64 * f.threads as f64;
        let busy = (l.on_cpu_ns - f.on_cpu_ns + l.waiting_ns - f.waiting_ns) as f64;
        (wall > 0.0).then(|| ((wall - busy) / wall).clamp(0.0, 1.0))
    }

    /// Stops the sampler.
    pub fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
    }

    /// Every registered thread's schedstat, summed; `None` if one is gone or unreadable.
    fn snapshot(&self) -> Option<Snapshot> {
        let tids = self
            .tids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let at = Instant::now();
        let (mut on_cpu_ns, mut waiting_ns) = (0u64, 0u64);
        for path in &tids {
            let text = std::fs::read_to_string(path).ok()?;
            let mut f = text.split_whitespace().map(str::parse::<u64>);
            on_cpu_ns += f.next()?.ok()?;
            waiting_ns += f.next()?.ok()?;
        }
        (!tids.is_empty()).then_some(Snapshot {
            at,
            on_cpu_ns,
            waiting_ns,
            threads: tids.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steady_rate_counts_ticks_between_the_first_and_last_mark_after_warm_up() {
        let steady = Steady::new(1_000);
        steady.progress(500); // before the warm-up: not a mark
        assert_eq!(steady.ticks_per_s(), None);
        steady.progress(1_000);
        assert_eq!(steady.ticks_per_s(), None, "one mark is no window");
        std::thread::sleep(Duration::from_millis(20));
        steady.progress(5_000);
        let rate = steady.ticks_per_s().expect("two marks");
        // 4,000 ticks in at least 20 ms: at most 200,000 ticks/s, and not absurdly low.
        assert!(rate <= 200_000.0 && rate > 1_000.0, "{rate}");
    }

    #[test]
    fn a_sleeping_thread_is_blocked_and_a_spinning_one_is_not() {
        for (spin, expect_blocked) in [(false, true), (true, false)] {
            let steady = Steady::new(0);
            let blocked = std::thread::scope(|s| {
                let sampler = s.spawn(|| steady.sample_blocked());
                s.spawn(|| {
                    steady.thread_start();
                    steady.progress(1);
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_millis(300) {
                        if spin {
                            std::hint::spin_loop();
                        } else {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                    steady.progress(2);
                    steady.finish();
                });
                sampler.join().expect("sampler")
            });
            let Some(b) = blocked else {
                eprintln!("skipped: schedstat not readable here");
                return;
            };
            assert_eq!(b > 0.5, expect_blocked, "spin {spin}: blocked {b}");
        }
    }
}
