//! Threads: an alarm is one conversation, not two messages. Pure.
//!
//! Given a notice (its `thread_key`, status, tone and time) and the thread
//! stored for its (destination, `thread_key`), if any, [`plan`] says what to
//! do at an app destination:
//!
//! - no thread, or one older than `THREAD_TTL_HOURS`: post a new message
//!   ([`Plan::New`]) and, once Slack says its `ts`, store [`Thread::started`];
//! - otherwise reply in the thread (`thread_ts`) ([`Plan::Reply`]), with
//!   `reply_broadcast` when the thing returns to a bad state (OK -> ALARM), and
//!   when the status changed, edit the original (`chat.update`) to show the
//!   current status with the [`Summary`] of the transitions so far
//!   ("ALARM -> OK -> ALARM (2)", "ALARM since 10:40 UTC, was OK for 12 min");
//!   a return to good adds the `white_check_mark` reaction to the original,
//!   a return to bad takes it away.
//!
//! When the original can no longer be edited (`message_not_found`,
//! `cant_update_message`, `edit_window_closed`), the caller posts the notice
//! as a new message and stores [`Thread::started`]: the same as no thread.
//!
//! Times are passed in as [`SystemTime`] and kept in whole epoch seconds,
//! which is what the state table stores; nothing here reads the clock.

use std::time::{Duration, SystemTime};

use crate::notice::Tone;

/// The reaction a return to good adds to the original (`reactions.add`).
pub const RESOLVED_REACTION: &str = "white_check_mark";

/// Most transitions a thread keeps (the oldest are dropped first), so a
/// flapping alarm's item stays small. Counts in the header are over these.
pub const MAX_TRANSITIONS: usize = 50;

/// Most statuses the header shows; earlier ones are elided as `...`.
pub const MAX_PATH: usize = 5;

/// The default `THREAD_TTL_HOURS`: a week.
pub const DEFAULT_THREAD_TTL: Duration = Duration::from_secs(168 * 3600);

/// One notice, as far as its thread is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// What the notice is about (the alarm, the pipeline execution...): notices
    /// with one key at one destination are one thread.
    pub thread_key: &'a str,
    /// Its status as the source names it (`ALARM`, `OK`, `SUCCEEDED`...).
    pub status: &'a str,
    /// How good or bad that status is.
    pub tone: Tone,
    /// When the status began (the notice's own time, e.g. the alarm's
    /// `StateChangeTime`, else the SNS timestamp).
    pub at: SystemTime,
}

impl<'a> Event<'a> {
    /// The thread event of `notice`: its thread key, status, tone (neutral
    /// when it has none) and time (`occurred_at`, else `received`, e.g. the
    /// SNS timestamp). `None` when the notice has no thread key or no
    /// status: such a notice is always its own message.
    pub fn of(notice: &'a crate::notice::Notice<'_>, received: SystemTime) -> Option<Self> {
        Some(Self {
            thread_key: notice.thread_key()?,
            status: notice.status.as_deref()?,
            tone: notice.tone.unwrap_or(Tone::Neutral),
            at: notice.occurred_at.map_or(received, SystemTime::from),
        })
    }
}

/// A status a thread went through, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The status, e.g. `ALARM`.
    pub status: String,
    /// Its tone.
    pub tone: Tone,
    /// When it began, in epoch seconds.
    pub at: u64,
}

/// The thread of one (destination, `thread_key`): its original message and
/// the statuses so far. What the state table stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// The channel id of the original (`C0123ABCD`).
    pub channel: String,
    /// The original's `ts`: the `thread_ts` of replies, the `ts` of updates.
    pub ts: String,
    /// When the original was posted, in epoch seconds; the thread starts anew
    /// `THREAD_TTL_HOURS` after it.
    pub created_at: u64,
    /// The statuses so far, oldest first, one per change (a repeat of the
    /// current status is not a transition); at most [`MAX_TRANSITIONS`].
    pub transitions: Vec<Transition>,
    /// The version this copy was read at: 0 for a thread never stored. The
    /// store saves a thread only over the version it was read at, so two
    /// writers cannot silently undo each other's transitions.
    pub version: u64,
}

impl Thread {
    /// The thread to store after `event` was posted as a new message that
    /// Slack named `ts` in `channel`, at `now`.
    pub fn started(event: &Event<'_>, channel: &str, ts: &str, now: SystemTime) -> Self {
        Self {
            channel: channel.to_string(),
            ts: ts.to_string(),
            created_at: epoch_seconds(now),
            transitions: vec![Transition {
                status: event.status.to_string(),
                tone: event.tone,
                at: epoch_seconds(event.at),
            }],
            version: 0,
        }
    }

    /// The same thread, to be saved over `stored` (the thread read for its
    /// key, if any): it takes `stored`'s version, so a new thread replaces
    /// an expired one or one whose original can no longer be edited.
    pub fn over(self, stored: Option<&Thread>) -> Self {
        Self {
            version: stored.map_or(0, |t| t.version),
            ..self
        }
    }

    /// When this thread stops being continued (`created_at` + `ttl`), in
    /// epoch seconds; also the item's `expires_at`.
    pub fn expires_at(&self, ttl: Duration) -> u64 {
        self.created_at.saturating_add(ttl.as_secs())
    }

    /// The latest transition (the current status), if any.
    pub fn current(&self) -> Option<&Transition> {
        self.transitions.last()
    }
}

/// Why a notice starts a new thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fresh {
    /// No thread is stored for its key.
    NoThread,
    /// The stored thread is older than `THREAD_TTL_HOURS`.
    Expired,
}

/// A reaction on the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// `reactions.add` of the emoji (`already_reacted` is success).
    Add(&'static str),
    /// `reactions.remove` of the emoji (`no_reaction` is success).
    Remove(&'static str),
}

/// A notice that continues a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followup {
    /// The channel of the thread.
    pub channel: String,
    /// The original's `ts`: the reply's `thread_ts`.
    pub thread_ts: String,
    /// Also show the reply in the channel (`reply_broadcast`): the thing
    /// returned to a bad state.
    pub broadcast: bool,
    /// Edit the original (`chat.update`, `ts` = `thread_ts`) to the notice's
    /// status with this summary; `None` when the status did not change.
    pub update: Option<Summary>,
    /// Change the original's reaction.
    pub reaction: Option<Reaction>,
    /// The thread to save after the reply (over the version it was read at);
    /// `None` when it does not change (a repeat, or a notice older than the
    /// thread's current status).
    pub save: Option<Thread>,
}

/// What to do with one notice at an app destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Post it as a new message, then store [`Thread::started`].
    New(Fresh),
    /// Reply in the thread, and edit and react as said.
    Reply(Box<Followup>),
}

/// Decides what `event` does, given the `stored` thread for its key (if any),
/// `now`, and the thread lifetime `ttl` (`THREAD_TTL_HOURS`).
///
/// A notice older than the thread's current status (a redelivery overtaken
/// by a later one) is only replied: it does not turn the original back.
pub fn plan(event: &Event<'_>, stored: Option<&Thread>, now: SystemTime, ttl: Duration) -> Plan {
    let Some(thread) = stored else {
        return Plan::New(Fresh::NoThread);
    };
    if thread.expires_at(ttl) <= epoch_seconds(now) {
        return Plan::New(Fresh::Expired);
    }
    let reply = |broadcast, update, reaction, save| {
        Plan::Reply(Box::new(Followup {
            channel: thread.channel.clone(),
            thread_ts: thread.ts.clone(),
            broadcast,
            update,
            reaction,
            save,
        }))
    };
    let at = epoch_seconds(event.at);
    let Some(current) = thread.current() else {
        // A thread without statuses (not written by us): take this as its first.
        let mut next = thread.clone();
        next.transitions.push(transition(event));
        return reply(false, summarize(&next), None, Some(next));
    };
    if at < current.at || current.status == event.status {
        return reply(false, None, None, None);
    }
    let mut next = thread.clone();
    next.transitions.push(transition(event));
    if next.transitions.len() > MAX_TRANSITIONS {
        let extra = next.transitions.len() - MAX_TRANSITIONS;
        next.transitions.drain(..extra);
    }
    let broadcast = is_bad(event.tone) && !is_bad(current.tone);
    let reaction = match (current.tone == Tone::Good, event.tone == Tone::Good) {
        (false, true) => Some(Reaction::Add(RESOLVED_REACTION)),
        (true, false) => Some(Reaction::Remove(RESOLVED_REACTION)),
        _ => None,
    };
    reply(broadcast, summarize(&next), reaction, Some(next))
}

fn transition(event: &Event<'_>) -> Transition {
    Transition {
        status: event.status.to_string(),
        tone: event.tone,
        at: epoch_seconds(event.at),
    }
}

/// Whether a tone is a bad state, whose return is broadcast to the channel.
fn is_bad(tone: Tone) -> bool {
    matches!(tone, Tone::Danger | Tone::Warning)
}

/// The status before the current one, and how long it lasted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    /// Its status.
    pub status: String,
    /// From its start to the current status's start.
    pub lasted: Duration,
}

/// The original's summary of its thread, as plain data: a renderer shows
/// [`Summary::header`] in the header and [`Summary::since_line`] (or its
/// own rendering of `since`, e.g. Slack's `<!date^...>`) beneath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The statuses shown, oldest first, ending with the current one; at
    /// most [`MAX_PATH`].
    pub path: Vec<String>,
    /// Whether earlier statuses were left out of `path`.
    pub elided: bool,
    /// How many times the current status was entered in this thread.
    pub entered: usize,
    /// The current status.
    pub current: String,
    /// Its tone (the header's emoji and the bar's colour).
    pub tone: Tone,
    /// When it began, in epoch seconds.
    pub since: u64,
    /// The status before, if any.
    pub previous: Option<Previous>,
}

/// The summary of `thread`'s transitions; `None` when it has none.
pub fn summarize(thread: &Thread) -> Option<Summary> {
    let all = &thread.transitions;
    let current = all.last()?;
    let shown = &all[all.len().saturating_sub(MAX_PATH)..];
    let previous = all.len().checked_sub(2).map(|i| Previous {
        status: all[i].status.clone(),
        lasted: Duration::from_secs(current.at.saturating_sub(all[i].at)),
    });
    Some(Summary {
        path: shown.iter().map(|t| t.status.clone()).collect(),
        elided: shown.len() < all.len(),
        entered: all.iter().filter(|t| t.status == current.status).count(),
        current: current.status.clone(),
        tone: current.tone,
        since: current.at,
        previous,
    })
}

impl Summary {
    /// The header's text: `ALARM -> OK -> ALARM (2)`, the `(n)` being how
    /// many times the current status was entered, shown from 2 on; `... -> `
    /// first when earlier statuses are left out.
    pub fn header(&self) -> String {
        let mut text = if self.elided {
            String::from("... -> ")
        } else {
            String::new()
        };
        text.push_str(&self.path.join(" -> "));
        if self.entered > 1 {
            text.push_str(&format!(" ({})", self.entered));
        }
        text
    }

    /// `OK since 10:14 UTC, was ALARM for 12 min`: the time of day in UTC,
    /// with the date (`Nov 30 10:14 UTC`) when it is not `now`'s UTC day.
    pub fn since_line(&self, now: SystemTime) -> String {
        let mut text = format!("{} since {}", self.current, clock(self.since, now));
        if let Some(p) = &self.previous {
            text.push_str(&format!(", was {} for {}", p.status, span(p.lasted)));
        }
        text
    }
}

/// A time of day in UTC, with the date when it is not `now`'s day.
fn clock(at: u64, now: SystemTime) -> String {
    let to_utc = |secs: u64| {
        chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), 0)
            .unwrap_or(chrono::DateTime::UNIX_EPOCH)
    };
    let (at, now) = (to_utc(at), to_utc(epoch_seconds(now)));
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M UTC").to_string()
    } else {
        at.format("%b %-d %H:%M UTC").to_string()
    }
}

/// A duration for people, to the minute past the first minute: `45 s`,
/// `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes) = (s / 86_400, s / 3_600 % 24, s / 60 % 60);
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{minutes} min"),
        3_600..86_400 if minutes == 0 => format!("{hours} h"),
        3_600..86_400 => format!("{hours} h {minutes} min"),
        _ if hours == 0 => format!("{days} d"),
        _ => format!("{days} d {hours} h"),
    }
}

/// Whole seconds since the epoch; a time before it counts as 0.
pub fn epoch_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-09-26 10:00:00 UTC.
    const T0: u64 = 1_790_416_800;
    const TTL: Duration = DEFAULT_THREAD_TTL;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn event(status: &str, tone: Tone, secs: u64) -> Event<'static> {
        Event {
            thread_key: "alarm/123456789012/us-east-1/HighErrors",
            status: status.to_string().leak(),
            tone,
            at: at(secs),
        }
    }

    /// The thread after posting `first` and planning each of `rest` in turn
    /// (each saved as planned, the version bumped as a store would).
    fn thread_after(first: &Event<'_>, rest: &[Event<'_>]) -> Thread {
        let mut thread = Thread::started(first, "C0123ABCD", "1790416800.000100", first.at);
        thread.version = 1;
        for e in rest {
            if let Plan::Reply(f) = plan(e, Some(&thread), e.at, TTL)
                && let Some(next) = f.save
            {
                thread = Thread {
                    version: thread.version + 1,
                    ..next
                };
            }
        }
        thread
    }

    fn followup(p: Plan) -> Followup {
        match p {
            Plan::Reply(f) => *f,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    /// The first notification of a fixture, read into a notice.
    fn fixture(name: &str) -> crate::record::Notification {
        let root = env!("CARGO_MANIFEST_DIR");
        let text = std::fs::read_to_string(format!("{root}/tests/fixtures/{name}.json")).unwrap();
        let records = crate::record::parse_event(&text).unwrap();
        records[0].notification().unwrap().clone()
    }

    #[test]
    fn a_real_alarm_and_its_recovery_are_one_thread() {
        let (alarm, ok) = (
            fixture("sns-cloudwatch-alarm"),
            fixture("sns-cloudwatch-ok"),
        );
        let (alarm, ok) = (
            crate::kinds::read(&alarm, 4_000),
            crate::kinds::read(&ok, 4_000),
        );
        let first = Event::of(&alarm, at(T0)).expect("an alarm has a thread");
        assert_eq!((first.status, first.tone), ("ALARM", Tone::Danger));
        let later = Event::of(&ok, at(T0)).unwrap();
        assert_eq!(later.thread_key, first.thread_key);
        let thread = Thread::started(&first, "C1", "1.1", first.at);
        let f = followup(plan(&later, Some(&thread), later.at, TTL));
        assert_eq!(f.reaction, Some(Reaction::Add(RESOLVED_REACTION)));
        assert_eq!(f.update.unwrap().header(), "ALARM -> OK");
        // A notice without a lifecycle is always its own message.
        let bounce = fixture("sns-ses-bounce");
        assert_eq!(Event::of(&crate::kinds::read(&bounce, 4_000), at(T0)), None);
    }

    #[test]
    fn the_first_notice_of_a_key_is_a_new_message() {
        let e = event("ALARM", Tone::Danger, T0);
        assert_eq!(plan(&e, None, at(T0), TTL), Plan::New(Fresh::NoThread));
        let thread = Thread::started(&e, "C0123ABCD", "1.2", at(T0 + 1));
        assert_eq!(thread.created_at, T0 + 1);
        assert_eq!(thread.expires_at(TTL), T0 + 1 + 168 * 3600);
        assert_eq!(thread.version, 0);
        assert_eq!(
            thread.transitions,
            vec![Transition {
                status: "ALARM".into(),
                tone: Tone::Danger,
                at: T0
            }]
        );
    }

    #[test]
    fn ok_after_alarm_replies_updates_and_adds_the_check_mark() {
        let alarm = event("ALARM", Tone::Danger, T0);
        let thread = thread_after(&alarm, &[]);
        let ok = event("OK", Tone::Good, T0 + 12 * 60);
        let f = followup(plan(&ok, Some(&thread), at(T0 + 12 * 60 + 3), TTL));
        assert_eq!(f.channel, "C0123ABCD");
        assert_eq!(f.thread_ts, "1790416800.000100");
        assert!(!f.broadcast);
        assert_eq!(f.reaction, Some(Reaction::Add("white_check_mark")));
        let summary = f.update.expect("the original is updated");
        assert_eq!(summary.header(), "ALARM -> OK");
        assert_eq!(
            summary.since_line(at(T0 + 13 * 60)),
            "OK since 10:12 UTC, was ALARM for 12 min"
        );
        let saved = f.save.expect("the thread is saved");
        assert_eq!(saved.version, thread.version, "saved over the version read");
        assert_eq!(saved.transitions.len(), 2);
    }

    #[test]
    fn a_return_to_alarm_is_broadcast_and_counted_in_the_header() {
        let thread = thread_after(
            &event("ALARM", Tone::Danger, T0),
            &[event("OK", Tone::Good, T0 + 600)],
        );
        let again = event("ALARM", Tone::Danger, T0 + 900);
        let f = followup(plan(&again, Some(&thread), at(T0 + 900), TTL));
        assert!(f.broadcast);
        assert_eq!(f.reaction, Some(Reaction::Remove("white_check_mark")));
        let s = f.update.unwrap();
        assert_eq!(s.header(), "ALARM -> OK -> ALARM (2)");
        assert_eq!(s.entered, 2);
        assert_eq!(
            s.previous,
            Some(Previous {
                status: "OK".into(),
                lasted: Duration::from_secs(300)
            })
        );
        assert_eq!(
            s.since_line(at(T0 + 900)),
            "ALARM since 10:15 UTC, was OK for 5 min"
        );
    }

    #[test]
    fn a_pipeline_started_then_succeeded_is_one_thread() {
        let started = event("STARTED", Tone::Info, T0);
        let thread = thread_after(&started, &[]);
        let f = followup(plan(
            &event("SUCCEEDED", Tone::Good, T0 + 95),
            Some(&thread),
            at(T0 + 96),
            TTL,
        ));
        assert!(!f.broadcast);
        assert_eq!(f.reaction, Some(Reaction::Add(RESOLVED_REACTION)));
        assert_eq!(
            f.update.unwrap().since_line(at(T0 + 96)),
            "SUCCEEDED since 10:01 UTC, was STARTED for 1 min"
        );
        // A failure after an in-progress state is broadcast.
        let f = followup(plan(
            &event("FAILED", Tone::Danger, T0 + 95),
            Some(&thread),
            at(T0 + 96),
            TTL,
        ));
        assert!(f.broadcast);
        assert_eq!(f.reaction, None);
    }

    #[test]
    fn a_repeat_of_the_current_status_is_a_quiet_reply() {
        let thread = thread_after(&event("ALARM", Tone::Danger, T0), &[]);
        let f = followup(plan(
            &event("ALARM", Tone::Danger, T0 + 60),
            Some(&thread),
            at(T0 + 60),
            TTL,
        ));
        assert_eq!(
            (f.broadcast, f.update, f.reaction, f.save),
            (false, None, None, None)
        );
    }

    #[test]
    fn a_late_notice_does_not_turn_the_original_back() {
        let thread = thread_after(
            &event("ALARM", Tone::Danger, T0),
            &[event("OK", Tone::Good, T0 + 600)],
        );
        // The ALARM of T0 + 300 arrives after the OK of T0 + 600.
        let f = followup(plan(
            &event("ALARM", Tone::Danger, T0 + 300),
            Some(&thread),
            at(T0 + 700),
            TTL,
        ));
        assert_eq!(
            (f.broadcast, f.update, f.reaction, f.save),
            (false, None, None, None)
        );
    }

    #[test]
    fn a_thread_older_than_its_ttl_starts_anew() {
        let thread = thread_after(&event("ALARM", Tone::Danger, T0), &[]);
        let ok = event("OK", Tone::Good, T0 + 10);
        let ttl = Duration::from_secs(3600);
        assert!(matches!(
            plan(&ok, Some(&thread), at(T0 + 3599), ttl),
            Plan::Reply(_)
        ));
        assert_eq!(
            plan(&ok, Some(&thread), at(T0 + 3600), ttl),
            Plan::New(Fresh::Expired)
        );
        // No overflow at the far ends.
        assert_eq!(
            plan(&ok, Some(&thread), at(T0), Duration::MAX),
            plan(&ok, Some(&thread), at(T0), TTL)
        );
    }

    #[test]
    fn a_flapping_thread_keeps_a_bounded_history_and_elides_the_header() {
        let mut rest = Vec::new();
        for i in 1..=120u64 {
            rest.push(if i % 2 == 1 {
                event("OK", Tone::Good, T0 + i * 60)
            } else {
                event("ALARM", Tone::Danger, T0 + i * 60)
            });
        }
        let thread = thread_after(&event("ALARM", Tone::Danger, T0), &rest);
        assert_eq!(thread.transitions.len(), MAX_TRANSITIONS);
        assert_eq!(thread.current().unwrap().status, "ALARM");
        let s = summarize(&thread).unwrap();
        assert!(s.elided);
        assert_eq!(s.entered, MAX_TRANSITIONS / 2);
        assert_eq!(
            s.header(),
            "... -> ALARM -> OK -> ALARM -> OK -> ALARM (25)"
        );
    }

    #[test]
    fn the_since_line_names_the_day_when_it_is_not_today() {
        let thread = thread_after(
            &event("ALARM", Tone::Danger, T0),
            &[event("OK", Tone::Good, T0 + 3 * 3600 + 5 * 60)],
        );
        let s = summarize(&thread).unwrap();
        assert_eq!(
            s.since_line(at(T0 + 2 * 86_400)),
            "OK since Sep 26 13:05 UTC, was ALARM for 3 h 5 min"
        );
        let single = summarize(&thread_after(&event("ALARM", Tone::Danger, T0), &[])).unwrap();
        assert_eq!(single.header(), "ALARM");
        assert_eq!(single.since_line(at(T0)), "ALARM since 10:00 UTC");
    }

    #[test]
    fn spans_read_like_people_write_them() {
        let s = |secs| span(Duration::from_secs(secs));
        assert_eq!(s(0), "0 s");
        assert_eq!(s(59), "59 s");
        assert_eq!(s(60), "1 min");
        assert_eq!(s(12 * 60 + 59), "12 min");
        assert_eq!(s(3600), "1 h");
        assert_eq!(s(3 * 3600 + 5 * 60), "3 h 5 min");
        assert_eq!(s(2 * 86_400), "2 d");
        assert_eq!(s(2 * 86_400 + 4 * 3600 + 59), "2 d 4 h");
        assert!(!span(Duration::MAX).is_empty());
        assert_eq!(
            epoch_seconds(SystemTime::UNIX_EPOCH - Duration::from_secs(5)),
            0
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const STATUSES: [(&str, Tone); 5] = [
            ("ALARM", Tone::Danger),
            ("OK", Tone::Good),
            ("INSUFFICIENT_DATA", Tone::Neutral),
            ("WARN", Tone::Warning),
            ("STARTED", Tone::Info),
        ];

        proptest! {
            /// Any sequence of notices, in or out of order, keeps a thread's
            /// invariants: bounded history, one entry per change, times in
            /// order, a header ending in the current status, broadcasts only
            /// on a return to bad, a check mark only on a return to good.
            #[test]
            fn threads_keep_their_invariants(
                steps in proptest::collection::vec((0usize..5, 0u64..4_000), 1..200)
            ) {
                let (s0, t0) = STATUSES[steps[0].0];
                let mut thread = Thread::started(&event(s0, t0, T0), "C1", "1.1", at(T0));
                thread.version = 1;
                for (i, secs) in steps.iter().skip(1) {
                    let (status, tone) = STATUSES[*i];
                    let e = event(status, tone, T0 + secs);
                    let before = thread.current().cloned().unwrap();
                    let Plan::Reply(f) = plan(&e, Some(&thread), at(T0 + 4_000), TTL) else {
                        panic!("a live thread is continued");
                    };
                    prop_assert_eq!(&f.thread_ts, "1.1");
                    if f.broadcast {
                        prop_assert!(is_bad(tone) && !is_bad(before.tone));
                    }
                    match f.reaction {
                        Some(Reaction::Add(_)) => prop_assert!(tone == Tone::Good && before.tone != Tone::Good),
                        Some(Reaction::Remove(_)) => prop_assert!(tone != Tone::Good && before.tone == Tone::Good),
                        None => {}
                    }
                    prop_assert_eq!(f.update.is_some(), f.save.is_some());
                    if let Some(next) = f.save {
                        let summary = summarize(&next).unwrap();
                        prop_assert!(summary.header().contains(status));
                        prop_assert_eq!(summary.current.as_str(), status);
                        thread = Thread { version: thread.version + 1, ..next };
                    }
                    let all = &thread.transitions;
                    prop_assert!(all.len() <= MAX_TRANSITIONS);
                    prop_assert!(all.windows(2).all(|w| w[0].status != w[1].status && w[0].at <= w[1].at));
                }
            }
        }
    }
}
