//! Planning: what becomes of each record before delivery. Pure.
//!
//! Each record is read, formatted and routed once ([`plan`], [`plan_for`]), or
//! sent to fixed webhooks whatever `ROUTES` says ([`plan_to`]: a dead letter
//! that names its webhook, a preview). [`crate::compose`] then lays the posts
//! out as jobs, destination by destination.
//!
//! A post's [`Line`] (what grouping and a digest line read of its notice) is
//! written only when grouping may need it: with digests on and more than one
//! record in the batch. A lone SNS record, or a batch with `DIGEST_AFTER=off`,
//! never pays for its fingerprint.

use std::sync::Arc;

use bytes::Bytes;

use crate::destination::Destination;
use crate::group::DigestAfter;
use crate::kinds;
use crate::outcome::{Failure, Reason};
use crate::record::{Notification, Record};
use crate::render::digest::Line;
use crate::render::{self, Overrides, Payload};
use crate::route::{Facts, Route, Routing};

/// What becomes of one record before delivery.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Post `body` to each of `to`.
    Post {
        /// The Slack message as JSON, shared by every webhook it goes to.
        body: Bytes,
        /// The webhooks (none only in a preview).
        to: Vec<Arc<Destination>>,
        /// The matching rule's `mention`, for a message composed again (a
        /// digest, a folded message).
        mention: Option<String>,
        /// What grouping and a digest line need of the notice; `None` when
        /// planned with no grouping possible ([`plan_for`]).
        line: Option<Box<Line>>,
        /// The index of the `ROUTES` rule that sent it (`None` when sent to
        /// fixed webhooks whatever the rules say).
        rule: Option<usize>,
    },
    /// Muted by rule number `rule` of `ROUTES`.
    Drop {
        /// The rule's index.
        rule: usize,
    },
    /// Not posted: dead-lettered with this failure (unreadable, unrouted).
    Fail(Failure),
}

impl Plan {
    /// A post's [`Line`], when it was written.
    pub fn line(&self) -> Option<&Line> {
        match self {
            Plan::Post { line, .. } => line.as_deref(),
            _ => None,
        }
    }

    /// The plan of a record that cannot be read: `invalid_record`, or
    /// `invalid_event` for a whole payload kept by such a dead letter.
    pub fn unreadable(record: &Record, why: &str) -> Self {
        let reason = match record.unread_payload() {
            Some(_) => Reason::InvalidEvent,
            None => Reason::InvalidRecord,
        };
        Plan::Fail(Failure {
            reason,
            status: None,
            detail: why.to_string(),
        })
    }
}

/// Plans each record: detects its kind and status, routes it, and writes its
/// Slack message once for all the webhooks it goes to. Each post has its
/// [`Line`] when there is more than one record (digests may be on).
pub fn plan(
    records: &[Record],
    routing: &Routing,
    overrides: &Overrides,
    max_message_chars: usize,
) -> Vec<Plan> {
    plan_for(
        records,
        routing,
        overrides,
        max_message_chars,
        DigestAfter::default(),
    )
}

/// [`plan`] for composing with `digest_after`: each post has its [`Line`]
/// only when grouping may need it (`digest_after` on and more than one
/// record), so a composition with digests off, or of one record, never
/// computes a fingerprint.
pub fn plan_for(
    records: &[Record],
    routing: &Routing,
    overrides: &Overrides,
    max_message_chars: usize,
    digest_after: DigestAfter,
) -> Vec<Plan> {
    let lines = may_group(records, digest_after);
    plan_each(records, |n| {
        formatted(n, overrides, max_message_chars, lines, |facts| {
            routing.decide(facts)
        })
    })
}

/// Whether grouping may need the posts' lines: `digest_after` on and more
/// than one record (a destination of a lone record gets one post; routing
/// never names a destination twice).
fn may_group(records: &[Record], digest_after: DigestAfter) -> bool {
    digest_after != DigestAfter::Off && records.len() > 1
}

/// Plans each record to go to exactly `to`, whatever `ROUTES` says (a dead
/// letter that names its webhook; an empty `to` for a preview).
pub fn plan_to(
    records: &[Record],
    to: &[Arc<Destination>],
    overrides: &Overrides,
    max_message_chars: usize,
) -> Vec<Plan> {
    let lines = may_group(records, DigestAfter::default());
    plan_each(records, |n| {
        let mut fixed = formatted(n, overrides, max_message_chars, lines, |_| Route::To {
            to: to.to_vec(),
            rule: 0,
            mention: None,
        });
        if let Plan::Post { rule, .. } = &mut fixed {
            *rule = None;
        }
        fixed
    })
}

fn plan_each(records: &[Record], each: impl Fn(&Notification) -> Plan) -> Vec<Plan> {
    records
        .iter()
        .map(|record| match record.notification() {
            Ok(n) => each(n),
            Err(why) => Plan::unreadable(record, why),
        })
        .collect()
}

/// The one place planning calls the formatter: reads `n` once (kind, status,
/// topic), lets `route` decide from those facts, and renders the Slack message
/// (and, when `lines`, the post's [`Line`]) only when it is to be posted.
fn formatted(
    n: &Notification,
    overrides: &Overrides,
    max_message_chars: usize,
    lines: bool,
    route: impl FnOnce(&Facts) -> Route,
) -> Plan {
    let notice = kinds::read(n, max_message_chars);
    let facts = Facts {
        topic: n.topic_name(),
        subject: n.subject.as_deref().unwrap_or(""),
        kind: notice.kind.as_str(),
        status: notice.status.as_deref().unwrap_or(""),
        attributes: &n.message_attributes,
        published: n.timestamp.as_deref(),
    };
    match route(&facts) {
        Route::To { to, mention, rule } => {
            let payload = render::render(&notice, overrides, mention.as_deref());
            Plan::Post {
                body: serialize(&payload, n, max_message_chars),
                to,
                line: lines.then(|| Box::new(Line::of(&notice, &n.message_id))),
                mention,
                rule: Some(rule),
            }
        }
        Route::Drop { rule } => Plan::Drop { rule },
        Route::Unrouted => Plan::Fail(unrouted(&facts)),
    }
}

fn unrouted(facts: &Facts) -> Failure {
    Failure {
        reason: Reason::Unrouted,
        status: None,
        detail: format!(
            "no rule of ROUTES matched (topic {:?}, subject {:?}, kind {}, status {:?})",
            facts.topic, facts.subject, facts.kind, facts.status
        ),
    }
}

fn serialize(payload: &Payload, n: &Notification, max_message_chars: usize) -> Bytes {
    // Sized for the message plus the layout, so it is usually written without
    // growing; capped near the message's cut, since the body keeps this
    // allocation while it waits.
    let estimate = n.message.len().min(2 * max_message_chars) + 512;
    payload.to_json(estimate).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::Webhooks;
    use crate::destination::webhook::Webhook;
    use crate::record::parse_event;

    const HOOK: &str = "https://hooks.slack.com/services/T000/B000/SECRETSECRET";

    fn records(messages: &[&str]) -> Vec<Record> {
        let records: Vec<String> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                serde_json::json!({"EventSource": "aws:sns", "Sns": {"MessageId": format!("m{i}"),
                    "TopicArn": "arn:aws:sns:eu-west-1:123456789012:alerts", "Subject": m, "Message": m}})
                .to_string()
            })
            .collect();
        parse_event(&format!(r#"{{"Records":[{}]}}"#, records.join(","))).unwrap()
    }

    fn routing(routes: &str) -> Routing {
        let table = format!(r#"{{"ops":"{HOOK}","security":"{HOOK}"}}"#);
        let webhooks = Webhooks::parse(&table, "WEBHOOKS", false).unwrap();
        Routing::new(webhooks, Some(routes), kinds::KIND_NAMES).unwrap()
    }

    #[test]
    fn each_record_is_posted_dropped_or_failed_by_the_rules() {
        let routing = routing(
            r#"[{"match":{"subject":"mute*"},"drop":true},{"match":{"subject":"page*"},"to":["ops","security"]}]"#,
        );
        let mut recs = records(&["page me", "mute this", "nobody"]);
        recs.extend(
            parse_event(r#"{"Records":[{"Sns":{"MessageId":"x"}},{"Sns":{"Message":"y"}}]}"#)
                .unwrap(),
        );
        let plans = plan(&recs, &routing, &Overrides::default(), 4000);
        let Plan::Post { body, to, .. } = &plans[0] else {
            panic!("{:?}", plans[0]);
        };
        let names: Vec<&str> = to.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["ops", "security"]);
        assert!(String::from_utf8_lossy(body).contains("page me"));
        assert!(matches!(plans[1], Plan::Drop { rule: 0 }));
        assert!(
            matches!(&plans[2], Plan::Fail(f) if f.reason == Reason::Unrouted
            && f.detail.contains("alerts"))
        );
        assert!(matches!(&plans[3], Plan::Fail(f) if f.reason == Reason::InvalidRecord));
        assert!(matches!(&plans[4], Plan::Fail(f) if f.reason == Reason::Unrouted));
    }

    #[test]
    fn lines_are_written_only_when_grouping_may_need_them() {
        let routing = routing(r#"[{"to":["ops"]}]"#);
        let o = Overrides::default();
        let lined = |plans: Vec<Plan>| plans.iter().map(|p| p.line().is_some()).collect::<Vec<_>>();
        let two = records(&["a", "b"]);
        assert_eq!(lined(plan(&two, &routing, &o, 4000)), [true, true]);
        assert_eq!(
            lined(plan_for(&two, &routing, &o, 4000, DigestAfter::After(5))),
            [true, true]
        );
        assert_eq!(
            lined(plan_for(&two, &routing, &o, 4000, DigestAfter::Off)),
            [false, false],
            "digests off"
        );
        assert_eq!(
            lined(plan(&records(&["a"]), &routing, &o, 4000)),
            [false],
            "one record"
        );
        let line = plan(&two, &routing, &o, 4000)[1].line().cloned().unwrap();
        assert_eq!(
            (line.message_id.as_str(), line.headline.as_str()),
            ("m1", "b: b")
        );
    }

    #[test]
    fn a_fixed_destination_ignores_the_rules() {
        let destination = Arc::new(Destination {
            name: "payments".into(),
            target: crate::destination::Target::Webhook(Webhook::parse(HOOK).unwrap()),
            rate_per_second: None,
        });
        let plans = plan_to(
            &records(&["a", "b"]),
            std::slice::from_ref(&destination),
            &Overrides::default(),
            4000,
        );
        for p in &plans {
            assert!(matches!(p, Plan::Post { to, .. } if to[0].name == "payments"));
        }
        assert!(
            matches!(&plan_to(&records(&["a"]), &[], &Overrides::default(), 4000)[0],
            Plan::Post { to, .. } if to.is_empty())
        );
    }
}
