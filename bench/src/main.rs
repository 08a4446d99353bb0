//! `zerotick-bench GROUP [--quick] [--json]`: parses, runs the groups, maps errors to exit codes
//! (0 ok, 1 a group failed, 2 usage error or group not implemented yet; a broken pipe exits 0).

use std::io::{self, Write};
use std::process::ExitCode;
use zerotick_bench::cli::{self, Command};
use zerotick_bench::groups::{GROUPS, Group};
use zerotick_bench::{Config, Harness, pin, report};

fn main() -> ExitCode {
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => return emit(&format!("{}\n", cli::usage())),
        Ok(Command::Run(args)) => args,
        Err(msg) => {
            eprintln!("error: {msg}\n\n{}", cli::usage());
            return ExitCode::from(2);
        }
    };
    let selected: Vec<&Group> = match args.group {
        Some(group) => vec![group],
        None => GROUPS.iter().collect(),
    };
    if let Some(group) = args.group
        && group.run.is_none()
    {
        eprintln!("group {} is not implemented yet", group.name);
        return ExitCode::from(2);
    }
    let missing: Vec<&str> = selected
        .iter()
        .filter(|g| g.run.is_none())
        .map(|g| g.name)
        .collect();

    let main_cpu = pin_main_thread();
    let mut harness = Harness::new(Config { quick: args.quick });
    if !args.json {
        let pinned = main_cpu.map_or_else(|| "not pinned".to_owned(), |c| format!("cpu {c}"));
        let header = format!(
            "# zerotick-bench | cpu: {} | measuring thread: {pinned} | quick: {}\n",
            report::cpu_model(),
            if args.quick { "yes" } else { "no" },
        );
        if let Some(code) = exit_on_error(emit_result(&header)) {
            return code;
        }
    }

    let mut all_rows = Vec::new();
    for group in &selected {
        let Some(run) = group.run else { continue };
        harness.start_group(group.name);
        if let Some(cpu) = main_cpu {
            harness.note_pinned(cpu);
        }
        let rows = match run(&mut harness) {
            Ok(rows) => rows,
            Err(err) => {
                eprintln!("error: group {}: {err}", group.name);
                return ExitCode::FAILURE;
            }
        };
        if !args.json {
            let mut table = report::table(group.name, harness.pinned(), &rows);
            for line in harness.notes() {
                table.push_str(&format!("note: {line}\n"));
            }
            if let Some(code) = exit_on_error(emit_result(&format!("\n{table}"))) {
                return code;
            }
        }
        all_rows.extend(rows);
    }
    if !missing.is_empty() {
        eprintln!(
            "groups not implemented yet (skipped): {}",
            missing.join(" ")
        );
    }
    if args.json {
        let value = match args.group {
            Some(group) => report::json_group(group.name, &all_rows),
            None => report::json_all(&all_rows),
        };
        return emit(&format!("{value}\n"));
    }
    ExitCode::SUCCESS
}

/// Pins the measuring thread to CPU 0 (or the first CPU it may use); `None` if that fails.
fn pin_main_thread() -> Option<usize> {
    let cpu = match pin::allowed_cpus() {
        Ok(cpus) if cpus.contains(&0) => 0,
        Ok(cpus) => *cpus.first()?,
        Err(err) => {
            eprintln!("warning: cannot read the CPU affinity mask ({err}); not pinning");
            return None;
        }
    };
    match pin::pin_current_thread(cpu) {
        Ok(()) => Some(cpu),
        Err(err) => {
            eprintln!("warning: cannot pin the measuring thread to cpu {cpu} ({err})");
            None
        }
    }
}

/// Writes `text` to stdout and flushes.
fn emit_result(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes `text` to stdout; the exit code to end with.
fn emit(text: &str) -> ExitCode {
    exit_on_error(emit_result(text)).unwrap_or(ExitCode::SUCCESS)
}

/// `None` if the write worked; otherwise the exit code (0 for a closed pipe, 1 otherwise).
fn exit_on_error(result: io::Result<()>) -> Option<ExitCode> {
    match result {
        Ok(()) => None,
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Some(ExitCode::SUCCESS),
        Err(err) => {
            eprintln!("error: writing output: {err}");
            Some(ExitCode::FAILURE)
        }
    }
}
