#!/usr/bin/env python3
"""Simulates the Buffered delivery mode end to end; run it through scripts/simulate.

For each N (the event source's MaximumConcurrency) one independent world:

  moto_server    SNS topic --(raw delivery off)--> SQS buffer --(RedrivePolicy,
                 maxReceiveCount)--> dead-letter queue
  N pollers      each behaves like one concurrent invocation of Lambda's SQS
                 event source: receive up to BatchSize (attributes included),
                 invoke the function, delete what it did not list in
                 batchItemFailures, leave the listed ones (and the whole batch
                 when the invocation failed) for SQS to deliver again after the
                 visibility timeout
  N functions    the real binary, one process per poller, each on its own
                 loopback Lambda Runtime API (as in tests/support/mod.rs), with
                 FUNCTION_CONCURRENCY = N and MAX_RECEIVES = maxReceiveCount
  Slack sink     loopback; per webhook a GCRA of 1 post/s with a short burst;
                 beyond it 429 + Retry-After (whole seconds, as Slack sends)

With `--state-table` (or `--state-table only`), each N runs twice: as above, and with a DynamoDB state table
(moto's, `STATE_TABLE` set on every function process), where every post reserves
its slot in one schedule shared by all processes (one conditional write per post).

With `--burst N` (the storm of #21), two worlds run side by side: the default
`DIGEST_AFTER` and `DIGEST_AFTER=off`. N mixed notifications (GuardDuty
findings, CloudWatch alarms flapping ALARM/OK, exact duplicates) are published
within 10 s, the pollers wait up to `--batch-window` (5) s to fill a batch of
`--batch-size` (100), and each world reports how long after the last publish
every notification was visible in a post, the posts made, 429s and lost.

A burst of notifications is published at once; the run ends when the buffer is
empty (every notification posted or dead-lettered) or at a time limit. Reported:
delivered, dead-lettered, lost (neither: must be 0), duplicates, 429s, the most
posts in any 1-second window (accepted, and arrived) against what the sink
allows, and the time to drain.

Written in Python because moto and boto3 are Python and the pieces are small
HTTP servers; the binary under test is the real one.
"""
from __future__ import annotations

import argparse
import datetime
import http.server
import json
import math
import os
import pathlib
import platform
import queue
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field

import boto3
from botocore.config import Config as BotoConfig

ROOT = pathlib.Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ID_PATTERN = re.compile(r"sim-\d{5}")
STATE_ERRORS = re.compile(r'"StateErrors":(\d+)')
SECTION = "## Buffered mode: a burst through the whole path (`scripts/simulate`)"
BURST_SECTION = "## Storms: a mixed burst with and without digests (`scripts/simulate --burst`)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# The mixed storm of --burst
# --------------------------------------------------------------------------

# (type, severity, title): GuardDuty findings as EventBridge sends them through SNS.
FINDINGS = [
    ("UnauthorizedAccess:EC2/SSHBruteForce", 8, "198.51.100.23 is performing SSH brute force attacks against {instance}"),
    ("Recon:EC2/PortProbeUnprotectedPort", 2, "Unprotected port on EC2 instance {instance} is being probed"),
    ("CryptoCurrency:EC2/BitcoinTool.B!DNS", 5, "EC2 instance {instance} is querying a domain name associated with Bitcoin"),
    ("Trojan:EC2/DNSDataExfiltration", 8, "Data exfiltration through DNS queries from EC2 instance {instance}"),
]
# Alarm names (none a prefix of another): each flaps ALARM/OK through the storm.
ALARMS = ["orders-api-5xx", "orders-db-cpu", "jobs-queue-age", "logs-disk-free", "edge-latency-p99"]


@dataclass
class Note:
    """One notification of the storm: `id` is what the sink looks for."""

    id: str
    subject: str
    message: str
    alarm: str | None = None  # the alarm's name, for an alarm state


def burst_notifications(n: int, seed: int = 21) -> list[Note]:
    """`n` publishes: ~65 % GuardDuty findings, ~30 % alarm states, ~5 % exact duplicates.

    A duplicate is an earlier note published again (same subject and message,
    so the same id); every other note has its own `sim-NNNNN` id, in the
    finding's title or the alarm state's reason, so its headline carries it.
    Deterministic for a given seed.
    """
    rng = random.Random(seed)
    base = datetime.datetime(2026, 12, 1, 11, 0, tzinfo=datetime.timezone.utc)
    state = {name: "OK" for name in ALARMS}
    notes: list[Note] = []
    for k in range(n):
        sim = f"sim-{k:05d}"
        at = base + datetime.timedelta(milliseconds=10 * k)
        if notes and rng.random() < 0.05:
            notes.append(rng.choice(notes))
        elif rng.random() < 0.3:
            name = rng.choice(ALARMS)
            old, new = state[name], "ALARM" if state[name] == "OK" else "OK"
            state[name] = new
            stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"
            verb = "greater than" if new == "ALARM" else "not greater than"
            alarm = {
                "AlarmName": name,
                "AlarmDescription": f"{name} above its threshold for 5 minutes",
                "AWSAccountId": "123456789012",
                "AlarmConfigurationUpdatedTimestamp": "2026-11-20T08:00:00.000+0000",
                "NewStateValue": new,
                "NewStateReason": f"Threshold Crossed ({sim}): 1 out of the last 1 datapoints was {verb} the threshold (1.0).",
                "StateChangeTime": stamp,
                "Region": "US East (N. Virginia)",
                "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
                "OldStateValue": old,
                "OKActions": [],
                "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:alerts"],
                "InsufficientDataActions": [],
                "Trigger": {
                    "MetricName": "5XXError",
                    "Namespace": "AWS/ApiGateway",
                    "StatisticType": "Statistic",
                    "Statistic": "AVERAGE",
                    "Unit": None,
                    "Dimensions": [{"value": "orders-api", "name": "ApiName"}],
                    "Period": 300,
                    "EvaluationPeriods": 1,
                    "DatapointsToAlarm": 1,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "Threshold": 1.0,
                    "TreatMissingData": "missing",
                    "EvaluateLowSampleCountPercentile": "",
                },
            }
            subject = f'{new}: "{name}" in US East (N. Virginia)'
            notes.append(Note(sim, subject, json.dumps(alarm), alarm=name))
        else:
            kind, severity, title = rng.choice(FINDINGS)
            instance = f"i-0{rng.randrange(16**16):016x}"
            finding_id = uuid.UUID(int=rng.getrandbits(128)).hex
            arn = (
                "arn:aws:guardduty:eu-west-1:210987654321:detector/5ab1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
                f"/finding/{finding_id}"
            )
            stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
            headline = f"{title.format(instance=instance)} ({sim})."
            event = {
                "version": "0",
                "id": str(uuid.UUID(int=rng.getrandbits(128))),
                "detail-type": "GuardDuty Finding",
                "source": "aws.guardduty",
                "account": "210987654321",
                "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": "eu-west-1",
                "resources": [],
                "detail": {
                    "schemaVersion": "2.0",
                    "accountId": "210987654321",
                    "region": "eu-west-1",
                    "partition": "aws",
                    "id": finding_id,
                    "arn": arn,
                    "type": kind,
                    "resource": {
                        "resourceType": "Instance",
                        "instanceDetails": {
                            "instanceId": instance,
                            "instanceType": "t3.medium",
                            "availabilityZone": "eu-west-1b",
                        },
                    },
                    "service": {
                        "serviceName": "guardduty",
                        "detectorId": "5ab1c2d3e4f5a6b7c8d9e0f1a2b3c4d5",
                        "action": {"actionType": "NETWORK_CONNECTION"},
                        "eventFirstSeen": stamp,
                        "eventLastSeen": stamp,
                        "archived": False,
                        "count": 1,
                    },
                    "severity": severity,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "title": headline,
                    "description": f"{headline} Simulated by scripts/simulate --burst.",
                },
            }
            notes.append(Note(sim, "", json.dumps(event)))
    return notes


# --------------------------------------------------------------------------
# The Slack sink
# --------------------------------------------------------------------------


class SlackSink:
    """Loopback Slack: per webhook path a GCRA limiter of `rate`/s with `burst`.

    A post within the limit gets 200 "ok" and counts as delivered; one beyond it
    gets 429 with Retry-After in whole seconds (rounded up), as Slack answers.
    """

    def __init__(self, rate: float, burst: int):
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self.rate, self.burst = rate, burst
        self.lock = threading.Lock()
        self.tat: dict[str, float] = {}  # webhook path -> theoretical arrival time
        self.accepted: list[tuple[float, list[str]]] = []  # (time, ids in the post)
        self.arrived: list[float] = []
        self.bodies: list[str] = []  # the accepted posts' bodies, as `accepted`
        self.rate_limited = 0
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, answer = sink.answer(self.path, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/services/T0SIM/B0SIM/simulatedsecret"

    def answer(self, path: str, body: bytes):
        now = time.monotonic()
        text = body.decode("utf-8", "replace")
        ids = sorted(set(ID_PATTERN.findall(text)))
        with self.lock:
            self.arrived.append(now)
            tat = max(self.tat.get(path, now), now)
            allowed_at = tat - self.tolerance
            if now < allowed_at:
                self.rate_limited += 1
                wait = max(1, math.ceil(allowed_at - now))
                return 429, {"Retry-After": str(wait)}, b"rate_limited"
            self.tat[path] = tat + self.interval
            self.accepted.append((now, ids))
            self.bodies.append(text)
        return 200, {}, b"ok"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def most_in_one_second(times: list[float]) -> int:
    """The most events in any half-open window [t, t + 1 s)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


# --------------------------------------------------------------------------
# A Lambda Runtime API for one function process
# --------------------------------------------------------------------------


class RuntimeApi:
    """Hands one invocation at a time to the function and collects its answer."""

    def __init__(self, function_timeout: float):
        self.function_timeout = function_timeout
        self.pending: queue.Queue = queue.Queue()
        self.answers: dict[str, queue.Queue] = {}
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.init_errors: list[bytes] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def reply(self, status: int, body: bytes = b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404)
                while not api.closed.is_set():
                    try:
                        request_id, payload = api.pending.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    deadline_ms = int((time.time() + api.function_timeout) * 1000)
                    return self.reply(
                        200,
                        payload,
                        {
                            "Content-Type": "application/json",
                            "Lambda-Runtime-Aws-Request-Id": request_id,
                            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:sns-to-slack",
                            "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                        },
                    )
                # Shutting down: hold the poll as Lambda does between invocations.
                time.sleep(3600)

            def do_POST(self):
                body = self.body()
                parts = self.path.split("/")
                # ["", "2018-06-01", "runtime", "invocation", id, "response"|"error"]
                if len(parts) == 6 and parts[3] == "invocation":
                    with api.lock:
                        answer = api.answers.get(parts[4])
                    if answer is not None:
                        answer.put((parts[5] == "response", body))
                    return self.reply(202, b'{"status":"OK"}')
                if self.path.endswith("/runtime/init/error"):
                    api.init_errors.append(body)
                    return self.reply(202, b'{"status":"OK"}')
                return self.reply(404)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def invoke(self, payload: bytes, wait: float):
        """(ok, body) of the function's answer, or None if none came in `wait` s."""
        request_id = str(uuid.uuid4())
        answer: queue.Queue = queue.Queue()
        with self.lock:
            self.answers[request_id] = answer
        self.pending.put((request_id, payload))
        try:
            return answer.get(timeout=wait)
        except queue.Empty:
            return None
        finally:
            with self.lock:
                del self.answers[request_id]

    def close(self):
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------
# One world: moto, queues, sink, N pollers with their functions
# --------------------------------------------------------------------------


@dataclass
class Settings:
    notifications: int
    concurrency: int
    batch_size: int
    max_receives: int
    function_timeout: float
    visibility_timeout: int
    rate: float
    sink_rate: float
    sink_burst: int
    rate_burst: int
    time_limit: float
    binary: str
    state_table: bool = False
    batch_window: float = 0.0  # seconds a poller waits to fill a batch (BatchWindowSeconds)
    burst: bool = False  # publish the mixed storm (burst_notifications), not plain texts
    digest_after: str | None = None  # DIGEST_AFTER of the functions; None: unset (default)

    @property
    def label(self) -> str:
        table = " table" if self.state_table else ""
        digest = f" DIGEST_AFTER={self.digest_after}" if self.digest_after else ""
        return f"N={self.concurrency} rate={self.rate:g}{table}{digest}"

    @property
    def key(self) -> tuple:
        return (self.concurrency, self.rate, self.state_table, self.digest_after)


@dataclass
class Result:
    concurrency: int
    rate: float
    state_table: bool = False
    state_errors: int = 0
    published: int = 0
    delivered: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dead_letter_reasons: dict = field(default_factory=dict)
    sqs_redriven: int = 0
    still_queued: int = 0
    lost: int = 0
    rate_limited: int = 0
    most_accepted_in_1s: int = 0
    most_arrived_in_1s: int = 0
    drain_seconds: float = 0.0
    drained: bool = False
    invocations: int = 0
    failed_invocations: int = 0
    listed: int = 0
    function_restarts: int = 0
    logs: str = ""
    # --burst only
    digest_after: str | None = None
    distinct: int = 0
    posts: int = 0
    invisible: int = 0
    visible_seconds: float | None = None  # last publish -> every notification visible


# moto's threaded server runs requests side by side without a lock, so two
# increments of one DynamoDB item can read the same value there; DynamoDB applies
# each write to an item atomically. With the state table, moto runs with its
# DynamoDB handlers behind one lock (as tests/api/shared_schedule.rs does).
ATOMIC_DYNAMODB = """
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
"""


class Moto:
    def __init__(self, atomic_dynamodb: bool = False):
        program = os.environ.get("MOTO_SERVER", "moto_server")
        port = free_port()
        command = [sys.executable, "-c", ATOMIC_DYNAMODB] if atomic_dynamodb else [program]
        self.child = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.child.poll() is not None:
                    raise SystemExit(f"moto_server ({program}) did not start")
                time.sleep(0.1)

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=BotoConfig(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def env(self) -> dict:
        return {
            "AWS_ENDPOINT_URL_SQS": self.endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def close(self):
        self.child.terminate()
        self.child.wait()


class Function:
    """The binary in Lambda mode against its own Runtime API; restarted if it exits."""

    def __init__(self, s: Settings, env: dict, log_path: pathlib.Path):
        self.settings, self.env, self.log_path = s, env, log_path
        self.api = RuntimeApi(s.function_timeout)
        self.restarts = 0
        self.child = None
        self.start()

    def start(self):
        log = open(self.log_path, "ab")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": "sns-to-slack",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_LEVEL": "info",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            **self.env,
        }
        self.child = subprocess.Popen(
            [self.settings.binary], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        log.close()

    def invoke(self, payload: bytes):
        if self.child.poll() is not None:
            self.restarts += 1
            self.start()
        # A little beyond the deadline: the function answers by then or has hung.
        return self.api.invoke(payload, self.settings.function_timeout + 10)

    def close(self):
        self.child.terminate()
        try:
            self.child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        self.api.close()


def sqs_event(messages: list[dict], queue_arn: str) -> bytes:
    """The event Lambda's SQS event source sends for these received messages."""
    records = []
    for m in messages:
        attributes = {
            k: v
            for k, v in m.get("Attributes", {}).items()
            if k
            in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
            )
        }
        message_attributes = {
            name: {
                "stringValue": a.get("StringValue"),
                "binaryValue": None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": a.get("DataType", "String"),
            }
            for name, a in m.get("MessageAttributes", {}).items()
        }
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        )
    return json.dumps({"Records": records}).encode()


class Poller(threading.Thread):
    """One concurrent invocation slot of Lambda's SQS event source."""

    def __init__(self, world: "World", function: Function):
        super().__init__(daemon=True)
        self.world, self.function = world, function
        self.sqs = world.moto.client("sqs")
        self.busy = False
        self.invocations = self.failed = self.listed = 0

    def run(self):
        w = self.world
        while not w.stop.is_set():
            got = self.sqs.receive_message(
                QueueUrl=w.buffer_url,
                MaxNumberOfMessages=min(w.settings.batch_size, 10),
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                continue
            self.busy = True
            got += self.fill(len(got))
            try:
                self.handle(got)
            finally:
                self.busy = False

    def fill(self, have: int) -> list[dict]:
        """More messages for this batch: Lambda's batching window.

        The event source waits up to BatchWindowSeconds for a batch of
        BatchSize; SQS answers at most 10 per receive, so this loops.
        """
        w = self.world
        window, size = w.settings.batch_window, w.settings.batch_size
        more: list[dict] = []
        deadline = time.monotonic() + window
        while have + len(more) < size and not w.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = self.sqs.receive_message(
                QueueUrl=w.buffer_url,
                MaxNumberOfMessages=min(size - have - len(more), 10),
                WaitTimeSeconds=1 if left >= 1 else 0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got and left < 1:
                time.sleep(min(left, 0.2))
            more += got
        return more

    def handle(self, messages: list[dict]):
        w = self.world
        self.invocations += 1
        answer = self.function.invoke(sqs_event(messages, w.buffer_arn))
        ids = {m["MessageId"] for m in messages}
        if answer is None or not answer[0]:
            # The invocation failed: the event source deletes nothing.
            self.failed += 1
            return
        try:
            failures = json.loads(answer[1])["batchItemFailures"]
            listed = {f["itemIdentifier"] for f in failures}
        except (ValueError, KeyError, TypeError):
            # An unreadable answer fails the whole batch, as Lambda does.
            self.failed += 1
            return
        if not listed <= ids:
            self.failed += 1
            return
        self.listed += len(listed)
        done = [m for m in messages if m["MessageId"] not in listed]
        for i in range(0, len(done), 10):
            chunk = done[i : i + 10]
            self.sqs.delete_message_batch(
                QueueUrl=w.buffer_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(chunk)
                ],
            )


class World:
    def __init__(self, s: Settings, log_dir: pathlib.Path):
        self.settings = s
        self.stop = threading.Event()
        self.moto = Moto(atomic_dynamodb=s.state_table)
        sqs, sns = self.moto.client("sqs"), self.moto.client("sns")
        self.dlq_url = sqs.create_queue(QueueName="sns-to-slack-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.buffer_url = sqs.create_queue(
            QueueName="sns-to-slack-buffer",
            Attributes={
                "VisibilityTimeout": str(s.visibility_timeout),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": s.max_receives}
                ),
            },
        )["QueueUrl"]
        self.buffer_arn = sqs.get_queue_attributes(
            QueueUrl=self.buffer_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.topic_arn = sns.create_topic(Name="sns-to-slack")["TopicArn"]
        sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=self.buffer_arn,
            Attributes={"RawMessageDelivery": "false"},
        )
        self.sink = SlackSink(s.sink_rate, s.sink_burst)
        env = {
            **self.moto.env(),
            "WEBHOOK_URL": self.sink.url,
            "DEAD_LETTER_QUEUE_URL": self.dlq_url,
            "RATE_PER_SECOND": str(s.rate),
            "RATE_BURST": str(s.rate_burst),
            "MAX_RECEIVES": str(s.max_receives),
            "FUNCTION_CONCURRENCY": str(s.concurrency),
            "METRICS_SERVICE": "simulate",
        }
        if s.digest_after is not None:
            env["DIGEST_AFTER"] = s.digest_after
        if s.state_table:
            self.moto.client("dynamodb").create_table(
                TableName="sns-to-slack-state",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            env["STATE_TABLE"] = "sns-to-slack-state"
        table = "-table" if s.state_table else ""
        digest = f"-digest{s.digest_after}" if s.digest_after else ""
        self.log_paths = [
            log_dir / f"function-N{s.concurrency}-rate{s.rate:g}{table}{digest}-{i}.log"
            for i in range(s.concurrency)
        ]
        self.functions = [Function(s, env, path) for path in self.log_paths]
        self.pollers = [Poller(self, f) for f in self.functions]

    def publish_burst(self) -> list[str]:
        """Publishes the mixed storm within 10 s; records when each id was first published."""
        sns = self.moto.client("sns")
        notes = burst_notifications(self.settings.notifications)
        self.notes = notes
        self.published_at: dict[str, float] = {}
        batches = [notes[i : i + 10] for i in range(0, len(notes), 10)]
        start = time.monotonic()
        spread = 8.0  # seconds over which the batches go out: within 10 s
        for j, batch in enumerate(batches):
            due = start + spread * j / max(1, len(batches))
            if time.monotonic() < due:
                time.sleep(due - time.monotonic())
            sns.publish_batch(
                TopicArn=self.topic_arn,
                PublishBatchRequestEntries=[
                    {"Id": str(n), "Message": note.message, **({"Subject": note.subject} if note.subject else {})}
                    for n, note in enumerate(batch)
                ],
            )
            now = time.monotonic()
            for note in batch:
                self.published_at.setdefault(note.id, now)
        self.last_publish = time.monotonic()
        return sorted({note.id for note in notes})

    def publish(self) -> list[str]:
        if self.settings.burst:
            return self.publish_burst()
        sns = self.moto.client("sns")
        ids = [f"sim-{i:05d}" for i in range(self.settings.notifications)]
        for start in range(0, len(ids), 10):
            sns.publish_batch(
                TopicArn=self.topic_arn,
                PublishBatchRequestEntries=[
                    {
                        "Id": str(n),
                        "Subject": "simulated burst",
                        "Message": f"{i}: disk usage above 90% on i-0abc{i[4:]} (burst of {len(ids)})",
                    }
                    for n, i in enumerate(ids[start : start + 10])
                ],
            )
        return ids

    def buffer_empty(self, sqs) -> bool:
        a = sqs.get_queue_attributes(
            QueueUrl=self.buffer_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        waiting = int(a["ApproximateNumberOfMessages"]) + int(
            a["ApproximateNumberOfMessagesNotVisible"]
        )
        return waiting == 0 and not any(p.busy for p in self.pollers)

    def run(self) -> Result:
        s = self.settings
        r = Result(
            concurrency=s.concurrency, rate=s.rate, state_table=s.state_table, digest_after=s.digest_after
        )
        for p in self.pollers:
            p.start()
        sqs = self.moto.client("sqs")
        started = time.monotonic()
        ids = self.publish()
        r.published = s.notifications if s.burst else len(ids)
        log(f"{s.label}: published {r.published} ({len(ids)} distinct) in {time.monotonic() - started:.1f} s")
        last_report = started
        while time.monotonic() - started < s.time_limit:
            if self.buffer_empty(sqs):
                r.drained = True
                break
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                log(
                    f"{s.label}: {time.monotonic() - started:.0f} s, "
                    f"{len(self.sink.accepted)} posted, {self.sink.rate_limited} 429s"
                )
            time.sleep(0.5)
        r.drain_seconds = time.monotonic() - started
        self.stop.set()
        for p in self.pollers:
            p.join(timeout=s.function_timeout + 15)
        self.tally(r, ids, sqs)
        return r

    def tally(self, r: Result, ids: list[str], sqs):
        accepted_ids = [i for _, post in self.sink.accepted for i in post]
        delivered = set(accepted_ids)
        r.delivered = len(delivered)
        r.duplicates = len(accepted_ids) - len(delivered)
        r.rate_limited = self.sink.rate_limited
        r.most_accepted_in_1s = most_in_one_second([t for t, _ in self.sink.accepted])
        r.most_arrived_in_1s = most_in_one_second(self.sink.arrived)
        dead = set()
        for body, reason in drain(sqs, self.dlq_url):
            found = set(ID_PATTERN.findall(body))
            dead |= found
            if reason is None:
                # SQS's own redrive: the SNS body, without our envelope.
                r.sqs_redriven += len(found)
                reason = "sqs-redrive"
            r.dead_letter_reasons[reason] = r.dead_letter_reasons.get(reason, 0) + len(found)
        r.dead_lettered = len(dead - delivered)
        queued = set()
        for body, _ in drain(sqs, self.buffer_url):
            queued |= set(ID_PATTERN.findall(body))
        r.still_queued = len(queued - delivered - dead)
        r.lost = len(set(ids) - delivered - dead - queued)
        r.invocations = sum(p.invocations for p in self.pollers)
        r.failed_invocations = sum(p.failed for p in self.pollers)
        r.listed = sum(p.listed for p in self.pollers)
        r.function_restarts = sum(f.restarts for f in self.functions)
        if self.settings.burst:
            self.tally_burst(r, ids, dead | queued)
        # The functions' EMF lines: state table calls that failed (fallbacks).
        for path in self.log_paths:
            text = path.read_text(errors="replace") if path.exists() else ""
            r.state_errors += sum(int(n) for n in STATE_ERRORS.findall(text))

    def tally_burst(self, r: Result, ids: list[str], accounted: set[str]):
        """Visibility of each distinct notification in the posts the sink accepted.

        A finding (and its duplicate) is visible once a post carries its id. An
        alarm state is visible once a post carries its id, or once a post
        accepted after it was published names its alarm: a folded or later
        message about the alarm shows the alarm's newest state, which supersedes
        the earlier ones.
        """
        r.distinct = len(ids)
        r.posts = len(self.sink.accepted)
        posts = list(zip(self.sink.accepted, self.sink.bodies))
        alarm_of = {n.id: n.alarm for n in self.notes if n.alarm}
        seen: dict[str, float] = {}
        for (t, found), _ in posts:
            for i in found:
                seen[i] = min(seen.get(i, t), t)
        for i, name in alarm_of.items():
            p = self.published_at[i]
            for (t, _), body in posts:
                if t >= p and name in body:
                    seen[i] = min(seen.get(i, t), t)
                    break
        missing = [i for i in ids if i not in seen]
        r.invisible = len(missing)
        # Not visible, not dead-lettered, not still queued.
        r.lost = len(set(missing) - accounted)
        if not missing and seen:
            r.visible_seconds = max(0.0, max(seen.values()) - self.last_publish)

    def close(self):
        self.stop.set()
        for f in self.functions:
            f.close()
        self.sink.close()
        self.moto.close()


def drain(sqs, url: str):
    """Every message left in the queue (received and deleted): (body, reason attribute)."""
    while True:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not got:
            return
        for m in got:
            reason = m.get("MessageAttributes", {}).get("reason", {}).get("StringValue")
            yield m["Body"], reason
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def log(text: str):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}"


def table(results: list[Result], s: Settings) -> str:
    allowed = s.sink_burst  # GCRA: at most `burst` posts in any [t, t + 1 s)
    rows = [
        "| N (MaximumConcurrency) | `RATE_PER_SECOND` | `STATE_TABLE` | published | delivered | dead-lettered | lost | duplicates "
        "| 429s | most posts in any 1 s: accepted / arrived (sink allows) | time to drain "
        "| invocations (failed) | records listed for redelivery |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.dead_letter_reasons.items()))
        drain = f"{r.drain_seconds:.0f} s" if r.drained else f"not drained in {r.drain_seconds:.0f} s ({r.still_queued} queued)"
        rows.append(
            f"| {r.concurrency} | {r.rate:g} | {table_cell(r)} | {r.published} | {r.delivered} | {r.dead_lettered}"
            f"{f' ({reasons})' if reasons else ''} | **{r.lost}** | {r.duplicates} | {r.rate_limited} "
            f"| {r.most_accepted_in_1s} / {r.most_arrived_in_1s} ({allowed}) | {drain} "
            f"| {r.invocations} ({r.failed_invocations}) | {r.listed} |"
        )
    return "\n".join(rows)


def table_cell(r: Result) -> str:
    if not r.state_table:
        return "off"
    if not r.state_errors:
        return "on"
    return f"on ({r.state_errors} state error{'' if r.state_errors == 1 else 's'})"


def section(results: list[Result], s: Settings, profile: str) -> str:
    floor = (s.notifications - s.sink_burst) / s.sink_rate
    return f"""{SECTION}

Measured by `scripts/simulate` ({profile} binary) on: {machine()}, {datetime.date.today()}.
A burst of {s.notifications} notifications published at once to moto's SNS topic, delivered
(raw delivery off) to moto's SQS buffer (visibility {s.visibility_timeout} s, redrive to the
dead-letter queue at {s.max_receives} receives); N pollers behave like Lambda's event source
(batches of up to {s.batch_size}, one function process each, deadline {s.function_timeout:.0f} s,
`ReportBatchItemFailures`); the functions run with `RATE_PER_SECOND` as in the table,
`RATE_BURST={s.rate_burst}`, `FUNCTION_CONCURRENCY=N`, `MAX_RECEIVES={s.max_receives}`, and
`STATE_TABLE` as in the table (on: moto's DynamoDB, one schedule for all N processes); the Slack
sink accepts {s.sink_rate:g} post/s per webhook with a burst of {s.sink_burst} and answers
429 + `Retry-After` beyond it. Lost = published but neither posted nor dead-lettered nor
still queued. Time to drain runs from the first publish until the buffer is empty;
the fastest any sender can drain the burst through this sink is
({s.notifications} - {s.sink_burst}) / {s.sink_rate:g} = {floor:.0f} s.

{table(results, s)}
"""


def burst_table(results: list[Result]) -> str:
    rows = [
        "| `DIGEST_AFTER` | published (distinct) | visible | seconds from the last publish until every notification is visible "
        "| posts made | 429s | dead-lettered | still queued | lost | time to drain |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        seconds = f"{r.visible_seconds:.0f} s" if r.visible_seconds is not None else f"not all visible ({r.invisible} not)"
        drain = f"{r.drain_seconds:.0f} s" if r.drained else f"not drained in {r.drain_seconds:.0f} s"
        rows.append(
            f"| {r.digest_after or 'default (5)'} | {r.published} ({r.distinct}) | {r.distinct - r.invisible} "
            f"| **{seconds}** | {r.posts} | {r.rate_limited} | {r.dead_lettered} | {r.still_queued} | **{r.lost}** | {drain} |"
        )
    return "\n".join(rows)


def burst_section(results: list[Result], s: Settings, profile: str, command: str) -> str:
    return f"""{BURST_SECTION}

Measured by `{command}` ({profile} binary) on: {machine()}, {datetime.date.today()}.
Two worlds side by side in one run, the same as `scripts/simulate`'s (moto SNS -> SQS buffer ->
N = {s.concurrency} pollers -> the real function -> a Slack sink of {s.sink_rate:g} post/s with a burst
of {s.sink_burst}, 429 + `Retry-After` beyond it), one with the default `DIGEST_AFTER` and one with
`DIGEST_AFTER=off`. The pollers emulate the template's `BatchSize` {s.batch_size} and
`BatchWindowSeconds` {s.batch_window:g}: each waits up to {s.batch_window:g} s to fill a batch of up to
{s.batch_size} (SQS answers at most 10 per receive, so it loops). Functions: `RATE_PER_SECOND={s.rate:g}`,
`RATE_BURST={s.rate_burst}`, `FUNCTION_CONCURRENCY={s.concurrency}`, `MAX_RECEIVES={s.max_receives}`,
deadline {s.function_timeout:.0f} s; buffer visibility {s.visibility_timeout} s.

The storm: {s.notifications} publishes within 10 s (batches of 10 spread over 8 s): about 65 % GuardDuty
findings (EventBridge JSON; 4 types, severities 2/5/8), 30 % CloudWatch alarm states of 5 alarms that
flap ALARM/OK (distinct `StateChangeTime` each), 5 % exact duplicates (an earlier message published
again). Every distinct notification has a `sim-NNNNN` id in its headline (the finding's title, the
alarm state's reason); a duplicate carries its original's. **Visible**: a finding once an accepted post
carries its id; an alarm state once an accepted post carries its id, or once a post accepted after it
was published names its alarm (a folded or later message shows the alarm's newest state, which
supersedes the earlier ones). Posts made = posts the sink accepted. Lost = neither visible nor
dead-lettered nor still queued. Target (#21): every notification visible within 60 s of the last
publish, at most 60 posts, 0 lost, 0 429s.

{burst_table(results)}
"""


def write_benchmarks(text: str, heading: str = SECTION):
    """Replaces (or appends) the section under `heading` of BENCHMARKS.md, keeping the rest."""
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    start = current.find(heading)
    if start == -1:
        current = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(heading))
        rest = current[end + 1 :] if end != -1 else ""
        current = current[:start] + text + ("\n" + rest if rest else "")
    path.write_text(current)
    log(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="the sns-to-slack binary")
    ap.add_argument("--quick", action="store_true", help="40 notifications; no BENCHMARKS.md")
    ap.add_argument("--notifications", type=int)
    ap.add_argument(
        "--burst",
        type=int,
        metavar="N",
        help="the storm of #21: N mixed notifications (findings, flapping alarms, duplicates) within "
        "10 s, run side by side with default digests and DIGEST_AFTER=off; BatchSize 100, "
        "BatchWindowSeconds 5, N = 2 unless given; writes its own section of BENCHMARKS.md",
    )
    ap.add_argument("--batch-window", type=float, help="BatchWindowSeconds (default 0; --burst: 5)")
    ap.add_argument(
        "--concurrency",
        help="values of N, comma-separated; N@R runs N with RATE_PER_SECOND R "
        "(default 2,5,5@0.9; --quick: 2,5)",
    )
    ap.add_argument("--batch-size", type=int, help="BatchSize (default 10; --burst: 100)")
    ap.add_argument("--max-receives", type=int, default=5)
    ap.add_argument("--function-timeout", type=float, default=60.0, help="seconds (template default 60)")
    ap.add_argument(
        "--visibility-timeout",
        type=int,
        default=90,
        help="seconds; shorter than the template's 10x Timeout so listed records return quickly",
    )
    ap.add_argument("--rate", type=float, default=1.0, help="RATE_PER_SECOND of the function")
    ap.add_argument("--rate-burst", type=int, default=1, help="RATE_BURST of the function")
    ap.add_argument("--sink-rate", type=float, default=1.0, help="posts/s the sink accepts per webhook")
    ap.add_argument("--sink-burst", type=int, default=3, help="posts the sink accepts back to back")
    ap.add_argument("--time-limit", type=float, help="seconds per run before giving up")
    ap.add_argument("--sequential", action="store_true", help="one N after the other (default: at once)")
    ap.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    ap.add_argument(
        "--state-table",
        nargs="?",
        const="both",
        choices=["both", "only"],
        help="both: run each N twice, without and with a state table (STATE_TABLE on moto's "
        "DynamoDB); only: with it alone",
    )
    args = ap.parse_args()

    if args.burst and (args.quick or args.state_table or args.notifications):
        raise SystemExit("--burst takes neither --quick, --state-table nor --notifications")
    notifications = args.burst or args.notifications or (40 if args.quick else 1000)
    batch_size = args.batch_size or (100 if args.burst else 10)
    batch_window = args.batch_window if args.batch_window is not None else (5.0 if args.burst else 0.0)
    time_limit = args.time_limit or (notifications / args.sink_rate * 2 + 300)
    binary = str(pathlib.Path(args.binary).resolve())
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"{binary} is missing: run scripts/simulate (it builds it)")
    profile = pathlib.Path(binary).parent.name
    runs = []  # (N, RATE_PER_SECOND)
    default_runs = "2" if args.burst else "2,5" if args.quick else "2,5,5@0.9"
    for item in (args.concurrency or default_runs).split(","):
        n, _, rate = item.partition("@")
        runs.append((int(n), float(rate) if rate else args.rate))
    settings = [
        Settings(
            notifications=notifications,
            concurrency=n,
            batch_size=batch_size,
            batch_window=batch_window,
            burst=bool(args.burst),
            digest_after=digest,
            max_receives=args.max_receives,
            function_timeout=args.function_timeout,
            visibility_timeout=args.visibility_timeout,
            rate=rate,
            sink_rate=args.sink_rate,
            sink_burst=args.sink_burst,
            rate_burst=args.rate_burst,
            time_limit=time_limit,
            binary=binary,
            state_table=table,
        )
        for n, rate in runs
        for table in {None: (False,), "both": (False, True), "only": (True,)}[args.state_table]
        for digest in ((None, "off") if args.burst else (None,))
    ]
    log_dir = pathlib.Path(tempfile.mkdtemp(prefix="simulate-"))
    log(f"{notifications} notifications for (N, rate) = {runs}; function logs in {log_dir}")

    results: dict[tuple, Result] = {}
    errors: list[BaseException] = []

    def one(s: Settings):
        world = None
        try:
            world = World(s, log_dir)
            results[s.key] = world.run()
        except BaseException as e:  # reported below; the other runs go on
            errors.append(e)
            log(f"{s.label}: {e!r}")
        finally:
            if world is not None:
                world.close()

    if args.sequential:
        for s in settings:
            one(s)
    else:
        threads = [threading.Thread(target=one, args=(s,)) for s in settings]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]

    ordered = [results[s.key] for s in settings]
    if args.burst:
        argv = sys.argv[1:]
        if "--binary" in argv:
            at = argv.index("--binary")
            del argv[at : at + 2]
        command = " ".join(["scripts/simulate", *argv])
        text = burst_section(ordered, settings[0], profile, command)
    else:
        text = section(ordered, settings[0], profile)
    print(text)
    if not args.quick and not args.no_write:
        write_benchmarks(text, BURST_SECTION if args.burst else SECTION)
    # --burst: the DIGEST_AFTER=off world is the comparison; it may not drain in the time limit.
    bad = [r for r in ordered if r.lost or not (r.drained or args.burst)]
    if bad:
        log(f"FAILED: lost or not drained for {[(r.concurrency, r.rate, r.state_table) for r in bad]}")
        return 1
    if not all(r.delivered for r in ordered):
        log("FAILED: nothing was posted (does the binary accept SQS events?)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
