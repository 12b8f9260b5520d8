//! One rate across every process: the schedule shared through the state
//! table (`STATE_TABLE`).
//!
//! - On tokio's paused clock, through a fake [`Post`] and the in-memory
//!   schedule: two deliveries ("processes") over one schedule never take the
//!   same slot; the burst and a 429's pause hold across them; a reservation
//!   past the deadline dead-letters as `deadline` and reserves nothing; a
//!   failing or slow table falls back to the in-memory share, counted, and
//!   every record is still posted.
//! - On `moto_server`'s DynamoDB: the same schedule contract with fixed
//!   epoch times across separate SDK clients (racing ones too), then
//!   deliveries over separate clients posting to one loopback sink, which
//!   never sees more than the rate.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::support::{self, Kept, SECRET, fixture};
use bytes::Bytes;
use sns_to_slack::delivery::policy::Attempt;
use sns_to_slack::delivery::shared::{Clock, Shared, SharedSettings, SystemClock, TokioClock};
use sns_to_slack::delivery::{Delivery, DeliverySettings, Job, Post};
use sns_to_slack::destination::webhook::Webhook;
use sns_to_slack::destination::webhook::WebhookClient;
use sns_to_slack::destination::{Destination, Webhooks};
use sns_to_slack::outcome::{Outcome, Reason};
use sns_to_slack::pipeline::{Pipeline, Until};
use sns_to_slack::render::Overrides;
use sns_to_slack::state::dynamodb::DynamoDbState;
use sns_to_slack::state::schedule::{
    DynamoDbSchedule, MemorySchedule, Pace, Rate, Reservation, Schedule,
};
use sns_to_slack::state::{StateError, StateSettings};
use tokio::time::Instant;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const S: u64 = 1_000_000;
/// 2026-09-26 10:00:00 UTC in epoch microseconds.
const T0: u64 = 1_790_416_800 * S;
const TABLE: &str = "sns-to-slack-state";
const MS: fn(u64) -> Duration = Duration::from_millis;

// ---------------------------------------------------------------------------
// Paused clock, in-memory schedule.
// ---------------------------------------------------------------------------

/// A fake Slack shared by every "process": answers in script order (the last
/// repeats) and notes which process posted when (virtual time).
#[derive(Clone, Default)]
struct Sink {
    answers: Arc<Vec<Attempt>>,
    arrivals: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Sink {
    fn answering(answers: Vec<Attempt>) -> Self {
        Self {
            answers: Arc::new(answers),
            arrivals: Arc::default(),
        }
    }

    /// Arrival offsets from `start`, in milliseconds, in order; and who posted.
    fn arrivals(&self, start: Instant) -> Vec<(u128, String)> {
        let mut a: Vec<_> = self
            .arrivals
            .lock()
            .unwrap()
            .iter()
            .map(|(t, who)| ((*t - start).as_millis(), who.clone()))
            .collect();
        a.sort();
        a
    }
}

/// One process's poster: the shared sink, tagged with the process's name.
struct Process {
    sink: Sink,
    name: &'static str,
}

impl Post for Process {
    async fn post(&self, _: &Webhook, _: Bytes, _: Duration) -> Attempt {
        let mut arrivals = self.sink.arrivals.lock().unwrap();
        arrivals.push((Instant::now(), self.name.to_string()));
        let i = (arrivals.len() - 1).min(self.sink.answers.len().saturating_sub(1));
        self.sink
            .answers
            .get(i)
            .cloned()
            .unwrap_or(Attempt::Accepted)
    }
}

fn settings(rate_per_second: f64, rate_burst: u32) -> DeliverySettings {
    DeliverySettings {
        rate_per_second,
        rate_burst,
        retry_base: MS(10),
        retry_max: MS(50),
        ..DeliverySettings::default()
    }
}

fn shared_rate(settings: &DeliverySettings) -> SharedSettings {
    SharedSettings {
        rate_per_second: settings.rate_per_second,
        rate_burst: settings.rate_burst,
        max_pause: settings.retry_after_max,
        timeout: Duration::from_secs(1),
    }
}

/// Process `name` of `processes`, pacing at its share in memory and at the
/// whole rate through `schedule`.
fn process(
    name: &'static str,
    sink: &Sink,
    schedule: &Arc<MemorySchedule>,
    whole: DeliverySettings,
    processes: u32,
) -> Delivery<Process> {
    let shared = Shared::new(
        schedule.clone(),
        Arc::new(TokioClock::starting_at(T0)),
        shared_rate(&whole),
    );
    Delivery::new(
        Process {
            sink: sink.clone(),
            name,
        },
        whole.shared_by(processes),
    )
    .with_shared(shared)
}

fn destination() -> Arc<Destination> {
    let url = format!("https://hooks.slack.com/services/{SECRET}");
    Webhooks::single(Webhook::parse(&url).unwrap())
        .iter()
        .next()
        .unwrap()
        .clone()
}

fn jobs(n: usize) -> Vec<Job> {
    let destination = destination();
    (0..n)
        .map(|i| Job {
            destination: destination.clone(),
            body: Bytes::from(format!("{{\"text\":\"{i}\"}}")),
        })
        .collect()
}

fn all_posted(outcomes: &[Outcome]) -> bool {
    outcomes.iter().all(|o| o.result.is_ok())
}

#[tokio::test(start_paused = true)]
async fn two_processes_sharing_one_schedule_never_take_the_same_slot() {
    let (sink, schedule) = (Sink::default(), Arc::new(MemorySchedule::new()));
    let a = process("a", &sink, &schedule, settings(10.0, 1), 2);
    let b = process("b", &sink, &schedule, settings(10.0, 1), 2);
    let (start, far) = (Instant::now(), Instant::now() + Duration::from_secs(60));
    let (jobs_a, jobs_b) = (jobs(10), jobs(10));
    let (out_a, out_b) = tokio::join!(a.deliver(&jobs_a, far), b.deliver(&jobs_b, far));
    assert!(all_posted(&out_a) && all_posted(&out_b));
    let arrivals = sink.arrivals(start);
    let times: Vec<u128> = arrivals.iter().map(|(t, _)| *t).collect();
    // Twenty posts, one per 100 ms: the whole rate, not twice it, and not
    // each process's half (which would take 2 s each way).
    assert_eq!(times, (0..20).map(|k| k * 100).collect::<Vec<_>>());
    assert!(arrivals.iter().any(|(_, w)| w == "a") && arrivals.iter().any(|(_, w)| w == "b"));
    assert_eq!(schedule.calls(), 20);
    assert_eq!(
        out_a
            .iter()
            .chain(&out_b)
            .map(|o| o.state_errors)
            .sum::<u32>(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn the_burst_is_shared_too() {
    let (sink, schedule) = (Sink::default(), Arc::new(MemorySchedule::new()));
    let a = process("a", &sink, &schedule, settings(10.0, 3), 2);
    let b = process("b", &sink, &schedule, settings(10.0, 3), 2);
    let (start, far) = (Instant::now(), Instant::now() + Duration::from_secs(60));
    let (jobs_a, jobs_b) = (jobs(3), jobs(3));
    tokio::join!(a.deliver(&jobs_a, far), b.deliver(&jobs_b, far));
    let times: Vec<u128> = sink.arrivals(start).iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [0, 0, 0, 100, 200, 300]);
}

#[tokio::test(start_paused = true)]
async fn a_429_in_one_process_pauses_the_destination_for_the_other() {
    let sink = Sink::answering(vec![
        Attempt::Status {
            status: 429,
            body: "rate_limited".into(),
            retry_after: Some("2".into()),
        },
        Attempt::Accepted,
    ]);
    let schedule = Arc::new(MemorySchedule::new());
    let a = process("a", &sink, &schedule, settings(100.0, 1), 2);
    let b = process("b", &sink, &schedule, settings(100.0, 1), 2);
    let (start, far) = (Instant::now(), Instant::now() + Duration::from_secs(60));
    let (jobs_a, jobs_b) = (jobs(1), jobs(3));
    let (out_a, out_b) = tokio::join!(a.deliver(&jobs_a, far), async {
        // b starts once a has met the 429.
        tokio::time::sleep(MS(10)).await;
        b.deliver(&jobs_b, far).await
    });
    assert!(all_posted(&out_a) && all_posted(&out_b));
    assert_eq!(out_a[0].rate_limited, 1);
    assert_eq!(schedule.pace("default").paused_until_us, T0 + 2 * S);
    let arrivals = sink.arrivals(start);
    assert_eq!(arrivals[0], (0, "a".to_string()));
    // Every later post, a's retry and b's three, waits for the pause and
    // then takes one slot each at the rate.
    let later: Vec<u128> = arrivals[1..].iter().map(|(t, _)| *t).collect();
    assert_eq!(later, [2000, 2010, 2020, 2030]);
}

#[tokio::test(start_paused = true)]
async fn a_slot_past_the_deadline_is_a_deadline_failure_and_reserves_nothing() {
    let (sink, schedule) = (Sink::default(), Arc::new(MemorySchedule::new()));
    let a = process("a", &sink, &schedule, settings(0.01, 1), 2);
    let b = process("b", &sink, &schedule, settings(0.01, 1), 2);
    let soon = Instant::now() + Duration::from_secs(5);
    assert!(all_posted(&a.deliver(&jobs(1), soon).await));
    let before = schedule.pace("default");
    // b's own share would allow a post now; the shared schedule does not.
    let out = b.deliver(&jobs(1), soon).await;
    let failure = out[0].result.as_ref().unwrap_err();
    assert_eq!(failure.reason, Reason::Deadline);
    assert!(
        failure
            .detail
            .contains("the rate limit would have delayed the next attempt by 100000 ms"),
        "{}",
        failure.detail
    );
    assert_eq!(out[0].attempts, 0);
    assert_eq!(schedule.pace("default"), before);
}

/// A pipeline over process `a` of two, with `schedule`.
fn pipeline(sink: &Sink, schedule: &Arc<MemorySchedule>) -> Pipeline<Process, Kept> {
    let url = format!("https://hooks.slack.com/services/{SECRET}");
    Pipeline::new(
        process("a", sink, schedule, settings(10.0, 1), 2),
        Kept::default(),
        Webhook::parse(&url).unwrap(),
        Overrides::default(),
    )
}

fn records(n: usize) -> String {
    let mut value: serde_json::Value = serde_json::from_str(&fixture("sns-batch-25.json")).unwrap();
    value["Records"].as_array_mut().unwrap().truncate(n);
    value.to_string()
}

#[tokio::test(start_paused = true)]
async fn a_failing_table_falls_back_to_the_share_counts_it_and_posts_everything() {
    let (sink, schedule) = (Sink::default(), Arc::new(MemorySchedule::new()));
    let p = pipeline(&sink, &schedule);
    schedule.set_down(true);
    let start = Instant::now();
    let stop_at = start + Duration::from_secs(60);
    let summary = p
        .run(&records(5), Until::post(stop_at))
        .await
        .unwrap()
        .summary;
    assert_eq!((summary.posted, summary.dead_lettered), (5, 0));
    // One failed call per record that asked before the first answer came
    // (they ask at once, concurrently), and none after: the invocation fell
    // back to its share, 10/s over 2 processes, one post per 200 ms.
    assert!(
        (1..=5).contains(&summary.state_errors),
        "{}",
        summary.state_errors
    );
    assert_eq!(schedule.calls(), summary.state_errors);
    let times: Vec<u128> = sink.arrivals(start).iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [0, 200, 400, 600, 800]);
    let metrics = sns_to_slack::metrics::documents(&summary, "SnsToSlack", "f", 0);
    assert!(metrics[0].contains("\"StateErrors\""), "{}", metrics[0]);

    // The next invocation tries the table again.
    schedule.set_down(false);
    let summary = p
        .run(
            &records(2),
            Until::post(Instant::now() + Duration::from_secs(60)),
        )
        .await
        .unwrap()
        .summary;
    assert_eq!((summary.posted, summary.state_errors), (2, 0));
    let metrics = sns_to_slack::metrics::documents(&summary, "SnsToSlack", "f", 0);
    assert!(!metrics[0].contains("StateErrors"));
}

#[tokio::test(start_paused = true)]
async fn a_slow_table_costs_at_most_its_timeout_then_the_share_applies() {
    let (sink, schedule) = (Sink::default(), Arc::new(MemorySchedule::new()));
    let p = pipeline(&sink, &schedule);
    schedule.set_delay(Duration::from_secs(30));
    let start = Instant::now();
    let summary = p
        .run(&records(3), Until::post(start + Duration::from_secs(60)))
        .await
        .unwrap()
        .summary;
    assert_eq!(summary.posted, 3);
    assert!(summary.state_errors >= 1);
    let times: Vec<u128> = sink.arrivals(start).iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [1000, 1200, 1400]);
}

#[tokio::test(start_paused = true)]
async fn without_a_shared_schedule_each_process_paces_its_share() {
    // Today's behaviour, for contrast: two processes at half the rate each.
    let sink = Sink::default();
    let half = settings(10.0, 1).shared_by(2);
    let a = Delivery::new(
        Process {
            sink: sink.clone(),
            name: "a",
        },
        half.clone(),
    );
    let b = Delivery::new(
        Process {
            sink: sink.clone(),
            name: "b",
        },
        half,
    );
    let (start, far) = (Instant::now(), Instant::now() + Duration::from_secs(60));
    let (jobs_a, jobs_b) = (jobs(3), jobs(3));
    tokio::join!(a.deliver(&jobs_a, far), b.deliver(&jobs_b, far));
    let times: Vec<u128> = sink.arrivals(start).iter().map(|(t, _)| *t).collect();
    // Both start at once: their slots line up in pairs.
    assert_eq!(times, [0, 0, 200, 200, 400, 400]);
}

// ---------------------------------------------------------------------------
// moto's DynamoDB.
// ---------------------------------------------------------------------------

/// Makes moto apply each DynamoDB request to the table whole, as DynamoDB
/// applies each write to an item atomically: moto's threaded server runs
/// requests side by side with no lock, so two increments of one item can
/// read the same value there (never in DynamoDB).
const ATOMIC_MOTO: &str = r#"
import sys, threading
from moto.dynamodb.responses import DynamoHandler
lock = threading.Lock()
for name in ("update_item", "get_item", "put_item", "delete_item"):
    def locked(self, _f=getattr(DynamoHandler, name)):
        with lock:
            return _f(self)
    setattr(DynamoHandler, name, locked)
from moto.server import main
main(sys.argv[1:])
"#;

/// `moto_server` with [`ATOMIC_MOTO`], killed on drop.
struct AtomicMoto {
    child: std::process::Child,
    endpoint: String,
}

impl AtomicMoto {
    async fn start() -> Self {
        // The Python beside MOTO_SERVER (the virtualenv's), else python3.
        let python = std::env::var("MOTO_SERVER")
            .ok()
            .and_then(|m| Some(std::path::Path::new(&m).parent()?.join("python")))
            .filter(|p| p.exists())
            .map_or_else(|| "python3".into(), |p| p.display().to_string());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(&python)
            .args([
                "-c",
                ATOMIC_MOTO,
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {python}: {e}"));
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        support::eventually(
            Duration::from_secs(60),
            "moto_server to listen",
            async || std::net::TcpStream::connect_timeout(&addr, MS(200)).ok(),
        )
        .await;
        moto
    }

    fn client(&self) -> aws_sdk_dynamodb::Client {
        support::dynamodb_at(&self.endpoint)
    }

    /// The state table, keyed on `pk` as the template's.
    async fn table(&self) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        self.client()
            .create_table()
            .table_name(TABLE)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create_table");
    }

    fn schedule(&self) -> DynamoDbSchedule {
        DynamoDbSchedule::new(Arc::new(DynamoDbState::with_client(
            StateSettings::new(TABLE),
            self.client(),
        )))
    }
}

impl Drop for AtomicMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

async fn slot(schedule: &impl Schedule, dest: &str, rate: Rate, now: u64, latest: u64) -> u64 {
    match schedule.reserve(dest, rate, now, latest, soon()).await {
        Ok(Reservation::Reserved { at_us, .. }) => at_us,
        other => panic!("no slot: {other:?}"),
    }
}

/// What every schedule must do, with two views (`a`, `b`) of one schedule.
async fn contract(a: &impl Schedule, b: &impl Schedule) {
    let rate = Rate::new(1.0, 2);
    // The burst, then one interval apart, whoever asks.
    assert_eq!(slot(a, "ops", rate, T0, u64::MAX).await, T0);
    assert_eq!(slot(b, "ops", rate, T0, u64::MAX).await, T0);
    assert_eq!(slot(a, "ops", rate, T0, u64::MAX).await, T0 + S);
    assert_eq!(slot(b, "ops", rate, T0, u64::MAX).await, T0 + 2 * S);
    // A slot past latest is refused and nothing is reserved.
    assert_eq!(
        a.reserve("ops", rate, T0, T0 + 2 * S, soon())
            .await
            .unwrap(),
        Reservation::Refused {
            wait_us: 3 * S,
            pace: Pace {
                tat_us: T0 + 4 * S,
                paused_until_us: 0
            }
        }
    );
    assert_eq!(slot(b, "ops", rate, T0, u64::MAX).await, T0 + 3 * S);
    // Idle for a while: the schedule restarts from now.
    assert_eq!(
        slot(b, "ops", rate, T0 + 60 * S, u64::MAX).await,
        T0 + 60 * S
    );
    assert_eq!(
        slot(a, "ops", rate, T0 + 60 * S, u64::MAX).await,
        T0 + 60 * S
    );
    assert_eq!(
        slot(a, "ops", rate, T0 + 60 * S, u64::MAX).await,
        T0 + 61 * S
    );
    // A pause from one holds the other; a shorter one does not shorten it.
    a.pause("ops", T0 + 90 * S, soon()).await.unwrap();
    b.pause("ops", T0 + 80 * S, soon()).await.unwrap();
    let refused = b
        .reserve("ops", rate, T0 + 70 * S, T0 + 85 * S, soon())
        .await
        .unwrap();
    assert!(
        matches!(refused, Reservation::Refused { wait_us, .. } if wait_us == 20 * S),
        "{refused:?}"
    );
    assert_eq!(
        slot(b, "ops", rate, T0 + 70 * S, u64::MAX).await,
        T0 + 90 * S
    );
    // Another destination has its own schedule.
    assert_eq!(slot(b, "security", rate, T0, u64::MAX).await, T0);
}

#[tokio::test(start_paused = true)]
async fn the_memory_schedule_keeps_the_contract() {
    let schedule = MemorySchedule::new();
    contract(&schedule, &schedule).await;
}

#[tokio::test]
async fn the_dynamodb_schedule_keeps_the_contract_across_two_clients() {
    let moto = AtomicMoto::start().await;
    moto.table().await;
    let (a, b) = (moto.schedule(), moto.schedule());
    contract(&a, &b).await;
    // The item, as written (attribute names exact).
    let item = moto
        .client()
        .get_item()
        .table_name(TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("rate#ops".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let number = |name: &str| item[name].as_n().unwrap().parse::<u64>().unwrap();
    assert_eq!(item["kind"].as_s().unwrap(), "rate");
    assert_eq!(number("paused_until_us"), T0 + 90 * S);
    assert_eq!(number("tat_us"), T0 + 91 * S);
    assert!(!item.contains_key("expires_at"));
}

#[tokio::test]
async fn racing_clients_on_dynamodb_take_every_slot_once() {
    let moto = AtomicMoto::start().await;
    moto.table().await;
    let rate = Rate::new(10.0, 1);
    let clients: Vec<Arc<DynamoDbSchedule>> = (0..4).map(|_| Arc::new(moto.schedule())).collect();
    // Four clients, five reservations each, all at once and at the same
    // instant: an idle schedule that every client finds idle.
    let tasks: Vec<_> = clients
        .iter()
        .flat_map(|c| (0..5).map(move |_| c.clone()))
        .map(|c| tokio::spawn(async move { slot(&*c, "ops", rate, T0, u64::MAX).await }))
        .collect();
    let mut slots = Vec::new();
    for t in tasks {
        slots.push(t.await.unwrap());
    }
    slots.sort();
    assert_eq!(slots, (0..20).map(|k| T0 + k * 100_000).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_missing_table_is_a_state_error_not_a_panic() {
    let moto = AtomicMoto::start().await;
    let schedule = moto.schedule();
    let err = schedule
        .reserve("ops", Rate::new(1.0, 1), T0, u64::MAX, soon())
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Service { .. }), "{err:?}");
    assert!(!err.is_retryable());
}

/// Notes the wall-clock arrival of every post.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<SystemTime>>>);

impl Respond for Arrivals {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().push(SystemTime::now());
        ResponseTemplate::new(200).set_body_string("ok")
    }
}

#[tokio::test]
async fn deliveries_over_separate_clients_never_exceed_the_rate_at_the_sink() {
    let moto = AtomicMoto::start().await;
    moto.table().await;
    let server = MockServer::start().await;
    let arrivals = Arrivals::default();
    Mock::given(method("POST"))
        .respond_with(arrivals.clone())
        .mount(&server)
        .await;
    let webhook = Webhook::parse(&support::webhook_url(&server)).unwrap();
    let destination = Webhooks::single(webhook).iter().next().unwrap().clone();
    let (rate, burst, processes, each) = (10.0, 2, 3, 8);
    let whole = settings(rate, burst);
    let deliveries: Vec<_> = (0..processes)
        .map(|_| {
            let schedule = moto.schedule();
            Arc::new(
                Delivery::new(
                    WebhookClient::new().unwrap(),
                    whole.clone().shared_by(processes),
                )
                .with_shared(Shared::new(
                    Arc::new(schedule),
                    Arc::new(SystemClock),
                    shared_rate(&whole),
                )),
            )
        })
        .collect();
    let start = SystemTime::now();
    let far = Instant::now() + Duration::from_secs(120);
    let tasks: Vec<_> = deliveries
        .into_iter()
        .map(|d| {
            let jobs: Vec<Job> = (0..each)
                .map(|i| Job {
                    destination: destination.clone(),
                    body: Bytes::from(format!("{{\"text\":\"{i}\"}}")),
                })
                .collect();
            tokio::spawn(async move { d.deliver(&jobs, far).await })
        })
        .collect();
    for t in tasks {
        let outcomes = t.await.unwrap();
        assert!(all_posted(&outcomes));
        assert_eq!(outcomes.iter().map(|o| o.state_errors).sum::<u32>(), 0);
    }
    let mut seen: Vec<u64> = arrivals
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|t| t.duration_since(start).unwrap().as_micros() as u64)
        .collect();
    seen.sort();
    assert_eq!(seen.len(), processes as usize * each);
    // What the schedule guarantees, however late each post is: in every
    // window from the start, at most the burst plus one post per interval.
    // (Each process at the whole rate of its own would send three times it.)
    let interval = 100_000;
    for (k, at) in seen.iter().enumerate() {
        let k = k as u64;
        let earliest = (k + 1).saturating_sub(burst as u64) * interval;
        assert!(
            *at >= earliest,
            "post {k} arrived {at} us after the start, before its earliest slot {earliest}"
        );
    }
}

#[tokio::test]
async fn the_function_with_state_table_reserves_every_post_in_the_table() {
    let moto = support::Moto::start().await;
    support::state_table(&moto, TABLE).await;
    let queue = moto.queue("shared-schedule").await;
    let slack = support::slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    let runtime = support::RuntimeApi::start(vec![support::Invocation {
        payload: records(5),
        deadline_in: Some(Duration::from_secs(60)),
    }])
    .await;
    let mut env = moto.env();
    env.push(support::dynamodb_env(&moto));
    env.push(("WEBHOOK_URL", support::webhook_url(&slack)));
    env.push(("DEAD_LETTER_QUEUE_URL", queue.clone()));
    env.push(("DIGEST_AFTER", "off".into()));
    env.push(("RATE_PER_SECOND", "50".into()));
    env.push(("FUNCTION_CONCURRENCY", "10".into()));
    env.push(("STATE_TABLE", TABLE.into()));
    let started_us = SystemClock.now_us();
    let function = support::Function::start(env!("CARGO_BIN_EXE_sns-to-slack"), &runtime, &env);
    let answers = runtime.wait_for(1, Duration::from_secs(60)).await;
    assert!(answers[0].ok, "{:?}\n{}", answers[0], function.output());
    assert_eq!(answers[0].body["posted"], 5, "{}", function.output());
    assert_eq!(answers[0].body["state_errors"], 0);
    // Five posts at the whole rate (50/s, not 50/10): the schedule in the
    // table moved five intervals of 20 ms on from the first slot.
    let item = support::dynamodb(&moto)
        .get_item()
        .table_name(TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("rate#default".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the schedule's item");
    let tat: u64 = item["tat_us"].as_n().unwrap().parse().unwrap();
    assert!(tat >= started_us + 5 * 20_000, "{tat} vs {started_us}");
    assert!(moto.drain(&queue).await.is_empty());
}
