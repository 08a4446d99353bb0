//! Side-by-side benchmarks of zerotick against peer crates.
//!
//! A thin binary (`src/main.rs`) over this library: [`harness`] times cases with every impl
//! interleaved in one process and reports the median ns per operation with the spread of the
//! samples (fastest and slowest), [`pin`] pins measuring threads to CPUs, [`report`] renders
//! tables and the JSON contract, and [`groups`] holds one module per group (`pool`, `arena`,
//! ...).
//!
//! ```text
//! cargo run --release -p zerotick-bench -- GROUP [--quick] [--json]
//! ```

pub mod cli;
pub mod data;
pub mod groups;
pub mod harness;
pub mod peak;
pub mod pin;
pub mod report;

pub use harness::{Config, Harness, Impl, Routine, Row};
