//! [`ComputeWorker`]: a compute thread. Each job brings a batch and its shard's state (lent
//! by the feature thread, see [`feature`](super::feature)); the worker computes it and sends
//! both back.

use std::sync::atomic::Ordering;

use zerotick_mem::PoolGuard;
use zerotick_sync::spsc::{Consumer, Producer};
use zerotick_sync::wait::WaitStrategy;

use super::{Link, ReadyOnDrop, allocations_since};
use crate::compute::{ComputeError, ComputeStage, ComputeStats};
use crate::job::Job;

/// One compute thread.
pub(crate) struct ComputeWorker<'p> {
    pub(crate) stage: ComputeStage,
    pub(crate) jobs: Consumer<PoolGuard<'p, Job>>,
    pub(crate) results: Producer<PoolGuard<'p, Job>>,
    pub(crate) wait: WaitStrategy,
    pub(crate) allocations: Option<fn() -> u64>,
    pub(crate) thread_start: Option<fn()>,
}

impl ComputeWorker<'_> {
    /// Computes jobs until the job ring closes; returns the stage's counters and the
    /// thread's steady-state allocations.
    pub(crate) fn run(mut self, link: &Link) -> (ComputeStats, Option<u64>) {
        if let Some(f) = self.thread_start {
            f();
        }
        let counted = ReadyOnDrop(&link.ready);
        // A failure here (a scratch arena too small) recurs at the first inline refresh,
        // which reports it.
        let _ = self.stage.warm_up_thread();
        drop(counted);
        let mut warm = None;
        while let Ok(mut job) = self.jobs.pop_wait(self.wait) {
            if warm.is_none() && link.steady.load(Ordering::Relaxed) {
                warm = self.allocations.map(|f| f());
            }
            match job.state.take() {
                Some(state) => match self.stage.hold_shard(job.shard, state) {
                    Ok(()) => {
                        compute_job(&mut self.stage, &mut job, link);
                        job.state = self.stage.lend_shard(job.shard);
                    }
                    Err(e) => job.failed = Some(e),
                },
                None => job.failed = Some(ComputeError::Config("a job came without its shard")),
            }
            if self.results.push_wait(job, self.wait).is_err() {
                break;
            }
        }
        self.results.close();
        let allocations = allocations_since(warm, self.allocations);
        (self.stage.stats(), allocations)
    }
}

/// Runs the compute stage on a job, stamping its start and end.
pub(crate) fn compute_job(stage: &mut ComputeStage, job: &mut Job, link: &Link) {
    job.compute_start_ns = link.now_ns();
    let Job {
        batch,
        signals,
        shard,
        failed,
        ..
    } = job;
    if let Err(e) = stage.process(*shard, batch, signals) {
        *failed = Some(e);
    }
    job.compute_end_ns = link.now_ns();
}
