//! `PoolManager` and `PoolConfig`.

use zerotick_mem::{PoolConfig, PoolError, PoolManager, ResetPolicy};

#[test]
fn default_config_fits_a_laptop_and_reports_its_footprint() {
    let config = PoolConfig::default();
    assert!(
        config.storage_bytes() < 128 << 20,
        "{}",
        config.storage_bytes()
    );
    let pools = PoolManager::new(config).unwrap();
    let footprint = pools.footprint_bytes();
    assert!(footprint >= config.storage_bytes());
    // Slot arrays are small next to the objects.
    assert!(footprint - config.storage_bytes() < 1 << 20);
    let s = pools.stats().total();
    assert_eq!(
        s.capacity,
        config.matrices + config.vectors + config.batches
    );
}

#[test]
fn seed_config_is_the_origin_reports_sizing() {
    let seed = PoolConfig::seed();
    assert_eq!(
        (seed.matrices, seed.matrix_rows * seed.matrix_cols),
        (1_000, 1_048_576)
    );
    assert_eq!((seed.vectors, seed.vector_len), (10_000, 1_024));
    assert_eq!(
        (seed.batches, seed.batch_rows, seed.batch_width),
        (100, 32, 1_024)
    );
    let gb = seed.storage_bytes() as f64 / 1e9;
    assert!((8.4..8.6).contains(&gb), "{gb} GB");
}

#[test]
fn objects_come_sized_and_stats_combine() {
    let config = PoolConfig {
        matrices: 1,
        matrix_rows: 4,
        matrix_cols: 3,
        vectors: 2,
        vector_len: 16,
        batches: 1,
        batch_rows: 32,
        batch_width: 10,
        growth_limit: 0,
        reset: ResetPolicy::Zero,
        prefault: true,
    };
    let pools = PoolManager::new(config).unwrap();
    let m = pools.matrices().acquire().unwrap();
    assert_eq!((m.rows(), m.cols()), (4, 3));
    let v = pools.vectors().acquire().unwrap();
    assert_eq!(v.capacity(), 16);
    let mut b = pools.batches().acquire_owned().unwrap();
    assert_eq!((b.capacity_rows(), b.width(), b.stride()), (32, 10, 16));
    b.try_push_row(&[1.0; 10]).unwrap();
    assert!(matches!(
        pools.matrices().acquire(),
        Err(PoolError::Exhausted { capacity: 1 })
    ));
    let s = pools.stats();
    assert_eq!(
        (s.matrices.misses, s.total().in_use, s.total().hits),
        (1, 3, 3)
    );
    drop(b);
    let b = pools.batches().acquire().unwrap();
    assert!(b.is_empty());
    assert_eq!(b.as_strided().len(), 0);
}

#[test]
fn growth_limit_lets_pools_grow() {
    let config = PoolConfig {
        matrices: 0,
        vectors: 1,
        batches: 0,
        growth_limit: 1,
        prefault: false,
        ..PoolConfig::default()
    };
    let pools = PoolManager::new(config).unwrap();
    let _a = pools.vectors().acquire().unwrap();
    let _b = pools.vectors().acquire().unwrap();
    assert!(pools.vectors().acquire().is_err());
    assert_eq!(pools.stats().vectors.grown, 1);
}
