//! One side of a book: its levels in sorted blocks of at most [`BLOCK`] levels inside one slab
//! allocated at construction, with a directory of the blocks in price order. An insertion or
//! removal moves at most one block's levels (and, on a split or merge, the directory's
//! entries), never the whole side.

use super::{Level, LevelChange, TOP_SCAN};

/// Levels per block (1 KiB of levels): an insertion or removal moves at most this many.
pub(super) const BLOCK: usize = 64;

/// A directory entry: one block of the slab, in the side's order.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// The key of the block's first (worst) level.
    min: f64,
    /// Which block of the slab: its levels are `slab[block * BLOCK..][..len]`.
    block: u32,
    /// Levels held, `1..=BLOCK`.
    len: u32,
}

/// One side's levels, worst to best.
#[derive(Clone)]
pub(super) struct Ladder {
    /// `blocks * BLOCK` levels. Invariant: each live block's levels are sorted by key, every
    /// size is > 0, and every key of a block is below every key of the next block in `dir`.
    slab: Box<[Level]>,
    /// `keys[i] == sign * slab[i].price` for every live level: searches read these.
    keys: Box<[f64]>,
    /// The live blocks, worst first, in `dir[..nb]` (`blocks` entries). Invariants:
    /// `dir[j].min` is the key of the block's first level; `dir[j].len >= 1`; two adjacent
    /// blocks hold more than `BLOCK` levels together (so `nb <= 2 * len / (BLOCK + 1) + 1`,
    /// which the slab's size covers for `len <= cap + 1`).
    dir: Box<[Entry]>,
    nb: usize,
    /// Blocks freed since the last clear, a stack in `free[..nfree]`.
    free: Box<[u32]>,
    nfree: usize,
    /// Blocks `fresh..` have not been used since the last clear.
    fresh: usize,
    /// Levels held. Invariant: the sum of `dir[..nb].len`, `<= cap` between operations.
    len: usize,
    /// The most levels the side holds.
    pub(super) cap: usize,
    /// +1 for bids, -1 for asks: `key = sign * price` grows towards the best level (exact).
    pub(super) sign: f64,
    /// The largest key dropped since the last clear (`-inf` when none).
    pub(super) horizon: f64,
}

impl core::fmt::Debug for Ladder {
    /// The live levels only (best first), not the whole storage.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        struct Levels<'a>(&'a Ladder);
        impl core::fmt::Debug for Levels<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_list().entries(self.0.iter()).finish()
            }
        }
        f.debug_struct("Ladder")
            .field("cap", &self.cap)
            .field("horizon_key", &self.horizon)
            .field("levels", &Levels(self))
            .finish()
    }
}

impl Ladder {
    /// Blocks a side of `cap` levels needs: enough for `cap + 1` levels (an insertion into
    /// a full side precedes the drop of its worst level) under the directory's invariant.
    fn blocks(cap: usize) -> usize {
        if cap == 0 {
            0
        } else {
            2 * ((cap + 1) / (BLOCK + 1)) + 2
        }
    }

    pub(super) fn new(cap: usize, sign: f64) -> Self {
        let blocks = Self::blocks(cap);
        Self {
            slab: vec![Level::default(); blocks * BLOCK].into_boxed_slice(),
            keys: vec![0.0; blocks * BLOCK].into_boxed_slice(),
            dir: vec![Entry::default(); blocks].into_boxed_slice(),
            nb: 0,
            free: vec![0; blocks].into_boxed_slice(),
            nfree: 0,
            fresh: 0,
            len: 0,
            cap,
            sign,
            horizon: f64::NEG_INFINITY,
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn key(&self, l: Level) -> f64 {
        self.sign * l.price
    }

    /// Moves the levels (and their keys) of `from` to start at `to` (overlap allowed).
    #[inline]
    fn move_levels(&mut self, from: core::ops::Range<usize>, to: usize) {
        self.slab.copy_within(from.clone(), to);
        self.keys.copy_within(from, to);
    }

    /// Writes `level` at slab index `at`.
    #[inline]
    fn put(&mut self, at: usize, level: Level) {
        self.slab[at] = level;
        self.keys[at] = self.key(level);
    }

    #[inline]
    fn base(&self, j: usize) -> usize {
        self.dir[j].block as usize * BLOCK
    }

    /// The levels of directory entry `j`, worst first.
    #[inline]
    fn block(&self, e: &Entry) -> &[Level] {
        &self.slab[e.block as usize * BLOCK..][..e.len as usize]
    }

    /// The levels, best first.
    #[inline]
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = Level> + '_ {
        self.dir[..self.nb]
            .iter()
            .rev()
            .flat_map(move |e| self.block(e).iter().rev().copied())
    }

    /// Level `rank` (0 = the best): walks the blocks from the best, `O(rank / BLOCK)`.
    #[inline]
    pub(super) fn level(&self, mut rank: usize) -> Option<Level> {
        for e in self.dir[..self.nb].iter().rev() {
            let len = e.len as usize;
            if rank < len {
                return Some(self.slab[e.block as usize * BLOCK + len - 1 - rank]);
            }
            rank -= len;
        }
        None
    }

    pub(super) fn clear(&mut self) {
        self.nb = 0;
        self.nfree = 0;
        self.fresh = 0;
        self.len = 0;
        self.horizon = f64::NEG_INFINITY;
    }

    /// The directory entry whose block holds `key` or would receive it: the last block whose
    /// first key is at or below `key`, or block 0. Needs `nb > 0`.
    #[inline]
    fn block_of(&self, key: f64) -> usize {
        let last = self.nb - 1;
        if key >= self.dir[last].min {
            return last;
        }
        self.dir[..last]
            .partition_point(|e| e.min <= key)
            .saturating_sub(1)
    }

    /// `Ok((j, i))`: the level of `key` is level `i` of directory entry `j`; `Err((j, i))`:
    /// it would be inserted there.
    #[inline]
    fn find(&self, key: f64) -> Result<(usize, usize), (usize, usize)> {
        if self.nb == 0 {
            return Err((0, 0));
        }
        let j = self.block_of(key);
        let e = self.dir[j];
        let keys = &self.keys[e.block as usize * BLOCK..][..e.len as usize];
        let n = keys.len();
        let mut scan = 0;
        if j == self.nb - 1 {
            // The top block: most updates land among its best levels.
            scan = n.min(TOP_SCAN);
            for i in (n - scan..n).rev() {
                let k = keys[i];
                if k <= key {
                    return if k == key {
                        Ok((j, i))
                    } else {
                        Err((j, i + 1))
                    };
                }
            }
        }
        let rest = &keys[..n - scan];
        // The keys are sorted: the count of those below `key` is its position. A count
        // compiles to SIMD compares, no chain of dependent loads as in a binary search.
        let p = rest.iter().filter(|&&k| k < key).count();
        match rest.get(p) {
            Some(&k) if k == key => Ok((j, p)),
            _ => Err((j, p)),
        }
    }

    #[inline]
    pub(super) fn set(&mut self, price: f64, size: f64) -> LevelChange {
        let key = self.sign * price;
        match self.find(key) {
            Ok((j, i)) if size == 0.0 => {
                self.remove(j, i);
                LevelChange::Removed
            }
            Ok((j, i)) => {
                let at = self.base(j) + i;
                self.slab[at].size = size;
                LevelChange::Changed
            }
            Err(_) if size == 0.0 => {
                if key > self.horizon {
                    LevelChange::UnknownRemoval
                } else {
                    LevelChange::RemovedBeyondHorizon
                }
            }
            Err((j, i)) => self.insert(j, i, key, Level { price, size }),
        }
    }

    #[inline]
    fn insert(&mut self, j: usize, i: usize, key: f64, level: Level) -> LevelChange {
        if self.len < self.cap {
            self.insert_at(j, i, level);
            return LevelChange::Inserted;
        }
        if self.len == 0 || key < self.dir[0].min {
            // Worse than every kept level (or a side of depth 0).
            self.horizon = self.horizon.max(key);
            return LevelChange::Dropped;
        }
        self.horizon = self.horizon.max(self.dir[0].min);
        self.insert_at(j, i, level);
        self.remove(0, 0);
        LevelChange::InsertedDroppingWorst
    }

    /// Inserts `level` at level `i` of directory entry `j` (as [`Ladder::find`] placed it).
    #[inline]
    fn insert_at(&mut self, j: usize, i: usize, level: Level) {
        if self.nb == 0 {
            let b = self.alloc_block();
            self.put(b as usize * BLOCK, level);
            self.dir[0] = Entry {
                min: self.key(level),
                block: b,
                len: 1,
            };
            self.nb = 1;
        } else if (self.dir[j].len as usize) < BLOCK {
            self.insert_in_block(j, i, level);
        } else {
            self.insert_full(j, i, level);
        }
        self.len += 1;
    }

    /// Inserts into a block with room, moving the levels above `i`.
    #[inline]
    fn insert_in_block(&mut self, j: usize, i: usize, level: Level) {
        let e = self.dir[j];
        let (base, len) = (e.block as usize * BLOCK, e.len as usize);
        debug_assert!(len < BLOCK && i <= len);
        self.move_levels(base + i..base + len, base + i + 1);
        self.put(base + i, level);
        self.dir[j].len += 1;
        if i == 0 {
            self.dir[j].min = self.keys[base];
        }
    }

    /// Inserts into a full block: passes its worst level to the previous block or its best to
    /// the next one if that has room (so the pair invariant holds), else splits it in two.
    #[cold]
    #[inline(never)]
    fn insert_full(&mut self, j: usize, i: usize, level: Level) {
        let base = self.base(j);
        if j > 0 && (self.dir[j - 1].len as usize) < BLOCK {
            // `i >= 1`: only block 0 receives keys below its first.
            debug_assert!(i >= 1);
            let first = self.slab[base];
            let end = self.dir[j - 1].len as usize;
            self.insert_in_block(j - 1, end, first);
            self.move_levels(base + 1..base + i, base);
            self.put(base + i - 1, level);
            self.dir[j].min = self.keys[base];
            return;
        }
        if j + 1 < self.nb && (self.dir[j + 1].len as usize) < BLOCK {
            if i == BLOCK {
                self.insert_in_block(j + 1, 0, level);
                return;
            }
            let last = self.slab[base + BLOCK - 1];
            self.insert_in_block(j + 1, 0, last);
            self.move_levels(base + i..base + BLOCK - 1, base + i + 1);
            self.put(base + i, level);
            self.dir[j].min = self.keys[base];
            return;
        }
        // Both neighbours full (or absent): split; each half and its neighbour hold more
        // than `BLOCK` levels.
        let half = BLOCK / 2;
        let b = self.alloc_block();
        let new_base = b as usize * BLOCK;
        self.move_levels(base + half..base + BLOCK, new_base);
        self.dir.copy_within(j + 1..self.nb, j + 2);
        self.dir[j + 1] = Entry {
            min: self.keys[new_base],
            block: b,
            len: half as u32,
        };
        self.dir[j].len = half as u32;
        self.nb += 1;
        if i <= half {
            self.insert_in_block(j, i, level);
        } else {
            self.insert_in_block(j + 1, i - half, level);
        }
    }

    /// Removes level `i` of directory entry `j`, then unlinks the block if empty or merges it
    /// with a neighbour when the two fit in one block (restoring the pair invariant).
    #[inline]
    fn remove(&mut self, j: usize, i: usize) {
        let base = self.base(j);
        let len = self.dir[j].len as usize;
        self.move_levels(base + i + 1..base + len, base + i);
        self.len -= 1;
        let len = len - 1;
        self.dir[j].len = len as u32;
        if len == 0 {
            self.unlink(j);
            return;
        }
        if i == 0 {
            self.dir[j].min = self.keys[base];
        }
        if j > 0 && self.dir[j - 1].len as usize + len <= BLOCK {
            self.merge(j - 1);
        } else if j + 1 < self.nb && len + self.dir[j + 1].len as usize <= BLOCK {
            self.merge(j);
        }
    }

    /// Appends the levels of directory entry `j + 1` to entry `j`'s block and unlinks it.
    #[cold]
    #[inline(never)]
    fn merge(&mut self, j: usize) {
        let (a, b) = (self.dir[j], self.dir[j + 1]);
        debug_assert!((a.len + b.len) as usize <= BLOCK);
        let from = b.block as usize * BLOCK;
        let to = a.block as usize * BLOCK + a.len as usize;
        self.move_levels(from..from + b.len as usize, to);
        self.dir[j].len += b.len;
        self.unlink(j + 1);
    }

    /// Drops directory entry `j` and frees its block.
    #[inline(never)]
    fn unlink(&mut self, j: usize) {
        self.free[self.nfree] = self.dir[j].block;
        self.nfree += 1;
        self.dir.copy_within(j + 1..self.nb, j);
        self.nb -= 1;
    }

    /// A block not in use (there is one: see the invariant on `dir`).
    #[inline]
    fn alloc_block(&mut self) -> u32 {
        if self.nfree > 0 {
            self.nfree -= 1;
            self.free[self.nfree]
        } else {
            debug_assert!(self.fresh < self.dir.len());
            self.fresh += 1;
            (self.fresh - 1) as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::collections::BTreeMap;

    /// Checks every invariant of the ladder and returns its keys, worst first.
    fn check(l: &Ladder) -> Vec<f64> {
        let mut keys = Vec::new();
        let mut used = Vec::new();
        for (j, e) in l.dir[..l.nb].iter().enumerate() {
            let levels = l.block(e);
            assert!((1..=BLOCK).contains(&levels.len()), "block {j} len");
            assert_eq!(e.min, l.key(levels[0]), "block {j} min");
            if j + 1 < l.nb {
                assert!(
                    (e.len + l.dir[j + 1].len) as usize > BLOCK,
                    "pair {j} too small"
                );
            }
            assert!(levels.iter().all(|x| x.size > 0.0));
            let keys_of = &l.keys[e.block as usize * BLOCK..][..levels.len()];
            assert!(
                levels.iter().zip(keys_of).all(|(x, k)| l.key(*x) == *k),
                "keys"
            );
            keys.extend(levels.iter().map(|x| l.key(*x)));
            used.push(e.block);
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys sorted");
        assert_eq!(keys.len(), l.len());
        assert!(l.len() <= l.cap);
        assert!(l.nb <= l.dir.len());
        used.extend_from_slice(&l.free[..l.nfree]);
        used.extend((l.fresh..l.dir.len()).map(|b| b as u32));
        used.sort_unstable();
        let all: Vec<u32> = (0..l.dir.len() as u32).collect();
        assert_eq!(used, all, "every block live, free or fresh exactly once");
        let best: Vec<f64> = l.iter().map(|x| l.key(x)).collect();
        assert!(best.iter().rev().eq(keys.iter()));
        for (r, k) in best.iter().enumerate() {
            assert_eq!(l.level(r).map(|x| l.key(x)), Some(*k));
        }
        assert_eq!(l.level(best.len()), None);
        keys
    }

    /// A bounded side as a map: the reference for the ladder's set.
    fn reference_set(m: &mut BTreeMap<i64, f64>, cap: usize, key: i64, size: f64) {
        if size == 0.0 {
            m.remove(&key);
        } else if m.contains_key(&key) || m.len() < cap {
            m.insert(key, size);
        } else if m.keys().next().is_some_and(|&w| w < key) {
            m.pop_first();
            m.insert(key, size);
        }
    }

    fn random_stream(cap: usize, sign: f64, span: u64, n: usize, seed: u64) {
        let mut l = Ladder::new(cap, sign);
        let mut m = BTreeMap::new();
        let mut rng = Rng::new(seed);
        for step in 0..n {
            let k = 1 + (rng.next_u64() % span) as i64;
            let size = if rng.next_u64().is_multiple_of(3) {
                0.0
            } else {
                1.0 + (rng.next_u64() % 9) as f64
            };
            l.set(sign * k as f64, size);
            reference_set(&mut m, cap, k, size);
            if step % 7 == 0 || n < 5000 {
                let keys = check(&l);
                let want: Vec<f64> = m.keys().map(|&k| k as f64).collect();
                assert_eq!(keys, want, "cap {cap} step {step}");
            }
        }
        check(&l);
    }

    #[test]
    fn random_streams_match_a_map_at_every_depth() {
        for (cap, span, n) in [
            (1, 10, 2000),
            (2, 10, 2000),
            (63, 200, 20_000),
            (64, 200, 20_000),
            (65, 200, 20_000),
            (129, 400, 20_000),
            (1000, 3000, 60_000),
        ] {
            random_stream(cap, 1.0, span, n, cap as u64);
            random_stream(cap, -1.0, span, n, cap as u64 + 7);
        }
    }

    #[test]
    fn splits_spills_and_merges_at_block_boundaries() {
        let mut l = Ladder::new(1000, 1.0);
        // Ascending inserts: the top block fills and splits again and again.
        for k in 1..=600 {
            l.set(f64::from(2 * k), 1.0);
            check(&l);
        }
        assert!(l.nb > 600 / BLOCK);
        // Inserts between existing keys land in full blocks: spills to neighbours and splits.
        for k in 1..=300 {
            l.set(f64::from(2 * k + 1), 1.0);
            check(&l);
        }
        // Remove every other level from the bottom up: blocks shrink and merge.
        for k in 1..=600 {
            l.set(f64::from(2 * k), 0.0);
            check(&l);
        }
        assert_eq!(l.len(), 300);
        // Empty it from the top: blocks empty and unlink; the slab is reused afterwards.
        for k in (1..=300).rev() {
            l.set(f64::from(2 * k + 1), 0.0);
            check(&l);
        }
        assert_eq!((l.len(), l.nb), (0, 0));
        for k in 1..=1000 {
            l.set(f64::from(k), 1.0);
        }
        check(&l);
        assert_eq!(l.len(), 1000);
    }

    #[test]
    fn a_full_side_drops_its_worst_and_clear_resets_the_slab() {
        for cap in [1, 2, 64, 1000] {
            let mut l = Ladder::new(cap, -1.0);
            // Asks: key = -price, so lower prices are better.
            for p in (1..=2 * cap + 10).rev() {
                l.set(p as f64, 1.0);
                check(&l);
            }
            assert_eq!(l.len(), cap);
            assert_eq!(l.level(0).map(|x| x.price), Some(1.0));
            assert_eq!(l.horizon, -((cap + 1) as f64));
            assert_eq!(l.set(1e9, 1.0), LevelChange::Dropped);
            l.clear();
            check(&l);
            assert_eq!((l.len(), l.horizon), (0, f64::NEG_INFINITY));
            for p in 1..=cap {
                l.set(p as f64, 2.0);
            }
            check(&l);
            assert_eq!(l.len(), cap);
        }
        let mut l = Ladder::new(0, 1.0);
        assert_eq!(l.set(1.0, 1.0), LevelChange::Dropped);
        check(&l);
    }
}
