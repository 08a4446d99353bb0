//! Group `pool`: reusing a 1,024-f64 buffer through an object pool, single thread.
//!
//! Case `acquire_release`: one op = acquire a pooled 1,024-f64 buffer, write one element
//! through it, release it. Every pool is pre-filled with [`POOL_SIZE`] buffers, each built the
//! same way: zeroed storage for [`BUF_LEN`] elements, length 0. All impls hand out a buffer in
//! that state (empty, its storage dirty: nobody zero-fills) and write the element with a push,
//! so they do the same work. Impls, in order:
//! - `zerotick`: `zerotick_mem::Pool` with `MissPolicy::FailFast` and `ResetPolicy::Clear`
//!   (length back to 0 on release, O(1), contents kept); `try_push`.
//! - `zerotick-cache`: the same pool through a `PoolCache` of 16 (the thread's private stock,
//!   refilled and flushed 8 at a time): what a hot loop on one thread uses.
//! - `lockfree-object-pool`: `LinearObjectPool`, its reset closure calling `Vec::clear`; `push`.
//! - `object-pool`: `object_pool::Pool`, `pull` + drop. It has no reset hook, so the op clears
//!   the buffer itself before pushing, as its users must.
//! - `box-alloc`: `Vec::with_capacity(1024)` allocated, pushed to and dropped: what allocating
//!   code does, without zero-filling (as the pools, which hand back dirty storage).
//!
//! Case `acquire_release_zeroed`: the same op, but every impl hands out 1,024 zeroed values
//! (8 KiB zero-filled per op), for code that needs clean buffers:
//! - `zerotick`: the pool with `ResetPolicy::Zero` (the capacity zeroed on release).
//! - `lockfree-object-pool`, `object-pool`: the op zero-fills the buffer it pulled
//!   (`resize(1024, 0.0)`), then writes the element.
//! - `box-alloc`: `vec![0.0f64; 1024]` (`alloc_zeroed`), written and dropped.

use super::GroupResult;
use crate::harness::{Harness, Impl};
use lockfree_object_pool::LinearObjectPool;
use std::hint::black_box;
use std::ops::DerefMut;
use zerotick_mem::{AlignedBuf, MissPolicy, Pool, PoolCache, PoolError, ResetPolicy};

/// Objects in each pool.
pub const POOL_SIZE: usize = 64;
/// Elements (f64) in each pooled buffer.
pub const BUF_LEN: usize = 1024;

/// Runs the cases `acquire_release` and `acquire_release_zeroed`.
///
/// # Errors
/// If a zerotick pool cannot be built.
pub fn run(h: &mut Harness) -> GroupResult {
    let mut rows = dirty(h)?;
    rows.extend(zeroed(h)?);
    h.note(
        "acquire_release: no impl zero-fills (pools hand back dirty storage, box-alloc is \
         Vec::with_capacity); acquire_release_zeroed: every impl hands out 1,024 zeroed f64",
    );
    Ok(rows)
}

/// `acquire_release`: nobody zero-fills.
fn dirty(h: &mut Harness) -> GroupResult {
    let zerotick = Pool::new(POOL_SIZE, MissPolicy::FailFast, ResetPolicy::Clear, || {
        AlignedBuf::<f64>::with_capacity(BUF_LEN)
    })?;

    let cached = Pool::new(POOL_SIZE, MissPolicy::FailFast, ResetPolicy::Clear, || {
        AlignedBuf::<f64>::with_capacity(BUF_LEN)
    })?;
    let cache = PoolCache::new(&cached, 16)?;

    // `LinearObjectPool` builds objects lazily, a page at a time: pull `POOL_SIZE` at once to
    // pre-fill it. Its reset closure runs when an object is returned.
    let lockfree = LinearObjectPool::new(empty_vec, Vec::clear);
    drop((0..POOL_SIZE).map(|_| lockfree.pull()).collect::<Vec<_>>());

    let object_pool = object_pool::Pool::new(POOL_SIZE, empty_vec);

    Ok(h.case(
        "acquire_release",
        vec![
            Impl::per_op("zerotick", || push_one(zerotick.acquire())),
            Impl::per_op("zerotick-cache", || push_one(cache.acquire())),
            Impl::per_op("lockfree-object-pool", || {
                let mut buf = lockfree.pull();
                buf.push(1.0);
                black_box(&mut buf);
            }),
            Impl::per_op("object-pool", || {
                let mut buf = object_pool.pull(empty_vec);
                buf.clear();
                buf.push(1.0);
                black_box(&mut buf);
            }),
            Impl::per_op("box-alloc", || {
                let mut buf = Vec::<f64>::with_capacity(BUF_LEN);
                buf.push(1.0);
                black_box(&mut buf);
            }),
        ],
    ))
}

/// `acquire_release_zeroed`: every impl hands out [`BUF_LEN`] zeroed values.
fn zeroed(h: &mut Harness) -> GroupResult {
    let zerotick = Pool::new(POOL_SIZE, MissPolicy::FailFast, ResetPolicy::Zero, || {
        AlignedBuf::<f64>::with_capacity(BUF_LEN)
    })?;
    let lockfree = LinearObjectPool::new(empty_vec, Vec::clear);
    drop((0..POOL_SIZE).map(|_| lockfree.pull()).collect::<Vec<_>>());
    let object_pool = object_pool::Pool::new(POOL_SIZE, empty_vec);
    Ok(h.case(
        "acquire_release_zeroed",
        vec![
            Impl::per_op("zerotick", || push_one(zerotick.acquire())),
            Impl::per_op("lockfree-object-pool", || {
                let mut buf = lockfree.pull();
                zero_fill_and_write(&mut buf);
                black_box(&mut buf);
            }),
            Impl::per_op("object-pool", || {
                let mut buf = object_pool.pull(empty_vec);
                buf.clear();
                zero_fill_and_write(&mut buf);
                black_box(&mut buf);
            }),
            Impl::per_op("box-alloc", || {
                let mut buf = vec![0.0f64; BUF_LEN];
                buf[0] = 1.0;
                black_box(&mut buf);
            }),
        ],
    ))
}

/// A peer's zeroed-buffer op on an empty pulled `Vec`: 1,024 zeros, then one element written.
#[inline(always)]
fn zero_fill_and_write(buf: &mut Vec<f64>) {
    buf.resize(BUF_LEN, 0.0);
    buf[0] = 1.0;
}

/// The zerotick op body, shared by the pool and its cache: push one element into the
/// acquired buffer, then release it.
#[inline(always)]
fn push_one<G: DerefMut<Target = AlignedBuf<f64>>>(acquired: Result<G, PoolError>) {
    let Ok(mut buf) = acquired else {
        unreachable_miss()
    };
    if buf.try_push(1.0).is_err() {
        unreachable_miss();
    }
    black_box(&mut buf);
}

/// A peer pool's object: zeroed storage for [`BUF_LEN`] elements, length 0, like
/// `AlignedBuf::with_capacity`.
fn empty_vec() -> Vec<f64> {
    let mut v = vec![0.0f64; BUF_LEN];
    v.clear();
    v
}

/// Unreachable: one thread holds one buffer at a time from a pool of [`POOL_SIZE`], and a
/// buffer comes back empty with room for [`BUF_LEN`] elements.
#[cold]
#[inline(never)]
fn unreachable_miss() -> ! {
    panic!("zerotick pool exhausted, or a pooled buffer came back full")
}
