//! `zerotick bench`: hands over to the `zerotick-baseline` binary.
//!
//! The before/after benchmark (baseline pipelines, cachegrind, the table) lives in the
//! `zerotick-baseline` crate so this production binary does not link it. `zerotick bench ARGS`
//! executes `zerotick-baseline ARGS` from this executable's directory (where cargo puts both,
//! `target/<profile>/`), so output, exit code and `--help` are the baseline's own.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

/// File name of the baseline binary.
const BASELINE: &str = "zerotick-baseline";

/// Everything after `zerotick bench`, passed through unparsed.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Arguments of the benchmark (see `zerotick bench --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<OsString>,
}

/// Where the baseline binary is expected: next to `exe`.
fn baseline_path(exe: &Path) -> PathBuf {
    exe.with_file_name(format!("{BASELINE}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs the baseline binary with `args.args`. On Unix the process is replaced by it, so this
/// returns only on failure.
///
/// # Errors
/// The baseline binary is missing (the message says how to build it) or cannot be started;
/// elsewhere than Unix, also when it exits unsuccessfully.
pub fn command(args: &BenchArgs) -> Result<()> {
    let exe = std::env::current_exe()?;
    let baseline = baseline_path(&exe);
    if !baseline.is_file() {
        bail!(
            "`bench` needs {} next to this binary; build it with `cargo build --release -p \
             zerotick-baseline` (or `cargo build --release`)",
            baseline.display()
        );
    }
    let mut cmd = Command::new(&baseline);
    cmd.args(&args.args);
    exec(cmd, &baseline)
}

#[cfg(unix)]
fn exec(mut cmd: Command, baseline: &Path) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    bail!("cannot run {}: {err}", baseline.display())
}

#[cfg(not(unix))]
fn exec(mut cmd: Command, baseline: &Path) -> Result<()> {
    let status = cmd.status()?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    let _ = baseline;
    Ok(())
}
