#![doc = include_str!("../README.md")]

mod aligned;
mod arena;
mod cache;
pub mod counting;
mod element;
mod error;
mod manager;
mod objects;
mod pages;
mod pool;
pub mod process;
mod sync;

pub use aligned::{ALIGN, AlignedBuf, Slab, advise_huge_pages};
pub use arena::{Arena, ArenaError, ArenaSet, ArenaStats};
pub use cache::{CacheGuard, CacheStats, PoolCache, PoolRef};
pub use element::Element;
pub use error::{AllocError, CapacityError, ShapeError};
pub use manager::{ManagerStats, PoolConfig, PoolManager};
pub use objects::{Batch, Matrix};
pub use pages::{PageSpan, Pages, can_populate};
pub use pool::{
    Guard, MissPolicy, OwnedPoolGuard, Pool, PoolError, PoolGuard, PoolStats, ResetPolicy, Reusable,
};

/// The workspace README's examples, compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct WorkspaceReadme;
