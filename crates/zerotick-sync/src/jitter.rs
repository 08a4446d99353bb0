//! How long the machine takes a CPU away from a busy thread: the floor under every latency
//! figure measured on it.
//!
//! A thread pinned to each CPU spins on the monotonic clock for a set time; every gap between
//! two consecutive reads longer than a threshold is an interruption (a timer interrupt, another
//! thread scheduled, a kernel worker, the hypervisor running something else), counted in
//! buckets by length. This is what `sysjitter` and `cyclictest` measure: a pipeline whose hot
//! thread runs on such a CPU cannot have a tick-to-signal p99 below the interruptions that
//! land in its ticks' flight time, whatever its code does.
//!
//! ```
//! use std::time::Duration;
//! use zerotick_sync::jitter::{JitterConfig, probe_cpu};
//!
//! let cpu = zerotick_sync::affinity::thread_affinity()?[0];
//! let config = JitterConfig { duration: Duration::from_millis(20), ..JitterConfig::default() };
//! let report = probe_cpu(cpu, &config)?;
//! assert!(report.reads > 0);
//! assert!(report.lost <= report.elapsed);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use crate::affinity;

/// Upper bounds (exclusive) of the gap buckets, in nanoseconds; the last bucket is open.
pub const BUCKET_BOUNDS_NS: [u64; 6] = [10_000, 50_000, 200_000, 1_000_000, 5_000_000, u64::MAX];

/// Labels of [`BUCKET_BOUNDS_NS`], for reports, each covering from the previous bound (the
/// first from the threshold).
pub const BUCKET_LABELS: [&str; 6] = ["<10us", "10-50us", "50-200us", "0.2-1ms", "1-5ms", ">=5ms"];

/// What to measure.
#[derive(Clone, Debug)]
pub struct JitterConfig {
    /// How long each CPU is probed.
    pub duration: Duration,
    /// A gap between clock reads at least this long is an interruption. The default (1 us)
    /// is ~30 clock reads on current x86 CPUs: far above the loop's own cost, far below any
    /// scheduling event.
    pub threshold: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(5),
            threshold: Duration::from_micros(1),
        }
    }
}

/// One CPU's interruptions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JitterReport {
    /// The CPU probed.
    pub cpu: usize,
    /// How long the probe ran.
    pub elapsed: Duration,
    /// Clock reads made.
    pub reads: u64,
    /// Interruptions per bucket of [`BUCKET_BOUNDS_NS`].
    pub buckets: [u64; 6],
    /// The time lost to interruptions (the sum of the gaps at or above the threshold).
    pub lost: Duration,
    /// The longest gap.
    pub max: Duration,
}

impl JitterReport {
    /// Interruptions of any length.
    pub fn interruptions(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Interruptions per second of probing.
    pub fn per_second(&self) -> f64 {
        self.interruptions() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The fraction of the probe's time the thread did not run.
    pub fn lost_fraction(&self) -> f64 {
        self.lost.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Interruptions at least `ns` long, counted from the buckets whose lower bound is at
    /// least `ns` (so `ns` should be a bucket bound).
    pub fn at_least(&self, ns: u64) -> u64 {
        let mut lower = 0;
        let mut n = 0;
        for (count, upper) in self.buckets.iter().zip(BUCKET_BOUNDS_NS) {
            if lower >= ns {
                n += count;
            }
            lower = upper;
        }
        n
    }
}

/// Probes the calling thread's CPU after pinning the thread to `cpu` (the thread's affinity is
/// left pinned: call it from a thread of its own).
///
/// # Errors
/// The error of [`affinity::pin_current_thread`] (a CPU outside this process's mask) or
/// `InvalidInput` for a zero duration.
pub fn probe_cpu(cpu: usize, config: &JitterConfig) -> io::Result<JitterReport> {
    if config.duration.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the jitter probe needs a duration above zero",
        ));
    }
    affinity::pin_current_thread(cpu)?;
    let threshold = config.threshold.as_nanos().min(u64::MAX as u128) as u64;
    let mut report = JitterReport {
        cpu,
        ..JitterReport::default()
    };
    let start = Instant::now();
    let end = start + config.duration;
    let mut prev = start;
    let mut lost_ns = 0u64;
    let mut max_ns = 0u64;
    // Check the end only every so many reads: the comparison is cheap, but the loop should be
    // nothing but clock reads.
    loop {
        for _ in 0..64 {
            let now = Instant::now();
            let gap = now.duration_since(prev).as_nanos() as u64;
            prev = now;
            if gap >= threshold {
                let slot = BUCKET_BOUNDS_NS.iter().position(|&b| gap < b).unwrap_or(5);
                report.buckets[slot] += 1;
                lost_ns += gap;
                max_ns = max_ns.max(gap);
            }
        }
        report.reads += 64;
        if prev >= end {
            break;
        }
    }
    report.elapsed = prev.duration_since(start);
    report.lost = Duration::from_nanos(lost_ns);
    report.max = Duration::from_nanos(max_ns);
    Ok(report)
}

/// Probes every CPU in `cpus` at once (a thread per CPU), in `cpus`' order.
///
/// # Errors
/// The first error any probe met (see [`probe_cpu`]).
pub fn probe_cpus(cpus: &[usize], config: &JitterConfig) -> io::Result<Vec<JitterReport>> {
    thread::scope(|s| {
        let handles: Vec<_> = cpus
            .iter()
            .map(|&cpu| {
                thread::Builder::new()
                    .name(format!("jitter-{cpu}"))
                    .spawn_scoped(s, move || probe_cpu(cpu, config))
            })
            .collect::<io::Result<_>>()?;
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| io::Error::other("a jitter probe thread panicked"))?
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_add_up_and_time_lost_fits_in_the_run() {
        let cpus = affinity::thread_affinity().unwrap();
        let config = JitterConfig {
            duration: Duration::from_millis(30),
            threshold: Duration::from_micros(1),
        };
        let reports = probe_cpus(&cpus[..1], &config).unwrap();
        let r = &reports[0];
        assert_eq!(r.cpu, cpus[0]);
        assert!(r.elapsed >= config.duration);
        assert!(r.reads >= 64);
        assert!(r.lost <= r.elapsed);
        assert!(r.max <= r.lost || r.interruptions() == 0);
        assert_eq!(r.at_least(0), r.interruptions());
    }

    #[test]
    fn a_thread_sharing_the_cpu_shows_up_as_lost_time() {
        // A second busy thread pinned to the probed CPU must take a share of it away: the
        // scheduler gives it slices of at least ~0.1 ms, so the probe sees long gaps adding up
        // to a large fraction of the run.
        let cpu = affinity::thread_affinity().unwrap()[0];
        let config = JitterConfig {
            duration: Duration::from_millis(200),
            threshold: Duration::from_micros(1),
        };
        let stop = std::sync::atomic::AtomicBool::new(false);
        let r = thread::scope(|s| {
            s.spawn(|| {
                affinity::pin_current_thread(cpu).unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
            let r = probe_cpu(cpu, &config).unwrap();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            r
        });
        assert!(r.lost_fraction() > 0.2, "{r:?}");
        assert!(r.at_least(50_000) > 0, "{r:?}");
        assert!(r.max >= Duration::from_micros(100), "{r:?}");
    }

    #[test]
    fn bucket_arithmetic() {
        let r = JitterReport {
            buckets: [5, 4, 3, 2, 1, 1],
            elapsed: Duration::from_secs(2),
            lost: Duration::from_millis(20),
            ..JitterReport::default()
        };
        assert_eq!(r.interruptions(), 16);
        assert_eq!(r.at_least(200_000), 4);
        assert_eq!(r.at_least(1_000_000), 2);
        assert!((r.per_second() - 8.0).abs() < 1e-12);
        assert!((r.lost_fraction() - 0.01).abs() < 1e-12);
    }

    #[test]
    fn zero_duration_is_refused() {
        let config = JitterConfig {
            duration: Duration::ZERO,
            ..JitterConfig::default()
        };
        let err = probe_cpu(0, &config).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
