#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod feed;
pub mod hash;
pub mod rng;
pub mod signal;
pub mod symbols;
pub mod tick;

pub use feed::{Feed, FeedError, FeedEvent, RejectCounts, RejectReason};
pub use signal::{FeatureRecord, NullSink, Signal, SignalDigest, Sink};
pub use symbols::{SymbolNames, SymbolTable};
pub use tick::{BookSide, Side, Tick};
