//! Steady state allocates nothing: a counting global allocator watches the hot paths.
//!
//! Each thread counts its own allocations, and only while it is inside `counting`, so the test
//! harness's threads and the other tests running in parallel cannot disturb the figure.

use zerotick_mem::counting::counting;
use zerotick_mem::{
    AlignedBuf, Arena, MissPolicy, Pool, PoolCache, PoolConfig, PoolManager, ResetPolicy,
};

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

#[test]
fn counter_sees_allocations() {
    // The instrument works: a test that cannot fail proves nothing.
    let n = counting(|| drop(std::hint::black_box(vec![1u8; 100])));
    assert_eq!(n, 1);
}

#[test]
fn pool_acquire_release_allocates_nothing() {
    let pool = Pool::new(8, MissPolicy::Grow { max: 16 }, ResetPolicy::Zero, || {
        AlignedBuf::<f64>::zeroed(1024)
    })
    .unwrap();
    let n = counting(|| {
        for i in 0..100_000 {
            let mut a = pool.acquire().unwrap();
            let mut b = pool.acquire().unwrap();
            a.set_len(1024).unwrap();
            b.set_len(1024).unwrap();
            a[i % 1024] = b[0] + 1.0;
        }
        // Holding 16 grows the pool by 8; a miss at the hard cap is an error, not an allocation.
        let held: [_; 16] = std::array::from_fn(|_| pool.acquire());
        assert!(held.iter().all(Result::is_ok));
        assert!(pool.acquire().is_err());
    });
    // Growing 8 objects is allowed to allocate (8 buffers); nothing else may.
    let grown = pool.stats().grown;
    assert_eq!(n, grown, "only growth allocates");
    assert_eq!(grown, 8);
    // A second round over the grown pool: nothing at all.
    let n = counting(|| {
        for _ in 0..100_000 {
            let _g = pool.acquire().unwrap();
        }
        let _ = pool.stats();
    });
    assert_eq!(n, 0);
}

#[test]
fn pool_across_threads_allocates_nothing() {
    let pool = Pool::new(4, MissPolicy::FailFast, ResetPolicy::Clear, || {
        AlignedBuf::<f64>::with_capacity(1024)
    })
    .unwrap();
    let counts: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    counting(|| {
                        for i in 0..50_000 {
                            if let Ok(mut g) = pool.acquire() {
                                g.try_push(i as f64).unwrap();
                            }
                        }
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(counts, vec![0; 4]);
}

#[test]
fn manager_pools_allocate_nothing_after_construction() {
    let pools = PoolManager::new(PoolConfig {
        prefault: false,
        ..PoolConfig::default()
    })
    .unwrap();
    let n = counting(|| {
        for _ in 0..10_000 {
            let mut b = pools.batches().acquire_owned().unwrap();
            while let Some(row) = b.push_row_mut() {
                row[0] = 1.0;
            }
            let mut v = pools.vectors().acquire().unwrap();
            v.try_push(1.0).unwrap();
            let m = pools.matrices().acquire().unwrap();
            assert_eq!(m.rows(), 1024);
        }
        let _ = pools.stats();
    });
    assert_eq!(n, 0);
}

#[test]
fn arena_alloc_and_reset_allocate_nothing() {
    let mut arena = Arena::new(1 << 20);
    let n = counting(|| {
        for _ in 0..1_000 {
            for _ in 0..100 {
                let s = arena.try_alloc_zeroed::<f64>(128).unwrap();
                s[0] = 1.0;
            }
            assert!(arena.try_alloc_zeroed::<f64>(1 << 20).is_err());
            arena.reset();
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn pool_cache_allocates_nothing_after_construction() {
    let pool = Pool::new(32, MissPolicy::FailFast, ResetPolicy::Clear, || {
        AlignedBuf::<f64>::with_capacity(1024)
    })
    .unwrap();
    let cache = PoolCache::new(&pool, 8).unwrap();
    let n = counting(|| {
        for i in 0..100_000 {
            // Hold up to 12 at once so refills and flushes happen too.
            let held: [_; 12] = std::array::from_fn(|_| cache.acquire().unwrap());
            if i % 2 == 0 {
                drop(held);
            }
            let mut g = cache.acquire().unwrap();
            g.try_push(1.0).unwrap();
        }
        cache.flush();
        let _ = (cache.stats(), pool.stats());
    });
    assert_eq!(n, 0);
    assert!(cache.stats().refills > 1 && cache.stats().flushes > 1);
}
