#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod backoff;
pub mod book;
pub mod endpoint;
pub mod event;
pub mod feed;
pub mod hash;
pub mod rng;
pub mod signal;
pub mod symbols;
pub mod tick;

pub use book::{Book, BookSet, BookState, BookStats, Level, LevelChange, Ofi, SideSums};
pub use event::{BookDelta, Quote, SnapshotLevel};
pub use feed::{Feed, FeedError, FeedEvent, RejectCounts, RejectReason, TimeClamp};
pub use signal::{FeatureRecord, NullSink, Signal, SignalDigest, Sink};
pub use symbols::{SymbolNames, SymbolPartitions, SymbolTable};
pub use tick::{BookSide, MAX_TS_NS, Side, Tick};
