//! Rendering a registry in the Prometheus text exposition format, version 0.0.4.

use std::fmt::Write as _;

use super::histogram::HistogramSnapshot;
use super::{Family, Metric, MetricKind};

/// Appends every family to `out`, in registration order.
pub(crate) fn render(families: &[Family], out: &mut String) {
    let mut snap: Option<HistogramSnapshot> = None;
    for f in families {
        let _ = write!(out, "# HELP {} ", f.name);
        escape_help(&f.help, out);
        let kind = match f.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        let _ = writeln!(out, "\n# TYPE {} {kind}", f.name);
        for s in &f.series {
            match &s.metric {
                Metric::Counter(c) => {
                    sample(out, &f.name, "", &s.labels, None);
                    let _ = writeln!(out, "{}", c.get());
                }
                Metric::Gauge(g) => {
                    sample(out, &f.name, "", &s.labels, None);
                    write_f64(out, g.get());
                    out.push('\n');
                }
                Metric::Histogram(h) => {
                    // One snapshot buffer for every histogram (re-sized when layouts differ).
                    let snap = match snap.as_mut() {
                        Some(buf) => {
                            h.snapshot_into(buf, false);
                            buf
                        }
                        None => snap.insert(h.snapshot()),
                    };
                    histogram(out, &f.name, &s.labels, snap);
                }
            }
        }
    }
}

/// `name_bucket` lines at the 1-2-5 bounds within the range, then `+Inf`, `_sum`, `_count`.
fn histogram(out: &mut String, name: &str, labels: &str, s: &HistogramSnapshot) {
    let c = *s.config();
    let mut buckets = s.buckets().peekable();
    let mut cumulative = 0u64;
    for bound in bounds(c.lowest, c.highest) {
        // Whole buckets whose highest value is <= bound (see `count_at_most`).
        while let Some(&(_, hi, n)) = buckets.peek() {
            if hi > bound {
                break;
            }
            cumulative += n;
            buckets.next();
        }
        sample(
            out,
            name,
            "_bucket",
            labels,
            Some(&le(bound, c.prometheus_scale)),
        );
        let _ = writeln!(out, "{cumulative}");
    }
    sample(out, name, "_bucket", labels, Some("+Inf"));
    let _ = writeln!(out, "{}", s.count());
    sample(out, name, "_sum", labels, None);
    if c.prometheus_scale == 1.0 {
        let _ = writeln!(out, "{}", s.sum());
    } else {
        write_f64(out, s.sum() as f64 * c.prometheus_scale);
        out.push('\n');
    }
    sample(out, name, "_count", labels, None);
    let _ = writeln!(out, "{}", s.count());
}

/// `1, 2, 5, 10, 20, 50, ...` times the power of ten at or below `lowest`, from the first at
/// or above `lowest` to the last at or below `highest`.
fn bounds(lowest: u64, highest: u64) -> impl Iterator<Item = u64> {
    let mut decade = 1u64;
    while decade.saturating_mul(10) <= lowest {
        decade *= 10;
    }
    std::iter::successors(Some(decade), |&d| d.checked_mul(10))
        .flat_map(|d| [d, d.saturating_mul(2), d.saturating_mul(5)])
        .skip_while(move |&b| b < lowest)
        .take_while(move |&b| b <= highest && b != u64::MAX)
}

/// An `le` label value: `bound * scale`, rounded to 12 significant digits so `10 * 1e-9`
/// prints as `1e-8`, not `1.0000000000000001e-8`.
fn le(bound: u64, scale: f64) -> String {
    let v = bound as f64 * scale;
    let rounded: f64 = format!("{v:.11e}").parse().unwrap_or(v);
    let mut s = String::new();
    write_f64(&mut s, rounded);
    s
}

/// `name{labels,le="..."} ` (braces omitted when there are no labels).
fn sample(out: &mut String, name: &str, suffix: &str, labels: &str, le: Option<&str>) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some(le) = le {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

/// A sample value: `NaN`, `+Inf`, `-Inf`, or the shortest decimal that round-trips.
pub(crate) fn write_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v:?}");
    }
}

/// `# HELP` text: backslash and newline escaped.
fn escape_help(help: &str, out: &mut String) {
    for ch in help.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A label value: backslash, double quote and newline escaped.
pub(crate) fn escape_label_value(value: &str, out: &mut String) {
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_1_2_5() {
        let b: Vec<u64> = bounds(1, 100).collect();
        assert_eq!(b, [1, 2, 5, 10, 20, 50, 100]);
        let b: Vec<u64> = bounds(30, 1000).collect();
        assert_eq!(b, [50, 100, 200, 500, 1000]);
        // 1, 2, 5 for each of 10^0 ..= 10^18, then 10^19.
        assert_eq!(bounds(1, u64::MAX).count(), 58);
    }

    #[test]
    fn le_rounds_scaled_bounds() {
        assert_eq!(le(10, 1e-9), "1e-8");
        assert_eq!(le(5, 1.0), "5.0");
        assert_eq!(le(2_000_000_000, 1e-9), "2.0");
    }
}
