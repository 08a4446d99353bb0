//! Flag combinations and inputs `zerotick run` refuses before it starts: each is one line on
//! stderr and a failing exit code, never a panic, and nothing is written.

use std::process::{Command, Output};

fn zerotick(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zerotick"))
        .args(args)
        .output()
        .expect("runs")
}

/// The one-line error of a refused run.
fn refused(args: &[&str]) -> String {
    let out = zerotick(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("zerotick: "), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    err
}

#[test]
fn block_ms_must_leave_room_for_the_lease_and_heartbeats() {
    // Nothing listens on port 1: a combination that passed the checks would fail to connect
    // instead, with another message.
    let redis = "redis://127.0.0.1:1/ticks";
    let kafka = "kafka://127.0.0.1:1/ticks";
    for (args, needle) in [
        (
            vec!["run", "--block-ms", "0"],
            "--block-ms must be at least 1",
        ),
        (
            vec!["run", "--feed", redis, "--block-ms", "0"],
            "--block-ms must be at least 1",
        ),
        // The default lease is --claim-idle-ms 5000: a third is 1666 ms.
        (
            vec!["run", "--feed", redis, "--block-ms", "6000"],
            "below a third of the lease",
        ),
        (
            vec!["run", "--feed", redis, "--block-ms", "1667"],
            "at most 1666, got 1667",
        ),
        // The lease lives at least a second, whatever --claim-idle-ms says.
        (
            vec![
                "run",
                "--feed",
                redis,
                "--claim-idle-ms",
                "10",
                "--block-ms",
                "400",
            ],
            "at most 333, got 400",
        ),
        (
            vec!["run", "--feed", kafka, "--block-ms", "3334"],
            "below a third of --session-timeout-ms (10000 ms)",
        ),
        (
            vec![
                "run",
                "--feed",
                kafka,
                "--session-timeout-ms",
                "6000",
                "--block-ms",
                "2000",
            ],
            "--session-timeout-ms (6000 ms)",
        ),
    ] {
        let err = refused(&args);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // Where the lease or membership does not apply, a long read is allowed: these pass the
    // checks and fail only at connecting.
    for args in [
        vec![
            "run",
            "--feed",
            redis,
            "--no-checkpoints",
            "--block-ms",
            "6000",
            "--reconnect-give-up-ms",
            "0",
        ],
        vec![
            "run",
            "--feed",
            redis,
            "--block-ms",
            "1666",
            "--reconnect-give-up-ms",
            "0",
        ],
        vec![
            "run",
            "--feed",
            kafka,
            "--partitions-of",
            "0/1",
            "--block-ms",
            "20000",
            "--reconnect-give-up-ms",
            "0",
        ],
    ] {
        let err = refused(&args);
        assert!(!err.contains("--block-ms"), "{args:?}: {err}");
        assert!(err.contains("cannot read"), "{args:?}: {err}");
    }
}
