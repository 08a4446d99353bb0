//! Record batches (magic 2: the format every Kafka since 0.11 writes), and the tick layout of
//! a record: key = symbol name, value = 26 fixed bytes.
//!
//! | value bytes | field |
//! |---|---|
//! | 0 | layout version, `1` |
//! | 1..9 | exchange timestamp, ns since the Unix epoch, `u64` big-endian, at most `i64::MAX` |
//! | 9..17 | price, `f64` big-endian (IEEE 754 bits), finite, > 0 |
//! | 17..25 | size, `f64` big-endian, finite, >= 0 |
//! | 25 | side: `0` unknown, `1` buy, `2` sell |

use zerotick_core::hash::fnv1a64;
use zerotick_core::symbols::SymbolTable;
use zerotick_core::{MAX_TS_NS, RejectReason, Side, Tick};

use crate::codec::Decompressor;
use crate::conn::KafkaError;
use crate::wire::{Reader, WireError, Writer, crc32c, varint_len, varlong_len};

/// Bytes of a tick's value.
pub const TICK_VALUE_LEN: usize = 26;
/// The layout version byte of a tick's value.
pub const TICK_LAYOUT: u8 = 1;
/// Longest symbol name (the key) accepted, bytes.
pub const MAX_SYMBOL_LEN: usize = 64;
/// Most distinct symbols one feed accepts.
pub const MAX_SYMBOLS: usize = zerotick_core::symbols::MAX_SYMBOLS;

/// The partition of symbol `name` among `partitions`: FNV-1a 64 of its UTF-8 bytes modulo
/// the partition count, the same function as the Redis stream shards, so a symbol always
/// lives in one partition (and keeps its order). Stable across runs, machines and versions.
///
/// ```
/// // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
/// assert_eq!(zerotick_kafka::partition_of("a", 4), (0xaf63_dc4c_8601_ec8c_u64 % 4) as i32);
/// assert_eq!(zerotick_kafka::partition_of("anything", 1), 0);
/// ```
pub fn partition_of(symbol: &str, partitions: i32) -> i32 {
    (fnv1a64(symbol.as_bytes()) % partitions.max(1) as u64) as i32
}

/// A tick's 26-byte value.
pub fn tick_value(t: &Tick) -> [u8; TICK_VALUE_LEN] {
    let mut v = [0u8; TICK_VALUE_LEN];
    v[0] = TICK_LAYOUT;
    v[1..9].copy_from_slice(&t.ts_ns.to_be_bytes());
    v[9..17].copy_from_slice(&t.price.to_bits().to_be_bytes());
    v[17..25].copy_from_slice(&t.size.to_bits().to_be_bytes());
    v[25] = match t.side {
        Side::Unknown => 0,
        Side::Buy => 1,
        Side::Sell => 2,
    };
    v
}

/// What one record of a tick topic holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoded {
    /// A valid tick (its symbol interned in the table given to [`decode_tick`]).
    Tick(Tick),
    /// A record that is not a valid tick, and why.
    Rejected(RejectReason),
}

/// Decodes a record of a tick topic: the key is the symbol name, the value the layout in the
/// module docs. A null key or value is [`RejectReason::MissingField`], a value of another
/// length [`RejectReason::FieldCount`], another layout version [`RejectReason::UnknownEvent`].
pub fn decode_tick(key: Option<&[u8]>, value: Option<&[u8]>, symbols: &mut SymbolTable) -> Decoded {
    use RejectReason as R;
    let (Some(key), Some(v)) = (key, value) else {
        return Decoded::Rejected(R::MissingField);
    };
    let Ok(v) = <&[u8; TICK_VALUE_LEN]>::try_from(v) else {
        return Decoded::Rejected(R::FieldCount);
    };
    if v[0] != TICK_LAYOUT {
        return Decoded::Rejected(R::UnknownEvent);
    }
    let word = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&v[i..i + 8]);
        u64::from_be_bytes(b)
    };
    let ts_ns = word(1);
    if ts_ns > MAX_TS_NS {
        return Decoded::Rejected(R::BadTimestamp);
    }
    let price = f64::from_bits(word(9));
    if !(price.is_finite() && price > 0.0) {
        return Decoded::Rejected(R::BadPrice);
    }
    let size = f64::from_bits(word(17));
    if !(size.is_finite() && size >= 0.0) {
        return Decoded::Rejected(R::BadSize);
    }
    let side = match v[25] {
        0 => Side::Unknown,
        1 => Side::Buy,
        2 => Side::Sell,
        _ => return Decoded::Rejected(R::BadSide),
    };
    let Ok(name) = std::str::from_utf8(key) else {
        return Decoded::Rejected(R::BadUtf8);
    };
    if name.is_empty() || name.len() > MAX_SYMBOL_LEN {
        return Decoded::Rejected(R::TooLong);
    }
    let Some(symbol) = symbols.intern(name) else {
        return Decoded::Rejected(R::TooManySymbols);
    };
    Decoded::Tick(Tick {
        ts_ns,
        symbol,
        price,
        size,
        side,
    })
}

/// The idempotent producer's identity written into a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    /// Producer id (from InitProducerId).
    pub id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Sequence number of the batch's first record in its partition.
    pub base_sequence: i32,
}

/// A record batch being written into a [`Writer`] (see [`BatchBuilder::begin`]).
#[derive(Debug)]
pub struct BatchBuilder {
    /// Where the batch starts in the writer.
    at: usize,
    base_ts: i64,
    max_ts: i64,
    count: i32,
}

/// Offsets of the batch header's fields from the batch's start.
const LENGTH_AT: usize = 8;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_DELTA_AT: usize = 23;
const MAX_TS_AT: usize = 35;
const COUNT_AT: usize = 57;
/// Bytes of a batch header.
const HEADER_LEN: usize = 61;

impl BatchBuilder {
    /// Writes a batch header into `w` (fields filled in by [`BatchBuilder::finish`]).
    pub fn begin(w: &mut Writer, base_ts_ms: i64, producer: Option<ProducerIdentity>) -> Self {
        let at = w.len_bytes();
        let p = producer.unwrap_or(ProducerIdentity {
            id: -1,
            epoch: -1,
            base_sequence: -1,
        });
        w.i64(0) // base offset: the broker assigns it
            .i32(0) // length
            .i32(-1) // partition leader epoch
            .i8(2) // magic
            .i32(0) // crc
            .i16(0) // attributes: no compression, create time, not transactional
            .i32(0) // last offset delta
            .i64(base_ts_ms)
            .i64(base_ts_ms)
            .i64(p.id)
            .i16(p.epoch)
            .i32(p.base_sequence)
            .i32(0); // record count
        Self {
            at,
            base_ts: base_ts_ms,
            max_ts: base_ts_ms,
            count: 0,
        }
    }

    /// Records written so far.
    pub fn count(&self) -> i32 {
        self.count
    }

    /// Bytes of the batch so far in `w` (the writer it was begun in), header included.
    pub fn len_bytes(&self, w: &Writer) -> usize {
        w.len_bytes() - self.at
    }

    /// Appends a record with `key`, `value` and `headers` (name, value), timestamp `ts_ms`.
    pub fn push(
        &mut self,
        w: &mut Writer,
        ts_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) {
        let ts_delta = ts_ms.saturating_sub(self.base_ts);
        let opt_len = |b: Option<&[u8]>| match b {
            Some(b) => varint_len(b.len() as i32) + b.len(),
            None => varint_len(-1),
        };
        let mut body = 1
            + varlong_len(ts_delta)
            + varint_len(self.count)
            + opt_len(key)
            + opt_len(value)
            + varint_len(headers.len() as i32);
        for (k, v) in headers {
            body += varint_len(k.len() as i32) + k.len() + varint_len(v.len() as i32) + v.len();
        }
        w.varint(body as i32)
            .i8(0)
            .varlong(ts_delta)
            .varint(self.count);
        for b in [key, value] {
            match b {
                Some(b) => w.varint(b.len() as i32).raw(b),
                None => w.varint(-1),
            };
        }
        w.varint(headers.len() as i32);
        for (k, v) in headers {
            w.varint(k.len() as i32)
                .raw(k.as_bytes())
                .varint(v.len() as i32)
                .raw(v);
        }
        self.max_ts = self.max_ts.max(ts_ms);
        self.count += 1;
    }

    /// As [`finish`](Self::finish), with the records compressed by codec `codec`
    /// ([`crate::codec`]; `0`: none) first, as a producer with `compression.type`
    /// set writes them.
    ///
    /// # Errors
    /// [`KafkaError::Unsupported`] for a codec outside 0-4 (nothing is changed then).
    pub fn finish_compressed(self, w: &mut Writer, codec: i16) -> Result<(), KafkaError> {
        if codec != 0 {
            let records_at = self.at + HEADER_LEN;
            let z = crate::codec::compress(codec, &w.as_bytes()[records_at..])?;
            let buf = w.buf_mut();
            buf.truncate(records_at);
            buf.extend_from_slice(&z);
            buf[self.at + ATTRIBUTES_AT..self.at + ATTRIBUTES_AT + 2]
                .copy_from_slice(&codec.to_be_bytes());
        }
        self.finish(w);
        Ok(())
    }

    /// Fills in the length, last offset delta, max timestamp, count and CRC.
    pub fn finish(self, w: &mut Writer) {
        let len = w.len_bytes() - self.at - 12;
        w.put_i32_at(self.at + LENGTH_AT, len as i32);
        w.put_i32_at(self.at + LAST_DELTA_AT, (self.count - 1).max(0));
        w.put_i64_at(self.at + MAX_TS_AT, self.max_ts);
        w.put_i32_at(self.at + COUNT_AT, self.count);
        let crc = crc32c(&w.as_bytes()[self.at + ATTRIBUTES_AT..]);
        w.put_i32_at(self.at + CRC_AT, crc as i32);
    }
}

/// Writes `batch`, a finished uncompressed record batch, into `out` (cleared first) with its
/// records compressed by codec `codec` ([`crate::codec`]): the batch
/// [`BatchBuilder::finish_compressed`] would have made of them.
///
/// # Errors
/// [`KafkaError::Unsupported`] for a codec outside 1-4, [`KafkaError::Wire`] for a `batch`
/// shorter than a batch header (`out` is left empty then).
pub fn compress_batch(batch: &[u8], codec: i16, out: &mut Writer) -> Result<(), KafkaError> {
    out.clear();
    let (Some(header), Some(records)) = (batch.get(..HEADER_LEN), batch.get(HEADER_LEN..)) else {
        return Err(WireError("record batch shorter than its header").into());
    };
    let z = crate::codec::compress(codec, records)?;
    out.raw(header).raw(&z);
    let len = out.len_bytes() - 12;
    out.put_i32_at(LENGTH_AT, len as i32);
    let attributes = i16::from_be_bytes([header[ATTRIBUTES_AT], header[ATTRIBUTES_AT + 1]]);
    let attributes = (attributes & !0x07) | codec;
    out.buf_mut()[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c(&out.as_bytes()[ATTRIBUTES_AT..]);
    out.put_i32_at(CRC_AT, crc as i32);
    Ok(())
}

/// One record read from a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp, ms.
    pub timestamp_ms: i64,
    /// Key (`None`: null).
    pub key: Option<&'a [u8]>,
    /// Value (`None`: null).
    pub value: Option<&'a [u8]>,
    /// The record's headers, encoded (read them with [`RecordView::header`]).
    pub headers: &'a [u8],
    /// How many headers there are.
    pub header_count: i32,
}

impl<'a> RecordView<'a> {
    /// The value of the first header named `name` (`Some(None)`: present with a null value).
    pub fn header(&self, name: &str) -> Option<Option<&'a [u8]>> {
        let mut r = Reader::new(self.headers);
        for _ in 0..self.header_count.max(0) {
            let k = r.varint_bytes().ok()?;
            let v = r.varint_bytes().ok()?;
            if k == Some(name.as_bytes()) {
                return Some(v);
            }
        }
        None
    }
}

/// Calls `f` for every record at or after `from` in the record batches `data` (a fetch's
/// records of one partition), in offset order; returns the offset after the last complete
/// batch (control batches and gaps included), or `from` if there was none. A batch cut off
/// at the end of `data` (the fetch's byte limit) is left for the next fetch. Compressed
/// batches are decompressed into memory made for this call: a consumer that reads many
/// fetches keeps a [`BatchReader`] instead.
///
/// Offsets come from the broker and are checked, not trusted: within a batch they rise
/// strictly from its base offset to at most its last offset, batches do not overlap, and
/// complete batches end after `from` (so reading again from the offset returned makes
/// progress and never hands a record out twice).
///
/// # Errors
/// As [`BatchReader::read`].
pub fn read_batches(
    data: &[u8],
    from: i64,
    f: impl FnMut(RecordView<'_>) -> Result<(), KafkaError>,
) -> Result<i64, KafkaError> {
    BatchReader::default().read(data, from, f)
}

/// Reads record batches, compressed ones too (every codec Kafka has: gzip, snappy, LZ4,
/// zstd; see [`crate::codec`]), decompressing into memory it keeps between calls.
#[derive(Debug, Default)]
pub struct BatchReader {
    decompressor: Decompressor,
    compressed: u64,
}

impl BatchReader {
    /// Compressed batches read so far.
    pub fn compressed_batches(&self) -> u64 {
        self.compressed
    }

    /// As [`read_batches`], reusing this reader's decompression buffer.
    ///
    /// # Errors
    /// [`KafkaError::Wire`] for a malformed batch, a CRC mismatch, offsets that are negative,
    /// overflow, do not rise strictly, overlap an earlier batch or all lie before `from`, or
    /// a compressed batch that does not decompress (or expands beyond
    /// [`crate::codec::MAX_DECOMPRESSED`]); [`KafkaError::Unsupported`] for an old message
    /// format (magic 0 or 1) or an unknown codec; and whatever `f` returns.
    pub fn read(
        &mut self,
        data: &[u8],
        from: i64,
        f: impl FnMut(RecordView<'_>) -> Result<(), KafkaError>,
    ) -> Result<i64, KafkaError> {
        self.read_at_most(data, from, usize::MAX, f)
    }

    /// As [`read`](Self::read), handing `f` at most `limit` records: at a record at or
    /// after `from` that would be one too many, reading stops and the offset returned is
    /// that record's, the first not handed out, so reading again from it loses and repeats
    /// nothing. A consumer bounds what one fetch queues this way (a compressed batch may
    /// hold millions of small records).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn read_at_most(
        &mut self,
        data: &[u8],
        from: i64,
        limit: usize,
        mut f: impl FnMut(RecordView<'_>) -> Result<(), KafkaError>,
    ) -> Result<i64, KafkaError> {
        let mut budget = limit;
        let mut next = from;
        // Offset after the last complete batch read so far (-1: none yet): the next batch
        // starts at or after it.
        let mut batch_end = -1i64;
        let mut r = Reader::new(data);
        while r.remaining() >= HEADER_LEN {
            let base = r.i64()?;
            let len = r.i32()?;
            if len < (HEADER_LEN - 12) as i32 {
                return Err(WireError("record batch length").into());
            }
            if (len as usize) > r.remaining() {
                break; // cut off by the fetch's byte limit
            }
            let body = r.take(len as usize)?;
            let mut b = Reader::new(body);
            let _leader_epoch = b.i32()?;
            let magic = b.i8()?;
            if magic != 2 {
                return Err(KafkaError::Unsupported(format!(
                    "record batch of magic {magic} (message format before Kafka 0.11)"
                )));
            }
            let crc = b.u32()?;
            if crc32c(&body[9..]) != crc {
                return Err(WireError("record batch CRC mismatch").into());
            }
            let attributes = b.i16()?;
            let last_delta = b.i32()?;
            let base_ts = b.i64()?;
            let _max_ts = b.i64()?;
            b.take(8 + 2 + 4)?; // producer id, epoch, base sequence
            let count = b.i32()?;
            let end = batch_end_offset(base, last_delta, batch_end)?;
            batch_end = end;
            next = next.max(end);
            if attributes & 0x20 != 0 {
                continue; // a control batch (transaction marker): no data
            }
            let rest = &body[b.position()..];
            let codec = attributes & 0x07;
            let records = if codec == 0 {
                rest
            } else {
                self.compressed += 1;
                self.decompressor.decompress(codec, rest)?
            };
            let header = Header {
                base,
                last_delta,
                base_ts,
                count,
            };
            if let Some(stop) = each_record(records, &header, from, &mut budget, &mut f)? {
                return Ok(stop);
            }
        }
        if batch_end >= 0 && next <= from {
            // Every batch ended before the offset asked for: reading again from `from`
            // would get the same batches forever.
            return Err(WireError("record batches end before the offset fetched").into());
        }
        Ok(next)
    }
}

/// The offset after a batch of base offset `base` and last offset delta `last_delta`,
/// checked: offsets are not negative and do not overflow, and the batch starts at or after
/// `prev_end`, the end of the batch before it (`-1`: none).
fn batch_end_offset(base: i64, last_delta: i32, prev_end: i64) -> Result<i64, KafkaError> {
    if base < 0 || last_delta < 0 {
        return Err(WireError("record batch offset or last offset delta negative").into());
    }
    if base < prev_end {
        return Err(WireError("record batches overlap").into());
    }
    base.checked_add(i64::from(last_delta))
        .and_then(|last| last.checked_add(1))
        .ok_or_else(|| WireError("record batch offsets overflow").into())
}

/// What [`each_record`] needs of a batch's header.
struct Header {
    base: i64,
    /// Checked by [`batch_end_offset`]: `base + last_delta + 1` does not overflow.
    last_delta: i32,
    base_ts: i64,
    count: i32,
}

/// Hands `f` the records at or after `from` of one batch's (decompressed) records section,
/// whose offset deltas must rise strictly from 0 up to `last_delta`, while `budget` lasts:
/// `Some(offset)` of the first record it had no budget left for.
fn each_record(
    records: &[u8],
    header: &Header,
    from: i64,
    budget: &mut usize,
    f: &mut impl FnMut(RecordView<'_>) -> Result<(), KafkaError>,
) -> Result<Option<i64>, KafkaError> {
    let Header {
        base,
        last_delta,
        base_ts,
        count,
    } = *header;
    let mut b = Reader::new(records);
    // Offset delta of the record before (-1: none yet).
    let mut prev_delta = -1i32;
    for _ in 0..count.max(0) {
        let rec_len = b.varint()?;
        if rec_len < 0 {
            return Err(WireError("record length").into());
        }
        let rec_bytes = b.take(rec_len as usize)?;
        let mut rec = Reader::new(rec_bytes);
        let _attr = rec.i8()?;
        let ts_delta = rec.varlong()?;
        let offset_delta = rec.varint()?;
        let key = rec.varint_bytes()?;
        let value = rec.varint_bytes()?;
        let header_count = rec.varint()?;
        let headers_at = rec.position();
        for _ in 0..header_count.max(0) {
            rec.varint_bytes()?;
            rec.varint_bytes()?;
        }
        let headers = &rec_bytes[headers_at..rec.position()];
        if offset_delta <= prev_delta || offset_delta > last_delta {
            return Err(WireError("record offset deltas not rising within the batch").into());
        }
        prev_delta = offset_delta;
        // Cannot overflow: base + last_delta + 1 was checked.
        let offset = base + i64::from(offset_delta);
        if offset >= from {
            if *budget == 0 {
                return Ok(Some(offset));
            }
            *budget -= 1;
            f(RecordView {
                offset,
                timestamp_ms: base_ts.saturating_add(ts_delta),
                key,
                value,
                headers,
                header_count,
            })?;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the tests compare it: offset, timestamp, key, value.
    type Seen = (i64, i64, Option<Vec<u8>>, Option<Vec<u8>>);

    /// Every record `reader` reads from `data` at or after `from`, and the next offset.
    fn collect(reader: &mut BatchReader, data: &[u8], from: i64) -> (i64, Vec<Seen>) {
        let mut seen = Vec::new();
        let next = reader
            .read(data, from, |r| {
                seen.push((
                    r.offset,
                    r.timestamp_ms,
                    r.key.map(<[u8]>::to_vec),
                    r.value.map(<[u8]>::to_vec),
                ));
                Ok(())
            })
            .unwrap();
        (next, seen)
    }

    fn tick(ts_ns: u64, price: f64, size: f64, side: Side) -> Tick {
        Tick {
            ts_ns,
            symbol: 0,
            price,
            size,
            side,
        }
    }

    #[test]
    fn compressed_batches_read_as_the_uncompressed_one() {
        let build = |codec: i16| {
            let mut w = Writer::new();
            let mut b = BatchBuilder::begin(&mut w, 1_000, None);
            for i in 0..500u64 {
                let t = tick(
                    1_700_000_000_000_000_000 + i,
                    100.0 + i as f64,
                    1.0,
                    Side::Buy,
                );
                b.push(
                    &mut w,
                    1_000 + i as i64,
                    Some(b"BTCUSDT"),
                    Some(&tick_value(&t)),
                    &[],
                );
            }
            b.finish_compressed(&mut w, codec).unwrap();
            w.as_bytes().to_vec()
        };
        let plain = build(0);
        let mut reader = BatchReader::default();
        let want = collect(&mut reader, &plain, 0);
        assert_eq!(want.1.len(), 500);
        for codec in 1..=4 {
            let z = build(codec);
            assert!(z.len() < plain.len(), "codec {codec} did not compress");
            assert_eq!(collect(&mut reader, &z, 0), want, "codec {codec}");
            // From an offset inside the batch, as a fetch resuming mid-batch sees it.
            let (next, tail) = collect(&mut reader, &z, 450);
            assert_eq!((next, tail.len()), (500, 50), "codec {codec}");
            // Two compressed batches back to back (the second at base offset 500, as a
            // broker would place it) reuse the reader's buffer.
            let mut second = z.clone();
            second[..8].copy_from_slice(&500i64.to_be_bytes());
            let two = [z.as_slice(), second.as_slice()].concat();
            let (next, both) = collect(&mut reader, &two, 0);
            assert_eq!((next, both.len()), (1000, 1000), "codec {codec}");
            assert_eq!(both[999].0, 999, "codec {codec}");
            // A flipped bit in the compressed bytes fails the CRC, not the decompressor.
            let mut bad = z.clone();
            let last = bad.len() - 2;
            bad[last] ^= 0x10;
            assert!(reader.read(&bad, 0, |_| Ok(())).is_err());
        }
        assert_eq!(reader.compressed_batches(), 4 * 4);
        // A finished plain batch compressed afterwards is the batch compressed in place.
        for codec in 1..=4 {
            let mut out = Writer::new();
            compress_batch(&plain, codec, &mut out).unwrap();
            assert_eq!(out.as_bytes(), build(codec), "codec {codec}");
        }
        let mut out = Writer::new();
        assert!(compress_batch(&plain, 9, &mut out).is_err());
        assert!(compress_batch(&plain[..HEADER_LEN - 1], 1, &mut out).is_err());
        let mut w = Writer::new();
        let b = BatchBuilder::begin(&mut w, 0, None);
        assert!(b.finish_compressed(&mut w, 7).is_err());
    }

    #[test]
    fn a_batch_round_trips_and_its_crc_is_checked() {
        let mut w = Writer::new();
        let mut b = BatchBuilder::begin(&mut w, 1_000, None);
        let t = tick(1_700_000_000_123_456_789, 0.1 + 0.2, 1e-9, Side::Sell);
        b.push(&mut w, 1_000, Some(b"ETH"), Some(&tick_value(&t)), &[]);
        b.push(&mut w, 1_002, None, Some(b"junk"), &[("reason", b"bad")]);
        b.finish(&mut w);
        let mut data = w.as_bytes().to_vec();
        // Pretend the broker assigned base offset 40.
        data[..8].copy_from_slice(&40i64.to_be_bytes());
        let (next, seen) = collect(&mut BatchReader::default(), &data, 0);
        assert_eq!(next, 42);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, 40);
        assert_eq!(seen[1], (41, 1_002, None, Some(b"junk".to_vec())));
        read_batches(&data, 41, |r| {
            assert_eq!(r.header("reason"), Some(Some(&b"bad"[..])));
            assert_eq!(r.header("nope"), None);
            Ok(())
        })
        .unwrap();
        let mut syms = SymbolTable::new(MAX_SYMBOLS);
        assert_eq!(
            decode_tick(seen[0].2.as_deref(), seen[0].3.as_deref(), &mut syms),
            Decoded::Tick(t)
        );
        // From offset 41 on: the first record is skipped.
        let mut n = 0;
        read_batches(&data, 41, |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
        // A flipped bit fails the CRC; a cut-off batch is left for later.
        let mut bad = data.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(read_batches(&bad, 0, |_| Ok(())).is_err());
        assert_eq!(
            read_batches(&data[..data.len() - 1], 7, |_| Ok(())).unwrap(),
            7
        );
    }

    /// A batch as a broker could send it: base offset `base`, last offset delta
    /// `last_delta`, one record (key `K`, value `V`) per offset delta in `deltas`, valid
    /// length and CRC.
    fn crafted(base: i64, last_delta: i32, deltas: &[i32]) -> Vec<u8> {
        let mut w = Writer::new();
        w.i64(base)
            .i32(0)
            .i32(-1)
            .i8(2)
            .i32(0)
            .i16(0)
            .i32(last_delta);
        w.i64(0)
            .i64(0)
            .i64(-1)
            .i16(-1)
            .i32(-1)
            .i32(deltas.len() as i32);
        for &d in deltas {
            let body = 1 + 1 + varint_len(d) + 2 + 2 + 1;
            w.varint(body as i32).i8(0).varlong(0).varint(d);
            w.varint(1).raw(b"K").varint(1).raw(b"V").varint(0);
        }
        let len = (w.len_bytes() - 12) as i32;
        w.put_i32_at(LENGTH_AT, len);
        let crc = crc32c(&w.as_bytes()[ATTRIBUTES_AT..]);
        w.put_i32_at(CRC_AT, crc as i32);
        w.as_bytes().to_vec()
    }

    /// The offsets `read_batches` hands out from `data` at `from`, and the next offset.
    fn offsets(data: &[u8], from: i64) -> Result<(Vec<i64>, i64), KafkaError> {
        let mut seen = Vec::new();
        let next = read_batches(data, from, |r| {
            seen.push(r.offset);
            Ok(())
        })?;
        Ok((seen, next))
    }

    #[test]
    fn broker_offsets_are_checked_not_trusted() {
        // Well-formed: gaps (compaction) are fine, the next offset is the batch's end.
        let ok = [crafted(10, 4, &[0, 2, 4]), crafted(15, 1, &[1])].concat();
        assert_eq!(offsets(&ok, 0).unwrap(), (vec![10, 12, 14, 16], 17));
        assert_eq!(offsets(&ok, 13).unwrap(), (vec![14, 16], 17));
        // The last offset i64::MAX is fine; an offset after it does not exist.
        assert_eq!(
            offsets(&crafted(i64::MAX - 1, 0, &[0]), 0).unwrap(),
            (vec![i64::MAX - 1], i64::MAX)
        );
        let bad: &[(&str, Vec<u8>, i64)] = &[
            ("next offset overflows", crafted(i64::MAX, 0, &[0]), 0),
            ("last offset overflows", crafted(i64::MAX - 5, 10, &[0]), 0),
            ("negative base offset", crafted(-3, 1, &[0, 1]), 0),
            ("negative last delta, no progress", crafted(10, -1, &[]), 10),
            ("duplicate deltas", crafted(0, 1, &[0, 0, 1]), 0),
            ("falling deltas", crafted(0, 1, &[1, 0]), 0),
            ("delta past the last", crafted(0, 1, &[0, 5]), 0),
            ("negative delta", crafted(5, 1, &[-1, 0]), 0),
            (
                "overlapping batches",
                [crafted(0, 2, &[0, 1, 2]), crafted(1, 1, &[0, 1])].concat(),
                0,
            ),
            (
                "every batch before the offset",
                crafted(0, 2, &[0, 1, 2]),
                10,
            ),
        ];
        for (what, data, from) in bad {
            match offsets(data, *from) {
                Err(KafkaError::Wire(_)) => {}
                other => panic!("{what}: {other:?}"),
            }
        }
        // No complete batch (a fetch cut short, or nothing new) is no progress and no error.
        let cut = crafted(10, 0, &[0]);
        assert_eq!(offsets(&cut[..cut.len() - 1], 10).unwrap(), (vec![], 10));
        assert_eq!(offsets(&[], 10).unwrap(), (vec![], 10));
    }

    #[test]
    fn a_limited_read_stops_at_the_first_record_it_does_not_hand_out() {
        // Offsets 0..=4, then 5 and 7 (6 compacted away).
        let data = [crafted(0, 4, &[0, 1, 2, 3, 4]), crafted(5, 2, &[0, 2])].concat();
        let mut reader = BatchReader::default();
        let mut read = |from: i64, limit: usize| {
            let mut seen = Vec::new();
            let next = reader
                .read_at_most(&data, from, limit, |r| {
                    seen.push(r.offset);
                    Ok(())
                })
                .unwrap();
            (seen, next)
        };
        assert_eq!(read(0, 3), (vec![0, 1, 2], 3));
        assert_eq!(read(3, 3), (vec![3, 4, 5], 7));
        assert_eq!(read(7, 3), (vec![7], 8));
        // Exactly what is left: the end of the last batch, as an unlimited read says.
        assert_eq!(read(5, 2), (vec![5, 7], 8));
        assert_eq!(read(0, usize::MAX), (vec![0, 1, 2, 3, 4, 5, 7], 8));
        assert_eq!(read(2, 0), (vec![], 2));
        // Reading on from each offset returned hands out every record once.
        for limit in 1..=8 {
            let (mut all, mut at) = (Vec::new(), 0);
            while at < 8 {
                let (seen, next) = read(at, limit);
                assert!(next > at, "limit {limit}: no progress at {at}");
                all.extend(seen);
                at = next;
            }
            assert_eq!(all, [0, 1, 2, 3, 4, 5, 7], "limit {limit}");
        }
    }

    #[test]
    fn bad_values_are_rejected_with_a_reason() {
        let mut s = SymbolTable::new(MAX_SYMBOLS);
        let ok = tick_value(&tick(5, 1.5, 2.0, Side::Buy));
        assert!(matches!(
            decode_tick(Some(b"X"), Some(&ok), &mut s),
            Decoded::Tick(_)
        ));
        let with = |i: usize, bytes: &[u8]| {
            let mut v = ok;
            v[i..i + bytes.len()].copy_from_slice(bytes);
            v
        };
        let nan = f64::NAN.to_bits().to_be_bytes();
        let neg = (-1.0f64).to_bits().to_be_bytes();
        let zero = 0.0f64.to_bits().to_be_bytes();
        let late = (MAX_TS_NS + 1).to_be_bytes();
        /// Key, value, and the reason the record is rejected.
        type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, RejectReason);
        let cases: &[Case<'_>] = &[
            (None, Some(&ok), RejectReason::MissingField),
            (Some(b"X"), None, RejectReason::MissingField),
            (Some(b"X"), Some(&ok[..25]), RejectReason::FieldCount),
            (Some(b"X"), Some(b""), RejectReason::FieldCount),
            (Some(b"X"), Some(&with(0, &[2])), RejectReason::UnknownEvent),
            (
                Some(b"X"),
                Some(&with(1, &late)),
                RejectReason::BadTimestamp,
            ),
            (Some(b"X"), Some(&with(9, &nan)), RejectReason::BadPrice),
            (Some(b"X"), Some(&with(9, &zero)), RejectReason::BadPrice),
            (Some(b"X"), Some(&with(17, &neg)), RejectReason::BadSize),
            (Some(b"X"), Some(&with(25, &[3])), RejectReason::BadSide),
            (Some(b"\xff"), Some(&ok), RejectReason::BadUtf8),
            (Some(b""), Some(&ok), RejectReason::TooLong),
        ];
        for (k, v, want) in cases {
            assert_eq!(
                decode_tick(*k, *v, &mut s),
                Decoded::Rejected(*want),
                "{want}"
            );
        }
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn partitions_are_the_redis_shards() {
        for name in ["BTCUSDT", "ETH", "SYN0001", ""] {
            for n in [1, 3, 4, 64] {
                let want = (fnv1a64(name.as_bytes()) % n as u64) as i32;
                assert_eq!(partition_of(name, n), want);
            }
        }
    }
}
