//! The formatting layer from the outside: golden payloads for every fixture,
//! and property tests over arbitrary text and arbitrary JSON shaped like each
//! kind (never a panic, always within Slack's limits, never a live mention or
//! link from message content).
//!
//! Regenerate the golden files after an intended change of layout with
//! `UPDATE_GOLDEN=1 cargo test --test format`, then review `git diff tests/golden`.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use sns_to_slack::format::Overrides;
use sns_to_slack::format::{self, Kind, MessageFormat, slack};
use sns_to_slack::record::{self, Notification};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn notification(subject: Option<String>, message: String) -> Notification {
    Notification {
        message_id: "m-1".into(),
        topic_arn: "arn:aws:sns:eu-west-1:123456789012:ops-alerts".into(),
        subject,
        message,
        timestamp: Some("2026-11-24T09:15:02.311Z".into()),
        message_attributes: HashMap::new(),
    }
}

/// Every `<...>` token of the mrkdwn texts, the top-level text and the
/// fallbacks that is not one the formatter itself builds: a `<!date^...>`
/// time or a link to an AWS host.
fn live_tokens(payload: &Value) -> Vec<String> {
    let mut texts = Vec::new();
    collect_texts(payload, &mut texts);
    let mut live = Vec::new();
    for text in texts {
        for (at, _) in text.match_indices('<') {
            let token = &text[at..];
            let token = &token[..token.find('>').map_or(token.len(), |e| e + 1)];
            let ours = token.strip_prefix("<!date^").is_some_and(|rest| {
                !rest.contains('<')
                    && rest
                        .split('|')
                        .next()
                        .unwrap()
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"^{}_ ".contains(&b))
            }) || token.strip_prefix('<').is_some_and(|rest| {
                let url = rest.split('|').next().unwrap();
                url.starts_with("https://") && slack::is_trusted_url(url)
            });
            if !ours {
                live.push(token.to_string());
            }
        }
    }
    live
}

fn collect_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            let mrkdwn = map.get("type").and_then(Value::as_str) == Some("mrkdwn");
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("text", Value::String(s)) if mrkdwn => out.push(s.clone()),
                    ("fallback", Value::String(s)) => out.push(s.clone()),
                    _ => collect_texts(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_texts(i, out)),
        _ => {}
    }
}

/// Renders, then checks every limit and that no content is live.
fn check(n: &Notification) -> Result<Value, TestCaseError> {
    let detection = format::detect(n);
    let payload = format::render(n, &detection, &Overrides::default(), 4_000);
    let v = serde_json::to_value(&payload).unwrap();
    let problems = slack::violations(&v);
    prop_assert!(problems.is_empty(), "{:?}: {problems:?}", detection.kind);
    if let Some(text) = v.get("text").and_then(Value::as_str) {
        prop_assert!(!text.trim().is_empty(), "empty top-level text");
    }
    if detection.kind != Kind::SlackPayload {
        // A publisher's own Slack payload keeps its formatting; everything
        // else is ours and must not let content mention or link.
        let top = v.get("text").and_then(Value::as_str).unwrap_or("");
        let mut live = live_tokens(&v);
        live.extend(live_tokens(&json!({"type": "mrkdwn", "text": top})));
        prop_assert!(live.is_empty(), "{:?}: live {live:?}", detection.kind);
    }
    Ok(v)
}

/// Text full of what Slack treats specially, and long runs.
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::string::string_regex(
            "(<!here>|<!channel>|<!everyone>|<@U12345>|<#C1>|<!subteam\\^S1>|<https://evil.example|bank>|<http://x>|&amp;|&|<|>|\\||\\*|_|`|```|~|:|\\n| |a|é|🚨|\\{|\\}|\"){0,120}"
        )
        .unwrap(),
        (".{0,40}", 1usize..200).prop_map(|(s, n)| s.repeat(n)),
    ]
}

/// Any JSON leaf or small subtree, the strings nasty.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => nasty_text().prop_map(Value::String),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| json!(f)),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => prop::collection::vec(nasty_text(), 0..30).prop_map(|v| json!(v)),
        1 => prop::collection::hash_map("[a-zA-Z-]{1,12}", nasty_text(), 0..8).prop_map(|m| json!(m)),
    ]
}

/// Replaces the template's leaves in order by the given values (`None` keeps
/// the leaf), so the shape of the kind stays and its values are arbitrary.
fn fill(template: &Value, values: &mut impl Iterator<Item = Option<Value>>) -> Value {
    match template {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, values)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|i| fill(i, values)).collect()),
        leaf => values.next().flatten().unwrap_or_else(|| leaf.clone()),
    }
}

/// The first notification of every fixture (its kind's shape), read once.
fn fixture_messages() -> &'static [(String, Notification)] {
    static FIXTURES: std::sync::OnceLock<Vec<(String, Notification)>> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(read_fixtures)
}

fn read_fixtures() -> Vec<(String, Notification)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("{ROOT}/tests/fixtures")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(records) = record::parse_event(&text) else {
            continue;
        };
        if let Some(n) = records.first().and_then(|r| r.notification().ok()) {
            out.push((name, n.clone()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_text_is_safe_and_within_limits(
        subject in proptest::option::of(nasty_text()),
        message in nasty_text(),
    ) {
        check(&notification(subject, message))?;
    }

    #[test]
    fn arbitrary_json_is_safe_and_within_limits(value in leaf()) {
        check(&notification(None, value.to_string()))?;
    }

}

proptest! {
    // Each case renders a whole message of up to 60 arbitrary values; 64
    // cases cover every fixture's shape about twice in a debug build's minute.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn json_shaped_like_each_kind_is_safe_and_within_limits(
        which in 0usize..64,
        values in prop::collection::vec(proptest::option::weighted(0.5, leaf()), 60),
    ) {
        let fixtures = fixture_messages();
        let (_, base) = &fixtures[which % fixtures.len()];
        let mut n = base.clone();
        if let Ok(template) = serde_json::from_str::<Value>(&base.message) {
            n.message = fill(&template, &mut values.into_iter()).to_string();
        } else {
            // Text kinds (CloudFormation, Budgets, Backup): arbitrary values
            // after each `key` of the text.
            let mut values = values.into_iter().flatten();
            n.message = base
                .message
                .lines()
                .map(|line| match (line.split_once('='), values.next()) {
                    (Some((k, _)), Some(v)) => format!("{k}='{}'", v.as_str().unwrap_or("")),
                    _ => line.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
        check(&n)?;
    }
}

#[test]
fn a_published_mention_is_shown_not_executed() {
    let n = notification(
        Some("<!here> deploy".into()),
        "<!channel> <@U123> <!subteam^S1|ops> <https://evil.example|your bank> & done".into(),
    );
    let v = check(&n).unwrap();
    let section = v["blocks"][1]["text"]["text"].as_str().unwrap();
    assert_eq!(
        section,
        "&lt;!channel&gt; &lt;@U123&gt; &lt;!subteam^S1|ops&gt; &lt;https://evil.example|your bank&gt; &amp; done"
    );
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .starts_with("&lt;!here&gt; deploy")
    );
}

#[test]
fn attachments_format_keeps_the_go_sample_layout_byte_for_byte() {
    let overrides = Overrides {
        message_format: MessageFormat::Attachments,
        ..Overrides::default()
    };
    let plain = &fixture_messages()
        .iter()
        .find(|(name, _)| name == "sns-plain")
        .unwrap()
        .1;
    assert_eq!(
        serde_json::to_string(&format::format(plain, &overrides, 4_000)).unwrap(),
        r#"{"text":"SNS Notification","attachments":[{"fallback":"SNS Notification","pretext":"notify-sample","text":"deploy finished","color":"good","fields":[{"title":"message","value":"test message"},{"title":"timestamp","value":"2026-11-24T09:15:02Z"}]}]}"#
    );
    // Every kind, even an alarm, keeps that layout: the message as text.
    for (name, n) in fixture_messages() {
        let v = serde_json::to_value(format::format(n, &overrides, 4_000)).unwrap();
        assert_eq!(v["text"], "SNS Notification", "{name}");
        assert_eq!(v["attachments"][0]["color"], "good", "{name}");
        assert!(v.get("blocks").is_none(), "{name}");
        assert!(v["attachments"][0].get("blocks").is_none(), "{name}");
    }
}

#[test]
fn the_builder_link_carries_the_blocks_url_encoded() {
    let n = notification(Some("hello world".into()), "a & b".into());
    let v = serde_json::to_value(format::format(&n, &Overrides::default(), 4_000)).unwrap();
    let link = format::builder_link(&v).unwrap();
    let encoded = link
        .strip_prefix("https://app.slack.com/block-kit-builder/#")
        .unwrap();
    assert!(!encoded.contains(['{', '"', ' ', '&']), "{encoded}");
    let decoded = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .unwrap();
    let decoded: Value = serde_json::from_str(&decoded).unwrap();
    assert_eq!(decoded, json!({"blocks": v["blocks"]}));
}

/// The golden payload of every fixture, Block Kit, as Slack receives it.
#[test]
fn every_fixture_renders_its_golden_payload() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let dir = format!("{ROOT}/tests/golden");
    std::fs::create_dir_all(&dir).unwrap();
    let mut missing = Vec::new();
    let mut differ = Vec::new();
    for (name, n) in fixture_messages() {
        let detection = format::detect(n);
        let payload = format::render(n, &detection, &Overrides::default(), 4_000);
        let got = json!({
            "kind": detection.kind.as_str(),
            "status": detection.status,
            "payload": payload,
        });
        let got = serde_json::to_string_pretty(&got).unwrap() + "\n";
        let path = format!("{dir}/{name}.json");
        match std::fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            _ if update => std::fs::write(&path, &got).unwrap(),
            Ok(_) => differ.push(name),
            Err(_) => missing.push(name),
        }
    }
    assert!(
        missing.is_empty() && differ.is_empty(),
        "golden files missing: {missing:?}; differing: {differ:?} \
         (UPDATE_GOLDEN=1 cargo test --test format, then review the diff)"
    );
}

#[test]
fn each_fixture_is_detected_as_its_kind_with_its_status() {
    let expected: &[(&str, &str, Option<&str>)] = &[
        ("sns-cloudwatch-alarm", "cloudwatch_alarm", Some("ALARM")),
        ("sns-cloudwatch-ok", "cloudwatch_alarm", Some("OK")),
        (
            "sns-cloudwatch-metric-math",
            "cloudwatch_alarm",
            Some("ALARM"),
        ),
        (
            "sns-cloudwatch-anomaly-band",
            "cloudwatch_alarm",
            Some("INSUFFICIENT_DATA"),
        ),
        (
            "sns-cloudwatch-composite",
            "cloudwatch_composite_alarm",
            Some("ALARM"),
        ),
        ("sns-guardduty-finding", "guardduty_finding", Some("High")),
        (
            "sns-securityhub-findings",
            "securityhub_finding",
            Some("Critical"),
        ),
        ("sns-health-event", "health_event", Some("open")),
        ("sns-codepipeline", "codepipeline", Some("FAILED")),
        ("sns-codebuild", "codebuild", Some("FAILED")),
        ("sns-codedeploy", "codedeploy", Some("SUCCESS")),
        ("sns-ecs-task-stopped", "ecs_task", Some("STOPPED")),
        ("sns-eventbridge-ec2", "ec2_state", Some("stopped")),
        ("sns-autoscaling", "autoscaling", Some("Failed")),
        (
            "sns-cloudformation-stack",
            "cloudformation_stack",
            Some("UPDATE_FAILED"),
        ),
        ("sns-rds-event", "rds_event", Some("RDS-EVENT-0089")),
        ("sns-budgets", "budgets", Some("ACTUAL")),
        ("sns-cost-anomaly", "cost_anomaly", None),
        ("sns-backup", "backup", Some("FAILED")),
        ("sns-ses-bounce", "ses_notification", Some("Permanent")),
        (
            "sns-chatbot-custom",
            "chatbot_custom",
            Some("ExportLagging"),
        ),
        ("sns-eventbridge-generic", "eventbridge", None),
        ("sns-slack-payload", "slack_payload", None),
        ("sns-json-unknown", "json", None),
        ("sns-plain", "text", None),
    ];
    let fixtures: HashMap<&str, &Notification> = fixture_messages()
        .iter()
        .map(|(name, n)| (name.as_str(), n))
        .collect();
    for (name, kind, status) in expected {
        let d = format::detect(fixtures[name]);
        assert_eq!(
            (d.kind.as_str(), d.status.as_deref()),
            (*kind, *status),
            "{name}"
        );
    }
    let covered: std::collections::BTreeSet<&str> = expected.iter().map(|e| e.1).collect();
    let all: std::collections::BTreeSet<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(covered, all, "every kind has a fixture");
}

#[test]
fn known_kinds_never_show_their_raw_json() {
    for (name, n) in fixture_messages() {
        let d = format::detect(n);
        if matches!(d.kind, Kind::Json | Kind::Text | Kind::SlackPayload) {
            continue;
        }
        let v = serde_json::to_value(format::render(n, &d, &Overrides::default(), 4_000)).unwrap();
        let body = v.to_string();
        assert!(!body.contains("```"), "{name}: a code block");
        assert!(!body.contains("{\\\""), "{name}: raw JSON");
    }
}
