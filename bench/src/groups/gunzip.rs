//! Case `gunzip_ws_json` of group `feed` (issue 16, Performance): how fast one core inflates
//! a gzip file, for choosing flate2's backend.
//!
//! The input is the `parse_ws_json` recording ([`super::parse::ws_recording`], ~3.9 MB)
//! gzip-compressed at the default level (~6x smaller), in memory. One op = one pass over the
//! whole file; the notes give MB/s of decompressed output.
//!
//! - `flate2`: what zerotick's file feeds run (`flate2::bufread::MultiGzDecoder` read into a
//!   reused 64 KiB buffer), with the backend the workspace's `Cargo.toml` selects;
//! - `zlib-rs` and `miniz_oxide`: the two pure-Rust backends flate2 offers, called directly
//!   on the same deflate data the same way (whole input, one preallocated output buffer,
//!   one call), so the two are compared on equal terms within one process (a binary holds
//!   one flate2 backend at a time).

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Instant;

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

use crate::harness::{Harness, Impl, Row};

/// Runs `gunzip_ws_json`; returns its rows.
pub fn run(h: &mut Harness) -> Vec<Row> {
    let plain = super::parse::ws_recording();
    let n = plain.len();
    let gz = gzip(&plain);
    let gz_len = gz.len();
    let deflate = deflate_body(&gz);
    let deflate2 = deflate.clone();
    let mut chunk = vec![0u8; 64 << 10];
    let (mut out_z, mut out_m) = (vec![0u8; n], vec![0u8; n]);
    let mut miniz = Box::new(DecompressorOxide::new());
    let case = h.case(
        "gunzip_ws_json",
        vec![
            per_pass("flate2", move || flate2_pass(&gz, &mut chunk)),
            per_pass("zlib-rs", move || zlib_rs_pass(&deflate, &mut out_z)),
            per_pass("miniz_oxide", move || {
                miniz_pass(&deflate2, &mut out_m, &mut miniz)
            }),
        ],
    );
    for r in &case {
        h.note(format!(
            "{} [{}]: {:.0} MB/s of output ({:.2} ms a pass)",
            r.case,
            r.imp,
            n as f64 / r.median_ns * 1e3,
            r.median_ns / 1e6
        ));
    }
    h.note(format!(
        "gunzip_ws_json: {:.1} MB, {:.2} MB gzip; flate2 with the backend the workspace selects (Cargo.toml)",
        n as f64 / 1e6,
        gz_len as f64 / 1e6
    ));
    case
}

/// An impl whose routine runs whole passes, each one op, checking every pass's output size.
fn per_pass<'a>(name: &'static str, mut pass: impl FnMut() -> usize + 'a) -> Impl<'a> {
    let mut expected = None;
    Impl::new(name, move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            let n = black_box(pass());
            assert_eq!(
                *expected.get_or_insert(n),
                n,
                "{name}: a pass gave {n} bytes"
            );
        }
        start.elapsed()
    })
}

/// `plain` gzip-compressed at the default level.
pub fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(plain).expect("writing to a Vec");
    enc.finish().expect("writing to a Vec")
}

/// The deflate data of a one-member gzip file written by [`gzip`] (a 10-byte header, no
/// optional fields, and an 8-byte trailer).
fn deflate_body(gz: &[u8]) -> Vec<u8> {
    assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0], "a plain gzip header");
    gz[10..gz.len() - 8].to_vec()
}

/// One pass of flate2's multi-member gzip reader, as the file feeds read; returns the bytes.
fn flate2_pass(gz: &[u8], chunk: &mut [u8]) -> usize {
    let mut dec = flate2::bufread::MultiGzDecoder::new(gz);
    let mut total = 0;
    loop {
        match dec.read(chunk) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) => panic!("valid gzip: {e}"),
        }
    }
}

/// One pass of zlib-rs over the raw deflate data into `out`; returns the bytes.
fn zlib_rs_pass(deflate: &[u8], out: &mut [u8]) -> usize {
    let config = zlib_rs::InflateConfig { window_bits: -15 };
    let (done, code) = zlib_rs::decompress_slice(out, deflate, config);
    assert_eq!(code, zlib_rs::ReturnCode::Ok, "valid deflate");
    done.len()
}

/// One pass of miniz_oxide over the raw deflate data into `out`; returns the bytes.
fn miniz_pass(deflate: &[u8], out: &mut [u8], state: &mut DecompressorOxide) -> usize {
    state.init();
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, _, written) = decompress(state, deflate, out, 0, flags);
    assert_eq!(status, TINFLStatus::Done, "valid deflate");
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_gives_the_recording_back() {
        let plain = super::super::parse::ws_recording();
        let gz = gzip(&plain);
        let deflate = deflate_body(&gz);
        let mut chunk = vec![0u8; 1 << 16];
        assert_eq!(flate2_pass(&gz, &mut chunk), plain.len());
        let mut out = vec![0u8; plain.len()];
        assert_eq!(zlib_rs_pass(&deflate, &mut out), plain.len());
        assert_eq!(out, plain);
        out.fill(0);
        let mut state = Box::new(DecompressorOxide::new());
        assert_eq!(miniz_pass(&deflate, &mut out, &mut state), plain.len());
        assert_eq!(out, plain);
    }
}
