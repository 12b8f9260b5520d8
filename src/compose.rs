//! Composing: the plans' posts, destination by destination, as the messages
//! to send: each record on its own, or digests and folded messages when a
//! storm arrives ([`crate::group`]). Pure.
//!
//! [`compose`] returns the jobs to deliver and, for each record, one
//! [`Branch`] per destination it goes to (in the order of its plan's `to`):
//! which job carries it and in what [`Role`]. A job's outcome is the outcome
//! of every record it carries; [`crate::settle`] reads them through the
//! branches, so every record still ends as exactly one outcome per
//! destination.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::delivery::Job;
use crate::group::{self, DigestAfter, Member, Message, Unit};
use crate::kinds;
use crate::notice::Part;
use crate::plan::Plan;
use crate::record::Record;
use crate::render::digest::{self, Entry, Line};
use crate::render::{self, Overrides};
use crate::webhooks::Destination;

/// How a record is carried by its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The job is the record's own message.
    Own,
    /// The record is a line of the job's digest.
    Digest,
    /// The record is folded into another record's message or line (a
    /// duplicate, an earlier state of a flapping thing).
    Collapsed,
}

impl Role {
    /// The name `explain` shows: `own`, `digest`, `collapsed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Own => "own",
            Role::Digest => "digest",
            Role::Collapsed => "collapsed",
        }
    }
}

/// One destination of one record: the job that carries it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Branch {
    /// Index into [`Composition::jobs`].
    pub job: usize,
    /// How the job carries the record.
    pub role: Role,
}

/// What to deliver, and which job carries which record where.
#[derive(Debug, Clone, Default)]
pub struct Composition {
    /// The messages to post, destination by destination.
    pub jobs: Vec<Job>,
    /// Per record (in record order), one branch per destination of its plan,
    /// in the plan's order; empty for a record with nothing to post.
    pub branches: Vec<Vec<Branch>>,
    /// Per job, whether it is a digest.
    pub digests: Vec<bool>,
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
                let lines: Vec<&Line> = members.iter().map(|&r| line(&plans[r])).collect();
                let view: Vec<Member> = lines.iter().map(|l| member(l)).collect();
                group::group(&view, digest_after)
            }
            _ => group::group(&vec![Member::default(); members.len()], DigestAfter::Off),
        };
        for message in &grouping.messages {
            match message {
                Message::Own(unit) => {
                    let body = own_body(records, plans, members, unit, overrides, max_message_chars);
                    let job = composition.push(destination, body, false);
                    for (i, role) in roles(unit, Role::Own) {
                        slots.insert((members[i], destination.name.as_str()), Branch { job, role });
                    }
                }
                Message::Digest(units) => {
                    let parts = digest_parts(plans, members, units, overrides);
                    for (part, range) in parts {
                        let job = composition.push(destination, part, true);
                        for unit in &units[range] {
                            for (i, role) in roles(unit, Role::Digest) {
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
    fn push(&mut self, destination: &Arc<Destination>, body: Bytes, digest: bool) -> usize {
        self.jobs.push(Job {
            destination: destination.clone(),
            body,
        });
        self.digests.push(digest);
        self.jobs.len() - 1
    }
}

/// The members of `unit` (indices into the destination's list) with their
/// roles: the lead as `lead`, the folded ones collapsed.
fn roles(unit: &Unit, lead: Role) -> impl Iterator<Item = (usize, Role)> + '_ {
    std::iter::once((unit.lead, lead)).chain(unit.collapsed.iter().map(|&c| (c, Role::Collapsed)))
}

fn line(plan: &Plan) -> &Line {
    match plan {
        Plan::Post { line, .. } => line,
        _ => unreachable!("only posts are composed"),
    }
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
    let history: Vec<&Line> = unit.history.iter().map(|&i| line(&plans[members[i]])).collect();
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
        .map(|u| u.history.iter().map(|&i| line(&plans[members[i]])).collect())
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
