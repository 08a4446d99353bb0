//! Ctrl-C (SIGINT) and SIGTERM end `zerotick run` as its `--seconds` deadline does: the feed
//! stops, the pipeline drains, the sink is finished (a Parquet file gets its footer, a CSV
//! file its last lines) and the report is printed. A second signal ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use zerotick_core::{Feed, FeedError, FeedEvent, SymbolNames};

/// Set by the first SIGINT or SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handlers (each only sets a flag; signal-safe).
pub(crate) fn install() -> Result<()> {
    for (signal, status) in [(SIGINT, 130), (SIGTERM, 143)] {
        // The shutdown action runs first: on the second signal the flag is already set, and
        // the process exits with the shell's status for that signal.
        signal_hook::flag::register_conditional_shutdown(signal, status, &INTERRUPTED)
            .context("cannot install the Ctrl-C handler")?;
        signal_hook::flag::register(signal, &INTERRUPTED)
            .context("cannot install the Ctrl-C handler")?;
    }
    Ok(())
}

/// Whether a signal asked the run to stop.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// A feed that ends (as if exhausted) once the run is interrupted; otherwise the feed it
/// wraps, unchanged. The check is one relaxed load of a flag that is written once.
pub(crate) struct Interruptible<F>(pub(crate) F);

impl<F: Feed> Feed for Interruptible<F> {
    #[inline]
    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        if interrupted() {
            return Ok(FeedEvent::End);
        }
        self.0.next_event()
    }

    fn names(&self) -> SymbolNames {
        self.0.names()
    }

    fn live(&self) -> bool {
        self.0.live()
    }

    fn lateness_ns(&self) -> u64 {
        self.0.lateness_ns()
    }

    fn wants_acknowledgements(&self) -> bool {
        self.0.wants_acknowledgements()
    }

    fn acknowledge(&mut self, processed: u64) -> Result<(), FeedError> {
        self.0.acknowledge(processed)
    }

    fn sequence_gaps(&self) -> u64 {
        self.0.sequence_gaps()
    }

    fn time_clamped(&self) -> u64 {
        self.0.time_clamped()
    }

    fn checkpoints(&self) -> bool {
        self.0.checkpoints()
    }

    fn checkpoint_mark(&mut self) {
        self.0.checkpoint_mark();
    }

    fn checkpoint_save(&mut self, state: &[u8]) -> Result<(), FeedError> {
        self.0.checkpoint_save(state)
    }

    fn checkpoint_take(&mut self) -> Option<Vec<u8>> {
        self.0.checkpoint_take()
    }

    fn source_epoch(&self) -> Option<String> {
        self.0.source_epoch()
    }

    fn partitions(&self) -> Option<zerotick_core::SymbolPartitions> {
        self.0.partitions()
    }
}
