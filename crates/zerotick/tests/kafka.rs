//! Against a real Kafka-protocol broker (`tansu`, memory storage, spawned per test on a free
//! port): publish then consume every tick once with the checksum of a direct run; two members
//! of one group splitting the partitions; a member SIGKILLed mid-run and the run resumed from
//! the committed offsets; bad records dead-lettered; `--until-end` ending the runs.

mod redis_support;
#[path = "../../zerotick-kafka/tests/tansu/mod.rs"]
mod tansu;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use redis_support::{Proc, TempDir, heavy, json_of, path_str, run_json, spawn_zerotick, zerotick};
use serde_json::Value;
use tansu::{Tansu, read_all};
use zerotick_kafka::produce::Producer;
use zerotick_kafka::record::tick_value;
use zerotick_kafka::{Group, GroupConfig};

const MINUTE: Duration = Duration::from_secs(60);
/// Rows (signals) every this many ticks of a symbol: fewer rows keep the debug-build runs short.
const ROW_EVERY: &str = "256";

fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// A trade CSV (`timestamp,symbol,price,size,side`) of `rows` ticks over 16 symbols, made
/// from a fixed LCG so every run writes the same file, in `dir`. It is named after its first
/// row's symbol: a file feed numbers the symbol its name gives first (symbol 0), so the
/// direct run numbers the symbols as a stream feed does (by first appearance), and the two
/// runs share their compute shards.
fn write_csv(dir: &std::path::Path, rows: u64) -> std::path::PathBuf {
    let mut s = String::from("timestamp,symbol,price,size,side\n");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut prices = [100.0f64; 16];
    let mut first = None;
    for i in 0..rows {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let sym = (x >> 60) as usize;
        let step = ((x >> 20) % 201) as f64 / 100.0 - 1.0;
        prices[sym] = (prices[sym] + step).max(1.0);
        let side = if x & 1 == 0 { "buy" } else { "sell" };
        first.get_or_insert(sym);
        s.push_str(&format!(
            "{},SYM{sym:02},{},{},{side}\n",
            1_700_000_000_000 + i,
            prices[sym],
            1 + (x >> 40) % 9
        ));
    }
    let path = dir.join(format!("SYM{:02}.csv", first.unwrap_or(0)));
    std::fs::write(&path, s).expect("write csv");
    path
}

/// A trade CSV of `ticks` rows in `dir` ([`write_csv`]) as a `--feed` argument, and the report
/// of a direct (in-process) run of it, to compare a consumer's checksum with.
fn csv_and_direct_run(dir: &TempDir, ticks: u64) -> (String, Value) {
    let csv = write_csv(&dir.0, ticks);
    let feed = format!("csv:{}", path_str(&csv));
    let direct = run_json(
        &["run", "--feed", &feed, "--row-every", ROW_EVERY, "--json"],
        MINUTE,
    );
    (feed, direct)
}

fn publish(k: &Tansu, feed: &[&str], topic: &str, partitions: u32) -> Value {
    let mut args = vec!["publish", "--to"];
    let url = k.url(topic);
    let parts = partitions.to_string();
    args.extend([url.as_str(), "--partitions", parts.as_str(), "--json"]);
    args.extend(feed);
    run_json(&args, MINUTE)
}

fn consumer(k: &Tansu, topic: &str, extra: &[&str]) -> Proc {
    consumer_rows(k, topic, ROW_EVERY, extra)
}

/// A consumer making a row (a signal) every `row_every` ticks of a symbol.
fn consumer_rows(k: &Tansu, topic: &str, row_every: &str, extra: &[&str]) -> Proc {
    let url = k.url(topic);
    let mut args = vec!["run", "--feed", url.as_str(), "--group", "g"];
    args.extend(["--row-every", row_every, "--json"]);
    spawn_zerotick(&args, extra)
}

/// The group's committed offsets of every partition of `topic`.
fn committed(k: &Tansu, topic: &str, partitions: i32) -> Vec<i64> {
    let mut c = k.client();
    let mut g = Group::new(GroupConfig::new("g"));
    let parts: Vec<i32> = (0..partitions).collect();
    g.committed(&mut c, topic, &parts).expect("OffsetFetch")
}

fn end_offsets(k: &Tansu, topic: &str) -> Vec<i64> {
    let mut c = k.client();
    let info = c.metadata(&[topic]).unwrap().pop().flatten().unwrap();
    c.end_offsets(topic, &info).unwrap()
}

/// `(symbol, ts)` of every signal in a signal CSV (`ts_ns,symbol,value`), and how many lines;
/// checks that each symbol's signals are in time order.
fn signal_rows(path: &std::path::Path) -> (BTreeSet<(String, u64)>, usize) {
    let text = std::fs::read_to_string(path).expect("signal csv");
    signal_rows_of(path, &text)
}

fn signal_rows_of(path: &std::path::Path, text: &str) -> (BTreeSet<(String, u64)>, usize) {
    let mut lines = 0;
    let mut last = std::collections::HashMap::new();
    let set = text
        .lines()
        .skip(1)
        .map(|l| {
            lines += 1;
            let mut f = l.split(',');
            let ts = f.next().and_then(|t| t.parse().ok()).expect("ts");
            let symbol = f.next().expect("symbol").to_owned();
            let before = last.insert(symbol.clone(), ts);
            assert!(
                before.is_none_or(|b| b < ts),
                "{}: {symbol} out of order",
                path.display()
            );
            (symbol, ts)
        })
        .collect();
    (set, lines)
}

#[test]
fn one_partition_read_to_the_end_has_the_checksum_of_a_direct_run() {
    let _turn = heavy();
    let Some(k) = Tansu::start() else { return };
    let dir = TempDir::new("kafka-csv");
    const TICKS: u64 = 60_000;
    let (feed, direct) = csv_and_direct_run(&dir, TICKS);
    let p = publish(&k, &["--feed", &feed], "t1", 1);
    assert_eq!(n(&p, "published"), TICKS, "{p}");
    // One partition keeps the file's order, so the symbols are met (and numbered) in the
    // same order and every signal is the same.
    let j = json_of(
        consumer(&k, "t1", &["--until-end", "--warmup-ticks", "10000"]),
        MINUTE,
    );
    assert_eq!(n(&j, "ticks_processed"), TICKS, "{j}");
    assert_eq!(j["checksum"], direct["checksum"], "{j}\n{direct}");
    assert_eq!(n(&j, "vectors"), n(&direct, "vectors"));
    assert_eq!(j["steady_state_allocations"], 0, "{j}");
    let kj = &j["kafka"];
    assert_eq!(n(kj, "records"), TICKS, "{kj}");
    assert_eq!(n(kj, "lag"), 0, "{kj}");
    assert_eq!(kj["partitions"][0]["committed"], TICKS, "{kj}");
    assert_eq!(committed(&k, "t1", 1), vec![TICKS as i64]);
    // A second run of the group starts at the committed offsets: nothing left to do.
    let again = json_of(consumer(&k, "t1", &["--until-end"]), MINUTE);
    assert_eq!(n(&again, "ticks_processed"), 0, "{again}");
}

#[test]
fn compressed_batches_of_every_codec_read_as_uncompressed_ones() {
    let _turn = heavy();
    let Some(k) = Tansu::start() else { return };
    let dir = TempDir::new("kafka-codecs");
    const TICKS: u64 = 20_000;
    let (feed, direct) = csv_and_direct_run(&dir, TICKS);
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("z-{codec}");
        let p = publish(&k, &["--feed", &feed, "--compression", codec], &topic, 1);
        assert_eq!(n(&p, "published"), TICKS, "{p}");
        assert_eq!(p["compression"], codec, "{p}");
        let j = json_of(
            consumer(&k, &topic, &["--until-end", "--session-timeout-ms", "2000"]),
            MINUTE,
        );
        assert_eq!(n(&j, "ticks_processed"), TICKS, "{codec}: {j}");
        assert_eq!(j["checksum"], direct["checksum"], "{codec}: {j}");
        assert_eq!(n(&j["kafka"], "dead_lettered"), 0, "{codec}: {j}");
    }
    // Redis stream entries are not compressed: the flag is refused there, in one line.
    let out = zerotick()
        .args([
            "publish",
            "--to",
            "redis://127.0.0.1:1/s",
            "--compression",
            "gzip",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Kafka option"));
}

#[test]
fn two_members_split_four_partitions_and_process_every_tick_once() {
    let _turn = heavy();
    let Some(k) = Tansu::start() else { return };
    const TICKS: u64 = 1_000_000;
    let p = publish(&k, &["--ticks", &TICKS.to_string()], "ticks", 4);
    assert_eq!(n(&p, "published"), TICKS, "{p}");
    let dir = TempDir::new("kafka-two");
    let (sa, sb) = (dir.0.join("a.csv"), dir.0.join("b.csv"));
    let sink = |p: &std::path::Path| format!("csv:{}", path_str(p));
    let (sink_a, sink_b) = (sink(&sa), sink(&sb));
    let a = consumer(
        &k,
        "ticks",
        &["--until-end", "--consumer", "a", "--sink", &sink_a],
    );
    let b = consumer(
        &k,
        "ticks",
        &["--until-end", "--consumer", "b", "--sink", &sink_b],
    );
    let (ja, jb) = (json_of(a, 2 * MINUTE), json_of(b, 2 * MINUTE));
    eprintln!("a: {}\nb: {}", ja["kafka"], jb["kafka"]);
    let processed = n(&ja, "ticks_processed") + n(&jb, "ticks_processed");
    let in_flight_moved =
        n(&ja["kafka"], "revoked_in_flight") + n(&jb["kafka"], "revoked_in_flight");
    // Exactly once unless a rebalance moved a partition with ticks still in flight (then
    // at least once, and the report says how many).
    assert!(
        processed >= TICKS && processed <= TICKS + in_flight_moved,
        "{processed}"
    );
    let ends = end_offsets(&k, "ticks");
    assert_eq!(ends.iter().sum::<i64>() as u64, TICKS);
    assert_eq!(
        committed(&k, "ticks", 4),
        ends,
        "committed offsets are the end offsets"
    );

    // Every signal of the in-process run, once, from one member or the other, per symbol
    // in time order.
    let reference = dir.0.join("ref.csv");
    let r = run_json(
        &[
            "run",
            "--ticks",
            &TICKS.to_string(),
            "--row-every",
            ROW_EVERY,
            "--json",
            "--sink",
            &sink(&reference),
        ],
        MINUTE,
    );
    let (want, _) = signal_rows(&reference);
    assert_eq!(want.len() as u64, n(&r, "vectors"));
    let (got_a, lines_a) = signal_rows(&sa);
    let (got_b, lines_b) = signal_rows(&sb);
    let got: BTreeSet<_> = got_a.union(&got_b).cloned().collect();
    assert_eq!(got, want, "signals differ from the in-process run");
    if in_flight_moved == 0 {
        assert_eq!(lines_a + lines_b, want.len(), "a signal written twice");
    }
}

#[test]
fn a_member_killed_mid_run_is_resumed_from_the_committed_offsets() {
    let _turn = heavy();
    let Some(k) = Tansu::start() else { return };
    const TICKS: u64 = 300_000;
    publish(&k, &["--ticks", &TICKS.to_string()], "ticks", 2);
    let ends = end_offsets(&k, "ticks");
    // Small fetches and a short session so the kill lands mid-run and the group notices soon.
    let mut a = consumer(&k, "ticks", &["--session-timeout-ms", "3000"]);
    let start = Instant::now();
    loop {
        let c = committed(&k, "ticks", 2);
        if c.iter().map(|&o| o.max(0)).sum::<i64>() as u64 > TICKS / 5 {
            break;
        }
        assert!(start.elapsed() < MINUTE, "no commits: {c:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill(); // SIGKILL: no final commit, no LeaveGroup
    let at_kill = committed(&k, "ticks", 2);
    let done_at_kill: i64 = at_kill.iter().map(|&o| o.max(0)).sum();
    assert!(
        (done_at_kill as u64) < TICKS,
        "a finished before the kill: {at_kill:?}"
    );
    // The restarted member joins once the coordinator dropped the dead one (its session
    // timeout) and resumes every partition at its committed offset.
    let j = json_of(
        consumer(&k, "ticks", &["--until-end", "--consumer", "a"]),
        2 * MINUTE,
    );
    eprintln!("committed at the kill {at_kill:?}; restart: {}", j["kafka"]);
    assert_eq!(
        n(&j, "ticks_processed"),
        TICKS - done_at_kill as u64,
        "the restart read exactly what was not committed: {j}"
    );
    assert_eq!(committed(&k, "ticks", 2), ends);
}

#[test]
fn bad_records_are_dead_lettered_with_their_reason() {
    let _turn = heavy();
    let Some(k) = Tansu::start() else { return };
    let mut c = k.client();
    let mut p = Producer::new(&mut c, "in", 1, Duration::from_secs(10)).unwrap();
    let tick = |ts_ns, price: f64| {
        tick_value(&zerotick_core::Tick {
            ts_ns,
            symbol: 0,
            price,
            size: 1.0,
            side: zerotick_core::Side::Buy,
        })
    };
    let good1 = tick(1, 10.0);
    let nan = tick(2, f64::NAN);
    let good2 = tick(3, 11.0);
    type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);
    let records: [KeyValue<'_>; 5] = [
        (Some(b"AAA"), Some(&good1)),
        (Some(b"AAA"), Some(&nan)),
        (Some(b"AAA"), Some(b"short")),
        (None, Some(&good2)),
        (Some(b"AAA"), Some(&good2)),
    ];
    for (key, value) in records {
        p.push(0, 1_000, key, value, &[]);
    }
    p.flush(&mut c).unwrap();
    let j = run_json(
        &[
            "run",
            "--feed",
            &k.url("in"),
            "--group",
            "g",
            "--until-end",
            "--warmup-ticks",
            "0",
            "--json",
        ],
        MINUTE,
    );
    assert_eq!(n(&j, "ticks_processed"), 2, "{j}");
    assert_eq!(n(&j, "ticks_rejected"), 3, "{j}");
    assert_eq!(n(&j["rejects"], "bad_price"), 1, "{j}");
    assert_eq!(n(&j["rejects"], "field_count"), 1, "{j}");
    assert_eq!(n(&j["rejects"], "missing_field"), 1, "{j}");
    assert_eq!(n(&j["kafka"], "dead_lettered"), 3, "{j}");
    let dead = read_all(&mut c, "in.dead", 0);
    let reasons: Vec<String> = dead
        .iter()
        .map(|r| {
            let reason = r.headers.iter().find(|(k, _)| k == "reason");
            String::from_utf8_lossy(reason.and_then(|(_, v)| v.as_deref()).unwrap_or_default())
                .into_owned()
        })
        .collect();
    assert_eq!(reasons, ["bad_price", "field_count", "missing_field"]);
    // The original record is kept, with where it came from.
    assert_eq!(dead[1].value.as_deref(), Some(&b"short"[..]));
    assert_eq!(dead[1].key.as_deref(), Some(&b"AAA"[..]));
    let header = |r: &tansu::Rec, name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    };
    assert_eq!(header(&dead[1], "offset").as_deref(), Some(&b"2"[..]));
    assert_eq!(header(&dead[1], "topic").as_deref(), Some(&b"in"[..]));
    assert_eq!(committed(&k, "in", 1), vec![5]);
}

#[test]
fn the_sink_writes_keyed_signals() {
    let _turn = heavy();
    let Some(k) = Tansu::start() else { return };
    let j = run_json(
        &[
            "run",
            "--ticks",
            "100000",
            "--row-every",
            "64",
            "--sink",
            &k.url("sig"),
            "--json",
        ],
        MINUTE,
    );
    let vectors = n(&j, "vectors");
    let mut c = k.client();
    let all = read_all(&mut c, "sig", 0);
    assert_eq!(all.len() as u64, vectors);
    let last = all.last().expect("signals");
    let key = String::from_utf8_lossy(last.key.as_deref().unwrap_or_default()).into_owned();
    assert!(key.starts_with("SYN"), "symbol names as keys: {key}");
    let v = last.value.as_deref().expect("value");
    assert_eq!((v.len(), v[0]), (17, 1));
}

#[test]
fn bad_addresses_and_missing_topics_fail_fast_with_a_clear_error() {
    let err = |args: &[&str]| {
        let out = zerotick().args(args).output().expect("run");
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = err(&["run", "--feed", "kafka://127.0.0.1:notaport/x"]);
    assert!(e.contains("bad kafka address"), "{e}");
    let e = err(&["run", "--feed", "kafka://127.0.0.1:9092/bad topic"]);
    assert!(e.contains("bad kafka address"), "{e}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // nothing listens there once dropped
    let e = err(&["run", "--feed", &format!("kafka://127.0.0.1:{port}/x")]);
    assert!(e.contains("kafka connection"), "{e}");
    let e = err(&[
        "run",
        "--feed",
        &format!("kafka://127.0.0.1:{port}/x"),
        "--partitions-of",
        "2/2",
    ]);
    assert!(e.contains("--partitions-of"), "{e}");
    let Some(k) = Tansu::start() else { return };
    let e = err(&["run", "--feed", &k.url("nothing-here")]);
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn one_member_killed_the_other_takes_over_its_partitions_and_nothing_is_lost() {
    let _turn = heavy();
    let Some(k) = Tansu::start() else { return };
    // A signal per tick (`--row-every 1`), so the sinks show which ticks were processed: the
    // union of both members' signals is every tick (nothing lost), and signals written twice
    // are the duplicates of at-least-once delivery.
    const TICKS: u64 = 80_000;
    publish(&k, &["--ticks", &TICKS.to_string()], "ticks", 4);
    let ends = end_offsets(&k, "ticks");
    let dir = TempDir::new("kafka-kill");
    let (sa, sb) = (dir.0.join("a.csv"), dir.0.join("b.csv"));
    let sink = |p: &std::path::Path| format!("csv:{}", path_str(p));
    let (sink_a, sink_b) = (sink(&sa), sink(&sb));
    let short = ["--session-timeout-ms", "3000"];
    let member = |name: &str, sink: &str| {
        let mut args = vec!["--consumer", name, "--sink", sink];
        args.extend(short);
        consumer_rows(&k, "ticks", "1", &args)
    };
    let mut a = member("a", &sink_a);
    let mut b = member("b", &sink_b);
    let wait_for = |what: &str, done: &dyn Fn(&[i64]) -> bool| {
        let start = Instant::now();
        loop {
            let c = committed(&k, "ticks", 4);
            if done(&c) {
                return c;
            }
            assert!(
                start.elapsed() < 2 * MINUTE,
                "{what}: committed {c:?} of {ends:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Killed once a has flushed signals of its own (it holds partitions and has done work on
    // them) and the group is a quarter through.
    let a_wrote = || std::fs::metadata(&sa).is_ok_and(|m| m.len() > 4096);
    wait_for("progress", &|c| {
        a_wrote() && c.iter().map(|&o| o.max(0)).sum::<i64>() as u64 > TICKS / 4
    });
    a.kill(); // SIGKILL: no final commit, no LeaveGroup
    let at_kill = committed(&k, "ticks", 4);
    assert_ne!(at_kill, ends, "a and b were done before the kill");
    // b is told of the rebalance once the coordinator drops a (its session timeout), takes
    // a's partitions at their committed offsets and reads them to the end. An offset is
    // committed only once the pipeline acknowledged every tick before it (signals written,
    // sink flushed), so the ends committed mean no tick was lost.
    let t = Instant::now();
    wait_for("take-over", &|c| c == ends.as_slice());
    let took = t.elapsed();
    b.kill();

    // Every tick's signal, from the in-process run of the same feed.
    let reference = dir.0.join("ref.csv");
    let r = run_json(
        &[
            "run",
            "--ticks",
            &TICKS.to_string(),
            "--row-every",
            "1",
            "--json",
            "--sink",
            &sink(&reference),
        ],
        2 * MINUTE,
    );
    let (want, _) = signal_rows(&reference);
    assert_eq!(want.len() as u64, TICKS, "{r}");
    // a was killed mid-write: its file may end in a partial line, which is not a signal.
    let complete = |p: &std::path::Path| {
        let text = std::fs::read_to_string(p).expect("signal csv");
        let end = text.rfind('\n').map_or(0, |i| i + 1);
        signal_rows_of(p, &text[..end])
    };
    let (got_a, lines_a) = complete(&sa);
    let (got_b, lines_b) = complete(&sb);
    let got: BTreeSet<_> = got_a.union(&got_b).cloned().collect();
    let duplicates = lines_a + lines_b - got.len();
    eprintln!(
        "a killed with {at_kill:?} committed of {ends:?}; b committed the rest {took:?} later; \
         signals: a {lines_a}, b {lines_b}, distinct {}, duplicates {duplicates}",
        got.len()
    );
    assert_eq!(got, want, "a tick's signal is missing (lost) or unknown");
    // At-least-once: b re-reads at most what a processed after its last commit.
    let uncommitted: i64 = ends.iter().zip(&at_kill).map(|(e, c)| e - c.max(&0)).sum();
    assert!(
        duplicates as i64 <= uncommitted,
        "{duplicates} > {uncommitted}"
    );
}

#[test]
fn static_members_read_their_partitions_and_commit_to_the_group() {
    let _turn = heavy();
    let Some(k) = Tansu::start() else { return };
    const TICKS: u64 = 50_000;
    publish(&k, &["--ticks", &TICKS.to_string()], "ticks", 3);
    let a = consumer(&k, "ticks", &["--until-end", "--partitions-of", "0/2"]);
    let b = consumer(&k, "ticks", &["--until-end", "--partitions-of", "1/2"]);
    let (ja, jb) = (json_of(a, MINUTE), json_of(b, MINUTE));
    let ends = end_offsets(&k, "ticks");
    let held = |j: &Value| -> Vec<u64> {
        j["kafka"]["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .filter(|p| p["assigned"] == true)
            .map(|p| n(p, "partition"))
            .collect()
    };
    assert_eq!((held(&ja), held(&jb)), (vec![0, 2], vec![1]));
    assert_eq!(
        n(&ja, "ticks_processed"),
        (ends[0] + ends[2]) as u64,
        "{ja}"
    );
    assert_eq!(n(&jb, "ticks_processed"), ends[1] as u64, "{jb}");
    assert_eq!(n(&ja["kafka"], "rebalances"), 0);
    assert_eq!(committed(&k, "ticks", 3), ends);
}

#[test]
fn a_cut_connection_is_reconnected_and_the_run_goes_on_without_loss() {
    let _turn = heavy();
    let Some((k, proxy)) = Tansu::start_behind_proxy() else {
        return;
    };
    const TICKS: u64 = 200_000;
    publish(&k, &["--ticks", &TICKS.to_string()], "ticks", 2);
    let ends = end_offsets(&k, "ticks");
    let a = consumer(&k, "ticks", &["--until-end"]);
    let start = Instant::now();
    for fraction in [0.2, 0.5] {
        loop {
            let c = committed(&k, "ticks", 2);
            if c.iter().map(|&o| o.max(0)).sum::<i64>() as f64 > fraction * TICKS as f64 {
                break;
            }
            assert!(start.elapsed() < MINUTE, "no progress: {c:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
        proxy.cut(); // every connection: fetch, coordinator, dead-letter producer
    }
    let j = json_of(a, 2 * MINUTE);
    eprintln!("{}", j["kafka"]);
    assert!(n(&j["kafka"], "reconnects") >= 1, "{j}");
    // Within one run, positions survive the reconnect: every tick once.
    assert_eq!(n(&j, "ticks_processed"), TICKS, "{j}");
    assert_eq!(committed(&k, "ticks", 2), ends);
}
