//! Glue between the `run` flags and the Kafka feed and sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use zerotick_core::SymbolNames;
use zerotick_kafka::{Assignment, Endpoint, FeedCounters, KafkaFeed, KafkaFeedConfig, KafkaSink};
use zerotick_sync::metrics::{Counter, Gauge, Registry};

use crate::RunArgs;

/// Parses `--partitions-of i/n`.
fn partitions_of(s: &str) -> Result<Assignment> {
    let parse = || -> Option<(u32, u32)> {
        let (i, n) = s.split_once('/')?;
        Some((i.trim().parse().ok()?, n.trim().parse().ok()?))
    };
    match parse() {
        Some((index, count)) if count > 0 && index < count => {
            Ok(Assignment::Static { index, count })
        }
        _ => bail!("--partitions-of must be I/N with 0 <= I < N (e.g. 0/2), got {s:?}"),
    }
}

/// The feed of `--feed kafka://HOST:PORT/TOPIC`.
pub fn feed(url: &str, args: &RunArgs) -> Result<KafkaFeed> {
    let ep = Endpoint::parse(url)?;
    let mut cfg = KafkaFeedConfig::new(&ep.host, ep.port, &ep.topic, &args.group);
    if let Some(s) = &args.partitions_of {
        cfg.assignment = partitions_of(s)?;
    }
    cfg.until_end = args.until_end;
    cfg.max_wait_ms = args.block_ms;
    cfg.group.session_timeout_ms =
        i32::try_from(args.session_timeout_ms).context("--session-timeout-ms is too large")?;
    cfg.group.heartbeat = Duration::from_millis((args.session_timeout_ms / 10).max(10));
    cfg.commit_interval = Duration::from_millis(args.commit_interval_ms);
    cfg.give_up = Duration::from_millis(args.reconnect_give_up_ms);
    KafkaFeed::connect(cfg).with_context(|| format!("cannot read {ep}"))
}

/// The sink of `--sink kafka://HOST:PORT/TOPIC`.
pub fn sink(url: &str, args: &RunArgs, names: SymbolNames) -> Result<KafkaSink> {
    let ep = Endpoint::parse(url)?;
    KafkaSink::connect(
        &ep.host,
        ep.port,
        &ep.topic,
        names,
        Duration::from_millis(args.reconnect_give_up_ms),
    )
    .with_context(|| format!("cannot write {ep}"))
}

/// The feed's totals: (JSON and metric name, help, counter).
fn counters(c: &FeedCounters) -> [(&'static str, &'static str, &AtomicU64); 6] {
    [
        (
            "records",
            "Kafka records read (ticks and bad records)",
            &c.records,
        ),
        (
            "dead_lettered",
            "Bad Kafka records written to the dead-letter topic",
            &c.dead_lettered,
        ),
        (
            "reconnects",
            "Reconnections of the Kafka feed",
            &c.reconnects,
        ),
        (
            "rebalances",
            "Consumer-group rebalances this member went through",
            &c.rebalances,
        ),
        ("commits", "Offset commits of the Kafka feed", &c.commits),
        (
            "revoked_in_flight",
            "Ticks in flight when their partition moved to another member",
            &c.revoked_in_flight,
        ),
    ]
}

/// The feed's figures for the JSON report: totals, and per partition its committed offset,
/// high watermark and lag (high watermark - committed).
pub fn counters_json(c: &Arc<FeedCounters>, consumer: &str) -> Value {
    let mut v = json!({ "consumer": consumer });
    for (name, _, a) in counters(c) {
        v[name] = json!(a.load(Ordering::Relaxed));
    }
    let g = |a: &std::sync::atomic::AtomicI64| a.load(Ordering::Relaxed);
    let mut lag = 0;
    let parts: Vec<Value> = c
        .partitions
        .iter()
        .enumerate()
        .map(|(p, pc)| {
            lag += pc.lag();
            json!({
                "partition": p,
                "assigned": pc.assigned.load(Ordering::Relaxed),
                "records": pc.records.load(Ordering::Relaxed),
                "committed": g(&pc.committed),
                "high_watermark": g(&pc.high_watermark),
                "end_at_start": g(&pc.end_at_start),
                "lag": pc.lag(),
            })
        })
        .collect();
    v["lag"] = json!(lag);
    v["partitions"] = Value::Array(parts);
    v
}

/// The feed's figures as lines of the human report.
pub fn counters_table(c: &Arc<FeedCounters>) -> String {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("  {k:<28} {v}\n"));
    line("kafka records", g(&c.records).to_string());
    line("kafka dead-lettered", g(&c.dead_lettered).to_string());
    line("kafka reconnects", g(&c.reconnects).to_string());
    line(
        "kafka rebalances",
        format!(
            "{} ({} ticks in flight given up)",
            g(&c.rebalances),
            g(&c.revoked_in_flight)
        ),
    );
    line("kafka commits", g(&c.commits).to_string());
    for (p, pc) in c.partitions.iter().enumerate() {
        if pc.committed.load(Ordering::Relaxed) < 0 && !pc.assigned.load(Ordering::Relaxed) {
            continue;
        }
        line(
            &format!("kafka partition {p}"),
            format!(
                "committed {}, lag {}{}",
                pc.committed.load(Ordering::Relaxed),
                pc.lag(),
                if pc.assigned.load(Ordering::Relaxed) {
                    ""
                } else {
                    " (given up)"
                }
            ),
        );
    }
    s
}

/// The feed's counters mirrored into the metrics registry as `zerotick_kafka_*_total`
/// counters, and per partition the gauges `zerotick_kafka_committed_offset` and
/// `zerotick_kafka_lag` (label `partition`); the feed crate keeps plain atomics,
/// [`KafkaMetrics::sync`] copies what changed.
pub struct KafkaMetrics {
    feed: Arc<FeedCounters>,
    metrics: Vec<(Counter, u64)>,
    /// (committed offset, lag) per partition.
    partitions: Vec<(Gauge, Gauge)>,
}

impl KafkaMetrics {
    /// Registers one counter per feed counter.
    pub fn register(registry: &Registry, feed: Arc<FeedCounters>) -> Result<Self> {
        let metrics = counters(&feed)
            .iter()
            .map(|(name, help, _)| {
                registry
                    .counter(&format!("zerotick_kafka_{name}_total"), help, &[])
                    .map(|c| (c, 0))
                    .map_err(|e| anyhow::anyhow!("registering kafka metrics: {e}"))
            })
            .collect::<Result<_>>()?;
        let err = |e| anyhow::anyhow!("registering kafka metrics: {e}");
        let mut partitions = Vec::with_capacity(feed.partitions.len());
        for p in 0..feed.partitions.len() {
            let label = p.to_string();
            let labels = [("partition", label.as_str())];
            let committed = registry
                .gauge(
                    "zerotick_kafka_committed_offset",
                    "Offset committed by this member (-1: none)",
                    &labels,
                )
                .map_err(err)?;
            let lag = registry
                .gauge(
                    "zerotick_kafka_lag",
                    "High watermark minus committed offset",
                    &labels,
                )
                .map_err(err)?;
            partitions.push((committed, lag));
        }
        Ok(Self {
            feed,
            metrics,
            partitions,
        })
    }

    /// Adds to each registry counter what its feed counter gained since the last call.
    pub fn sync(&mut self) {
        for ((_, _, a), (counter, last)) in counters(&self.feed).iter().zip(&mut self.metrics) {
            let now = a.load(Ordering::Relaxed);
            counter.add(now.saturating_sub(*last));
            *last = now.max(*last);
        }
        for (pc, (committed, lag)) in self.feed.partitions.iter().zip(&self.partitions) {
            committed.set(pc.committed.load(Ordering::Relaxed) as f64);
            lag.set(pc.lag() as f64);
        }
    }
}
