#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod codec;
pub mod conn;
pub mod feed;
pub mod publish;
pub mod resp;
pub mod sink;

use std::time::{Duration, Instant};

pub use codec::{StreamId, shard_of};
pub use conn::{Connection, Endpoint, RedisError};
pub use feed::{FeedCounters, RedisFeed, RedisFeedConfig};
pub use publish::Publisher;
pub use resp::RespError;
pub use sink::RedisSink;

/// Name of shard `i` of `stream`: `stream.{i}`.
pub fn shard_stream(stream: &str, i: u32) -> String {
    format!("{stream}.{i}")
}

/// First reconnect delay.
const BACKOFF_START: Duration = Duration::from_millis(50);
/// Longest reconnect delay.
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Capped exponential backoff over one outage, failing once it lasted `give_up`.
#[derive(Debug)]
struct Backoff {
    give_up: Duration,
    delay: Duration,
    next: Option<Instant>,
    /// When the current outage began. Invariant: `Some` iff `next` is `Some`.
    down_since: Option<Instant>,
}

impl Backoff {
    fn new(give_up: Duration) -> Self {
        Self {
            give_up,
            delay: BACKOFF_START,
            next: None,
            down_since: None,
        }
    }

    /// Time left before the next attempt.
    fn until_next(&self) -> Duration {
        self.next.map_or(Duration::ZERO, |n| {
            n.saturating_duration_since(Instant::now())
        })
    }

    /// Records a failed attempt; `Err(e)` once the outage lasted longer than `give_up`.
    fn failed(&mut self, e: RedisError) -> Result<(), RedisError> {
        let now = Instant::now();
        let since = *self.down_since.get_or_insert(now);
        if now.duration_since(since) > self.give_up {
            return Err(e);
        }
        self.next = Some(now + self.delay);
        self.delay = (self.delay * 2).min(BACKOFF_CAP);
        Ok(())
    }

    fn succeeded(&mut self) {
        *self = Self::new(self.give_up);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_gives_up() {
        let mut b = Backoff::new(Duration::from_millis(30));
        assert_eq!(b.until_next(), Duration::ZERO);
        b.failed(RedisError::Closed).unwrap();
        assert!(b.until_next() <= BACKOFF_START);
        for _ in 0..10 {
            b.failed(RedisError::Closed).unwrap();
        }
        assert_eq!(b.delay, BACKOFF_CAP);
        std::thread::sleep(Duration::from_millis(40));
        assert!(matches!(
            b.failed(RedisError::Closed),
            Err(RedisError::Closed)
        ));
        b.succeeded();
        assert_eq!(b.delay, BACKOFF_START);
        assert!(b.down_since.is_none());
    }
}
