//! [`PoolManager`]: the three typed pools of the pipeline (matrices, vectors, batches) built from
//! one [`PoolConfig`].

use std::sync::Arc;

use crate::aligned::AlignedBuf;
use crate::objects::{Batch, Matrix};
use crate::pool::{MissPolicy, Pool, PoolError, PoolStats, ResetPolicy, Reusable};

/// Sizes of the pools a [`PoolManager`] builds.
///
/// [`PoolConfig::default`] fits a laptop (about 90 MB); [`PoolConfig::seed`] is the origin
/// report's sizing (about 8.5 GB) and is allowed, but only where that memory exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Matrices built up front.
    pub matrices: usize,
    /// Rows of each matrix.
    pub matrix_rows: usize,
    /// Columns of each matrix.
    pub matrix_cols: usize,
    /// Vectors built up front.
    pub vectors: usize,
    /// Elements of each vector.
    pub vector_len: usize,
    /// Batches built up front.
    pub batches: usize,
    /// Rows of each batch.
    pub batch_rows: usize,
    /// Elements of each batch row.
    pub batch_width: usize,
    /// Extra objects each pool may build on a miss (a heap allocation each); 0 fails fast
    /// with [`PoolError::Exhausted`].
    pub growth_limit: usize,
    /// What happens to an object when it is returned.
    pub reset: ResetPolicy,
    /// Touch every page at construction so no page fault lands in the hot loop.
    pub prefault: bool,
}

impl PoolConfig {
    /// The origin report's sizing: 1,000 matrices of 1,024 x 1,024 `f64` (1,048,576 elements,
    /// 8 MiB each), 10,000 vectors of 1,024, 100 batches of 32 x 1,024. About 8.5 GB: build it
    /// only on a machine that has the memory.
    pub fn seed() -> Self {
        Self {
            matrices: 1_000,
            matrix_rows: 1_024,
            matrix_cols: 1_024,
            vectors: 10_000,
            vector_len: 1_024,
            batches: 100,
            batch_rows: 32,
            batch_width: 1_024,
            ..Self::default()
        }
    }

    /// Bytes of object storage this configuration builds up front (what
    /// [`PoolManager::footprint_bytes`] reports, less the pools' small slot arrays).
    pub fn storage_bytes(&self) -> usize {
        let f64s = self.matrices * self.matrix_rows * self.matrix_cols
            + self.vectors * self.vector_len
            + self.batches * self.batch_rows * self.batch_width.next_multiple_of(8);
        f64s * size_of::<f64>()
    }
}

impl Default for PoolConfig {
    /// 8 matrices of 1,024 x 1,024, 1,024 vectors of 1,024 and 64 batches of 32 x 1,024:
    /// about 90 MB, pre-faulted, failing fast on a miss, lengths cleared on return.
    fn default() -> Self {
        Self {
            matrices: 8,
            matrix_rows: 1_024,
            matrix_cols: 1_024,
            vectors: 1_024,
            vector_len: 1_024,
            batches: 64,
            batch_rows: 32,
            batch_width: 1_024,
            growth_limit: 0,
            reset: ResetPolicy::Clear,
            prefault: true,
        }
    }
}

/// Stats of every pool a [`PoolManager`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ManagerStats {
    /// The matrix pool.
    pub matrices: PoolStats,
    /// The vector pool.
    pub vectors: PoolStats,
    /// The batch pool.
    pub batches: PoolStats,
}

impl ManagerStats {
    /// The three pools' counters summed.
    pub fn total(&self) -> PoolStats {
        self.matrices.merge(&self.vectors).merge(&self.batches)
    }
}

/// The central pool manager: one pool each of matrices, vectors and batches, shared through
/// `Arc`s so guards can cross threads.
///
/// ```
/// use zerotick_mem::{PoolConfig, PoolManager};
///
/// let config = PoolConfig { matrices: 1, vectors: 4, batches: 2, prefault: false, ..PoolConfig::default() };
/// let pools = PoolManager::new(config)?;
/// let mut v = pools.vectors().acquire()?;
/// v.set_len(1024).unwrap();
/// v[0] = 1.0;
/// let batch = pools.batches().acquire_owned()?; // 'static: can go through a ring to another thread
/// assert_eq!(batch.width(), 1024);
/// assert!(pools.footprint_bytes() >= config.storage_bytes());
/// assert_eq!(pools.stats().total().in_use, 2);
/// # Ok::<(), zerotick_mem::PoolError>(())
/// ```
#[derive(Debug)]
pub struct PoolManager {
    config: PoolConfig,
    matrices: Arc<Pool<Matrix>>,
    vectors: Arc<Pool<AlignedBuf<f64>>>,
    batches: Arc<Pool<Batch>>,
}

impl PoolManager {
    /// Builds every pool, fully, as `config` says.
    ///
    /// # Errors
    /// [`PoolError::Alloc`] if memory runs out, [`PoolError::CapacityTooLarge`] for a count
    /// above [`Pool::MAX_CAPACITY`].
    pub fn new(config: PoolConfig) -> Result<Self, PoolError> {
        let c = config;
        let matrices = build(c.matrices, &c, move || {
            Matrix::try_zeroed(c.matrix_rows, c.matrix_cols)
        })?;
        let vectors = build(c.vectors, &c, move || {
            AlignedBuf::try_with_capacity(c.vector_len)
        })?;
        let batches = build(c.batches, &c, move || {
            Batch::try_zeroed(c.batch_rows, c.batch_width)
        })?;
        Ok(Self {
            config,
            matrices,
            vectors,
            batches,
        })
    }

    /// The configuration the pools were built from.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// The pool of `matrix_rows x matrix_cols` matrices.
    pub fn matrices(&self) -> &Arc<Pool<Matrix>> {
        &self.matrices
    }

    /// The pool of vectors of capacity `vector_len` (length 0 when handed out after a reset
    /// with `Clear` or `Zero`).
    pub fn vectors(&self) -> &Arc<Pool<AlignedBuf<f64>>> {
        &self.vectors
    }

    /// The pool of `batch_rows x batch_width` batches (empty when handed out).
    pub fn batches(&self) -> &Arc<Pool<Batch>> {
        &self.batches
    }

    /// Heap bytes held by all pools: object storage plus slot arrays.
    pub fn footprint_bytes(&self) -> usize {
        self.matrices.footprint_bytes()
            + self.vectors.footprint_bytes()
            + self.batches.footprint_bytes()
    }

    /// A snapshot of every pool's counters.
    pub fn stats(&self) -> ManagerStats {
        ManagerStats {
            matrices: self.matrices.stats(),
            vectors: self.vectors.stats(),
            batches: self.batches.stats(),
        }
    }
}

fn build<T: Reusable>(
    count: usize,
    config: &PoolConfig,
    make: impl Fn() -> Result<T, crate::AllocError> + Send + Sync + 'static,
) -> Result<Arc<Pool<T>>, PoolError> {
    let miss = match config.growth_limit {
        0 => MissPolicy::FailFast,
        extra => MissPolicy::Grow {
            max: count.saturating_add(extra),
        },
    };
    let prefault = config.prefault;
    let pool = Pool::try_new(count, miss, config.reset, move || {
        let mut object = make()?;
        if prefault {
            object.prefault();
        }
        Ok::<T, crate::AllocError>(object)
    })?;
    Ok(Arc::new(pool))
}
