//! The record-batch reader on arbitrary bytes (what a broker, or anything answering on its
//! port, could send in a fetch): it never panics, every record it hands out lies at or after
//! the requested offset, the offset it returns is not before that one, and every record's key
//! and value decode as a tick (of an interned symbol) or a rejection without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zerotick_core::SymbolTable;
use zerotick_kafka::record::{Decoded, decode_tick, read_batches};
use zerotick_kafka::wire::crc32c;

/// Bytes of a batch header before the CRC'd part: base offset (8), length (4), leader epoch
/// (4), magic (1), CRC (4).
const CRC_END: usize = 21;

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes choose the offset the fetch asked from; the rest is the fetch.
    let (from, bytes) = match data.split_first_chunk::<8>() {
        Some((head, rest)) => (i64::from_le_bytes(*head), rest),
        None => (0, data),
    };
    // Half the inputs get a first batch with a consistent length, magic 2 and a correct
    // CRC, so the fuzzer reaches the records instead of stopping at the checksum.
    let mut fixed;
    let bytes = if bytes.len() >= 61 && from & 1 == 0 {
        fixed = bytes.to_vec();
        let len = (fixed.len() - 12) as i32;
        fixed[8..12].copy_from_slice(&len.to_be_bytes());
        fixed[16] = 2;
        let crc = crc32c(&fixed[CRC_END..]);
        fixed[17..21].copy_from_slice(&crc.to_be_bytes());
        fixed.as_slice()
    } else {
        bytes
    };
    let mut symbols = SymbolTable::default();
    let result = read_batches(bytes, from, |rec| {
        assert!(rec.offset >= from, "record before the requested offset");
        let _ = rec.header("zerotick-reason");
        match decode_tick(rec.key, rec.value, &mut symbols) {
            Decoded::Tick(t) => assert!((t.symbol as usize) < symbols.len()),
            Decoded::Rejected(_) => {}
        }
        Ok(())
    });
    if let Ok(next) = result {
        assert!(next >= from, "the next offset went backwards");
    }
});
