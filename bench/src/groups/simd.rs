//! Group `simd`: the fused feature pass and tanh on one 1,024-f64 vector, single thread.
//!
//! - `normalize_1k`: one op = mean and variance of the vector, then in place
//!   `x = scale * tanh((x - mean) / std)`. `zerotick` runs
//!   `Kernels::normalize_tanh_scale_in_place` on the active tier; `zerotick-scalar-tier` the
//!   same code forced to the scalar tier; `scalar` is the plain Rust a numerics person would
//!   write ([`two_pass_normalize_tanh_scale`]: a loop for the mean, a loop for the sum of
//!   squared deviations, then a loop calling `f64::tanh`); `scalar-welford` is a serial
//!   Welford loop (a division per element, a loop-carried dependency) with the same tanh loop:
//!   a slower scalar version, kept labelled for comparison with older tables.
//!   `zerotick-tanh-fast`, `zerotick-tanh-rational` and `zerotick-tanh-f32` are the same
//!   fused pass with the cheaper squashes (`Kernels::normalize_squash_scale_in_place` with
//!   `Squash::TanhFast`, relative error <= 1.3e-12, `Squash::TanhRational`, <= 4.5e-15, or
//!   `Squash::TanhF32`, <= 1.2e-6, its rational function evaluated in `f32`), on the active
//!   tier.
//!   On an AVX-512 machine `zerotick-tanh-rational-avx2-tier` runs the rational pass on the
//!   AVX2 tier in the same run (its squash is the AVX2 kernel the AVX-512 tier ran before it
//!   had its own; its statistics are the 4-lane copies), for the ratio.
//! - `moments_1k`: one op = the statistics half of `normalize_1k` alone (`Kernels::moments`:
//!   the exact shift, the corrected two-pass mean and `m2`); `scalar` is the plain two-pass
//!   loop.
//! - `project_32x16x1k`: one op = the pipeline's dense projection of a full batch, 32 rows of
//!   1,024 against 16 vectors of 1,024 (`X Wᵀ`, 512 outputs): `zerotick` is
//!   `Kernels::dots_into` (every output with `dot`'s bits, two rows against four vectors at a
//!   time), `dot-per-pair` the 512 `Kernels::dot` calls it replaced, `faer` faer's
//!   `matmul` (`Par::Seq`), whose bits depend on the shape (why the pipeline does not use it).
//! - `tanh_1k`: one op = tanh of 1,024 values in place; `scalar` is `f64::tanh` in a loop.
//! - `tanh_fast_1k`: one op = `Kernels::tanh_fast_in_place` (relative error <= 1.3e-12
//!   instead of 4 ULP) of 1,024 values, on the active and the scalar tier.
//! - `tanh_rational_1k`: one op = `Kernels::tanh_rational_in_place` (relative error
//!   <= 4.5e-15: a [5/5] Padé form of the reduced argument, 4 vectors in step) of 1,024
//!   values, on the active and the scalar tier, and on an AVX-512 machine on the AVX2 tier
//!   too (`zerotick-avx2-tier`: the kernel the AVX-512 tier ran before 2026-12-01).
//! - `tanh_f32_1k`: one op = `Kernels::tanh_f32_in_place` (relative error <= 1.2e-6) of 1,024
//!   values, on the active tier, the AVX2 tier below it and the scalar tier.
//! - `pipeline_row_1k`: one op = the pipeline's normalise/squash/scale stage on one 1,024-wide
//!   feature row: `zerotick` is `ComputeStage::normalize_row` + `squash_row` (column
//!   statistics folded per 32-row block, one fused multiply-add per value, SIMD tanh, scale);
//!   `per-row-welford` is the same stage with the column statistics updated on every row
//!   (`ColumnStats::update` + `normalize_rows_in_place` + tanh), the pipeline's first design.
//!
//! Every impl transforms its own 1,024-f64 buffer in place, over and over (the input is not
//! copied back each time: on this machine `copy_from_slice` of 8 KiB goes through glibc's
//! `rep movsb` path and costs more than the kernels themselves). Repeated application keeps
//! the values in range: tanh maps into (-1, 1), the normalised data keeps a non-zero
//! variance.

use super::GroupResult;
use crate::harness::{Harness, Impl, Row};
use std::hint::black_box;
use zerotick_kernels::{
    ColumnStats, Kernels, NanPolicy, NormalizePolicy, Squash, Tier, ZeroVariance,
};
use zerotick_pipeline::compute::{ComputeConfig, ComputeStage};

/// Elements per vector.
pub const LEN: usize = 1024;
/// Rows and vectors of `project_32x16x1k` (a full 32-row batch, the pipeline's `PROJ`).
const PROJECT_ROWS: usize = 32;
const PROJECT_VECTORS: usize = 16;
/// The origin report's claim for its SIMD kernels.
const ORIGIN_SPEEDUP: f64 = 16.0;

/// Runs `normalize_1k`, `tanh_1k`, `tanh_fast_1k`, `tanh_rational_1k` and `pipeline_row_1k`.
///
/// # Errors
/// Never in practice: the scalar tier is always available.
pub fn run(h: &mut Harness) -> GroupResult {
    let input: Vec<f64> = (0..LEN)
        .map(|i| (i as f64 * 0.618).sin() * 4.0 + 100.0)
        .collect();
    let active = Kernels::active();
    let scalar_tier = Kernels::new(Tier::Scalar)?;
    let policy = NormalizePolicy::default();
    let mut rows = Vec::new();

    let fused = |k: Kernels, squash: Squash| {
        let mut buf = input.clone();
        move || {
            if k.normalize_squash_scale_in_place(&mut buf, policy, squash, 0.5)
                .is_err()
            {
                unreachable!("the input has variance");
            }
            black_box(&mut buf);
        }
    };
    // The AVX2 tier next to a wider active tier (the AVX-512 kernel's ratio to it).
    let avx2_below = (active.tier() > Tier::Avx2)
        .then(|| Kernels::new(Tier::Avx2).ok())
        .flatten();
    let mut plain = input.clone();
    let mut welford = input.clone();
    let mut normalize = vec![
        Impl::per_op("zerotick", fused(active, Squash::Tanh)),
        Impl::per_op("zerotick-tanh-fast", fused(active, Squash::TanhFast)),
        Impl::per_op(
            "zerotick-tanh-rational",
            fused(active, Squash::TanhRational),
        ),
        Impl::per_op("zerotick-tanh-f32", fused(active, Squash::TanhF32)),
        Impl::per_op("zerotick-scalar-tier", fused(scalar_tier, Squash::Tanh)),
        Impl::per_op("scalar", || {
            two_pass_normalize_tanh_scale(&mut plain, 0.5);
            black_box(&mut plain);
        }),
        Impl::per_op("scalar-welford", || {
            welford_normalize_tanh_scale(&mut welford, 0.5);
            black_box(&mut welford);
        }),
    ];
    if let Some(k) = avx2_below {
        normalize.push(Impl::per_op(
            "zerotick-tanh-rational-avx2-tier",
            fused(k, Squash::TanhRational),
        ));
        normalize.push(Impl::per_op(
            "zerotick-tanh-f32-avx2-tier",
            fused(k, Squash::TanhF32),
        ));
    }
    rows.extend(h.case("normalize_1k", normalize));

    // The statistics alone (the first half of every normalize_1k impl).
    let stats_of = |k: Kernels| {
        let buf = input.clone();
        move || {
            black_box(k.moments(black_box(&buf), NanPolicy::Propagate));
        }
    };
    let plain_stats = input.clone();
    rows.extend(h.case(
        "moments_1k",
        vec![
            Impl::per_op("zerotick", stats_of(active)),
            Impl::per_op("zerotick-scalar-tier", stats_of(scalar_tier)),
            Impl::per_op("scalar", || {
                let x = black_box(&plain_stats);
                let mean = x.iter().sum::<f64>() / x.len() as f64;
                let m2: f64 = x.iter().map(|v| (v - mean) * (v - mean)).sum();
                black_box((mean, m2));
            }),
        ],
    ));

    // The pipeline's dense projection of a full batch: 32 rows against 16 vectors of 1,024.
    let (xs, ws): (Vec<f64>, Vec<f64>) = (
        (0..PROJECT_ROWS * LEN)
            .map(|i| (i as f64 * 0.37).sin())
            .collect(),
        (0..PROJECT_VECTORS * LEN)
            .map(|i| (i as f64 * 0.11).cos())
            .collect(),
    );
    let mut y = vec![0.0; PROJECT_ROWS * PROJECT_VECTORS];
    dots_check(active, &xs, &ws, &mut y)?;
    let (mut y_pairs, mut y_faer) = (
        y.clone(),
        faer::Mat::<f64>::zeros(PROJECT_ROWS, PROJECT_VECTORS),
    );
    rows.extend(h.case(
        "project_32x16x1k",
        vec![
            Impl::per_op("zerotick", || {
                if active.dots_into(&xs, &ws, LEN, &mut y).is_err() {
                    unreachable!("the shapes fit");
                }
                black_box(&mut y);
            }),
            Impl::per_op("dot-per-pair", || {
                for (yi, xi) in y_pairs
                    .chunks_exact_mut(PROJECT_VECTORS)
                    .zip(xs.chunks_exact(LEN))
                {
                    for (o, w) in yi.iter_mut().zip(ws.chunks_exact(LEN)) {
                        *o = active.dot(xi, w).unwrap_or(f64::NAN);
                    }
                }
                black_box(&mut y_pairs);
            }),
            Impl::per_op("faer", || {
                let a = faer::MatRef::from_row_major_slice(&xs, PROJECT_ROWS, LEN);
                let b = faer::MatRef::from_row_major_slice(&ws, PROJECT_VECTORS, LEN);
                faer::linalg::matmul::matmul(
                    y_faer.as_mut(),
                    faer::Accum::Replace,
                    a,
                    b.transpose(),
                    1.0,
                    faer::Par::Seq,
                );
                black_box(&mut y_faer);
            }),
        ],
    ));

    let map = |k: Kernels| {
        let mut buf = input.clone();
        move || {
            k.tanh_in_place(&mut buf);
            black_box(&mut buf);
        }
    };
    let mut plain = input.clone();
    rows.extend(h.case(
        "tanh_1k",
        vec![
            Impl::per_op("zerotick", map(active)),
            Impl::per_op("zerotick-scalar-tier", map(scalar_tier)),
            Impl::per_op("scalar", || {
                for v in plain.iter_mut() {
                    *v = v.tanh();
                }
                black_box(&mut plain);
            }),
        ],
    ));

    let map_cheap = |k: Kernels, squash: Squash| {
        let mut buf = input.clone();
        move || {
            k.squash_in_place(&mut buf, squash);
            black_box(&mut buf);
        }
    };
    rows.extend(h.case(
        "tanh_fast_1k",
        vec![
            Impl::per_op("zerotick", map_cheap(active, Squash::TanhFast)),
            Impl::per_op(
                "zerotick-scalar-tier",
                map_cheap(scalar_tier, Squash::TanhFast),
            ),
        ],
    ));
    let mut rational = vec![
        Impl::per_op("zerotick", map_cheap(active, Squash::TanhRational)),
        Impl::per_op(
            "zerotick-scalar-tier",
            map_cheap(scalar_tier, Squash::TanhRational),
        ),
    ];
    if let Some(k) = avx2_below {
        rational.push(Impl::per_op(
            "zerotick-avx2-tier",
            map_cheap(k, Squash::TanhRational),
        ));
    }
    rows.extend(h.case("tanh_rational_1k", rational));
    let mut single = vec![
        Impl::per_op("zerotick", map_cheap(active, Squash::TanhF32)),
        Impl::per_op(
            "zerotick-scalar-tier",
            map_cheap(scalar_tier, Squash::TanhF32),
        ),
    ];
    if let Some(k) = avx2_below {
        single.push(Impl::per_op(
            "zerotick-avx2-tier",
            map_cheap(k, Squash::TanhF32),
        ));
    }
    rows.extend(h.case("tanh_f32_1k", single));

    let mut stage = ComputeStage::new(ComputeConfig::default(), active, 32)
        .map_err(|e| format!("compute stage: {e}"))?;
    let mut row = input.clone();
    let mut stats = ColumnStats::new(LEN);
    let mut old = input.clone();
    rows.extend(h.case(
        "pipeline_row_1k",
        vec![
            Impl::per_op("zerotick", || {
                if stage.normalize_row(0, &mut row).is_err() {
                    unreachable!("the row is WIDTH wide");
                }
                stage.squash_row(&mut row);
                black_box(&mut row);
            }),
            Impl::per_op("per-row-welford", || {
                let ok = stats.update(&active, &old, 1, LEN, NanPolicy::Skip).is_ok()
                    && stats
                        .normalize_rows_in_place(&active, &mut old, 1, LEN, ZeroVariance::Zero)
                        .is_ok();
                if !ok {
                    unreachable!("the row is LEN wide");
                }
                active.tanh_in_place(&mut old);
                black_box(&mut old);
            }),
        ],
    ));

    note(h, &rows, active.tier());
    Ok(rows)
}

/// Derived figures: vectors per second and the speedup next to the origin report's claim.
fn note(h: &mut Harness, rows: &[Row], tier: Tier) {
    let ns = |case: &str, imp: &str| {
        rows.iter()
            .find(|r| r.case == case && r.imp == imp)
            .map(|r| r.median_ns)
    };
    if let (Some(z), Some(s)) = (ns("normalize_1k", "zerotick"), ns("normalize_1k", "scalar")) {
        h.note(format!(
            "normalize_1k on the {tier} tier: {:.2} M vectors/s on one core (target >= 2 M); \
             {:.1}x the plain two-pass scalar Rust version (origin report claimed \
             {ORIGIN_SPEEDUP}x)",
            1e3 / z,
            s / z
        ));
    }
    let tier = tier.to_string();
    for (imp, what, on) in [
        (
            "zerotick-tanh-fast",
            "tanh_fast, rel. err <= 1.3e-12",
            tier.as_str(),
        ),
        (
            "zerotick-tanh-rational",
            "tanh_rational, rel. err <= 4.5e-15",
            tier.as_str(),
        ),
        (
            "zerotick-tanh-f32",
            "tanh_f32, rel. err <= 1.2e-6",
            tier.as_str(),
        ),
        (
            "zerotick-tanh-f32-avx2-tier",
            "tanh_f32, rel. err <= 1.2e-6",
            "avx2",
        ),
    ] {
        if let (Some(f), Some(z)) = (ns("normalize_1k", imp), ns("normalize_1k", "zerotick")) {
            h.note(format!(
                "normalize_1k with {what}: {:.2} M vectors/s on the {on} tier (target >= 1 M \
                 on AVX2, >= 2 M on AVX-512); {:.2}x the accurate-tanh pass",
                1e3 / f,
                z / f
            ));
        }
    }
    if let (Some(z), Some(p)) = (
        ns("pipeline_row_1k", "zerotick"),
        ns("pipeline_row_1k", "per-row-welford"),
    ) {
        h.note(format!(
            "pipeline_row_1k (the pipeline's normalise/squash/scale stage): {:.2} M vectors/s on one core (issue 7 target >= 2 M); {:.1}x the per-row Welford design",
            1e3 / z,
            p / z
        ));
    }
    if let (Some(z), Some(s)) = (ns("tanh_1k", "zerotick"), ns("tanh_1k", "scalar")) {
        h.note(format!(
            "tanh_1k: {:.1}x f64::tanh in a loop, max error 4 ULP (tests/math.rs)",
            s / z
        ));
    }
    if let (Some(f), Some(z)) = (ns("tanh_fast_1k", "zerotick"), ns("tanh_1k", "zerotick")) {
        h.note(format!(
            "tanh_fast_1k: {f:.0} ns per 1,024 values, {:.1}x tanh_1k; relative error <= 1.3e-12 \
             (tests/squash.rs)",
            z / f
        ));
    }
}

/// The plain scalar peer: `x = scale * tanh((x - mean) / std)` (population variance) the way a
/// numerics person writes it: one loop for the mean, one for the sum of squared deviations
/// (two passes: no catastrophic cancellation, no division per element), then a loop with
/// `f64::tanh`. No NaN or zero-variance handling (a constant input gives NaN).
pub fn two_pass_normalize_tanh_scale(x: &mut [f64], scale: f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let m2: f64 = x.iter().map(|v| (v - mean) * (v - mean)).sum();
    let inv_std = 1.0 / (m2 / n).sqrt();
    for v in x.iter_mut() {
        *v = ((*v - mean) * inv_std).tanh() * scale;
    }
}

/// The serial Welford version (`scalar-welford`): one value at a time with a division each,
/// then the same `f64::tanh` loop. Same result as [`two_pass_normalize_tanh_scale`].
pub fn welford_normalize_tanh_scale(x: &mut [f64], scale: f64) {
    let (mut n, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for v in x.iter() {
        n += 1.0;
        let d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);
    }
    let inv_std = 1.0 / (m2 / n).sqrt();
    for v in x.iter_mut() {
        *v = ((*v - mean) * inv_std).tanh() * scale;
    }
}

/// `dots_into` agrees with `dot` on the bench's data before it is timed (the unit tests check
/// every tier; this keeps the timed case honest).
fn dots_check(k: Kernels, x: &[f64], w: &[f64], y: &mut [f64]) -> Result<(), String> {
    k.dots_into(x, w, LEN, y).map_err(|e| e.to_string())?;
    for (i, xi) in x.chunks_exact(LEN).enumerate() {
        for (j, wj) in w.chunks_exact(LEN).enumerate() {
            let d = k.dot(xi, wj).map_err(|e| e.to_string())?;
            if d.to_bits() != y[i * PROJECT_VECTORS + j].to_bits() {
                return Err(format!(
                    "project_32x16x1k: dots_into ({i}, {j}) differs from dot"
                ));
            }
        }
    }
    Ok(())
}
