//! Delivery end to end through the pipeline, in two halves.
//!
//! - Time: retries, backoff, `Retry-After`, the limiter, concurrency and the
//!   deadline run on tokio's paused clock through a fake `Post` that answers
//!   as scripted, so waits are exact and cost no real time.
//! - The HTTP adapter: a real loopback server (wiremock) scripted with Slack's
//!   answers checks what the Slack client sends and how it reads answers,
//!   resets, refusals and its own timeout. Dead letters there go to the real
//!   JSON-lines adapter.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::fake_slack::{Answer, FakeSlack, says};
use crate::support::{self, Kept, SECRET, fixture};
use serde_json::Value;
use sns_to_slack::dead_letter::Envelope;
use sns_to_slack::dead_letter::file::FileDeadLetter;
use sns_to_slack::delivery::Delivery;
use sns_to_slack::delivery::DeliverySettings;
use sns_to_slack::delivery::policy::Attempt;
use sns_to_slack::destination::webhook::Webhook;
use sns_to_slack::destination::webhook::WebhookClient;
use sns_to_slack::group::DigestAfter;
use sns_to_slack::outcome::Reason;
use sns_to_slack::pipeline::{Pipeline, Until};
use sns_to_slack::render::Overrides;
use sns_to_slack::summary::Summary;
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
    pipeline: Pipeline<WebhookClient, FileDeadLetter>,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new(webhook_url: &str, settings: DeliverySettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let delivery = Delivery::new(WebhookClient::new().unwrap(), settings);
        let store = FileDeadLetter::new(dir.path().join("dead-letters.jsonl"));
        let webhook = Webhook::parse(webhook_url).unwrap();
        Self {
            // One post per record: these tests are about each post's fate.
            pipeline: Pipeline::new(delivery, store, webhook, Overrides::default())
                .with_digest_after(DigestAfter::Off),
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
            .run(event, Until::post(stop_at))
            .await
            .expect("the event is handled")
            .summary
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

// ---------------------------------------------------------------------------
// Time, on the paused clock, through a fake `Post`.
// ---------------------------------------------------------------------------

fn accepted() -> Answer {
    says(Attempt::Accepted)
}

fn status(status: u16, retry_after: Option<&str>) -> Answer {
    says(Attempt::Status {
        status,
        body: "error".into(),
        retry_after: retry_after.map(str::to_string),
    })
}

fn clock_pipeline(slack: &FakeSlack, settings: DeliverySettings) -> Pipeline<FakeSlack, Kept> {
    let webhook = Webhook::parse(&format!("https://hooks.slack.com/services/{SECRET}")).unwrap();
    // One post per record: the clock tests pace and retry each post.
    Pipeline::new(
        Delivery::new(slack.clone(), settings),
        Kept::default(),
        webhook,
        Overrides::default(),
    )
    .with_digest_after(DigestAfter::Off)
}

async fn run_for(p: &Pipeline<FakeSlack, Kept>, event: &str, budget: Duration) -> Summary {
    let stop_at = tokio::time::Instant::now() + budget;
    p.run(event, Until::post(stop_at))
        .await
        .expect("the event is handled")
        .summary
}

fn kept(p: &Pipeline<FakeSlack, Kept>) -> Vec<Envelope> {
    p.dead_letter().0.lock().unwrap().clone()
}

fn first_records(n: usize) -> String {
    let mut value: Value = serde_json::from_str(&fixture("sns-batch-25.json")).unwrap();
    value["Records"].as_array_mut().unwrap().truncate(n);
    value.to_string()
}

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(start_paused = true)]
async fn every_record_of_a_batch_is_posted_concurrently() {
    let slack = FakeSlack::new(vec![Answer {
        after: MS(200),
        ..accepted()
    }]);
    let p = clock_pipeline(&slack, fast_settings());
    let started = tokio::time::Instant::now();
    let summary = run_for(&p, &fixture("sns-batch-25.json"), MINUTE).await;
    assert_eq!((summary.records, summary.posted), (25, 25));
    // MAX_CONCURRENCY (8) posts at a time: 25 records take four rounds of
    // 200 ms; one at a time they would take 25.
    assert_eq!(slack.most_in_flight(), 8);
    assert_eq!(started.elapsed(), MS(800));
    let mut texts: Vec<String> = slack
        .arrivals()
        .iter()
        .map(|a| a.body.to_string())
        .collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 25, "a record was posted twice or not at all");
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_exactly_retry_after_then_posts() {
    let slack = FakeSlack::new(vec![status(429, Some("7")), accepted()]);
    let p = clock_pipeline(&slack, fast_settings());
    let summary = run_for(&p, &fixture("sns-plain.json"), MINUTE).await;
    assert_eq!(
        (summary.posted, summary.retries, summary.rate_limited),
        (1, 1, 1)
    );
    assert_eq!(slack.offsets(), [Duration::ZERO, Duration::from_secs(7)]);
}

#[tokio::test(start_paused = true)]
async fn a_429_pauses_every_record_to_that_webhook() {
    let slack = FakeSlack::new(vec![status(429, Some("1")), accepted()]);
    let settings = DeliverySettings {
        rate_per_second: 5.0,
        rate_burst: 1,
        ..fast_settings()
    };
    let p = clock_pipeline(&slack, settings);
    let summary = run_for(&p, &fixture("sns-batch-25.json"), MINUTE).await;
    assert_eq!(summary.posted, 25);
    let t = slack.offsets();
    assert_eq!(t.len(), 26);
    assert!(
        t[1..].iter().all(|t| *t >= Duration::from_secs(1)),
        "a post went out during the pause: {t:?}"
    );
    // After the pause the rate applies again: 25 posts, 200 ms apart.
    assert_eq!(t[25] - t[1], MS(24 * 200));
}

#[tokio::test(start_paused = true)]
async fn a_float_retry_after_is_treated_as_missing_without_a_panic() {
    // Finding 1: `Retry-After: 1e19` panicked ("overflow when adding duration to instant").
    let slack = FakeSlack::new(vec![status(429, Some("1e19")), accepted()]);
    let p = clock_pipeline(&slack, fast_settings());
    let summary = run_for(&p, &fixture("sns-plain.json"), MINUTE).await;
    assert_eq!((summary.posted, summary.rate_limited), (1, 1));
    // The backoff applies instead: between RETRY_BASE_MS and twice it.
    let wait = slack.offsets()[1];
    assert!(wait >= MS(10) && wait <= MS(20), "{wait:?}");
}

#[tokio::test(start_paused = true)]
async fn a_long_retry_after_holds_the_webhook_no_longer_than_the_cap() {
    // Finding 2: `Retry-After: 3600` paused the webhook for an hour, and every
    // later invocation dead-lettered its records as `deadline`.
    let slack = FakeSlack::new(vec![status(429, Some("3600")), accepted()]);
    let p = clock_pipeline(&slack, fast_settings());
    let summary = run_for(&p, &first_records(2), Duration::from_secs(300)).await;
    assert_eq!((summary.posted, summary.dead_lettered), (2, 0));
    let t = slack.offsets();
    assert_eq!(t.len(), 3);
    assert!(
        t[1..].iter().all(|t| *t == Duration::from_secs(60)),
        "{t:?}"
    );
    // The next invocation is not held at all.
    let before = tokio::time::Instant::now();
    let summary = run_for(&p, &fixture("sns-plain.json"), Duration::from_secs(5)).await;
    assert_eq!(summary.posted, 1);
    assert_eq!(before.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn every_retry_waits_at_least_retry_base() {
    // Finding 7: full jitter drew waits from zero, below RETRY_BASE_MS.
    let settings = DeliverySettings {
        retry_base: MS(100),
        retry_max: MS(10_000),
        max_attempts: 4,
        ..fast_settings()
    };
    for _ in 0..50 {
        let slack = FakeSlack::new(vec![status(500, None)]);
        let p = clock_pipeline(&slack, settings.clone());
        run_for(&p, &fixture("sns-plain.json"), MINUTE).await;
        let t = slack.offsets();
        assert_eq!(t.len(), 4);
        for (n, gap) in t.windows(2).map(|w| w[1] - w[0]).enumerate() {
            let ceiling = MS(100 * 2u64.pow(n as u32 + 1));
            assert!(gap >= MS(100) && gap <= ceiling, "retry {}: {gap:?}", n + 1);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_server_error_is_retried_and_the_record_posted_once() {
    let slack = FakeSlack::new(vec![status(500, None), accepted()]);
    let p = clock_pipeline(&slack, fast_settings());
    let summary = run_for(&p, &fixture("sns-plain.json"), MINUTE).await;
    assert_eq!(
        (summary.posted, summary.dead_lettered, summary.retries),
        (1, 0, 1)
    );
    assert_eq!(slack.offsets().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn server_errors_to_the_last_attempt_are_dead_lettered() {
    let slack = FakeSlack::new(vec![status(503, None)]);
    let p = clock_pipeline(&slack, fast_settings());
    let summary = run_for(&p, &fixture("sns-plain.json"), MINUTE).await;
    assert_eq!(summary.dead_lettered, 1);
    let dl = kept(&p);
    assert_eq!(
        (dl[0].reason, dl[0].status, dl[0].attempts),
        (Reason::ServerError, Some(503), 3)
    );
    assert_eq!(slack.offsets().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_reply_slower_than_the_deadline_is_cut_at_the_deadline() {
    let slack = FakeSlack::new(vec![Answer {
        after: Duration::from_secs(30),
        ..accepted()
    }]);
    let settings = DeliverySettings {
        attempt_timeout: Duration::from_secs(20),
        ..fast_settings()
    };
    let p = clock_pipeline(&slack, settings);
    let started = tokio::time::Instant::now();
    let summary = run_for(&p, &fixture("sns-plain.json"), Duration::from_secs(1)).await;
    assert_eq!(summary.dead_lettered, 1);
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    let dl = kept(&p);
    assert_eq!((dl[0].reason, dl[0].attempts), (Reason::Deadline, 1));
}

#[tokio::test(start_paused = true)]
async fn a_slow_reply_times_out_each_attempt_then_is_dead_lettered() {
    let slack = FakeSlack::new(vec![Answer {
        after: Duration::from_secs(3),
        ..accepted()
    }]);
    let settings = DeliverySettings {
        attempt_timeout: MS(300),
        max_attempts: 2,
        ..fast_settings()
    };
    let p = clock_pipeline(&slack, settings);
    run_for(&p, &fixture("sns-plain.json"), MINUTE).await;
    let dl = kept(&p);
    assert_eq!((dl[0].reason, dl[0].attempts), (Reason::Timeout, 2));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_is_not_waited_for() {
    let slack = FakeSlack::new(vec![status(429, Some("30")), accepted()]);
    let p = clock_pipeline(&slack, fast_settings());
    let started = tokio::time::Instant::now();
    run_for(&p, &fixture("sns-plain.json"), Duration::from_secs(3)).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    let dl = kept(&p);
    assert_eq!(
        (dl[0].reason, dl[0].status, dl[0].attempts),
        (Reason::Deadline, Some(429), 1)
    );
    assert!(dl[0].detail.contains("30000 ms"), "{}", dl[0].detail);
    assert_eq!(slack.offsets().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_time_left_dead_letters_everything_without_posting() {
    let slack = FakeSlack::new(vec![accepted()]);
    let p = clock_pipeline(&slack, fast_settings());
    let summary = run_for(&p, &fixture("sns-batch-25.json"), Duration::ZERO).await;
    assert_eq!((summary.posted, summary.dead_lettered), (0, 25));
    assert!(
        kept(&p)
            .iter()
            .all(|d| d.reason == Reason::Deadline && d.attempts == 0)
    );
    assert!(slack.offsets().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_limiter_spaces_posts_to_one_webhook_exactly() {
    let slack = FakeSlack::new(vec![accepted()]);
    let settings = DeliverySettings {
        rate_per_second: 10.0,
        rate_burst: 1,
        ..fast_settings()
    };
    let p = clock_pipeline(&slack, settings);
    let summary = run_for(&p, &first_records(6), MINUTE).await;
    assert_eq!(summary.posted, 6);
    let t = slack.offsets();
    assert_eq!(t, (0..6).map(|i| MS(100 * i)).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// The HTTP adapter, against a real loopback server.
// ---------------------------------------------------------------------------

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
async fn the_client_reads_retry_after_from_a_429() {
    let script = Script::new(vec![
        slack_error(429, "rate_limited").insert_header("Retry-After", "0"),
        ok(),
    ]);
    let settings = DeliverySettings {
        retry_base: Duration::from_secs(5),
        retry_max: Duration::from_secs(10),
        ..fast_settings()
    };
    let (setup, _server) = Setup::with_script(&script, settings).await;
    let summary = setup.run(&fixture("sns-plain.json"), MINUTE).await;
    assert_eq!(
        (summary.posted, summary.retries, summary.rate_limited),
        (1, 1, 1)
    );
    // `0` was read: the retry did not wait the backoff (at least 5 s here).
    let t = script.arrivals();
    assert!(t[1] - t[0] < Duration::from_secs(5), "{:?}", t[1] - t[0]);
}

/// A dead-letter store that takes a second per call, ten letters a call.
#[derive(Default)]
struct SlowStore(Mutex<Vec<Envelope>>, AtomicUsize);

impl sns_to_slack::dead_letter::DeadLetter for SlowStore {
    async fn store(
        &self,
        envelopes: &[Envelope],
    ) -> Result<(), sns_to_slack::dead_letter::DeadLetterError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.0.lock().unwrap().extend(envelopes.iter().cloned());
        Ok(())
    }

    fn batch_size(&self) -> usize {
        10
    }
}

#[tokio::test(start_paused = true)]
async fn a_deadline_cut_store_hands_back_only_the_letters_it_did_not_store() {
    // Finding 7: all were handed back and `dead_lettered` said 0, although
    // some letters were stored before the cut; and the calls ran one by one.
    let slack = FakeSlack::new(vec![accepted()]);
    let webhook = Webhook::parse(&format!("https://hooks.slack.com/services/{SECRET}")).unwrap();
    let p = Pipeline::new(
        Delivery::new(slack.clone(), fast_settings()),
        SlowStore::default(),
        webhook,
        Overrides::default(),
    )
    .with_digest_after(DigestAfter::Off)
    .with_max_receives(5);
    let records = (0..100)
        .map(|i| support::sqs_record(&format!("q-{i}"), "on its last receive", 5))
        .collect();
    let now = tokio::time::Instant::now();
    let until = Until {
        post: now,
        store: Some(now + Duration::from_millis(1_500)),
    };
    let done = p
        .run(&support::sqs_event(records), until)
        .await
        .expect("nothing is lost: SQS keeps what was not stored");
    let stored = p.dead_letter().0.lock().unwrap().len();
    // Eight calls at once finish at 1 s; the last two are cut at 1.5 s.
    assert_eq!(stored, 80);
    assert_eq!(p.dead_letter().1.load(Ordering::SeqCst), 10);
    assert_eq!(
        (done.summary.dead_lettered, done.summary.requeued),
        (80, 20)
    );
    let requeue = done.requeue.unwrap();
    assert_eq!(requeue.len(), 20);
    let letters = p.dead_letter().0.lock().unwrap();
    for letter in letters.iter() {
        let record: Value = serde_json::from_str(letter.record.get()).unwrap();
        let id = record["messageId"].as_str().unwrap();
        assert!(
            !requeue.iter().any(|r| r == id),
            "{id} stored and handed back"
        );
    }
}

/// A pipeline with the default grouping (`DIGEST_AFTER` 5), handing SQS
/// records back until their fifth receive.
fn storm_pipeline(slack: &FakeSlack) -> Pipeline<FakeSlack, Kept> {
    let webhook = Webhook::parse(&format!("https://hooks.slack.com/services/{SECRET}")).unwrap();
    Pipeline::new(
        Delivery::new(slack.clone(), fast_settings()),
        Kept::default(),
        webhook,
        Overrides::default(),
    )
    .with_max_receives(5)
}

/// An SQS batch of `n` text messages of one topic (one group), on their
/// `receives`-th receive.
fn storm(n: usize, receives: u32) -> String {
    let records = (0..n)
        .map(|i| {
            support::sqs_record(
                &format!("q-{i}"),
                &format!("disk full on host-{i}"),
                receives,
            )
        })
        .collect();
    support::sqs_event(records)
}

#[tokio::test(start_paused = true)]
async fn a_digest_that_fails_for_good_dead_letters_each_of_its_records() {
    let slack = FakeSlack::new(vec![status(404, None)]);
    let p = storm_pipeline(&slack);
    let done = p
        .run(
            &storm(12, 1),
            Until::post(tokio::time::Instant::now() + MINUTE),
        )
        .await
        .unwrap();
    // One digest post, refused: every record it carried is a dead letter.
    assert_eq!(slack.offsets().len(), 1);
    let s = &done.summary;
    assert_eq!(
        (s.digests, s.digested, s.dead_lettered, s.requeued),
        (0, 0, 12, 0)
    );
    let letters = kept(&p);
    let mut ids: Vec<String> = letters
        .iter()
        .map(|l| {
            let record: Value = serde_json::from_str(l.record.get()).unwrap();
            record["messageId"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "each record its own letter");
    assert!(letters.iter().all(|l| l.reason == Reason::Rejected));
    assert_eq!(done.requeue, Some(Vec::new()));
}

#[tokio::test(start_paused = true)]
async fn a_digest_that_fails_for_now_hands_each_of_its_records_back() {
    let slack = FakeSlack::new(vec![status(503, None)]);
    let p = storm_pipeline(&slack);
    let done = p
        .run(
            &storm(12, 1),
            Until::post(tokio::time::Instant::now() + MINUTE),
        )
        .await
        .unwrap();
    // One digest, tried three times: every record goes back to SQS, none
    // is a dead letter.
    assert_eq!(slack.offsets().len(), 3);
    assert_eq!((done.summary.dead_lettered, done.summary.requeued), (0, 12));
    let mut requeue = done.requeue.unwrap();
    requeue.sort();
    let mut expected: Vec<String> = (0..12).map(|i| format!("q-{i}")).collect();
    expected.sort();
    assert_eq!(requeue, expected);
    assert!(kept(&p).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_digest_posts_once_for_a_storm_and_counts_what_it_carried() {
    let slack = FakeSlack::new(vec![accepted()]);
    let p = storm_pipeline(&slack);
    let done = p
        .run(
            &storm(12, 1),
            Until::post(tokio::time::Instant::now() + MINUTE),
        )
        .await
        .unwrap();
    assert_eq!(slack.offsets().len(), 1);
    let s = &done.summary;
    assert_eq!(
        (s.posted, s.digests, s.digested, s.collapsed),
        (0, 1, 12, 0)
    );
    let body = slack.arrivals()[0].body.to_string();
    for i in 0..12 {
        assert!(body.contains(&format!("disk full on host-{i}")), "{i}");
    }
}
