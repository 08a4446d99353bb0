//! The `run` command's file sinks (`csv:PATH`, `parquet:PATH`, stdout) for its `--emit`
//! mode, and the check that a sink file is not one of the run's inputs.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use zerotick_feeds::CsvSink;
use zerotick_parquet::{ParquetOptions, ParquetSink};
use zerotick_pipeline::PipelineConfig;
use zerotick_pipeline::rows::{Emit, builtin_column_names};

/// Refuses a `csv:PATH` or `parquet:PATH` sink that names an existing regular file the run
/// reads (a feed file or the feature spec, by device and inode, so another spelling, a
/// symlink or a hard link is caught too): creating the sink would truncate it. For Parquet
/// also `PATH.partial`, the file written first.
pub(crate) fn check_sink_is_not_an_input(
    sink: &str,
    feeds: Option<&[PathBuf]>,
    spec: Option<&Path>,
) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // What the sink truncates or replaces: a CSV file itself; for Parquet, the partial file
    // written first and the path it is renamed to at the end.
    let outs: Vec<(PathBuf, &str)> = if let Some(out) = sink.strip_prefix("csv:") {
        vec![(PathBuf::from(out), "is")]
    } else if let Some(out) = sink.strip_prefix("parquet:") {
        let out = Path::new(out);
        std::iter::once((out.to_owned(), "is"))
            .chain(zerotick_parquet::partial_path(out).map(|p| (p, "writes first to")))
            .collect()
    } else {
        return Ok(());
    };
    // A path that does not exist yet, or is not a regular file (a pipe, a terminal), is not
    // truncated by being opened.
    let outs: Vec<(u64, u64, &str)> = outs
        .iter()
        .filter_map(|(out, verb)| {
            let meta = std::fs::metadata(out).ok().filter(|m| m.is_file())?;
            Some((meta.dev(), meta.ino(), *verb))
        })
        .collect();
    if outs.is_empty() {
        return Ok(());
    }
    let feeds = feeds
        .unwrap_or_default()
        .iter()
        .map(|p| ("feed", p.as_path()));
    for (what, input) in feeds.chain(spec.map(|p| ("feature spec", p))) {
        let Ok(m) = std::fs::metadata(input) else {
            continue;
        };
        if let Some((.., verb)) = outs
            .iter()
            .find(|(dev, ino, _)| (*dev, *ino) == (m.dev(), m.ino()))
        {
            bail!(
                "--sink {sink} {verb} the {what} file {}: writing the sink would destroy it; \
                 choose another path",
                input.display()
            );
        }
    }
    Ok(())
}

/// The column names of emitted feature rows: the spec's, or the built-in row's.
fn feature_columns(config: &PipelineConfig) -> Vec<String> {
    match &config.spec {
        Some(s) => s.spec.column_names(),
        None => builtin_column_names(),
    }
}

/// A CSV sink for the run's `--emit` mode (signals, or rows with their column names).
pub(crate) fn csv_sink<W: Write>(
    out: W,
    names: zerotick_core::SymbolNames,
    config: &PipelineConfig,
) -> Result<CsvSink<W>> {
    Ok(if config.emit.features() {
        CsvSink::with_columns(
            out,
            names,
            &feature_columns(config),
            config.emit == Emit::Both,
        )?
    } else {
        CsvSink::new(out, names)?
    })
}

/// A Parquet sink for the run's `--emit` mode: feature columns named as in
/// [`feature_columns`] for rows, and a `signal` column when signals are emitted.
pub(crate) fn parquet_sink(
    path: &str,
    names: zerotick_core::SymbolNames,
    config: &PipelineConfig,
) -> Result<ParquetSink> {
    if path.is_empty() {
        bail!("--sink parquet:PATH needs a file path, e.g. parquet:features.parquet");
    }
    let features = if config.emit.features() {
        feature_columns(config)
    } else {
        Vec::new()
    };
    Ok(ParquetSink::create(
        path,
        names,
        &features,
        config.emit.signals(),
        ParquetOptions::default(),
    )?)
}
