//! Public behaviour of `Arena` and `ArenaSet`.

use proptest::prelude::*;
use zerotick_mem::{Arena, ArenaError, ArenaSet};

#[test]
fn capacity_zero_serves_only_empty_requests() {
    let arena = Arena::new(0);
    assert_eq!(arena.try_alloc_zeroed::<f64>(0).unwrap().len(), 0);
    assert!(matches!(
        arena.try_alloc_zeroed::<f64>(1),
        Err(ArenaError::Exhausted { .. })
    ));
    assert_eq!(arena.stats().exhausted, 1);
}

#[test]
fn exhaustion_is_an_error_and_leaves_the_arena_usable() {
    let mut arena = Arena::new(256);
    let a = arena.try_alloc_zeroed::<u8>(200).unwrap();
    a[199] = 1;
    let err = arena.try_alloc_zeroed::<u8>(100).unwrap_err();
    assert_eq!(
        err,
        ArenaError::Exhausted {
            requested_bytes: 156,
            remaining_bytes: 56
        }
    );
    // What fits still fits (the failed request took nothing).
    assert_eq!(arena.used_bytes(), 200);
    assert!(
        arena.try_alloc_zeroed::<u8>(56).is_err(),
        "needs 56 padding bytes first"
    );
    arena.reset();
    assert_eq!(arena.try_alloc_zeroed::<u8>(256).unwrap().len(), 256);
    assert!(matches!(
        arena.try_alloc_zeroed::<u64>(usize::MAX),
        Err(ArenaError::SizeOverflow)
    ));
}

#[test]
fn slices_are_aligned_and_disjoint() {
    let arena = Arena::new(1 << 16);
    let a = arena.alloc_copy(&[1u8, 2, 3]);
    let b = arena.alloc_zeroed::<f64>(5);
    let c = arena.try_alloc_fill(7, 9i16).unwrap();
    let d = arena.try_alloc_uninit::<u128>(3).unwrap();
    for p in [
        a.as_ptr() as usize,
        b.as_ptr() as usize,
        c.as_ptr() as usize,
        d.as_ptr() as usize,
    ] {
        assert_eq!(p % 64, 0);
    }
    b.fill(1.5);
    assert_eq!(a, &[1, 2, 3]);
    assert_eq!(c, &[9; 7]);
    assert_eq!(arena.used_bytes(), 3 * 64 + 48);
}

#[test]
fn over_aligned_types_are_aligned() {
    #[repr(align(256))]
    #[derive(Clone, Copy)]
    struct Wide(#[allow(dead_code)] u8);
    let arena = Arena::new(4096);
    arena.alloc_copy(&[1u8]);
    let w = arena.try_alloc_uninit::<Wide>(2).unwrap();
    assert_eq!(w.as_ptr() as usize % 256, 0);
}

#[test]
fn stats_track_high_water_across_resets() {
    let mut arena = Arena::new(4096);
    arena.alloc_zeroed::<u8>(1000);
    arena.reset();
    arena.alloc_zeroed::<u8>(10);
    let s = arena.stats();
    assert_eq!((s.used_bytes, s.high_water_bytes, s.resets), (10, 1000, 1));
}

#[test]
fn zero_sized_elements_take_no_room() {
    let arena = Arena::new(0);
    assert_eq!(
        arena.try_alloc_zeroed::<()>(1_000_000).unwrap().len(),
        1_000_000
    );
}

#[test]
#[should_panic(expected = "arena allocation failed")]
fn panicking_variant_panics_with_the_reason() {
    Arena::new(8).alloc_zeroed::<u64>(2);
}

#[test]
fn arena_set_gives_each_worker_its_own() {
    let mut set = ArenaSet::new(4, 1 << 12);
    std::thread::scope(|s| {
        for (i, arena) in set.iter_mut().enumerate() {
            s.spawn(move || {
                let x = arena.alloc_zeroed::<u64>(64 * (i + 1));
                x.fill(i as u64);
            });
        }
    });
    let used: Vec<_> = set.stats().map(|s| s.used_bytes).collect();
    assert_eq!(used, vec![512, 1024, 1536, 2048]);
    set.reset_all();
    assert!(set.stats().all(|s| s.used_bytes == 0 && s.resets == 1));
}

proptest! {
    /// Any sequence of requests: every success is aligned, inside the block and disjoint from
    /// the previous one; every failure leaves `used` unchanged.
    #[test]
    fn bump_sequence_invariants(sizes in proptest::collection::vec(0usize..600, 0..40)) {
        let arena = Arena::new(4096);
        let base = arena.try_alloc_uninit::<u8>(0).unwrap().as_ptr() as usize;
        let mut last_end = base;
        for n in sizes {
            let before = arena.used_bytes();
            match arena.try_alloc_zeroed::<u8>(n) {
                Ok(s) => {
                    let p = s.as_ptr() as usize;
                    prop_assert_eq!(p % 64, 0);
                    prop_assert!(p >= last_end);
                    prop_assert!(p + n <= base + 4096);
                    prop_assert!(s.iter().all(|&b| b == 0));
                    last_end = p + n;
                }
                Err(_) => prop_assert_eq!(arena.used_bytes(), before),
            }
        }
    }
}
