//! Glue between the `run` flags and the Redis feed and sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use zerotick_core::SymbolNames;
use zerotick_redis::checkpoint::group_key;
use zerotick_redis::{Endpoint, FeedCounters, RedisFeed, RedisFeedConfig, RedisSink};
use zerotick_sync::metrics::{Counter, Registry};

use crate::RunArgs;
use crate::checks::checkpoints_on;
use crate::interrupt::interrupted;

/// Parses `--stream-shards 0,2,3`.
pub(crate) fn shards(list: &str) -> Result<Vec<u32>> {
    list.split(',')
        .map(|s| {
            s.trim()
                .parse::<u32>()
                .with_context(|| format!("--stream-shards: {s:?} is not a stream shard number"))
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
    cfg.shards = args.stream_shards.as_deref().map(shards).transpose()?;
    cfg.count = args.redis_count;
    cfg.dead_letter_max = args.dead_letter_max;
    cfg.block_ms = args.block_ms;
    cfg.claim_idle_ms = args.claim_idle_ms;
    cfg.give_up = Duration::from_millis(args.reconnect_give_up_ms);
    cfg.checkpoints = checkpoints_on(args);
    let mut told = false;
    let mut standby = |s: zerotick_redis::Standby<'_>| {
        if !told {
            told = true;
            eprintln!(
                "zerotick: standing by: consumer {} holds these shards ({}); taking over when \
                 it ends or stops renewing its lease (--claim-idle-ms, at least 1 s). To \
                 scale out, give each consumer its own --stream-shards.",
                s.holder, s.key
            );
        }
        !interrupted()
    };
    RedisFeed::connect_with(cfg, &mut standby).with_context(|| format!("cannot read {ep}"))
}

/// The sink of `--sink redis://HOST:PORT/STREAM`.
///
/// With checkpoints (a Redis feed), the sink deduplicates by (symbol, seq) in the hash
/// `SINK.seq.GROUP[.SHARDS]` of the feed's `epoch` (the consumer group's incarnation): the
/// signals a resumed consumer emits again are appended once.
pub fn sink(
    url: &str,
    args: &RunArgs,
    names: SymbolNames,
    epoch: Option<String>,
) -> Result<RedisSink> {
    let ep = Endpoint::parse(url)?;
    // The key as the feed names its own (`STREAM.KIND.GROUP[.SHARDS]`), with the sink's stream.
    let dedup = match epoch.filter(|_| checkpoints_on(args)) {
        Some(epoch) => {
            let shards = args.stream_shards.as_deref().map(shards).transpose()?;
            let key = group_key(&ep.stream, "seq", &args.group, shards.as_deref());
            Some((key, epoch))
        }
        None => None,
    };
    let sink = RedisSink::connect(
        &ep.host,
        ep.port,
        &ep.stream,
        args.maxlen,
        names,
        Duration::from_millis(args.reconnect_give_up_ms),
    )
    .with_context(|| format!("cannot write {ep}"))?;
    Ok(match dedup {
        Some((key, epoch)) => sink.with_dedup(&key, &epoch),
        None => sink,
    })
}

/// The feed's boundary counters: (JSON and metric name, help, counter).
fn counters(c: &FeedCounters) -> [(&'static str, &'static str, &AtomicU64); 14] {
    [
        ("acked", "Stream entries acknowledged (XACK)", &c.acked),
        (
            "claimed",
            "Stream entries claimed from other consumers",
            &c.claimed,
        ),
        (
            "dead_lettered",
            "Bad stream entries copied to the dead-letter stream",
            &c.dead_lettered,
        ),
        (
            "reconnects",
            "Reconnections of the Redis feed",
            &c.reconnects,
        ),
        ("recovered", "Own pending entries re-read", &c.recovered),
        (
            "duplicates_skipped",
            "Entries skipped as already in flight",
            &c.duplicates_skipped,
        ),
        (
            "end_wait_ms",
            "Time waited after the end markers for other consumers' entries, ms",
            &c.end_wait_ms,
        ),
        (
            "end_claimed",
            "Entries claimed while waiting after the end markers",
            &c.end_claimed,
        ),
        ("checkpoints", "Checkpoints stored", &c.checkpoints),
        (
            "checkpoint_bytes",
            "Size of the last checkpoint stored, bytes",
            &c.checkpoint_bytes,
        ),
        (
            "resumed",
            "1 if the run resumed from a stored checkpoint",
            &c.resumed,
        ),
        (
            "replayed",
            "Entries replayed from a checkpoint's position",
            &c.replayed,
        ),
        (
            "stale_checkpoints",
            "1 if a checkpoint of an earlier incarnation of the group was set aside",
            &c.stale_checkpoints,
        ),
        (
            "standby_ms",
            "Time spent standing by for another consumer's lease of these shards, ms",
            &c.standby_ms,
        ),
    ]
}

/// The feed's boundary counters, for the report.
pub fn counters_json(c: &Arc<FeedCounters>) -> Value {
    let mut v = json!({});
    for (name, _, a) in counters(c) {
        v[name] = json!(a.load(Ordering::Relaxed));
    }
    v
}

/// The feed's boundary counters as lines of the human report.
pub fn counters_table(c: &Arc<FeedCounters>) -> String {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("  {k:<28} {v}\n"));
    line("redis acked", g(&c.acked).to_string());
    line(
        "redis claimed",
        format!(
            "{} ({} after the end markers)",
            g(&c.claimed),
            g(&c.end_claimed)
        ),
    );
    line("redis dead-lettered", g(&c.dead_lettered).to_string());
    line("redis reconnects", g(&c.reconnects).to_string());
    line(
        "redis recovered",
        format!(
            "{} own pending, {} duplicates skipped",
            g(&c.recovered),
            g(&c.duplicates_skipped)
        ),
    );
    line(
        "redis checkpoints",
        format!(
            "{} stored (last {} bytes); resumed {}, {} entries replayed{}",
            g(&c.checkpoints),
            g(&c.checkpoint_bytes),
            if g(&c.resumed) == 1 { "yes" } else { "no" },
            g(&c.replayed),
            if g(&c.stale_checkpoints) == 1 {
                "; a stale one (group created again) set aside"
            } else {
                ""
            }
        ),
    );
    line(
        "redis standby",
        format!("{} ms waiting for these shards' lease", g(&c.standby_ms)),
    );
    line(
        "redis end wait",
        format!(
            "{} ms for other consumers' pending entries",
            g(&c.end_wait_ms)
        ),
    );
    s
}

/// The feed's counters mirrored into the metrics registry as `zerotick_redis_*_total`
/// counters (the feed crate keeps plain atomics; [`RedisMetrics::sync`] adds what changed).
pub struct RedisMetrics {
    feed: Arc<FeedCounters>,
    metrics: Vec<(Counter, u64)>,
}

impl RedisMetrics {
    /// Registers one counter per feed counter.
    pub fn register(registry: &Registry, feed: Arc<FeedCounters>) -> Result<Self> {
        let metrics = counters(&feed)
            .iter()
            .map(|(name, help, _)| {
                registry
                    .counter(&format!("zerotick_redis_{name}_total"), help, &[])
                    .map(|c| (c, 0))
                    .map_err(|e| anyhow::anyhow!("registering redis metrics: {e}"))
            })
            .collect::<Result<_>>()?;
        Ok(Self { feed, metrics })
    }

    /// Adds to each registry counter what its feed counter gained since the last call.
    pub fn sync(&mut self) {
        for ((_, _, a), (counter, last)) in counters(&self.feed).iter().zip(&mut self.metrics) {
            let now = a.load(Ordering::Relaxed);
            counter.add(now.saturating_sub(*last));
            *last = now.max(*last);
        }
    }
}
