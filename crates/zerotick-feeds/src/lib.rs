#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod csv;
pub mod sink;
pub mod synthetic;

pub use csv::{CsvFeed, CsvLayout};
pub use sink::CsvSink;
pub use synthetic::{SyntheticConfig, SyntheticFeed};
