//! What faulting memory in costs on this machine: huge pages (an `AlignedBuf` of 2 MiB or
//! more: `mmap` plus `MADV_HUGEPAGE`, then `prefault`) against 4 KiB pages (a `Vec` from the
//! global allocator, one write a page), `MIB` MiB a round.
//!
//! ```text
//! cargo run --release -p zerotick-mem --example fault_in -- [MIB [ROUNDS [keep]]]
//! ```
//! (defaults: 32 MiB, 5 rounds). Each round maps, faults in and (unless `keep`) frees its
//! buffer, so later rounds reuse the pages the earlier ones gave back: the cost a process
//! sees when the kernel has recycled pages to hand out. With `keep` every round takes new
//! memory, as a fresh process on a freshly booted VM does, where the hypervisor may back
//! each page on first touch (docs/pipeline.md, seventh session: 1.5 ms against 90-105 ms
//! per 32 MiB of huge pages on the EPYC Zen 5 VM). Times are wall time per round.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;
use zerotick_mem::AlignedBuf;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: usize| -> Result<usize, String> {
        args.get(i).map_or(Ok(default), |s| {
            s.parse()
                .ok()
                .filter(|&v| v > 0)
                .ok_or(format!("{s:?} is not a positive integer"))
        })
    };
    let (mib, rounds) = match (num(0, 32), num(1, 5)) {
        (Ok(m), Ok(r)) if m <= 1 << 20 => (m, r),
        (Ok(_), Ok(_)) => return usage("MIB must be at most 1048576 (1 TiB)"),
        (Err(e), _) | (_, Err(e)) => return usage(&e),
    };
    let keep = args.get(2).is_some_and(|a| a == "keep");
    let bytes = mib << 20;
    // With THP `always`, the `Vec` may get huge pages too; with `never`, neither does.
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .unwrap_or_else(|_| "unknown".to_owned());
    println!("transparent huge pages: {}", thp.trim());
    let mut kept_huge = Vec::new();
    let mut kept_small = Vec::new();
    for round in 1..=rounds {
        let t = Instant::now();
        let mut huge = match AlignedBuf::<u8>::try_zeroed_unfaulted(bytes) {
            Ok(buf) => buf,
            Err(e) => {
                eprintln!("error: {mib} MiB: {e}");
                return ExitCode::FAILURE;
            }
        };
        huge.prefault();
        let huge_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let mut small: Vec<u8> = Vec::new();
        if let Err(e) = small.try_reserve_exact(bytes) {
            eprintln!("error: {mib} MiB of small pages: {e}");
            return ExitCode::FAILURE;
        }
        for page in small.spare_capacity_mut().chunks_mut(4096) {
            page[0].write(1);
        }
        black_box(small.spare_capacity_mut().as_ptr());
        let small_ms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "round {round}: {mib} MiB, huge pages {huge_ms:.2} ms, 4 KiB pages {small_ms:.2} ms"
        );
        if keep {
            kept_huge.push(huge);
            kept_small.push(small);
        }
    }
    ExitCode::SUCCESS
}

fn usage(err: &str) -> ExitCode {
    eprintln!("error: {err}\nusage: fault_in [MIB [ROUNDS [keep]]]");
    ExitCode::from(2)
}
