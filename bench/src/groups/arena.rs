//! Group `arena`: bump allocation of 64-byte, 64-byte-aligned blocks, zerotick vs bumpalo.
//!
//! Cases:
//! - `alloc_64b`: one op = one 64-byte allocation from a 1 MiB arena. The arena is reset every
//!   `ARENA_BYTES / 64` = 16,384 allocations, i.e. exactly when zerotick's arena is full, for both
//!   impls, so the reset cost is amortised identically. (The reset is triggered by a count rather
//!   than by the first failed allocation because bumpalo rounds its chunk up to whole pages, so
//!   "full" would come at slightly different cadences.)
//! - `reset`: one op = one 64-byte allocation followed by a reset. A lone reset is a handful of
//!   instructions, too short to time by itself (and a reset of an empty arena may skip work), so
//!   it is measured together with the allocation that makes it do something.

use super::GroupResult;
use crate::harness::{Harness, Impl};
use bumpalo::Bump;
use std::alloc::Layout;
use std::hint::black_box;
use zerotick_mem::Arena;

/// Arena capacity in bytes; a multiple of [`ALLOC_BYTES`].
pub const ARENA_BYTES: usize = 1 << 20;
/// Size (and alignment) of one allocation.
pub const ALLOC_BYTES: usize = 64;
/// Allocations that fill the arena; both impls reset after this many.
pub const ALLOCS_PER_FILL: u32 = (ARENA_BYTES / ALLOC_BYTES) as u32;

/// Runs the cases `alloc_64b` and `reset`.
///
/// # Errors
/// If an arena cannot be created or cannot hold [`ALLOCS_PER_FILL`] aligned blocks.
pub fn run(h: &mut Harness) -> GroupResult {
    let layout = Layout::from_size_align(ALLOC_BYTES, ALLOC_BYTES)?;
    let mut rows = Vec::new();

    let (mut zt, mut bump) = (zerotick_arena()?, bumpalo_arena(layout)?);
    let (mut zt_used, mut bump_used) = (0u32, 0u32);
    rows.extend(h.case(
        "alloc_64b",
        vec![
            Impl::per_op("zerotick", move || {
                if zt_used == ALLOCS_PER_FILL {
                    zt.reset();
                    zt_used = 0;
                }
                zt_used += 1;
                zerotick_alloc(&zt);
            }),
            Impl::per_op("bumpalo", move || {
                if bump_used == ALLOCS_PER_FILL {
                    bump.reset();
                    bump_used = 0;
                }
                bump_used += 1;
                bumpalo_alloc(&bump, layout);
            }),
        ],
    ));

    let (mut zt, mut bump) = (zerotick_arena()?, bumpalo_arena(layout)?);
    rows.extend(h.case(
        "reset",
        vec![
            Impl::per_op("zerotick", move || {
                zerotick_alloc(&zt);
                zt.reset();
            }),
            Impl::per_op("bumpalo", move || {
                bumpalo_alloc(&bump, layout);
                bump.reset();
            }),
        ],
    ));
    Ok(rows)
}

/// A zerotick arena of [`ARENA_BYTES`], checked to hold [`ALLOCS_PER_FILL`] blocks.
fn zerotick_arena() -> Result<Arena, Box<dyn std::error::Error>> {
    let mut arena = Arena::try_new(ARENA_BYTES)?;
    for _ in 0..ALLOCS_PER_FILL {
        let block = arena.try_alloc_uninit::<u8>(ALLOC_BYTES)?;
        if block.as_ptr().addr() % ALLOC_BYTES != 0 {
            return Err("zerotick arena returned a block not aligned to 64 bytes".into());
        }
    }
    arena.reset();
    Ok(arena)
}

/// A bumpalo arena of at least [`ARENA_BYTES`] that may not grow, checked to hold
/// [`ALLOCS_PER_FILL`] blocks.
fn bumpalo_arena(layout: Layout) -> Result<Bump, Box<dyn std::error::Error>> {
    let mut bump = Bump::try_with_capacity(ARENA_BYTES).map_err(|e| e.to_string())?;
    // Growing would allocate from the heap mid-measurement; fail instead (checked below).
    bump.set_allocation_limit(Some(bump.allocated_bytes()));
    for _ in 0..ALLOCS_PER_FILL {
        bump.try_alloc_layout(layout)
            .map_err(|e| format!("bumpalo: {e}"))?;
    }
    bump.reset();
    Ok(bump)
}

#[inline(always)]
fn zerotick_alloc(arena: &Arena) {
    match arena.try_alloc_uninit::<u8>(ALLOC_BYTES) {
        Ok(block) => {
            black_box(block.as_mut_ptr());
        }
        Err(_) => exhausted(),
    }
}

#[inline(always)]
fn bumpalo_alloc(bump: &Bump, layout: Layout) {
    match bump.try_alloc_layout(layout) {
        Ok(ptr) => {
            black_box(ptr);
        }
        Err(_) => exhausted(),
    }
}

/// Unreachable after the setup checks: each arena held a full fill before measuring.
#[cold]
#[inline(never)]
fn exhausted() -> ! {
    panic!("arena exhausted within {ALLOCS_PER_FILL} allocations despite the setup check")
}
