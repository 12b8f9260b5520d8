//! The benchmark: our speed against Slack's limits and Lambda's, measured on
//! this machine with real processes and loopback servers.
//!
//! `scripts/bench` builds the release binaries and runs this; `--quick` runs a
//! few iterations only, to prove the benchmark still works (CI). It prints the
//! table with the machine's facts and, unless `--quick`, writes BENCHMARKS.md.
//! `--only init` or `--only instructions` measures that one row and prints it
//! (no report written); `BENCH_CALLGRIND_DIR=dir` keeps the callgrind
//! profiles of the instructions row, `BENCH_ENV="DIGEST_AFTER=5"` runs the
//! function with digests on.
//!
//! | figure | how |
//! |---|---|
//! | cold init | exec -> first `GET /runtime/invocation/next`, median of N starts, interleaved with `hello_lambda` |
//! | delivery span | 100 records at 20/s, burst 1, to a sink that answers at once: first post -> last post |
//! | pipeline CPU | 2,000 records, limiter wide open, INFO logs in JSON (as deployed): user+sys CPU of the process / records, median of 7 runs |
//! | floor | the same number of raw keep-alive POSTs to the same sink from a blocking socket: the kernel's share |
//! | instructions per record | callgrind, 2,000 records minus 200, when valgrind is installed |
//! | peak memory | the highest peak RSS of those runs (`VmHWM` of the function's process) |
//! | peak memory, 256 MB answer | `send` of one record to a loopback Slack answering 200, then 404, with a 256 MB body: the higher `ru_maxrss` |
//! | deploy size | `cargo lambda build --release --arm64` bootstrap, when built |

// The test support, of which the benchmark uses a part.
#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Invocation, RuntimeApi};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

struct Settings {
    starts: usize,
    span_records: usize,
    span_rate: f64,
    cpu_records: usize,
    cpu_runs: usize,
    write_report: bool,
}

#[derive(Default)]
struct Results {
    ours_init: Duration,
    hello_init: Duration,
    starts: usize,
    span: Duration,
    span_expected: Duration,
    span_records: usize,
    span_rate: f64,
    cpu_records: usize,
    cpu: Duration,
    cpu_user: Duration,
    cpu_runs: usize,
    floor: Duration,
    floor_user: Duration,
    instructions: Option<f64>,
    peak_rss_kb: i64,
    huge_answer_rss_kb: i64,
    json_event_rss_kb: i64,
    deploy_size: Option<u64>,
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let settings = if quick {
        Settings {
            starts: 3,
            span_records: 11,
            span_rate: 20.0,
            cpu_records: 200,
            cpu_runs: 1,
            write_report: false,
        }
    } else {
        Settings {
            starts: 21,
            span_records: 100,
            span_rate: 20.0,
            cpu_records: 2000,
            cpu_runs: 7,
            write_report: true,
        }
    };
    let dir = binaries_dir();
    let ours = dir.join("sns-to-slack");
    let hello = dir.join("examples").join("hello_lambda");
    for bin in [&ours, &hello] {
        assert!(
            bin.exists(),
            "{} is missing: run scripts/bench (it builds it)",
            bin.display()
        );
    }
    let profile = dir.file_name().unwrap().to_string_lossy().to_string();
    eprintln!("benchmarking the {profile} binaries in {}", dir.display());

    let mut r = Results::default();
    // `--only ROW` (or BENCH_ONLY=ROW) measures one row and prints it, writing
    // no report: `init` (cold init), `instructions` (callgrind), `cpu` (the
    // CPU and memory stage, for profiling).
    let only = only();
    if let Some(row) = only.as_deref() {
        let n = settings.cpu_records;
        match row {
            "init" => {
                eprintln!(
                    "cold init: {} starts of each binary, interleaved",
                    settings.starts
                );
                cold_init(&ours, &hello, settings.starts, &mut r);
                let ratio = r.ours_init.as_secs_f64() / r.hello_init.as_secs_f64();
                println!(
                    "cold init (median of {}): {:.2} ms vs hello-world {:.2} ms = {ratio:.2}x; {}",
                    r.starts,
                    r.ours_init.as_secs_f64() * 1e3,
                    r.hello_init.as_secs_f64() * 1e3,
                    load_average(),
                );
                return;
            }
            "instructions" => {
                eprintln!("instructions per record: {n} records minus {}", n / 10);
                match instructions_per_record(&ours, n).await {
                    Some(i) => println!("instructions per record: {i:.0}"),
                    None => {
                        println!("instructions per record: not measured (valgrind not installed)")
                    }
                }
                return;
            }
            "cpu" => {}
            other => panic!("--only {other}: the rows are init, instructions and cpu"),
        }
    }
    let only_cpu = only.is_some();
    if !only_cpu {
        eprintln!(
            "cold init: {} starts of each binary, interleaved",
            settings.starts
        );
        cold_init(&ours, &hello, settings.starts, &mut r);
        eprintln!(
            "delivery span: {} records at {}/s",
            settings.span_records, settings.span_rate
        );
        delivery_span(&ours, settings.span_records, settings.span_rate, &mut r).await;
    }
    eprintln!("pipeline CPU and memory: {} records", settings.cpu_records);
    pipeline_cpu(&ours, settings.cpu_records, settings.cpu_runs, &mut r).await;
    eprintln!("memory against a 256 MB answer");
    r.huge_answer_rss_kb = huge_answer_peak_kb(&ours);
    r.json_event_rss_kb = json_event_peak_kb(&ours);
    r.deploy_size = std::fs::metadata(dir.join("../lambda/sns-to-slack/bootstrap"))
        .ok()
        .map(|m| m.len());

    let report = report(&r, &profile);
    println!("{report}");
    if !settings.write_report {
        println!(
            "Quick mode: {profile} binaries and few iterations prove that the benchmark runs; the figures are not the product's (run scripts/bench)."
        );
    }
    if settings.write_report && !only_cpu {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
        // The `## ` sections that other tools write (scripts/simulate) stay.
        let kept = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| old.find("\n## ").map(|at| old[at..].to_string()))
            .unwrap_or_default();
        std::fs::write(&path, format!("{report}{kept}")).unwrap();
        eprintln!("wrote {}", path.display());
    }
}

/// The row named by `--only ROW`, else by `BENCH_ONLY`.
fn only() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--only")
        .map(|at| {
            args.get(at + 1)
                .cloned()
                .expect("--only needs a row: init, instructions or cpu")
        })
        .or_else(|| std::env::var("BENCH_ONLY").ok())
}

/// The load averages (1, 5, 15 min) as the kernel reports them.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let avg: Vec<&str> = text.split_whitespace().take(3).collect();
    format!("load average {}", avg.join(", "))
}

/// `target/<profile>`, from where this example runs.
fn binaries_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn lambda_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_FUNCTION_NAME", "bench".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        // Never used: every post succeeds. Port 9 (discard) would refuse.
        (
            "DEAD_LETTER_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/unused".into(),
        ),
    ]
}

/// Exec -> the request line of the first `GET .../invocation/next`.
fn time_to_first_next(bin: &Path) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let started = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .envs(lambda_env())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env(
            "WEBHOOK_URL",
            "https://hooks.slack.com/services/T0/B0/bench",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    let elapsed = started.elapsed();
    assert!(
        line.starts_with("GET /2018-06-01/runtime/invocation/next"),
        "{line}"
    );
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn cold_init(ours: &Path, hello: &Path, starts: usize, r: &mut Results) {
    // One warm-up each so both binaries are in the page cache.
    time_to_first_next(ours);
    time_to_first_next(hello);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..starts {
        b.push(time_to_first_next(hello));
        a.push(time_to_first_next(ours));
    }
    r.ours_init = median(a);
    r.hello_init = median(b);
    r.starts = starts;
}

/// A Slack that answers `ok` at once and notes when each post arrived.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Instant>>>);

impl Respond for Sink {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().push(Instant::now());
        ResponseTemplate::new(200).set_body_string("ok")
    }
}

async fn sink() -> (MockServer, Sink) {
    // Recording would keep every request in this process, which slows the sink
    // run after run and, with it, how the function batches its wake-ups.
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    let sink = Sink::default();
    Mock::given(method("POST"))
        .respond_with(sink.clone())
        .mount(&server)
        .await;
    (server, sink)
}

/// An SNS event of `n` distinct records, from the 25-record fixture.
fn event(n: usize) -> String {
    let fixture: Value = serde_json::from_str(&support::fixture("sns-batch-25.json")).unwrap();
    let template = fixture["Records"][0].clone();
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = template.clone();
            r["Sns"]["MessageId"] = json!(format!("bench-{i:05}"));
            r["Sns"]["Message"] = json!(format!(
                "bench message {i}: disk usage above 90% on i-0abc{i:05}"
            ));
            r
        })
        .collect();
    json!({ "Records": records }).to_string()
}

/// Runs one invocation of `n` records in our binary; returns the child's
/// CPU time and peak RSS (KiB) as `wait4` reports them.
async fn one_invocation(
    ours: &Path,
    n: usize,
    extra_env: &[(&str, String)],
    slack: &MockServer,
    wrap: &[String],
) -> (Duration, Duration, i64) {
    let runtime = RuntimeApi::start(vec![Invocation {
        payload: event(n),
        deadline_in: Some(Duration::from_secs(600)),
    }])
    .await;
    let mut command = match wrap.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(ours);
            c
        }
        None => Command::new(ours),
    };
    let child = command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(lambda_env())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .env(
            "WEBHOOK_URL",
            format!("{}/services/T0/B0/bench", slack.uri()),
        )
        // INFO lines in JSON, as the template deploys it.
        .env("AWS_LAMBDA_LOG_LEVEL", "info")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        // One post per record: the figures measure the per-record path, as
        // before digests (a storm of one kind would become two posts).
        .env("DIGEST_AFTER", "off")
        .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())))
        // BENCH_ENV="K=V K=V" adds variables to the function's environment (experiments).
        .envs(
            std::env::var("BENCH_ENV")
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = child;
    let answers = support::eventually(
        Duration::from_secs(600),
        "the invocation's answer",
        async || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the function exited ({status}) before answering; is the binary up to date?"
                );
            }
            let answers = runtime.answers().await;
            (!answers.is_empty()).then_some(answers)
        },
    )
    .await;
    assert!(answers[0].ok, "{:?}", answers[0]);
    // Every record posted: on its own, or (BENCH_ENV="DIGEST_AFTER=5") in a
    // digest or folded into another's message.
    let carried: u64 = ["posted", "digested", "collapsed"]
        .iter()
        .filter_map(|k| answers[0].body[*k].as_u64())
        .sum();
    assert_eq!(carried, n as u64, "{:?}", answers[0]);
    // The peak RSS of the process as it is now. wait4's ru_maxrss would do, but
    // it also counts the pages of this (growing) process at fork time.
    let peak_kb = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok())
        })
        .unwrap_or(0);
    let (user, sys) = reap(child, !wrap.is_empty());
    eprintln!("  peak RSS (VmHWM) {peak_kb} KiB");
    (user, sys, peak_kb)
}

/// Kills the child and returns its (user CPU, sys CPU) from `wait4`.
/// A wrapper (perf, valgrind) gets SIGTERM, so that it writes its data before
/// it exits. Not SIGINT: a shell starts background jobs with SIGINT ignored, and
/// the wrapper would inherit that and never exit.
fn reap(mut child: std::process::Child, wrapped: bool) -> (Duration, Duration) {
    let pid = child.id() as libc::pid_t;
    if wrapped {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    } else {
        let _ = child.kill();
    }
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet reaped; both pointers are valid.
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(got, pid, "wait4 failed");
    let (user, sys) = (timeval(usage.ru_utime), timeval(usage.ru_stime));
    eprintln!(
        "  child CPU: user {:.1} ms, sys {:.1} ms",
        user.as_secs_f64() * 1e3,
        sys.as_secs_f64() * 1e3,
    );
    (user, sys)
}

async fn delivery_span(ours: &Path, n: usize, rate: f64, r: &mut Results) {
    let (slack, sink) = sink().await;
    let env = [
        ("RATE_PER_SECOND", rate.to_string()),
        ("RATE_BURST", "1".to_string()),
    ];
    one_invocation(ours, n, &env, &slack, &bench_wrap()).await;
    let times = sink.0.lock().unwrap().clone();
    assert_eq!(times.len(), n);
    r.span = *times.iter().max().unwrap() - *times.iter().min().unwrap();
    r.span_expected = Duration::from_secs_f64((n - 1) as f64 / rate);
    r.span_records = n;
    r.span_rate = rate;
}

/// The peak RSS (KiB) of `ours` run with `args` and `env` in `dir`.
///
/// Through `/usr/bin/time -f %M` where it exists: `wait4`'s `ru_maxrss` of a
/// child spawned from this (large) process counts the pages it had as our fork
/// before `exec`, which once read 114 MB for a `send` that peaks at 10 MB.
/// Without `time`, `wait4` it is, and the figure is an upper bound.
fn peak_rss_kb(ours: &Path, args: &[&std::ffi::OsStr], env: &[(&str, String)], dir: &Path) -> i64 {
    let time = Path::new("/usr/bin/time");
    if time.exists() {
        let out = dir.join("peak-rss-kb");
        let status = Command::new(time)
            .args(["-f", "%M", "-o"])
            .arg(&out)
            .arg(ours)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let _ = status;
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        // `time` writes a "Command exited with non-zero status" line first
        // when the command fails; the figure is the last line.
        return text
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0);
    }
    // Reaped by wait4 below, which also gives its rusage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(ours)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status_code = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet reaped; both pointers are valid.
    let got = unsafe { libc::wait4(pid, &mut status_code, 0, &mut usage) };
    assert_eq!(got, pid, "wait4 failed");
    usage.ru_maxrss
}

/// The peak RSS (KiB) of `send` posting one record to a loopback Slack that
/// answers with a 256 MB body, as 200 and as 404: the higher of the two.
fn huge_answer_peak_kb(ours: &Path) -> i64 {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sns-plain.json");
    let mut peak = 0;
    for status in [200, 404] {
        let (addr, _) = support::huge_answer_server(status, 256 << 20);
        let dir = tempfile::tempdir().unwrap();
        let env = [("WEBHOOK_URL", format!("http://{addr}/services/T0/B0/bench"))];
        let args = [std::ffi::OsStr::new("send"), fixture.as_os_str()];
        let kb = peak_rss_kb(ours, &args, &env, dir.path());
        eprintln!("  answer {status}: peak RSS {kb} KiB");
        peak = peak.max(kb);
    }
    peak
}

/// The peak RSS (KiB) of `send --preview` reading a 6 MB event whose message
/// is JSON (`{"a":[0,0,...]}`): parsed once, shown up to MAX_MESSAGE_CHARS.
fn json_event_peak_kb(ours: &Path) -> i64 {
    let dir = tempfile::tempdir().unwrap();
    let zeros = vec!["0"; 3 << 20].join(",");
    let message = format!(r#"{{"a":[{zeros}]}}"#);
    let event = serde_json::json!({"Records": [{"EventSource": "aws:sns", "Sns": {
        "MessageId": "big", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "Message": message}}]});
    let path = dir.path().join("event.json");
    std::fs::write(&path, event.to_string()).unwrap();
    let args = [
        std::ffi::OsStr::new("send"),
        std::ffi::OsStr::new("--preview"),
        path.as_os_str(),
    ];
    let kb = peak_rss_kb(ours, &args, &[], dir.path());
    eprintln!("  6 MB JSON event: peak RSS {kb} KiB");
    kb
}

/// The machine is noisy (the same run varies by a third): the figure is the
/// run with the median CPU of `runs`, and the peak memory the highest seen.
async fn pipeline_cpu(ours: &Path, n: usize, runs: usize, r: &mut Results) {
    let (slack, _sink) = sink().await;
    let env = limiter_open();
    let mut seen = Vec::new();
    for _ in 0..runs {
        seen.push(one_invocation(ours, n, &env, &slack, &bench_wrap()).await);
    }
    seen.sort_by_key(|(user, sys, _)| *user + *sys);
    let (user, sys, _) = seen[seen.len() / 2];
    r.cpu = user + sys;
    r.cpu_user = user;
    r.peak_rss_kb = seen.iter().map(|(_, _, rss)| *rss).max().unwrap_or(0);
    r.cpu_records = n;
    r.cpu_runs = runs;
    let addr = slack.address().to_string();
    let (floor_user, floor_sys) = tokio::task::spawn_blocking(move || raw_round_trips(&addr, n))
        .await
        .unwrap();
    r.floor = floor_user + floor_sys;
    r.floor_user = floor_user;
    r.instructions = instructions_per_record(ours, n).await;
}

/// The limiter wide open, so the CPU runs measure the pipeline, not waiting.
fn limiter_open() -> [(&'static str, String); 2] {
    [
        ("RATE_PER_SECOND", "1000000".to_string()),
        ("RATE_BURST", "1000000".to_string()),
    ]
}

/// BENCH_WRAP="perf record -g -o perf.data --" profiles the function (the CPU
/// and memory figures are then the wrapper's, not the function's).
fn bench_wrap() -> Vec<String> {
    std::env::var("BENCH_WRAP")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Instructions the function executes per record, from callgrind: the
/// difference between an invocation of `n` records and one of `n / 10`, so
/// start-up and other fixed costs drop out. Unlike CPU time it does not move
/// with the machine's noise, so it shows changes of a percent. `None` when
/// valgrind is not installed.
async fn instructions_per_record(ours: &Path, n: usize) -> Option<f64> {
    let found = Command::new("valgrind").arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        eprintln!("  valgrind not found: instructions per record not measured");
        return None;
    }
    let (slack, _sink) = sink().await;
    let env = limiter_open();
    let dir = tempfile::tempdir().unwrap();
    // BENCH_CALLGRIND_DIR keeps the two profiles (for callgrind_annotate).
    let kept = std::env::var_os("BENCH_CALLGRIND_DIR").map(PathBuf::from);
    let out_dir = kept.as_deref().unwrap_or(dir.path());
    let mut totals = Vec::new();
    for records in [n / 10, n] {
        let out = out_dir.join(format!("callgrind.{records}"));
        let wrap = [
            "valgrind".to_string(),
            "--tool=callgrind".to_string(),
            format!("--callgrind-out-file={}", out.display()),
        ];
        one_invocation(ours, records, &env, &slack, &wrap).await;
        let text = std::fs::read_to_string(&out).unwrap();
        let total: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("summary: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("callgrind wrote no summary line");
        totals.push(total);
    }
    Some((totals[1] - totals[0]) as f64 / (n - n / 10) as f64)
}

/// The floor under the CPU figure: `n` keep-alive HTTP/1.1 POSTs to the same
/// sink from a plain blocking socket (one `write`, one `read` each, no HTTP
/// library, no logs); returns this thread's (user, sys) CPU for them. What the
/// function spends above it is ours; below it nothing can go on this kernel.
fn raw_round_trips(addr: &str, n: usize) -> (Duration, Duration) {
    use std::io::{Read, Write};
    let body = format!(
        r#"{{"attachments":[{{"pretext":"bench-topic","text":"subject","color":"good","fields":[{{"title":"message","value":"{}","short":false}},{{"title":"timestamp","value":"2026-11-25T12:00:00.000Z","short":false}}]}}]}}"#,
        "bench message 1: disk usage above 90% on i-0abc00001"
    );
    let request = format!(
        "POST /services/T0/B0/bench HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 4096];
    let before = thread_cpu();
    for _ in 0..n {
        stream.write_all(request.as_bytes()).unwrap();
        // The sink's answer is small: its head and "ok" arrive in one read.
        let mut got = 0;
        loop {
            got += stream.read(&mut buf[got..]).unwrap();
            assert!(got > 0, "the sink closed the connection");
            let text = &buf[..got];
            if text.ends_with(b"ok") {
                break;
            }
        }
        assert!(buf.starts_with(b"HTTP/1.1 200"));
    }
    let after = thread_cpu();
    (after.0 - before.0, after.1 - before.1)
}

/// This thread's (user, sys) CPU so far.
fn thread_cpu() -> (Duration, Duration) {
    // SAFETY: a zeroed rusage is a valid value for getrusage to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    (timeval(usage.ru_utime), timeval(usage.ru_stime))
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {:.1} GiB, Linux {}, {rustc}",
        mem as f64 / 1048576.0,
        kernel.trim()
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn report(r: &Results, profile: &str) -> String {
    let ratio = r.ours_init.as_secs_f64() / r.hello_init.as_secs_f64();
    let span_dev = (r.span.as_secs_f64() - r.span_expected.as_secs_f64())
        / r.span_expected.as_secs_f64()
        * 100.0;
    let us_per_record = r.cpu.as_secs_f64() * 1e6 / r.cpu_records as f64;
    let floor_us = r.floor.as_secs_f64() * 1e6 / r.cpu_records as f64;
    let rss_mb = r.peak_rss_kb as f64 / 1024.0;
    let size = match r.deploy_size {
        Some(b) => format!("{:.2} MB", b as f64 / 1e6),
        None => "not built (run scripts/bench without --quick)".into(),
    };
    let size_ok = r.deploy_size.map(|b| b <= 8_000_000);
    format!(
        "# Benchmarks\n\n\
         Measured by `scripts/bench` ({profile} binaries) on: {machine}.\n\n\
         | figure | measured | target | |\n|---|---|---|---|\n\
         | cold init (exec -> first `/next`, median of {starts}) | {ours:.2} ms vs hello-world {hello:.2} ms = {ratio:.2}x | <= 1.5x | {v1} |\n\
         | delivery span ({n} records, {rate}/s, burst 1) | {span:.3} s vs (N-1)/r = {exp:.3} s ({dev:+.2} %) | within 2 % | {v2} |\n\
         | pipeline CPU ({cpu_n} records, limiter open, INFO logs in JSON as deployed; median of {cpu_runs} runs) | {cpu_ms:.1} ms = {us:.1} us/record (user {user_us:.1}, sys {sys_us:.1}) | <= 20 us/record | {v3} |\n\
         | floor under it: {cpu_n} raw keep-alive POSTs to the same sink (blocking socket, no HTTP library, no logs) | {floor_us:.1} us/record (user {floor_user_us:.1}, sys {floor_sys_us:.1}); ours is {floor_x:.1}x | - | - |\n\
         | instructions per record (callgrind, {cpu_n} records minus {tenth}: fixed costs drop out) | {instructions} | - | - |\n\
         | peak memory (highest of those runs) | {rss:.1} MB | <= 20 MB | {v4} |\n\
         | peak memory of `send` against a Slack answering 256 MB (200 and 404) | {huge:.1} MB | <= 64 MB | {v6} |\n\
         | peak memory of `send --preview` on a 6 MB event whose message is JSON | {json_mb:.1} MB | <= 64 MB | {v7} |\n\
         | deploy size (`cargo lambda build --release --arm64`) | {size} | <= 8 MB | {v5} |\n",
        machine = machine(),
        starts = r.starts,
        ours = r.ours_init.as_secs_f64() * 1e3,
        hello = r.hello_init.as_secs_f64() * 1e3,
        v1 = verdict(ratio <= 1.5),
        n = r.span_records,
        rate = r.span_rate,
        span = r.span.as_secs_f64(),
        exp = r.span_expected.as_secs_f64(),
        dev = span_dev,
        v2 = verdict(span_dev.abs() <= 2.0),
        cpu_n = r.cpu_records,
        cpu_runs = r.cpu_runs,
        cpu_ms = r.cpu.as_secs_f64() * 1e3,
        us = us_per_record,
        user_us = r.cpu_user.as_secs_f64() * 1e6 / r.cpu_records as f64,
        sys_us = (r.cpu - r.cpu_user).as_secs_f64() * 1e6 / r.cpu_records as f64,
        v3 = verdict(us_per_record <= 20.0),
        floor_us = floor_us,
        floor_user_us = r.floor_user.as_secs_f64() * 1e6 / r.cpu_records as f64,
        floor_sys_us = (r.floor - r.floor_user).as_secs_f64() * 1e6 / r.cpu_records as f64,
        floor_x = us_per_record / floor_us,
        tenth = r.cpu_records / 10,
        instructions = r.instructions.map_or(
            "not measured (valgrind not installed)".to_string(),
            |i| format!("{:.0}", i)
        ),
        rss = rss_mb,
        v4 = verdict(rss_mb <= 20.0),
        v5 = size_ok.map_or("-", verdict),
        huge = r.huge_answer_rss_kb as f64 / 1024.0,
        v6 = verdict(r.huge_answer_rss_kb as f64 / 1024.0 <= 64.0),
        json_mb = r.json_event_rss_kb as f64 / 1024.0,
        v7 = verdict(r.json_event_rss_kb as f64 / 1024.0 <= 64.0),
    )
}
