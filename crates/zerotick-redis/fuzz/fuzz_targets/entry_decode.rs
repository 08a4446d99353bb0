//! The stream-entry decoder on arbitrary entries: the input is cut into entries (at 0xFF) and
//! fields (at 0xFE); a field starting 0xFD is sent as an integer, 0xFC as a null, 0xFB as a
//! nested array, anything else as a bulk string; an entry starting 0xFA has null fields (an
//! entry deleted while pending). The reply is encoded as Redis sends it, parsed, and every
//! entry decoded: each gives exactly one outcome (a tick, the end marker or a rejection), never
//! a panic, and every tick holds values the pipeline accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zerotick_core::SymbolTable;
use zerotick_redis::codec::{Decoded, MAX_SYMBOLS, decode_entry};
use zerotick_redis::resp::Parser;

fn field(out: &mut Vec<u8>, f: &[u8]) {
    match f.split_first() {
        Some((0xFD, rest)) => out.extend_from_slice(format!(":{}\r\n", rest.len()).as_bytes()),
        Some((0xFC, _)) => out.extend_from_slice(b"$-1\r\n"),
        Some((0xFB, rest)) => {
            out.extend_from_slice(format!("*1\r\n${}\r\n", rest.len()).as_bytes());
            out.extend_from_slice(rest);
            out.extend_from_slice(b"\r\n");
        }
        _ => {
            out.extend_from_slice(format!("${}\r\n", f.len()).as_bytes());
            out.extend_from_slice(f);
            out.extend_from_slice(b"\r\n");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let entries: Vec<&[u8]> = data.split(|&b| b == 0xFF).collect();
    let mut reply = format!("*{}\r\n", entries.len()).into_bytes();
    for (i, e) in entries.iter().enumerate() {
        let id = format!("{}-0", 10_000 + i % 90_000);
        reply.extend_from_slice(format!("*2\r\n${}\r\n{id}\r\n", id.len()).as_bytes());
        if e.first() == Some(&0xFA) {
            reply.extend_from_slice(b"*-1\r\n");
            continue;
        }
        let fields: Vec<&[u8]> = if e.is_empty() {
            Vec::new()
        } else {
            e.split(|&b| b == 0xFE).collect()
        };
        reply.extend_from_slice(format!("*{}\r\n", fields.len()).as_bytes());
        for f in fields {
            field(&mut reply, f);
        }
    }
    let mut p = Parser::new();
    let used = p
        .parse(&reply)
        .expect("a well-formed reply parses")
        .expect("the whole reply is there");
    assert_eq!(used, reply.len());
    let mut symbols = SymbolTable::new(MAX_SYMBOLS);
    let mut outcomes = 0;
    for entry in p.reply(&reply).iter() {
        let fields = entry.get(1).expect("an entry has fields");
        match decode_entry(fields, &mut symbols) {
            Decoded::Tick(t) => {
                assert!(t.price.is_finite() && t.price > 0.0, "{t:?}");
                assert!(t.size.is_finite() && t.size >= 0.0, "{t:?}");
                assert!((t.symbol as usize) < symbols.len(), "{t:?}");
            }
            Decoded::End => {
                let f: Vec<_> = fields.iter().map(|v| v.bytes()).collect();
                assert_eq!(
                    f,
                    [Some(&b"e"[..]), Some(&b"1"[..])],
                    "only e = 1 ends a shard"
                );
            }
            Decoded::Rejected(_) => {}
        }
        outcomes += 1;
    }
    assert_eq!(outcomes, entries.len(), "one outcome per entry");
    assert!(symbols.len() <= MAX_SYMBOLS);
});
