//! [`Lines`]: the line splitting every text format shares (CSV, JSON lines, Tardis CSV).
//!
//! Lines end at `\n`, `\r\n` or a lone `\r`; the last line needs no line end. A line longer
//! than the reader's limit is consumed whole but not kept (the caller rejects it as
//! `too_long`). Rows are the lines that are not blank; a UTF-8 byte order mark starting the
//! first line is dropped.
//!
//! [`Lines::next_row`] hands a row out in place, as a slice of the reader's own buffer, when
//! the row and its line end lie wholly in it (nearly every row: the buffer holds many); the
//! caller parses it, then [`Lines::done`] consumes it. A row that straddles a refill of the
//! reader's buffer (or is too long) is assembled in one reused buffer, which grows only up
//! to the limit. [`Lines::read_row`] always assembles (for readers that keep spans of the
//! row across calls).

use std::io::{BufRead, ErrorKind};

use zerotick_core::{FeedError, FeedEvent, RejectReason};

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A reused line buffer and the line numbers of what it read.
#[derive(Debug)]
pub(crate) struct Lines {
    /// The current line, without its line end. Invariant: `line.len() <= max`.
    pub(crate) line: Vec<u8>,
    /// Longest line kept, in bytes.
    max: usize,
    /// Lines read so far (line ends seen, plus a last line without one).
    pub(crate) line_no: u64,
    /// 1-based line number of the current row.
    pub(crate) row_no: u64,
    /// The last line ended with `\r`: a `\n` right after it is part of that line end.
    after_cr: bool,
    /// Bytes of the reader's buffer the row handed out in place still holds (the row and its
    /// line end), consumed by [`Lines::done`]. Invariant: 0 between two events of a feed.
    pending: usize,
}

/// A row handed out by [`Lines::next_row`].
#[derive(Debug)]
pub(crate) struct Row<'a> {
    /// The row, without its line end (meaningless when too long).
    pub(crate) text: &'a [u8],
    /// The row is longer than the limit (its text was not kept).
    pub(crate) too_long: bool,
}

/// Where the line [`Lines::scan_line`] found is.
enum Line {
    /// In the reader's buffer at `start..end` (its line end and anything before `start`
    /// counted in `pending`); `blank` when only whitespace.
    InPlace {
        start: usize,
        end: usize,
        blank: bool,
    },
    /// Assembled in `line`: whether it was too long.
    Assembled(bool),
}

/// Whether a row is only whitespace (a blank line, skipped).
#[inline]
fn is_blank(text: &[u8]) -> bool {
    text.iter().all(u8::is_ascii_whitespace)
}

impl Lines {
    /// A reader of lines up to `max` bytes; `reserve` bytes are allocated up front (the
    /// buffer grows past them only for a longer line, never past `max`).
    pub(crate) fn new(max: usize, reserve: usize) -> Self {
        Self {
            line: Vec::with_capacity(reserve.min(max)),
            max,
            line_no: 0,
            row_no: 0,
            after_cr: false,
            pending: 0,
        }
    }

    /// Starts over, as on a new file (line numbers from 1).
    pub(crate) fn restart(&mut self) {
        debug_assert_eq!(self.pending, 0, "a row handed out in place was not done");
        self.line_no = 0;
        self.row_no = 0;
        self.after_cr = false;
    }

    /// Consumes the row [`Lines::next_row`] handed out in place, if any: call it once the row
    /// is parsed, before the reader is used otherwise.
    #[inline]
    pub(crate) fn done<R: BufRead>(&mut self, reader: &mut R) {
        if self.pending != 0 {
            reader.consume(std::mem::take(&mut self.pending));
        }
    }

    /// The next row (a line that is not blank), in place in the reader's buffer where it lies
    /// wholly in it, else assembled; `None` at the end. [`Lines::done`] consumes it.
    ///
    /// # Errors
    /// The reader fails, or hands out a different buffer without being consumed (a broken
    /// [`BufRead`]).
    #[inline]
    pub(crate) fn next_row<'a, R: BufRead>(
        &'a mut self,
        reader: &'a mut R,
    ) -> Result<Option<Row<'a>>, FeedError> {
        let (start, end) = loop {
            self.done(reader);
            let Some(line) = self.scan_line(reader)? else {
                return Ok(None);
            };
            self.line_no += 1;
            match line {
                Line::InPlace { blank: true, .. } => {}
                Line::InPlace { start, end, .. } => break (start, end),
                Line::Assembled(too_long) => {
                    if self.line_no == 1 && self.line.starts_with(BOM) {
                        self.line.drain(..BOM.len());
                    }
                    if too_long || !is_blank(&self.line) {
                        self.row_no = self.line_no;
                        return Ok(Some(Row {
                            text: &self.line,
                            too_long,
                        }));
                    }
                }
            }
        };
        self.row_no = self.line_no;
        // The buffer is the one `scan_line` looked at: nothing was consumed since, so a
        // `BufRead` hands the same bytes out again without reading.
        // Should it not (a broken reader), nothing is consumed for this row.
        let text = match reader.fill_buf() {
            Ok(buf) if buf.len() >= end => &buf[start..end],
            Ok(_) => {
                self.pending = 0;
                return Err(FeedError::Io(std::io::Error::other(
                    "the reader's buffer changed without being consumed",
                )));
            }
            Err(e) => {
                self.pending = 0;
                return Err(e.into());
            }
        };
        Ok(Some(Row {
            text,
            too_long: false,
        }))
    }

    /// Finds the next line: in place when it and its line end lie in the reader's buffer and
    /// it is within the limit (then `pending` covers it), else assembled by
    /// [`Lines::read_line`]. `None` at the end.
    #[inline]
    fn scan_line<R: BufRead>(&mut self, reader: &mut R) -> Result<Option<Line>, FeedError> {
        let buf = loop {
            match reader.fill_buf() {
                Ok(buf) => break buf,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        if buf.is_empty() {
            return Ok(None);
        }
        // The `\n` of a `\r\n` split across lines.
        let skip = usize::from(self.after_cr && buf[0] == b'\n');
        let rest = &buf[skip..];
        match memchr::memchr2(b'\n', b'\r', rest) {
            Some(i) if i <= self.max => {
                self.after_cr = rest[i] == b'\r';
                self.pending = skip + i + 1;
                let bom = usize::from(self.line_no == 0 && rest[..i].starts_with(BOM));
                let start = skip + bom * BOM.len();
                let end = skip + i;
                let blank = is_blank(&buf[start..end]);
                Ok(Some(Line::InPlace { start, end, blank }))
            }
            _ => Ok(self.read_line(reader)?.map(Line::Assembled)),
        }
    }

    /// Reads the next line into `self.line`, without its line end: `Some(too_long)`, or
    /// `None` at the end.
    pub(crate) fn read_line<R: BufRead>(
        &mut self,
        reader: &mut R,
    ) -> Result<Option<bool>, FeedError> {
        self.line.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if buf.is_empty() {
                return Ok(any.then_some(too_long));
            }
            // The `\n` of a `\r\n` split across reads.
            let skip = usize::from(std::mem::take(&mut self.after_cr) && buf[0] == b'\n');
            let rest = &buf[skip..];
            let end = memchr::memchr2(b'\n', b'\r', rest);
            let chunk = &rest[..end.unwrap_or(rest.len())];
            any |= !chunk.is_empty() || end.is_some();
            if !too_long && self.line.len() + chunk.len() <= self.max {
                self.line.extend_from_slice(chunk);
            } else {
                too_long = true;
            }
            let consumed = match end {
                Some(i) => {
                    self.after_cr = rest[i] == b'\r';
                    skip + i + 1
                }
                None => buf.len(),
            };
            reader.consume(consumed);
            if end.is_some() {
                return Ok(Some(too_long));
            }
        }
    }

    /// Reads the next row (a line that is not blank) into `self.line`: `Some(too_long)`, or
    /// `None` at the end.
    pub(crate) fn read_row<R: BufRead>(
        &mut self,
        reader: &mut R,
    ) -> Result<Option<bool>, FeedError> {
        self.done(reader);
        loop {
            let Some(too_long) = self.read_line(reader)? else {
                return Ok(None);
            };
            self.line_no += 1;
            if self.line_no == 1 && self.line.starts_with(BOM) {
                self.line.drain(..BOM.len());
            }
            if too_long || !is_blank(&self.line) {
                self.row_no = self.line_no;
                return Ok(Some(too_long));
            }
        }
    }

    /// The current row rejected for `reason`: counted, or under `strict` the error that ends
    /// the feed, with the row's line number.
    pub(crate) fn reject(
        &self,
        strict: bool,
        reason: RejectReason,
    ) -> Result<FeedEvent, FeedError> {
        if strict {
            Err(FeedError::BadRow {
                line: self.row_no,
                reason,
            })
        } else {
            Ok(FeedEvent::Rejected(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Cursor};

    /// Rows with their line numbers; `None` for a too-long one.
    type Rows = Vec<(u64, Option<Vec<u8>>)>;

    /// Every row `next_row` hands out, and how many lay in place in `input`.
    fn rows<R: BufRead>(mut reader: R, max: usize, input: &[u8]) -> (Rows, usize) {
        let mut lines = Lines::new(max, 4);
        let (mut out, mut in_place) = (Vec::new(), 0);
        while let Some(row) = lines.next_row(&mut reader).unwrap() {
            in_place += usize::from(input.as_ptr_range().contains(&row.text.as_ptr()));
            let text = (!row.too_long).then(|| row.text.to_vec());
            out.push((lines.row_no, text));
            lines.done(&mut reader);
        }
        (out, in_place)
    }

    /// The rows the module docs describe, found the plain way (the reference).
    fn reference(input: &[u8], max: usize) -> Rows {
        let mut out = Vec::new();
        let mut rest = input;
        let mut line_no = 0;
        while !rest.is_empty() {
            let end = rest.iter().position(|&c| c == b'\n' || c == b'\r');
            let line = &rest[..end.unwrap_or(rest.len())];
            let mut next = end.map_or(rest.len(), |i| i + 1);
            if end.is_some_and(|i| rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n')) {
                next += 1;
            }
            line_no += 1;
            let line = if line_no == 1 {
                line.strip_prefix(BOM).unwrap_or(line)
            } else {
                line
            };
            if line.len() > max {
                out.push((line_no, None));
            } else if !line.iter().all(u8::is_ascii_whitespace) {
                out.push((line_no, Some(line.to_vec())));
            }
            rest = &rest[next..];
        }
        out
    }

    #[test]
    fn rows_in_place_and_straddling_refills_agree_at_every_buffer_size() {
        let input = b"\xEF\xBB\xBFa,1\r\nb,2\r\rc,\xff3\n \t\n\r\nlong long long line\nd,4\r\ne\r\n\nlast without newline";
        let max = 12;
        let want = reference(input, max);
        assert_eq!(want.len(), 7);
        // A cursor holds the whole input: every row within the limit and with a line end
        // lies in place (the last, without one, is assembled: only a refill tells its end).
        let (got, in_place) = rows(Cursor::new(&input[..]), max, input);
        assert_eq!(got, want);
        assert_eq!(in_place, 5);
        // Tiny buffers: most rows straddle a refill (a `\r\n` split across two as well).
        for cap in 1..=input.len() + 1 {
            let (got, _) = rows(BufReader::with_capacity(cap, &input[..]), max, input);
            assert_eq!(got, want, "buffer of {cap} bytes");
        }
    }

    /// A broken `BufRead`: its buffer shrinks after the first look, without a `consume`.
    struct Shrinking(&'static [u8], usize);

    impl std::io::Read for Shrinking {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            unreachable!("read through fill_buf only")
        }
    }

    impl BufRead for Shrinking {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            self.1 += 1;
            Ok(if self.1 == 1 { self.0 } else { &self.0[..3] })
        }
        fn consume(&mut self, _: usize) {
            panic!("nothing of a broken row is consumed");
        }
    }

    #[test]
    fn a_reader_whose_buffer_changes_unconsumed_is_an_error_not_a_wrong_row() {
        let mut reader = Shrinking(b"row one\nrow two\n", 0);
        let mut lines = Lines::new(64, 64);
        assert!(matches!(lines.next_row(&mut reader), Err(FeedError::Io(_))));
        assert_eq!(lines.pending, 0);
        lines.done(&mut reader);
    }

    #[test]
    fn done_consumes_the_row_so_the_reader_is_left_after_it() {
        let mut reader = Cursor::new(&b"one\r\ntwo\n"[..]);
        let mut lines = Lines::new(16, 16);
        let row = lines.next_row(&mut reader).unwrap().unwrap();
        assert_eq!(row.text, b"one");
        lines.done(&mut reader);
        assert_eq!(
            reader.position(),
            4,
            "the \\n of \\r\\n is skipped at the next row"
        );
        assert_eq!(lines.next_row(&mut reader).unwrap().unwrap().text, b"two");
        lines.done(&mut reader);
        assert!(lines.next_row(&mut reader).unwrap().is_none());
        assert_eq!(reader.position(), 9);
    }
}
