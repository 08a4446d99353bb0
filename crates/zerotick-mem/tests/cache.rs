//! `PoolCache`: a thread's private stock of a pool's objects.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use zerotick_mem::{AlignedBuf, MissPolicy, Pool, PoolCache, PoolError, ResetPolicy};

fn pool(n: usize, miss: MissPolicy) -> Pool<AlignedBuf<u64>> {
    Pool::new(n, miss, ResetPolicy::Keep, || AlignedBuf::zeroed(1)).unwrap()
}

#[test]
fn zero_capacity_is_an_error() {
    let p = pool(4, MissPolicy::FailFast);
    assert!(matches!(
        PoolCache::new(&p, 0),
        Err(PoolError::CapacityTooLarge { .. })
    ));
}

#[test]
fn refills_and_flushes_in_chains() {
    let p = pool(16, MissPolicy::FailFast);
    let cache = PoolCache::new(&p, 8).unwrap();
    let held: Vec<_> = (0..12).map(|_| cache.acquire().unwrap()).collect();
    // 12 acquisitions with refills of 4: 3 refills, every object lent.
    let s = cache.stats();
    assert_eq!(
        (s.hits, s.refills, s.idle, s.lent, s.misses),
        (12, 3, 0, 12, 0)
    );
    drop(held);
    // 12 returns into a stock of 8: one flush of 4 on the ninth.
    let s = cache.stats();
    assert_eq!((s.flushes, s.idle, s.lent), (1, 8, 0));
    let ps = p.stats();
    assert_eq!((ps.in_use, ps.cached), (8, 8));
    drop(cache);
    let ps = p.stats();
    assert_eq!((ps.hits, ps.misses, ps.in_use, ps.cached), (12, 0, 0, 0));
    assert_eq!(ps.high_water, 12);
}

#[test]
fn capacity_one_cache_still_works() {
    let p = pool(2, MissPolicy::FailFast);
    let cache = PoolCache::new(&p, 1).unwrap();
    for _ in 0..100 {
        let a = cache.acquire().unwrap();
        let b = cache.acquire().unwrap();
        assert!(matches!(
            cache.acquire(),
            Err(PoolError::Exhausted { capacity: 2 })
        ));
        drop((a, b));
    }
    drop(cache);
    let s = p.stats();
    assert_eq!(
        (s.hits, s.misses, s.exhausted, s.in_use, s.cached),
        (200, 100, 100, 0, 0)
    );
}

#[test]
fn cached_objects_are_reset_and_reused_lifo() {
    let p = Pool::new(4, MissPolicy::FailFast, ResetPolicy::Zero, || {
        AlignedBuf::<f64>::with_capacity(8)
    })
    .unwrap();
    let cache = PoolCache::new(&p, 4).unwrap();
    let mut g = cache.acquire().unwrap();
    g.try_push(3.0).unwrap();
    let addr = g.as_ptr();
    drop(g);
    let mut g = cache.acquire().unwrap();
    assert_eq!(g.as_ptr(), addr, "most recently returned comes back first");
    assert!(g.is_empty());
    g.set_len(8).unwrap();
    assert!(g.iter().all(|&x| x == 0.0));
}

#[test]
fn growth_through_a_cache_is_accounted() {
    let p = pool(1, MissPolicy::Grow { max: 3 });
    let cache = PoolCache::new(&p, 4).unwrap();
    let held: Vec<_> = (0..3).map(|_| cache.acquire().unwrap()).collect();
    assert!(cache.acquire().is_err());
    drop(held);
    assert_eq!(p.stats().cached, 3);
    drop(cache);
    let s = p.stats();
    assert_eq!(
        (s.capacity, s.hits, s.grown, s.exhausted, s.cached, s.in_use),
        (3, 1, 2, 1, 0, 0)
    );
    let all: Vec<_> = (0..3).map(|_| p.acquire().unwrap()).collect();
    assert_eq!(all.len(), 3, "every object is back on the shared stack");
}

#[test]
fn cache_guard_returns_during_unwinding() {
    let p = pool(1, MissPolicy::FailFast);
    let cache = PoolCache::new(&p, 2).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _g = cache.acquire().unwrap();
        panic!("boom");
    }));
    assert!(r.is_err());
    assert_eq!(cache.stats().lent, 0);
    assert!(cache.acquire().is_ok());
}

#[test]
fn caches_and_shared_acquirers_together() {
    const THREADS: usize = 4;
    const OPS: u64 = 50_000;
    let p = Arc::new(pool(12, MissPolicy::FailFast));
    let done: Vec<(u64, u64)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|t| {
                let p = p.clone();
                s.spawn(move || {
                    let (mut ok, mut err) = (0, 0);
                    let cache = PoolCache::new(p.clone(), 2 + t).unwrap();
                    for i in 0..OPS {
                        let r = if (i + t as u64).is_multiple_of(3) {
                            p.acquire().map(|mut g| {
                                let v = g[0];
                                std::hint::black_box(&mut *g);
                                g[0] = v + 1;
                            })
                        } else {
                            cache.acquire().map(|mut g| {
                                let v = g[0];
                                let w = cache.acquire(); // hold two sometimes
                                std::hint::black_box(&mut *g);
                                g[0] = v + 1;
                                if let Ok(mut w) = w {
                                    w[0] += 1;
                                    ok += 1;
                                } else {
                                    err += 1;
                                }
                            })
                        };
                        match r {
                            Ok(()) => ok += 1,
                            Err(PoolError::Exhausted { .. }) => err += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    (ok, err)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok: u64 = done.iter().map(|d| d.0).sum();
    let err: u64 = done.iter().map(|d| d.1).sum();
    let s = p.stats();
    assert_eq!((s.hits, s.misses), (ok, err));
    assert_eq!((s.in_use, s.cached), (0, 0));
    let all: Vec<_> = (0..12).map(|_| p.acquire().unwrap()).collect();
    assert_eq!(
        all.iter().map(|g| g[0]).sum::<u64>(),
        ok,
        "no object was held twice at once"
    );
}
