//! PCA refreshes: the randomized SVD of a shard's recent rows, off the hot path.
//!
//! A shard *submits* a refresh when its row count reaches a refresh point `R` (handing over
//! its matrix of recent rows, not copying it) and *applies* the result at row
//! `R + publish_delay_rows`: rows before that point are projected with the old `W`, rows
//! from it on with the new one. Where the refresh ran (a [`PcaWorker`] on a thread of its
//! own, or inline at submission) and how long it took change nothing in the output: the
//! same seed and rows give the same bits. A compute stage that reaches the apply point
//! before the worker finished waits for it (counted in [`ComputeStats::pca_waits`]).

use std::sync::Arc;
use zerotick_kernels::dense::{RsvdParams, mat_mut, mat_ref, rsvd_scratch_bytes};
use zerotick_kernels::simd::{Kernels, Tier};
use zerotick_mem::{AllocError, Arena, Matrix, OwnedPoolGuard, PageSpan, Pool};

use zerotick_sync::mpmc;
use zerotick_sync::spsc::{Consumer, PopError, Producer};
use zerotick_sync::wait::WaitStrategy;

use super::{ComputeError, ComputeStats, PCA_ROWS, PROJ};
use crate::features::WIDTH;

/// One refresh in flight: the shard's recent rows and two projection buffers, travelling
/// compute stage -> worker -> compute stage.
#[derive(Debug)]
pub(crate) struct PcaJob {
    pub(crate) shard: usize,
    /// Seed of this refresh's sketch (the stage's seed and the shard's row count).
    pub(crate) seed: u64,
    /// The shard's last [`PCA_ROWS`] rows (returned to the shard with the result).
    pub(crate) matrix: OwnedPoolGuard<Matrix>,
    /// The projection in use when the refresh was submitted (`PROJ x WIDTH`), for the sign
    /// alignment.
    pub(crate) old_t: Box<[f64]>,
    /// Receives the refreshed projection (`PROJ x WIDTH`).
    pub(crate) new_t: Box<[f64]>,
    pub(crate) failed: Option<ComputeError>,
}

/// The refresh computation and its scratch (reset per refresh).
pub(crate) struct PcaCore {
    arena: Arena,
    params: RsvdParams,
    /// Whether refreshes run at all (`pca_every > 0`); a disabled core holds no scratch.
    enabled: bool,
}

impl PcaCore {
    /// A core with its refresh scratch allocated and touched; with `enabled` false (refreshes
    /// off) none: a refresh on it fails with [`ComputeError::Alloc`], and none is submitted.
    pub(crate) fn new(params: RsvdParams, enabled: bool) -> Result<Self, ComputeError> {
        Self::with_arena(params, enabled, Arena::try_new)
    }

    /// As [`new`](Self::new), with the scratch's pages mapped in by
    /// [`warm_up`](Self::warm_up) instead: for the PCA thread's core, built by the thread
    /// that builds the pipeline and warmed up on the PCA thread, which then faults its
    /// 20-odd MiB in while the rest of the pipeline is being built (a third of the
    /// pipeline's start-up on the Xeon VM, 2026-12-02).
    pub(crate) fn new_unfaulted(params: RsvdParams, enabled: bool) -> Result<Self, ComputeError> {
        Self::with_arena(params, enabled, Arena::try_new_unfaulted)
    }

    fn with_arena(
        params: RsvdParams,
        enabled: bool,
        arena: fn(usize) -> Result<Arena, AllocError>,
    ) -> Result<Self, ComputeError> {
        let bytes = if enabled {
            rsvd_scratch_bytes(PCA_ROWS, WIDTH, params) + (PCA_ROWS * PROJ + PROJ) * 8 + 4096
        } else {
            64
        };
        Ok(Self {
            arena: arena(bytes).map_err(|e| ComputeError::Alloc(e.to_string()))?,
            params,
            enabled,
        })
    }

    /// Fills `job.new_t` with the top right singular vectors of `job.matrix`, each signed to
    /// point the way the matching row of `job.old_t` does (singular vectors are defined up
    /// to sign; the read-out must not flip with every refresh).
    pub(crate) fn refresh(&mut self, job: &mut PcaJob) -> Result<(), ComputeError> {
        self.top_vectors(job.matrix.as_slice(), job.seed, &mut job.new_t)?;
        for (new, old) in job
            .new_t
            .chunks_exact_mut(WIDTH)
            .zip(job.old_t.chunks_exact(WIDTH))
        {
            let d: f64 = new.iter().zip(old).map(|(a, b)| a * b).sum();
            if d < 0.0 {
                for v in new.iter_mut() {
                    *v = -*v;
                }
            }
        }
        Ok(())
    }

    /// `new_t` (`PROJ x WIDTH`) := the top right singular vectors of `rows`
    /// (`PCA_ROWS x WIDTH`), sketched with `seed` mixed into the stage's seed.
    fn top_vectors(
        &mut self,
        rows: &[f64],
        seed: u64,
        new_t: &mut [f64],
    ) -> Result<(), ComputeError> {
        let arena = &mut self.arena;
        arena.reset();
        let u = arena
            .try_alloc_zeroed::<f64>(PCA_ROWS * PROJ)
            .map_err(|e| ComputeError::Alloc(e.to_string()))?;
        let sv = arena
            .try_alloc_zeroed::<f64>(PROJ)
            .map_err(|e| ComputeError::Alloc(e.to_string()))?;
        let params = RsvdParams {
            seed: self.params.seed ^ seed,
            ..self.params
        };
        zerotick_kernels::dense::rsvd_into_with(
            pca_kernels(),
            mat_ref(rows, PCA_ROWS, WIDTH, WIDTH)?,
            params,
            mat_mut(u, PCA_ROWS, PROJ, PROJ)?,
            sv,
            mat_mut(new_t, PROJ, WIDTH, WIDTH)?,
            arena,
        )?;
        Ok(())
    }

    /// Maps the refresh scratch in and runs faer's part of a refresh on made-up data
    /// ([`rsvd_warm_up`](zerotick_kernels::dense::rsvd_warm_up)), so the calling thread's
    /// GEMM packing buffers (faer keeps them per thread, reserved on first use) exist, at
    /// the sizes a refresh uses and with their pages touched, before steady state: call it
    /// on the refreshing thread before the hot path. The products with the rows are
    /// zerotick's own skinny kernels, which allocate nothing, so no refresh is run: the
    /// warm-up that did run one (without power iterations, 2026-11-30 to 2026-12-02) was
    /// most of the PCA thread's start-up, on the critical path of every run's start.
    pub(crate) fn warm_up(&mut self) -> Result<(), ComputeError> {
        // The scratch's pages, all of them: none faults in later, in steady state.
        self.arena.prefault();
        self.arena.reset();
        let r = zerotick_kernels::dense::rsvd_warm_up(PCA_ROWS, WIDTH, self.params, &self.arena);
        self.arena.reset();
        Ok(r?)
    }

    /// Runs `refresh`, recording a failure in the job instead of returning it.
    fn serve(&mut self, job: &mut PcaJob) {
        if let Err(e) = self.refresh(job) {
            job.failed = Some(e);
        }
    }
}

/// The tier a refresh's randomized SVD runs on: the active one, but AVX2 in place of
/// AVX-512. The two tiers' skinny products sum in different orders, and a run's signals must
/// not depend on which of the two vector tiers it had (the default run's checksum is the same
/// on both); a refresh runs off the hot path, with thousands of rows of slack.
fn pca_kernels() -> Kernels {
    let active = Kernels::active();
    Kernels::new(active.tier().min(Tier::Avx2)).unwrap_or(active)
}

/// The thread side of threaded refreshes: run [`PcaWorker::run`] on a thread of its own.
///
/// One worker serves every stage made with it (the stages that share a run's shards): jobs
/// come through one queue any of them may push to; each result goes back on its shard's own
/// one-slot ring, which travels with the shard's state, so whichever stage holds the shard
/// at its apply point takes it.
pub struct PcaWorker {
    core: PcaCore,
    jobs: Arc<mpmc::Ring<PcaJob>>,
    /// Per shard, where its results go.
    done: Vec<Producer<PcaJob>>,
    wait: WaitStrategy,
    /// Pages to fault in during the warm-up (the shards' row windows), and the pool that
    /// keeps them mapped until then.
    populate: Vec<PageSpan>,
    windows: Option<Arc<Pool<Matrix>>>,
}

impl PcaWorker {
    /// Has [`warm_up_thread`](Self::warm_up_thread) fault `spans` in (pages of `windows`'
    /// matrices), on the worker's thread instead of the caller's.
    pub(crate) fn populate_at_warm_up(&mut self, spans: Vec<PageSpan>, windows: Arc<Pool<Matrix>>) {
        self.populate = spans;
        self.windows = Some(windows);
    }

    /// Sizes the calling thread's GEMM buffers (faer keeps them per thread): call first on
    /// the worker's thread.
    ///
    /// # Errors
    /// The warm-up refresh failed (its scratch arena is too small: a bug).
    pub fn warm_up_thread(&mut self) -> Result<(), ComputeError> {
        let warm = self.core.warm_up();
        // Contents unchanged, so the stages holding the windows may hold them meanwhile.
        for span in self.populate.drain(..) {
            span.populate();
        }
        self.windows = None;
        warm
    }

    /// Serves refreshes until every stage made with it is dropped (the job queue closes).
    /// Parks while idle (per the wait strategy): a refresh is rare, so this thread costs
    /// nothing between them.
    pub fn run(self) {
        self.run_with(|| {});
    }

    /// As [`run`](Self::run), calling `before_job` before each refresh (the pipeline samples
    /// its allocation counter there once steady state began).
    pub fn run_with(mut self, mut before_job: impl FnMut()) {
        while let Ok(mut job) = self.jobs.pop_wait(self.wait) {
            before_job();
            self.core.serve(&mut job);
            // A shard whose stage is gone takes no result: drop it.
            if let Some(done) = self.done.get_mut(job.shard) {
                let _ = done.push(job);
            }
        }
        for done in &self.done {
            done.close();
        }
    }
}

impl core::fmt::Debug for PcaWorker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PcaWorker").finish_non_exhaustive()
    }
}

/// A threaded service's hold on its worker's job queue: the queue closes (and the worker
/// returns) when the last stage holding it is dropped.
pub(crate) struct PcaQueue(Arc<mpmc::Ring<PcaJob>>);

impl Drop for PcaQueue {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Where a stage's refreshes run.
pub(crate) enum PcaService {
    /// At submission, on the compute thread.
    Inline(Box<PcaCore>),
    /// On a [`PcaWorker`]'s thread.
    Thread {
        jobs: Arc<PcaQueue>,
        wait: WaitStrategy,
    },
}

impl PcaService {
    /// A threaded service, the worker to run for it, and per shard the ring its results
    /// come back on (to be kept with the shard's state).
    pub(crate) fn threaded(
        params: RsvdParams,
        shards: usize,
        wait: WaitStrategy,
    ) -> Result<(Self, PcaWorker, Vec<Consumer<PcaJob>>), ComputeError> {
        // At most one refresh per shard is in flight.
        let jobs = Arc::new(
            mpmc::Ring::new(shards.max(1))
                .map_err(|_| ComputeError::Config("PCA ring capacity"))?,
        );
        let mut done = Vec::with_capacity(shards);
        let mut results = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = zerotick_sync::spsc::channel(1)
                .map_err(|_| ComputeError::Config("PCA ring capacity"))?;
            done.push(tx);
            results.push(rx);
        }
        Ok((
            PcaService::Thread {
                jobs: Arc::new(PcaQueue(Arc::clone(&jobs))),
                wait,
            },
            PcaWorker {
                core: PcaCore::new_unfaulted(params, true)?,
                jobs,
                done,
                wait,
                populate: Vec::new(),
                windows: None,
            },
            results,
        ))
    }

    /// Another handle on the same worker (threaded), or a core of its own (inline).
    pub(crate) fn share(&self, params: RsvdParams) -> Result<Self, ComputeError> {
        Ok(match self {
            PcaService::Inline(core) => {
                PcaService::Inline(Box::new(PcaCore::new(params, core.enabled)?))
            }
            PcaService::Thread { jobs, wait } => PcaService::Thread {
                jobs: Arc::clone(jobs),
                wait: *wait,
            },
        })
    }

    /// Starts a refresh; an inline service computes it now and hands it back at once.
    pub(crate) fn submit(&mut self, mut job: PcaJob) -> Result<Option<PcaJob>, ComputeError> {
        match self {
            PcaService::Inline(core) => {
                core.serve(&mut job);
                Ok(Some(job))
            }
            PcaService::Thread { jobs, .. } => match jobs.0.push(job) {
                Ok(()) => Ok(None),
                // At most one refresh per shard is in flight and the queue has a slot per
                // shard: full means the worker is gone.
                Err(_) => Err(ComputeError::Config("the PCA worker stopped")),
            },
        }
    }

    /// Takes the finished refresh from a shard's result ring, waiting for it if it is not
    /// done yet (counted in `stats`).
    pub(crate) fn collect(
        &self,
        results: &mut Consumer<PcaJob>,
        stats: &mut ComputeStats,
    ) -> Result<PcaJob, ComputeError> {
        // An inline refresh is handed back at submission: there is nothing to collect.
        let PcaService::Thread { wait, .. } = self else {
            return Err(ComputeError::Config(
                "an inline PCA refresh has no result ring",
            ));
        };
        match results.pop() {
            Ok(job) => Ok(job),
            Err(PopError::Empty) => {
                stats.pca_waits += 1;
                results
                    .pop_wait(*wait)
                    .map_err(|_| ComputeError::Config("the PCA worker stopped"))
            }
            Err(PopError::Closed) => Err(ComputeError::Config("the PCA worker stopped")),
        }
    }
}
