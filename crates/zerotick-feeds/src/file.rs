//! [`FileFeed`]: a CSV feed over one file, plain or compressed (gzip, zstd, zip), the
//! compression told by the file's magic bytes ([`decode`](crate::decode)).

use std::path::Path;

use zerotick_core::symbols::SymbolNames;
use zerotick_core::{Feed, FeedError, FeedEvent};

use crate::csv::{CsvFeed, CsvLayout, symbol_from_path};
use crate::decode::{Compression, FileReader};

/// Trades read from a CSV file, decompressed on the fly when it is compressed. Everything
/// [`CsvFeed`] promises holds (it is one inside); a zip's members are read in turn, each as a
/// file of its own (its own header, line numbers from 1), one symbol table across them.
///
/// Errors name the file: I/O and decoding errors in their message, and in a zip a strict
/// mode's bad row as [`FeedError::InSource`] with `archive.zip:member.csv`. A plain or
/// gzip/zstd file's strict error is [`FeedError::BadRow`], as [`CsvFeed`] gives it.
#[derive(Debug)]
pub struct FileFeed {
    csv: CsvFeed<FileReader>,
}

impl FileFeed {
    /// Opens `path`; exchange dumps take their symbol from the file name
    /// ([`symbol_from_path`]).
    ///
    /// # Errors
    /// The file cannot be opened or read, or it is a zip whose directory is corrupt or holds
    /// no file; the error names the file.
    pub fn open(path: &Path, layout: CsvLayout, strict: bool) -> Result<Self, FeedError> {
        let reader = FileReader::open(path)?;
        Ok(Self {
            csv: CsvFeed::new(reader, layout, strict, symbol_from_path(path)),
        })
    }

    /// How the file is compressed.
    pub fn compression(&self) -> Compression {
        self.csv.reader().compression()
    }

    /// The layout in use (under `Auto`, decided at the first event of each file or member).
    pub fn layout(&self) -> CsvLayout {
        self.csv.layout()
    }

    /// The 1-based line number, in its file or zip member, of the row of the last event.
    pub fn line(&self) -> u64 {
        self.csv.line()
    }

    /// The file (and zip member) being read, as errors name it.
    pub fn label(&self) -> &str {
        self.csv.reader().label()
    }

    #[cold]
    #[inline(never)]
    fn in_member(&self, error: FeedError) -> FeedError {
        FeedError::InSource {
            source: self.label().to_owned(),
            error: Box::new(error),
        }
    }
}

impl Feed for FileFeed {
    /// A file is replayed as fast as the pipeline takes it (see [`Feed::live`]).
    fn live(&self) -> bool {
        false
    }

    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        loop {
            match self.csv.next_event() {
                Ok(FeedEvent::End) => {
                    if !self.csv.reader_mut().next_member()? {
                        return Ok(FeedEvent::End);
                    }
                    self.csv.restart();
                }
                Err(e @ FeedError::BadRow { .. }) if self.compression() == Compression::Zip => {
                    return Err(self.in_member(e));
                }
                other => return other,
            }
        }
    }

    fn names(&self) -> SymbolNames {
        self.csv.names()
    }
}
