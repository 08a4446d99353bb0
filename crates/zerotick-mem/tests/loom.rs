//! loom models of the pool's free stack. Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p zerotick-mem --test loom --release`
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use zerotick_mem::{AlignedBuf, MissPolicy, Pool, PoolError, ResetPolicy};

/// Explores every interleaving with at most 3 preemptions: the bound loom's authors suggest,
/// which finds the known classes of bugs while keeping the models to seconds.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

fn pool(initial: usize, miss: MissPolicy) -> Arc<Pool<AlignedBuf<u64>>> {
    Arc::new(Pool::new(initial, miss, ResetPolicy::Keep, || AlignedBuf::zeroed(1)).unwrap())
}

/// Bumps the object's counter through the guard; loom's cell tracking fails the model if two
/// threads hold the same object at once.
fn use_once(p: &Pool<AlignedBuf<u64>>) -> bool {
    match p.acquire() {
        Ok(mut g) => {
            g[0] += 1;
            true
        }
        Err(PoolError::Exhausted { .. }) => false,
        Err(e) => panic!("{e}"),
    }
}

fn total(p: &Pool<AlignedBuf<u64>>) -> u64 {
    let n = p.capacity();
    let guards: Vec<_> = (0..n).map(|_| p.acquire().unwrap()).collect();
    guards.iter().map(|g| g[0]).sum()
}

#[test]
fn two_threads_share_one_object() {
    model(|| {
        let p = pool(1, MissPolicy::FailFast);
        let q = p.clone();
        let t = thread::spawn(move || use_once(&q) as u64);
        let mine = use_once(&p) as u64;
        let theirs = t.join().unwrap();
        let s = p.stats();
        assert_eq!(s.hits, mine + theirs);
        assert_eq!(s.hits + s.misses, 2);
        assert_eq!(s.in_use, 0);
        assert_eq!(total(&p), mine + theirs);
    });
}

#[test]
fn aba_on_two_objects() {
    // Thread B pops A and B and pushes them back in another order while thread A is between
    // reading the top's link and its compare-exchange: the pops tag must make that fail.
    model(|| {
        let p = pool(2, MissPolicy::FailFast);
        let q = p.clone();
        let t = thread::spawn(move || {
            let a = q.acquire().unwrap();
            let b = q.acquire();
            drop(a);
            drop(b);
        });
        let ok = use_once(&p);
        t.join().unwrap();
        let s = p.stats();
        assert_eq!(s.in_use, 0);
        assert_eq!(s.hits + s.misses, 3);
        assert_eq!(total(&p), ok as u64);
        assert!(s.high_water <= 2);
    });
}

#[test]
fn concurrent_growth_respects_the_cap() {
    model(|| {
        let p = pool(0, MissPolicy::Grow { max: 1 });
        let q = p.clone();
        let t = thread::spawn(move || use_once(&q));
        let mine = use_once(&p);
        let theirs = t.join().unwrap();
        let s = p.stats();
        assert_eq!(s.capacity, 1);
        assert_eq!(s.grown + s.hits, u64::from(mine) + u64::from(theirs));
        assert!(mine || theirs);
    });
}

#[test]
fn cache_chains_against_a_shared_acquirer() {
    // A cache of 4 refills a chain of 2 from a pool of 3 and, when dropped, flushes a chain
    // of 2 back, while another thread takes and returns objects one at a time.
    use zerotick_mem::PoolCache;
    model(|| {
        let p = pool(3, MissPolicy::FailFast);
        let q = p.clone();
        let t = thread::spawn(move || use_once(&q) as u64);
        let cache = PoolCache::new(p.clone(), 4).unwrap();
        let mine = match cache.acquire() {
            Ok(mut g) => {
                g[0] += 1;
                1
            }
            Err(_) => 0,
        };
        drop(cache);
        let theirs = t.join().unwrap();
        let s = p.stats();
        assert_eq!((s.in_use, s.cached), (0, 0));
        assert_eq!(s.hits, mine + theirs);
        assert_eq!(total(&p), mine + theirs);
    });
}

#[test]
fn releases_race_acquires_on_the_head_hint() {
    // Every release first compare-exchanges against the head its acquire installed; the other
    // thread's acquires and releases move the head in between, in every order, so that guess
    // fails or holds. The stack must stay exact: all acquires of a pool of 2 by two threads
    // holding one object each succeed, and the depths give `in_use == 0` at the end.
    model(|| {
        let p = pool(2, MissPolicy::FailFast);
        let q = p.clone();
        let t = thread::spawn(move || u64::from(use_once(&q)) + u64::from(use_once(&q)));
        let mine = u64::from(use_once(&p));
        let theirs = t.join().unwrap();
        assert_eq!(mine + theirs, 3);
        let s = p.stats();
        assert_eq!((s.in_use, s.hits, s.misses), (0, 3, 0));
        assert!(s.high_water <= 2);
        assert_eq!(total(&p), 3);
    });
}
