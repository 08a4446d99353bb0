//! [`Backoff`]: capped exponential backoff over one outage of a network transport (the Redis
//! and Kafka feeds, sinks and publishers), failing once the outage lasted too long.

use std::time::{Duration, Instant};

/// First reconnect delay.
pub const BACKOFF_START: Duration = Duration::from_millis(50);
/// Longest reconnect delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Capped exponential backoff (50 ms doubling to 2 s) over one outage, failing once the
/// outage lasted `give_up`.
///
/// ```
/// use std::time::Duration;
/// use zerotick_core::backoff::Backoff;
///
/// let mut b = Backoff::new(Duration::from_secs(30));
/// assert_eq!(b.until_next(), Duration::ZERO); // the first attempt is at once
/// b.failed("connection refused").unwrap(); // within give_up: try again later
/// assert!(b.until_next() > Duration::ZERO);
/// b.succeeded(); // the outage is over
/// assert_eq!(b.until_next(), Duration::ZERO);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    give_up: Duration,
    delay: Duration,
    next: Option<Instant>,
    /// When the current outage began. Invariant: `Some` iff `next` is `Some`.
    down_since: Option<Instant>,
}

impl Backoff {
    /// No outage yet; an outage longer than `give_up` fails.
    pub fn new(give_up: Duration) -> Self {
        Self {
            give_up,
            delay: BACKOFF_START,
            next: None,
            down_since: None,
        }
    }

    /// Time left before the next attempt.
    pub fn until_next(&self) -> Duration {
        self.next.map_or(Duration::ZERO, |n| {
            n.saturating_duration_since(Instant::now())
        })
    }

    /// Records a failed attempt that failed with `e`.
    ///
    /// # Errors
    /// `e`, handed back, once the outage lasted longer than `give_up`.
    pub fn failed<E>(&mut self, e: E) -> Result<(), E> {
        let now = Instant::now();
        let since = *self.down_since.get_or_insert(now);
        if now.duration_since(since) > self.give_up {
            return Err(e);
        }
        self.next = Some(now + self.delay);
        self.delay = (self.delay * 2).min(BACKOFF_CAP);
        Ok(())
    }

    /// The outage is over: the next one starts from [`BACKOFF_START`] again.
    pub fn succeeded(&mut self) {
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
        b.failed(()).unwrap();
        assert!(b.until_next() <= BACKOFF_START);
        for _ in 0..10 {
            b.failed(()).unwrap();
        }
        assert_eq!(b.delay, BACKOFF_CAP);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.failed(7), Err(7));
        b.succeeded();
        assert_eq!(b.delay, BACKOFF_START);
        assert!(b.down_since.is_none());
    }
}
