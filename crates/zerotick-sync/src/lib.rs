#![doc = include_str!("../README.md")]

pub mod affinity;
pub mod jitter;
pub mod metrics;
pub mod mpmc;
pub mod spsc;
mod sync;
pub mod wait;
