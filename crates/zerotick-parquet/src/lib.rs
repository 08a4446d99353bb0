#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod chunk;
mod writer;

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use zerotick_core::symbols::SymbolNames;
use zerotick_core::{FeatureRecord, Signal, Sink};
use zerotick_sync::spsc::{self, Consumer, Producer};
use zerotick_sync::wait::WaitStrategy;

use crate::chunk::Chunk;
use crate::writer::WriterStage;
pub use crate::writer::{SIGNAL_COLUMN, SYMBOL_COLUMN, TS_COLUMN};

/// Bytes of values a row group holds when [`ParquetOptions::row_group_rows`] is 0 (auto).
pub const AUTO_ROW_GROUP_BYTES: usize = 8 << 20;
/// Fewest rows of an automatic row group (wide rows: the built-in 1,024-column row).
pub const AUTO_MIN_ROWS: usize = 1024;
/// Most rows of an automatic row group (narrow rows: signals only).
pub const AUTO_MAX_ROWS: usize = 65_536;
/// Most rows per row group a caller may ask for.
pub const MAX_ROW_GROUP_ROWS: usize = 1 << 24;
/// Most row-group buffers a caller may ask for.
pub const MAX_BUFFERS: usize = 64;

/// Compression of every column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// None: the least work for the writer thread.
    Uncompressed,
    /// Snappy (pure Rust): fast, and what most Parquet tools write by default.
    #[default]
    Snappy,
}

/// How a [`ParquetSink`] sizes and writes its row groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetOptions {
    /// Rows per row group (1 ..= [`MAX_ROW_GROUP_ROWS`]); 0: about
    /// [`AUTO_ROW_GROUP_BYTES`] of values per group, between [`AUTO_MIN_ROWS`] and
    /// [`AUTO_MAX_ROWS`] rows. A [flush](Sink::flush) ends a row group early.
    pub row_group_rows: usize,
    /// Row-group buffers, allocated up front (2 ..= [`MAX_BUFFERS`]): one being filled, the
    /// others queued for or being written by the writer thread. When all are queued the
    /// emitting thread waits for the writer (backpressure; nothing is dropped). Memory is
    /// about `buffers x row group` bytes.
    pub buffers: usize,
    /// Compression of every column.
    pub codec: Codec,
}

impl Default for ParquetOptions {
    /// Automatic row groups, 4 buffers, Snappy.
    fn default() -> Self {
        Self {
            row_group_rows: 0,
            buffers: 4,
            codec: Codec::Snappy,
        }
    }
}

impl ParquetOptions {
    /// The rows per row group for `value_columns` f64 columns (see
    /// [`row_group_rows`](Self::row_group_rows)).
    pub fn rows_for(&self, value_columns: usize) -> usize {
        if self.row_group_rows > 0 {
            return self.row_group_rows;
        }
        // ts_ns and symbol count as a value each.
        let row_bytes = (value_columns + 2) * size_of::<f64>();
        (AUTO_ROW_GROUP_BYTES / row_bytes).clamp(AUTO_MIN_ROWS, AUTO_MAX_ROWS)
    }

    fn check(&self) -> io::Result<()> {
        if self.row_group_rows > MAX_ROW_GROUP_ROWS {
            return Err(invalid(format!(
                "Parquet row groups of {} rows: at most {MAX_ROW_GROUP_ROWS}",
                self.row_group_rows
            )));
        }
        if !(2..=MAX_BUFFERS).contains(&self.buffers) {
            return Err(invalid(format!(
                "Parquet row-group buffers must be between 2 and {MAX_BUFFERS}, got {}",
                self.buffers
            )));
        }
        Ok(())
    }
}

/// How the emitting thread waits for a written buffer (backpressure) or a flush: a short spin,
/// a few yields, then parked until the writer hands a buffer back.
const EMIT_WAIT: WaitStrategy = WaitStrategy::SpinYieldPark {
    spins: 128,
    yields: 16,
    park_timeout: Duration::from_millis(1),
};

/// How the writer thread waits for a full buffer: it is idle most of the time, so it parks
/// almost at once rather than take CPU from the pipeline; the emitting thread's hand-over
/// unparks it (a missed wake-up costs at most the timeout).
const WRITER_WAIT: WaitStrategy = WaitStrategy::SpinYieldPark {
    spins: 16,
    yields: 0,
    park_timeout: Duration::from_millis(10),
};

/// A [`Sink`] writing feature rows ([`Sink::emit_row`]) or signals ([`Sink::emit`]) to a
/// Parquet file: columns `ts_ns` (INT64, a UTC timestamp in ns), `symbol` (UTF-8 string,
/// dictionary-encoded: symbol names, never indices), one DOUBLE column per feature, and
/// `signal` (DOUBLE) when the sink takes signals.
///
/// The emitting thread copies each row into preallocated column buffers; a full buffer goes
/// through an [`spsc`] ring to a writer thread of the sink's own, which encodes it as one row
/// group and hands the buffer back through a second ring. So `emit`/`emit_row` never
/// allocate, lock or do I/O; they wait only when every buffer is queued for the writer
/// (backpressure, never loss). An error of the writer thread (a full disk, say) comes back
/// as the `io::Error` of the next `emit`, `emit_row`, `flush` or `finish`, and every call
/// after it fails too.
///
/// [`finish`](Sink::finish) (the pipeline calls it when a run ends, also at its deadline)
/// writes the last rows and the footer; dropping an unfinished sink does the same, ignoring
/// errors. [`flush`](Sink::flush) writes the rows so far as a row group and waits until the
/// writer has written them to `W` (the file is readable only once finished).
///
/// See the [crate docs](crate) for an example.
pub struct ParquetSink<W: Write + Send + 'static = File> {
    /// The buffer being filled; `None` once finished or failed.
    current: Option<Chunk>,
    /// Written buffers taken back from the writer, not yet needed. Capacity `buffers`.
    spare: Vec<Chunk>,
    /// Buffers in all. Invariant: `spare.len() + current.is_some() + (buffers queued for or
    /// held by the writer) == buffers` while the writer runs.
    buffers: usize,
    full: Producer<Chunk>,
    free: Consumer<Chunk>,
    writer: Option<JoinHandle<io::Result<W>>>,
    /// The writer, once finished.
    out: Option<W>,
    /// Feature columns.
    width: usize,
    /// Whether rows carry a signal column.
    signal: bool,
    rows_per_group: usize,
    /// Why the sink failed (kind and message, to repeat on every later call).
    failure: Option<(io::ErrorKind, String)>,
    /// For a sink made by [`create`](ParquetSink::create): the file to rename on finish.
    commit: Option<Commit>,
}

/// Where [`ParquetSink::create`] writes the file for `path` until it is complete: `PATH.partial`
/// beside it; `None` when `path` names no file (it ends in `/` or `..`, or is `/`).
///
/// ```
/// use std::path::Path;
/// let p = zerotick_parquet::partial_path(Path::new("out/rows.parquet"));
/// assert_eq!(p.as_deref(), Some(Path::new("out/rows.parquet.partial")));
/// assert_eq!(zerotick_parquet::partial_path(Path::new("out/")), None);
/// ```
pub fn partial_path(path: &Path) -> Option<PathBuf> {
    // `out/` names a directory, though `file_name` reads `out`.
    if path.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return None;
    }
    let mut partial = path.file_name()?.to_owned();
    partial.push(".partial");
    Some(path.with_file_name(partial))
}

/// A file written under a partial name and renamed to its own when complete, so the path
/// holds either what was there before or a complete file, never a half-written one.
#[derive(Debug)]
struct Commit {
    partial: PathBuf,
    path: PathBuf,
}

impl Commit {
    fn new(path: &Path) -> io::Result<Self> {
        if path.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!(
                    "cannot create the Parquet file {}: it is a directory",
                    path.display()
                ),
            ));
        }
        let Some(partial) = partial_path(path) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot create the Parquet file {}: the path names no file",
                    path.display()
                ),
            ));
        };
        Ok(Self {
            partial,
            path: path.to_owned(),
        })
    }

    /// Syncs the complete file to disk and renames it to its own name.
    fn publish(&self) -> io::Result<()> {
        File::open(&self.partial)?.sync_all()?;
        std::fs::rename(&self.partial, &self.path)?;
        // The rename itself, durable (best effort: not every file system syncs a directory).
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// `e`, saying where the unfinished file is and that the path was not touched.
    fn unfinished(&self, e: &io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!(
                "{e} (the unfinished file is left at {}; {} was not touched)",
                self.partial.display(),
                self.path.display()
            ),
        )
    }
}

impl ParquetSink<File> {
    /// Writes a Parquet file to `path` with `options`; see [`new`](Self::new) for the
    /// columns. The rows go to `PATH.partial` beside it (created or truncated), which
    /// [`finish`](Sink::finish) syncs to disk and renames to `path`: a reader of `path` sees
    /// the file that was there before (if any) or the complete new one, never a half-written
    /// one. When the writer fails (a full disk, say), `path` is left as it was and the
    /// unfinished file stays at `PATH.partial`; the error says so.
    ///
    /// # Errors
    /// The file cannot be created (the message names the path), or as [`new`](Self::new).
    pub fn create<S: AsRef<str>>(
        path: impl AsRef<Path>,
        names: SymbolNames,
        features: &[S],
        signal: bool,
        options: ParquetOptions,
    ) -> io::Result<Self> {
        let path = path.as_ref();
        options.check()?;
        check_columns(features, signal)?;
        let commit = Commit::new(path)?;
        let file = File::create(&commit.partial).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot create the Parquet file {}: {e}",
                    commit.partial.display()
                ),
            )
        })?;
        let mut sink = Self::new(file, names, features, signal, options).inspect_err(|_| {
            let _ = std::fs::remove_file(&commit.partial);
        })?;
        sink.commit = Some(commit);
        Ok(sink)
    }
}

impl<W: Write + Send + 'static> ParquetSink<W> {
    /// A sink writing to `out`: columns `ts_ns`, `symbol` (names through `names`, which the
    /// feed fills as it learns symbols), one per name in `features`, then `signal` if
    /// `signal`. For signals only ([`Sink::emit`]), `features` is empty and `signal` true;
    /// for [`Sink::emit_row`], each record must carry `features.len()` values, and a signal
    /// exactly when `signal`. Allocates the row-group buffers and starts the writer thread.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] for a column name that repeats or clashes with
    /// `ts_ns`, `symbol` or `signal`, or options out of range; `OutOfMemory` if the buffers
    /// cannot be allocated; the writer's error if the file header cannot be written; the
    /// thread cannot be started.
    pub fn new<S: AsRef<str>>(
        out: W,
        names: SymbolNames,
        features: &[S],
        signal: bool,
        options: ParquetOptions,
    ) -> io::Result<Self> {
        options.check()?;
        check_columns(features, signal)?;
        let features: Vec<String> = features.iter().map(|s| s.as_ref().to_owned()).collect();
        let width = features.len();
        let value_columns = width + usize::from(signal);
        let rows_per_group = options.rows_for(value_columns);
        let schema = writer::schema(&features, signal).map_err(writer::io_error)?;
        let codec = match options.codec {
            Codec::Uncompressed => parquet::basic::Compression::UNCOMPRESSED,
            Codec::Snappy => parquet::basic::Compression::SNAPPY,
        };
        let file = parquet::file::writer::SerializedFileWriter::new(
            out,
            std::sync::Arc::new(schema),
            std::sync::Arc::new(writer::properties(codec)),
        )
        .map_err(writer::io_error)?;
        let buffers = options.buffers;
        let (full_tx, full_rx) = spsc::channel(buffers).map_err(io::Error::other)?;
        let (free_tx, free_rx) = spsc::channel(buffers).map_err(io::Error::other)?;
        let mut spare = Vec::with_capacity(buffers);
        for _ in 0..buffers {
            spare.push(Chunk::try_new(rows_per_group, value_columns)?);
        }
        let current = spare.pop();
        let stage = WriterStage {
            file,
            full: full_rx,
            free: free_tx,
            value_columns,
            names,
            known: Vec::new(),
            name_values: Vec::new(),
            row_symbols: Vec::with_capacity(rows_per_group),
            wait: WRITER_WAIT,
        };
        let writer = std::thread::Builder::new()
            .name("zerotick-parquet".into())
            .spawn(move || stage.run())?;
        Ok(Self {
            current,
            spare,
            buffers,
            full: full_tx,
            free: free_rx,
            writer: Some(writer),
            out: None,
            width,
            signal,
            rows_per_group,
            failure: None,
            commit: None,
        })
    }

    /// Rows per row group (the last one, and one cut by a flush, may hold fewer).
    pub fn rows_per_group(&self) -> usize {
        self.rows_per_group
    }

    /// Finishes the file (as [`Sink::finish`]) and returns the writer.
    ///
    /// # Errors
    /// As [`Sink::finish`].
    pub fn into_inner(mut self) -> io::Result<W> {
        self.finish()?;
        self.out.take().ok_or_else(closed_error)
    }

    /// Takes one row into the current buffer; hands it over when full. The hot path.
    #[inline]
    fn push(
        &mut self,
        ts_ns: u64,
        symbol: u32,
        values: &[f64],
        signal: Option<f64>,
    ) -> io::Result<()> {
        if values.len() != self.width || signal.is_some() != self.signal {
            return Err(self.shape_error(values.len(), signal.is_some()));
        }
        let Ok(ts) = i64::try_from(ts_ns) else {
            return Err(ts_error(ts_ns));
        };
        // The writer thread ended on an error (its ring end dropped): report it now.
        if self.full.is_abandoned() {
            return Err(self.fail());
        }
        let Some(chunk) = self.current.as_mut() else {
            return Err(self.error_after_end());
        };
        chunk.push(ts, symbol, values, signal);
        if chunk.is_full() {
            self.hand_over(false)?;
        }
        Ok(())
    }

    /// Queues the current buffer for the writer (marked to be flushed if `flush`) and takes
    /// a written one, waiting for the writer if none is back yet.
    #[cold]
    #[inline(never)]
    fn hand_over(&mut self, flush: bool) -> io::Result<()> {
        let Some(mut chunk) = self.current.take() else {
            return Err(self.error_after_end());
        };
        chunk.flush = flush;
        // Never full: the ring has a slot for every buffer.
        if self.full.push_wait(chunk, EMIT_WAIT).is_err() {
            return Err(self.fail());
        }
        let next = match self.spare.pop() {
            Some(c) => c,
            None => match self.free.pop_wait(EMIT_WAIT) {
                Ok(c) => c,
                Err(_) => return Err(self.fail()),
            },
        };
        self.current = Some(next);
        Ok(())
    }

    /// Whether every buffer is back from the writer (nothing queued or being written).
    fn all_home(&self) -> bool {
        self.spare.len() + usize::from(self.current.is_some()) == self.buffers
    }

    /// The writer thread stopped early: close the rings, join it, remember and return its
    /// error.
    #[cold]
    #[inline(never)]
    fn fail(&mut self) -> io::Error {
        if self.failure.is_some() || self.writer.is_none() {
            return self.error_after_end();
        }
        self.current = None;
        self.full.close();
        let e = match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Ok(Ok(_))) | None => io::Error::other("the Parquet writer thread stopped early"),
            Some(Err(panic)) => io::Error::other(format!(
                "the Parquet writer thread panicked: {}",
                panic_message(&*panic)
            )),
        };
        let commit = self.commit.take();
        self.remember(e, commit.as_ref())
    }

    /// Records `e` as the failure every later call repeats, saying where the unfinished
    /// file of `commit` is.
    #[cold]
    fn remember(&mut self, e: io::Error, commit: Option<&Commit>) -> io::Error {
        let e = match commit {
            Some(c) => c.unfinished(&e),
            None => e,
        };
        self.failure = Some((e.kind(), e.to_string()));
        e
    }

    /// The error of a call after the sink failed or finished.
    #[cold]
    #[inline(never)]
    fn error_after_end(&self) -> io::Error {
        match &self.failure {
            Some((kind, message)) => {
                io::Error::new(*kind, format!("the Parquet sink failed earlier: {message}"))
            }
            None => closed_error(),
        }
    }

    #[cold]
    #[inline(never)]
    fn shape_error(&self, values: usize, signal: bool) -> io::Error {
        invalid(format!(
            "a row of {values} values {} a signal for a Parquet sink of {} feature columns {} \
             a signal column",
            if signal { "with" } else { "without" },
            self.width,
            if self.signal { "and" } else { "without" },
        ))
    }
}

impl<W: Write + Send + 'static> Sink for ParquetSink<W> {
    /// Takes a signal: a row of `ts_ns`, `symbol`, `signal` (for a sink made with no feature
    /// columns and a signal column).
    #[inline]
    fn emit(&mut self, s: &Signal) -> io::Result<()> {
        self.push(s.ts_ns, s.symbol, &[], Some(s.value))
    }

    #[inline]
    fn emit_row(&mut self, r: &FeatureRecord<'_>) -> io::Result<()> {
        self.push(r.ts_ns, r.symbol, r.values, r.signal)
    }

    /// Ends the current row group early and waits until the writer has written every row so
    /// far to `W` (flushed). The file is readable (has its footer) only after
    /// [`finish`](Sink::finish).
    fn flush(&mut self) -> io::Result<()> {
        if self.current.is_none() {
            return Err(self.error_after_end());
        }
        if self.all_home() && self.current.as_ref().is_some_and(|c| c.is_empty()) {
            return Ok(());
        }
        // An empty buffer marked `flush` still makes the writer flush `W`.
        self.hand_over(true)?;
        while !self.all_home() {
            match self.free.pop_wait(EMIT_WAIT) {
                Ok(c) => self.spare.push(c),
                Err(_) => return Err(self.fail()),
            }
        }
        Ok(())
    }

    /// Queues the last rows, closes the ring, and waits for the writer thread to write them
    /// and the footer. Later calls return `Ok` (finished) or the error that ended the sink;
    /// later rows are refused.
    fn finish(&mut self) -> io::Result<()> {
        let Some(writer) = self.writer.take() else {
            return match self.failure {
                Some(_) => Err(self.error_after_end()),
                None => Ok(()),
            };
        };
        if let Some(chunk) = self.current.take()
            && !chunk.is_empty()
        {
            // On `Err` the writer is gone; its join below says why.
            let _ = self.full.push_wait(chunk, EMIT_WAIT);
        }
        self.full.close();
        let result = match writer.join() {
            Ok(r) => r,
            Err(panic) => Err(io::Error::other(format!(
                "the Parquet writer thread panicked: {}",
                panic_message(&*panic)
            ))),
        };
        let commit = self.commit.take();
        let result = result.and_then(|out| {
            self.out = Some(out);
            commit.as_ref().map_or(Ok(()), Commit::publish)
        });
        result.map_err(|e| self.remember(e, commit.as_ref()))
    }
}

impl<W: Write + Send + 'static> Drop for ParquetSink<W> {
    /// Finishes the file if [`finish`](Sink::finish) was not called (errors are lost: call
    /// `finish` to see them).
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

impl<W: Write + Send + 'static> fmt::Debug for ParquetSink<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParquetSink")
            .field("features", &self.width)
            .field("signal", &self.signal)
            .field("rows_per_group", &self.rows_per_group)
            .field("buffers", &self.buffers)
            .field("finished", &self.writer.is_none())
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

/// Column names must be distinct and not those of the fixed columns.
fn check_columns<S: AsRef<str>>(features: &[S], signal: bool) -> io::Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(features.len() + 3);
    let fixed = [TS_COLUMN, SYMBOL_COLUMN];
    let signal = signal.then_some(SIGNAL_COLUMN);
    for name in fixed
        .into_iter()
        .chain(features.iter().map(AsRef::as_ref))
        .chain(signal)
    {
        if name.is_empty() {
            return Err(invalid("a Parquet column name is empty".to_owned()));
        }
        if !seen.insert(name) {
            return Err(invalid(format!(
                "the Parquet column name {name:?} appears twice (feature columns must differ \
                 from each other and from ts_ns, symbol and signal)"
            )));
        }
    }
    Ok(())
}

#[cold]
fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cold]
#[inline(never)]
fn ts_error(ts_ns: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "ts_ns {ts_ns} is past the Parquet timestamp range (signed 64-bit ns, the year 2262)"
        ),
    )
}

#[cold]
fn closed_error() -> io::Error {
    io::Error::other("the Parquet sink is finished: it takes no more rows")
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
