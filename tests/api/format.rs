//! The formatting layer from the outside: golden payloads for every fixture,
//! and property tests over arbitrary text and arbitrary JSON shaped like each
//! kind (never a panic, always within Slack's limits, never a live mention or
//! link from message content).
//!
//! Regenerate the golden files after an intended change of layout with
//! `UPDATE_GOLDEN=1 cargo test --test api format::`, then review `git diff tests/golden`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use sns_to_slack::kinds::{self, Kind};
use sns_to_slack::notice::{Notice, is_trusted_url};
use sns_to_slack::record::{self, Notification};
use sns_to_slack::render::{self, MessageFormat, Overrides, blocks};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Counts the bytes each thread has allocated, and the peak, so a test can
/// bound what rendering one record takes (other tests run on other threads).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is passed to the system allocator unchanged; the
// counters only add.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most this thread held at once while running `f`, beyond what it held
/// before.
fn peak_bytes(f: impl FnOnce()) -> usize {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    f();
    (PEAK.with(Cell::get) - start).max(0) as usize
}

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
                url.starts_with("https://") && is_trusted_url(url)
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
    let notice = kinds::read(n, 4_000);
    let payload = render::render(&notice, &Overrides::default(), None);
    let v = serde_json::to_value(&payload).unwrap();
    let problems = blocks::violations(v.as_object().unwrap());
    prop_assert!(problems.is_empty(), "{:?}: {problems:?}", notice.kind);
    check_notice(&notice)?;
    if let Some(text) = v.get("text").and_then(Value::as_str) {
        prop_assert!(!text.trim().is_empty(), "empty top-level text");
    }
    if notice.kind != Kind::SlackPayload {
        // A publisher's own Slack payload keeps its formatting; everything
        // else is ours and must not let content mention or link.
        let top = v.get("text").and_then(Value::as_str).unwrap_or("");
        let mut live = live_tokens(&v);
        live.extend(live_tokens(&json!({"type": "mrkdwn", "text": top})));
        prop_assert!(live.is_empty(), "{:?}: live {live:?}", notice.kind);
    }
    Ok(v)
}

/// What every notice promises whatever came in: a headline on one line,
/// never empty; a fingerprint of 32 hex digits; a thread key, when there is
/// one, that is not blank.
fn check_notice(notice: &Notice<'_>) -> Result<(), TestCaseError> {
    let headline = &notice.headline;
    prop_assert!(
        !headline.trim().is_empty(),
        "{:?}: empty headline",
        notice.kind
    );
    prop_assert!(
        !headline.chars().any(char::is_control),
        "{:?}: headline {headline:?}",
        notice.kind
    );
    let key = notice.dedup_key();
    prop_assert!(
        key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    if let Some(thread) = notice.thread_key() {
        prop_assert!(!thread.trim().is_empty());
    }
    Ok(())
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
        serde_json::to_string(&render::render(
            &kinds::read(plain, 4_000),
            &overrides,
            None
        ))
        .unwrap(),
        r#"{"text":"SNS Notification","attachments":[{"fallback":"SNS Notification","pretext":"notify-sample","text":"deploy finished","color":"good","fields":[{"title":"message","value":"test message"},{"title":"timestamp","value":"2026-11-24T09:15:02Z"}]}]}"#
    );
    // Every kind, even an alarm, keeps that layout: the message as text.
    for (name, n) in fixture_messages() {
        let v =
            serde_json::to_value(render::render(&kinds::read(n, 4_000), &overrides, None)).unwrap();
        assert_eq!(v["text"], "SNS Notification", "{name}");
        assert_eq!(v["attachments"][0]["color"], "good", "{name}");
        assert!(v.get("blocks").is_none(), "{name}");
        assert!(v["attachments"][0].get("blocks").is_none(), "{name}");
    }
}

#[test]
fn the_builder_link_carries_the_blocks_url_encoded() {
    let n = notification(Some("hello world".into()), "a & b".into());
    let v = serde_json::to_value(render::render(
        &kinds::read(&n, 4_000),
        &Overrides::default(),
        None,
    ))
    .unwrap();
    let link = blocks::builder_link(&v).unwrap();
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
        let notice = kinds::read(n, 4_000);
        let payload = render::render(&notice, &Overrides::default(), None);
        let got = json!({
            "kind": notice.kind.as_str(),
            "status": notice.status,
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
         (UPDATE_GOLDEN=1 cargo test --test api format::, then review the diff)"
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
        (
            "sns-cloudwatch-alarm-eventbridge",
            "cloudwatch_alarm",
            Some("ALARM"),
        ),
        ("sns-guardduty-finding", "guardduty_finding", Some("High")),
        (
            "sns-securityhub-normalized",
            "securityhub_finding",
            Some("High"),
        ),
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
        ("sns-autoscaling-launch", "autoscaling", Some("InProgress")),
        (
            "sns-step-functions-failed",
            "step_functions",
            Some("FAILED"),
        ),
        ("sns-codedeploy-trigger", "codedeploy", Some("FAILED")),
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
        (
            "sns-config-compliance",
            "config_compliance",
            Some("NON_COMPLIANT"),
        ),
        (
            "sns-config-item-change",
            "config_compliance",
            Some("UPDATE"),
        ),
        (
            "sns-ecs-deployment-failed",
            "ecs_service",
            Some("SERVICE_DEPLOYMENT_FAILED"),
        ),
        ("sns-inspector-finding", "inspector_finding", Some("High")),
        (
            "sns-cloudtrail-api-call",
            "cloudtrail_event",
            Some("AccessDenied"),
        ),
        (
            "sns-lambda-destination",
            "lambda_destination",
            Some("RetriesExhausted"),
        ),
        ("sns-s3-event", "s3_event", Some("ObjectRemoved:Delete")),
        ("sns-eventbridge-status", "eventbridge", Some("FAILED")),
        ("sns-codestar-notification", "codebuild", Some("FAILED")),
        ("sns-rds-eventbridge", "rds_event", Some("RDS-EVENT-0013")),
        ("sns-slack-payload", "slack_payload", None),
        ("sns-json-unknown", "json", None),
        ("sns-plain", "text", None),
    ];
    let fixtures: HashMap<&str, &Notification> = fixture_messages()
        .iter()
        .map(|(name, n)| (name.as_str(), n))
        .collect();
    for (name, kind, status) in expected {
        let d = kinds::read(fixtures[name], 4_000);
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
        let d = kinds::read(n, 4_000);
        if matches!(d.kind, Kind::Json | Kind::Text | Kind::SlackPayload) {
            continue;
        }
        let v = serde_json::to_value(render::render(&d, &Overrides::default(), None)).unwrap();
        let body = v.to_string();
        assert!(!body.contains("```"), "{name}: a code block");
        assert!(!body.contains("{\\\""), "{name}: raw JSON");
    }
}

/// A 6 MB message of JSON (hand-made: beyond what SNS carries) is read and
/// rendered in a few hundred kilobytes: never parsed into a tree twice,
/// never pretty-printed whole.
#[test]
fn a_large_json_message_renders_in_bounded_memory() {
    for message in [
        format!("{{\"a\":[{}]}}", vec!["0"; 3_000_000].join(",")),
        format!("[{}]", vec!["0"; 3_000_000].join(",")),
        format!("[{}]", vec!["\"x\""; 1_000_000].join(",")),
    ] {
        let n = notification(Some("big".into()), message);
        let mut body = Vec::new();
        let peak = peak_bytes(|| {
            let notice = kinds::read(&n, 4_000);
            body = render::render(&notice, &Overrides::default(), None).to_json(8_192);
        });
        let v: Value = serde_json::from_slice(&body).unwrap();
        let last = &v["blocks"][2]["text"]["text"];
        assert!(
            last.as_str().unwrap().contains("[truncated:"),
            "{}",
            &v.to_string()[..200]
        );
        assert!(
            peak < 1 << 20,
            "{peak} bytes at the peak for a {} byte message",
            n.message.len()
        );
    }
    // Within what SNS carries, the message is parsed once and printed
    // within the limit: a 250 KB array takes its tree (32 bytes a value)
    // and no copy of its pretty print.
    let n = notification(None, format!("[{}]", vec!["0"; 125_000].join(",")));
    let peak = peak_bytes(|| {
        let notice = kinds::read(&n, 4_000);
        let _ = render::render(&notice, &Overrides::default(), None).to_json(8_192);
    });
    assert!(peak < 6 << 20, "{peak} bytes at the peak");
}

/// A rule's `mention` reaches the message through the plan: in front of a
/// bad record's text and first section, and nowhere on a good one.
#[test]
fn a_rules_mention_leads_a_danger_message_only() {
    use sns_to_slack::destination::Webhooks;
    use sns_to_slack::plan::{Plan, plan};
    use sns_to_slack::route::Routing;
    let table = r#"{"ops":"https://hooks.slack.com/services/T000/B000/SECRETSECRET"}"#;
    let routes = r#"[{"match": {}, "to": ["ops"], "mention": "<!here> <@U0123ABCD>"}]"#;
    let webhooks = Webhooks::parse(table, "WEBHOOKS", false).unwrap();
    let routing = Routing::new(webhooks, Some(routes), kinds::KIND_NAMES).unwrap();
    let fixtures = fixture_messages();
    let event = |name: &str| {
        let n = &fixtures.iter().find(|(f, _)| f == name).unwrap().1;
        let event = json!({"Records": [{"EventSource": "aws:sns", "Sns": {
            "MessageId": n.message_id, "TopicArn": n.topic_arn, "Subject": n.subject,
            "Message": n.message, "Timestamp": n.timestamp}}]});
        record::parse_event(&event.to_string()).unwrap()
    };
    let body = |name: &str| -> Value {
        match &plan(&event(name), &routing, &Overrides::default(), 4_000)[0] {
            Plan::Post { body, .. } => serde_json::from_slice(body).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    let alarm = body("sns-cloudwatch-alarm");
    assert!(
        alarm["text"]
            .as_str()
            .unwrap()
            .starts_with("<!here> <@U0123ABCD> ALARM: ")
    );
    let section = &alarm["attachments"][0]["blocks"][1]["text"]["text"];
    assert!(
        section
            .as_str()
            .unwrap()
            .starts_with("<!here> <@U0123ABCD> "),
        "{section}"
    );
    for good in ["sns-cloudwatch-ok", "sns-plain", "sns-codedeploy"] {
        assert!(!body(good).to_string().contains("<!here>"), "{good}");
    }
}

/// Every kind with its fields left empty (blank strings, then nulls) says
/// nothing rather than show a placeholder: no `()`, no empty code span, no
/// header or notification text ending in a colon.
#[test]
fn empty_fields_leave_no_placeholder() {
    fn blank(v: &Value, with: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), blank(v, with)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|i| blank(i, with)).collect()),
            // Keep what makes the kind: the envelope's names and types.
            Value::String(s)
                if s.starts_with("aws.")
                    || s.contains(" State Change")
                    || s.contains("Findings - Imported")
                    || s.starts_with("autoscaling:")
                    || s.contains("Status Change")
                    || ["1.0", "custom", "Bounce", "Complaint", "Delivery"]
                        .contains(&s.as_str()) =>
            {
                v.clone()
            }
            Value::String(_) | Value::Number(_) => with.clone(),
            other => other.clone(),
        }
    }
    let mut problems = Vec::new();
    for (name, n) in fixture_messages() {
        let Ok(template) = serde_json::from_str::<Value>(&n.message) else {
            continue;
        };
        for with in [json!(""), Value::Null] {
            let mut empty = n.clone();
            empty.message = blank(&template, &with).to_string();
            let notice = kinds::read(&empty, 4_000);
            if matches!(notice.kind, Kind::Json | Kind::Text | Kind::SlackPayload) {
                continue;
            }
            let v =
                serde_json::to_value(render::render(&notice, &Overrides::default(), None)).unwrap();
            let mut texts = vec![v["text"].as_str().unwrap_or("").to_string()];
            collect_texts(&v, &mut texts);
            let header = notice.title.clone().unwrap_or_default();
            for text in texts.iter().chain([&header, &notice.headline]) {
                if text.contains("()") || text.contains("``") && !text.contains("```") {
                    problems.push(format!("{name} ({}): {text:?}", notice.kind));
                }
            }
            for line in [&header, &notice.headline] {
                if line.trim_end().ends_with(':') {
                    problems.push(format!(
                        "{name} ({}): ends in a colon: {line:?}",
                        notice.kind
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
