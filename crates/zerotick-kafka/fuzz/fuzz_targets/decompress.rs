//! The record-batch decompressors on arbitrary bytes (a compressed batch's records section,
//! which the CRC only protects against accidents, not a hostile producer): never a panic,
//! never more than `MAX_DECOMPRESSED` bytes out, and bytes that one of our own encoders
//! wrote come back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zerotick_kafka::codec::{Decompressor, MAX_DECOMPRESSED, compress};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let codec = i16::from(selector % 5);
    let mut d = Decompressor::default();
    if selector & 0x80 == 0 {
        // Raw bytes as a compressed section.
        if let Ok(out) = d.decompress(codec, bytes) {
            assert!(out.len() <= MAX_DECOMPRESSED);
        }
    } else if codec != 0 {
        // Our own encoding round-trips.
        let z = compress(codec, bytes).expect("codecs 1-4 compress");
        assert_eq!(d.decompress(codec, &z).expect("own output decompresses"), bytes);
    }
});
