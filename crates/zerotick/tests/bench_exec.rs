//! `zerotick bench` hands its arguments to the `zerotick-baseline` binary next to it, or says
//! in one line how to build it. The benchmark itself is tested in `zerotick-baseline`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory holding a copy of the `zerotick` binary.
fn lone_zerotick(name: &str) -> (PathBuf, PathBuf) {
    let dir =
        std::env::temp_dir().join(format!("zerotick-bench-exec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let exe = dir.join("zerotick");
    std::fs::copy(env!("CARGO_BIN_EXE_zerotick"), &exe).expect("copy zerotick");
    (dir, exe)
}

/// Runs `exe` with `args`. A binary just written can be briefly "busy" (ETXTBSY): another
/// test thread forked while this one's write descriptor was open, and the child holds it
/// until its exec; wait that out instead of failing.
fn run(exe: &Path, args: &[&str]) -> Output {
    for _ in 0..50 {
        match Command::new(exe).args(args).output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.expect("runs"),
        }
    }
    panic!("{} stayed busy for a second", exe.display())
}

#[test]
fn a_missing_baseline_gives_one_line_saying_how_to_build_it() {
    let (dir, exe) = lone_zerotick("missing");
    let out = run(&exe, &["bench", "--quick"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("zerotick: "), "{err}");
    assert!(
        err.contains("cargo build --release -p zerotick-baseline"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(unix)]
#[test]
fn arguments_output_and_exit_code_pass_through() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, exe) = lone_zerotick("through");
    let fake = dir.join("zerotick-baseline");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf '%s|' \"$@\"\necho\necho oops >&2\nexit 3\n",
    )
    .expect("write fake baseline");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = run(&exe, &["bench", "--help", "--ticks", "5", "a b", "-x"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "--help|--ticks|5|a b|-x|\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    let _ = std::fs::remove_dir_all(dir);
}
