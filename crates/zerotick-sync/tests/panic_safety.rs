//! Panic safety of every ring entry point that moves, clones or drops user values: a type whose
//! `Drop` (or `Clone`) panics once on demand, with every construction and drop counted. After
//! the panic and dropping everything: nothing dropped twice, nothing leaked, the ring usable.
//!
//! Each `Bomb` owns a `Box`, so a double drop is also a double free under AddressSanitizer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use zerotick_sync::mpmc::Ring;
use zerotick_sync::spsc::{self, PopError};

/// Construction and drop counts of one test, and the one-shot triggers.
struct Counts {
    made: AtomicUsize,
    dropped: AtomicUsize,
    /// Drops per id (ids are `made` at construction): each must end at exactly 1.
    per_id: Vec<AtomicUsize>,
    /// When set, the next `Bomb` with `armed == true` that is dropped clears it and panics.
    drop_trigger: AtomicBool,
    /// When set, the next `clone` clears it and panics.
    clone_trigger: AtomicBool,
}

impl Counts {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            made: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            per_id: (0..64).map(|_| AtomicUsize::new(0)).collect(),
            drop_trigger: AtomicBool::new(false),
            clone_trigger: AtomicBool::new(false),
        })
    }

    fn live(&self) -> isize {
        self.made.load(SeqCst) as isize - self.dropped.load(SeqCst) as isize
    }

    /// Every object made was dropped exactly once.
    #[track_caller]
    fn assert_balanced(&self) {
        assert_eq!(self.live(), 0, "objects alive (negative: dropped twice)");
        for id in 0..self.made.load(SeqCst) {
            assert_eq!(self.per_id[id].load(SeqCst), 1, "object {id} drop count");
        }
    }
}

struct Bomb {
    id: usize,
    /// Panics on drop if the test's drop trigger is still set.
    armed: bool,
    _heap: Box<usize>,
    counts: Arc<Counts>,
}

impl Bomb {
    fn new(counts: &Arc<Counts>, armed: bool) -> Self {
        let id = counts.made.fetch_add(1, SeqCst);
        Self {
            id,
            armed,
            _heap: Box::new(id),
            counts: Arc::clone(counts),
        }
    }
}

impl Clone for Bomb {
    fn clone(&self) -> Self {
        if self.counts.clone_trigger.swap(false, SeqCst) {
            panic!("clone of {} panics", self.id);
        }
        Self::new(&self.counts, self.armed)
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.counts.dropped.fetch_add(1, SeqCst);
        self.counts.per_id[self.id].fetch_add(1, SeqCst);
        if self.armed && self.counts.drop_trigger.swap(false, SeqCst) {
            panic!("drop of {} panics", self.id);
        }
    }
}

fn arm(counts: &Counts) {
    counts.drop_trigger.store(true, SeqCst);
}

#[track_caller]
fn assert_panics(f: impl FnOnce()) {
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "expected the call to panic"
    );
}

// ---------------------------------------------------------------------------------------------
// spsc

#[test]
fn spsc_pop_into_whose_old_value_panics_releases_the_items_it_moved() {
    let c = Counts::new();
    let (mut tx, mut rx) = spsc::channel::<Bomb>(4).unwrap();
    tx.push(Bomb::new(&c, false)).unwrap();
    tx.push(Bomb::new(&c, false)).unwrap();
    let mut dst = vec![Bomb::new(&c, false), Bomb::new(&c, true)];
    arm(&c);
    // dst[0]'s old value drops fine, dst[1]'s panics: both items have left the ring.
    assert_panics(|| {
        let _ = rx.pop_into(&mut dst);
    });
    assert_eq!(dst[0].id, 0);
    assert_eq!(dst[1].id, 1);
    assert_eq!(
        rx.pop().err(),
        Some(PopError::Empty),
        "moved items still in the ring"
    );
    // Still usable, across the wrap.
    for _ in 0..3 {
        tx.push(Bomb::new(&c, false)).unwrap();
        tx.push(Bomb::new(&c, false)).unwrap();
        assert_eq!(rx.pop_into(&mut dst), Ok(2));
    }
    drop((tx, rx, dst));
    c.assert_balanced();
}

#[test]
fn spsc_pop_into_panicking_on_the_first_of_two_runs_keeps_the_rest_in_order() {
    let c = Counts::new();
    // Capacity 4, positions moved to 3 so the two items sit in two runs (slot 3, slot 0).
    let (mut tx, mut rx) = spsc::channel::<Bomb>(4).unwrap();
    for _ in 0..3 {
        tx.push(Bomb::new(&c, false)).unwrap();
        drop(rx.pop().unwrap());
    }
    tx.push(Bomb::new(&c, false)).unwrap(); // id 3, slot 3
    tx.push(Bomb::new(&c, false)).unwrap(); // id 4, slot 0
    let mut dst = vec![Bomb::new(&c, true), Bomb::new(&c, false)];
    arm(&c);
    assert_panics(|| {
        let _ = rx.pop_into(&mut dst);
    });
    // The first item left the ring (into `dst[0]`, or dropped by the unwinding); the second
    // is either still in the ring or in `dst[1]`, never both.
    let in_dst1 = dst[1].id == 4;
    match rx.pop() {
        Ok(item) => {
            assert!(!in_dst1);
            assert_eq!(item.id, 4);
        }
        Err(e) => {
            assert_eq!(e, PopError::Empty);
            assert!(in_dst1);
        }
    }
    drop((tx, rx, dst));
    c.assert_balanced();
}

#[test]
fn spsc_read_chunk_commit_whose_item_panics_consumes_it_and_keeps_the_rest() {
    let c = Counts::new();
    let (mut tx, mut rx) = spsc::channel::<Bomb>(4).unwrap();
    tx.push(Bomb::new(&c, false)).unwrap();
    tx.push(Bomb::new(&c, true)).unwrap();
    tx.push(Bomb::new(&c, false)).unwrap();
    arm(&c);
    assert_panics(|| rx.read_chunk(3).unwrap().commit_all());
    // Items 0 and 1 are consumed (1's drop ran and panicked); item 2 is still there.
    assert_eq!(rx.pop().map(|b| b.id).ok(), Some(2));
    assert_eq!(rx.pop().err(), Some(PopError::Empty));
    tx.push(Bomb::new(&c, false)).unwrap();
    rx.read_chunk(1).unwrap().commit_all();
    drop((tx, rx));
    c.assert_balanced();
}

#[test]
fn spsc_push_and_pop_with_panicking_drop() {
    let c = Counts::new();
    let (mut tx, mut rx) = spsc::channel::<Bomb>(1).unwrap();
    tx.push(Bomb::new(&c, true)).unwrap();
    // A full ring hands the value back; its drop panics in the caller, not in the ring.
    arm(&c);
    assert_panics(|| drop(tx.push(Bomb::new(&c, true))));
    let popped = rx.pop().unwrap();
    arm(&c);
    assert_panics(|| drop(popped));
    tx.push(Bomb::new(&c, false)).unwrap();
    assert!(rx.pop().is_ok());
    drop((tx, rx));
    c.assert_balanced();
}

#[test]
fn spsc_push_iter_whose_iterator_panics_publishes_what_it_wrote() {
    let c = Counts::new();
    let (mut tx, mut rx) = spsc::channel::<Bomb>(4).unwrap();
    let c2 = Arc::clone(&c);
    assert_panics(|| {
        let _ = tx.push_iter((0..3).map(|k| {
            if k == 2 {
                panic!("iterator panics");
            }
            Bomb::new(&c2, false)
        }));
    });
    assert_eq!(rx.len(), 2, "items written before the panic are published");
    assert_eq!(tx.push_iter((0..2).map(|_| Bomb::new(&c, false))), Ok(2));
    let ids: Vec<usize> = std::iter::from_fn(|| rx.pop().ok()).map(|b| b.id).collect();
    assert_eq!(ids, [0, 1, 2, 3]);
    drop((tx, rx));
    c.assert_balanced();
}

#[test]
fn spsc_push_iter_of_clones_whose_clone_panics() {
    let c = Counts::new();
    let (mut tx, mut rx) = spsc::channel::<Bomb>(8).unwrap();
    let src: Vec<Bomb> = (0..4).map(|_| Bomb::new(&c, false)).collect();
    // The third clone panics.
    let mut clones = 0;
    let c2 = Arc::clone(&c);
    assert_panics(|| {
        let _ = tx.push_iter(
            src.iter()
                .inspect(|_| {
                    clones += 1;
                    if clones == 3 {
                        c2.clone_trigger.store(true, SeqCst);
                    }
                })
                .cloned(),
        );
    });
    assert_eq!(rx.len(), 2);
    tx.push_iter(src.iter().cloned()).unwrap();
    assert_eq!(rx.len(), 6);
    drop((tx, rx, src));
    c.assert_balanced();
}

#[test]
fn spsc_write_chunk_abandoned_by_a_panic_publishes_nothing() {
    let c = Counts::new();
    let (mut tx, mut rx) = spsc::channel::<Bomb>(4).unwrap();
    tx.push(Bomb::new(&c, false)).unwrap();
    // The writer keeps a bitwise copy of what it wrote (uncommitted slots are its own, as
    // `MaybeUninit`), so the object is dropped by the test: a ring that published or dropped
    // the slot too would drop it twice.
    let mut kept: Option<Bomb> = None;
    assert_panics(|| {
        let mut chunk = tx.write_chunk_uninit(3).unwrap();
        let (a, _) = chunk.as_mut_slices();
        a[0].write(Bomb::new(&c, false));
        // SAFETY: just written; the chunk is abandoned below, never committed.
        kept = Some(unsafe { a[0].assume_init_read() });
        panic!("writer dies before commit");
    });
    assert_eq!(rx.len(), 1, "an abandoned chunk published something");
    let mut chunk = tx.write_chunk_uninit(3).unwrap();
    assert_eq!(chunk.len(), 3);
    for slot in {
        let (a, b) = chunk.as_mut_slices();
        a.iter_mut().chain(b.iter_mut())
    } {
        slot.write(Bomb::new(&c, false));
    }
    // SAFETY: all 3 lent slots were just written.
    unsafe { chunk.commit(3) };
    let ids: Vec<usize> = std::iter::from_fn(|| rx.pop().ok()).map(|b| b.id).collect();
    assert_eq!(ids, [0, 2, 3, 4]);
    drop((tx, rx, kept));
    c.assert_balanced();
}

#[test]
fn spsc_ring_dropped_with_a_panicking_item_still_drops_the_others() {
    let c = Counts::new();
    let (mut tx, rx) = spsc::channel::<Bomb>(4).unwrap();
    tx.push(Bomb::new(&c, false)).unwrap();
    tx.push(Bomb::new(&c, true)).unwrap();
    tx.push(Bomb::new(&c, false)).unwrap();
    tx.push(Bomb::new(&c, false)).unwrap();
    drop(rx);
    arm(&c);
    assert_panics(|| drop(tx)); // the last handle frees the ring and its items
    c.assert_balanced();
}

// ---------------------------------------------------------------------------------------------
// mpmc

#[test]
fn mpmc_pop_into_whose_old_value_panics_leaves_the_ring_usable() {
    let c = Counts::new();
    let ring = Ring::<Bomb>::new(2).unwrap();
    ring.push(Bomb::new(&c, false)).unwrap();
    ring.push(Bomb::new(&c, false)).unwrap();
    let mut dst = vec![Bomb::new(&c, true), Bomb::new(&c, false)];
    arm(&c);
    assert_panics(|| {
        let _ = ring.pop_into(&mut dst);
    });
    assert_eq!(
        (dst[0].id, dst[1].id),
        (0, 1),
        "both claimed items reach `dst`"
    );
    assert!(ring.is_empty());
    // Every slot was given back: the next laps push and pop normally.
    for _ in 0..4 {
        ring.push(Bomb::new(&c, false)).unwrap();
        ring.push(Bomb::new(&c, false)).unwrap();
        assert_eq!(ring.pop_into(&mut dst), Ok(2));
    }
    ring.push(Bomb::new(&c, false)).unwrap();
    drop((ring, dst));
    c.assert_balanced();
}

#[test]
fn mpmc_pop_into_whose_last_old_value_panics() {
    let c = Counts::new();
    let ring = Ring::<Bomb>::new(4).unwrap();
    for _ in 0..3 {
        ring.push(Bomb::new(&c, false)).unwrap();
    }
    let mut dst: Vec<Bomb> = (0..3).map(|k| Bomb::new(&c, k == 2)).collect();
    arm(&c);
    assert_panics(|| {
        let _ = ring.pop_into(&mut dst);
    });
    assert_eq!(ring.pop().err(), Some(PopError::Empty));
    for _ in 0..4 {
        ring.push(Bomb::new(&c, false)).unwrap();
    }
    assert_eq!(ring.pop_into(&mut dst), Ok(3));
    drop((ring, dst));
    c.assert_balanced();
}

#[test]
fn mpmc_push_and_pop_with_panicking_drop() {
    let c = Counts::new();
    let ring = Ring::<Bomb>::new(1).unwrap();
    ring.push(Bomb::new(&c, true)).unwrap();
    arm(&c);
    assert_panics(|| drop(ring.push(Bomb::new(&c, true))));
    let popped = ring.pop().unwrap();
    arm(&c);
    assert_panics(|| drop(popped));
    ring.push(Bomb::new(&c, false)).unwrap();
    assert!(ring.pop().is_ok());
    drop(ring);
    c.assert_balanced();
}

#[test]
fn mpmc_ring_dropped_with_a_panicking_item_still_drops_the_others() {
    let c = Counts::new();
    let ring = Ring::<Bomb>::new(4).unwrap();
    ring.push(Bomb::new(&c, false)).unwrap();
    drop(ring.pop().unwrap());
    ring.push(Bomb::new(&c, true)).unwrap();
    ring.push(Bomb::new(&c, false)).unwrap();
    ring.push(Bomb::new(&c, false)).unwrap();
    arm(&c);
    assert_panics(|| drop(ring));
    c.assert_balanced();
}
