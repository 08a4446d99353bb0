//! The CSV feed's line splitting, header and layout detection and row parsing, against an
//! independent reading of the same bytes:
//! * no panic;
//! * exactly one tick or one counted rejection per non-blank line, except a skipped header
//!   (which holds no digit: header names are words);
//! * every tick has a finite price above 0 and a finite size at or above +0;
//! * reading the input in random small chunks gives the same events as reading it whole;
//! * strict mode gives the same events up to the first rejection, then stops with that row's
//!   line number and reason.
//!
//! Input: one control byte (layout, chunking seed), then the file.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/mod.rs"]
mod support;
use support::Chunks;
use zerotick_core::{Feed, FeedError, FeedEvent};
use zerotick_feeds::{CsvFeed, CsvLayout};

/// The feed's longest line (`feed::csv::MAX_LINE`, not exported).
const MAX_LINE: usize = 4096;

/// Every event up to the end, the strict error if one ended the feed, and whether a header
/// was skipped.
type Run = (Vec<FeedEvent>, Option<(u64, String)>, bool);

fn read_all<R: std::io::BufRead + Send>(mut feed: CsvFeed<R>) -> Run {
    let mut events = Vec::new();
    loop {
        match feed.next_event() {
            Ok(FeedEvent::End) => return (events, None, feed.skipped_header()),
            Ok(e) => events.push(e),
            Err(FeedError::BadRow { line, reason }) => {
                return (
                    events,
                    Some((line, reason.to_string())),
                    feed.skipped_header(),
                );
            }
            Err(e @ (FeedError::Io(_) | FeedError::InSource { .. })) => {
                panic!("in-memory read failed: {e}")
            }
        }
    }
}

/// `(line number, raw line)` of every line that must yield an event (or be the header): lines
/// end at `\n`, `\r\n` or `\r`; a BOM starting the file is not part of line 1; a line is a row
/// when it is longer than MAX_LINE or not all ASCII whitespace.
fn rows(text: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    let (mut start, mut line_no, mut i) = (0, 0u64, 0);
    while i < text.len() {
        if text[i] == b'\n' || text[i] == b'\r' {
            line_no += 1;
            push_row(&mut out, &text[start..i], line_no);
            i += if text[i] == b'\r' && text.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            start = i;
        } else {
            i += 1;
        }
    }
    if start < text.len() {
        push_row(&mut out, &text[start..], line_no + 1);
    }
    out
}

fn push_row<'a>(out: &mut Vec<(u64, &'a [u8])>, raw: &'a [u8], line_no: u64) {
    let line = if line_no == 1 {
        raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
    } else {
        raw
    };
    if raw.len() > MAX_LINE || !line.iter().all(u8::is_ascii_whitespace) {
        out.push((line_no, line));
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, text)) = input.split_first() else {
        return;
    };
    let layout = [
        CsvLayout::Auto,
        CsvLayout::Generic,
        CsvLayout::AggTrades,
        CsvLayout::Trades,
    ][usize::from(control & 3)];
    let (events, error, header) = read_all(CsvFeed::new(text, layout, false, "X"));
    assert!(error.is_none());

    let rows = rows(text);
    assert_eq!(
        events.len() + usize::from(header),
        rows.len(),
        "one event per row"
    );
    if header {
        assert!(
            !rows[0].1.iter().any(u8::is_ascii_digit),
            "a header with digits"
        );
    }
    for e in &events {
        match e {
            FeedEvent::Tick(t) => {
                assert!(t.price.is_finite() && t.price > 0.0, "{t:?}");
                assert!(t.size.is_finite() && t.size.is_sign_positive(), "{t:?}");
            }
            FeedEvent::Rejected(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    let chunks = Chunks {
        rest: text,
        state: u32::from(control).wrapping_mul(2_654_435_761) | 1,
    };
    let capacity = usize::from(control >> 2) % 16 + 1;
    let reader = BufReader::with_capacity(capacity, chunks);
    let chunked = read_all(CsvFeed::new(reader, layout, false, "X"));
    assert_eq!(chunked, (events.clone(), None, header), "chunked != whole");

    let (strict, error, _) = read_all(CsvFeed::new(text, layout, true, "X"));
    match events
        .iter()
        .position(|e| matches!(e, FeedEvent::Rejected(_)))
    {
        None => assert_eq!((strict, error), (events, None)),
        Some(k) => {
            let FeedEvent::Rejected(reason) = events[k] else {
                unreachable!()
            };
            assert_eq!(strict, events[..k]);
            let line = rows[k + usize::from(header)].0;
            assert_eq!(error, Some((line, reason.to_string())), "strict line");
        }
    }
});
