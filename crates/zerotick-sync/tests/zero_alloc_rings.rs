//! After construction the rings allocate nothing: push, pop, batch and chunk calls, on one
//! thread and across threads, watched by a counting global allocator.
//!
//! Each thread counts its own allocations, and only while it is inside `counting`, so the test
//! harness's threads and the other tests running in parallel cannot disturb the figure.

use zerotick_mem::counting::counting;
use zerotick_sync::mpmc::Ring;
use zerotick_sync::spsc;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

#[test]
fn counter_sees_allocations() {
    // The instrument works: a test that cannot fail proves nothing.
    let n = counting(|| drop(std::hint::black_box(vec![1u8; 100])));
    assert_eq!(n, 1);
}

#[test]
fn spsc_single_batch_and_chunk_calls_allocate_nothing() {
    let (mut tx, mut rx) = spsc::channel::<u64>(64).unwrap();
    let n = counting(|| {
        let mut out = [0u64; 16];
        for i in 0..100_000u64 {
            tx.push(i).unwrap();
            assert!(rx.pop().is_ok());
            assert_eq!(tx.push_slice(&[i; 10]), Ok(10));
            assert_eq!(tx.push_iter(0..5), Ok(5));
            let mut chunk = tx.write_chunk_uninit(8).unwrap();
            let (a, b) = chunk.as_mut_slices();
            for s in a.iter_mut().chain(b.iter_mut()) {
                s.write(i);
            }
            let k = chunk.len();
            // SAFETY: all `k` lent slots were written above.
            unsafe { chunk.commit(k) };
            assert_eq!(rx.pop_into(&mut out[..15]), Ok(15));
            let chunk = rx.read_chunk(64).unwrap();
            assert_eq!(chunk.len(), 8);
            chunk.commit_all();
            // Full and empty edges return errors without allocating.
            while tx.push(0).is_ok() {}
            assert!(tx.push(0).is_err());
            while rx.pop().is_ok() {}
            assert!(rx.pop().is_err());
        }
        let _ = (tx.is_abandoned(), rx.len(), tx.slots());
    });
    assert_eq!(n, 0);
}

#[test]
fn spsc_across_threads_allocates_nothing() {
    let (mut tx, mut rx) = spsc::channel::<u64>(256).unwrap();
    let counts = std::thread::scope(|s| {
        let p = s.spawn(move || {
            counting(|| {
                let mut i = 0;
                while i < 1_000_000 {
                    if tx.push(i).is_ok() {
                        i += 1;
                    }
                }
            })
        });
        let c = s.spawn(move || {
            counting(|| {
                let mut got = 0;
                let mut buf = [0u64; 32];
                while got < 1_000_000 {
                    got += rx.pop_into(&mut buf).unwrap_or(0);
                }
            })
        });
        [p.join().unwrap(), c.join().unwrap()]
    });
    assert_eq!(counts, [0, 0]);
}

#[test]
fn mpmc_calls_allocate_nothing_on_any_thread() {
    let ring = Ring::<u64>::new(64).unwrap();
    let counts: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let ring = &ring;
                s.spawn(move || {
                    counting(|| {
                        let mut buf = [0u64; 8];
                        for i in 0..100_000u64 {
                            if t % 2 == 0 {
                                let _ = ring.push(i);
                                let _ = ring.pop();
                            } else {
                                let _ = ring.push_slice(&[i; 6]);
                                let _ = ring.pop_into(&mut buf);
                            }
                        }
                        let _ = ring.len();
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(counts, vec![0; 4]);
}
