//! Compressed record batches. A batch whose attributes name a codec (bits 0-2) holds its
//! records compressed as one block: `1` gzip, `2` snappy (a raw snappy block, or the
//! "xerial" framing the Java client writes: an 8-byte magic, two versions, then
//! length-prefixed raw blocks), `3` LZ4 (the LZ4 frame format), `4` zstd (a zstd frame).
//! Producers choose the codec; this reader takes all four, so a topic written by any Kafka
//! client with any `compression.type` reads as an uncompressed one does.
//!
//! The records are decompressed into a buffer the reader keeps ([`BatchReader`](crate::record::BatchReader)), so after the
//! first batches a fetch's decompression reuses memory. A batch may not expand beyond
//! [`MAX_DECOMPRESSED`] (a malicious or broken producer cannot make the consumer allocate
//! without bound); such a batch, or one that does not decompress, is a
//! [`KafkaError::Wire`](crate::KafkaError) error naming the codec.

use std::io::Read;

use crate::conn::KafkaError;
use crate::wire::WireError;

/// The largest records section a compressed batch may expand to: 64 MiB, above Kafka's
/// largest default batch (`message.max.bytes`, 1 MiB) by far.
pub const MAX_DECOMPRESSED: usize = 64 << 20;

/// Codec number of the record-batch attributes: no compression.
pub const NONE: i16 = 0;
/// Codec number: gzip.
pub const GZIP: i16 = 1;
/// Codec number: snappy.
pub const SNAPPY: i16 = 2;
/// Codec number: LZ4 (frame format).
pub const LZ4: i16 = 3;
/// Codec number: zstd.
pub const ZSTD: i16 = 4;

/// The name of codec `c`, for messages.
pub fn codec_name(c: i16) -> &'static str {
    match c {
        NONE => "none",
        GZIP => "gzip",
        SNAPPY => "snappy",
        LZ4 => "lz4",
        ZSTD => "zstd",
        _ => "unknown",
    }
}

const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

/// Decompression state kept between batches: the output buffer and the decoders that can be
/// reused.
#[derive(Default)]
pub struct Decompressor {
    out: Vec<u8>,
    snappy: Option<snap::raw::Decoder>,
    zstd: Option<ruzstd::decoding::FrameDecoder>,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("capacity", &self.out.capacity())
            .finish_non_exhaustive()
    }
}

fn corrupt(c: i16) -> KafkaError {
    KafkaError::Wire(WireError(match c {
        GZIP => "gzip record batch does not decompress",
        SNAPPY => "snappy record batch does not decompress",
        LZ4 => "lz4 record batch does not decompress",
        _ => "zstd record batch does not decompress",
    }))
}

fn too_large() -> KafkaError {
    KafkaError::Wire(WireError(
        "compressed record batch expands beyond 64 MiB (MAX_DECOMPRESSED)",
    ))
}

/// Reads all of `r` into `out` (cleared first), at most [`MAX_DECOMPRESSED`] bytes.
fn read_bounded(mut r: impl Read, out: &mut Vec<u8>, c: i16) -> Result<(), KafkaError> {
    out.clear();
    let n = r
        .by_ref()
        .take(MAX_DECOMPRESSED as u64 + 1)
        .read_to_end(out)
        .map_err(|_| corrupt(c))?;
    if n > MAX_DECOMPRESSED {
        return Err(too_large());
    }
    Ok(())
}

impl Decompressor {
    /// Decompresses `input`, a batch's records section compressed with codec `c`, and
    /// returns the records' bytes (valid until the next call).
    ///
    /// # Errors
    /// [`KafkaError::Unsupported`] for a codec number outside 1-4; [`KafkaError::Wire`] for
    /// bytes that do not decompress or expand beyond [`MAX_DECOMPRESSED`].
    pub fn decompress(&mut self, c: i16, input: &[u8]) -> Result<&[u8], KafkaError> {
        if input.is_empty() && (GZIP..=ZSTD).contains(&c) {
            // Every codec writes a header even for no records: nothing is not a batch.
            return Err(corrupt(c));
        }
        match c {
            GZIP => {
                read_bounded(flate2::read::MultiGzDecoder::new(input), &mut self.out, c)?;
            }
            SNAPPY => self.snappy(input)?,
            LZ4 => {
                read_bounded(lz4_flex::frame::FrameDecoder::new(input), &mut self.out, c)?;
            }
            ZSTD => {
                let frame = self
                    .zstd
                    .get_or_insert_with(ruzstd::decoding::FrameDecoder::new);
                let mut src = input;
                let decoder = ruzstd::decoding::StreamingDecoder::new_with_decoder(&mut src, frame)
                    .map_err(|_| corrupt(c))?;
                read_bounded(decoder, &mut self.out, c)?;
            }
            other => {
                return Err(KafkaError::Unsupported(format!(
                    "record batch compression codec {other} (known: 1 gzip, 2 snappy, 3 lz4, 4 zstd)"
                )));
            }
        }
        Ok(&self.out)
    }

    fn snappy(&mut self, input: &[u8]) -> Result<(), KafkaError> {
        let c = SNAPPY;
        self.out.clear();
        let decoder = self.snappy.get_or_insert_with(snap::raw::Decoder::new);
        let mut block = |block: &[u8], out: &mut Vec<u8>| -> Result<(), KafkaError> {
            let len = snap::raw::decompress_len(block).map_err(|_| corrupt(c))?;
            let at = out.len();
            if at + len > MAX_DECOMPRESSED {
                return Err(too_large());
            }
            out.resize(at + len, 0);
            let n = decoder
                .decompress(block, &mut out[at..])
                .map_err(|_| corrupt(c))?;
            out.truncate(at + n);
            Ok(())
        };
        match input.strip_prefix(&XERIAL_MAGIC) {
            None => block(input, &mut self.out),
            Some(rest) => {
                // Two big-endian i32 versions, then (i32 length, raw block) pairs.
                let mut rest = rest.get(8..).ok_or_else(|| corrupt(c))?;
                while !rest.is_empty() {
                    let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(|| corrupt(c))?;
                    let len = usize::try_from(i32::from_be_bytes(*len)).map_err(|_| corrupt(c))?;
                    let b = tail.get(..len).ok_or_else(|| corrupt(c))?;
                    block(b, &mut self.out)?;
                    rest = &tail[len..];
                }
                Ok(())
            }
        }
    }
}

/// Compresses `records` with codec `c` (what a producer does; used by tests and the
/// publisher's `--compression`).
///
/// # Errors
/// [`KafkaError::Unsupported`] for a codec outside 1-4.
pub fn compress(c: i16, records: &[u8]) -> Result<Vec<u8>, KafkaError> {
    use std::io::Write;
    let io = |e: std::io::Error| KafkaError::Unsupported(format!("compressing: {e}"));
    Ok(match c {
        GZIP => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(records).map_err(io)?;
            e.finish().map_err(io)?
        }
        SNAPPY => snap::raw::Encoder::new()
            .compress_vec(records)
            .map_err(|e| KafkaError::Unsupported(format!("compressing: {e}")))?,
        LZ4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(records).map_err(io)?;
            e.finish()
                .map_err(|e| KafkaError::Unsupported(format!("compressing: {e}")))?
        }
        ZSTD => {
            ruzstd::encoding::compress_to_vec(records, ruzstd::encoding::CompressionLevel::Fastest)
        }
        other => {
            return Err(KafkaError::Unsupported(format!(
                "record batch compression codec {other}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        let mut d = Decompressor::default();
        for c in [GZIP, SNAPPY, LZ4, ZSTD] {
            let z = compress(c, &data).unwrap();
            assert!(z.len() < data.len(), "{}", codec_name(c));
            assert_eq!(d.decompress(c, &z).unwrap(), &data[..], "{}", codec_name(c));
            // Reused state gives the same answer.
            assert_eq!(d.decompress(c, &z).unwrap(), &data[..], "{}", codec_name(c));
        }
    }

    #[test]
    fn xerial_framed_snappy_is_read_block_by_block() {
        let data = sample();
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend(1i32.to_be_bytes());
        framed.extend(1i32.to_be_bytes());
        for part in data.chunks(32 * 1024) {
            let z = snap::raw::Encoder::new().compress_vec(part).unwrap();
            framed.extend((z.len() as i32).to_be_bytes());
            framed.extend(z);
        }
        let mut d = Decompressor::default();
        assert_eq!(d.decompress(SNAPPY, &framed).unwrap(), &data[..]);
        // A block cut short is an error, not a panic.
        let cut = &framed[..framed.len() - 3];
        assert!(matches!(
            d.decompress(SNAPPY, cut),
            Err(KafkaError::Wire(_))
        ));
    }

    #[test]
    fn garbage_and_unknown_codecs_are_errors() {
        let mut d = Decompressor::default();
        for c in [GZIP, SNAPPY, LZ4, ZSTD] {
            for junk in [&b""[..], b"\x00\x01\x02\x03 not compressed at all"] {
                assert!(d.decompress(c, junk).is_err(), "{} {junk:?}", codec_name(c));
            }
        }
        assert!(matches!(
            d.decompress(5, b"x"),
            Err(KafkaError::Unsupported(_))
        ));
    }

    #[test]
    fn a_decompression_bomb_is_refused() {
        let zeros = vec![0u8; MAX_DECOMPRESSED + 1];
        let mut d = Decompressor::default();
        for c in [GZIP, ZSTD, LZ4, SNAPPY] {
            let z = compress(c, &zeros).unwrap();
            let err = d.decompress(c, &z).unwrap_err();
            assert!(
                err.to_string().contains("64 MiB"),
                "{}: {err}",
                codec_name(c)
            );
        }
    }
}
