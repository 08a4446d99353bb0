//! [`Lines`]: the line splitting every text format shares (CSV, JSON lines, Tardis CSV).
//!
//! Lines end at `\n`, `\r\n` or a lone `\r`; the last line needs no line end. A line longer
//! than the reader's limit is consumed whole but not kept (the caller rejects it as
//! `too_long`). Rows are the lines that are not blank; a UTF-8 byte order mark starting the
//! first line is dropped. One buffer, reused: it grows only up to the limit.

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
        }
    }

    /// Starts over, as on a new file (line numbers from 1).
    pub(crate) fn restart(&mut self) {
        self.line_no = 0;
        self.row_no = 0;
        self.after_cr = false;
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
        loop {
            let Some(too_long) = self.read_line(reader)? else {
                return Ok(None);
            };
            self.line_no += 1;
            if self.line_no == 1 && self.line.starts_with(BOM) {
                self.line.drain(..BOM.len());
            }
            if too_long || !self.line.iter().all(u8::is_ascii_whitespace) {
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
