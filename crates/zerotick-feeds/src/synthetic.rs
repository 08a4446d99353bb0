//! [`SyntheticFeed`]: a seeded, deterministic market of many symbols, cheap enough never to
//! be a pipeline's bottleneck (tens of millions of ticks per second on one core, no allocation
//! and no clock read per tick unless paced).
//!
//! The market:
//! * Tick rates follow a Zipf-like law across symbols (symbol `i` trades in proportion to
//!   `1 / (i + 1)^0.8`), so a few symbols are busy and many are quiet, as on a real venue.
//! * Prices are geometric random walks with log-returns `r = vol * z`, `z` standard normal;
//!   each symbol switches between a calm (`vol` 2e-4 per tick) and a burst regime (`vol` x5)
//!   with small per-tick probabilities (2e-5 to enter, 2e-3 to leave), giving volatility
//!   clusters. Prices stay within `[1e-6, 1e12]` (clamped; a walk needs ~10^13 ticks of one
//!   symbol to get there).
//! * Sizes are log-normal with median 10 and log-sd 0.5; the aggressor is a buyer with
//!   probability 0.8 on an up-move (or no move) and 0.2 on a down-move.
//! * Event time advances by exponential gaps (mean `1e9 / rate_per_s` ns, rounded to whole ns,
//!   at least 1) so
//!   timestamps strictly increase. If the next timestamp would pass `u64::MAX` ns (year 2554,
//!   reachable only with a `start_ns` close to it), the feed ends there, like a `ticks` limit:
//!   timestamps never wrap or repeat.
//! * `paced`: ticks are released when the wall clock reaches their event time (relative to
//!   the first tick), so the pipeline sees the market at its real rate; otherwise as fast as
//!   the pipeline takes them. A paced feed never blocks for more than ~10 ms per call: when
//!   the next tick is due later it sleeps 10 ms and returns [`FeedEvent::Idle`] (the pipeline
//!   checks its deadline and asks again); it spins only through the last ~200 us.
//!
//! How each tick is drawn (four 64-bit draws of the seeded xoshiro256**, tables built once at
//! construction, see `synthetic/sampling.rs`):
//! * symbol: Walker/Vose alias table, O(1) (cell pick off by at most `symbols / 2^32`
//!   relative);
//! * `z` for the return and the size: piecewise-linear inverse-CDF tables of the standard
//!   normal (4,096 cells for the return, 1,024 for the size, log-normal nodes precomputed),
//!   rescaled to unit variance; tails truncated at ±3.99 and ±3.65 sd;
//! * price: kept in linear space and multiplied by `1 + r + r²/2 + r³/6`, whose log is
//!   `r - r⁴/24 + O(r⁵)`: below 3e-11 per tick at the largest move (|r| <= 5e-3), a drift
//!   below 1e-12 per tick on average;
//! * gap: `-ln U` from the leading zeros of a draw (exact exponent) and a 1,024-cell table of
//!   `ln(1 + m)` (error <= 1.2e-7).
//!
//! Everything comes from one seeded generator: the same seed gives the same ticks.
//!
//! ```
//! use zerotick_feeds::{SyntheticConfig, SyntheticFeed};
//!
//! let mut feed = SyntheticFeed::try_new(SyntheticConfig {
//!     ticks: Some(3),
//!     ..SyntheticConfig::default()
//! })?;
//! let ticks: Vec<_> = std::iter::from_fn(|| feed.next_tick()).collect();
//! assert_eq!(ticks.len(), 3);
//! assert!(ticks[0].ts_ns < ticks[1].ts_ns);
//!
//! let bad = SyntheticConfig { rate_per_s: 1e-10, ..SyntheticConfig::default() };
//! assert!(SyntheticFeed::try_new(bad).is_err());
//! # Ok::<(), zerotick_feeds::synthetic::SyntheticConfigError>(())
//! ```

mod sampling;

use core::fmt;
use std::time::{Duration, Instant};

use zerotick_core::rng::Rng;
use zerotick_core::symbols::SymbolNames;
use zerotick_core::{Feed, FeedError, FeedEvent, Side, Tick};

use sampling::{AliasTable, Exponential, Quantiles};

/// Most symbols a synthetic market may have: the workspace's symbol-table bound
/// ([`zerotick_core::symbols::MAX_SYMBOLS`], 65,536), so every index fits the wire formats.
pub const MAX_SYMBOLS: usize = zerotick_core::symbols::MAX_SYMBOLS;
/// Lowest accepted `rate_per_s`: one tick per ~17 minutes of event time.
pub const MIN_RATE_PER_S: f64 = 1e-3;
/// Highest accepted `rate_per_s`: one tick per ns (gaps are whole ns, at least 1).
pub const MAX_RATE_PER_S: f64 = 1e9;

/// Settings of the synthetic market.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    /// Number of symbols, `1..=`[`MAX_SYMBOLS`].
    pub symbols: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// Ticks to produce; `None` for an endless feed.
    pub ticks: Option<u64>,
    /// Simulated ticks per second across all symbols (event time, not wall time), finite and
    /// within [`MIN_RATE_PER_S`]`..=`[`MAX_RATE_PER_S`].
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

impl SyntheticConfig {
    /// Checks the bounds documented on the fields.
    ///
    /// # Errors
    /// [`SyntheticConfigError`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), SyntheticConfigError> {
        if !(1..=MAX_SYMBOLS).contains(&self.symbols) {
            return Err(SyntheticConfigError::Symbols(self.symbols));
        }
        // `contains` is false for NaN and the infinities.
        if !(MIN_RATE_PER_S..=MAX_RATE_PER_S).contains(&self.rate_per_s) {
            return Err(SyntheticConfigError::Rate(self.rate_per_s));
        }
        Ok(())
    }
}

/// A [`SyntheticConfig`] field out of its documented range.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SyntheticConfigError {
    /// `symbols` is 0 or above [`MAX_SYMBOLS`].
    Symbols(usize),
    /// `rate_per_s` is not finite or outside [`MIN_RATE_PER_S`]`..=`[`MAX_RATE_PER_S`].
    Rate(f64),
}

impl fmt::Display for SyntheticConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntheticConfigError::Symbols(n) => write!(
                f,
                "synthetic feed: symbols must be between 1 and {MAX_SYMBOLS}, got {n}"
            ),
            SyntheticConfigError::Rate(r) => write!(
                f,
                "synthetic feed: rate_per_s must be a finite number of ticks per second \
                 between {MIN_RATE_PER_S} and {MAX_RATE_PER_S:e}, got {r}"
            ),
        }
    }
}

impl std::error::Error for SyntheticConfigError {}

/// Per-tick volatility of a calm symbol (log-return standard deviation).
const CALM_VOL: f64 = 2e-4;
/// Volatility multiplier in a burst.
const BURST: f64 = 5.0;
/// Volatility by regime (index: 0 calm, 1 burst).
const VOL: [f64; 2] = [CALM_VOL, CALM_VOL * BURST];
/// Per-tick probabilities of entering a burst (from calm) and of leaving it (from a burst),
/// as 32-bit thresholds, indexed by the current regime.
const P_ENTER: f64 = 2e-5;
const P_LEAVE: f64 = 2e-3;
const SWITCH: [u32; 2] = [
    (P_ENTER * 4_294_967_296.0) as u32,
    (P_LEAVE * 4_294_967_296.0) as u32,
];
/// Probability that the buyer is the aggressor, as 16-bit thresholds: 0.8 after an up-move
/// (or none), 0.2 after a down-move.
const BUY_UP: u32 = (0.8 * 65_536.0) as u32;
const BUY_DOWN: u32 = (0.2 * 65_536.0) as u32;
/// Median and log-sd of the log-normal sizes.
const SIZE_MEDIAN: f64 = 10.0;
const SIZE_LOG_SD: f64 = 0.5;
/// Prices are clamped to this range, so they stay finite and > 0 whatever the walk does.
const MIN_PRICE: f64 = 1e-6;
const MAX_PRICE: f64 = 1e12;
/// A paced call sleeps at most this long before returning [`FeedEvent::Idle`].
const MAX_BLOCK: Duration = Duration::from_millis(10);
/// A paced call that finds its next tick not yet due sleeps at least this long, then releases
/// every tick that fell due meanwhile: the feed thread leaves its core idle between bursts,
/// as a socket reader behind an interrupt-coalescing NIC does. The kernel's own threads and
/// the PCA refreshes then run there, instead of taking a time slice from the pipeline's
/// busy-polling feature thread. Measured on the 2-vCPU EPYC (2026-11-30, `--rate 1000000`,
/// compute inline): a feed that spun or yielded between ticks gave a tick-to-signal p99 of
/// 2-6 ms, this one 0.4 ms. The cost is the lateness of a burst's ticks (up to the quantum
/// plus the wake-up), which is measured ([`Feed::lateness_ns`]) and reported, never hidden.
/// The pipeline sets a live feed thread's timer slack to 1 us.
const PACE_QUANTUM: Duration = Duration::from_micros(20);

/// `x` rounded to the nearest integer, for `x` in `[0, 2^52)`: adding 2^52 leaves the integer
/// in the low mantissa bits (two instructions, where `as u64` needs a dozen to saturate).
#[inline]
fn round_to_u64(x: f64) -> u64 {
    const MAGIC: f64 = 4_503_599_627_370_496.0; // 2^52
    debug_assert!((0.0..MAGIC).contains(&x), "{x}");
    (x + MAGIC).to_bits() - MAGIC.to_bits()
}

/// State of one symbol.
#[derive(Debug, Clone, Copy)]
struct SymbolState {
    /// Last price. Invariant: finite, within `[MIN_PRICE, MAX_PRICE]`.
    price: f64,
    /// Regime: calm or burst (as an index into [`VOL`] and [`SWITCH`]: 0 calm, 1 burst).
    burst: bool,
}

/// The synthetic feed. All state and tables are allocated at construction; a tick allocates
/// nothing.
#[derive(Debug, Clone)]
pub struct SyntheticFeed {
    rng: Rng,
    config: SyntheticConfig,
    /// Which symbol trades: weights `1 / (i + 1)^0.8`.
    symbols: AliasTable,
    /// Standard normal, for the returns.
    normal: Quantiles<12, 4097>,
    /// Log-normal sizes (nodes of a 1,024-cell normal table through `10 exp(0.5 z)`).
    size: Quantiles<10, 1025>,
    /// Standard exponential, for the gaps.
    exponential: Exponential,
    /// `1e9 / rate_per_s`: ns per unit of exponential gap.
    mean_gap_ns: f64,
    /// Largest gap a tick can take: `mean_gap_ns` times the largest exponential draw
    /// (65 ln 2), rounded up, plus 1 (at most ~4.6e13 given the rate bound).
    max_gap_ns: u64,
    /// `u64::MAX - max_gap_ns`: up to this event time, the next tick's timestamp cannot
    /// overflow (past it, [`SyntheticFeed::next_tick_near_the_end`] checks each gap).
    last_safe_ts_ns: u64,
    state: Box<[SymbolState]>,
    /// Event time of the last tick (`start_ns` before the first).
    ts_ns: u64,
    emitted: u64,
    /// `ticks`, or `u64::MAX` for an endless feed; lowered to `emitted` when event time runs
    /// out.
    limit: u64,
    /// Paced mode: wall clock and event time of the first tick.
    pace_origin: Option<(Instant, u64)>,
    /// Paced mode: a tick drawn but not yet due (the last call returned `Idle`).
    pending: Option<Tick>,
    /// Paced: how late the last tick was released, ns ([`Feed::lateness_ns`]).
    lateness_ns: u64,
    /// `SYN000`, `SYN001`, ...: every name is known before the first tick.
    names: SymbolNames,
}

impl SyntheticFeed {
    /// A feed for `config`.
    ///
    /// # Errors
    /// [`SyntheticConfigError`] if a field is outside its documented range (see
    /// [`SyntheticConfig::validate`]).
    pub fn try_new(config: SyntheticConfig) -> Result<Self, SyntheticConfigError> {
        config.validate()?;
        let n = config.symbols;
        let weights: Vec<f64> = (0..n).map(|i| 1.0 / ((i + 1) as f64).powf(0.8)).collect();
        let mut rng = Rng::new(config.seed);
        let state = (0..n)
            .map(|_| SymbolState {
                price: 10.0 + 990.0 * rng.next_f64(),
                burst: false,
            })
            .collect();
        let size = Quantiles::map(&Quantiles::standard_normal(), |z| {
            SIZE_MEDIAN * (SIZE_LOG_SD * z).exp()
        });
        let mean_gap_ns = 1e9 / config.rate_per_s;
        let max_gap_ns = (Exponential::MAX * mean_gap_ns).ceil() as u64 + 1;
        Ok(Self {
            rng,
            symbols: AliasTable::new(&weights),
            normal: Quantiles::standard_normal(),
            size,
            exponential: Exponential::new(),
            mean_gap_ns,
            max_gap_ns,
            last_safe_ts_ns: u64::MAX - max_gap_ns,
            state,
            ts_ns: config.start_ns,
            emitted: 0,
            limit: config.ticks.unwrap_or(u64::MAX),
            pace_origin: None,
            pending: None,
            lateness_ns: 0,
            names: SymbolNames::from_names((0..n).map(|i| format!("SYN{i:03}"))),
            config,
        })
    }

    /// A feed for `config`: [`SyntheticFeed::try_new`] for configs known to be valid.
    ///
    /// # Panics
    /// If a field of `config` is outside its documented range, with the error's message.
    #[track_caller]
    pub fn new(config: SyntheticConfig) -> Self {
        match Self::try_new(config) {
            Ok(feed) => feed,
            Err(e) => panic!("{e}"),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &SyntheticConfig {
        &self.config
    }

    /// The next tick, or `None` once `ticks` have been produced (or event time would pass
    /// `u64::MAX` ns). Ignores pacing (see [`Feed::next_event`] for the paced release).
    #[inline]
    pub fn next_tick(&mut self) -> Option<Tick> {
        if self.can_draw() {
            Some(self.draw())
        } else {
            self.next_tick_near_the_end()
        }
    }

    /// Whether [`SyntheticFeed::draw`] may run: ticks are left and no gap can reach the end
    /// of event time.
    #[inline(always)]
    fn can_draw(&self) -> bool {
        self.emitted < self.limit && self.ts_ns <= self.last_safe_ts_ns
    }

    /// The next tick. Requires [`SyntheticFeed::can_draw`].
    #[inline(always)]
    fn draw(&mut self) -> Tick {
        debug_assert!(self.can_draw());
        let rng = &mut self.rng;
        let (a, b, c, d) = (
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        );
        let gap_ns = round_to_u64(self.exponential.sample(d) * self.mean_gap_ns);
        // No overflow: `gap_ns <= max_gap_ns` and `ts_ns <= u64::MAX - max_gap_ns`.
        self.ts_ns += gap_ns.max(1);
        self.emitted += 1;
        let symbol = self.symbols.sample(a);
        let s = &mut self.state[symbol];
        // Regime switch (low 32 bits of `b`), then the move.
        s.burst ^= (b as u32) < SWITCH[usize::from(s.burst)];
        let r = VOL[usize::from(s.burst)] * self.normal.sample((c >> 32) as u32);
        let growth = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0)));
        s.price = (s.price * growth).clamp(MIN_PRICE, MAX_PRICE);
        let buy = if r < 0.0 { BUY_DOWN } else { BUY_UP };
        let side = if ((b >> 32) as u16 as u32) < buy {
            Side::Buy
        } else {
            Side::Sell
        };
        Tick {
            ts_ns: self.ts_ns,
            symbol: symbol as u32,
            price: s.price,
            size: self.size.sample(c as u32),
            side,
        }
    }

    /// The next tick when [`SyntheticFeed::can_draw`] is false: none once `ticks` are out;
    /// near the end of event time, the next tick if its timestamp fits, else the feed ends
    /// here, for good (no state changes).
    #[cold]
    #[inline(never)]
    fn next_tick_near_the_end(&mut self) -> Option<Tick> {
        if self.emitted >= self.limit {
            return None;
        }
        // Peek at the gap `draw` would take (its fourth draw) on a copy of the generator.
        let mut rng = self.rng.clone();
        let d = (0..4).fold(0, |_, _| rng.next_u64());
        let gap_ns = round_to_u64(self.exponential.sample(d) * self.mean_gap_ns);
        if self.ts_ns.checked_add(gap_ns.max(1)).is_none() {
            self.limit = self.emitted;
            return None;
        }
        self.last_safe_ts_ns = u64::MAX; // `draw` may add this one gap: it fits
        let tick = self.draw();
        self.last_safe_ts_ns = u64::MAX - self.max_gap_ns;
        Some(tick)
    }

    /// Paced mode: the next tick if it is due within ~10 ms (waiting for it), else `Idle`
    /// after sleeping ~10 ms, keeping the tick for the next call. Out of line so the unpaced
    /// path stays lean.
    #[inline(never)]
    fn next_paced(&mut self) -> FeedEvent {
        let Some(tick) = self.pending.take().or_else(|| self.next_tick()) else {
            return FeedEvent::End;
        };
        let (origin, first_ts) = *self.pace_origin.get_or_insert((Instant::now(), tick.ts_ns));
        let due = Duration::from_nanos(tick.ts_ns - first_ts);
        loop {
            let elapsed = origin.elapsed();
            let left = due.saturating_sub(elapsed);
            if left.is_zero() {
                self.lateness_ns = u64::try_from((elapsed - due).as_nanos()).unwrap_or(u64::MAX);
                return FeedEvent::Tick(tick);
            }
            if left <= MAX_BLOCK {
                std::thread::sleep(left.max(PACE_QUANTUM));
            } else {
                std::thread::sleep(MAX_BLOCK);
                self.pending = Some(tick);
                return FeedEvent::Idle;
            }
        }
    }
}

impl Feed for SyntheticFeed {
    #[inline(always)]
    // Always inline: the feed thread's loop then keeps the tick in registers (returned
    // through memory, the large result cost store-forwarding stalls of ~20 ns per tick).
    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        if self.config.paced {
            return Ok(self.next_paced());
        }
        if self.can_draw() {
            return Ok(FeedEvent::Tick(self.draw()));
        }
        Ok(self.next_tick().map_or(FeedEvent::End, FeedEvent::Tick))
    }

    fn names(&self) -> SymbolNames {
        self.names.clone()
    }

    /// Paced: live. Unpaced, the market is generated as fast as it is read.
    fn live(&self) -> bool {
        self.config.paced
    }

    /// Paced: how long after its due time the last tick was released (0 unpaced).
    fn lateness_ns(&self) -> u64 {
        self.lateness_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seed: u64) -> SyntheticFeed {
        SyntheticFeed::new(SyntheticConfig {
            seed,
            ..SyntheticConfig::default()
        })
    }

    #[test]
    fn returns_have_the_regimes_volatility() {
        // The regime a move was drawn in is the symbol's regime right after the tick.
        let mut f = feed(7);
        let mut last: Vec<f64> = f.state.iter().map(|s| s.price).collect();
        let (mut calm, mut burst) = ((0.0, 0u64), (0.0, 0u64));
        for _ in 0..2_000_000 {
            let t = f.next_tick().unwrap();
            let i = t.symbol as usize;
            let r = (t.price / last[i]).ln();
            last[i] = t.price;
            let acc = if f.state[i].burst {
                &mut burst
            } else {
                &mut calm
            };
            acc.0 += r * r;
            acc.1 += 1;
        }
        let sd = |(s, n): (f64, u64)| (s / n as f64).sqrt();
        // ~1% of moves are in bursts (P_ENTER / (P_ENTER + P_LEAVE)).
        assert!(
            burst.1 > 5_000 && burst.1 < 60_000,
            "burst moves {}",
            burst.1
        );
        assert!(
            (sd(calm) / CALM_VOL - 1.0).abs() < 0.01,
            "calm sd {}",
            sd(calm)
        );
        let want = CALM_VOL * BURST;
        assert!(
            (sd(burst) / want - 1.0).abs() < 0.05,
            "burst sd {}",
            sd(burst)
        );
    }

    #[test]
    fn aggressor_leans_with_the_move() {
        let mut f = feed(3);
        let mut last: Vec<f64> = f.state.iter().map(|s| s.price).collect();
        let (mut up_buys, mut ups, mut down_buys, mut downs) = (0u32, 0u32, 0u32, 0u32);
        for _ in 0..200_000 {
            let t = f.next_tick().unwrap();
            let i = t.symbol as usize;
            let buy = u32::from(t.side == Side::Buy);
            if t.price >= last[i] {
                (up_buys, ups) = (up_buys + buy, ups + 1);
            } else {
                (down_buys, downs) = (down_buys + buy, downs + 1);
            }
            last[i] = t.price;
        }
        let up = f64::from(up_buys) / f64::from(ups);
        let down = f64::from(down_buys) / f64::from(downs);
        assert!(
            (up - 0.8).abs() < 0.01 && (down - 0.2).abs() < 0.01,
            "{up} {down}"
        );
    }

    #[test]
    fn clamped_prices_stay_in_range() {
        let mut f = feed(1);
        for s in f.state.iter_mut() {
            s.price = if s.price > 500.0 {
                MAX_PRICE
            } else {
                MIN_PRICE
            };
        }
        for _ in 0..100_000 {
            let t = f.next_tick().unwrap();
            assert!((MIN_PRICE..=MAX_PRICE).contains(&t.price), "{t:?}");
        }
    }
}
