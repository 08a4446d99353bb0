//! The feature stage: per-symbol rolling state, updated on every tick, written out as one
//! [`WIDTH`]-wide row every `row_every` ticks of that symbol.
//!
//! Row layout (all from the symbol's own ticks, most recent first where ordered):
//!
//! | columns | content |
//! |---|---|
//! | `0..512` | the last 512 log returns (0 before the window fills) |
//! | `512..768` | squared log returns of the last 256 ticks (instantaneous variance) |
//! | `768..1024` | 8 statistics x 32 EMA horizons (2^(h/4) ticks, h = 0..31): mean return, mean absolute return, volatility (root of mean squared return), RSI-style balance `gain / (gain + loss) - 0.5`, gain minus loss, mean log size, mean signed log size (order-flow imbalance), log price minus its EMA |
//!
//! State is allocated when a symbol is first seen (about 6 KiB); updating and writing a row
//! allocate nothing.

use zerotick_core::Tick;

/// Width of a feature row.
pub const WIDTH: usize = 1024;
pub(crate) const RET_WINDOW: usize = 512;
const SQ_WINDOW: usize = 256;
const HORIZONS: usize = 32;
const STATS: usize = 8;

/// Settings of the feature stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureConfig {
    /// A symbol writes a row every this many of its ticks (at least 1).
    pub row_every: u32,
}

impl Default for FeatureConfig {
    /// A row every 64 ticks of a symbol.
    fn default() -> Self {
        Self { row_every: 64 }
    }
}

#[derive(Debug, Clone)]
struct SymbolState {
    /// Log price of the previous tick; NaN before the first.
    last_log_price: f64,
    /// Ring of the last `RET_WINDOW` log returns; `head` is where the next one goes.
    returns: Box<[f64]>,
    head: usize,
    /// EMAs, `STATS` blocks of `HORIZONS`.
    ema: Box<[f64]>,
    ticks: u64,
}

impl SymbolState {
    fn new() -> Self {
        Self {
            last_log_price: f64::NAN,
            returns: vec![0.0; RET_WINDOW].into_boxed_slice(),
            head: 0,
            ema: vec![0.0; STATS * HORIZONS].into_boxed_slice(),
            ticks: 0,
        }
    }
}

/// Per-symbol feature state for every symbol seen.
#[derive(Debug, Clone)]
pub struct FeatureStage {
    config: FeatureConfig,
    alphas: [f64; HORIZONS],
    states: Vec<SymbolState>,
}

impl FeatureStage {
    /// A stage with state preallocated for `symbols` symbols (more are added when seen).
    pub fn new(config: FeatureConfig, symbols: usize) -> Self {
        let alphas = core::array::from_fn(|h| 2.0 / (2f64.powf(h as f64 / 4.0) + 1.0));
        Self {
            config: FeatureConfig {
                row_every: config.row_every.max(1),
            },
            alphas,
            states: (0..symbols).map(|_| SymbolState::new()).collect(),
        }
    }

    /// Symbols with state.
    pub fn symbols(&self) -> usize {
        self.states.len()
    }

    /// Updates the symbol's state with `tick`; returns whether a row is due now (then call
    /// [`write_row`](Self::write_row) for that symbol).
    #[inline]
    pub fn update(&mut self, tick: &Tick) -> bool {
        let i = tick.symbol as usize;
        if i >= self.states.len() {
            self.grow(i);
        }
        let alphas = &self.alphas;
        let s = &mut self.states[i];
        let lp = tick.price.ln();
        let first = s.last_log_price.is_nan();
        let r = if first { 0.0 } else { lp - s.last_log_price };
        s.last_log_price = lp;
        if first {
            // Seed the price EMAs so the first deviation is 0, not -log price.
            s.ema[7 * HORIZONS..].fill(lp);
        }
        s.returns[s.head] = r;
        s.head = (s.head + 1) % RET_WINDOW;
        let log_size = tick.size.ln_1p();
        let inputs = [
            r,
            r.abs(),
            r * r,
            r.max(0.0),
            (-r).max(0.0),
            log_size,
            log_size * tick.side.sign(),
            lp,
        ];
        for (block, x) in s.ema.chunks_exact_mut(HORIZONS).zip(inputs) {
            for (e, a) in block.iter_mut().zip(alphas) {
                *e += a * (x - *e);
            }
        }
        s.ticks += 1;
        s.ticks.is_multiple_of(u64::from(self.config.row_every))
    }

    #[cold]
    fn grow(&mut self, i: usize) {
        self.states.resize_with(i + 1, SymbolState::new);
    }

    /// Writes the feature row of `symbol` into `row` (length [`WIDTH`]).
    ///
    /// # Panics
    /// If `row.len() != WIDTH` or the symbol has no state (a bug in the caller).
    #[inline]
    pub fn write_row(&self, symbol: u32, row: &mut [f64]) {
        assert_eq!(row.len(), WIDTH, "feature rows are {WIDTH} wide");
        let s = &self.states[symbol as usize];
        // Returns, most recent first: the ring read backwards from `head - 1`.
        // `[..head]` holds the newest returns (newest last), `[head..]` the ones before them.
        let (newest, before) = s.returns.split_at(s.head);
        let (ret_out, rest) = row.split_at_mut(RET_WINDOW);
        for (o, v) in ret_out
            .iter_mut()
            .zip(newest.iter().rev().chain(before.iter().rev()))
        {
            *o = *v;
        }
        let (sq_out, ema_out) = rest.split_at_mut(SQ_WINDOW);
        for (o, v) in sq_out.iter_mut().zip(&ret_out[..SQ_WINDOW]) {
            *o = v * v;
        }
        let block = |k: usize| &s.ema[k * HORIZONS..(k + 1) * HORIZONS];
        let (ret, abs, sq, gain, loss, size, signed, logp) = (
            block(0),
            block(1),
            block(2),
            block(3),
            block(4),
            block(5),
            block(6),
            block(7),
        );
        let lp = s.last_log_price;
        for h in 0..HORIZONS {
            let total = gain[h] + loss[h];
            let rsi = if total > 0.0 {
                gain[h] / total - 0.5
            } else {
                0.0
            };
            let out = &mut ema_out[h * STATS..(h + 1) * STATS];
            out.copy_from_slice(&[
                ret[h],
                abs[h],
                sq[h].sqrt(),
                rsi,
                gain[h] - loss[h],
                size[h],
                signed[h],
                lp - logp[h],
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerotick_core::Side;

    #[test]
    fn rows_come_every_n_ticks_with_returns_most_recent_first() {
        let mut f = FeatureStage::new(FeatureConfig { row_every: 3 }, 1);
        let prices = [100.0, 101.0, 99.0, 102.0, 102.0, 103.0];
        let due: Vec<bool> = prices
            .iter()
            .map(|p| {
                f.update(&Tick {
                    price: *p,
                    size: 1.0,
                    side: Side::Buy,
                    ..Tick::default()
                })
            })
            .collect();
        assert_eq!(due, [false, false, true, false, false, true]);
        let mut row = vec![f64::NAN; WIDTH];
        f.write_row(0, &mut row);
        assert!(row.iter().all(|v| v.is_finite()));
        assert!((row[0] - (103.0f64 / 102.0).ln()).abs() < 1e-15);
        assert_eq!(row[1], 0.0);
        assert!((row[2] - (102.0f64 / 99.0).ln()).abs() < 1e-15);
        assert_eq!(row[6], 0.0, "window not filled yet");
        assert!((row[512] - row[0] * row[0]).abs() < 1e-18);
        assert!(row[768 + 31 * 8 + 7] > 0.0, "price above its slowest EMA");
    }

    #[test]
    fn unseen_symbols_get_state() {
        let mut f = FeatureStage::new(FeatureConfig::default(), 0);
        f.update(&Tick {
            symbol: 5,
            price: 1.0,
            ..Tick::default()
        });
        assert_eq!(f.symbols(), 6);
    }
}
