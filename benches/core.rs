//! Micro-benchmarks of the pure core: parsing an event, building and
//! serializing Slack messages (the Go sample's layout and Block Kit per kind),
//! escaping, and the retry decision. `cargo bench`.
//!
//! They time our own code without I/O; the process-level figures (CPU per
//! record, cold init, span) are `scripts/bench`'s.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sns_to_slack::delivery::policy::{self, Attempt};
use sns_to_slack::kinds;
use sns_to_slack::plan;
use sns_to_slack::record;
use sns_to_slack::render::escape::escape_within;
use sns_to_slack::render::{self, DEFAULT_MAX_MESSAGE_CHARS, MessageFormat, Overrides};

const BATCH: &str = include_str!("../tests/fixtures/sns-batch-25.json");
const ALARM: &str = include_str!("../tests/fixtures/sns-cloudwatch-alarm.json");
const LARGE: &str = include_str!("../tests/fixtures/sns-large-message.json");
const SPECIAL: &str = include_str!("../tests/fixtures/sns-slack-special-chars.json");
const SECURITY_HUB: &str = include_str!("../tests/fixtures/sns-securityhub-findings.json");
const METRIC_MATH: &str = include_str!("../tests/fixtures/sns-cloudwatch-metric-math.json");

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(25));
    group.bench_function("parse_event/25 records", |b| {
        b.iter(|| record::parse_event(black_box(BATCH)).unwrap())
    });
    group.finish();
}

fn messages(c: &mut Criterion) {
    // The Go sample's layout, as before Block Kit (MESSAGE_FORMAT=attachments).
    let overrides = Overrides {
        message_format: MessageFormat::Attachments,
        ..Overrides::default()
    };
    let routing = routing();
    let mut group = c.benchmark_group("message");
    for (name, fixture) in [
        ("alarm", ALARM),
        ("special chars", SPECIAL),
        ("large (truncated)", LARGE),
    ] {
        let records = record::parse_event(fixture).unwrap();
        group.bench_function(format!("build+serialize/{name}"), |b| {
            b.iter(|| {
                plan::plan(
                    black_box(&records),
                    &routing,
                    &overrides,
                    DEFAULT_MAX_MESSAGE_CHARS,
                )
            })
        });
    }
    let plain = "disk usage above 90% on i-0abc12345 ".repeat(100);
    let special = "a <b> & c ".repeat(400);
    group.bench_function("escape_within/3.6k plain", |b| {
        b.iter(|| escape_within(black_box(&plain), DEFAULT_MAX_MESSAGE_CHARS))
    });
    group.bench_function("escape_within/4k special, truncated", |b| {
        b.iter(|| escape_within(black_box(&special), DEFAULT_MAX_MESSAGE_CHARS))
    });
    group.finish();
}

/// Block Kit: reading plus rendering plus serialization of one record, and
/// each step alone: reading the notice (parse, detect, what it says; what
/// routing needs), rendering it, serializing the payload.
fn block_kit(c: &mut Criterion) {
    let overrides = Overrides::default();
    let routing = routing();
    let mut group = c.benchmark_group("format");
    for (name, fixture) in [
        ("cloudwatch alarm", ALARM),
        ("cloudwatch metric math", METRIC_MATH),
        ("securityhub 3 findings", SECURITY_HUB),
        ("text, special chars", SPECIAL),
        ("text, large (truncated)", LARGE),
    ] {
        let records = record::parse_event(fixture).unwrap();
        group.bench_function(format!("prepare/{name}"), |b| {
            b.iter(|| {
                plan::plan(
                    black_box(&records),
                    &routing,
                    &overrides,
                    DEFAULT_MAX_MESSAGE_CHARS,
                )
            })
        });
    }
    for (name, fixture) in [
        ("cloudwatch alarm", ALARM),
        ("securityhub 3 findings", SECURITY_HUB),
    ] {
        let records = record::parse_event(fixture).unwrap();
        let n = records[0].notification().unwrap();
        group.bench_function(format!("read/{name}"), |b| {
            b.iter(|| kinds::read(black_box(n), DEFAULT_MAX_MESSAGE_CHARS))
        });
        let notice = kinds::read(n, DEFAULT_MAX_MESSAGE_CHARS);
        group.bench_function(format!("render/{name}"), |b| {
            b.iter(|| render::render(black_box(&notice), &overrides, None))
        });
        let payload = render::render(&notice, &overrides, None);
        group.bench_function(format!("serialize/{name}"), |b| {
            b.iter(|| serde_json::to_vec(black_box(&payload)).unwrap())
        });
    }
    group.finish();
}

fn retry_decisions(c: &mut Criterion) {
    let now = SystemTime::now();
    let backoff = Duration::from_millis(500);
    let cap = Duration::from_secs(60);
    let rate_limited = Attempt::Status {
        status: 429,
        body: "rate_limited".into(),
        retry_after: Some("3".into()),
    };
    let dated = Attempt::Status {
        status: 503,
        body: "service_unavailable".into(),
        retry_after: Some(httpdate::fmt_http_date(now + Duration::from_secs(5))),
    };
    let rejected = Attempt::Status {
        status: 404,
        body: "channel_not_found".into(),
        retry_after: None,
    };
    let mut group = c.benchmark_group("policy");
    for (name, attempt) in [
        ("accepted", Attempt::Accepted),
        ("429 Retry-After seconds", rate_limited),
        ("503 Retry-After date", dated),
        ("404 rejected", rejected),
    ] {
        group.bench_function(format!("decide/{name}"), |b| {
            b.iter(|| policy::decide(black_box(&attempt), 1, 5, backoff, now, cap))
        });
    }
    group.finish();
}

criterion_group!(benches, parsing, messages, block_kit, retry_decisions);
criterion_main!(benches);

/// Everything to one webhook: routing as a deployment without `ROUTES` has it.
fn routing() -> sns_to_slack::route::Routing {
    sns_to_slack::route::Routing::from(
        sns_to_slack::destination::webhook::Webhook::parse(
            "https://hooks.slack.com/services/T0/B0/BENCH",
        )
        .unwrap(),
    )
}
