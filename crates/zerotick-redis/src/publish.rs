//! [`Publisher`]: ticks written into sharded streams, pipelined and batched.

use std::collections::VecDeque;
use std::time::Duration;

use zerotick_core::Tick;

use crate::codec::{encode_end, encode_tick, shard_of};
use crate::conn::{Connection, RedisError};
use crate::resp::Encoder;
use crate::{Backoff, shard_stream};

/// Commands encoded together and sent in one write.
#[derive(Debug, Default)]
struct Batch {
    enc: Encoder,
    /// Byte offset of the end of each command in `enc`.
    ends: Vec<usize>,
    /// Commands whose replies were read. Invariant: `confirmed <= ends.len()`.
    confirmed: usize,
}

impl Batch {
    fn clear(&mut self) {
        self.enc.clear();
        self.ends.clear();
        self.confirmed = 0;
    }

    /// The commands not confirmed yet, as bytes.
    fn unconfirmed(&self) -> &[u8] {
        let from = match self.confirmed {
            0 => 0,
            n => self.ends[n - 1],
        };
        &self.enc.as_bytes()[from..]
    }
}

/// Writes ticks to `STREAM.{shard_of(name, N)}` (or to `STREAM` when unsharded), `batch`
/// commands per write, with at most two batches awaiting replies so the server works while
/// the next batch is encoded.
///
/// A lost connection (or a server restarting) is retried with capped exponential backoff,
/// as the feed does, for up to `give_up` ([`Publisher::with_give_up`], 30 s by default); the
/// commands whose replies had not arrived are sent again on the new connection. Delivery is
/// at-least-once: a command the server executed before the connection broke, its reply lost,
/// is written twice.
#[derive(Debug)]
pub struct Publisher {
    host: String,
    port: u16,
    timeout: Duration,
    conn: Option<Connection>,
    streams: Vec<Vec<u8>>,
    maxlen: Option<u64>,
    batch: usize,
    /// Commands being encoded, not sent yet.
    filling: Batch,
    /// Batches sent whose replies are not all read, oldest first.
    sent: VecDeque<Batch>,
    spare: Vec<Batch>,
    backoff: Backoff,
    reconnects: u64,
    resent: u64,
    /// Shard of each symbol index seen (`u32::MAX`: not computed yet).
    shard_by_symbol: Vec<u32>,
    published: u64,
}

impl Publisher {
    /// Connects; `shards: None` writes the single stream `stream`, `Some(n)` the `n` streams
    /// `stream.0 .. stream.{n-1}`.
    ///
    /// # Errors
    /// [`RedisError`] if the connection fails or `shards` is `Some(0)`.
    pub fn connect(
        host: &str,
        port: u16,
        stream: &str,
        shards: Option<u32>,
        maxlen: Option<u64>,
        batch: usize,
    ) -> Result<Self, RedisError> {
        let streams = match shards {
            None => vec![stream.as_bytes().to_vec()],
            Some(0) => {
                return Err(RedisError::BadUrl(
                    "--shards-total must be at least 1".into(),
                ));
            }
            Some(n) => (0..n)
                .map(|i| shard_stream(stream, i).into_bytes())
                .collect(),
        };
        let timeout = Duration::from_secs(10);
        Ok(Self {
            conn: Some(Connection::connect(host, port, timeout)?),
            host: host.to_owned(),
            port,
            timeout,
            streams,
            maxlen,
            batch: batch.max(1),
            filling: Batch::default(),
            sent: VecDeque::with_capacity(3),
            spare: Vec::new(),
            backoff: Backoff::new(Duration::from_secs(30)),
            reconnects: 0,
            resent: 0,
            shard_by_symbol: Vec::new(),
            published: 0,
        })
    }

    /// Keeps reconnecting for up to `give_up` before a publish fails.
    pub fn with_give_up(mut self, give_up: Duration) -> Self {
        self.backoff = Backoff::new(give_up);
        self
    }

    /// Ticks handed to the server so far.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Reconnections after a lost connection.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// Commands sent again after a reconnection (their replies had not arrived).
    pub fn resent(&self) -> u64 {
        self.resent
    }

    /// Queues one tick of symbol `name`; sends a batch when one is full.
    ///
    /// # Errors
    /// [`RedisError`] when sending or a reply fails (after reconnecting for `give_up`).
    pub fn publish(&mut self, tick: &Tick, name: &str) -> Result<(), RedisError> {
        let i = tick.symbol as usize;
        if i >= self.shard_by_symbol.len() {
            self.shard_by_symbol.resize(i + 1, u32::MAX);
        }
        if self.shard_by_symbol[i] == u32::MAX {
            self.shard_by_symbol[i] = shard_of(name, self.streams.len() as u32);
        }
        let stream = &self.streams[self.shard_by_symbol[i] as usize];
        encode_tick(&mut self.filling.enc, stream, self.maxlen, tick, name);
        self.filling.ends.push(self.filling.enc.len_bytes());
        self.published += 1;
        if self.filling.ends.len() >= self.batch {
            self.pump(self.batch)?;
        }
        Ok(())
    }

    /// Sends what is queued and waits for every reply.
    ///
    /// # Errors
    /// [`RedisError`] when sending or a reply fails (after reconnecting for `give_up`).
    pub fn flush(&mut self) -> Result<(), RedisError> {
        self.pump(0)
    }

    /// Flushes, then appends the end marker to every stream (after every tick of that stream).
    ///
    /// # Errors
    /// [`RedisError`] when sending or a reply fails (after reconnecting for `give_up`).
    pub fn finish(&mut self) -> Result<(), RedisError> {
        for s in &self.streams {
            encode_end(&mut self.filling.enc, s);
            self.filling.ends.push(self.filling.enc.len_bytes());
        }
        self.flush()
    }

    /// Sends the batch being filled, then reads replies until at most `owed` are owed,
    /// reconnecting (and resending what is unconfirmed) through transient failures.
    fn pump(&mut self, owed: usize) -> Result<(), RedisError> {
        loop {
            match self.try_pump(owed) {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() => {
                    self.conn = None;
                    self.backoff.failed(e)?;
                    self.reconnect()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn try_pump(&mut self, owed: usize) -> Result<(), RedisError> {
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        if !self.filling.ends.is_empty() {
            conn.send_raw(self.filling.enc.as_bytes(), self.filling.ends.len())?;
            let next = self.spare.pop().unwrap_or_default();
            self.sent
                .push_back(std::mem::replace(&mut self.filling, next));
        }
        while conn.owed() > owed {
            conn.read_ok()?;
            let Some(front) = self.sent.front_mut() else {
                return Err(RedisError::Unexpected("reply to no command"));
            };
            front.confirmed += 1;
            if front.confirmed == front.ends.len()
                && let Some(mut done) = self.sent.pop_front()
            {
                done.clear();
                self.spare.push(done);
            }
        }
        self.backoff.succeeded();
        Ok(())
    }

    /// Connects again (waiting out the backoff) and resends every unconfirmed command.
    #[cold]
    #[inline(never)]
    fn reconnect(&mut self) -> Result<(), RedisError> {
        loop {
            std::thread::sleep(self.backoff.until_next());
            let attempt =
                Connection::connect(&self.host, self.port, self.timeout).and_then(|mut c| {
                    let mut resent = 0;
                    for b in &self.sent {
                        let n = b.ends.len() - b.confirmed;
                        c.send_raw(b.unconfirmed(), n)?;
                        resent += n as u64;
                    }
                    Ok((c, resent))
                });
            match attempt {
                Ok((c, resent)) => {
                    self.conn = Some(c);
                    self.reconnects += 1;
                    self.resent += resent;
                    return Ok(());
                }
                Err(e) if e.is_transient() => self.backoff.failed(e)?,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use zerotick_core::Side;

    use super::*;
    use crate::resp::Parser;

    /// Reads commands from `s` and answers each `+OK`, recording the `t` field of every
    /// XADD and how many end markers came; returns when `markers` end markers arrived.
    fn serve(mut s: std::net::TcpStream, seen: &mut Vec<u64>, markers: usize) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut p = Parser::new();
        let mut ended = 0;
        while ended < markers {
            let n = s.read(&mut chunk).expect("read");
            assert!(n > 0, "client closed early");
            buf.extend_from_slice(&chunk[..n]);
            while let Some(used) = p.parse(&buf).expect("RESP from the client") {
                let cmd: Vec<&[u8]> = p.reply(&buf).iter().filter_map(|v| v.bytes()).collect();
                match cmd.iter().position(|&a| a == b"t") {
                    Some(i) => seen.push(std::str::from_utf8(cmd[i + 1]).unwrap().parse().unwrap()),
                    None => ended += 1,
                }
                s.write_all(b"+OK\r\n").expect("write");
                buf.drain(..used);
            }
        }
    }

    #[test]
    fn a_lost_connection_is_reconnected_and_unconfirmed_commands_resent() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            // The first connection dies after some bytes, answering nothing.
            let (mut s, _) = listener.accept().unwrap();
            let mut got = 0;
            let mut chunk = [0u8; 1024];
            while got < 3000 {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0);
                got += n;
            }
            drop(s);
            let (s, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            serve(s, &mut seen, 1);
            seen
        });
        let mut p = Publisher::connect("127.0.0.1", port, "s", None, None, 100)
            .unwrap()
            .with_give_up(Duration::from_secs(10));
        for ts_ns in 0..1000 {
            let t = Tick {
                ts_ns,
                symbol: 0,
                price: 1.5,
                size: 2.0,
                side: Side::Buy,
            };
            p.publish(&t, "X").unwrap();
        }
        p.finish().unwrap();
        let seen = server.join().unwrap();
        assert_eq!(p.reconnects(), 1);
        assert!(p.resent() > 0);
        // Every tick reached the second server, in order (the first saw only some).
        let want: Vec<u64> = (0..1000).collect();
        assert_eq!(seen, want);
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 1000);
    }

    #[test]
    fn a_server_that_stays_away_fails_the_publish_after_give_up() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut p = Publisher::connect("127.0.0.1", port, "s", None, None, 10)
            .unwrap()
            .with_give_up(Duration::from_millis(300));
        drop(listener); // accepted by the kernel backlog, then gone: nothing listens now
        let t = Tick {
            ts_ns: 1,
            symbol: 0,
            price: 1.0,
            size: 1.0,
            side: Side::Unknown,
        };
        let start = std::time::Instant::now();
        let r = (0..100)
            .try_for_each(|_| p.publish(&t, "X"))
            .and_then(|()| p.flush());
        assert!(r.is_err(), "publishing into nothing succeeded");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
