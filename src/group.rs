//! Grouping: one invocation's notices for one destination become a few
//! messages. Pure.
//!
//! Three steps, in this order, over the notices routed to one destination:
//! 1. **Duplicates** collapse: notices with the same SNS `MessageId`
//!    (at-least-once delivery; unless they say different things) or the same
//!    `dedup_key` (the same finding from two regions) post once; the first to arrive leads, the others count as
//!    its extra arrivals.
//! 2. **Flapping** collapses: notices of one `thread_key` (the same alarm,
//!    pipeline execution, finding) become one message led by the latest, which
//!    carries the history of the states it went through.
//! 3. **Digests**: what is left is grouped by kind, status and topic. A group of
//!    at most `digest_after` units posts each on its own; a larger one becomes
//!    one digest (split into parts by the renderer, within Slack's limits).
//!
//! Every notice given ends in exactly one place: it leads a message of its own,
//! leads a line of a digest, or is collapsed into another's ([`Grouping::fates`]).
//! With `digest_after` off nothing is grouped: every notice posts on its own.
//!
//! The key of a group is computed in one place ([`Member::group_key`]), as
//! Alertmanager computes an aggregation group's key from its labels.

use std::collections::HashMap;

/// `DIGEST_AFTER`: how many units a group may hold before it becomes a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAfter {
    /// Never group: every notice posts on its own, duplicates and flapping
    /// included (`DIGEST_AFTER=off`).
    Off,
    /// A group of more than this many units becomes a digest (at least 1).
    After(usize),
}

impl Default for DigestAfter {
    /// Five: a sixth notice of one kind, status and topic makes a digest.
    fn default() -> Self {
        DigestAfter::After(5)
    }
}

impl std::str::FromStr for DigestAfter {
    type Err = String;

    /// `off`, or a whole number from 1 to 10,000.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(DigestAfter::Off);
        }
        match s.parse::<usize>() {
            Ok(n @ 1..=10_000) => Ok(DigestAfter::After(n)),
            _ => Err("expected off or a whole number from 1 to 10000".to_string()),
        }
    }
}

/// What grouping reads of one notice routed to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// The SNS `MessageId` (empty when unknown: never a duplicate by id).
    pub message_id: &'a str,
    /// The kind's name.
    pub kind: &'a str,
    /// The status, if the notice has one.
    pub status: Option<&'a str>,
    /// The topic's name.
    pub topic: &'a str,
    /// The thing whose lifecycle this notice is part of, if any.
    pub thread_key: Option<&'a str>,
    /// The fingerprint of what the notice says, if any.
    pub dedup_key: Option<&'a str>,
    /// When the notice happened (epoch seconds), for the order of a history.
    pub at: Option<i64>,
}

impl<'a> Member<'a> {
    /// The key of the group this notice belongs to: kind, status and topic.
    pub fn group_key(&self) -> (&'a str, Option<&'a str>, &'a str) {
        (self.kind, self.status, self.topic)
    }
}

/// One message's worth of notices: the one shown and those folded into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The notice shown (the latest of a thread).
    pub lead: usize,
    /// How many times the lead's notice arrived (1 when it was not
    /// duplicated).
    pub arrivals: usize,
    /// The thread's notices in the order they happened, the lead last, each
    /// once (duplicates left out); just the lead when nothing flapped.
    pub history: Vec<usize>,
    /// Every notice folded into this unit (duplicates and earlier states),
    /// in input order; never the lead.
    pub collapsed: Vec<usize>,
}

impl Unit {
    fn single(lead: usize) -> Self {
        Unit {
            lead,
            arrivals: 1,
            history: vec![lead],
            collapsed: Vec::new(),
        }
    }

    /// Every notice of the unit: the lead, then the collapsed ones.
    pub fn members(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.lead).chain(self.collapsed.iter().copied())
    }
}

/// A message to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// One unit as its own message.
    Own(Unit),
    /// Many units of one group, one line each (the renderer splits it into
    /// parts within Slack's limits).
    Digest(Vec<Unit>),
}

impl Message {
    /// The units of the message (one for [`Message::Own`]).
    pub fn units(&self) -> &[Unit] {
        match self {
            Message::Own(unit) => std::slice::from_ref(unit),
            Message::Digest(units) => units,
        }
    }
}

/// What became of one notice in grouping: how the message that carries it
/// carries it (also each record's role in [`crate::compose`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// It leads a message of its own.
    Own,
    /// It leads a line of a digest.
    Digest,
    /// It is folded into another notice's message or line.
    Collapsed,
    /// An earlier invocation posted it there already (its posted-once claim
    /// says so, [`crate::once`]): not posted again.
    Duplicate,
}

impl Placement {
    /// The name `explain` and the logs show: `own`, `digest`, `collapsed`,
    /// `duplicate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Own => "own",
            Placement::Digest => "digest",
            Placement::Collapsed => "collapsed",
            Placement::Duplicate => "duplicate",
        }
    }
}

/// The messages one destination gets, in the order their first notice came.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grouping {
    /// The messages.
    pub messages: Vec<Message>,
}

impl Grouping {
    /// `n` notices, each its own message, in order: no grouping at all.
    pub fn each_own(n: usize) -> Self {
        Grouping {
            messages: (0..n).map(|i| Message::Own(Unit::single(i))).collect(),
        }
    }

    /// The fate of each of the `n` notices grouped: exactly one each.
    pub fn fates(&self, n: usize) -> Vec<Option<Placement>> {
        let mut fates = vec![None; n];
        for message in &self.messages {
            let lead_fate = match message {
                Message::Own(_) => Placement::Own,
                Message::Digest(_) => Placement::Digest,
            };
            for unit in message.units() {
                fates[unit.lead] = Some(lead_fate);
                for &c in &unit.collapsed {
                    fates[c] = Some(Placement::Collapsed);
                }
            }
        }
        fates
    }
}

/// Groups the notices routed to one destination (see the module's header).
pub fn group(members: &[Member<'_>], digest_after: DigestAfter) -> Grouping {
    let limit = match digest_after {
        DigestAfter::Off => return Grouping::each_own(members.len()),
        DigestAfter::After(n) => n,
    };
    let units = collapse_threads(members, collapse_duplicates(members));
    // Groups in the order of their first unit; units in their order.
    let mut groups: Vec<Vec<Unit>> = Vec::new();
    let mut index: HashMap<(&str, Option<&str>, &str), usize> = HashMap::new();
    for unit in units {
        let key = members[unit.lead].group_key();
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(unit);
    }
    let mut messages = Vec::new();
    for units in groups {
        if units.len() > limit {
            messages.push(Message::Digest(units));
        } else {
            messages.extend(units.into_iter().map(Message::Own));
        }
    }
    // Messages in the order their first notice arrived.
    messages.sort_by_key(|m| m.units().iter().flat_map(Unit::members).min());
    Grouping { messages }
}

/// Step 1: the units left after duplicates fold into their first arrival.
fn collapse_duplicates(members: &[Member<'_>]) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut by_dedup: HashMap<&str, usize> = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        let id = (!m.message_id.is_empty()).then_some(m.message_id);
        // The same message id is a redelivery only when it says the same:
        // a different notification under a reused id still posts.
        let seen = id
            .and_then(|id| by_id.get(id).copied())
            .filter(|&u| match (members[units[u].lead].dedup_key, m.dedup_key) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            })
            .or_else(|| m.dedup_key.and_then(|k| by_dedup.get(k).copied()));
        let u = match seen {
            Some(u) => {
                units[u].arrivals += 1;
                units[u].collapsed.push(i);
                u
            }
            None => {
                units.push(Unit::single(i));
                units.len() - 1
            }
        };
        // Either key alone marks a later copy of this unit.
        if let Some(id) = id {
            by_id.entry(id).or_insert(u);
        }
        if let Some(k) = m.dedup_key {
            by_dedup.entry(k).or_insert(u);
        }
    }
    units
}

/// Step 2: units of one thread fold into the latest; its history lists the
/// states in the order they happened (by time, then by arrival).
fn collapse_threads(members: &[Member<'_>], units: Vec<Unit>) -> Vec<Unit> {
    let mut threads: Vec<Vec<Unit>> = Vec::new();
    let mut by_thread: HashMap<&str, usize> = HashMap::new();
    for unit in units {
        match members[unit.lead].thread_key {
            Some(key) => {
                let t = *by_thread.entry(key).or_insert_with(|| {
                    threads.push(Vec::new());
                    threads.len() - 1
                });
                threads[t].push(unit);
            }
            None => threads.push(vec![unit]),
        }
    }
    threads
        .into_iter()
        .map(|mut thread| {
            if thread.len() == 1 {
                return thread.pop().expect("one unit");
            }
            // A notice without a time keeps its place by arrival after those
            // before it: sort by (time, arrival) with a missing time treated as
            // the latest time seen so far.
            let mut last = i64::MIN;
            let mut keyed: Vec<(i64, usize, Unit)> = thread
                .into_iter()
                .map(|u| {
                    let at = members[u.lead].at.unwrap_or(last);
                    last = last.max(at);
                    (at, u.lead, u)
                })
                .collect();
            keyed.sort_by_key(|(at, lead, _)| (*at, *lead));
            let history: Vec<usize> = keyed.iter().map(|(_, lead, _)| *lead).collect();
            let (_, _, mut latest) = keyed.pop().expect("at least two units");
            for (_, _, earlier) in keyed {
                latest.collapsed.extend(earlier.members());
            }
            latest.collapsed.sort_unstable();
            latest.history = history;
            latest
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn member<'a>(id: &'a str, kind: &'a str, status: &'a str) -> Member<'a> {
        Member {
            message_id: id,
            kind,
            status: Some(status),
            topic: "alerts",
            thread_key: None,
            dedup_key: None,
            at: None,
        }
    }

    #[test]
    fn a_small_group_posts_each_notice_on_its_own() {
        let m: Vec<Member> = ["a", "b", "c"]
            .iter()
            .map(|id| member(id, "guardduty_finding", "Medium"))
            .collect();
        let g = group(&m, DigestAfter::After(3));
        assert_eq!(g.messages.len(), 3);
        assert!(g.messages.iter().all(|m| matches!(m, Message::Own(_))));
    }

    #[test]
    fn a_group_larger_than_digest_after_becomes_one_digest() {
        let ids: Vec<String> = (0..37).map(|i| format!("m{i}")).collect();
        let mut m: Vec<Member> = ids
            .iter()
            .map(|id| member(id, "guardduty_finding", "Medium"))
            .collect();
        m.insert(10, member("alarm", "cloudwatch_alarm", "ALARM"));
        let g = group(&m, DigestAfter::After(5));
        assert_eq!(g.messages.len(), 2);
        let Message::Digest(units) = &g.messages[0] else {
            panic!("{:?}", g.messages[0]);
        };
        assert_eq!(units.len(), 37);
        assert_eq!(g.messages[1], Message::Own(Unit::single(10)));
    }

    #[test]
    fn groups_are_split_by_kind_status_and_topic() {
        let mut m = vec![member("a", "guardduty_finding", "High"); 3];
        m.extend(vec![member("b", "guardduty_finding", "Low"); 3]);
        let ids: Vec<String> = (0..6).map(|i| format!("m{i}")).collect();
        for (x, id) in m.iter_mut().zip(&ids) {
            x.message_id = id;
        }
        m[5].topic = "other";
        let g = group(&m, DigestAfter::After(2));
        // High (3 > 2): a digest; Low on alerts (2): own; Low on other: own.
        assert_eq!(g.messages.len(), 4);
        assert!(matches!(&g.messages[0], Message::Digest(u) if u.len() == 3));
    }

    #[test]
    fn the_same_message_id_posts_once_and_counts_its_arrivals() {
        let m = vec![
            member("dup", "text", "x"),
            member("other", "text", "x"),
            member("dup", "text", "x"),
            member("dup", "text", "x"),
        ];
        let g = group(&m, DigestAfter::default());
        assert_eq!(g.messages.len(), 2);
        let Message::Own(unit) = &g.messages[0] else {
            panic!()
        };
        assert_eq!((unit.lead, unit.arrivals), (0, 3));
        assert_eq!(unit.collapsed, vec![2, 3]);
        assert_eq!(
            g.fates(4),
            vec![
                Some(Placement::Own),
                Some(Placement::Own),
                Some(Placement::Collapsed),
                Some(Placement::Collapsed)
            ]
        );
    }

    #[test]
    fn a_reused_message_id_that_says_something_else_is_not_a_duplicate() {
        let mut a = member("same", "cloudwatch_alarm", "ALARM");
        let mut b = member("same", "cloudwatch_alarm", "OK");
        a.dedup_key = Some("alarm-state");
        b.dedup_key = Some("ok-state");
        let g = group(&[a, b], DigestAfter::default());
        assert_eq!(g.messages.len(), 2);
    }

    #[test]
    fn the_same_dedup_key_from_two_regions_posts_once() {
        let mut a = member("a", "securityhub_finding", "High");
        let mut b = member("b", "securityhub_finding", "High");
        a.dedup_key = Some("finding-1");
        b.dedup_key = Some("finding-1");
        let g = group(&[a, b], DigestAfter::default());
        assert_eq!(g.messages.len(), 1);
        assert_eq!(g.messages[0].units()[0].arrivals, 2);
    }

    #[test]
    fn a_flapping_alarm_is_one_message_led_by_its_latest_state_in_time_order() {
        let states = [("ALARM", 100), ("OK", 160), ("ALARM", 340)];
        let ids = ["a", "b", "c"];
        // Arrive out of order: OK first.
        let order = [1, 0, 2];
        let m: Vec<Member> = order
            .iter()
            .map(|&i| Member {
                thread_key: Some("arn:alarm"),
                at: Some(states[i].1),
                ..member(ids[i], "cloudwatch_alarm", states[i].0)
            })
            .collect();
        let g = group(&m, DigestAfter::default());
        assert_eq!(g.messages.len(), 1);
        let unit = &g.messages[0].units()[0];
        assert_eq!(unit.lead, 2);
        assert_eq!(unit.history, vec![1, 0, 2], "ALARM -> OK -> ALARM");
        assert_eq!(unit.collapsed, vec![0, 1]);
    }

    #[test]
    fn off_posts_every_notice_on_its_own_even_duplicates() {
        let m = vec![member("dup", "text", "x"); 8];
        let g = group(&m, DigestAfter::Off);
        assert_eq!(g.messages.len(), 8);
    }

    #[test]
    fn digest_after_parses_off_and_bounded_numbers() {
        assert_eq!("off".parse(), Ok(DigestAfter::Off));
        assert_eq!(" 12 ".parse(), Ok(DigestAfter::After(12)));
        assert!(
            "0".parse::<DigestAfter>()
                .unwrap_err()
                .contains("1 to 10000")
        );
        assert!("many".parse::<DigestAfter>().is_err());
    }

    /// Message id, kind, status, thread, dedup key and time, as small numbers.
    type Raw = (u8, u8, u8, Option<u8>, Option<u8>, Option<i64>);

    fn arb_members() -> impl Strategy<Value = Vec<Raw>> {
        prop::collection::vec(
            (
                0u8..6,
                0u8..3,
                0u8..3,
                prop::option::of(0u8..4),
                prop::option::of(0u8..4),
                prop::option::of(0i64..1000),
            ),
            0..80,
        )
    }

    proptest! {
        #[test]
        fn every_notice_ends_in_exactly_one_place(
            raw in arb_members(),
            limit in prop::option::of(1usize..8),
        ) {
            let ids: Vec<String> = raw.iter().map(|r| format!("id{}", r.0)).collect();
            let kinds = ["a", "b", "c"];
            let statuses = ["x", "y", "z"];
            let threads: Vec<String> = raw.iter().map(|r| format!("t{:?}", r.3)).collect();
            let dedups: Vec<String> = raw.iter().map(|r| format!("d{:?}", r.4)).collect();
            let members: Vec<Member> = raw
                .iter()
                .enumerate()
                .map(|(i, r)| Member {
                    message_id: &ids[i],
                    kind: kinds[r.1 as usize],
                    status: Some(statuses[r.2 as usize]),
                    topic: "t",
                    thread_key: r.3.map(|_| threads[i].as_str()),
                    dedup_key: r.4.map(|_| dedups[i].as_str()),
                    at: r.5,
                })
                .collect();
            let digest_after = limit.map_or(DigestAfter::Off, DigestAfter::After);
            let g = group(&members, digest_after);
            let mut seen = vec![0usize; members.len()];
            for message in &g.messages {
                for unit in message.units() {
                    for i in unit.members() {
                        seen[i] += 1;
                    }
                    prop_assert!(unit.history.contains(&unit.lead));
                    prop_assert_eq!(*unit.history.last().unwrap(), unit.lead);
                }
                if let (Message::Digest(units), DigestAfter::After(n)) = (message, digest_after) {
                    prop_assert!(units.len() > n);
                }
            }
            prop_assert!(seen.iter().all(|&c| c == 1), "{:?}", seen);
            prop_assert!(g.fates(members.len()).iter().all(Option::is_some));
        }
    }
}
