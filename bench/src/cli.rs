//! Command-line parsing, by hand: `GROUP [--quick] [--json]`, GROUP one of [`GROUPS`] (`pool
//! arena ring metrics simd dense sparse fft feed book`) or `all`.

use crate::groups::{self, GROUPS, Group};

/// What the command line asks for.
#[derive(Clone, Copy, Debug)]
pub enum Command {
    /// Print the help text.
    Help,
    /// Measure a group (or all of them).
    Run(Args),
}

/// Arguments of a run.
#[derive(Clone, Copy, Debug)]
pub struct Args {
    /// The group to run; `None` means `all`.
    pub group: Option<&'static Group>,
    /// `--quick`: short, smoke-test measurements.
    pub quick: bool,
    /// `--json`: one JSON object on stdout instead of tables.
    pub json: bool,
}

/// The help text.
pub fn usage() -> String {
    let names: Vec<&str> = GROUPS.iter().map(|g| g.name).collect();
    let missing: Vec<&str> = GROUPS
        .iter()
        .filter(|g| g.run.is_none())
        .map(|g| g.name)
        .collect();
    format!(
        "zerotick-bench: zerotick side by side with peer crates, median ns per operation

Usage: zerotick-bench GROUP [--quick] [--json]
       cargo run --release -p zerotick-bench -- GROUP [--quick] [--json]

GROUP: {} all
       (not implemented yet: {})

Options:
  --quick     2 ms samples, 20 ms warm-up, 5 samples (default 10 ms, 100 ms, 15):
              a smoke run, not figures to quote
  --json      print one JSON object:
              {{\"group\": G, \"rows\": [{{\"case\", \"impl\", \"median_ns\", \"min_ns\",
              \"max_ns\", \"samples\"}}]}} (min/max: fastest and slowest sample)
              (for `all`, every row also has \"group\")
  -h, --help  print this help

Every impl of a case is measured in the same process, interleaved sample by sample, with the
measuring thread pinned to one CPU. Tables show the median and the spread (fastest-slowest
sample) of ns per operation; `x zerotick` = impl median / zerotick median (above 1: the peer is
slower).

Exit status: 0 ok, 1 a group failed to run, 2 usage error or group not implemented yet.",
        names.join(" "),
        if missing.is_empty() {
            "none".to_owned()
        } else {
            missing.join(" ")
        },
    )
}

/// Parses the arguments after the program name.
///
/// # Errors
/// A message for an unknown flag or group, a missing group, or more than one group.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let (mut group, mut quick, mut json) = (None, false, false);
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--quick" => quick = true,
            "--json" => json = true,
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            name => {
                if let Some(first) = &group {
                    return Err(format!("one group at a time (got `{first}` and `{name}`)"));
                }
                group = Some(name.to_owned());
            }
        }
    }
    let group = match group.as_deref() {
        None => return Err("missing GROUP".to_owned()),
        Some("all") => None,
        Some(name) => Some(groups::find(name).ok_or_else(|| format!("unknown group `{name}`"))?),
    };
    Ok(Command::Run(Args { group, quick, json }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command, String> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn accepts_groups_and_flags_in_any_order() {
        let Ok(Command::Run(a)) = parse_str("--json pool --quick") else {
            panic!()
        };
        assert_eq!(
            (a.group.map(|g| g.name), a.quick, a.json),
            (Some("pool"), true, true)
        );
        let Ok(Command::Run(a)) = parse_str("all") else {
            panic!()
        };
        assert!(a.group.is_none() && !a.quick && !a.json);
        assert!(matches!(parse_str("fft --help"), Ok(Command::Help)));
        let Ok(Command::Run(a)) = parse_str("feed --quick") else {
            panic!()
        };
        assert_eq!(a.group.map(|g| g.name), Some("feed"));
        assert!(usage().contains("feed"));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "--quick",
            "nope",
            "pool arena",
            "pool --fast",
            "pool -q",
        ] {
            assert!(parse_str(bad).is_err(), "{bad:?}");
        }
    }
}
