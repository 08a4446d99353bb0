//! `Registry::render_prometheus` parsed back by a small, strict parser of the text format
//! 0.0.4: every line is a `# HELP`, a `# TYPE` or a sample; families are contiguous; label
//! values unescape; histogram buckets are cumulative and end with `+Inf` == `_count`.

use std::collections::BTreeMap;

use zerotick_sync::metrics::{HistogramConfig, Registry};

#[derive(Debug, Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
    /// (metric name with suffix, labels, value), in order.
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

fn unescape(s: &str, quote: bool) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if quote => out.push('"'),
                other => panic!("bad escape \\{other:?} in {s:?}"),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || (colon && c == b':'))
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || (colon && c == b':'))
}

/// Parses `{a="x",b="y"}` starting after the `{`; returns labels and the rest after `}`.
fn parse_labels(mut s: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return (labels, rest);
        }
        let eq = s.find('=').expect("label without =");
        let name = &s[..eq];
        assert!(is_name(name, false), "label name {name:?}");
        s = s[eq + 1..]
            .strip_prefix('"')
            .expect("label value not quoted");
        // Find the closing quote, skipping escapes.
        let bytes = s.as_bytes();
        let mut i = 0;
        while bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let value = unescape(&s[..i], true);
        assert!(labels.insert(name.to_owned(), value).is_none(), "dup label");
        s = &s[i + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

fn parse_value(s: &str) -> f64 {
    match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or_else(|_| panic!("bad value {s:?}")),
    }
}

fn parse(text: &str) -> BTreeMap<String, Family> {
    assert!(text.is_empty() || text.ends_with('\n'), "no final newline");
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP without text");
            let f = families.entry(name.to_owned()).or_default();
            assert!(
                f.help.is_none() && f.samples.is_empty(),
                "HELP twice for {name}"
            );
            f.help = Some(unescape(help, false));
            current = name.to_owned();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind));
            let f = families.entry(name.to_owned()).or_default();
            assert!(
                f.kind.is_none() && f.samples.is_empty(),
                "TYPE after samples"
            );
            f.kind = Some(kind.to_owned());
            current = name.to_owned();
        } else {
            assert!(!line.starts_with('#'), "unknown comment {line:?}");
            let end = line.find(['{', ' ']).unwrap();
            let name = &line[..end];
            assert!(is_name(name, true), "metric name {name:?}");
            let (labels, rest) = match line[end..].strip_prefix('{') {
                Some(r) => parse_labels(r),
                None => (BTreeMap::new(), &line[end..]),
            };
            let value = parse_value(rest.strip_prefix(' ').expect("no space before value"));
            let kind = families[&current].kind.clone().unwrap();
            let base = match kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .expect("histogram sample without suffix"),
                _ => name,
            };
            assert_eq!(base, current, "sample outside its family");
            let f = families.get_mut(&current).unwrap();
            f.samples.push((name.to_owned(), labels, value));
        }
    }
    families
}

#[test]
fn counters_gauges_and_escaping_round_trip() {
    let r = Registry::new();
    let c = r
        .counter(
            "requests_total",
            "Requests.\nSecond line with a \\ backslash.",
            &[("path", "/a\"b\\c\nd"), ("code", "200")],
        )
        .unwrap();
    c.add(41);
    c.inc();
    let g = r.gauge("temperature", "Degrees.", &[]).unwrap();
    g.set(-3.25);
    let nan = r.gauge("nan_gauge", "", &[("k", "nan")]).unwrap();
    nan.set(f64::NAN);
    let inf = r.gauge("nan_gauge", "", &[("k", "inf")]).unwrap();
    inf.set(f64::INFINITY);
    let big = r.gauge("nan_gauge", "", &[("k", "big")]).unwrap();
    big.set(1e300);
    r.counter("never_used_total", "", &[]).unwrap();

    let text = r.render_prometheus();
    let fams = parse(&text);
    let req = &fams["requests_total"];
    assert_eq!(
        req.help.as_deref(),
        Some("Requests.\nSecond line with a \\ backslash.")
    );
    assert_eq!(req.kind.as_deref(), Some("counter"));
    let (name, labels, value) = &req.samples[0];
    assert_eq!(name, "requests_total");
    assert_eq!(labels["path"], "/a\"b\\c\nd");
    assert_eq!(labels["code"], "200");
    assert_eq!(*value, 42.0);
    assert_eq!(fams["temperature"].samples[0].2, -3.25);
    let by_k: BTreeMap<_, _> = fams["nan_gauge"]
        .samples
        .iter()
        .map(|(_, l, v)| (l["k"].clone(), *v))
        .collect();
    assert!(by_k["nan"].is_nan());
    assert_eq!(by_k["inf"], f64::INFINITY);
    assert_eq!(by_k["big"], 1e300);
    assert_eq!(fams["never_used_total"].samples[0].2, 0.0);

    // The reusable-buffer form appends the same text.
    let mut buf = String::from("prefix\n");
    r.render_prometheus_into(&mut buf);
    assert_eq!(buf.strip_prefix("prefix\n"), Some(text.as_str()));
}

#[test]
fn histogram_buckets_are_cumulative_and_exact_at_bounds() {
    let r = Registry::new();
    let h = r
        .histogram(
            "latency_seconds",
            "Latency.",
            &[("stage", "feed")],
            HistogramConfig::latency_ns(),
        )
        .unwrap();
    let values: Vec<u64> = (0..10_000u64).map(|i| 1 + i * i % 3_000_000).collect();
    for &v in &values {
        h.record(v);
    }
    let plain = r
        .histogram("sizes", "", &[], HistogramConfig::new(1, 1000, 3))
        .unwrap();
    for v in [1, 2, 2, 3, 7, 999, 1000, 5000] {
        plain.record(v);
    }

    let fams = parse(&r.render_prometheus());
    let f = &fams["latency_seconds"];
    assert_eq!(f.kind.as_deref(), Some("histogram"));
    let buckets: Vec<(f64, f64)> = f
        .samples
        .iter()
        .filter(|(n, _, _)| n == "latency_seconds_bucket")
        .map(|(_, l, v)| {
            assert_eq!(l["stage"], "feed");
            (parse_value(&l["le"]), *v)
        })
        .collect();
    assert_eq!(buckets.last().unwrap().0, f64::INFINITY);
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
    );
    let count = f
        .samples
        .iter()
        .find(|(n, _, _)| n == "latency_seconds_count")
        .unwrap()
        .2;
    let sum = f
        .samples
        .iter()
        .find(|(n, _, _)| n == "latency_seconds_sum")
        .unwrap()
        .2;
    assert_eq!(count, values.len() as f64);
    assert_eq!(buckets.last().unwrap().1, count);
    let want_sum = values.iter().sum::<u64>() as f64 * 1e-9;
    assert!((sum - want_sum).abs() <= want_sum * 1e-12);
    // Each bound (seconds) counts values at most bound, to within one histogram bucket
    // (3 significant digits) below it; bounds under 2048 ns are exact.
    for &(le, got) in &buckets[..buckets.len() - 1] {
        let bound_ns = (le * 1e9).round() as u64;
        let exact = values.iter().filter(|&&v| v <= bound_ns).count() as f64;
        let lower = values
            .iter()
            .filter(|&&v| (v as f64) <= bound_ns as f64 * (1.0 - 1e-3))
            .count() as f64;
        assert!(
            got <= exact && got >= lower,
            "le={le}: {got} not in [{lower}, {exact}]"
        );
        if bound_ns < 2048 {
            assert_eq!(got, exact, "le={le}");
        }
    }

    let sizes = &fams["sizes"];
    let le: Vec<(String, f64)> = sizes
        .samples
        .iter()
        .filter(|(n, _, _)| n == "sizes_bucket")
        .map(|(_, l, v)| (l["le"].clone(), *v))
        .collect();
    let want: Vec<(String, f64)> = [
        ("1.0", 1.0),
        ("2.0", 3.0),
        ("5.0", 4.0),
        ("10.0", 5.0),
        ("20.0", 5.0),
        ("50.0", 5.0),
        ("100.0", 5.0),
        ("200.0", 5.0),
        ("500.0", 5.0),
        ("1000.0", 8.0),
        ("+Inf", 8.0),
    ]
    .iter()
    .map(|&(a, b)| (a.to_owned(), b))
    .collect();
    assert_eq!(le, want);
    let sum = sizes
        .samples
        .iter()
        .find(|(n, _, _)| n == "sizes_sum")
        .unwrap();
    assert_eq!(sum.2, (1 + 2 + 2 + 3 + 7 + 999 + 1000 + 1000) as f64);
}

#[test]
fn empty_registry_renders_nothing() {
    assert_eq!(Registry::new().render_prometheus(), "");
}
