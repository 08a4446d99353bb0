//! The compute stage: everything a feature row goes through on its way to a signal, in place
//! in the pooled batch or in preallocated and arena scratch.
//!
//! Per row, in row order:
//! 1. [`normalize_row`](ComputeStage::normalize_row): streaming Welford/Chan statistics per
//!    column, folded in blocks of [`NORM_BLOCK`] rows of the shard; a row is standardised,
//!    by one fused multiply-add per value, with the statistics of every earlier block (a
//!    shard's first block has none yet and comes out as zeros). Per-row updates would cost
//!    a division, a square root and a second division per value on every row; the block
//!    keeps them to once per column per block.
//! 2. [`filter_row`](ComputeStage::filter_row): a two-band filter bank over the return window
//!    (columns `0..512`): a 16-tap Hann low-pass and its `(-1)^j`-modulated high-pass, each
//!    convolved ("same" mode) and decimated by 2 in one step
//!    ([`Kernels::filter_bank_decimate2_into`]: only the kept outputs are computed, each bit
//!    for bit the direct convolution's), written back: `0..256` low band, `256..512` high band.
//! 3. [`squash_row`](ComputeStage::squash_row): SIMD `tanh`, then scaling.
//!
//! Per batch ([`project_and_read_out`](ComputeStage::project_and_read_out)):
//! 4. Projection onto [`PROJ`] components, `Y = X W` into arena scratch: SpMV per row while
//!    `W` is the initial very sparse random projection, dense SIMD dot products once `W` is
//!    dense (why not faer's GEMM: see `project`); the path comes from the sparse
//!    [`CostModel`](sparse::CostModel)'s decision for the current `W`.
//! 5. A PCA refresh every `pca_every` rows of a shard: randomized SVD of the pooled
//!    1,024 x 1,024 matrix of the shard's most recent squashed rows; the top [`PROJ`] right
//!    singular vectors become `W` (signs aligned with the previous `W`). The refresh runs off
//!    the hot path (see [`PcaWorker`]): submitted at the refresh point `R`, applied at row
//!    `R + pca_publish_delay_rows`; rows before that are projected with the old `W`, rows from
//!    it on with the new one, whatever the batch cuts or the refresh's timing.
//! 6. A linear read-out of the projection to one signal per row.
//!
//! State is kept per *shard* (`symbol % shards`), so a row's signal depends only on the rows
//! of its shard before it: the output is the same whatever the batching, the timing, or the
//! number of workers sharing the shards. Every decision that could depend on timing (direct
//! or FFT, sparse or dense) is made from stored cost constants, not from a calibration run,
//! so the same seed and configuration give bit-identical signals on a machine.

mod pca;
mod snapshot;

use core::fmt;
use std::sync::Arc;

pub use self::pca::PcaWorker;
use self::pca::{PcaCore, PcaJob, PcaService};
use zerotick_kernels::dense::{DenseError, RsvdParams};
use zerotick_kernels::fft::{ConvError, Mode};
use zerotick_kernels::sparse::{self, Csr, Path, SparseError};
use zerotick_kernels::{KernelError, Kernels};
use zerotick_mem::{Arena, Batch, Matrix, MissPolicy, OwnedPoolGuard, Pages, Pool, ResetPolicy};
use zerotick_sync::spsc::Consumer;
use zerotick_sync::wait::WaitStrategy;

use crate::features::{RET_WINDOW, WIDTH};
use zerotick_core::rng::Rng;

/// Components of the projection (the width of `Y = X W`).
pub const PROJ: usize = 16;
/// Rows of the PCA matrix (the most recent rows of a shard).
pub const PCA_ROWS: usize = 1024;
/// Rows of a shard folded into its normalisation statistics at a time.
pub const NORM_BLOCK: usize = 32;
/// Taps of each filter of the bank.
pub const FILTER_TAPS: usize = 16;

/// Settings of the compute stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComputeConfig {
    /// Seed of the initial projection, the read-out weights and the SVD sketches.
    pub seed: u64,
    /// Multiplier applied after squashing.
    pub scale: f64,
    /// Independent states (statistics, projection, PCA matrix); a symbol belongs to shard
    /// `symbol % shards`. Part of the result: change it and the signals change.
    pub shards: usize,
    /// A shard refreshes its projection every this many of its rows (from row
    /// [`PCA_ROWS`] on). 0 turns the refresh off (the sparse projection stays).
    pub pca_every: u64,
    /// Power iterations of the randomized SVD.
    pub pca_power_iters: usize,
    /// Rows of a shard between a refresh's submission and the row from which its result is
    /// used (`0 ..= pca_every - PCA_ROWS`): the time the refresh has to run off the hot
    /// path before the compute stage would wait for it.
    pub pca_publish_delay_rows: u64,
    /// Which of the steps run (all by default; a feature spec's `[compute]` table can turn
    /// some off).
    pub steps: Steps,
}

/// Which compute steps run on each row. All on by default (the built-in pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    /// Step 1, [`ComputeStage::normalize_row`].
    pub normalise: bool,
    /// Step 2, [`ComputeStage::filter_row`].
    pub filter_bank: bool,
    /// Step 3, [`ComputeStage::squash_row`].
    pub squash: bool,
    /// Step 3 with `tanh_f32` (relative error <= 1.2e-6, faster) instead of `tanh_rational`
    /// (<= 4.5e-15), see [`ComputeStage::squash_row`]. Changes the signals: part of the
    /// result.
    pub squash_f32: bool,
    /// Steps 4-6, [`ComputeStage::project_and_read_out`]: without it no signal is computed
    /// (the signals are left as they were), so only feature rows can be emitted.
    pub read_out: bool,
}

impl Default for Steps {
    /// Every step.
    fn default() -> Self {
        Steps {
            normalise: true,
            filter_bank: true,
            squash: true,
            squash_f32: false,
            read_out: true,
        }
    }
}

impl ComputeConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`ComputeError::Invalid`] naming the setting, its value and the allowed range.
    pub fn validate(&self) -> Result<(), ComputeError> {
        let every = self.pca_every;
        if every != 0 && every < 2 * PCA_ROWS as u64 {
            return Err(ComputeError::invalid(format_args!(
                "pca_every is {every}; it must be 0 (off) or at least {}",
                2 * PCA_ROWS
            )));
        }
        if every != 0 && self.pca_publish_delay_rows > every - PCA_ROWS as u64 {
            return Err(ComputeError::invalid(format_args!(
                "the PCA publish delay is {} rows; with pca_every {every} it must be at most {}",
                self.pca_publish_delay_rows,
                every - PCA_ROWS as u64
            )));
        }
        if !(1..=8).contains(&self.pca_power_iters) {
            return Err(ComputeError::invalid(format_args!(
                "PCA power iterations is {}; it must be between 1 and 8",
                self.pca_power_iters
            )));
        }
        if !self.scale.is_finite() {
            return Err(ComputeError::invalid("the scale must be finite"));
        }
        Ok(())
    }
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            scale: 1.0,
            shards: 4,
            pca_every: 8192,
            pca_power_iters: 1,
            pca_publish_delay_rows: 4096,
            steps: Steps::default(),
        }
    }
}

/// What the compute stage can fail with. Shapes are fixed at construction, so any of these
/// is a bug or a bad configuration, never bad data (NaN is data).
#[derive(Debug)]
pub enum ComputeError {
    /// An element-wise or statistics kernel refused its input.
    Kernel(KernelError),
    /// GEMM or the randomized SVD failed.
    Dense(DenseError),
    /// The sparse projection failed.
    Sparse(SparseError),
    /// The filter bank failed.
    Conv(ConvError),
    /// A bad configuration value (or a worker that went away).
    Config(&'static str),
    /// A setting out of its range: what is wrong and the allowed range.
    Invalid(String),
    /// Preallocation failed.
    Alloc(String),
}

impl fmt::Display for ComputeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComputeError::Kernel(e) => write!(f, "kernel: {e}"),
            ComputeError::Dense(e) => write!(f, "dense: {e}"),
            ComputeError::Sparse(e) => write!(f, "sparse: {e}"),
            ComputeError::Conv(e) => write!(f, "filter bank: {e}"),
            ComputeError::Config(what) => write!(f, "configuration: {what}"),
            ComputeError::Invalid(what) => f.write_str(what),
            ComputeError::Alloc(what) => write!(f, "preallocation: {what}"),
        }
    }
}

impl std::error::Error for ComputeError {}

impl ComputeError {
    fn invalid(what: impl fmt::Display) -> Self {
        ComputeError::Invalid(what.to_string())
    }
}

impl From<KernelError> for ComputeError {
    fn from(e: KernelError) -> Self {
        ComputeError::Kernel(e)
    }
}
impl From<DenseError> for ComputeError {
    fn from(e: DenseError) -> Self {
        ComputeError::Dense(e)
    }
}
impl From<SparseError> for ComputeError {
    fn from(e: SparseError) -> Self {
        ComputeError::Sparse(e)
    }
}
impl From<ConvError> for ComputeError {
    fn from(e: ConvError) -> Self {
        ComputeError::Conv(e)
    }
}

/// Counters of what the stage did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComputeStats {
    /// Rows computed (through every step).
    pub rows: u64,
    /// Rows projected on the sparse path (SpMV per row).
    pub sparse_rows: u64,
    /// Rows projected on the dense path (GEMM).
    pub dense_rows: u64,
    /// PCA refreshes applied.
    pub pca_refreshes: u64,
    /// Times the compute stage reached a refresh's apply point before the refresh was done
    /// and waited for it (0 when refreshes keep up).
    pub pca_waits: u64,
    /// Rows through the filter bank.
    pub filter_rows: u64,
}

/// Two [`PROJ`] x [`WIDTH`] projection buffers (the one in use when a refresh starts, and the
/// one the refresh fills).
type ProjPair = (Box<[f64]>, Box<[f64]>);

/// One shard's state: statistics, projection, PCA rows and refresh bookkeeping.
#[derive(Debug)]
pub(crate) struct Shard {
    /// Per column: values folded into the statistics (blocks with a non-finite value in
    /// the column are left out), their mean and sum of squared deviations.
    count: Box<[f64]>,
    mean: Box<[f64]>,
    m2: Box<[f64]>,
    /// The block being gathered: sums of `x - reference` and of its square, over
    /// `block_rows` rows. `reference` is the running mean (the first row, before any).
    reference: Box<[f64]>,
    sum: Box<[f64]>,
    sum_sq: Box<[f64]>,
    block_rows: usize,
    /// Standardisation as `x * gain + shift` per column, from the folded blocks.
    gain: Box<[f64]>,
    shift: Box<[f64]>,
    /// `W` transposed: [`PROJ`] x [`WIDTH`], row-major. Always valid (dense copy).
    proj_t: Box<[f64]>,
    /// Two more [`PROJ`] x [`WIDTH`] buffers, lent to a refresh while one is in flight.
    spare: Option<ProjPair>,
    /// `W` transposed as CSR while it is the initial sparse projection.
    sparse: Option<Csr>,
    path: Path,
    /// The most recent rows (ring: row `seen % PCA_ROWS` is the next one), written only in
    /// the [`PCA_ROWS`] rows before a refresh point; lent to the refresh while it runs.
    recent: Option<OwnedPoolGuard<Matrix>>,
    seen: u64,
    /// Row count at which the refresh in flight is applied.
    apply_at: Option<u64>,
    /// The finished refresh, waiting for its apply point.
    ready: Option<PcaJob>,
    /// Where this shard's threaded refreshes come back (kept with the shard, so the stage
    /// holding it when a refresh is due takes it).
    pca_done: Option<Consumer<PcaJob>>,
}

/// A shard's whole state, lent by one stage to another (see [`ComputeStage::lend_shard`]).
pub(crate) type ShardState = Box<Shard>;

/// The refresh service of a [`ComputeStage::sharing`] set and, for a threaded one, the
/// per-shard rings its results come back on.
pub(crate) struct SharedPca {
    service: PcaService,
    results: Vec<Consumer<PcaJob>>,
    /// The shards' row windows, made with the service when its worker faults them in
    /// (see [`threaded_windows`]); `None`: the first stage makes its own.
    windows: Option<Arc<Pool<Matrix>>>,
}

/// The compute stage. All state is allocated at construction.
pub struct ComputeStage {
    kernels: Kernels,
    config: ComputeConfig,
    /// Indexed by shard number; `None` for shards another stage holds.
    shards: Box<[Option<ShardState>]>,
    readout: [f64; PROJ],
    bank: [f64; 2 * FILTER_TAPS],
    /// The filter bank's output: the decimated low and high bands.
    filter_out: Box<[f64]>,
    sparse_cost: sparse::CostModel,
    /// Batch scratch (the projection `Y`); reset per batch.
    arena: Arena,
    /// Where refreshes run.
    pca: PcaService,
    matrices: Arc<Pool<Matrix>>,
    stats: ComputeStats,
}

impl ComputeStats {
    /// Sums two stages' counters (several compute workers, one report).
    pub fn merge(&self, other: &Self) -> Self {
        Self {
            rows: self.rows + other.rows,
            sparse_rows: self.sparse_rows + other.sparse_rows,
            dense_rows: self.dense_rows + other.dense_rows,
            pca_refreshes: self.pca_refreshes + other.pca_refreshes,
            pca_waits: self.pca_waits + other.pca_waits,
            filter_rows: self.filter_rows + other.filter_rows,
        }
    }
}

impl fmt::Debug for ComputeStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComputeStage")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Stored cost constants of the sparse/dense decision (measured with
/// `sparse::CostModel::calibrate` on the 2-core AVX2 EPYC this project is measured on; the
/// dense GEMM figure is faer's ~40 GFLOP/s). Stored, not calibrated per run, so the path (and
/// with it the bits of the signals) does not depend on timing.
const SPARSE_COST: sparse::CostModel = sparse::CostModel {
    spmv_ns_per_nnz: 1.0,
    spmv_ns_per_row: 2.0,
    dense_matvec_ns_per_madd: 0.12,
    spmm_ns_per_madd: 0.25,
    dense_gemm_ns_per_madd: 0.05,
    spgemm_ns_per_product: 3.0,
};

impl ComputeStage {
    /// A stage holding every shard, for [`WIDTH`]-wide rows in batches of at most
    /// `batch_rows` rows, computing PCA refreshes inline.
    ///
    /// # Errors
    /// [`ComputeError::Config`] for zero shards or batch rows, [`ComputeError::Alloc`] if the
    /// PCA matrices (8 MiB per shard) cannot be allocated.
    pub fn new(
        config: ComputeConfig,
        kernels: Kernels,
        batch_rows: usize,
    ) -> Result<Self, ComputeError> {
        Self::for_shards(config, kernels, batch_rows, |_| true)
    }

    /// A stage holding only the shards `owns` accepts (one compute worker's share), with
    /// inline PCA refreshes. A shard's state is seeded from the seed and its index alone, so
    /// it is the same whichever stage holds it.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn for_shards(
        config: ComputeConfig,
        kernels: Kernels,
        batch_rows: usize,
        owns: impl Fn(usize) -> bool,
    ) -> Result<Self, ComputeError> {
        let core = PcaCore::new(pca_params(&config), config.pca_every > 0)?;
        Self::build(
            config,
            kernels,
            batch_rows,
            owns,
            (PcaService::Inline(Box::new(core)), Vec::new()),
            None,
        )
    }

    /// As [`for_shards`](Self::for_shards), with PCA refreshes on the returned
    /// [`PcaWorker`]: run [`PcaWorker::run`] on a thread of its own (the stage waits for a
    /// refresh that reaches its apply point unfinished, so a worker that never runs stalls
    /// the stage at its first refresh). The signals are the same as with inline refreshes.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn for_shards_threaded(
        config: ComputeConfig,
        kernels: Kernels,
        batch_rows: usize,
        owns: impl Fn(usize) -> bool,
        wait: WaitStrategy,
    ) -> Result<(Self, PcaWorker), ComputeError> {
        let (service, worker, results) =
            PcaService::threaded(pca_params(&config), config.shards, wait)?;
        Ok((
            Self::build(config, kernels, batch_rows, owns, (service, results), None)?,
            worker,
        ))
    }

    /// Stages that share the shards by lending them to each other: the first holds every
    /// shard, the `helpers` others none (they compute the shards lent to them, see
    /// [`lend_shard`](Self::lend_shard)). With `pca_wait`, every refresh runs on the one
    /// returned [`PcaWorker`]; without, each stage computes the refreshes it meets inline.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub(crate) fn sharing(
        config: ComputeConfig,
        kernels: Kernels,
        batch_rows: usize,
        helpers: usize,
        pca: SharedPca,
    ) -> Result<Vec<Self>, ComputeError> {
        let params = pca_params(&config);
        let SharedPca {
            service,
            results,
            windows,
        } = pca;
        let mut stages = Vec::with_capacity(helpers + 1);
        for _ in 0..helpers {
            let pca = service.share(params)?;
            stages.push(Self::build(
                config,
                kernels,
                batch_rows,
                |_| false,
                (pca, Vec::new()),
                None,
            )?);
        }
        let main = Self::build(
            config,
            kernels,
            batch_rows,
            |_| true,
            (service, results),
            windows,
        )?;
        stages.insert(0, main);
        Ok(stages)
    }

    /// The refresh service for a [`sharing`](Self::sharing) set, made before its stages so
    /// that the returned [`PcaWorker`] (with `pca_wait`) can start its warm-up on its thread
    /// while the stages are built. Without `pca_wait`, each stage computes the refreshes it
    /// meets inline and there is no worker.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub(crate) fn sharing_pca(
        config: &ComputeConfig,
        pca_wait: Option<WaitStrategy>,
    ) -> Result<(SharedPca, Option<PcaWorker>), ComputeError> {
        let params = pca_params(config);
        Ok(match pca_wait {
            Some(wait) => {
                let (service, mut worker, results) =
                    PcaService::threaded(params, config.shards, wait)?;
                let windows = if config.pca_every > 0 {
                    Some(threaded_windows(config.shards, &mut worker)?)
                } else {
                    None
                };
                (
                    SharedPca {
                        service,
                        results,
                        windows,
                    },
                    Some(worker),
                )
            }
            None => (
                SharedPca {
                    service: PcaService::Inline(Box::new(PcaCore::new(
                        params,
                        config.pca_every > 0,
                    )?)),
                    results: Vec::new(),
                    windows: None,
                },
                None,
            ),
        })
    }

    /// Whether this stage holds shard `shard` now.
    pub(crate) fn holds(&self, shard: usize) -> bool {
        self.shards.get(shard).is_some_and(Option::is_some)
    }

    /// Takes shard `shard`'s state out of this stage (to compute it on another stage of the
    /// same [`sharing`](Self::sharing) set): `None` if this stage does not hold it. Its
    /// signals are the same whichever stage computes each of its rows, as long as its rows
    /// are computed in order.
    pub(crate) fn lend_shard(&mut self, shard: usize) -> Option<ShardState> {
        self.shards.get_mut(shard)?.take()
    }

    /// Puts a lent shard state back (or into the stage that computes it next).
    ///
    /// # Errors
    /// [`ComputeError::Config`] if `shard` is out of range or already held here.
    pub(crate) fn hold_shard(
        &mut self,
        shard: usize,
        state: ShardState,
    ) -> Result<(), ComputeError> {
        match self.shards.get_mut(shard) {
            Some(slot @ None) => {
                *slot = Some(state);
                Ok(())
            }
            _ => Err(ComputeError::Config("a shard lent to a stage that has it")),
        }
    }

    fn build(
        config: ComputeConfig,
        kernels: Kernels,
        batch_rows: usize,
        owns: impl Fn(usize) -> bool,
        (pca, pca_results): (PcaService, Vec<Consumer<PcaJob>>),
        windows: Option<Arc<Pool<Matrix>>>,
    ) -> Result<Self, ComputeError> {
        let mut pca_results: Vec<_> = pca_results.into_iter().map(Some).collect();
        config.validate()?;
        if batch_rows == 0 {
            return Err(ComputeError::Config(
                "compute shards and batch rows must be at least 1",
            ));
        }
        let owned = (0..config.shards).filter(|&i| owns(i)).count();
        // With refreshes off no shard keeps its recent rows: no 8 MiB matrix per shard.
        let pca_on = config.pca_every > 0;
        let matrices = match windows {
            Some(w) => w,
            // Zeroed and so resident from here on (`try_zeroed` writes every page): the
            // resident set does not grow in steady state.
            None => window_pool(if pca_on { owned } else { 0 }, || {
                Matrix::try_zeroed(PCA_ROWS, WIDTH)
            })?,
        };
        let mut shards = Vec::with_capacity(config.shards);
        for i in 0..config.shards {
            if !owns(i) {
                shards.push(None);
                continue;
            }
            let mut rng =
                Rng::new(config.seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let sparse = sparse_projection(&mut rng)?;
            let mut proj_t = vec![0.0; PROJ * WIDTH].into_boxed_slice();
            sparse.to_dense_into(&mut proj_t)?;
            let recent = if pca_on {
                Some(
                    matrices
                        .acquire_owned()
                        .map_err(|e| ComputeError::Alloc(e.to_string()))?,
                )
            } else {
                None
            };
            let spare = (proj_t.clone(), proj_t.clone());
            let path = SPARSE_COST
                .choose_matmul(PROJ, WIDTH, sparse.nnz(), batch_rows)
                .path;
            let zeros = || vec![0.0; WIDTH].into_boxed_slice();
            let pca_done = pca_results.get_mut(i).and_then(Option::take);
            shards.push(Some(Box::new(Shard {
                count: zeros(),
                mean: zeros(),
                m2: zeros(),
                reference: zeros(),
                sum: zeros(),
                sum_sq: zeros(),
                block_rows: 0,
                gain: vec![0.0; WIDTH].into_boxed_slice(),
                shift: vec![0.0; WIDTH].into_boxed_slice(),
                proj_t,
                spare: Some(spare),
                sparse: Some(sparse),
                path,
                recent,
                seen: 0,
                apply_at: None,
                ready: None,
                pca_done,
            })));
        }
        let mut rng = Rng::new(config.seed);
        let mut readout = [0.0; PROJ];
        let norm = 1.0 / (PROJ as f64).sqrt();
        for w in &mut readout {
            *w = rng.normal_pair().0 * norm;
        }
        let batch_bytes = batch_rows * PROJ * 8 + 4096;
        let bank = filter_bank();
        let filter_out = vec![0.0; RET_WINDOW].into_boxed_slice();
        let mut arena =
            Arena::try_new(batch_bytes).map_err(|e| ComputeError::Alloc(e.to_string()))?;
        arena.prefault();
        Ok(Self {
            kernels,
            config,
            shards: shards.into_boxed_slice(),
            readout,
            bank,
            filter_out,
            sparse_cost: SPARSE_COST,
            arena,
            pca,
            matrices,
            stats: ComputeStats::default(),
        })
    }

    /// Sizes the calling thread's GEMM packing buffers (faer keeps them per thread) for the
    /// largest product this stage runs on it, an inline PCA refresh, by running one refresh
    /// on made-up rows: call once on the thread that will call [`process`](Self::process),
    /// before steady state. A few ms; nothing when refreshes run on a [`PcaWorker`] (which
    /// warms its own thread) or are off.
    ///
    /// # Errors
    /// The warm-up refresh failed (its scratch arena is too small: a bug).
    pub fn warm_up_thread(&mut self) -> Result<(), ComputeError> {
        match &mut self.pca {
            PcaService::Inline(core) if self.config.pca_every > 0 => core.warm_up(),
            _ => Ok(()),
        }
    }

    /// The shard of `symbol` by its index, as the pipeline routes the symbols of a feed
    /// without partitions (a feed of several partitions is routed by partition, see
    /// `Feed::partitions`).
    #[inline]
    pub fn shard_of(&self, symbol: u32) -> usize {
        symbol as usize % self.shards.len()
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// What the stage did so far.
    pub fn stats(&self) -> ComputeStats {
        self.stats
    }

    /// The pool the PCA matrices come from.
    pub fn matrix_pool(&self) -> &Pool<Matrix> {
        &self.matrices
    }

    /// The projection path shard `shard` uses now (`None` if this stage does not hold it).
    pub fn projection_path(&self, shard: usize) -> Option<Path> {
        self.shard(shard).ok().map(|s| s.path)
    }

    /// Rows seen so far by shard `shard` (0 if this stage does not hold it).
    pub fn rows_seen(&self, shard: usize) -> u64 {
        self.shard(shard).map_or(0, |s| s.seen)
    }

    fn shard(&self, shard: usize) -> Result<&Shard, ComputeError> {
        self.shards
            .get(shard)
            .and_then(Option::as_deref)
            .ok_or(ComputeError::Config("shard not held by this compute stage"))
    }

    fn shard_mut(
        shards: &mut [Option<ShardState>],
        shard: usize,
    ) -> Result<&mut Shard, ComputeError> {
        shards
            .get_mut(shard)
            .and_then(Option::as_deref_mut)
            .ok_or(ComputeError::Config("shard not held by this compute stage"))
    }

    /// Runs the steps of [`ComputeConfig::steps`] (every step by default) on the filled rows
    /// of `batch` (all of shard `shard`), in place, and writes one signal per row into
    /// `signals[..batch.len_rows()]` (unless the read-out is off).
    ///
    /// # Errors
    /// [`ComputeError`] if the batch is not [`WIDTH`] wide, `signals` is too short, or
    /// `shard` is out of range.
    pub fn process(
        &mut self,
        shard: usize,
        batch: &mut Batch,
        signals: &mut [f64],
    ) -> Result<(), ComputeError> {
        let rows = batch.len_rows();
        if batch.width() != WIDTH || batch.stride() != WIDTH {
            return Err(ComputeError::Config(
                "batches must be WIDTH wide and unpadded",
            ));
        }
        let steps = self.config.steps;
        for i in 0..rows {
            let row = batch.row_mut(i);
            if steps.normalise {
                self.normalize_row(shard, row)?;
            }
            if steps.filter_bank {
                self.filter_row(row)?;
            }
            if steps.squash {
                self.squash_row(row);
            }
        }
        if steps.read_out {
            self.project_and_read_out(shard, batch.as_capacity_strided(), rows, signals)?;
        }
        self.stats.rows += rows as u64;
        Ok(())
    }

    /// Step 1: standardises the row in place with shard `shard`'s statistics (every earlier
    /// block of [`NORM_BLOCK`] rows; population standard deviation; a column with no values
    /// or zero variance gives 0), and adds the raw row to the current block's shifted sums
    /// in the same pass, folding the block into the statistics when it is full. A row's
    /// output depends only on the shard's rows before it, never on where batches were cut.
    ///
    /// Per row that is one pass of a subtraction, an add and two multiply-adds per value; per
    /// block, one division and square root per column (Chan's update): no 32-row fold of
    /// raw rows on the hot path, and no copy of the row.
    ///
    /// # Errors
    /// [`ComputeError`] if `row` is not [`WIDTH`] long or this stage does not hold `shard`.
    pub fn normalize_row(&mut self, shard: usize, row: &mut [f64]) -> Result<(), ComputeError> {
        let k = self.kernels;
        let s = Self::shard_mut(&mut self.shards, shard)?;
        if row.len() != WIDTH {
            return Err(ComputeError::Kernel(KernelError::LengthMismatch {
                expected: WIDTH,
                got: row.len(),
            }));
        }
        if s.block_rows == 0 && s.count.iter().all(|&n| n == 0.0) {
            // The shard's first block has no mean to shift by yet: its first row is as good.
            s.reference.copy_from_slice(row);
        }
        k.standardize_accumulate(
            row,
            &s.gain,
            &s.shift,
            &s.reference,
            &mut s.sum,
            &mut s.sum_sq,
        )?;
        s.block_rows += 1;
        if s.block_rows == NORM_BLOCK {
            fold_block(s);
        }
        Ok(())
    }

    /// Step 2: the two-band filter bank over the return window, decimated by 2 and written
    /// back: `0..256` low band, `256..512` high band (only the kept outputs are computed).
    ///
    /// # Errors
    /// [`ComputeError`] if `row` is shorter than the return window.
    pub fn filter_row(&mut self, row: &mut [f64]) -> Result<(), ComputeError> {
        if row.len() < RET_WINDOW {
            return Err(ComputeError::Kernel(KernelError::LengthMismatch {
                expected: RET_WINDOW,
                got: row.len(),
            }));
        }
        self.kernels.filter_bank_decimate2_into(
            &row[..RET_WINDOW],
            &self.bank,
            FILTER_TAPS,
            Mode::Same,
            &mut self.filter_out,
        )?;
        self.stats.filter_rows += 1;
        copy(&self.kernels, &mut row[..RET_WINDOW], &self.filter_out)
    }

    /// Step 3: SIMD `tanh` squashing and scaling, in place. The squash is
    /// [`Kernels::tanh_rational_in_place`] (relative error at most 4.5e-15, one division per
    /// vector): faster than the `expm1`-based `tanh_fast` it replaced (1.3e-12) and 300x
    /// closer to `tanh`; or, with [`Steps::squash_f32`] (a spec's `squash = "f32"`),
    /// [`Kernels::tanh_f32_in_place`] (1.2e-6, its rational function in `f32`, 16 values
    /// per AVX-512 vector). Both give the same bits on the AVX2 and AVX-512 tiers.
    pub fn squash_row(&self, row: &mut [f64]) {
        if self.config.steps.squash_f32 {
            self.kernels.tanh_f32_in_place(row);
        } else {
            self.kernels.tanh_rational_in_place(row);
        }
        // `x * 1.0` is `x`: the default scale costs no pass.
        if self.config.scale != 1.0 {
            self.kernels.scale_in_place(row, self.config.scale);
        }
    }

    /// Steps 4-6 on the first `n` squashed rows of shard `shard` in `rows` (row-major,
    /// [`WIDTH`] each, `rows.len() / WIDTH` rows in all: pass the batch's whole capacity):
    /// projection (sparse or dense, with a PCA refresh wherever the shard's row count reaches
    /// a refresh point) and the read-out into `signals[..n]`. A row's projection depends on
    /// that row alone, so a signal does not depend on the batch cut. The projection goes to
    /// arena scratch reset per call.
    ///
    /// # Errors
    /// [`ComputeError`] on bad lengths or a shard this stage does not hold.
    pub fn project_and_read_out(
        &mut self,
        shard: usize,
        rows: &[f64],
        n: usize,
        signals: &mut [f64],
    ) -> Result<(), ComputeError> {
        let cap = rows.len() / WIDTH;
        if !rows.len().is_multiple_of(WIDTH) || n > cap || signals.len() < n {
            return Err(ComputeError::Kernel(KernelError::LengthMismatch {
                expected: n * WIDTH,
                got: rows.len(),
            }));
        }
        Self::shard_mut(&mut self.shards, shard)?;
        self.arena.reset();
        // Room for the rows the batch holds, not its capacity: batches form under load, so
        // most hold one or two rows, and zeroing all 32 (32 KiB) per batch evicted most of
        // D1 (cachegrind: ~0.4 write misses per tick, and the EMA fold's reads after it).
        let y = self
            .arena
            .try_alloc_zeroed::<f64>(n * PROJ)
            .map_err(|e| ComputeError::Alloc(e.to_string()))?;
        let k = self.kernels;
        let every = self.config.pca_every;
        let delay = self.config.pca_publish_delay_rows;
        let mut start = 0;
        for i in 0..n {
            let s = Self::shard_mut(&mut self.shards, shard)?;
            let next = s.seen + 1;
            // Only the last PCA_ROWS rows before a refresh point are read by the refresh.
            if every > 0 && (next % every == 0 || next % every > every - PCA_ROWS as u64) {
                let slot = (s.seen % PCA_ROWS as u64) as usize;
                let recent = s.recent.as_mut().ok_or(ComputeError::Config(
                    "the PCA matrix is still lent to a refresh (publish delay too long)",
                ))?;
                copy(&k, recent.row_mut(slot), &rows[i * WIDTH..(i + 1) * WIDTH])?;
            }
            s.seen = next;
            if every > 0 && next >= PCA_ROWS as u64 && next.is_multiple_of(every) {
                submit(s, shard, &mut self.pca)?;
                s.apply_at = Some(next + delay);
            }
            if s.apply_at == Some(next) {
                project(&k, s, rows, start..i, y, &mut self.stats)?;
                read_out(&k, &self.readout, y, start..i, signals)?;
                start = i;
                apply_refresh(
                    &mut self.shards,
                    &mut self.pca,
                    &mut self.stats,
                    &self.sparse_cost,
                    shard,
                    cap,
                )?;
            }
        }
        if start < n {
            let s = Self::shard_mut(&mut self.shards, shard)?;
            project(&k, s, rows, start..n, y, &mut self.stats)?;
            read_out(&k, &self.readout, y, start..n, signals)?;
        }
        Ok(())
    }
}

/// Folds the shard's full block into its statistics (Chan et al.'s pairwise update from the
/// block's shifted sums), recomputes the standardisation, re-centres the shift reference on
/// the new mean and starts an empty block. A column whose block sums are not finite keeps
/// its statistics (the block is left out of that column).
fn fold_block(s: &mut Shard) {
    let b = s.block_rows as f64;
    let columns = s
        .count
        .iter_mut()
        .zip(s.mean.iter_mut())
        .zip(s.m2.iter_mut())
        .zip(s.reference.iter_mut())
        .zip(s.sum.iter_mut().zip(s.sum_sq.iter_mut()))
        .zip(s.gain.iter_mut().zip(s.shift.iter_mut()));
    for (((((n, mean), m2), reference), (s1, s2)), (gain, shift)) in columns {
        let (t1, t2) = (*s1, *s2);
        (*s1, *s2) = (0.0, 0.0);
        if !(t1.is_finite() && t2.is_finite()) {
            continue;
        }
        let block_mean = *reference + t1 / b;
        let block_m2 = (t2 - t1 * (t1 / b)).max(0.0);
        let total = *n + b;
        let delta = block_mean - *mean;
        *mean += delta * (b / total);
        *m2 += block_m2 + delta * delta * (*n * b / total);
        *n = total;
        *reference = *mean;
        (*gain, *shift) = if *m2 > 0.0 {
            let inv = 1.0 / (*m2 / total).sqrt();
            (inv, -*mean * inv)
        } else {
            (0.0, 0.0)
        };
    }
    s.block_rows = 0;
}

/// A pool of `n` PCA row windows (`PCA_ROWS x WIDTH`, 8 MiB each) made by `make`.
fn window_pool(
    n: usize,
    make: impl Fn() -> Result<Matrix, zerotick_mem::AllocError> + Send + Sync + 'static,
) -> Result<Arc<Pool<Matrix>>, ComputeError> {
    Pool::try_new(n, MissPolicy::FailFast, ResetPolicy::Keep, make)
        .map(Arc::new)
        .map_err(|e| ComputeError::Alloc(e.to_string()))
}

/// The row windows of a run's `shards` shards when a PCA thread (`worker`) serves them:
/// mapped with 4 KiB pages and faulted in by the PCA thread during its warm-up, before it
/// counts itself ready, so neither the feature thread's start-up nor the hot path pays for
/// them. Huge pages were the wrong choice here: a window is written a row (8 KiB) at a time
/// and read once per refresh, so it gains nothing from them in steady state, and on the
/// Firecracker VMs, whose host takes freed memory back, 32 MiB of fresh huge pages took
/// 75-120 ms to fault in against 11-16 ms of 4 KiB pages (AMD EPYC Zen 4, 2026-12-02),
/// most of a short run's start-up. Where the kernel cannot fault pages in for another
/// thread ([`zerotick_mem::can_populate`]), the windows are huge and faulted in here, as
/// before.
fn threaded_windows(
    shards: usize,
    worker: &mut pca::PcaWorker,
) -> Result<Arc<Pool<Matrix>>, ComputeError> {
    if !zerotick_mem::can_populate() {
        return window_pool(shards, || Matrix::try_zeroed(PCA_ROWS, WIDTH));
    }
    let pool = window_pool(shards, || {
        Matrix::try_zeroed_unfaulted_with(PCA_ROWS, WIDTH, Pages::Base)
    })?;
    // Every window held at once (a guard dropped at once would hand the same one back).
    let held = (0..shards)
        .map(|_| pool.acquire_owned())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ComputeError::Alloc(e.to_string()))?;
    let spans = held.iter().map(|m| m.page_span()).collect();
    drop(held);
    worker.populate_at_warm_up(spans, Arc::clone(&pool));
    Ok(pool)
}

/// Waits (if need be) for shard `shard`'s refresh and makes its result the projection.
fn apply_refresh(
    shards: &mut [Option<ShardState>],
    pca: &mut PcaService,
    stats: &mut ComputeStats,
    cost: &sparse::CostModel,
    shard: usize,
    batch_rows: usize,
) -> Result<(), ComputeError> {
    let s = ComputeStage::shard_mut(shards, shard)?;
    if s.ready.is_none() {
        let results = s.pca_done.as_mut().ok_or(ComputeError::Config(
            "a PCA refresh is due but none was submitted",
        ))?;
        let job = pca.collect(results, stats)?;
        if job.shard != shard {
            return Err(ComputeError::Config(
                "a PCA result for a shard not held here",
            ));
        }
        s.ready = Some(job);
    }
    let s = ComputeStage::shard_mut(shards, shard)?;
    let Some(mut job) = s.ready.take() else {
        unreachable!("waited for above")
    };
    s.apply_at = None;
    if let Some(e) = job.failed.take() {
        return Err(e);
    }
    core::mem::swap(&mut s.proj_t, &mut job.new_t);
    s.spare = Some((job.old_t, job.new_t));
    s.recent = Some(job.matrix);
    s.sparse = None;
    s.path = cost
        .choose_matmul(PROJ, WIDTH, PROJ * WIDTH, batch_rows)
        .path;
    stats.pca_refreshes += 1;
    Ok(())
}

/// The randomized SVD parameters of a stage.
fn pca_params(config: &ComputeConfig) -> RsvdParams {
    RsvdParams {
        k: PROJ,
        oversample: 8,
        power_iters: config.pca_power_iters,
        seed: config.seed,
    }
}

/// Hands shard `index`'s recent rows to a refresh (inline: computed now, kept until its
/// apply point).
fn submit(s: &mut Shard, index: usize, pca: &mut PcaService) -> Result<(), ComputeError> {
    let (Some(matrix), Some((mut old_t, new_t))) = (s.recent.take(), s.spare.take()) else {
        return Err(ComputeError::Config(
            "a PCA refresh is still in flight (publish delay too long)",
        ));
    };
    old_t.copy_from_slice(&s.proj_t);
    let job = PcaJob {
        shard: index,
        seed: s.seen,
        matrix,
        old_t,
        new_t,
        failed: None,
    };
    if let Some(done) = pca.submit(job)? {
        s.ready = Some(done);
    }
    Ok(())
}

/// `signals[i] = y_i . readout` for `i` in `range`.
fn read_out(
    k: &Kernels,
    readout: &[f64; PROJ],
    y: &[f64],
    range: core::ops::Range<usize>,
    signals: &mut [f64],
) -> Result<(), ComputeError> {
    for i in range {
        signals[i] = k.dot(&y[i * PROJ..(i + 1) * PROJ], readout)?;
    }
    Ok(())
}

/// `dst = src` through the SIMD kernels (`x * 1.0` is exact), not `memcpy`: glibc's
/// `rep movsb` path for 8 KiB costs several microseconds on the virtual CPUs this is
/// measured on, more than the rest of the normalisation step.
#[inline]
fn copy(k: &Kernels, dst: &mut [f64], src: &[f64]) -> Result<(), ComputeError> {
    Ok(k.scale_into(dst, src, 1.0)?)
}

/// `Y = X W` for the rows `range` of `x` ([`WIDTH`] each) into `y` ([`PROJ`] each).
///
/// The dense path gives every output a SIMD dot product's bits (`y_ip = x_i . w_p`,
/// [`Kernels::dots_into`]), not faer's GEMM:
/// faer picks its blocking and kernels from the shape, so a row's bits would depend on how
/// many rows its batch holds, and batches are cut by time. Run at a fixed shape (the batch
/// capacity) faer made every partial batch cost a full 32-row product: 45-55 us per batch
/// of 1.3 rows on average at 200 us batch ages (`zerotick run`, 2-core EPYC). The dot form
/// costs per row and gives a row the same bits in any batch.
fn project(
    k: &Kernels,
    s: &mut Shard,
    x: &[f64],
    range: core::ops::Range<usize>,
    y: &mut [f64],
    stats: &mut ComputeStats,
) -> Result<(), ComputeError> {
    let rows = range.len() as u64;
    match &s.sparse {
        Some(csr) if s.path == Path::Sparse => {
            for i in range {
                let xi = &x[i * WIDTH..(i + 1) * WIDTH];
                let yi = &mut y[i * PROJ..(i + 1) * PROJ];
                // The fixed-order kernel: a run's signals are the same on the AVX2 and
                // AVX-512 tiers (the gather kernels sum in 8 or 16 lanes by tier).
                csr.spmv_into_fixed_order(k, 1.0, xi, 0.0, yi)?;
            }
            stats.sparse_rows += rows;
        }
        _ => {
            // Every entry is `dot(x_i, w_p)`'s bits; the 16 vectors (128 KiB) are read once
            // per two rows instead of once per row.
            k.dots_into(
                &x[range.start * WIDTH..range.end * WIDTH],
                &s.proj_t,
                WIDTH,
                &mut y[range.start * PROJ..range.end * PROJ],
            )?;
            stats.dense_rows += rows;
        }
    }
    Ok(())
}

/// The initial projection: a very sparse random projection (Li, Hastie & Church 2006), one
/// entry in `sqrt(WIDTH)` nonzero, `±sqrt(sqrt(WIDTH) / PROJ)`.
fn sparse_projection(rng: &mut Rng) -> Result<Csr, ComputeError> {
    let s = (WIDTH as f64).sqrt();
    let v = (s / PROJ as f64).sqrt();
    let mut triplets = Vec::new();
    for r in 0..PROJ {
        for c in 0..WIDTH {
            let u = rng.next_f64();
            if u < 1.0 / s {
                let sign = if u < 0.5 / s { -1.0 } else { 1.0 };
                triplets.push((r, c, sign * v));
            }
        }
    }
    Ok(Csr::try_from_triplets(PROJ, WIDTH, &triplets)?)
}

/// The two 16-tap filters: a unit-gain Hann low-pass, and its `(-1)^j` modulation (the
/// mirror-image high-pass).
fn filter_bank() -> [f64; 2 * FILTER_TAPS] {
    let mut bank = [0.0; 2 * FILTER_TAPS];
    let (low, high) = bank.split_at_mut(FILTER_TAPS);
    let step = 2.0 * core::f64::consts::PI / (FILTER_TAPS as f64 + 1.0);
    for (j, w) in low.iter_mut().enumerate() {
        *w = 0.5 - 0.5 * (step * (j as f64 + 1.0)).cos();
    }
    let sum: f64 = low.iter().sum();
    for (j, (l, h)) in low.iter_mut().zip(high.iter_mut()).enumerate() {
        *l /= sum;
        *h = if j % 2 == 0 { *l } else { -*l };
    }
    bank
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(config: ComputeConfig, rows: usize) -> ComputeStage {
        ComputeStage::new(config, Kernels::active(), rows).unwrap()
    }

    #[test]
    fn with_refreshes_off_no_pca_matrix_is_built_and_rows_still_project() {
        let off = ComputeConfig {
            pca_every: 0,
            ..ComputeConfig::default()
        };
        let mut st = stage(off, 4);
        assert_eq!(st.matrix_pool().capacity(), 0, "no 8 MiB matrix per shard");
        let on = stage(ComputeConfig::default(), 4);
        assert_eq!(on.matrix_pool().capacity(), ComputeConfig::default().shards);
        let mut rng = Rng::new(11);
        let rows: Vec<f64> = (0..4 * WIDTH).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
        let mut signals = [0.0; 4];
        for _ in 0..3 {
            st.project_and_read_out(0, &rows, 4, &mut signals).unwrap();
        }
        assert!(signals.iter().all(|v| v.is_finite() && *v != 0.0));
        assert_eq!(st.stats().pca_refreshes, 0);
    }

    /// With a PCA thread, every shard's window is its own and all of them are resident
    /// once the worker's warm-up returns (the feed starts only then): none faults in on the
    /// hot path, and the resident set does not grow after warm-up.
    #[test]
    fn the_pca_workers_warm_up_faults_every_shards_own_window_in() {
        let config = ComputeConfig::default();
        let (shared, worker) = ComputeStage::sharing_pca(&config, Some(WaitStrategy::default()))
            .expect("threaded PCA");
        let mut worker = worker.expect("a worker with pca_wait");
        let stages =
            ComputeStage::sharing(config, Kernels::active(), 4, 1, shared).expect("stages");
        assert_eq!(stages[0].matrix_pool().capacity(), config.shards);
        let spans: Vec<_> = stages[0]
            .shards
            .iter()
            .map(|s| {
                s.as_ref()
                    .and_then(|s| s.recent.as_ref())
                    .expect("a window")
                    .page_span()
            })
            .collect();
        for (i, span) in spans.iter().enumerate() {
            assert!(
                !spans[..i].contains(span),
                "one window per shard: {spans:?}"
            );
        }
        worker.warm_up_thread().expect("warm-up");
        if zerotick_mem::can_populate() {
            for span in &spans {
                let (resident, pages) = span.resident_pages().expect("mincore");
                assert_eq!(resident, pages, "{span:?}");
            }
        }
    }

    #[test]
    fn normalisation_uses_the_two_pass_statistics_of_every_earlier_block() {
        // Columns far from zero with a small spread (cancellation-prone), a constant column,
        // and one that jumps between blocks; 3.5 blocks of rows.
        let mut st = stage(ComputeConfig::default(), 8);
        let mut rng = Rng::new(11);
        let rows: Vec<Vec<f64>> = (0..NORM_BLOCK * 7 / 2)
            .map(|r| {
                (0..WIDTH)
                    .map(|j| match j {
                        0 => 7.0,
                        1 => 1e3 * (r / NORM_BLOCK) as f64 + rng.next_f64(),
                        _ => 1e4 + j as f64 + rng.normal_pair().0 * 1e-2,
                    })
                    .collect()
            })
            .collect();
        for (r, raw) in rows.iter().enumerate() {
            let mut row = raw.clone();
            st.normalize_row(0, &mut row).unwrap();
            let done = r / NORM_BLOCK * NORM_BLOCK; // rows in the folded blocks
            for j in [0, 1, 2, 3, 500, WIDTH - 1] {
                let want = if done == 0 {
                    0.0
                } else {
                    let col = rows[..done].iter().map(|x| x[j]);
                    let mean = col.clone().sum::<f64>() / done as f64;
                    let var = col.map(|v| (v - mean) * (v - mean)).sum::<f64>() / done as f64;
                    if var > 0.0 {
                        (raw[j] - mean) / var.sqrt()
                    } else {
                        0.0
                    }
                };
                let got = row[j];
                assert!(
                    (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                    "row {r} column {j}: {got} vs two-pass {want}"
                );
            }
        }
    }

    #[test]
    fn filter_bank_matches_a_plain_convolution() {
        let mut s = stage(ComputeConfig::default(), 4);
        let mut row: Vec<f64> = (0..WIDTH)
            .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
            .collect();
        let original = row.clone();
        s.filter_row(&mut row).unwrap();
        let bank = filter_bank();
        // numpy "same": output j is full-convolution index j + (taps - 1) / 2.
        let full = |h: &[f64], j: usize| -> f64 {
            (0..FILTER_TAPS)
                .filter(|&t| j >= t && j - t < RET_WINDOW)
                .map(|t| h[t] * original[j - t])
                .sum()
        };
        let off = (FILTER_TAPS - 1) / 2;
        for j in 0..RET_WINDOW / 2 {
            let low = full(&bank[..FILTER_TAPS], 2 * j + off);
            let high = full(&bank[FILTER_TAPS..], 2 * j + off);
            assert!((row[j] - low).abs() < 1e-12, "low {j}: {} vs {low}", row[j]);
            assert!((row[RET_WINDOW / 2 + j] - high).abs() < 1e-12, "high {j}");
        }
        assert_eq!(
            row[RET_WINDOW..],
            original[RET_WINDOW..],
            "other columns untouched"
        );
        // Unit DC gain low, zero DC gain high.
        let (low, high) = bank.split_at(FILTER_TAPS);
        assert!((low.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(high.iter().sum::<f64>().abs() < 1e-12);
    }

    #[test]
    fn sparse_and_dense_projections_agree() {
        let mut s = stage(ComputeConfig::default(), 8);
        let x: Vec<f64> = (0..8 * WIDTH)
            .map(|i| ((i * 13) % 29) as f64 / 29.0 - 0.5)
            .collect();
        let mut y_sparse = vec![0.0; 8 * PROJ];
        let mut y_dense = vec![0.0; 8 * PROJ];
        let k = Kernels::active();
        let mut stats = ComputeStats::default();
        let shard = s.shards[0].as_mut().unwrap();
        assert_eq!(
            shard.path,
            Path::Sparse,
            "the initial projection is very sparse"
        );
        project(&k, shard, &x, 0..8, &mut y_sparse, &mut stats).unwrap();
        shard.path = Path::Dense;
        project(&k, shard, &x, 0..8, &mut y_dense, &mut stats).unwrap();
        for (a, b) in y_sparse.iter().zip(&y_dense) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        assert_eq!((stats.sparse_rows, stats.dense_rows), (8, 8));
    }

    #[test]
    fn pca_refresh_finds_the_dominant_direction() {
        // Rows along one fixed direction plus small noise: after a refresh, the first
        // component is that direction (up to the sign alignment), and the path is dense.
        let config = ComputeConfig {
            shards: 1,
            pca_every: 2 * PCA_ROWS as u64,
            pca_publish_delay_rows: 0,
            ..ComputeConfig::default()
        };
        let mut s = stage(config, 32);
        let dir: Vec<f64> = (0..WIDTH).map(|j| ((j % 7) as f64 - 3.0) / 10.0).collect();
        let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
        let mut rng = Rng::new(5);
        let mut rows = vec![0.0; 32 * WIDTH];
        let mut signals = [0.0; 32];
        for _ in 0..2 * PCA_ROWS / 32 {
            for row in rows.chunks_exact_mut(WIDTH) {
                let a = rng.normal_pair().0 * 3.0;
                for (v, d) in row.iter_mut().zip(&dir) {
                    *v = a * d + 1e-3 * rng.normal_pair().0;
                }
            }
            s.project_and_read_out(0, &rows, 32, &mut signals).unwrap();
        }
        assert_eq!(s.stats().pca_refreshes, 1);
        assert_eq!(s.projection_path(0), Some(Path::Dense));
        let shard = s.shards[0].as_ref().unwrap();
        let c0 = &shard.proj_t[..WIDTH];
        let cos = c0.iter().zip(&dir).map(|(a, b)| a * b).sum::<f64>() / norm;
        assert!(cos.abs() > 0.999, "cosine {cos}");
        assert!(signals.iter().all(|v| v.is_finite()));
    }
}
