//! Group `ring`: moving `u64` items through bounded rings.
//!
//! Cases (`median_ns` is the time per item):
//! - `spsc_item`: the measuring thread (pinned to the first CPU) pushes `iters` items one call
//!   at a time; a consumer thread pinned to the second CPU pops them one call at a time. The
//!   time runs from the first push until the consumer has received the last item. A full or
//!   empty ring is retried after a spin-loop hint, the same way for every impl. Rings hold
//!   [`CAPACITY`] items. Impls: `zerotick` (`spsc::channel`), `rtrb` (`RingBuffer`),
//!   `crossbeam-arrayqueue` (`ArrayQueue` shared by both threads), `std-sync-channel`
//!   (`sync_channel`, `try_send` / `try_recv`: the blocking calls would park).
//! - `spsc_batch256`: as `spsc_item`, moving up to [`BATCH`] items per call through the
//!   zero-copy chunk APIs on both sides: the producer writes values in place into the lent
//!   slots and commits, the consumer sums the lent items in place and commits. Impls:
//!   `zerotick` (`write_chunk_uninit` / `read_chunk`), `rtrb` (`write_chunk_uninit` /
//!   `read_chunk`, sized by `slots()` since rtrb refuses a chunk larger than what is free).
//! - `mpmc_roundtrip`: one thread pushes one item then pops it (one op = push + pop) on a ring
//!   of [`CAPACITY`]: the uncontended cost of the two compare-exchanges. Impls: `zerotick`
//!   (`mpmc::Ring`), `crossbeam-arrayqueue`.
//!
//! Without a second CPU for the spsc cases the consumer runs unpinned (the report's pinned-CPU
//! list then shows one CPU).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use zerotick_sync::{mpmc, spsc};

use super::GroupResult;
use crate::harness::{Harness, Impl};
use crate::pin::spawn_pinned_scoped;

/// Items each ring holds.
pub const CAPACITY: usize = 4096;
/// Items per call in `spsc_batch256`.
pub const BATCH: usize = 256;

/// Runs the three cases.
///
/// # Errors
/// If a ring cannot be built.
pub fn run(h: &mut Harness) -> GroupResult {
    let cpu = consumer_cpu(h);
    let mut rows = spsc_item(h, cpu)?;
    rows.extend(spsc_batch(h, cpu)?);
    rows.extend(mpmc_roundtrip(h)?);
    Ok(rows)
}

fn spsc_item(h: &mut Harness, cpu: Option<usize>) -> GroupResult {
    let (mut zp, mut zc) = spsc::channel::<u64>(CAPACITY)?;
    let (mut rp, mut rc) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    let queue = ArrayQueue::<u64>::new(CAPACITY);
    let (mut sp, mut sc) = std::sync::mpsc::sync_channel::<u64>(CAPACITY);
    Ok(h.case(
        "spsc_item",
        vec![
            Impl::new("zerotick", move |iters| {
                cross(
                    iters,
                    cpu,
                    &mut zp,
                    &mut zc,
                    |p, v, _| u64::from(p.push(v).is_ok()),
                    |c| c.pop().ok(),
                )
            }),
            Impl::new("rtrb", move |iters| {
                cross(
                    iters,
                    cpu,
                    &mut rp,
                    &mut rc,
                    |p, v, _| u64::from(p.push(v).is_ok()),
                    |c| c.pop().ok(),
                )
            }),
            Impl::new("crossbeam-arrayqueue", {
                let (mut qp, mut qc) = (&queue, &queue);
                move |iters| {
                    cross(
                        iters,
                        cpu,
                        &mut qp,
                        &mut qc,
                        |q, v, _| u64::from(q.push(v).is_ok()),
                        |q| q.pop(),
                    )
                }
            }),
            Impl::new("std-sync-channel", move |iters| {
                cross(
                    iters,
                    cpu,
                    &mut sp,
                    &mut sc,
                    |s, v, _| u64::from(s.try_send(v).is_ok()),
                    |r| r.try_recv().ok(),
                )
            }),
        ],
    ))
}

fn spsc_batch(h: &mut Harness, cpu: Option<usize>) -> GroupResult {
    let (mut zp, mut zc) = spsc::channel::<u64>(CAPACITY)?;
    let (mut rp, mut rc) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    Ok(h.case(
        "spsc_batch256",
        vec![
            Impl::new("zerotick", move |iters| {
                cross_batch(
                    iters,
                    cpu,
                    &mut zp,
                    &mut zc,
                    |p, next, want| {
                        let Ok(mut chunk) = p.write_chunk_uninit(want) else {
                            return 0;
                        };
                        let n = chunk.len();
                        let (a, b) = chunk.as_mut_slices();
                        for (k, slot) in a.iter_mut().chain(b).enumerate() {
                            slot.write(next + k as u64);
                        }
                        // SAFETY: all `n` lent slots were written just above.
                        unsafe { chunk.commit(n) };
                        n as u64
                    },
                    |c| {
                        let Ok(chunk) = c.read_chunk(BATCH) else {
                            return (0, 0);
                        };
                        let (a, b) = chunk.as_slices();
                        let sum = a.iter().chain(b).fold(0u64, |s, v| s.wrapping_add(*v));
                        let n = chunk.len();
                        chunk.commit_all();
                        (n as u64, sum)
                    },
                )
            }),
            Impl::new("rtrb", move |iters| {
                cross_batch(
                    iters,
                    cpu,
                    &mut rp,
                    &mut rc,
                    |p, next, want| {
                        let n = want.min(p.slots());
                        let Ok(mut chunk) = p.write_chunk_uninit(n) else {
                            return 0;
                        };
                        let (a, b) = chunk.as_mut_slices();
                        for (k, slot) in a.iter_mut().chain(b).enumerate() {
                            slot.write(next + k as u64);
                        }
                        // SAFETY: all `n` lent slots were written just above.
                        unsafe { chunk.commit_all() };
                        n as u64
                    },
                    |c| {
                        let n = BATCH.min(c.slots());
                        let Ok(chunk) = c.read_chunk(n) else {
                            return (0, 0);
                        };
                        let (a, b) = chunk.as_slices();
                        let sum = a.iter().chain(b).fold(0u64, |s, v| s.wrapping_add(*v));
                        chunk.commit_all();
                        (n as u64, sum)
                    },
                )
            }),
        ],
    ))
}

fn mpmc_roundtrip(h: &mut Harness) -> GroupResult {
    let ring = mpmc::Ring::<u64>::new(CAPACITY)?;
    let queue = ArrayQueue::<u64>::new(CAPACITY);
    let mut i = 0u64;
    let mut j = 0u64;
    Ok(h.case(
        "mpmc_roundtrip",
        vec![
            Impl::per_op("zerotick", || {
                i = i.wrapping_add(1);
                if ring.push(black_box(i)).is_err() {
                    unreachable_full();
                }
                black_box(ring.pop().ok());
            }),
            Impl::per_op("crossbeam-arrayqueue", || {
                j = j.wrapping_add(1);
                if queue.push(black_box(j)).is_err() {
                    unreachable_full();
                }
                black_box(queue.pop());
            }),
        ],
    ))
}

/// Moves `iters` items one at a time from this thread through `push` to a consumer thread
/// (pinned to `cpu`) calling `pop`; returns the time from the first push until the consumer
/// has the last item.
fn cross<P: Send, C: Send>(
    iters: u64,
    cpu: Option<usize>,
    producer: &mut P,
    consumer: &mut C,
    mut push: impl FnMut(&mut P, u64, u64) -> u64,
    mut pop: impl FnMut(&mut C) -> Option<u64> + Send,
) -> Duration {
    cross_batch(
        iters,
        cpu,
        producer,
        consumer,
        |p, next, _| push(p, next, 1),
        move |c| match pop(c) {
            Some(v) => (1, v),
            None => (0, 0),
        },
    )
}

/// As [`cross`], with calls that move several items: `produce(p, next, want)` pushes items
/// `next ..` (at most `want`) and returns how many; `consume(c)` returns how many it took and
/// their sum.
fn cross_batch<P: Send, C: Send>(
    iters: u64,
    cpu: Option<usize>,
    producer: &mut P,
    consumer: &mut C,
    mut produce: impl FnMut(&mut P, u64, usize) -> u64,
    mut consume: impl FnMut(&mut C) -> (u64, u64) + Send,
) -> Duration {
    let ready = AtomicBool::new(false);
    std::thread::scope(|s| {
        let ready = &ready;
        let mut body = move || {
            // Release: pairs with the Acquire load below; the consumer is pinned and spinning.
            ready.store(true, Ordering::Release);
            let (mut got, mut sum) = (0u64, 0u64);
            while got < iters {
                let (n, s) = consume(consumer);
                if n == 0 {
                    std::hint::spin_loop();
                }
                got += n;
                sum = sum.wrapping_add(s);
            }
            let end = Instant::now();
            black_box(sum);
            end
        };
        let handle = match cpu {
            Some(cpu) => spawn_pinned_scoped(s, cpu, body).map(|h| (h, true)),
            None => std::thread::Builder::new()
                .spawn_scoped(s, move || Ok(body()))
                .map(|h| (h, false)),
        };
        let (handle, _) = match handle {
            Ok(h) => h,
            Err(e) => panic!("cannot spawn the consumer thread: {e}"),
        };
        while !ready.load(Ordering::Acquire) && !handle.is_finished() {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        let mut next = 0u64;
        while next < iters {
            let want = (iters - next).min(BATCH as u64) as usize;
            let n = produce(producer, next, want);
            if n == 0 {
                std::hint::spin_loop();
            }
            next += n;
        }
        match handle.join() {
            Ok(Ok(end)) => end.duration_since(start),
            Ok(Err(e)) => panic!("cannot pin the consumer thread: {e}"),
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

/// The CPU for the spsc consumer: the second of [`Harness::pick_two_cpus`]. Pinning there is
/// verified by `spawn_pinned_scoped`.
fn consumer_cpu(h: &mut Harness) -> Option<usize> {
    h.pick_two_cpus().map(|[_, consumer]| consumer)
}

/// Unreachable: one thread pushes one item then pops it from a ring of [`CAPACITY`].
#[cold]
#[inline(never)]
fn unreachable_full() -> ! {
    panic!("mpmc ring full with at most one item in it")
}
