//! Posting: a batch's plans through claim ([`crate::once`], with a state
//! table) -> compose ([`crate::compose`]) -> deliver (webhooks through
//! [`crate::delivery`], Slack apps through [`crate::app_delivery`], side by
//! side) -> mark the claims. What the Lambda handler, `send` and `redrive`
//! share; settling is theirs.

use std::borrow::Borrow;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::app_delivery::{AppDelivery, AppJob, AppNotice, AppOutcome};
use crate::compose::{Composition, compose};
use crate::delivery::{Delivery, Job, Post};
use crate::group::DigestAfter;
use crate::once::Claims;
use crate::outcome::{Failure, Outcome, Reason};
use crate::plan::Plan;
use crate::record::Record;
use crate::render::Overrides;
use crate::settle::{self, Fate};
use crate::state::{self, State, StateError};
use crate::web_api::{Call, WebApiClient};

/// Posts for one process: webhook delivery, Slack app delivery and the state
/// table (`S`, [`state::Disabled`] without one). Build it once per process.
pub struct Poster<P, S = state::Disabled, C = WebApiClient> {
    delivery: Delivery<P>,
    apps: Option<AppDelivery<C>>,
    state: S,
}

/// What posting a batch came to: the plans as posted (pairs held back by
/// their claims taken out), the jobs and their outcomes.
pub struct Posted {
    /// The plans, without the pairs their claims held back.
    pub plans: Vec<Plan>,
    /// The jobs, and which carried which record.
    pub composition: Composition,
    /// One per job.
    pub outcomes: Vec<Outcome>,
    claims: Option<Claims>,
    /// State table calls of the claims and marks that failed.
    pub state_errors: usize,
}

impl Posted {
    /// Each record's fate, the pairs held back by their claims included.
    pub fn fates(&self) -> Vec<Fate<'_>> {
        let mut fates = settle::fates(&self.plans, &self.composition, &self.outcomes);
        if let Some(claims) = &self.claims {
            claims.restore(&mut fates);
        }
        fates
    }
}

impl<P: Post> Poster<P> {
    /// Posting through `delivery` only: no state table, no Slack apps.
    pub fn new(delivery: Delivery<P>) -> Self {
        Self {
            delivery,
            apps: None,
            state: state::Disabled,
        }
    }
}

impl<P: Post, S: State, C: Call> Poster<P, S, C> {
    /// The same, keeping claims and threads in `state` (`STATE_TABLE`).
    pub fn with_state<S2: State>(self, state: S2) -> Poster<P, S2, C> {
        Poster {
            delivery: self.delivery,
            apps: self.apps,
            state,
        }
    }

    /// The same, posting to Slack app destinations through `apps` (without
    /// it, an app destination's posts fail as `rejected`).
    pub fn with_apps<C2: Call>(self, apps: AppDelivery<C2>) -> Poster<P, S, C2> {
        Poster {
            delivery: self.delivery,
            apps: Some(apps),
            state: self.state,
        }
    }

    /// The webhook delivery.
    pub fn delivery(&self) -> &Delivery<P> {
        &self.delivery
    }

    /// Posts `plans` (those of `records`): claims each pair when there is a
    /// state table, composes (`digest_after`), delivers until `stop_at`, then
    /// marks what posted and releases what failed: each of those state calls
    /// at most one state timeout past `stop_at` (a post answered at the last
    /// moment still gets its mark), and never past `state_until` when given
    /// (the Lambda handler's store deadline).
    pub async fn post<R: Borrow<Record>>(
        &self,
        records: &[R],
        mut plans: Vec<Plan>,
        digest_after: DigestAfter,
        overrides: &Overrides,
        stop_at: Instant,
        state_until: Option<Instant>,
    ) -> Posted {
        let max = self.delivery.settings().max_message_chars;
        let now = SystemTime::now();
        let timeout = self.state_timeout();
        let claims = if self.state.enabled() {
            let claims =
                crate::once::claim(&self.state, records, &plans, now, stop_at, timeout).await;
            claims.hold_back(&mut plans);
            Some(claims)
        } else {
            None
        };
        let composition = compose(records, &plans, digest_after, overrides, max);
        let outcomes = self
            .deliver(records, &composition, overrides, stop_at)
            .await;
        let mut state_errors = 0;
        if let Some(claims) = &claims {
            let mut fates = settle::fates(&plans, &composition, &outcomes);
            claims.restore(&mut fates);
            let past = crate::budget::later(stop_at, timeout);
            let until = state_until.map_or(past, |u| past.min(u));
            let marks = claims
                .settle(&self.state, &fates, now, until, timeout)
                .await;
            for e in claims.errors.iter().chain(&marks) {
                log_state_error(e, "posted-once claim");
            }
            state_errors = claims.errors.len() + marks.len();
        }
        Posted {
            plans,
            composition,
            outcomes,
            claims,
            state_errors,
        }
    }

    /// The longest one state call may take.
    fn state_timeout(&self) -> Duration {
        self.apps
            .as_ref()
            .map_or(crate::app_delivery::DEFAULT_STATE_TIMEOUT, |a| {
                a.settings().state_timeout
            })
    }

    /// Delivers the composition's jobs: webhook jobs through [`Delivery`],
    /// app jobs through [`AppDelivery`] (a message of a record's own with the
    /// record's thread; a digest as a message without one), side by side.
    /// One outcome per job, in order.
    async fn deliver<R: Borrow<Record>>(
        &self,
        records: &[R],
        composition: &Composition,
        overrides: &Overrides,
        stop_at: Instant,
    ) -> Vec<Outcome> {
        let jobs = &composition.jobs;
        let (apps, hooks): (Vec<usize>, Vec<usize>) =
            (0..jobs.len()).partition(|&j| jobs[j].destination.app().is_some());
        if apps.is_empty() {
            return self.delivery.deliver(jobs, stop_at).await;
        }
        let hook_jobs: Vec<Job> = hooks.iter().map(|&j| jobs[j].clone()).collect();
        let (hook_outcomes, app_outcomes) = futures::join!(
            self.delivery.deliver(&hook_jobs, stop_at),
            self.deliver_apps(records, composition, &apps, overrides, stop_at)
        );
        let mut outcomes: Vec<Option<Outcome>> = vec![None; jobs.len()];
        for (j, o) in hooks.iter().zip(hook_outcomes) {
            outcomes[*j] = Some(o);
        }
        for (j, o) in apps.iter().zip(app_outcomes) {
            outcomes[*j] = Some(o);
        }
        outcomes
            .into_iter()
            .map(|o| o.expect("every job has an outcome"))
            .collect()
    }

    /// Delivers the app jobs `indices` of `composition`.
    async fn deliver_apps<R: Borrow<Record>>(
        &self,
        records: &[R],
        composition: &Composition,
        indices: &[usize],
        overrides: &Overrides,
        stop_at: Instant,
    ) -> Vec<Outcome> {
        let Some(apps) = &self.apps else {
            let failure = Failure {
                reason: Reason::Rejected,
                status: None,
                detail: "a Slack app destination, but no Web API client was set up".into(),
            };
            return vec![Outcome::unattempted(Err(failure)); indices.len()];
        };
        let max = self.delivery.settings().max_message_chars;
        let leads = crate::app_message::leads(composition);
        let prepared: Vec<crate::app_message::Prepared<'_>> = indices
            .iter()
            .map(|&j| {
                let lead = leads[j].and_then(|r| records[r].borrow().notification().ok());
                crate::app_message::Prepared::new(&composition.jobs[j], lead, max)
            })
            .collect();

        let originals: Vec<_> = prepared
            .iter()
            .map(|p| move |summary: &crate::lifecycle::Summary| p.original(summary, overrides))
            .collect();
        let app_jobs: Vec<AppJob<'_>> = indices
            .iter()
            .zip(&prepared)
            .zip(&originals)
            .map(|((&j, p), original)| {
                let destination = &composition.jobs[j].destination;
                AppJob {
                    destination,
                    notice: AppNotice {
                        event: p.event(),
                        message: &p.message,
                        original,
                    },
                }
            })
            .collect();
        let done = apps
            .deliver_all(&self.state, &app_jobs, SystemTime::now(), stop_at)
            .await;
        done.into_iter()
            .zip(&app_jobs)
            .map(|(o, job)| app_outcome(o, &job.destination.name))
            .collect()
    }
}

/// An app delivery's outcome as a job's: replies, updates and state
/// errors counted; calls that failed without failing the post logged.
fn app_outcome(done: AppOutcome, destination: &str) -> Outcome {
    for e in &done.state_errors {
        log_state_error(e, "thread");
    }
    for f in &done.side_failures {
        tracing::warn!(
            webhook = destination,
            reason = f.reason.as_str(),
            detail = %f.detail,
            "a Slack call that does not fail the post failed (an update or a reaction)"
        );
    }
    let mut outcome = done.outcome;
    outcome.state_errors = outcome
        .state_errors
        .saturating_add(u32::try_from(done.state_errors.len()).unwrap_or(u32::MAX));
    outcome.replied = done.effect == crate::app_delivery::Effect::Replied;
    outcome.updated = done.updated;
    outcome
}

fn log_state_error(e: &StateError, what: &str) {
    tracing::warn!(
        error = %e,
        retryable = e.is_retryable(),
        "a state table call ({what}) failed; the record went on without it"
    );
}
