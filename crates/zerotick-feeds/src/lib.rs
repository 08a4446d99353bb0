#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod binance;
pub mod csv;
pub mod decode;
pub mod file;
mod json;
mod lines;
pub mod merge;
mod num;
pub mod sink;
mod symbols;
pub mod synthetic;
pub mod tardis;

pub use binance::BinanceJsonFeed;
pub use csv::{CsvFeed, CsvLayout};
pub use decode::{Compression, FileReader};
pub use file::{FileFeed, InputFormat};
pub use merge::{MergedFeed, expand_paths};
pub use sink::CsvSink;
pub use synthetic::{SyntheticConfig, SyntheticFeed};
pub use tardis::{TardisFeed, TardisKind};
