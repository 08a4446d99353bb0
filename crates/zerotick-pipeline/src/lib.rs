#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod books;
pub mod checkpoint;
pub mod compute;
pub mod config;
mod error;
pub mod features;
mod job;
mod metrics;
mod report;
pub mod rows;
mod run;
mod stage;

pub use books::BookReport;
pub use config::{Hooks, PipelineConfig, limits};
pub use error::PipelineError;
pub use report::{EventCounts, Layout, RunReport, StageLatency};
pub use run::run;
