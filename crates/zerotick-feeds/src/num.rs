//! Numbers from bytes, fast and exact: [`decimal`] (a decimal to `f64`, correctly rounded) and
//! [`whole`] (digits to `u64`). Every text format reads its prices and sizes through
//! [`decimal`].
//!
//! [`decimal`] gives exactly what `str::parse::<f64>` gives for the same bytes (the same
//! value, bit for bit, and the same refusals): it takes a fast path for the plain decimals
//! market data is written in (`[+-]digits[.digits]`, at most 19 digits, a value below 2^53
//! before the point is placed, at most 22 digits after it), and hands everything else (an
//! exponent, `inf`, more digits, bytes that are not UTF-8) to the standard library's parser.
//!
//! **Why the fast path is exact** (Clinger's fast path): its digits make a whole number `m`
//! below 2^53 and `f` digits after the point make the value `m / 10^f` with `f <= 22`. Both `m`
//! and `10^f` are exactly representable as `f64` (10^22 < 2^53 * 2^22, and 5^22 < 2^53), and
//! IEEE 754 division is correctly rounded, so `m as f64 / 10^f as f64` is the `f64` nearest to
//! the decimal's value: what a correctly rounding parser gives. The property test below checks
//! the fast path against `str::parse` on random decimal strings.
//!
//! **Why a division** (measured 2026-12-01, docs/formats.md): `str::parse` on the same bytes
//! (the standard library's Eisel-Lemire) is ~1.8x slower a number than this path, and a
//! multiplication by `1 / 10^f` (not correctly rounded) would save only ~4% of a CSV row.

/// `10^k` for `k <= 22`, each exact as `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Largest whole number every smaller one of which is exact as `f64`.
const EXACT_INT: u64 = 1 << 53;

/// Most digits the fast path accumulates: 19 digits always fit a `u64`.
const FAST_DIGITS: usize = 19;

/// `bytes` read as `str::parse::<f64>` reads them: `None` where it refuses them (or they are
/// not UTF-8). Correctly rounded; see the module docs for the fast path.
#[inline]
pub(crate) fn decimal(bytes: &[u8]) -> Option<f64> {
    match fast_decimal(bytes) {
        Some(v) => Some(v),
        None => slow_decimal(bytes),
    }
}

/// The fast path: `Some` only for `[+-]digits[.digits]` (a digit on at least one side of the
/// point) that it can round exactly.
#[inline]
fn fast_decimal(bytes: &[u8]) -> Option<f64> {
    let (negative, start) = match bytes.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let (v, end) = unsigned_prefix(bytes, start)?;
    if end != bytes.len() {
        return None;
    }
    Some(if negative { -v } else { v })
}

/// The plain decimal `digits[.digits]` starting at `b[start]` (a digit on at least one side of
/// the point), as far as it goes, when the fast path rounds it exactly: its value and the index
/// of the first byte after it. `None` when there is no such decimal there, or it is too long
/// for the fast path (the caller then reads the bytes the slow way).
///
/// What follows the decimal is the caller's to check: `b"1.5\""` gives `(1.5, 3)`.
#[inline(always)]
pub(crate) fn unsigned_prefix(b: &[u8], start: usize) -> Option<(f64, usize)> {
    let (m, mut i, int_digits) = digit_run(b, start, 0, 0)?;
    let (mut m, mut digits) = (m, int_digits);
    if b.get(i) == Some(&b'.') {
        (m, i, digits) = digit_run(b, i + 1, m, digits)?;
    }
    let frac = digits - int_digits;
    // A byte after the decimal that could continue a number std reads (an exponent) is
    // left to the slow path by the callers, which want a delimiter or the end there.
    if digits == 0 || m > EXACT_INT || frac >= POW10.len() {
        return None;
    }
    Some((m as f64 / POW10[frac], i))
}

/// `10^k` for `k <= 9`.
pub(crate) const POW10_INT: [u64; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// Each byte of a word set to `x` (for the word-at-a-time byte tests of the text readers).
pub(crate) const fn splat(x: u8) -> u64 {
    u64::from_ne_bytes([x; 8])
}

/// Appends the run of ASCII digits starting at `b[i]` to `m`, which holds `count` digits:
/// the new `m`, the index after the run and the new count. `None` past [`FAST_DIGITS`]
/// digits (so `m` never overflows: it stays below 10^19).
///
/// Eight bytes at a time (SWAR: the digits of a word found and combined with three
/// multiplications) while eight are left, then byte by byte.
#[inline(always)]
fn digit_run(b: &[u8], mut i: usize, mut m: u64, mut count: usize) -> Option<(u64, usize, usize)> {
    while let Some(&chunk) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        let w = u64::from_le_bytes(chunk);
        let n = leading_digits(w);
        if n == 0 {
            return Some((m, i, count));
        }
        if count + n > FAST_DIGITS {
            return None;
        }
        m = m * POW10_INT[n] + first_digits(w, n);
        i += n;
        count += n;
        if n < 8 {
            return Some((m, i, count));
        }
    }
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if count == FAST_DIGITS {
            return None;
        }
        m = m * 10 + u64::from(d);
        i += 1;
        count += 1;
    }
    Some((m, i, count))
}

/// How many of the word's bytes, from its first (lowest), are ASCII digits (0 to 8).
#[inline(always)]
fn leading_digits(w: u64) -> usize {
    // A digit lane is 0x30..=0x39: its high nibble is 3, and still 3 after adding 6. A carry
    // out of a lane (from 0xFA..=0xFF, not a digit) only disturbs lanes above a non-digit.
    let high = w & splat(0xF0);
    let high_plus6 = w.wrapping_add(splat(0x06)) & splat(0xF0);
    let not_digit = (high | (high_plus6 >> 4)) ^ splat(0x33);
    (not_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `n` bytes of the word (`1..=8`, all ASCII digits), first byte most
/// significant.
#[inline(always)]
fn first_digits(w: u64, n: usize) -> u64 {
    debug_assert!((1..=8).contains(&n));
    // The n digits moved to the top lanes, zeros (as digit values) below them.
    let v = w.wrapping_sub(splat(b'0')) << (8 * (8 - n));
    // Pairs, then quads, then the eight digits (each lane stays below 100: no carries).
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let mask = 0x0000_00FF_0000_00FF;
    let v = (v & mask)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((v >> 16) & mask).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    v & 0xFFFF_FFFF
}

/// The standard library's parser, for what the fast path does not take.
#[cold]
#[inline(never)]
fn slow_decimal(bytes: &[u8]) -> Option<f64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// A whole number written as 1 to 19 ASCII digits (no sign), `None` otherwise.
///
/// Eight digits at a time, the last few (when there are eight or more in all) from the
/// last eight bytes, which overlap the digits already read: no digit-by-digit chain of
/// multiplications for a 13-digit millisecond time.
#[inline]
pub(crate) fn whole(bytes: &[u8]) -> Option<u64> {
    let len = bytes.len();
    if len < 8 {
        return whole_bytewise(bytes);
    }
    if len > FAST_DIGITS {
        return None;
    }
    let mut n = 0u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        if leading_digits(w) != 8 {
            return None;
        }
        n = n * POW10_INT[8] + first_digits(w, 8);
    }
    let r = chunks.remainder().len();
    if r > 0 {
        // The last eight bytes, moved down so that their last `r` (not yet read) come first.
        let last = bytes.last_chunk::<8>()?;
        let w = u64::from_le_bytes(*last) >> (8 * (8 - r));
        if leading_digits(w) < r {
            return None;
        }
        n = n * POW10_INT[r] + first_digits(w, r);
    }
    Some(n)
}

/// [`whole`] digit by digit.
#[inline]
fn whole_bytewise(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > FAST_DIGITS {
        return None;
    }
    let mut n = 0u64;
    for &c in bytes {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(s: &str) -> Option<f64> {
        s.parse().ok()
    }

    fn same(a: Option<f64>, b: Option<f64>) -> bool {
        a.map(f64::to_bits) == b.map(f64::to_bits)
    }

    #[test]
    fn agrees_with_std_on_edges() {
        for s in [
            "0",
            "-0",
            "+0",
            "0.0",
            "-0.000",
            "1",
            "1.",
            ".5",
            "-.5",
            "+.5",
            ".",
            "-",
            "+",
            "",
            "42000.50",
            "0.00000001",
            "9007199254740992",
            "9007199254740993",
            "9007199254740992.5",
            "900719925474099.3",
            "1234567890123456789",
            "12345678901234567890",
            "0.1234567890123456789",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "1e5",
            "1E-3",
            "inf",
            "-infinity",
            "NaN",
            "1.2.3",
            "1,5",
            " 1",
            "1 ",
            "0x10",
            "00012.500",
            "1_000",
            "١",
            // Halfway and near-halfway cases, 17 and more digits, many decimals, exponents.
            "9007199254740993.0",
            "9007199254740.993",
            "9007199254740.992",
            "900719925474099.25",
            "4503599627370496.5",
            "4503599627370497.5",
            "0.30000000000000004",
            "0.1000000000000000055511151231257827021181583404541015625",
            "0.1000000000000000055511151231257827021181583404541015624",
            "0.1000000000000000055511151231257827021181583404541015626",
            "2.2250738585072011",
            "179769313486231570000000000000000000000.0",
            "123456789012345678901234567890",
            "0.0000000000000000000000000000000000001",
            "9999999999999999999",
            "999999999999999.9999",
            "0.9999999999999999999",
            "1e22",
            "1e23",
            "9007199254740993e-22",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "2.2250738585072014e-308",
            "4.9e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
        ] {
            let got = decimal(s.as_bytes());
            assert!(
                same(got, reference(s)),
                "{s:?}: {got:?} vs {:?}",
                reference(s)
            );
        }
        assert_eq!(decimal(b"\xff1"), None);
        assert!(decimal(b"-0").unwrap().is_sign_negative());
    }

    #[test]
    fn the_fast_path_is_taken_for_market_data() {
        for s in ["42000.50", "0.010", "1.5", "0", "12345678.12345678"] {
            assert!(fast_decimal(s.as_bytes()).is_some(), "{s}");
        }
        assert_eq!(unsigned_prefix(b"[\"1.5\"]", 2), Some((1.5, 5)));
        assert_eq!(unsigned_prefix(b"x", 0), None);
        assert_eq!(unsigned_prefix(b".", 0), None);
    }

    #[test]
    fn whole_numbers() {
        assert_eq!(whole(b"0"), Some(0));
        assert_eq!(whole(b"1700000000000"), Some(1_700_000_000_000));
        assert_eq!(
            whole(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for bad in [
            &b""[..],
            b"10000000000000000000",
            b"-1",
            b"+1",
            b"1.0",
            b"1a",
        ] {
            assert_eq!(whole(bad), None, "{bad:?}");
        }
    }

    /// `unsigned_prefix` one byte at a time.
    fn prefix_bytewise(b: &[u8], start: usize) -> Option<(f64, usize)> {
        let int = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        let mut end = start + int;
        let mut frac = 0;
        if b.get(end) == Some(&b'.') {
            frac = b[end + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            end += 1 + frac;
        }
        if int + frac == 0 || int + frac > FAST_DIGITS {
            return None;
        }
        let text = std::str::from_utf8(&b[start..end]).unwrap();
        let m: u64 = text.replace('.', "").parse().unwrap();
        if m > EXACT_INT {
            return None;
        }
        Some((text.parse().unwrap(), end))
    }

    #[test]
    fn swar_digits() {
        assert_eq!(leading_digits(u64::from_le_bytes(*b"12345678")), 8);
        assert_eq!(leading_digits(u64::from_le_bytes(*b"123.5678")), 3);
        assert_eq!(leading_digits(u64::from_le_bytes(*b"/0123456")), 0);
        assert_eq!(
            leading_digits(u64::from_le_bytes(*b"9:\xff\xff\xff\xff\xff\xff")),
            1
        );
        assert_eq!(
            first_digits(u64::from_le_bytes(*b"12345678"), 8),
            12_345_678
        );
        assert_eq!(first_digits(u64::from_le_bytes(*b"90210xyz"), 5), 90_210);
        assert_eq!(first_digits(u64::from_le_bytes(*b"7\"]abcde"), 1), 7);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// The word-at-a-time prefix reader equals a byte-at-a-time one, whatever follows
        /// the number and wherever it starts.
        #[test]
        fn prefix_equals_bytewise(
            lead in "[a-z\"\\[]{0,3}",
            int in "[0-9]{0,21}",
            point in any::<bool>(),
            frac in "[0-9]{0,21}",
            tail in "[\",\\]e0-9.]{0,12}",
        ) {
            let s = format!("{lead}{int}{}{frac}{tail}", if point { "." } else { "" });
            let b = s.as_bytes();
            let got = unsigned_prefix(b, lead.len()).map(|(v, e)| (v.to_bits(), e));
            let want = prefix_bytewise(b, lead.len()).map(|(v, e)| (v.to_bits(), e));
            prop_assert_eq!(got, want, "{:?}", s);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Whole numbers eight digits at a time equal `str::parse::<u64>` for up to 19
        /// digits (the overlapping last word included), and refuse anything else.
        #[test]
        fn whole_equals_std(digits in "[0-9]{0,21}", bad_at in 0usize..24, bad in prop::sample::select(b"/:a.-+ \xff".to_vec())) {
            let mut b = digits.into_bytes();
            if bad_at < b.len() {
                b[bad_at] = bad;
            }
            let want = std::str::from_utf8(&b)
                .ok()
                .filter(|s| !s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok());
            prop_assert_eq!(whole(&b), want, "{:?}", b);
        }

        /// Random plain decimals: the fast path (where it applies) and the fallback both
        /// equal `str::parse`, bit for bit.
        #[test]
        fn decimals_equal_std(
            sign in prop::sample::select(vec!["", "-", "+"]),
            int in "[0-9]{0,20}",
            point in any::<bool>(),
            frac in "[0-9]{0,24}",
        ) {
            let s = if point { format!("{sign}{int}.{frac}") } else { format!("{sign}{int}") };
            prop_assert!(same(decimal(s.as_bytes()), reference(&s)), "{}", s);
        }

        /// Mantissas at the fast path's limits (2^53, 10^19 and 19 digits, 22 decimals),
        /// the point anywhere, with or without an exponent: equal `str::parse`, bit for bit.
        #[test]
        fn limits_equal_std(
            base in prop::sample::select(vec![1u64 << 53, 1 << 54, 10_000_000_000_000_000_000, 1_000_000_000_000_000, 4_503_599_627_370_496]),
            delta in -2_000i64..2_000,
            point in 0usize..25,
            zeros in 0usize..6,
            exp in prop::option::of(-30i32..30),
        ) {
            let m = base.saturating_add_signed(delta);
            let digits = format!("{}{m}", "0".repeat(zeros));
            let cut = digits.len().saturating_sub(point);
            let mut s = format!("{}.{}", &digits[..cut], &digits[cut..]);
            if let Some(e) = exp {
                s.push_str(&format!("e{e}"));
            }
            prop_assert!(same(decimal(s.as_bytes()), reference(&s)), "{}", s);
        }

        /// Prices the way exchanges write them (cents to satoshis, up to 1e12).
        #[test]
        fn prices_equal_std(units in 0u64..1_000_000_000_000, frac in 0u64..100_000_000, places in 0usize..9) {
            let frac = frac % 10u64.pow(places as u32);
            let s = if places == 0 {
                format!("{units}")
            } else {
                format!("{units}.{frac:0places$}")
            };
            let fast = fast_decimal(s.as_bytes());
            prop_assert!(fast.is_none() || same(fast, reference(&s)), "{}", s);
            prop_assert!(same(decimal(s.as_bytes()), reference(&s)), "{}", s);
        }

        /// Any short byte string: the same answer as `str::parse`.
        #[test]
        fn any_bytes_equal_std(b in prop::collection::vec(prop::sample::select(b"0123456789.+-eE_ ix".to_vec()), 0..12)) {
            let s = String::from_utf8(b).unwrap();
            prop_assert!(same(decimal(s.as_bytes()), reference(&s)), "{:?}", s);
        }
    }
}
