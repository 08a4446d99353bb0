//! [`FileReader`]: a file's bytes, decompressed as a stream when they are compressed.
//!
//! The format is told by the file's first bytes (its magic number), never by its name, so a
//! `.csv` that is really gzip is read as gzip and a `.gz` that is plain text is read as text:
//!
//! | [`Compression`] | magic bytes | decoded |
//! |---|---|---|
//! | `Gzip` | `1f 8b` | every member in turn (`cat a.gz b.gz` reads as `a` then `b`); each member's CRC-32 and length checked |
//! | `Zstd` | `28 b5 2f fd` | every frame in turn, skippable frames skipped; content checksums checked where present |
//! | `Zip` | `50 4b 03 04` or `50 4b 05 06` | members from the central directory, in its order (below); stored or deflate; CRC-32 and length checked |
//! | `None` | anything else | as is |
//!
//! **Zip members.** Directories and `__MACOSX/` entries are skipped; if any member's name
//! ends in `.csv` (any case) only those are read, otherwise every file member. Each member is
//! a file of its own for the CSV reader: [`FileReader`] ends at each member's end, and
//! [`FileReader::next_member`] moves on (a feed re-reads the header there). Encrypted
//! members, split archives and methods other than stored (0) and deflate (8) are errors.
//!
//! **Memory** is bounded whatever the file size: two 64 KiB buffers, the decoder's state
//! (deflate's 32 KiB window; the zstd frame's window, which the `zstd` tool keeps at 8 MiB or
//! less up to level 19, refused above 128 MiB as the `zstd` tool's own decoder does by
//! default) and, for a zip, its list of members (name and offsets, a few dozen bytes each).
//! Nothing is read whole.
//!
//! **Errors** name the file (and the zip member) and what is wrong: corrupt data, a checksum
//! or length that does not match, or a stream that ends early. A compressed file that stops
//! inside a stream (a truncated download) is an error, never a clean end; only a cut exactly
//! between two gzip members or zstd frames cannot be told from a shorter file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom, Take};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// Bytes of each read buffer (the file's and the decoded stream's).
const BUF_BYTES: usize = 1 << 16;

/// How a file is compressed, told from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed (or not a format read here): the bytes as they are.
    None,
    /// gzip, one or more members.
    Gzip,
    /// Zstandard, one or more frames.
    Zstd,
    /// A zip archive.
    Zip,
}

impl Compression {
    /// The format whose magic number `head` (the first bytes of a file) starts with.
    ///
    /// ```
    /// use zerotick_feeds::decode::Compression;
    /// assert_eq!(Compression::detect(b"\x1f\x8b\x08\0"), Compression::Gzip);
    /// assert_eq!(Compression::detect(b"\x28\xb5\x2f\xfd"), Compression::Zstd);
    /// assert_eq!(Compression::detect(b"PK\x03\x04"), Compression::Zip);
    /// assert_eq!(Compression::detect(b"timestamp,symbol"), Compression::None);
    /// ```
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(b"\x1f\x8b") {
            Compression::Gzip
        } else if head.starts_with(b"\x28\xb5\x2f\xfd") {
            Compression::Zstd
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Compression::Zip
        } else {
            Compression::None
        }
    }

    /// Lower-case name for reports: `none`, `gzip`, `zstd` or `zip`.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Zip => "zip",
        }
    }
}

/// A file's decoded bytes as a [`BufRead`], decompressed on the fly (see the module docs).
/// Reading allocates nothing once the buffers exist, except at a new gzip member, zstd frame
/// or zip member.
pub struct FileReader {
    inner: Inner,
    compression: Compression,
    /// The path as given.
    path: String,
    /// The path, then `:member` for a zip: what errors name.
    label: String,
}

enum Inner {
    Plain(BufReader<File>),
    /// Boxed: the inflate state (zlib-rs's) is large, and made once per file.
    Gzip(Box<BufReader<MultiGzDecoder<BufReader<File>>>>),
    /// Boxed: the frame decoder's state is large, and made once per file.
    Zstd(Box<BufReader<ZstdFrames<BufReader<File>>>>),
    Zip(Box<ZipMembers>),
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("compression", &self.compression)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl FileReader {
    /// Opens `path` and tells its compression from its first bytes.
    ///
    /// # Errors
    /// The file cannot be opened or read, or (a zip) its central directory is corrupt, or it
    /// holds no member to read. The error names the file.
    pub fn open(path: &Path) -> io::Result<Self> {
        let label = path.display().to_string();
        let file = File::open(path).map_err(|e| named(&label, e))?;
        let mut buffered = BufReader::with_capacity(BUF_BYTES, file);
        let mut head = [0u8; 4];
        let n = peek(&mut buffered, &mut head).map_err(|e| named(&label, e))?;
        let compression = Compression::detect(&head[..n]);
        let inner = match compression {
            Compression::None => Inner::Plain(buffered),
            Compression::Gzip => Inner::Gzip(Box::new(BufReader::with_capacity(
                BUF_BYTES,
                MultiGzDecoder::new(buffered),
            ))),
            Compression::Zstd => Inner::Zstd(Box::new(BufReader::with_capacity(
                BUF_BYTES,
                ZstdFrames::new(buffered),
            ))),
            Compression::Zip => {
                let zip = ZipMembers::open(buffered.into_inner())
                    .map_err(|e| named(&format!("{label}: zip"), e))?;
                Inner::Zip(Box::new(zip))
            }
        };
        let mut reader = Self {
            inner,
            compression,
            path: label.clone(),
            label,
        };
        reader.label_member();
        Ok(reader)
    }

    /// The compression found.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// What errors name: the path, and `:member` inside a zip.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The path as given to [`FileReader::open`].
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The name of the zip member being read (its path inside the archive), `None` for any
    /// other format.
    pub fn member(&self) -> Option<&str> {
        match &self.inner {
            Inner::Zip(zip) => Some(&zip.members[zip.current].name),
            _ => None,
        }
    }

    /// Moves on to the next zip member: `true` if there is one (the reader then reads it
    /// from its start), `false` at the last member or for any other format.
    ///
    /// # Errors
    /// The next member's local header is corrupt or its method is not read here.
    pub fn next_member(&mut self) -> io::Result<bool> {
        let Inner::Zip(zip) = &mut self.inner else {
            return Ok(false);
        };
        let label = &self.label;
        let more = zip.advance().map_err(|e| named(label, e))?;
        if more {
            self.label_member();
        }
        Ok(more)
    }

    fn label_member(&mut self) {
        if let Inner::Zip(zip) = &self.inner {
            self.label = format!("{}:{}", self.path, zip.members[zip.current].name);
        }
    }
}

/// Fills `head` from the start of `r` without consuming anything: the bytes read.
fn peek(r: &mut BufReader<File>, head: &mut [u8]) -> io::Result<usize> {
    let buf = loop {
        match r.fill_buf() {
            Ok(buf) => break buf,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    // A 64 KiB buffer holds the magic numbers in one fill unless the file is shorter.
    let n = buf.len().min(head.len());
    head[..n].copy_from_slice(&buf[..n]);
    Ok(n)
}

/// `e`, its message prefixed by what failed; a stream that ends early is called truncated.
#[cold]
#[inline(never)]
fn named(label: &str, e: io::Error) -> io::Error {
    if e.kind() == ErrorKind::UnexpectedEof {
        io::Error::new(
            ErrorKind::UnexpectedEof,
            format!("{label}: truncated: the data ends inside a compressed stream ({e})"),
        )
    } else {
        io::Error::new(e.kind(), format!("{label}: {e}"))
    }
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let src = self.fill_buf()?;
            let n = src.len().min(buf.len());
            buf[..n].copy_from_slice(&src[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for FileReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let (label, format) = (&self.label, self.compression.name());
        let result = match &mut self.inner {
            Inner::Plain(r) => return r.fill_buf().map_err(|e| named(label, e)),
            Inner::Gzip(r) => r.fill_buf(),
            Inner::Zstd(r) => r.fill_buf(),
            Inner::Zip(z) => z.reader.fill_buf(),
        };
        result.map_err(|e| named(&format!("{label}: {format}"), e))
    }

    fn consume(&mut self, amount: usize) {
        match &mut self.inner {
            Inner::Plain(r) => r.consume(amount),
            Inner::Gzip(r) => r.consume(amount),
            Inner::Zstd(r) => r.consume(amount),
            Inner::Zip(z) => z.reader.consume(amount),
        }
    }
}

/// Every zstd frame of a stream in turn (a `StreamingDecoder` reads one frame only).
struct ZstdFrames<R> {
    source: R,
    decoder: FrameDecoder,
    /// A frame header has been read and its blocks are being decoded.
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> Self {
        Self {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Reads the next frame header: `false` at the end of the input.
    #[cold]
    #[inline(never)]
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let want = u64::from(length);
                    let skipped = io::copy(&mut (&mut self.source).take(want), &mut io::sink())?;
                    if skipped < want {
                        return Err(ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }

    /// Checks a finished frame's content checksum, if it has one.
    #[cold]
    #[inline(never)]
    fn end_frame(&mut self) -> io::Result<()> {
        self.in_frame = false;
        match (
            self.decoder.get_checksum_from_data(),
            self.decoder.get_calculated_checksum(),
        ) {
            (Some(stored), Some(computed)) if stored != computed => Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "content checksum mismatch (frame says {stored:#010x}, data gives {computed:#010x})"
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// A zstd decoding error as an I/O error: an input that ended early is `UnexpectedEof`.
#[cold]
#[inline(never)]
fn zstd_error(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    let text = e.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>()
            && io.kind() == ErrorKind::UnexpectedEof
        {
            return io::Error::new(ErrorKind::UnexpectedEof, text);
        }
        source = s.source();
    }
    if text.contains("failed to fill whole buffer") || text.contains("UnexpectedEof") {
        return io::Error::new(ErrorKind::UnexpectedEof, text);
    }
    io::Error::new(ErrorKind::InvalidData, text)
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            if self.decoder.can_collect() > 0 {
                return self.decoder.read(buf);
            }
            if self.decoder.is_finished() {
                self.end_frame()?;
                continue;
            }
            self.decoder
                .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                .map_err(zstd_error)?;
        }
    }
}

/// One member of a zip, from the central directory.
#[derive(Debug)]
struct ZipMember {
    name: String,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed_bytes: u64,
    size_bytes: u64,
    local_header: u64,
}

/// A zip's members, read one after the other.
struct ZipMembers {
    file: File,
    len_bytes: u64,
    /// The members to read, in central-directory order. Invariant: not empty.
    members: Vec<ZipMember>,
    /// Index into `members` of the member `reader` reads. Invariant: `< members.len()`.
    current: usize,
    reader: BufReader<Checked>,
}

impl ZipMembers {
    fn open(mut file: File) -> io::Result<Self> {
        let len_bytes = file.seek(SeekFrom::End(0))?;
        let mut members = central_directory(&mut file, len_bytes)?;
        members.retain(|m| !m.name.ends_with('/') && !m.name.starts_with("__MACOSX/"));
        let is_csv = |m: &ZipMember| m.name.to_ascii_lowercase().ends_with(".csv");
        if members.iter().any(is_csv) {
            members.retain(is_csv);
        }
        if members.is_empty() {
            return Err(invalid("the archive holds no file to read"));
        }
        let reader =
            BufReader::with_capacity(BUF_BYTES, Checked::open(&mut file, len_bytes, &members[0])?);
        Ok(Self {
            file,
            len_bytes,
            members,
            current: 0,
            reader,
        })
    }

    #[cold]
    #[inline(never)]
    fn advance(&mut self) -> io::Result<bool> {
        if self.current + 1 >= self.members.len() {
            return Ok(false);
        }
        self.current += 1;
        let member = &self.members[self.current];
        let checked = Checked::open(&mut self.file, self.len_bytes, member)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", member.name)))?;
        self.reader = BufReader::with_capacity(BUF_BYTES, checked);
        Ok(true)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, what.to_owned())
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from(u32_at(b, i)) | (u64::from(u32_at(b, i + 4)) << 32)
}

/// Reads `n` bytes at `offset`.
fn read_at(file: &mut File, offset: u64, n: usize) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0; n];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// The end-of-central-directory record's fields: `(entries, offset, size)` of the directory.
fn directory_location(file: &mut File, len_bytes: u64) -> io::Result<(u64, u64, u64)> {
    // The record is 22 bytes plus a comment of at most 65,535.
    let tail_len = len_bytes.min(22 + 65_535);
    let tail_start = len_bytes - tail_len;
    let tail = read_at(file, tail_start, tail_len as usize)?;
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| invalid("no end of central directory record (not a zip, or truncated)"))?;
    let eocd = &tail[at..];
    if u16_at(eocd, 4) != 0 || u16_at(eocd, 6) != 0 {
        return Err(invalid("split (multi-disk) archives are not read"));
    }
    let (entries, size, offset) = (u16_at(eocd, 10), u32_at(eocd, 12), u32_at(eocd, 16));
    if entries != u16::MAX && size != u32::MAX && offset != u32::MAX {
        return Ok((u64::from(entries), u64::from(offset), u64::from(size)));
    }
    // Zip64: a locator right before the record points at the zip64 record.
    let locator_at = (tail_start + at as u64)
        .checked_sub(20)
        .ok_or_else(|| invalid("zip64 locator missing"))?;
    let locator = read_at(file, locator_at, 20)?;
    if !locator.starts_with(b"PK\x06\x07") {
        return Err(invalid("zip64 locator missing"));
    }
    let record = read_at(file, u64_at(&locator, 8), 56)?;
    if !record.starts_with(b"PK\x06\x06") {
        return Err(invalid("zip64 end of central directory record missing"));
    }
    Ok((
        u64_at(&record, 32),
        u64_at(&record, 48),
        u64_at(&record, 40),
    ))
}

/// Every entry of the central directory, in its order.
fn central_directory(file: &mut File, len_bytes: u64) -> io::Result<Vec<ZipMember>> {
    let (entries, offset, size) = directory_location(file, len_bytes)?;
    if offset.checked_add(size).is_none_or(|end| end > len_bytes) {
        return Err(invalid(
            "central directory beyond the end of the file (truncated)",
        ));
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut dir = BufReader::new(Read::by_ref(file).take(size));
    // A corrupt count cannot make us reserve much: each entry takes 46 bytes or more.
    let mut members = Vec::with_capacity(entries.min(size / 46) as usize);
    for _ in 0..entries {
        let mut fixed = [0u8; 46];
        dir.read_exact(&mut fixed)
            .map_err(|_| invalid("central directory ends early (corrupt)"))?;
        if !fixed.starts_with(b"PK\x01\x02") {
            return Err(invalid("bad central directory entry signature (corrupt)"));
        }
        let name_len = usize::from(u16_at(&fixed, 28));
        let extra_len = usize::from(u16_at(&fixed, 30));
        let comment_len = usize::from(u16_at(&fixed, 32));
        let mut var = vec![0u8; name_len + extra_len + comment_len];
        dir.read_exact(&mut var)
            .map_err(|_| invalid("central directory ends early (corrupt)"))?;
        let mut member = ZipMember {
            name: String::from_utf8_lossy(&var[..name_len]).into_owned(),
            flags: u16_at(&fixed, 8),
            method: u16_at(&fixed, 10),
            crc32: u32_at(&fixed, 16),
            compressed_bytes: u64::from(u32_at(&fixed, 20)),
            size_bytes: u64::from(u32_at(&fixed, 24)),
            local_header: u64::from(u32_at(&fixed, 42)),
        };
        zip64_extra(&var[name_len..name_len + extra_len], &mut member)?;
        members.push(member);
    }
    Ok(members)
}

/// Replaces the saturated 32-bit fields of `m` with their zip64 extra-field values.
fn zip64_extra(mut extra: &[u8], m: &mut ZipMember) -> io::Result<()> {
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0), usize::from(u16_at(extra, 2)));
        let body = extra
            .get(4..4 + len)
            .ok_or_else(|| invalid("extra field overruns its entry (corrupt)"))?;
        if id == 1 {
            let mut fields = body.chunks_exact(8).map(|c| u64_at(c, 0));
            for field in [
                &mut m.size_bytes,
                &mut m.compressed_bytes,
                &mut m.local_header,
            ] {
                if *field == u64::from(u32::MAX) {
                    *field = fields
                        .next()
                        .ok_or_else(|| invalid("zip64 extra field too short (corrupt)"))?;
                }
            }
        }
        extra = &extra[4 + len..];
    }
    Ok(())
}

/// A member's decoded bytes, with its length and CRC-32 checked at its end.
struct Checked {
    data: MemberData,
    crc: crc32fast::Hasher,
    size_bytes: u64,
    want_size_bytes: u64,
    want_crc32: u32,
}

enum MemberData {
    Stored(Take<File>),
    Deflate(flate2::read::DeflateDecoder<Take<File>>),
}

impl Checked {
    fn open(file: &mut File, len_bytes: u64, m: &ZipMember) -> io::Result<Self> {
        if m.flags & 1 != 0 {
            return Err(invalid("encrypted members are not read"));
        }
        let local = read_at(file, m.local_header, 30)
            .map_err(|_| invalid("local header beyond the end of the file (truncated)"))?;
        if !local.starts_with(b"PK\x03\x04") {
            return Err(invalid("bad local header signature (corrupt)"));
        }
        let start =
            m.local_header + 30 + u64::from(u16_at(&local, 26)) + u64::from(u16_at(&local, 28));
        if start
            .checked_add(m.compressed_bytes)
            .is_none_or(|end| end > len_bytes)
        {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "member data beyond the end of the file",
            ));
        }
        let mut own = file.try_clone()?;
        own.seek(SeekFrom::Start(start))?;
        let raw = own.take(m.compressed_bytes);
        let data = match m.method {
            0 => MemberData::Stored(raw),
            8 => MemberData::Deflate(flate2::read::DeflateDecoder::new(raw)),
            other => {
                return Err(io::Error::new(
                    ErrorKind::Unsupported,
                    format!("compression method {other} (only stored and deflate are read)"),
                ));
            }
        };
        Ok(Self {
            data,
            crc: crc32fast::Hasher::new(),
            size_bytes: 0,
            want_size_bytes: m.size_bytes,
            want_crc32: m.crc32,
        })
    }

    #[cold]
    #[inline(never)]
    fn check_end(&self) -> io::Result<()> {
        let crc = self.crc.clone().finalize();
        if self.size_bytes != self.want_size_bytes {
            Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "member decodes to {} bytes, its directory entry says {} (corrupt or truncated)",
                    self.size_bytes, self.want_size_bytes
                ),
            ))
        } else if crc != self.want_crc32 {
            Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "member CRC-32 mismatch ({crc:#010x}, directory says {:#010x}): corrupt",
                    self.want_crc32
                ),
            ))
        } else {
            Ok(())
        }
    }
}

impl Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.data {
            MemberData::Stored(r) => r.read(buf)?,
            MemberData::Deflate(r) => r.read(buf)?,
        };
        if n == 0 && !buf.is_empty() {
            self.check_end()?;
        }
        // Past the declared size: corrupt, or a bomb inflating without end. Fails before a
        // byte past it is handed on, not after the whole stream has been inflated.
        if self.size_bytes + n as u64 > self.want_size_bytes {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "member decodes past the {} bytes its directory entry says (corrupt)",
                    self.want_size_bytes
                ),
            ));
        }
        self.crc.update(&buf[..n]);
        self.size_bytes += n as u64;
        Ok(n)
    }
}
