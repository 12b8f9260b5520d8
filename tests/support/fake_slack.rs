//! The one fake Slack behind the `Post` port, for tests on tokio's paused
//! clock: scripted answers per webhook URL (or one script for every webhook),
//! each after its own delay, the attempt timeout honoured like the real
//! client; it notes when each post arrived, where and with what body, and how
//! many were in flight at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use sns_to_slack::delivery::Post;
use sns_to_slack::delivery::policy::Attempt;
use sns_to_slack::destination::webhook::Webhook;
use tokio::time::Instant;

/// One scripted answer: what Slack says, and after how long.
#[derive(Clone)]
pub struct Answer {
    /// What the post comes to.
    pub attempt: Attempt,
    /// How long Slack takes to say it (past the attempt timeout: timed out).
    pub after: Duration,
}

/// `attempt`, at once.
pub fn says(attempt: Attempt) -> Answer {
    Answer {
        attempt,
        after: Duration::ZERO,
    }
}

/// One post as it arrived.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// The webhook URL posted to.
    pub url: String,
    /// When, on the (paused) clock.
    pub at: Instant,
    /// The JSON body.
    pub body: Value,
}

/// A fake Slack; clones share the script and the record of arrivals.
#[derive(Clone)]
pub struct FakeSlack {
    /// (URL, script); a `None` URL's script answers every webhook.
    scripts: Arc<Vec<(Option<String>, Vec<Answer>)>>,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl FakeSlack {
    /// Every webhook answered from one script, in order over all posts (the
    /// last answer repeats).
    pub fn new(answers: Vec<Answer>) -> Self {
        Self::with_scripts(vec![(None, answers)])
    }

    /// Per webhook URL, the answers in turn over that URL's posts (the last
    /// repeats), each after `delay`. A post to another URL panics.
    pub fn per_webhook(answers: Vec<(&str, Vec<Attempt>)>, delay: Duration) -> Self {
        Self::with_scripts(
            answers
                .into_iter()
                .map(|(url, attempts)| {
                    let script = attempts
                        .into_iter()
                        .map(|attempt| Answer {
                            attempt,
                            after: delay,
                        })
                        .collect();
                    (Some(url.to_string()), script)
                })
                .collect(),
        )
    }

    fn with_scripts(scripts: Vec<(Option<String>, Vec<Answer>)>) -> Self {
        assert!(
            scripts.iter().all(|(_, s)| !s.is_empty()),
            "an empty script"
        );
        Self {
            scripts: Arc::new(scripts),
            arrivals: Arc::default(),
            in_flight: Arc::default(),
            most_in_flight: Arc::default(),
        }
    }

    /// Every post so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }

    /// When each post to `url` arrived.
    pub fn arrivals_at(&self, url: &str) -> Vec<Instant> {
        self.arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.url == url)
            .map(|a| a.at)
            .collect()
    }

    /// Arrival times of every post, from the first.
    pub fn offsets(&self) -> Vec<Duration> {
        let arrivals = self.arrivals.lock().unwrap();
        let Some(first) = arrivals.first().map(|a| a.at) else {
            return Vec::new();
        };
        arrivals.iter().map(|a| a.at - first).collect()
    }

    /// The most posts that were in flight at once.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }
}

impl Post for FakeSlack {
    async fn post(&self, webhook: &Webhook, body: Bytes, timeout: Duration) -> Attempt {
        let url = webhook.expose_url().as_str().to_string();
        let answer = {
            let (key, script) = self
                .scripts
                .iter()
                .find(|(u, _)| u.as_deref().is_none_or(|u| u == url))
                .expect("a scripted webhook");
            let mut arrivals = self.arrivals.lock().unwrap();
            arrivals.push(Arrival {
                url: url.clone(),
                at: Instant::now(),
                body: serde_json::from_slice(&body).unwrap(),
            });
            let n = match key {
                Some(_) => arrivals.iter().filter(|a| a.url == url).count(),
                None => arrivals.len(),
            };
            script[(n - 1).min(script.len() - 1)].clone()
        };
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let attempt = if answer.after > timeout {
            tokio::time::sleep(timeout).await;
            Attempt::TimedOut
        } else {
            tokio::time::sleep(answer.after).await;
            answer.attempt
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        attempt
    }
}
