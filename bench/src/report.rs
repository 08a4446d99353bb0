//! Rendering rows as a human table or as the JSON object of the shared contract.

use crate::harness::Row;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Name of the reference impl every ratio is taken against.
pub const REFERENCE: &str = "zerotick";

/// The CPU model from `/proc/cpuinfo` (`model name`), or `"unknown"`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Formats CPU numbers as `0,1,3`, or `none`.
pub fn cpu_list(cpus: &BTreeSet<usize>) -> String {
    if cpus.is_empty() {
        return "none".to_owned();
    }
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `impl median / zerotick median` for the same case (above 1: the peer is slower).
///
/// `None` when the case has no zerotick row or its median is not positive.
pub fn ratio(row: &Row, rows: &[Row]) -> Option<f64> {
    let reference = rows
        .iter()
        .find(|r| r.group == row.group && r.case == row.case && r.imp == REFERENCE)?;
    (reference.median_ns > 0.0).then(|| row.median_ns / reference.median_ns)
}

/// A plain-text table of one group's rows: case, impl, median ns/op, spread (fastest and
/// slowest sample), samples, x zerotick.
pub fn table(group: &str, pinned: &BTreeSet<usize>, rows: &[Row]) -> String {
    let header = [
        "case",
        "impl",
        "median ns/op",
        "min-max ns/op",
        "samples",
        "x zerotick",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.case.to_owned(),
                r.imp.to_owned(),
                format_ns(r.median_ns),
                format!("{}-{}", format_ns(r.min_ns), format_ns(r.max_ns)),
                r.samples.to_string(),
                ratio(r, rows).map_or_else(|| "-".to_owned(), |x| format!("{x:.2}")),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &cells {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = if pinned.is_empty() {
        format!("## {group} (threads not pinned)\n")
    } else {
        format!("## {group} (threads pinned to cpu {})\n", cpu_list(pinned))
    };
    let line = |out: &mut String, cells: [&str; 6]| {
        let [case, imp, ns, spread, samples, x] = cells;
        let [w0, w1, w2, w3, w4, w5] = width;
        let _ = writeln!(
            out,
            "{case:<w0$}  {imp:<w1$}  {ns:>w2$}  {spread:>w3$}  {samples:>w4$}  {x:>w5$}"
        );
    };
    line(&mut out, header);
    line(
        &mut out,
        width.map(|w| "-".repeat(w)).each_ref().map(String::as_str),
    );
    for row in &cells {
        line(&mut out, row.each_ref().map(String::as_str));
    }
    out
}

/// Nanoseconds with a precision that suits their size.
fn format_ns(ns: f64) -> String {
    match ns {
        x if x < 100.0 => format!("{x:.2}"),
        x if x < 10_000.0 => format!("{x:.1}"),
        x => format!("{x:.0}"),
    }
}

/// The JSON object of one group:
/// `{"group": g, "rows": [{case, impl, median_ns, min_ns, max_ns, samples}]}`.
pub fn json_group(group: &str, rows: &[Row]) -> Value {
    let rows: Vec<Value> = rows.iter().map(|r| json_row(r, false)).collect();
    json!({ "group": group, "rows": rows })
}

/// The JSON object of `all`: group `"all"`, every row with an extra `"group"` field.
pub fn json_all(rows: &[Row]) -> Value {
    let rows: Vec<Value> = rows.iter().map(|r| json_row(r, true)).collect();
    json!({ "group": "all", "rows": rows })
}

fn json_row(r: &Row, with_group: bool) -> Value {
    // Two decimals of a nanosecond are far below the run-to-run noise.
    let round = |ns: f64| (ns * 100.0).round() / 100.0;
    let mut v = json!({
        "case": r.case,
        "impl": r.imp,
        "median_ns": round(r.median_ns),
        "min_ns": round(r.min_ns),
        "max_ns": round(r.max_ns),
        "samples": r.samples,
    });
    if with_group {
        v["group"] = json!(r.group);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case: &'static str, imp: &'static str, median_ns: f64) -> Row {
        Row {
            group: "pool",
            case,
            imp,
            median_ns,
            min_ns: median_ns * 0.9,
            max_ns: median_ns * 1.2,
            samples: 15,
        }
    }

    #[test]
    fn ratio_is_against_zerotick_of_the_same_case() {
        let rows = [
            row("a", "zerotick", 2.0),
            row("a", "peer", 5.0),
            row("b", "peer", 1.0),
        ];
        assert_eq!(ratio(&rows[0], &rows), Some(1.0));
        assert_eq!(ratio(&rows[1], &rows), Some(2.5));
        assert_eq!(ratio(&rows[2], &rows), None);
        let t = table("pool", &BTreeSet::from([0]), &rows);
        assert!(
            t.contains("2.50") && t.contains("threads pinned to cpu 0"),
            "{t}"
        );
        assert!(
            t.contains("min-max ns/op") && t.contains("4.50-6.00"),
            "{t}"
        );
    }

    #[test]
    fn json_shapes_follow_the_contract() {
        let rows = [row("acquire_release", "zerotick", 8.7049)];
        let g = json_group("pool", &rows);
        assert_eq!(
            g,
            json!({"group": "pool", "rows": [
                {"case": "acquire_release", "impl": "zerotick", "median_ns": 8.7,
                 "min_ns": 7.83, "max_ns": 10.45, "samples": 15}
            ]})
        );
        let a = json_all(&rows);
        assert_eq!(a["group"], "all");
        assert_eq!(a["rows"][0]["group"], "pool");
    }
}
