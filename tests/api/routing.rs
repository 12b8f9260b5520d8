//! One deployment, many channels: routing to named webhooks.
//!
//! Fairness and fan-out run on tokio's paused clock through a fake `Post`, so
//! "on time" is exact; the real binary then routes against several loopback
//! Slack webhooks, with the table in `moto_server`'s Secrets Manager and dead
//! letters in its SQS.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::fake_slack::{Answer, FakeSlack};
use crate::support::{self, Function, Kept, Moto, RuntimeApi, SECRET, fixture};
use serde_json::{Value, json};
use sns_to_slack::dead_letter::Envelope;
use sns_to_slack::delivery::Delivery;
use sns_to_slack::delivery::DeliverySettings;
use sns_to_slack::delivery::policy::Attempt;
use sns_to_slack::destination::Webhooks;
use sns_to_slack::group::DigestAfter;
use sns_to_slack::outcome::Reason;
use sns_to_slack::pipeline::{Pipeline, Until};
use sns_to_slack::plan::{self, Plan};
use sns_to_slack::record::parse_event;
use sns_to_slack::render::Overrides;
use sns_to_slack::route::Routing;
use tokio::time::Instant;
use wiremock::{MockServer, ResponseTemplate};

const OPS: &str = "https://hooks.slack.com/services/T0/B0/OPSSECRET";
const SECURITY: &str = "https://hooks.slack.com/services/T0/B1/SECURITYSECRET";

fn table() -> Webhooks {
    Webhooks::parse(
        &format!(r#"{{"ops":"{OPS}","security":"{SECURITY}"}}"#),
        "WEBHOOKS",
        false,
    )
    .unwrap()
}

fn routing(routes: &str) -> Routing {
    Routing::new(table(), Some(routes), sns_to_slack::kinds::KIND_NAMES).unwrap()
}

fn status(status: u16, body: &str, retry_after: Option<&str>) -> Attempt {
    Attempt::Status {
        status,
        body: body.into(),
        retry_after: retry_after.map(str::to_string),
    }
}

fn settings() -> DeliverySettings {
    DeliverySettings {
        rate_per_second: 1000.0,
        rate_burst: 100,
        max_attempts: 3,
        retry_base: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
        // Two slots: with one pool for every webhook, two records waiting on
        // a paused webhook would hold them all.
        max_concurrency: 2,
        ..DeliverySettings::default()
    }
}

fn first_records(n: usize) -> String {
    let mut value: Value = serde_json::from_str(&fixture("sns-batch-25.json")).unwrap();
    value["Records"].as_array_mut().unwrap().truncate(n);
    value.to_string()
}

#[tokio::test(start_paused = true)]
async fn a_webhook_paused_by_a_429_does_not_delay_another() {
    let slack = FakeSlack::per_webhook(
        vec![
            (
                SECURITY,
                vec![status(429, "rate_limited", Some("3")), Attempt::Accepted],
            ),
            (OPS, vec![Attempt::Accepted]),
        ],
        Duration::from_millis(10),
    );
    let p = Pipeline::new(
        Delivery::new(slack.clone(), settings()),
        Kept::default(),
        routing(r#"[{"to": ["security", "ops"]}]"#),
        Overrides::default(),
    )
    // One post per record: the test is about each post's timing.
    .with_digest_after(DigestAfter::Off);
    let started = Instant::now();
    let summary = p
        .run(
            &first_records(6),
            Until::post(started + Duration::from_secs(60)),
        )
        .await
        .unwrap()
        .summary;
    assert_eq!((summary.records, summary.posted), (6, 12));
    // The 429 is counted for the webhook that gave it (the per-webhook metric).
    assert_eq!(
        (
            summary.webhooks["security"].rate_limited,
            summary.webhooks["ops"].rate_limited
        ),
        (1, 0)
    );
    let ops = slack.arrivals_at(OPS);
    assert_eq!(ops.len(), 6);
    // Six posts, two at a time, 10 ms each: ops is done in 30 ms while
    // security sits out its 3 s pause.
    let ops_done = *ops.last().unwrap() - started;
    assert!(
        ops_done <= Duration::from_millis(30),
        "ops took {ops_done:?}"
    );
    // Security's first two posts left together at 0; the first was told to
    // wait 3 s. Nothing was sent to security after that until the 3 s passed.
    let security = slack.arrivals_at(SECURITY);
    assert_eq!(security.len(), 7, "six records and one retry");
    assert!(
        security
            .iter()
            .filter(|t| **t > started)
            .all(|t| *t - started >= Duration::from_secs(3)),
        "security posted again before its Retry-After: {:?}",
        security.iter().map(|t| *t - started).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn a_webhook_paused_by_a_429_holds_none_of_the_places_in_flight() {
    // The overall cap (two places for both webhooks) binds here: security's
    // records waiting out their 3 s pause must not keep ops waiting.
    let slack = FakeSlack::per_webhook(
        vec![
            (
                SECURITY,
                vec![status(429, "rate_limited", Some("3")), Attempt::Accepted],
            ),
            (OPS, vec![Attempt::Accepted]),
        ],
        Duration::from_millis(10),
    );
    let settings = DeliverySettings {
        max_in_flight: 2,
        ..settings()
    };
    let p = Pipeline::new(
        Delivery::new(slack.clone(), settings),
        Kept::default(),
        routing(r#"[{"to": ["security", "ops"]}]"#),
        Overrides::default(),
    )
    // One post per record: the test is about each post's timing.
    .with_digest_after(DigestAfter::Off);
    let started = Instant::now();
    let summary = p
        .run(
            &first_records(6),
            Until::post(started + Duration::from_secs(60)),
        )
        .await
        .unwrap()
        .summary;
    assert_eq!((summary.records, summary.posted), (6, 12));
    let ops = slack.arrivals_at(OPS);
    assert_eq!(ops.len(), 6);
    // At worst security's first two posts go first (10 ms), then ops's six,
    // two at a time.
    let ops_done = *ops.last().unwrap() - started;
    assert!(
        ops_done <= Duration::from_millis(40),
        "ops took {ops_done:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wide_fan_out_keeps_the_posts_in_flight_under_the_overall_cap() {
    // Issue 16, finding 6: 10 records to 300 webhooks had 300 x MAX_CONCURRENCY
    // posts (sockets) in flight, past Lambda's 1,024 descriptors.
    let names: Vec<String> = (0..300).map(|i| format!("team-{i}")).collect();
    let table: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                json!(format!("https://hooks.slack.com/services/T0/{n}/SECRET")),
            )
        })
        .collect();
    let webhooks = Webhooks::parse(&Value::Object(table).to_string(), "WEBHOOKS", false).unwrap();
    let routes = json!([{ "to": names }]).to_string();
    let routing = Routing::new(webhooks, Some(&routes), sns_to_slack::kinds::KIND_NAMES).unwrap();
    let slack = FakeSlack::new(vec![Answer {
        attempt: Attempt::Accepted,
        after: Duration::from_secs(1),
    }]);
    let settings = DeliverySettings {
        rate_per_second: 1000.0,
        rate_burst: 100,
        ..DeliverySettings::default()
    };
    let p = Pipeline::new(
        Delivery::new(slack.clone(), settings),
        Kept::default(),
        routing,
        Overrides::default(),
    )
    // One post per record: the test is about each post's timing.
    .with_digest_after(DigestAfter::Off);
    let started = Instant::now();
    let summary = p
        .run(
            &first_records(10),
            Until::post(started + Duration::from_secs(600)),
        )
        .await
        .unwrap()
        .summary;
    assert_eq!((summary.records, summary.posted), (10, 3000));
    let most = slack.most_in_flight();
    assert_eq!(
        most,
        sns_to_slack::delivery::DEFAULT_MAX_IN_FLIGHT,
        "posts in flight at once"
    );
    // 3,000 posts of 1 s, 64 at a time: 47 rounds, none wasted.
    assert_eq!(Instant::now() - started, Duration::from_secs(47));
    let mut by_url: HashMap<String, usize> = HashMap::new();
    for arrival in slack.arrivals() {
        *by_url.entry(arrival.url).or_default() += 1;
    }
    assert!(by_url.len() == 300 && by_url.values().all(|n| *n == 10));
}

#[tokio::test(start_paused = true)]
async fn a_failed_fan_out_branch_is_dead_lettered_alone_under_its_name() {
    let slack = FakeSlack::per_webhook(
        vec![
            (SECURITY, vec![status(404, "channel_not_found", None)]),
            (OPS, vec![Attempt::Accepted]),
        ],
        Duration::ZERO,
    );
    let p = Pipeline::new(
        Delivery::new(slack.clone(), settings()),
        Kept::default(),
        routing(r#"[{"to": ["ops", "security"]}]"#),
        Overrides::default(),
    )
    // One post per record: the test is about each post's timing.
    .with_digest_after(DigestAfter::Off);
    let summary = p
        .run(
            &fixture("sns-plain.json"),
            Until::post(Instant::now() + Duration::from_secs(60)),
        )
        .await
        .unwrap()
        .summary;
    assert_eq!((summary.posted, summary.dead_lettered), (1, 1));
    let kept = p.dead_letter().0.lock().unwrap().clone();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].webhook.as_deref(), Some("security"));
    assert_eq!(kept[0].reason, Reason::Rejected);
    let text = kept[0].to_json();
    assert!(!text.contains("SECRET"), "a URL in the dead letter: {text}");
}

#[test]
fn records_are_routed_by_topic_attribute_kind_and_status() {
    let routes = r#"[
        {"match": {"kind": "guardduty_finding"}, "to": ["security"]},
        {"match": {"kind": "cloudwatch_alarm", "status": "ok"}, "drop": true},
        {"match": {"attributes": {"severity": "crit*"}}, "to": ["security", "ops"]},
        {"match": {"topic": "*-alarms"}, "to": ["ops"]}
    ]"#;
    let routing = routing(routes);
    let overrides = Overrides::default();
    let plan = |name: &str| {
        let records = parse_event(&fixture(name)).unwrap();
        let plans = plan::plan(&records, &routing, &overrides, 4000);
        match &plans[0] {
            Plan::Post { to, .. } => Ok(to.iter().map(|d| d.name.clone()).collect::<Vec<_>>()),
            Plan::Drop { rule } => Err(format!("drop {rule}")),
            Plan::Fail(f) => Err(f.reason.to_string()),
        }
    };
    assert_eq!(
        plan("sns-guardduty-finding.json"),
        Ok(vec!["security".into()])
    );
    assert_eq!(plan("sns-cloudwatch-ok.json"), Err("drop 1".into()));
    assert_eq!(
        plan("sns-with-attributes.json"),
        Ok(vec!["security".into(), "ops".into()])
    );
    let alarm = parse_event(&fixture("sns-cloudwatch-alarm.json")).unwrap();
    let topic = alarm[0].notification().unwrap().topic_arn.clone();
    let expected = if topic.ends_with("-alarms") {
        Ok(vec!["ops".to_string()])
    } else {
        Err("unrouted".to_string())
    };
    assert_eq!(plan("sns-cloudwatch-alarm.json"), expected);
    assert_eq!(plan("sns-plain.json"), Err("unrouted".into()));
}

#[test]
fn routing_errors_name_the_setting_and_the_webhook_but_no_url() {
    for (routes, needle) in [
        (Some(r#"[{"to": ["chat"]}]"#), "\"chat\""),
        (None, "several webhooks"),
        (
            Some(r#"[{"match": {"kind": "alarm"}, "to": ["ops"]}]"#),
            "\"alarm\"",
        ),
    ] {
        let err = Routing::new(table(), routes, sns_to_slack::kinds::KIND_NAMES)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ROUTES is invalid"), "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }
}

/// An SNS event of the first record of each fixture.
fn event_of(fixtures: &[&str]) -> String {
    let records: Vec<Value> = fixtures
        .iter()
        .map(|f| {
            let event: Value = serde_json::from_str(&fixture(f)).unwrap();
            event["Records"][0].clone()
        })
        .collect();
    json!({ "Records": records }).to_string()
}

async fn create_secret(moto: &Moto, name: &str, value: &str) {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new(support::REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

const BIN: &str = env!("CARGO_BIN_EXE_sns-to-slack");
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_function_routes_through_webhooks_from_secrets_manager() {
    let moto = Moto::start().await;
    let queue = moto.queue("routing-dlq").await;
    let ops = support::slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    let security = support::slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    let table = json!({
        "ops": support::webhook_url(&ops),
        "security": {"url": support::webhook_url(&security), "rate_per_second": 20},
    });
    create_secret(&moto, "sns-to-slack/webhooks", &table.to_string()).await;
    let routes = r#"[
        {"match": {"kind": "guardduty_finding"}, "to": ["security"]},
        {"match": {"kind": "cloudwatch_alarm", "status": "OK"}, "drop": true},
        {"match": {"kind": "cloudwatch_alarm"}, "to": ["ops", "security"]},
        {"match": {"attributes": {"severity": "critical"}}, "to": ["ops"]}
    ]"#;
    let event = event_of(&[
        "sns-guardduty-finding.json",
        "sns-cloudwatch-ok.json",
        "sns-cloudwatch-alarm.json",
        "sns-with-attributes.json",
        "sns-plain.json",
    ]);
    let runtime = RuntimeApi::start(vec![support::Invocation {
        payload: event,
        deadline_in: Some(WAIT),
    }])
    .await;
    let mut env = moto.env();
    env.push(("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint.clone()));
    env.push(("WEBHOOKS_SECRET_ID", "sns-to-slack/webhooks".into()));
    env.push(("ROUTES", routes.into()));
    env.push(("DEAD_LETTER_QUEUE_URL", queue.clone()));
    env.push(("RATE_PER_SECOND", "50".into()));
    env.push(("RATE_BURST", "5".into()));
    let function = Function::start(BIN, &runtime, &env);
    let answers = runtime.wait_for(1, WAIT).await;
    let output = function.output();
    assert!(answers[0].ok, "{:?}\n{output}", answers[0]);
    let body = &answers[0].body;
    assert_eq!(
        (
            &body["records"],
            &body["posted"],
            &body["dropped"],
            &body["unrouted"],
            &body["dead_lettered"]
        ),
        (&json!(5), &json!(4), &json!(1), &json!(1), &json!(1)),
        "{body}"
    );
    let count = async |server: &MockServer| server.received_requests().await.unwrap().len();
    assert_eq!(count(&ops).await, 2, "the alarm and the critical record");
    assert_eq!(count(&security).await, 2, "the finding and the alarm");
    let letters = moto.drain(&queue).await;
    assert_eq!(letters.len(), 1);
    let envelope: Envelope = serde_json::from_str(&letters[0].0).unwrap();
    assert_eq!(envelope.reason, Reason::Unrouted);
    assert_eq!(envelope.webhook, None);
    assert!(
        envelope.detail.contains("no rule of ROUTES"),
        "{}",
        envelope.detail
    );
    assert!(
        !output.contains(SECRET),
        "a webhook URL in the logs:\n{output}"
    );
    assert!(
        output.contains("\"Webhook\":\"security\"")
            || output.contains("webhook=\"security\"")
            || output.contains("webhook=security"),
        "the logs name the webhook:\n{output}"
    );
}

#[tokio::test]
async fn a_secret_with_a_name_twice_or_a_url_for_a_name_stops_the_init_without_echoing_it() {
    // Issue 16, findings 1 and 11, in the Secrets Manager secret.
    let moto = Moto::start().await;
    let url = format!("https://hooks.slack.com/services/{SECRET}");
    let twice = format!(r#"{{"ops":"{url}","ops":"{OPS}"}}"#);
    let swapped = format!(r#"{{"ops":"{OPS}","{url}":"security"}}"#);
    create_secret(&moto, "twice", &twice).await;
    create_secret(&moto, "swapped", &swapped).await;
    for (secret, needle) in [
        (
            "twice",
            "WEBHOOKS_SECRET_ID is invalid: webhook \"ops\" is defined twice",
        ),
        (
            "swapped",
            "WEBHOOKS_SECRET_ID is invalid: the name of entry 1 (0-based) is a URL",
        ),
    ] {
        let runtime = RuntimeApi::start(vec![]).await;
        let mut env = moto.env();
        env.push(("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint.clone()));
        env.push(("WEBHOOKS_SECRET_ID", secret.into()));
        env.push((
            "DEAD_LETTER_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/1/q".into(),
        ));
        let mut function = Function::start(BIN, &runtime, &env);
        let report = runtime.wait_for_init_error(WAIT).await;
        let message = report["errorMessage"].as_str().unwrap_or_default();
        assert!(message.starts_with(needle), "{message}");
        support::eventually(WAIT, "the process to exit", async || {
            (!function.is_running()).then_some(())
        })
        .await;
        let output = function.output();
        assert!(output.contains(needle), "{output}");
        assert!(
            !output.contains(SECRET) && !message.contains(SECRET),
            "{output}"
        );
    }
}

#[tokio::test]
async fn a_route_to_an_undefined_webhook_stops_the_function_naming_it() {
    let ops = support::slack(ResponseTemplate::new(200)).await;
    let runtime = RuntimeApi::start(vec![]).await;
    let env = vec![
        (
            "WEBHOOKS",
            json!({ "ops": support::webhook_url(&ops) }).to_string(),
        ),
        (
            "ROUTES",
            r#"[{"to": ["ops"]}, {"to": ["payments"]}]"#.into(),
        ),
        (
            "DEAD_LETTER_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/1/q".into(),
        ),
    ];
    let mut function = Function::start(BIN, &runtime, &env);
    support::eventually(WAIT, "the process to exit", async || {
        (!function.is_running()).then_some(())
    })
    .await;
    let output = function.output();
    assert!(
        output.contains("ROUTES is invalid: rule 1") && output.contains("\"payments\""),
        "{output}"
    );
    assert!(!output.contains(SECRET), "{output}");
}

#[tokio::test]
async fn redrive_posts_each_envelope_to_the_webhook_it_names() {
    let ops = support::slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    let security = support::slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    let dir = tempfile::tempdir().unwrap();
    // One line per envelope in the file: the record without its line breaks.
    let record: Value = serde_json::from_str(
        parse_event(&fixture("sns-plain.json")).unwrap()[0]
            .kept()
            .get(),
    )
    .unwrap();
    let letter = |webhook: &str| {
        format!(
            r#"{{"record":{record},"reason":"server_error","status":500,"detail":"HTTP 500","attempts":3,"webhook":"{webhook}","version":1}}"#
        )
    };
    let file = dir.path().join("dead-letters.jsonl");
    std::fs::write(
        &file,
        [letter("security"), letter("gone")].join("\n") + "\n",
    )
    .unwrap();
    let webhooks = json!({
        "ops": support::webhook_url(&ops),
        "security": support::webhook_url(&security),
    })
    .to_string();
    let redrive = |extra: &[&str]| {
        std::process::Command::new(BIN)
            .args(["redrive", "--file", file.to_str().unwrap()])
            .args(extra)
            .env_clear()
            .env("WEBHOOKS", &webhooks)
            .env("ROUTES", r#"[{"to": ["ops"]}]"#)
            .output()
            .unwrap()
    };
    let out = redrive(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("\"gone\""),
        "the unknown name is reported: {stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
    assert_eq!(security.received_requests().await.unwrap().len(), 1);
    assert_eq!(ops.received_requests().await.unwrap().len(), 0);
    let left = std::fs::read_to_string(&file).unwrap();
    assert_eq!(left.lines().count(), 1, "the unknown one is kept: {left}");
    assert!(left.contains("\"gone\""));
    let out = redrive(&["--webhook", "ops"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ops.received_requests().await.unwrap().len(), 1);
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), "");
}

/// The first section's text of a posted Block Kit message (inside the bar).
fn first_section(body: &Value) -> &str {
    body["attachments"][0]["blocks"]
        .as_array()
        .and_then(|blocks| blocks.iter().find(|b| b["type"] == "section"))
        .and_then(|section| section["text"]["text"].as_str())
        .unwrap_or_else(|| panic!("no section: {body}"))
}

#[tokio::test]
async fn a_rules_mention_leads_the_alarm_and_stays_off_the_ok() {
    const MENTION: &str = "<!subteam^S0123ABCD>";
    let ops = support::slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    let dir = tempfile::tempdir().unwrap();
    let webhooks = json!({ "ops": support::webhook_url(&ops) }).to_string();
    let routes = json!([
        {"match": {"kind": "cloudwatch_alarm"}, "to": ["ops"], "mention": MENTION}
    ])
    .to_string();
    // One `send` each: in one event, the ALARM and OK of one alarm would be
    // collapsed as flapping into a single post.
    for fixture in ["sns-cloudwatch-alarm.json", "sns-cloudwatch-ok.json"] {
        let event = dir.path().join(fixture);
        std::fs::write(&event, event_of(&[fixture])).unwrap();
        let out = std::process::Command::new(BIN)
            .arg("send")
            .arg(&event)
            .env_clear()
            .env("WEBHOOKS", &webhooks)
            .env("ROUTES", &routes)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{fixture}: {stderr}");
    }
    let bodies: Vec<Value> = ops
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let is_alarm = |b: &Value| b["text"].as_str().unwrap_or("").contains("ALARM: ");
    let alarm = bodies.iter().find(|b| is_alarm(b)).expect("the ALARM post");
    let ok = bodies.iter().find(|b| !is_alarm(b)).expect("the OK post");
    let text = alarm["text"].as_str().unwrap();
    assert!(text.starts_with(&format!("{MENTION} ")), "{text}");
    let section = first_section(alarm);
    assert!(section.starts_with(&format!("{MENTION} ")), "{section}");
    assert!(
        !ok.to_string().contains("subteam"),
        "a mention on the OK: {ok}"
    );
    assert!(
        ok["text"].as_str().is_some_and(|t| t.contains("OK")),
        "{ok}"
    );
}
