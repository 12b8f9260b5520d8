//! Delivery to Slack app destinations: the steps that join the Web API
//! client ([`crate::web_api`]), the state port ([`crate::state`]) and the
//! thread plan ([`crate::lifecycle`]). The posted-once claims around it are
//! [`crate::once`]'s, for every kind of destination alike.
//!
//! For one notice at an app destination, [`AppDelivery::deliver`]:
//! 1. reads the thread of (destination, `thread_key`) and plans;
//! 2. posts a new message, or updates the original (`chat.update`) and then
//!    replies in its thread (`thread_ts`, `reply_broadcast`), and reacts; an
//!    original that can no longer be edited starts a new thread instead;
//! 3. saves the thread.
//!
//! Each Web API call runs under the destination's limiter, the retry policy
//! ([`web_api::decide`]) and the deadline, as webhook posts do. **The state
//! never costs a notification**: each state call has at most
//! [`AppSettings::state_timeout`] (and never past the deadline); when one
//! fails, the notice is posted anyway (as a new message if the thread could
//! not be read) and the error is kept in [`AppOutcome::state_errors`] for the
//! log and the `state_errors` count.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::budget;
use crate::delivery::DeliverySettings;
use crate::delivery::limiter::{Limiter, WouldPassDeadline};
use crate::delivery::policy::Decision;
use crate::delivery::shared::Shared;
use crate::destination::Destination;
use crate::destination::app::App;
use crate::lifecycle::{self, Event, Plan, Reaction, Summary, Thread};
use crate::outcome::{Failure, Outcome, Reason};
use crate::state::{State, StateError};
use crate::web_api::{self, Call, Method, Posted, Reply, Verdict};

/// Default [`AppSettings::state_timeout`].
pub const DEFAULT_STATE_TIMEOUT: Duration = Duration::from_millis(1_000);

/// Settings of app delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSettings {
    /// Limiter, retries and timeouts, shared with webhook delivery.
    pub delivery: DeliverySettings,
    /// `THREAD_TTL_HOURS`: a thread older than this starts anew.
    pub thread_ttl: Duration,
    /// Longest one state call may take before the notice is posted without it.
    pub state_timeout: Duration,
}

impl AppSettings {
    /// The settings with `delivery` and the defaults.
    pub fn new(delivery: DeliverySettings) -> Self {
        Self {
            delivery,
            thread_ttl: lifecycle::DEFAULT_THREAD_TTL,
            state_timeout: DEFAULT_STATE_TIMEOUT,
        }
    }
}

/// One notice, ready for an app destination.
pub struct AppNotice<'a> {
    /// Its thread key, status, tone and time ([`Event::of`]); `None` for a
    /// notice without a lifecycle, which is always a new message and stores
    /// no thread.
    pub event: Option<Event<'a>>,
    /// The notice rendered as a message (`text`, `blocks`...): posted as a new
    /// message or as a reply.
    pub message: &'a Map<String, Value>,
    /// The original's new content, given the thread's summary (the renderer's
    /// header with the transitions and the since line).
    pub original: &'a (dyn Fn(&Summary) -> Map<String, Value> + Sync),
}

/// One notice for one app destination, as [`AppDelivery::deliver_all`] takes it.
pub struct AppJob<'a> {
    /// Where it goes.
    pub destination: &'a Destination,
    /// What it is.
    pub notice: AppNotice<'a>,
}

/// What a delivery did in Slack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Posted as a new message (a new thread, or no state).
    New,
    /// Posted as a reply in the thread.
    Replied,
    /// Not posted: `outcome.result` says why.
    Failed,
}

impl Effect {
    /// Its name in logs: `new`, `replied`, `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Effect::New => "new",
            Effect::Replied => "replied",
            Effect::Failed => "failed",
        }
    }
}

/// How the delivery of one notice to one app destination ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AppOutcome {
    /// As for a webhook post: `Ok` when posted, the failure otherwise; the
    /// Web API calls made, 429s, times, latency.
    pub outcome: Outcome,
    /// What it did.
    pub effect: Effect,
    /// The original was updated (`updates`).
    pub updated: bool,
    /// The reaction of the original was changed.
    pub reacted: bool,
    /// State calls that failed (`state_errors`); the notice went on without them.
    pub state_errors: Vec<StateError>,
    /// Web API calls that failed without failing the notice (an update, a
    /// reaction), for the log.
    pub side_failures: Vec<Failure>,
}

/// One Web API call's end after retries.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutcome {
    /// What Slack made or touched, or the failure.
    pub result: Result<Posted, Failure>,
    /// The target message is gone or cannot be edited: start a new thread.
    pub new_thread: bool,
}

/// Delivers notices to app destinations: the Web API client, the limiters
/// and the settings. Build it once per process, like
/// [`crate::delivery::Delivery`].
pub struct AppDelivery<C> {
    call: C,
    limiter: Limiter,
    own_rates: HashMap<String, Limiter>,
    /// The schedule every process shares (`STATE_TABLE`), if any; the
    /// limiters above pace the rest of a `deliver_all` once it failed.
    shared: Option<Shared>,
    /// Set when the shared schedule failed in the current `deliver_all`.
    fallen_back: AtomicBool,
    settings: AppSettings,
}

impl<C: Call> AppDelivery<C> {
    /// App delivery over `call` with `settings`.
    pub fn new(call: C, settings: AppSettings) -> Self {
        let d = &settings.delivery;
        Self {
            limiter: Limiter::new(d.rate_per_second, d.rate_burst, d.retry_after_max),
            own_rates: HashMap::new(),
            shared: None,
            fallen_back: AtomicBool::new(false),
            call,
            settings,
        }
    }

    /// The same, reserving each Web API call's slot in `shared` (the
    /// schedule every process shares, as webhook delivery does), and pacing
    /// in-process for the rest of a [`AppDelivery::deliver_all`] when the
    /// state table fails or is slow.
    pub fn with_shared(mut self, shared: Shared) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The same, pacing destination `name` at `rate_per_second` (this
    /// process's share) instead of the configured rate.
    pub fn with_rate(mut self, name: &str, rate_per_second: f64) -> Self {
        let d = &self.settings.delivery;
        let limiter = Limiter::new(rate_per_second, d.rate_burst, d.retry_after_max);
        self.own_rates.insert(name.to_string(), limiter);
        self
    }

    /// The settings.
    pub fn settings(&self) -> &AppSettings {
        &self.settings
    }

    /// Delivers `notice` to the Slack app `destination` (see the module's
    /// steps), with `state` for threads, `now` the wall clock, posting until
    /// `stop_at` at the latest. A destination that is not an app fails as
    /// `rejected`, unattempted.
    pub async fn deliver(
        &self,
        state: &impl State,
        destination: &Destination,
        notice: &AppNotice<'_>,
        now: SystemTime,
        stop_at: Instant,
    ) -> AppOutcome {
        let Some(app) = destination.app() else {
            let failure = Failure {
                reason: Reason::Rejected,
                status: None,
                detail: format!(
                    "destination {:?} is a webhook, not a Slack app",
                    destination.name
                ),
            };
            return AppOutcome {
                outcome: Outcome::unattempted(Err(failure)),
                effect: Effect::Failed,
                updated: false,
                reacted: false,
                state_errors: Vec::new(),
                side_failures: Vec::new(),
            };
        };
        let mut run = Run::new(self, &destination.name, app, stop_at);
        let name = destination.name.as_str();
        let Some(event) = &notice.event else {
            let result = run.post_new(state, notice, None, now).await;
            return run.finish(result);
        };
        let stored = run
            .state(state.thread(name, event.thread_key, run.state_deadline()))
            .await
            .flatten();
        // A thread in another channel (the entry's channel was changed) is not
        // continued: the notice starts a new one where the entry now points.
        let continued = stored.as_ref().filter(|t| t.channel == app.channel);
        let plan = lifecycle::plan(event, continued, now, self.settings.thread_ttl);
        let result = match plan {
            Plan::New(_) => run.post_new(state, notice, stored.as_ref(), now).await,
            Plan::Reply(f) => {
                let mut gone = false;
                if let Some(summary) = &f.update {
                    let body =
                        web_api::update_body(&f.channel, &f.thread_ts, &(notice.original)(summary));
                    let update = run.call(Method::Update, body).await;
                    match update.result {
                        Ok(_) => run.out.updated = true,
                        Err(_) if update.new_thread => gone = true,
                        Err(failure) => run.out.side_failures.push(failure),
                    }
                }
                if gone {
                    run.post_new(state, notice, stored.as_ref(), now).await
                } else {
                    let body = web_api::post_message_body(
                        &f.channel,
                        Some(&f.thread_ts),
                        f.broadcast,
                        notice.message,
                    );
                    match run.call(Method::PostMessage, body).await.result {
                        Ok(_) => {
                            run.effect = Effect::Replied;
                            if let Some(reaction) = f.reaction {
                                run.react(&f.channel, &f.thread_ts, reaction).await;
                            }
                            if let Some(next) = &f.save {
                                let key = event.thread_key;
                                let deadline = run.save_deadline();
                                run.state(state.save_thread(name, key, next, now, deadline))
                                    .await;
                            }
                            Ok(())
                        }
                        Err(failure) => Err(failure),
                    }
                }
            }
        };
        run.finish(result)
    }

    /// Delivers `jobs` and returns one outcome per job, in the same order.
    /// Jobs of one (destination, `thread_key`) run one after the other, in
    /// the order given (so a thread's second notice sees the first's
    /// thread); other threads run side by side, at most `max_concurrency`
    /// at once, each call still under its destination's limiter.
    pub async fn deliver_all(
        &self,
        state: &impl State,
        jobs: &[AppJob<'_>],
        now: SystemTime,
        stop_at: Instant,
    ) -> Vec<AppOutcome> {
        self.fallen_back.store(false, Ordering::Relaxed);
        let mut threads: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, job) in jobs.iter().enumerate() {
            let Some(event) = &job.notice.event else {
                // No lifecycle: a thread of its own.
                threads.push(vec![i]);
                continue;
            };
            let key = (job.destination.name.as_str(), event.thread_key);
            let t = *index.entry(key).or_insert_with(|| {
                threads.push(Vec::new());
                threads.len() - 1
            });
            threads[t].push(i);
        }
        let runs = futures::stream::iter(threads)
            .map(|thread| async move {
                let mut done = Vec::with_capacity(thread.len());
                for i in thread {
                    let job = &jobs[i];
                    done.push((
                        i,
                        self.deliver(state, job.destination, &job.notice, now, stop_at)
                            .await,
                    ));
                }
                done
            })
            .buffer_unordered(self.settings.delivery.max_concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        let mut outcomes: Vec<Option<AppOutcome>> = vec![None; jobs.len()];
        for (i, outcome) in runs.into_iter().flatten() {
            outcomes[i] = Some(outcome);
        }
        outcomes
            .into_iter()
            .map(|o| o.expect("every job has an outcome"))
            .collect()
    }

    /// One Web API call under the destination's limiter, the retry policy
    /// and the deadline; `tally` counts attempts and 429s.
    async fn call_with_retries(
        &self,
        name: &str,
        app: &App,
        method: Method,
        body: Bytes,
        stop_at: Instant,
        tally: &mut Outcome,
    ) -> CallOutcome {
        let limiter = self.own_rates.get(name).unwrap_or(&self.limiter);
        let d = &self.settings.delivery;
        let mut last: Option<Failure> = None;
        let fail = |failure| CallOutcome {
            result: Err(failure),
            new_thread: false,
        };
        loop {
            if let Err(w) = self.acquire(name, limiter, stop_at, tally).await {
                let why = format!(
                    "the rate limit would have delayed the next call by {} ms",
                    w.wait.as_millis()
                );
                return fail(deadline_failure(last.as_ref(), &why));
            }
            let left = stop_at.saturating_duration_since(Instant::now());
            let Some(timeout) = budget::attempt_timeout(d.attempt_timeout, left) else {
                return fail(deadline_failure(
                    last.as_ref(),
                    "no time left for another call",
                ));
            };
            let wall = SystemTime::now();
            tally.first_attempt_at.get_or_insert(wall);
            tally.last_attempt_at = Some(wall);
            tally.attempts = tally.attempts.saturating_add(1);
            let reply = self
                .call
                .call(&app.token, method, body.clone(), timeout)
                .await;
            let cut_by_deadline = reply == Reply::TimedOut && timeout < d.attempt_timeout;
            let verdict = web_api::verdict(method, &reply);
            if let Verdict::Wait { .. } = verdict {
                tally.rate_limited = tally.rate_limited.saturating_add(1);
            }
            let decision = web_api::decide(
                method,
                &reply,
                tally.attempts,
                d.max_attempts,
                crate::delivery::policy::backoff(
                    tally.attempts,
                    d.retry_base,
                    d.retry_max,
                    fastrand::f64(),
                ),
                SystemTime::now(),
                d.retry_after_max,
            );
            match (decision, verdict) {
                (Decision::Posted, Verdict::Done(posted)) => {
                    return CallOutcome {
                        result: Ok(posted),
                        new_thread: false,
                    };
                }
                (Decision::Posted, _) => unreachable!("decide posts only what verdict calls done"),
                (Decision::GiveUp(failure), _) if cut_by_deadline => {
                    return fail(deadline_failure(
                        Some(&failure),
                        "the last call was cut short by it",
                    ));
                }
                (Decision::GiveUp(failure), Verdict::GiveUp { new_thread, .. }) => {
                    return CallOutcome {
                        result: Err(failure),
                        new_thread,
                    };
                }
                (Decision::GiveUp(failure), _) => return fail(failure),
                (Decision::Retry { after, failure }, _) => {
                    if failure.reason == Reason::RateLimited {
                        limiter.pause(name, after);
                        self.pause_shared(name, after, tally).await;
                    }
                    let left = stop_at.saturating_duration_since(Instant::now());
                    if cut_by_deadline || !budget::wait_fits(after, left) {
                        let why = format!(
                            "a retry after {} ms would not finish in time",
                            after.as_millis()
                        );
                        return fail(deadline_failure(Some(&failure), &why));
                    }
                    tokio::time::sleep(after).await;
                    last = Some(failure);
                }
            }
        }
    }
}

impl<C> AppDelivery<C> {
    /// Waits for `name`'s next slot: in the shared schedule while it works,
    /// else on `limiter`.
    async fn acquire(
        &self,
        name: &str,
        limiter: &Limiter,
        stop_at: Instant,
        tally: &mut Outcome,
    ) -> Result<(), WouldPassDeadline> {
        if let Some(shared) = &self.shared
            && !self.fallen_back.load(Ordering::Relaxed)
        {
            match shared.acquire(name, stop_at, budget::MIN_ATTEMPT).await {
                Ok(acquired) => return acquired,
                Err(e) => self.fall_back(name, &e, tally),
            }
        }
        limiter.acquire(name, stop_at, budget::MIN_ATTEMPT).await
    }

    /// Writes a 429's pause to the shared schedule, so every process holds
    /// `name`.
    async fn pause_shared(&self, name: &str, wait: Duration, tally: &mut Outcome) {
        if let Some(shared) = &self.shared
            && !self.fallen_back.load(Ordering::Relaxed)
            && let Err(e) = shared.pause(name, wait).await
        {
            self.fall_back(name, &e, tally);
        }
    }

    fn fall_back(&self, name: &str, error: &StateError, tally: &mut Outcome) {
        tally.state_errors = tally.state_errors.saturating_add(1);
        self.fallen_back.store(true, Ordering::Relaxed);
        tracing::warn!(
            webhook = name,
            error = %error,
            retryable = error.is_retryable(),
            "the shared rate schedule failed; this invocation paces the app at its in-memory share"
        );
    }
}

/// One delivery's running state: what it did so far.
struct Run<'a, C> {
    delivery: &'a AppDelivery<C>,
    name: &'a str,
    app: &'a App,
    stop_at: Instant,
    started: Instant,
    out: AppOutcome,
    effect: Effect,
}

impl<'a, C: Call> Run<'a, C> {
    fn new(delivery: &'a AppDelivery<C>, name: &'a str, app: &'a App, stop_at: Instant) -> Self {
        Self {
            delivery,
            name,
            app,
            stop_at,
            started: Instant::now(),
            out: AppOutcome {
                outcome: Outcome::unattempted(Ok(())),
                effect: Effect::Failed,
                updated: false,
                reacted: false,
                state_errors: Vec::new(),
                side_failures: Vec::new(),
            },
            effect: Effect::New,
        }
    }

    /// The deadline of the next state call before a post: its timeout, never
    /// past the delivery's own deadline (no read is worth a post it delays).
    fn state_deadline(&self) -> Instant {
        budget::later(Instant::now(), self.delivery.settings.state_timeout).min(self.stop_at)
    }

    /// The deadline of a thread save after a post: its timeout, at most one
    /// timeout past the delivery's deadline (a post answered at the last
    /// moment still stores its thread, or the next notice starts another).
    fn save_deadline(&self) -> Instant {
        let timeout = self.delivery.settings.state_timeout;
        budget::later(Instant::now(), timeout).min(budget::later(self.stop_at, timeout))
    }

    /// The value of a state call, or `None` with its error kept.
    async fn state<T>(&mut self, call: impl Future<Output = Result<T, StateError>>) -> Option<T> {
        match call.await {
            Ok(v) => Some(v),
            Err(e) => {
                self.out.state_errors.push(e);
                None
            }
        }
    }

    async fn call(&mut self, method: Method, body: Bytes) -> CallOutcome {
        self.delivery
            .call_with_retries(
                self.name,
                self.app,
                method,
                body,
                self.stop_at,
                &mut self.out.outcome,
            )
            .await
    }

    /// Posts the notice as a new message and stores its new thread over
    /// `stored` (the thread read, if any).
    async fn post_new(
        &mut self,
        state: &impl State,
        notice: &AppNotice<'_>,
        stored: Option<&Thread>,
        now: SystemTime,
    ) -> Result<(), Failure> {
        let app = self.app;
        let body = web_api::post_message_body(&app.channel, None, false, notice.message);
        let posted = self.call(Method::PostMessage, body).await.result?;
        self.effect = Effect::New;
        if let (Some(ts), Some(event)) = (&posted.ts, &notice.event) {
            let channel = posted.channel.as_deref().unwrap_or(&app.channel);
            let thread = Thread::started(event, channel, ts, now).over(stored);
            let deadline = self.save_deadline();
            let key = event.thread_key;
            self.state(state.save_thread(self.name, key, &thread, now, deadline))
                .await;
        }
        Ok(())
    }

    async fn react(&mut self, channel: &str, ts: &str, reaction: Reaction) {
        let (method, name) = match reaction {
            Reaction::Add(name) => (Method::ReactionsAdd, name),
            Reaction::Remove(name) => (Method::ReactionsRemove, name),
        };
        match self
            .call(method, web_api::reaction_body(channel, ts, name))
            .await
            .result
        {
            Ok(_) => self.out.reacted = true,
            Err(failure) => self.out.side_failures.push(failure),
        }
    }

    /// Ends with `result`: the effect so far when posted, else failed.
    fn finish(mut self, result: Result<(), Failure>) -> AppOutcome {
        let effect = if result.is_ok() {
            self.effect.clone()
        } else {
            Effect::Failed
        };
        if result.is_ok() {
            self.out.outcome.latency = Some(self.started.elapsed());
        }
        self.out.outcome.result = result;
        self.out.effect = effect;
        self.out
    }
}

/// A [`Reason::Deadline`] failure that keeps the last status and error seen.
fn deadline_failure(last: Option<&Failure>, why: &str) -> Failure {
    let mut detail = format!("the invocation deadline came first: {why}");
    if let Some(last) = last {
        detail.push_str("; last error: ");
        detail.push_str(&last.detail);
    }
    Failure {
        reason: Reason::Deadline,
        status: last.and_then(|f| f.status),
        detail,
    }
}
