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

    let json: serde_json::Value =
        serde_json::from_slice(&zerotick(&["features", "--list", "--json"]).stdout).expect("json");
    let all = json.as_array().expect("an array");
    assert_eq!(all.len(), zerotick_features::spec::describe().len());
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
