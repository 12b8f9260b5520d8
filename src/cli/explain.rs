//! `sns-to-slack explain FILE.json`: what the function decides for each
//! record, without posting: its kind, status, tone and headline, the rule
//! that routes it, the webhooks it goes to, the mention it carries, and its
//! fate there (its own message, a digest line, folded into another's).
//!
//! It reads the same settings as the function (`WEBHOOKS`, `ROUTES`,
//! `DIGEST_AFTER`...) and runs the same plan and composition; nothing is
//! posted and nothing is stored.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};

use super::EXIT_OK;
use crate::compose::{Composition, compose};
use crate::config::{CliConfig, Config};
use crate::kinds;
use crate::notice::Tone;
use crate::plan::{self, Plan};
use crate::record::{self, Record};
use crate::route::Routing;

/// Arguments of `explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// SNS or SQS event JSON file (`-` reads standard input).
    file: PathBuf,
}

/// Runs `explain`: one JSON line per record and webhook it goes to (one line
/// for a record that goes nowhere) on standard output.
pub async fn run(args: ExplainArgs) -> anyhow::Result<u8> {
    let config = CliConfig::from_env()?.config;
    let payload = super::send::read_input(&args.file)?;
    let records =
        record::parse_event(&payload).with_context(|| format!("{}", args.file.display()))?;
    let routing = config.routing().await?;
    for line in explain(&records, routing.as_ref(), &config) {
        println!("{line}");
    }
    Ok(EXIT_OK)
}

/// The explanation of each record, as JSON lines (pure but for the rendering
/// it shares with the function). Without `routing` (no webhook configured)
/// records go nowhere and no rule applies.
pub fn explain(records: &[Record], routing: Option<&Routing>, config: &Config) -> Vec<Value> {
    let max = config.delivery.max_message_chars;
    let plans = match routing {
        Some(routing) => plan::plan(records, routing, &config.overrides, max),
        None => plan::plan_to(records, &[], &config.overrides, max),
    };
    let composition = compose(records, &plans, config.digest_after, &config.overrides, max);
    let routed = routing.is_some() && config.routes.is_some();
    let mut lines = Vec::new();
    for (r, (record, plan)) in records.iter().zip(&plans).enumerate() {
        let mut base = about(r, record, max);
        match plan {
            Plan::Post {
                to, rule, mention, ..
            } => {
                let bad = base["tone"] == Tone::Danger.as_str();
                base["rule"] = json!(rule.filter(|_| routed));
                base["to"] = json!(to.iter().map(|d| d.name.as_str()).collect::<Vec<_>>());
                base["mention"] = json!(mention.as_deref().filter(|_| bad));
                if to.is_empty() {
                    lines.push(base);
                    continue;
                }
                for (destination, fate) in to.iter().zip(fates(&composition, r)) {
                    let mut line = base.clone();
                    line["webhook"] = json!(destination.name);
                    line["fate"] = json!(fate);
                    lines.push(line);
                }
            }
            Plan::Drop { rule } => {
                base["rule"] = json!(rule);
                base["dropped"] = json!(true);
                lines.push(base);
            }
            Plan::Fail(failure) => {
                base["unrouted"] = json!(failure.reason == crate::outcome::Reason::Unrouted);
                base["reason"] = json!(failure.reason.as_str());
                base["detail"] = json!(failure.detail);
                lines.push(base);
            }
        }
    }
    lines
}

/// The fate of record `r` at each of its destinations.
fn fates(composition: &Composition, r: usize) -> impl Iterator<Item = &'static str> + '_ {
    composition.branches[r].iter().map(|b| b.role.as_str())
}

/// What a record is, before routing: read as the function reads it.
fn about(index: usize, record: &Record, max_message_chars: usize) -> Value {
    let mut line = json!({
        "record": index,
        "message_id": record.message_id(),
        "kind": null,
        "status": null,
        "tone": null,
        "headline": null,
        "rule": null,
        "to": [],
        "webhook": null,
        "fate": null,
        "mention": null,
        "dropped": false,
        "unrouted": false,
    });
    if let Ok(n) = record.notification() {
        let notice = kinds::read(n, max_message_chars);
        line["kind"] = json!(notice.kind.as_str());
        line["status"] = json!(notice.status);
        line["tone"] = json!(notice.tone.unwrap_or(Tone::Neutral).as_str());
        line["headline"] = json!(notice.headline);
    }
    line
}
