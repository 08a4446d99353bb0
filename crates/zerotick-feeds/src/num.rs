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
#[inline]
pub(crate) fn unsigned_prefix(b: &[u8], start: usize) -> Option<(f64, usize)> {
    // `m` takes at most FAST_DIGITS digits, checked before each: it never overflows.
    let mut m = 0u64;
    let mut i = start;
    let mut digits = 0;
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if digits == FAST_DIGITS {
            return None;
        }
        m = m * 10 + u64::from(d);
        i += 1;
        digits += 1;
    }
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            if digits == FAST_DIGITS {
                return None;
            }
            m = m * 10 + u64::from(d);
            i += 1;
            digits += 1;
            frac += 1;
        }
    }
    // A byte after the decimal that could continue a number std reads (an exponent) is
    // left to the slow path by the callers, which want a delimiter or the end there.
    if digits == 0 || m > EXACT_INT || frac >= POW10.len() {
        return None;
    }
    Some((m as f64 / POW10[frac], i))
}

/// The standard library's parser, for what the fast path does not take.
#[cold]
#[inline(never)]
fn slow_decimal(bytes: &[u8]) -> Option<f64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// A whole number written as 1 to 19 ASCII digits (no sign), `None` otherwise.
#[inline]
pub(crate) fn whole(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 {
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
        ] {
            let got = decimal(s.as_bytes());
            assert!(same(got, reference(s)), "{s:?}: {got:?} vs {:?}", reference(s));
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
        assert_eq!(whole(b"9999999999999999999"), Some(9_999_999_999_999_999_999));
        for bad in [&b""[..], b"10000000000000000000", b"-1", b"+1", b"1.0", b"1a"] {
            assert_eq!(whole(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

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
