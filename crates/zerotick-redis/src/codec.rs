//! The entry layout of tick streams, stream ids, and the shard of a symbol.

use core::cmp::Ordering;

use zerotick_core::hash::fnv1a64;
use zerotick_core::symbols::SymbolTable;
use zerotick_core::{MAX_TS_NS, RejectReason, Side, Tick};

use crate::resp::{Encoder, Value};

/// Field of the exchange timestamp, ns since the Unix epoch (decimal `u64`, at most
/// [`MAX_TS_NS`]).
pub const F_TS: &[u8] = b"t";
/// Field of the symbol name (UTF-8, 1 to [`MAX_SYMBOL_LEN`] bytes).
pub const F_SYMBOL: &[u8] = b"s";
/// Field of the price (decimal, finite, > 0).
pub const F_PRICE: &[u8] = b"p";
/// Field of the size (decimal, finite, >= 0).
pub const F_SIZE: &[u8] = b"q";
/// Field of the aggressor side: `b` or `s` (absent: unknown).
pub const F_SIDE: &[u8] = b"d";
/// Field that marks an end-of-feed entry (value `1`); such an entry carries nothing else.
pub const F_END: &[u8] = b"e";
/// Longest symbol name accepted, bytes.
pub const MAX_SYMBOL_LEN: usize = 64;
/// Most distinct symbols one feed accepts.
pub const MAX_SYMBOLS: usize = zerotick_core::symbols::MAX_SYMBOLS;

/// A stream entry id `ms-seq`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// Parses `ms-seq` (or `ms`, sequence 0).
    pub fn parse(b: &[u8]) -> Option<Self> {
        let (ms, seq) = match b.iter().position(|&c| c == b'-') {
            Some(i) => (&b[..i], &b[i + 1..]),
            None => (b, &b"0"[..]),
        };
        Some(Self {
            ms: parse_u64(ms)?,
            seq: parse_u64(seq)?,
        })
    }
}

impl PartialOrd for StreamId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StreamId {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ms, self.seq).cmp(&(other.ms, other.seq))
    }
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &d in b {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

fn parse_f64(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// FNV-1a, 64-bit, of the symbol name's UTF-8 bytes, modulo `shards`: the shard stream
/// `STREAM.{i}` that carries the symbol. Stable across runs, machines and versions.
///
/// ```
/// assert_eq!(zerotick_redis::shard_of("BTCUSDT", 1), 0);
/// assert_eq!(zerotick_redis::shard_of("BTCUSDT", 4), zerotick_redis::shard_of("BTCUSDT", 4));
/// ```
pub fn shard_of(symbol: &str, shards: u32) -> u32 {
    (fnv1a64(symbol.as_bytes()) % u64::from(shards.max(1))) as u32
}

/// Encodes `XADD stream [MAXLEN ~ n] * t .. s .. p .. q .. [d b|s]` for one tick.
pub fn encode_tick(e: &mut Encoder, stream: &[u8], maxlen: Option<u64>, tick: &Tick, name: &str) {
    let side: Option<&[u8]> = match tick.side {
        Side::Buy => Some(b"b"),
        Side::Sell => Some(b"s"),
        Side::Unknown => None,
    };
    let args = 3 + 8 + if maxlen.is_some() { 3 } else { 0 } + if side.is_some() { 2 } else { 0 };
    e.begin(args).arg(b"XADD").arg(stream);
    if let Some(n) = maxlen {
        e.arg(b"MAXLEN").arg(b"~").arg_u64(n);
    }
    e.arg(b"*")
        .arg(F_TS)
        .arg_u64(tick.ts_ns)
        .arg(F_SYMBOL)
        .arg(name.as_bytes())
        .arg(F_PRICE)
        .arg_f64(tick.price)
        .arg(F_SIZE)
        .arg_f64(tick.size);
    if let Some(d) = side {
        e.arg(F_SIDE).arg(d);
    }
}

/// Encodes `XADD stream * e 1`: the end marker.
pub fn encode_end(e: &mut Encoder, stream: &[u8]) {
    e.begin(5)
        .arg(b"XADD")
        .arg(stream)
        .arg(b"*")
        .arg(F_END)
        .arg(b"1");
}

/// What one entry of a tick stream holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoded {
    /// A valid tick (its symbol interned in the table given to [`decode_entry`]).
    Tick(Tick),
    /// The end marker.
    End,
    /// An entry that is not a valid tick.
    Rejected(RejectReason),
}

/// Decodes the field list of one entry (`[f1, v1, f2, v2, ..]`). Unknown fields are ignored;
/// a missing `t`, `s`, `p` or `q` is [`RejectReason::FieldCount`].
pub fn decode_entry(fields: Value<'_>, symbols: &mut SymbolTable) -> Decoded {
    let (mut ts, mut sym, mut price, mut size, mut side) = (None, None, None, None, Side::Unknown);
    let Some(n) = fields.array_len() else {
        return Decoded::Rejected(RejectReason::FieldCount);
    };
    if n % 2 != 0 {
        return Decoded::Rejected(RejectReason::FieldCount);
    }
    let mut it = fields.iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let (Some(k), Some(v)) = (k.bytes(), v.bytes()) else {
            return Decoded::Rejected(RejectReason::FieldCount);
        };
        match k {
            F_TS => match parse_u64(v) {
                Some(t) if t <= MAX_TS_NS => ts = Some(t),
                _ => return Decoded::Rejected(RejectReason::BadTimestamp),
            },
            F_SYMBOL => sym = Some(v),
            F_PRICE => match parse_f64(v) {
                Some(p) if p.is_finite() && p > 0.0 => price = Some(p),
                _ => return Decoded::Rejected(RejectReason::BadPrice),
            },
            F_SIZE => match parse_f64(v) {
                Some(q) if q.is_finite() && q >= 0.0 => size = Some(q),
                _ => return Decoded::Rejected(RejectReason::BadSize),
            },
            F_SIDE => {
                side = match v {
                    b"b" => Side::Buy,
                    b"s" => Side::Sell,
                    _ => return Decoded::Rejected(RejectReason::BadSide),
                }
            }
            // Only `e` = `1` alone ends a shard; any other value is a malformed marker
            // (rejected and dead-lettered like any bad entry, never an end of the feed).
            F_END if n == 2 => {
                return match v {
                    b"1" => Decoded::End,
                    _ => Decoded::Rejected(RejectReason::FieldCount),
                };
            }
            _ => {}
        }
    }
    let (Some(ts_ns), Some(sym), Some(price), Some(size)) = (ts, sym, price, size) else {
        return Decoded::Rejected(RejectReason::FieldCount);
    };
    let Ok(name) = std::str::from_utf8(sym) else {
        return Decoded::Rejected(RejectReason::BadUtf8);
    };
    if name.is_empty() || name.len() > MAX_SYMBOL_LEN {
        return Decoded::Rejected(RejectReason::TooLong);
    }
    let Some(symbol) = symbols.intern(name) else {
        return Decoded::Rejected(RejectReason::TooManySymbols);
    };
    Decoded::Tick(Tick {
        ts_ns,
        symbol,
        price,
        size,
        side,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::Parser;

    fn decode(fields: &[&[u8]], symbols: &mut SymbolTable) -> Decoded {
        let mut e = Encoder::new();
        e.begin(fields.len());
        for f in fields {
            e.arg(f);
        }
        let mut p = Parser::new();
        p.parse(e.as_bytes()).unwrap().unwrap();
        decode_entry(p.reply(e.as_bytes()), symbols)
    }

    #[test]
    fn ids_parse_and_order() {
        let a = StreamId::parse(b"1700000000000-5").unwrap();
        let b = StreamId::parse(b"1700000000001-0").unwrap();
        assert!(a < b);
        assert_eq!(StreamId::parse(b"7"), Some(StreamId { ms: 7, seq: 0 }));
        for bad in [
            &b""[..],
            b"-",
            b"1-",
            b"a-1",
            b"1-2-3",
            b"99999999999999999999999",
        ] {
            assert_eq!(StreamId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn shards_are_stable_fnv1a() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
        assert_eq!(
            shard_of("a", u32::MAX),
            (0xaf63_dc4c_8601_ec8c_u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(shard_of("a", 4), (0xaf63_dc4c_8601_ec8c_u64 % 4) as u32);
        assert_eq!(shard_of("anything", 0), 0);
    }

    #[test]
    fn round_trip_of_a_tick() {
        let mut e = Encoder::new();
        let t = Tick {
            ts_ns: 1_700_000_000_123_456_789,
            symbol: 0,
            price: 0.1 + 0.2,
            size: 1e-9,
            side: Side::Sell,
        };
        encode_tick(&mut e, b"ticks.0", Some(1000), &t, "ETH");
        let mut p = Parser::new();
        p.parse(e.as_bytes()).unwrap().unwrap();
        let cmd = p.reply(e.as_bytes());
        // Fields start after XADD stream MAXLEN ~ n *.
        let fields: Vec<&[u8]> = cmd.iter().skip(6).map(|v| v.bytes().unwrap()).collect();
        let mut syms = SymbolTable::new(MAX_SYMBOLS);
        assert_eq!(decode(&fields, &mut syms), Decoded::Tick(t));
        assert_eq!(syms.names().snapshot(), vec!["ETH".to_owned()]);
    }

    #[test]
    fn bad_entries_are_rejected_with_a_reason() {
        let mut s = SymbolTable::new(MAX_SYMBOLS);
        let ok: [&[u8]; 8] = [b"t", b"1", b"s", b"X", b"p", b"1.5", b"q", b"2"];
        assert!(matches!(decode(&ok, &mut s), Decoded::Tick(_)));
        let cases: &[(&[&[u8]], RejectReason)] = &[
            (
                &[b"t", b"1", b"s", b"X", b"p", b"1"],
                RejectReason::FieldCount,
            ),
            (&[b"t", b"1", b"s"], RejectReason::FieldCount),
            (
                &[b"t", b"-1", b"s", b"X", b"p", b"1", b"q", b"1"],
                RejectReason::BadTimestamp,
            ),
            // Past i64::MAX ns: no Parquet timestamp holds it.
            (
                &[
                    b"t",
                    b"9223372036854775808",
                    b"s",
                    b"X",
                    b"p",
                    b"1",
                    b"q",
                    b"1",
                ],
                RejectReason::BadTimestamp,
            ),
            (
                &[b"t", b"1", b"s", b"X", b"p", b"NaN", b"q", b"1"],
                RejectReason::BadPrice,
            ),
            (
                &[b"t", b"1", b"s", b"X", b"p", b"0", b"q", b"1"],
                RejectReason::BadPrice,
            ),
            (
                &[b"t", b"1", b"s", b"X", b"p", b"1", b"q", b"-1"],
                RejectReason::BadSize,
            ),
            (
                &[b"t", b"1", b"s", b"X", b"p", b"1", b"q", b"inf"],
                RejectReason::BadSize,
            ),
            (
                &[b"t", b"1", b"s", b"X", b"p", b"1", b"q", b"1", b"d", b"x"],
                RejectReason::BadSide,
            ),
            (
                &[b"t", b"1", b"s", b"\xff", b"p", b"1", b"q", b"1"],
                RejectReason::BadUtf8,
            ),
            (
                &[b"t", b"1", b"s", b"", b"p", b"1", b"q", b"1"],
                RejectReason::TooLong,
            ),
        ];
        for (fields, want) in cases {
            assert_eq!(
                decode(fields, &mut s),
                Decoded::Rejected(*want),
                "{fields:?}"
            );
        }
        assert_eq!(decode(&[b"e", b"1"], &mut s), Decoded::End);
        // Only `1` ends a shard: any other value of a lone `e` is a counted bad entry.
        for v in [&b"0"[..], b"", b"11", b"true", b" 1", b"1 "] {
            assert_eq!(
                decode(&[b"e", v], &mut s),
                Decoded::Rejected(RejectReason::FieldCount),
                "e = {v:?}"
            );
        }
        // An `e` field among tick fields does not make an end marker.
        let with_e: [&[u8]; 10] = [b"t", b"1", b"s", b"X", b"p", b"1.5", b"q", b"2", b"e", b"1"];
        assert!(matches!(decode(&with_e, &mut s), Decoded::Tick(_)));
        assert_eq!(s.len(), 1);
    }
}
