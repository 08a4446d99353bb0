//! Pinning threads to CPUs (Linux `sched_setaffinity`), verified with `sched_getcpu`.
//!
//! A benchmark thread that migrates between cores mid-sample measures the scheduler, not the
//! code. Every measuring thread is pinned to exactly one CPU, and the pin is checked: the thread
//! must report that CPU afterwards, otherwise the caller gets an error instead of silently
//! unpinned numbers.

use std::io;
use std::sync::OnceLock;
use std::thread::{self, JoinHandle, Scope, ScopedJoinHandle};

pub use zerotick_sync::affinity::pin_current_thread;

/// The CPUs this process may run on, read once (the first call, which `main` makes before it
/// pins the measuring thread) and remembered: after pinning, the calling thread's own mask
/// says only its one CPU, which would hide the others from `pick_cpus`.
///
/// # Errors
/// If `sched_getaffinity` fails.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    static ALLOWED: OnceLock<Result<Vec<usize>, i32>> = OnceLock::new();
    ALLOWED
        .get_or_init(|| read_affinity().map_err(|e| e.raw_os_error().unwrap_or(0)))
        .clone()
        .map_err(io::Error::from_raw_os_error)
}

/// The calling thread's affinity mask, as CPU numbers.
fn read_affinity() -> io::Result<Vec<usize>> {
    zerotick_sync::affinity::thread_affinity()
}

/// Picks `n` distinct CPUs this process may use for `n` busy threads, lowest numbers first.
///
/// Returns `None` when fewer than `n` CPUs are in the affinity mask, or when
/// `available_parallelism` (which also counts cgroup CPU quotas) is below `n`: two spinning
/// threads sharing one CPU's worth of quota would measure throttling.
pub fn pick_cpus(n: usize) -> Option<Vec<usize>> {
    // Not `available_parallelism`: it reads the calling thread's mask, which is one CPU
    // once the measuring thread is pinned.
    let allowed = allowed_cpus().ok()?;
    if allowed.len() < n {
        return None;
    }
    Some(allowed[..n].to_vec())
}

/// `[the calling thread's CPU, another online CPU]`, for a pair of threads when
/// [`pick_cpus`] finds fewer than two: it reads the affinity remembered by [`allowed_cpus`],
/// which is one CPU if the calling thread was already pinned when it was first read. Pinning
/// to the other CPU is still verified by [`spawn_pinned`] and [`spawn_pinned_scoped`].
pub fn this_and_another_cpu() -> Option<[usize; 2]> {
    // SAFETY: `sched_getcpu` takes no arguments and only reads the current CPU number.
    let here = usize::try_from(unsafe { libc::sched_getcpu() }).ok()?;
    // SAFETY: `sysconf` only reads a system constant.
    let online = usize::try_from(unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).ok()?;
    let other = (0..online).find(|&c| c != here)?;
    Some([here, other])
}

/// Spawns a thread pinned to `cpu` that runs `f`.
///
/// The thread pins itself before calling `f`; if pinning fails, `f` is not run and joining
/// gives the pinning error.
///
/// # Errors
/// The outer error if the thread cannot be spawned; the inner one (on join) if it could not be
/// pinned.
pub fn spawn_pinned<F, T>(cpu: usize, f: F) -> io::Result<JoinHandle<io::Result<T>>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    thread::Builder::new()
        .name(format!("bench-cpu{cpu}"))
        .spawn(move || pin_current_thread(cpu).map(|()| f()))
}

/// Like [`spawn_pinned`], inside a [`std::thread::scope`] so `f` may borrow from the caller.
///
/// # Errors
/// As [`spawn_pinned`].
pub fn spawn_pinned_scoped<'scope, 'env, F, T>(
    scope: &'scope Scope<'scope, 'env>,
    cpu: usize,
    f: F,
) -> io::Result<ScopedJoinHandle<'scope, io::Result<T>>>
where
    F: FnOnce() -> T + Send + 'scope,
    T: Send + 'scope,
{
    thread::Builder::new()
        .name(format!("bench-cpu{cpu}"))
        .spawn_scoped(scope, move || pin_current_thread(cpu).map(|()| f()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reports the CPU the calling thread runs on.
    fn current_cpu() -> i32 {
        // SAFETY: `sched_getcpu` takes no arguments and only reads the current CPU number.
        unsafe { libc::sched_getcpu() }
    }

    #[test]
    fn two_threads_pinned_to_two_cpus_report_them() {
        let allowed = allowed_cpus().expect("sched_getaffinity");
        let cpus: Vec<usize> = if allowed.contains(&0) && allowed.contains(&1) {
            vec![0, 1]
        } else if allowed.len() >= 2 {
            allowed[..2].to_vec()
        } else {
            eprintln!("skipped: fewer than 2 CPUs allowed ({allowed:?})");
            return;
        };
        let handles: Vec<_> = cpus
            .iter()
            .map(|&cpu| {
                spawn_pinned(cpu, || {
                    // Give the scheduler a chance to move us if the pin did not hold.
                    let mut seen = Vec::new();
                    for _ in 0..100 {
                        seen.push(current_cpu());
                        thread::yield_now();
                    }
                    seen
                })
                .expect("spawn")
            })
            .collect();
        for (cpu, handle) in cpus.iter().zip(handles) {
            let seen = handle.join().expect("join").expect("pin");
            assert!(
                seen.iter().all(|&c| c as usize == *cpu),
                "cpu {cpu}: saw {seen:?}"
            );
        }
    }

    #[test]
    fn pinning_to_a_cpu_outside_the_set_fails() {
        let err = pin_current_thread(libc::CPU_SETSIZE as usize).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // The last representable CPU is almost surely absent; the kernel must refuse it.
        let last = libc::CPU_SETSIZE as usize - 1;
        if !allowed_cpus().unwrap().contains(&last) {
            let handle = spawn_pinned(last, || ()).unwrap();
            assert!(handle.join().unwrap().is_err());
        }
    }

    #[test]
    fn pick_cpus_respects_the_mask() {
        let allowed = allowed_cpus().unwrap();
        assert_eq!(pick_cpus(1).unwrap()[0], allowed[0]);
        assert!(pick_cpus(allowed.len() + 1).is_none());
    }
}
