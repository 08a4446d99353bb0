//! Public API of the mpmc ring: edges, rounding, drop counting, wraparound, batches, closing,
//! waiting, and 4 producers x 4 consumers where every item must arrive exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use zerotick_sync::mpmc::Ring;
use zerotick_sync::spsc::{CapacityError, ClosedError, PopError, PushError};
use zerotick_sync::wait::WaitStrategy;

#[derive(Debug)]
struct Tracked {
    id: usize,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, SeqCst);
    }
}

#[test]
fn capacity_errors_and_rounding() {
    assert_eq!(Ring::<u8>::new(0).err(), Some(CapacityError::Zero));
    assert!(matches!(
        Ring::<u64>::new(usize::MAX).err(),
        Some(CapacityError::TooLarge { .. })
    ));
    // The limit reported is exact: one above it is refused too (sizes the allocator could
    // be asked for, and would refuse, are not tried: AddressSanitizer aborts on them).
    let Some(CapacityError::TooLarge { max, .. }) = Ring::<[u8; 1 << 20]>::new(usize::MAX).err()
    else {
        panic!("usize::MAX accepted")
    };
    assert!(max.is_power_of_two() && max.saturating_mul(1 << 20) <= isize::MAX as usize);
    assert!(matches!(
        Ring::<[u8; 1 << 20]>::new(max + 1).err(),
        Some(CapacityError::TooLarge { .. })
    ));
    for (asked, got) in [(1, 1), (2, 2), (3, 4), (5, 8), (1000, 1024)] {
        let r = Ring::<u32>::new(asked).unwrap();
        assert_eq!(r.capacity(), got);
        for i in 0..got as u32 {
            r.push(i).unwrap();
        }
        assert_eq!(r.push(99), Err(PushError::Full(99)));
        assert_eq!(r.len(), got);
        for i in 0..got as u32 {
            assert_eq!(r.pop(), Ok(i));
        }
        assert_eq!(r.pop(), Err(PopError::Empty));
        assert!(r.is_empty());
    }
}

#[test]
fn capacity_one_and_two_many_laps() {
    for cap in [1, 2] {
        let r = Ring::<u64>::new(cap).unwrap();
        for i in 0..100_000u64 {
            r.push(i).unwrap();
            if cap == 1 {
                assert_eq!(r.push(i), Err(PushError::Full(i)));
            }
            assert_eq!(r.pop(), Ok(i));
            assert_eq!(r.pop(), Err(PopError::Empty));
        }
    }
}

#[test]
fn zero_sized_items() {
    let r = Ring::<()>::new(4).unwrap();
    for _ in 0..10 {
        assert_eq!(r.push_slice(&[(); 6]), Ok(4));
        assert_eq!(r.push(()), Err(PushError::Full(())));
        assert_eq!(r.pop_into(&mut [(); 3]), Ok(3));
        assert_eq!(r.pop(), Ok(()));
    }
}

#[test]
fn batches_wrap_and_keep_order() {
    let r = Ring::<u32>::new(8).unwrap();
    let mut next_in = 0u32;
    let mut next_out = 0u32;
    let mut out = [0u32; 5];
    for round in 0..1000 {
        let k = 1 + round % 7;
        let items: Vec<u32> = (next_in..next_in + k).collect();
        let n = r.push_slice(&items).unwrap();
        next_in += n as u32;
        let m = r.pop_into(&mut out[..1 + round as usize % 5]).unwrap();
        for v in &out[..m] {
            assert_eq!(*v, next_out);
            next_out += 1;
        }
    }
    while let Ok(v) = r.pop() {
        assert_eq!(v, next_out);
        next_out += 1;
    }
    assert_eq!(next_in, next_out);
    assert_eq!(r.push_slice(&[]), Ok(0));
    assert_eq!(r.pop_into(&mut []), Ok(0));
}

#[test]
fn items_are_dropped_exactly_once_including_those_left_in_the_ring() {
    let drops = Arc::new((0..8).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
    let t = |id| Tracked {
        id,
        drops: drops.clone(),
    };
    {
        let r = Ring::new(4).unwrap();
        for id in 0..4 {
            r.push(t(id)).unwrap();
        }
        let back = r.push(t(4)).unwrap_err().into_inner(); // handed back, then dropped
        assert_eq!(back.id, 4);
        drop(back);
        drop(r.pop().unwrap()); // 0
        let mut out = vec![t(5), t(6)]; // overwritten (dropped) by pop_into
        assert_eq!(r.pop_into(&mut out), Ok(2)); // 1, 2
        drop(out);
        r.push(t(7)).unwrap();
        // 3 and 7 stay in the ring, after a wrap, and are dropped with it.
    }
    for (id, d) in drops.iter().enumerate() {
        assert_eq!(d.load(SeqCst), 1, "item {id}");
    }
}

#[test]
fn close_refuses_pushes_and_drains_pops() {
    let r = Ring::<u8>::new(4).unwrap();
    r.push_slice(&[1, 2, 3]).unwrap();
    r.close();
    r.close(); // idempotent
    assert!(r.is_closed());
    assert_eq!(r.push(4), Err(PushError::Closed(4)));
    assert_eq!(r.push_slice(&[4]), Err(ClosedError));
    assert_eq!(
        r.push_wait(4, WaitStrategy::Spin),
        Err(PushError::Closed(4))
    );
    assert_eq!(r.pop(), Ok(1));
    let mut out = [0; 1];
    assert_eq!(r.pop_into(&mut out), Ok(1));
    assert_eq!(r.pop_wait(WaitStrategy::Spin), Ok(3));
    assert_eq!(r.pop(), Err(PopError::Closed));
    assert_eq!(r.pop_into(&mut out), Err(ClosedError));
    assert_eq!(r.pop_wait(WaitStrategy::default()), Err(PopError::Closed));
}

#[test]
fn close_wakes_every_parked_consumer_and_producer() {
    let wait = WaitStrategy::SpinYieldPark {
        spins: 4,
        yields: 4,
        park_timeout: Duration::from_secs(30),
    };
    let empty = Ring::<u8>::new(2).unwrap();
    let full = Ring::<u8>::new(2).unwrap();
    full.push_slice(&[1, 2]).unwrap();
    std::thread::scope(|s| {
        let consumers: Vec<_> = (0..3).map(|_| s.spawn(|| empty.pop_wait(wait))).collect();
        let producers: Vec<_> = (0..3)
            .map(|_| s.spawn(|| full.push_wait(9, wait)))
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let start = std::time::Instant::now();
        empty.close();
        full.close();
        for c in consumers {
            assert_eq!(c.join().unwrap(), Err(PopError::Closed));
        }
        for p in producers {
            assert_eq!(p.join().unwrap(), Err(PushError::Closed(9)));
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a wake-up was missed"
        );
    });
}

/// 4 producers x 4 consumers through a ring of 64, single and batch calls mixed, blocking
/// calls on one of each side: every item is received exactly once, and each producer's items
/// arrive in order at any one consumer.
#[test]
fn four_producers_four_consumers_every_item_exactly_once() {
    const PER_PRODUCER: usize = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    const PRODUCERS: usize = 4;
    let ring = Ring::<u64>::new(64).unwrap();
    let seen: Vec<AtomicUsize> = (0..PRODUCERS * PER_PRODUCER)
        .map(|_| AtomicUsize::new(0))
        .collect();
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for p in 0..PRODUCERS {
            let ring = &ring;
            let done = &done;
            s.spawn(move || {
                let base = (p * PER_PRODUCER) as u64;
                let mut i = 0u64;
                let mut batch = [0u64; 8];
                while i < PER_PRODUCER as u64 {
                    if p == 0 {
                        ring.push_wait(base + i, WaitStrategy::default()).unwrap();
                        i += 1;
                    } else if p == 1 {
                        let k = (PER_PRODUCER as u64 - i).min(8) as usize;
                        for (j, b) in batch[..k].iter_mut().enumerate() {
                            *b = base + i + j as u64;
                        }
                        i += ring.push_slice(&batch[..k]).unwrap() as u64;
                    } else if ring.push(base + i).is_ok() {
                        i += 1;
                    } else {
                        std::hint::spin_loop();
                    }
                }
                if done.fetch_add(1, SeqCst) + 1 == PRODUCERS {
                    ring.close();
                }
            });
        }
        for c in 0..4 {
            let ring = &ring;
            let seen = &seen;
            s.spawn(move || {
                let mut last = [None::<u64>; PRODUCERS];
                let mut note = |v: u64| {
                    seen[v as usize].fetch_add(1, SeqCst);
                    let p = v as usize / PER_PRODUCER;
                    assert!(last[p].is_none_or(|l| l < v), "producer {p} reordered");
                    last[p] = Some(v);
                };
                let mut buf = [0u64; 16];
                loop {
                    match c {
                        0 => match ring.pop_wait(WaitStrategy::default()) {
                            Ok(v) => note(v),
                            Err(_) => break,
                        },
                        1 => match ring.pop_into(&mut buf) {
                            Ok(n) => buf[..n].iter().for_each(|&v| note(v)),
                            Err(ClosedError) => break,
                        },
                        _ => match ring.pop() {
                            Ok(v) => note(v),
                            Err(PopError::Closed) => break,
                            Err(PopError::Empty) => std::hint::spin_loop(),
                        },
                    }
                }
            });
        }
    });
    for (v, n) in seen.iter().enumerate() {
        assert_eq!(n.load(SeqCst), 1, "item {v}");
    }
}
