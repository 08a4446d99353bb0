//! loom models of the spsc and mpmc rings. Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p zerotick-sync --test loom_rings --release`
//!
//! Slot accesses are tracked (spsc through shadow cells, mpmc through its slot cells), so a
//! missing happens-before between a write of a slot and its read fails the model. Parking is
//! modelled as a yield (loom has no timeouts); the unpark registry's slot protocol is explored.
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::SeqCst};

use loom::sync::Arc;
use loom::thread;
use zerotick_sync::mpmc::Ring;
use zerotick_sync::spsc::{self, PopError, PushError};
use zerotick_sync::wait::WaitStrategy;

/// Explores every interleaving with at most 3 preemptions: the bound loom's authors suggest,
/// which finds the known classes of bugs while keeping the models to seconds. Waiting threads
/// retry (yielding) once per step of the others, so paths are longer than loom's default
/// branch limit of 1,000 allows; the limit is raised, not the preemption bound.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.max_branches = 20_000;
    builder.check(f);
}

/// Parks (a yield under loom) after one spin and one yield, so the registry is exercised.
const PARK: WaitStrategy = WaitStrategy::SpinYieldPark {
    spins: 1,
    yields: 1,
    park_timeout: std::time::Duration::from_millis(1),
};

/// Counts drops, to check every item is dropped exactly once.
struct Counted(StdArc<StdAtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn spsc_push_pop_in_order_through_a_full_ring() {
    model(|| {
        let (mut tx, mut rx) = spsc::channel::<u32>(2).unwrap();
        let t = thread::spawn(move || {
            for i in 0..3 {
                tx.push_wait(i, WaitStrategy::Spin).unwrap();
            }
        });
        for i in 0..3 {
            assert_eq!(rx.pop_wait(WaitStrategy::Spin), Ok(i));
        }
        t.join().unwrap();
        assert_eq!(rx.pop(), Err(PopError::Closed)); // the producer was dropped
    });
}

#[test]
fn spsc_push_wait_refill_parks_for_a_refill_and_loses_nothing() {
    // The producer outruns a capacity-2 ring and waits for both slots to free (hysteresis);
    // the consumer wakes it only then. Every item arrives once, in order, in every
    // interleaving of the producer's wait and the consumer's wake-up check.
    model(|| {
        let (mut tx, mut rx) = spsc::channel::<u32>(2).unwrap();
        let t = thread::spawn(move || {
            for i in 0..4 {
                tx.push_wait_refill(i, PARK, 2).unwrap();
            }
        });
        for i in 0..4 {
            assert_eq!(rx.pop_wait(PARK), Ok(i));
        }
        t.join().unwrap();
        assert_eq!(rx.pop(), Err(PopError::Closed));
    });
}

#[test]
fn spsc_slices_and_chunks() {
    // No retry loops: each side makes a fixed number of attempts (which keeps the model
    // small); the main thread drains the rest after the join. Order is checked end to end.
    model(|| {
        let (mut tx, mut rx) = spsc::channel::<u32>(2).unwrap();
        let t = thread::spawn(move || {
            assert_eq!(tx.push_slice(&[1, 2]).unwrap(), 2); // the ring starts empty
            let mut chunk = tx.write_chunk_uninit(1).unwrap();
            let pushed_third = chunk.len() == 1;
            if pushed_third {
                chunk.as_mut_slices().0[0].write(3);
                // SAFETY: the one lent slot was just written.
                unsafe { chunk.commit(1) };
            }
            (tx, pushed_third)
        });
        let mut got = Vec::new();
        let chunk = rx.read_chunk(2).unwrap();
        let (a, b) = chunk.as_slices();
        got.extend_from_slice(a);
        got.extend_from_slice(b);
        chunk.commit_all();
        let mut out = [0; 2];
        let n = rx.pop_into(&mut out).unwrap();
        got.extend_from_slice(&out[..n]);
        let (mut tx, pushed_third) = t.join().unwrap();
        while let Ok(v) = rx.pop() {
            got.push(v);
        }
        if !pushed_third {
            tx.push(3).unwrap();
        }
        drop(tx);
        while let Ok(v) = rx.pop() {
            got.push(v);
        }
        assert_eq!(got, [1, 2, 3]);
    });
}

#[test]
fn spsc_close_wakes_a_parked_consumer() {
    model(|| {
        let (mut tx, mut rx) = spsc::channel::<u32>(2).unwrap();
        let t = thread::spawn(move || {
            let mut sum = 0;
            while let Ok(v) = rx.pop_wait(PARK) {
                sum += v;
            }
            sum
        });
        tx.push(5).unwrap();
        tx.close();
        assert_eq!(tx.push(6), Err(PushError::Closed(6)));
        assert_eq!(t.join().unwrap(), 5);
    });
}

#[test]
fn spsc_items_left_in_the_ring_are_dropped_once() {
    model(|| {
        let drops = StdArc::new(StdAtomicUsize::new(0));
        let (mut tx, mut rx) = spsc::channel::<Counted>(2).unwrap();
        let d = drops.clone();
        let t = thread::spawn(move || {
            let mut pushed = 0;
            for _ in 0..2 {
                match tx.push(Counted(d.clone())) {
                    Ok(()) => pushed += 1,
                    Err(e) => drop(e.into_inner()),
                }
            }
            pushed
        });
        let popped = usize::from(rx.pop().is_ok());
        assert!(!rx.is_abandoned() || rx.is_closed());
        drop(rx); // races with the pushes and the producer's drop
        let pushed = t.join().unwrap();
        assert!(popped <= pushed);
        assert_eq!(drops.load(SeqCst), 2, "every item dropped exactly once");
    });
}

#[test]
fn mpmc_two_producers_two_consumers() {
    // Each consumer makes one `pop` attempt, racing both producers and each other; the main
    // thread drains what is left after the joins. Every item must be taken exactly once. (No
    // retry loops: with four threads they would multiply the interleavings past minutes.)
    model(|| {
        let ring = Arc::new(Ring::<u32>::new(2).unwrap());
        let producers: Vec<_> = (1..=2)
            .map(|v| {
                let ring = ring.clone();
                thread::spawn(move || ring.push(v).unwrap())
            })
            .collect();
        let consumer = {
            let ring = ring.clone();
            thread::spawn(move || ring.pop().ok())
        };
        let mine = ring.pop().ok();
        let theirs = consumer.join().unwrap();
        for p in producers {
            p.join().unwrap();
        }
        let mut got: Vec<u32> = [mine, theirs].into_iter().flatten().collect();
        while let Ok(v) = ring.pop() {
            got.push(v);
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

#[test]
fn mpmc_batches_wrap_around_a_small_ring() {
    model(|| {
        let ring = Arc::new(Ring::<u32>::new(2).unwrap());
        let r = ring.clone();
        let t = thread::spawn(move || {
            let items = [1, 2, 3];
            let mut sent = 0;
            while sent < 3 {
                sent += r.push_slice(&items[sent..]).unwrap();
                thread::yield_now();
            }
            r.close();
        });
        let mut got = Vec::new();
        let mut out = [0; 2];
        loop {
            match ring.pop_into(&mut out) {
                Ok(n) => got.extend_from_slice(&out[..n]),
                Err(_) => break, // closed and drained
            }
            thread::yield_now();
        }
        t.join().unwrap();
        assert_eq!(got, [1, 2, 3]);
    });
}

#[test]
fn mpmc_push_racing_close_is_delivered_or_refused() {
    model(|| {
        let ring = Arc::new(Ring::<u32>::new(2).unwrap());
        let r = ring.clone();
        let producer = thread::spawn(move || r.push(7).is_ok());
        let r = ring.clone();
        let consumer = thread::spawn(move || {
            let mut got = 0;
            while let Ok(v) = r.pop_wait(PARK) {
                got += v;
            }
            got
        });
        ring.close();
        let accepted = producer.join().unwrap();
        let got = consumer.join().unwrap();
        // An accepted push is never lost: the consumer drains it before seeing `Closed`.
        assert_eq!(got, if accepted { 7 } else { 0 });
    });
}

/// `pop_into` of a type with drop glue takes the swap-and-park path (items trade places with
/// `dst`'s old values, which are dropped after their slots are given back): a push of the
/// next lap must see each slot emptied only after the parked value left it.
#[test]
fn mpmc_pop_into_with_drop_glue_races_the_next_laps_pushes() {
    model(|| {
        let drops = StdArc::new(StdAtomicUsize::new(0));
        let ring = Arc::new(Ring::<(u32, Counted)>::new(1).unwrap());
        let r = ring.clone();
        let d = drops.clone();
        let t = thread::spawn(move || {
            for k in 0..2 {
                let mut item = (k, Counted(d.clone()));
                loop {
                    match r.push(item) {
                        Ok(()) => break,
                        Err(PushError::Full(back)) => item = back,
                        Err(PushError::Closed(_)) => unreachable!(),
                    }
                    thread::yield_now();
                }
            }
        });
        let mut out = [(u32::MAX, Counted(drops.clone()))];
        let mut got = Vec::new();
        while got.len() < 2 {
            if ring.pop_into(&mut out).unwrap() == 1 {
                got.push(out[0].0);
            }
            thread::yield_now();
        }
        t.join().unwrap();
        assert_eq!(got, [0, 1]);
        drop(out);
        drop(ring);
        assert_eq!(
            drops.load(SeqCst),
            3,
            "2 items and the initial dst value, once each"
        );
    });
}
