//! What stops a run.

use core::fmt;

use zerotick_core::FeedError;
use zerotick_mem::PoolError;
use zerotick_sync::metrics::RegistryError;

use crate::compute::ComputeError;

/// What stops a run.
#[derive(Debug)]
pub enum PipelineError {
    /// The feed failed (I/O, or a bad row in strict mode).
    Feed(FeedError),
    /// The sink failed.
    Sink(std::io::Error),
    /// The compute stage failed (a bug or a bad configuration: shapes are fixed).
    Compute(ComputeError),
    /// The pool could not be built.
    Pool(PoolError),
    /// Metrics registration failed.
    Metrics(RegistryError),
    /// A bad configuration value: what is wrong, and the allowed range.
    Config(String),
    /// A pipeline thread stopped unexpectedly (it panicked: the panic message follows).
    ThreadDied {
        /// Which thread (`feed`, `compute worker`, `pca`).
        thread: &'static str,
        /// Its panic message, if it had one.
        message: String,
    },
}

impl PipelineError {
    /// A [`PipelineError::Config`] from anything printable.
    pub(crate) fn config(what: impl fmt::Display) -> Self {
        PipelineError::Config(what.to_string())
    }

    /// A [`PipelineError::ThreadDied`] from a joined thread's panic payload.
    pub(crate) fn died(thread: &'static str, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        PipelineError::ThreadDied { thread, message }
    }
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Feed(e) => write!(f, "feed: {e}"),
            PipelineError::Sink(e) => write!(f, "sink: {e}"),
            PipelineError::Compute(e) => write!(f, "compute: {e}"),
            PipelineError::Pool(e) => write!(f, "pool: {e}"),
            PipelineError::Metrics(e) => write!(f, "metrics: {e}"),
            PipelineError::Config(what) => write!(f, "configuration: {what}"),
            PipelineError::ThreadDied { thread, message } if message.is_empty() => {
                write!(f, "the {thread} thread stopped unexpectedly")
            }
            PipelineError::ThreadDied { thread, message } => {
                write!(f, "the {thread} thread stopped unexpectedly: {message}")
            }
        }
    }
}

impl std::error::Error for PipelineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PipelineError::Feed(e) => Some(e),
            PipelineError::Sink(e) => Some(e),
            PipelineError::Compute(e) => Some(e),
            PipelineError::Pool(e) => Some(e),
            PipelineError::Metrics(e) => Some(e),
            PipelineError::Config(_) | PipelineError::ThreadDied { .. } => None,
        }
    }
}
