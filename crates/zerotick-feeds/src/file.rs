//! [`FileFeed`]: one file of market data, plain or compressed (gzip, zstd, zip; told by the
//! file's magic bytes, [`decode`](crate::decode)), in any of the formats read here, told by
//! its content ([`InputFormat::detect`]) unless forced.

use std::path::Path;

use zerotick_core::symbols::SymbolNames;
use zerotick_core::{Feed, FeedError, FeedEvent, TimeClamp};

use crate::binance::BinanceJsonFeed;
use crate::csv::{CsvFeed, CsvLayout, symbol_from_name, symbol_from_path};
use crate::decode::{Compression, FileReader};
use crate::tardis::{TardisFeed, TardisKind};

/// The text format of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// Tell it from the content, else the extension ([`InputFormat::detect`]).
    #[default]
    Auto,
    /// Trade CSV ([`CsvFeed`]: exchange aggTrades/trades dumps or the generic layout).
    Csv,
    /// Binance websocket messages as JSON lines ([`BinanceJsonFeed`]).
    BinanceJson,
    /// Tardis CSV datasets ([`TardisFeed`]).
    Tardis,
}

/// How every Tardis header starts.
const TARDIS_PREFIX: &[u8] = b"exchange,symbol,timestamp,local_timestamp";

impl InputFormat {
    /// Lower-case name for reports and the CLI: `auto`, `csv`, `binance-json`, `tardis`.
    pub const fn name(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto",
            InputFormat::Csv => "csv",
            InputFormat::BinanceJson => "binance-json",
            InputFormat::Tardis => "tardis",
        }
    }

    /// The format of a file whose decoded content starts with `head`, named `path`; never
    /// `Auto`. The first line (after a UTF-8 byte order mark and blank lines) decides:
    /// * `{`, or digits, blanks and `{` (a receive-time prefix): `BinanceJson`;
    /// * `exchange,symbol,timestamp,local_timestamp...` (a Tardis header): `Tardis`;
    /// * anything else that is not empty: `Csv`.
    ///
    /// With no content to go by, the extension (before any `.gz`/`.zst`/`.zip`) decides:
    /// `.jsonl`, `.ndjson` or `.json` is `BinanceJson`, anything else `Csv`.
    ///
    /// ```
    /// use std::path::Path;
    /// use zerotick_feeds::InputFormat;
    /// let p = Path::new("x.csv.gz");
    /// assert_eq!(InputFormat::detect(b"123 {\"e\":\"trade\"}", p), InputFormat::BinanceJson);
    /// assert_eq!(InputFormat::detect(b"exchange,symbol,timestamp,local_timestamp,id", p), InputFormat::Tardis);
    /// assert_eq!(InputFormat::detect(b"1,42000.5,0.1,1,1,1700000000000,true", p), InputFormat::Csv);
    /// assert_eq!(InputFormat::detect(b"", Path::new("BTCUSDT.jsonl.gz")), InputFormat::BinanceJson);
    /// ```
    pub fn detect(head: &[u8], path: &Path) -> InputFormat {
        let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        let start = head
            .iter()
            .position(|c| !c.is_ascii_whitespace())
            .unwrap_or(head.len());
        let text = &head[start..];
        if text.is_empty() {
            return Self::from_extension(path);
        }
        let digits = text.iter().take_while(|c| c.is_ascii_digit()).count();
        let after = &text[digits..];
        let blanks = after
            .iter()
            .take_while(|c| **c == b' ' || **c == b'\t')
            .count();
        if text[0] == b'{' || (digits > 0 && blanks > 0 && after.get(blanks) == Some(&b'{')) {
            return InputFormat::BinanceJson;
        }
        let first_line = text
            .split(|&c| c == b'\n' || c == b'\r')
            .next()
            .unwrap_or(text);
        if first_line.starts_with(TARDIS_PREFIX) {
            return InputFormat::Tardis;
        }
        InputFormat::Csv
    }

    fn from_extension(path: &Path) -> InputFormat {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let name = [".gz", ".zst", ".zip"]
            .iter()
            .find_map(|ext| name.strip_suffix(ext))
            .unwrap_or(&name);
        if [".jsonl", ".ndjson", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            InputFormat::BinanceJson
        } else {
            InputFormat::Csv
        }
    }
}

/// The reader of each format.
#[derive(Debug)]
enum Reader {
    Csv(CsvFeed<FileReader>),
    Json(BinanceJsonFeed<FileReader>),
    Tardis(TardisFeed<FileReader>),
}

/// Market events read from a file, decompressed on the fly when it is compressed. Everything
/// the format's reader promises holds (it is one inside: [`CsvFeed`], [`BinanceJsonFeed`]
/// or [`TardisFeed`]); a zip's members are read in turn, each as a file of its own (its own
/// header, line numbers from 1), one symbol table across them.
///
/// A symbol's event time never goes backwards: an event earlier than the last of its symbol
/// is handed on at that last time and counted ([`TimeClamp`], [`Feed::time_clamped`]).
///
/// Errors name the file: I/O and decoding errors in their message, and in a zip a strict
/// mode's bad row as [`FeedError::InSource`] with `archive.zip:member.csv`. A plain or
/// gzip/zstd file's strict error is [`FeedError::BadRow`], as the reader gives it.
#[derive(Debug)]
pub struct FileFeed {
    reader: Reader,
    /// `None` inside a [`MergedFeed`](crate::MergedFeed), which clamps on its own symbols.
    clamp: Option<TimeClamp>,
}

impl FileFeed {
    /// Opens `path`, its format told by its content ([`InputFormat::detect`]); a trade CSV
    /// is read with `layout`, and exchange dumps take their symbol from the file name
    /// ([`symbol_from_path`]); in a zip, each member from its own name (the archive's when
    /// the member's gives none).
    ///
    /// # Errors
    /// The file cannot be opened or read, or it is a zip whose directory is corrupt or holds
    /// no file, or a Tardis file's header is not one; the error names the file.
    pub fn open(path: &Path, layout: CsvLayout, strict: bool) -> Result<Self, FeedError> {
        Self::open_as(path, InputFormat::Auto, layout, strict)
    }

    /// Opens `path` as `format` (`Auto`: told by its content).
    ///
    /// # Errors
    /// As [`FileFeed::open`].
    pub fn open_as(
        path: &Path,
        format: InputFormat,
        layout: CsvLayout,
        strict: bool,
    ) -> Result<Self, FeedError> {
        let mut file = FileReader::open(path)?;
        let format = match format {
            InputFormat::Auto => {
                // Errors of the decoded stream name the file already.
                let head = std::io::BufRead::fill_buf(&mut file)?;
                InputFormat::detect(head, path)
            }
            forced => forced,
        };
        let reader = match format {
            InputFormat::BinanceJson => Reader::Json(BinanceJsonFeed::new(file, strict)),
            InputFormat::Tardis => {
                let label = file.label().to_owned();
                Reader::Tardis(TardisFeed::new(file, strict).map_err(|e| in_file(&label, e))?)
            }
            InputFormat::Auto | InputFormat::Csv => {
                let symbol = member_symbol(&file).unwrap_or_else(|| symbol_from_path(path).into());
                Reader::Csv(CsvFeed::new(file, layout, strict, &symbol))
            }
        };
        Ok(Self {
            reader,
            clamp: Some(TimeClamp::default()),
        })
    }

    /// Hands event times on as the file has them (a merge clamps them on its own symbols).
    pub(crate) fn without_time_clamp(mut self) -> Self {
        self.clamp = None;
        self
    }

    /// The format being read.
    pub fn format(&self) -> InputFormat {
        match self.reader {
            Reader::Csv(_) => InputFormat::Csv,
            Reader::Json(_) => InputFormat::BinanceJson,
            Reader::Tardis(_) => InputFormat::Tardis,
        }
    }

    /// The data type of a Tardis file (`None` for the other formats).
    pub fn tardis_kind(&self) -> Option<TardisKind> {
        match &self.reader {
            Reader::Tardis(t) => Some(t.kind()),
            _ => None,
        }
    }

    fn file(&self) -> &FileReader {
        match &self.reader {
            Reader::Csv(f) => f.reader(),
            Reader::Json(f) => f.reader(),
            Reader::Tardis(f) => f.reader(),
        }
    }

    fn file_mut(&mut self) -> &mut FileReader {
        match &mut self.reader {
            Reader::Csv(f) => f.reader_mut(),
            Reader::Json(f) => f.reader_mut(),
            Reader::Tardis(f) => f.reader_mut(),
        }
    }

    /// How the file is compressed.
    pub fn compression(&self) -> Compression {
        self.file().compression()
    }

    /// The CSV layout in use (under `Auto`, decided at the first event of each file or
    /// member); `Auto` for the formats that are not trade CSV.
    pub fn layout(&self) -> CsvLayout {
        match &self.reader {
            Reader::Csv(f) => f.layout(),
            _ => CsvLayout::Auto,
        }
    }

    /// The 1-based line number, in its file or zip member, of the row of the last event.
    pub fn line(&self) -> u64 {
        match &self.reader {
            Reader::Csv(f) => f.line(),
            Reader::Json(f) => f.line(),
            Reader::Tardis(f) => f.line(),
        }
    }

    /// The file (and zip member) being read, as errors name it.
    pub fn label(&self) -> &str {
        self.file().label()
    }

    #[cold]
    #[inline(never)]
    fn in_member(&self, error: FeedError) -> FeedError {
        in_file(self.label(), error)
    }

    /// Moves on to the next zip member: `false` when there is none.
    fn next_member(&mut self) -> Result<bool, FeedError> {
        if !self.file_mut().next_member()? {
            return Ok(false);
        }
        match &mut self.reader {
            Reader::Csv(f) => {
                let symbol = member_symbol(f.reader());
                f.restart_as(symbol.as_deref());
            }
            Reader::Json(f) => f.restart(),
            Reader::Tardis(f) => f.restart().map_err(|e| in_file(f.reader().label(), e))?,
        }
        Ok(true)
    }
}

/// The symbol of the zip member being read, from its name ([`symbol_from_path`]), so that a
/// zip of several exchange dumps (`BTCUSDT-trades-2024-01.csv`, `ETHUSDT-trades-2024-01.csv`)
/// names each dump's ticks after its own file, not all after the archive. `None` for other
/// formats; the archive's symbol for a member whose name gives none.
fn member_symbol(file: &FileReader) -> Option<String> {
    let member = symbol_from_name(Path::new(file.member()?));
    Some(
        member
            .unwrap_or_else(|| symbol_from_path(Path::new(file.path())))
            .to_owned(),
    )
}

/// `error`, naming `label`.
#[cold]
fn in_file(label: &str, error: FeedError) -> FeedError {
    FeedError::InSource {
        source: label.to_owned(),
        error: Box::new(error),
    }
}

impl Feed for FileFeed {
    /// A file is replayed as fast as the pipeline takes it (see [`Feed::live`]).
    fn live(&self) -> bool {
        false
    }

    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        loop {
            let next = match &mut self.reader {
                Reader::Csv(f) => f.next_event(),
                Reader::Json(f) => f.next_event(),
                Reader::Tardis(f) => f.next_event(),
            };
            match next {
                Ok(FeedEvent::End) => {
                    if !self.next_member()? {
                        return Ok(FeedEvent::End);
                    }
                }
                Err(e @ FeedError::BadRow { .. }) if self.compression() == Compression::Zip => {
                    return Err(self.in_member(e));
                }
                Ok(mut event) => {
                    if let Some(clamp) = &mut self.clamp {
                        clamp.apply(&mut event);
                    }
                    return Ok(event);
                }
                other => return other,
            }
        }
    }

    fn names(&self) -> SymbolNames {
        match &self.reader {
            Reader::Csv(f) => f.names(),
            Reader::Json(f) => f.names(),
            Reader::Tardis(f) => f.names(),
        }
    }

    fn sequence_gaps(&self) -> u64 {
        match &self.reader {
            Reader::Json(f) => f.sequence_gaps(),
            _ => 0,
        }
    }

    fn time_clamped(&self) -> u64 {
        self.clamp.as_ref().map_or(0, TimeClamp::clamped)
    }
}
