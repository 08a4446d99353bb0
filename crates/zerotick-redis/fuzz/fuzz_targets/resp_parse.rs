//! The RESP2 reply parser on arbitrary bytes: it never panics; fed in chunks (sizes taken from
//! the first input bytes) it gives the same result as fed whole; its scanning stays linear in
//! the bytes received.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zerotick_redis::resp::{Parser, RespError};

/// What parsing gave: the bytes used and the reply's debug text, or the error.
type Outcome = Result<Option<(usize, String)>, RespError>;

fn whole(bytes: &[u8]) -> Outcome {
    let mut p = Parser::new();
    let r = p.parse(bytes)?;
    assert!(
        p.scanned_bytes() <= 3 * bytes.len() as u64 + 64,
        "scanning not linear"
    );
    Ok(r.map(|n| {
        assert!(n <= bytes.len(), "used more bytes than given");
        (n, format!("{:?}", p.reply(bytes)))
    }))
}

/// Fed through one parser in growing prefixes, up to the first complete reply or error.
fn chunked(bytes: &[u8], sizes: &[u8]) -> Outcome {
    let mut p = Parser::new();
    let mut end = 0;
    let mut i = 0;
    loop {
        let step = sizes
            .get(i % sizes.len().max(1))
            .map_or(1, |&s| usize::from(s % 64) + 1);
        i += 1;
        end = (end + step).min(bytes.len());
        let r = p.parse(&bytes[..end])?;
        assert!(
            p.scanned_bytes() <= 3 * end as u64 + 64,
            "scanning not linear"
        );
        if let Some(n) = r {
            assert!(n <= end, "used more bytes than given");
            return Ok(Some((n, format!("{:?}", p.reply(&bytes[..end])))));
        }
        if end == bytes.len() {
            return Ok(None);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte says how many of the next bytes are chunk sizes.
    let (sizes, bytes) = match data.split_first() {
        Some((&k, rest)) => rest.split_at(usize::from(k % 16).min(rest.len())),
        None => (&[][..], data),
    };
    let w = whole(bytes);
    let c = chunked(bytes, sizes);
    assert_eq!(w, c, "chunked parsing differs from whole parsing");
    // Byte by byte too.
    assert_eq!(w, chunked(bytes, &[0]), "byte-by-byte parsing differs");
});
