//! Redrive: post dead letters again through the same delivery as the function,
//! and remove a message from its source only once every record in it posted.
//!
//! A message that fails again stays where it is, unchanged (the SQS adapter
//! makes it visible again at the end of the run). We do not rewrite it with the
//! new reason: the queue lets only the function send to it, and a rewrite is a
//! send plus a delete, which is not atomic; the new reason is reported instead.

pub mod file;
pub mod sqs;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::time::{Duration, Instant};

use crate::budget;

use crate::delivery::Post;
use crate::group::DigestAfter;
use crate::outcome::Failure;
use crate::plan::{self, Plan};
use crate::post::Poster;
use crate::record::{Record, body};
use crate::render::Overrides;
use crate::route::Routing;
use crate::settle::Fate;
use crate::state::State;
use crate::web_api::Call;

/// A message read from a dead-letter source.
#[derive(Debug, Clone)]
pub struct StoredLetter {
    /// Stable id within the source (SQS MessageId, or the file's line number).
    pub id: String,
    /// The body as stored.
    pub body: String,
}

/// A source of dead letters could not be read or changed. Retryable: nothing
/// was deleted that was not posted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Where dead letters are read from and removed.
pub trait Source {
    /// Up to `max` messages not handed out before; empty when none is left.
    fn receive(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<StoredLetter>, SourceError>>;
    /// Removes a message whose records were all posted.
    fn delete(&mut self, id: &str) -> impl Future<Output = Result<(), SourceError>>;
    /// Gives back every message handed out and not deleted (visible again in
    /// SQS; kept in the file). Called once, at the end.
    fn release(&mut self) -> impl Future<Output = Result<(), SourceError>>;
    /// Messages the source holds, when it can tell (for progress).
    fn approximate_len(&mut self) -> impl Future<Output = Option<u64>>;
}

/// What happened to one message.
#[derive(Debug, Clone)]
pub enum Report {
    /// Every record posted; the message was deleted.
    Redriven {
        /// Message id.
        id: String,
        /// Records posted.
        records: usize,
    },
    /// Some record failed again; the message stays.
    FailedAgain {
        /// Message id.
        id: String,
        /// (SNS message id, failure) of each record that failed.
        failures: Vec<(String, Failure)>,
        /// Records of this message that did post (they will post again on the next redrive).
        posted: usize,
    },
    /// Not a known shape; left alone.
    Skipped {
        /// Message id.
        id: String,
        /// Why it is not redriven.
        why: String,
    },
    /// Dry run: the Slack payloads that would be posted.
    WouldPost {
        /// Message id.
        id: String,
        /// One JSON payload per record (or why a record cannot be posted).
        payloads: Vec<Result<String, String>>,
    },
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Messages read.
    pub messages: usize,
    /// Messages whose records all posted (deleted).
    pub redriven: usize,
    /// Messages with a record that failed again (kept).
    pub failed_again: usize,
    /// Messages of unknown shape (kept).
    pub skipped: usize,
    /// Messages shown by a dry run (kept).
    pub dry_run: usize,
    /// Records posted.
    pub records_posted: usize,
    /// True when Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// True when `--max` stopped the run while the source still held messages.
    pub more_in_source: bool,
}

impl Totals {
    /// Whether anything that was read is still in the source.
    pub fn anything_left(&self) -> bool {
        self.failed_again + self.skipped + self.dry_run > 0
            || self.interrupted
            || self.more_in_source
    }
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop after this many messages.
    pub max_messages: Option<usize>,
    /// Messages read at a time (1 to 10).
    pub batch: usize,
    /// Show what would be posted; post and delete nothing.
    pub dry_run: bool,
    /// Channel, username and icon overrides.
    pub overrides: Overrides,
    /// Longest message field.
    pub max_message_chars: usize,
    /// `--webhook NAME`: post every record there, whatever its envelope names.
    pub webhook: Option<String>,
}

/// Redrives `source` through `routing` (`None` only in a dry run) until the
/// source is empty, `max_messages` were read, or `stop` is set. An envelope's
/// record goes to the webhook the envelope names (or `options.webhook`); other
/// records are routed afresh by `ROUTES`. Posts in flight when `stop` is set
/// finish; messages not fully posted are never deleted.
pub async fn run<S: Source, P: Post, T: State, C: Call>(
    source: &mut S,
    poster: &Poster<P, T, C>,
    routing: Option<&Routing>,
    options: &Options,
    stop: &AtomicBool,
    mut report: impl FnMut(&Report),
) -> Result<Totals, SourceError> {
    let mut totals = Totals::default();
    let result = drain(
        source,
        poster,
        routing,
        options,
        stop,
        &mut totals,
        &mut report,
    )
    .await;
    // Give back what was not deleted even when reading failed half-way.
    let released = source.release().await;
    result?;
    released?;
    if options
        .max_messages
        .is_some_and(|max| totals.messages >= max)
    {
        totals.more_in_source = source.approximate_len().await != Some(0);
    }
    Ok(totals)
}

async fn drain<S: Source, P: Post, T: State, C: Call>(
    source: &mut S,
    poster: &Poster<P, T, C>,
    routing: Option<&Routing>,
    options: &Options,
    stop: &AtomicBool,
    totals: &mut Totals,
    report: &mut impl FnMut(&Report),
) -> Result<(), SourceError> {
    loop {
        if stop.load(Ordering::Relaxed) {
            totals.interrupted = true;
            return Ok(());
        }
        let room = options
            .max_messages
            .map_or(usize::MAX, |m| m.saturating_sub(totals.messages));
        if room == 0 {
            return Ok(());
        }
        let batch = source.receive(options.batch.min(room)).await?;
        if batch.is_empty() {
            return Ok(());
        }
        totals.messages += batch.len();
        handle_batch(source, poster, routing, options, &batch, totals, report).await?;
    }
}

async fn handle_batch<S: Source, P: Post, T: State, C: Call>(
    source: &mut S,
    poster: &Poster<P, T, C>,
    routing: Option<&Routing>,
    options: &Options,
    batch: &[StoredLetter],
    totals: &mut Totals,
    report: &mut impl FnMut(&Report),
) -> Result<(), SourceError> {
    // Read and plan every message, then deliver all their records in one go
    // so the limiters and the concurrency serve the whole batch.
    let (planned, plans) = plan_batch(batch, routing, options, totals, report);
    if routing.is_none() || options.dry_run {
        let mut plans = plans.iter();
        for (message, records) in &planned {
            totals.dry_run += 1;
            report(&Report::WouldPost {
                id: message.id.clone(),
                payloads: plans.by_ref().take(records.len()).map(preview).collect(),
            });
        }
        return Ok(());
    }
    // No invocation deadline here: a day is "until done"; Ctrl-C is the way out.
    let until = budget::later(Instant::now(), Duration::from_secs(86_400));
    // Letters come home one by one: each its own message, never a digest.
    let all: Vec<&Record> = planned.iter().flat_map(|(_, records)| records).collect();
    let posted = poster
        .post(
            &all,
            plans,
            DigestAfter::Off,
            &options.overrides,
            until,
            None,
        )
        .await;
    let mut fates = posted.fates().into_iter();
    for (message, records) in &planned {
        let fates: Vec<Fate> = fates.by_ref().take(records.len()).collect();
        let (posted, failures) = failed_again(records, &fates);
        totals.records_posted += posted;
        if failures.is_empty() {
            source.delete(&message.id).await?;
            totals.redriven += 1;
            report(&Report::Redriven {
                id: message.id.clone(),
                records: records.len(),
            });
        } else {
            totals.failed_again += 1;
            report(&Report::FailedAgain {
                id: message.id.clone(),
                failures,
                posted,
            });
        }
    }
    Ok(())
}

/// A message read: its records.
type Planned<'m> = (&'m StoredLetter, Vec<Record>);

/// Reads and plans each message of `batch`; a message that cannot be read
/// (or names an unknown webhook) is reported as skipped. The plans of all
/// messages, in message order.
fn plan_batch<'m>(
    batch: &'m [StoredLetter],
    routing: Option<&Routing>,
    options: &Options,
    totals: &mut Totals,
    report: &mut impl FnMut(&Report),
) -> (Vec<Planned<'m>>, Vec<Plan>) {
    let mut planned = Vec::new();
    let mut plans = Vec::new();
    for message in batch {
        let read = body::read_letter(&message.body)
            .and_then(|(_, records)| Ok((plan_all(&records, routing, options)?, records)));
        match read {
            Ok((mut more, records)) => {
                plans.append(&mut more);
                planned.push((message, records));
            }
            Err(why) => {
                totals.skipped += 1;
                report(&Report::Skipped {
                    id: message.id.clone(),
                    why,
                });
            }
        }
    }
    (planned, plans)
}

/// Posts made for a message's records, and (SNS message id, failure) of each
/// that failed.
fn failed_again(records: &[Record], fates: &[Fate]) -> (usize, Vec<(String, Failure)>) {
    let mut posted = 0;
    let mut failures = Vec::new();
    for (record, fate) in records.iter().zip(fates) {
        posted += fate.posted();
        let id = record.message_id();
        let failed = fate.failures().into_iter();
        failures.extend(failed.map(|(_, f, _)| (id.to_string(), f.clone())));
    }
    (posted, failures)
}

/// What to do with each record of a message: to `--webhook` or the webhook
/// its envelope names, else as `ROUTES` decides. Without routing (a dry run
/// with no webhook configured) every record is shown as it would look.
fn plan_all(
    records: &[Record],
    routing: Option<&Routing>,
    options: &Options,
) -> Result<Vec<Plan>, String> {
    let (overrides, max) = (&options.overrides, options.max_message_chars);
    let Some(routing) = routing else {
        return Ok(plan::plan_to(records, &[], overrides, max));
    };
    let mut plans = Vec::with_capacity(records.len());
    for record in records {
        let one = std::slice::from_ref(record);
        plans.extend(match options.webhook.as_deref().or(record.webhook()) {
            None => plan::plan(one, routing, overrides, max),
            Some(name) => {
                let destination = routing.webhooks().resolve(name).ok_or_else(|| {
                    format!(
                        "it names webhook {name:?}, which the configured webhooks do not define"
                    )
                })?;
                plan::plan_to(one, std::slice::from_ref(destination), overrides, max)
            }
        });
    }
    Ok(plans)
}

fn preview(plan: &Plan) -> Result<String, String> {
    match plan {
        Plan::Post { body, .. } => Ok(String::from_utf8_lossy(body).into_owned()),
        Plan::Drop { rule } => Err(format!("muted by rule {rule} of ROUTES")),
        Plan::Fail(f) => Err(f.detail.clone()),
    }
}
