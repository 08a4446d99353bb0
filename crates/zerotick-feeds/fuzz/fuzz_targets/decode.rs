//! The file feed's decompression in front of the CSV reader, on arbitrary bytes:
//! * no panic, whatever the bytes (raw, or a compressed stream damaged at random);
//! * a gzip, zstd or zip stream made from the input gives exactly the events the plain CSV
//!   reader gives on the input itself (same ticks, same names, same rejections), with the
//!   time clamp a file feed applies (`TimeClamp`);
//! * the same stream cut short is an error, never a clean end with fewer rows.
//!
//! Input: one control byte (format: raw, gzip, zstd, zip; damage: none, cut, flipped byte;
//! where), then the CSV text. The stream goes through a file (the zip reader seeks).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/mod.rs"]
mod support;
use zerotick_core::{Feed, FeedError, FeedEvent, TimeClamp};
use zerotick_feeds::{CsvFeed, CsvLayout, FileFeed, InputFormat};

/// Every event to the end, or the error that ended the feed (as text).
fn drain(feed: &mut impl Feed) -> Result<Vec<FeedEvent>, String> {
    let mut out = Vec::new();
    loop {
        match feed.next_event() {
            Ok(FeedEvent::End) => return Ok(out),
            Ok(e) => out.push(e),
            Err(e @ (FeedError::Io(_) | FeedError::InSource { .. })) => return Err(e.to_string()),
            Err(e @ FeedError::BadRow { .. }) => panic!("not strict: {e}"),
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, data)) = input.split_first() else {
        return;
    };
    let format = control & 3;
    let stream = match format {
        0 => data.to_vec(),
        1 => support::gzip(data),
        2 => ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest),
        _ => support::zip(&[("FUZZ.csv", data)], true),
    };
    let damage = (control >> 2) & 3;
    let at = 4 + (usize::from(control >> 4) * stream.len()) / 16;
    let mut bytes = stream.clone();
    let cut = format != 0 && damage == 1 && at < stream.len();
    if cut {
        bytes.truncate(at);
    } else if damage == 2 && at < bytes.len() {
        bytes[at] ^= 0x5a;
    }

    let path = std::env::temp_dir().join(format!("zerotick-fuzz-decode-{}", std::process::id()));
    std::fs::create_dir_all(&path).unwrap();
    let file = path.join("FUZZ.csv");
    std::fs::write(&file, &bytes).unwrap();
    // The CSV reader forced: this target checks that decompression is transparent (the
    // format detection has tests of its own, and a stream that starts with `{` would be
    // read as JSON lines by `FileFeed::open`).
    let got = match FileFeed::open_as(&file, InputFormat::Csv, CsvLayout::Auto, false) {
        Ok(mut feed) => drain(&mut feed),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = &got {
        assert!(e.contains("FUZZ.csv"), "the error names the file: {e}");
    }
    let intact = bytes == stream;
    let raw_is_plain = format != 0
        || zerotick_feeds::Compression::detect(data) == zerotick_feeds::Compression::None;
    if intact && raw_is_plain {
        let want = drain(&mut CsvFeed::new(data, CsvLayout::Auto, false, "FUZZ")).map(|events| {
            let mut clamp = TimeClamp::default();
            events
                .into_iter()
                .map(|mut e| {
                    clamp.apply(&mut e);
                    e
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(got, want, "decoded != plain");
    }
    if cut {
        assert!(got.is_err(), "a cut stream read as a clean end");
    }
});
