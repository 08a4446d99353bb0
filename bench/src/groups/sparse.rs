//! Group `sparse`: CSR kernels on a 100,000 x 100,000 matrix with 1,000,000 nonzeros at
//! uniformly random positions (fixed seed), zerotick vs sprs 0.11 (single-threaded build).
//!
//! `sprs` is `CsMatI<f64, u32>` (u32 column indices and row pointers), as zerotick's `Csr`
//! stores u32 column indices: the same index bytes per nonzero. `sprs-usize` (SpMV only) is
//! sprs's default `CsMat<f64>` with usize indices, twice the index traffic, labelled as such.
//!
//! - `spmv_100k_1m`: one op = `y = A x + y` (alpha = beta = 1 for zerotick, so both impls do
//!   the same work as sprs's `mul_acc_mat_vec_csr`, which accumulates into `y`). `zerotick` runs
//!   the active tier (`spmv_into`: hardware gathers on Intel, the 4-sum fused loop on other
//!   CPUs), `zerotick-fixed-order` the 4-sum loop on the active tier (`spmv_into_fixed_order`,
//!   so on Intel the ratio of the two rows is what the gathers buy, elsewhere the rows are
//!   the same code), `zerotick-scalar-tier` the portable loop forced to the scalar tier.
//! - `spmv_stream_floor`: `stream-read-same-bytes` is not an SpMV: a SIMD sum over a buffer of
//!   as many bytes as one SpMV streams (values, column indices, row pointers, `y` read and
//!   written; the `x` gathers are not counted), the machine's streaming-read floor for
//!   `spmv_100k_1m`, measured in the same run (in a case of its own so that its sweep does
//!   not evict the matrix before the SpMV impl that would follow it; alone, its 14.4 MB
//!   stay in a large L3, so on such a machine it is the L3 floor, not DRAM's).
//! - `spmv_gather_floor`: `x-reads-alone` is not an SpMV either: the sum of `x[c]` over the
//!   matrix's column indices in storage order, in 4 partial sums: the random reads of `x` that
//!   every SpMV of this matrix makes, with nothing else (no values, no rows, no `y`).
//!   `flat-dot` adds the values: the sum of `values[k] * x[c]` over every entry in storage
//!   order, an SpMV's reads and arithmetic without its rows. An SpMV that reads the same data
//!   the same way cannot take less time than `flat-dot`, so sprs / flat-dot bounds the
//!   speed-up over sprs that such a kernel can show.
//! - `spgemm_100k_1m`: one op = `A * A` producing a new matrix (and dropping it). `zerotick`
//!   is `Csr::try_matmul` (structure and values in one pass), the honest comparable of sprs's
//!   `&a * &a`; `zerotick-two-phase` is `SpgemmPlan::try_new` (symbolic) + `numeric`;
//!   `zerotick-numeric` is the numeric phase alone on a plan built once (the
//!   repeated-structure use it exists for), labelled as such.
//!
//! Setup (building the matrices, converting for sprs) is outside every timed region. Before
//! timing, the products of the two libraries are checked to agree.

use super::GroupResult;
use crate::harness::{Harness, Impl, Row};
use sprs::{CsMat, CsMatI};
use std::hint::black_box;
use zerotick_kernels::sparse::{CostModel, Csr, SpgemmPlan};
use zerotick_kernels::{Kernels, Tier};

/// Rows and columns.
pub const N: usize = 100_000;
/// Stored entries (drawn with replacement; the few duplicates are summed, so slightly fewer).
pub const NNZ: usize = 1_000_000;
/// Seed of the matrix.
pub const SEED: u64 = 0x5eed_5a85;

/// Runs `spmv_100k_1m` and `spgemm_100k_1m`.
///
/// # Errors
/// If the matrix cannot be built or the two libraries' products disagree.
pub fn run(h: &mut Harness) -> GroupResult {
    let a = random_matrix(N, N, NNZ, SEED)?;
    let s = to_sprs_u32(&a)?;
    let s_usize = to_sprs_usize(&a)?;
    let active = Kernels::active();
    let scalar = Kernels::new(Tier::Scalar)?;
    let x: Vec<f64> = (0..N).map(|i| ((i % 101) as f64 - 50.0) * 0.01).collect();
    check_spmv(&a, &s, &x, active)?;
    check_spmv(&a, &s_usize, &x, active)?;
    let mut rows = Vec::new();

    let zt = |k: Kernels, fixed: bool| {
        let (a, x) = (&a, &x);
        let mut y = vec![0.0; N];
        move || {
            let r = if fixed {
                a.spmv_into_fixed_order(&k, 1.0, x, 1.0, &mut y)
            } else {
                a.spmv_into(&k, 1.0, x, 1.0, &mut y)
            };
            if r.is_err() {
                unreachable!("shapes match");
            }
            black_box(&mut y);
        }
    };
    let mut ys = vec![0.0; N];
    let mut ys_usize = vec![0.0; N];
    let stream = vec![1.0f64; spmv_bytes(&a) / 8];
    rows.extend(h.case(
        "spmv_100k_1m",
        vec![
            Impl::per_op("zerotick", zt(active, false)),
            Impl::per_op("zerotick-fixed-order", zt(active, true)),
            Impl::per_op("zerotick-scalar-tier", zt(scalar, false)),
            Impl::per_op("sprs", || {
                sprs::prod::mul_acc_mat_vec_csr(s.view(), &x[..], &mut ys[..]);
                black_box(&mut ys);
            }),
            Impl::per_op("sprs-usize", || {
                sprs::prod::mul_acc_mat_vec_csr(s_usize.view(), &x[..], &mut ys_usize[..]);
                black_box(&mut ys_usize);
            }),
        ],
    ));
    // A case of its own: interleaved with the SpMV impls, its 14 MB sweep evicted the
    // matrix from the caches before the impl that followed it (measured 4-10% on that row).
    rows.extend(h.case(
        "spmv_stream_floor",
        vec![Impl::per_op("stream-read-same-bytes", || {
            black_box(active.sum(black_box(&stream)));
        })],
    ));
    rows.extend(h.case(
        "spmv_gather_floor",
        vec![
            Impl::per_op("x-reads-alone", || {
                black_box(gather_sum(black_box(a.indices()), &x));
            }),
            Impl::per_op("flat-dot", || {
                black_box(flat_dot(black_box(a.indices()), a.values(), &x));
            }),
        ],
    ));

    let mut plan = SpgemmPlan::try_new(&a, &a)?;
    plan.numeric(&active, &a, &a)?;
    check_spgemm(&plan, &(&s * &s))?;
    let one_pass = a.try_matmul(&active, &a)?;
    if (one_pass.indptr(), one_pass.indices(), one_pass.values())
        != (plan.indptr(), plan.indices(), plan.values())
    {
        return Err("try_matmul differs from the two-phase product".into());
    }
    rows.extend(h.case(
        "spgemm_100k_1m",
        vec![
            Impl::per_op("zerotick", || {
                let Ok(c) = a.try_matmul(&active, &a) else {
                    unreachable!("square")
                };
                black_box(c);
            }),
            Impl::per_op("zerotick-two-phase", || {
                let Ok(mut p) = SpgemmPlan::try_new(&a, &a) else {
                    unreachable!("square")
                };
                if p.numeric(&active, &a, &a).is_err() {
                    unreachable!("own plan");
                }
                black_box(&p);
            }),
            Impl::per_op("zerotick-numeric", || {
                if plan.numeric(&active, &a, &a).is_err() {
                    unreachable!("own plan");
                }
                black_box(&mut plan);
            }),
            Impl::per_op("sprs", || {
                black_box(&s * &s);
            }),
        ],
    ));

    note(h, &rows, &a, &plan, active);
    Ok(rows)
}

/// Derived figures: speedups against the targets, throughput, the calibrated cost model.
fn note(h: &mut Harness, rows: &[Row], a: &Csr, plan: &SpgemmPlan, k: Kernels) {
    let ns = |case: &str, imp: &str| {
        rows.iter()
            .find(|r| r.case == case && r.imp == imp)
            .map(|r| r.median_ns)
    };
    if let (Some(z), Some(s), Some(f), Some(sc)) = (
        ns("spmv_100k_1m", "zerotick"),
        ns("spmv_100k_1m", "sprs"),
        ns("spmv_100k_1m", "zerotick-fixed-order"),
        ns("spmv_100k_1m", "zerotick-scalar-tier"),
    ) {
        h.note(format!(
            "spmv on the {} tier: {:.2} ns/nonzero, {:.2}x sprs (target >= 1.5x); {:.2}x the \
             same tier's 4-sum loop (zerotick-fixed-order; spmv_into runs hardware gathers on \
             Intel CPUs only, the loop elsewhere) and {:.2}x the scalar tier's portable loop",
            k.tier(),
            z / a.nnz() as f64,
            s / z,
            f / z,
            sc / z
        ));
    }
    if let (Some(z), Some(r)) = (
        ns("spmv_100k_1m", "zerotick"),
        ns("spmv_stream_floor", "stream-read-same-bytes"),
    ) {
        let mb = spmv_bytes(a) as f64 / 1e6;
        h.note(format!(
            "spmv streams {mb:.1} MB (values, columns, row pointers, y read+write; x gathers not \
             counted): a plain read of as many bytes runs at {:.1} GB/s here, so the floor is \
             {:.2} ms and zerotick runs at {:.0}% of it ({:.1} GB/s)",
            mb * 1e3 / (r / 1e6) / 1e3,
            r / 1e6,
            100.0 * r / z,
            mb * 1e3 / (z / 1e6) / 1e3
        ));
    }
    if let (Some(z), Some(s), Some(g), Some(f)) = (
        ns("spmv_100k_1m", "zerotick"),
        ns("spmv_100k_1m", "sprs"),
        ns("spmv_gather_floor", "x-reads-alone"),
        ns("spmv_gather_floor", "flat-dot"),
    ) {
        h.note(format!(
            "spmv's floors: its {} random reads of the {:.0} KiB x alone take {:.2} ms \
             ({:.2} ns each); with the values read and multiplied too, but no rows (flat-dot), \
             {:.2} ms. zerotick's spmv takes {:.2}x flat-dot's time and sprs's {:.2}x, so a \
             kernel reading the same data can be at most {:.2}x sprs here",
            a.nnz(),
            (a.cols() * 8) as f64 / 1024.0,
            g / 1e6,
            g / a.nnz() as f64,
            f / 1e6,
            z / f,
            s / f,
            s / f
        ));
    }
    if let (Some(z), Some(s), Some(z2), Some(zn)) = (
        ns("spgemm_100k_1m", "zerotick"),
        ns("spgemm_100k_1m", "sprs"),
        ns("spgemm_100k_1m", "zerotick-two-phase"),
        ns("spgemm_100k_1m", "zerotick-numeric"),
    ) {
        h.note(format!(
            "spgemm A*A ({} output entries): one pass {:.2}x sprs (target >= 2x); two phases \
             {:.2}x sprs; numeric phase alone {:.2}x sprs",
            plan.nnz(),
            s / z,
            s / z2,
            s / zn
        ));
    }
    let m = CostModel::calibrate(&k);
    h.note(format!(
        "cost model ({} tier): spmv {:.2} ns/nnz + {:.2} ns/row, dense matvec {:.3} ns/madd, \
         spmm {:.3} ns/madd, dense gemm {:.3} ns/madd, spgemm {:.2} ns/product",
        k.tier(),
        m.spmv_ns_per_nnz,
        m.spmv_ns_per_row,
        m.dense_matvec_ns_per_madd,
        m.spmm_ns_per_madd,
        m.dense_gemm_ns_per_madd,
        m.spgemm_ns_per_product
    ));
    h.note(format!(
        "crossover densities (sparse wins below): matvec 1000x1000 {:.3}, matmul 1000x1000 by \
         1000x64 {:.3}, spgemm 1000^3 {:.3}",
        m.matvec_crossover_density(1000, 1000),
        m.choose_matmul(1000, 1000, 0, 64).crossover_density,
        spgemm_crossover(&m, 1000),
    ));
}

/// Bytes one SpMV `y = A x + y` streams: 8 + 4 per entry, the row pointers, `y` read and
/// written (the gathers of `x`, 0.8 MB here, mostly hit the caches and are not counted).
fn spmv_bytes(a: &Csr) -> usize {
    a.nnz() * (8 + 4) + (a.rows() + 1) * 8 + a.rows() * 16
}

/// Density of two `n x n` operands at which SpGEMM and a dense GEMM are predicted equal
/// (bisection on the uniform-scatter model).
fn spgemm_crossover(m: &CostModel, n: usize) -> f64 {
    let cells = (n * n) as f64;
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..50 {
        let mid = 0.5 * (lo + hi);
        let nnz = (mid * cells) as usize;
        let d = m.choose_spgemm_shapes(n, n, n, nnz, nnz);
        if d.sparse_ns < d.dense_ns {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `a` as the `sprs` peer: `CsMatI<f64, u32>` (u32 row pointers and column indices).
///
/// # Errors
/// If a row pointer does not fit in u32 or sprs rejects the structure.
pub fn to_sprs_u32(a: &Csr) -> Result<CsMatI<f64, u32>, String> {
    let (indptr, indices, values) = a.clone().into_parts();
    let indptr = indptr
        .into_iter()
        .map(u32::try_from)
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| "more than u32::MAX nonzeros".to_owned())?;
    CsMatI::try_new((a.rows(), a.cols()), indptr, indices, values)
        .map_err(|e| format!("sprs rejected the matrix: {e:?}"))
}

/// `a` as the `sprs-usize` peer: sprs's default `CsMat<f64>` (usize indices).
///
/// # Errors
/// If sprs rejects the structure.
pub fn to_sprs_usize(a: &Csr) -> Result<CsMat<f64>, String> {
    let (indptr, indices, values) = a.clone().into_parts();
    let indices = indices.into_iter().map(|c| c as usize).collect();
    CsMat::try_new((a.rows(), a.cols()), indptr, indices, values)
        .map_err(|e| format!("sprs rejected the matrix: {e:?}"))
}

/// `rows x cols` with `nnz` entries drawn uniformly (splitmix64, fixed seed), values in
/// [-1, 1).
///
/// # Errors
/// If the triplets are rejected (not for valid sizes).
pub fn random_matrix(
    rows: usize,
    cols: usize,
    nnz: usize,
    seed: u64,
) -> Result<Csr, Box<dyn std::error::Error>> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let t: Vec<(usize, usize, f64)> = (0..nnz)
        .map(|_| {
            let r = (next() % rows as u64) as usize;
            let c = (next() % cols as u64) as usize;
            let v = (next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
            (r, c, v)
        })
        .collect();
    Ok(Csr::try_from_triplets(rows, cols, &t)?)
}

/// `sum(x[c])` over `cols` in order, in 4 partial sums: the gathers of an SpMV alone.
fn gather_sum(cols: &[u32], x: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let mut chunks = cols.chunks_exact(4);
    for c in &mut chunks {
        for l in 0..4 {
            acc[l] += x[c[l] as usize];
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&c| x[c as usize]).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `sum(vals[k] * x[cols[k]])` over every stored entry in order, in 4 partial sums: an
/// SpMV's reads (values, column indices, `x`) and arithmetic without its rows.
fn flat_dot(cols: &[u32], vals: &[f64], x: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let mut chunks = cols.chunks_exact(4).zip(vals.chunks_exact(4));
    for (c, v) in &mut chunks {
        for l in 0..4 {
            acc[l] += v[l] * x[c[l] as usize];
        }
    }
    let whole = cols.len() / 4 * 4;
    let tail: f64 = cols[whole..]
        .iter()
        .zip(&vals[whole..])
        .map(|(&c, &v)| v * x[c as usize])
        .sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

/// Checks `A x` of zerotick against sprs (either index type).
fn check_spmv<I: sprs::SpIndex>(
    a: &Csr,
    s: &CsMatI<f64, I>,
    x: &[f64],
    k: Kernels,
) -> Result<(), String> {
    let mut y = vec![0.0; a.rows()];
    let mut ys = vec![0.0; a.rows()];
    a.spmv_into(&k, 1.0, x, 0.0, &mut y)
        .map_err(|e| e.to_string())?;
    sprs::prod::mul_acc_mat_vec_csr(s.view(), x, &mut ys[..]);
    match y.iter().zip(&ys).position(|(p, q)| !close(*p, *q)) {
        None => Ok(()),
        Some(i) => Err(format!(
            "spmv disagrees with sprs at row {i}: {} vs {}",
            y[i], ys[i]
        )),
    }
}

/// Checks a zerotick SpGEMM product against sprs's: same structure, values within 1e-12.
///
/// # Errors
/// A message naming the first difference.
pub fn check_spgemm(plan: &SpgemmPlan, s: &CsMatI<f64, u32>) -> Result<(), String> {
    let indptr = s.indptr();
    let ours = plan.indptr().iter().map(|&p| p as u64);
    let theirs = indptr.raw_storage().iter().map(|&p| u64::from(p));
    let same_structure = ours.eq(theirs) && plan.indices() == s.indices();
    if !same_structure {
        return Err("spgemm structure differs from sprs".into());
    }
    match plan
        .values()
        .iter()
        .zip(s.data())
        .position(|(p, q)| !close(*p, *q))
    {
        None => Ok(()),
        Some(i) => Err(format!("spgemm value {i} differs from sprs")),
    }
}
