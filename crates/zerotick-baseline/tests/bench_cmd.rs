//! `zerotick bench` (this crate's binary, which `zerotick bench` executes) as a user (or a
//! script reading its JSON) runs it.

use std::process::{Command, Output};

use serde_json::Value;

fn zerotick(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zerotick-baseline"))
        .args(args)
        .output()
        .expect("runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

const METRICS: [&str; 11] = [
    "allocations_per_s",
    "pool_hit_rate",
    "lock_wait_fraction",
    "pipeline_vectors_per_s",
    "pipeline_vectors_per_s_steady",
    "rss_bytes",
    "d1_hit_rate",
    "with_allocation_ns",
    "with_pool_ns",
    "mutex_metric_ns",
    "lockfree_metric_ns",
];

fn row<'a>(v: &'a Value, metric: &str) -> &'a Value {
    v["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["metric"] == metric))
        .unwrap_or_else(|| panic!("no row {metric} in {v}"))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Whether this kernel exposes per-thread schedstat (the blocked-time figure needs it).
fn schedstat() -> bool {
    std::fs::read_to_string("/proc/thread-self/schedstat").is_ok()
}

#[test]
fn quick_json_has_every_row_and_all_pipelines_emit_the_same_signals() {
    let v = json(&zerotick(&[
        "--quick",
        "--json",
        "--no-cachegrind",
        // Warm-up 0: progress marks at 65,536 and 131,072 ticks give a steady window.
        "--warmup-ticks",
        "0",
        "--ticks",
        "150000",
    ]));
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), METRICS.len(), "{v}");
    for (r, metric) in rows.iter().zip(METRICS) {
        assert_eq!(r["metric"], metric);
        for key in [
            "origin_before",
            "origin_after",
            "measured_before",
            "measured_idiomatic",
            "measured_after",
        ] {
            assert!(r.get(key).is_some(), "row {metric} lacks {key}");
        }
        assert!(r.get("seed_before").is_none(), "{r}");
        // A null is never silent: every row explains itself.
        assert!(!r["note"].as_str().unwrap_or("").is_empty(), "{r}");
    }

    // The same work: equal checksums, same number of vectors.
    assert_eq!(v["checksums"]["match"], true, "{v}");
    assert_eq!(v["checksums"]["origin"], v["checksums"]["zerotick"]);
    assert_eq!(v["checksums"]["idiomatic"], v["checksums"]["zerotick"]);
    let layout = v["idiomatic_layout"].as_str().expect("layout");
    assert!(["idiomatic-2", "idiomatic-3"].contains(&layout), "{v}");
    let origin = &v["runs"]["origin"][0];
    let zerotick = &v["runs"]["zerotick"][0];
    for idiomatic in [&v["runs"]["idiomatic-2"][0], &v["runs"]["idiomatic-3"][0]] {
        assert_eq!(idiomatic["vectors"], zerotick["vectors"], "{v}");
    }
    assert_eq!(origin["ticks"], 150_000);
    assert_eq!(origin["vectors"], zerotick["vectors"]);
    assert!(num(&zerotick["vectors"]) > 100.0, "{v}");

    // What the table is there to show, measured in steady state.
    let allocs = row(&v, "allocations_per_s");
    let (o, i, z) = (
        num(&allocs["measured_before"]),
        num(&allocs["measured_idiomatic"]),
        num(&allocs["measured_after"]),
    );
    assert!(o > 10.0 * z.max(1.0) && o > 10.0 * i.max(1.0), "{allocs}");
    assert!(num(&origin["allocations"]) >= 2.0 * num(&origin["vectors"]));
    let pool = row(&v, "pool_hit_rate");
    assert!(pool["measured_before"].is_null());
    for side in ["measured_idiomatic", "measured_after"] {
        assert!((0.0..=1.0).contains(&num(&pool[side])), "{pool}");
    }
    let lock = row(&v, "lock_wait_fraction");
    for side in ["measured_before", "measured_idiomatic", "measured_after"] {
        if schedstat() {
            assert!((0.0..=1.0).contains(&num(&lock[side])), "{lock}");
        } else {
            assert!(lock[side].is_null(), "{lock}");
        }
    }
    assert!(num(&origin["lock_acquisitions"]) >= 80_000.0, "{origin}");
    assert_eq!(num(&zerotick["lock_acquisitions"]), 0.0);
    for metric in [
        "pipeline_vectors_per_s",
        "pipeline_vectors_per_s_steady",
        "rss_bytes",
    ] {
        let r = row(&v, metric);
        for side in ["measured_before", "measured_idiomatic", "measured_after"] {
            assert!(num(&r[side]) > 0.0, "{r}");
        }
    }
    let d1 = row(&v, "d1_hit_rate");
    assert!(d1["measured_before"].is_null() && d1["measured_after"].is_null());
    assert!(
        d1["note"]
            .as_str()
            .unwrap_or("")
            .contains("--no-cachegrind"),
        "{d1}"
    );
    let micro = |m: &str, side: &str| num(&row(&v, m)[side]);
    assert!(micro("with_allocation_ns", "measured_before") > 0.0);
    assert!(micro("with_pool_ns", "measured_idiomatic") > 0.0);
    assert!(micro("with_pool_ns", "measured_after") > 0.0);
    if !cfg!(debug_assertions) {
        // Unoptimised, the pool's code is slower than the (optimised) C allocator.
        assert!(
            micro("with_allocation_ns", "measured_before")
                > micro("with_pool_ns", "measured_after")
        );
    }
    assert!(micro("mutex_metric_ns", "measured_before") > 0.0);
    assert!(micro("lockfree_metric_ns", "measured_idiomatic") > 0.0);
    assert!(micro("lockfree_metric_ns", "measured_after") > 0.0);

    // The origin report's claimed figures, beside ours (DESIGN.md, "Origin report figures").
    assert_eq!(allocs["origin_before"], 1_000_000.0);
    assert_eq!(allocs["origin_after"], 950.0);
    assert_eq!(row(&v, "mutex_metric_ns")["origin_before"], 125.0);
    assert_eq!(row(&v, "lockfree_metric_ns")["origin_after"], 3.0);
    assert!(row(&v, "pool_hit_rate")["origin_before"].is_null());
}

#[test]
fn human_output_has_the_table_machine_config_and_checksums() {
    let out = zerotick(&["--quick", "--no-cachegrind", "--ticks", "20000"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains(
        "| metric | origin report before | origin report after | origin-style | idiomatic | \
         zerotick | zerotick vs origin-style | zerotick vs idiomatic |"
    ));
    for metric in METRICS {
        assert!(text.contains(&format!("| {metric} |")), "{metric}\n{text}");
    }
    assert!(text.contains("machine: "), "{text}");
    assert!(text.contains("20000 ticks, 64 symbols, seed 42"), "{text}");
    assert!(text.contains("(match: "), "{text}");
    assert!(text.contains("faster of 2 and 3"), "{text}");
    // 20,000 ticks give no steady window: null, and the note says why.
    assert!(
        text.contains("null when the run has fewer than two marks"),
        "{text}"
    );
    // Not a terminal: no progress lines.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_flags_give_one_line_and_exit_2() {
    for args in [
        &["--runs", "0"][..],
        &["--ticks", "many"],
        &["--symbols", "0"],
        &["--inner", "sideways"],
        &["--no-such-flag"],
    ] {
        let out = zerotick(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("zerotick bench: "), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn d1_row_is_measured_with_valgrind_and_explained_without() {
    let has_valgrind = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    // The D1 rate is taken over the difference of a warm-up-only run and a warm-up + N run:
    // N must dwarf the warm-up, or the two runs' own variation (threads that spin under
    // valgrind) can swamp it.
    let v = json(&zerotick(&[
        "--quick",
        "--json",
        "--ticks",
        "2000",
        "--warmup-ticks",
        "1000",
        "--cachegrind-ticks",
        "20000",
    ]));
    let d1 = row(&v, "d1_hit_rate");
    if has_valgrind {
        for side in ["measured_before", "measured_idiomatic", "measured_after"] {
            let rate = num(&d1[side]);
            assert!(rate > 0.5 && rate < 1.0, "{d1}");
        }
    } else {
        assert!(d1["measured_before"].is_null(), "{d1}");
        assert!(
            d1["note"]
                .as_str()
                .unwrap_or("")
                .contains("valgrind is not installed"),
            "{d1}"
        );
    }
}
