//! [`FeedCounters`]: what a [`KafkaFeed`](crate::KafkaFeed) did, readable from other threads
//! during and after the run: totals, and per partition ([`PartitionList`], which grows when
//! the topic gains partitions while the feed runs).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crate::client::MAX_PARTITIONS;

/// One partition's figures, readable during and after the run.
#[derive(Debug)]
pub struct PartitionCounters {
    /// Whether this feed holds the partition now.
    pub assigned: AtomicBool,
    /// Records read from it (ticks and bad records).
    pub records: AtomicU64,
    /// Last offset committed by this feed (-1: none).
    pub committed: AtomicI64,
    /// High watermark seen in the last fetch (-1: not fetched).
    pub high_watermark: AtomicI64,
    /// End offset when the feed started (or, for a partition added to the topic later, when
    /// the feed first saw it).
    pub end_at_start: AtomicI64,
}

impl PartitionCounters {
    fn new() -> Self {
        Self {
            assigned: AtomicBool::new(false),
            records: AtomicU64::new(0),
            committed: AtomicI64::new(-1),
            high_watermark: AtomicI64::new(-1),
            end_at_start: AtomicI64::new(-1),
        }
    }

    /// Records between the committed offset and the high watermark (0 when unknown).
    pub fn lag(&self) -> u64 {
        let hw = self.high_watermark.load(Ordering::Relaxed);
        let c = self.committed.load(Ordering::Relaxed);
        if hw < 0 || c < 0 {
            return 0;
        }
        (hw - c).max(0) as u64
    }
}

/// What a feed did at the boundary; shared so the caller can read it after the run.
#[derive(Debug)]
pub struct FeedCounters {
    /// Records read (ticks and bad records).
    pub records: AtomicU64,
    /// Bad records written to `TOPIC.dead`.
    pub dead_lettered: AtomicU64,
    /// Successful reconnections after a connection was lost.
    pub reconnects: AtomicU64,
    /// Assignments received after the first (rebalances this member went through).
    pub rebalances: AtomicU64,
    /// OffsetCommit requests that succeeded.
    pub commits: AtomicU64,
    /// Ticks handed to the pipeline whose partition was given up before they were
    /// acknowledged (another member may process them again: at-least-once).
    pub revoked_in_flight: AtomicU64,
    /// Per partition of the topic, by partition index.
    pub partitions: PartitionList,
}

impl FeedCounters {
    /// Zeroes, no partitions yet.
    pub(crate) fn new() -> Self {
        Self {
            records: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            rebalances: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            revoked_in_flight: AtomicU64::new(0),
            partitions: PartitionList::new(),
        }
    }
}

/// Partitions in the first chunk of a [`PartitionList`]; chunk `k` holds `FIRST << k`.
const FIRST: usize = 64;
/// Chunks of a [`PartitionList`]: together they hold `FIRST * (2^CHUNKS - 1)` partitions.
const CHUNKS: usize = 11;
const _: () = assert!(FIRST * ((1 << CHUNKS) - 1) >= MAX_PARTITIONS);

/// The [`PartitionCounters`] of every partition of a topic, by partition index: a list the
/// feed's thread appends to (when the topic gains partitions) while other threads read it,
/// without locks. Counters never move once made (they live in chunks of doubling size,
/// each made once), so a reader holds `&PartitionCounters` across a growth.
#[derive(Debug)]
pub struct PartitionList {
    /// Chunk `k` holds partitions `FIRST * (2^k - 1)` up to `FIRST * (2^(k+1) - 1)`.
    chunks: [OnceLock<Box<[PartitionCounters]>>; CHUNKS],
    /// Partitions in the list. Invariant: every chunk holding an index below it is made,
    /// and the counters below it are set up (stored before the Release store of `len`
    /// that readers' Acquire loads pair with). Only grows, up to [`MAX_PARTITIONS`].
    len: AtomicUsize,
}

impl PartitionList {
    fn new() -> Self {
        Self {
            chunks: std::array::from_fn(|_| OnceLock::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// Partitions in the list.
    pub fn len(&self) -> usize {
        // Acquire: pairs with the Release store in `grow`.
        self.len.load(Ordering::Acquire)
    }

    /// Whether the list holds no partition yet (before the feed read the topic's metadata).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters of partition `p` (`None` beyond the list).
    pub fn get(&self, p: usize) -> Option<&PartitionCounters> {
        if p >= self.len() {
            return None;
        }
        let (k, i) = chunk_of(p);
        self.chunks[k].get()?.get(i)
    }

    /// The counters of every partition, by partition index.
    pub fn iter(&self) -> impl Iterator<Item = &PartitionCounters> + '_ {
        (0..self.len()).filter_map(|p| self.get(p))
    }

    /// Appends one partition per entry of `ends` (its end offset now), up to
    /// [`MAX_PARTITIONS`] in all (the client refuses topics with more). Called by the
    /// feed's thread only.
    pub(crate) fn grow(&self, ends: &[i64]) {
        let from = self.len.load(Ordering::Relaxed);
        let to = (from + ends.len()).min(MAX_PARTITIONS);
        debug_assert_eq!(to - from, ends.len(), "a topic beyond MAX_PARTITIONS");
        for (p, &end) in (from..to).zip(ends) {
            let (k, i) = chunk_of(p);
            let chunk = self.chunks[k]
                .get_or_init(|| (0..FIRST << k).map(|_| PartitionCounters::new()).collect());
            chunk[i].end_at_start.store(end, Ordering::Relaxed);
        }
        // Release: the chunks and counters set up above are seen by whoever loads `len`.
        self.len.store(to, Ordering::Release);
    }
}

/// The chunk holding partition `p`, and its index there.
fn chunk_of(p: usize) -> (usize, usize) {
    let k = (p / FIRST + 1).ilog2() as usize;
    (k, p - FIRST * ((1 << k) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_tile_the_partition_indices() {
        let mut want = (0, 0);
        for p in 0..MAX_PARTITIONS {
            let (k, i) = chunk_of(p);
            assert!(k < CHUNKS && i < FIRST << k, "{p}");
            if i == 0 && p > 0 {
                want = (want.0 + 1, 0);
            }
            assert_eq!((k, i), want, "{p}");
            want.1 += 1;
        }
    }

    #[test]
    fn the_list_grows_and_what_was_read_stays_put() {
        let l = PartitionList::new();
        assert!(l.is_empty() && l.get(0).is_none());
        l.grow(&[5, 6, 7]);
        let first = l.get(0).unwrap();
        first.records.store(9, Ordering::Relaxed);
        l.grow(&vec![1; 1_000]);
        assert_eq!(l.len(), 1_003);
        // The reference taken before the growth still reads the same counters.
        assert!(std::ptr::eq(first, l.get(0).unwrap()));
        assert_eq!(l.get(0).unwrap().records.load(Ordering::Relaxed), 9);
        let ends: Vec<i64> = l
            .iter()
            .map(|c| c.end_at_start.load(Ordering::Relaxed))
            .collect();
        assert_eq!(ends[..4], [5, 6, 7, 1]);
        assert_eq!(ends.len(), 1_003);
        assert!(l.get(1_003).is_none());
        // Up to the limit of partitions.
        l.grow(&vec![0; MAX_PARTITIONS - 1_003]);
        assert_eq!(l.iter().count(), MAX_PARTITIONS);
        assert!(l.get(MAX_PARTITIONS - 1).is_some());
    }
}
