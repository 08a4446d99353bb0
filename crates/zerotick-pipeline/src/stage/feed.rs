//! [`FeedStage`]: the feed's thread. Pulls events, validates each tick at the pipeline's
//! entry, stamps it with the time it was read and pushes it on the tick ring (waiting while
//! the ring is full: backpressure, not loss). A full ring is waited on until a quarter of it
//! is free again, so a feed faster than the pipeline wakes once per quarter ring, not once
//! per tick; a feed that is not [`live`](zerotick_core::Feed::live) shares one clock read
//! among a few consecutive ticks.
//!
//! The thread is not scoped: a feed blocked in a read (a slow FIFO, a stalled socket) past
//! the deadline is left behind, and the run ends on time without it.
//!
//! Market events other than trades (quotes, book deltas, snapshot levels) are counted by
//! kind for the report and not handed on.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use zerotick_core::feed::STAMP_EVERY;
use zerotick_core::{Feed, FeedError, FeedEvent, RejectReason, Tick};
use zerotick_sync::spsc::{Producer, PushError};
use zerotick_sync::wait::WaitStrategy;

use super::{Link, allocations_since};
use crate::PipelineError;
use crate::job::Stamped;
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

/// Counts a market event that is not a trade (kind `k`: quote, book delta, snapshot level):
/// the pipeline reports them and does not consume them yet.
#[inline]
fn count_other(link: &Link, counts: &mut [u64; 3], k: usize) {
    counts[k] += 1;
    link.other_events[k].store(counts[k], Ordering::Relaxed);
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
        // Quotes, book deltas, snapshot levels: counted, not yet consumed.
        let mut other = [0u64; 3];
        let mut acked = 0u64;
        let mut events = 0u64;
        loop {
            events = events.wrapping_add(1);
            if events.is_multiple_of(64) && self.should_stop(link, deadline, warm) {
                return Ok(());
            }
            if acks {
                // Acquire: pairs with the feature thread's Release `fetch_max` of `done`.
                let upto = link.done.0.load(Ordering::Acquire);
                if upto > acked {
                    self.feed.acknowledge(upto)?;
                    acked = upto;
                }
            }
            let reason = match self.feed.next_event()? {
                FeedEvent::Tick(tick) => match entry_check(&tick, self.max_symbols) {
                    Ok(()) => {
                        if stamped >= restamp_after {
                            // The read, and how long before it the tick arrived where the
                            // feed knows (a paced replay released late): arrival-to-signal
                            // latency counts the feed thread's own delays.
                            stamp = link.now_ns();
                            late_ns = self.feed.lateness_ns();
                            if late_ns > 0 {
                                self.metrics.feed_lateness.record(late_ns);
                            }
                            stamped = 0;
                        }
                        stamped += 1;
                        let item = Stamped {
                            tick,
                            read_ns: stamp,
                            late_ns,
                        };
                        match self.ring.push(item) {
                            Ok(()) => {}
                            Err(PushError::Full(item)) => {
                                // Waited: the next tick gets a fresh stamp.
                                stamped = restamp_after;
                                if self.ring.push_wait_refill(item, self.wait, refill).is_err() {
                                    return Ok(()); // closed: the feature thread stopped the run
                                }
                            }
                            Err(PushError::Closed(_)) => return Ok(()),
                        }
                        ticks += 1;
                        link.ticks.0.store(ticks, Ordering::Relaxed);
                        self.metrics.ticks_in.inc();
                        continue;
                    }
                    Err(reason) => reason,
                },
                FeedEvent::Quote(_) => {
                    count_other(link, &mut other, 0);
                    continue;
                }
                FeedEvent::BookDelta(_) => {
                    count_other(link, &mut other, 1);
                    continue;
                }
                FeedEvent::SnapshotLevel(_) => {
                    count_other(link, &mut other, 2);
                    continue;
                }
                FeedEvent::Rejected(reason) => reason,
                FeedEvent::Idle => {
                    stamped = restamp_after;
                    if self.should_stop(link, deadline, warm) {
                        return Ok(());
                    }
                    continue;
                }
                FeedEvent::End => return Ok(()),
            };
            let i = reason as usize;
            rejects[i] += 1;
            link.rejects[i].store(rejects[i], Ordering::Relaxed);
            self.metrics.ticks_in.inc();
            self.metrics.rejects[i].inc();
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
