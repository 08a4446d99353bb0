//! Convolution allocates nothing in steady state: after the first call for given sizes, further
//! calls (every method, every mode, the filter bank) allocate nothing. A counting global
//! allocator watches (per thread).

use zerotick_kernels::Kernels;
use zerotick_kernels::fft::{Choice, CostModel, FftConvolver, Mode, Padding, output_len};
use zerotick_mem::counting::counting;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

#[test]
fn counter_sees_allocations() {
    assert_eq!(counting(|| drop(std::hint::black_box(vec![1u8; 10]))), 1);
}

#[test]
fn steady_state_convolution_allocates_nothing() {
    let a: Vec<f64> = (0..3000).map(|i| (i as f64 * 0.37).sin()).collect();
    let b: Vec<f64> = (0..200).map(|i| (i as f64 * 0.11).cos()).collect();
    let bank: Vec<f64> = (0..4 * 200).map(|i| (i % 13) as f64).collect();
    let mut conv = FftConvolver::with_cost_model(CostModel::default(), Kernels::active());
    let choices = [
        None,
        Some(Choice::direct()),
        Some(Choice::fft(a.len(), b.len(), Padding::Fast)),
        Some(Choice::fft(a.len(), b.len(), Padding::PowerOfTwo)),
        Some(Choice::overlap_add(500, b.len(), Padding::Fast)),
    ];
    let run = |conv: &mut FftConvolver| {
        let mut total = 0;
        for mode in [Mode::Full, Mode::Same, Mode::Valid] {
            let mut out = vec![0.0; output_len(mode, a.len(), b.len())];
            let mut rows = vec![0.0; 4 * out.len()];
            let n = counting(|| {
                for c in choices {
                    match c {
                        None => _ = conv.convolve_into(&a, &b, mode, &mut out).unwrap(),
                        Some(c) => conv.convolve_with_into(c, &a, &b, mode, &mut out).unwrap(),
                    }
                }
                conv.filter_bank_into(&a, &bank, 200, mode, &mut rows)
                    .unwrap();
                conv.filter_bank_with_into(
                    Choice::fft(3000, 200, Padding::Fast),
                    &a,
                    &bank,
                    200,
                    mode,
                    &mut rows,
                )
                .unwrap();
            });
            std::hint::black_box(&rows);
            total += n;
        }
        total
    };
    let _first = run(&mut conv);
    assert_eq!(run(&mut conv), 0, "second round allocated");
    assert_eq!(run(&mut conv), 0, "third round allocated");
}

#[test]
fn planned_ahead_allocates_nothing_on_first_call() {
    let a = vec![1.0; 1 << 16];
    let b = vec![0.5; 1024];
    let mut conv = FftConvolver::with_cost_model(CostModel::default(), Kernels::active());
    let choice = conv.plan(a.len(), b.len(), Mode::Full);
    let mut out = vec![0.0; a.len() + b.len() - 1];
    let n = counting(|| {
        let got = conv.convolve_into(&a, &b, Mode::Full, &mut out).unwrap();
        assert_eq!(got, choice);
    });
    assert_eq!(n, 0);
}
