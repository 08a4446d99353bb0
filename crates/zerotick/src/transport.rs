//! Glue between the `run` flags and the Redis feed and sink.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use zerotick_core::SymbolNames;
use zerotick_redis::{Endpoint, FeedCounters, RedisFeed, RedisFeedConfig, RedisSink};

use crate::RunArgs;

/// Parses `--shards 0,2,3`.
fn shards(list: &str) -> Result<Vec<u32>> {
    list.split(',')
        .map(|s| {
            s.trim()
                .parse::<u32>()
                .with_context(|| format!("--shards: {s:?} is not a shard number"))
        })
        .collect()
}

/// The feed of `--feed redis://HOST:PORT/STREAM`.
pub fn feed(url: &str, args: &RunArgs) -> Result<RedisFeed> {
    let ep = Endpoint::parse(url)?;
    if args.redis_count == 0 {
        bail!("--redis-count must be at least 1");
    }
    let mut cfg = RedisFeedConfig::new(&ep.host, ep.port, &ep.stream, &args.group, &args.consumer);
    cfg.shards = args.shards.as_deref().map(shards).transpose()?;
    cfg.count = args.redis_count;
    cfg.block_ms = args.block_ms;
    cfg.claim_idle_ms = args.claim_idle_ms;
    cfg.give_up = Duration::from_millis(args.reconnect_give_up_ms);
    RedisFeed::connect(cfg).with_context(|| format!("cannot read {ep}"))
}

/// The sink of `--sink redis://HOST:PORT/STREAM`.
pub fn sink(url: &str, args: &RunArgs, names: SymbolNames) -> Result<RedisSink> {
    let ep = Endpoint::parse(url)?;
    RedisSink::connect(
        &ep.host,
        ep.port,
        &ep.stream,
        args.maxlen,
        names,
        Duration::from_millis(args.reconnect_give_up_ms),
    )
    .with_context(|| format!("cannot write {ep}"))
}

/// The feed's boundary counters, for the report.
pub fn counters_json(c: &Arc<FeedCounters>) -> Value {
    let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    json!({
        "reconnects": g(&c.reconnects),
        "claimed": g(&c.claimed),
        "recovered": g(&c.recovered),
        "duplicates_skipped": g(&c.duplicates_skipped),
        "dead_lettered": g(&c.dead_lettered),
        "acked": g(&c.acked),
    })
}
