//! The SQS dead-letter adapter against a real `moto_server` on loopback:
//! envelopes land and parse back, batches split at 10 entries and 1 MiB, and a
//! missing queue fails the event instead of losing records.

use std::time::Duration;

use crate::support::{self, Moto, SECRET, fixture};
use serde_json::Value;
use sns_to_slack::dead_letter::sqs::SqsDeadLetter;
use sns_to_slack::dead_letter::{DeadLetter, Envelope};
use sns_to_slack::delivery::Delivery;
use sns_to_slack::delivery::DeliverySettings;
use sns_to_slack::destination::webhook::Webhook;
use sns_to_slack::destination::webhook::WebhookClient;
use sns_to_slack::outcome::Reason;
use sns_to_slack::pipeline::{Pipeline, PipelineError, Until};
use sns_to_slack::record::parse_event;
use sns_to_slack::render::Overrides;
use sns_to_slack::settle::envelope;
use wiremock::MockServer;

fn pipeline(slack: &MockServer, store: SqsDeadLetter) -> Pipeline<WebhookClient, SqsDeadLetter> {
    let delivery = Delivery::new(
        WebhookClient::new().unwrap(),
        DeliverySettings {
            rate_per_second: 1000.0,
            rate_burst: 100,
            ..DeliverySettings::default()
        },
    );
    let webhook = Webhook::parse(&support::webhook_url(slack)).unwrap();
    Pipeline::new(delivery, store, webhook, Overrides::default())
}

fn far() -> Until {
    Until::post(tokio::time::Instant::now() + Duration::from_secs(60))
}

#[tokio::test]
async fn rejected_records_land_in_the_queue_and_parse_back() {
    let moto = Moto::start().await;
    let queue = moto.queue("dlq-parse").await;
    let slack = support::slack_says(404, "channel_not_found").await;
    let p = pipeline(&slack, SqsDeadLetter::with_client(&queue, moto.sqs()));
    let event = fixture("sns-cloudwatch-alarm.json");
    let summary = p.run(&event, far()).await.unwrap().summary;
    assert_eq!(summary.dead_lettered, 1);

    let messages = moto.drain(&queue).await;
    assert_eq!(messages.len(), 1);
    let (body, reason) = &messages[0];
    assert_eq!(reason.as_deref(), Some("rejected"));
    assert!(!body.contains(SECRET));
    let env: Envelope = serde_json::from_str(body).unwrap();
    assert_eq!(
        (env.reason, env.status, env.attempts),
        (Reason::Rejected, Some(404), 1)
    );
    assert!(env.detail.contains("channel_not_found"));
    let original: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(env.record.get()).unwrap(),
        original["Records"][0]
    );
    assert_eq!(
        env.record.get(),
        parse_event(&event).unwrap()[0].kept().get(),
        "not verbatim"
    );
}

#[tokio::test]
async fn more_than_ten_records_are_sent_in_several_batches() {
    let moto = Moto::start().await;
    let queue = moto.queue("dlq-batches").await;
    let slack = support::slack_says(404, "channel_not_found").await;
    let p = pipeline(&slack, SqsDeadLetter::with_client(&queue, moto.sqs()));
    let summary = p
        .run(&fixture("sns-batch-25.json"), far())
        .await
        .unwrap()
        .summary;
    assert_eq!(summary.dead_lettered, 25);
    let messages = moto.drain(&queue).await;
    let mut ids: Vec<String> = messages
        .iter()
        .map(|(b, _)| serde_json::from_str::<Envelope>(b).unwrap().message_id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
}

#[tokio::test]
async fn records_near_the_size_limit_are_split_across_batches() {
    let moto = Moto::start().await;
    let queue = moto.queue("dlq-large").await;
    // Five envelopes of ~250 KB: more than one 1 MiB batch can hold.
    let big = "x".repeat(250 * 1024);
    let event = serde_json::json!({"Records": (0..5).map(|i| serde_json::json!({
        "EventSource": "aws:sns",
        "Sns": {"MessageId": format!("big-{i}"), "Message": big, "TopicArn": "arn:aws:sns:us-east-1:1:t"}
    })).collect::<Vec<_>>()})
    .to_string();
    let records = parse_event(&event).unwrap();
    let outcome = sns_to_slack::outcome::Outcome::unattempted(Ok(()));
    let failure = sns_to_slack::outcome::Failure {
        reason: Reason::Deadline,
        status: None,
        detail: "test".into(),
    };
    let envelopes: Vec<Envelope> = records
        .iter()
        .map(|r| envelope(r, &outcome, &failure, None))
        .collect();
    SqsDeadLetter::with_client(&queue, moto.sqs())
        .store(&envelopes)
        .await
        .unwrap();
    let messages = moto.drain(&queue).await;
    assert_eq!(messages.len(), 5);
    for (body, _) in &messages {
        let env: Envelope = serde_json::from_str(body).unwrap();
        assert!(env.record.get().contains(&big));
    }
}

#[tokio::test]
async fn the_sdk_finds_moto_through_the_standard_endpoint_variable() {
    let moto = Moto::start().await;
    let queue = moto.queue("dlq-env").await;
    // A child process, so the environment is its own: the lazy client of `send`
    // must reach the queue with nothing but the standard variables.
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, fixture("sns-plain.json")).unwrap();
    let slack = support::slack_says(404, "channel_not_found").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sns-to-slack"))
        .arg("send")
        .arg(&event)
        .env_clear()
        .envs(moto.env())
        .env("WEBHOOK_URL", support::webhook_url(&slack))
        .env("DEAD_LETTER_QUEUE_URL", &queue)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(moto.drain(&queue).await.len(), 1);
    assert!(!dir.path().join("dead-letters.jsonl").exists());
}

#[tokio::test]
async fn a_missing_queue_fails_the_event_and_says_so() {
    let moto = Moto::start().await;
    let missing = format!("{}/123456789012/no-such-queue", moto.endpoint);
    let slack = support::slack_says(404, "channel_not_found").await;
    let p = pipeline(&slack, SqsDeadLetter::with_client(&missing, moto.sqs()));
    let err = p.run(&fixture("sns-plain.json"), far()).await.unwrap_err();
    assert!(err.is_retryable());
    let PipelineError::DeadLetter { summary, source } = &err;
    assert_eq!(
        (
            summary.posted,
            summary.dead_lettered,
            source.unsent.as_slice()
        ),
        (0, 0, [0].as_slice())
    );
    assert!(err.to_string().contains("could not be stored"), "{err}");
}

/// A fake SQS answering `SendMessageBatch` (JSON protocol): an entry whose body
/// contains `poison` is refused as the sender's fault every time; one containing
/// `flaky` fails on SQS's side the first time only; the rest are stored.
#[derive(Clone, Default)]
struct FakeSqs {
    /// Every entry body received, in order.
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl wiremock::Respond for FakeSqs {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let mut seen = self.seen.lock().unwrap();
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        for entry in body["Entries"].as_array().unwrap() {
            let (id, text) = (entry["Id"].clone(), entry["MessageBody"].as_str().unwrap());
            let flaky_before = seen.iter().any(|s| s.contains("flaky"));
            seen.push(text.to_string());
            if text.contains("poison") {
                failed.push(serde_json::json!({"Id": id, "SenderFault": true,
                    "Code": "InvalidMessageContents", "Message": "Invalid characters"}));
            } else if text.contains("flaky") && !flaky_before {
                failed.push(serde_json::json!({"Id": id, "SenderFault": false,
                    "Code": "InternalError", "Message": "try again"}));
            } else {
                ok.push(serde_json::json!({"Id": id, "MessageId": "m",
                    "MD5OfMessageBody": "00000000000000000000000000000000"}));
            }
        }
        wiremock::ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.0")
            .set_body_json(serde_json::json!({"Successful": ok, "Failed": failed}))
    }
}

fn envelope_of(id: &str, message: &str) -> Envelope {
    let event = serde_json::json!({"Records": [{"EventSource": "aws:sns",
        "Sns": {"MessageId": id, "Message": message}}]})
    .to_string();
    let records = parse_event(&event).unwrap();
    let failure = sns_to_slack::outcome::Failure {
        reason: Reason::ServerError,
        status: Some(500),
        detail: "HTTP 500".into(),
    };
    envelope(
        &records[0],
        &sns_to_slack::outcome::Outcome::unattempted(Ok(())),
        &failure,
        None,
    )
}

#[tokio::test]
async fn a_sender_fault_entry_is_not_resent_but_reported_and_the_rest_retried() {
    let server = MockServer::start().await;
    let fake = FakeSqs::default();
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new(support::REGION))
            .endpoint_url(server.uri())
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .build(),
    );
    let queue = format!("{}/123456789012/dlq", server.uri());
    let store = SqsDeadLetter::with_client(&queue, client);
    let err = store
        .store(&[
            envelope_of("m-ok", "fine"),
            envelope_of("m-poison", "poison"),
            envelope_of("m-flaky", "flaky"),
        ])
        .await
        .unwrap_err();
    assert_eq!(
        (err.unsent.as_slice(), err.total),
        ([1].as_slice(), 3),
        "{err}"
    );
    assert!(err.cause.contains("m-poison"), "{err}");
    assert!(err.cause.contains("InvalidMessageContents"), "{err}");
    let seen = fake.seen.lock().unwrap().clone();
    let count = |what: &str| seen.iter().filter(|s| s.contains(what)).count();
    assert_eq!(count("poison"), 1, "a sender fault was sent again");
    assert_eq!(count("flaky"), 2, "an SQS-side failure was not retried");
    assert_eq!(count("fine"), 1);
}

#[test]
fn the_largest_envelope_of_a_valid_sns_message_fits_one_sqs_message() {
    // SNS takes up to 256 KiB of UTF-8 text. In the Lambda event it is a JSON
    // string: `"` and `\` and line breaks take two bytes each, and a 4-byte
    // character written as a `\uXXXX\uXXXX` pair takes 12 (3x). The envelope
    // keeps the record verbatim, so these are its worst cases.
    let limit = 256 * 1024;
    let cases = [
        ("ascii", "x".repeat(limit)),
        ("quotes", "\"".repeat(limit)),
        ("newlines", "\n".repeat(limit)),
        ("emoji", "\u{1F600}".repeat(limit / 4)),
    ];
    let mut largest = 0;
    for (name, message) in cases {
        let mut env = envelope_of("m", &message);
        if name == "emoji" {
            // As if the event escaped every non-ASCII character.
            let escaped = serde_json::to_string(&message)
                .unwrap()
                .replace('\u{1F600}', "\\ud83d\\ude00");
            let raw = format!(
                r#"{{"EventSource":"aws:sns","Sns":{{"MessageId":"m","Message":{escaped}}}}}"#
            );
            env.record = serde_json::value::RawValue::from_string(raw).unwrap();
        }
        // The SNS fields around the message (ids, ARNs, signature, attributes)
        // and the longest detail add a few KiB at most.
        let size = env.to_json().len() + 8 * 1024;
        eprintln!("{name}: envelope of {} bytes", env.to_json().len());
        largest = largest.max(size);
        assert!(
            size <= sns_to_slack::dead_letter::sqs::MAX_BATCH_BYTES,
            "{name}: {size} bytes"
        );
    }
    assert!(
        largest > 3 * limit,
        "the emoji case was not measured: {largest}"
    );
}
