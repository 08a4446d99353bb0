#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod compute;
pub mod features;
pub mod feed;
pub mod pipeline;
mod rng;
pub mod sink;
pub mod tick;

pub use pipeline::{Hooks, PipelineConfig, PipelineError, RunReport, run};
pub use tick::{Side, Tick};
