//! A compute shard's state in and out of a checkpoint (layout in [`crate::checkpoint`]).
//!
//! What a shard's future signals depend on: the normalisation statistics and the block being
//! gathered, the projection (and whether it is still the initial sparse one), the row count,
//! the rows of the PCA window gathered so far, and a refresh in flight (its result, which is
//! a function of rows already seen, is waited for and stored with its apply point). The
//! matrix rows outside the window are overwritten before the next refresh reads them, so
//! they are not stored.

use super::pca::PcaJob;
use super::{ComputeError, ComputeStage, PCA_ROWS, PROJ};
use crate::checkpoint::{CheckpointError, Reader, put};
use crate::features::WIDTH;

/// Rows of the PCA window gathered after `seen` rows of a shard (written in the
/// [`PCA_ROWS`] rows up to a refresh point; see `project_and_read_out`).
fn window_rows(seen: u64, every: u64) -> usize {
    if every == 0 {
        return 0;
    }
    let m = seen % every;
    let start = every - PCA_ROWS as u64;
    if m > start { (m - start) as usize } else { 0 }
}

impl ComputeStage {
    /// Appends shard `shard`'s state to `out`. A refresh in flight is waited for first (its
    /// result is stored). Allocates only if `out` lacks the room.
    ///
    /// # Errors
    /// [`ComputeError`] if this stage does not hold the shard, or the refresh failed.
    pub(crate) fn snapshot_shard(
        &mut self,
        shard: usize,
        out: &mut Vec<f64>,
    ) -> Result<(), ComputeError> {
        let s = Self::shard_mut(&mut self.shards, shard)?;
        if s.apply_at.is_some() && s.ready.is_none() {
            let results = s.pca_done.as_mut().ok_or(ComputeError::Config(
                "a PCA refresh is in flight but has no result ring",
            ))?;
            let job = self.pca.collect(results, &mut self.stats)?;
            if job.shard != shard {
                return Err(ComputeError::Config(
                    "a PCA result for a shard not held here",
                ));
            }
            s.ready = Some(job);
        }
        if let Some(job) = s.ready.as_mut()
            && let Some(e) = job.failed.take()
        {
            return Err(e);
        }
        let k = window_rows(s.seen, self.config.pca_every);
        put(out, s.seen);
        put(out, s.block_rows as u64);
        put(out, s.apply_at.unwrap_or(u64::MAX));
        put(out, u64::from(s.sparse.is_some()));
        put(out, k as u64);
        for column in [
            &s.count,
            &s.mean,
            &s.m2,
            &s.reference,
            &s.sum,
            &s.sum_sq,
            &s.gain,
            &s.shift,
            &s.proj_t,
        ] {
            out.extend_from_slice(column);
        }
        if s.apply_at.is_some() {
            let job = s.ready.as_ref().ok_or(ComputeError::Config(
                "a PCA refresh is due but none was submitted",
            ))?;
            out.extend_from_slice(&job.new_t);
        }
        if k > 0 {
            let recent = s
                .recent
                .as_ref()
                .ok_or(ComputeError::Config("the PCA window is lent to a refresh"))?;
            for r in s.seen - k as u64..s.seen {
                out.extend_from_slice(recent.row((r % PCA_ROWS as u64) as usize));
            }
        }
        Ok(())
    }

    /// Replaces shard `shard`'s state with a checkpoint's. The shard must be as built (no
    /// row seen): restore before the first batch.
    ///
    /// # Errors
    /// [`CheckpointError`] if the words end early or are inconsistent (a window that does
    /// not match the row count, a bad flag), or the shard is not fresh or not held here.
    pub(crate) fn restore_shard(
        &mut self,
        shard: usize,
        r: &mut Reader<'_>,
    ) -> Result<(), CheckpointError> {
        let every = self.config.pca_every;
        let s = Self::shard_mut(&mut self.shards, shard).map_err(CheckpointError::Compute)?;
        if s.seen != 0 || s.ready.is_some() || s.apply_at.is_some() {
            return Err(CheckpointError::Compute(ComputeError::Config(
                "a checkpoint restores only into a fresh compute shard",
            )));
        }
        let seen = r.u64()?;
        let block_rows = r.usize_at_most(super::NORM_BLOCK - 1, "normalisation block rows")?;
        let apply_at = match r.u64()? {
            u64::MAX => None,
            a if every > 0 && a > seen && a - seen <= every => Some(a),
            _ => return Err(CheckpointError::Corrupt("PCA apply point")),
        };
        let sparse = match r.u64()? {
            0 => false,
            1 if s.sparse.is_some() => true,
            _ => return Err(CheckpointError::Corrupt("sparse projection flag")),
        };
        let k = r.usize_at_most(PCA_ROWS, "PCA window rows")?;
        if k != window_rows(seen, every) || (k > 0 && s.recent.is_none()) {
            return Err(CheckpointError::Corrupt("PCA window rows"));
        }
        s.seen = seen;
        s.block_rows = block_rows;
        for column in [
            &mut s.count,
            &mut s.mean,
            &mut s.m2,
            &mut s.reference,
            &mut s.sum,
            &mut s.sum_sq,
            &mut s.gain,
            &mut s.shift,
            &mut s.proj_t,
        ] {
            r.copy_into(column)?;
        }
        if !sparse {
            // The projection is a refresh's: dense from now on (as `apply_refresh` leaves it).
            s.sparse = None;
        }
        if let Some(a) = apply_at {
            // The refresh in flight, finished: its result waits for its apply point.
            let (Some(matrix), Some((mut old_t, mut new_t))) = (s.recent.take(), s.spare.take())
            else {
                return Err(CheckpointError::Compute(ComputeError::Config(
                    "a fresh shard lacks its PCA buffers",
                )));
            };
            r.copy_into(&mut new_t)?;
            old_t.copy_from_slice(&s.proj_t);
            s.ready = Some(PcaJob {
                shard,
                seed: seen,
                matrix,
                old_t,
                new_t,
                failed: None,
            });
            s.apply_at = Some(a);
        }
        if k > 0 {
            let recent = s
                .recent
                .as_mut()
                .ok_or(CheckpointError::Corrupt("PCA window rows"))?;
            for row in seen - k as u64..seen {
                r.copy_into(recent.row_mut((row % PCA_ROWS as u64) as usize))?;
            }
        }
        debug_assert_eq!(PROJ * WIDTH, s.proj_t.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::begin;
    use crate::compute::ComputeConfig;
    use zerotick_kernels::Kernels;
    use zerotick_mem::{Batch, Reusable};

    fn stage(config: ComputeConfig) -> ComputeStage {
        ComputeStage::new(config, Kernels::active(), 32).unwrap()
    }

    /// Deterministic pseudo-random rows.
    fn fill(batch: &mut Batch, rows: usize, salt: u64) {
        batch.clear();
        let mut x = salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for _ in 0..rows {
            let row = batch.push_row_mut().unwrap();
            for v in row.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            }
        }
    }

    fn signals(st: &mut ComputeStage, batches: std::ops::Range<u64>) -> Vec<u64> {
        let mut batch = Batch::try_zeroed(32, WIDTH).unwrap();
        let mut sig = vec![0.0; 32];
        let mut out = Vec::new();
        for b in batches {
            fill(&mut batch, 32, b);
            st.process(0, &mut batch, &mut sig).unwrap();
            out.extend(sig.iter().map(|x| x.to_bits()));
        }
        out
    }

    /// A checkpoint taken at every interesting point of the PCA cycle (before any refresh,
    /// inside the window, with a refresh in flight, after it was applied) restores a stage
    /// that goes on bit for bit as the original.
    #[test]
    fn a_restored_shard_continues_bit_for_bit() {
        let config = ComputeConfig {
            shards: 1,
            pca_every: 2048,
            pca_publish_delay_rows: 256,
            ..ComputeConfig::default()
        };
        // 32 rows per batch: 2048 rows = 64 batches; window from row 1024 (batch 32),
        // refresh at 2048 (batch 64), applied at 2304 (batch 72).
        for cut in [1u64, 20, 40, 64, 66, 80, 100, 130] {
            let mut a = stage(config);
            signals(&mut a, 0..cut);
            let mut words = Vec::new();
            begin(&mut words, 1);
            a.snapshot_shard(0, &mut words).unwrap();
            let mut b = stage(config);
            let mut r = Reader::open(&words, 1).unwrap();
            b.restore_shard(0, &mut r).unwrap();
            r.finish().unwrap();
            assert_eq!(
                signals(&mut a, cut..cut + 100),
                signals(&mut b, cut..cut + 100),
                "checkpoint after {cut} batches"
            );
        }
    }

    #[test]
    fn a_truncated_or_inconsistent_state_is_an_error() {
        let config = ComputeConfig {
            shards: 1,
            pca_every: 2048,
            pca_publish_delay_rows: 256,
            ..ComputeConfig::default()
        };
        let mut a = stage(config);
        signals(&mut a, 0..40);
        let mut words = Vec::new();
        begin(&mut words, 1);
        a.snapshot_shard(0, &mut words).unwrap();
        let mut b = stage(config);
        let mut r = Reader::open(&words[..words.len() - 1], 1).unwrap();
        assert!(matches!(
            b.restore_shard(0, &mut r),
            Err(CheckpointError::Truncated)
        ));
        // A row count that does not match the stored window.
        let mut bad = words.clone();
        bad[3] = f64::from_bits(5);
        let mut c = stage(config);
        let mut r = Reader::open(&bad, 1).unwrap();
        assert!(matches!(
            c.restore_shard(0, &mut r),
            Err(CheckpointError::Corrupt(_))
        ));
        // Restoring twice into one shard.
        let mut d = stage(config);
        d.restore_shard(0, &mut Reader::open(&words, 1).unwrap())
            .unwrap();
        assert!(
            d.restore_shard(0, &mut Reader::open(&words, 1).unwrap())
                .is_err()
        );
    }
}
