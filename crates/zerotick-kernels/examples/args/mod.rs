//! Positional arguments of the kernels' examples: positive integers with defaults, and the
//! usage error (exit status 2) instead of a panic on bad input.

use std::process::ExitCode;

/// The `i`-th command-line argument (1-based) as a positive integer, `default` when absent.
///
/// # Errors
/// A message naming the argument when it is not a positive integer.
pub fn positional(i: usize, default: usize) -> Result<usize, String> {
    std::env::args().nth(i).map_or(Ok(default), |s| {
        s.parse()
            .ok()
            .filter(|&v| v > 0)
            .ok_or(format!("argument {i} ({s:?}) is not a positive integer"))
    })
}

/// Prints `err` and the `synopsis` line to stderr; exit status 2 (usage error).
pub fn usage(err: &str, synopsis: &str) -> ExitCode {
    eprintln!("error: {err}\nusage: {synopsis}");
    ExitCode::from(2)
}
