//! Market events besides trades: best bid/ask [`Quote`]s, order book [`BookDelta`]s and the
//! levels of book snapshots ([`SnapshotLevel`]). All are `Copy`, carry no heap data, and are
//! yielded by feeds as [`FeedEvent`](crate::FeedEvent) variants next to trades
//! ([`Tick`](crate::Tick), unchanged).
//!
//! **Times.** `ts_ns` is the event time (the exchange's, or the source's best stand-in),
//! nanoseconds since the Unix epoch: feeds merge and order by it. `local_ts_ns` is when the
//! recorder received the message, when the source says (`None` otherwise).
//!
//! **Sequence numbers.** `first_update_id` / `last_update_id` are the exchange's update ids
//! of the message that carried the event, when the source has them (Binance diff depth `U` /
//! `u`, bookTicker `u`): every level of one message carries the same pair. A book uses them
//! to find gaps (`first_update_id != previous last_update_id + 1`).
//!
//! # The snapshot contract
//! A snapshot replaces one side of one symbol's book. It is delivered as [`SnapshotLevel`]
//! events, best level first where the source orders them, and a consumer applies each as it
//! comes: **if `clear_side` is set, remove every level of that side first; then set the
//! level (a size of 0 sets nothing).** Producers guarantee:
//! * a snapshot of a side starts with a level flagged `clear_side`; its further levels are
//!   not flagged, and no [`BookDelta`] of that symbol comes before its last level;
//! * a side that is empty in the snapshot arrives as one flagged level of size 0 (its price
//!   then means nothing and is 0);
//! * a snapshot of the whole book flags a first level on both sides, so both are cleared
//!   even when the source lists only one.
//!
//! No allocation: the consumer needs no buffer to rebuild a side, only to apply each level
//! as it comes.

use core::num::NonZeroU64;

use crate::tick::BookSide;

/// Best bid and ask of one symbol (top of book). `Copy`, 64 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quote {
    /// Event time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Local receive time, ns since the Unix epoch, when the source has it.
    pub local_ts_ns: Option<NonZeroU64>,
    /// Index of the symbol in the feed's symbol table.
    pub symbol: u32,
    /// Best bid price (finite, > 0: feeds reject anything else), or 0 with a size of 0 when
    /// the side is empty (a book with no bids).
    pub bid_price: f64,
    /// Size at the best bid (finite, >= 0; 0: no bid).
    pub bid_size: f64,
    /// Best ask price (finite, > 0), or 0 with a size of 0 when the side is empty.
    pub ask_price: f64,
    /// Size at the best ask (finite, >= 0; 0: no ask).
    pub ask_size: f64,
    /// The exchange's update id of this quote, when the source has one.
    pub update_id: Option<NonZeroU64>,
}

/// One level of one side of a book set to a new size (0 removes the level). `Copy`,
/// 56 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BookDelta {
    /// Event time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Local receive time, ns since the Unix epoch, when the source has it.
    pub local_ts_ns: Option<NonZeroU64>,
    /// Index of the symbol in the feed's symbol table.
    pub symbol: u32,
    /// The side of the book.
    pub side: BookSide,
    /// The level's price (finite, > 0).
    pub price: f64,
    /// The level's new total size, not a change (finite, >= 0; 0 removes the level).
    pub size: f64,
    /// First update id of the message that carried this level, when the source has one.
    pub first_update_id: Option<NonZeroU64>,
    /// Last update id of the message that carried this level, when the source has one.
    pub last_update_id: Option<NonZeroU64>,
}

/// One level of a book snapshot (see the module's snapshot contract). `Copy`, 64 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnapshotLevel {
    /// The level: symbol, side, price, size and times as for a delta.
    pub level: BookDelta,
    /// The first level of a snapshot of `level.side`: clear that side first.
    pub clear_side: bool,
}

/// The non-zero form of an optional id or time (`0` reads as absent).
#[inline]
pub fn nonzero(v: u64) -> Option<NonZeroU64> {
    NonZeroU64::new(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_stay_small() {
        assert_eq!(core::mem::size_of::<Quote>(), 64);
        assert_eq!(core::mem::size_of::<BookDelta>(), 56);
        assert_eq!(core::mem::size_of::<SnapshotLevel>(), 64);
        assert!(core::mem::size_of::<crate::FeedEvent>() <= 72);
        assert!(core::mem::size_of::<crate::Tick>() <= 40);
    }
}
