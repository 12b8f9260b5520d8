//! Slack app destinations and posted-once claims through the real binary
//! (`send`), against moto's DynamoDB and a loopback Slack Web API
//! (wiremock) answering as Slack does: an alarm and its recovery are one
//! message, updated, with one reply; the same SNS message again posts
//! nothing; a DynamoDB that is down still posts; the token never shows.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{self, Moto};

const TOKEN: &str = "xoxb-0000-1111-SECRETt0kenVALUE";
const TABLE: &str = "lifecycle-state";

/// The fixture `name`'s event with its SNS `MessageId` set to `id`, and its
/// alarm's `StateChangeTime` (and the SNS `Timestamp`) to `at` when given.
fn event(name: &str, id: &str, at: Option<&str>) -> String {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    let sns = &mut event["Records"][0]["Sns"];
    sns["MessageId"] = json!(id);
    if let Some(at) = at {
        let mut message: Value = serde_json::from_str(sns["Message"].as_str().unwrap()).unwrap();
        message["StateChangeTime"] = json!(at);
        sns["Message"] = json!(message.to_string());
        sns["Timestamp"] = json!(at.replace("+0000", "Z"));
    }
    event.to_string()
}

/// Runs `send` on `event` with `env`, in `dir`.
async fn send(dir: &Path, event: &str, env: &[(&str, String)]) -> Output {
    let file = dir.join(format!("event-{}.json", fastrand::u64(..)));
    std::fs::write(&file, event).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sns-to-slack"));
    command
        .arg("send")
        .arg(&file)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("DEAD_LETTER_FILE", dir.join("dead-letters.jsonl"))
        .current_dir(dir);
    // Off the runtime's threads: the loopback servers answer meanwhile.
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("SECRET"), "the token or a URL leaked: {all}");
    out
}

/// The summary `send` printed.
fn summary(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// The Web API calls `slack` received: (method path, JSON body), each with
/// the bot token as its bearer.
async fn calls(slack: &MockServer) -> Vec<(String, Value)> {
    let requests = slack.received_requests().await.unwrap();
    requests
        .iter()
        .map(|r| {
            assert_eq!(
                r.headers.get("authorization").unwrap().to_str().unwrap(),
                format!("Bearer {TOKEN}")
            );
            (
                r.url.path().trim_start_matches("/api/").to_string(),
                serde_json::from_slice(&r.body).unwrap(),
            )
        })
        .collect()
}

fn env_for(moto: &Moto, webhooks: &str, slack: &MockServer) -> Vec<(&'static str, String)> {
    let mut env = moto.env();
    env.push(support::dynamodb_env(moto));
    env.push(("STATE_TABLE", TABLE.into()));
    env.push(("WEBHOOKS", webhooks.into()));
    env.push(("SLACK_API_URL", format!("{}/api/", slack.uri())));
    env.push(("RATE_PER_SECOND", "100".into()));
    env
}

#[tokio::test]
async fn an_alarm_and_its_recovery_are_one_message_updated_with_one_reply() {
    let moto = Moto::start().await;
    support::state_table(&moto, TABLE).await;
    let slack = support::thread_web_api("1795000000.000100", "1795000720.000200").await;
    let webhooks = json!({"ops": {"token": TOKEN, "channel": "C0123ABCD"}}).to_string();
    let env = env_for(&moto, &webhooks, &slack);
    let dir = tempfile::tempdir().unwrap();

    let alarm = event(
        "sns-cloudwatch-alarm",
        "m-alarm",
        Some("2026-11-24T09:15:01.884+0000"),
    );
    let out = send(dir.path(), &alarm, &env).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary(&out)["posted"], 1);

    let ok = event(
        "sns-cloudwatch-ok",
        "m-ok",
        Some("2026-11-24T09:27:01.884+0000"),
    );
    let out = send(dir.path(), &ok, &env).await;
    let s = summary(&out);
    assert_eq!(
        (
            s["posted"].clone(),
            s["replies"].clone(),
            s["updates"].clone()
        ),
        (json!(1), json!(1), json!(1)),
        "{s}"
    );
    assert_eq!(s["state_errors"], 0, "{s}");

    // The same SNS message again (an SQS redelivery, a Lambda retry) posts nothing.
    let out = send(dir.path(), &ok, &env).await;
    let s = summary(&out);
    assert_eq!(
        (s["posted"].clone(), s["skipped_duplicates"].clone()),
        (json!(0), json!(1)),
        "{s}"
    );

    let calls = calls(&slack).await;
    let methods: Vec<&str> = calls.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        [
            "chat.postMessage",
            "chat.update",
            "chat.postMessage",
            "reactions.add"
        ]
    );
    let (original, update, reply) = (&calls[0].1, &calls[1].1, &calls[2].1);
    assert_eq!(original["channel"], "C0123ABCD");
    assert!(original.get("thread_ts").is_none(), "{original}");
    assert_eq!(update["ts"], "1795000000.000100");
    let shown = update.to_string();
    assert!(shown.contains("ALARM -> OK"), "{shown}");
    assert!(shown.contains("was ALARM for 12 min"), "{shown}");
    assert_eq!(reply["thread_ts"], "1795000000.000100");
    assert!(
        reply.get("reply_broadcast").is_none(),
        "a recovery is a quiet reply"
    );
    assert_eq!(calls[3].1["name"], "white_check_mark");
}

#[tokio::test]
async fn a_webhook_posts_once_per_sns_message_and_a_dynamodb_that_is_down_still_posts() {
    let moto = Moto::start().await;
    support::state_table(&moto, TABLE).await;
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T0/B0/SECRET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let webhooks = json!({"hook": format!("{}/services/T0/B0/SECRET", slack.uri())}).to_string();
    let env = env_for(&moto, &webhooks, &slack);
    let dir = tempfile::tempdir().unwrap();
    let plain = event("sns-plain", "m-plain", None);
    for (round, posted, skipped) in [(1, 1, 0), (2, 0, 1)] {
        let out = send(dir.path(), &plain, &env).await;
        let s = summary(&out);
        assert_eq!(
            (s["posted"].clone(), s["skipped_duplicates"].clone()),
            (json!(posted), json!(skipped)),
            "round {round}: {s}"
        );
    }
    assert_eq!(slack.received_requests().await.unwrap().len(), 1);

    // The table cannot be reached: the record posts anyway, the error is counted.
    let mut down = env.clone();
    down.retain(|(k, _)| *k != "AWS_ENDPOINT_URL_DYNAMODB");
    down.push(("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9".into()));
    let out = send(dir.path(), &event("sns-plain", "m-down", None), &down).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert_eq!(s["posted"], 1, "{s}");
    assert!(s["state_errors"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(slack.received_requests().await.unwrap().len(), 2);
}

/// The SQS body SNS delivers for the fixture `name` (raw delivery off), with
/// its `MessageId` and alarm time set as [`event`] does.
fn sqs_body(name: &str, id: &str, at: Option<&str>) -> String {
    let event: Value = serde_json::from_str(&event(name, id, at)).unwrap();
    let mut sns = event["Records"][0]["Sns"].clone();
    sns["Type"] = json!("Notification");
    sns.to_string()
}

/// The function in Lambda mode (buffered: SQS batches, the template's
/// default) posts an alarm, threads its recovery, and takes a redelivery
/// of the recovery as posted: three invocations, one process.
#[tokio::test]
async fn the_function_threads_a_recovery_and_posts_an_sqs_redelivery_once() {
    use crate::support::{Function, Invocation, RuntimeApi};
    use std::time::Duration;
    const WAIT: Duration = Duration::from_secs(60);
    let moto = Moto::start().await;
    support::state_table(&moto, TABLE).await;
    let queue = moto.queue("lifecycle-dlq").await;
    let slack = support::thread_web_api("1795000000.000100", "1795000720.000200").await;
    let webhooks = json!({"ops": {"token": TOKEN, "channel": "C0123ABCD"}}).to_string();
    let mut env = env_for(&moto, &webhooks, &slack);
    env.push(("DEAD_LETTER_QUEUE_URL", queue.clone()));
    let alarm = sqs_body(
        "sns-cloudwatch-alarm",
        "m-alarm",
        Some("2026-11-24T09:15:01.884+0000"),
    );
    let ok = sqs_body(
        "sns-cloudwatch-ok",
        "m-ok",
        Some("2026-11-24T09:27:01.884+0000"),
    );
    let batch = |id: &str, body: &str, receives| Invocation {
        payload: support::sqs_event(vec![support::sqs_record(id, body, receives)]),
        deadline_in: Some(WAIT),
    };
    let runtime = RuntimeApi::start(vec![
        batch("q-1", &alarm, 1),
        batch("q-2", &ok, 1),
        // SQS delivers the recovery again (its visibility ran out, say).
        batch("q-2", &ok, 2),
    ])
    .await;
    let function = Function::start(env!("CARGO_BIN_EXE_sns-to-slack"), &runtime, &env);
    let answers = runtime.wait_for(3, WAIT).await;
    let output = function.output();
    assert!(!output.contains("SECRET"), "the token leaked: {output}");
    for answer in &answers {
        assert!(answer.ok, "{answer:?}\n{output}");
        assert_eq!(answer.body["batchItemFailures"], json!([]), "{output}");
    }
    let calls = calls(&slack).await;
    let methods: Vec<&str> = calls.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        [
            "chat.postMessage",
            "chat.update",
            "chat.postMessage",
            "reactions.add"
        ],
        "{output}"
    );
    assert_eq!(calls[2].1["thread_ts"], "1795000000.000100");
    // The EMF documents count the reply, the update and the duplicate.
    for (metric, n) in [("Replies", 1), ("Updates", 1), ("SkippedDuplicates", 1)] {
        let line = output
            .lines()
            .find(|l| l.contains("\"_aws\"") && l.contains(&format!("\"{metric}\"")))
            .unwrap_or_else(|| panic!("no {metric} in\n{output}"));
        let doc: Value = serde_json::from_str(line).unwrap();
        assert_eq!(doc[metric], n, "{line}");
    }
    assert!(moto.drain(&queue).await.is_empty());
}

/// A Slack app that is not in its channel: dead-lettered at once with the
/// method and Slack's error, the token in no letter, its claim released;
/// `redrive` posts it once the app is invited, and marks the claim.
#[tokio::test]
async fn an_app_not_in_its_channel_is_dead_lettered_and_redriven_once_invited() {
    let moto = Moto::start().await;
    support::state_table(&moto, TABLE).await;
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "not_in_channel"})),
        )
        .up_to_n_times(1)
        .mount(&slack)
        .await;
    let webhooks = json!({"ops": {"token": TOKEN, "channel": "C0123ABCD"}}).to_string();
    let env = env_for(&moto, &webhooks, &slack);
    let dir = tempfile::tempdir().unwrap();
    let alarm = event("sns-cloudwatch-alarm", "m-alarm", None);
    let out = send(dir.path(), &alarm, &env).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        slack.received_requests().await.unwrap().len(),
        1,
        "not retried"
    );
    let letters = std::fs::read_to_string(dir.path().join("dead-letters.jsonl")).unwrap();
    assert!(!letters.contains("SECRET"), "{letters}");
    let letter: Value = serde_json::from_str(letters.lines().next().unwrap()).unwrap();
    assert_eq!(letter["reason"], "rejected", "{letter}");
    assert_eq!(letter["webhook"], "ops", "{letter}");
    assert!(
        letter["detail"]
            .as_str()
            .unwrap()
            .contains("chat.postMessage: not_in_channel"),
        "{letter}"
    );
    // The claim was released: once the app is invited, a redrive posts it.
    let state = support::dynamodb(&moto);
    let item = state
        .get_item()
        .table_name(TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("posted#ops#m-alarm".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(item.item().is_none(), "{item:?}");

    // The app is invited now: `redrive` posts the letter through the same
    // destinations and state, and the claim is marked.
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "channel": "C0123ABCD", "ts": "1795000000.000100"}),
            ),
        )
        .mount(&slack)
        .await;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sns-to-slack"));
    command
        .args(["redrive", "--file"])
        .arg(dir.path().join("dead-letters.jsonl"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir.path());
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        !stdout.contains("SECRET") && !stderr.contains("SECRET"),
        "{stdout}{stderr}"
    );
    let totals: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (totals["redriven"].clone(), totals["records_posted"].clone()),
        (json!(1), json!(1)),
        "{totals}"
    );
    assert_eq!(slack.received_requests().await.unwrap().len(), 2);
    let item = state
        .get_item()
        .table_name(TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("posted#ops#m-alarm".into()),
        )
        .send()
        .await
        .unwrap();
    let marked = item
        .item()
        .and_then(|i| i.get("state"))
        .and_then(|v| v.as_s().ok());
    assert_eq!(marked.map(String::as_str), Some("posted"), "{item:?}");
}
