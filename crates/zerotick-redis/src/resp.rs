//! RESP2: command encoding into a reused buffer, and a reply parser that records a reply as a
//! flat tape of nodes over the received bytes (no copy, no allocation once the tape has grown
//! to the largest reply seen).
//!
//! The parser is incremental: [`Parser::parse`] either finds one complete reply at the start
//! of the buffer (and says how many bytes it used), or says more bytes are needed, or rejects
//! the input with a typed [`RespError`]. Between calls it keeps what it has parsed (the tape,
//! the open arrays, the position of the next element, how far it looked for the end of a
//! header line, a bulk string waiting for its bytes), so a reply received in many reads costs
//! time linear in its size: no byte is scanned twice, however the reply is split.

use core::fmt;
use std::fmt::Write as _;

/// Longest header line (`+...`, `-...`, `:...`, `$n`, `*n`) accepted, bytes.
pub const MAX_LINE: usize = 64 * 1024;
/// Largest bulk string accepted, bytes (Redis's own default limit is 512 MiB).
pub const MAX_BULK: usize = 512 * 1024 * 1024;
/// Largest array length accepted.
pub const MAX_ARRAY: usize = 1 << 24;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 32;
/// Most values (nodes of the tape) in one reply: a reply of many tiny elements would
/// otherwise make the tape (40 bytes a value) many times larger than the reply.
pub const MAX_VALUES: usize = 1 << 22;

/// Why bytes are not a valid RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// The first byte of a value is not one of `+ - : $ *`.
    BadTag(u8),
    /// A length or integer is not a decimal number in range.
    BadNumber,
    /// A bulk string is not followed by `\r\n`.
    BadTerminator,
    /// A header line is longer than [`MAX_LINE`].
    LineTooLong,
    /// A bulk string, array or reply is larger than the limits above.
    TooLarge,
    /// Arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::BadTag(b) => write!(f, "unexpected type byte 0x{b:02x}"),
            RespError::BadNumber => f.write_str("bad length or integer"),
            RespError::BadTerminator => f.write_str("bulk string without CRLF terminator"),
            RespError::LineTooLong => f.write_str("header line too long"),
            RespError::TooLarge => f.write_str("bulk string, array or reply too large"),
            RespError::TooDeep => f.write_str("arrays nested too deep"),
        }
    }
}

impl std::error::Error for RespError {}

/// What a node of the tape is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `+OK`
    Simple,
    /// `-ERR ...`
    Error,
    /// `:42`
    Integer,
    /// `$3\r\nabc`
    Bulk,
    /// `$-1` or `*-1`
    Null,
    /// `*n`
    Array,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    /// Byte range of the text (simple, error, bulk) in the reply buffer.
    start: usize,
    end: usize,
    /// The integer, or the array length (`>= 0` for arrays).
    int: i64,
    /// Index of the node after this one's subtree. Invariant: `> own index`.
    next: usize,
}

/// The tape of [`Parser::reply`] when no complete reply is held: a null.
static NO_REPLY: [Node; 1] = [Node {
    kind: Kind::Null,
    start: 0,
    end: 0,
    int: 0,
    next: 1,
}];

/// Parses replies into a reusable tape, resuming where the previous call stopped.
#[derive(Debug, Default)]
pub struct Parser {
    tape: Vec<Node>,
    /// Open arrays: (node index, children still to come). Invariant: `len() <= MAX_DEPTH`.
    stack: Vec<(usize, usize)>,
    /// Offset of the next value not yet parsed (of the reply being parsed).
    pos: usize,
    /// Where to go on looking for the `\n` that ends the header line at `pos`; bytes before
    /// it were looked at already. Invariant: `0` or `>= pos + 2` (set for this `pos` only).
    scan: usize,
    /// A bulk string whose header is parsed: (offset of its bytes, length), waiting for
    /// `length + 2` bytes there.
    bulk: Option<(usize, usize)>,
    /// Length of the buffer of the previous call (a shorter one starts a new reply).
    seen: usize,
    /// Whether the tape holds a complete reply (the next call starts a new one).
    complete: bool,
    /// Bytes looked at since the parser was made (see [`Parser::scanned_bytes`]).
    scanned: u64,
}

/// Parses a signed decimal integer (RESP lengths and integers).
///
/// # Errors
/// [`RespError::BadNumber`] for anything but `-?[0-9]+` within `i64`.
pub fn parse_i64(s: &[u8]) -> Result<i64, RespError> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(RespError::BadNumber);
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(RespError::BadNumber);
        }
        let d = i64::from(d - b'0');
        // Accumulated with the sign so that i64::MIN parses too.
        v = v
            .checked_mul(10)
            .and_then(|v| {
                if neg {
                    v.checked_sub(d)
                } else {
                    v.checked_add(d)
                }
            })
            .ok_or(RespError::BadNumber)?;
    }
    Ok(v)
}

impl Parser {
    /// A parser with an empty tape.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets a partly parsed reply: the next [`Parser::parse`] starts at byte 0. Keeps the
    /// tape's capacity.
    pub fn reset(&mut self) {
        self.tape.clear();
        self.stack.clear();
        self.pos = 0;
        self.scan = 0;
        self.bulk = None;
        self.seen = 0;
        self.complete = false;
    }

    /// Bytes the parser has looked at since it was made: each byte of a reply once, plus a
    /// constant per value, however the reply was split across calls. For tests and
    /// diagnostics.
    pub fn scanned_bytes(&self) -> u64 {
        self.scanned
    }

    /// Parses one reply at the start of `buf`: `Ok(Some(used))` when complete (read it with
    /// [`Parser::reply`] over the same bytes), `Ok(None)` when more bytes are needed.
    ///
    /// After `Ok(None)`, call again with the same bytes followed by more: the parser goes on
    /// where it stopped and looks at the new bytes only. After `Ok(Some(_))` or an error, the
    /// next call starts a new reply at `buf[0]`; so does a call with a buffer shorter than
    /// the previous one. To start over with other bytes, call [`Parser::reset`] first.
    ///
    /// # Errors
    /// [`RespError`] when the bytes cannot be the start of a valid reply.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<usize>, RespError> {
        if self.complete || buf.len() < self.seen {
            self.reset();
        }
        self.seen = buf.len();
        let r = self.resume(buf);
        if r.is_err() {
            self.reset();
        }
        r
    }

    fn resume(&mut self, buf: &[u8]) -> Result<Option<usize>, RespError> {
        loop {
            if let Some((start, len)) = self.bulk {
                let end = start + len;
                let Some(term) = buf.get(end..end + 2) else {
                    return Ok(None);
                };
                self.scanned += 2;
                if term != b"\r\n" {
                    return Err(RespError::BadTerminator);
                }
                self.bulk = None;
                self.push(Kind::Bulk, start, end, 0)?;
                if let Some(used) = self.value_done(end + 2) {
                    return Ok(Some(used));
                }
                continue;
            }
            let pos = self.pos;
            let Some(&tag) = buf.get(pos) else {
                return Ok(None);
            };
            if !matches!(tag, b'+' | b'-' | b':' | b'$' | b'*') {
                return Err(RespError::BadTag(tag));
            }
            let Some(cr) = self.line_end(buf, pos) else {
                if buf.len() - pos > MAX_LINE {
                    return Err(RespError::LineTooLong);
                }
                return Ok(None);
            };
            if cr - pos > MAX_LINE {
                return Err(RespError::LineTooLong);
            }
            let line = &buf[pos + 1..cr];
            self.scanned += line.len() as u64;
            let after = cr + 2;
            match tag {
                b'+' => self.push(Kind::Simple, pos + 1, cr, 0)?,
                b'-' => self.push(Kind::Error, pos + 1, cr, 0)?,
                b':' => self.push(Kind::Integer, pos + 1, cr, parse_i64(line)?)?,
                b'$' => match parse_i64(line)? {
                    -1 => self.push(Kind::Null, pos + 1, cr, 0)?,
                    n => {
                        let n = usize::try_from(n).map_err(|_| RespError::BadNumber)?;
                        if n > MAX_BULK {
                            return Err(RespError::TooLarge);
                        }
                        self.bulk = Some((after, n));
                        self.pos = after;
                        self.scan = 0;
                        continue;
                    }
                },
                _ => match parse_i64(line)? {
                    -1 => self.push(Kind::Null, pos + 1, cr, 0)?,
                    n => {
                        let n = usize::try_from(n).map_err(|_| RespError::BadNumber)?;
                        if n > MAX_ARRAY {
                            return Err(RespError::TooLarge);
                        }
                        let idx = self.push(Kind::Array, pos + 1, cr, n as i64)?;
                        if n > 0 {
                            if self.stack.len() >= MAX_DEPTH {
                                return Err(RespError::TooDeep);
                            }
                            self.stack.push((idx, n));
                            self.pos = after;
                            self.scan = 0;
                            continue;
                        }
                        idx
                    }
                },
            };
            if let Some(used) = self.value_done(after) {
                return Ok(Some(used));
            }
        }
    }

    /// Offset of the `\r` of the first `\r\n` after the tag at `pos`, looking only at bytes
    /// not looked at by a previous call.
    fn line_end(&mut self, buf: &[u8], pos: usize) -> Option<usize> {
        // The `\n` is at `pos + 2` at the earliest (`+\r\n`).
        let mut from = self.scan.max(pos + 2);
        while let Some(hay) = buf.get(from..).filter(|h| !h.is_empty()) {
            match hay.iter().position(|&b| b == b'\n') {
                Some(j) => {
                    self.scanned += j as u64 + 1;
                    let nl = from + j;
                    if buf[nl - 1] == b'\r' {
                        self.scan = 0;
                        return Some(nl - 1);
                    }
                    from = nl + 1;
                }
                None => {
                    self.scanned += hay.len() as u64;
                    from = buf.len();
                    break;
                }
            }
        }
        self.scan = from;
        None
    }

    /// Appends a node; returns its index.
    fn push(&mut self, kind: Kind, start: usize, end: usize, int: i64) -> Result<usize, RespError> {
        let idx = self.tape.len();
        if idx >= MAX_VALUES {
            return Err(RespError::TooLarge);
        }
        self.tape.push(Node {
            kind,
            start,
            end,
            int,
            next: idx + 1,
        });
        Ok(idx)
    }

    /// A value ended at `after`: closes every array it completes; `Some(used)` when that
    /// completes the reply.
    fn value_done(&mut self, after: usize) -> Option<usize> {
        self.pos = after;
        self.scan = 0;
        loop {
            match self.stack.last_mut() {
                None => {
                    self.complete = true;
                    return Some(after);
                }
                Some((open, left)) => {
                    *left -= 1;
                    if *left > 0 {
                        return None;
                    }
                    let open = *open;
                    self.tape[open].next = self.tape.len();
                    self.stack.pop();
                }
            }
        }
    }

    /// The reply last parsed, over the buffer it was parsed from (a null when the last call
    /// did not complete a reply).
    pub fn reply<'a>(&'a self, buf: &'a [u8]) -> Value<'a> {
        let tape: &'a [Node] = if self.complete { &self.tape } else { &NO_REPLY };
        Value { buf, tape, idx: 0 }
    }
}

/// One value of a parsed reply. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Value<'a> {
    buf: &'a [u8],
    tape: &'a [Node],
    idx: usize,
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Kind::Simple => write!(f, "+{}", String::from_utf8_lossy(self.text())),
            Kind::Error => write!(f, "-{}", String::from_utf8_lossy(self.text())),
            Kind::Integer => write!(f, ":{}", self.node().int),
            Kind::Bulk => write!(f, "{:?}", String::from_utf8_lossy(self.text())),
            Kind::Null => f.write_str("nil"),
            Kind::Array => f.debug_list().entries(self.iter()).finish(),
        }
    }
}

impl<'a> Value<'a> {
    fn node(&self) -> &'a Node {
        &self.tape[self.idx]
    }

    fn text(&self) -> &'a [u8] {
        let n = self.node();
        self.buf.get(n.start..n.end).unwrap_or_default()
    }

    /// What this value is.
    pub fn kind(&self) -> Kind {
        self.node().kind
    }

    /// The bytes of a bulk or simple string.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self.kind() {
            Kind::Bulk | Kind::Simple => Some(self.text()),
            _ => None,
        }
    }

    /// The integer of an integer reply.
    pub fn int(&self) -> Option<i64> {
        (self.kind() == Kind::Integer).then(|| self.node().int)
    }

    /// The message of an error reply.
    pub fn error(&self) -> Option<&'a [u8]> {
        (self.kind() == Kind::Error).then(|| self.text())
    }

    /// Whether this is a null bulk string or null array.
    pub fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    /// Elements of an array (none for anything else).
    pub fn iter(&self) -> Iter<'a> {
        let n = self.node();
        let left = if n.kind == Kind::Array {
            n.int as usize
        } else {
            0
        };
        Iter {
            buf: self.buf,
            tape: self.tape,
            idx: self.idx + 1,
            left,
        }
    }

    /// Length of an array (`None` for anything else).
    pub fn array_len(&self) -> Option<usize> {
        (self.kind() == Kind::Array).then(|| self.node().int as usize)
    }

    /// Element `i` of an array.
    pub fn get(&self, i: usize) -> Option<Value<'a>> {
        self.iter().nth(i)
    }
}

/// Iterator over an array's elements.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    tape: &'a [Node],
    idx: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let v = Value {
            buf: self.buf,
            tape: self.tape,
            idx: self.idx,
        };
        self.idx = self.tape[self.idx].next;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// Writes commands as RESP arrays of bulk strings into a reused buffer.
///
/// Start a command with [`Encoder::begin`] giving its argument count, then add exactly that
/// many arguments.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
    commands: usize,
    /// Arguments still owed by the current command (checked in debug builds).
    owed: usize,
}

/// A `fmt::Write` over a fixed stack buffer, for numbers.
struct Stack {
    buf: [u8; 40],
    len: usize,
}

impl fmt::Write for Stack {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty encoder with room for `bytes` without growing.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Starts a command of `args` arguments (the command name counts).
    pub fn begin(&mut self, args: usize) -> &mut Self {
        debug_assert_eq!(self.owed, 0, "previous command is missing arguments");
        self.buf.push(b'*');
        self.number(args as u64);
        self.buf.extend_from_slice(b"\r\n");
        self.commands += 1;
        self.owed = args;
        self
    }

    fn number(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[i..]);
    }

    /// Adds a bulk-string argument.
    pub fn arg(&mut self, a: &[u8]) -> &mut Self {
        debug_assert!(self.owed > 0, "more arguments than announced");
        self.owed = self.owed.saturating_sub(1);
        self.buf.push(b'$');
        self.number(a.len() as u64);
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(a);
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// Adds a decimal integer argument.
    pub fn arg_u64(&mut self, n: u64) -> &mut Self {
        let mut s = Stack {
            buf: [0; 40],
            len: 0,
        };
        let _ = write!(s, "{n}");
        self.arg(&s.buf[..s.len])
    }

    /// Adds a number argument in the shortest text that reads back to the same `f64`
    /// (`NaN`, `inf`, `-inf` for the non-finite values).
    pub fn arg_f64(&mut self, x: f64) -> &mut Self {
        let mut s = Stack {
            buf: [0; 40],
            len: 0,
        };
        // `{}` of an f64 is the shortest round-trip form; at most 24 bytes for finite values
        // in this form (and the 40-byte buffer takes any f64 `Display` output).
        if write!(s, "{x}").is_err() {
            s.len = 0;
            let _ = write!(s, "{x:e}");
        }
        self.arg(&s.buf[..s.len])
    }

    /// Adds a stream entry id `ms-seq`.
    pub fn arg_id(&mut self, id: crate::StreamId) -> &mut Self {
        let mut s = Stack {
            buf: [0; 40],
            len: 0,
        };
        let _ = write!(s, "{}-{}", id.ms, id.seq);
        self.arg(&s.buf[..s.len])
    }

    /// Commands encoded since the last [`Encoder::clear`].
    pub fn commands(&self) -> usize {
        self.commands
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes encoded.
    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is encoded.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets the encoded commands, keeping the buffer's capacity.
    pub fn clear(&mut self) {
        debug_assert_eq!(self.owed, 0, "cleared in the middle of a command");
        self.buf.clear();
        self.commands = 0;
        self.owed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Result<Option<(usize, String)>, RespError> {
        let mut p = Parser::new();
        Ok(p.parse(bytes)?
            .map(|n| (n, format!("{:?}", p.reply(bytes)))))
    }

    #[test]
    fn scalars() {
        assert_eq!(parse_all(b"+OK\r\n").unwrap(), Some((5, "+OK".into())));
        assert_eq!(
            parse_all(b"-ERR no\r\n").unwrap(),
            Some((9, "-ERR no".into()))
        );
        assert_eq!(parse_all(b":-42\r\n").unwrap(), Some((6, ":-42".into())));
        assert_eq!(
            parse_all(b"$3\r\na\r\n\r\n").unwrap(),
            Some((9, "\"a\\r\\n\"".into()))
        );
        assert_eq!(parse_all(b"$0\r\n\r\n").unwrap(), Some((6, "\"\"".into())));
        assert_eq!(parse_all(b"$-1\r\n").unwrap(), Some((5, "nil".into())));
        assert_eq!(parse_all(b"*-1\r\n").unwrap(), Some((5, "nil".into())));
        assert_eq!(parse_all(b"*0\r\n").unwrap(), Some((4, "[]".into())));
    }

    #[test]
    fn nested_arrays_and_navigation() {
        let bytes = b"*3\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n$-1\r\n*2\r\n+x\r\n*0\r\n+tail\r\n";
        let mut p = Parser::new();
        let used = p.parse(bytes).unwrap().unwrap();
        assert_eq!(&bytes[used..], b"+tail\r\n");
        let r = p.reply(bytes);
        assert_eq!(format!("{r:?}"), r#"[["a", [:1]], nil, [+x, []]]"#);
        assert_eq!(r.array_len(), Some(3));
        let third = r.get(2).unwrap();
        assert_eq!(third.get(0).unwrap().bytes(), Some(&b"x"[..]));
        assert_eq!(
            r.get(0).unwrap().get(1).unwrap().get(0).unwrap().int(),
            Some(1)
        );
        assert!(r.get(1).unwrap().is_null());
        assert!(r.get(3).is_none());
    }

    #[test]
    fn every_split_point_needs_more_then_parses() {
        let bytes: &[u8] =
            b"*2\r\n*2\r\n$5\r\n1-0\r\n\r\n*4\r\n$1\r\nt\r\n$2\r\n10\r\n$1\r\ns\r\n$3\r\nBTC\r\n:7\r\n";
        for cut in 0..bytes.len() {
            assert_eq!(
                Parser::new().parse(&bytes[..cut]),
                Ok(None),
                "prefix of {cut} bytes"
            );
        }
        assert_eq!(Parser::new().parse(bytes), Ok(Some(bytes.len())));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let bad: &[(&[u8], RespError)] = &[
            (b"?x\r\n", RespError::BadTag(b'?')),
            (b"?", RespError::BadTag(b'?')),
            (b":12a\r\n", RespError::BadNumber),
            (b":\r\n", RespError::BadNumber),
            (b":99999999999999999999\r\n", RespError::BadNumber),
            (b"$-2\r\n", RespError::BadNumber),
            (b"*-5\r\n", RespError::BadNumber),
            (b"$3\r\nabcde\r\n", RespError::BadTerminator),
            (b"$999999999999\r\n", RespError::TooLarge),
            (b"*99999999999\r\n", RespError::TooLarge),
            (b"*1\r\n!\r\n", RespError::BadTag(b'!')),
        ];
        for (bytes, want) in bad {
            assert_eq!(
                Parser::new().parse(bytes).as_ref(),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert_eq!(Parser::new().parse(&deep), Err(RespError::TooDeep));
        let long = [b"+".as_slice(), &vec![b'a'; MAX_LINE + 10]].concat();
        assert_eq!(Parser::new().parse(&long), Err(RespError::LineTooLong));
    }

    /// A reply of `n` elements mixing every kind, nested arrays and a null.
    fn big_reply(n: usize) -> Vec<u8> {
        let mut b = format!("*{n}\r\n").into_bytes();
        for i in 0..n {
            match i % 5 {
                0 => {
                    b.extend_from_slice(format!("${}\r\n{}\r\n", i.to_string().len(), i).as_bytes())
                }
                1 => b.extend_from_slice(format!(":{}\r\n", -(i as i64)).as_bytes()),
                2 => b.extend_from_slice(b"*2\r\n+ok\r\n*1\r\n$-1\r\n"),
                3 => b.extend_from_slice(b"$12\r\nwith\r\ninside\r\n"),
                _ => b.extend_from_slice(b"-ERR x\r\n"),
            }
        }
        b
    }

    /// Feeds `bytes` (one reply followed by `+tail\r\n`) to one parser in chunks of the sizes
    /// `chunk()` gives, asserting after every call that the bytes looked at stay linear in the
    /// bytes received; returns the debug text of the reply and the bytes it used.
    fn trickle(bytes: &[u8], mut chunk: impl FnMut() -> usize) -> (String, usize) {
        let mut p = Parser::new();
        let mut end = 0;
        loop {
            end = (end + chunk().max(1)).min(bytes.len());
            let r = p.parse(&bytes[..end]).unwrap();
            // Linear: each byte looked at once, plus a constant per value (at least 3 bytes).
            assert!(
                p.scanned_bytes() <= 3 * end as u64 + 64,
                "{} bytes looked at for {end} received",
                p.scanned_bytes()
            );
            if let Some(used) = r {
                return (format!("{:?}", p.reply(&bytes[..end])), used);
            }
            assert!(end < bytes.len(), "the whole reply did not parse");
        }
    }

    #[test]
    fn a_large_reply_trickled_parses_like_whole_in_linear_time() {
        let mut bytes = big_reply(100_000);
        let len = bytes.len();
        bytes.extend_from_slice(b"+tail\r\n");
        let mut p = Parser::new();
        assert_eq!(p.parse(&bytes).unwrap(), Some(len));
        let whole = format!("{:?}", p.reply(&bytes));
        assert!(p.scanned_bytes() <= 3 * len as u64);
        assert_eq!(p.reply(&bytes).array_len(), Some(100_000));

        assert_eq!(trickle(&bytes, || 1), (whole.clone(), len));
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for max in [7, 300, 70_000] {
            let got = trickle(&bytes, || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % max) as usize + 1
            });
            assert_eq!(got, (whole.clone(), len), "chunks up to {max}");
        }
    }

    #[test]
    fn a_large_bulk_string_trickled_is_not_rescanned() {
        let body = vec![b'x'; 1 << 20];
        let mut bytes = format!("${}\r\n", body.len()).into_bytes();
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(b"\r\n");
        let (text, used) = trickle(&bytes, || 1);
        assert_eq!(used, bytes.len());
        assert_eq!(text.len(), body.len() + 2);
        // A header line trickled byte by byte is looked at once too.
        let mut line = b"+".to_vec();
        line.extend_from_slice(&vec![b'a'; MAX_LINE - 10]);
        line.extend_from_slice(b"\r\n");
        assert_eq!(trickle(&line, || 1).1, line.len());
    }

    #[test]
    fn one_parser_fed_every_prefix_then_reused() {
        let bytes: &[u8] =
            b"*2\r\n*2\r\n$5\r\n1-0\r\n\r\n*4\r\n$1\r\nt\r\n$2\r\n10\r\n$1\r\ns\r\n$3\r\nBTC\r\n:7\r\n";
        let mut p = Parser::new();
        for cut in 0..bytes.len() {
            assert_eq!(p.parse(&bytes[..cut]), Ok(None), "prefix of {cut} bytes");
            // No complete reply yet: reading it gives a null, not a panic.
            assert!(p.reply(&bytes[..cut]).is_null());
        }
        assert_eq!(p.parse(bytes), Ok(Some(bytes.len())));
        let want = format!("{:?}", p.reply(bytes));
        // Complete: the next call starts a new reply (the same bytes parse the same).
        assert_eq!(p.parse(bytes), Ok(Some(bytes.len())));
        assert_eq!(format!("{:?}", p.reply(bytes)), want);
        // An error forgets the partial reply too.
        assert_eq!(p.parse(b"*2\r\n:1\r\n?"), Err(RespError::BadTag(b'?')));
        assert_eq!(p.parse(b":5\r\n"), Ok(Some(4)));
        // So does a reset.
        assert_eq!(p.parse(b"*2\r\n:1\r\n"), Ok(None));
        p.reset();
        assert_eq!(p.parse(b":6\r\n"), Ok(Some(4)));
        assert_eq!(p.reply(b":6\r\n").int(), Some(6));
    }

    #[test]
    fn lengths_and_integers_at_the_edges_of_i64() {
        type Parsed = Result<Option<usize>, RespError>;
        let cases: &[(&[u8], Parsed)] = &[
            (b"*-1\r\n", Ok(Some(5))),
            (b"$-1\r\n", Ok(Some(5))),
            (b"$-0\r\n\r\n", Ok(Some(7))),
            (b":-9223372036854775808\r\n", Ok(Some(23))),
            (b":9223372036854775807\r\n", Ok(Some(22))),
            (b":9223372036854775808\r\n", Err(RespError::BadNumber)),
            (b":-9223372036854775809\r\n", Err(RespError::BadNumber)),
            (b"$9223372036854775807\r\n", Err(RespError::TooLarge)),
            (b"*9223372036854775807\r\n", Err(RespError::TooLarge)),
            (b"$-9223372036854775808\r\n", Err(RespError::BadNumber)),
            (b"*-9223372036854775808\r\n", Err(RespError::BadNumber)),
            (b"*-2\r\n", Err(RespError::BadNumber)),
            (b"$-2\r\n", Err(RespError::BadNumber)),
            (b"*--1\r\n", Err(RespError::BadNumber)),
            (b"*-\r\n", Err(RespError::BadNumber)),
            (b"*+1\r\n", Err(RespError::BadNumber)),
            (b"* 1\r\n", Err(RespError::BadNumber)),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                &Parser::new().parse(bytes),
                want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let mut p = Parser::new();
        p.parse(b":-9223372036854775808\r\n").unwrap();
        assert_eq!(p.reply(b":-9223372036854775808\r\n").int(), Some(i64::MIN));
    }

    #[test]
    fn nesting_and_value_count_limits() {
        // MAX_DEPTH open arrays are fine, one more is not.
        let mut ok = b"*1\r\n".repeat(MAX_DEPTH);
        ok.extend_from_slice(b":1\r\n");
        assert_eq!(Parser::new().parse(&ok), Ok(Some(ok.len())));
        // Many tiny values: the tape is bounded, whatever the array lengths announce.
        let mut many = b"*3\r\n".to_vec();
        for _ in 0..3 {
            many.extend_from_slice(format!("*{}\r\n", MAX_ARRAY).as_bytes());
        }
        let mut p = Parser::new();
        assert_eq!(p.parse(&many), Ok(None));
        let element = b":1\r\n".repeat(MAX_VALUES);
        many.extend_from_slice(&element);
        assert_eq!(p.parse(&many), Err(RespError::TooLarge));
    }

    #[test]
    fn garbage_never_panics() {
        // A fixed pseudo-random byte soup over the RESP alphabet.
        let alphabet = b"+-:$*\r\n0123456789-abc";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut p = Parser::new();
        for _ in 0..20_000 {
            let mut bytes = Vec::new();
            for _ in 0..(x % 40) as usize {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            x = x.wrapping_add(1);
            if let Ok(Some(n)) = p.parse(&bytes) {
                assert!(n <= bytes.len());
                let _ = format!("{:?}", p.reply(&bytes));
            }
        }
    }

    #[test]
    fn encoder_writes_resp_arrays() {
        let mut e = Encoder::new();
        e.begin(4)
            .arg(b"XADD")
            .arg_u64(1234)
            .arg_f64(0.1)
            .arg_id(crate::StreamId { ms: 5, seq: 6 });
        e.begin(1).arg(b"");
        assert_eq!(
            e.as_bytes(),
            b"*4\r\n$4\r\nXADD\r\n$4\r\n1234\r\n$3\r\n0.1\r\n$3\r\n5-6\r\n*1\r\n$0\r\n\r\n"
        );
        assert_eq!(e.commands(), 2);
        // What the encoder writes, the parser reads back.
        let mut p = Parser::new();
        assert_eq!(p.parse(e.as_bytes()).unwrap(), Some(42));
        e.clear();
        assert!(e.is_empty());
        for x in [
            f64::MAX,
            f64::MIN_POSITIVE,
            -0.0,
            1e-300,
            0.1 + 0.2,
            f64::INFINITY,
        ] {
            e.clear();
            e.begin(1).arg_f64(x);
            p.parse(e.as_bytes()).unwrap().unwrap();
            let text = p.reply(e.as_bytes()).get(0).unwrap().bytes().unwrap();
            let back: f64 = std::str::from_utf8(text).unwrap().parse().unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{x}");
        }
    }
}
