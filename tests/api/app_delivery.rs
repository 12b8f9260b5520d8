//! App delivery on tokio's paused clock, through the Web API port (a scripted
//! fake) and the in-memory state: threads, updates, reactions, retries and
//! `Retry-After`, and a state table that is down or slow. The posted-once
//! claims around it are tested in `posted_once.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::{Map, Value, json};
use sns_to_slack::app_delivery::{AppDelivery, AppNotice, AppSettings, Effect};
use sns_to_slack::delivery::DeliverySettings;
use sns_to_slack::destination::{Destination, Webhooks};
use sns_to_slack::lifecycle::{Event, Summary};
use sns_to_slack::notice::Tone;
use sns_to_slack::outcome::Reason;
use sns_to_slack::state::memory::MemoryState;
use sns_to_slack::state::{State, StateSettings};
use sns_to_slack::web_api::{BotToken, Call, Method, Posted, Reply};
use tokio::time::Instant;

/// 2026-09-26 10:00:00 UTC.
const T0: u64 = 1_790_416_800;
const TOKEN: &str = "xoxb-0000-1111-SECRETt0kenVALUE";

/// One call the fake received.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    body: Value,
    at: Instant,
}

/// The Web API on the paused clock: answers from a script per method, else
/// `ok` (with a fresh `ts` for `chat.postMessage`).
#[derive(Default)]
struct Slack {
    script: Mutex<HashMap<Method, VecDeque<Reply>>>,
    received: Mutex<Vec<Received>>,
    /// Calls ever received (the `ts` of a post is made from it).
    count: std::sync::atomic::AtomicU32,
}

impl Slack {
    fn then(&self, method: Method, reply: Reply) -> &Self {
        self.script
            .lock()
            .unwrap()
            .entry(method)
            .or_default()
            .push_back(reply);
        self
    }

    fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

impl Call for &Slack {
    async fn call(&self, token: &BotToken, method: Method, body: Bytes, _: Duration) -> Reply {
        assert_eq!(token.expose(), TOKEN);
        let mut received = self.received.lock().unwrap();
        received.push(Received {
            method,
            body: serde_json::from_slice(&body).unwrap(),
            at: Instant::now(),
        });
        drop(received);
        let n = 1 + self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(reply) = self
            .script
            .lock()
            .unwrap()
            .get_mut(&method)
            .and_then(VecDeque::pop_front)
        {
            return reply;
        }
        Reply::Ok(match method {
            Method::PostMessage => Posted {
                ts: Some(format!("{T0}.{n:06}")),
                channel: Some("C0123ABCD".into()),
            },
            _ => Posted::default(),
        })
    }
}

fn error(status: u16, code: &str, retry_after: Option<&str>) -> Reply {
    Reply::Error {
        status,
        error: code.into(),
        needed: None,
        retry_after: retry_after.map(str::to_string),
    }
}

fn destination() -> Destination {
    app_in("C0123ABCD")
}

/// The app destination `ops` posting to `channel`.
fn app_in(channel: &str) -> Destination {
    let table = json!({"ops": {"token": TOKEN, "channel": channel}}).to_string();
    let webhooks = Webhooks::parse(&table, "WEBHOOKS", false).unwrap();
    (**webhooks.get("ops").unwrap()).clone()
}

fn delivery(slack: &Slack) -> AppDelivery<&Slack> {
    AppDelivery::new(
        slack,
        AppSettings::new(DeliverySettings {
            rate_per_second: 100.0,
            rate_burst: 10,
            ..DeliverySettings::default()
        }),
    )
}

fn state() -> MemoryState {
    MemoryState::new(StateSettings::new("state"))
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn in_secs(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

fn original(summary: &Summary) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("text".into(), summary.header().into());
    m
}

/// Delivers message `id` with `status` at `secs` to `ops`.
async fn send(
    d: &AppDelivery<&Slack>,
    state: &impl State,
    _id: &str,
    key: &str,
    status: &str,
    tone: Tone,
    secs: u64,
) -> sns_to_slack::app_delivery::AppOutcome {
    let mut message = Map::new();
    message.insert("text".into(), format!("{status}: {key}").into());
    let notice = AppNotice {
        event: Some(Event {
            thread_key: key,
            status,
            tone,
            at: at(secs),
        }),
        message: &message,
        original: &original,
    };
    let dest = destination();
    let outcome = d
        .deliver(state, &dest, &notice, at(secs + 1), in_secs(30))
        .await;
    assert!(!format!("{outcome:?}").contains("SECRET"), "{outcome:?}");
    outcome
}

fn methods(received: &[Received]) -> Vec<Method> {
    received.iter().map(|r| r.method).collect()
}

#[tokio::test(start_paused = true)]
async fn alarm_then_ok_is_one_message_one_reply_and_one_update() {
    let slack = Slack::default();
    let (d, state) = (delivery(&slack), state());
    let alarm = send(
        &d,
        &state,
        "m-1",
        "alarm/HighErrors",
        "ALARM",
        Tone::Danger,
        T0,
    )
    .await;
    assert_eq!(alarm.effect, Effect::New);
    assert_eq!(alarm.outcome.result, Ok(()));
    let first = slack.take();
    assert_eq!(methods(&first), [Method::PostMessage]);
    assert_eq!(
        first[0].body,
        json!({"text": "ALARM: alarm/HighErrors", "channel": "C0123ABCD"})
    );
    let original_ts = format!("{T0}.000001");

    let ok = send(
        &d,
        &state,
        "m-2",
        "alarm/HighErrors",
        "OK",
        Tone::Good,
        T0 + 720,
    )
    .await;
    assert_eq!(
        (ok.effect.clone(), ok.updated, ok.reacted),
        (Effect::Replied, true, true)
    );
    assert!(ok.state_errors.is_empty(), "{:?}", ok.state_errors);
    let calls = slack.take();
    assert_eq!(
        methods(&calls),
        [Method::Update, Method::PostMessage, Method::ReactionsAdd]
    );
    assert_eq!(
        calls[0].body,
        json!({"text": "ALARM -> OK", "channel": "C0123ABCD", "ts": original_ts})
    );
    assert_eq!(
        calls[1].body,
        json!({"text": "OK: alarm/HighErrors", "channel": "C0123ABCD", "thread_ts": original_ts})
    );
    assert_eq!(
        calls[2].body,
        json!({"channel": "C0123ABCD", "timestamp": original_ts, "name": "white_check_mark"})
    );

    // Back to ALARM: broadcast, the header counts, the check mark goes.
    let again = send(
        &d,
        &state,
        "m-3",
        "alarm/HighErrors",
        "ALARM",
        Tone::Danger,
        T0 + 900,
    )
    .await;
    assert_eq!(again.effect, Effect::Replied);
    let calls = slack.take();
    assert_eq!(
        methods(&calls),
        [Method::Update, Method::PostMessage, Method::ReactionsRemove]
    );
    assert_eq!(calls[0].body["text"], "ALARM -> OK -> ALARM (2)");
    assert_eq!(calls[1].body["reply_broadcast"], true);
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_started_then_succeeded_is_one_message_updated() {
    let slack = Slack::default();
    let (d, state) = (delivery(&slack), state());
    let key = "codepipeline/checkout/exec-1";
    send(&d, &state, "p-1", key, "STARTED", Tone::Info, T0).await;
    let done = send(&d, &state, "p-2", key, "SUCCEEDED", Tone::Good, T0 + 95).await;
    assert_eq!(done.effect, Effect::Replied);
    let calls = slack.take();
    assert_eq!(
        methods(&calls),
        [
            Method::PostMessage,
            Method::Update,
            Method::PostMessage,
            Method::ReactionsAdd
        ]
    );
    assert!(calls[0].body.get("thread_ts").is_none());
    assert_eq!(calls[1].body["text"], "STARTED -> SUCCEEDED");
    // Another thread key is another message.
    send(
        &d,
        &state,
        "p-3",
        "codepipeline/checkout/exec-2",
        "STARTED",
        Tone::Info,
        T0 + 100,
    )
    .await;
    assert_eq!(methods(&slack.take()), [Method::PostMessage]);
}

#[tokio::test(start_paused = true)]
async fn a_state_table_that_is_down_still_posts() {
    let slack = Slack::default();
    let (d, state) = (delivery(&slack), state());
    state.set_down(true);
    for (id, status, tone, secs) in [
        ("m-1", "ALARM", Tone::Danger, T0),
        ("m-2", "OK", Tone::Good, T0 + 60),
    ] {
        let out = send(&d, &state, id, "alarm/HighErrors", status, tone, secs).await;
        assert_eq!(out.effect, Effect::New, "posted as a new message");
        assert_eq!(out.outcome.result, Ok(()));
        // Thread read and thread save: each failed, each counted.
        assert_eq!(out.state_errors.len(), 2, "{:?}", out.state_errors);
        assert!(out.state_errors.iter().all(|e| e.is_retryable()));
    }
    assert_eq!(
        methods(&slack.take()),
        [Method::PostMessage, Method::PostMessage]
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_state_table_costs_at_most_its_timeout_per_call() {
    let slack = Slack::default();
    let (d, state) = (delivery(&slack), state());
    state.set_delay(Duration::from_secs(60));
    let started = Instant::now();
    let out = send(
        &d,
        &state,
        "m-1",
        "alarm/HighErrors",
        "ALARM",
        Tone::Danger,
        T0,
    )
    .await;
    assert_eq!((out.effect, out.outcome.result), (Effect::New, Ok(())));
    assert_eq!(out.state_errors.len(), 2);
    let posted_at = slack.take()[0].at;
    // The thread read gave up after 1 s, then the post went out.
    assert_eq!(posted_at - started, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_waits_retry_after_then_posts() {
    let slack = Slack::default();
    slack.then(Method::PostMessage, error(429, "ratelimited", Some("3")));
    let (d, state) = (delivery(&slack), state());
    let out = send(&d, &state, "m-1", "k", "ALARM", Tone::Danger, T0).await;
    assert_eq!(out.outcome.result, Ok(()));
    assert_eq!((out.outcome.attempts, out.outcome.rate_limited), (2, 1));
    let calls = slack.take();
    assert_eq!(calls[1].at - calls[0].at, Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn slacks_passing_errors_are_retried_until_the_attempts_run_out() {
    let slack = Slack::default();
    for _ in 0..5 {
        slack.then(Method::PostMessage, error(200, "internal_error", None));
    }
    let (d, state) = (delivery(&slack), state());
    let out = send(&d, &state, "m-1", "k", "ALARM", Tone::Danger, T0).await;
    assert_eq!(out.effect, Effect::Failed);
    let failure = out.outcome.result.unwrap_err();
    assert_eq!(failure.reason, Reason::ServerError);
    assert_eq!(failure.detail, "chat.postMessage: internal_error");
    assert_eq!(out.outcome.attempts, 5);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_not_retried_and_names_slacks_error() {
    let slack = Slack::default();
    slack.then(Method::PostMessage, error(200, "not_in_channel", None));
    let (d, state) = (delivery(&slack), state());
    let out = send(&d, &state, "m-1", "k", "ALARM", Tone::Danger, T0).await;
    let failure = out.outcome.result.unwrap_err();
    assert_eq!(
        (failure.reason, failure.detail.as_str()),
        (Reason::Rejected, "chat.postMessage: not_in_channel")
    );
    assert_eq!(out.outcome.attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn an_original_that_cannot_be_edited_starts_a_new_thread() {
    let slack = Slack::default();
    let (d, state) = (delivery(&slack), state());
    send(&d, &state, "m-1", "k", "ALARM", Tone::Danger, T0).await;
    slack.take();
    slack.then(Method::Update, error(200, "message_not_found", None));
    let out = send(&d, &state, "m-2", "k", "OK", Tone::Good, T0 + 60).await;
    assert_eq!(out.effect, Effect::New);
    let calls = slack.take();
    assert_eq!(methods(&calls), [Method::Update, Method::PostMessage]);
    assert!(
        calls[1].body.get("thread_ts").is_none(),
        "a new message, not a reply"
    );
    // The next notice continues the new thread.
    let new_ts = format!("{T0}.000003");
    send(&d, &state, "m-3", "k", "ALARM", Tone::Danger, T0 + 120).await;
    let calls = slack.take();
    assert_eq!(calls[0].body["ts"], new_ts.as_str());
    assert_eq!(calls[0].body["text"], "OK -> ALARM");
    assert_eq!(calls[1].body["thread_ts"], new_ts.as_str());
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_is_not_waited_for() {
    let slack = Slack::default();
    slack.then(Method::PostMessage, error(429, "ratelimited", Some("30")));
    let (d, state) = (delivery(&slack), state());
    let mut message = Map::new();
    message.insert("text".into(), "ALARM".into());
    let notice = AppNotice {
        event: Some(Event {
            thread_key: "k",
            status: "ALARM",
            tone: Tone::Danger,
            at: at(T0),
        }),
        message: &message,
        original: &original,
    };
    let dest = destination();
    let out = d.deliver(&state, &dest, &notice, at(T0), in_secs(10)).await;
    let failure = out.outcome.result.unwrap_err();
    assert_eq!(failure.reason, Reason::Deadline);
    assert!(failure.detail.contains("ratelimited"), "{}", failure.detail);
    assert_eq!(slack.take().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_thread_in_another_channel_is_not_continued() {
    let slack = Slack::default();
    let (d, state) = (delivery(&slack), state());
    send(&d, &state, "m-1", "k", "ALARM", Tone::Danger, T0).await;
    slack.take();
    // The entry now points at another channel.
    let moved = app_in("C0999ZZZZ");
    let mut message = Map::new();
    message.insert("text".into(), "OK".into());
    let notice = AppNotice {
        event: Some(Event {
            thread_key: "k",
            status: "OK",
            tone: Tone::Good,
            at: at(T0 + 60),
        }),
        message: &message,
        original: &original,
    };
    let out = d
        .deliver(&state, &moved, &notice, at(T0 + 61), in_secs(30))
        .await;
    assert_eq!(out.effect, Effect::New);
    assert!(out.state_errors.is_empty(), "{:?}", out.state_errors);
    let calls = slack.take();
    assert_eq!(methods(&calls), [Method::PostMessage]);
    assert_eq!(calls[0].body["channel"], "C0999ZZZZ");
    // The new thread replaced the old one (saved over the version read).
    let thread = state.thread("ops", "k", in_secs(1)).await.unwrap().unwrap();
    assert_eq!((thread.version, thread.transitions.len()), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn notices_of_one_thread_in_one_event_run_in_order() {
    let slack = Slack::default();
    let (d, state) = (delivery(&slack), state());
    let dest = destination();
    let text = |t: &str| {
        let mut m = Map::new();
        m.insert("text".into(), t.into());
        m
    };
    let (alarm, ok, other) = (text("ALARM a"), text("OK a"), text("ALARM b"));
    let notice = |key, status, tone, secs, message| AppNotice {
        event: Some(Event {
            thread_key: key,
            status,
            tone,
            at: at(secs),
        }),
        message,
        original: &original,
    };
    let jobs = [
        sns_to_slack::app_delivery::AppJob {
            destination: &dest,
            notice: notice("a", "ALARM", Tone::Danger, T0, &alarm),
        },
        sns_to_slack::app_delivery::AppJob {
            destination: &dest,
            notice: notice("b", "ALARM", Tone::Danger, T0, &other),
        },
        sns_to_slack::app_delivery::AppJob {
            destination: &dest,
            notice: notice("a", "OK", Tone::Good, T0 + 60, &ok),
        },
    ];
    let outcomes = d.deliver_all(&state, &jobs, at(T0 + 61), in_secs(30)).await;
    let effects: Vec<&str> = outcomes.iter().map(|o| o.effect.as_str()).collect();
    assert_eq!(effects, ["new", "new", "replied"]);
    let calls = slack.take();
    let posts: Vec<&Value> = calls
        .iter()
        .filter(|c| c.method == Method::PostMessage)
        .map(|c| &c.body)
        .collect();
    assert_eq!(posts.len(), 3);
    let reply = posts.iter().find(|b| b["text"] == "OK a").unwrap();
    let first = posts.iter().position(|b| b["text"] == "ALARM a").unwrap();
    // The reply's thread is thread a's first post.
    assert_eq!(
        reply["thread_ts"],
        format!("{T0}.{:06}", first + 1).as_str()
    );
}

#[tokio::test(start_paused = true)]
async fn a_notice_without_a_lifecycle_is_its_own_message() {
    let slack = Slack::default();
    let (d, state) = (delivery(&slack), state());
    let mut message = Map::new();
    message.insert("text".into(), "SES bounce".into());
    let notice = AppNotice {
        event: None,
        message: &message,
        original: &original,
    };
    let dest = destination();
    let first = d.deliver(&state, &dest, &notice, at(T0), in_secs(30)).await;
    assert_eq!((first.effect, first.state_errors.len()), (Effect::New, 0));
    assert_eq!(methods(&slack.take()), [Method::PostMessage]);
    // No thread was read or stored.
    assert_eq!(state.calls(), 0);
}

/// Two processes posting to one app share its schedule in the state table
/// (here the in-memory one), as webhook posts do: together they keep the
/// whole rate, not twice it, nor each its half.
#[tokio::test(start_paused = true)]
async fn two_processes_share_one_schedule_for_an_app() {
    use sns_to_slack::app_delivery::AppJob;
    use sns_to_slack::delivery::shared::{Shared, SharedSettings, TokioClock};
    use sns_to_slack::state::schedule::MemorySchedule;
    use std::sync::Arc;

    let slack = Slack::default();
    let schedule = Arc::new(MemorySchedule::new());
    let whole = DeliverySettings {
        rate_per_second: 10.0,
        rate_burst: 1,
        ..DeliverySettings::default()
    };
    let process = || {
        let shared = Shared::new(
            schedule.clone(),
            Arc::new(TokioClock::starting_at(T0 * 1_000_000)),
            SharedSettings {
                rate_per_second: whole.rate_per_second,
                rate_burst: whole.rate_burst,
                max_pause: whole.retry_after_max,
                timeout: Duration::from_secs(1),
            },
        );
        AppDelivery::new(&slack, AppSettings::new(whole.clone().shared_by(2))).with_shared(shared)
    };
    let (a, b) = (process(), process());
    let (state, dest) = (state(), destination());
    let mut message = Map::new();
    message.insert("text".into(), "a bounce".into());
    let jobs: Vec<AppJob<'_>> = (0..5)
        .map(|_| AppJob {
            destination: &dest,
            notice: AppNotice {
                event: None,
                message: &message,
                original: &original,
            },
        })
        .collect();
    let start = Instant::now();
    let (out_a, out_b) = tokio::join!(
        a.deliver_all(&state, &jobs, at(T0), in_secs(60)),
        b.deliver_all(&state, &jobs, at(T0), in_secs(60))
    );
    assert!(out_a.iter().chain(&out_b).all(|o| o.outcome.result.is_ok()));
    assert!(
        out_a
            .iter()
            .chain(&out_b)
            .all(|o| o.outcome.state_errors == 0)
    );
    let mut times: Vec<u128> = slack
        .take()
        .iter()
        .map(|r| (r.at - start).as_millis())
        .collect();
    times.sort_unstable();
    // Ten posts, one per 100 ms; each process alone at its share would
    // have taken 200 ms between its posts, 800 ms for its five.
    assert_eq!(times, (0..10).map(|k| k * 100).collect::<Vec<_>>());
    assert_eq!(schedule.calls(), 10);
}
