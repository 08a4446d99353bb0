//! The client against a real Kafka-protocol broker (tansu, spawned per test on a free port):
//! topic creation, produce with key and partition, fetch, end offsets, group membership and
//! committed offsets.

mod tansu;

use std::time::Duration;

use tansu::Tansu;
use zerotick_core::symbols::SymbolTable;
use zerotick_core::{Side, Tick};
use zerotick_kafka::client::{EARLIEST, LATEST};
use zerotick_kafka::produce::Producer;
use zerotick_kafka::record::{Decoded, decode_tick, read_batches, tick_value};
use zerotick_kafka::{Group, GroupConfig, KafkaError};

const GIVE_UP: Duration = Duration::from_secs(10);

#[test]
fn produce_fetch_and_commit_against_a_real_broker() {
    let Some(k) = Tansu::start() else { return };
    let mut c = k.client();
    let mut p = Producer::new(&mut c, "probe", 3, GIVE_UP).expect("create topic");
    // tansu 0.6 (memory storage) answers InitProducerId with UNKNOWN_SERVER_ERROR: the
    // producer then writes plain at-least-once batches.
    eprintln!("idempotent producer: {}", p.idempotent());
    assert_eq!(p.partitions(), 3);
    // Creating it again is fine and keeps its partitions.
    assert_eq!(c.ensure_topic("probe", 7).unwrap().leaders.len(), 3);
    for i in 0..10u64 {
        let t = Tick {
            ts_ns: i,
            symbol: 0,
            price: 1.0 + i as f64,
            size: 2.0,
            side: Side::Buy,
        };
        p.push(
            (i % 3) as i32,
            1_000 + i as i64,
            Some(b"SYM"),
            Some(&tick_value(&t)),
            &[],
        );
    }
    p.flush(&mut c).expect("produce");
    let info = c.metadata(&["probe"]).unwrap().pop().flatten().unwrap();
    assert_eq!(
        c.list_offsets("probe", &info, EARLIEST).unwrap(),
        vec![0, 0, 0]
    );
    assert_eq!(c.end_offsets("probe", &info).unwrap(), vec![4, 3, 3]);
    // tansu 0.6 answers ListOffsets latest with the last batch's base offset + 1 (one
    // batch per partition here); `end_offsets` corrects it with the fetch high watermark.
    let latest = c.list_offsets("probe", &info, LATEST).unwrap();
    assert!(
        latest.iter().zip([4, 3, 3]).all(|(&l, e)| l == 1 || l == e),
        "{latest:?}"
    );

    // Fetch partition 0 from offset 1 by hand.
    let conn = c.conn(info.leaders[0]).unwrap();
    conn.request(1, 4)
        .i32(-1)
        .i32(100)
        .i32(1)
        .i32(1 << 20)
        .i8(0)
        .array_len(1)
        .string("probe")
        .array_len(1)
        .i32(0)
        .i64(1)
        .i32(1 << 20);
    let mut r = conn.call(Duration::from_millis(100)).unwrap();
    r.i32().unwrap();
    assert_eq!(r.array_len().unwrap(), 1);
    r.string().unwrap();
    assert_eq!(r.array_len().unwrap(), 1);
    assert_eq!(r.i32().unwrap(), 0);
    assert_eq!(r.i16().unwrap(), 0);
    assert_eq!(r.i64().unwrap(), 4, "high watermark");
    r.i64().unwrap();
    let aborted = r.i32().unwrap();
    assert!(aborted <= 0);
    let records = r.nullable_bytes().unwrap().unwrap();
    let mut syms = SymbolTable::new(16);
    let mut ts = Vec::new();
    let next = read_batches(records, 1, |rec| {
        match decode_tick(rec.key, rec.value, &mut syms) {
            Decoded::Tick(t) => ts.push((rec.offset, t.ts_ns)),
            Decoded::Rejected(r) => panic!("{r}"),
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(ts, vec![(1, 3), (2, 6), (3, 9)]);
    assert_eq!(next, 4);

    // Group membership: one member gets every partition; commits round-trip.
    let mut g = Group::new(GroupConfig::new("g1"));
    assert_eq!(g.join(&mut c, "probe", 3).unwrap(), vec![0, 1, 2]);
    assert!(g.generation() >= 0);
    assert_eq!(
        g.committed(&mut c, "probe", &[0, 1, 2]).unwrap(),
        vec![-1, -1, -1]
    );
    g.commit(&mut c, "probe", &[(0, 4), (2, 1)]).unwrap();
    assert_eq!(
        g.committed(&mut c, "probe", &[0, 1, 2]).unwrap(),
        vec![4, -1, 1]
    );
    g.leave(&mut c);
    // A static consumer (no membership) commits to the group too.
    let mut s = Group::new(GroupConfig::new("g2"));
    s.commit(&mut c, "probe", &[(1, 2)]).unwrap();
    assert_eq!(s.committed(&mut c, "probe", &[1]).unwrap(), vec![2]);
}

#[test]
fn two_members_split_the_partitions() {
    let Some(k) = Tansu::start() else { return };
    let mut c1 = k.client();
    let mut c2 = k.client();
    c1.ensure_topic("split", 4).unwrap();
    let mut cfg = GroupConfig::new("g");
    cfg.rebalance_timeout_ms = 10_000;
    let mut a = Group::new(cfg.clone());
    assert_eq!(a.join(&mut c1, "split", 4).unwrap(), vec![0, 1, 2, 3]);
    // b joins on another thread (its JoinGroup waits for a to rejoin).
    let b = std::thread::spawn(move || {
        let mut b = Group::new(cfg);
        let mine = b.join(&mut c2, "split", 4).unwrap();
        (mine, b, c2)
    });
    // a learns of the rebalance from a heartbeat and rejoins.
    let start = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        match a.heartbeat_if_due(&mut c1) {
            Ok(zerotick_kafka::group::Beat::Rejoin) => break,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no rebalance");
    }
    let mine_a = a.join(&mut c1, "split", 4).unwrap();
    let (mine_b, mut b, mut c2) = b.join().unwrap();
    let mut all: Vec<i32> = mine_a.iter().chain(&mine_b).copied().collect();
    all.sort_unstable();
    assert_eq!(all, vec![0, 1, 2, 3], "a {mine_a:?} b {mine_b:?}");
    assert_eq!(mine_a.len(), 2);
    b.leave(&mut c2);
    a.leave(&mut c1);
}

#[test]
fn an_unreachable_broker_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = zerotick_kafka::Client::connect("127.0.0.1", port, Duration::from_secs(2)).unwrap_err();
    assert!(matches!(e, KafkaError::Io(_)), "{e}");
    assert!(e.to_string().starts_with("kafka connection:"), "{e}");
}
