//! `sns-to-slack redrive` as an operator runs it, against `moto_server` and a
//! scripted Slack: both message shapes, failures that stay, poison bodies,
//! dry runs, `--max`, the file source and Ctrl-C.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::{self, Moto, SECRET, fixture};
use serde_json::{Value, json};
use sns_to_slack::dead_letter::Envelope;
use sns_to_slack::outcome::Outcome;
use sns_to_slack::outcome::{Failure, Reason};
use sns_to_slack::record::parse_event;
use sns_to_slack::settle::envelope;
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Envelopes (as stored) for the first `n` records of the 25-record fixture.
fn envelopes(n: usize) -> Vec<String> {
    let records = parse_event(&fixture("sns-batch-25.json")).unwrap();
    let outcome = Outcome {
        attempts: 1,
        ..Outcome::unattempted(Ok(()))
    };
    let failure = Failure {
        reason: Reason::ServerError,
        status: Some(500),
        detail: "HTTP 500: rollup_error".into(),
    };
    records[..n]
        .iter()
        .map(|r| envelope(r, &outcome, &failure, None).to_json())
        .collect()
}

/// Lambda's on-failure destination record around a two-record SNS event.
fn lambda_failure_record() -> String {
    let event: Value = serde_json::from_str(&fixture("sns-batch-25.json")).unwrap();
    let two: Vec<Value> = event["Records"].as_array().unwrap()[10..12].to_vec();
    json!({
        "version": "1.0",
        "timestamp": "2026-11-24T09:20:00.000Z",
        "requestContext": {"requestId": "r-1", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:sns-to-slack:$LATEST", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"Records": two},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Retryable", "errorMessage": "1 of 1 dead letters could not be stored"}
    })
    .to_string()
}

fn redrive(args: &[&str], env: &[(&str, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sns-to-slack"))
        .arg("redrive")
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap()
}

fn env(moto: &Moto, slack: Option<&MockServer>) -> Vec<(&'static str, String)> {
    let mut env = moto.env();
    if let Some(s) = slack {
        env.push(("WEBHOOK_URL", support::webhook_url(s)));
    }
    env.push(("RATE_PER_SECOND", "100".into()));
    env.push(("RATE_BURST", "10".into()));
    env.push(("RETRY_BASE_MS", "10".into()));
    env
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn posts(slack: &MockServer) -> usize {
    slack.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn envelopes_and_lambda_failure_records_are_redriven_and_the_queue_emptied() {
    let moto = Moto::start().await;
    let queue = moto.queue("redrive-all").await;
    for body in envelopes(2) {
        moto.send(&queue, &body).await;
    }
    moto.send(&queue, &lambda_failure_record()).await;
    moto.send(&queue, &fixture("sns-plain.json")).await;
    let slack = support::slack_says(200, "ok").await;
    let out = redrive(
        &["--queue-url", &queue, "--wait-seconds", "0"],
        &env(&moto, Some(&slack)),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let totals: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (totals["messages"].clone(), totals["redriven"].clone()),
        (json!(4), json!(4))
    );
    assert_eq!(totals["records_posted"], 5);
    assert_eq!(posts(&slack).await, 5);
    assert!(
        moto.drain(&queue).await.is_empty(),
        "the queue still holds messages"
    );
}

#[tokio::test]
async fn a_record_that_fails_again_stays_in_the_queue_and_its_reason_is_reported() {
    let moto = Moto::start().await;
    let queue = moto.queue("redrive-fail").await;
    let body = envelopes(1).remove(0);
    moto.send(&queue, &body).await;
    let slack = support::slack_says(404, "channel_not_found").await;
    let out = redrive(
        &["--queue-url", &queue, "--wait-seconds", "0"],
        &env(&moto, Some(&slack)),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("rejected") && err.contains("channel_not_found"),
        "{err}"
    );
    assert!(!err.contains(SECRET), "{err}");
    // Made visible again at once, unchanged.
    let left = moto.drain(&queue).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, body);
}

#[tokio::test]
async fn a_poison_body_is_left_and_reported() {
    let moto = Moto::start().await;
    let queue = moto.queue("redrive-poison").await;
    moto.send(&queue, "this is not JSON").await;
    moto.send(&queue, &envelopes(1)[0]).await;
    let slack = support::slack_says(200, "ok").await;
    let out = redrive(
        &["--queue-url", &queue, "--wait-seconds", "0"],
        &env(&moto, Some(&slack)),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("skipped"), "{}", stderr(&out));
    assert_eq!(posts(&slack).await, 1);
    let left = moto.drain(&queue).await;
    assert_eq!(
        left.iter().map(|(b, _)| b.as_str()).collect::<Vec<_>>(),
        ["this is not JSON"]
    );
}

#[tokio::test]
async fn a_dry_run_shows_the_payloads_and_deletes_nothing() {
    let moto = Moto::start().await;
    let queue = moto.queue("redrive-dry").await;
    for body in envelopes(3) {
        moto.send(&queue, &body).await;
    }
    let slack = support::slack_says(200, "ok").await;
    let out = redrive(
        &["--queue-url", &queue, "--wait-seconds", "0", "--dry-run"],
        &env(&moto, Some(&slack)),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let payloads = stdout.lines().filter(|l| l.contains("\"blocks\"")).count();
    assert_eq!(payloads, 3, "{stdout}");
    assert_eq!(posts(&slack).await, 0);
    assert_eq!(moto.drain(&queue).await.len(), 3);
}

#[tokio::test]
async fn max_limits_the_messages_read() {
    let moto = Moto::start().await;
    let queue = moto.queue("redrive-max").await;
    for body in envelopes(5) {
        moto.send(&queue, &body).await;
    }
    let slack = support::slack_says(200, "ok").await;
    let out = redrive(
        &["--queue-url", &queue, "--wait-seconds", "0", "--max", "2"],
        &env(&moto, Some(&slack)),
    );
    assert_eq!(out.status.code(), Some(1), "more remain: {}", stderr(&out));
    assert_eq!(posts(&slack).await, 2);
    assert_eq!(moto.drain(&queue).await.len(), 3);
}

#[tokio::test]
async fn the_file_of_send_round_trips_through_redrive() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    let mut value: Value = serde_json::from_str(&fixture("sns-batch-25.json")).unwrap();
    value["Records"].as_array_mut().unwrap().truncate(3);
    std::fs::write(&event, value.to_string()).unwrap();
    // Slack is down: all three go to the file.
    let down = support::slack_says(500, "rollup_error").await;
    let out = Command::new(env!("CARGO_BIN_EXE_sns-to-slack"))
        .args(["send", event.to_str().unwrap()])
        .env_clear()
        .env("WEBHOOK_URL", support::webhook_url(&down))
        .env("MAX_ATTEMPTS", "1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let file = dir.path().join("dead-letters.jsonl");
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);

    // Slack is back, but still refuses one message: two lines go, one stays.
    let back = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("batch message 1"))
        .respond_with(ResponseTemplate::new(410).set_body_string("channel_is_archived"))
        .with_priority(1)
        .mount(&back)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(2)
        .mount(&back)
        .await;
    let env = [("WEBHOOK_URL", support::webhook_url(&back))];
    let out = redrive(&["--file", file.to_str().unwrap()], &env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let left = std::fs::read_to_string(&file).unwrap();
    let envs: Vec<Envelope> = left
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(envs.len(), 1);
    assert!(envs[0].record.get().contains("batch message 1"));
    assert_eq!(posts(&back).await, 3);

    // Once the channel is fixed, the file empties.
    let fixed = support::slack_says(200, "ok").await;
    let env = [("WEBHOOK_URL", support::webhook_url(&fixed))];
    let out = redrive(&["--file", file.to_str().unwrap()], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
}

#[tokio::test]
async fn ctrl_c_lets_posts_in_flight_finish_and_deletes_nothing_unposted() {
    let moto = Moto::start().await;
    let queue = moto.queue("redrive-ctrl-c").await;
    for body in envelopes(3) {
        moto.send(&queue, &body).await;
    }
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("ok")
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&slow)
        .await;
    let child = Command::new(env!("CARGO_BIN_EXE_sns-to-slack"))
        .args([
            "redrive",
            "--queue-url",
            &queue,
            "--wait-seconds",
            "0",
            "--batch",
            "1",
        ])
        .env_clear()
        .envs(env(&moto, Some(&slow)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    support::eventually(Duration::from_secs(30), "the first post", async || {
        (posts(&slow).await >= 1).then_some(())
    })
    .await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(posts(&slow).await, 1, "a new post started after Ctrl-C");
    let totals: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(totals["redriven"], 1, "the post in flight did not finish");
    assert_eq!(moto.drain(&queue).await.len(), 2);
}

#[tokio::test]
async fn a_send_that_dead_letters_while_redrive_runs_keeps_its_line() {
    // Finding 6, with two real processes: `redrive --file` used to rewrite the
    // file from the snapshot it took at the start, dropping lines appended since.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dead-letters.jsonl");
    // One envelope on one line, as `send` writes it (the fixture is pretty-printed).
    let line: String = envelopes(1)[0].chars().filter(|c| *c != '\n').collect();
    std::fs::write(&file, line + "\n").unwrap();
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("ok")
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&slow)
        .await;
    let redriving = Command::new(env!("CARGO_BIN_EXE_sns-to-slack"))
        .args(["redrive", "--file", file.to_str().unwrap()])
        .env_clear()
        .env("WEBHOOK_URL", support::webhook_url(&slow))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    support::eventually(Duration::from_secs(30), "the redrive's post", async || {
        (posts(&slow).await >= 1).then_some(())
    })
    .await;

    // While that post waits on Slack, `send` dead-letters a record to the same file.
    let refusing = support::slack_says(404, "channel_not_found").await;
    let event = dir.path().join("event.json");
    std::fs::write(&event, fixture("sns-cloudwatch-alarm.json")).unwrap();
    let sent = Command::new(env!("CARGO_BIN_EXE_sns-to-slack"))
        .args(["send", event.to_str().unwrap()])
        .env_clear()
        .env("WEBHOOK_URL", support::webhook_url(&refusing))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(sent.status.code(), Some(1), "{}", stderr(&sent));

    let out = redriving.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let left: Vec<Envelope> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "the line appended during the redrive was lost"
    );
    assert_eq!(left[0].reason, Reason::Rejected);
}
