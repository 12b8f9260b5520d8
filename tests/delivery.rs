//! Delivery against a real loopback HTTP server scripted with Slack's answers:
//! retries, Retry-After, permanent errors, resets, timeouts, the deadline and
//! the rate limiter. Dead letters go to the real JSON-lines adapter.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sns_to_slack::config::{DeliverySettings, Overrides};
use sns_to_slack::dead_letter::Envelope;
use sns_to_slack::dead_letter::file::FileDeadLetter;
use sns_to_slack::delivery::Delivery;
use sns_to_slack::delivery::policy::Reason;
use sns_to_slack::pipeline::{Pipeline, Summary};
use sns_to_slack::slack::SlackClient;
use sns_to_slack::webhook::Webhook;
use support::{SECRET, fixture};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Serves a script of answers in order (the last one repeats) and notes when
/// each request arrived.
#[derive(Clone)]
struct Script {
    answers: Arc<Vec<ResponseTemplate>>,
    arrivals: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Script {
    fn new(answers: Vec<ResponseTemplate>) -> Self {
        Self {
            answers: Arc::new(answers),
            arrivals: Arc::default(),
        }
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.arrivals
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _)| *t)
            .collect()
    }

    fn bodies(&self) -> Vec<Value> {
        self.arrivals
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

impl Respond for Script {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut arrivals = self.arrivals.lock().unwrap();
        let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        arrivals.push((Instant::now(), body));
        let i = (arrivals.len() - 1).min(self.answers.len() - 1);
        self.answers[i].clone()
    }
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_string("ok")
}

fn slack_error(status: u16, error: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_string(error)
}

fn fast_settings() -> DeliverySettings {
    DeliverySettings {
        rate_per_second: 1000.0,
        rate_burst: 100,
        max_attempts: 3,
        attempt_timeout: Duration::from_secs(5),
        retry_base: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
        ..DeliverySettings::default()
    }
}

struct Setup {
    pipeline: Pipeline<SlackClient, FileDeadLetter>,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new(webhook_url: &str, settings: DeliverySettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let delivery = Delivery::new(SlackClient::new().unwrap(), settings);
        let store = FileDeadLetter::new(dir.path().join("dead-letters.jsonl"));
        let webhook = Webhook::parse(webhook_url).unwrap();
        Self {
            pipeline: Pipeline::new(delivery, store, webhook, Overrides::default()),
            _dir: dir,
        }
    }

    async fn with_script(script: &Script, settings: DeliverySettings) -> (Self, MockServer) {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        (Self::new(&support::webhook_url(&server), settings), server)
    }

    async fn run(&self, event: &str, budget: Duration) -> Summary {
        let stop_at = tokio::time::Instant::now() + budget;
        self.pipeline
            .run(event, stop_at)
            .await
            .expect("the event is handled")
    }

    fn dead_letters_text(&self) -> String {
        std::fs::read_to_string(self.pipeline.dead_letter().path()).unwrap_or_default()
    }

    fn dead_letters(&self) -> Vec<Envelope> {
        self.dead_letters_text()
            .lines()
            .map(|l| serde_json::from_str(l).expect("an envelope per line"))
            .collect()
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn posts_a_record_as_block_kit_by_default() {
    let script = Script::new(vec![ok()]);
    let (setup, _server) = Setup::with_script(&script, fast_settings()).await;
    let summary = setup.run(&fixture("sns-plain.json"), MINUTE).await;
    assert_eq!(
        (summary.posted, summary.dead_lettered, summary.retries),
        (1, 0, 0)
    );
    let body = &script.bodies()[0];
    assert_eq!(body["text"], "deploy finished: test message");
    assert_eq!(body["blocks"][0]["type"], "header");
    assert_eq!(body["blocks"][0]["text"]["text"], "deploy finished");
    assert_eq!(body["blocks"][1]["text"]["text"], "test message");
    assert!(setup.dead_letters().is_empty());
}

/// Every text of a Block Kit body's blocks, joined.
fn block_text(body: &Value) -> String {
    body["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| {
            let mut texts = vec![b["text"]["text"].as_str().unwrap_or("").to_string()];
            for key in ["fields", "elements"] {
                for t in b[key].as_array().into_iter().flatten() {
                    texts.push(t["text"].as_str().unwrap_or("").to_string());
                }
            }
            texts
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_429_waits_at_least_retry_after_then_posts() {
    let script = Script::new(vec![
        slack_error(429, "rate_limited").insert_header("Retry-After", "1"),
        ok(),
    ]);
    let (setup, _server) = Setup::with_script(&script, fast_settings()).await;
    let summary = setup.run(&fixture("sns-plain.json"), MINUTE).await;
    assert_eq!(
        (summary.posted, summary.retries, summary.rate_limited),
        (1, 1, 1)
    );
    let t = script.arrivals();
    assert_eq!(t.len(), 2);
    assert!(
        t[1] - t[0] >= Duration::from_secs(1),
        "retried after {:?}",
        t[1] - t[0]
    );
}

#[tokio::test]
async fn a_429_pauses_every_record_to_that_webhook() {
    let script = Script::new(vec![
        slack_error(429, "rate_limited").insert_header("Retry-After", "1"),
        ok(),
    ]);
    let settings = DeliverySettings {
        rate_per_second: 5.0,
        rate_burst: 1,
        ..fast_settings()
    };
    let (setup, _server) = Setup::with_script(&script, settings).await;
    let summary = setup.run(&fixture("sns-batch-25.json"), MINUTE).await;
    assert_eq!(summary.posted, 25);
    let t = script.arrivals();
    assert_eq!(t.len(), 26);
    for later in &t[1..] {
        assert!(
            *later - t[0] >= Duration::from_secs(1),
            "a post went out during the pause"
        );
    }
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_record_posted_once() {
    let script = Script::new(vec![slack_error(500, "rollup_error"), ok()]);
    let (setup, _server) = Setup::with_script(&script, fast_settings()).await;
    let summary = setup.run(&fixture("sns-plain.json"), MINUTE).await;
    assert_eq!(
        (summary.posted, summary.dead_lettered, summary.retries),
        (1, 0, 1)
    );
    assert_eq!(script.arrivals().len(), 2);
}

#[tokio::test]
async fn server_errors_to_the_last_attempt_are_dead_lettered() {
    let script = Script::new(vec![slack_error(503, "service_unavailable")]);
    let (setup, _server) = Setup::with_script(&script, fast_settings()).await;
    let summary = setup.run(&fixture("sns-plain.json"), MINUTE).await;
    assert_eq!(summary.dead_lettered, 1);
    let dl = setup.dead_letters();
    assert_eq!(
        (dl[0].reason, dl[0].status, dl[0].attempts),
        (Reason::ServerError, Some(503), 3)
    );
    assert_eq!(script.arrivals().len(), 3);
}

#[tokio::test]
async fn permanent_errors_are_dead_lettered_after_one_attempt_with_slacks_error() {
    for (status, error) in [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ] {
        let script = Script::new(vec![slack_error(status, error)]);
        let (setup, _server) = Setup::with_script(&script, fast_settings()).await;
        let event = fixture("sns-plain.json");
        let summary = setup.run(&event, MINUTE).await;
        assert_eq!((summary.posted, summary.dead_lettered), (0, 1), "{status}");
        assert_eq!(script.arrivals().len(), 1, "{status} was retried");
        let dl = setup.dead_letters();
        assert_eq!(dl[0].reason, Reason::Rejected);
        assert_eq!(dl[0].status, Some(status));
        assert_eq!(dl[0].attempts, 1);
        assert!(dl[0].detail.contains(error), "{}", dl[0].detail);
        assert!(dl[0].first_attempt_at.is_some() && dl[0].last_attempt_at.is_some());
        assert_eq!(dl[0].message_id, "6a9cc579-087e-58eb-9e5c-530b635ec1dc");
        let record: Value = serde_json::from_str(dl[0].record.get()).unwrap();
        let original: Value = serde_json::from_str(&event).unwrap();
        assert_eq!(record, original["Records"][0]);
        assert!(!setup.dead_letters_text().contains(SECRET));
    }
}

#[tokio::test]
async fn connection_resets_are_retried_then_dead_lettered_as_transport() {
    let addr = support::resetting_server();
    let setup = Setup::new(&format!("http://{addr}/services/{SECRET}"), fast_settings());
    let summary = setup.run(&fixture("sns-plain.json"), MINUTE).await;
    assert_eq!(summary.dead_lettered, 1);
    let dl = setup.dead_letters();
    assert_eq!(
        (dl[0].reason, dl[0].status, dl[0].attempts),
        (Reason::Transport, None, 3)
    );
    assert!(!dl[0].detail.is_empty());
    assert!(
        !setup.dead_letters_text().contains(SECRET),
        "{}",
        dl[0].detail
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_failure_without_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let setup = Setup::new(
        &format!("http://127.0.0.1:{port}/services/{SECRET}"),
        fast_settings(),
    );
    setup.run(&fixture("sns-plain.json"), MINUTE).await;
    let dl = setup.dead_letters();
    assert_eq!(dl[0].reason, Reason::Transport);
    assert!(
        !dl[0].detail.contains(SECRET) && !dl[0].detail.contains("/services/"),
        "{}",
        dl[0].detail
    );
}

#[tokio::test]
async fn a_reply_slower_than_the_attempt_timeout_is_retried_then_dead_lettered() {
    let script = Script::new(vec![ok().set_delay(Duration::from_secs(3))]);
    let settings = DeliverySettings {
        attempt_timeout: Duration::from_millis(300),
        max_attempts: 2,
        ..fast_settings()
    };
    let (setup, _server) = Setup::with_script(&script, settings).await;
    let summary = setup.run(&fixture("sns-plain.json"), MINUTE).await;
    assert_eq!(summary.dead_lettered, 1);
    let dl = setup.dead_letters();
    assert_eq!((dl[0].reason, dl[0].attempts), (Reason::Timeout, 2));
    assert_eq!(script.arrivals().len(), 2);
}

#[tokio::test]
async fn a_reply_slower_than_the_deadline_is_cut_and_dead_lettered() {
    let script = Script::new(vec![ok().set_delay(Duration::from_secs(30))]);
    let settings = DeliverySettings {
        attempt_timeout: Duration::from_secs(20),
        ..fast_settings()
    };
    let (setup, _server) = Setup::with_script(&script, settings).await;
    let started = Instant::now();
    let summary = setup
        .run(&fixture("sns-plain.json"), Duration::from_secs(1))
        .await;
    let took = started.elapsed();
    assert_eq!(summary.dead_lettered, 1);
    let dl = setup.dead_letters();
    assert_eq!((dl[0].reason, dl[0].attempts), (Reason::Deadline, 1));
    assert!(
        took >= Duration::from_millis(900),
        "gave up before the deadline: {took:?}"
    );
    assert!(
        took < Duration::from_secs(20),
        "waited for the attempt timeout, not the deadline"
    );
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_is_not_waited_for() {
    let script = Script::new(vec![
        slack_error(429, "rate_limited").insert_header("Retry-After", "120"),
        ok(),
    ]);
    let (setup, _server) = Setup::with_script(&script, fast_settings()).await;
    let started = Instant::now();
    setup
        .run(&fixture("sns-plain.json"), Duration::from_secs(3))
        .await;
    assert!(started.elapsed() < Duration::from_secs(120));
    let dl = setup.dead_letters();
    assert_eq!(
        (dl[0].reason, dl[0].status, dl[0].attempts),
        (Reason::Deadline, Some(429), 1)
    );
    assert!(dl[0].detail.contains("rate_limited"), "{}", dl[0].detail);
    assert_eq!(script.arrivals().len(), 1);
}

#[tokio::test]
async fn no_time_left_dead_letters_everything_without_posting() {
    let script = Script::new(vec![ok()]);
    let (setup, _server) = Setup::with_script(&script, fast_settings()).await;
    let summary = setup
        .run(&fixture("sns-batch-25.json"), Duration::ZERO)
        .await;
    assert_eq!((summary.posted, summary.dead_lettered), (0, 25));
    assert!(
        setup
            .dead_letters()
            .iter()
            .all(|d| d.reason == Reason::Deadline && d.attempts == 0)
    );
    assert!(script.arrivals().is_empty());
}

#[tokio::test]
async fn the_limiter_spaces_posts_to_one_webhook() {
    let script = Script::new(vec![ok()]);
    let settings = DeliverySettings {
        rate_per_second: 10.0,
        rate_burst: 1,
        ..fast_settings()
    };
    let (setup, _server) = Setup::with_script(&script, settings).await;
    let event = fixture("sns-batch-25.json");
    let mut value: Value = serde_json::from_str(&event).unwrap();
    value["Records"].as_array_mut().unwrap().truncate(6);
    let summary = setup.run(&value.to_string(), MINUTE).await;
    assert_eq!(summary.posted, 6);
    let t = script.arrivals();
    // Five gaps of 100 ms; a little slack for the first request's connect.
    assert!(
        t[5] - t[0] >= Duration::from_millis(450),
        "span {:?}",
        t[5] - t[0]
    );
}

#[tokio::test]
async fn an_unreadable_record_is_dead_lettered_and_the_rest_posted() {
    let script = Script::new(vec![ok()]);
    let (setup, _server) = Setup::with_script(&script, fast_settings()).await;
    let event = r#"{"Records":[{"Sns":{"Message":"fine","MessageId":"m1"}},{"Sns":{"Subject":"no body"}}]}"#;
    let summary = setup.run(event, MINUTE).await;
    assert_eq!((summary.posted, summary.dead_lettered), (1, 1));
    let dl = setup.dead_letters();
    assert_eq!((dl[0].reason, dl[0].attempts), (Reason::InvalidRecord, 0));
    assert_eq!(dl[0].record.get(), r#"{"Sns":{"Subject":"no body"}}"#);
    assert!(dl[0].detail.contains("Message"), "{}", dl[0].detail);
}

#[tokio::test]
async fn a_200kb_message_is_posted_cut_with_a_marker() {
    let script = Script::new(vec![ok()]);
    let (setup, _server) = Setup::with_script(&script, fast_settings()).await;
    let summary = setup.run(&fixture("sns-large-message.json"), MINUTE).await;
    assert_eq!(summary.posted, 1);
    let body = &script.bodies()[0];
    let value = block_text(body);
    assert!(
        value.chars().count() <= 4000 + 500,
        "{}",
        value.chars().count()
    );
    assert!(value.contains("[truncated:"), "no marker");
}

#[tokio::test]
async fn every_record_of_a_batch_is_posted_concurrently() {
    let script = Script::new(vec![ok().set_delay(Duration::from_millis(200))]);
    let (setup, _server) = Setup::with_script(&script, fast_settings()).await;
    let summary = setup.run(&fixture("sns-batch-25.json"), MINUTE).await;
    assert_eq!((summary.records, summary.posted), (25, 25));
    assert_eq!(script.arrivals().len(), 25);
    let mut texts: Vec<String> = script
        .bodies()
        .iter()
        .map(|b| b["blocks"][1]["text"]["text"].as_str().unwrap().to_string())
        .collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 25, "a record was posted twice or not at all");
}
