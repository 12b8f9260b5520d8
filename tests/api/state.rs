//! The state port: one contract, run against the DynamoDB adapter on
//! `moto_server` (loopback) and against the in-memory implementation; then
//! what only DynamoDB can show: the raw items, conditional-claim races
//! between two clients, a slow or missing table within the deadline.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sns_to_slack::lifecycle::{Event, Thread};
use sns_to_slack::notice::Tone;
use sns_to_slack::state::dynamodb::DynamoDbState;
use sns_to_slack::state::memory::MemoryState;
use sns_to_slack::state::{Claim, State, StateError, StateSettings};
use tokio::time::Instant;

/// 2026-09-26 10:00:00 UTC.
const T0: u64 = 1_790_416_800;
const TABLE: &str = "sns-to-slack-state";

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn settings() -> StateSettings {
    StateSettings {
        stale_after: Duration::from_secs(900),
        claim_ttl: Duration::from_secs(14 * 86_400),
        thread_ttl: Duration::from_secs(168 * 3600),
        ..StateSettings::new(TABLE)
    }
}

fn dynamo(moto: &crate::support::Moto) -> DynamoDbState {
    DynamoDbState::with_client(settings(), crate::support::dynamodb(moto))
}

fn started(status: &str, tone: Tone, secs: u64, ts: &str) -> Thread {
    let event = Event {
        thread_key: "alarm/HighErrors",
        status,
        tone,
        at: at(secs),
    };
    Thread::started(&event, "C0123ABCD", ts, at(secs))
}

/// What every implementation of the port must do.
async fn contract(state: &impl State) {
    // A first claim wins; a second, while the first is fresh, is busy.
    let Claim::Won(token) = state.claim("m-1", "ops", at(T0), soon()).await.unwrap() else {
        panic!("the first claim did not win");
    };
    assert_eq!(
        state
            .claim("m-1", "ops", at(T0 + 60), soon())
            .await
            .unwrap(),
        Claim::Busy { stale_at: T0 + 900 }
    );
    // The same message to another destination is another pair.
    assert!(matches!(
        state
            .claim("m-1", "security", at(T0), soon())
            .await
            .unwrap(),
        Claim::Won(_)
    ));
    // Posted: every later claim finds it posted, even long after.
    state
        .mark_posted("m-1", "ops", at(T0 + 2), soon())
        .await
        .unwrap();
    assert_eq!(
        state.claim("m-1", "ops", at(T0 + 5), soon()).await.unwrap(),
        Claim::Posted
    );
    assert_eq!(
        state
            .claim("m-1", "ops", at(T0 + 86_400), soon())
            .await
            .unwrap(),
        Claim::Posted
    );
    // ...but not past the claim's TTL, when no queue can redeliver it.
    assert!(matches!(
        state
            .claim("m-1", "ops", at(T0 + 15 * 86_400), soon())
            .await
            .unwrap(),
        Claim::Won(_)
    ));
    // Releasing a posted claim does nothing.
    state
        .release("m-1", "security", &token, soon())
        .await
        .unwrap();

    // A stale claim (never marked, older than stale_after) is taken over.
    assert!(matches!(
        state.claim("m-2", "ops", at(T0), soon()).await.unwrap(),
        Claim::Won(_)
    ));
    assert!(matches!(
        state
            .claim("m-2", "ops", at(T0 + 899), soon())
            .await
            .unwrap(),
        Claim::Busy { .. }
    ));
    let Claim::Won(taker) = state
        .claim("m-2", "ops", at(T0 + 900), soon())
        .await
        .unwrap()
    else {
        panic!("a stale claim was not taken over");
    };
    // Only the holder's token releases a claim; then it can be claimed at once.
    state.release("m-2", "ops", &token, soon()).await.unwrap();
    assert!(matches!(
        state
            .claim("m-2", "ops", at(T0 + 901), soon())
            .await
            .unwrap(),
        Claim::Busy { .. }
    ));
    state.release("m-2", "ops", &taker, soon()).await.unwrap();
    assert!(matches!(
        state
            .claim("m-2", "ops", at(T0 + 902), soon())
            .await
            .unwrap(),
        Claim::Won(_)
    ));

    // Threads: none, then saved and read back, versioned.
    assert_eq!(
        state
            .thread("ops", "alarm/HighErrors", soon())
            .await
            .unwrap(),
        None
    );
    let first = started("ALARM", Tone::Danger, T0, "1790416800.000100");
    let v1 = state
        .save_thread("ops", "alarm/HighErrors", &first, at(T0), soon())
        .await
        .unwrap();
    assert_eq!(v1, 1);
    let read = state
        .thread("ops", "alarm/HighErrors", soon())
        .await
        .unwrap()
        .expect("the thread is stored");
    assert_eq!(
        read,
        Thread {
            version: 1,
            ..first.clone()
        }
    );
    assert_eq!(
        state
            .thread("security", "alarm/HighErrors", soon())
            .await
            .unwrap(),
        None
    );

    // A save over the version read wins once; the other writer conflicts.
    let mut next = read.clone();
    next.transitions.push(sns_to_slack::lifecycle::Transition {
        status: "OK".into(),
        tone: Tone::Good,
        at: T0 + 720,
    });
    assert_eq!(
        state
            .save_thread("ops", "alarm/HighErrors", &next, at(T0 + 720), soon())
            .await
            .unwrap(),
        2
    );
    let err = state
        .save_thread("ops", "alarm/HighErrors", &next, at(T0 + 721), soon())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StateError::Conflict { .. }) && err.is_retryable(),
        "{err}"
    );
    // A new thread (version 0) does not replace a live one...
    let fresh = started("ALARM", Tone::Danger, T0 + 800, "1790417600.000200");
    assert!(matches!(
        state
            .save_thread("ops", "alarm/HighErrors", &fresh, at(T0 + 800), soon())
            .await,
        Err(StateError::Conflict { .. })
    ));
    // ...but replaces one past its TTL, or one it was read over.
    let late = T0 + 168 * 3600;
    assert!(
        state
            .save_thread("ops", "alarm/HighErrors", &fresh, at(late), soon())
            .await
            .is_ok()
    );
    let stored = state
        .thread("ops", "alarm/HighErrors", soon())
        .await
        .unwrap();
    let renewed = started("OK", Tone::Good, late, "1791021600.000300").over(stored.as_ref());
    assert!(
        state
            .save_thread("ops", "alarm/HighErrors", &renewed, at(late), soon())
            .await
            .is_ok()
    );
    assert_eq!(
        state
            .thread("ops", "alarm/HighErrors", soon())
            .await
            .unwrap()
            .unwrap()
            .ts,
        "1791021600.000300"
    );

    // A deadline already passed: nothing is tried.
    let err = state
        .claim("m-3", "ops", at(T0), Instant::now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StateError::Deadline { .. }) && err.is_retryable(),
        "{err}"
    );
}

#[tokio::test]
async fn the_in_memory_state_keeps_the_contract() {
    contract(&MemoryState::new(settings())).await;
}

#[tokio::test]
async fn dynamodb_keeps_the_contract_and_writes_the_documented_items() {
    let moto = crate::support::Moto::start().await;
    crate::support::state_table(&moto, TABLE).await;
    let state = dynamo(&moto);
    contract(&state).await;

    // The raw items: `pk` a String, `expires_at` a Number of epoch seconds.
    let raw = crate::support::dynamodb(&moto);
    let claim = raw
        .get_item()
        .table_name(TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("posted#ops#m-1".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the claim item");
    let expires = claim["expires_at"]
        .as_n()
        .expect("a Number")
        .parse::<u64>()
        .unwrap();
    assert_eq!(expires, T0 + 15 * 86_400 + 14 * 86_400);
    let thread = raw
        .get_item()
        .table_name(TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("thread#ops#alarm/HighErrors".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the thread item");
    let created = T0 + 168 * 3600;
    assert_eq!(
        thread["expires_at"].as_n().unwrap(),
        &(created + 168 * 3600).to_string()
    );
    assert_eq!(thread["channel"].as_s().unwrap(), "C0123ABCD");
    assert_eq!(thread["transitions"].as_l().unwrap().len(), 1);
}

/// Two clients of their own (two Lambda instances) take turns on one pair:
/// each sees the other's claim, takeover and mark.
///
/// The claims are interleaved, not raced: `moto_server` serves requests on
/// threads and checks a condition and writes the item without a lock between
/// them, so two truly concurrent conditional puts can both succeed there
/// (measured: one double win in about 1,000 concurrent rounds). DynamoDB
/// serializes the writes to one item, which is what the conditional claim
/// relies on; the concurrent race itself runs on the in-memory state below.
#[tokio::test]
async fn two_clients_see_each_others_claims() {
    let moto = crate::support::Moto::start().await;
    crate::support::state_table(&moto, TABLE).await;
    let a = dynamo(&moto);
    let b = dynamo(&moto);
    assert!(matches!(
        a.claim("m", "ops", at(T0), soon()).await.unwrap(),
        Claim::Won(_)
    ));
    assert_eq!(
        b.claim("m", "ops", at(T0 + 1), soon()).await.unwrap(),
        Claim::Busy { stale_at: T0 + 900 }
    );
    // a died without marking: b takes the stale claim over, a now sees b's.
    assert!(matches!(
        b.claim("m", "ops", at(T0 + 900), soon()).await.unwrap(),
        Claim::Won(_)
    ));
    assert_eq!(
        a.claim("m", "ops", at(T0 + 901), soon()).await.unwrap(),
        Claim::Busy {
            stale_at: T0 + 1800
        }
    );
    b.mark_posted("m", "ops", at(T0 + 902), soon())
        .await
        .unwrap();
    assert_eq!(
        a.claim("m", "ops", at(T0 + 5_000), soon()).await.unwrap(),
        Claim::Posted
    );
    // One thread written by both: the second writer over the same version conflicts.
    let thread = started("ALARM", Tone::Danger, T0, "1.1");
    assert_eq!(
        a.save_thread("ops", "k", &thread, at(T0), soon()).await,
        Ok(1)
    );
    assert!(matches!(
        b.save_thread("ops", "k", &thread, at(T0), soon()).await,
        Err(StateError::Conflict { .. })
    ));
    let read = b.thread("ops", "k", soon()).await.unwrap().unwrap();
    assert_eq!(
        b.save_thread("ops", "k", &read, at(T0), soon()).await,
        Ok(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_claims_on_the_in_memory_state_have_one_winner() {
    let state = Arc::new(MemoryState::new(settings()));
    for round in 0..200 {
        let id = format!("race-{round}");
        let claims = (0..4).map(|_| {
            let (state, id) = (state.clone(), id.clone());
            tokio::spawn(async move { state.claim(&id, "ops", at(T0), soon()).await.unwrap() })
        });
        let claims = futures::future::join_all(claims).await;
        let won = claims
            .iter()
            .filter(|c| matches!(c, Ok(Claim::Won(_))))
            .count();
        assert_eq!(won, 1, "round {round}: {claims:?}");
    }
}

#[tokio::test]
async fn a_hung_table_gives_up_at_the_deadline() {
    // A server that accepts connections and never answers.
    let addr = crate::support::silent_server();
    let state = DynamoDbState::with_client(
        settings(),
        crate::support::dynamodb_at(&format!("http://{addr}")),
    );
    let started_at = std::time::Instant::now();
    let err = state
        .claim(
            "m",
            "ops",
            at(T0),
            Instant::now() + Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StateError::Deadline { .. }) && err.is_retryable(),
        "{err}"
    );
    assert!(started_at.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_missing_table_is_not_retryable() {
    let moto = crate::support::Moto::start().await;
    let state = dynamo(&moto);
    let err = state.thread("ops", "k", soon()).await.unwrap_err();
    assert!(
        matches!(err, StateError::Service { .. }) && !err.is_retryable(),
        "{err}"
    );
    assert!(err.to_string().contains("ResourceNotFound"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_in_memory_state_can_be_slow_or_down() {
    let state = MemoryState::new(settings());
    state.set_delay(Duration::from_secs(2));
    let err = state
        .claim("m", "ops", at(T0), Instant::now() + Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Deadline { .. }));
    assert!(matches!(
        state
            .claim("m", "ops", at(T0), Instant::now() + Duration::from_secs(3))
            .await
            .unwrap(),
        Claim::Won(_)
    ));
    state.set_delay(Duration::ZERO);
    state.set_down(true);
    let err = state.thread("ops", "k", soon()).await.unwrap_err();
    assert!(matches!(err, StateError::Service { .. }) && err.is_retryable());
    assert_eq!(state.calls(), 3);
    state.set_down(false);
    state.mark_posted("m", "ops", at(T0), soon()).await.unwrap();
    assert!(state.is_posted("m", "ops"));
}

/// The whole app path on real loopback servers: the Web API client on
/// wiremock, the DynamoDB adapter on moto.
#[tokio::test]
async fn alarm_then_ok_against_a_loopback_web_api_and_dynamodb() {
    use serde_json::{Map, Value, json};
    use sns_to_slack::app_delivery::{AppDelivery, AppNotice, AppSettings};
    use sns_to_slack::delivery::DeliverySettings;
    use sns_to_slack::web_api::WebApiClient;

    const TOKEN: &str = "xoxb-0000-1111-SECRETt0kenVALUE";
    let moto = crate::support::Moto::start().await;
    crate::support::state_table(&moto, TABLE).await;
    let slack = crate::support::thread_web_api("1790416800.000100", "1790417520.000200").await;
    let client =
        WebApiClient::new(reqwest::Client::new(), &format!("{}/api/", slack.uri())).unwrap();
    let d = AppDelivery::new(
        client,
        AppSettings::new(DeliverySettings {
            rate_per_second: 100.0,
            ..DeliverySettings::default()
        }),
    );
    let state = dynamo(&moto);
    let table = json!({"ops": {"token": TOKEN, "channel": "C0123ABCD"}}).to_string();
    let webhooks = sns_to_slack::destination::Webhooks::parse(&table, "WEBHOOKS", false).unwrap();
    let dest = webhooks.get("ops").unwrap();
    let original = |s: &sns_to_slack::lifecycle::Summary| {
        let mut m = Map::new();
        m.insert("text".into(), Value::from(s.header()));
        m
    };
    let mut outputs = Vec::new();
    for (status, tone, secs) in [("ALARM", Tone::Danger, T0), ("OK", Tone::Good, T0 + 720)] {
        let mut message = Map::new();
        message.insert("text".into(), Value::from(format!("{status}: HighErrors")));
        let notice = AppNotice {
            event: Some(Event {
                thread_key: "alarm/HighErrors",
                status,
                tone,
                at: at(secs),
            }),
            message: &message,
            original: &original,
        };
        let out = d.deliver(&state, dest, &notice, at(secs + 1), soon()).await;
        assert_eq!(out.outcome.result, Ok(()), "{out:?}");
        assert!(out.state_errors.is_empty(), "{:?}", out.state_errors);
        outputs.push(format!("{out:?}"));
        outputs.push(out.effect.as_str().to_string());
    }
    assert!(outputs.iter().all(|o| !o.contains("SECRET")));
    assert_eq!(outputs[1], "new");
    assert_eq!(outputs[3], "replied");

    let requests = slack.received_requests().await.unwrap();
    let calls: Vec<(String, Value)> = requests
        .iter()
        .map(|r| {
            assert_eq!(
                r.headers.get("authorization").unwrap().to_str().unwrap(),
                format!("Bearer {TOKEN}")
            );
            (
                r.url.path().to_string(),
                serde_json::from_slice(&r.body).unwrap(),
            )
        })
        .collect();
    let paths: Vec<&str> = calls.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/chat.postMessage",
            "/api/chat.update",
            "/api/chat.postMessage",
            "/api/reactions.add"
        ]
    );
    assert!(calls[0].1.get("thread_ts").is_none());
    assert_eq!(calls[1].1["ts"], "1790416800.000100");
    assert_eq!(calls[1].1["text"], "ALARM -> OK");
    assert_eq!(calls[2].1["thread_ts"], "1790416800.000100");
    let thread = state
        .thread("ops", "alarm/HighErrors", soon())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(thread.transitions.len(), 2);
    assert_eq!(thread.version, 2);
}
