//! The run's metrics, registered once in the registry and recorded through handles.

use zerotick_core::RejectReason;
use zerotick_mem::PoolStats;
use zerotick_sync::metrics::{Counter, Gauge, Histogram, HistogramConfig, Registry, RegistryError};

/// The run's metrics, registered once.
#[derive(Clone)]
pub(crate) struct Metrics {
    pub(crate) ticks: Counter,
    pub(crate) ticks_in: Counter,
    pub(crate) rejects: [Counter; RejectReason::ALL.len()],
    pub(crate) rows: Counter,
    pub(crate) batches: Counter,
    pub(crate) latency: Histogram,
    pub(crate) arrival_latency: Histogram,
    pub(crate) queue: Histogram,
    pub(crate) feed_lateness: Histogram,
    pub(crate) batch_wait: Histogram,
    pub(crate) compute: Histogram,
    pub(crate) emit: Histogram,
    pub(crate) ring_occupancy: Gauge,
    pub(crate) pool_in_use: Gauge,
    pub(crate) pool_hits: Gauge,
    pub(crate) pool_misses: Gauge,
}

impl Metrics {
    pub(crate) fn register(r: &Registry) -> Result<Self, RegistryError> {
        let ns = HistogramConfig::latency_ns;
        let stage = |name| {
            r.histogram(
                "zerotick_stage_seconds",
                "Per-stage latency of a row",
                &[("stage", name)],
                ns(),
            )
        };
        Ok(Self {
            ticks: r.counter(
                "zerotick_ticks_processed_total",
                "Ticks through the feature stage",
                &[],
            )?,
            ticks_in: r.counter(
                "zerotick_ticks_in_total",
                "Rows read from the feed (ticks and rejections)",
                &[],
            )?,
            rejects: {
                let mut v = Vec::with_capacity(RejectReason::ALL.len());
                for reason in RejectReason::ALL {
                    v.push(r.counter(
                        "zerotick_ticks_rejected_total",
                        "Feed rows rejected, by reason",
                        &[("reason", reason.name())],
                    )?);
                }
                match v.try_into() {
                    Ok(a) => a,
                    Err(_) => unreachable!("one counter per reason"),
                }
            },
            rows: r.counter("zerotick_vectors_total", "Feature rows computed", &[])?,
            batches: r.counter("zerotick_batches_total", "Batches computed", &[])?,
            latency: r.histogram(
                "zerotick_tick_to_signal_seconds",
                "From reading a tick to emitting the signal of the row it completed",
                &[],
                ns(),
            )?,
            arrival_latency: r.histogram(
                "zerotick_arrival_to_signal_seconds",
                "From a tick's arrival (a paced replay: its due time; other feeds: its read) to \
                 the signal of the row it completed: tick-to-signal plus the feed's lateness",
                &[],
                ns(),
            )?,
            queue: stage("queue")?,
            feed_lateness: stage("feed_lateness")?,
            batch_wait: stage("batch_wait")?,
            compute: stage("compute")?,
            emit: stage("emit")?,
            ring_occupancy: r.gauge(
                "zerotick_ring_occupancy",
                "Ticks waiting in the feed ring (sampled every 1,024 ticks)",
                &[],
            )?,
            pool_in_use: r.gauge("zerotick_pool_in_use", "Batches off the batch pool", &[])?,
            pool_hits: r.gauge("zerotick_pool_hits", "Batch pool acquisitions served", &[])?,
            pool_misses: r.gauge(
                "zerotick_pool_misses",
                "Batch pool acquisitions that found the pool empty (the feature thread waited)",
                &[],
            )?,
        })
    }

    pub(crate) fn pool(&self, s: &PoolStats) {
        self.pool_in_use.set(s.in_use as f64);
        self.pool_hits.set(s.hits as f64);
        self.pool_misses.set(s.misses as f64);
    }
}
