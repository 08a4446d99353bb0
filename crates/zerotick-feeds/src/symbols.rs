//! [`Symbols`]: the symbol table of a text feed, with the last symbol remembered.
//!
//! Market data repeats its symbol row after row (a file or a stream is usually one symbol,
//! or a few in runs), so the last name and its index are kept beside the table: a row of
//! the same symbol costs one comparison of a few bytes instead of a hash of the name.

use zerotick_core::RejectReason;
use zerotick_core::symbols::{SymbolNames, SymbolTable};

/// Longest name the last-symbol check keeps (longer names always go to the table).
const LAST_MAX: usize = 24;

/// A [`SymbolTable`] with the last interned name remembered.
#[derive(Debug)]
pub(crate) struct Symbols {
    table: SymbolTable,
    /// The last name interned, in `last[..last_len]`. Invariant: `last_len <= LAST_MAX`,
    /// and when `last_len > 0` the table holds that name at index `last_id`.
    last: [u8; LAST_MAX],
    last_len: usize,
    last_id: u32,
}

impl Symbols {
    /// A table of at most `max` symbols.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            table: SymbolTable::new(max),
            last: [0; LAST_MAX],
            last_len: 0,
            last_id: 0,
        }
    }

    /// The index of the symbol named by `name` (UTF-8 bytes), adding it if new.
    ///
    /// # Errors
    /// `BadUtf8` if `name` is not UTF-8, `TooManySymbols` once the table is full.
    #[inline]
    pub(crate) fn intern_bytes(&mut self, name: &[u8]) -> Result<u32, RejectReason> {
        if self.last_len != 0 && self.last.get(..self.last_len) == Some(name) {
            return Ok(self.last_id);
        }
        self.intern_slow(name)
    }

    #[cold]
    #[inline(never)]
    fn intern_slow(&mut self, name: &[u8]) -> Result<u32, RejectReason> {
        let text = std::str::from_utf8(name).map_err(|_| RejectReason::BadUtf8)?;
        let id = self.intern(text).ok_or(RejectReason::TooManySymbols)?;
        if !name.is_empty() && name.len() <= LAST_MAX {
            self.last[..name.len()].copy_from_slice(name);
            self.last_len = name.len();
            self.last_id = id;
        }
        Ok(id)
    }

    /// The index of `name`, adding it if new; `None` once the table is full.
    pub(crate) fn intern(&mut self, name: &str) -> Option<u32> {
        self.table.intern(name)
    }

    /// The names so far.
    pub(crate) fn names(&self) -> SymbolNames {
        self.table.names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_symbol_is_found_again_and_others_go_to_the_table() {
        let mut s = Symbols::new(2);
        assert_eq!(s.intern_bytes(b"BTCUSDT"), Ok(0));
        assert_eq!(s.intern_bytes(b"BTCUSDT"), Ok(0));
        assert_eq!(s.intern_bytes(b"ETHUSDT"), Ok(1));
        assert_eq!(s.intern_bytes(b"BTCUSDT"), Ok(0));
        assert_eq!(s.intern_bytes(b"BTCUSD"), Err(RejectReason::TooManySymbols));
        assert_eq!(s.intern_bytes(b"BTCUSDT"), Ok(0));
        assert_eq!(s.intern_bytes(b"\xff"), Err(RejectReason::BadUtf8));
        let long = [b'A'; 40];
        let mut t = Symbols::new(4);
        assert_eq!(t.intern_bytes(&long), Ok(0));
        assert_eq!(t.intern_bytes(&long), Ok(0));
        assert_eq!(t.intern_bytes(b""), Ok(1));
        assert_eq!(t.intern_bytes(b""), Ok(1));
        assert_eq!(t.names().len(), 2);
    }
}
