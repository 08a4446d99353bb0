//! Services for the Redis and Prometheus integration tests: real `redis-server` and
//! `prometheus` processes on free 127.0.0.1 ports with throwaway data directories, killed on
//! drop; the `zerotick` binary run with a timeout.
//!
//! A missing server binary skips a test with a printed reason, unless
//! `ZEROTICK_REQUIRE_SERVICES=1` (set by `.ci/run`), where it fails the test.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zerotick_redis::Connection;

/// The heavy tests take turns: each drives several processes on a 2-core machine.
pub static HEAVY: Mutex<()> = Mutex::new(());

pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The path of `name` on PATH; `None` (after saying why) when missing and not required.
pub fn require(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let required = std::env::var("ZEROTICK_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{name} is not installed and ZEROTICK_REQUIRE_SERVICES=1 (apt-get install {})",
            if name == "redis-server" {
                "redis-server"
            } else {
                name
            }
        );
        eprintln!("SKIPPED: {name} is not on PATH (apt-get install {name}; CI requires it)");
    }
    found
}

/// Spawns a server process, recording its pid under `ZEROTICK_PID_DIR` (when set) so that
/// `.ci/run` can stop it even if this test process dies without unwinding.
pub fn spawn_service(cmd: &mut Command, name: &str) -> Proc {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    if let Some(dir) = std::env::var_os("ZEROTICK_PID_DIR") {
        let _ = std::fs::write(
            Path::new(&dir).join(format!("{name}-{}", child.id())),
            child.id().to_string(),
        );
    }
    Proc(child)
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "zerotick-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) on drop.
pub struct Proc(pub Child);

impl Proc {
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Waits for the exit up to `timeout` (killing it then) and returns (status ok, stdout).
    pub fn finish(mut self, timeout: Duration) -> (bool, String) {
        let start = Instant::now();
        loop {
            match self.0.try_wait().expect("try_wait") {
                Some(status) => {
                    let mut out = String::new();
                    if let Some(mut s) = self.0.stdout.take() {
                        let _ = s.read_to_string(&mut out);
                    }
                    if !status.success() {
                        let mut err = String::new();
                        if let Some(mut s) = self.0.stderr.take() {
                            let _ = s.read_to_string(&mut err);
                        }
                        eprintln!("child failed: {status}\nstdout: {out}\nstderr: {err}");
                    }
                    return (status.success(), out);
                }
                None if start.elapsed() > timeout => {
                    self.kill();
                    panic!("child did not finish within {timeout:?}");
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `redis-server` on a free port with a throwaway data dir; durable ones keep an append-only
/// file fsynced on every write, so a crash and restart keeps the streams and groups.
pub struct Redis {
    pub bin: PathBuf,
    pub port: u16,
    pub dir: TempDir,
    pub proc: Option<Proc>,
    /// Append-only file with fsync on every write (the crash test), or no persistence.
    pub durable: bool,
}

impl Redis {
    /// A server without persistence (fastest).
    pub fn start() -> Option<Self> {
        Self::start_with(false)
    }

    /// A server that keeps every acknowledged write across a crash (`appendfsync always`).
    pub fn start_durable() -> Option<Self> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Option<Self> {
        let bin = require("redis-server")?;
        let mut r = Self {
            bin,
            port: free_port(),
            dir: TempDir::new("redis"),
            proc: None,
            durable,
        };
        r.spawn();
        Some(r)
    }

    fn spawn(&mut self) {
        let child = spawn_service(
            Command::new(&self.bin)
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(&self.dir.0)
                .args(if self.durable {
                    ["--appendonly", "yes", "--appendfsync", "always"]
                } else {
                    ["--appendonly", "no", "--appendfsync", "everysec"]
                })
                .args(["--save", ""])
                .args(["--daemonize", "no", "--protected-mode", "no"]),
            "redis-server",
        );
        self.proc = Some(child);
        let start = Instant::now();
        loop {
            if let Ok(mut c) = Connection::connect("127.0.0.1", self.port, Duration::from_secs(1)) {
                c.encoder().begin(1).arg(b"PING");
                if c.call().is_ok() {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not answer within 10 s on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL: nothing gets flushed at exit) and starts it again on the
    /// same port and data directory, `down` later.
    pub fn crash_and_restart(&mut self, down: Duration) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
        std::thread::sleep(down);
        self.spawn();
    }

    pub fn url(&self, stream: &str) -> String {
        format!("redis://127.0.0.1:{}/{stream}", self.port)
    }

    pub fn conn(&self) -> Connection {
        Connection::connect("127.0.0.1", self.port, Duration::from_secs(10)).expect("connect")
    }
}

pub fn int(c: &mut Connection, args: &[&[u8]]) -> i64 {
    c.encoder().begin(args.len());
    for a in args {
        c.encoder().arg(a);
    }
    let v = c.call().expect("redis command");
    v.int().expect("integer reply")
}

pub fn xlen(c: &mut Connection, stream: &str) -> u64 {
    int(c, &[b"XLEN", stream.as_bytes()]) as u64
}

/// Entries pending in `group` on `stream` (XPENDING summary).
pub fn xpending(c: &mut Connection, stream: &str, group: &str) -> u64 {
    c.encoder()
        .begin(3)
        .arg(b"XPENDING")
        .arg(stream.as_bytes())
        .arg(group.as_bytes());
    let v = c.call().expect("XPENDING");
    v.get(0).and_then(|n| n.int()).expect("XPENDING count") as u64
}

/// Field `name` of each entry (as `xrange_all` gives them), `""` where an entry lacks it.
pub fn field_of<'a>(entries: &'a [Vec<(String, String)>], name: &str) -> Vec<&'a str> {
    entries
        .iter()
        .map(|f| {
            f.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        })
        .collect()
}

/// Every entry of `stream` as its field map, in stream order.
pub fn xrange_all(c: &mut Connection, stream: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut from = "-".to_owned();
    loop {
        c.encoder()
            .begin(6)
            .arg(b"XRANGE")
            .arg(stream.as_bytes())
            .arg(from.as_bytes())
            .arg(b"+")
            .arg(b"COUNT")
            .arg(b"10000");
        let v = c.call().expect("XRANGE");
        let mut last = None;
        let mut n = 0;
        for e in v.iter() {
            n += 1;
            let id =
                String::from_utf8_lossy(e.get(0).and_then(|x| x.bytes()).expect("id")).into_owned();
            let fields: Vec<String> = e
                .get(1)
                .expect("fields")
                .iter()
                .map(|f| String::from_utf8_lossy(f.bytes().expect("field")).into_owned())
                .collect();
            out.push(
                fields
                    .chunks(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect(),
            );
            last = Some(id);
        }
        match last {
            Some(id) if n == 10000 => from = format!("({id}"),
            _ => return out,
        }
    }
}

pub fn zerotick() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zerotick"));
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// Starts `zerotick ARGS EXTRA` (output piped), for a test to finish or kill.
pub fn spawn_zerotick(args: &[&str], extra: &[&str]) -> Proc {
    Proc(
        zerotick()
            .args(args)
            .args(extra)
            .spawn()
            .expect("spawn zerotick"),
    )
}

/// Runs `zerotick ARGS` to the end (within `timeout`) and parses its JSON line.
pub fn run_json(args: &[&str], timeout: Duration) -> serde_json::Value {
    let p = spawn_zerotick(args, &[]);
    let (ok, out) = p.finish(timeout);
    assert!(ok, "zerotick {args:?} failed: {out}");
    serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("zerotick {args:?}: not JSON ({e}): {out}"))
}

/// Waits for a spawned `zerotick run --json` (within `timeout`), asserts it succeeded and
/// parses its last line.
pub fn json_of(p: Proc, timeout: Duration) -> serde_json::Value {
    let (ok, out) = p.finish(timeout);
    assert!(ok, "zerotick run failed: {out}");
    serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
