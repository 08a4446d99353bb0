//! [`Group`]: a consumer group member: the group coordinator, membership (JoinGroup,
//! SyncGroup with the range assignor, Heartbeat, LeaveGroup) and committed offsets
//! (OffsetCommit, OffsetFetch). Also a static mode without membership: the partitions are
//! given, offsets are still committed to the group (generation -1, as Kafka allows for
//! consumers that assign partitions themselves).

use std::time::{Duration, Instant};

use crate::client::{Client, api};
use crate::conn::{Connection, KafkaError, check, code};
use crate::wire::{Reader, Writer};

/// The protocol type of Kafka consumer groups.
const PROTOCOL_TYPE: &str = "consumer";
/// The assignor this member proposes: Kafka's "range" (contiguous partition ranges per
/// member, in member id order).
const ASSIGNOR: &str = "range";

/// How a member keeps its place in the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// Group id.
    pub group: String,
    /// Without a heartbeat for this long, the coordinator drops the member, ms.
    pub session_timeout_ms: i32,
    /// How long the coordinator waits for members to rejoin in a rebalance, ms.
    pub rebalance_timeout_ms: i32,
    /// Time between heartbeats.
    pub heartbeat: Duration,
}

impl GroupConfig {
    /// Kafka's defaults for a consumer: 10 s session, heartbeats every 1 s (a tenth of
    /// it), 30 s to rejoin.
    pub fn new(group: &str) -> Self {
        Self {
            group: group.to_owned(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            heartbeat: Duration::from_secs(1),
        }
    }
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Still a member of the current generation.
    Member,
    /// The group rebalances (or dropped this member): give the partitions up and rejoin.
    Rejoin,
}

/// A member of a consumer group, or a static consumer committing to a group.
#[derive(Debug)]
pub struct Group {
    cfg: GroupConfig,
    coordinator: Option<Connection>,
    member_id: String,
    /// Generation of the current membership; -1 when not a member (static mode, or before
    /// the first join).
    generation: i32,
    last_beat: Instant,
    /// Joins that completed (the first assignment included).
    joins: u64,
}

impl Group {
    /// A member that has not joined yet.
    pub fn new(cfg: GroupConfig) -> Self {
        Self {
            cfg,
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            last_beat: Instant::now(),
            joins: 0,
        }
    }

    /// The group id.
    pub fn id(&self) -> &str {
        &self.cfg.group
    }

    /// The member id the coordinator gave (empty before the first join or in static mode).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The generation of the current membership (-1: none).
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// Joins that completed with an assignment; one more than the rebalances this member
    /// went through.
    pub fn joins(&self) -> u64 {
        self.joins
    }

    /// Drops the coordinator connection (after a connection error).
    pub fn reset(&mut self) {
        self.coordinator = None;
    }

    fn coordinator(&mut self, client: &mut Client) -> Result<&mut Connection, KafkaError> {
        coordinator(&mut self.coordinator, &self.cfg.group, client)
    }

    /// Drops the coordinator connection when `result` says it moved or broke.
    fn watch<T>(&mut self, result: Result<T, KafkaError>) -> Result<T, KafkaError> {
        if let Err(e) = &result
            && (e.is_connection()
                || matches!(
                    e.code(),
                    Some(code::NOT_COORDINATOR | code::COORDINATOR_NOT_AVAILABLE)
                ))
        {
            self.coordinator = None;
        }
        result
    }

    /// Joins the group (consumer protocol, range assignor, subscribed to `topic` of
    /// `partitions` partitions) and returns the partitions assigned to this member.
    ///
    /// # Errors
    /// [`KafkaError`] if the coordinator cannot be reached or refuses.
    pub fn join(
        &mut self,
        client: &mut Client,
        topic: &str,
        partitions: i32,
    ) -> Result<Vec<i32>, KafkaError> {
        let result = self.try_join(client, topic, partitions);
        let result = self.watch(result);
        if result.is_err() {
            self.generation = -1;
        }
        result
    }

    /// JoinGroup then SyncGroup, again from JoinGroup while the group says it rebalances
    /// (another member joined or left between the two) for up to the rebalance timeout.
    fn try_join(
        &mut self,
        client: &mut Client,
        topic: &str,
        partitions: i32,
    ) -> Result<Vec<i32>, KafkaError> {
        let start = Instant::now();
        let limit = Duration::from_millis(self.cfg.rebalance_timeout_ms.max(0) as u64);
        loop {
            match self.join_and_sync(client, topic, partitions) {
                Err(e)
                    if start.elapsed() < limit
                        && matches!(
                            e.code(),
                            Some(
                                code::REBALANCE_IN_PROGRESS
                                    | code::ILLEGAL_GENERATION
                                    | code::UNKNOWN_MEMBER_ID
                            )
                        ) =>
                {
                    if e.code() == Some(code::UNKNOWN_MEMBER_ID) {
                        self.member_id.clear();
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn join_and_sync(
        &mut self,
        client: &mut Client,
        topic: &str,
        partitions: i32,
    ) -> Result<Vec<i32>, KafkaError> {
        let mut meta = Writer::new();
        meta.i16(0).array_len(1).string(topic).i32(-1); // version, topics, no user data
        let wait = Duration::from_millis(self.cfg.rebalance_timeout_ms as u64);
        let cfg = self.cfg.clone();
        let (members, leader, generation, member_id) = loop {
            let member_id = self.member_id.clone();
            let conn = self.coordinator(client)?;
            conn.request(api::JOIN_GROUP, 2)
                .string(&cfg.group)
                .i32(cfg.session_timeout_ms)
                .i32(cfg.rebalance_timeout_ms)
                .string(&member_id)
                .string(PROTOCOL_TYPE)
                .array_len(1)
                .string(ASSIGNOR)
                .bytes(meta.as_bytes());
            let mut r = conn.call(wait)?;
            let _throttle = r.i32()?;
            let err = r.i16()?;
            let generation = r.i32()?;
            let _protocol = r.string()?;
            let leader = r.string()?.to_owned();
            let me = r.string()?.to_owned();
            match err {
                0 => {}
                code::MEMBER_ID_REQUIRED => {
                    self.member_id = me;
                    continue;
                }
                code::UNKNOWN_MEMBER_ID => {
                    self.member_id.clear();
                    continue;
                }
                code::REBALANCE_IN_PROGRESS => continue,
                e => {
                    return Err(KafkaError::Broker {
                        what: "JoinGroup",
                        code: e,
                    });
                }
            }
            let mut members = Vec::new();
            for _ in 0..r.array_len()? {
                let id = r.string()?.to_owned();
                let _subscription = r.bytes()?;
                members.push(id);
            }
            break (members, leader, generation, me);
        };
        self.member_id = member_id;
        self.generation = generation;
        // The leader assigns every member its range; the others send no assignments.
        let mut assignments: Vec<(String, Vec<u8>)> = Vec::new();
        if leader == self.member_id {
            let mut sorted = members;
            sorted.sort();
            for (id, parts) in sorted.iter().zip(range_assign(partitions, sorted.len())) {
                let mut a = Writer::new();
                a.i16(0).array_len(1).string(topic).array_len(parts.len());
                for p in parts {
                    a.i32(p);
                }
                a.i32(-1); // no user data
                assignments.push((id.clone(), a.as_bytes().to_vec()));
            }
        }
        let (group, member) = (self.cfg.group.clone(), self.member_id.clone());
        let conn = self.coordinator(client)?;
        let w = conn.request(api::SYNC_GROUP, 1);
        w.string(&group).i32(generation).string(&member);
        w.array_len(assignments.len());
        for (id, a) in &assignments {
            w.string(id).bytes(a);
        }
        let mut r = conn.call(wait)?;
        let _throttle = r.i32()?;
        check("SyncGroup", r.i16()?)?;
        let assignment = r.bytes()?;
        let mine = parse_assignment(assignment, topic)?;
        self.last_beat = Instant::now();
        self.joins += 1;
        Ok(mine)
    }

    /// Sends a heartbeat if one is due (every `heartbeat`); a member only.
    ///
    /// # Errors
    /// [`KafkaError`] if the coordinator cannot be reached.
    pub fn heartbeat_if_due(&mut self, client: &mut Client) -> Result<Beat, KafkaError> {
        if self.generation < 0 || self.last_beat.elapsed() < self.cfg.heartbeat {
            return Ok(Beat::Member);
        }
        let result = self.try_heartbeat(client);
        self.watch(result)
    }

    fn try_heartbeat(&mut self, client: &mut Client) -> Result<Beat, KafkaError> {
        // Fields borrowed apart: no copy of the names per heartbeat.
        let conn = coordinator(&mut self.coordinator, &self.cfg.group, client)?;
        conn.request(api::HEARTBEAT, 1)
            .string(&self.cfg.group)
            .i32(self.generation)
            .string(&self.member_id);
        let mut r = conn.call(Duration::ZERO)?;
        let _throttle = r.i32()?;
        let err = r.i16()?;
        self.last_beat = Instant::now();
        match err {
            0 => Ok(Beat::Member),
            code::REBALANCE_IN_PROGRESS | code::ILLEGAL_GENERATION | code::UNKNOWN_MEMBER_ID => {
                if err == code::UNKNOWN_MEMBER_ID {
                    self.member_id.clear();
                }
                Ok(Beat::Rejoin)
            }
            e => Err(KafkaError::Broker {
                what: "Heartbeat",
                code: e,
            }),
        }
    }

    /// Commits `offsets` ((partition, next offset to read)) of `topic` for this group, as
    /// the current member (or as a static consumer: generation -1).
    ///
    /// # Errors
    /// [`KafkaError`]: a rebalance (`REBALANCE_IN_PROGRESS`, `ILLEGAL_GENERATION`,
    /// `UNKNOWN_MEMBER_ID`) means the partitions may belong to another member now.
    pub fn commit(
        &mut self,
        client: &mut Client,
        topic: &str,
        offsets: &[(i32, i64)],
    ) -> Result<(), KafkaError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let result = self.try_commit(client, topic, offsets);
        self.watch(result)
    }

    fn try_commit(
        &mut self,
        client: &mut Client,
        topic: &str,
        offsets: &[(i32, i64)],
    ) -> Result<(), KafkaError> {
        // Fields borrowed apart: no copy of the names per commit.
        let conn = coordinator(&mut self.coordinator, &self.cfg.group, client)?;
        let w = conn.request(api::OFFSET_COMMIT, 2);
        w.string(&self.cfg.group)
            .i32(self.generation)
            .string(&self.member_id)
            .i64(-1) // retention: the broker's
            .array_len(1)
            .string(topic)
            .array_len(offsets.len());
        for &(p, o) in offsets {
            w.i32(p).i64(o).nullable_string(None);
        }
        let mut r = conn.call(Duration::ZERO)?;
        for _ in 0..r.array_len()? {
            let _name = r.string()?;
            for _ in 0..r.array_len()? {
                let _p = r.i32()?;
                check("OffsetCommit", r.i16()?)?;
            }
        }
        Ok(())
    }

    /// The committed offsets of `partitions` of `topic` (-1 where none was committed).
    ///
    /// # Errors
    /// [`KafkaError`] if the coordinator cannot be reached or refuses.
    pub fn committed(
        &mut self,
        client: &mut Client,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Vec<i64>, KafkaError> {
        let result = self.try_committed(client, topic, partitions);
        self.watch(result)
    }

    fn try_committed(
        &mut self,
        client: &mut Client,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Vec<i64>, KafkaError> {
        let group = self.cfg.group.clone();
        let conn = self.coordinator(client)?;
        let w = conn.request(api::OFFSET_FETCH, 1);
        w.string(&group)
            .array_len(1)
            .string(topic)
            .array_len(partitions.len());
        for &p in partitions {
            w.i32(p);
        }
        let mut r = conn.call(Duration::ZERO)?;
        let mut out = vec![-1; partitions.len()];
        for _ in 0..r.array_len()? {
            let _name = r.string()?;
            for _ in 0..r.array_len()? {
                let p = r.i32()?;
                let offset = r.i64()?;
                let _meta = r.nullable_string()?;
                check("OffsetFetch", r.i16()?)?;
                if let Some(i) = partitions.iter().position(|&q| q == p) {
                    out[i] = offset;
                }
            }
        }
        Ok(out)
    }

    /// Leaves the group (best effort: the session timeout removes a member that could not).
    pub fn leave(&mut self, client: &mut Client) {
        if self.generation < 0 || self.member_id.is_empty() {
            return;
        }
        let (group, member) = (self.cfg.group.clone(), self.member_id.clone());
        if let Ok(conn) = self.coordinator(client) {
            conn.request(api::LEAVE_GROUP, 1)
                .string(&group)
                .string(&member);
            let _ = conn.call(Duration::ZERO);
        }
        self.generation = -1;
    }
}

/// The connection to `group`'s coordinator in `slot`, found (FindCoordinator) and opened if
/// there is none. A free function so callers borrow the slot apart from the other fields.
fn coordinator<'a>(
    slot: &'a mut Option<Connection>,
    group: &str,
    client: &mut Client,
) -> Result<&'a mut Connection, KafkaError> {
    if slot.is_none() {
        let conn = client.any_conn()?;
        conn.request(api::FIND_COORDINATOR, 1).string(group).i8(0);
        let mut r = conn.call(Duration::ZERO)?;
        let _throttle = r.i32()?;
        let err = r.i16()?;
        let _msg = r.nullable_string()?;
        check("FindCoordinator", err)?;
        let _node = r.i32()?;
        let host = r.string()?.to_owned();
        let port =
            u16::try_from(r.i32()?).map_err(|_| KafkaError::Unexpected("FindCoordinator port"))?;
        *slot = Some(Connection::connect(&host, port, client.timeout())?);
    }
    slot.as_mut().ok_or(KafkaError::Closed)
}

/// Kafka's range assignor for one topic: member `i` (in member id order) of `members` gets
/// a contiguous range; the first `partitions % members` ranges are one longer.
pub fn range_assign(partitions: i32, members: usize) -> Vec<Vec<i32>> {
    let m = members.max(1) as i32;
    let (each, extra) = (partitions / m, partitions % m);
    let mut start = 0;
    (0..m)
        .map(|i| {
            let n = each + i32::from(i < extra);
            let r = (start..start + n).collect();
            start += n;
            r
        })
        .take(members)
        .collect()
}

/// The partitions of `topic` in a consumer-protocol assignment, ascending, each once. They
/// are not checked against the topic here (the leader may know partitions this member's
/// metadata does not have yet): the caller does.
///
/// # Errors
/// [`KafkaError::Wire`] for bytes that do not decode, [`KafkaError::Unexpected`] for a
/// negative partition.
fn parse_assignment(bytes: &[u8], topic: &str) -> Result<Vec<i32>, KafkaError> {
    if bytes.is_empty() {
        return Ok(Vec::new()); // no partitions for this member
    }
    let mut r = Reader::new(bytes);
    let _version = r.i16()?;
    let mut mine = Vec::new();
    for _ in 0..r.array_len()? {
        let t = r.string()?;
        for _ in 0..r.array_len()? {
            let p = r.i32()?;
            if t == topic {
                if p < 0 {
                    return Err(KafkaError::Unexpected("SyncGroup (a negative partition)"));
                }
                mine.push(p);
            }
        }
    }
    mine.sort_unstable();
    mine.dedup();
    Ok(mine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_assignment_covers_every_partition_once() {
        assert_eq!(range_assign(4, 2), vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(range_assign(5, 2), vec![vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(range_assign(1, 3), vec![vec![0], vec![], vec![]]);
        assert_eq!(range_assign(3, 0), Vec::<Vec<i32>>::new());
        for (p, m) in [(7, 3), (64, 5), (2, 2)] {
            let all: Vec<i32> = range_assign(p, m).into_iter().flatten().collect();
            assert_eq!(all, (0..p).collect::<Vec<_>>());
        }
    }

    #[test]
    fn assignments_round_trip() {
        let mut a = Writer::new();
        a.i16(0).array_len(2).string("other").array_len(1).i32(9);
        a.string("t").array_len(2).i32(3).i32(1).i32(-1);
        assert_eq!(parse_assignment(a.as_bytes(), "t").unwrap(), vec![1, 3]);
        assert_eq!(parse_assignment(&[], "t").unwrap(), Vec::<i32>::new());
        assert!(parse_assignment(&[0, 0, 0, 0, 0, 9], "t").is_err());
        // A partition named twice is held once; a negative one is refused.
        let mut a = Writer::new();
        a.i16(0)
            .array_len(1)
            .string("t")
            .array_len(3)
            .i32(2)
            .i32(0)
            .i32(2);
        assert_eq!(parse_assignment(a.as_bytes(), "t").unwrap(), vec![0, 2]);
        let mut a = Writer::new();
        a.i16(0)
            .array_len(1)
            .string("t")
            .array_len(2)
            .i32(0)
            .i32(-1);
        let e = parse_assignment(a.as_bytes(), "t").unwrap_err();
        assert!(matches!(e, KafkaError::Unexpected(_)), "{e}");
    }
}
