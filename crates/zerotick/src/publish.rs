//! `zerotick publish`: a feed (synthetic or CSV) written into sharded Redis streams or a
//! partitioned Kafka topic.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use serde_json::json;
use zerotick_core::{Feed, FeedEvent, Tick};
use zerotick_feeds::{FileFeed, SyntheticConfig, SyntheticFeed};
use zerotick_redis::{Endpoint, Publisher};

use zerotick_kafka::{Endpoint as KafkaEndpoint, Publisher as KafkaPublisher};

use crate::{Format, Layout};

#[derive(Parser, Debug)]
pub struct PublishArgs {
    /// Where ticks come from: `synthetic` (seeded) or a file, `csv:PATH` (plain, gzip, zstd
    /// or zip, told by its first bytes; its format as --format says). Only trades are
    /// published: quotes and book events are counted and skipped.
    #[arg(long, default_value = "synthetic")]
    feed: String,
    /// Format of the file: `auto` tells it from its first line (a JSON object: binance-json;
    /// a Tardis header: tardis; else csv), or its extension when it is empty.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Column layout of a CSV feed.
    #[arg(long, value_enum, default_value_t = Layout::Auto)]
    layout: Layout,
    /// Where ticks go: `redis://HOST:PORT/STREAM` or `kafka://HOST:PORT/TOPIC`.
    #[arg(long)]
    to: String,
    /// Kafka: partitions of the topic when it is created (an existing topic keeps its own).
    /// A symbol goes to partition FNV-1a 64 of its name mod N, keyed by its name.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Kafka: compress each record batch with this codec, as a producer's
    /// `compression.type` does (consumers of any Kafka client read them; `zerotick run`
    /// reads all five).
    #[arg(long, value_enum, default_value_t = Compression::None)]
    compression: Compression,
    /// Shard the symbols over the stream shards `STREAM.0 .. STREAM.{N-1}` by FNV-1a 64 of
    /// the name mod N (`--shards-total` is the old spelling). Absent: the single stream
    /// `STREAM`.
    #[arg(long = "stream-shards", alias = "shards-total")]
    shards_total: Option<u32>,
    /// Ticks to publish (synthetic feed).
    #[arg(long, default_value_t = 1_000_000)]
    ticks: u64,
    /// Symbols of the synthetic market.
    #[arg(long, default_value_t = 64)]
    symbols: usize,
    /// Seed of the synthetic market.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Event-time rate of the synthetic market, ticks per second.
    #[arg(long, default_value_t = 1_000_000.0)]
    rate: f64,
    /// Trim every stream to about this many entries (`XADD MAXLEN ~ N`).
    #[arg(long)]
    maxlen: Option<u64>,
    /// Commands per pipelined write (Redis); records per Produce round (Kafka).
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Do not append the end marker to every stream (consumers then end on --seconds).
    #[arg(long)]
    no_end_marker: bool,
    /// Keep reconnecting (with backoff) this long before the publish fails, ms.
    #[arg(long, default_value_t = 30_000)]
    reconnect_give_up_ms: u64,
    /// Print one JSON object instead of a line.
    #[arg(long)]
    json: bool,
}

struct Published {
    rejected: u64,
    /// Quotes and book events: not published (the streams carry trades).
    skipped: u64,
}

fn pump<F: Feed>(mut feed: F, mut out: impl FnMut(&Tick, &str) -> Result<()>) -> Result<Published> {
    let shared = feed.names();
    let mut names = Vec::with_capacity(zerotick_feeds::sink::NAMES_RESERVED);
    let mut rejected = 0;
    let mut skipped = 0;
    loop {
        match feed.next_event()? {
            FeedEvent::Tick(t) => {
                if t.symbol as usize >= names.len() {
                    shared.refresh(&mut names);
                }
                let name = names
                    .get(t.symbol as usize)
                    .with_context(|| format!("feed gave symbol {} without a name", t.symbol))?;
                out(&t, name)?;
            }
            FeedEvent::Rejected(_) => rejected += 1,
            // Redis streams carry trades only: other market events are counted and skipped.
            FeedEvent::Quote(_) | FeedEvent::BookDelta(_) | FeedEvent::SnapshotLevel(_) => {
                skipped += 1
            }
            FeedEvent::Idle => {}
            FeedEvent::End => break,
        }
    }
    Ok(Published { rejected, skipped })
}

/// The feed `--feed` names, pumped into `out`.
fn pump_feed(args: &PublishArgs, out: impl FnMut(&Tick, &str) -> Result<()>) -> Result<Published> {
    if args.feed == "synthetic" {
        pump(
            SyntheticFeed::try_new(SyntheticConfig {
                symbols: args.symbols,
                seed: args.seed,
                ticks: Some(args.ticks),
                rate_per_s: args.rate,
                ..SyntheticConfig::default()
            })?,
            out,
        )
    } else if let Some(path) = args.feed.strip_prefix("csv:") {
        let path = PathBuf::from(path);
        let feed = FileFeed::open_as(&path, args.format.into(), args.layout.into(), false)
            .with_context(|| format!("cannot open {}", path.display()))?;
        pump(feed, out)
    } else {
        bail!(
            "unknown --feed {:?}: use `synthetic` or `csv:PATH`",
            args.feed
        );
    }
}

/// Runs `zerotick publish`.
pub fn run(args: &PublishArgs) -> Result<()> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number, got {}", args.rate);
    }
    if args.to.starts_with("kafka://") {
        return run_kafka(args);
    }
    if args.compression != Compression::None {
        bail!("--compression is a Kafka option: Redis stream entries are not compressed");
    }
    let ep = Endpoint::parse(&args.to)?;
    let mut out = Publisher::connect(
        &ep.host,
        ep.port,
        &ep.stream,
        args.shards_total,
        args.maxlen,
        args.batch,
    )
    .with_context(|| format!("cannot publish to {ep}"))?
    .with_give_up(Duration::from_millis(args.reconnect_give_up_ms));
    let start = Instant::now();
    let done = pump_feed(args, |t, name| Ok(out.publish(t, name)?))?;
    if args.no_end_marker {
        out.flush()?;
    } else {
        out.finish()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let ticks = out.published();
    let rate = ticks as f64 / seconds.max(1e-9);
    let streams = args.shards_total.unwrap_or(1);
    let mut stdout = io::stdout().lock();
    if args.json {
        let v = json!({
            "to": ep.to_string(), "streams": streams, "published": ticks,
            "rejected": done.rejected, "skipped_non_trades": done.skipped, "seconds": seconds, "ticks_per_s": rate,
            "reconnects": out.reconnects(), "resent": out.resent(),
        });
        writeln!(stdout, "{v}")?;
    } else {
        writeln!(
            stdout,
            "published {} ticks ({} rejected) to {} stream(s) of {ep} in {seconds:.3} s: {rate:.0} ticks/s",
            ticks, done.rejected, streams
        )?;
        if done.skipped > 0 {
            writeln!(
                stdout,
                "skipped {} quotes and book events (the streams carry trades)",
                done.skipped
            )?;
        }
        if out.reconnects() > 0 {
            writeln!(
                stdout,
                "reconnected {} time(s), {} command(s) sent again (at-least-once)",
                out.reconnects(),
                out.resent()
            )?;
        }
    }
    Ok(())
}

/// Kafka record-batch compression (`--compression`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The codec number of the record-batch attributes.
    fn codec(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }
}

/// `zerotick publish --to kafka://HOST:PORT/TOPIC --partitions N`.
fn run_kafka(args: &PublishArgs) -> Result<()> {
    let ep = KafkaEndpoint::parse(&args.to)?;
    if args.shards_total.is_some() || args.maxlen.is_some() {
        bail!("--stream-shards and --maxlen are Redis options: a Kafka topic takes --partitions");
    }
    let mut out = KafkaPublisher::connect(
        &ep.host,
        ep.port,
        &ep.topic,
        args.partitions,
        args.batch.max(1),
        Duration::from_millis(args.reconnect_give_up_ms),
    )
    .with_context(|| format!("cannot publish to {ep}"))?;
    out.set_compression(args.compression.codec())?;
    let start = Instant::now();
    let done = pump_feed(args, |t, name| Ok(out.publish(t, name)?))?;
    out.flush()?;
    let seconds = start.elapsed().as_secs_f64();
    let ticks = out.published();
    let rate = ticks as f64 / seconds.max(1e-9);
    let mut stdout = io::stdout().lock();
    if args.json {
        let v = json!({
            "to": ep.to_string(), "partitions": out.partitions(), "published": ticks,
            "rejected": done.rejected, "skipped_non_trades": done.skipped, "seconds": seconds,
            "ticks_per_s": rate, "idempotent": out.idempotent(), "retries": out.retries(),
            "compression": format!("{:?}", args.compression).to_lowercase(),
        });
        writeln!(stdout, "{v}")?;
    } else {
        writeln!(
            stdout,
            "published {ticks} ticks ({} rejected) to {} partition(s) of {ep} in {seconds:.3} s: {rate:.0} ticks/s",
            done.rejected,
            out.partitions()
        )?;
        if done.skipped > 0 {
            writeln!(
                stdout,
                "skipped {} quotes and book events (the topic carries trades)",
                done.skipped
            )?;
        }
        if !out.idempotent() {
            writeln!(
                stdout,
                "the broker granted no producer id: batches retried after a failure may be written twice"
            )?;
        }
    }
    Ok(())
}
