//! sns-to-slack: SNS notifications to Slack Incoming Webhooks, never losing one.
//!
//! The flow, one module a step:
//! SNS or SQS event, or dead letter ([`record`]: one reader for every body) ->
//! kind, status and what it says, a target-neutral [`notice`] ([`kinds`]) ->
//! routes ([`route`]) -> Slack message ([`render`]: Block Kit, or the Go
//! sample's layout), together the [`plan`] -> delivery under the limiter, retry
//! policy and deadline ([`delivery`], [`budget`]) to the named [`destination`]s
//! (the webhook client, the secret table) -> outcomes ->
//! [`settle`]: dead letters ([`dead_letter`]), batch item failures, [`summary`]
//! -> [`metrics`]. The [`pipeline`] runs those steps for the Lambda handler
//! ([`lambda`]) and the command line ([`cli`]).

pub mod app_delivery; // app destinations: read the thread, post/reply/update/react, save it
pub mod app_message; // what an app job posts: the message, its thread event, the original updated (pure)
pub mod budget; // time left before the deadline, minus the margin (pure)
pub mod cli; // `send`, and the exit codes
pub mod compose; // each destination's posts -> own messages, digests, folded ones: the jobs (pure)
pub mod config; // typed configuration from the environment
pub mod dead_letter; // the envelope, the DeadLetter port, SQS and file adapters
pub mod delivery; // concurrent delivery: limiter, retry policy, deadline
pub mod destination; // named destinations: the table, webhook URL + client, secrets adapter
pub mod group; // one invocation's notices per destination -> own, digest or collapsed (pure)
pub mod kinds; // notification -> kind, status and notice, one file per family (pure)
pub mod lambda; // the Lambda handler and its start-up
pub mod lifecycle; // threads: post new, reply, update the original, react (pure)
pub mod metrics; // CloudWatch EMF documents; the one list of metric names (pure)
pub mod notice; // the target-neutral notice and its identity (pure)
pub mod once; // posted once: claim each (record, destination) before, mark or release after
pub mod outcome; // Reason, Failure, Outcome: what became of a record (pure)
pub mod pipeline; // the runner: plan -> deliver -> settle -> store, for Lambda, `send`, `redrive`
pub mod plan; // records -> posts, drops, failures; the jobs to deliver (pure)
pub mod post; // claim -> compose -> deliver (webhooks, Slack apps) -> mark: shared by Lambda, send, redrive
pub mod record; // SNS and SQS events, dead letters: one reader for every record and body (pure)
pub mod redact; // what an error may show of a value: names quoted, secrets described (pure)
pub mod redrive; // dead letters posted again: SQS and file sources
pub mod render; // notice -> Slack payload: Block Kit, the Go layout; limits, escaping (pure)
pub mod route; // ROUTES: record facts -> webhook names, drop, or unrouted (pure)
pub mod settle; // outcomes -> dead letters, batch item failures, summary (pure)
pub mod severity; // one severity scale across kinds, for min_severity (pure)
pub mod state; // the state port (claims, threads, the shared rate schedule): DynamoDB and in-memory adapters
pub mod summary; // what an event came to: the counts (pure data)
pub mod telemetry; // the log subscriber and the function's buffered stdout
pub mod web_api; // the Slack Web API client for app destinations; answers classified (pure)
pub mod window; // `during` windows: weekdays and local hours in an IANA zone (pure)
