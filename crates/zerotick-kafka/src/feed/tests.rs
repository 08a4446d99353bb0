//! The feed against [`FakeBroker`]: what a broker's answers (assignments, partition counts,
//! large fetches, many bad records) may make of it.

use std::time::Duration;

use zerotick_core::{Side, Tick};

use super::*;
use crate::fake::{FakeBroker, MESSAGE_MAX_BYTES};
use crate::record::{BatchBuilder, read_batches, tick_value};
use crate::wire::Writer;

/// A batch of `n` ticks of symbol `SYM` whose `ts_ns` run from `first_ts` (so a tick's
/// timestamp names its offset when `first_ts` is the batch's base offset), compressed with
/// `codec`.
fn ticks(first_ts: u64, n: usize, codec: i16) -> Vec<u8> {
    let mut w = Writer::new();
    let mut b = BatchBuilder::begin(&mut w, 1_000, None);
    for i in 0..n as u64 {
        let t = Tick {
            ts_ns: first_ts + i,
            symbol: 0,
            price: 100.0,
            size: 1.0,
            side: Side::Buy,
        };
        b.push(&mut w, 1_000, Some(b"SYM"), Some(&tick_value(&t)), &[]);
    }
    b.finish_compressed(&mut w, codec).expect("codec");
    w.as_bytes().to_vec()
}

/// A batch of `n` records that are not ticks: a value of `value_len` bytes.
fn bad_records(n: usize, value_len: usize) -> Vec<u8> {
    let mut w = Writer::new();
    let mut b = BatchBuilder::begin(&mut w, 1_000, None);
    let value = vec![7u8; value_len];
    for _ in 0..n {
        b.push(&mut w, 1_000, Some(b"BAD"), Some(&value), &[]);
    }
    b.finish(&mut w);
    w.as_bytes().to_vec()
}

/// A feed config for `topic` on `k`: fetches that do not wait, a heartbeat every round (a
/// rebalance is seen at once), and short give-ups (a broken test fails fast).
fn config(k: &FakeBroker, topic: &str) -> KafkaFeedConfig {
    let mut cfg = KafkaFeedConfig::new("127.0.0.1", k.port, topic, "g");
    cfg.max_wait_ms = 1;
    cfg.io_timeout = Duration::from_secs(5);
    cfg.give_up = Duration::from_secs(1);
    cfg.group.heartbeat = Duration::ZERO;
    cfg
}

/// Events of `feed` (ticks acknowledged as they come, as the pipeline would) until `done`
/// says so; fails after `rounds` calls.
#[track_caller]
fn pump(
    feed: &mut KafkaFeed,
    rounds: usize,
    mut done: impl FnMut(&[FeedEvent]) -> bool,
) -> Vec<FeedEvent> {
    let mut seen = Vec::new();
    let mut ticks = 0;
    for _ in 0..rounds {
        let e = feed.next_event().expect("next_event");
        if let FeedEvent::Tick(_) = e {
            ticks += 1;
            feed.acknowledge(ticks).expect("acknowledge");
        }
        if !matches!(e, FeedEvent::Idle) {
            seen.push(e);
        }
        if done(&seen) {
            return seen;
        }
    }
    panic!("not done after {rounds} rounds: {} events", seen.len());
}

fn timestamps(events: &[FeedEvent]) -> Vec<u64> {
    events.iter().filter_map(FeedEvent::ts_ns).collect()
}

#[test]
fn an_assignment_of_partitions_added_to_the_topic_grows_the_feed() {
    let k = FakeBroker::start();
    {
        let mut s = k.state();
        s.ensure("t", 4);
        // Partitions 4..8 are added while the group forms, and the leader (which saw 8)
        // gives this member partitions 1 and 7.
        s.grow_on_sync = Some(("t".into(), 8));
        s.assignment = Some(("t".into(), vec![1, 7]));
    }
    let mut feed = KafkaFeed::connect(config(&k, "t")).expect("connect");
    assert_eq!(feed.assigned(), vec![1, 7]);
    let counters = feed.counters();
    assert_eq!(counters.partitions.len(), 8);
    assert!(
        counters
            .partitions
            .iter()
            .nth(7)
            .unwrap()
            .assigned
            .load(Ordering::Relaxed)
    );
    k.state().append("t", 7, &ticks(0, 3, 0));
    let got = pump(&mut feed, 1_000, |e| e.len() == 3);
    assert_eq!(timestamps(&got), vec![0, 1, 2]);
    assert_eq!(
        counters
            .partitions
            .iter()
            .nth(7)
            .unwrap()
            .records
            .load(Ordering::Relaxed),
        3
    );
}

#[test]
fn an_assignment_naming_a_partition_the_topic_lacks_is_a_clear_error() {
    for (bad, what) in [(9, "does not have"), (-1, "negative")] {
        let k = FakeBroker::start();
        k.state().ensure("t", 4);
        k.state().assignment = Some(("t".into(), vec![0, bad]));
        let e = KafkaFeed::connect(config(&k, "t")).unwrap_err();
        assert!(matches!(e, KafkaError::Unexpected(_)), "{bad}: {e}");
        assert!(e.to_string().contains(what), "{bad}: {e}");
    }
}

#[test]
fn a_rebalance_reads_partitions_added_since_the_start() {
    let k = FakeBroker::start();
    k.state().ensure("t", 2);
    let mut feed = KafkaFeed::connect(config(&k, "t")).expect("connect");
    assert_eq!(feed.assigned(), vec![0, 1]);
    {
        let mut s = k.state();
        s.ensure("t", 4);
        s.append("t", 3, &ticks(0, 2, 0));
        s.rebalance = true;
    }
    let got = pump(&mut feed, 1_000, |e| e.len() == 2);
    assert_eq!(timestamps(&got), vec![0, 1]);
    assert_eq!(feed.assigned(), vec![0, 1, 2, 3]);
    assert_eq!(feed.counters().partitions.len(), 4);
    assert_eq!(feed.counters().rebalances.load(Ordering::Relaxed), 1);
}

#[test]
fn per_partition_buffers_are_made_for_held_partitions_only() {
    let k = FakeBroker::start();
    k.state().ensure("t", 64);
    let mut cfg = config(&k, "t");
    cfg.assignment = Assignment::Static {
        index: 3,
        count: 32,
    };
    let feed = KafkaFeed::connect(cfg).expect("connect");
    assert_eq!(feed.assigned(), vec![3, 35]);
    for (p, part) in feed.parts.iter().enumerate() {
        let held = p == 3 || p == 35;
        assert_eq!(part.inflight.capacity() > 0, held, "partition {p}");
    }
}
#[test]
fn one_fetch_queues_at_most_the_cap_and_the_rest_is_fetched_again() {
    let k = FakeBroker::start();
    k.state().ensure("t", 1);
    // One LZ4 batch (small on the wire) of more records than the cap.
    let n = READY_CAP + 1_000;
    k.state().append("t", 0, &ticks(0, n, crate::codec::LZ4));
    let mut feed = KafkaFeed::connect(config(&k, "t")).expect("connect");
    let first = feed.next_event().expect("first event");
    assert_eq!(first.ts_ns(), Some(0));
    assert_eq!(feed.ready.len(), READY_CAP - 1, "queued by one fetch");
    assert_eq!(
        feed.parts[0].position, READY_CAP as i64,
        "the first offset not queued"
    );
    let rest = pump(&mut feed, 10 * n, |e| e.len() == n - 1);
    // Every record once, in order: none lost or repeated where the first fetch stopped.
    let mut all = vec![0];
    all.extend(timestamps(&rest));
    assert_eq!(all, (0..n as u64).collect::<Vec<_>>());
    let fetched: Vec<i64> = k
        .state()
        .fetches
        .iter()
        .filter(|f| f.3 > 1) // not the end-offset probes
        .map(|f| f.2)
        .collect();
    assert_eq!(fetched[..2], [0, READY_CAP as i64]);
}

#[test]
fn many_bad_records_are_dead_lettered_in_batches_the_broker_takes() {
    let k = FakeBroker::start();
    k.state().ensure("t", 1);
    // About 2 MB of dead letters from one fetch: above Kafka's message.max.bytes.
    const BAD: usize = 12_000;
    k.state().append("t", 0, &bad_records(BAD, 100));
    let mut feed = KafkaFeed::connect(config(&k, "t")).expect("connect");
    let got = pump(&mut feed, 10 * BAD, |e| e.len() == BAD);
    assert!(
        got.iter()
            .all(|e| matches!(e, FeedEvent::Rejected(RejectReason::FieldCount)))
    );
    assert_eq!(
        feed.counters().dead_lettered.load(Ordering::Relaxed),
        BAD as u64
    );
    let s = k.state();
    let refused: Vec<_> = s.produced.iter().filter(|p| p.3 != 0).collect();
    assert!(refused.is_empty(), "{refused:?}");
    assert!(s.produced.iter().all(|p| p.2 <= MESSAGE_MAX_BYTES));
    // Every dead letter, in order, naming its offset.
    let mut offsets = Vec::new();
    for b in &s.topics["t.dead"][0] {
        read_batches(&b.bytes, 0, |r| {
            let o = r.header("offset").flatten().expect("offset header");
            offsets.push(std::str::from_utf8(o).unwrap().parse::<i64>().unwrap());
            Ok(())
        })
        .unwrap();
    }
    assert_eq!(offsets, (0..BAD as i64).collect::<Vec<_>>());
}
