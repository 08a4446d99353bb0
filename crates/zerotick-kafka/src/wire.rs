//! The Kafka wire format's primitives: big-endian integers, strings and byte arrays with
//! `i16`/`i32` length prefixes, zig-zag varints, request framing, and CRC-32C. Encoding goes
//! into a reused `Vec<u8>`; decoding reads borrowed slices and never panics on what a broker
//! sends (a short or malformed buffer is a [`WireError`]).

use core::fmt;

/// A buffer that does not hold what a decoder expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireError(pub &'static str);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed kafka message: {}", self.0)
    }
}

impl std::error::Error for WireError {}

/// Appends Kafka primitives to a reused buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer that holds `bytes` before it grows.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// What was written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes written.
    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets what was written (keeps the capacity).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The buffer, for formatting text into it.
    pub fn buf_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// `i8`.
    pub fn i8(&mut self, v: i8) -> &mut Self {
        self.buf.push(v as u8);
        self
    }

    /// `i16`, big-endian.
    pub fn i16(&mut self, v: i16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// `i32`, big-endian.
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// `i64`, big-endian.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Raw bytes, no length.
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// `STRING`: `i16` length, then UTF-8 bytes (at most `i16::MAX`; longer is cut, which
    /// no name of ours reaches).
    pub fn string(&mut self, s: &str) -> &mut Self {
        let b = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
        self.i16(b.len() as i16).raw(b)
    }

    /// `NULLABLE_STRING`: `-1` for `None`.
    pub fn nullable_string(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.string(s),
            None => self.i16(-1),
        }
    }

    /// `BYTES`: `i32` length, then the bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.i32(b.len() as i32).raw(b)
    }

    /// An `ARRAY`'s length.
    pub fn array_len(&mut self, n: usize) -> &mut Self {
        self.i32(n as i32)
    }

    /// Zig-zag `VARINT` (32-bit).
    pub fn varint(&mut self, v: i32) -> &mut Self {
        self.uvarint(u64::from(((v << 1) ^ (v >> 31)) as u32))
    }

    /// Zig-zag `VARLONG` (64-bit).
    pub fn varlong(&mut self, v: i64) -> &mut Self {
        self.uvarint(((v << 1) ^ (v >> 63)) as u64)
    }

    fn uvarint(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }

    /// Reserves an `i32` to be filled in later with [`Writer::put_i32_at`]; returns its position.
    pub fn reserve_i32(&mut self) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        at
    }

    /// Writes `v` over the `i32` at `at` (from [`Writer::reserve_i32`]).
    pub fn put_i32_at(&mut self, at: usize, v: i32) {
        if let Some(dst) = self.buf.get_mut(at..at + 4) {
            dst.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Writes `v` over the `i64` at `at`.
    pub fn put_i64_at(&mut self, at: usize, v: i64) {
        if let Some(dst) = self.buf.get_mut(at..at + 8) {
            dst.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Starts a request: a size placeholder and the request header v1 (api key, version,
    /// correlation id, client id). End it with [`Writer::end_request`].
    pub fn begin_request(
        &mut self,
        api_key: i16,
        version: i16,
        correlation: i32,
        client: &str,
    ) -> usize {
        let at = self.reserve_i32();
        self.i16(api_key)
            .i16(version)
            .i32(correlation)
            .nullable_string(Some(client));
        at
    }

    /// Fills in the size of the request begun at `at`.
    pub fn end_request(&mut self, at: usize) {
        let size = self.buf.len() - at - 4;
        self.put_i32_at(at, size as i32);
    }
}

/// Bytes a zig-zag varint of `v` takes.
pub fn varint_len(v: i32) -> usize {
    uvarint_len(u64::from(((v << 1) ^ (v >> 31)) as u32))
}

/// Bytes a zig-zag varlong of `v` takes.
pub fn varlong_len(v: i64) -> usize {
    uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads Kafka primitives from a borrowed buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.remaining() {
            return Err(WireError("truncated"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// `i8`.
    pub fn i8(&mut self) -> Result<i8, WireError> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    /// `i16`.
    pub fn i16(&mut self) -> Result<i16, WireError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    /// `i32`.
    pub fn i32(&mut self) -> Result<i32, WireError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// `u32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// `i64`.
    pub fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// `BOOLEAN`.
    pub fn bool(&mut self) -> Result<bool, WireError> {
        Ok(self.i8()? != 0)
    }

    /// `NULLABLE_STRING` (`None` for length -1).
    pub fn nullable_string(&mut self) -> Result<Option<&'a str>, WireError> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        let b = self.take(n as usize)?;
        std::str::from_utf8(b)
            .map(Some)
            .map_err(|_| WireError("string is not UTF-8"))
    }

    /// `STRING` (a null one reads as empty).
    pub fn string(&mut self) -> Result<&'a str, WireError> {
        Ok(self.nullable_string()?.unwrap_or(""))
    }

    /// `NULLABLE_BYTES` (`None` for length -1).
    pub fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, WireError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(None);
        }
        self.take(n as usize).map(Some)
    }

    /// `BYTES` (null reads as empty).
    pub fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        Ok(self.nullable_bytes()?.unwrap_or(&[]))
    }

    /// An `ARRAY`'s length (a null array reads as empty). A length that cannot fit in what
    /// is left (each element takes at least one byte) is an error, so a hostile length
    /// never drives a loop or an allocation.
    pub fn array_len(&mut self) -> Result<usize, WireError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(0);
        }
        if n as usize > self.remaining() {
            return Err(WireError("array longer than the message"));
        }
        Ok(n as usize)
    }

    fn uvarint(&mut self, max_bytes: usize) -> Result<u64, WireError> {
        let mut v = 0u64;
        for i in 0..max_bytes {
            let b = self.array::<1>()?[0];
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError("varint too long"))
    }

    /// Zig-zag `VARINT`.
    pub fn varint(&mut self) -> Result<i32, WireError> {
        let u = self.uvarint(5)? as u32;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// Zig-zag `VARLONG`.
    pub fn varlong(&mut self) -> Result<i64, WireError> {
        let u = self.uvarint(10)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Varint-length bytes of a record (`None` for length -1).
    pub fn varint_bytes(&mut self) -> Result<Option<&'a [u8]>, WireError> {
        let n = self.varint()?;
        if n < 0 {
            return Ok(None);
        }
        self.take(n as usize).map(Some)
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of record batches.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = CRC32C_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

const CRC32C_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // The standard check value: CRC-32C of "123456789".
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        let ints = [0, 1, -1, 63, -64, 64, -65, i32::MAX, i32::MIN];
        let longs = [0, 1, -1, i64::MAX, i64::MIN, 1 << 40, -(1 << 40)];
        let mut w = Writer::new();
        for v in ints {
            w.varint(v);
        }
        for v in longs {
            w.varlong(v);
        }
        let total: usize = ints.iter().map(|&v| varint_len(v)).sum::<usize>()
            + longs.iter().map(|&v| varlong_len(v)).sum::<usize>();
        assert_eq!(w.len_bytes(), total);
        let mut r = Reader::new(w.as_bytes());
        for v in ints {
            assert_eq!(r.varint(), Ok(v));
        }
        for v in longs {
            assert_eq!(r.varlong(), Ok(v));
        }
        assert_eq!(r.remaining(), 0);
        // Kafka's published example: 300 is `ac 02` unsigned, so zig-zag 150 is the same.
        let mut w = Writer::new();
        w.varint(150);
        assert_eq!(w.as_bytes(), [0xac, 0x02]);
    }

    #[test]
    fn short_and_hostile_buffers_are_errors() {
        assert!(Reader::new(&[0, 0, 0]).i32().is_err());
        assert!(Reader::new(&[0, 5, b'a']).string().is_err());
        assert!(Reader::new(&[0x7f, 0xff, 0xff, 0xff]).array_len().is_err());
        assert_eq!(Reader::new(&[0xff, 0xff, 0xff, 0xff]).array_len(), Ok(0));
        assert!(Reader::new(&[0xff; 11]).varlong().is_err());
        assert!(Reader::new(&[0, 2, 0xff, 0xfe]).string().is_err());
        assert_eq!(Reader::new(&[0xff, 0xff]).nullable_string(), Ok(None));
    }

    #[test]
    fn a_request_is_framed_with_its_size() {
        let mut w = Writer::new();
        let at = w.begin_request(18, 0, 7, "zt");
        w.end_request(at);
        assert_eq!(
            w.as_bytes(),
            [0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 7, 0, 2, b'z', b't']
        );
    }
}
