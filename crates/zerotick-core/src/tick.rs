//! The unit of market data: one trade.

/// Which side initiated the trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Side {
    /// The buyer took liquidity.
    Buy,
    /// The seller took liquidity.
    Sell,
    /// Not reported by the source.
    #[default]
    Unknown,
}

impl Side {
    /// +1 for buys, -1 for sells, 0 when unknown: the sign of signed volume.
    #[inline]
    pub fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
            Side::Unknown => 0.0,
        }
    }
}

/// Which side of an order book a level or an update belongs to. Shared by the book events
/// the feeds yield and the order book that applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookSide {
    /// Resting buy orders: the best level is the highest price.
    Bid,
    /// Resting sell orders: the best level is the lowest price.
    Ask,
}

impl BookSide {
    /// The other side.
    #[inline]
    pub fn opposite(self) -> BookSide {
        match self {
            BookSide::Bid => BookSide::Ask,
            BookSide::Ask => BookSide::Bid,
        }
    }
}

/// The latest event time a feed accepts, ns since the Unix epoch: `i64::MAX` (2262-04-11),
/// the range of the signed nanosecond timestamps that Parquet, Arrow and most time libraries
/// store. A later one is rejected as [`RejectReason::BadTimestamp`](crate::RejectReason) where it is read,
/// so no sink meets a time it cannot write.
pub const MAX_TS_NS: u64 = i64::MAX as u64;

/// One trade. `Copy`, 40 bytes: moved through rings by value.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tick {
    /// Exchange timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Index of the symbol in the feed's symbol table.
    pub symbol: u32,
    /// Trade price (finite, > 0: feeds reject anything else).
    pub price: f64,
    /// Traded quantity (finite, >= 0).
    pub size: f64,
    /// Aggressor side.
    pub side: Side,
}
