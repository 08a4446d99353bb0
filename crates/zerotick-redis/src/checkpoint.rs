//! The checkpoint envelope a [`RedisFeed`](crate::RedisFeed) stores: the stream positions a
//! pipeline state reflects, the symbol names in index order, and the state itself (opaque
//! here: the pipeline's format, with its own version), under one checksum.
//!
//! One key per group and shard set, `STREAM.ckpt.GROUP` (unsharded) or
//! `STREAM.ckpt.GROUP.I,J` ([`checkpoint_key`]), written with a single `SET` (atomic: a
//! reader sees the old checkpoint or the new one, never a mix).
//!
//! # Layout (version [`ENVELOPE_VERSION`], little-endian)
//! ```text
//! magic "ZTCKPT\0\0" (8) | version u32 | shards u32
//! | per shard: ms u64, seq u64, epoch length u16, epoch bytes
//! | symbols u32 | per symbol: length u16, UTF-8 name | state length u64, state
//! | FNV-1a 64 of every byte before it (u64)
//! ```
//! Positions are the last entry of each shard (in the feed's shard order) that the state
//! reflects; names let a resumed feed give every symbol the index it had, so compute-shard
//! assignment (`symbol % shards`) and the state line up. The epoch of a shard names the
//! incarnation of the consumer group on it (a token stored when the group is created,
//! [`group_key`] with `"epoch"`): a checkpoint whose epochs are not the group's current ones
//! was taken before the stream or the group was deleted and created again, and is stale.

use core::fmt;

use zerotick_core::hash::fnv1a64;

use crate::StreamId;

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 2;

const MAGIC: &[u8; 8] = b"ZTCKPT\0\0";

/// The key of the checkpoint of `group` reading `shards` of `stream` (`None`: unsharded).
pub fn checkpoint_key(stream: &str, group: &str, shards: Option<&[u32]>) -> String {
    group_key(stream, "ckpt", group, shards)
}

/// The key `STREAM.KIND.GROUP[.I,J]` of what `group` keeps about `shards` of `stream`
/// (`None`: unsharded): `ckpt` the checkpoint, `owner` the lease of the consumer that holds
/// the shard set. For one shard stream's group epoch, `group_key(shard_stream, "epoch",
/// group, None)`.
pub fn group_key(stream: &str, kind: &str, group: &str, shards: Option<&[u32]>) -> String {
    match shards {
        None => format!("{stream}.{kind}.{group}"),
        Some(list) => {
            let list: Vec<String> = list.iter().map(u32::to_string).collect();
            format!("{stream}.{kind}.{group}.{}", list.join(","))
        }
    }
}

/// A checkpoint read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Per shard, the last entry the state reflects (`0-0`: none).
    pub positions: Vec<StreamId>,
    /// Per shard, the epoch of the group when the checkpoint was taken.
    pub epochs: Vec<Vec<u8>>,
    /// Symbol names, by index.
    pub names: Vec<String>,
    /// The pipeline's state bytes.
    pub state: Vec<u8>,
}

/// Why stored bytes are not a usable checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Shorter than its fields say, or not starting with the magic.
    Malformed(&'static str),
    /// Written by a build with another envelope format.
    Version(u32),
    /// The checksum does not match: the bytes were changed or cut.
    Checksum,
    /// For another number of shards than this feed reads.
    Shards {
        /// Shards in the checkpoint.
        found: usize,
        /// Shards this feed reads.
        expected: usize,
    },
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::Malformed(what) => write!(f, "malformed checkpoint: {what}"),
            EnvelopeError::Version(v) => write!(
                f,
                "checkpoint format version {v}; this build reads version {ENVELOPE_VERSION}"
            ),
            EnvelopeError::Checksum => f.write_str("checkpoint checksum mismatch (corrupt)"),
            EnvelopeError::Shards { found, expected } => write!(
                f,
                "checkpoint holds {found} shard positions; this feed reads {expected} shards"
            ),
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// Writes an envelope into `out` (cleared first): `positions` and `epochs` per shard (the
/// same length). Names and epochs longer than `u16::MAX` bytes cannot occur (the feed
/// accepts at most 64 symbols of at most 64 bytes, and makes its epochs short).
pub fn encode(
    positions: &[StreamId],
    epochs: &[Vec<u8>],
    names: &[&str],
    state: &[u8],
    out: &mut Vec<u8>,
) {
    debug_assert_eq!(positions.len(), epochs.len());
    out.clear();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&ENVELOPE_VERSION.to_le_bytes());
    out.extend_from_slice(&(positions.len() as u32).to_le_bytes());
    for (p, e) in positions.iter().zip(epochs) {
        out.extend_from_slice(&p.ms.to_le_bytes());
        out.extend_from_slice(&p.seq.to_le_bytes());
        let e = &e[..e.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(e.len() as u16).to_le_bytes());
        out.extend_from_slice(e);
    }
    out.extend_from_slice(&(names.len() as u32).to_le_bytes());
    for n in names {
        let b = &n.as_bytes()[..n.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(b.len() as u16).to_le_bytes());
        out.extend_from_slice(b);
    }
    out.extend_from_slice(&(state.len() as u64).to_le_bytes());
    out.extend_from_slice(state);
    let sum = fnv1a64(out);
    out.extend_from_slice(&sum.to_le_bytes());
}

/// Reads an envelope written for `shards` shards.
///
/// # Errors
/// [`EnvelopeError`] for anything but a well-formed envelope of this version with a
/// matching checksum and shard count.
pub fn decode(bytes: &[u8], shards: usize) -> Result<Envelope, EnvelopeError> {
    if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(EnvelopeError::Malformed("no checkpoint magic"));
    }
    let mut r = Cursor {
        b: &bytes[MAGIC.len()..],
    };
    let version = r.u32()?;
    if version != ENVELOPE_VERSION {
        return Err(EnvelopeError::Version(version));
    }
    let Some(body) = bytes.len().checked_sub(8) else {
        return Err(EnvelopeError::Malformed("too short"));
    };
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&bytes[body..]);
    if body < MAGIC.len() + 4 || fnv1a64(&bytes[..body]) != u64::from_le_bytes(sum) {
        return Err(EnvelopeError::Checksum);
    }
    r.b = &bytes[MAGIC.len() + 4..body];
    let n = r.u32()? as usize;
    if n != shards {
        return Err(EnvelopeError::Shards {
            found: n,
            expected: shards,
        });
    }
    let mut positions = Vec::with_capacity(n.min(r.b.len() / 18));
    let mut epochs = Vec::with_capacity(positions.capacity());
    for _ in 0..n {
        positions.push(StreamId {
            ms: r.u64()?,
            seq: r.u64()?,
        });
        let len = usize::from(r.u16()?);
        epochs.push(r.take(len)?.to_vec());
    }
    let count = r.u32()? as usize;
    let mut names = Vec::with_capacity(count.min(r.b.len() / 2));
    for _ in 0..count {
        let len = usize::from(r.u16()?);
        let name = std::str::from_utf8(r.take(len)?)
            .map_err(|_| EnvelopeError::Malformed("symbol name is not UTF-8"))?;
        names.push(name.to_owned());
    }
    let len = usize::try_from(r.u64()?).map_err(|_| EnvelopeError::Malformed("state length"))?;
    let state = r.take(len)?.to_vec();
    if !r.b.is_empty() {
        return Err(EnvelopeError::Malformed("bytes after the state"));
    }
    Ok(Envelope {
        positions,
        epochs,
        names,
        state,
    })
}

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EnvelopeError> {
        if self.b.len() < n {
            return Err(EnvelopeError::Malformed("truncated"));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, EnvelopeError> {
        let mut a = [0u8; 2];
        a.copy_from_slice(self.take(2)?);
        Ok(u16::from_le_bytes(a))
    }

    fn u32(&mut self) -> Result<u32, EnvelopeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }

    fn u64(&mut self) -> Result<u64, EnvelopeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            &[StreamId { ms: 5, seq: 7 }, StreamId::default()],
            &[b"e0".to_vec(), b"epoch-1".to_vec()],
            &["BTCUSDT", "ETHUSDT"],
            b"state bytes",
            &mut out,
        );
        out
    }

    #[test]
    fn round_trip() {
        let e = decode(&sample(), 2).unwrap();
        assert_eq!(
            e.positions,
            [StreamId { ms: 5, seq: 7 }, StreamId::default()]
        );
        assert_eq!(e.epochs, [b"e0".to_vec(), b"epoch-1".to_vec()]);
        assert_eq!(e.names, ["BTCUSDT", "ETHUSDT"]);
        assert_eq!(e.state, b"state bytes");
    }

    #[test]
    fn every_single_byte_change_or_cut_is_refused() {
        let good = sample();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad, 2).is_err(), "flip at {i}");
            assert!(decode(&good[..i], 2).is_err(), "cut at {i}");
        }
        assert_eq!(
            decode(&good, 3),
            Err(EnvelopeError::Shards {
                found: 2,
                expected: 3
            })
        );
    }

    #[test]
    fn another_version_is_named() {
        let mut bad = sample();
        bad[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(decode(&bad, 2), Err(EnvelopeError::Version(1)));
    }

    #[test]
    fn keys_name_the_group_and_shards() {
        assert_eq!(checkpoint_key("t", "g", None), "t.ckpt.g");
        assert_eq!(checkpoint_key("t", "g", Some(&[0, 2])), "t.ckpt.g.0,2");
        assert_eq!(group_key("t.3", "epoch", "g", None), "t.3.epoch.g");
    }
}
