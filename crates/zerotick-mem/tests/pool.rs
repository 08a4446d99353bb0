//! Public behaviour of `Pool`: policies, stats, guards, drops, threads.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use zerotick_mem::{AlignedBuf, MissPolicy, Pool, PoolError, ResetPolicy, Reusable};

fn vectors(n: usize, miss: MissPolicy, reset: ResetPolicy) -> Pool<AlignedBuf<f64>> {
    Pool::new(n, miss, reset, || AlignedBuf::zeroed(1024)).unwrap()
}

#[test]
fn capacity_zero_fails_fast() {
    let pool = vectors(0, MissPolicy::FailFast, ResetPolicy::Clear);
    assert_eq!(
        pool.acquire().unwrap_err(),
        PoolError::Exhausted { capacity: 0 }
    );
    let s = pool.stats();
    assert_eq!(
        (s.hits, s.misses, s.exhausted, s.in_use, s.capacity),
        (0, 1, 1, 0, 0)
    );
    assert_eq!(s.hit_rate(), Some(0.0));
}

#[test]
fn capacity_one_round_trips() {
    let pool = vectors(1, MissPolicy::FailFast, ResetPolicy::Keep);
    assert_eq!(pool.stats().hit_rate(), None);
    for i in 0..10 {
        let mut g = pool.acquire().unwrap();
        assert!(matches!(
            pool.acquire(),
            Err(PoolError::Exhausted { capacity: 1 })
        ));
        g[0] += 1.0;
        assert_eq!(g[0], f64::from(i + 1), "Keep policy keeps contents");
    }
    let s = pool.stats();
    assert_eq!((s.hits, s.misses, s.in_use, s.high_water), (10, 10, 0, 1));
}

#[test]
fn every_object_is_sized_and_aligned() {
    for cap in [0usize, 1, 7, 8, 9, 63, 64, 65, 1000, 1024, 4097, 1 << 20] {
        let pool = Pool::new(3, MissPolicy::FailFast, ResetPolicy::Clear, move || {
            AlignedBuf::<f32>::with_capacity(cap)
        })
        .unwrap();
        let guards: Vec<_> = (0..3).map(|_| pool.acquire().unwrap()).collect();
        for g in &guards {
            assert_eq!(g.capacity(), cap);
            assert_eq!(g.as_ptr() as usize % 64, 0, "capacity {cap}");
        }
    }
}

#[test]
fn reset_policies() {
    let clear = vectors(1, MissPolicy::FailFast, ResetPolicy::Clear);
    clear.acquire().unwrap()[5] = 3.0;
    let g = clear.acquire().unwrap();
    assert_eq!(g.len(), 0, "Clear resets the length");
    drop(g);
    let mut g = clear.acquire().unwrap();
    g.set_len(1024).unwrap();
    assert_eq!(g[5], 3.0, "Clear keeps contents");
    drop(g);

    let zero = vectors(1, MissPolicy::FailFast, ResetPolicy::Zero);
    zero.acquire().unwrap()[5] = 3.0;
    let mut g = zero.acquire().unwrap();
    assert_eq!(g.len(), 0);
    g.set_len(1024).unwrap();
    assert!(g.iter().all(|&x| x == 0.0), "Zero zeroes the capacity");
}

#[test]
fn grow_up_to_hard_cap_then_fail() {
    let pool = vectors(1, MissPolicy::Grow { max: 3 }, ResetPolicy::Clear);
    let a = pool.acquire().unwrap();
    let b = pool.acquire().unwrap();
    let c = pool.acquire().unwrap();
    assert_eq!(b.capacity(), 1024, "grown objects are sized by the factory");
    assert!(matches!(
        pool.acquire(),
        Err(PoolError::Exhausted { capacity: 3 })
    ));
    drop((a, b, c));
    let s = pool.stats();
    assert_eq!(
        (s.capacity, s.hits, s.misses, s.grown, s.exhausted),
        (3, 1, 3, 2, 1)
    );
    assert_eq!((s.in_use, s.high_water), (0, 3));
    // Grown objects are reused like the others.
    let _all: Vec<_> = (0..3).map(|_| pool.acquire().unwrap()).collect();
    assert_eq!(pool.stats().hits, 4);
}

#[test]
fn bad_configs_are_errors() {
    let e = Pool::new(4, MissPolicy::Grow { max: 2 }, ResetPolicy::Keep, || {
        AlignedBuf::<u8>::zeroed(1)
    });
    assert_eq!(
        e.unwrap_err(),
        PoolError::GrowCapBelowInitial { initial: 4, max: 2 }
    );
    let e = Pool::new(
        0,
        MissPolicy::Grow { max: usize::MAX },
        ResetPolicy::Keep,
        || AlignedBuf::<u8>::zeroed(1),
    );
    assert!(matches!(e.unwrap_err(), PoolError::CapacityTooLarge { .. }));
    let e = Pool::try_new(2, MissPolicy::FailFast, ResetPolicy::Keep, || {
        AlignedBuf::<u64>::try_zeroed(usize::MAX)
    });
    assert!(matches!(e.unwrap_err(), PoolError::Alloc(_)));
}

/// Counts constructions and drops so leaks and double drops show.
struct Counted {
    drops: Arc<AtomicUsize>,
    resets: usize,
}

impl Reusable for Counted {
    fn clear(&mut self) {
        self.resets += 1;
    }
    fn zero(&mut self) {
        self.resets += 1;
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted(
    initial: usize,
    miss: MissPolicy,
) -> (Pool<Counted>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let drops = Arc::new(AtomicUsize::new(0));
    let built = Arc::new(AtomicUsize::new(0));
    let (d, b) = (drops.clone(), built.clone());
    let pool = Pool::new(initial, miss, ResetPolicy::Clear, move || {
        b.fetch_add(1, Ordering::SeqCst);
        Counted {
            drops: d.clone(),
            resets: 0,
        }
    })
    .unwrap();
    (pool, drops, built)
}

#[test]
fn every_object_dropped_exactly_once() {
    let (pool, drops, built) = counted(3, MissPolicy::Grow { max: 5 });
    let guards: Vec<_> = (0..5).map(|_| pool.acquire().unwrap()).collect();
    drop(guards);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "returning does not drop");
    assert_eq!(built.load(Ordering::SeqCst), 5);
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 5);
}

#[test]
fn unused_grow_slots_are_not_dropped() {
    let (pool, drops, _) = counted(1, MissPolicy::Grow { max: 100 });
    drop(pool.acquire().unwrap());
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn guard_returns_during_unwinding() {
    let (pool, _, _) = counted(1, MissPolicy::FailFast);
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _g = pool.acquire().unwrap();
        panic!("boom");
    }));
    assert!(r.is_err());
    let g = pool
        .acquire()
        .expect("the object came back during the panic");
    assert_eq!(g.resets, 1, "and was reset");
    drop(g);

    let pool = Arc::new(vectors(1, MissPolicy::FailFast, ResetPolicy::Clear));
    let p = pool.clone();
    let joined = std::thread::spawn(move || {
        let _g = p.acquire_owned().unwrap();
        panic!("worker dies holding the object");
    })
    .join();
    assert!(joined.is_err());
    assert_eq!(pool.stats().in_use, 0);
    assert!(pool.acquire().is_ok());
}

#[test]
fn owned_guards_cross_threads_and_keep_the_pool_alive() {
    let (pool, drops, _) = counted(2, MissPolicy::FailFast);
    let pool = Arc::new(pool);
    let g = pool.acquire_owned().unwrap();
    let weak = Arc::downgrade(&pool);
    drop(pool);
    let h = std::thread::spawn(move || {
        assert_eq!(g.resets, 0);
        drop(g);
    });
    h.join().unwrap();
    assert!(weak.upgrade().is_none(), "last guard dropped the pool");
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn warm_up_counts_nothing() {
    let mut pool = vectors(4, MissPolicy::FailFast, ResetPolicy::Clear);
    pool.warm_up();
    let s = pool.stats();
    assert_eq!((s.hits, s.misses, s.in_use, s.high_water), (0, 0, 0, 0));
}

#[test]
fn footprint_counts_objects() {
    let pool = vectors(10, MissPolicy::FailFast, ResetPolicy::Clear);
    assert!(pool.footprint_bytes() >= 10 * 1024 * 8);
    assert!(pool.footprint_bytes() < 10 * 1024 * 8 + 10 * 256);
}

/// 8 threads, 10^6 acquire/release in all, on a pool smaller than the thread count: every
/// object is held by one thread at a time and the stats add up exactly.
#[test]
fn eight_threads_hammering_one_pool() {
    const THREADS: usize = 8;
    const OPS: usize = 1_000_000 / THREADS;
    let pool = Pool::new(4, MissPolicy::FailFast, ResetPolicy::Keep, || {
        AlignedBuf::<u64>::zeroed(2)
    })
    .unwrap();
    let (hits, misses): (Vec<u64>, Vec<u64>) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let (mut ok, mut err) = (0u64, 0u64);
                    for _ in 0..OPS {
                        match pool.acquire() {
                            Ok(mut g) => {
                                // Non-atomic read-modify-write: a lost update means two
                                // threads held the object at once.
                                let v = g[0];
                                std::hint::black_box(&mut *g);
                                g[0] = v + 1;
                                g[1] = g[1].wrapping_add(v);
                                ok += 1;
                            }
                            Err(PoolError::Exhausted { .. }) => err += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    (ok, err)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).unzip()
    });
    let (hits, misses): (u64, u64) = (hits.iter().sum(), misses.iter().sum());
    assert_eq!(hits + misses, (THREADS * OPS) as u64);
    let s = pool.stats();
    assert_eq!(
        (s.hits, s.misses, s.exhausted, s.grown),
        (hits, misses, misses, 0)
    );
    assert_eq!(s.in_use, 0);
    assert!(s.high_water >= 1 && s.high_water <= 4);
    let all: Vec<_> = (0..4).map(|_| pool.acquire().unwrap()).collect();
    assert_eq!(
        all.iter().map(|g| g[0]).sum::<u64>(),
        hits,
        "no update lost"
    );
}

#[test]
fn growing_from_many_threads_respects_the_cap() {
    let (pool, drops, built) = counted(0, MissPolicy::Grow { max: 6 });
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    let _g = pool.acquire();
                }
            });
        }
    });
    let s = pool.stats();
    assert!(s.capacity <= 6 && s.grown as usize == s.capacity);
    assert_eq!(s.misses, s.grown + s.exhausted);
    assert_eq!(s.hits + s.misses, 80_000);
    drop(pool);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        built.load(Ordering::SeqCst),
        "losing builders' objects are dropped too"
    );
}

/// Releases in every order against the acquires (the release's first compare-exchange, against
/// the head its acquire installed, holds only when nothing moved in between): the free stack
/// stays exact, so `in_use`, the high-water mark and LIFO reuse are right after each step, and
/// grown objects (released before any acquire from the stack) go back too.
#[test]
fn release_in_any_order_keeps_the_stack_exact() {
    let pool = Pool::new(3, MissPolicy::Grow { max: 5 }, ResetPolicy::Keep, || {
        AlignedBuf::<u64>::zeroed(1)
    })
    .unwrap();
    let tag = |g: &mut AlignedBuf<u64>, v: u64| {
        g[0] = v;
        v
    };
    // Nested: each release finds the head its acquire left.
    for round in 0..3 {
        let mut a = pool.acquire().unwrap();
        let mut b = pool.acquire().unwrap();
        tag(&mut a, 10 + round);
        tag(&mut b, 20 + round);
        assert_eq!(pool.stats().in_use, 2);
        drop(b);
        assert_eq!(pool.stats().in_use, 1);
        drop(a);
        assert_eq!(pool.stats().in_use, 0);
    }
    // Crossed: `a`'s head moved (b was taken after it), then `b`'s moved (a went back).
    let mut a = pool.acquire().unwrap();
    let mut b = pool.acquire().unwrap();
    let (ta, tb) = (tag(&mut a, 1), tag(&mut b, 2));
    drop(a);
    assert_eq!(pool.stats().in_use, 1);
    drop(b);
    assert_eq!(pool.stats().in_use, 0);
    // LIFO: `b` went back last, so it comes out first, then `a`, then the untouched third.
    let x = pool.acquire().unwrap();
    let y = pool.acquire().unwrap();
    let z = pool.acquire().unwrap();
    assert_eq!((x[0], y[0]), (tb, ta));
    assert_eq!(pool.stats().in_use, 3);
    // Two grown objects, released in crossed order with a stack object.
    let g1 = pool.acquire().unwrap();
    let g2 = pool.acquire().unwrap();
    assert!(pool.acquire().is_err());
    drop(g1);
    drop(y);
    drop(g2);
    let s = pool.stats();
    assert_eq!((s.in_use, s.capacity, s.high_water, s.grown), (2, 5, 5, 2));
    drop((x, z));
    assert_eq!(pool.stats().in_use, 0);
    // All five come out again, distinct, and the pool is then empty.
    let all: Vec<_> = (0..5).map(|_| pool.acquire().unwrap()).collect();
    let mut ptrs: Vec<_> = all.iter().map(|g| g.as_ptr()).collect();
    ptrs.sort();
    ptrs.dedup();
    assert_eq!(ptrs.len(), 5);
    assert!(pool.acquire().is_err());
    assert_eq!(pool.stats().high_water, 5);
}
