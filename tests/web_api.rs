//! The Slack Web API client against a loopback Web API (wiremock) scripted
//! with Slack's answers: what is sent, what each answer becomes, and that the
//! bot token never shows in what comes back.

#[allow(dead_code)] // each binary uses part of it (tests/api holds the rest)
mod support;

use std::time::Duration;

use serde_json::{Map, Value, json};
use sns_to_slack::web_api::{
    BotToken, Call, Method, Posted, Reply, Verdict, WebApiClient, post_message_body, reaction_body,
    update_body, verdict,
};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "xoxb-0000-1111-SECRETt0kenVALUE";
const TIMEOUT: Duration = Duration::from_secs(5);

fn token() -> BotToken {
    BotToken::parse(TOKEN).unwrap()
}

fn client(server: &MockServer) -> WebApiClient {
    WebApiClient::new(reqwest::Client::new(), &format!("{}/api", server.uri())).unwrap()
}

fn message(text: &str) -> Map<String, Value> {
    match json!({ "text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}] })
    {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// A Web API method on `server` that answers `answer`.
async fn answers(server: &MockServer, name: &str, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(format!("/api/{name}")))
        .respond_with(answer)
        .mount(server)
        .await;
}

fn slack_json(value: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(value)
}

/// Everything a reply can show people, which must never hold the token.
fn assert_secret_free(reply: &Reply, method: Method) {
    let shown = format!("{reply:?} {:?}", verdict(method, reply));
    assert!(!shown.contains("SECRET"), "{shown}");
    if let Verdict::GiveUp { failure, .. }
    | Verdict::RetryNow(failure)
    | Verdict::Wait { failure, .. } = verdict(method, reply)
    {
        assert!(!failure.detail.contains("SECRET"), "{}", failure.detail);
    }
}

#[tokio::test]
async fn post_message_sends_json_with_the_bearer_token_and_returns_ts_and_channel() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json; charset=utf-8"))
        .and(body_partial_json(
            json!({"channel": "C0123ABCD", "text": "ALARM"}),
        ))
        .respond_with(slack_json(json!({
            "ok": true,
            "channel": "C0123ABCD",
            "ts": "1503435956.000247",
            "message": {
                "text": "ALARM",
                "username": "sns-to-slack",
                "bot_id": "B0123ABCD",
                "type": "message",
                "subtype": "bot_message",
                "ts": "1503435956.000247"
            }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let body = post_message_body("C0123ABCD", None, false, &message("ALARM"));
    let reply = client(&server)
        .call(&token(), Method::PostMessage, body, TIMEOUT)
        .await;
    assert_eq!(
        reply,
        Reply::Ok(Posted {
            ts: Some("1503435956.000247".into()),
            channel: Some("C0123ABCD".into()),
        })
    );
}

#[tokio::test]
async fn a_reply_carries_thread_ts_and_broadcast() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(body_partial_json(json!({
            "channel": "C0123ABCD", "thread_ts": "1503435956.000247", "reply_broadcast": true
        })))
        .respond_with(slack_json(json!({
            "ok": true, "channel": "C0123ABCD", "ts": "1503436000.000100",
            "message": {"type": "message", "text": "ALARM", "thread_ts": "1503435956.000247"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let body = post_message_body(
        "C0123ABCD",
        Some("1503435956.000247"),
        true,
        &message("ALARM"),
    );
    let reply = client(&server)
        .call(&token(), Method::PostMessage, body, TIMEOUT)
        .await;
    assert!(
        matches!(&reply, Reply::Ok(Posted { ts: Some(ts), .. }) if ts == "1503436000.000100"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn rate_limits_come_back_with_retry_after() {
    let server = MockServer::start().await;
    answers(
        &server,
        "chat.postMessage",
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "30")
            .set_body_json(json!({"ok": false, "error": "ratelimited"})),
    )
    .await;
    let reply = client(&server)
        .call(
            &token(),
            Method::PostMessage,
            post_message_body("C1", None, false, &message("x")),
            TIMEOUT,
        )
        .await;
    assert_eq!(
        reply,
        Reply::Error {
            status: 429,
            error: "ratelimited".into(),
            needed: None,
            retry_after: Some("30".into()),
        }
    );
    assert!(matches!(
        verdict(Method::PostMessage, &reply),
        Verdict::Wait { retry_after: Some(ref r), .. } if r == "30"
    ));
    assert_secret_free(&reply, Method::PostMessage);
}

#[tokio::test]
async fn slacks_errors_on_http_200_are_classified_and_secret_free() {
    let server = MockServer::start().await;
    answers(
        &server,
        "chat.postMessage",
        slack_json(json!({
            "ok": false,
            "error": "missing_scope",
            "needed": "chat:write",
            "provided": "reactions:write",
            "response_metadata": {"messages": ["[ERROR] missing required scope"]}
        })),
    )
    .await;
    answers(
        &server,
        "chat.update",
        slack_json(json!({"ok": false, "error": "message_not_found"})),
    )
    .await;
    let c = client(&server);
    let reply = c
        .call(
            &token(),
            Method::PostMessage,
            post_message_body("C1", None, false, &message("x")),
            TIMEOUT,
        )
        .await;
    let Verdict::GiveUp {
        failure,
        new_thread: false,
    } = verdict(Method::PostMessage, &reply)
    else {
        panic!("{reply:?}");
    };
    assert_eq!(
        failure.detail,
        "chat.postMessage: missing_scope (needs chat:write)"
    );
    assert_secret_free(&reply, Method::PostMessage);

    let reply = c
        .call(
            &token(),
            Method::Update,
            update_body("C1", "1.2", &message("OK")),
            TIMEOUT,
        )
        .await;
    assert!(matches!(
        verdict(Method::Update, &reply),
        Verdict::GiveUp {
            new_thread: true,
            ..
        }
    ));
    assert_secret_free(&reply, Method::Update);
}

#[tokio::test]
async fn an_existing_reaction_is_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/reactions.add"))
        .and(body_partial_json(json!({
            "channel": "C1", "timestamp": "1.2", "name": "white_check_mark"
        })))
        .respond_with(slack_json(json!({"ok": false, "error": "already_reacted"})))
        .expect(1)
        .mount(&server)
        .await;
    let reply = client(&server)
        .call(
            &token(),
            Method::ReactionsAdd,
            reaction_body("C1", "1.2", "white_check_mark"),
            TIMEOUT,
        )
        .await;
    assert_eq!(
        verdict(Method::ReactionsAdd, &reply),
        Verdict::Done(Posted::default())
    );
}

#[tokio::test]
async fn a_proxys_answer_is_not_taken_for_slacks() {
    let server = MockServer::start().await;
    answers(
        &server,
        "chat.postMessage",
        ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"),
    )
    .await;
    let reply = client(&server)
        .call(
            &token(),
            Method::PostMessage,
            post_message_body("C1", None, false, &message("x")),
            TIMEOUT,
        )
        .await;
    assert!(
        matches!(&reply, Reply::Other { status: 502, body, .. } if body.contains("Bad Gateway")),
        "{reply:?}"
    );
    assert!(matches!(
        verdict(Method::PostMessage, &reply),
        Verdict::RetryNow(_)
    ));
}

#[tokio::test]
async fn at_most_a_bounded_answer_is_read() {
    let server = MockServer::start().await;
    let huge = format!(
        r#"{{"ok":true,"ts":"1.2","channel":"C1","message":{{"text":"{}"}}}}"#,
        "a".repeat(3 * 1024 * 1024)
    );
    answers(
        &server,
        "chat.postMessage",
        ResponseTemplate::new(200).set_body_raw(huge, "application/json"),
    )
    .await;
    let reply = client(&server)
        .call(
            &token(),
            Method::PostMessage,
            post_message_body("C1", None, false, &message("x")),
            TIMEOUT,
        )
        .await;
    assert!(
        matches!(&reply, Reply::Other { status: 200, body, .. } if body.contains("longer than")),
        "{reply:?}"
    );
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let server = MockServer::start().await;
    answers(
        &server,
        "chat.update",
        slack_json(json!({"ok": true, "channel": "C1", "ts": "1.2", "text": "OK"}))
            .set_delay(Duration::from_secs(5)),
    )
    .await;
    let reply = client(&server)
        .call(
            &token(),
            Method::Update,
            update_body("C1", "1.2", &message("OK")),
            Duration::from_millis(200),
        )
        .await;
    assert_eq!(reply, Reply::TimedOut);
}

#[tokio::test]
async fn a_reset_connection_is_a_transport_error_without_the_token() {
    let addr = support::resetting_server();
    let c = WebApiClient::new(reqwest::Client::new(), &format!("http://{addr}/api/")).unwrap();
    let reply = c
        .call(
            &token(),
            Method::PostMessage,
            post_message_body("C1", None, false, &message("x")),
            TIMEOUT,
        )
        .await;
    assert!(matches!(reply, Reply::Transport(_)), "{reply:?}");
    assert_secret_free(&reply, Method::PostMessage);
}
