//! CloudWatch Embedded Metric Format documents for one invocation. Pure.
//!
//! The metric names live here and nowhere else in the code; the template's
//! alarms and the dashboard in `dashboards/` are tested against [`ALL`].
//!
//! An invocation prints one document with every metric under the `Service`
//! dimension. Three things need more: `Posted` and `DeadLettered` by
//! `Webhook` name and `DeadLettered` by `Reason` (a dimension takes one value
//! per document, so one small document per webhook and per reason seen), and
//! latencies beyond EMF's 100 values per metric (one extra document per 100).

use serde_json::{Map, Value, json};

use crate::summary::Summary;

/// Records in the event.
pub const RECORDS: &str = "Records";
/// Records Slack accepted on a message of their own.
pub const POSTED: &str = "Posted";
/// Digest messages Slack accepted.
pub const DIGESTS: &str = "Digests";
/// Records Slack accepted as a line of a digest.
pub const DIGESTED: &str = "Digested";
/// Records folded into another's message (duplicates, flapping states).
pub const COLLAPSED: &str = "Collapsed";
/// Records dead-lettered (also by `Reason`).
pub const DEAD_LETTERED: &str = "DeadLettered";
/// Records of an SQS batch handed back to SQS to be delivered again later.
pub const REQUEUED: &str = "Requeued";
/// Records muted by a `drop` rule of `ROUTES`.
pub const DROPPED: &str = "Dropped";
/// Records no rule of `ROUTES` matched (dead-lettered as `unrouted`).
pub const UNROUTED: &str = "Unrouted";
/// Attempts beyond the first.
pub const RETRIED: &str = "Retried";
/// 429 answers seen.
pub const RATE_LIMITED: &str = "RateLimited";
/// Milliseconds from the start of delivery to Slack's 2xx, per posted record.
pub const DELIVERY_LATENCY: &str = "DeliveryLatency";
/// State table calls that failed; delivery went on without them.
pub const STATE_ERRORS: &str = "StateErrors";
/// Posts made as a reply in a thread (Slack app destinations).
pub const REPLIES: &str = "Replies";
/// Thread originals updated to the current status.
pub const UPDATES: &str = "Updates";
/// (record, destination) pairs not posted again: an earlier invocation had.
pub const SKIPPED_DUPLICATES: &str = "SkippedDuplicates";

/// Every metric name the code emits.
pub const ALL: &[&str] = &[
    RECORDS,
    POSTED,
    DIGESTS,
    DIGESTED,
    COLLAPSED,
    DEAD_LETTERED,
    REQUEUED,
    DROPPED,
    UNROUTED,
    RETRIED,
    RATE_LIMITED,
    DELIVERY_LATENCY,
    STATE_ERRORS,
    REPLIES,
    UPDATES,
    SKIPPED_DUPLICATES,
];

/// The dimension that names the function (set by the template).
pub const SERVICE_DIMENSION: &str = "Service";
/// The dimension that splits `Posted`, `DeadLettered` and `RateLimited` by webhook name.
pub const WEBHOOK_DIMENSION: &str = "Webhook";
/// The dimension that splits `DeadLettered` by reason code.
pub const REASON_DIMENSION: &str = "Reason";

/// EMF allows at most this many values for one metric in one document.
const MAX_VALUES: usize = 100;

/// The EMF documents (one JSON object per line to print) for one invocation.
pub fn documents(
    summary: &Summary,
    namespace: &str,
    service: &str,
    timestamp_ms: u64,
) -> Vec<String> {
    let mut latency_chunks = summary.latencies_ms.chunks(MAX_VALUES);
    let first_latencies = latency_chunks.next().unwrap_or(&[]);
    let count = |n: usize| json!(n);
    let mut metrics = vec![
        (RECORDS, "Count", count(summary.records)),
        (POSTED, "Count", count(summary.posted)),
        (DIGESTS, "Count", count(summary.digests)),
        (DIGESTED, "Count", count(summary.digested)),
        (COLLAPSED, "Count", count(summary.collapsed)),
        (DEAD_LETTERED, "Count", count(summary.dead_lettered)),
        (REQUEUED, "Count", count(summary.requeued)),
        (DROPPED, "Count", count(summary.dropped)),
        (UNROUTED, "Count", count(summary.unrouted)),
        (RETRIED, "Count", json!(summary.retries)),
        (RATE_LIMITED, "Count", json!(summary.rate_limited)),
    ];
    if !first_latencies.is_empty() {
        metrics.push((DELIVERY_LATENCY, "Milliseconds", json!(first_latencies)));
    }
    // Emitted only when not 0: each metric a deployment ever emits is billed
    // as a custom metric, and these four stay 0 without a state table.
    for (name, n) in [
        (STATE_ERRORS, summary.state_errors as usize),
        (REPLIES, summary.replies),
        (UPDATES, summary.updates),
        (SKIPPED_DUPLICATES, summary.skipped_duplicates),
    ] {
        if n > 0 {
            metrics.push((name, "Count", count(n)));
        }
    }
    let mut docs = vec![document(
        namespace,
        timestamp_ms,
        &[(SERVICE_DIMENSION, service)],
        &metrics,
    )];
    for chunk in latency_chunks {
        docs.push(document(
            namespace,
            timestamp_ms,
            &[(SERVICE_DIMENSION, service)],
            &[(DELIVERY_LATENCY, "Milliseconds", json!(chunk))],
        ));
    }
    for (name, counts) in &summary.webhooks {
        docs.push(document(
            namespace,
            timestamp_ms,
            &[(SERVICE_DIMENSION, service), (WEBHOOK_DIMENSION, name)],
            &[
                (POSTED, "Count", json!(counts.posted)),
                (DEAD_LETTERED, "Count", json!(counts.dead_lettered)),
                (RATE_LIMITED, "Count", json!(counts.rate_limited)),
            ],
        ));
    }
    for (reason, n) in &summary.reasons {
        docs.push(document(
            namespace,
            timestamp_ms,
            &[
                (SERVICE_DIMENSION, service),
                (REASON_DIMENSION, reason.as_str()),
            ],
            &[(DEAD_LETTERED, "Count", json!(n))],
        ));
    }
    docs
}

fn document(
    namespace: &str,
    timestamp_ms: u64,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, &str, Value)],
) -> String {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (k, v) in dimensions {
        root.insert((*k).into(), json!(v));
    }
    for (name, _, value) in metrics {
        root.insert((*name).into(), value.clone());
    }
    Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Reason;

    fn summary() -> Summary {
        let mut s = Summary {
            records: 4,
            posted: 2,
            dead_lettered: 2,
            retries: 3,
            rate_limited: 1,
            state_errors: 1,
            replies: 2,
            updates: 1,
            skipped_duplicates: 3,
            latencies_ms: vec![120, 340],
            ..Summary::default()
        };
        s.reasons.insert(Reason::Rejected, 1);
        s.reasons.insert(Reason::Deadline, 1);
        s
    }

    fn parse(doc: &str) -> Value {
        serde_json::from_str(doc).unwrap()
    }

    #[test]
    fn one_document_carries_every_service_metric() {
        let docs = documents(&summary(), "SnsToSlack", "notifier", 1_700_000_000_000);
        let main = parse(&docs[0]);
        let directive = &main["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(main["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(directive["Namespace"], "SnsToSlack");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(main["Service"], "notifier");
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ALL);
        assert_eq!(
            (main["Posted"].clone(), main["DeadLettered"].clone()),
            (json!(2), json!(2))
        );
        assert_eq!(main["DeliveryLatency"], json!([120, 340]));
    }

    #[test]
    fn state_table_counts_appear_only_when_there_were_some() {
        // Without a state table nothing changes in the documents.
        let quiet = Summary {
            state_errors: 0,
            replies: 0,
            updates: 0,
            skipped_duplicates: 0,
            ..summary()
        };
        let doc = &documents(&quiet, "SnsToSlack", "notifier", 0)[0];
        for name in [STATE_ERRORS, REPLIES, UPDATES, SKIPPED_DUPLICATES] {
            assert!(!doc.contains(name), "{doc}");
        }
        let doc = parse(&documents(&summary(), "SnsToSlack", "notifier", 0)[0]);
        assert_eq!(doc[STATE_ERRORS], json!(1));
        assert_eq!(
            (
                doc[REPLIES].clone(),
                doc[UPDATES].clone(),
                doc[SKIPPED_DUPLICATES].clone()
            ),
            (json!(2), json!(1), json!(3))
        );
    }

    #[test]
    fn dead_letters_are_split_by_reason() {
        let docs = documents(&summary(), "SnsToSlack", "notifier", 0);
        assert_eq!(docs.len(), 3);
        let by_reason: Vec<(String, u64)> = docs[1..]
            .iter()
            .map(|d| {
                let v = parse(d);
                assert_eq!(
                    v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                    json!([["Service", "Reason"]])
                );
                (
                    v["Reason"].as_str().unwrap().to_string(),
                    v["DeadLettered"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            by_reason,
            [("rejected".to_string(), 1), ("deadline".to_string(), 1)]
        );
    }

    #[test]
    fn posts_and_dead_letters_are_split_by_webhook() {
        let mut s = Summary::default();
        s.webhooks.insert(
            "security".into(),
            crate::summary::WebhookCounts {
                posted: 2,
                dead_lettered: 1,
                rate_limited: 3,
            },
        );
        let docs = documents(&s, "N", "S", 0);
        let doc = parse(&docs[1]);
        assert_eq!(doc["Webhook"], "security");
        assert_eq!(
            (
                doc["Posted"].clone(),
                doc["DeadLettered"].clone(),
                doc["RateLimited"].clone()
            ),
            (json!(2), json!(1), json!(3))
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["Service", "Webhook"])
        );
    }

    #[test]
    fn latencies_are_chunked_at_one_hundred_values() {
        let s = Summary {
            records: 250,
            posted: 250,
            latencies_ms: (0..250).collect(),
            ..Summary::default()
        };
        let docs = documents(&s, "N", "S", 0);
        let counts: Vec<usize> = docs
            .iter()
            .map(|d| parse(d)["DeliveryLatency"].as_array().unwrap().len())
            .collect();
        assert_eq!(counts, [100, 100, 50]);
    }

    #[test]
    fn a_quiet_invocation_has_no_latency_metric() {
        let docs = documents(&Summary::default(), "N", "S", 0);
        assert_eq!(docs.len(), 1);
        assert!(parse(&docs[0]).get("DeliveryLatency").is_none());
    }
}
