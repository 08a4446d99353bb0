//! `zerotick features`: the indicator catalogue a feature spec can use (`--list`).

use std::io::{self, Write};

use anyhow::{Result, bail};
use clap::Parser;
use zerotick_features::spec;

#[derive(Parser, Debug)]
pub(crate) struct FeaturesArgs {
    /// Print every indicator a spec (`zerotick run --features FILE`) can name, with its
    /// inputs, parameters and defaults, and the columns it writes.
    #[arg(long)]
    list: bool,
    /// With --list: one JSON array instead of text: the indicators (`"kind": "indicator"`),
    /// then the inputs they read, trade and book (`"kind": "input"`).
    #[arg(long)]
    json: bool,
}

/// Runs `zerotick features`.
pub(crate) fn command(args: &FeaturesArgs) -> Result<()> {
    if !args.list {
        bail!("nothing to do: use `zerotick features --list`");
    }
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", catalogue_json())?;
    } else {
        let inputs: Vec<&str> = spec::describe_inputs().iter().map(|i| i.name).collect();
        writeln!(
            out,
            "Indicators of a feature spec (`[[feature]]` with `indicator = \"NAME\"`); every \
             feature also takes `name` and `input` (one of: {}).\n",
            inputs.join(", ")
        )?;
        writeln!(
            out,
            "Inputs (`input = \"NAME\"`, with the input's own keys in the same table). Book \
             inputs are read from the symbol's order book at the end of each of its book \
             events (a quote, a depth message, a snapshot); a spec that reads one also counts \
             book events towards its row cadence.\n"
        )?;
        for info in spec::describe_inputs() {
            writeln!(out, "{info}")?;
        }
        writeln!(out, "\nIndicators:\n")?;
        for info in spec::describe() {
            writeln!(out, "{info}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The catalogue as one JSON array: every indicator (`"kind": "indicator"`, with its inputs,
/// parameters and columns), then every input it can read (`"kind": "input"`: the trade
/// inputs and the book inputs, with their own parameters).
fn catalogue_json() -> serde_json::Value {
    let params = |ps: &[spec::ParamInfo]| {
        ps.iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "default": p.default,
                    "doc": p.doc,
                })
            })
            .collect::<Vec<_>>()
    };
    let indicators = spec::describe().iter().map(|i| {
        serde_json::json!({
            "kind": "indicator",
            "name": i.name,
            "summary": i.summary,
            "inputs": i.inputs,
            "params": params(i.params),
            "columns": i.outputs,
        })
    });
    let inputs = spec::describe_inputs().iter().map(|i| {
        serde_json::json!({
            "kind": "input",
            "name": i.name,
            "summary": i.summary,
            "params": params(i.params),
        })
    });
    indicators.chain(inputs).collect()
}
