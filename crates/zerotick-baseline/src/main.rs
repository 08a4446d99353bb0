//! `zerotick-baseline`: the before/after table of `zerotick bench` (which executes this binary).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use zerotick_baseline::{BenchArgs, command};
use zerotick_mem::counting::CountingAlloc;

/// Counts the allocations of the pipeline threads (they opt in) in each child run.
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() -> ExitCode {
    let args = match BenchArgs::try_parse() {
        Ok(args) => args,
        // Help and version go to stdout as clap prints them.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line: clap's first, without its own `error: ` prefix.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "zerotick bench: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    match command(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zerotick bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
