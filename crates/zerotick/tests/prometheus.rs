//! The `--metrics-addr` endpoint: HTTP answers of our own server, then a real Prometheus
//! scraping it and answering a query with the run's tick count.

mod redis_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ChildStdout;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use redis_support::*;

/// A plain HTTP/1.1 request; returns (status code, body).
fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// Starts `zerotick run` serving metrics on `port` and returns it with the parsed JSON report
/// (printed before the endpoint lingers).
fn run_with_metrics(port: u16, ticks: u64, linger_ms: u64) -> (Proc, serde_json::Value) {
    let mut p = Proc(
        zerotick()
            .args([
                "run",
                "--ticks",
                &ticks.to_string(),
                "--row-every",
                "256",
                "--json",
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--metrics-linger-ms",
                &linger_ms.to_string(),
            ])
            .spawn()
            .expect("spawn zerotick"),
    );
    let out: ChildStdout = p.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(50))
        .expect("zerotick printed no report within 50 s");
    let json = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    (p, json)
}

#[test]
fn metrics_endpoint_serves_the_registry_404s_elsewhere_and_lingers() {
    let port = free_port();
    let (p, json) = run_with_metrics(port, 50_000, 10_000);
    let ticks = json["ticks_processed"].as_u64().expect("ticks_processed");
    assert_eq!(ticks, 50_000);
    let (code, body) = http(port, "GET", "/metrics").expect("GET /metrics");
    assert_eq!(code, 200, "{body}");
    assert!(
        body.lines()
            .any(|l| l == format!("zerotick_ticks_processed_total {ticks}")),
        "{body}"
    );
    assert!(
        body.contains("# TYPE zerotick_tick_to_signal_seconds histogram"),
        "{body}"
    );
    assert_eq!(http(port, "GET", "/").expect("GET /").0, 404);
    assert_eq!(http(port, "GET", "/metricsx").expect("GET").0, 404);
    assert_eq!(http(port, "POST", "/metrics").expect("POST").0, 405);
    drop(p);
}

#[test]
fn a_real_prometheus_scrapes_the_tick_counter() {
    let _turn = heavy();
    let Some(bin) = require("prometheus") else {
        return;
    };
    let dir = TempDir::new("prometheus");
    let (metrics_port, prom_port) = (free_port(), free_port());
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: zerotick\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .expect("write config");
    let _prom = spawn_service(
        std::process::Command::new(bin)
            .arg(format!("--config.file={}", path_str(&config)))
            .arg(format!(
                "--storage.tsdb.path={}",
                path_str(&dir.0.join("data"))
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
        "prometheus",
    );
    let start = Instant::now();
    while !http(prom_port, "GET", "/-/ready").is_ok_and(|(c, _)| c == 200) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "prometheus not ready in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_run, json) = run_with_metrics(metrics_port, 200_000, 20_000);
    let ticks = json["ticks_processed"].as_u64().expect("ticks_processed");
    assert_eq!(ticks, 200_000);
    // The endpoint lingers 20 s with the final values; Prometheus scrapes every second.
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(18) {
        if let Ok((200, body)) = http(
            prom_port,
            "GET",
            "/api/v1/query?query=zerotick_ticks_processed_total",
        ) {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if v["data"]["result"][0]["value"][1].as_str() == Some(&ticks.to_string()) {
                assert_eq!(v["status"], "success");
                assert_eq!(v["data"]["result"][0]["metric"]["job"], "zerotick");
                return;
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("prometheus never answered zerotick_ticks_processed_total = {ticks}; last: {last}");
}

/// Issue 12: 50 half-open connections made a scrape wait 16 s, and a client trickling a byte
/// every 1.5 s kept the process alive for a minute after its run.
#[test]
fn slow_clients_neither_delay_a_scrape_nor_keep_the_process_alive() {
    let port = free_port();
    let linger = Duration::from_millis(1_500);
    let (mut p, json) = run_with_metrics(port, 2_000, linger.as_millis() as u64);
    let report_at = Instant::now();
    assert_eq!(json["ticks_processed"].as_u64(), Some(2_000));
    let _half_open: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let tricklers: Vec<TcpStream> = (0..2)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let mut w = s.try_clone().expect("clone");
            std::thread::spawn(move || {
                for b in b"GET /metrics HTTP/1.1\r\nX-Slow: "
                    .iter()
                    .chain([b'a'; 200].iter())
                {
                    if w.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            s
        })
        .collect();
    let start = Instant::now();
    let (code, body) = http(port, "GET", "/metrics").expect("GET /metrics");
    assert_eq!(code, 200, "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "scrape took {:?}",
        start.elapsed()
    );
    // The endpoint stops after its linger whatever the clients do, and the process ends.
    let status = loop {
        if let Some(status) = p.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            report_at.elapsed() < linger + Duration::from_secs(2),
            "zerotick still running {:?} after its report (linger {linger:?})",
            report_at.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    drop(tricklers);
}
