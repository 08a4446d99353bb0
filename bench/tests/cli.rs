//! The binary's contract: exit codes, messages and the JSON shape.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zerotick-bench"))
        .args(args)
        .output()
        .expect("run zerotick-bench")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_exits_zero() {
    let out = bench(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: zerotick-bench GROUP"));
}

#[test]
fn usage_errors_exit_two() {
    for args in [&[][..], &["nope"], &["pool", "--fast"], &["pool", "arena"]] {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("error:"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn unknown_group_exits_two_with_a_message() {
    // Every group of the contract is implemented now; a name outside it is a usage error.
    let out = bench(&["gemm", "--quick"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("error:"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn json_is_one_object_with_every_impl_of_the_contract() {
    let out = bench(&["pool", "--quick", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["group"], "pool");
    let rows = v["rows"].as_array().expect("rows");
    let cases: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["case"].as_str().unwrap(), r["impl"].as_str().unwrap()))
        .collect();
    assert_eq!(
        cases,
        [
            ("acquire_release", "zerotick"),
            ("acquire_release", "zerotick-cache"),
            ("acquire_release", "lockfree-object-pool"),
            ("acquire_release", "object-pool"),
            ("acquire_release", "box-alloc"),
            ("acquire_release_zeroed", "zerotick"),
            ("acquire_release_zeroed", "lockfree-object-pool"),
            ("acquire_release_zeroed", "object-pool"),
            ("acquire_release_zeroed", "box-alloc"),
        ]
    );
    for r in rows {
        let (lo, med, hi) = (
            r["min_ns"].as_f64().unwrap(),
            r["median_ns"].as_f64().unwrap(),
            r["max_ns"].as_f64().unwrap(),
        );
        assert!(lo > 0.0 && lo <= med && med <= hi, "{r}");
        assert_eq!(r["samples"], 5);
    }
}

#[test]
fn arena_table_has_both_cases_and_impls() {
    let out = bench(&["arena", "--quick"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("# zerotick-bench | cpu: "), "{text}");
    for needle in [
        "x zerotick",
        "min-max ns/op",
        "alloc_64b",
        "reset",
        "zerotick",
        "bumpalo",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

#[test]
fn feed_json_has_the_synthetic_and_parse_cases() {
    let out = bench(&["feed", "--quick", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["group"], "feed");
    let rows = v["rows"].as_array().expect("rows");
    let cases: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["case"].as_str().unwrap(), r["impl"].as_str().unwrap()))
        .collect();
    assert_eq!(
        cases,
        [
            ("feed_synthetic", "zerotick"),
            ("feed_synthetic_4096sym", "zerotick"),
            ("parse_ws_json", "zerotick"),
            ("parse_ws_json", "serde_json"),
            ("parse_ws_json", "serde_json-flat"),
            ("parse_trades_csv", "zerotick"),
            ("parse_trades_csv", "csv+serde"),
            ("gunzip_ws_json", "flate2"),
            ("gunzip_ws_json", "zlib-rs"),
            ("gunzip_ws_json", "miniz_oxide"),
        ]
    );
    assert!(rows.iter().all(|r| r["median_ns"].as_f64().unwrap() > 0.0));
}
