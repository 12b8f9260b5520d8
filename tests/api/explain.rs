//! `sns-to-slack explain` as an operator runs it: what the function decides
//! for each record, without posting.

use std::process::Command;

use serde_json::{Value, json};

fn explain(file: &str, env: &[(&str, &str)]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_sns-to-slack"))
        .args([
            "explain",
            &format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR")),
        ])
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Two webhooks that no test posts to (explain never posts).
const WEBHOOKS: &str = r#"{"ops":"https://hooks.slack.com/services/T0/B0/OPSSECRET","security":"https://hooks.slack.com/services/T0/B1/SECSECRET"}"#;

#[test]
fn each_fixture_is_explained_with_its_kind_and_status() {
    for (file, kind, status, tone) in [
        (
            "sns-cloudwatch-alarm.json",
            "cloudwatch_alarm",
            json!("ALARM"),
            "danger",
        ),
        (
            "sns-cloudwatch-ok.json",
            "cloudwatch_alarm",
            json!("OK"),
            "good",
        ),
        (
            "sns-cloudwatch-composite.json",
            "cloudwatch_composite_alarm",
            json!("ALARM"),
            "danger",
        ),
        (
            "sns-guardduty-finding.json",
            "guardduty_finding",
            json!("High"),
            "danger",
        ),
        (
            "sns-securityhub-findings.json",
            "securityhub_finding",
            json!("Critical"),
            "danger",
        ),
        ("sns-codebuild.json", "codebuild", json!("FAILED"), "danger"),
        (
            "sns-health-event.json",
            "health_event",
            json!("open"),
            "danger",
        ),
        (
            "sns-rds-event.json",
            "rds_event",
            json!("RDS-EVENT-0089"),
            "info",
        ),
        ("sns-budgets.json", "budgets", json!("ACTUAL"), "danger"),
        ("sns-plain.json", "text", Value::Null, "neutral"),
        ("sns-json-unknown.json", "json", Value::Null, "neutral"),
    ] {
        let lines = explain(file, &[]);
        let line = &lines[0];
        assert_eq!(
            (&line["kind"], &line["status"]),
            (&json!(kind), &status),
            "{file}: {line}"
        );
        assert_eq!(line["tone"], tone, "{file}: {line}");
        assert_eq!(line["record"], 0);
        assert!(
            line["headline"].as_str().is_some_and(|h| !h.is_empty()),
            "{file}"
        );
        // Without webhooks nothing is routed.
        assert_eq!(
            (&line["rule"], &line["to"]),
            (&Value::Null, &json!([])),
            "{file}"
        );
    }
}

#[test]
fn explain_names_the_rule_the_webhooks_the_mention_and_what_is_dropped() {
    let routes = r#"[
        {"match": {"kind": "cloudwatch_alarm", "status": "OK"}, "drop": true},
        {"match": {"kind": "cloudwatch_alarm"}, "to": ["ops", "security"], "mention": "<!here>"},
        {"match": {"kind": "guardduty_finding"}, "to": ["security"]}
    ]"#;
    let env = [("WEBHOOKS", WEBHOOKS), ("ROUTES", routes)];
    let alarm = explain("sns-cloudwatch-alarm.json", &env);
    assert_eq!(alarm.len(), 2, "one line per webhook: {alarm:?}");
    for (line, webhook) in alarm.iter().zip(["ops", "security"]) {
        assert_eq!(line["rule"], 1);
        assert_eq!(line["to"], json!(["ops", "security"]));
        assert_eq!(line["webhook"], webhook);
        assert_eq!(line["mention"], "<!here>");
        assert_eq!(line["fate"], "own");
        assert_eq!(
            (&line["dropped"], &line["unrouted"]),
            (&json!(false), &json!(false))
        );
    }
    let ok = explain("sns-cloudwatch-ok.json", &env);
    assert_eq!(ok.len(), 1);
    assert_eq!(
        (&ok[0]["dropped"], &ok[0]["rule"]),
        (&json!(true), &json!(0))
    );
    assert_eq!(ok[0]["mention"], Value::Null);
    let text = explain("sns-plain.json", &env);
    assert_eq!(
        (&text[0]["unrouted"], &text[0]["to"]),
        (&json!(true), &json!([]))
    );
    let secrets = format!("{alarm:?}{ok:?}{text:?}");
    assert!(
        !secrets.contains("SECRET"),
        "no webhook URL in explain's output"
    );
}

#[test]
fn explain_shows_each_records_fate_in_a_storm() {
    let env = [("WEBHOOKS", WEBHOOKS), ("ROUTES", r#"[{"to": ["ops"]}]"#)];
    let lines = explain("sns-batch-25.json", &env);
    assert_eq!(lines.len(), 25);
    assert!(lines.iter().all(|l| l["fate"] == "digest"), "{lines:?}");
    let off = explain(
        "sns-batch-25.json",
        &[env[0], env[1], ("DIGEST_AFTER", "off")],
    );
    assert!(off.iter().all(|l| l["fate"] == "own"));
}
