//! Property tests: the entry points that read outside input never panic,
//! whatever they are given, and keep their contracts on what they accept.
//! (`cargo fuzz` drives the same entry points with coverage guidance; see
//! fuzz/.)

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::json;
use sns_to_slack::config::{self, Config, Mode};
use sns_to_slack::delivery::limiter::Limiter;
use sns_to_slack::delivery::policy::{self, Attempt, Decision};
use sns_to_slack::kinds;
use sns_to_slack::record;
use sns_to_slack::redrive::body;
use sns_to_slack::render::{self, MIN_MAX_MESSAGE_CHARS, MessageFormat, Overrides};

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
                let _ = (r.notification(), r.message_id(), r.raw());
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
        let overrides = Overrides { channel, message_format: MessageFormat::Attachments, ..Overrides::default() };
        let bound = max.max(MIN_MAX_MESSAGE_CHARS);
        let msg = render::render(&kinds::read(n, max), &overrides, None);
        let value = serde_json::to_value(&msg).unwrap();
        let text = value["attachments"][0]["fields"][0]["value"].as_str().unwrap();
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
    fn the_redrive_body_reader_never_panics(text in prop_oneof![any::<String>(), jsonish()]) {
        if let Ok(parsed) = body::parse(&text) {
            prop_assert!(!parsed.records.is_empty());
        }
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
        let mode = if lambda { Mode::Lambda } else { Mode::Cli };
        if let Ok(c) = Config::from_lookup(mode, |name| env.get(name).cloned()) {
            let d = &c.delivery;
            prop_assert!(d.rate_per_second >= sns_to_slack::webhooks::MIN_RATE_PER_SECOND);
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
