//! [`FeatureThread`]: the calling thread of a run. Takes ticks off the ring, runs the
//! feature stage, writes each due row into its compute shard's pooled batch, sends batches
//! to the compute stage and emits the results.
//!
//! Batches are cut by load, not by a timer: inline (no compute workers), a row is computed
//! as soon as it is written; with workers, a shard's batch goes out as soon as its worker
//! is idle, or when it is full, so batches form only while compute is busy. The
//! `max_batch_wait_ns` age is a backstop. A shard's batches are computed and emitted in
//! order, so per-symbol order holds.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use zerotick_mem::{Pool, PoolError, PoolGuard};
use zerotick_sync::spsc::{Consumer, PopError, Producer};
use zerotick_sync::wait::WaitStrategy;

use super::emit::Emitter;
use super::worker::compute_job;
use super::{Link, allocations_since};
use crate::PipelineError;
use crate::compute::ComputeStage;
use crate::features::FeatureStage;
use crate::job::{Job, RowMeta, Stamped};
use crate::metrics::Metrics;

/// Most ticks read from the ring at a time.
const TICK_CHUNK: usize = 64;

/// The feature thread's state.
pub(crate) struct FeatureThread<'a, 'p> {
    pub(crate) features: &'a mut FeatureStage,
    pub(crate) pool: &'p Pool<Job>,
    /// The batch being filled, per shard.
    pub(crate) pending: Vec<Option<PoolGuard<'p, Job>>>,
    /// `first_seq` of the jobs in flight to workers.
    pub(crate) outstanding: Vec<u64>,
    /// The compute stage when it runs on this thread.
    pub(crate) inline: Option<&'a mut ComputeStage>,
    pub(crate) jobs: Vec<Producer<PoolGuard<'p, Job>>>,
    pub(crate) results: Vec<Consumer<PoolGuard<'p, Job>>>,
    /// Jobs in flight, per worker.
    pub(crate) in_flight: Vec<usize>,
    pub(crate) emitter: Emitter<'a>,
    pub(crate) processed: u64,
    pub(crate) max_wait_ns: u64,
    pub(crate) m: &'a Metrics,
    pub(crate) link: &'a Link,
}

/// What the run loop needs besides the thread's state.
pub(crate) struct RunLoop<'a> {
    pub(crate) wait: WaitStrategy,
    pub(crate) warmup_ticks: u64,
    pub(crate) progress: Option<&'a (dyn Fn(u64) + Sync)>,
    pub(crate) allocations: Option<fn() -> u64>,
}

impl<'p> FeatureThread<'_, 'p> {
    /// Processes ticks until the ring closes (or the deadline passes), then computes and
    /// emits everything pending. Returns this thread's steady-state allocations.
    ///
    /// Ticks are read in place from the ring, up to [`TICK_CHUNK`] at a time, and the slots
    /// given back once per chunk: one store the feed thread sees per chunk, not per tick, and
    /// no copy of a tick out of the ring.
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
                    self.tick(t, lp, &mut warm)?;
                }
                chunk.commit_all();
            } else {
                match self.idle(rx, lp.wait)? {
                    Some(t) => self.tick(&t, lp, &mut warm)?,
                    None => break,
                }
            }
            if self.processed - gauged >= 1024 {
                gauged = self.processed;
                self.m.ring_occupancy.set(rx.len() as f64);
            }
        }
        self.finish()?;
        Ok(allocations_since(warm, lp.allocations))
    }

    /// One tick, and the bookkeeping that goes by tick counts.
    #[inline(always)]
    fn tick(
        &mut self,
        t: &Stamped,
        lp: &RunLoop<'_>,
        warm: &mut Option<u64>,
    ) -> Result<(), PipelineError> {
        self.on_tick(t)?;
        self.m.ticks.inc();
        let n = self.processed;
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
                p(n);
            }
        }
        Ok(())
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
            if !in_flight && self.pending.iter().all(Option::is_none) {
                return Ok(self.wait_for_tick(rx, wait));
            }
            if in_flight {
                self.poll_results()?;
            }
            spins += 1;
            if spins.is_multiple_of(64) {
                self.dispatch_aged()?;
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
    fn on_tick(&mut self, t: &Stamped) -> Result<(), PipelineError> {
        self.processed += 1;
        if !self.features.update(&t.tick) {
            // Age check every 128 ticks keeps the clock mostly off the hot path.
            if self.processed.is_multiple_of(128) && self.inline.is_none() {
                self.dispatch_aged()?;
            }
            return Ok(());
        }
        let now = self.link.now_ns();
        self.m.queue.record(now.saturating_sub(t.read_ns).max(1));
        let symbol = t.tick.symbol;
        let h = symbol as usize % self.pending.len();
        if self.pending[h].is_none() {
            let mut job = self.acquire()?;
            job.shard = h;
            job.first_seq = self.processed;
            self.pending[h] = Some(job);
        }
        let Some(job) = self.pending[h].as_mut() else {
            unreachable!("just filled")
        };
        let i = job.batch.len_rows();
        let Some(row) = job.batch.push_row_mut() else {
            unreachable!("full batches are dispatched")
        };
        self.features.write_row(symbol, row);
        job.metas[i] = RowMeta {
            ts_ns: t.tick.ts_ns,
            symbol,
            read_ns: t.read_ns,
            made_ns: now,
        };
        let full = job.batch.is_full();
        if full || self.inline.is_some() || self.worker_idle(h) {
            self.dispatch(h)?;
        }
        Ok(())
    }

    fn worker_idle(&self, h: usize) -> bool {
        !self.jobs.is_empty() && self.in_flight[h % self.jobs.len()] == 0
    }

    /// A job from the pool; when every job is out, completes results until one returns.
    fn acquire(&mut self) -> Result<PoolGuard<'p, Job>, PipelineError> {
        loop {
            match self.pool.acquire() {
                Ok(job) => return Ok(job),
                Err(PoolError::Exhausted { .. }) if self.in_flight.iter().any(|&n| n > 0) => {
                    if self.poll_results()? == 0 {
                        std::thread::yield_now();
                    }
                }
                Err(e) => return Err(PipelineError::Pool(e)),
            }
        }
    }

    /// Sends shard `h`'s pending batch to compute (inline: computes and emits it).
    fn dispatch(&mut self, h: usize) -> Result<(), PipelineError> {
        let Some(mut job) = self.pending[h].take() else {
            return Ok(());
        };
        if job.batch.is_empty() {
            return Ok(());
        }
        if let Some(stage) = self.inline.as_deref_mut() {
            compute_job(stage, &mut job, self.link);
            let done = self.watermark();
            return self.emitter.complete(job, done);
        }
        let w = h % self.jobs.len();
        self.outstanding.push(job.first_seq);
        self.in_flight[w] += 1;
        self.jobs[w]
            .push(job)
            .map_err(|_| PipelineError::ThreadDied {
                thread: "compute worker",
                message: String::new(),
            })
    }

    fn dispatch_all(&mut self) -> Result<(), PipelineError> {
        for h in 0..self.pending.len() {
            self.dispatch(h)?;
        }
        Ok(())
    }

    fn dispatch_aged(&mut self) -> Result<(), PipelineError> {
        let now = self.link.now_ns();
        for h in 0..self.pending.len() {
            let aged = self.pending[h].as_ref().is_some_and(|j| {
                !j.batch.is_empty() && now.saturating_sub(j.metas[0].read_ns) > self.max_wait_ns
            });
            if aged || self.worker_idle(h) {
                self.dispatch(h)?;
            }
        }
        Ok(())
    }

    /// Completes every job the workers have finished, then hands idle workers their shards'
    /// pending batches; returns how many jobs completed.
    fn poll_results(&mut self) -> Result<usize, PipelineError> {
        let mut n = 0;
        for w in 0..self.results.len() {
            loop {
                let job = match self.results[w].pop() {
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
                let done = self.watermark();
                self.emitter.complete(job, done)?;
                n += 1;
            }
        }
        if n > 0 {
            for h in 0..self.pending.len() {
                if self.worker_idle(h) {
                    self.dispatch(h)?;
                }
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

    /// End of the feed: computes and emits everything still pending or in flight.
    fn finish(&mut self) -> Result<(), PipelineError> {
        self.dispatch_all()?;
        while self.in_flight.iter().any(|&n| n > 0) {
            if self.poll_results()? == 0 {
                std::thread::yield_now();
            }
        }
        self.link.done.fetch_max(self.processed, Ordering::Release);
        Ok(())
    }

    /// Closes the workers' job rings (they finish and return).
    pub(crate) fn close_jobs(&mut self) {
        for j in &mut self.jobs {
            j.close();
        }
    }
}
