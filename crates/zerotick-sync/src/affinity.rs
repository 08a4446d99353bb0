//! Thread placement: affinity (Linux `sched_setaffinity`: pinning a thread to one CPU,
//! reading and restoring a thread's mask) and a thread's scheduling priority (its nice
//! value). The one home of this in the workspace (the pipeline's thread layout and the
//! benchmark harness use it).
//!
//! ```
//! let before = zerotick_sync::affinity::thread_affinity()?;
//! let cpu = before[0];
//! zerotick_sync::affinity::pin_current_thread(cpu)?;
//! assert_eq!(zerotick_sync::affinity::thread_affinity()?, [cpu]);
//! zerotick_sync::affinity::set_thread_affinity(&before)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::mem;

/// Pins the calling thread to exactly `cpu`, then checks that it runs there.
///
/// # Errors
/// `InvalidInput` if `cpu` does not fit in a `cpu_set_t`; the OS error if
/// `sched_setaffinity` refuses (for example a CPU outside this process's cgroup or mask);
/// `Other` if the thread afterwards reports a different CPU than `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    set_thread_affinity(&[cpu])?;
    // The kernel migrates the calling thread before `sched_setaffinity` returns, so from here on
    // it must report `cpu`.
    // SAFETY: `sched_getcpu` takes no arguments and only reads the current CPU number.
    let now = unsafe { libc::sched_getcpu() };
    if now < 0 {
        return Err(io::Error::last_os_error());
    }
    if now as usize != cpu {
        return Err(io::Error::other(format!(
            "pinned to cpu {cpu} but the thread runs on cpu {now}"
        )));
    }
    Ok(())
}

/// Sets the calling thread's nice value to `nice` (-20 ..= 19; higher runs less). On Linux
/// the nice value belongs to the thread (`setpriority(PRIO_PROCESS, tid)`), so a background
/// thread can yield its core to the latency-sensitive threads it shares it with. Lowering
/// priority needs no privilege; raising it does.
///
/// ```
/// zerotick_sync::affinity::set_current_thread_nice(5)?;
/// assert_eq!(zerotick_sync::affinity::current_thread_nice()?, 5);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// `InvalidInput` outside -20 ..= 19; the OS error if `setpriority` refuses (raising the
/// priority without the privilege).
pub fn set_current_thread_nice(nice: i32) -> io::Result<()> {
    if !(-20..=19).contains(&nice) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("nice value {nice} is outside -20..=19"),
        ));
    }
    // SAFETY: `gettid` takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    // SAFETY: `setpriority` takes plain integers; `tid` is this thread's id.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the calling thread's timer slack: how much later than asked the kernel may end the
/// thread's sleeps (Linux default 50 us), so that it can batch timer wake-ups. A thread that
/// sleeps until an event is due (a paced feed) wants it small.
///
/// ```
/// zerotick_sync::affinity::set_current_thread_timer_slack(std::time::Duration::from_micros(1))?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// `InvalidInput` for a zero slack (Linux reads 0 as "the default"); the OS error if `prctl`
/// refuses.
pub fn set_current_thread_timer_slack(slack: std::time::Duration) -> io::Result<()> {
    let ns = u64::try_from(slack.as_nanos()).unwrap_or(u64::MAX);
    if ns == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a timer slack of 0 means the default to Linux: ask for at least 1 ns",
        ));
    }
    // SAFETY: `prctl(PR_SET_TIMERSLACK, ns)` takes an integer and touches no memory of ours.
    let r = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's nice value.
///
/// # Errors
/// The OS error if `getpriority` fails.
pub fn current_thread_nice() -> io::Result<i32> {
    // SAFETY: `gettid` takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    // `getpriority` may legitimately return -1: clear errno first and check it after.
    // SAFETY: `__errno_location` returns this thread's errno slot, valid for the thread.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: `getpriority` takes plain integers; `tid` is this thread's id.
    let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) };
    if n == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error().is_some_and(|c| c != 0) {
            return Err(e);
        }
    }
    Ok(n)
}

/// Sets the calling thread's mask to `cpus`.
///
/// # Errors
/// `InvalidInput` if `cpus` is empty or a CPU does not fit in a `cpu_set_t`; the OS error if
/// `sched_setaffinity` refuses.
pub fn set_thread_affinity(cpus: &[usize]) -> io::Result<()> {
    if cpus.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no CPU given"));
    }
    // SAFETY: `cpu_set_t` is a plain bit array; all-zero is the valid empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    for &cpu in cpus {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cpu {cpu} is out of range (CPU_SETSIZE = {})",
                    libc::CPU_SETSIZE
                ),
            ));
        }
        // SAFETY: `cpu < CPU_SETSIZE` (checked above), so the bit lies inside `set`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 names the calling thread; `set` is a valid, initialised `cpu_set_t` and the
    // size passed is its exact size.
    let rc = unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's affinity mask, as CPU numbers, lowest first.
///
/// # Errors
/// If `sched_getaffinity` fails.
pub fn thread_affinity() -> io::Result<Vec<usize>> {
    // SAFETY: all-zero is the valid empty `cpu_set_t`.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: pid 0 names the calling thread; `set` is writable and exactly
    // `size_of::<cpu_set_t>()` bytes long.
    let rc = unsafe { libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let cpus = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu < CPU_SETSIZE`, so the bit lies inside `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    Ok(cpus)
}
