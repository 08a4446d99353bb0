//! [`MergedFeed`]: several files replayed as one feed, merged by event time.
//!
//! A k-way merge on `(ts_ns, file index)` over every kind of market event (trades, quotes,
//! book deltas, snapshot levels): the earliest event among the files' next events goes
//! first, ties in the order the files were given, so each file's own order (and so each
//! symbol's order within a file, and a snapshot's levels in a row) is kept. Rejected rows are
//! handed on as they are met. A snapshot's levels share one time: only an event of the same
//! time from a file given earlier can come between two of them.
//!
//! The sequence gaps of the merge are the sum of its files' ([`Feed::sequence_gaps`]).
//!
//! One symbol table serves every file: a name means the same index whichever file it comes
//! from (each file's own indices are mapped onto it as the file meets new names).
//!
//! **Time going backwards.** An event earlier than the last one handed on for its symbol
//! (which a merge of sorted files never produces, so it comes from a file out of order, or
//! from an exchange that stamps trades and book updates with different clocks) is handed on
//! at that last time and counted ([`TimeClamp`], [`Feed::time_clamped`]); nothing is dropped
//! (a book update dropped would corrupt the book), strict or not. Downstream, a symbol's
//! event time never goes backwards.
//!
//! Promise: after the files are open, an event allocates only when its file meets a name
//! it has not met before; the merge itself is a preallocated binary heap of one entry per
//! file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zerotick_core::symbols::{SymbolNames, SymbolTable};
use zerotick_core::{Feed, FeedError, FeedEvent, RejectReason, TimeClamp};

use crate::csv::{CsvLayout, MAX_SYMBOLS};
use crate::decode::Compression;
use crate::file::{FileFeed, InputFormat};

/// The paths to read for `args`, in the order given: a file as it is; a directory as every
/// regular file in it (not recursing), sorted by name; a glob pattern (a path whose file
/// name holds `*` or `?` and that does not exist as written) as every regular file of its
/// directory whose name matches, sorted by name. `*` matches any run of characters
/// (including none), `?` one character; the directory part is taken literally.
///
/// # Errors
/// A path cannot be read, or a directory holds no regular file, or a pattern matches none.
pub fn expand_paths<P: AsRef<Path>>(args: &[P]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for arg in args {
        let arg = arg.as_ref();
        let named =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", arg.display()));
        let pattern = arg
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.contains(['*', '?']) && !arg.exists());
        if let Some(pattern) = pattern {
            let dir = match arg.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let files = regular_files(dir, |name| glob_match(pattern, name)).map_err(named)?;
            if files.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{}: no regular file matches the pattern", arg.display()),
                ));
            }
            out.extend(files);
            continue;
        }
        if !std::fs::metadata(arg).map_err(named)?.is_dir() {
            out.push(arg.to_path_buf());
            continue;
        }
        let files = regular_files(arg, |_| true).map_err(named)?;
        if files.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no regular file in the directory", arg.display()),
            ));
        }
        out.extend(files);
    }
    Ok(out)
}

/// The regular files of `dir` (links followed) whose UTF-8 name `keep` accepts, sorted.
fn regular_files(dir: &Path, keep: impl Fn(&str) -> bool) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(&keep) {
            continue;
        }
        let path = entry.path();
        // `metadata` follows links: a link to a regular file is a file.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `name` matches `pattern`: `*` any run of characters, `?` one character, any
/// other character itself.
///
/// ```
/// use zerotick_feeds::merge::glob_match;
/// assert!(glob_match("BTC*-2024-0?.csv.gz", "BTCUSDT-2024-01.csv.gz"));
/// assert!(glob_match("*", ""));
/// assert!(!glob_match("*.csv", "a.csv.gz"));
/// ```
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut i, mut j) = (0, 0);
    // After the last `*`: its index in `p`, and where in `n` its match now ends.
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            // Let the last `*` take one more character and try again.
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// A file's symbol index not mapped yet.
const UNMAPPED: u32 = u32::MAX;

/// One file of the merge.
#[derive(Debug)]
struct Source {
    feed: FileFeed,
    /// The file's own names, by its own index.
    names: SymbolNames,
    /// The file's index -> the merged index ([`UNMAPPED`] for one no event carried yet).
    /// Grows when the file meets a new name.
    to_merged: Vec<u32>,
    /// The file's next market event (symbol already mapped), while its entry is in the heap.
    head: FeedEvent,
}

/// Several [`FileFeed`]s merged by event time (see the module docs).
#[derive(Debug)]
pub struct MergedFeed {
    sources: Vec<Source>,
    /// `(ts_ns, source)` of every source whose `head` waits. Capacity: the source count.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    /// Sources whose next event is still to be read. Capacity: the source count.
    refill: Vec<usize>,
    /// Per merged symbol: the last time handed on, and how many events were raised to it.
    clamp: TimeClamp,
    symbols: SymbolTable,
    strict: bool,
}

impl MergedFeed {
    /// Opens every path (see [`expand_paths`] to take directories) with `layout` and
    /// `strict`.
    ///
    /// # Errors
    /// A file cannot be opened ([`FileFeed::open`]).
    pub fn open<P: AsRef<Path>>(
        paths: &[P],
        layout: CsvLayout,
        strict: bool,
    ) -> Result<Self, FeedError> {
        Self::open_as(paths, InputFormat::Auto, layout, strict)
    }

    /// Opens every path as `format` (`Auto`: each file's told by its content; files of
    /// different formats merge).
    ///
    /// # Errors
    /// A file cannot be opened ([`FileFeed::open_as`]).
    pub fn open_as<P: AsRef<Path>>(
        paths: &[P],
        format: InputFormat,
        layout: CsvLayout,
        strict: bool,
    ) -> Result<Self, FeedError> {
        let feeds = paths
            .iter()
            .map(|p| FileFeed::open_as(p.as_ref(), format, layout, strict))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(feeds, strict))
    }

    /// The format of each file, in order.
    pub fn formats(&self) -> impl Iterator<Item = InputFormat> + '_ {
        self.sources.iter().map(|s| s.feed.format())
    }

    /// Merges `feeds`, in this order for ties. `strict` should be what the feeds were opened
    /// with: it decides whether a symbol past the bound ends the feed.
    pub fn new(feeds: Vec<FileFeed>, strict: bool) -> Self {
        let n = feeds.len();
        let sources = feeds
            .into_iter()
            .map(|feed| Source {
                names: feed.names(),
                feed: feed.without_time_clamp(),
                to_merged: Vec::new(),
                head: FeedEvent::End,
            })
            .collect();
        Self {
            sources,
            heap: BinaryHeap::with_capacity(n),
            // Filled from the back: source 0 is read first.
            refill: (0..n).rev().collect(),
            clamp: TimeClamp::default(),
            symbols: SymbolTable::new(MAX_SYMBOLS),
            strict,
        }
    }

    /// The compression of each file, in order.
    pub fn compressions(&self) -> impl Iterator<Item = Compression> + '_ {
        self.sources.iter().map(|s| s.feed.compression())
    }

    /// The merged index of source `i`'s own index `local`, met for the first time; `None`
    /// past the symbol bound. Only names an event carries are interned (a file's own table also
    /// holds its file-name symbol, unused by a generic CSV).
    #[cold]
    #[inline(never)]
    fn map_new_symbol(&mut self, i: usize, local: u32) -> Option<u32> {
        let source = &mut self.sources[i];
        let name = source
            .names
            .get(local)
            .unwrap_or_else(|| Arc::from("UNKNOWN"));
        let merged = self.symbols.intern(&name)?;
        let k = local as usize;
        if source.to_merged.len() <= k {
            source.to_merged.resize(k + 1, UNMAPPED);
        }
        source.to_merged[k] = merged;
        Some(merged)
    }

    /// Reads on in source `i` until its next market event is in the heap or it ends; a rejection met
    /// on the way is returned (the source stays to be refilled).
    fn refill(&mut self, i: usize) -> Result<Option<RejectReason>, FeedError> {
        loop {
            let event = self.sources[i]
                .feed
                .next_event()
                .map_err(|e| self.in_source(i, e))?;
            let (Some(local), Some(ts_ns)) = (event.symbol(), event.ts_ns()) else {
                match event {
                    FeedEvent::Rejected(reason) => return Ok(Some(reason)),
                    FeedEvent::End => return Ok(None),
                    // Files never wait; a source that did would only be asked again.
                    _ => continue,
                }
            };
            // A market event: its symbol mapped onto the merged table.
            let merged = match self.sources[i].to_merged.get(local as usize) {
                Some(&m) if m != UNMAPPED => m,
                _ => match self.map_new_symbol(i, local) {
                    Some(m) => m,
                    None => return self.reject(i, RejectReason::TooManySymbols),
                },
            };
            let mut event = event;
            event.set_symbol(merged);
            self.sources[i].head = event;
            self.heap.push(Reverse((ts_ns, i)));
            return Ok(None);
        }
    }

    /// `error` of source `i`, naming its file unless the message already does.
    #[cold]
    #[inline(never)]
    fn in_source(&self, i: usize, error: FeedError) -> FeedError {
        match error {
            FeedError::BadRow { .. } => FeedError::InSource {
                source: self.sources[i].feed.label().to_owned(),
                error: Box::new(error),
            },
            other => other,
        }
    }

    /// The merge's own rejection of source `i`'s last row: counted, or fatal under strict.
    #[cold]
    #[inline(never)]
    fn reject(&self, i: usize, reason: RejectReason) -> Result<Option<RejectReason>, FeedError> {
        if self.strict {
            let line = self.sources[i].feed.line();
            Err(self.in_source(i, FeedError::BadRow { line, reason }))
        } else {
            Ok(Some(reason))
        }
    }
}

impl Feed for MergedFeed {
    /// A file is replayed as fast as the pipeline takes it (see [`Feed::live`]).
    fn live(&self) -> bool {
        false
    }

    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        while let Some(&i) = self.refill.last() {
            if let Some(reason) = self.refill(i)? {
                return Ok(FeedEvent::Rejected(reason));
            }
            self.refill.pop();
        }
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(FeedEvent::End);
        };
        self.refill.push(i);
        let mut event = self.sources[i].head;
        self.clamp.apply(&mut event);
        Ok(event)
    }

    fn sequence_gaps(&self) -> u64 {
        self.sources.iter().map(|s| s.feed.sequence_gaps()).sum()
    }

    fn time_clamped(&self) -> u64 {
        self.clamp.clamped()
    }

    fn names(&self) -> SymbolNames {
        self.symbols.names()
    }
}
