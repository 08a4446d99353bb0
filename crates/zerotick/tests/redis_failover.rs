//! Deterministic failover against a real `redis-server` (issue 18, part 2), with the default
//! flags (checkpoints are on for a Redis feed): a consumer SIGKILLed mid-run and replaced at
//! once, or Redis itself crashed and restarted, leaves in the signal stream exactly the
//! signals of a run without a fault (each `(symbol, seq)` once, the same values bit for bit),
//! and nothing pending. A second consumer on the same shards stands by until the first one
//! ends. A stream deleted and published again starts afresh (the stale checkpoint and the
//! sink's sequence numbers set aside). A corrupt or foreign-version checkpoint is refused
//! with a clear error.

mod redis_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use redis_support::*;
use serde_json::Value;
use zerotick_redis::Connection;

const MINUTE: Duration = Duration::from_secs(60);
const TICKS: u64 = 120_000;
/// Small rows cadence and PCA period so the runs cross several PCA refreshes (window,
/// in-flight refresh and applied states are all checkpointed somewhere).
const ROW_EVERY: &str = "8";
/// With one compute shard, 15,000 rows: refreshes at rows 5,120 and 10,240 (applied 4,096
/// rows later), PCA windows before each.
const PCA_EVERY: &str = "5120";
const EVERY: &str = "4000";

fn publish(r: &Redis) {
    publish_into(r, 1);
}

/// Publishes the ticks into `shards` stream shards (`ticks.0`, ..).
fn publish_into(r: &Redis, shards: u32) {
    let out = run_json(
        &[
            "publish",
            "--to",
            &r.url("ticks"),
            "--stream-shards",
            &shards.to_string(),
            "--ticks",
            &TICKS.to_string(),
            "--json",
        ],
        MINUTE,
    );
    assert_eq!(out["published"].as_u64(), Some(TICKS), "{out}");
}

fn consumer(r: &Redis, group: &str, name: &str, sink: &str, extra: &[&str]) -> Proc {
    consumer_on(r, group, name, sink, "0", "1", extra)
}

/// A consumer of the stream shards `shards` (`0` or `0,1`) with `compute` compute shards.
fn consumer_on(
    r: &Redis,
    group: &str,
    name: &str,
    sink: &str,
    shards: &str,
    compute: &str,
    extra: &[&str],
) -> Proc {
    let (feed, sink) = (r.url("ticks"), r.url(sink));
    let args = [
        "run",
        "--feed",
        &feed,
        "--group",
        group,
        "--consumer",
        name,
        "--stream-shards",
        shards,
        "--sink",
        &sink,
        "--row-every",
        ROW_EVERY,
        "--pca-every",
        PCA_EVERY,
        "--compute-shards",
        compute,
        "--checkpoint-every",
        EVERY,
        "--json",
    ];
    spawn_zerotick(&args, extra)
}

/// A consumer's report: its run ends within two minutes.
fn report(p: Proc) -> Value {
    json_of(p, 2 * MINUTE)
}

/// Per symbol, its signals in stream order as (seq, ts, value).
type Signals = BTreeMap<String, Vec<(u64, String, String)>>;

/// Per symbol, its signals in stream order as (seq, ts, value); panics on a duplicate seq or
/// one out of order.
fn signals(c: &mut Connection, stream: &str) -> Signals {
    let mut out = Signals::new();
    for e in xrange_all(c, stream) {
        let get = |k: &str| {
            e.iter()
                .find(|(f, _)| f == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{k} missing in {e:?}"))
        };
        let seq: u64 = get("seq").parse().expect("seq");
        let list = out.entry(get("symbol")).or_default();
        if let Some(last) = list.last() {
            assert!(seq > last.0, "{stream}: seq {seq} after {}", last.0);
        }
        list.push((seq, get("ts"), get("value")));
    }
    out
}

/// Asserts that `got` holds `want`'s symbols, each with the same signals, naming the first
/// difference (`what`: the run, `j`: its report).
fn assert_same_signals(got: &Signals, want: &Signals, what: &str, j: &Value) {
    assert_eq!(got.len(), want.len(), "{what}: symbols");
    for (symbol, list) in want {
        let mine = got.get(symbol).map(Vec::as_slice).unwrap_or_default();
        let first = list.iter().zip(mine).position(|(a, b)| a != b);
        assert!(
            first.is_none() && mine.len() == list.len(),
            "{what}: signals of {symbol} differ: {} against {} signals, first difference at \
             {first:?}: {:?} against {:?}; {j}",
            mine.len(),
            list.len(),
            first.map(|i| &mine[i]),
            first.map(|i| &list[i]),
        );
    }
}

/// Waits until `group` has delivered at least `fraction` of the stream.
fn wait_for_progress(c: &mut Connection, group: &str, fraction: f64) {
    wait_for_progress_on(c, "ticks.0", TICKS, group, fraction);
}

/// Waits until `group` has delivered at least `fraction` of `total` entries of `stream`.
fn wait_for_progress_on(c: &mut Connection, stream: &str, total: u64, group: &str, fraction: f64) {
    let start = Instant::now();
    loop {
        c.encoder()
            .begin(3)
            .arg(b"XINFO")
            .arg(b"GROUPS")
            .arg(stream.as_bytes());
        let v = c.call().expect("XINFO GROUPS");
        let mut lag = None;
        for g in v.iter() {
            let kv: Vec<_> = g.iter().collect();
            let get = |k: &[u8]| kv.chunks(2).find(|p| p[0].bytes() == Some(k)).map(|p| p[1]);
            if get(b"name").and_then(|v| v.bytes()) == Some(group.as_bytes()) {
                lag = get(b"lag").and_then(|v| v.int());
            }
        }
        if let Some(lag) = lag
            && (total as f64 - lag as f64) >= fraction * total as f64
        {
            return;
        }
        assert!(start.elapsed() < 2 * MINUTE, "no progress in {group}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn get(c: &mut Connection, key: &str) -> Option<Vec<u8>> {
    c.encoder().begin(2).arg(b"GET").arg(key.as_bytes());
    c.call().expect("GET").bytes().map(<[u8]>::to_vec)
}

fn set(c: &mut Connection, key: &str, value: &[u8]) {
    c.encoder()
        .begin(3)
        .arg(b"SET")
        .arg(key.as_bytes())
        .arg(value);
    c.call().expect("SET");
}

/// The fault-free run's signals.
fn reference(r: &Redis) -> Signals {
    let j = report(consumer(r, "ref", "r", "signals.ref", &[]));
    assert_eq!(j["ticks_processed"].as_u64(), Some(TICKS), "{j}");
    assert!(j["redis"]["checkpoints"].as_u64().unwrap_or(0) >= 5, "{j}");
    let mut c = r.conn();
    let s = signals(&mut c, "signals.ref");
    let rows: usize = s.values().map(Vec::len).sum();
    assert_eq!(rows as u64, j["vectors"].as_u64().unwrap(), "{j}");
    s
}

#[test]
fn a_consumer_killed_at_several_points_and_replaced_gives_the_fault_free_signals() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    publish(&r);
    let want = reference(&r);
    let mut c = r.conn();
    for (k, fraction) in [0.15, 0.5, 0.85].into_iter().enumerate() {
        let group = format!("g{k}");
        let sink = format!("signals.{group}");
        let mut a = consumer(&r, &group, "a", &sink, &[]);
        wait_for_progress(&mut c, &group, fraction);
        a.kill(); // SIGKILL: no acknowledgement, flush or checkpoint at exit
        let stored = get(&mut c, &format!("ticks.ckpt.{group}.0")).is_some();
        // The replacement starts at once, under another name.
        let j = report(consumer(&r, &group, "b", &sink, &[]));
        assert_eq!(
            j["redis"]["resumed"].as_u64(),
            Some(u64::from(stored)),
            "{j}"
        );
        assert!(j["redis"]["replayed"].as_u64().unwrap_or(0) > 0, "{j}");
        assert_eq!(xpending(&mut c, "ticks.0", &group), 0, "{group}");
        let got = signals(&mut c, &sink);
        assert_same_signals(&got, &want, &format!("{group} (killed at {fraction})"), &j);
    }
}

#[test]
fn a_second_consumer_on_the_same_shards_stands_by_and_nothing_is_doubled() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    publish(&r);
    let want = reference(&r);
    let a = consumer(&r, "g", "a", "signals.g", &[]);
    std::thread::sleep(Duration::from_millis(200));
    let b = consumer(&r, "g", "b", "signals.g", &[]);
    let (ja, jb) = (report(a), report(b));
    let waited = |j: &Value| j["redis"]["standby_ms"].as_u64().unwrap_or(0);
    assert!(waited(&ja) + waited(&jb) > 0, "nobody stood by: {ja} {jb}");
    let mut c = r.conn();
    assert_eq!(xpending(&mut c, "ticks.0", "g"), 0);
    assert_eq!(
        get(&mut c, "ticks.owner.g.0"),
        None,
        "the lease was not given up"
    );
    assert_eq!(signals(&mut c, "signals.g"), want);
}

#[test]
fn a_stream_published_again_under_the_same_group_starts_afresh() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    publish(&r);
    let first = report(consumer(&r, "g", "a", "signals.g", &[]));
    let mut c = r.conn();
    let stored = get(&mut c, "ticks.ckpt.g.0").expect("a checkpoint was stored");
    // The same ticks again, in a new stream: the group and its epoch are new.
    c.encoder().begin(2).arg(b"DEL").arg(b"ticks.0");
    c.call().expect("DEL");
    publish(&r);
    let again = report(consumer(&r, "g", "a", "signals.g", &[]));
    assert_eq!(
        again["redis"]["stale_checkpoints"].as_u64(),
        Some(1),
        "{again}"
    );
    assert_eq!(again["redis"]["resumed"].as_u64(), Some(0), "{again}");
    assert_eq!(again["ticks_processed"].as_u64(), Some(TICKS), "{again}");
    assert_eq!(again["checksum"], first["checksum"], "{first} {again}");
    assert_ne!(get(&mut c, "ticks.ckpt.g.0"), Some(stored), "not replaced");
    // The sink's sequence numbers started over: every signal of the new run was appended.
    let vectors = first["vectors"].as_u64().unwrap();
    assert_eq!(xlen(&mut c, "signals.g"), 2 * vectors, "{first} {again}");
}

#[test]
fn a_consumer_of_two_stream_shards_killed_and_replaced_gives_the_fault_free_signals() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    publish_into(&r, 2);
    let shards = "0,1";
    // Two fault-free runs agree, even when they read in batches of different sizes (so the
    // two shards' entries interleave differently): each of the two compute shards takes the
    // symbols of one stream shard.
    let mut c = r.conn();
    let mut runs = Vec::new();
    for (group, count) in [("ref", "512"), ("ref2", "37")] {
        let sink = format!("signals.{group}");
        let extra = ["--redis-count", count];
        let j = report(consumer_on(&r, group, "r", &sink, shards, "2", &extra));
        assert_eq!(j["ticks_processed"].as_u64(), Some(TICKS), "{j}");
        runs.push(signals(&mut c, &sink));
    }
    assert_eq!(runs[0], runs[1], "two fault-free runs differ");
    let want = &runs[0];
    let len0 = xlen(&mut c, "ticks.0") - 1; // without the end marker
    for (k, fraction) in [0.3, 0.75].into_iter().enumerate() {
        let group = format!("s{k}");
        let sink = format!("signals.{group}");
        let mut a = consumer_on(&r, &group, "a", &sink, shards, "2", &[]);
        wait_for_progress_on(&mut c, "ticks.0", len0, &group, fraction);
        a.kill();
        let j = report(consumer_on(&r, &group, "b", &sink, shards, "2", &[]));
        for s in ["ticks.0", "ticks.1"] {
            assert_eq!(xpending(&mut c, s, &group), 0, "{group}: {s}: {j}");
        }
        let got = signals(&mut c, &sink);
        assert_same_signals(&got, want, &format!("{group} (killed at {fraction})"), &j);
    }
}

#[test]
fn a_redis_crash_mid_run_still_gives_the_fault_free_signals() {
    let _turn = heavy();
    let Some(mut r) = Redis::start_durable() else {
        return;
    };
    publish(&r);
    let want = reference(&r);
    let mut c = r.conn();
    let a = consumer(
        &r,
        "g",
        "a",
        "signals.g",
        &["--reconnect-give-up-ms", "20000"],
    );
    wait_for_progress(&mut c, "g", 0.4);
    drop(c);
    r.crash_and_restart(Duration::from_millis(500));
    let j = report(a);
    assert!(j["redis"]["reconnects"].as_u64().unwrap_or(0) >= 1, "{j}");
    let mut c = r.conn();
    assert_eq!(xpending(&mut c, "ticks.0", "g"), 0);
    assert_eq!(signals(&mut c, "signals.g"), want);
}

#[test]
fn a_corrupt_or_foreign_version_checkpoint_is_refused_clearly() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    publish(&r);
    let j = report(consumer(&r, "g", "a", "signals.g", &[]));
    assert!(j["redis"]["checkpoints"].as_u64().unwrap_or(0) > 0, "{j}");
    let mut c = r.conn();
    let key = "ticks.ckpt.g.0";
    let good = get(&mut c, key).expect("a checkpoint was stored");
    let run_err = |c: &mut Connection, value: &[u8]| {
        set(c, key, value);
        consumer(&r, "g", "b", "signals.g", &[])
            .0
            .wait_with_output_ref()
    };
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let err = run_err(&mut c, &flipped);
    assert!(err.contains("checksum mismatch"), "{err}");
    let mut version = good.clone();
    version[8..12].copy_from_slice(&99u32.to_le_bytes());
    let err = run_err(&mut c, &version);
    assert!(err.contains("format version 99"), "{err}");
    let err = run_err(&mut c, b"not a checkpoint");
    assert!(err.contains("no checkpoint magic"), "{err}");
    // Deleting the key starts the group over: a cold start, not an error.
    c.encoder().begin(2).arg(b"DEL").arg(key.as_bytes());
    c.call().expect("DEL");
    let j = report(consumer(&r, "g", "b", "signals.g", &[]));
    assert_eq!(j["redis"]["resumed"].as_u64(), Some(0), "{j}");
}

/// Waits for a run expected to fail and returns its stderr.
trait FailedRun {
    fn wait_with_output_ref(&mut self) -> String;
}

impl FailedRun for std::process::Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_wait().expect("try_wait") {
                assert!(!status.success(), "the run should have failed");
                let mut err = String::new();
                if let Some(mut s) = self.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                return err;
            }
            assert!(start.elapsed() < MINUTE, "the run did not fail in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
