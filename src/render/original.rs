//! A thread's original message, updated to the thread's current status
//! (Slack app destinations, [`crate::lifecycle`]): the latest notice, its
//! header carrying the transitions so far (`OK: api-5xx-rate · ALARM -> OK`)
//! in the current status's emoji and colour, and under it how long the
//! previous status lasted (`OK since 10:14 UTC, was ALARM for 12 min`).
//! Pure; any layout ([`super::render`]) renders it.

use std::time::SystemTime;

use crate::lifecycle::Summary;
use crate::notice::{Notice, Part, Rich};

use super::{Overrides, Payload, render};

/// The original's new content: `notice` (the thread's latest) with the
/// summary's header and since line, in the current status's tone, at `now`.
/// A publisher's own Slack payload is shown in our layout here, since the
/// header must change. Never fails; always within Slack's limits.
pub fn original(
    notice: &Notice<'_>,
    summary: &Summary,
    overrides: &Overrides,
    now: SystemTime,
) -> Payload {
    let mut shown = notice.clone();
    let path = summary.header();
    shown.title = Some(match &notice.title {
        Some(title) => format!("{title} · {path}"),
        None => path,
    });
    shown.tone = Some(summary.tone);
    shown
        .body
        .insert(0, Part::Note(Rich::new().text(summary.since_line(now))));
    shown.slack_payload = None;
    render(&shown, overrides, None)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lifecycle::{Event, Thread, summarize};
    use crate::notice::Tone;

    #[test]
    fn the_original_shows_the_path_the_current_tone_and_how_long_the_last_status_lasted() {
        let root = env!("CARGO_MANIFEST_DIR");
        let text = std::fs::read_to_string(format!("{root}/tests/fixtures/sns-cloudwatch-ok.json"))
            .unwrap();
        let records = crate::record::parse_event(&text).unwrap();
        let notice = crate::kinds::read(records[0].notification().unwrap(), 4_000);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_416_800);
        let alarm = Event {
            thread_key: "k",
            status: "ALARM",
            tone: Tone::Danger,
            at: t0,
        };
        let mut thread = Thread::started(&alarm, "C0123ABCD", "1.0", t0);
        thread.transitions.push(crate::lifecycle::Transition {
            status: "OK".into(),
            tone: Tone::Good,
            at: 1_790_416_800 + 720,
        });
        let summary = summarize(&thread).unwrap();
        let payload = original(&notice, &summary, &Overrides::default(), t0);
        let json = String::from_utf8(payload.to_json(4096)).unwrap();
        assert!(json.contains("ALARM -> OK"), "{json}");
        assert!(
            json.contains("OK since 10:12 UTC, was ALARM for 12 min"),
            "{json}"
        );
        assert!(
            json.contains(super::super::blocks::color(Tone::Good)),
            "{json}"
        );
    }
}
