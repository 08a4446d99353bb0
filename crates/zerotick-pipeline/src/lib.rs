#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod compute;
pub mod features;
pub mod pipeline;

pub use pipeline::{Hooks, PipelineConfig, PipelineError, RunReport, run};
