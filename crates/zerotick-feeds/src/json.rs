//! A small JSON scanner over one line's bytes: checks the grammar (RFC 8259) and hands out
//! borrowed spans, never allocating. Strings are not unescaped: a string's span is its raw
//! content between the quotes (escapes checked, left as written). Nesting deeper than
//! [`MAX_DEPTH`] is refused, so a hostile line cannot exhaust the stack.

use crate::num::splat;

/// Deepest nesting of objects and arrays accepted.
pub(crate) const MAX_DEPTH: u32 = 32;

/// The JSON type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Number,
    Object,
    Array,
    True,
    False,
    Null,
}

/// A value's place in the line: for a string its content without the quotes, for anything
/// else all of it. Offsets are `u32` (a line is at most a few MB: the readers cap it), so a
/// message's table of fields stays small (it is cleared for every message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Value {
    pub(crate) kind: Kind,
    start: u32,
    end: u32,
}

impl Value {
    /// The value of `kind` at `start..end` of a line. Invariant: `end <= u32::MAX`.
    #[inline]
    pub(crate) fn new(kind: Kind, start: usize, end: usize) -> Self {
        debug_assert!(start <= end && u32::try_from(end).is_ok());
        Self {
            kind,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The value's bytes in `line`.
    #[inline]
    pub(crate) fn bytes<'a>(&self, line: &'a [u8]) -> &'a [u8] {
        &line[self.start as usize..self.end as usize]
    }
}

/// The grammar does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

type Res<T> = Result<T, Malformed>;

/// The index of the first byte at or after `i` that is not JSON whitespace.
#[inline]
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The value starting at `i` (no whitespace before it) and the index after it.
#[inline]
pub(crate) fn value(b: &[u8], i: usize, depth: u32) -> Res<(Value, usize)> {
    let kind_at = |kind, end| Ok((Value::new(kind, i, end), end));
    match b.get(i) {
        Some(b'"') => {
            let end = string_end(b, i + 1)?;
            Ok((Value::new(Kind::String, i + 1, end), end + 1))
        }
        Some(b'{') => kind_at(Kind::Object, object(b, i, depth, &mut |_, _| {})?),
        Some(b'[') => kind_at(Kind::Array, array(b, i, depth, &mut |_| {})?),
        Some(b't') => kind_at(Kind::True, literal(b, i, b"true")?),
        Some(b'f') => kind_at(Kind::False, literal(b, i, b"false")?),
        Some(b'n') => kind_at(Kind::Null, literal(b, i, b"null")?),
        Some(b'-' | b'0'..=b'9') => kind_at(Kind::Number, number(b, i)?),
        _ => Err(Malformed),
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Res<usize> {
    if b[i..].starts_with(word) {
        Ok(i + word.len())
    } else {
        Err(Malformed)
    }
}

/// The index of the closing quote of the string whose content starts at `i`.
///
/// Eight bytes at a time while none of them needs a look (a quote, a backslash or a control
/// byte), then byte by byte.
#[inline]
pub(crate) fn string_end(b: &[u8], mut i: usize) -> Res<usize> {
    const LOW: u64 = splat(0x01);
    const HIGH: u64 = splat(0x80);
    while let Some(&chunk) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        let w = u64::from_le_bytes(chunk);
        // A lane's high bit is set where the lane is a quote, a backslash or below 0x20
        // (the "has zero byte" test: exact for the lowest such lane, which is all we use).
        let zero = |v: u64| v.wrapping_sub(LOW) & !v & HIGH;
        let found = zero(w ^ splat(b'"'))
            | zero(w ^ splat(b'\\'))
            | (w.wrapping_sub(splat(0x20)) & !w & HIGH);
        if found != 0 {
            i += (found.trailing_zeros() / 8) as usize;
            break;
        }
        i += 8;
    }
    loop {
        match b.get(i) {
            Some(b'"') => return Ok(i),
            Some(b'\\') => match b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = b.get(i + 2..i + 6).ok_or(Malformed)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(Malformed);
                    }
                    i += 6;
                }
                _ => return Err(Malformed),
            },
            Some(&c) if c < 0x20 => return Err(Malformed),
            Some(_) => i += 1,
            None => return Err(Malformed),
        }
    }
}

/// The index after the number starting at `i`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
#[inline]
pub(crate) fn number(b: &[u8], mut i: usize) -> Res<usize> {
    let digits = |b: &[u8], i: usize| {
        let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 { Err(Malformed) } else { Ok(i + n) }
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match b.get(i) {
        Some(b'0') => i + 1,
        _ => digits(b, i)?,
    };
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    Ok(i)
}

/// Checks the object starting at `i` (at its `{`), calling `member(key, value)` for each
/// member of it (keys as raw string content); returns the index after its `}`.
pub(crate) fn object(
    b: &[u8],
    i: usize,
    depth: u32,
    member: &mut dyn FnMut(&[u8], Value),
) -> Res<usize> {
    if depth >= MAX_DEPTH || b.get(i) != Some(&b'{') {
        return Err(Malformed);
    }
    let mut i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Ok(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return Err(Malformed);
        }
        let key_end = string_end(b, i + 1)?;
        let key = &b[i + 1..key_end];
        i = skip_ws(b, key_end + 1);
        if b.get(i) != Some(&b':') {
            return Err(Malformed);
        }
        i = skip_ws(b, i + 1);
        let (v, next) = value(b, i, depth + 1)?;
        member(key, v);
        i = skip_ws(b, next);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Ok(i + 1),
            _ => return Err(Malformed),
        }
    }
}

/// Checks the array starting at `i` (at its `[`), calling `element` for each element;
/// returns the index after its `]`.
pub(crate) fn array(b: &[u8], i: usize, depth: u32, element: &mut dyn FnMut(Value)) -> Res<usize> {
    if depth >= MAX_DEPTH || b.get(i) != Some(&b'[') {
        return Err(Malformed);
    }
    let mut i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Ok(i + 1);
    }
    loop {
        let (v, next) = value(b, i, depth + 1)?;
        element(v);
        i = skip_ws(b, next);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b']') => return Ok(i + 1),
            _ => return Err(Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> bool {
        let b = text.as_bytes();
        let i = skip_ws(b, 0);
        matches!(value(b, i, 0), Ok((_, end)) if skip_ws(b, end) == b.len())
    }

    #[test]
    fn accepts_json_and_refuses_what_is_not() {
        for ok in [
            r#"{}"#,
            r#"{"a":1,"b":[1,2.5e-3,-0,"x\"y\u00e9"],"c":{"d":null,"e":true,"f":false}}"#,
            r#" { "a" : [ ] } "#,
        ] {
            assert!(check(ok), "{ok}");
        }
        for bad in [
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":01x}"#,
            r#"{"a":"\q"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":tru}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":"x"#,
            r#"{"#,
        ] {
            assert!(!check(bad), "{bad}");
        }
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(!check(&deep));
    }

    /// `string_end` one byte at a time, as the grammar says.
    fn string_end_bytewise(b: &[u8], mut i: usize) -> Res<usize> {
        loop {
            match b.get(i) {
                Some(b'"') => return Ok(i),
                Some(b'\\') => match b.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                    Some(b'u')
                        if b.get(i + 2..i + 6)
                            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                    {
                        i += 6
                    }
                    _ => return Err(Malformed),
                },
                Some(&c) if c < 0x20 => return Err(Malformed),
                Some(_) => i += 1,
                None => return Err(Malformed),
            }
        }
    }

    #[test]
    fn string_end_finds_what_a_bytewise_scan_finds_at_every_position() {
        let specials: [&[u8]; 9] = [
            b"\"",
            b"\\\"",
            b"\\n",
            b"\\u00e9",
            b"\\x",
            b"\x01",
            b"\x1f",
            b"\xc3\xa9",
            b"\x7f",
        ];
        for len in 0..40 {
            for at in 0..=len {
                for sp in specials {
                    let mut text = vec![b'a'; len];
                    text.splice(at..at, sp.iter().copied());
                    text.push(b'"');
                    text.extend_from_slice(b"tail\"");
                    for start in 0..3.min(text.len()) {
                        assert_eq!(
                            string_end(&text, start),
                            string_end_bytewise(&text, start),
                            "{text:?} from {start}"
                        );
                    }
                }
            }
        }
        assert_eq!(string_end(b"abcdefghijklmnop", 0), Err(Malformed));
    }

    #[test]
    fn members_are_borrowed_spans() {
        let line = br#"{"s":"BTC","b":[["1.5","2"],["3","0"]]}"#;
        let mut seen = Vec::new();
        object(line, 0, 0, &mut |k, v| seen.push((k.to_vec(), v))).unwrap();
        assert_eq!(seen[0].0, b"s");
        assert_eq!(seen[0].1.bytes(line), b"BTC");
        let arr = seen[1].1;
        assert_eq!(arr.kind, Kind::Array);
        assert_eq!(arr.bytes(line), br#"[["1.5","2"],["3","0"]]"#);
    }
}
