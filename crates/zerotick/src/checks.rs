//! The `run` command's checks of what the pipeline does not check itself: flag ranges and
//! combinations, and the feature spec file, so that a mistake ends in one line naming the
//! flag or file, never in a panic, an abort or a run that misbehaves later.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use zerotick_pipeline::rows::{Emit, SpecSettings};

use crate::RunArgs;

/// Longest `--seconds` accepted: a year.
const MAX_SECONDS: f64 = 365.0 * 86_400.0;
/// Longest millisecond setting accepted (`--block-ms`, `--claim-idle-ms`, ...): a day.
const MAX_MS: u64 = 86_400_000;
/// Most entries per XREADGROUP (`--redis-count`).
const MAX_REDIS_COUNT: usize = 100_000;
/// Longest `--features` spec read, bytes (a spec is a few KiB).
const MAX_SPEC_BYTES: u64 = 1 << 20;
/// Checks the flags that are not the pipeline's (the pipeline checks its own sizes), so a
/// typo ends in one line naming the flag and its range, never in a panic or an abort.
pub(crate) fn check_flags(args: &RunArgs) -> Result<()> {
    if let Some(s) = args.seconds
        && !(s.is_finite() && s > 0.0 && s <= MAX_SECONDS)
    {
        bail!(
            "--seconds must be a number of seconds above 0 and at most {MAX_SECONDS} (a year), got {s}"
        );
    }
    if !(args.rate.is_finite() && (1e-3..=1e9).contains(&args.rate)) {
        bail!(
            "--rate must be between 0.001 and 1000000000 ticks per second, got {}",
            args.rate
        );
    }
    let symbols = zerotick_pipeline::limits::SYMBOLS;
    if !(1..=symbols).contains(&args.symbols) {
        bail!(
            "--symbols must be between 1 and {symbols}, got {}",
            args.symbols
        );
    }
    let depth = zerotick_pipeline::limits::BOOK_DEPTH;
    if !(1..=depth).contains(&args.book_depth) {
        bail!(
            "--book-depth must be between 1 and {depth} levels per side, got {}",
            args.book_depth
        );
    }
    if args.checkpoint_every == 0 {
        bail!("--checkpoint-every must be at least 1");
    }
    if args.checkpoints {
        if !args.feed.iter().any(|f| f.starts_with("redis://")) {
            bail!("--checkpoints needs a Redis feed (--feed redis://HOST:PORT/STREAM)");
        }
        if args.features.is_some() {
            bail!("--checkpoints takes the built-in feature row only, not --features");
        }
    }
    if !(1..=MAX_REDIS_COUNT).contains(&args.redis_count) {
        bail!(
            "--redis-count must be between 1 and {MAX_REDIS_COUNT}, got {}",
            args.redis_count
        );
    }
    if args.dead_letter_max == 0 {
        bail!("--dead-letter-max must be at least 1 (STREAM.dead keeps that many bad entries)");
    }
    for (flag, v) in [
        ("--block-ms", args.block_ms),
        ("--claim-idle-ms", args.claim_idle_ms),
        ("--reconnect-give-up-ms", args.reconnect_give_up_ms),
        ("--metrics-linger-ms", args.metrics_linger_ms),
        ("--session-timeout-ms", args.session_timeout_ms),
        ("--commit-interval-ms", args.commit_interval_ms),
    ] {
        if v > MAX_MS {
            bail!("{flag} must be at most {MAX_MS} (a day), got {v}");
        }
    }
    check_block_ms(args)
}

/// `--block-ms` against the settings it must leave room for: Redis reads `BLOCK 0` as "wait
/// forever"; the Redis lease and Kafka heartbeats are renewed between reads, so one blocking
/// read must take well under the time they live (a third, as the lease renews at a third).
fn check_block_ms(args: &RunArgs) -> Result<()> {
    let b = args.block_ms;
    if b == 0 {
        bail!("--block-ms must be at least 1 (Redis reads BLOCK 0 as wait forever), got 0");
    }
    let is = |scheme: &str| args.feed.iter().any(|f| f.starts_with(scheme));
    if is("redis://") && checkpoints_on(args) {
        let lease_ms = zerotick_redis::lease_ms(args.claim_idle_ms);
        if b.saturating_mul(3) >= lease_ms {
            bail!(
                "--block-ms must be below a third of the lease (--claim-idle-ms, at least 1000: \
                 {lease_ms} ms), at most {}, got {b}: the lease is renewed between reads, so a \
                 longer read lets a standby take over from a live consumer (or use \
                 --no-checkpoints)",
                (lease_ms - 1) / 3
            );
        }
    }
    if is("kafka://") && args.partitions_of.is_none() {
        let session_ms = args.session_timeout_ms;
        if b.saturating_mul(3) >= session_ms {
            bail!(
                "--block-ms must be below a third of --session-timeout-ms ({session_ms} ms), \
                 got {b}: heartbeats go out between fetches, so a longer fetch wait gets the \
                 member dropped from the group"
            );
        }
    }
    Ok(())
}

/// Whether the run stores checkpoints: `--checkpoints`, or by default a Redis feed with the
/// built-in feature row (custom rows are not checkpointed); never with `--no-checkpoints`.
pub(crate) fn checkpoints_on(args: &RunArgs) -> bool {
    !args.no_checkpoints
        && (args.checkpoints
            || (args.features.is_none() && args.feed.iter().any(|f| f.starts_with("redis://"))))
}

/// Reads and checks the `--features` spec (at most [`MAX_SPEC_BYTES`]); every error is one
/// line naming the file and line.
pub(crate) fn read_spec(path: &Path, emit: Emit) -> Result<SpecSettings> {
    let mut text = String::new();
    File::open(path)
        .and_then(|f| f.take(MAX_SPEC_BYTES + 1).read_to_string(&mut text))
        .with_context(|| format!("cannot read the feature spec {}", path.display()))?;
    if text.len() as u64 > MAX_SPEC_BYTES {
        bail!(
            "{}: the feature spec is longer than {} KiB; is it the right file?",
            path.display(),
            MAX_SPEC_BYTES / 1024
        );
    }
    let spec = SpecSettings::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if emit.signals() && !spec.steps.read_out {
        bail!(
            "{}: line {}: the spec turns the read-out off, so there are no signals to emit; \
             use --emit features",
            path.display(),
            spec.readout_line
        );
    }
    Ok(spec)
}
