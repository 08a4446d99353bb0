//! Panic safety of every pool entry point that runs user code (factory, `Reusable` reset,
//! `Drop`): a pooled type whose reset or `Drop` panics once on demand, with every construction
//! and drop counted. After the panic and dropping everything: nothing dropped twice, nothing
//! leaked, the pool (and cache) usable with every slot accounted for.
//!
//! Each object owns a `Box`, so a double drop is also a double free under AddressSanitizer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use zerotick_mem::{MissPolicy, Pool, PoolCache, PoolError, ResetPolicy, Reusable};

struct Counts {
    made: AtomicUsize,
    dropped: AtomicUsize,
    /// Drops per id (ids are `made` at construction): each must end at exactly 1.
    per_id: Vec<AtomicUsize>,
    /// When set, the next armed object dropped clears it and panics.
    drop_trigger: AtomicBool,
    /// When set, the next `clear` or `zero` clears it and panics.
    reset_trigger: AtomicBool,
    /// The factory panics (`usize::MAX`: never) or fails on its call with this index.
    factory_fails_at: AtomicUsize,
    factory_panics_at: AtomicUsize,
    factory_calls: AtomicUsize,
}

impl Counts {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            made: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            per_id: (0..64).map(|_| AtomicUsize::new(0)).collect(),
            drop_trigger: AtomicBool::new(false),
            reset_trigger: AtomicBool::new(false),
            factory_fails_at: AtomicUsize::new(usize::MAX),
            factory_panics_at: AtomicUsize::new(usize::MAX),
            factory_calls: AtomicUsize::new(0),
        })
    }

    fn live(&self) -> isize {
        self.made.load(SeqCst) as isize - self.dropped.load(SeqCst) as isize
    }

    #[track_caller]
    fn assert_balanced(&self) {
        assert_eq!(self.live(), 0, "objects alive (negative: dropped twice)");
        for id in 0..self.made.load(SeqCst) {
            assert_eq!(self.per_id[id].load(SeqCst), 1, "object {id} drop count");
        }
    }
}

struct Obj {
    id: usize,
    /// Panics on drop if the drop trigger is set.
    armed: bool,
    /// Reset count, so a test can see which reset ran.
    resets: usize,
    _heap: Box<usize>,
    counts: Arc<Counts>,
}

impl Obj {
    fn new(counts: &Arc<Counts>, armed: bool) -> Self {
        let id = counts.made.fetch_add(1, SeqCst);
        Self {
            id,
            armed,
            resets: 0,
            _heap: Box::new(id),
            counts: Arc::clone(counts),
        }
    }

    fn reset(&mut self) {
        self.resets += 1;
        if self.counts.reset_trigger.swap(false, SeqCst) {
            panic!("reset of {} panics", self.id);
        }
    }
}

impl Reusable for Obj {
    fn clear(&mut self) {
        self.reset();
    }
    fn zero(&mut self) {
        self.reset();
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        self.counts.dropped.fetch_add(1, SeqCst);
        self.counts.per_id[self.id].fetch_add(1, SeqCst);
        if self.armed && self.counts.drop_trigger.swap(false, SeqCst) {
            panic!("drop of {} panics", self.id);
        }
    }
}

fn pool(c: &Arc<Counts>, initial: usize, miss: MissPolicy, reset: ResetPolicy) -> Pool<Obj> {
    let c2 = Arc::clone(c);
    Pool::try_new(initial, miss, reset, move || {
        let call = c2.factory_calls.fetch_add(1, SeqCst);
        if call == c2.factory_panics_at.load(SeqCst) {
            panic!("factory call {call} panics");
        }
        if call == c2.factory_fails_at.load(SeqCst) {
            return Err(PoolError::Exhausted { capacity: 0 });
        }
        Ok(Obj::new(&c2, call == 1))
    })
    .unwrap()
}

#[track_caller]
fn assert_panics(f: impl FnOnce()) {
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "expected the call to panic"
    );
}

#[test]
fn guard_whose_reset_panics_still_returns_the_object() {
    for reset in [ResetPolicy::Clear, ResetPolicy::Zero] {
        let c = Counts::new();
        let p = pool(&c, 1, MissPolicy::FailFast, reset);
        let g = p.acquire().unwrap();
        c.reset_trigger.store(true, SeqCst);
        assert_panics(|| drop(g));
        assert_eq!(p.stats().in_use, 0, "{reset:?}: slot lost");
        // The same object comes back, and round-trips normally.
        let g = p.acquire().unwrap();
        assert_eq!((g.id, g.resets), (0, 1));
        drop(g);
        assert_eq!(p.acquire().unwrap().resets, 2);
        drop(p);
        c.assert_balanced();
    }
}

#[test]
fn owned_guard_whose_reset_panics_still_returns_the_object() {
    let c = Counts::new();
    let p = Arc::new(pool(&c, 1, MissPolicy::FailFast, ResetPolicy::Clear));
    let g = p.acquire_owned().unwrap();
    c.reset_trigger.store(true, SeqCst);
    assert_panics(|| drop(g));
    assert_eq!(Arc::strong_count(&p), 1, "the guard's Arc was not released");
    assert!(p.acquire().is_ok());
    drop(p);
    c.assert_balanced();
}

#[test]
fn guard_dropped_during_unwinding_returns_its_object() {
    let c = Counts::new();
    let p = pool(&c, 2, MissPolicy::FailFast, ResetPolicy::Zero);
    assert_panics(|| {
        let _a = p.acquire().unwrap();
        let _b = p.acquire().unwrap();
        panic!("holder dies");
    });
    let s = p.stats();
    assert_eq!((s.in_use, s.hits), (0, 2));
    let (a, b) = (p.acquire().unwrap(), p.acquire().unwrap());
    assert_eq!((a.resets, b.resets), (1, 1));
    drop((a, b));
    drop(p);
    c.assert_balanced();
}

#[test]
fn pool_dropped_with_a_panicking_object_still_drops_the_others() {
    let c = Counts::new();
    let p = pool(&c, 4, MissPolicy::FailFast, ResetPolicy::Keep); // object 1 is armed
    c.drop_trigger.store(true, SeqCst);
    assert_panics(|| drop(p));
    c.assert_balanced();
}

#[test]
fn construction_failing_part_way_drops_what_it_built() {
    let c = Counts::new();
    c.factory_fails_at.store(2, SeqCst);
    let c2 = Arc::clone(&c);
    let r = Pool::try_new(4, MissPolicy::FailFast, ResetPolicy::Keep, move || {
        if c2.made.load(SeqCst) == c2.factory_fails_at.load(SeqCst) {
            return Err(PoolError::Exhausted { capacity: 0 });
        }
        Ok(Obj::new(&c2, false))
    });
    assert!(r.is_err());
    assert_eq!(c.made.load(SeqCst), 2);
    c.assert_balanced();
}

#[test]
fn construction_panicking_part_way_drops_what_it_built() {
    let c = Counts::new();
    c.factory_panics_at.store(3, SeqCst);
    assert_panics(|| drop(pool(&c, 4, MissPolicy::FailFast, ResetPolicy::Keep)));
    assert_eq!(c.made.load(SeqCst), 3);
    c.assert_balanced();
}

#[test]
fn growth_whose_factory_panics_leaves_the_pool_usable() {
    let c = Counts::new();
    let p = pool(&c, 1, MissPolicy::Grow { max: 2 }, ResetPolicy::Clear);
    let a = p.acquire().unwrap();
    c.factory_panics_at.store(1, SeqCst);
    assert_panics(|| drop(p.acquire()));
    assert_eq!(
        p.capacity(),
        1,
        "no slot claimed for the object never built"
    );
    let b = p.acquire().unwrap(); // the next growth works
    assert_eq!(p.capacity(), 2);
    assert!(matches!(
        p.acquire(),
        Err(PoolError::Exhausted { capacity: 2 })
    ));
    drop((a, b));
    assert_eq!(p.stats().in_use, 0);
    drop(p);
    c.assert_balanced();
}

#[test]
fn cache_guard_whose_reset_panics_returns_to_the_cache() {
    for reset in [ResetPolicy::Clear, ResetPolicy::Zero] {
        let c = Counts::new();
        let p = pool(&c, 4, MissPolicy::FailFast, reset);
        {
            let cache = PoolCache::new(&p, 2).unwrap();
            let g = cache.acquire().unwrap(); // refill: one of the 2 moved in, lent
            c.reset_trigger.store(true, SeqCst);
            assert_panics(|| drop(g));
            let s = cache.stats();
            assert_eq!(
                (s.lent, s.idle),
                (0, 1),
                "{reset:?}: object lost from the cache"
            );
            // Refill, overflow and flush with objects moving through guards.
            let gs: Vec<_> = (0..4).map(|_| cache.acquire().unwrap()).collect();
            assert!(cache.acquire().is_err());
            drop(gs);
            assert!(cache.stats().flushes >= 1);
        } // dropping the cache flushes every idle object back
        let s = p.stats();
        assert_eq!((s.in_use, s.cached), (0, 0));
        drop(p);
        c.assert_balanced();
    }
}

#[test]
fn cache_guard_dropped_during_unwinding_returns_to_the_cache() {
    let c = Counts::new();
    let p = Arc::new(pool(&c, 2, MissPolicy::FailFast, ResetPolicy::Clear));
    let cache = PoolCache::new(Arc::clone(&p), 2).unwrap();
    assert_panics(|| {
        let _g = cache.acquire().unwrap();
        panic!("holder dies");
    });
    assert_eq!(cache.stats().lent, 0);
    drop(cache);
    assert_eq!(p.stats().in_use, 0);
    drop(p);
    c.assert_balanced();
}
