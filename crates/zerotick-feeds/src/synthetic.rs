//! [`SyntheticFeed`]: a seeded, deterministic market of many symbols.
//!
//! * Tick rates follow a Zipf-like law across symbols (symbol `i` trades in proportion to
//!   `1 / (i + 1)^0.8`), so a few symbols are busy and many are quiet, as on a real venue.
//! * Prices are geometric random walks; each symbol switches between a calm and a burst
//!   regime (volatility x5) with small per-tick probabilities, giving volatility clusters.
//! * Sizes are log-normal; the aggressor side leans with the price move.
//! * Event time advances by exponential gaps at `rate_per_s` ticks per second overall.
//! * `paced`: ticks are released when the wall clock reaches their event time (relative to
//!   the first tick), so the pipeline sees the market at its real rate; otherwise as fast as
//!   the pipeline takes them.
//!
//! Everything comes from one seeded generator: the same seed gives the same ticks.

use std::time::{Duration, Instant};

use zerotick_core::rng::Rng;
use zerotick_core::symbols::SymbolNames;
use zerotick_core::{Feed, FeedError, FeedEvent, Side, Tick};

/// Settings of the synthetic market.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    /// Number of symbols (at least 1).
    pub symbols: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// Ticks to produce; `None` for an endless feed.
    pub ticks: Option<u64>,
    /// Simulated ticks per second across all symbols (event time, not wall time).
    pub rate_per_s: f64,
    /// Start of event time, ns since the Unix epoch.
    pub start_ns: u64,
    /// Release each tick when the wall clock reaches its event time (see the module docs).
    pub paced: bool,
}

impl Default for SyntheticConfig {
    /// 64 symbols, seed 42, endless, 1,000,000 ticks/s of event time from 2026-01-01.
    fn default() -> Self {
        Self {
            symbols: 64,
            seed: 42,
            ticks: None,
            rate_per_s: 1_000_000.0,
            start_ns: 1_767_225_600_000_000_000,
            paced: false,
        }
    }
}

/// Per-tick volatility of a calm symbol (log-return standard deviation).
const CALM_VOL: f64 = 2e-4;
/// Volatility multiplier in a burst.
const BURST: f64 = 5.0;
/// Per-tick probabilities of entering and leaving a burst.
const P_ENTER: f64 = 2e-5;
const P_LEAVE: f64 = 2e-3;

/// The synthetic feed. All state is allocated at construction.
#[derive(Debug, Clone)]
pub struct SyntheticFeed {
    rng: Rng,
    config: SyntheticConfig,
    /// Cumulative symbol weights, last = 1.
    cumulative: Box<[f64]>,
    /// Per symbol: log price, volatility scale (calm 1 or burst), in a burst.
    log_price: Box<[f64]>,
    burst: Box<[bool]>,
    ts_ns: u64,
    emitted: u64,
    /// Wall clock and event time of the first paced tick.
    pace_origin: Option<(Instant, u64)>,
    /// `SYN000`, `SYN001`, ...: every name is known before the first tick.
    names: SymbolNames,
}

impl SyntheticFeed {
    /// A feed for `config`; `symbols` below 1 is raised to 1.
    pub fn new(config: SyntheticConfig) -> Self {
        let n = config.symbols.max(1);
        let weights: Vec<f64> = (0..n).map(|i| 1.0 / ((i + 1) as f64).powf(0.8)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect::<Box<[f64]>>();
        let mut rng = Rng::new(config.seed);
        let log_price = (0..n)
            .map(|_| (10.0 + 990.0 * rng.next_f64()).ln())
            .collect();
        Self {
            rng,
            cumulative,
            log_price,
            burst: vec![false; n].into_boxed_slice(),
            ts_ns: config.start_ns,
            emitted: 0,
            pace_origin: None,
            names: SymbolNames::from_names((0..n).map(|i| format!("SYN{i:03}"))),
            config: SyntheticConfig {
                symbols: n,
                ..config
            },
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &SyntheticConfig {
        &self.config
    }

    /// The next tick, or `None` once `ticks` have been produced.
    #[inline]
    pub fn next_tick(&mut self) -> Option<Tick> {
        if self.config.ticks.is_some_and(|n| self.emitted >= n) {
            return None;
        }
        self.emitted += 1;
        let rng = &mut self.rng;
        let u = rng.next_f64();
        let symbol = self
            .cumulative
            .partition_point(|c| *c < u)
            .min(self.cumulative.len() - 1);
        // Regime switch, then the move.
        let in_burst = &mut self.burst[symbol];
        let flip = rng.next_f64();
        *in_burst = if *in_burst {
            flip >= P_LEAVE
        } else {
            flip < P_ENTER
        };
        let vol = if *in_burst {
            CALM_VOL * BURST
        } else {
            CALM_VOL
        };
        let (z1, z2) = rng.normal_pair();
        let r = vol * z1;
        self.log_price[symbol] += r;
        let size = (0.5 * z2).exp() * 10.0;
        let lean = 0.5 + 0.3 * r.signum();
        let side = if rng.next_f64() < lean {
            Side::Buy
        } else {
            Side::Sell
        };
        // Exponential gap; at least 1 ns so timestamps strictly increase.
        let gap = -(1.0 - rng.next_f64()).ln() * 1e9 / self.config.rate_per_s;
        self.ts_ns += (gap as u64).max(1);
        Some(Tick {
            ts_ns: self.ts_ns,
            symbol: symbol as u32,
            price: self.log_price[symbol].exp(),
            size,
            side,
        })
    }
}

impl Feed for SyntheticFeed {
    #[inline]
    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        let Some(tick) = self.next_tick() else {
            return Ok(FeedEvent::End);
        };
        if self.config.paced {
            let (origin, first_ts) = *self.pace_origin.get_or_insert((Instant::now(), tick.ts_ns));
            let due = Duration::from_nanos(tick.ts_ns - first_ts);
            loop {
                let now = origin.elapsed();
                if now >= due {
                    break;
                }
                // Sleep through long gaps, spin through short ones (sleep overshoots by
                // ~50-100 us).
                let left = due - now;
                if left > Duration::from_micros(300) {
                    std::thread::sleep(left - Duration::from_micros(200));
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        Ok(FeedEvent::Tick(tick))
    }

    fn names(&self) -> SymbolNames {
        self.names.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ticks_and_busy_symbols_trade_more() {
        let cfg = SyntheticConfig {
            ticks: Some(50_000),
            ..SyntheticConfig::default()
        };
        let a: Vec<Tick> = std::iter::from_fn({
            let mut f = SyntheticFeed::new(cfg.clone());
            move || f.next_tick()
        })
        .collect();
        let mut f = SyntheticFeed::new(cfg);
        let b: Vec<Tick> = std::iter::from_fn(|| f.next_tick()).collect();
        assert_eq!(a.len(), 50_000);
        assert_eq!(a, b);
        let count = |s: u32| a.iter().filter(|t| t.symbol == s).count();
        assert!(count(0) > 3 * count(63), "{} vs {}", count(0), count(63));
        assert!(a.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns));
        assert!(
            a.iter()
                .all(|t| t.price > 0.0 && t.price.is_finite() && t.size > 0.0)
        );
    }
}
