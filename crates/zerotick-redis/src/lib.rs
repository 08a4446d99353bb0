#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod codec;
pub mod conn;
pub mod feed;
pub mod publish;
pub mod resp;
pub mod sink;

pub use codec::{StreamId, shard_of};
pub use conn::{Connection, Endpoint, RedisError};
pub use feed::{DEAD_LETTER_MAX, FeedCounters, RedisFeed, RedisFeedConfig, Standby, lease_ms};
pub use publish::Publisher;
pub use resp::RespError;
pub use sink::RedisSink;
/// Capped exponential backoff, shared with the other transports.
pub(crate) use zerotick_core::backoff::Backoff;

/// Name of shard `i` of `stream`: `stream.{i}`.
pub fn shard_stream(stream: &str, i: u32) -> String {
    format!("{stream}.{i}")
}
