//! The integration tests, one binary (one link instead of ten): each module
//! is one area, run against the real binary, real loopback servers (wiremock,
//! `moto_server`, a Runtime API) or the pipeline on tokio's paused clock.
//! `tests/support` holds what they share (also read by `examples/bench.rs`),
//! `support::fake_slack` the one fake Slack behind the `Post` port; fixtures
//! and goldens stay in `tests/fixtures` and `tests/golden`.

mod app_delivery;
mod cli;
mod dead_letter_sqs;
mod delivery;
mod explain;
mod format;
mod lambda_e2e;
mod lifecycle_e2e;
mod properties;
mod redrive;
mod routing;
mod shared_schedule;
mod state;
#[path = "../support/mod.rs"]
mod support;
mod template;
mod tls;
mod web_api;
