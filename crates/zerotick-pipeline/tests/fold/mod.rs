//! [`Fold`]: the zero-allocation tests' sink (included by `mod fold;`).

use zerotick_core::{FeatureRecord, Signal, Sink};

/// Touches every value it gets (so nothing is optimised away) without allocating.
#[derive(Default)]
pub struct Fold(pub f64, pub u64);

impl Sink for Fold {
    fn emit(&mut self, s: &Signal) -> std::io::Result<()> {
        self.0 += s.value;
        self.1 += 1;
        Ok(())
    }
    fn emit_row(&mut self, r: &FeatureRecord<'_>) -> std::io::Result<()> {
        self.0 += r.values.iter().sum::<f64>() + r.signal.unwrap_or(0.0);
        self.1 += 1;
        Ok(())
    }
}
