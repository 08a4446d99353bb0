#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod client;
pub mod codec;
pub mod conn;
mod counters;
#[cfg(test)]
mod fake;
pub mod feed;
pub mod group;
pub mod produce;
pub mod publish;
pub mod record;
pub mod sink;
pub mod wire;

pub use client::Client;
pub use conn::{Connection, Endpoint, KafkaError};
pub use feed::{
    Assignment, FeedCounters, KafkaFeed, KafkaFeedConfig, PartitionCounters, PartitionList,
};
pub use group::{Group, GroupConfig};
pub use publish::Publisher;
pub use record::partition_of;
pub use sink::KafkaSink;
