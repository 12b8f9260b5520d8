//! `sns-to-slack send` as a user runs it: preview, posting, dead-letter file,
//! exit codes and error messages.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{self, SECRET, fixture};
use serde_json::Value;
use sns_to_slack::dead_letter::Envelope;

fn send(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sns-to-slack"))
        .arg("send")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn without_a_webhook_it_previews_each_payload_and_posts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = send(dir.path(), &[&fixture_path("sns-batch-25.json")], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let payloads: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(payloads.len(), 25);
    assert_eq!(payloads[0]["blocks"][1]["text"]["text"], "batch message 0");
    assert!(text(&out.stderr).contains("preview"));
    assert!(!dir.path().join("dead-letters.jsonl").exists());
}

#[test]
fn preview_with_builder_prints_a_block_kit_builder_link_per_payload() {
    let dir = tempfile::tempdir().unwrap();
    let out = send(
        dir.path(),
        &[
            "--preview",
            "--builder",
            &fixture_path("sns-cloudwatch-alarm.json"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let payload: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        payload["attachments"][0]["color"], "#d13212",
        "ALARM is red"
    );
    let stderr = text(&out.stderr);
    let link = stderr
        .lines()
        .find_map(|l| l.strip_prefix("cloudwatch_alarm -> "))
        .unwrap_or_else(|| panic!("no builder link: {stderr}"));
    assert!(
        link.starts_with("https://app.slack.com/block-kit-builder/#%7B%22blocks%22%3A%5B"),
        "{link}"
    );
}

#[test]
fn message_format_attachments_gives_the_go_sample_layout_and_a_bad_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let alarm = fixture_path("sns-cloudwatch-alarm.json");
    let out = send(dir.path(), &[&alarm], &[("MESSAGE_FORMAT", "attachments")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let payload: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(payload["text"], "SNS Notification");
    assert_eq!(payload["attachments"][0]["fields"][0]["title"], "message");
    let out = send(dir.path(), &[&alarm], &[("MESSAGE_FORMAT", "fancy")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("MESSAGE_FORMAT is invalid"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn with_a_webhook_it_posts_and_exits_zero() {
    let slack = support::slack_says(200, "ok").await;
    let dir = tempfile::tempdir().unwrap();
    let url = support::webhook_url(&slack);
    let out = send(
        dir.path(),
        &[&fixture_path("sns-plain.json")],
        &[("WEBHOOK_URL", &url)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["posted"], 1);
    assert_eq!(slack.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_rejected_record_goes_to_the_dead_letter_file_and_exits_one() {
    let slack = support::slack_says(404, "channel_not_found").await;
    let dir = tempfile::tempdir().unwrap();
    let url = support::webhook_url(&slack);
    let out = send(
        dir.path(),
        &[&fixture_path("sns-plain.json")],
        &[("WEBHOOK_URL", &url)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("dead-letters.jsonl"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
    let lines = std::fs::read_to_string(dir.path().join("dead-letters.jsonl")).unwrap();
    let env: Envelope = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(env.status, Some(404));
    assert!(env.detail.contains("channel_not_found"));
    assert!(!lines.contains(SECRET));
}

#[tokio::test]
async fn the_dead_letter_file_can_be_chosen() {
    let slack = support::slack_says(410, "channel_is_archived").await;
    let dir = tempfile::tempdir().unwrap();
    let url = support::webhook_url(&slack);
    let out = send(
        dir.path(),
        &[
            &fixture_path("sns-plain.json"),
            "--dead-letter-file",
            "elsewhere.jsonl",
        ],
        &[("WEBHOOK_URL", &url)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(dir.path().join("elsewhere.jsonl").exists());
}

#[test]
fn bad_input_exits_two_naming_what_was_wrong() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sqs.json"),
        r#"{"Records":[{"eventSource":"aws:kinesis","kinesis":{"data":"eA=="}}]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.json"), "{\"Records\": [").unwrap();
    for (args, env, needle) in [
        (vec!["missing.json"], vec![], "missing.json"),
        (vec!["sqs.json"], vec![], "not an SNS or SQS event"),
        (vec!["broken.json"], vec![], "not JSON"),
        (
            vec!["sqs.json"],
            vec![("RATE_PER_SECOND", "fast")],
            "RATE_PER_SECOND",
        ),
        (
            vec!["sqs.json"],
            vec![("WEBHOOK_URL", "hooks.slack.com/services/SECRET")],
            "WEBHOOK_URL",
        ),
    ] {
        let out = send(dir.path(), &args, &env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("SECRET"), "{stderr}");
    }
}

#[test]
fn out_of_range_flags_exit_two_naming_the_flag_without_a_panic() {
    // Finding 4: `send --budget 18446744073709551615` panicked; `redrive
    // --rate-per-second` had no lower bound.
    let dir = tempfile::tempdir().unwrap();
    let file = fixture_path("sns-plain.json");
    let cases: [(&[&str], &str); 7] = [
        (
            &["send", "--budget", "18446744073709551615", &file],
            "--budget",
        ),
        (&["send", "--budget", "0", &file], "--budget"),
        (
            &["redrive", "--file", &file, "--rate-per-second", "1e-30"],
            "--rate-per-second",
        ),
        (
            &["redrive", "--file", &file, "--rate-per-second", "NaN"],
            "--rate-per-second",
        ),
        (
            &["redrive", "--file", &file, "--rate-burst", "0"],
            "--rate-burst",
        ),
        (
            &["redrive", "--file", &file, "--max-attempts", "101"],
            "--max-attempts",
        ),
        (
            &[
                "redrive",
                "--queue-url",
                "https://sqs.example/q",
                "--visibility-timeout",
                "43201",
            ],
            "--visibility-timeout",
        ),
    ];
    for (args, flag) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_sns-to-slack"))
            .args(args)
            .env_clear()
            .env(
                "WEBHOOK_URL",
                format!("https://hooks.slack.com/services/{SECRET}"),
            )
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_rate_below_the_floor_stops_send_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = send(
        dir.path(),
        &[&fixture_path("sns-plain.json")],
        &[("RATE_PER_SECOND", "1e-30")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("RATE_PER_SECOND"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_event_can_come_from_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sns-to-slack"))
        .args(["send", "-"])
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(fixture("sns-no-subject.json").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let payload: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(
        payload["blocks"][0]["type"], "header",
        "no subject, no header"
    );
}

/// Runs `send` on a plain record with `env`; returns (exit code, stderr).
fn start_up(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = send(dir.path(), &[&fixture_path("sns-plain.json")], env);
    (out.status.code(), text(&out.stderr))
}

#[test]
fn a_url_where_a_name_belongs_is_never_echoed_in_start_up_errors() {
    // Issue 16, finding 1: each of these quoted the whole URL on stderr.
    let url = format!("https://hooks.slack.com/services/{SECRET}");
    let ops = format!(r#"{{"ops":"{url}"}}"#);
    let cases: Vec<(String, String, &str)> = vec![
        (
            ops.clone(),
            format!(r#"[{{"to": ["{url}"]}}]"#),
            "ROUTES is invalid: rule 0: \"to\" item 0 is a URL where a webhook name belongs",
        ),
        (
            ops.clone(),
            format!(r#"[{{"to": ["ops"]}}, {{"drop": "{url}"}}]"#),
            "ROUTES is invalid: rule 1: invalid type: string (a URL), expected a boolean",
        ),
        (
            ops.clone(),
            format!(r#"[{{"match": {{"kind": "{url}"}}, "to": ["ops"]}}]"#),
            "ROUTES is invalid: rule 0: kind a URL is not a kind",
        ),
        (
            format!(r#"{{"{url}":"ops"}}"#),
            String::new(),
            "WEBHOOKS is invalid: the name of entry 0 (0-based) is a URL",
        ),
        (
            format!(r#"{{"ops":{{"url":"{url}","{url}":1}}}}"#),
            String::new(),
            "WEBHOOKS is invalid: webhook \"ops\": expected {\"url\": ..., \"rate_per_second\": ...} or {\"token\": \"xoxb-...\", \"channel\": \"C0123ABCD\"} (unknown field a URL",
        ),
    ];
    for (webhooks, routes, needle) in &cases {
        let mut env = vec![("WEBHOOKS", webhooks.as_str())];
        if !routes.is_empty() {
            env.push(("ROUTES", routes.as_str()));
        }
        let (code, stderr) = start_up(&env);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{needle}\n{stderr}");
        assert!(
            !stderr.contains(SECRET) && !stderr.contains("hooks.slack.com"),
            "{stderr}"
        );
        assert!(!stderr.contains("line 0 column 0"), "{stderr}");
    }
}

#[test]
fn a_webhook_name_given_twice_stops_send_naming_it() {
    // Issue 16, finding 11: the first "ops" was silently dropped; a rule
    // naming "ops" twice posted every record twice.
    let a = format!("https://hooks.slack.com/services/{SECRET}");
    let b = "https://hooks.slack.com/services/T1/B1/OTHER";
    let twice = format!(r#"{{"ops":"{a}","ops":"{b}"}}"#);
    let (code, stderr) = start_up(&[("WEBHOOKS", &twice)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("WEBHOOKS is invalid: webhook \"ops\" is defined twice"),
        "{stderr}"
    );
    let one = format!(r#"{{"ops":"{a}"}}"#);
    let (code, stderr) = start_up(&[
        ("WEBHOOKS", &one),
        ("ROUTES", r#"[{"to": ["ops", "ops"]}]"#),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("ROUTES is invalid: rule 0: \"to\" names webhook \"ops\" twice"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
}

#[test]
fn plain_http_to_a_real_host_is_refused_naming_the_webhook() {
    // Issue 16, finding 13: every post would have carried the secret in clear.
    let url = format!("http://hooks.slack.com/services/{SECRET}");
    let table = format!(r#"{{"ops":"{url}"}}"#);
    for (name, value, needle) in [
        (
            "WEBHOOK_URL",
            url.as_str(),
            "WEBHOOK_URL is invalid: plain http://",
        ),
        (
            "WEBHOOKS",
            table.as_str(),
            "WEBHOOKS is invalid: webhook \"ops\": plain http://",
        ),
    ] {
        let (code, stderr) = start_up(&[(name, value)]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(
            !stderr.contains(SECRET) && !stderr.contains("hooks.slack.com"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn an_error_body_echoing_the_path_keeps_no_part_of_it() {
    // Issue 16, finding 2: the body was cut at 200 bytes, then redacted, so a
    // JSON-escaped path, or one the cut went through, stayed in the dead letter.
    let server = wiremock::MockServer::start().await;
    let url = support::webhook_url(&server);
    let path = url.trim_start_matches(&server.uri());
    let escaped = path.replace('/', "\\/");
    let bodies = [
        format!(r#"{{"ok":false,"error":"no_service","path":"{escaped}"}}"#),
        format!("{}{path}", "x".repeat(190)),
        format!("{}{escaped}", "y".repeat(180)),
    ];
    for body in &bodies {
        server.reset().await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(wiremock::ResponseTemplate::new(404).set_body_string(body.as_str()))
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let out = send(
            dir.path(),
            &[&fixture_path("sns-plain.json")],
            &[("WEBHOOK_URL", &url), ("RUST_LOG", "debug")],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let letters = std::fs::read_to_string(dir.path().join("dead-letters.jsonl")).unwrap();
        let env: Envelope = serde_json::from_str(letters.lines().next().unwrap()).unwrap();
        assert_eq!(env.status, Some(404));
        for shown in [&letters, &text(&out.stderr), &text(&out.stdout)] {
            for part in SECRET.split('/') {
                assert!(!shown.contains(&part[..8]), "{body}\n{shown}");
            }
        }
        assert!(env.detail.contains("[redacted"), "{}", env.detail);
    }
}

#[test]
fn a_huge_answer_is_never_read_whole() {
    // Issue 16, finding 3: a 256 MB answer drove `send` to 267 MB.
    const SIZE: u64 = 256 << 20;
    for (status, exit) in [(200, 0), (404, 1)] {
        let (addr, written) = support::huge_answer_server(status, SIZE);
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://{addr}/services/{SECRET}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_sns-to-slack"));
        command
            .arg("send")
            .arg(fixture_path("sns-plain.json"))
            .env_clear()
            .env("WEBHOOK_URL", &url)
            .current_dir(dir.path());
        let (code, stderr, peak) = support::run_with_peak_rss(command);
        assert_eq!(code, Some(exit), "{stderr}");
        assert!(peak < 64 << 20, "send peaked at {} MB", peak >> 20);
        let written = written.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            written < SIZE,
            "the whole answer was read ({written} bytes)"
        );
    }
}

#[tokio::test]
async fn a_wide_fan_out_to_a_slow_slack_fits_in_lambdas_1024_descriptors() {
    // Issue 16, finding 6: 10 records to 300 webhooks opened a socket per post
    // in flight (300 x MAX_CONCURRENCY); at 1,024 descriptors posts failed with
    // "Too many open files" and send exited 2.
    use std::os::unix::process::CommandExt;
    let slack = support::slack(
        wiremock::ResponseTemplate::new(200)
            .set_body_string("ok")
            .set_delay(std::time::Duration::from_millis(200)),
    )
    .await;
    let names: Vec<String> = (0..300).map(|i| format!("team-{i}")).collect();
    let table: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| {
            let url = format!(
                "{}/services/T0/{n}/{}",
                slack.uri(),
                SECRET.replace('/', "")
            );
            (n.clone(), Value::String(url))
        })
        .collect();
    let routes = serde_json::json!([{ "to": names }]).to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut event: Value = serde_json::from_str(&fixture("sns-batch-25.json")).unwrap();
    event["Records"].as_array_mut().unwrap().truncate(10);
    std::fs::write(dir.path().join("event.json"), event.to_string()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_sns-to-slack"));
    command
        .args(["send", "event.json"])
        .env_clear()
        .env("WEBHOOKS", Value::Object(table).to_string())
        .env("ROUTES", &routes)
        .env("RATE_PER_SECOND", "1000")
        .env("RATE_BURST", "100")
        // No retry to hide a post that failed for want of a descriptor.
        .env("MAX_ATTEMPTS", "1")
        // Every record its own post: 3,000 posts, not 300 digests.
        .env("DIGEST_AFTER", "off")
        .current_dir(dir.path());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&summary["records"], &summary["posted"]),
        (&serde_json::json!(10), &serde_json::json!(3000))
    );
    assert!(!dir.path().join("dead-letters.jsonl").exists());
    assert_eq!(slack.received_requests().await.unwrap().len(), 3000);
}

#[test]
fn a_url_where_a_number_or_a_word_belongs_is_not_echoed() {
    // A webhook URL pasted into the wrong variable.
    let url = format!("https://hooks.slack.com/services/{SECRET}");
    for (name, needle) in [
        (
            "RATE_PER_SECOND",
            "RATE_PER_SECOND is invalid: expected a number, got a URL",
        ),
        (
            "MAX_ATTEMPTS",
            "MAX_ATTEMPTS is invalid: expected a whole number, got a URL",
        ),
        (
            "MESSAGE_FORMAT",
            "MESSAGE_FORMAT is invalid: expected blocks or attachments, got a URL",
        ),
    ] {
        let (code, stderr) = start_up(&[(name, &url)]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(!stderr.contains(SECRET), "{stderr}");
    }
}
