//! Composing: the plans' posts, destination by destination, as the messages
//! to send: each record on its own, or digests and folded messages when a
//! storm arrives ([`crate::group`]). Pure.
//!
//! [`compose`] returns the jobs to deliver and, for each record, one
//! [`Branch`] per destination it goes to (in the order of its plan's `to`):
//! which job carries it and in what [`Placement`]. A job's outcome is the outcome
//! of every record it carries; [`crate::settle`] reads them through the
//! branches, so every record still ends as exactly one outcome per
//! destination.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::delivery::Job;
use crate::destination::Destination;
use crate::group::{self, DigestAfter, Grouping, Member, Message, Placement, Unit};
use crate::kinds;
use crate::notice::Part;
use crate::plan::Plan;
use crate::record::Record;
use crate::render::digest::{self, Entry, Line};
use crate::render::{self, Overrides};

/// One destination of one record: the job that carries it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Branch {
    /// Index into [`Composition::jobs`].
    pub job: usize,
    /// How the job carries the record.
    pub role: Placement,
}

/// What to deliver, and which job carries which record where.
#[derive(Debug, Clone, Default)]
pub struct Composition {
    /// The messages to post, destination by destination.
    pub jobs: Vec<Job>,
    /// Per record (in record order), one branch per destination of its plan,
    /// in the plan's order; empty for a record with nothing to post.
    pub branches: Vec<Vec<Branch>>,
}

/// Composes the posts of `plans` (those of `records`) into jobs. With
/// `digest_after` off, or a destination that gets one record, every record is
/// its own message, as planned; otherwise each destination's records are
/// grouped and a group larger than `digest_after` becomes digests.
pub fn compose<R: Borrow<Record>>(
    records: &[R],
    plans: &[Plan],
    digest_after: DigestAfter,
    overrides: &Overrides,
    max_message_chars: usize,
) -> Composition {
    let mut composition = Composition {
        branches: vec![Vec::new(); plans.len()],
        ..Composition::default()
    };
    // Each destination's records, destinations in the order first named.
    let mut order: Vec<Arc<Destination>> = Vec::new();
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (r, plan) in plans.iter().enumerate() {
        if let Plan::Post { to, .. } = plan {
            for destination in to {
                let list = by_name.entry(destination.name.as_str()).or_default();
                if list.is_empty() {
                    order.push(destination.clone());
                }
                list.push(r);
            }
        }
    }
    // Slots to fill in plan order: (record, position in its `to`).
    let mut slots: HashMap<(usize, &str), Branch> = HashMap::new();
    for destination in &order {
        let members = &by_name[destination.name.as_str()];
        let grouping = match digest_after {
            DigestAfter::After(_) if members.len() > 1 => {
                let view: Option<Vec<Member>> = members
                    .iter()
                    .map(|&r| plans[r].line().map(member))
                    .collect();
                // Planned with digests off (no lines): each its own.
                view.map_or_else(
                    || Grouping::each_own(members.len()),
                    |view| group::group(&view, digest_after),
                )
            }
            _ => Grouping::each_own(members.len()),
        };
        for message in &grouping.messages {
            match message {
                Message::Own(unit) => {
                    let body =
                        own_body(records, plans, members, unit, overrides, max_message_chars);
                    let job = composition.push(destination, body);
                    for (i, role) in roles(unit, Placement::Own) {
                        slots.insert(
                            (members[i], destination.name.as_str()),
                            Branch { job, role },
                        );
                    }
                }
                Message::Digest(units) => {
                    let parts = digest_parts(plans, members, units, overrides);
                    for (part, range) in parts {
                        let job = composition.push(destination, part);
                        for unit in &units[range] {
                            for (i, role) in roles(unit, Placement::Digest) {
                                slots.insert(
                                    (members[i], destination.name.as_str()),
                                    Branch { job, role },
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    for (r, plan) in plans.iter().enumerate() {
        if let Plan::Post { to, .. } = plan {
            composition.branches[r] = to
                .iter()
                .filter_map(|d| slots.get(&(r, d.name.as_str())).copied())
                .collect();
        }
    }
    composition
}

impl Composition {
    fn push(&mut self, destination: &Arc<Destination>, body: Bytes) -> usize {
        self.jobs.push(Job {
            destination: destination.clone(),
            body,
        });
        self.jobs.len() - 1
    }

    /// Per job, whether it is a digest (it carries a digest line).
    pub fn digest_jobs(&self) -> Vec<bool> {
        let mut digest = vec![false; self.jobs.len()];
        for b in self.branches.iter().flatten() {
            if b.role == Placement::Digest {
                digest[b.job] = true;
            }
        }
        digest
    }
}

/// The members of `unit` (indices into the destination's list) with their
/// roles: the lead as `lead`, the folded ones collapsed.
fn roles(unit: &Unit, lead: Placement) -> impl Iterator<Item = (usize, Placement)> + '_ {
    std::iter::once((unit.lead, lead))
        .chain(unit.collapsed.iter().map(|&c| (c, Placement::Collapsed)))
}

fn line(plan: &Plan) -> &Line {
    plan.line()
        .expect("only posts grouped on their lines are composed again")
}

fn mention(plan: &Plan) -> Option<&str> {
    match plan {
        Plan::Post { mention, .. } => mention.as_deref(),
        _ => None,
    }
}

fn member(line: &Line) -> Member<'_> {
    Member {
        message_id: &line.message_id,
        kind: line.kind.as_str(),
        status: line.status.as_deref(),
        topic: &line.topic,
        thread_key: line.thread_key.as_deref(),
        dedup_key: Some(&line.dedup_key),
        at: line.at.map(|t| t.timestamp()),
    }
}

/// The body of a unit posted on its own: the lead's planned message, or,
/// when others were folded in, the lead rendered again with a note that says
/// what was folded.
fn own_body<R: Borrow<Record>>(
    records: &[R],
    plans: &[Plan],
    members: &[usize],
    unit: &Unit,
    overrides: &Overrides,
    max_message_chars: usize,
) -> Bytes {
    let lead = &plans[members[unit.lead]];
    let Plan::Post { body, .. } = lead else {
        unreachable!("only posts are composed");
    };
    if unit.collapsed.is_empty() {
        return body.clone();
    }
    let history: Vec<&Line> = unit
        .history
        .iter()
        .map(|&i| line(&plans[members[i]]))
        .collect();
    let entry = Entry {
        lead: line(lead),
        arrivals: unit.arrivals,
        history: &history,
    };
    let Some(note) = digest::folded_note(&entry) else {
        return body.clone();
    };
    let Ok(n) = records[members[unit.lead]].borrow().notification() else {
        return body.clone();
    };
    let mut notice = kinds::read(n, max_message_chars);
    notice.body.push(Part::Note(note));
    let payload = render::render(&notice, overrides, mention(lead));
    payload.to_json(body.len() + 512).into()
}

/// The digest messages of `units`, each with the range of units it carries.
fn digest_parts(
    plans: &[Plan],
    members: &[usize],
    units: &[Unit],
    overrides: &Overrides,
) -> Vec<(Bytes, std::ops::Range<usize>)> {
    let histories: Vec<Vec<&Line>> = units
        .iter()
        .map(|u| {
            u.history
                .iter()
                .map(|&i| line(&plans[members[i]]))
                .collect()
        })
        .collect();
    let entries: Vec<Entry> = units
        .iter()
        .zip(&histories)
        .map(|(u, history)| Entry {
            lead: line(&plans[members[u.lead]]),
            arrivals: u.arrivals,
            history,
        })
        .collect();
    // The first mention among the units that are bad (rules may differ).
    let mention = units
        .iter()
        .map(|u| &plans[members[u.lead]])
        .find(|p| mention(p).is_some() && line(p).tone == Some(crate::notice::Tone::Danger))
        .and_then(mention);
    digest::render(&entries, overrides, mention)
        .into_iter()
        .map(|part| (part.payload.to_json(4096).into(), part.entries))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::webhook::Webhook;
    use crate::plan::plan_to;
    use crate::record::parse_event;
    use serde_json::{Value, json};

    fn destination(name: &str) -> Arc<Destination> {
        Arc::new(Destination {
            name: name.into(),
            target: crate::destination::Target::Webhook(
                Webhook::parse("https://hooks.slack.com/services/T/B/SECRET").unwrap(),
            ),
            rate_per_second: None,
        })
    }

    /// The alarm fixture's record in `state` at `time`, published as `id`.
    fn alarm(id: &str, state: &str, time: &str) -> Value {
        let fixture: Value =
            serde_json::from_str(include_str!("../tests/fixtures/sns-cloudwatch-alarm.json"))
                .unwrap();
        let mut record = fixture["Records"][0].clone();
        let mut message: Value =
            serde_json::from_str(record["Sns"]["Message"].as_str().unwrap()).unwrap();
        message["NewStateValue"] = json!(state);
        message["StateChangeTime"] = json!(time);
        record["Sns"]["Message"] = json!(message.to_string());
        record["Sns"]["MessageId"] = json!(id);
        record
    }

    fn records(raw: Vec<Value>) -> Vec<Record> {
        parse_event(&json!({ "Records": raw }).to_string()).unwrap()
    }

    fn body(c: &Composition, job: usize) -> Value {
        serde_json::from_slice(&c.jobs[job].body).unwrap()
    }

    #[test]
    fn without_a_storm_every_record_is_its_own_message_destination_by_destination() {
        let recs = records(vec![
            alarm("a", "ALARM", "2026-11-24T09:15:00.000+0000"),
            json!({"Sns": {"MessageId": "b", "Message": "disk full"}}),
        ]);
        let to = [destination("ops"), destination("security")];
        let plans = plan_to(&recs, &to, &Overrides::default(), 4000);
        let c = compose(
            &recs,
            &plans,
            DigestAfter::default(),
            &Overrides::default(),
            4000,
        );
        let names: Vec<&str> = c.jobs.iter().map(|j| j.destination.name.as_str()).collect();
        assert_eq!(names, ["ops", "ops", "security", "security"]);
        assert_eq!(
            c.branches[0],
            vec![
                Branch {
                    job: 0,
                    role: Placement::Own
                },
                Branch {
                    job: 2,
                    role: Placement::Own
                }
            ]
        );
        assert_eq!(
            c.branches[1][1],
            Branch {
                job: 3,
                role: Placement::Own
            }
        );
        let Plan::Post { body: planned, .. } = &plans[1] else {
            panic!()
        };
        assert_eq!(
            &c.jobs[1].body, planned,
            "a lone record posts its planned message"
        );
        assert!(c.digest_jobs().iter().all(|d| !d));
    }

    #[test]
    fn a_flapping_alarm_is_one_message_in_its_latest_state_with_its_transitions() {
        let recs = records(vec![
            alarm("a", "ALARM", "2026-11-24T09:15:00.000+0000"),
            alarm("b", "OK", "2026-11-24T09:17:00.000+0000"),
            alarm("c", "ALARM", "2026-11-24T09:19:00.000+0000"),
        ]);
        let to = [destination("ops")];
        let plans = plan_to(&recs, &to, &Overrides::default(), 4000);
        let c = compose(
            &recs,
            &plans,
            DigestAfter::default(),
            &Overrides::default(),
            4000,
        );
        assert_eq!(c.jobs.len(), 1);
        let roles: Vec<Placement> = c.branches.iter().map(|b| b[0].role).collect();
        assert_eq!(
            roles,
            [Placement::Collapsed, Placement::Collapsed, Placement::Own]
        );
        let shown = body(&c, 0).to_string();
        assert!(
            shown.contains("ALARM → OK → ALARM, 3 changes in 4 min"),
            "{shown}"
        );
        assert!(body(&c, 0)["text"].as_str().unwrap().contains("ALARM"));
    }

    #[test]
    fn a_duplicate_posts_once_and_says_how_often_it_arrived() {
        let recs = records(vec![
            json!({"Sns": {"MessageId": "same", "Message": "disk full"}}),
            json!({"Sns": {"MessageId": "same", "Message": "disk full"}}),
        ]);
        let plans = plan_to(&recs, &[destination("ops")], &Overrides::default(), 4000);
        let c = compose(
            &recs,
            &plans,
            DigestAfter::default(),
            &Overrides::default(),
            4000,
        );
        assert_eq!(c.jobs.len(), 1);
        assert_eq!(
            c.branches[1],
            vec![Branch {
                job: 0,
                role: Placement::Collapsed
            }]
        );
        assert!(body(&c, 0).to_string().contains("Arrived 2 times."));
        // Off: exactly as planned, one post each.
        let off = compose(&recs, &plans, DigestAfter::Off, &Overrides::default(), 4000);
        assert_eq!(off.jobs.len(), 2);
    }

    #[test]
    fn a_group_over_digest_after_becomes_a_digest_and_the_rest_stay_their_own() {
        let mut raw: Vec<Value> = (0..8)
            .map(|i| json!({"Sns": {"MessageId": format!("t{i}"), "Message": format!("disk full {i}")}}))
            .collect();
        raw.push(alarm("a", "ALARM", "2026-11-24T09:15:00.000+0000"));
        let recs = records(raw);
        let plans = plan_to(&recs, &[destination("ops")], &Overrides::default(), 4000);
        let c = compose(
            &recs,
            &plans,
            DigestAfter::After(5),
            &Overrides::default(),
            4000,
        );
        assert_eq!(c.jobs.len(), 2);
        assert_eq!(c.digest_jobs(), [true, false]);
        assert!(c.branches[..8].iter().all(|b| b[0]
            == Branch {
                job: 0,
                role: Placement::Digest
            }));
        assert_eq!(
            c.branches[8][0],
            Branch {
                job: 1,
                role: Placement::Own
            }
        );
        let digest = body(&c, 0);
        assert!(
            digest["text"]
                .as_str()
                .unwrap()
                .starts_with("8 notifications: "),
            "{digest}"
        );
    }
}
