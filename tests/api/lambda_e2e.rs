//! End to end: the built binary in Lambda mode (the real `lambda_runtime`)
//! against a loopback Runtime API, a scripted Slack and `moto_server`.

use std::time::{Duration, SystemTime};

use crate::support::{self, Function, Invocation, Moto, RuntimeApi, SECRET, fixture};
use serde_json::json;
use sns_to_slack::dead_letter::Envelope;
use sns_to_slack::outcome::Reason;
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_sns-to-slack");

fn env(moto: &Moto, slack: &MockServer, queue: &str) -> Vec<(&'static str, String)> {
    let mut env = moto.env();
    env.push(("WEBHOOK_URL", support::webhook_url(slack)));
    env.push(("DEAD_LETTER_QUEUE_URL", queue.to_string()));
    env.push(("RATE_PER_SECOND", "50".into()));
    env.push(("RATE_BURST", "5".into()));
    env
}

fn invocation(payload: String, deadline_in: Duration) -> Invocation {
    Invocation {
        payload,
        deadline_in: Some(deadline_in),
    }
}

#[tokio::test]
async fn a_good_event_is_posted_and_summarised() {
    let moto = Moto::start().await;
    let queue = moto.queue("e2e-ok").await;
    let slack = support::slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    let runtime = RuntimeApi::start(vec![invocation(fixture("sns-batch-25.json"), WAIT)]).await;
    let mut vars = env(&moto, &slack, &queue);
    vars.push(("DIGEST_AFTER", "off".into()));
    let function = Function::start(BIN, &runtime, &vars);
    let answers = runtime.wait_for(1, WAIT).await;
    assert!(answers[0].ok, "{:?}\n{}", answers[0], function.output());
    assert_eq!(answers[0].body["posted"], 25);
    assert_eq!(answers[0].body["dead_lettered"], 0);
    assert_eq!(slack.received_requests().await.unwrap().len(), 25);
    assert!(moto.drain(&queue).await.is_empty());
    let output = function.output();
    assert!(
        output.contains("req-1"),
        "request id missing from the logs:\n{output}"
    );
    assert!(
        !output.contains(SECRET),
        "the webhook URL leaked into the logs:\n{output}"
    );
    let emf: Vec<serde_json::Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 2, "one EMF document, one per webhook:\n{output}");
    assert_eq!(emf[0]["Posted"], 25);
    assert_eq!(
        (&emf[1]["Webhook"], &emf[1]["Posted"]),
        (&json!("default"), &json!(25))
    );
    assert_eq!(emf[0]["Service"], "sns-to-slack");
    assert_eq!(emf[0]["DeliveryLatency"].as_array().map(Vec::len), Some(25));
}

#[tokio::test]
async fn a_storm_of_one_kind_is_posted_as_a_digest_that_names_every_record() {
    let moto = Moto::start().await;
    let queue = moto.queue("e2e-storm").await;
    let slack = support::slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    // 25 text messages of one topic, as the default DIGEST_AFTER (5) sees them.
    let runtime = RuntimeApi::start(vec![invocation(fixture("sns-batch-25.json"), WAIT)]).await;
    let function = Function::start(BIN, &runtime, &env(&moto, &slack, &queue));
    let answers = runtime.wait_for(1, WAIT).await;
    assert!(answers[0].ok, "{:?}\n{}", answers[0], function.output());
    let summary = &answers[0].body;
    assert_eq!(
        (
            &summary["posted"],
            &summary["digests"],
            &summary["digested"]
        ),
        (&json!(0), &json!(1), &json!(25)),
        "{summary}"
    );
    let posts = slack.received_requests().await.unwrap();
    assert_eq!(posts.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&posts[0].body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("25 notifications: "), "{text}");
    let shown = body.to_string();
    for i in 0..25 {
        assert!(
            shown.contains(&format!("batch message {i}")),
            "record {i} missing: {shown}"
        );
    }
    assert!(moto.drain(&queue).await.is_empty());
    let output = function.output();
    let emf: Vec<serde_json::Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(
        (&emf[0]["Digests"], &emf[0]["Digested"]),
        (&json!(1), &json!(25))
    );
}

#[tokio::test]
async fn a_slow_slack_is_dead_lettered_before_the_deadline() {
    let moto = Moto::start().await;
    let queue = moto.queue("e2e-deadline").await;
    let slack = support::slack(ResponseTemplate::new(200).set_delay(Duration::from_secs(60))).await;
    let deadline_in = Duration::from_secs(4);
    let runtime = RuntimeApi::start(vec![invocation(fixture("sns-plain.json"), deadline_in)]).await;
    let mut vars = env(&moto, &slack, &queue);
    vars.push(("DEADLINE_MARGIN_MS", "1500".into()));
    let started = SystemTime::now();
    let function = Function::start(BIN, &runtime, &vars);
    let answers = runtime.wait_for(1, WAIT).await;
    let answered_after = answers[0].at.duration_since(started).unwrap();
    assert!(answers[0].ok, "{:?}\n{}", answers[0], function.output());
    assert_eq!(answers[0].body["dead_lettered"], 1);
    assert!(
        answered_after < deadline_in + Duration::from_secs(1),
        "answered {answered_after:?} after start, past the deadline"
    );
    let messages = moto.drain(&queue).await;
    assert_eq!(messages.len(), 1);
    let env: Envelope = serde_json::from_str(&messages[0].0).unwrap();
    assert_eq!(env.reason, Reason::Deadline);
    assert_eq!(messages[0].1.as_deref(), Some("deadline"));
}

#[tokio::test]
async fn a_malformed_event_is_kept_as_an_invalid_event_and_the_next_one_is_served() {
    let moto = Moto::start().await;
    let queue = moto.queue("e2e-malformed").await;
    let slack = support::slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    let malformed = r#"{"detail-type": "not SNS",  "n": 1.50}"#;
    let runtime = RuntimeApi::start(vec![
        invocation(malformed.into(), WAIT),
        invocation(fixture("sns-plain.json"), WAIT),
    ])
    .await;
    let mut function = Function::start(BIN, &runtime, &env(&moto, &slack, &queue));
    let answers = runtime.wait_for(2, WAIT).await;
    let by_id = |id: &str| answers.iter().find(|a| a.request_id == id).unwrap().clone();
    let bad = by_id("req-1");
    assert!(
        bad.ok,
        "no pointless retries of a payload that cannot change: {bad:?}"
    );
    assert_eq!(bad.body["dead_lettered"], 1);
    assert_eq!(bad.body["reasons"]["invalid_event"], 1);
    let letters = moto.drain(&queue).await;
    assert_eq!(letters.len(), 1);
    let envelope: Envelope = serde_json::from_str(&letters[0].0).unwrap();
    assert_eq!(envelope.reason, Reason::InvalidEvent);
    assert_eq!(
        envelope.record.get(),
        malformed,
        "the payload is kept verbatim"
    );
    assert!(
        envelope.detail.contains("not an SNS or SQS event"),
        "{}",
        envelope.detail
    );
    assert_eq!(letters[0].1.as_deref(), Some("invalid_event"));
    let good = by_id("req-2");
    assert!(good.ok, "{good:?}");
    assert_eq!(good.body["posted"], 1);
    assert!(function.is_running());
}

/// A Slack that refuses bodies containing "permanent", fails bodies containing
/// "later" with a 500, and accepts the rest.
async fn picky_slack() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("permanent"))
        .respond_with(ResponseTemplate::new(404).set_body_string("channel_not_found"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("later"))
        .respond_with(ResponseTemplate::new(500).set_body_string("rollup_error"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

fn failures(answer: &support::Answer) -> Vec<String> {
    let mut ids: Vec<String> = answer.body["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch response: {}", answer.body))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn an_sqs_batch_posts_every_body_shape_and_answers_with_no_failures() {
    let moto = Moto::start().await;
    let queue = moto.queue("e2e-sqs-shapes").await;
    let slack = picky_slack().await;
    let inner = r#"{"EventSource":"aws:sns","Sns":{"MessageId":"m-env","Subject":"from the DLQ","Message":"redriven by SQS"}}"#;
    let envelope = format!(
        r#"{{"record":{inner},"reason":"deadline","status":null,"detail":"d","attempts":1,"message_id":"m-env","version":1}}"#
    );
    let payload = r#"{"Records":[{"EventSource":"aws:sns","Sns":{"MessageId":"m-inv","Message":"read at last"}}]}"#;
    let invalid_event = format!(
        r#"{{"record":{payload},"reason":"invalid_event","status":null,"detail":"d","attempts":0,"message_id":"","version":1}}"#
    );
    let confirmation = r#"{"Type":"SubscriptionConfirmation","MessageId":"c-1","Token":"TOKEN-2336412f37","TopicArn":"arn:aws:sns:eu-west-1:123456789012:alerts","Message":"You have chosen to subscribe. To confirm the subscription, visit the SubscribeURL included in this message.","SubscribeURL":"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=TOKEN-2336412f37","Timestamp":"2026-11-24T09:15:02.123Z"}"#;
    let event = support::sqs_event(vec![
        support::sqs_record(
            "q-sns",
            &support::sns_notification("m-sns", "Disk", "disk full"),
            1,
        ),
        support::sqs_record("q-raw", "a raw message", 1),
        support::sqs_record("q-env", &envelope, 1),
        // Issue 15: an invalid_event letter moved back into the buffer is read
        // (was refused as "missing field `Sns`") and posted.
        support::sqs_record("q-invalid", &invalid_event, 1),
        // Finding 10: `record` and `reason` alone do not make our envelope.
        support::sqs_record(
            "q-audit",
            r#"{"record":{"user":"alice"},"reason":"audit trail entry"}"#,
            1,
        ),
        // Finding 8: a confirmation is told without its token.
        support::sqs_record("q-confirm", confirmation, 1),
    ]);
    let runtime = RuntimeApi::start(vec![invocation(event, WAIT)]).await;
    let function = Function::start(BIN, &runtime, &env(&moto, &slack, &queue));
    let answers = runtime.wait_for(1, WAIT).await;
    assert!(answers[0].ok, "{:?}\n{}", answers[0], function.output());
    assert_eq!(failures(&answers[0]), Vec::<String>::new());
    let bodies: Vec<String> = slack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies.len(), 6);
    for needle in [
        "disk full",
        "a raw message",
        "redriven by SQS",
        "read at last",
        "audit trail entry",
        "confirm the subscription of this queue to topic arn:aws:sns:eu-west-1:123456789012:alerts",
    ] {
        assert!(
            bodies.iter().any(|b| b.contains(needle)),
            "{needle} not posted: {bodies:?}"
        );
    }
    for b in &bodies {
        assert!(!b.contains("TOKEN-2336412f37"), "a token was posted: {b}");
    }
    assert!(moto.drain(&queue).await.is_empty());
}

#[tokio::test]
async fn an_sqs_batch_lists_what_may_post_later_and_dead_letters_the_rest() {
    let moto = Moto::start().await;
    let queue = moto.queue("e2e-sqs-partial").await;
    let slack = picky_slack().await;
    let event = support::sqs_event(vec![
        support::sqs_record("q-ok", "fine", 1),
        support::sqs_record("q-refused", "permanent refusal", 1),
        support::sqs_record("q-later", "try later", 1),
        // Finding 12: a repeated messageId is listed once.
        support::sqs_record("q-later", "try later", 1),
        support::sqs_record("q-last", "try later, last time", 3),
        // An ApproximateReceiveCount beyond u32 is a last receive.
        {
            let mut huge = support::sqs_record("q-huge", "try later, huge count", 1);
            huge["attributes"]["ApproximateReceiveCount"] = json!("99999999999");
            huge
        },
    ]);
    let runtime = RuntimeApi::start(vec![invocation(event, WAIT)]).await;
    let mut vars = env(&moto, &slack, &queue);
    vars.push(("MAX_ATTEMPTS", "2".into()));
    vars.push(("RETRY_BASE_MS", "10".into()));
    vars.push(("MAX_RECEIVES", "3".into()));
    let function = Function::start(BIN, &runtime, &vars);
    let answers = runtime.wait_for(1, WAIT).await;
    assert!(answers[0].ok, "{:?}\n{}", answers[0], function.output());
    assert_eq!(failures(&answers[0]), ["q-later"]);
    let mut letters: Vec<(Reason, String)> = moto
        .drain(&queue)
        .await
        .iter()
        .map(|(body, _)| {
            let e: Envelope = serde_json::from_str(body).unwrap();
            let record: serde_json::Value = serde_json::from_str(e.record.get()).unwrap();
            (e.reason, record["messageId"].as_str().unwrap().to_string())
        })
        .collect();
    letters.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        letters,
        [
            (Reason::ServerError, "q-huge".to_string()),
            (Reason::ServerError, "q-last".to_string()),
            (Reason::Rejected, "q-refused".to_string()),
        ]
    );
    let emf = function
        .output()
        .lines()
        .find(|l| l.contains("\"_aws\"") && l.contains("\"Requeued\""))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .expect("an EMF document");
    assert_eq!(
        (
            &emf["Records"],
            &emf["Posted"],
            &emf["DeadLettered"],
            &emf["Requeued"]
        ),
        (&json!(6), &json!(1), &json!(3), &json!(1))
    );
}

#[tokio::test]
async fn an_sqs_batch_hands_back_what_could_not_be_dead_lettered() {
    let moto = Moto::start().await;
    let missing = format!("{}/123456789012/missing", moto.endpoint);
    let slack = picky_slack().await;
    let event = support::sqs_event(vec![
        support::sqs_record("q-ok", "fine", 1),
        support::sqs_record("q-refused", "permanent refusal", 1),
    ]);
    let runtime = RuntimeApi::start(vec![invocation(event, WAIT)]).await;
    let function = Function::start(BIN, &runtime, &env(&moto, &slack, &missing));
    let answers = runtime.wait_for(1, WAIT).await;
    assert!(
        answers[0].ok,
        "one record's store failure must not fail the batch: {:?}\n{}",
        answers[0],
        function.output()
    );
    assert_eq!(failures(&answers[0]), ["q-refused"]);
    assert_eq!(slack.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_hung_dead_letter_queue_still_answers_before_the_deadline_with_logs_and_metrics() {
    let hung = support::silent_server();
    let slack = support::slack_says(404, "channel_not_found").await;
    let queue = format!("http://{hung}/123456789012/dlq");
    let deadline_in = Duration::from_secs(8);
    let runtime = RuntimeApi::start(vec![
        invocation(fixture("sns-plain.json"), deadline_in),
        invocation(
            support::sqs_event(vec![support::sqs_record("q-1", "refused", 1)]),
            deadline_in,
        ),
    ])
    .await;
    let vars = vec![
        ("AWS_ENDPOINT_URL_SQS", format!("http://{hung}")),
        ("AWS_REGION", support::REGION.into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("WEBHOOK_URL", support::webhook_url(&slack)),
        ("DEAD_LETTER_QUEUE_URL", queue),
    ];
    let started = SystemTime::now();
    let function = Function::start(BIN, &runtime, &vars);
    let answers = runtime.wait_for(1, WAIT).await;
    let answered_after = answers[0].at.duration_since(started).unwrap();
    assert!(
        answered_after < deadline_in,
        "answered {answered_after:?} after start, past the {deadline_in:?} deadline"
    );
    assert!(!answers[0].ok);
    assert_eq!(answers[0].body["errorType"], "Retryable");
    let message = answers[0].body["errorMessage"].as_str().unwrap();
    assert!(message.contains("deadline"), "{message}");
    let answers = runtime.wait_for(2, WAIT).await;
    let sqs = answers.iter().find(|a| a.request_id == "req-2").unwrap();
    assert!(sqs.ok, "{sqs:?}");
    assert_eq!(failures(sqs), ["q-1"], "SQS keeps what could not be stored");
    let output = function.output();
    let emf = output.lines().filter(|l| l.contains("\"_aws\"")).count();
    assert_eq!(emf, 2, "one EMF document per invocation:\n{output}");
    assert!(output.contains("event failed"), "{output}");
    assert!(!output.contains(SECRET));
}

#[tokio::test]
async fn an_unreachable_dead_letter_queue_fails_the_invocation_for_a_retry() {
    let moto = Moto::start().await;
    let missing = format!("{}/123456789012/missing", moto.endpoint);
    let slack = support::slack(ResponseTemplate::new(500).set_body_string("rollup_error")).await;
    let runtime = RuntimeApi::start(vec![invocation(fixture("sns-plain.json"), WAIT)]).await;
    let mut vars = env(&moto, &slack, &missing);
    vars.push(("MAX_ATTEMPTS", "2".into()));
    vars.push(("RETRY_BASE_MS", "10".into()));
    let function = Function::start(BIN, &runtime, &vars);
    let answers = runtime.wait_for(1, WAIT).await;
    assert!(!answers[0].ok, "{:?}", answers[0]);
    assert_eq!(answers[0].body["errorType"], "Retryable");
    let message = answers[0].body["errorMessage"].as_str().unwrap();
    assert!(message.contains("could not be stored"), "{message}");
    let output = function.output();
    assert!(
        !output.contains(SECRET),
        "the webhook URL leaked:\n{output}"
    );
}

#[tokio::test]
async fn an_emulator_deadline_in_1970_uses_the_default_budget() {
    let moto = Moto::start().await;
    let queue = moto.queue("e2e-1970").await;
    let slack = support::slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    let runtime = RuntimeApi::start(vec![Invocation {
        payload: fixture("sns-plain.json"),
        deadline_in: None,
    }])
    .await;
    let function = Function::start(BIN, &runtime, &env(&moto, &slack, &queue));
    let answers = runtime.wait_for(1, WAIT).await;
    assert!(answers[0].ok, "{:?}", answers[0]);
    assert_eq!(answers[0].body["posted"], 1);
    assert!(
        function.output().contains("DEFAULT_BUDGET_MS"),
        "{}",
        function.output()
    );
}

#[tokio::test]
async fn missing_configuration_stops_the_process_naming_the_variable() {
    let runtime = RuntimeApi::start(vec![]).await;
    let mut function = Function::start(BIN, &runtime, &[]);
    support::eventually(WAIT, "the process to exit", async || {
        (!function.is_running()).then_some(())
    })
    .await;
    let output = function.output();
    assert!(output.contains("WEBHOOK_URL"), "{output}");
    let report = runtime.wait_for_init_error(WAIT).await;
    assert_eq!(report["errorType"], "NonRetryable");
    assert!(
        report["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("WEBHOOK_URL")),
        "{report}"
    );
}

#[tokio::test]
async fn a_failed_init_is_reported_to_the_runtime_api_without_the_url() {
    // A name and its URL swapped: the error names the entry, never the URL.
    let runtime = RuntimeApi::start(vec![]).await;
    let url = format!("https://hooks.slack.com/services/{SECRET}");
    let vars = vec![
        ("WEBHOOKS", json!({ url.clone(): "ops" }).to_string()),
        (
            "DEAD_LETTER_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/1/q".into(),
        ),
    ];
    let mut function = Function::start(BIN, &runtime, &vars);
    let report = runtime.wait_for_init_error(WAIT).await;
    assert_eq!(report["errorType"], "NonRetryable", "{report}");
    let message = report["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("WEBHOOKS is invalid: the name of entry 0 (0-based) is a URL"),
        "{message}"
    );
    support::eventually(WAIT, "the process to exit", async || {
        (!function.is_running()).then_some(())
    })
    .await;
    let output = function.output();
    assert!(
        !output.contains(SECRET) && !message.contains(SECRET),
        "{output}"
    );
}

#[tokio::test]
async fn a_hung_secrets_manager_is_reported_within_lambdas_init_limit() {
    // Lambda stops an init at 10 s; the secret's bound must leave time to say why.
    let hung = support::silent_server();
    let runtime = RuntimeApi::start(vec![]).await;
    let vars = vec![
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", format!("http://{hung}")),
        ("AWS_REGION", support::REGION.into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("WEBHOOKS_SECRET_ID", "sns-to-slack/webhooks".into()),
        (
            "DEAD_LETTER_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/1/q".into(),
        ),
    ];
    let started = SystemTime::now();
    let _function = Function::start(BIN, &runtime, &vars);
    let report = runtime.wait_for_init_error(WAIT).await;
    let reported_after = SystemTime::now().duration_since(started).unwrap();
    assert!(
        reported_after < Duration::from_secs(10),
        "reported {reported_after:?} after start, past Lambda's init limit"
    );
    assert_eq!(report["errorType"], "Retryable", "{report}");
    assert!(
        report["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("WEBHOOKS_SECRET_ID") && m.contains("no answer within")),
        "{report}"
    );
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_the_emf_document_stays_whole() {
    let moto = Moto::start().await;
    let queue = moto.queue("e2e-json").await;
    let slack = support::slack_says(404, "channel_not_found").await;
    let runtime = RuntimeApi::start(vec![invocation(fixture("sns-plain.json"), WAIT)]).await;
    let mut vars = env(&moto, &slack, &queue);
    vars.push(("AWS_LAMBDA_LOG_FORMAT", "JSON".into()));
    vars.push(("AWS_LAMBDA_LOG_LEVEL", "info".into()));
    let function = Function::start(BIN, &runtime, &vars);
    let answers = runtime.wait_for(1, WAIT).await;
    assert!(answers[0].ok, "{:?}", answers[0]);
    let output = function.output();
    let lines: Vec<serde_json::Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let failed = lines
        .iter()
        .find(|l| l["fields"]["outcome"] == "failed")
        .unwrap_or_else(|| panic!("no failed-record line:\n{output}"));
    assert_eq!(failed["span"]["requestId"], "req-1");
    assert_eq!(failed["fields"]["reason"], "rejected");
    assert!(
        failed["span"]["xrayTraceId"]
            .as_str()
            .is_some_and(|t| t.starts_with("Root="))
    );
    assert!(
        lines
            .iter()
            .any(|l| l["DeadLettered"] == 1 && l.get("_aws").is_some())
    );
    assert!(!output.contains(SECRET));
}

/// An SQS endpoint that stores the first `answered` `SendMessageBatch` calls
/// (keeping their bodies) and never answers the others.
struct ScriptedSqs {
    answered: usize,
    calls: std::sync::atomic::AtomicUsize,
    stored: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl wiremock::Respond for ScriptedSqs {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if call >= self.answered {
            return ResponseTemplate::new(200).set_delay(Duration::from_secs(120));
        }
        let sent: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let entries = sent["Entries"].as_array().unwrap();
        let mut stored = self.stored.lock().unwrap();
        let successful: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                stored.push(e["MessageBody"].as_str().unwrap().to_string());
                json!({"Id": e["Id"], "MessageId": format!("sqs-{}", stored.len()), "MD5OfMessageBody": "0"})
            })
            .collect();
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.0")
            .set_body_string(json!({"Successful": successful, "Failed": []}).to_string())
    }
}

#[tokio::test]
async fn a_deadline_cut_store_hands_back_only_the_letters_it_did_not_store() {
    // Finding 7: letters stored before the cut were listed in
    // batchItemFailures too (and reached the DLQ twice), `dead_lettered` said
    // 0, and the store sent its batches one at a time.
    let stored = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sqs = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ScriptedSqs {
            answered: 3,
            calls: Default::default(),
            stored: stored.clone(),
        })
        .mount(&sqs)
        .await;
    let slack = support::slack(ResponseTemplate::new(503).set_body_string("down")).await;
    let records = (0..100)
        .map(|i| support::sqs_record(&format!("q-{i}"), "on its last receive", 5))
        .collect();
    let deadline_in = Duration::from_secs(6);
    let runtime =
        RuntimeApi::start(vec![invocation(support::sqs_event(records), deadline_in)]).await;
    let vars = vec![
        ("AWS_ENDPOINT_URL_SQS", sqs.uri()),
        ("AWS_REGION", support::REGION.into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("WEBHOOK_URL", support::webhook_url(&slack)),
        (
            "DEAD_LETTER_QUEUE_URL",
            format!("{}/123456789012/dlq", sqs.uri()),
        ),
        ("RATE_PER_SECOND", "1000".into()),
        ("RATE_BURST", "100".into()),
        ("MAX_ATTEMPTS", "1".into()),
        ("MAX_CONCURRENCY", "100".into()),
        ("DEADLINE_MARGIN_MS", "3000".into()),
        ("MAX_RECEIVES", "5".into()),
    ];
    let function = Function::start(BIN, &runtime, &vars);
    let answers = runtime.wait_for(1, WAIT).await;
    assert!(answers[0].ok, "{:?}\n{}", answers[0], function.output());
    let listed = failures(&answers[0]);
    let stored: Vec<String> = stored
        .lock()
        .unwrap()
        .iter()
        .map(|body| {
            let letter: Envelope = serde_json::from_str(body).unwrap();
            let record: serde_json::Value = serde_json::from_str(letter.record.get()).unwrap();
            record["messageId"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(stored.len(), 30, "three calls of ten were answered");
    assert_eq!(listed.len(), 70, "{listed:?}");
    for id in &stored {
        assert!(!listed.contains(id), "{id} was stored and handed back");
    }
    let emf = function
        .output()
        .lines()
        .find(|l| l.contains("\"_aws\"") && l.contains("\"Requeued\""))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .expect("an EMF document");
    assert_eq!(
        (&emf["DeadLettered"], &emf["Requeued"]),
        (&json!(30), &json!(70))
    );
    // The store's calls ran side by side: more than the three answered began.
    assert!(sqs.received_requests().await.unwrap().len() >= 8);
}
