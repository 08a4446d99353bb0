//! `zerotick features`: the indicator catalogue a feature spec can use (`--list`).

use std::io::{self, Write};

use anyhow::{Result, bail};
use clap::Parser;
use zerotick_features::spec::{self, INPUTS};

#[derive(Parser, Debug)]
pub(crate) struct FeaturesArgs {
    /// Print every indicator a spec (`zerotick run --features FILE`) can name, with its
    /// inputs, parameters and defaults, and the columns it writes.
    #[arg(long)]
    list: bool,
    /// With --list: one JSON array instead of text.
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
        let inputs: Vec<&str> = INPUTS.iter().map(|i| i.name()).collect();
        writeln!(
            out,
            "Indicators of a feature spec (`[[feature]]` with `indicator = \"NAME\"`); every \
             feature also takes `name` and `input` (one of: {}).\n",
            inputs.join(", ")
        )?;
        for info in spec::describe() {
            writeln!(out, "{info}")?;
        }
    }
    out.flush()?;
    Ok(())
}

fn catalogue_json() -> serde_json::Value {
    spec::describe()
        .iter()
        .map(|i| {
            serde_json::json!({
                "name": i.name,
                "summary": i.summary,
                "inputs": i.inputs,
                "params": i.params.iter().map(|p| serde_json::json!({
                    "name": p.name,
                    "default": p.default,
                    "doc": p.doc,
                })).collect::<Vec<_>>(),
                "columns": i.outputs,
            })
        })
        .collect()
}
