//! The feature stage: per-symbol rolling state, written out as one [`WIDTH`]-wide row every
//! `row_every` ticks of that symbol.
//!
//! Row layout (all from the symbol's own ticks, most recent first where ordered):
//!
//! | columns | content |
//! |---|---|
//! | `0..512` | the last 512 log returns (0 before the window fills) |
//! | `512..768` | squared log returns of the last 256 ticks (instantaneous variance) |
//! | `768..1024` | 8 statistics x 32 EMA horizons (2^(h/4) ticks, h = 0..31): mean return, mean absolute return, volatility (root of mean squared return), RSI-style balance `gain / (gain + loss) - 0.5`, gain minus loss, mean log size, mean signed log size (order-flow imbalance), log price minus its EMA |
//!
//! The first tick of a symbol has return 0, and its price EMAs start at its log price.
//!
//! Computed lazily, a block at a time: [`update`](FeatureStage::update) only validates the
//! tick and stores its price, size and side in the symbol's pending block (a few ns). The
//! block is folded when it is full (at most [`MAX_BLOCK`] ticks) or when a row is written:
//! SIMD `ln` of the prices and `ln_1p` of the sizes, returns as differences of log prices
//! into the 512-return ring, and the 8 x 32 EMAs advanced over the whole block in closed form
//! ([`Kernels::ema_fold`]). The result equals the per-tick recursion up to rounding.
//!
//! Ticks with a price that is not finite and positive, or a size that is not finite and
//! non-negative, are skipped and counted ([`skipped`](FeatureStage::skipped)): they never
//! reach the state, so rows stay finite.
//!
//! State is allocated when a symbol is first seen (about 8 KiB); updating and writing a row
//! allocate nothing.

use zerotick_core::Tick;

use crate::checkpoint::{CheckpointError, Reader, put};
use zerotick_kernels::{EmaBank, Kernels};

/// Width of a feature row.
pub const WIDTH: usize = 1024;
pub(crate) const RET_WINDOW: usize = 512;
const SQ_WINDOW: usize = 256;
const HORIZONS: usize = 32;
const STATS: usize = 8;
/// Longest block of pending ticks a symbol keeps before folding them into its state.
pub const MAX_BLOCK: usize = 64;
/// Index of the log-price stream among the [`STATS`] EMA streams.
const LOG_PRICE: usize = 7;

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

/// A tick not folded yet: its raw inputs, kept together so that recording it writes one
/// 24-byte slot (one cache line, or two when the slot straddles a line), not one line in
/// each of three arrays.
#[derive(Debug, Clone, Copy)]
struct PendingTick {
    price: f64,
    size: f64,
    /// The side's sign ([`zerotick_core::Side::sign`]).
    sign: f64,
}

impl PendingTick {
    const ZERO: Self = Self {
        price: 0.0,
        size: 0.0,
        sign: 0.0,
    };
}

/// One symbol's state. Laid out for the per-tick path ([`FeatureStage::update`]): what it
/// reads and writes (the counters and the pending block's address) shares the first cache
/// line, and the pending ticks are one array of 24-byte slots, so a tick touches that line
/// and its own slot. (The old layout, counters and box pointers on two lines and the
/// pending prices, sizes and signs in three arrays, missed D1 about 2.1 times a tick under
/// cachegrind; this one 1.1: see docs/pipeline.md.)
#[derive(Debug, Clone)]
#[repr(C, align(64))]
struct SymbolState {
    /// Valid ticks seen, folded or not.
    ticks: u64,
    /// Ticks in `block` not folded yet. Invariant: `pending <= block.len()`.
    pending: u32,
    /// Where the next return goes in `returns`. Invariant: `head < RET_WINDOW`.
    head: u32,
    /// Raw inputs of the ticks not folded yet, oldest first (`[..pending]`; the slots
    /// after it keep older ticks' values, which are never read but are checkpointed). As
    /// long as the stage's block.
    block: Box<[PendingTick]>,
    /// Log price of the last folded tick; NaN before the first.
    last_log_price: f64,
    /// Ring of the last `RET_WINDOW` log returns.
    returns: Box<[f64]>,
    /// EMAs, `STATS` blocks of `HORIZONS`, as of the last folded tick.
    ema: Box<[f64]>,
}

impl SymbolState {
    fn new(block: usize) -> Self {
        Self {
            ticks: 0,
            pending: 0,
            head: 0,
            block: vec![PendingTick::ZERO; block].into_boxed_slice(),
            last_log_price: f64::NAN,
            returns: vec![0.0; RET_WINDOW].into_boxed_slice(),
            ema: vec![0.0; STATS * HORIZONS].into_boxed_slice(),
        }
    }
}

/// Per-symbol feature state for every symbol seen.
#[derive(Debug, Clone)]
pub struct FeatureStage {
    config: FeatureConfig,
    kernels: Kernels,
    /// EMA weights for blocks of up to `block` ticks.
    bank: EmaBank,
    /// Pending ticks per symbol before a fold: `min(row_every, MAX_BLOCK)`.
    block: usize,
    states: Vec<SymbolState>,
    /// The fold's input streams, `STATS` rows of `block`.
    scratch: Box<[f64]>,
    skipped: u64,
}

impl FeatureStage {
    /// A stage with state preallocated for `symbols` symbols (more are added when seen).
    pub fn new(config: FeatureConfig, symbols: usize) -> Self {
        let row_every = config.row_every.max(1);
        let block = (row_every as usize).min(MAX_BLOCK);
        let alphas: [f64; HORIZONS] =
            core::array::from_fn(|h| 2.0 / (2f64.powf(h as f64 / 4.0) + 1.0));
        let bank = match EmaBank::new(&alphas, block) {
            Ok(b) => b,
            Err(e) => unreachable!("alphas are in (0, 1] and block >= 1: {e}"),
        };
        Self {
            config: FeatureConfig { row_every },
            kernels: Kernels::active(),
            bank,
            block,
            states: (0..symbols).map(|_| SymbolState::new(block)).collect(),
            scratch: vec![0.0; STATS * block].into_boxed_slice(),
            skipped: 0,
        }
    }

    /// Symbols with state.
    pub fn symbols(&self) -> usize {
        self.states.len()
    }

    /// Ticks skipped because their price was not finite and positive or their size not
    /// finite and non-negative.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Records `tick` in its symbol's state; returns whether a row is due now (then call
    /// [`write_row`](Self::write_row) for that symbol). An invalid tick is skipped (see
    /// [`skipped`](Self::skipped)) and never makes a row due.
    #[inline]
    pub fn update(&mut self, tick: &Tick) -> bool {
        let valid = tick.price > 0.0
            && tick.price < f64::INFINITY
            && tick.size >= 0.0
            && tick.size < f64::INFINITY;
        if !valid {
            self.skipped += 1;
            return false;
        }
        let i = tick.symbol as usize;
        if i >= self.states.len() {
            self.grow(i);
        }
        let s = &mut self.states[i];
        let p = s.pending as usize;
        s.block[p] = PendingTick {
            price: tick.price,
            size: tick.size,
            sign: tick.side.sign(),
        };
        s.pending += 1;
        s.ticks += 1;
        if p + 1 == self.block {
            Self::fold(self.kernels, &self.bank, &mut self.scratch, s);
        }
        s.ticks.is_multiple_of(u64::from(self.config.row_every))
    }

    /// Valid ticks of `symbol` so far (0 for a symbol never seen): the sequence number of
    /// its row, the same for the same input whatever the run (it is part of a checkpoint).
    #[inline]
    pub fn ticks_of(&self, symbol: u32) -> u64 {
        self.states.get(symbol as usize).map_or(0, |s| s.ticks)
    }

    /// Appends every symbol's state to `out` (see [`crate::checkpoint`] for the layout).
    /// Allocates only if `out` lacks the room.
    pub(crate) fn snapshot_into(&self, out: &mut Vec<f64>) {
        put(out, self.states.len() as u64);
        put(out, self.block as u64);
        put(out, u64::from(self.config.row_every));
        for s in &self.states {
            out.push(s.last_log_price);
            put(out, s.head as u64);
            put(out, s.pending as u64);
            put(out, s.ticks);
            out.extend_from_slice(&s.returns);
            out.extend_from_slice(&s.ema);
            out.extend(s.block.iter().map(|t| t.price));
            out.extend(s.block.iter().map(|t| t.size));
            out.extend(s.block.iter().map(|t| t.sign));
        }
    }

    /// Replaces the symbols' state with a checkpoint's (written by
    /// [`snapshot_into`](Self::snapshot_into) of a stage with the same configuration).
    ///
    /// # Errors
    /// [`CheckpointError`] if the words end early, or a count or index is out of range; the
    /// stage is then partly restored and must not be used.
    pub(crate) fn restore(&mut self, r: &mut Reader<'_>) -> Result<(), CheckpointError> {
        let n = r.usize_at_most(crate::limits::SYMBOLS, "symbol count")?;
        if r.u64()? != self.block as u64 || r.u64()? != u64::from(self.config.row_every) {
            return Err(CheckpointError::ConfigMismatch);
        }
        // The words must be there before the states are made: a corrupt count must not
        // allocate 16 KiB for each of up to 65,536 symbols the checkpoint does not hold.
        let per_symbol = 4 + RET_WINDOW + STATS * HORIZONS + 3 * self.block;
        if n.checked_mul(per_symbol).is_none_or(|w| w > r.remaining()) {
            return Err(CheckpointError::Truncated);
        }
        if n > self.states.len() {
            self.grow(n - 1);
        }
        for s in &mut self.states[..n] {
            // NaN until a symbol's first price (`SymbolState::new`); finite after.
            s.last_log_price = match r.f64()? {
                v if v.is_finite() || v.is_nan() => v,
                _ => return Err(CheckpointError::Corrupt("last log price")),
            };
            s.head = r.usize_at_most(RET_WINDOW - 1, "return ring head")? as u32;
            s.pending = r.usize_at_most(self.block - 1, "pending ticks")? as u32;
            s.ticks = r.u64()?;
            // Finite by construction: prices and sizes are checked finite and positive
            // before they reach the stage, so logs, returns and EMAs of them are finite.
            r.copy_finite_into(&mut s.returns, "non-finite return")?;
            r.copy_finite_into(&mut s.ema, "non-finite EMA")?;
            let fields: [fn(&mut PendingTick) -> &mut f64; 3] =
                [|t| &mut t.price, |t| &mut t.size, |t| &mut t.sign];
            for field in fields {
                for (t, &v) in s.block.iter_mut().zip(r.slice(self.block)?) {
                    if !v.is_finite() {
                        return Err(CheckpointError::Corrupt("non-finite pending tick"));
                    }
                    *field(t) = v;
                }
            }
        }
        Ok(())
    }

    #[cold]
    fn grow(&mut self, i: usize) {
        let block = self.block;
        self.states.resize_with(i + 1, || SymbolState::new(block));
    }

    /// Folds the symbol's pending ticks into its returns ring and EMAs.
    fn fold(k: Kernels, bank: &EmaBank, scratch: &mut [f64], s: &mut SymbolState) {
        let m = s.pending as usize;
        if m == 0 {
            return;
        }
        let block = scratch.len() / STATS;
        debug_assert!(m <= block);
        let pending = &s.block[..m];
        // Row 6 (filled with the signed log sizes below) first holds the raw prices, then
        // the raw sizes, as the SIMD `ln` and `ln_1p` read them.
        let (low, high) = scratch.split_at_mut(LOG_PRICE * block);
        let (low, raw) = low.split_at_mut(6 * block);
        let (raw, ls, lp) = (
            &mut raw[..m],
            &mut low[5 * block..5 * block + m],
            &mut high[..m],
        );
        for (r, t) in raw.iter_mut().zip(pending) {
            *r = t.price;
        }
        let ok = k.ln_into(lp, raw).is_ok();
        debug_assert!(ok, "scratch rows hold a block");
        for (r, t) in raw.iter_mut().zip(pending) {
            *r = t.size;
        }
        let ok = k.ln_1p_into(ls, raw).is_ok();
        debug_assert!(ok, "scratch rows hold a block");
        if s.last_log_price.is_nan() {
            // First tick: return 0, price EMAs seeded with its log price.
            s.last_log_price = scratch[LOG_PRICE * block];
            s.ema[LOG_PRICE * HORIZONS..].fill(s.last_log_price);
        }
        // The price stream is folded relative to the previous log price: the fold is affine
        // (weights and decay sum to 1), and small differences keep its rounding small.
        let anchor = s.last_log_price;
        let mut prev = anchor;
        let mut head = s.head as usize;
        for t in 0..m {
            let lp = scratch[LOG_PRICE * block + t];
            let r = lp - prev;
            prev = lp;
            s.returns[head] = r;
            head += 1;
            if head == RET_WINDOW {
                head = 0;
            }
            let ls = scratch[5 * block + t];
            let inputs = [r, r.abs(), r * r, r.max(0.0), (-r).max(0.0)];
            for (j, v) in inputs.into_iter().enumerate() {
                scratch[j * block + t] = v;
            }
            scratch[6 * block + t] = ls * s.block[t].sign;
            scratch[LOG_PRICE * block + t] = lp - anchor;
        }
        // `head < RET_WINDOW`: it fits.
        s.head = head as u32;
        s.last_log_price = prev;
        let price_ema = &mut s.ema[LOG_PRICE * HORIZONS..];
        price_ema.iter_mut().for_each(|e| *e -= anchor);
        let ok = k.ema_fold(bank, &mut s.ema, scratch, block, m).is_ok();
        debug_assert!(ok, "state and scratch have the bank's shape");
        let price_ema = &mut s.ema[LOG_PRICE * HORIZONS..];
        price_ema.iter_mut().for_each(|e| *e += anchor);
        s.pending = 0;
    }

    /// Writes the feature row of `symbol` into `row` (length [`WIDTH`]), first folding the
    /// symbol's pending ticks.
    ///
    /// # Panics
    /// If `row.len() != WIDTH` or the symbol has no state (a bug in the caller).
    #[inline]
    #[track_caller]
    pub fn write_row(&mut self, symbol: u32, row: &mut [f64]) {
        assert_eq!(row.len(), WIDTH, "feature rows are {WIDTH} wide");
        let s = &mut self.states[symbol as usize];
        Self::fold(self.kernels, &self.bank, &mut self.scratch, s);
        let s = &*s;
        // Returns, most recent first: the ring read backwards from `head - 1`.
        // `[..head]` holds the newest returns (newest last), `[head..]` the ones before them.
        let (newest, before) = s.returns.split_at(s.head as usize);
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

    /// Today's per-tick definition, kept as the reference: std `ln`/`ln_1p` and the EMA
    /// recursion on every tick.
    struct Reference {
        alphas: [f64; HORIZONS],
        last_log_price: f64,
        returns: Vec<f64>,
        head: usize,
        ema: Vec<f64>,
    }

    impl Reference {
        fn new() -> Self {
            Self {
                alphas: core::array::from_fn(|h| 2.0 / (2f64.powf(h as f64 / 4.0) + 1.0)),
                last_log_price: f64::NAN,
                returns: vec![0.0; RET_WINDOW],
                head: 0,
                ema: vec![0.0; STATS * HORIZONS],
            }
        }

        fn update(&mut self, tick: &Tick) {
            let lp = tick.price.ln();
            let first = self.last_log_price.is_nan();
            let r = if first { 0.0 } else { lp - self.last_log_price };
            self.last_log_price = lp;
            if first {
                self.ema[7 * HORIZONS..].fill(lp);
            }
            self.returns[self.head] = r;
            self.head = (self.head + 1) % RET_WINDOW;
            let ls = tick.size.ln_1p();
            let inputs = [
                r,
                r.abs(),
                r * r,
                r.max(0.0),
                (-r).max(0.0),
                ls,
                ls * tick.side.sign(),
                lp,
            ];
            for (block, x) in self.ema.chunks_exact_mut(HORIZONS).zip(inputs) {
                for (e, a) in block.iter_mut().zip(&self.alphas) {
                    *e += a * (x - *e);
                }
            }
        }

        fn row(&self) -> Vec<f64> {
            let mut row = vec![0.0; WIDTH];
            for (i, o) in row[..RET_WINDOW].iter_mut().enumerate() {
                *o = self.returns[(self.head + RET_WINDOW - 1 - i) % RET_WINDOW];
            }
            for i in 0..SQ_WINDOW {
                row[RET_WINDOW + i] = row[i] * row[i];
            }
            let e = |k: usize, h: usize| self.ema[k * HORIZONS + h];
            for h in 0..HORIZONS {
                let total = e(3, h) + e(4, h);
                let rsi = if total > 0.0 {
                    e(3, h) / total - 0.5
                } else {
                    0.0
                };
                let out = &mut row[768 + h * STATS..768 + (h + 1) * STATS];
                out.copy_from_slice(&[
                    e(0, h),
                    e(1, h),
                    e(2, h).sqrt(),
                    rsi,
                    e(3, h) - e(4, h),
                    e(5, h),
                    e(6, h),
                    self.last_log_price - e(7, h),
                ]);
            }
            row
        }
    }

    /// Deterministic xorshift for test data.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Column groups sharing a scale: the returns, the squared returns, then each statistic
    /// over its 32 horizons.
    fn group(col: usize) -> usize {
        match col {
            c if c < RET_WINDOW => 0,
            c if c < RET_WINDOW + SQ_WINDOW => 1,
            c => 2 + (c - 768) % STATS,
        }
    }

    /// Checks `got` against the reference row. Tolerance: `1e-9 * (|want| + scale)`, `scale`
    /// the largest `|want|` in the column's group (gain minus loss and the mean return also
    /// take the mean absolute return's scale: they are differences of it).
    ///
    /// Why: (1) the SIMD `ln` is within 2 ULP of std's, so a return (a difference of two log
    /// prices) moves by at most ~8 eps |ln p| <= 2.5e-14 for these prices, against returns of
    /// ~1e-4..1e-2 here: <= 2.5e-10 of the group's scale, and the EMAs average such errors;
    /// (2) the closed-form fold rounds each of its m + 1 <= 65 products once, and the
    /// recursion about 2 roundings per tick damped by (1 - a): both stay within ~150 eps of
    /// the stream's scale (~3e-14). Where the value itself is tiny against its group
    /// (a horizon whose return EMA has nearly cancelled) only the group scale is meaningful.
    fn assert_close(got: &[f64], want: &[f64], context: &str) {
        let mut scale = [0.0f64; 2 + STATS];
        for (c, w) in want.iter().enumerate() {
            scale[group(c)] = scale[group(c)].max(w.abs());
        }
        let abs_scale = scale[2 + 1];
        scale[2] = scale[2].max(abs_scale);
        scale[2 + 4] = scale[2 + 4].max(abs_scale);
        for (c, (g, w)) in got.iter().zip(want).enumerate() {
            let tol = 1e-9 * (w.abs() + scale[group(c)]);
            assert!(
                g.is_finite() && (g - w).abs() <= tol,
                "{context}: column {c}: got {g:e}, want {w:e} (tolerance {tol:e})"
            );
        }
    }

    fn run_against_reference(row_every: u32, symbols: u32, ticks: usize, seed: u64) {
        let mut f = FeatureStage::new(FeatureConfig { row_every }, 0);
        let mut refs: Vec<Reference> = (0..symbols).map(|_| Reference::new()).collect();
        let mut rng = Rng(seed);
        // Prices over many magnitudes, with bursts and flat stretches (return exactly 0).
        let mut prices: Vec<f64> = (0..symbols)
            .map(|s| 10f64.powi(s as i32 % 9 - 3) * (1.0 + rng.next()))
            .collect();
        let mut rows = 0;
        let mut row = vec![f64::NAN; WIDTH];
        for t in 0..ticks {
            let s = (rng.next() * f64::from(symbols)) as u32;
            let vol = if (t / 500) % 3 == 0 { 1e-2 } else { 1e-4 };
            let u = rng.next();
            if u > 0.2 {
                prices[s as usize] *= 1.0 + vol * (rng.next() - 0.5);
            }
            let size = match (u * 1e4) as u32 % 4 {
                0 => 0.0,
                1 => 1e-9 * rng.next(),
                _ => 1e4 * rng.next(),
            };
            let side = [Side::Buy, Side::Sell, Side::Unknown][(u * 1e6) as usize % 3];
            let tick = Tick {
                symbol: s,
                price: prices[s as usize],
                size,
                side,
                ..Tick::default()
            };
            refs[s as usize].update(&tick);
            if f.update(&tick) {
                f.write_row(s, &mut row);
                assert_close(&row, &refs[s as usize].row(), &format!("tick {t}"));
                rows += 1;
            }
        }
        assert!(rows > 0);
        // A row written between due points folds a partial block.
        for s in 0..symbols {
            f.write_row(s, &mut row);
            assert_close(&row, &refs[s as usize].row(), &format!("symbol {s} at end"));
        }
        assert_eq!(f.skipped(), 0);
    }

    #[test]
    fn matches_the_per_tick_recursion() {
        run_against_reference(64, 5, 40_000, 0x9e37_79b9_7f4a_7c15);
    }

    #[test]
    fn matches_with_short_long_and_uneven_rows() {
        run_against_reference(1, 2, 3_000, 7);
        run_against_reference(3, 3, 5_000, 11);
        // Longer than MAX_BLOCK: the pending block is folded in the middle of a row.
        run_against_reference(100, 2, 20_000, 13);
    }

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
        assert_eq!(row[5], 0.0, "the first tick's return is 0");
        assert_eq!(row[6], 0.0, "window not filled yet");
        assert!((row[512] - row[0] * row[0]).abs() < 1e-18);
        assert!(row[768 + 31 * 8 + 7] > 0.0, "price above its slowest EMA");
    }

    #[test]
    fn first_tick_seeds_price_emas() {
        let mut f = FeatureStage::new(FeatureConfig { row_every: 1 }, 1);
        assert!(f.update(&Tick {
            price: 50.0,
            size: 2.0,
            ..Tick::default()
        }));
        let mut row = vec![f64::NAN; WIDTH];
        f.write_row(0, &mut row);
        for h in 0..HORIZONS {
            let ema = &row[768 + h * STATS..768 + (h + 1) * STATS];
            assert_eq!(ema[0], 0.0, "first return is 0");
            assert_eq!(ema[7], 0.0, "price EMA seeded with the first log price");
        }
    }

    #[test]
    fn invalid_ticks_are_skipped_and_counted() {
        let mut f = FeatureStage::new(FeatureConfig { row_every: 2 }, 1);
        let good = Tick {
            price: 10.0,
            size: 1.0,
            ..Tick::default()
        };
        let bad = [
            (f64::NAN, 1.0),
            (f64::INFINITY, 1.0),
            (0.0, 1.0),
            (-1.0, 1.0),
            (-0.0, 1.0),
            (10.0, -1.0),
            (10.0, f64::NAN),
            (10.0, f64::INFINITY),
        ];
        assert!(!f.update(&good));
        for (price, size) in bad {
            let t = Tick {
                price,
                size,
                ..good
            };
            assert!(!f.update(&t), "an invalid tick never makes a row due");
        }
        assert_eq!(f.skipped(), bad.len() as u64);
        assert!(f.update(&Tick {
            price: 11.0,
            ..good
        }));
        let mut row = vec![f64::NAN; WIDTH];
        f.write_row(0, &mut row);
        assert!(row.iter().all(|v| v.is_finite()));
        assert!((row[0] - (11.0f64 / 10.0).ln()).abs() < 1e-15);
        // An invalid tick for an unseen symbol allocates no state.
        f.update(&Tick {
            symbol: 9,
            price: f64::NAN,
            ..good
        });
        assert_eq!(f.symbols(), 1);
    }

    /// A checkpoint's feature words for `f`, with the header `Reader::open` expects.
    fn state_words(f: &FeatureStage) -> Vec<f64> {
        let mut words = Vec::new();
        crate::checkpoint::begin(&mut words, 7);
        f.snapshot_into(&mut words);
        words
    }

    fn restore_words(words: &[f64]) -> Result<FeatureStage, CheckpointError> {
        let mut g = FeatureStage::new(FeatureConfig::default(), 0);
        let mut r = Reader::open(words, 7)?;
        g.restore(&mut r)?;
        r.finish()?;
        Ok(g)
    }

    #[test]
    fn restore_refuses_corrupt_counts_and_non_finite_state_without_growing() {
        let mut f = FeatureStage::new(FeatureConfig::default(), 0);
        for i in 0..50u64 {
            f.update(&Tick {
                symbol: (i % 3) as u32,
                price: 100.0 + (i % 7) as f64,
                size: 1.0,
                side: Side::Buy,
                ts_ns: i,
            });
        }
        let words = state_words(&f);
        let g = restore_words(&words).expect("a checkpoint of the stage restores");
        let bits = |w: &[f64]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&state_words(&g)), bits(&words));

        // A symbol count larger than the words hold: refused before any state is made.
        let mut big = words.clone();
        big[3] = f64::from_bits(crate::limits::SYMBOLS as u64);
        let mut g = FeatureStage::new(FeatureConfig::default(), 0);
        let mut r = Reader::open(&big, 7).unwrap();
        assert!(matches!(g.restore(&mut r), Err(CheckpointError::Truncated)));
        assert_eq!(g.symbols(), 0);

        // Non-finite values where the stage only ever holds finite ones.
        let first = 6; // header (3), count, block, row_every
        let per_symbol = (words.len() - first) / 3;
        for (offset, what) in [
            (0, None),
            (4, Some("non-finite return")),
            (4 + RET_WINDOW + 5, Some("non-finite EMA")),
            (per_symbol - 1, Some("non-finite pending tick")),
        ] {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut w = words.clone();
                w[first + per_symbol + offset] = bad;
                match (restore_words(&w), what) {
                    (Err(CheckpointError::Corrupt(e)), Some(what)) if e == what => {}
                    // The last log price may be NaN (no price yet), never infinite.
                    (Ok(_), None) if bad.is_nan() => {}
                    (Err(CheckpointError::Corrupt("last log price")), None) => {}
                    (other, _) => panic!("offset {offset}, {bad}: {other:?}"),
                }
            }
        }
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
