//! The feature specification: every catalogue indicator parses, defaults apply, and every
//! kind of mistake is a one-line error naming the right line.

use zerotick_features::spec::{
    Cadence, ComputeSteps, DEFAULT_TIME_CAPACITY, FeatureSpec, IndicatorSpec, Input, Projection,
    SpecError, describe,
};
use zerotick_features::{BarKind, Window};

/// The error of `text`, checked to be one line naming `line_with`'s line.
#[track_caller]
fn err_at(text: &str, line_with: &str, max_width: usize) -> SpecError {
    let e = FeatureSpec::parse_with_max_width(text, max_width).expect_err("an error");
    let want = 1 + text
        .lines()
        .position(|l| l.contains(line_with))
        .unwrap_or_else(|| panic!("no line with {line_with:?}"));
    let shown = e.to_string();
    assert!(!shown.contains('\n'), "one line: {shown}");
    assert_eq!(e.line, want, "{shown}");
    assert!(shown.starts_with(&format!("line {want}: ")), "{shown}");
    e
}

fn feature(body: &str) -> String {
    format!("[row]\nevery = 8\n\n[[feature]]\nname = \"f\"\n{body}\n")
}

#[test]
fn every_catalogue_indicator_parses_with_defaults() {
    for info in describe() {
        let mut body = format!("indicator = \"{}\"\n", info.name);
        for p in info.params.iter().filter(|p| p.default.is_none()) {
            let v = match p.name {
                "window" => "\"2s\"",
                "bar" => "{ ticks = 10 }",
                _ => "3",
            };
            body.push_str(&format!("{} = {v}\n", p.name));
        }
        let spec =
            FeatureSpec::parse(&feature(&body)).unwrap_or_else(|e| panic!("{}: {e}", info.name));
        let f = &spec.features[0];
        let suffixes = if info.name == "lags" {
            3
        } else {
            info.outputs.len()
        };
        assert_eq!(f.width(), suffixes, "{}", info.name);
        assert_eq!(f.column_names().count(), f.width());
        assert_eq!(
            f.input,
            if info.inputs == "trades" {
                Input::Trades
            } else {
                Input::Price
            }
        );
        // The listing names every parameter with its default.
        let listed = info.to_string();
        for p in info.params {
            assert!(listed.contains(p.name), "{listed}");
            if let Some(d) = p.default {
                assert!(
                    listed.contains(&format!("{} = {d} (default)", p.name)),
                    "{listed}"
                );
            }
        }
    }
    let spec = FeatureSpec::parse(&feature("indicator = \"macd\"")).unwrap();
    assert_eq!(
        spec.features[0].indicator,
        IndicatorSpec::Macd {
            fast: 12,
            slow: 26,
            signal: 9
        }
    );
    let spec = FeatureSpec::parse(&feature("indicator = \"std\"\nwindow = \"5s\"")).unwrap();
    assert_eq!(
        spec.features[0].indicator,
        IndicatorSpec::Std {
            window: Window::Time {
                span_ns: 5_000_000_000
            },
            capacity: DEFAULT_TIME_CAPACITY,
            ddof: 0
        }
    );
    let spec =
        FeatureSpec::parse(&feature("indicator = \"atr\"\nbar = { volume = 2.5e3 }")).unwrap();
    assert_eq!(
        spec.features[0].indicator,
        IndicatorSpec::Atr {
            period: 14,
            bar: BarKind::Volume(2500.0)
        }
    );
}

#[test]
fn defaults_cadence_and_compute() {
    let spec =
        FeatureSpec::parse("[[feature]]\nname = \"a\"\nindicator = \"ema\"\nperiod = 4\n").unwrap();
    assert_eq!(spec.row, Cadence::Events(64));
    assert_eq!(spec.compute, ComputeSteps::default());
    let spec = FeatureSpec::parse(
        "[row]\nevery = \"250ms\"\n[compute]\nprojection = \"none\"\nreadout = false\nsquash = false\n\
         [[feature]]\nname = \"a\"\nindicator = \"ema\"\nperiod = 1_000\ninput = \"microprice\"\n",
    )
    .unwrap();
    assert_eq!(
        spec.row,
        Cadence::Time {
            every_ns: 250_000_000
        }
    );
    assert_eq!(spec.compute.projection, Projection::None);
    assert!(!spec.compute.squash && !spec.compute.readout && spec.compute.normalise);
    let with = |v: &str| {
        FeatureSpec::parse(&format!(
            "[compute]\nsquash = {v}\n[[feature]]\nname = \"a\"\nindicator = \"ema\"\nperiod = 4\n"
        ))
        .unwrap()
        .compute
    };
    let c = with("\"f32\"");
    assert!(c.squash && c.squash_f32);
    let c = with("\"rational\"");
    assert!(c.squash && !c.squash_f32);
    assert_eq!(with("\"rational\""), with("true"));
    assert_eq!(with("\"rational\""), ComputeSteps::default());
    assert_eq!(
        spec.features[0].indicator,
        IndicatorSpec::Ema { period: 1000 }
    );
    assert!(spec.features[0].input.is_book());
    let spec = FeatureSpec::parse("[row]\nevery = \"16\"\n[[feature]]\nname = \"r\"\nindicator = \"lags\"\ncount = 3\ninput = \"returns\"\n").unwrap();
    assert_eq!(spec.row, Cadence::Events(16));
    assert_eq!(spec.column_names(), ["r.0", "r.1", "r.2"]);
}

#[test]
fn errors_name_the_line() {
    let w = usize::MAX;
    let e = err_at(&feature("indicator = \"emma\""), "emma", w);
    assert!(
        e.message.contains("unknown indicator \"emma\"") && e.message.contains("rsi"),
        "{e}"
    );
    let e = err_at(
        &feature("indicator = \"ema\"\nperiod = 3\nperoid = 4"),
        "peroid",
        w,
    );
    assert!(e.message.contains("unknown key \"peroid\""), "{e}");
    err_at(
        &feature("indicator = \"ema\"\nperiod = 3\ninput = \"prices\""),
        "prices",
        w,
    );
    let e = err_at(
        &feature("indicator = \"vwap\"\nwindow = 3\ninput = \"price\""),
        "input",
        w,
    );
    assert!(e.message.contains("does not read"), "{e}");
    err_at(
        &feature("indicator = \"realized_vol\"\nwindow = 3\ninput = \"returns\""),
        "input",
        w,
    );
    for bad in [
        "\"0s\"",
        "0",
        "-3",
        "\"5 parsecs\"",
        "\"64x\"",
        "\"\"",
        "1.5",
        "\"99999999999999999999h\"",
        "2000000",
    ] {
        let text = feature(&format!("indicator = \"sma\"\nwindow = {bad}"));
        let e = err_at(&text, "window =", w);
        assert!(e.message.contains("window"), "{bad}: {e}");
    }
    err_at(
        &feature("indicator = \"sma\"\nwindow = 5\ncapacity = 10"),
        "capacity",
        w,
    );
    err_at(
        &feature("indicator = \"sma\"\nwindow = \"5s\"\ncapacity = 0"),
        "capacity",
        w,
    );
    err_at(
        &feature("indicator = \"realized_vol\"\nwindow = 5\nannualise = true"),
        "annualise",
        w,
    );
    err_at(
        &feature("indicator = \"std\"\nwindow = 5\nddof = 2"),
        "ddof",
        w,
    );
    err_at(
        &feature("indicator = \"bollinger\"\nwindow = 5\nk = \"wide\""),
        "k =",
        w,
    );
    err_at(
        &feature("indicator = \"bollinger\"\nwindow = 5\nk = inf"),
        "k =",
        w,
    );
    err_at(
        &feature("indicator = \"atr\"\nbar = { ticks = 5, volume = 3.0 }"),
        "bar =",
        w,
    );
    err_at(
        &feature("indicator = \"atr\"\nbar = { minutes = 5 }"),
        "bar =",
        w,
    );
    err_at(
        &feature("indicator = \"atr\"\nbar = { time = \"5\" }"),
        "bar =",
        w,
    );
    err_at(
        &feature("indicator = \"atr\"\nbar = { volume = -1.0 }"),
        "bar =",
        w,
    );
    let e = err_at(&feature("indicator = \"atr\""), "[[feature]]", w);
    assert!(e.message.contains("bar"), "{e}");
    err_at(&feature("indicator = \"sma\""), "[[feature]]", w);
    err_at(&feature("indicator = \"ema\""), "[[feature]]", w);
    err_at(
        "[[feature]]\nindicator = \"ema\"\nperiod = 2\n",
        "[[feature]]",
        w,
    );
    err_at(
        "[[feature]]\nname = \"a b\"\nindicator = \"ema\"\nperiod = 2\n",
        "name",
        w,
    );
    err_at("[[feature]]\nname = \"a\"\nperiod = 2\n", "[[feature]]", w);
    err_at("[[feature]]\nname = \"a\"\nindicator = 3\n", "indicator", w);
}

#[test]
fn document_level_errors() {
    let w = usize::MAX;
    let ok = "[[feature]]\nname = \"a\"\nindicator = \"ema\"\nperiod = 2\n";
    err_at(&format!("[rows]\nevery = 3\n{ok}"), "[rows]", w);
    err_at(&format!("version = 2\n{ok}"), "version", w);
    err_at(&format!("[row]\nevery = 0\n{ok}"), "every", w);
    err_at(&format!("[row]\nevery = \"0ms\"\n{ok}"), "every", w);
    err_at(&format!("[row]\nevery = true\n{ok}"), "every", w);
    err_at(&format!("[row]\nevry = 3\n{ok}"), "evry", w);
    err_at(
        &format!("[compute]\nprojection = \"svd\"\n{ok}"),
        "projection",
        w,
    );
    err_at(
        &format!("[compute]\nprojection = \"none\"\n{ok}"),
        "projection",
        w,
    );
    err_at(&format!("[compute]\nsquash = \"yes\"\n{ok}"), "squash", w);
    err_at(&format!("[compute]\nsquash = \"F32\"\n{ok}"), "squash", w);
    err_at(&format!("[compute]\nsquash = 1\n{ok}"), "squash", w);
    err_at(&format!("[compute]\nfft = true\n{ok}"), "fft", w);
    err_at("[row]\nevery = 3\n", "[row]", w);
    // TOML syntax, and TOML's own duplicate-key rule.
    err_at(&format!("{ok}period = = 3\n"), "= =", w);
    err_at(&format!("{ok}period = 3\n"), "period = 3", w);
    // Duplicate feature names: the second one's header.
    let two = format!("{ok}\n[[feature]] # again\nname = \"a\"\nindicator = \"rsi\"\n");
    let e = err_at(&two, "# again", w);
    assert!(
        e.message.contains("duplicate") && e.message.contains("line 1"),
        "{e}"
    );
}

#[test]
fn generated_column_names_are_unique_and_never_a_sinks_own() {
    let w = usize::MAX;
    let macd = "[[feature]]\nname = \"m\"\nindicator = \"macd\"\n";
    let ema = |name: &str| {
        format!("\n[[feature]] # {name}\nname = \"{name}\"\nindicator = \"ema\"\nperiod = 2\n")
    };
    // An ema named as a column the macd makes, in either order.
    let e = err_at(&format!("{macd}{}", ema("m.line")), "# m.line", w);
    assert!(
        e.message.contains("\"m.line\"") && e.message.contains("line 1"),
        "{e}"
    );
    let text = format!("{}\n[[feature]] # macd\n{}", ema("m.signal"), &macd[12..]);
    let e = err_at(&text, "# macd", w);
    assert!(e.message.contains("\"m.signal\""), "{e}");
    // Lags make `name.k`.
    let lags = "[[feature]]\nname = \"x\"\nindicator = \"lags\"\ncount = 3\n";
    err_at(&format!("{lags}{}", ema("x.2")), "# x.2", w);
    assert!(FeatureSpec::parse(&format!("{lags}{}", ema("x.3"))).is_ok());
    // The sinks' own columns.
    for name in ["ts_ns", "symbol", "signal"] {
        let e = err_at(&format!("{lags}{}", ema(name)), &format!("# {name}"), w);
        assert!(e.message.contains(name), "{e}");
    }
    let e = err_at(
        "[[feature]]\nname = \"signal\"\nindicator = \"ema\"\nperiod = 2\n",
        "[[feature]]",
        w,
    );
    assert!(e.message.contains("signal"), "{e}");
    // A column of a multi-column feature is never bare: `symbol.line`, `signal.0` are fine.
    let l = "[[feature]]\nname = \"signal\"\nindicator = \"lags\"\ncount = 1\n";
    assert_eq!(FeatureSpec::parse(l).unwrap().column_names(), ["signal.0"]);
    let m = "[[feature]]\nname = \"symbol\"\nindicator = \"macd\"\n";
    assert_eq!(FeatureSpec::parse(m).unwrap().width(), 3);
}

#[test]
fn width_limit() {
    let spec = "[[feature]]\nname = \"r\"\nindicator = \"lags\"\ncount = 1000\n\n\
                [[feature]] # m\nname = \"m\"\nindicator = \"macd\"\n\n\
                [[feature]] # b\nname = \"b\"\nindicator = \"bollinger\"\nwindow = 8\n";
    assert_eq!(FeatureSpec::parse(spec).unwrap().width(), 1006);
    let e = err_at(spec, "# m", 1002);
    assert!(
        e.message.contains("1003 columns") && e.message.contains("1002"),
        "{e}"
    );
    err_at(spec, "# b", 1003);
    // The default limit is the batch width, 1,024.
    let wide = spec.replace("count = 1000", "count = 1019");
    err_at(&wide, "# b", zerotick_features::spec::DEFAULT_MAX_WIDTH);
    assert!(FeatureSpec::parse(&wide).is_err());
}

#[test]
fn book_inputs_take_their_own_keys_and_refuse_bad_ones_naming_the_line() {
    let spec = FeatureSpec::parse(&format!(
        "{}\n[[feature]]\nname = \"d\"\nindicator = \"lags\"\ncount = 1\ninput = \"depth_ask\"\nbps = 2.5\n\n\
         [[feature]]\nname = \"i1\"\nindicator = \"ema\"\nperiod = 3\ninput = \"book_imbalance\"\n\n\
         [[feature]]\nname = \"o\"\nindicator = \"mean\"\nwindow = \"1s\"\ninput = \"ofi\"\n",
        feature("indicator = \"ema\"\nperiod = 3\ninput = \"book_imbalance\"\nlevels = 10")
    ))
    .unwrap();
    let inputs: Vec<Input> = spec.features.iter().map(|f| f.input).collect();
    assert_eq!(
        inputs,
        [
            Input::BookImbalance { levels: 10 },
            Input::DepthAsk { bps: 2.5 },
            Input::BookImbalance { levels: 1 },
            Input::Ofi
        ]
    );
    assert!(spec.reads_book() && inputs.iter().all(|i| i.is_book()));
    let trades = FeatureSpec::parse(&feature("indicator = \"ema\"\nperiod = 3")).unwrap();
    assert!(!trades.reads_book());
    // Mistakes: each a one-line error naming its line.
    let e = err_at(
        &feature("indicator = \"ema\"\nperiod = 3\ninput = \"depth_bid\""),
        "[[feature]]",
        usize::MAX,
    );
    assert!(e.message.contains("needs bps"), "{e}");
    for bad in ["0", "-1", "10001", "\"x\""] {
        let text = feature(&format!(
            "indicator = \"ema\"\nperiod = 3\ninput = \"depth_bid\"\nbps = {bad}"
        ));
        err_at(&text, "bps =", usize::MAX);
    }
    let e = err_at(
        &feature("indicator = \"ema\"\nperiod = 3\ninput = \"book_imbalance\"\nlevels = 0"),
        "levels =",
        usize::MAX,
    );
    assert!(e.message.contains("levels"), "{e}");
    let e = err_at(
        &feature("indicator = \"ema\"\nperiod = 3\ninput = \"mid\"\nlevels = 5"),
        "levels =",
        usize::MAX,
    );
    assert!(e.message.contains("unknown key \"levels\""), "{e}");
    let e = err_at(
        &feature("indicator = \"vwap\"\nwindow = 5\ninput = \"ofi\""),
        "input =",
        usize::MAX,
    );
    assert!(e.message.contains("vwap does not read \"ofi\""), "{e}");
}
