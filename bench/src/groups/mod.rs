//! The benchmark groups. Each module exposes `run(&mut Harness) -> GroupResult`.
//!
//! Adding a group: write `src/groups/<name>.rs` with a `pub fn run`, declare it below, and set
//! its `run` in [`GROUPS`].

use crate::harness::{Harness, Row};

pub mod arena;
pub mod book;
pub mod dense;
pub mod feed;
pub mod fft;
pub mod gunzip;
pub mod metrics;
pub mod parse;
pub mod pool;
pub mod ring;
pub mod simd;
pub mod sparse;

/// What a group returns: its rows, or the error that stopped its setup.
pub type GroupResult = Result<Vec<Row>, Box<dyn std::error::Error>>;

/// A group of cases, selected by name on the command line.
#[derive(Clone, Copy, Debug)]
pub struct Group {
    /// Name on the command line and in the report.
    pub name: &'static str,
    /// Runs the group; `None` while it is not implemented yet.
    pub run: Option<fn(&mut Harness) -> GroupResult>,
}

/// Every group of the shared contract, in the order `all` runs them.
pub const GROUPS: &[Group] = &[
    Group {
        name: "pool",
        run: Some(pool::run),
    },
    Group {
        name: "arena",
        run: Some(arena::run),
    },
    Group {
        name: "ring",
        run: Some(ring::run),
    },
    Group {
        name: "metrics",
        run: Some(metrics::run),
    },
    Group {
        name: "simd",
        run: Some(simd::run),
    },
    Group {
        name: "dense",
        run: Some(dense::run),
    },
    Group {
        name: "sparse",
        run: Some(sparse::run),
    },
    Group {
        name: "fft",
        run: Some(fft::run),
    },
    Group {
        name: "feed",
        run: Some(feed::run),
    },
    Group {
        name: "book",
        run: Some(book::run),
    },
];

/// The group called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.name == name)
}
