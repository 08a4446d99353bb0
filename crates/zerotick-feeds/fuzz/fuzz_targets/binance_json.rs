//! The websocket JSON-lines reader (its JSON scanner, message decoding and level walk) on
//! arbitrary bytes:
//! * no panic;
//! * every event is valid: trades and quotes with finite prices above 0 and sizes at or
//!   above +0, book deltas likewise with their update ids in order (first <= last);
//! * a line gives one trade, one quote, one rejection, nothing (blank, subscription reply)
//!   or the levels of one depth update, never a rejection after part of its levels;
//! * reading the input in random small chunks gives the same events and gap count as
//!   reading it whole;
//! * strict mode gives the same events up to the first rejection, then stops with its reason.
//!
//! Input: one control byte (chunking seed), then the file.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/mod.rs"]
mod support;
use support::Chunks;
use zerotick_core::{Feed, FeedError, FeedEvent};
use zerotick_feeds::BinanceJsonFeed;

/// Every event up to the end, the strict error if one ended the feed, and the gap count.
type Run = (Vec<FeedEvent>, Option<String>, u64);

fn read_all<R: std::io::BufRead + Send>(mut feed: BinanceJsonFeed<R>) -> Run {
    let mut events = Vec::new();
    loop {
        match feed.next_event() {
            Ok(FeedEvent::End) => return (events, None, feed.sequence_gaps()),
            Ok(e) => events.push(e),
            Err(FeedError::BadRow { reason, .. }) => {
                return (events, Some(reason.to_string()), feed.sequence_gaps());
            }
            Err(e @ (FeedError::Io(_) | FeedError::InSource { .. })) => {
                panic!("in-memory read failed: {e}")
            }
        }
    }
}

fn valid(e: &FeedEvent) {
    let price = |p: f64| p.is_finite() && p > 0.0;
    let size = |s: f64| s.is_finite() && s.is_sign_positive();
    match e {
        FeedEvent::Tick(t) => assert!(price(t.price) && size(t.size), "{t:?}"),
        FeedEvent::Quote(q) => assert!(
            price(q.bid_price) && price(q.ask_price) && size(q.bid_size) && size(q.ask_size),
            "{q:?}"
        ),
        FeedEvent::BookDelta(d) => {
            assert!(price(d.price) && size(d.size), "{d:?}");
            assert!(d.first_update_id <= d.last_update_id, "{d:?}");
            assert!(d.first_update_id.is_some(), "{d:?}");
        }
        FeedEvent::Rejected(_) => {}
        other => panic!("unexpected {other:?}"),
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, text)) = input.split_first() else {
        return;
    };
    let (events, error, gaps) = read_all(BinanceJsonFeed::new(text, false));
    assert_eq!(error, None);
    events.iter().for_each(valid);
    // At most one event per line, except the levels of a depth update (same ids and time,
    // in a row); a rejection never follows a level of the same message.
    let lines = text.split(|&c| c == b'\n' || c == b'\r').count() as u64;
    let singles = events
        .iter()
        .filter(|e| !matches!(e, FeedEvent::BookDelta(_)))
        .count() as u64;
    assert!(singles <= lines, "{singles} events from {lines} lines");

    let chunks = Chunks {
        rest: text,
        state: u32::from(control).wrapping_mul(2_654_435_761) | 1,
    };
    let capacity = usize::from(control >> 2) % 16 + 1;
    let reader = BufReader::with_capacity(capacity, chunks);
    let chunked = read_all(BinanceJsonFeed::new(reader, false));
    assert_eq!(chunked, (events.clone(), None, gaps), "chunked != whole");

    let (strict, error, _) = read_all(BinanceJsonFeed::new(text, true));
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
            assert_eq!(error, Some(reason.to_string()), "strict reason");
        }
    }
});
