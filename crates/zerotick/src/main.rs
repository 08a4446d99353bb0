//! `zerotick`: runs the market-data feature pipeline and reports what it measured.
#![forbid(unsafe_code)]

mod bench;
mod checks;
mod features;
mod interrupt;
mod jitter;
mod kafka;
mod metrics_http;
mod publish;
mod report;
mod sinks;
mod transport;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use zerotick_core::{Feed, NullSink, Sink};
use zerotick_feeds::{
    Compression, CsvLayout, FileFeed, InputFormat, MergedFeed, SyntheticConfig, SyntheticFeed,
    expand_paths,
};
use zerotick_mem::counting::{CountingAlloc, thread_total, watch_this_thread};
use zerotick_mem::process::MemoryStatus;
use zerotick_pipeline::features::FeatureConfig;
use zerotick_pipeline::rows::Emit;
use zerotick_pipeline::{Hooks, PipelineConfig, PipelineError, RunReport, run};

use crate::checks::{check_flags, checkpoints_on, read_spec};
use crate::interrupt::{Interruptible, interrupted};
use crate::sinks::{check_sink_is_not_an_input, csv_sink, parquet_sink};
use zerotick_sync::metrics::Registry;

#[derive(Parser, Debug)]
#[command(
    name = "zerotick",
    version,
    about = "A market-data feature pipeline with a hot path that does not allocate, lock or copy, measured honestly."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the pipeline (feed -> features -> normalise/squash/read-out -> sink) and report
    /// throughput, latency, allocations, pool and memory figures.
    Run(Box<RunArgs>),
    /// Measure the origin report's before/after table (runs the `zerotick-baseline` binary
    /// next to this one with the arguments given; `zerotick bench --help` lists them).
    #[command(disable_help_flag = true)]
    Bench(bench::BenchArgs),
    /// Write a feed (synthetic or CSV) into Redis streams, sharded by symbol, with an end
    /// marker per stream, or into a Kafka topic keyed and partitioned by symbol; prints
    /// ticks/s.
    Publish(publish::PublishArgs),
    /// The feature-spec catalogue: `zerotick features --list` prints every indicator with
    /// its parameters and defaults.
    Features(features::FeaturesArgs),
    /// Measure how often and for how long this machine takes a CPU away from a busy thread
    /// (a spinning clock reader per CPU, like sysjitter): the floor under any latency figure
    /// measured here.
    Jitter(jitter::JitterArgs),
}

#[derive(Parser, Debug)]
pub(crate) struct RunArgs {
    /// Where ticks come from: `synthetic` (seeded, embedded), a file as `PATH` (or
    /// `csv:PATH`), `redis://HOST:PORT/STREAM` (a consumer group over Redis Streams; see
    /// --stream-shards) or `kafka://HOST:PORT/TOPIC` (a Kafka consumer group; see --group,
    /// --until-end, --partitions-of). A file's format is told by its content (see --format): trade CSV
    /// (exchange aggTrades/trades dumps or `timestamp,symbol,price,size[,side]`), Binance
    /// websocket JSON lines, or Tardis CSV. Files may be plain, gzip (`cat a.gz b.gz` too),
    /// zstd or zip (its CSV members in turn), told by their first bytes, whatever their name;
    /// read as a stream. Repeat --feed, give a directory (every regular file in it, sorted by
    /// name) or a glob (`data/BTCUSDT-*.csv.gz`; `*` and `?` in the file name, quoted so the
    /// shell leaves it), to replay several files merged by event time (ties in the order
    /// given). An event whose time goes backwards within its symbol is handed on at the
    /// symbol's last time and counted (`time_clamped`), never dropped. Quotes and book
    /// events build a per-symbol order book; a --features spec reads it through its book
    /// inputs (`zerotick features --list`), and the report counts events by kind and what
    /// the books met.
    #[arg(long, default_value = "synthetic")]
    feed: Vec<String>,
    /// Format of the feed's files: `auto` tells each file's from its first line (a JSON
    /// object: binance-json; a Tardis header: tardis; else csv), or from its extension
    /// (`.jsonl`, `.ndjson`, `.json`) when it is empty.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Column layout of a trade CSV feed.
    #[arg(long, value_enum, default_value_t = Layout::Auto)]
    layout: Layout,
    /// Stop at the first malformed row or line of a file (with its line number) instead of
    /// counting it.
    #[arg(long)]
    strict: bool,
    /// Symbols of the synthetic market.
    #[arg(long, default_value_t = 64)]
    symbols: usize,
    /// Levels per side of each symbol's order book (1 to 65,536). A book keeps the best N
    /// bids and N asks; a level beyond them is dropped (counted in the report) until the
    /// book thins out. About 96 bytes per level of depth, allocated on a symbol's first quote
    /// or book event (96 KiB a symbol at the default); a trade-only feed allocates none.
    #[arg(long, value_name = "N", default_value_t = zerotick_core::book::DEFAULT_DEPTH)]
    book_depth: usize,
    /// Ticks to produce (synthetic feed). Default: 5,000,000, unless --seconds is given.
    #[arg(long)]
    ticks: Option<u64>,
    /// Stop reading the feed after this many seconds of wall time (Ctrl-C stops it the same
    /// way: the report and the sink's file are complete; a second Ctrl-C exits at once).
    #[arg(long)]
    seconds: Option<f64>,
    /// Event-time rate of the synthetic market, ticks per second. The feed runs as fast as
    /// the pipeline takes it, unless --paced.
    #[arg(long, default_value_t = 1_000_000.0)]
    rate: f64,
    /// Release synthetic ticks at --rate in wall-clock time (latency at a given load)
    /// instead of as fast as possible (throughput). The feed thread sleeps (at least 20 us)
    /// until a tick is due and then releases every tick that fell due, as a socket reader
    /// does; how late each tick was released is measured, and the report shows the
    /// arrival-to-signal latency beside the tick-to-signal latency (from the read).
    #[arg(long)]
    paced: bool,
    /// Seed of the synthetic market.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where signals go: `null`, `stdout`, `csv:PATH`, `parquet:PATH`,
    /// `redis://HOST:PORT/STREAM` (XADD of `ts`, `symbol`, `value`) or
    /// `kafka://HOST:PORT/TOPIC` (records keyed by symbol name, value `ts` and `value`;
    /// docs/transports.md has the layout). Feature rows (--emit features|both) go to `null`,
    /// `stdout` or `csv:PATH` (with a header naming every column) or `parquet:PATH`. A
    /// Parquet file has the columns ts_ns (a ns timestamp), symbol (the name,
    /// dictionary-encoded), one DOUBLE per feature named as the spec names it, and signal; its
    /// row groups are written by a thread of their own; it is written as PATH.partial and
    /// renamed to PATH when complete (a failed run leaves PATH as it was). A run stopped by
    /// --seconds or Ctrl-C still completes the file. A sink file that is one of the run's
    /// input files (a --feed file or the --features spec) is refused before anything is
    /// written.
    #[arg(long, default_value = "null")]
    sink: String,
    /// A feature spec (TOML): its rows replace the built-in 1,024-column row, written at the
    /// spec's cadence (`[row] every = 64` events of a symbol, or `"250ms"` of event time),
    /// and its `[compute]` table chooses the compute steps (normalise, filter bank, squash,
    /// projection none/fixed/pca, read-out). `zerotick features --list` prints the
    /// indicators; docs/pipeline.md has an example. A bad spec is a one-line error naming
    /// the file and line; a spec over 1 MiB is refused. Default: the built-in row.
    #[arg(long, value_name = "FILE")]
    features: Option<PathBuf>,
    /// What goes to the sink: `signals` (one per row: ts_ns,symbol,value), `features` (each
    /// row's feature values before the compute stage, one column per feature named from the
    /// spec, or the built-in row's 1,024 names: ret.K, sq.K, ema.hH.STAT) or `both` (the
    /// features and a last `signal` column). Rows need a `null`, `stdout`, `csv:PATH` or
    /// `parquet:PATH` sink. The checksum digests what went to the sink.
    #[arg(long, value_enum, default_value_t = EmitArg::Signals)]
    emit: EmitArg,
    /// A symbol writes a feature row every this many of its ticks (built-in row; a spec
    /// sets its own cadence).
    #[arg(long, default_value_t = 64, conflicts_with = "features")]
    row_every: u32,
    /// Rows per pooled batch (the most a compute job takes; batches form under load). Default:
    /// 64 where the core's L2 cache holds two such batches (1 MiB or more, as on Intel Xeon),
    /// else 32 (AMD EPYC Zen 3's 512 KiB); the report says which and why.
    #[arg(long)]
    batch_rows: Option<usize>,
    /// Batches in the pool: jobs being filled, queued at a compute worker or computed.
    #[arg(long, default_value_t = zerotick_pipeline::config::DEFAULT_POOL_BATCHES)]
    pool_batches: usize,
    /// Capacity of the tick ring between the feed and the feature thread. When the feed
    /// outruns the pipeline it fills the ring and waits for a quarter of it to drain; a
    /// large ring rides out the feed thread sharing its core. Queueing latency at full
    /// speed grows with it; a paced or live feed keeps the ring near empty.
    #[arg(long, default_value_t = 16_384)]
    ring_capacity: usize,
    /// Compute worker threads. A due batch goes, with its shard's state, to an idle worker
    /// or queues behind a busy one (one job deep); the feature thread computes it only when
    /// every worker already has one waiting, so a worker takes the compute its core has
    /// room for. 0 computes everything on the
    /// feature thread. Default: one per core, at most the shard count, behind a replay; 0
    /// behind a live feed (--paced, a stream), where a parked worker's wake-up costs a row
    /// more than its compute (the report says which and why). The signals are the same for every N.
    #[arg(long)]
    workers: Option<usize>,
    /// Pin threads to CPUs (with compute inline and 2+ CPUs: the feature thread on a CPU of
    /// its own, the feed and PCA threads on another). Default: pinned behind a paced feed,
    /// where the feature thread busy-polls and the tail was 2-7x lower pinned; not behind a
    /// replay, where pinning cost 5-15% throughput, nor behind a Redis consumer group, whose
    /// members may share a host
    #[arg(long, conflicts_with = "no_pin")]
    pin: bool,
    /// Never pin threads, also behind a live feed
    #[arg(long)]
    no_pin: bool,
    /// Compute shards: independent normalisation statistics, projection and PCA state
    /// (symbol s belongs to shard s % shards; with a Redis feed of several stream shards, a
    /// compute shard takes the symbols of one stream shard). Part of the result.
    #[arg(long, default_value_t = 4)]
    compute_shards: usize,
    /// A shard refreshes its projection by randomized SVD every this many of its rows
    /// (0: never; the sparse random projection stays).
    #[arg(long, default_value_t = 8192)]
    pca_every: u64,
    /// Ticks processed before steady state (allocations are counted after it).
    #[arg(long, default_value_t = 100_000)]
    warmup_ticks: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Redis or Kafka feed: consumer group.
    #[arg(long, default_value = "zerotick")]
    group: String,
    /// Redis feed: this consumer's name in the group (a restart under the same name re-reads
    /// its pending entries first). Kafka feed: a name for the report (the broker gives the
    /// member id).
    #[arg(long, default_value = "zerotick-1")]
    consumer: String,
    /// Redis feed: stream shards to consume, e.g. `0,1` for `STREAM.0` and `STREAM.1`
    /// (`--shards` is the old spelling). Absent: the single stream `STREAM`. Not to be
    /// confused with --compute-shards.
    #[arg(long = "stream-shards", alias = "shards")]
    stream_shards: Option<String>,
    /// Redis feed: entries per XREADGROUP.
    #[arg(long, default_value_t = 512)]
    redis_count: usize,
    /// Redis feed: most dead letters kept in STREAM.dead (XADD MAXLEN, exact: the oldest go
    /// first), so a writer of bad entries cannot grow the server's memory without bound.
    #[arg(long, default_value_t = zerotick_redis::DEAD_LETTER_MAX)]
    dead_letter_max: u64,
    /// Kafka feed: end once every partition held has reached the end offset it had when the
    /// run started (a bounded run: tests, batch jobs).
    #[arg(long)]
    until_end: bool,
    /// Kafka feed: no group membership; read the partitions p with p % N == I (`I/N`, e.g.
    /// `0/2`), still committing offsets to --group. Default: membership, the group assigns.
    #[arg(long, value_name = "I/N")]
    partitions_of: Option<String>,
    /// Kafka feed: the group drops a member silent this long (heartbeats every tenth), ms;
    /// more than three times --block-ms with group membership.
    #[arg(long, default_value_t = 10_000)]
    session_timeout_ms: u64,
    /// Kafka feed: commit offsets at most this often while reading, ms (each commit is a
    /// round trip to the coordinator; a crash reprocesses at most about this much), and
    /// always before a rebalance and at the end of the run.
    #[arg(long, default_value_t = 100)]
    commit_interval_ms: u64,
    /// Redis feed: XREADGROUP BLOCK, ms. Kafka feed: how long a fetch waits for data, ms.
    /// At least 1. The lease and heartbeats are renewed between reads, so with checkpoints
    /// (Redis) it must stay below a third of the lease (--claim-idle-ms, at least 1 s), and
    /// with Kafka group membership below a third of --session-timeout-ms.
    #[arg(long, default_value_t = 100)]
    block_ms: u64,
    /// Redis feed: claim entries pending longer than this for another consumer (XAUTOCLAIM),
    /// at start and every this many ms. With checkpoints, also how long the shard set's lease
    /// lives without renewal (at least 1 s; more than three times --block-ms).
    #[arg(long, default_value_t = 5_000)]
    claim_idle_ms: u64,
    /// Redis feed and sink: keep reconnecting this long before the run fails, ms.
    #[arg(long, default_value_t = 30_000)]
    reconnect_give_up_ms: u64,
    /// Redis sink: trim the signal stream to about this many entries (XADD MAXLEN ~ N).
    #[arg(long)]
    maxlen: Option<u64>,
    /// Redis feed: deterministic failover, on by default with the built-in feature row (this
    /// flag makes it an error when that cannot be). Store a checkpoint of the pipeline's
    /// state with its stream positions (key STREAM.ckpt.GROUP[.SHARDS]) every
    /// --checkpoint-every ticks; at start, resume from the stored one and replay the stream
    /// from its positions. A Redis sink then appends each (symbol, seq) once (hash
    /// SINK.seq.GROUP[.SHARDS]). One consumer holds a shard set at a time (a lease,
    /// STREAM.owner.GROUP[.SHARDS]); another started on the same shards stands by.
    #[arg(long, conflicts_with = "no_checkpoints")]
    checkpoints: bool,
    /// Redis feed: no checkpoints, no lease and no deduplication: consumers of the same
    /// shards share their entries, and one that takes over starts from empty state.
    #[arg(long)]
    no_checkpoints: bool,
    /// With checkpoints: ticks between checkpoints.
    #[arg(long, default_value_t = DEFAULT_CHECKPOINT_EVERY)]
    checkpoint_every: u64,
    /// Serve the run's metrics at http://ADDR/metrics (Prometheus text format), e.g.
    /// `127.0.0.1:9100`.
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Keep the metrics endpoint up this long after the run, ms, so a scraper reads the final
    /// values.
    #[arg(long, default_value_t = 0)]
    metrics_linger_ms: u64,
}

/// `--emit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum EmitArg {
    Signals,
    Features,
    Both,
}

impl From<EmitArg> for Emit {
    fn from(e: EmitArg) -> Self {
        match e {
            EmitArg::Signals => Emit::Signals,
            EmitArg::Features => Emit::Features,
            EmitArg::Both => Emit::Both,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Format {
    /// Told by each file's content, else its extension.
    Auto,
    /// Trade CSV (see --layout).
    Csv,
    /// Binance websocket messages, one JSON object per line (trade, aggTrade, bookTicker,
    /// depthUpdate).
    BinanceJson,
    /// Tardis CSV datasets (trades, quotes, book_snapshot_N, incremental_book_L2).
    Tardis,
}

impl From<Format> for InputFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Auto => InputFormat::Auto,
            Format::Csv => InputFormat::Csv,
            Format::BinanceJson => InputFormat::BinanceJson,
            Format::Tardis => InputFormat::Tardis,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Layout {
    Auto,
    Generic,
    AggTrades,
    Trades,
}

/// Counts the allocations of the pipeline's own threads (they opt in through
/// `Hooks::thread_start`) for the steady-state figure; other threads (the progress bar) are not
/// counted.
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version go to stdout as clap prints them.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line: clap's first, without its own `error: ` prefix.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "zerotick: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let result = match &cli.command {
        Command::Run(args) => run_command(args),
        Command::Bench(args) => bench::command(args),
        Command::Publish(args) => publish::run(args),
        Command::Features(args) => features::command(args),
        Command::Jitter(args) => jitter::command(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zerotick: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || matches!(c.downcast_ref::<PipelineError>(), Some(PipelineError::Sink(io)) if io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Default ticks between checkpoints (`--checkpoint-every`); see the README's Redis section
/// for what a checkpoint costs.
const DEFAULT_CHECKPOINT_EVERY: u64 = 262_144;

fn run_command(args: &RunArgs) -> Result<()> {
    check_flags(args)?;
    interrupt::install()?;
    let mut config = PipelineConfig {
        features: FeatureConfig {
            row_every: args.row_every,
        },
        batch_rows: args
            .batch_rows
            .unwrap_or_else(zerotick_pipeline::config::default_batch_rows),
        pool_batches: args.pool_batches,
        ring_capacity: args.ring_capacity,
        warmup_ticks: args.warmup_ticks,
        duration: args.seconds.map(Duration::from_secs_f64),
        symbols_hint: args.symbols,
        book_depth: args.book_depth,
        workers: args.workers,
        pin_threads: if args.pin {
            Some(true)
        } else if args.no_pin {
            Some(false)
        } else {
            None
        },
        ..PipelineConfig::default()
    };
    config.compute.shards = args.compute_shards;
    if checkpoints_on(args) {
        config.checkpoint_every = args.checkpoint_every;
        // Parsed again (and checked) when the feed connects.
        let stream_shards = args
            .stream_shards
            .as_deref()
            .map(transport::shards)
            .transpose()?
            .map_or(1, |list| list.len());
        if stream_shards > args.compute_shards {
            eprintln!(
                "zerotick: note: {stream_shards} stream shards share {} compute shards: the \
                 signals after a failover can differ from a run without one (their order \
                 depends on how the shards' reads interleave); --compute-shards \
                 {stream_shards} or more keeps them exact",
                args.compute_shards
            );
        }
    }
    config.compute.pca_every = args.pca_every;
    config.emit = args.emit.into();
    if let Some(path) = &args.features {
        let spec = read_spec(path, config.emit)?;
        config = config.with_spec(spec);
    }
    let registry = Arc::new(Registry::new());
    let server = match &args.metrics_addr {
        Some(addr) => Some(
            metrics_http::MetricsServer::start(addr, registry.clone())
                .with_context(|| format!("cannot serve metrics on {addr}"))?,
        ),
        None => None,
    };
    if let Some(s) = &server {
        eprintln!("zerotick: metrics at http://{}/metrics", s.addr());
    }
    let mut redis_counters = None;
    let mut kafka_counters = None;
    let rss_start = MemoryStatus::read();
    let steady = SteadyRss::default();
    let files = file_paths(&args.feed)?
        .map(|given| expand_paths(&given))
        .transpose()?;
    check_sink_is_not_an_input(&args.sink, files.as_deref(), args.features.as_deref())?;
    let feed = args.feed.first().map_or("synthetic", String::as_str);
    let (report, feed_name) = if let Some(paths) = files {
        let (format, layout, strict) = (args.format.into(), args.layout.into(), args.strict);
        if let [path] = &paths[..] {
            let feed = FileFeed::open_as(path, format, layout, strict)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let name = format!(
                "{}:{}{}",
                feed.format().name(),
                path.display(),
                compressed(feed.compression())
            );
            (
                run_with(feed, args, &config, None, &registry, &steady)?,
                name,
            )
        } else {
            let feed = MergedFeed::open_as(&paths, format, layout, strict)
                .context("cannot open the feed")?;
            let mut kinds: Vec<&str> = feed.compressions().map(Compression::name).collect();
            kinds.sort_unstable();
            kinds.dedup();
            let mut formats: Vec<&str> = feed.formats().map(InputFormat::name).collect();
            formats.sort_unstable();
            formats.dedup();
            let name = format!(
                "{}:{} and {} more, merged by event time ({})",
                formats.join("+"),
                paths[0].display(),
                paths.len() - 1,
                kinds.join(", ")
            );
            (
                run_with(feed, args, &config, None, &registry, &steady)?,
                name,
            )
        }
    } else if feed == "synthetic" {
        let ticks = args.ticks.or(if args.seconds.is_some() {
            None
        } else {
            Some(5_000_000)
        });
        let feed = SyntheticFeed::try_new(SyntheticConfig {
            symbols: args.symbols,
            seed: args.seed,
            ticks,
            rate_per_s: args.rate,
            paced: args.paced,
            ..SyntheticConfig::default()
        })?;
        (
            run_with(feed, args, &config, ticks, &registry, &steady)?,
            "synthetic".to_owned(),
        )
    } else if feed.starts_with("kafka://") {
        let feed = kafka::feed(feed, args)?;
        kafka_counters = Some(feed.counters());
        let mut mirror = kafka::KafkaMetrics::register(&registry, feed.counters())?;
        let sync = move || mirror.sync();
        (
            run_mirrored(feed, sync, args, &config, &registry, &steady)?,
            args.feed[0].clone(),
        )
    } else {
        let feed = transport::feed(feed, args)?;
        redis_counters = Some(feed.counters());
        let mut mirror = transport::RedisMetrics::register(&registry, feed.counters())?;
        let sync = move || mirror.sync();
        (
            run_mirrored(feed, sync, args, &config, &registry, &steady)?,
            args.feed[0].clone(),
        )
    };
    if interrupted() {
        eprintln!(
            "zerotick: interrupted: stopped reading the feed; the report covers what was read"
        );
    }
    let now = MemoryStatus::read();
    let rss = report::Rss {
        start: rss_start.vm_rss_bytes,
        peak: now.vm_hwm_bytes,
        end: now.vm_rss_bytes,
        after_warmup: steady.get(&steady.at_warmup),
        max_after_warmup: steady.get(&steady.max_after),
    };
    // With signals on stdout, stdout holds only data: the report goes to stderr.
    let mut out: Box<dyn Write> = if args.sink == "stdout" {
        Box::new(io::stderr().lock())
    } else {
        Box::new(io::stdout().lock())
    };
    if args.json {
        let mut v = report::json(&report, &rss, &feed_name);
        if let Some(c) = &redis_counters {
            v["redis"] = transport::counters_json(c);
        }
        if let Some(c) = &kafka_counters {
            v["kafka"] = kafka::counters_json(c, &args.consumer);
        }
        writeln!(out, "{v}")?;
    } else {
        out.write_all(report::table(&report, &rss, &feed_name).as_bytes())?;
        if let Some(c) = &redis_counters {
            out.write_all(transport::counters_table(c).as_bytes())?;
        }
        if let Some(c) = &kafka_counters {
            out.write_all(kafka::counters_table(c).as_bytes())?;
        }
    }
    out.flush()?;
    drop(out);
    if let Some(server) = server {
        server.stop(Duration::from_millis(args.metrics_linger_ms));
    }
    Ok(())
}

/// Runs a network feed while a thread of its own mirrors the feed's counters into the
/// metrics registry every 100 ms, and once at the end.
fn run_mirrored<F: Feed + 'static>(
    feed: F,
    mut sync: impl FnMut() + Send,
    args: &RunArgs,
    config: &PipelineConfig,
    registry: &Registry,
    steady: &SteadyRss,
) -> Result<RunReport> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let mirror = s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                sync();
                std::thread::park_timeout(Duration::from_millis(100));
            }
            sync();
        });
        let report = run_with(feed, args, config, None, registry, steady);
        stop.store(true, Ordering::Relaxed);
        mirror.thread().unpark();
        report
    })
}

/// The paths of `--feed` values naming files (`csv:PATH` or a bare `PATH`), or `None` for a
/// single `synthetic`, `redis://` or `kafka://` feed; those cannot be repeated or mixed
/// with files.
pub(crate) fn file_paths(feeds: &[String]) -> Result<Option<Vec<PathBuf>>> {
    let single =
        |f: &str| f == "synthetic" || f.starts_with("redis://") || f.starts_with("kafka://");
    if let [one] = feeds
        && single(one)
    {
        return Ok(None);
    }
    let mut paths = Vec::with_capacity(feeds.len());
    for feed in feeds {
        let path = match feed.strip_prefix("csv:") {
            Some(path) => path,
            None if single(feed) => {
                bail!("--feed {feed:?} cannot be combined with other feeds: only files merge")
            }
            None if feed.contains("://") || feed.is_empty() => bail!(
                "unknown --feed {feed:?}: use `synthetic`, `csv:PATH`, `PATH`, `redis://HOST:PORT/STREAM` or `kafka://HOST:PORT/TOPIC`"
            ),
            None => feed.as_str(),
        };
        paths.push(PathBuf::from(path));
    }
    Ok(Some(paths))
}

/// ` (gzip)` after a compressed file's name in the report, nothing for a plain one.
fn compressed(c: Compression) -> String {
    match c {
        Compression::None => String::new(),
        c => format!(" ({})", c.name()),
    }
}

impl From<Layout> for CsvLayout {
    fn from(l: Layout) -> Self {
        match l {
            Layout::Auto => CsvLayout::Auto,
            Layout::Generic => CsvLayout::Generic,
            Layout::AggTrades => CsvLayout::AggTrades,
            Layout::Trades => CsvLayout::Trades,
        }
    }
}

/// Resident memory sampled every 100 ms after warm-up (0 = not sampled).
#[derive(Default)]
struct SteadyRss {
    at_warmup: AtomicU64,
    max_after: AtomicU64,
}

impl SteadyRss {
    fn get(&self, v: &AtomicU64) -> Option<u64> {
        Some(v.load(Ordering::Relaxed)).filter(|&b| b > 0)
    }
}

fn run_with<F: Feed + 'static>(
    feed: F,
    args: &RunArgs,
    config: &PipelineConfig,
    ticks: Option<u64>,
    registry: &Registry,
    steady: &SteadyRss,
) -> Result<RunReport> {
    let feed = Interruptible(feed);
    let names = feed.names();
    let mut sink: Box<dyn Sink> = match args.sink.as_str() {
        "null" => Box::new(NullSink),
        "stdout" => Box::new(csv_sink(
            BufWriter::with_capacity(1 << 16, io::stdout()),
            names,
            config,
        )?),
        other if other.starts_with("redis://") => {
            if config.emit.features() {
                bail!(
                    "--emit features|both writes feature rows, which the Redis sink does not \
                     take: use `null`, `stdout`, `csv:PATH` or `parquet:PATH`"
                );
            }
            Box::new(transport::sink(other, args, names, feed.source_epoch())?)
        }
        other if other.starts_with("kafka://") => {
            if config.emit.features() {
                bail!(
                    "--emit features|both writes feature rows, which the Kafka sink does not \
                     take: use `null`, `stdout`, `csv:PATH` or `parquet:PATH`"
                );
            }
            Box::new(kafka::sink(other, args, names)?)
        }
        other if other.starts_with("parquet:") => {
            Box::new(parquet_sink(&other["parquet:".len()..], names, config)?)
        }
        other => match other.strip_prefix("csv:") {
            Some(path) => {
                let file = File::create(path).with_context(|| format!("cannot create {path}"))?;
                Box::new(csv_sink(
                    BufWriter::with_capacity(1 << 16, file),
                    names,
                    config,
                )?)
            }
            None => bail!(
                "unknown --sink {other:?}: use `null`, `stdout`, `csv:PATH`, `parquet:PATH`, `redis://HOST:PORT/STREAM` or `kafka://HOST:PORT/TOPIC`"
            ),
        },
    };
    let bar = progress_bar(ticks, args.json || args.sink == "stdout");
    // The hot thread only stores a number; a thread of its own draws the bar (drawing
    // allocates, and must not count as the pipeline's allocations).
    let processed = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let progress = |n: u64| processed.store(n, Ordering::Relaxed);
    let hooks = Hooks {
        allocations: Some(thread_total),
        progress: Some(&progress),
        thread_start: Some(watch_this_thread),
        registry: Some(registry),
    };
    /// Sets `done` and wakes the progress thread when dropped: the thread ends as soon as the
    /// run does (not up to a poll interval later), and even if the run panics.
    struct Done<'a>(&'a AtomicBool, std::thread::Thread);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
            self.1.unpark();
        }
    }
    let report = std::thread::scope(|s| {
        let poller = s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let n = processed.load(Ordering::Relaxed);
                bar.set_position(n);
                // Resident memory from the end of warm-up on (this thread is not the
                // pipeline's; reading /proc allocates here, not there).
                if n >= config.warmup_ticks
                    && let Some(rss) = MemoryStatus::read().vm_rss_bytes
                {
                    if steady.at_warmup.load(Ordering::Relaxed) == 0 {
                        steady.at_warmup.store(rss, Ordering::Relaxed);
                    }
                    steady.max_after.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::park_timeout(Duration::from_millis(100));
            }
        });
        let _done = Done(&done, poller.thread().clone());
        run(feed, sink.as_mut(), config, &hooks)
    });
    bar.finish_and_clear();
    Ok(report?)
}

/// A progress bar on stderr, hidden when stderr is not a terminal (or output is JSON).
fn progress_bar(total: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = if total.is_some() {
        "{spinner} {bar:40} {pos}/{len} ticks ({per_sec}, eta {eta})"
    } else {
        "{spinner} {pos} ticks ({per_sec})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
