//! [`FeatureThread`]: the calling thread of a run. Takes market events off the ring, keeps
//! the order books ([`BookStage`]), runs the feature stage, writes each due row into its
//! compute shard's pooled batch, sends batches to the compute stage and emits the results.
//!
//! A row is due after a trade, or, when a spec reads the book, after a book event (a
//! quote, or a depth message or snapshot once its last level is in: when the next event
//! arrives that does not continue it, see [`crate::books`]).
//!
//! Work sharing, not a fixed split: this thread's compute stage holds every shard's state.
//! A due row goes, with its shard's state, to a compute worker that is idle, else to one
//! with a single job queued ([`WORKER_QUEUE`]); with none, this thread computes it at once.
//! So the workers take exactly the compute they have time for (on a machine where the
//! second core also runs the feed and the PCA refreshes, less; on one with spare cores,
//! more) and no layout has to be guessed per machine. While a shard is away at a worker
//! its new rows gather in a batch (batches form under load, not by a timer), which goes
//! out when the shard comes back: no row waits longer than its shard's job and the one
//! queued ahead of it at that worker, so no batch timer is needed. A shard is in at most
//! one place at a time and its rows are computed in order, so the signals do not depend on who computed them,
//! and per-symbol order holds.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use zerotick_core::{Level, SymbolNames, SymbolPartitions, Tick};
use zerotick_mem::{Pool, PoolError, PoolGuard};
use zerotick_sync::spsc::{Consumer, PopError, Producer};
use zerotick_sync::wait::WaitStrategy;

use super::emit::Emitter;
use super::worker::compute_job;
use super::{Link, allocations_since};
use crate::PipelineError;
use crate::books::BookStage;
use crate::compute::ComputeStage;
use crate::job::{Event, Job, RowMeta, Stamped};
use crate::metrics::Metrics;
use crate::rows::RowStage;

/// Most events read from the ring at a time.
const TICK_CHUNK: usize = 64;

/// Jobs a compute worker may hold (the one it computes and those queued behind it) before
/// this thread computes a due batch itself. With 1 (a job only to an idle worker), on the
/// 2-vCPU EPYC (Zen 3), the feature thread computed ~42% of the rows between its own ticks
/// and the workers spent a quarter of their time spinning and yielding between jobs; with
/// 2 the workers take every row, batches grow while they are busy, and `zerotick run` was
/// 7.6% faster (10 interleaved rounds, with 16 pooled batches; docs/pipeline.md).
const WORKER_QUEUE: usize = 2;

/// Where a row's time and stamps come from: the event that completed it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RowStamp {
    ts_ns: u64,
    read_ns: u64,
    late_ns: u64,
}

/// The feature thread's state.
pub(crate) struct FeatureThread<'a, 'p> {
    pub(crate) features: &'a mut RowStage,
    /// The order books of the symbols with book events.
    pub(crate) books: &'a mut BookStage,
    /// The last level's stamps of the open book event ([`BookStage::is_open`]).
    pub(crate) open_stamp: RowStamp,
    pub(crate) pool: &'p Pool<Job>,
    /// The batch being filled, per shard.
    pub(crate) pending: Vec<VecDeque<PoolGuard<'p, Job>>>,
    /// `first_seq` of the jobs in flight to workers.
    pub(crate) outstanding: Vec<u64>,
    /// This thread's compute stage: holds every shard not lent to a worker.
    pub(crate) stage: &'a mut ComputeStage,
    pub(crate) jobs: Vec<Producer<PoolGuard<'p, Job>>>,
    pub(crate) results: Vec<Consumer<PoolGuard<'p, Job>>>,
    /// Jobs in flight, per worker (at most [`WORKER_QUEUE`]).
    pub(crate) in_flight: Vec<usize>,
    pub(crate) emitter: Emitter<'a>,
    /// Trades processed.
    pub(crate) processed: u64,
    /// Events taken off the ring (trades and book events): warm-up and polling go by it.
    pub(crate) events: u64,
    pub(crate) m: &'a Metrics,
    pub(crate) link: &'a Link,
    /// Where checkpoint snapshots go (`None`: checkpoints off).
    pub(crate) checkpoints: Option<SnapshotRings>,
    /// Per symbol, its compute shard (`u32::MAX`: not routed yet), see [`Routing`].
    pub(crate) route: Vec<u32>,
    pub(crate) routing: Routing,
}

/// How a symbol gets its compute shard. Without partitions, `symbol % shards`. With a feed of
/// several partitions (a Redis consumer of several stream shards, whose interleaving depends
/// on timing), each compute shard takes symbols of one partition only, so its rows come in
/// that partition's order and the signals do not depend on the interleaving (deterministic
/// failover across several stream shards): the shards `p, p + k, p + 2k, ..` (of `k`
/// partitions) take partition `p`'s symbols, picked by a hash of the name (not the index,
/// which the interleaving assigns). Exact when there are at least as many compute shards as
/// partitions; with fewer, partition `p` shares shard `p % shards`.
pub(crate) struct Routing {
    pub(crate) partitions: Option<SymbolPartitions>,
    pub(crate) names: SymbolNames,
}

impl Routing {
    /// The compute shard of `symbol` among `stage`'s.
    fn shard(&self, symbol: u32, stage: &ComputeStage) -> usize {
        let (shards, by_index) = (stage.shards(), stage.shard_of(symbol));
        let Some(parts) = self.partitions.as_ref().filter(|p| p.count() > 1) else {
            return by_index;
        };
        let (Some(p), Some(name)) = (parts.get(symbol), self.names.get(symbol)) else {
            return by_index;
        };
        let (k, p) = (parts.count(), p as usize);
        if p >= shards {
            return p % shards;
        }
        let members = (shards - p).div_ceil(k);
        // Mixed first: the publisher shards by `fnv1a64(name) % stream shards`, so the low
        // bits of the plain hash are the same for every symbol of a partition.
        let h = zerotick_core::hash::fnv1a64(name.as_bytes());
        let mixed = (h ^ (h >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 32;
        p + k * (mixed as usize % members)
    }
}

/// The feature thread's end of the checkpoint rings: one word buffer goes back and forth
/// between it and the feed thread (see [`crate::checkpoint`]).
pub(crate) struct SnapshotRings {
    /// Filled snapshots, to the feed thread.
    pub(crate) snapshots: Producer<Vec<f64>>,
    /// Buffers the feed thread is done with.
    pub(crate) buffers: Consumer<Vec<f64>>,
    /// The state's configuration fingerprint.
    pub(crate) fingerprint: u64,
}

/// What the run loop needs besides the thread's state.
pub(crate) struct RunLoop<'a> {
    pub(crate) wait: WaitStrategy,
    pub(crate) warmup_ticks: u64,
    pub(crate) progress: Option<&'a (dyn Fn(u64) + Sync)>,
    pub(crate) allocations: Option<fn() -> u64>,
}

impl<'p> FeatureThread<'_, 'p> {
    /// Processes events until the ring closes (or the deadline passes), then computes and
    /// emits everything pending. Returns this thread's steady-state allocations.
    ///
    /// Events are read in place from the ring, up to [`TICK_CHUNK`] at a time, and the slots
    /// given back once per chunk: one store the feed thread sees per chunk, not per event,
    /// and no copy of an event out of the ring.
    pub(crate) fn run(
        &mut self,
        rx: &mut Consumer<Stamped>,
        lp: &RunLoop<'_>,
    ) -> Result<Option<u64>, PipelineError> {
        let mut warm = None;
        let mut gauged = 0u64;
        while let Ok(chunk) = rx.read_chunk(TICK_CHUNK) {
            let n = chunk.len();
            if n > 0 {
                let (a, b) = chunk.as_slices();
                for t in a.iter().chain(b) {
                    self.event(t, lp, &mut warm)?;
                }
                chunk.commit_all();
            } else {
                match self.idle(rx, lp.wait)? {
                    Some(t) => self.event(&t, lp, &mut warm)?,
                    None => break,
                }
            }
            if self.events - gauged >= 1024 {
                gauged = self.events;
                self.m.ring_occupancy.set(rx.len() as f64);
            }
        }
        self.finish()?;
        Ok(allocations_since(warm, lp.allocations))
    }

    /// One event, and the bookkeeping that goes by event counts.
    #[inline(always)]
    fn event(
        &mut self,
        t: &Stamped,
        lp: &RunLoop<'_>,
        warm: &mut Option<u64>,
    ) -> Result<(), PipelineError> {
        match &t.event {
            Event::Trade(tick) => {
                if self.books.is_open() {
                    self.end_book_event()?;
                }
                self.on_tick(tick, t)?;
                self.m.ticks.inc();
            }
            Event::Quote { .. } | Event::Level { .. } => self.on_book(t)?,
            Event::Barrier => return self.checkpoint(),
        }
        self.events += 1;
        let n = self.events;
        if n == lp.warmup_ticks {
            *warm = lp.allocations.map(|f| f());
            self.link.steady.store(true, Ordering::Relaxed);
        }
        if n.is_multiple_of(64) && !self.jobs.is_empty() {
            self.poll_results()?;
        }
        if n.is_multiple_of(65_536) {
            self.m.pool(&self.pool.stats());
            if let Some(p) = lp.progress {
                p(self.processed);
            }
        }
        Ok(())
    }

    /// A quote or a book level: applied to its symbol's book; a book event that ends makes
    /// a row when the spec reads the book and its cadence says so.
    #[inline(never)]
    fn on_book(&mut self, t: &Stamped) -> Result<(), PipelineError> {
        let stamp = |ts_ns| RowStamp {
            ts_ns,
            read_ns: t.read_ns,
            late_ns: t.late_ns,
        };
        match t.event {
            Event::Quote {
                ts_ns,
                symbol,
                bid_price,
                bid_size,
                ask_price,
                ask_size,
            } => {
                if self.books.is_open() {
                    self.end_book_event()?;
                }
                let bid = Level {
                    price: bid_price,
                    size: bid_size,
                };
                let ask = Level {
                    price: ask_price,
                    size: ask_size,
                };
                if let Some(ofi) = self.books.quote(symbol, bid, ask) {
                    self.book_row(symbol, ofi, stamp(ts_ns))?;
                }
            }
            Event::Level {
                ts_ns,
                symbol,
                side,
                price,
                size,
                snapshot,
                clear_side,
                continues,
            } => {
                if self.books.is_open() && !continues {
                    self.end_book_event()?;
                }
                if self
                    .books
                    .level(symbol, side, price, size, snapshot, clear_side)
                {
                    self.open_stamp = stamp(ts_ns);
                }
            }
            Event::Trade(_) | Event::Barrier => {}
        }
        Ok(())
    }

    /// Ends the open book event (its last level is in): counts, order-flow imbalance, and
    /// the row it may make.
    fn end_book_event(&mut self) -> Result<(), PipelineError> {
        match self.books.end_event() {
            Some((symbol, ofi)) => self.book_row(symbol, ofi, self.open_stamp),
            None => Ok(()),
        }
    }

    /// Feeds a book event's end to the feature stage; writes the row it makes due.
    #[inline]
    fn book_row(&mut self, symbol: u32, ofi: f64, at: RowStamp) -> Result<(), PipelineError> {
        let Some(book) = self.books.book(symbol) else {
            return Ok(());
        };
        if !self.features.update_book(symbol, at.ts_ns, book, ofi) {
            return Ok(());
        }
        // Every trade so far is before this row: its job's first trade is the next one.
        self.write_row(symbol, at, self.processed + 1)
    }

    /// The ring is dry: returns the next tick, `None` at the end of the feed (or past the
    /// deadline, once the ring is drained). Meanwhile finished work is emitted and idle
    /// workers get their shards' batches; the thread blocks (per the wait strategy) only when
    /// nothing is pending anywhere, and then no longer than the deadline.
    fn idle(
        &mut self,
        rx: &mut Consumer<Stamped>,
        wait: WaitStrategy,
    ) -> Result<Option<Stamped>, PipelineError> {
        let mut spins = 0u32;
        loop {
            match rx.pop() {
                Ok(t) => return Ok(Some(t)),
                Err(PopError::Closed) => return Ok(None),
                Err(PopError::Empty) => {}
            }
            let in_flight = self.in_flight.iter().any(|&n| n > 0);
            if !in_flight {
                // Every shard is home, so nothing is pending: every tick read so far is
                // done, those that made no row too. Published now, a feed that acknowledges
                // (a consumer group) commits them while the stream is quiet (or while it
                // gives a partition up in a rebalance) instead of at the next row. Then
                // block for a tick.
                // Release: pairs with the feed thread's Acquire load before it acknowledges.
                self.link
                    .done
                    .0
                    .fetch_max(self.watermark(), Ordering::Release);
                return Ok(self.wait_for_tick(rx, wait));
            }
            self.poll_results()?;
            spins += 1;
            if spins.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// Blocks for a tick with nothing else to do; past the deadline, stops the feed and
    /// drains what is left on the ring.
    #[cold]
    fn wait_for_tick(&mut self, rx: &mut Consumer<Stamped>, wait: WaitStrategy) -> Option<Stamped> {
        if self.link.duration.is_none() {
            return rx.pop_wait(wait).ok();
        }
        loop {
            // Until the feed started, the deadline is unknown: look again in 10 ms.
            let deadline = self.link.deadline();
            let until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_millis(10));
            match rx.pop_wait_until(wait, until) {
                Ok(t) => return Some(t),
                Err(PopError::Closed) => return None,
                Err(PopError::Empty) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        // The feed is not keeping its deadline (blocked in a read): stop it,
                        // and take what it already pushed.
                        self.link.stop.store(true, Ordering::Relaxed);
                        rx.close();
                        return rx.pop().ok();
                    }
                }
            }
        }
    }

    #[inline]
    fn on_tick(&mut self, tick: &Tick, t: &Stamped) -> Result<(), PipelineError> {
        self.processed += 1;
        if !self.features.update(tick) {
            return Ok(());
        }
        let at = RowStamp {
            ts_ns: tick.ts_ns,
            read_ns: t.read_ns,
            late_ns: t.late_ns,
        };
        self.write_row(tick.symbol, at, self.processed)
    }

    /// Writes `symbol`'s due row, completed by the event stamped `at`, into its shard's
    /// batch (a new job's first trade number is `seq`), and dispatches the shard.
    #[inline]
    fn write_row(&mut self, symbol: u32, at: RowStamp, seq: u64) -> Result<(), PipelineError> {
        let now = self.link.now_ns();
        self.m.queue.record(now.saturating_sub(at.read_ns).max(1));
        let h = match self.route.get(symbol as usize) {
            Some(&h) if h != u32::MAX => h as usize,
            _ => self.route_new(symbol),
        };
        if self.pending[h].back().is_none_or(|j| j.batch.is_full()) {
            // A shard away at a worker queues its batches (in order) instead of waiting.
            let mut job = self.acquire()?;
            job.shard = h;
            job.first_seq = seq;
            self.pending[h].push_back(job);
        }
        let Some(job) = self.pending[h].back_mut() else {
            unreachable!("just filled")
        };
        let job: &mut Job = job;
        let i = job.batch.len_rows();
        let Some(row) = job.batch.push_row_mut() else {
            unreachable!("a full batch starts a new one above")
        };
        self.features.write_row(symbol, row);
        // Feature values for the sink, before the compute stage overwrites the row (`--emit
        // features|both`; the buffer is empty otherwise).
        let w = self.emitter.feature_width;
        if w > 0 {
            job.features[i * w..(i + 1) * w].copy_from_slice(&row[..w]);
        }
        job.metas[i] = RowMeta {
            ts_ns: at.ts_ns,
            symbol,
            read_ns: at.read_ns,
            late_ns: at.late_ns,
            made_ns: now,
            seq: self.features.seq(symbol),
        };
        self.dispatch(h)
    }

    /// Routes a symbol seen for the first time (cold: once per symbol).
    #[cold]
    #[inline(never)]
    fn route_new(&mut self, symbol: u32) -> usize {
        let h = self.routing.shard(symbol, self.stage);
        let i = symbol as usize;
        if self.route.len() <= i {
            self.route.resize(i + 1, u32::MAX);
        }
        self.route[i] = h as u32;
        h
    }

    /// A worker to send a due job to: an idle one first, else one with fewer than
    /// [`WORKER_QUEUE`] jobs (which then finds its next job ready when it finishes instead
    /// of idling until this thread looks again).
    fn idle_worker(&self) -> Option<usize> {
        (0..WORKER_QUEUE).find_map(|d| self.in_flight.iter().position(|&n| n == d))
    }

    /// A job from the pool; when every job is out, completes results until one returns.
    /// The pool is asked again only after a result came back, so one wait counts as one
    /// miss in the pool's statistics (not one per poll while waiting).
    fn acquire(&mut self) -> Result<PoolGuard<'p, Job>, PipelineError> {
        loop {
            match self.pool.acquire() {
                Ok(job) => return Ok(job),
                Err(PoolError::Exhausted { .. }) if self.in_flight.iter().any(|&n| n > 0) => {
                    while self.poll_results()? == 0 && self.in_flight.iter().any(|&n| n > 0) {
                        std::thread::yield_now();
                    }
                }
                Err(e) => return Err(PipelineError::Pool(e)),
            }
        }
    }

    /// Computes shard `h`'s pending batches in order while the shard is here: each is lent
    /// with the shard to a worker from [`Self::idle_worker`] (the rest then wait for the
    /// shard's return), or computed and emitted on this thread.
    fn dispatch(&mut self, h: usize) -> Result<(), PipelineError> {
        while self.stage.holds(h) {
            let Some(mut job) = self.pending[h].pop_front() else {
                return Ok(());
            };
            let Some(w) = self.idle_worker() else {
                compute_job(self.stage, &mut job, self.link);
                let done = self.watermark();
                self.emitter.complete(job, done)?;
                continue;
            };
            job.state = self.stage.lend_shard(h);
            self.outstanding.push(job.first_seq);
            self.in_flight[w] += 1;
            self.jobs[w]
                .push(job)
                .map_err(|_| PipelineError::ThreadDied {
                    thread: "compute worker",
                    message: String::new(),
                })?;
        }
        Ok(())
    }

    /// Completes results until shard `h` is back from its worker.
    fn wait_home(&mut self, h: usize) -> Result<(), PipelineError> {
        while !self.stage.holds(h) {
            if self.poll_results()? == 0 {
                std::hint::spin_loop();
            }
        }
        Ok(())
    }

    fn dispatch_all(&mut self) -> Result<(), PipelineError> {
        for h in 0..self.pending.len() {
            while !self.pending[h].is_empty() {
                self.wait_home(h)?;
                self.dispatch(h)?;
            }
        }
        Ok(())
    }

    /// Completes every job the workers have finished (taking their shards back), then
    /// dispatches the batches that waited for those shards; returns how many completed.
    fn poll_results(&mut self) -> Result<usize, PipelineError> {
        let mut n = 0;
        for w in 0..self.results.len() {
            loop {
                let mut job = match self.results[w].pop() {
                    Ok(job) => job,
                    Err(PopError::Empty) => break,
                    // Workers close their result ring only after their job ring closed, which
                    // happens after the last result was taken: a closed ring here is a worker
                    // that died (its panic, if any, is reported when it is joined).
                    Err(PopError::Closed) => {
                        return Err(PipelineError::ThreadDied {
                            thread: "compute worker",
                            message: String::new(),
                        });
                    }
                };
                self.in_flight[w] -= 1;
                if let Some(i) = self.outstanding.iter().position(|&s| s == job.first_seq) {
                    self.outstanding.swap_remove(i);
                }
                let h = job.shard;
                if let Some(state) = job.state.take() {
                    self.stage
                        .hold_shard(h, state)
                        .map_err(PipelineError::Compute)?;
                }
                let done = self.watermark();
                self.emitter.complete(job, done)?;
                n += 1;
                self.dispatch(h)?;
            }
        }
        Ok(n)
    }

    /// Ticks whose signals are all out: every tick before the oldest row still pending or
    /// in flight.
    fn watermark(&self) -> u64 {
        let oldest = self
            .pending
            .iter()
            .flatten()
            .filter(|j| !j.batch.is_empty())
            .map(|j| j.first_seq)
            .chain(self.outstanding.iter().copied())
            .min();
        oldest.map_or(self.processed, |s| s - 1)
    }

    /// End of the feed: ends the open book event, computes and emits everything still
    /// pending or in flight.
    fn finish(&mut self) -> Result<(), PipelineError> {
        self.end_book_event()?;
        self.dispatch_all()?;
        while self.in_flight.iter().any(|&n| n > 0) {
            if self.poll_results()? == 0 {
                std::thread::yield_now();
            }
        }
        self.link
            .done
            .0
            .fetch_max(self.processed, Ordering::Release);
        Ok(())
    }

    /// A checkpoint barrier: computes and emits every row before it (every shard comes
    /// home), then copies the feature and compute state into the circulating buffer and
    /// hands it to the feed thread, which serialises and stores it. Cold: once per
    /// `checkpoint_every` ticks.
    #[cold]
    #[inline(never)]
    fn checkpoint(&mut self) -> Result<(), PipelineError> {
        if self.checkpoints.is_none() {
            return Ok(());
        }
        self.end_book_event()?;
        self.dispatch_all()?;
        while self.in_flight.iter().any(|&n| n > 0) {
            if self.poll_results()? == 0 {
                std::thread::yield_now();
            }
        }
        let Some(rings) = self.checkpoints.as_mut() else {
            return Ok(());
        };
        // The feed thread sends a barrier only after it gave the last buffer back.
        let mut words = rings
            .buffers
            .pop()
            .map_err(|_| PipelineError::config("checkpoint buffer missing at a barrier"))?;
        crate::checkpoint::begin(&mut words, rings.fingerprint);
        self.features.snapshot_into(&mut words)?;
        for h in 0..self.stage.shards() {
            self.stage
                .snapshot_shard(h, &mut words)
                .map_err(PipelineError::Compute)?;
        }
        if rings.snapshots.push(words).is_err() {
            // The feed thread stopped: the run is ending, the checkpoint is not needed.
            return Ok(());
        }
        // Release: pairs with the feed thread's Acquire load before it acknowledges.
        self.link
            .done
            .0
            .fetch_max(self.processed, Ordering::Release);
        Ok(())
    }

    /// Closes the workers' job rings (they finish and return).
    pub(crate) fn close_jobs(&mut self) {
        for j in &mut self.jobs {
            j.close();
        }
    }
}
