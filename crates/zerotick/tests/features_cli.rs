//! `zerotick features --list` and the feature-spec options of `zerotick run`.

use std::process::{Command, Output};

fn zerotick(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zerotick"))
        .args(args)
        .output()
        .expect("runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

#[test]
fn features_list_prints_every_indicator_with_its_parameters() {
    let text = stdout(&zerotick(&["features", "--list"]));
    for info in zerotick_features::spec::describe() {
        let head = format!("{}: {}", info.name, info.summary);
        assert!(text.contains(&head), "missing {head:?} in\n{text}");
        for p in info.params {
            let line = match p.default {
                Some(d) => format!("    {} = {d} (default): {}", p.name, p.doc),
                None => format!("    {} (required): {}", p.name, p.doc),
            };
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
    }
    assert!(text.contains("columns: line, signal, histogram"), "{text}");
    assert!(text.contains("signed_volume"), "inputs are listed: {text}");
    // Every input with its own keys: the book inputs' levels and bps.
    for info in zerotick_features::spec::describe_inputs() {
        let head = format!("{}: {}", info.name, info.summary);
        assert!(text.contains(&head), "missing {head:?} in\n{text}");
    }
    assert!(text.contains("    levels = 1 (default): "), "{text}");
    assert!(text.contains("    bps (required): "), "{text}");
    for book in ["depth_bid", "depth_ask", "ofi", "microprice"] {
        assert!(text.contains(&format!("{book}: ")), "{book}: {text}");
    }

    let json: serde_json::Value =
        serde_json::from_slice(&zerotick(&["features", "--list", "--json"]).stdout).expect("json");
    let all = json.as_array().expect("an array");
    let kind = |k: &str| all.iter().filter(|i| i["kind"] == k).count();
    assert_eq!(kind("indicator"), zerotick_features::spec::describe().len());
    assert_eq!(
        kind("input"),
        zerotick_features::spec::describe_inputs().len()
    );
    assert_eq!(all.len(), kind("indicator") + kind("input"));
    // The book inputs are listed with their own keys.
    let imbalance = all
        .iter()
        .find(|i| i["kind"] == "input" && i["name"] == "book_imbalance")
        .expect("book_imbalance listed");
    assert_eq!(imbalance["params"][0]["name"], "levels");
    assert_eq!(imbalance["params"][0]["default"], "1");
    let rsi = all.iter().find(|i| i["name"] == "rsi").expect("rsi listed");
    assert_eq!(rsi["params"][0]["name"], "period");
    assert_eq!(rsi["params"][0]["default"], "14");
}

#[test]
fn features_without_list_is_a_one_line_error() {
    let out = zerotick(&["features"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--list"), "{err}");
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out)).expect("one JSON object")
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

fn example_spec() -> String {
    format!(
        "{}/../../examples/features.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn the_default_run_keeps_its_checksum() {
    // The built-in row, untouched by the spec machinery: the README's figure, on the AVX2
    // tier (which AVX-512 machines run too when asked; the tiers sum in different orders,
    // so each has its own checksum).
    #[cfg(target_arch = "x86_64")]
    let avx2 =
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    let avx2 = false;
    if !avx2 {
        eprintln!("skipped: this CPU has no AVX2+FMA tier");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_zerotick"))
        .args(["run", "--json"])
        .env("ZEROTICK_SIMD", "avx2")
        .output()
        .expect("runs");
    let a = json(&out);
    // 9d5f7a2115d8a048 until the squash became `tanh_rational` (2026-11-30 late);
    // 039fd26e2a186266 until the PCA's randomized SVD moved to the skinny kernels and
    // CholeskyQR2 (2026-12-01). The same on the AVX-512 tier (the PCA and the projection
    // use tier-stable kernels there).
    assert_eq!(a["checksum"], "19725c672de315c0", "{a}");
    assert_eq!(a["steady_state_allocations"], 0, "{a}");
}

#[test]
fn a_spec_run_is_deterministic_and_differs_from_the_builtin_row() {
    let spec = example_spec();
    let args = ["run", "--json", "--ticks", "100000", "--features", &spec];
    let a = json(&zerotick(&args));
    let b = json(&zerotick(&args));
    assert_eq!(a["checksum"], b["checksum"]);
    assert_eq!(a["steady_state_allocations"], 0, "{a}");
    let builtin = json(&zerotick(&["run", "--json", "--ticks", "100000"]));
    assert_ne!(a["checksum"], builtin["checksum"]);
    // A row every 32 trades of a symbol (64 for the built-in row).
    let (va, vb) = (
        a["vectors"].as_u64().unwrap(),
        builtin["vectors"].as_u64().unwrap(),
    );
    assert!(va > vb * 19 / 10, "{va} rows against {vb}");
}

#[test]
fn emit_both_writes_a_csv_naming_every_column_and_symbol() {
    let dir = std::env::temp_dir().join(format!("zerotick-emit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("rows.csv");
    let spec = example_spec();
    let sink = format!("csv:{}", csv.display());
    let args = [
        "run",
        "--json",
        "--ticks",
        "20000",
        "--symbols",
        "4",
        "--features",
        &spec,
        "--emit",
        "both",
        "--sink",
        &sink,
    ];
    let report = json(&zerotick(&args));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut want = vec!["ts_ns", "symbol"];
    let cols: Vec<String> = (0..16).map(|k| format!("ret.{k}")).collect();
    want.extend(cols.iter().map(String::as_str));
    want.extend([
        "ema_fast",
        "vol_1s",
        "rsi",
        "macd.line",
        "macd.signal",
        "macd.histogram",
        "vwap_5s",
        "flow",
        "atr",
        "signal",
    ]);
    assert_eq!(header, want);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len() as u64, report["vectors"].as_u64().unwrap());
    for r in &rows {
        assert_eq!(r.len(), header.len());
        assert!(
            r[1].starts_with("SYN"),
            "a symbol name, not an index: {r:?}"
        );
        for v in &r[2..] {
            let v: f64 = v.parse().unwrap();
            assert!(v.is_finite(), "{r:?}");
        }
    }
    // Features only: no signal column; the built-in row: its 1,024 stable names.
    let args = [
        "run",
        "--ticks",
        "5000",
        "--symbols",
        "2",
        "--emit",
        "features",
        "--sink",
        &sink,
    ];
    stdout(&zerotick(&args));
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert_eq!(header.len(), 2 + 1024);
    assert_eq!(
        (header[2], header[514], header[1025]),
        ("ret.0", "sq.0", "ema.h31.price_gap")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spec_mistakes_are_one_line_errors_naming_the_file_and_line() {
    let dir = std::env::temp_dir().join(format!("zerotick-spec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[row]\nevery = 8\n\n[[feature]]\nname = \"x\"\nindicator = \"emma\"\n",
    )
    .unwrap();
    let path = bad.display().to_string();
    let err = one_line_error(&zerotick(&["run", "--features", &path]));
    assert!(
        err.contains(&format!("{path}: line 6: unknown indicator")),
        "{err}"
    );

    let raw = dir.join("raw.toml");
    std::fs::write(
        &raw,
        "[compute]\nprojection = \"none\"\nreadout = false\n\n[[feature]]\nname = \"e\"\nindicator = \"ema\"\nperiod = 4\n",
    )
    .unwrap();
    let path = raw.display().to_string();
    let err = one_line_error(&zerotick(&["run", "--features", &path]));
    assert!(err.contains(&format!("{path}: line 3: ")), "{err}");
    assert!(err.contains("--emit features"), "{err}");
    // Features only is fine without a read-out.
    stdout(&zerotick(&[
        "run",
        "--ticks",
        "3000",
        "--features",
        &path,
        "--emit",
        "features",
    ]));

    let err = one_line_error(&zerotick(&["run", "--features", "/nonexistent/spec.toml"]));
    assert!(err.contains("/nonexistent/spec.toml"), "{err}");
    let err = one_line_error(&zerotick(&["run", "--features", &path, "--row-every", "8"]));
    assert!(err.contains("--row-every"), "{err}");
    let err = one_line_error(&zerotick(&[
        "run",
        "--emit",
        "both",
        "--sink",
        "redis://127.0.0.1:1/x",
    ]));
    assert!(err.contains("Redis sink"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
