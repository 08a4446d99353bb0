//! Checkpoints: the pipeline's state (every symbol's feature state and every compute shard's
//! state) at a point of its input, so a run that resumes from the point the checkpoint's feed
//! position names emits bit for bit the signals an uninterrupted run emits.
//!
//! How a checkpoint is taken (Flink-style aligned barriers, `PipelineConfig::checkpoint_every`):
//! every that many ticks, the feed thread records the feed's position
//! ([`Feed::checkpoint_mark`](zerotick_core::Feed::checkpoint_mark)) and puts a barrier on the
//! tick ring behind the last event it pushed. The feature thread, meeting the barrier,
//! computes and emits every row before it (each compute shard comes home from its worker,
//! refreshes in flight are waited for), then copies the feature and compute state into a
//! preallocated word buffer and hands it to the feed thread, which encodes it
//! ([`encode_words`]) and stores it with the position
//! ([`Feed::checkpoint_save`](zerotick_core::Feed::checkpoint_save)). One checkpoint is in
//! flight at a time; the buffer goes back and forth, so a checkpoint allocates nothing once
//! the buffer has its size (the first checkpoint, and when new symbols appear).
//!
//! # Format (version [`STATE_VERSION`])
//! Little-endian 64-bit words (`u64` or `f64` bits):
//!
//! ```text
//! magic "ZTSTATE\0" | version | configuration fingerprint
//! features: symbols | block | row_every | per symbol: last log price, head, pending,
//!           ticks, returns[RET_WINDOW], ema[STATS * HORIZONS], prices, sizes, signs [block]
//! per compute shard: seen, block_rows, apply_at (u64::MAX: none), sparse (0/1), k,
//!           count, mean, m2, reference, sum, sum_sq, gain, shift [WIDTH each],
//!           proj_t [PROJ * WIDTH], the refresh result [PROJ * WIDTH] if apply_at,
//!           the k rows of the PCA window [k * WIDTH]
//! ```
//!
//! The fingerprint is a hash of every setting the state depends on (compute and feature
//! configuration, row width): a checkpoint restores only into a pipeline configured as the
//! one that wrote it. A wrong magic, version or fingerprint, a short or long payload, or
//! values out of range are a [`CheckpointError`], never a panic. Integrity of the bytes
//! (a checksum) is the store's concern (the Redis feed checks one).

use core::fmt;

use zerotick_core::hash::fnv1a64;

use crate::compute::{ComputeConfig, ComputeError};
use crate::features::{FeatureConfig, WIDTH};

/// The version of the state format this build writes and reads.
pub const STATE_VERSION: u32 = 1;

/// `"ZTSTATE\0"` as a little-endian word.
const MAGIC: u64 = u64::from_le_bytes(*b"ZTSTATE\0");

/// Why a checkpoint's state cannot be restored.
#[derive(Debug)]
pub enum CheckpointError {
    /// The payload is not a whole number of words, or ends before its last field.
    Truncated,
    /// The payload does not start with the state magic.
    BadMagic,
    /// Written by a build with another state format.
    Version {
        /// The version in the checkpoint.
        found: u64,
        /// The version this build reads.
        expected: u32,
    },
    /// Written by a pipeline configured differently (compute or feature settings).
    ConfigMismatch,
    /// A field is out of range (a count larger than its buffer, a bad flag), or bytes are
    /// left after the last field.
    Corrupt(&'static str),
    /// The compute stage refused the restored state.
    Compute(ComputeError),
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Truncated => f.write_str("checkpoint state is truncated"),
            CheckpointError::BadMagic => f.write_str("checkpoint state has no state magic"),
            CheckpointError::Version { found, expected } => write!(
                f,
                "checkpoint state has format version {found}; this build reads version {expected}"
            ),
            CheckpointError::ConfigMismatch => f.write_str(
                "checkpoint state was written by a pipeline with other compute or feature \
                 settings",
            ),
            CheckpointError::Corrupt(what) => write!(f, "checkpoint state is corrupt: {what}"),
            CheckpointError::Compute(e) => write!(f, "checkpoint state: {e}"),
        }
    }
}

impl std::error::Error for CheckpointError {}

/// A hash of every setting the state depends on.
pub(crate) fn fingerprint(compute: &ComputeConfig, features: &FeatureConfig) -> u64 {
    let text = format!("width {WIDTH} {compute:?} {features:?}");
    fnv1a64(text.as_bytes())
}

/// Appends a `u64` as a word.
#[inline]
pub(crate) fn put(out: &mut Vec<f64>, v: u64) {
    out.push(f64::from_bits(v));
}

/// Writes the header (magic, version, fingerprint) into an emptied `out`.
pub(crate) fn begin(out: &mut Vec<f64>, fingerprint: u64) {
    out.clear();
    put(out, MAGIC);
    put(out, u64::from(STATE_VERSION));
    put(out, fingerprint);
}

/// Reads words in order; every read checks the length.
pub(crate) struct Reader<'a> {
    words: &'a [f64],
}

impl<'a> Reader<'a> {
    /// Checks the header against `fingerprint` and returns a reader after it.
    pub(crate) fn open(words: &'a [f64], fingerprint: u64) -> Result<Self, CheckpointError> {
        let mut r = Self { words };
        if r.u64()? != MAGIC {
            return Err(CheckpointError::BadMagic);
        }
        let found = r.u64()?;
        if found != u64::from(STATE_VERSION) {
            return Err(CheckpointError::Version {
                found,
                expected: STATE_VERSION,
            });
        }
        if r.u64()? != fingerprint {
            return Err(CheckpointError::ConfigMismatch);
        }
        Ok(r)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, CheckpointError> {
        Ok(self.f64()?.to_bits())
    }

    /// A count or index at most `max`.
    pub(crate) fn usize_at_most(
        &mut self,
        max: usize,
        what: &'static str,
    ) -> Result<usize, CheckpointError> {
        match usize::try_from(self.u64()?) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(CheckpointError::Corrupt(what)),
        }
    }

    pub(crate) fn f64(&mut self) -> Result<f64, CheckpointError> {
        let (&w, rest) = self.words.split_first().ok_or(CheckpointError::Truncated)?;
        self.words = rest;
        Ok(w)
    }

    /// The next `n` words.
    pub(crate) fn slice(&mut self, n: usize) -> Result<&'a [f64], CheckpointError> {
        if self.words.len() < n {
            return Err(CheckpointError::Truncated);
        }
        let (head, rest) = self.words.split_at(n);
        self.words = rest;
        Ok(head)
    }

    /// Words not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.words.len()
    }

    /// Copies the next `dst.len()` words into `dst`, which must all be finite (state that
    /// only ever holds finite values: a non-finite word there is corruption, and restoring
    /// it would poison every later value computed from it).
    pub(crate) fn copy_finite_into(
        &mut self,
        dst: &mut [f64],
        what: &'static str,
    ) -> Result<(), CheckpointError> {
        let src = self.slice(dst.len())?;
        if !src.iter().all(|v| v.is_finite()) {
            return Err(CheckpointError::Corrupt(what));
        }
        dst.copy_from_slice(src);
        Ok(())
    }

    /// Copies the next `dst.len()` words into `dst`.
    pub(crate) fn copy_into(&mut self, dst: &mut [f64]) -> Result<(), CheckpointError> {
        dst.copy_from_slice(self.slice(dst.len())?);
        Ok(())
    }

    /// Fails unless every word was read.
    pub(crate) fn finish(self) -> Result<(), CheckpointError> {
        if self.words.is_empty() {
            Ok(())
        } else {
            Err(CheckpointError::Corrupt("bytes after the last field"))
        }
    }
}

/// Encodes state words as little-endian bytes into `out` (cleared first). This is the
/// serialisation step, run on the feed thread, not a compute thread.
pub fn encode_words(words: &[f64], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(words.len() * 8);
    for w in words {
        out.extend_from_slice(&w.to_bits().to_le_bytes());
    }
}

/// Decodes little-endian bytes into words.
///
/// # Errors
/// [`CheckpointError::Truncated`] if `bytes` is not a whole number of words.
pub fn decode_words(bytes: &[u8]) -> Result<Vec<f64>, CheckpointError> {
    if !bytes.len().is_multiple_of(8) {
        return Err(CheckpointError::Truncated);
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            f64::from_bits(u64::from_le_bytes(b))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_bit_for_bit_including_nan_payloads() {
        let words = [
            0.0,
            -0.0,
            f64::NAN,
            f64::from_bits(0x7ff8_dead_beef_0001),
            1e-310,
        ];
        let mut bytes = Vec::new();
        encode_words(&words, &mut bytes);
        let back = decode_words(&bytes).unwrap();
        let bits = |w: &[f64]| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&words));
        assert!(matches!(
            decode_words(&bytes[..7]),
            Err(CheckpointError::Truncated)
        ));
    }

    #[test]
    fn the_header_is_checked() {
        let mut w = Vec::new();
        begin(&mut w, 42);
        assert!(Reader::open(&w, 42).is_ok());
        assert!(matches!(
            Reader::open(&w, 43),
            Err(CheckpointError::ConfigMismatch)
        ));
        w[1] = f64::from_bits(99);
        assert!(matches!(
            Reader::open(&w, 42),
            Err(CheckpointError::Version { found: 99, .. })
        ));
        w[0] = 1.0;
        assert!(matches!(
            Reader::open(&w, 42),
            Err(CheckpointError::BadMagic)
        ));
        assert!(matches!(
            Reader::open(&w[..2], 42),
            Err(CheckpointError::BadMagic)
        ));
        assert!(matches!(
            Reader::open(&[], 42),
            Err(CheckpointError::Truncated)
        ));
    }
}
