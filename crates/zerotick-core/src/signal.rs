//! What the pipeline emits: [`Signal`]s, handed to a [`Sink`], digested into the run checksum
//! by [`SignalDigest`].

use std::io;

use crate::hash::{FNV_OFFSET, fnv1a64_extend};

/// One output of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal {
    /// Exchange time of the tick that triggered the row, ns since the epoch.
    pub ts_ns: u64,
    /// Symbol index.
    pub symbol: u32,
    /// The signal value.
    pub value: f64,
}

/// The run checksum: an FNV-1a chain per symbol over its signals' `ts_ns` and value bits, in
/// order, then FNV-1a over `(symbol, chain)` for every symbol with signals, in symbol order.
/// The same per-symbol signal sequences give the same digest however they interleaved, so it
/// does not depend on batching, timing or the number of compute workers.
#[derive(Debug, Clone, Default)]
pub struct SignalDigest {
    chains: Vec<u64>,
}

impl SignalDigest {
    /// A digest with room for `symbols` symbols (more grow the table, allocating).
    pub fn with_symbols(symbols: usize) -> Self {
        Self {
            chains: Vec::with_capacity(symbols),
        }
    }

    /// Folds in one signal.
    #[inline]
    pub fn add(&mut self, s: &Signal) {
        let i = s.symbol as usize;
        if i >= self.chains.len() {
            self.chains.resize(i + 1, FNV_OFFSET);
        }
        let h = fnv1a64_extend(self.chains[i], &s.ts_ns.to_le_bytes());
        self.chains[i] = fnv1a64_extend(h, &s.value.to_bits().to_le_bytes());
    }

    /// The digest of every signal so far.
    pub fn finish(&self) -> u64 {
        let mut h = FNV_OFFSET;
        for (symbol, chain) in self.chains.iter().enumerate() {
            if *chain != FNV_OFFSET {
                h = fnv1a64_extend(h, &(symbol as u32).to_le_bytes());
                h = fnv1a64_extend(h, &chain.to_le_bytes());
            }
        }
        h
    }
}

/// One feature row on its way to a sink (`zerotick run --emit features|both`): the row's
/// feature values, in the order of the run's column names, and its signal when signals are
/// emitted too.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureRecord<'a> {
    /// Exchange time of the tick that triggered the row, ns since the epoch.
    pub ts_ns: u64,
    /// Symbol index.
    pub symbol: u32,
    /// The feature values, one per column.
    pub values: &'a [f64],
    /// The row's signal (`--emit both`), or `None` (`--emit features`).
    pub signal: Option<f64>,
}

/// A destination for signals (and, for sinks that take them, feature rows). Writing must not
/// allocate in steady state.
pub trait Sink {
    /// Takes one signal.
    ///
    /// # Errors
    /// The underlying writer failed.
    fn emit(&mut self, signal: &Signal) -> io::Result<()>;

    /// Takes one signal with its sequence number: `seq` grows with each signal of the
    /// symbol and is the same for the same input whatever the run (the symbol's tick count
    /// at the row), so `(symbol, seq)` names a signal across a failover that emits some
    /// signals again. The default drops `seq` and calls [`emit`](Sink::emit); a sink that
    /// deduplicates or marks re-emitted signals overrides it.
    ///
    /// # Errors
    /// The underlying writer failed.
    fn emit_seq(&mut self, signal: &Signal, seq: u64) -> io::Result<()> {
        let _ = seq;
        self.emit(signal)
    }

    /// Takes one feature row. The default keeps only the signal (passed to
    /// [`emit`](Sink::emit); a record without one is dropped), so a sink written before
    /// feature rows existed still works; sinks that store rows override it.
    ///
    /// ```
    /// use zerotick_core::{FeatureRecord, Signal, Sink};
    /// struct Last(Option<Signal>);
    /// impl Sink for Last {
    ///     fn emit(&mut self, s: &Signal) -> std::io::Result<()> {
    ///         self.0 = Some(*s);
    ///         Ok(())
    ///     }
    /// }
    /// let mut sink = Last(None);
    /// sink.emit_row(&FeatureRecord { ts_ns: 1, symbol: 2, values: &[0.5], signal: Some(0.25) })?;
    /// assert_eq!(sink.0, Some(Signal { ts_ns: 1, symbol: 2, value: 0.25 }));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// The underlying writer failed.
    fn emit_row(&mut self, row: &FeatureRecord<'_>) -> io::Result<()> {
        match row.signal {
            Some(value) => self.emit(&Signal {
                ts_ns: row.ts_ns,
                symbol: row.symbol,
                value,
            }),
            None => Ok(()),
        }
    }

    /// Flushes buffered output.
    ///
    /// # Errors
    /// The underlying writer failed.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// The run is over: writes out everything buffered and completes the output (a file
    /// format with a footer writes it here). The pipeline calls it once, at the end of a run,
    /// also one stopped early by its deadline; [`flush`](Sink::flush) may come after every
    /// batch (a feed that acknowledges what was emitted) and must leave the sink usable. A
    /// sink may refuse rows after `finish`. The default flushes.
    ///
    /// # Errors
    /// The underlying writer failed.
    fn finish(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// Discards signals.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl Sink for NullSink {
    #[inline]
    fn emit(&mut self, _: &Signal) -> io::Result<()> {
        Ok(())
    }

    #[inline]
    fn emit_row(&mut self, _: &FeatureRecord<'_>) -> io::Result<()> {
        Ok(())
    }
}
