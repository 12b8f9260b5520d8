//! Property tests: the entry points that read outside input never panic,
//! whatever they are given, and keep their contracts on what they accept.
//! (`cargo fuzz` drives the same entry points with coverage guidance; see
//! fuzz/.)

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::json;
use sns_to_slack::compose::compose;
use sns_to_slack::config::{self, CliConfig, LambdaConfig};
use sns_to_slack::delivery::limiter::Limiter;
use sns_to_slack::delivery::policy::{self, Attempt, Decision};
use sns_to_slack::destination::Destination;
use sns_to_slack::destination::webhook::Webhook;
use sns_to_slack::group::DigestAfter;
use sns_to_slack::kinds;
use sns_to_slack::once;
use sns_to_slack::outcome::{Failure, Outcome, Reason};
use sns_to_slack::plan::Plan;
use sns_to_slack::record;
use sns_to_slack::record::body;
use sns_to_slack::render::digest::Line;
use sns_to_slack::render::{self, MIN_MAX_MESSAGE_CHARS, MessageFormat, Overrides};
use sns_to_slack::settle;
use sns_to_slack::state::memory::MemoryState;
use sns_to_slack::state::{State, StateSettings};
use std::sync::Arc;

/// JSON-ish text: fragments of the shapes we read, glued at random, so the
/// parsers get deep into their code instead of failing at the first byte.
fn jsonish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("null".to_string()),
        Just("\"Records\"".to_string()),
        Just("\"Sns\"".to_string()),
        Just("\"Message\"".to_string()),
        Just("\"Subject\"".to_string()),
        Just("\"TopicArn\"".to_string()),
        Just("\"MessageAttributes\"".to_string()),
        Just("\"record\"".to_string()),
        Just("\"reason\"".to_string()),
        Just("\"requestPayload\"".to_string()),
        Just("\"requestContext\"".to_string()),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        any::<f64>().prop_map(|f| f.to_string()),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

/// A well-formed SNS event around arbitrary field values.
fn sns_event() -> impl Strategy<Value = String> {
    (
        any::<String>(),
        proptest::option::of(any::<String>()),
        any::<String>(),
        proptest::option::of(any::<String>()),
        prop::collection::hash_map(any::<String>(), any::<String>(), 0..3),
    )
        .prop_map(|(message, subject, topic, timestamp, attributes)| {
            let attributes: HashMap<String, serde_json::Value> = attributes
                .into_iter()
                .map(|(k, v)| (k, json!({"Type": "String", "Value": v})))
                .collect();
            json!({"Records": [{"EventSource": "aws:sns", "Sns": {
                "MessageId": "m", "Message": message, "Subject": subject,
                "TopicArn": topic, "Timestamp": timestamp,
                "MessageAttributes": attributes}}]})
            .to_string()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn event_parsing_never_panics(text in prop_oneof![any::<String>(), jsonish(), sns_event()]) {
        if let Ok(records) = record::parse_event(&text) {
            prop_assert!(!records.is_empty());
            for r in &records {
                let _ = (r.notification(), r.message_id(), r.kept());
            }
        }
    }

    #[test]
    fn message_building_never_panics_and_keeps_its_bound(
        event in sns_event(),
        max in 0usize..50_000,
        channel in proptest::option::of(any::<String>()),
    ) {
        let records = record::parse_event(&event).unwrap();
        let n = records[0].notification().unwrap();
        let overrides = Overrides {
            channel,
            message_format: MessageFormat::Attachments,
            ..Overrides::default()
        };
        let msg = render::render(&kinds::read(n, max), &overrides, None);
        let value = serde_json::to_value(&msg).unwrap();
        let text = value["attachments"][0]["fields"][0]["value"].as_str().unwrap();
        let bound = max.max(MIN_MAX_MESSAGE_CHARS);
        prop_assert!(text.chars().count() <= bound, "{} > {}", text.chars().count(), bound);
    }

    #[test]
    fn retry_after_parsing_never_panics_and_reads_only_digits_or_dates(
        value in prop_oneof![
            any::<String>(),
            "[0-9]{1,40}",
            "[ +-]?[0-9.eE+-]{1,12}",
            any::<u64>().prop_map(|s| httpdate::fmt_http_date(
                SystemTime::UNIX_EPOCH + Duration::from_secs(s % 253_402_300_799))),
        ],
        now_s in 0u64..253_402_300_799,
        cap_ms in 1u64..=config::MAX_RETRY_AFTER_MS,
    ) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_s);
        let parsed = policy::parse_retry_after(&value, now);
        let trimmed = value.trim();
        if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            prop_assert!(parsed.is_some());
        } else if parsed.is_some() {
            prop_assert!(httpdate::parse_http_date(trimmed).is_ok(), "{value:?} read as {parsed:?}");
        }
        let cap = Duration::from_millis(cap_ms);
        let attempt = Attempt::Status { status: 429, body: String::new(), retry_after: Some(value) };
        match policy::decide(&attempt, 1, 5, Duration::from_millis(250), now, cap) {
            Decision::Retry { after, .. } => prop_assert!(after <= cap.max(Duration::from_millis(250))),
            d => prop_assert!(false, "{d:?}"),
        }
    }

    #[test]
    fn the_body_reader_never_panics(text in prop_oneof![any::<String>(), jsonish()]) {
        if let Ok((_, records)) = body::read_letter(&text) {
            prop_assert!(!records.is_empty());
        }
        let _ = body::read(&text);
    }

    #[test]
    fn the_configuration_parser_never_panics_and_what_it_accepts_runs(
        values in prop::collection::vec(
            prop_oneof![
                any::<String>(),
                any::<f64>().prop_map(|f| f.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                (0u64..3000).prop_map(|n| n.to_string()),
                (0u64..3000).prop_map(|n| n.to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                Just("1e-30".to_string()),
                Just("https://hooks.slack.com/services/T/B/x".to_string()),
            ],
            config::VARIABLES.len(),
        ),
        lambda in any::<bool>(),
    ) {
        let env: HashMap<&str, String> =
            config::VARIABLES.iter().copied().zip(values).collect();
        let get = |name: &str| env.get(name).cloned();
        let config = if lambda {
            LambdaConfig::from_lookup(get).map(|c| c.config)
        } else {
            CliConfig::from_lookup(get).map(|c| c.config)
        };
        if let Ok(c) = config {
            let d = &c.delivery;
            prop_assert!(d.rate_per_second >= sns_to_slack::destination::MIN_RATE_PER_SECOND);
            prop_assert!(d.retry_base <= d.retry_max);
            // What the configuration accepts, the limiter takes without a panic.
            let limiter = Limiter::new(d.rate_per_second, d.rate_burst, d.retry_after_max);
            limiter.pause("wh-a", Duration::MAX);
        }
    }

    #[test]
    fn backoff_stays_within_its_bounds(
        retry in any::<u32>(), base_ms in 1u64..=config::MAX_MS, extra_ms in 0u64..=config::MAX_MS,
        jitter in any::<f64>(),
    ) {
        let base = Duration::from_millis(base_ms);
        let max = base + Duration::from_millis(extra_ms);
        let wait = policy::backoff(retry, base, max, jitter);
        prop_assert!(wait >= base && wait <= max);
    }
}

/// One record of a generated batch: whether it came from SQS (its message id
/// among a few, so ids repeat, and its receive count), and its plan: `None`
/// dropped, `Some(Err(reason))` never attempted, `Some(Ok(posts))` posted to
/// that many webhooks, each post ending with the given reason or posted.
type Generated = (
    Option<(u8, u32)>,
    Option<Result<Vec<Option<Reason>>, Reason>>,
);

fn reason() -> impl Strategy<Value = Reason> {
    prop_oneof![
        Just(Reason::RateLimited),
        Just(Reason::ServerError),
        Just(Reason::Rejected),
        Just(Reason::Transport),
        Just(Reason::Timeout),
        Just(Reason::Deadline),
    ]
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        proptest::option::of((0u8..4, 1u32..5)),
        proptest::option::of(prop_oneof![
            prop::collection::vec(proptest::option::of(reason()), 1..4).prop_map(Ok),
            prop_oneof![Just(Reason::Unrouted), Just(Reason::InvalidRecord)].prop_map(Err),
        ]),
    )
}

fn failure(reason: Reason) -> Failure {
    Failure {
        reason,
        status: None,
        detail: reason.to_string(),
    }
}

fn destinations(n: usize) -> Vec<Arc<Destination>> {
    (0..n)
        .map(|i| {
            Arc::new(Destination {
                name: format!("hook-{i}"),
                target: sns_to_slack::destination::Target::Webhook(
                    Webhook::parse("https://hooks.slack.com/services/T/B/SECRET").unwrap(),
                ),
                rate_per_second: None,
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every record ends as exactly one of posted (each webhook), dead-lettered
    /// (each failure), handed back, dropped, or skipped where a state table's
    /// claim says an earlier attempt posted it (a claim held elsewhere fails as
    /// `busy`); the summary's counts add up, and a message id is listed at
    /// most once.
    #[test]
    fn the_books_balance_for_any_batch(
        batch in prop::collection::vec(generated(), 1..12),
        unsent in prop::collection::vec(any::<bool>(), 0..40),
        max_receives in proptest::option::of(1u32..5),
        digest_after in proptest::option::of(1usize..4),
        dup in 1usize..12,
        claimed in prop::collection::vec((0usize..12, 0usize..4, any::<bool>()), 0..6),
    ) {
        let raws: Vec<serde_json::Value> = batch.iter().enumerate().map(|(i, (sqs, _))| match sqs {
            Some((id, n)) => json!({"eventSource": "aws:sqs", "messageId": format!("q-{id}"),
                "body": format!("record {i}"), "attributes": {"ApproximateReceiveCount": n.to_string()}}),
            None => json!({"Sns": {"MessageId": format!("m-{i}"), "Message": "x"}}),
        }).collect();
        let records = record::parse_event(&json!({ "Records": raws }).to_string()).unwrap();
        prop_assert_eq!(records.len(), batch.len());
        // Posts of a few message ids into one group, so duplicates fold and
        // large groups become digests.
        let mut plans = Vec::new();
        let mut specs: Vec<Vec<Option<Reason>>> = Vec::new();
        for (i, (_, plan)) in batch.iter().enumerate() {
            specs.push(match plan {
                Some(Ok(posts)) => posts.clone(),
                _ => Vec::new(),
            });
            plans.push(match plan {
                None => Plan::Drop { rule: 0 },
                Some(Err(reason)) => Plan::Fail(failure(*reason)),
                Some(Ok(posts)) => Plan::Post {
                    body: bytes::Bytes::new(),
                    to: destinations(posts.len()),
                    mention: None,
                    rule: None,
            line: Some(Box::new(Line::plain(&format!("m-{}", i % dup), "x"))),
                },
            });
        }
        // A state table where earlier attempts posted some pairs (`true`) or
        // hold them right now (`false`): posted-once claims hold those back.
        let state = MemoryState::new(StateSettings::new("t"));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let soon = || tokio::time::Instant::now() + Duration::from_secs(30);
        let mut skipped = 0;
        let claims = runtime.block_on(async {
            for &(i, k, posted) in &claimed {
                let (Some(record), Some(posts)) = (records.get(i), specs.get(i)) else { continue };
                if record.message_id().is_empty() || k >= posts.len() {
                    continue;
                }
                let (id, hook) = (record.message_id(), format!("hook-{k}"));
                if state.claim(id, &hook, SystemTime::UNIX_EPOCH, soon()).await.is_ok() && posted {
                    state.mark_posted(id, &hook, SystemTime::UNIX_EPOCH, soon()).await.unwrap();
                }
            }
            for (i, posts) in specs.iter().enumerate() {
                for k in 0..posts.len() {
                    skipped += usize::from(state.is_posted(records[i].message_id(), &format!("hook-{k}")));
                }
            }
            once::claim(&state, &records, &plans, SystemTime::UNIX_EPOCH, soon(), Duration::from_secs(1)).await
        });
        claims.hold_back(&mut plans);
        let digest_after = digest_after.map_or(DigestAfter::Off, DigestAfter::After);
        let composition = compose(&records, &plans, digest_after, &Overrides::default(), 4000);
        // A job ends as the generated outcome of the first branch it carries
        // (its destination `hook-k` names the branch's spec).
        let outcomes: Vec<Outcome> = (0..composition.jobs.len())
            .map(|j| {
                let name = &composition.jobs[j].destination.name;
                let k: usize = name.trim_start_matches("hook-").parse().unwrap();
                let spec = composition.branches.iter().enumerate()
                    .find_map(|(r, b)| b.iter().any(|b| b.job == j).then(|| specs[r][k]))
                    .expect("every job carries a record");
                Outcome { attempts: 1, ..Outcome::unattempted(spec.map_or(Ok(()), |r| Err(failure(r)))) }
            })
            .collect();
        let mut fates = settle::fates(&plans, &composition, &outcomes);
        claims.restore(&mut fates);
        let settling = settle::settle(&records, &fates, max_receives);
        let letters = settling.letters.len();
        let unsent: Vec<usize> = (0..letters).filter(|&k| unsent.get(k) == Some(&true)).collect();
        let (done, lost) = settling.stored(&unsent);
        let s = &done.summary;

        let posts: usize = fates.iter().map(|f| f.posted()).sum();
        let failed: usize = fates.iter().map(|f| f.failures().len()).sum();
        let dropped = batch.iter().filter(|(_, p)| p.is_none()).count();
        let unrouted = batch.iter().filter(|(_, p)| matches!(p, Some(Err(Reason::Unrouted)))).count();
        prop_assert_eq!(s.records, batch.len());
        prop_assert_eq!(s.skipped_duplicates, skipped);
        prop_assert_eq!((s.posted + s.digested + s.collapsed, s.dropped, s.unrouted), (posts, dropped, unrouted));
        // Every branch of a post is carried by exactly one job.
        for (plan, b) in plans.iter().zip(&composition.branches) {
            let to = match plan { Plan::Post { to, .. } => to.len(), _ => 0 };
            prop_assert_eq!(b.len(), to);
        }
        prop_assert_eq!(s.dead_lettered, letters - unsent.len());
        prop_assert_eq!(s.reasons.values().sum::<usize>(), s.dead_lettered);
        // Each failure is a letter, or its record's SQS message is handed back.
        let handed_back: Vec<String> = done.requeue.clone().unwrap_or_default();
        let failed_handed_back: usize = records.iter().zip(&fates)
            .filter(|(r, _)| r.receipt().is_some_and(|rc| max_receives.is_some()
                && handed_back.contains(&rc.message_id)))
            .map(|(_, f)| f.failures().len())
            .sum();
        prop_assert!(letters <= failed);
        prop_assert!(failed - letters <= failed_handed_back);
        // Posted + failed (dead-lettered or handed back) + dropped: every branch.
        let branches: usize = batch.iter().map(|(_, p)| match p {
            None | Some(Err(_)) => 1,
            Some(Ok(posts)) => posts.len(),
        }).sum();
        prop_assert_eq!(posts + failed + dropped + skipped, branches);
        // Listed once each, and only SQS messages.
        let mut unique = handed_back.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), handed_back.len());
        prop_assert_eq!(s.requeued, handed_back.len());
        for id in &handed_back {
            prop_assert!(records.iter().any(|r| r.receipt().is_some_and(|rc| &rc.message_id == id)));
        }
        // Letters are lost only when nobody can take them back.
        if max_receives.is_some() {
            let lost_expected = unsent.iter()
                .filter(|&&k| settling_owner_is_sns(&records, &fates, max_receives, k))
                .count();
            prop_assert_eq!(lost, lost_expected);
        } else {
            prop_assert_eq!(lost, unsent.len());
            prop_assert_eq!(done.requeue, None);
        }
    }
}

/// Whether letter `k` of the settling of `records` belongs to a record that
/// did not come from SQS (so nobody can take it back when it is not stored).
fn settling_owner_is_sns(
    records: &[record::Record],
    fates: &[settle::Fate<'_>],
    max_receives: Option<u32>,
    k: usize,
) -> bool {
    let settling = settle::settle(records, fates, max_receives);
    let message_id = &settling.letters[k].message_id;
    records
        .iter()
        .find(|r| r.message_id() == message_id)
        .is_some_and(|r| r.receipt().is_none())
}
