//! [`FeedStage`]: the feed's thread. Pulls events, validates each at the pipeline's entry,
//! stamps it with the time it was read and pushes it on the event ring (waiting while the
//! ring is full: backpressure, not loss). A full ring is waited on until a quarter of it
//! is free again, so a feed faster than the pipeline wakes once per quarter ring, not once
//! per tick; a feed that is not [`live`](zerotick_core::Feed::live) shares one clock read
//! among a few consecutive ticks.
//!
//! The thread is not scoped: a feed blocked in a read (a slow FIFO, a stalled socket) past
//! the deadline is left behind, and the run ends on time without it.
//!
//! Quotes, book deltas and snapshot levels travel the ring beside trades, in feed order, as
//! compact [`Event`]s: the feed thread marks each book level that continues the book event
//! before it ([`Boundaries`]), the one thing the feature thread needs of the update ids and
//! receive times it does not get. They are counted by kind for the report.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use zerotick_core::feed::STAMP_EVERY;
use zerotick_core::{Feed, FeedError, FeedEvent, Quote, RejectReason, SnapshotLevel, Tick};
use zerotick_sync::spsc::{Consumer, Producer, PushError};
use zerotick_sync::wait::WaitStrategy;

use super::{Link, allocations_since};
use crate::PipelineError;
use crate::books::Boundaries;
use crate::job::{Event, Stamped};
use crate::metrics::Metrics;

/// A live feed thread's timer slack.
const LIVE_TIMER_SLACK: Duration = Duration::from_micros(1);

/// How often the feed thread checks, before its first read, whether the threads it waits
/// for are warm.
const READY_POLL: Duration = Duration::from_micros(200);

/// What the feed thread hands back when it stops.
pub(crate) struct FeedSummary<F> {
    pub(crate) feed: F,
    pub(crate) allocations: Option<u64>,
    pub(crate) result: Result<(), FeedError>,
}

/// The feed's thread and what it needs.
pub(crate) struct FeedStage<F> {
    pub(crate) feed: F,
    pub(crate) ring: Producer<Stamped>,
    pub(crate) link: Arc<Link>,
    pub(crate) metrics: Metrics,
    pub(crate) wait: WaitStrategy,
    /// Threads that must be ready before the first read.
    pub(crate) wait_for_ready: usize,
    /// Ticks with a symbol index at or above this are rejected.
    pub(crate) max_symbols: usize,
    pub(crate) allocations: Option<fn() -> u64>,
    pub(crate) thread_start: Option<fn()>,
    /// The CPU to pin this thread to.
    pub(crate) cpu: Option<usize>,
    /// Checkpoint barriers and storage (`None`: checkpoints off).
    pub(crate) checkpoints: Option<FeedCheckpoints>,
}

/// The feed thread's end of the checkpoints (see [`crate::checkpoint`]): it puts a barrier
/// on the ring every `every` ticks, and serialises and stores the snapshots that come back.
pub(crate) struct FeedCheckpoints {
    pub(crate) every: u64,
    /// Filled snapshots from the feature thread.
    pub(crate) snapshots: Consumer<Vec<f64>>,
    /// Buffers handed back to it.
    pub(crate) buffers: Producer<Vec<f64>>,
    /// The serialised snapshot (reused).
    pub(crate) bytes: Vec<u8>,
    /// Ticks pushed since the last barrier.
    pub(crate) since: u64,
    /// A barrier is on its way; no other is sent before its snapshot is stored.
    pub(crate) outstanding: bool,
}

impl FeedCheckpoints {
    /// Stores a snapshot that came back, if one did.
    #[cold]
    #[inline(never)]
    fn poll<F: Feed>(&mut self, feed: &mut F) -> Result<(), FeedError> {
        let Ok(words) = self.snapshots.pop() else {
            return Ok(());
        };
        crate::checkpoint::encode_words(&words, &mut self.bytes);
        // The ring has a slot for the one buffer there is.
        let _ = self.buffers.push(words);
        self.outstanding = false;
        feed.checkpoint_save(&self.bytes)
    }
}

/// Checks a tick at the pipeline's entry: whatever the feed, a NaN price must not poison a
/// symbol's state (and its shard's statistics and PCA) for the rest of the run.
#[inline]
pub(crate) fn entry_check(t: &Tick, max_symbols: usize) -> Result<(), RejectReason> {
    if !(t.price.is_finite() && t.price > 0.0) {
        Err(RejectReason::BadPrice)
    } else if !(t.size.is_finite() && t.size >= 0.0) {
        Err(RejectReason::BadSize)
    } else if t.symbol as usize >= max_symbols {
        Err(RejectReason::TooManySymbols)
    } else {
        Ok(())
    }
}

/// Checks a quote at the pipeline's entry, as [`entry_check`] a tick: prices finite and
/// above 0 (or 0 on an empty side, of size 0), sizes finite and at or above 0, a symbol
/// below the bound.
#[inline]
fn quote_check(q: &Quote, max_symbols: usize) -> Result<(), RejectReason> {
    let price = |p: f64, s: f64| (p.is_finite() && p > 0.0) || (p == 0.0 && s == 0.0);
    let size = |s: f64| s.is_finite() && s >= 0.0;
    if !(price(q.bid_price, q.bid_size) && price(q.ask_price, q.ask_size)) {
        Err(RejectReason::BadPrice)
    } else if !(size(q.bid_size) && size(q.ask_size)) {
        Err(RejectReason::BadSize)
    } else if q.symbol as usize >= max_symbols {
        Err(RejectReason::TooManySymbols)
    } else {
        Ok(())
    }
}

/// Checks a book level at the entry: as a tick, except that a snapshot level of size 0 (an
/// empty side) needs no price.
#[inline]
fn level_check(s: &SnapshotLevel, snapshot: bool, max_symbols: usize) -> Result<(), RejectReason> {
    let l = &s.level;
    if !(l.size.is_finite() && l.size >= 0.0) {
        Err(RejectReason::BadSize)
    } else if !((l.price.is_finite() && l.price > 0.0) || (snapshot && l.size == 0.0)) {
        Err(RejectReason::BadPrice)
    } else if l.symbol as usize >= max_symbols {
        Err(RejectReason::TooManySymbols)
    } else {
        Ok(())
    }
}

/// The ring's form of a quote, checked at the entry.
#[inline]
fn quote_event(q: &Quote, max_symbols: usize) -> Result<Event, RejectReason> {
    quote_check(q, max_symbols)?;
    Ok(Event::Quote {
        ts_ns: q.ts_ns,
        symbol: q.symbol,
        bid_price: q.bid_price,
        bid_size: q.bid_size,
        ask_price: q.ask_price,
        ask_size: q.ask_size,
    })
}

/// The ring's form of a book level (a delta: `snapshot` false, `clear_side` false), checked
/// at the entry; `continues` tells whether it continues the book event before it.
#[inline]
fn level_event(
    s: &SnapshotLevel,
    snapshot: bool,
    max_symbols: usize,
    continues: impl FnOnce() -> bool,
) -> Result<Event, RejectReason> {
    level_check(s, snapshot, max_symbols)?;
    let l = &s.level;
    Ok(Event::Level {
        ts_ns: l.ts_ns,
        symbol: l.symbol,
        side: l.side,
        price: l.price,
        size: l.size,
        snapshot,
        clear_side: s.clear_side,
        continues: continues(),
    })
}

impl<F: Feed + 'static> FeedStage<F> {
    /// Starts the thread; its summary arrives on the receiver when it stops.
    pub(crate) fn spawn(
        self,
    ) -> Result<(std::thread::JoinHandle<()>, Receiver<FeedSummary<F>>), PipelineError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("zerotick-feed".into())
            .spawn(move || self.run(tx))
            .map_err(|e| {
                PipelineError::config(format_args!("cannot start the feed thread: {e}"))
            })?;
        Ok((handle, rx))
    }

    fn run(mut self, out: SyncSender<FeedSummary<F>>) {
        if let Some(f) = self.thread_start {
            f();
        }
        if let Some(cpu) = self.cpu {
            // Best effort: an unpinned feed is slower to share a core, not wrong.
            let _ = zerotick_sync::affinity::pin_current_thread(cpu);
        }
        if self.feed.live() {
            // A live feed's thread sleeps until its next event is due (a paced replay) or
            // blocks in a read: let its sleeps end on time, not up to 50 us late (the
            // default slack). Best effort: the lateness is measured either way.
            let _ = zerotick_sync::affinity::set_current_thread_timer_slack(LIVE_TIMER_SLACK);
        }
        let link = Arc::clone(&self.link);
        // Acquire: pairs with the Release increments of the warming threads.
        while link.ready.load(Ordering::Acquire) < self.wait_for_ready {
            if link.stop.load(Ordering::Relaxed) {
                break;
            }
            // Sleep, not yield: on two CPUs a yielding loop took a third of the start-up's
            // CPU time from the threads it waits for (perf, 2026-11-30).
            std::thread::sleep(READY_POLL);
        }
        // Release: pairs with `Link::deadline`'s Acquire load.
        link.feed_start_ns
            .store(link.now_ns().max(1), Ordering::Release);
        let deadline = link.deadline();
        let mut warm = None;
        let result = self.read(&link, deadline, &mut warm);
        self.ring.close();
        let allocations = allocations_since(warm, self.allocations);
        let _ = out.send(FeedSummary {
            feed: self.feed,
            allocations,
            result,
        });
    }

    /// The read loop: until the feed ends, the deadline passes, the run stops, or the ring
    /// is closed by the feature thread.
    fn read(
        &mut self,
        link: &Link,
        deadline: Option<Instant>,
        warm: &mut Option<u64>,
    ) -> Result<(), FeedError> {
        let acks = self.feed.wants_acknowledgements();
        // A live feed is stamped per event; a replay once per `STAMP_EVERY` events and anew
        // after any wait (see `Feed::live`), so a stamp is never later than its read.
        let restamp_after = if self.feed.live() { 1 } else { STAMP_EVERY };
        // When the ring is full, wait for a quarter of it to drain (see `push_wait_refill`).
        let refill = (self.ring.capacity() / 4).max(1);
        let mut stamp = 0u64;
        let mut late_ns = 0u64;
        let mut stamped = restamp_after;
        let mut ticks = 0u64;
        let mut rejects = [0u64; RejectReason::ALL.len()];
        // Quotes, book deltas, snapshot levels handed on.
        let mut other = [0u64; 3];
        let mut bounds = Boundaries::default();
        let mut acked = 0u64;
        let mut events = 0u64;
        loop {
            events = events.wrapping_add(1);
            if events.is_multiple_of(64) {
                if self.should_stop(link, deadline, warm) {
                    return Ok(());
                }
                if let Some(c) = self.checkpoints.as_mut().filter(|c| c.outstanding) {
                    c.poll(&mut self.feed)?;
                }
            }
            if acks {
                // Acquire: pairs with the feature thread's Release `fetch_max` of `done`.
                let upto = link.done.0.load(Ordering::Acquire);
                if upto > acked {
                    self.feed.acknowledge(upto)?;
                    acked = upto;
                }
            }
            let e = self.feed.next_event()?;
            // The event for the ring and its kind (`None`: a trade; 0 quote, 1 book delta, 2
            // snapshot level), or why it is rejected.
            let checked = match e {
                FeedEvent::Tick(tick) => match entry_check(&tick, self.max_symbols) {
                    Ok(()) => {
                        bounds.continues(&e);
                        Ok((Event::Trade(tick), None))
                    }
                    Err(reason) => Err(reason),
                },
                FeedEvent::Quote(q) => quote_event(&q, self.max_symbols).map(|ev| {
                    bounds.continues(&e);
                    (ev, Some(0))
                }),
                FeedEvent::BookDelta(level) => {
                    let s = SnapshotLevel {
                        level,
                        clear_side: false,
                    };
                    level_event(&s, false, self.max_symbols, || bounds.continues(&e))
                        .map(|ev| (ev, Some(1)))
                }
                FeedEvent::SnapshotLevel(s) => {
                    level_event(&s, true, self.max_symbols, || bounds.continues(&e))
                        .map(|ev| (ev, Some(2)))
                }
                FeedEvent::Rejected(reason) => Err(reason),
                FeedEvent::Idle => {
                    stamped = restamp_after;
                    if let Some(c) = self.checkpoints.as_mut().filter(|c| c.outstanding) {
                        c.poll(&mut self.feed)?;
                    }
                    if self.should_stop(link, deadline, warm) {
                        return Ok(());
                    }
                    continue;
                }
                FeedEvent::End => {
                    // A barrier before the end: store its checkpoint (the feature thread
                    // reaches the barrier before it can stop, unless the run failed).
                    while let Some(c) = self.checkpoints.as_mut().filter(|c| c.outstanding) {
                        if link.stop.load(Ordering::Relaxed) {
                            break;
                        }
                        c.poll(&mut self.feed)?;
                        if c.outstanding {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    return Ok(());
                }
            };
            let (event, kind) = match checked {
                Ok(x) => x,
                Err(reason) => {
                    let i = reason as usize;
                    rejects[i] += 1;
                    link.rejects[i].store(rejects[i], Ordering::Relaxed);
                    self.metrics.ticks_in.inc();
                    self.metrics.rejects[i].inc();
                    continue;
                }
            };
            if stamped >= restamp_after {
                // The read, and how long before it the event arrived where the feed knows (a
                // paced replay released late): arrival-to-signal latency counts the feed
                // thread's own delays.
                stamp = link.now_ns();
                late_ns = self.feed.lateness_ns();
                if late_ns > 0 {
                    self.metrics.feed_lateness.record(late_ns);
                }
                stamped = 0;
            }
            stamped += 1;
            let item = Stamped {
                event,
                read_ns: stamp,
                late_ns,
            };
            match self.ring.push(item) {
                Ok(()) => {}
                Err(PushError::Full(item)) => {
                    // Waited: the next event gets a fresh stamp.
                    stamped = restamp_after;
                    if self.ring.push_wait_refill(item, self.wait, refill).is_err() {
                        return Ok(()); // closed: the feature thread stopped the run
                    }
                }
                Err(PushError::Closed(_)) => return Ok(()),
            }
            match kind {
                None => {
                    ticks += 1;
                    link.ticks.0.store(ticks, Ordering::Relaxed);
                    self.metrics.ticks_in.inc();
                    if let Some(c) = self.checkpoints.as_mut() {
                        c.since += 1;
                        if c.since >= c.every && !c.outstanding && !self.barrier(stamp) {
                            return Ok(()); // closed: the feature thread stopped the run
                        }
                    }
                }
                Some(k) => {
                    other[k] += 1;
                    link.other_events[k].store(other[k], Ordering::Relaxed);
                }
            }
        }
    }

    /// Marks the feed's position and puts a checkpoint barrier on the ring behind the event
    /// just pushed; `false` if the ring was closed.
    #[cold]
    #[inline(never)]
    fn barrier(&mut self, stamp: u64) -> bool {
        self.feed.checkpoint_mark();
        if let Some(c) = self.checkpoints.as_mut() {
            c.since = 0;
            c.outstanding = true;
        }
        let item = Stamped {
            event: Event::Barrier,
            read_ns: stamp,
            late_ns: 0,
        };
        match self.ring.push(item) {
            Ok(()) => true,
            Err(PushError::Full(item)) => {
                let refill = (self.ring.capacity() / 4).max(1);
                self.ring.push_wait_refill(item, self.wait, refill).is_ok()
            }
            Err(PushError::Closed(_)) => false,
        }
    }

    /// Whether to stop reading (the run stopped or the deadline passed); samples the
    /// allocation counter once steady state began.
    #[cold]
    fn should_stop(&self, link: &Link, deadline: Option<Instant>, warm: &mut Option<u64>) -> bool {
        if warm.is_none() && link.steady.load(Ordering::Relaxed) {
            *warm = self.allocations.map(|f| f());
        }
        link.stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quote_with_an_empty_side_passes_the_entry_and_a_half_empty_side_does_not() {
        let q = |bid_price, bid_size, ask_price, ask_size| Quote {
            bid_price,
            bid_size,
            ask_price,
            ask_size,
            ..Quote::default()
        };
        assert_eq!(quote_check(&q(1.0, 2.0, 0.0, 0.0), 4), Ok(()));
        assert_eq!(quote_check(&q(0.0, 0.0, 1.0, 2.0), 4), Ok(()));
        assert_eq!(quote_check(&q(0.0, 0.0, 0.0, 0.0), 4), Ok(()));
        for (bp, bs) in [
            (0.0, 1.0),
            (-1.0, 0.0),
            (f64::NAN, 0.0),
            (f64::INFINITY, 1.0),
        ] {
            assert_eq!(
                quote_check(&q(bp, bs, 1.0, 1.0), 4),
                Err(RejectReason::BadPrice),
                "{bp} {bs}"
            );
        }
        assert_eq!(
            quote_check(&q(1.0, -1.0, 1.0, 1.0), 4),
            Err(RejectReason::BadSize)
        );
    }
}
