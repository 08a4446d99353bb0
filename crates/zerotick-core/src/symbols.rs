//! The symbol table: names to dense indices ([`Tick::symbol`](crate::Tick::symbol)) and
//! back, bounded, and shared incrementally between the thread that learns names (a feed) and
//! the threads that write them (sinks).
//!
//! * [`SymbolTable`] is the writer: one per feed, it interns names (`intern` allocates only
//!   for a name it has not seen, and refuses past its bound).
//! * [`SymbolNames`] is a cheap clonable reader handle. New names are appended under a lock,
//!   which only the cold path of a reader takes: a reader keeps a local table
//!   ([`SymbolNames::refresh`]) and looks at the shared one only for an index it does not
//!   know yet, so steady state takes no lock; a local table created with spare capacity
//!   learns a new name without allocating.
//!
//! ```
//! use zerotick_core::symbols::SymbolTable;
//!
//! let mut table = SymbolTable::new(2);
//! let names = table.names(); // handed to a sink before the feed has read anything
//! assert_eq!(table.intern("BTCUSDT"), Some(0));
//! assert_eq!(table.intern("ETHUSDT"), Some(1));
//! assert_eq!(table.intern("BTCUSDT"), Some(0));
//! assert_eq!(table.intern("SOLUSDT"), None, "bounded");
//! let mut local = Vec::with_capacity(16);
//! names.refresh(&mut local);
//! assert_eq!(&*local[1], "ETHUSDT");
//! assert_eq!(names.get(0).as_deref(), Some("BTCUSDT"));
//! ```

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The most symbols a table accepts unless configured otherwise (`u16` range: indices fit
/// every wire format of the workspace).
pub const MAX_SYMBOLS: usize = 1 << 16;

/// Names by index, shared between a feed that learns them and readers that write them.
/// Clones share one table.
#[derive(Debug, Clone, Default)]
pub struct SymbolNames(Arc<RwLock<Vec<Arc<str>>>>);

impl SymbolNames {
    /// A table holding `names` (indices `0..names.len()`), e.g. a synthetic market's.
    pub fn from_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        Self(Arc::new(RwLock::new(
            names.into_iter().map(|n| Arc::from(n.as_ref())).collect(),
        )))
    }

    /// Names known so far.
    pub fn len(&self) -> usize {
        self.read(|v| v.len())
    }

    /// Whether no name is known yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of symbol `index`, if known (a clone of the shared `Arc`, no copy of the text).
    pub fn get(&self, index: u32) -> Option<Arc<str>> {
        self.read(|v| v.get(index as usize).cloned())
    }

    /// A copy of every name known so far.
    pub fn snapshot(&self) -> Vec<String> {
        self.read(|v| v.iter().map(|n| n.to_string()).collect())
    }

    /// Appends names `local.len()..` to `local` (a reader's cold path). Allocates only if
    /// `local` has no room left.
    pub fn refresh(&self, local: &mut Vec<Arc<str>>) {
        self.read(|v| {
            if let Some(new) = v.get(local.len()..) {
                local.extend(new.iter().cloned());
            }
        });
    }

    fn read<T>(&self, f: impl FnOnce(&Vec<Arc<str>>) -> T) -> T {
        // A writer that panicked mid-push leaves a valid Vec (push is all-or-nothing).
        let guard = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard)
    }

    fn push(&self, name: Arc<str>) {
        let mut guard = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.push(name);
    }
}

/// Which of a feed's partitions (for example the stream shards a Redis consumer reads) each
/// symbol comes from, shared between the feed that learns it and the pipeline that routes by
/// it: a pipeline that keeps each compute shard's symbols within one partition computes every
/// shard's rows in that partition's order, whatever the interleaving of partitions (which
/// depends on timing). Each symbol belongs to one partition (the publisher shards by name).
/// Clones share one table; lookups take a lock, so readers cache what they learn.
///
/// ```
/// use zerotick_core::symbols::SymbolPartitions;
///
/// let parts = SymbolPartitions::new(2);
/// parts.set(3, 1);
/// assert_eq!(parts.get(3), Some(1));
/// assert_eq!(parts.get(0), None);
/// assert_eq!(parts.count(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct SymbolPartitions {
    count: usize,
    map: Arc<RwLock<Vec<u32>>>,
}

impl SymbolPartitions {
    /// No symbol of `count` partitions known yet.
    pub fn new(count: usize) -> Self {
        Self {
            count,
            map: Arc::default(),
        }
    }

    /// The number of partitions.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The partition of `symbol`, if the feed has said.
    pub fn get(&self, symbol: u32) -> Option<u32> {
        let guard = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard
            .get(symbol as usize)
            .copied()
            .filter(|&p| p != u32::MAX)
    }

    /// Records that `symbol` comes from `partition` (a feed's cold path: once per symbol).
    pub fn set(&self, symbol: u32, partition: u32) {
        let mut guard = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let i = symbol as usize;
        if guard.len() <= i {
            guard.resize(i + 1, u32::MAX);
        }
        guard[i] = partition;
    }
}

/// Name -> index interning with a bound, publishing new names to its [`SymbolNames`].
#[derive(Debug)]
pub struct SymbolTable {
    ids: HashMap<Arc<str>, u32>,
    names: SymbolNames,
    max: usize,
}

impl Default for SymbolTable {
    fn default() -> Self {
        Self::new(MAX_SYMBOLS)
    }
}

impl SymbolTable {
    /// An empty table that accepts at most `max` symbols (capped at [`MAX_SYMBOLS`]).
    pub fn new(max: usize) -> Self {
        Self {
            ids: HashMap::new(),
            names: SymbolNames::default(),
            max: max.min(MAX_SYMBOLS),
        }
    }

    /// The shared reader handle: names interned later show up in it.
    pub fn names(&self) -> SymbolNames {
        self.names.clone()
    }

    /// Distinct symbols interned.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no symbol was interned.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The most symbols this table accepts.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The index of `name` if it was interned.
    #[inline]
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The index of `name`, adding it if new; `None` once the table holds `max` symbols.
    #[inline]
    pub fn intern(&mut self, name: &str) -> Option<u32> {
        match self.ids.get(name) {
            Some(&id) => Some(id),
            None => self.intern_new(name),
        }
    }

    #[cold]
    #[inline(never)]
    fn intern_new(&mut self, name: &str) -> Option<u32> {
        if self.ids.len() >= self.max {
            return None;
        }
        let id = u32::try_from(self.ids.len()).ok()?;
        let name: Arc<str> = Arc::from(name);
        self.ids.insert(Arc::clone(&name), id);
        self.names.push(name);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_names_learned_after_they_were_handed_out() {
        let mut t = SymbolTable::new(10);
        let names = t.names();
        let mut local = Vec::with_capacity(4);
        names.refresh(&mut local);
        assert!(local.is_empty());
        t.intern("A");
        t.intern("B");
        names.refresh(&mut local);
        assert_eq!(local.len(), 2);
        t.intern("C");
        names.refresh(&mut local);
        assert_eq!(
            local.iter().map(|n| &**n).collect::<Vec<_>>(),
            ["A", "B", "C"]
        );
        assert_eq!(names.snapshot(), ["A", "B", "C"]);
        assert_eq!(names.get(3), None);
    }

    #[test]
    fn the_bound_holds_and_is_capped() {
        let t = SymbolTable::new(usize::MAX);
        assert_eq!(t.max(), MAX_SYMBOLS);
        let mut t = SymbolTable::new(0);
        assert_eq!(t.intern("A"), None);
        assert!(t.is_empty());
    }

    #[test]
    fn from_names_indexes_in_order() {
        let n = SymbolNames::from_names(["X", "Y"]);
        assert_eq!(n.get(1).as_deref(), Some("Y"));
        assert_eq!(n.len(), 2);
    }
}
