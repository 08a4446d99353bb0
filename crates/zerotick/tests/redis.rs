//! Against a real `redis-server` (spawned per test on a free port, append-only file on, in a
//! throwaway directory): sharded publish, two consumers splitting the shards, a consumer
//! killed and taken over, the server crashed and restarted mid-run, bad entries dead-lettered.

mod redis_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use redis_support::*;
use serde_json::Value;
use zerotick_redis::Connection;

const MINUTE: Duration = Duration::from_secs(60);
/// Rows (signals) every this many ticks of a symbol: fewer rows keep the debug-build runs short.
const ROW_EVERY: &str = "1024";

fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn publish(r: &Redis, stream: &str, ticks: u64, shards: u32) {
    let out = run_json(
        &[
            "publish",
            "--to",
            &r.url(stream),
            "--stream-shards",
            &shards.to_string(),
            "--ticks",
            &ticks.to_string(),
            "--json",
        ],
        MINUTE,
    );
    assert_eq!(n(&out, "published"), ticks, "{out}");
}

/// `XINFO GROUPS stream` -> (pending, lag) of `group`.
fn group_info(c: &mut Connection, stream: &str, group: &str) -> (u64, u64) {
    try_group_info(c, stream, group).unwrap_or_else(|| panic!("no group {group} on {stream}"))
}

/// [`group_info`] of `ticks.0` and `ticks.1` once it has stopped changing: a consumer killed
/// (and reaped) may have written an `XACK` that the server has not executed yet.
fn settled_group_info(c: &mut Connection, group: &str) -> Vec<(u64, u64)> {
    let read = |c: &mut Connection| -> Vec<(u64, u64)> {
        (0..2)
            .map(|i| group_info(c, &format!("ticks.{i}"), group))
            .collect()
    };
    let mut last = read(c);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = read(c);
        if now == last {
            return now;
        }
        last = now;
    }
}

fn try_group_info(c: &mut Connection, stream: &str, group: &str) -> Option<(u64, u64)> {
    c.encoder()
        .begin(3)
        .arg(b"XINFO")
        .arg(b"GROUPS")
        .arg(stream.as_bytes());
    let v = c.call().expect("XINFO GROUPS");
    for g in v.iter() {
        let kv: Vec<_> = g.iter().collect();
        let get = |k: &[u8]| kv.chunks(2).find(|p| p[0].bytes() == Some(k)).map(|p| p[1]);
        if get(b"name").and_then(|v| v.bytes()) == Some(group.as_bytes()) {
            let pending = get(b"pending").and_then(|v| v.int()).expect("pending") as u64;
            let lag = get(b"lag").and_then(|v| v.int()).expect("lag") as u64;
            return Some((pending, lag));
        }
    }
    None
}

/// A consumer of group `g` without checkpoints: these tests cover competing consumers and the
/// claim path (entries of a dead consumer taken over by `XAUTOCLAIM`/`XCLAIM`); the default,
/// with checkpoints and a lease per shard set, is covered in `redis_failover.rs`.
fn consumer(r: &Redis, name: &str, shards: &str, extra: &[&str]) -> Proc {
    let (feed, sink) = (r.url("ticks"), r.url("signals"));
    let args = [
        "run",
        "--no-checkpoints",
        "--feed",
        &feed,
        "--group",
        "g",
        "--consumer",
        name,
        "--stream-shards",
        shards,
        "--sink",
        &sink,
        "--row-every",
        ROW_EVERY,
        "--json",
    ];
    spawn_zerotick(&args, extra)
}

/// Waits until `group` has delivered at least `fraction` of `stream`'s entries.
fn wait_for_progress(r: &Redis, stream: &str, total: u64, fraction: f64) {
    let mut c = r.conn();
    let start = Instant::now();
    loop {
        if let Some((_, lag)) = try_group_info(&mut c, stream, "g")
            && (total - lag.min(total)) as f64 >= fraction * total as f64
        {
            return;
        }
        assert!(start.elapsed() < MINUTE, "no progress on {stream}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_instances_split_the_shards_and_process_every_tick_once() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    let t0 = Instant::now();
    const TICKS: u64 = 1_000_000;
    publish(&r, "ticks", TICKS, 4);
    eprintln!("published {TICKS} in {:?}", t0.elapsed());
    let a = consumer(&r, "a", "0,1", &[]);
    let b = consumer(&r, "b", "2,3", &[]);
    let (ja, jb) = (json_of(a, MINUTE), json_of(b, MINUTE));
    eprintln!("consumed in {:?}", t0.elapsed());
    assert_eq!(n(&ja, "ticks_processed") + n(&jb, "ticks_processed"), TICKS);
    assert_eq!(n(&ja, "ticks_rejected") + n(&jb, "ticks_rejected"), 0);
    assert!(n(&ja, "ticks_processed") > 0 && n(&jb, "ticks_processed") > 0);
    for j in [&ja, &jb] {
        // The compute path stays allocation-free with a network feed and sink; the feed
        // thread (the boundary) is reported apart.
        assert_eq!(j["steady_state_allocations"], 0, "{j}");
        assert!(j["feed_allocations"].is_u64(), "{j}");
        assert_eq!(j["redis"]["duplicates_skipped"], 0, "{j}");
        // Every tick and both end markers acknowledged.
        assert_eq!(n(&j["redis"], "acked"), n(j, "ticks_processed") + 2, "{j}");
    }

    let mut c = r.conn();
    let mut on_shards = 0;
    for i in 0..4 {
        let s = format!("ticks.{i}");
        assert_eq!(xpending(&mut c, &s, "g"), 0, "{s} has pending entries");
        on_shards += xlen(&mut c, &s) - 1; // the end marker
    }
    assert_eq!(on_shards, TICKS);

    // Every signal present: the (symbol, ts) of each row depends only on each symbol's own
    // ticks, so it must equal the rows of the same feed run in one process.
    let signals = xrange_all(&mut c, "signals");
    assert_eq!(
        signals.len() as u64,
        n(&ja, "vectors") + n(&jb, "vectors"),
        "signal stream length"
    );
    let mut by_symbol: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for f in &signals {
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let ts: u64 = get("ts").expect("ts").parse().expect("ts number");
        let v: f64 = get("value").expect("value").parse().expect("value number");
        assert!(v.is_finite());
        by_symbol
            .entry(get("symbol").expect("symbol"))
            .or_default()
            .push(ts);
    }
    for (sym, ts) in &by_symbol {
        assert!(
            ts.windows(2).all(|w| w[0] < w[1]),
            "{sym}: signals out of order"
        );
    }
    let dir = TempDir::new("ref");
    let csv = dir.0.join("ref.csv");
    let reference = run_json(
        &[
            "run",
            "--ticks",
            &TICKS.to_string(),
            "--row-every",
            ROW_EVERY,
            "--json",
            "--sink",
            &format!("csv:{}", path_str(&csv)),
        ],
        MINUTE,
    );
    let want: BTreeSet<(String, u64)> = std::fs::read_to_string(&csv)
        .expect("reference csv")
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            let ts = f.next().and_then(|t| t.parse().ok()).expect("ts");
            (f.next().expect("symbol").to_owned(), ts)
        })
        .collect();
    let got: BTreeSet<(String, u64)> = by_symbol
        .iter()
        .flat_map(|(s, ts)| ts.iter().map(move |t| (s.clone(), *t)))
        .collect();
    assert_eq!(want.len() as u64, n(&reference, "vectors"));
    assert_eq!(got, want, "signals differ from the in-process run");
    eprintln!("total {:?}", t0.elapsed());
}

#[test]
fn a_killed_instance_is_taken_over_and_nothing_is_lost() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    const TICKS: u64 = 200_000;
    publish(&r, "ticks", TICKS, 2);
    let mut c = r.conn();
    let len: Vec<u64> = (0..2)
        .map(|i| xlen(&mut c, &format!("ticks.{i}")))
        .collect();
    let mut a = consumer(&r, "a", "0,1", &["--claim-idle-ms", "1000"]);
    wait_for_progress(&r, "ticks.0", len[0], 0.3);
    a.kill();
    // What `a` left: pending (delivered, not acknowledged) and not yet delivered.
    let mut left_ticks = 0;
    let mut left_pending = 0;
    for (pending, lag) in settled_group_info(&mut c, "g") {
        left_pending += pending;
        left_ticks += pending + lag - 1; // minus the end marker, pending or not
    }
    assert!(
        left_pending > 0,
        "the kill left nothing pending: not mid-run"
    );
    // Past the idle time, a new consumer on the same shards claims a's entries first.
    std::thread::sleep(Duration::from_millis(1100));
    let j = json_of(
        consumer(&r, "a2", "0,1", &["--claim-idle-ms", "1000"]),
        MINUTE,
    );
    assert!(n(&j["redis"], "claimed") >= left_pending, "{j}");
    assert_eq!(n(&j, "ticks_processed"), left_ticks, "{j}");
    for i in 0..2 {
        assert_eq!(xpending(&mut c, &format!("ticks.{i}"), "g"), 0);
    }
}

#[test]
fn a_redis_crash_and_restart_mid_run_is_survived() {
    let _turn = heavy();
    let Some(mut r) = Redis::start_durable() else {
        return;
    };
    const TICKS: u64 = 200_000;
    publish(&r, "ticks", TICKS, 2);
    let mut c = r.conn();
    let len0 = xlen(&mut c, "ticks.0");
    drop(c);
    let a = consumer(&r, "a", "0,1", &["--reconnect-give-up-ms", "20000"]);
    wait_for_progress(&r, "ticks.0", len0, 0.3);
    r.crash_and_restart(Duration::from_millis(700));
    let j = json_of(a, MINUTE);
    assert!(n(&j["redis"], "reconnects") >= 1, "{j}");
    // Exactly once within the run: nothing handed to the pipeline twice, nothing skipped.
    assert_eq!(n(&j, "ticks_processed"), TICKS, "{j}");
    let mut c = r.conn();
    for i in 0..2 {
        assert_eq!(xpending(&mut c, &format!("ticks.{i}"), "g"), 0);
    }
    // The sink may have written a batch twice (its replies were lost), never fewer.
    assert!(xlen(&mut c, "signals") >= n(&j, "vectors"));
}

#[test]
fn bad_entries_go_to_the_dead_letter_stream_and_are_counted() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    let mut c = r.conn();
    let entries: &[&[&[u8]]] = &[
        &[
            b"t", b"1", b"s", b"AAA", b"p", b"10", b"q", b"1", b"d", b"b",
        ],
        &[b"t", b"x", b"s", b"AAA", b"p", b"10", b"q", b"1"],
        &[b"t", b"2", b"s", b"AAA", b"p", b"-3", b"q", b"1"],
        &[b"t", b"3", b"s", b"AAA"],
        // A lone `e` that is not `1` is a bad entry, not the end of the shard.
        &[b"e", b"0"],
        &[
            b"t", b"4", b"s", b"AAA", b"p", b"11", b"q", b"2", b"d", b"s",
        ],
        &[b"e", b"1"],
    ];
    for fields in entries {
        c.encoder()
            .begin(3 + fields.len())
            .arg(b"XADD")
            .arg(b"in")
            .arg(b"*");
        for f in *fields {
            c.encoder().arg(f);
        }
        c.call().expect("XADD");
    }
    let j = run_json(
        &[
            "run",
            "--feed",
            &r.url("in"),
            "--group",
            "g",
            "--warmup-ticks",
            "0",
            "--json",
        ],
        MINUTE,
    );
    assert_eq!(n(&j, "ticks_processed"), 2, "{j}");
    assert_eq!(n(&j, "ticks_rejected"), 4, "{j}");
    assert_eq!(n(&j["rejects"], "bad_timestamp"), 1, "{j}");
    assert_eq!(n(&j["rejects"], "bad_price"), 1, "{j}");
    assert_eq!(n(&j["rejects"], "field_count"), 2, "{j}");
    assert_eq!(n(&j["redis"], "dead_lettered"), 4, "{j}");
    let dead = xrange_all(&mut c, "in.dead");
    assert_eq!(dead.len(), 4);
    assert_eq!(
        field_of(&dead, "reason"),
        ["bad_timestamp", "bad_price", "field_count", "field_count"]
    );
    assert!(
        dead[3].contains(&("e".to_owned(), "0".to_owned())),
        "the bad marker is kept"
    );
    assert!(
        dead[0].contains(&("t".to_owned(), "x".to_owned())),
        "original fields kept"
    );
    assert_eq!(xpending(&mut c, "in", "g"), 0);
}

#[test]
fn the_dead_letter_stream_keeps_the_newest_dead_letter_max_entries() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    let mut c = r.conn();
    for i in 0..20u32 {
        let t = i.to_string();
        c.encoder()
            .begin(9)
            .arg(b"XADD")
            .arg(b"in")
            .arg(b"*")
            .arg(b"t")
            .arg(t.as_bytes())
            .arg(b"s")
            .arg(b"AAA")
            .arg(b"p")
            .arg(b"-1");
        c.call().expect("XADD");
    }
    c.encoder()
        .begin(5)
        .arg(b"XADD")
        .arg(b"in")
        .arg(b"*")
        .arg(b"e")
        .arg(b"1");
    c.call().expect("XADD");
    let j = run_json(
        &[
            "run",
            "--feed",
            &r.url("in"),
            "--group",
            "g",
            "--dead-letter-max",
            "5",
            "--warmup-ticks",
            "0",
            "--json",
        ],
        MINUTE,
    );
    assert_eq!(n(&j["redis"], "dead_lettered"), 20, "{j}");
    let dead = xrange_all(&mut c, "in.dead");
    assert_eq!(
        field_of(&dead, "t"),
        ["15", "16", "17", "18", "19"],
        "the newest five"
    );
    assert_eq!(xpending(&mut c, "in", "g"), 0);
}

#[test]
fn a_bad_address_fails_fast_with_a_clear_error() {
    let port = free_port(); // nothing listens there
    let p = Proc(
        zerotick()
            .args(["run", "--feed", &format!("redis://127.0.0.1:{port}/x")])
            .spawn()
            .expect("spawn"),
    );
    let (ok, _) = p.finish(Duration::from_secs(20));
    assert!(!ok);
    let out = zerotick()
        .args(["run", "--feed", "redis://127.0.0.1:notaport/x"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad redis address"));
}

#[test]
fn the_sink_writes_named_signals_and_trims_with_maxlen() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    let j = run_json(
        &[
            "run",
            "--ticks",
            "200000",
            "--row-every",
            "64",
            "--sink",
            &r.url("sig"),
            "--maxlen",
            "1000",
            "--json",
        ],
        MINUTE,
    );
    let vectors = n(&j, "vectors");
    assert!(vectors > 2000, "{j}");
    let mut c = r.conn();
    let len = xlen(&mut c, "sig");
    // `MAXLEN ~` trims whole radix-tree nodes (100 entries each by default).
    assert!(
        (1000..=1100).contains(&len),
        "xlen {len} of {vectors} signals"
    );
    let last = xrange_all(&mut c, "sig").pop().expect("signals");
    let symbol = &last.iter().find(|(k, _)| k == "symbol").expect("symbol").1;
    assert!(
        symbol.starts_with("SYN"),
        "symbol names, not indices: {symbol}"
    );
}

#[test]
fn claim_idle_ms_zero_still_reads_the_live_entries() {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    const TICKS: u64 = 20_000;
    publish(&r, "ticks", TICKS, 2);
    // Claim rounds used to start on every read once `claim_idle_ms` had passed, so with 0
    // the feed claimed forever and never read a live entry (the run never ended).
    let j = json_of(
        consumer(&r, "a", "0,1", &["--claim-idle-ms", "0"]),
        Duration::from_secs(40),
    );
    assert_eq!(n(&j, "ticks_processed"), TICKS, "{j}");
    let mut c = r.conn();
    for i in 0..2 {
        assert_eq!(xpending(&mut c, &format!("ticks.{i}"), "g"), 0);
    }
}

/// Where the first consumer dies in [`takeover_after`].
#[derive(Debug, Clone, Copy)]
enum Death {
    /// It read a first batch of entries and died before acknowledging any.
    BeforeAnyAck,
    /// A real `zerotick run` SIGKILLed mid-run.
    MidRun,
    /// It read every entry, end markers included, and died before acknowledging them.
    AfterLastRead,
}

fn takeover_after(death: Death) {
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    let ticks: u64 = match death {
        Death::MidRun => 100_000,
        _ => 20_000,
    };
    publish(&r, "ticks", ticks, 2);
    let mut c = r.conn();
    let len: Vec<u64> = (0..2)
        .map(|i| xlen(&mut c, &format!("ticks.{i}")))
        .collect();
    match death {
        Death::BeforeAnyAck => read_and_die(&r, 2_000),
        Death::AfterLastRead => read_and_die(&r, 1_000_000),
        Death::MidRun => {
            let mut a = consumer(&r, "a", "0,1", &[]);
            wait_for_progress(&r, "ticks.0", len[0], 0.8);
            a.kill(); // SIGKILL
        }
    }
    // What the dead consumer left: pending (delivered, not acknowledged) and not delivered.
    let mut left_ticks = 0;
    let mut left_pending = 0;
    for (pending, lag) in settled_group_info(&mut c, "g") {
        left_pending += pending;
        left_ticks += pending + lag - 1; // minus the end marker, pending or not
    }
    assert!(
        left_pending > 0,
        "{death:?}: the death left nothing pending"
    );
    // The replacement starts at once, with the default --claim-idle-ms (5 s): it meets the
    // end markers before the dead consumer's entries are idle enough to claim, and must wait
    // for them instead of ending.
    let j = json_of(consumer(&r, "b", "0,1", &[]), MINUTE);
    eprintln!(
        "{death:?}: left {left_pending} pending, {left_ticks} ticks: {}",
        j["redis"]
    );
    assert_eq!(n(&j, "ticks_processed"), left_ticks, "{death:?}: {j}");
    assert!(n(&j["redis"], "claimed") >= left_pending, "{death:?}: {j}");
    for i in 0..2 {
        let s = format!("ticks.{i}");
        assert_eq!(
            xpending(&mut c, &s, "g"),
            0,
            "{death:?}: {s} has pending entries"
        );
    }
}

/// A consumer `dead` in the group that reads up to `count` entries of each shard and dies (its
/// connection dropped) without acknowledging any: the in-process equivalent of a SIGKILL.
fn read_and_die(r: &Redis, count: u64) {
    let mut c = r.conn();
    for i in 0..2 {
        c.encoder()
            .begin(6)
            .arg(b"XGROUP")
            .arg(b"CREATE")
            .arg(format!("ticks.{i}").as_bytes())
            .arg(b"g")
            .arg(b"0")
            .arg(b"MKSTREAM");
        c.call().expect("XGROUP CREATE");
    }
    c.encoder()
        .begin(11)
        .arg(b"XREADGROUP")
        .arg(b"GROUP")
        .arg(b"g")
        .arg(b"dead")
        .arg(b"COUNT")
        .arg(count.to_string().as_bytes())
        .arg(b"STREAMS")
        .arg(b"ticks.0")
        .arg(b"ticks.1")
        .arg(b">")
        .arg(b">");
    let v = c.call().expect("XREADGROUP");
    assert_eq!(v.array_len(), Some(2), "both shards read");
    drop(c); // dies without acknowledging anything
}

#[test]
fn a_consumer_dead_before_any_ack_is_taken_over_at_once() {
    takeover_after(Death::BeforeAnyAck);
}

#[test]
fn a_consumer_killed_mid_run_is_taken_over_at_once() {
    takeover_after(Death::MidRun);
}

#[test]
fn a_consumer_dead_after_the_last_read_is_taken_over_at_once() {
    takeover_after(Death::AfterLastRead);
}

/// `GET /metrics` on 127.0.0.1:`port`: the body, or `None` until the endpoint answers.
fn scrape(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

fn metric(body: &str, name: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{name} missing from\n{body}")) as u64
}

#[test]
fn redis_counters_reach_the_human_report_and_the_metrics_registry() {
    use std::io::{BufRead, BufReader};
    let _turn = heavy();
    let Some(r) = Redis::start() else { return };
    let mut c = r.conn();
    let entries: &[&[&[u8]]] = &[
        &[b"t", b"1", b"s", b"AAA", b"p", b"10", b"q", b"1"],
        &[b"t", b"x", b"s", b"AAA", b"p", b"10", b"q", b"1"],
        &[b"t", b"2", b"s", b"AAA", b"p", b"11", b"q", b"1"],
        &[b"e", b"1"],
    ];
    for fields in entries {
        c.encoder()
            .begin(3 + fields.len())
            .arg(b"XADD")
            .arg(b"in")
            .arg(b"*");
        for f in *fields {
            c.encoder().arg(f);
        }
        c.call().expect("XADD");
    }
    let port = free_port();
    let mut p = Proc(
        zerotick()
            .args(["run", "--feed", &r.url("in"), "--group", "g"])
            .args(["--warmup-ticks", "0", "--json"])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--metrics-linger-ms", "5000"])
            .spawn()
            .expect("spawn zerotick"),
    );
    let mut line = String::new();
    BufReader::new(p.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("report line");
    let j: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    // The report is printed before the endpoint lingers with the final values.
    let body = scrape(port).expect("metrics endpoint answers while lingering");
    p.kill();
    assert_eq!(n(&j["redis"], "acked"), 4, "{j}");
    assert_eq!(n(&j["redis"], "dead_lettered"), 1, "{j}");
    for key in [
        "acked",
        "claimed",
        "dead_lettered",
        "reconnects",
        "end_claimed",
    ] {
        assert_eq!(
            metric(&body, &format!("zerotick_redis_{key}_total")),
            n(&j["redis"], key),
            "{key}"
        );
    }

    // The human report has them as lines of their own.
    let out = zerotick()
        .args(["run", "--feed", &r.url("in"), "--group", "h"])
        .args(["--warmup-ticks", "0"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |k: &str| {
        text.lines()
            .find_map(|l| l.trim_start().strip_prefix(k))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {k:?} line in\n{text}"))
            .to_owned()
    };
    assert_eq!(value("redis acked"), "4");
    assert_eq!(value("redis dead-lettered"), "1");
    assert_eq!(value("redis reconnects"), "0");
    assert!(value("redis claimed").starts_with("0 "), "{text}");
    assert!(
        value("redis end wait").ends_with("pending entries"),
        "{text}"
    );
}
