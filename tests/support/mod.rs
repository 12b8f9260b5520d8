//! Real loopback servers for the integration tests: `moto_server` for SQS, a
//! Lambda Runtime API on wiremock, a TCP server that resets connections, and
//! helpers to read fixtures and wait for outcomes.

pub mod fake_slack;

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A secret-looking webhook path; tests assert it never shows up in output.
pub const SECRET: &str = "T0000SECRET/B0000SECRET/XyZsecretTOKEN123";

/// Region and dummy credentials for SDK use against moto.
pub const REGION: &str = "us-east-1";

/// The text of a fixture under tests/fixtures.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The webhook URL on a wiremock server, with the secret path.
pub fn webhook_url(server: &MockServer) -> String {
    format!("{}/services/{SECRET}", server.uri())
}

/// A Slack webhook on loopback that gives every post `answer`.
pub async fn slack(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

/// A Slack webhook on loopback that answers every post with `status` and Slack's
/// `body` (`ok`, `channel_not_found`...).
pub async fn slack_says(status: u16, body: &str) -> MockServer {
    slack(ResponseTemplate::new(status).set_body_string(body)).await
}

/// Polls `probe` every 20 ms until it returns `Some`, failing after `limit`.
pub async fn eventually<T>(
    limit: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `moto_server` child process on a free loopback port, killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
}

impl Moto {
    /// Starts moto_server (from PATH, or `MOTO_SERVER`) and waits until it answers.
    pub async fn start() -> Self {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = free_port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} (pip install 'moto[server]'): {e}"));
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        eventually(
            Duration::from_secs(60),
            "moto_server to listen",
            async || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok(),
        )
        .await;
        moto
    }

    /// An SQS client aimed at this server with dummy credentials.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// Creates a queue and returns its URL.
    pub async fn queue(&self, name: &str) -> String {
        self.sqs()
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create_queue")
            .queue_url()
            .expect("queue url")
            .to_string()
    }

    /// Sends one message body to the queue.
    pub async fn send(&self, queue_url: &str, body: &str) {
        self.sqs()
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send_message");
    }

    /// Receives (and deletes) every message in the queue: (body, reason attribute).
    pub async fn drain(&self, queue_url: &str) -> Vec<(String, Option<String>)> {
        let sqs = self.sqs();
        let mut out = Vec::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive_message");
            let messages = got.messages();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                let reason = m
                    .message_attributes()
                    .and_then(|a| a.get("reason"))
                    .and_then(|v| v.string_value())
                    .map(str::to_string);
                out.push((m.body().unwrap_or_default().to_string(), reason));
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("delete_message");
            }
        }
    }

    /// Environment for a child process of ours to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_SQS", self.endpoint.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback TCP server that accepts connections and resets them at once.
pub fn resetting_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // Linger 0: close() sends RST instead of FIN.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            drop(stream);
        }
    });
    addr
}

/// A loopback TCP server that accepts connections and never answers (a hung
/// dependency): each connection is held open until the process ends.
pub fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// A loopback HTTP server that answers every request with `status` and a
/// body of `size` bytes, streamed (it never holds the body); the counter
/// says how many body bytes it managed to write before the client hung up.
pub fn huge_answer_server(
    status: u16,
    size: u64,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicU64>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let mut stream = stream;
                let head = format!(
                    "HTTP/1.1 {status} Whatever\r\ncontent-type: text/plain\r\ncontent-length: {size}\r\n\r\n"
                );
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b'a'; 64 * 1024];
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    if stream.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    left -= n as u64;
                }
            });
        }
    });
    (addr, written)
}

/// Runs `command` to its end and returns its exit code, its standard error
/// and its own peak resident set size in bytes (`wait4` on its pid, so other
/// tests' children running at the same time do not count).
// The child is reaped by `wait4` below, which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub fn run_with_peak_rss(mut command: std::process::Command) -> (Option<i32>, String, u64) {
    use std::io::Read;
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).ok();
        text
    });
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 writes the status and a whole rusage into the pointers
    // given; the child is ours and is reaped here, never by `Child::wait`.
    let usage = unsafe {
        assert_eq!(libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()), pid);
        usage.assume_init()
    };
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let stderr = reader.join().unwrap();
    // Linux reports ru_maxrss in KiB.
    (code, stderr, (usage.ru_maxrss as u64) * 1024)
}

/// An SQS event record, as Lambda's event source mapping hands it over, with
/// `body` received `receives` times.
pub fn sqs_record(message_id: &str, body: &str, receives: u32) -> serde_json::Value {
    serde_json::json!({
        "messageId": message_id,
        "receiptHandle": format!("handle-{message_id}"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": receives.to_string(),
            "SentTimestamp": "1790000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1790000000100"
        },
        "messageAttributes": {},
        "md5OfBody": "0",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sns-to-slack-buffer",
        "awsRegion": "us-east-1"
    })
}

/// An SNS notification as SNS writes it into a subscribed queue (raw message
/// delivery off).
pub fn sns_notification(message_id: &str, subject: &str, message: &str) -> String {
    serde_json::json!({
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:alerts",
        "Subject": subject,
        "Message": message,
        "Timestamp": "2026-11-24T09:15:02.123Z",
        "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
    })
    .to_string()
}

/// An SQS event of `records`.
pub fn sqs_event(records: Vec<serde_json::Value>) -> String {
    serde_json::json!({ "Records": records }).to_string()
}

/// One invocation served by [`RuntimeApi`].
#[derive(Clone)]
pub struct Invocation {
    /// The event payload.
    pub payload: String,
    /// Deadline relative to when the function fetches it; `None` sends 1970 as
    /// `cargo lambda watch` does.
    pub deadline_in: Option<Duration>,
}

struct NextInvocation {
    queue: Arc<Mutex<VecDeque<Invocation>>>,
    counter: Arc<Mutex<u32>>,
}

impl Respond for NextInvocation {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let Some(inv) = self.queue.lock().unwrap().pop_front() else {
            // No more work: hold the long poll, as Lambda does between invocations.
            return ResponseTemplate::new(200).set_delay(Duration::from_secs(600));
        };
        let mut n = self.counter.lock().unwrap();
        *n += 1;
        let deadline_ms = match inv.deadline_in {
            Some(d) => (SystemTime::now() + d)
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
            None => 600_000,
        };
        ResponseTemplate::new(200)
            .insert_header("Lambda-Runtime-Aws-Request-Id", format!("req-{n}").as_str())
            .insert_header(
                "Lambda-Runtime-Deadline-Ms",
                deadline_ms.to_string().as_str(),
            )
            .insert_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:sns-to-slack",
            )
            .insert_header(
                "Lambda-Runtime-Trace-Id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )
            .set_body_raw(inv.payload.into_bytes(), "application/json")
    }
}

/// A Lambda Runtime API on loopback that serves the given invocations in order.
pub struct RuntimeApi {
    /// The server; its received requests are the function's answers.
    pub server: MockServer,
}

/// What the function answered for one request id.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `req-N`.
    pub request_id: String,
    /// True for `/response`, false for `/error`.
    pub ok: bool,
    /// The JSON body.
    pub body: serde_json::Value,
    /// When the answer arrived.
    pub at: SystemTime,
}

impl RuntimeApi {
    /// Starts the server with `invocations` queued.
    pub async fn start(invocations: Vec<Invocation>) -> Self {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/2018-06-01/runtime/invocation/next"))
            .respond_with(NextInvocation {
                queue: Arc::new(Mutex::new(invocations.into())),
                counter: Arc::new(Mutex::new(0)),
            })
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(
                r"^/2018-06-01/runtime/(invocation/[^/]+/(response|error)|init/error)$",
            ))
            .respond_with(ResponseTemplate::new(202))
            .mount(&server)
            .await;
        Self { server }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.server.address().to_string()
    }

    /// Every answer so far, in arrival order.
    pub async fn answers(&self) -> Vec<Answer> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .filter_map(|r| {
                let parts: Vec<&str> = r.url.path().split('/').collect();
                // ["", "2018-06-01", "runtime", "invocation", id, kind]
                (parts.len() == 6).then(|| Answer {
                    request_id: parts[4].to_string(),
                    ok: parts[5] == "response",
                    body: serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null),
                    at: SystemTime::now(),
                })
            })
            .collect()
    }

    /// The bodies the function posted to `/runtime/init/error`, in order.
    pub async fn init_errors(&self) -> Vec<serde_json::Value> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/init/error"))
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
            .collect()
    }

    /// Waits for the function's report to `/runtime/init/error`.
    pub async fn wait_for_init_error(&self, limit: Duration) -> serde_json::Value {
        eventually(limit, "a report to /runtime/init/error", async || {
            self.init_errors().await.into_iter().next()
        })
        .await
    }

    /// Waits for `n` answers.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Answer> {
        eventually(
            limit,
            &format!("{n} answers from the function"),
            async || {
                let answers = self.answers().await;
                (answers.len() >= n).then_some(answers)
            },
        )
        .await
    }
}

/// The function binary running in Lambda mode, with output captured; killed on drop.
pub struct Function {
    child: Child,
    output: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Function {
    /// Starts `bin` (the built function) against `runtime` with `env` added.
    pub fn start(bin: &str, runtime: &RuntimeApi, env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output.log");
        let log = std::fs::File::create(&output).unwrap();
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "sns-to-slack")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_LEVEL", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start the function binary");
        Self {
            child,
            output,
            _dir: dir,
        }
    }

    /// Everything the process wrote so far (stdout and stderr).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Dead letters kept in memory (for tests on the paused clock, which must not
/// wait on real I/O).
#[derive(Default)]
pub struct Kept(pub Mutex<Vec<sns_to_slack::dead_letter::Envelope>>);

impl sns_to_slack::dead_letter::DeadLetter for Kept {
    async fn store(
        &self,
        envelopes: &[sns_to_slack::dead_letter::Envelope],
    ) -> Result<(), sns_to_slack::dead_letter::DeadLetterError> {
        self.0.lock().unwrap().extend(envelopes.iter().cloned());
        Ok(())
    }
}

/// A DynamoDB client aimed at `moto` with dummy credentials.
pub fn dynamodb(moto: &Moto) -> aws_sdk_dynamodb::Client {
    dynamodb_at(&moto.endpoint)
}

/// A DynamoDB client aimed at `endpoint` with dummy credentials.
pub fn dynamodb_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Creates a state table on `moto` as the template does: partition key `pk`
/// (String), on-demand, TTL on `expires_at`.
pub async fn state_table(moto: &Moto, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    let client = dynamodb(moto);
    client
        .create_table()
        .table_name(name)
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
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("update_time_to_live");
}

/// The environment entry that aims a child process's DynamoDB client at
/// `moto` (add it to [`Moto::env`]'s).
pub fn dynamodb_env(moto: &Moto) -> (&'static str, String) {
    ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint.clone())
}

/// A loopback Slack Web API for one thread, answering as Slack does: the
/// first `chat.postMessage` makes the original `original_ts`, later ones the
/// reply `reply_ts`; `chat.update` and `reactions.add` succeed.
pub async fn thread_web_api(original_ts: &str, reply_ts: &str) -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let posted = |ts: &str| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "ok": true, "channel": "C0123ABCD", "ts": ts,
            "message": {"type": "message", "text": "x", "ts": ts}
        }))
    };
    let slack = MockServer::start().await;
    for (route, answer, times) in [
        ("/api/chat.postMessage", posted(original_ts), Some(1)),
        ("/api/chat.postMessage", posted(reply_ts), None),
        ("/api/chat.update", posted(original_ts), None),
        (
            "/api/reactions.add",
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true})),
            None,
        ),
    ] {
        let mock = Mock::given(method("POST"))
            .and(path(route))
            .respond_with(answer);
        match times {
            Some(n) => mock.up_to_n_times(n).mount(&slack).await,
            None => mock.mount(&slack).await,
        }
    }
    slack
}
