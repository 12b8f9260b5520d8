//! Time windows for a `ROUTES` rule's `"during"`: weekdays and a local time
//! range in an IANA zone. Pure: the instant to judge is passed in.
//!
//! `{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "from": "09:00", "to":
//! "18:00", "tz": "Europe/Berlin"}` holds from 09:00 (included) to 18:00
//! (excluded), wall-clock time in Berlin, so the same window follows daylight
//! saving. `from` after `to` runs across midnight (`22:00` to `06:00`); `days`
//! then names the day the window starts on. `days` is optional (every day);
//! `to` may be `24:00` (the end of the day). On the night a clock jumps
//! forward, wall-clock times that do not exist are never inside; on the night
//! it goes back, the repeated hour is inside (or outside) both times.
//!
//! Hand-written over `chrono` and `chrono-tz` (the zone database): the parsing
//! is a few exact formats, which no crate would make shorter.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

/// The text of `"during"`, as `ROUTES` gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowText {
    /// `Mon` ... `Sun`; absent = every day.
    #[serde(default)]
    pub days: Option<Vec<String>>,
    /// `HH:MM`, 24-hour, included.
    pub from: String,
    /// `HH:MM`, 24-hour (or `24:00`), excluded.
    pub to: String,
    /// An IANA zone name (`Europe/Berlin`, `UTC`).
    pub tz: String,
}

/// A checked window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Bit `n` set: the window starts on weekday `n` (Monday = 0).
    days: u8,
    /// Minutes since local midnight, `0..1440`.
    from: u16,
    /// Minutes since local midnight, `1..=1440`; before `from` across midnight.
    to: u16,
    tz: Tz,
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const EVERY_DAY: u8 = 0b111_1111;

impl Window {
    /// Checks `text`. The error says what is wrong (the caller names the rule).
    pub fn parse(text: &WindowText) -> Result<Self, String> {
        let days = match &text.days {
            None => EVERY_DAY,
            Some(names) if names.is_empty() => {
                return Err("during: \"days\" is empty (leave it out for every day)".into());
            }
            Some(names) => names.iter().try_fold(0u8, |bits, name| {
                DAY_NAMES
                    .iter()
                    .position(|d| d == name)
                    .map(|i| bits | 1 << i)
                    .ok_or_else(|| {
                        format!(
                            "during: day {name:?} is not one of {}",
                            DAY_NAMES.join(", ")
                        )
                    })
            })?,
        };
        let from = minutes(&text.from, false).ok_or_else(|| {
            format!(
                "during: \"from\" {:?} is not HH:MM (00:00 to 23:59)",
                text.from
            )
        })?;
        let to = minutes(&text.to, true)
            .ok_or_else(|| format!("during: \"to\" {:?} is not HH:MM (00:00 to 24:00)", text.to))?;
        if from == to {
            return Err(format!(
                "during: \"from\" and \"to\" are both {:?}: the window would be empty",
                text.from
            ));
        }
        let tz: Tz = text.tz.parse().map_err(|_| {
            format!(
                "during: \"tz\" {:?} is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)",
                text.tz
            )
        })?;
        Ok(Self { days, from, to, tz })
    }

    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.tz);
        // Whole minutes: 17:59:59 is before 18:00, 18:00:00 is not.
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let today = local.weekday();
        if self.from < self.to {
            self.starts_on(today) && self.from <= minute && minute < self.to
        } else {
            // Across midnight: the evening part starts today, the morning
            // part belongs to a window that started yesterday.
            (self.starts_on(today) && minute >= self.from)
                || (self.starts_on(today.pred()) && minute < self.to)
        }
    }

    fn starts_on(&self, day: Weekday) -> bool {
        self.days & (1 << day.num_days_from_monday()) != 0
    }
}

/// `HH:MM` as minutes since midnight; `24:00` only when `end`.
fn minutes(text: &str, end: bool) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    match (h, m) {
        (24, 0) if end => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(json: &str) -> Window {
        Window::parse(&serde_json::from_str(json).unwrap()).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    const BERLIN_OFFICE: &str = r#"{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "from": "09:00", "to": "18:00", "tz": "Europe/Berlin"}"#;

    #[test]
    fn from_is_inside_and_to_is_outside() {
        let w = window(BERLIN_OFFICE);
        // Tuesday 2026-12-01, CET (UTC+1).
        assert!(!w.contains(utc("2026-12-01T07:59:59Z")), "08:59:59");
        assert!(w.contains(utc("2026-12-01T08:00:00Z")), "09:00 exactly");
        assert!(w.contains(utc("2026-12-01T16:59:59Z")), "17:59:59");
        assert!(!w.contains(utc("2026-12-01T17:00:00Z")), "18:00 exactly");
        // Saturday.
        assert!(!w.contains(utc("2026-12-05T10:00:00Z")));
    }

    #[test]
    fn a_window_across_midnight_belongs_to_the_day_it_starts() {
        let w = window(r#"{"days": ["Fri"], "from": "22:00", "to": "06:00", "tz": "UTC"}"#);
        // Friday 2026-12-04 evening and Saturday morning.
        assert!(!w.contains(utc("2026-12-04T21:59:00Z")));
        assert!(w.contains(utc("2026-12-04T22:00:00Z")));
        assert!(w.contains(utc("2026-12-05T00:00:00Z")), "midnight");
        assert!(w.contains(utc("2026-12-05T05:59:00Z")));
        assert!(!w.contains(utc("2026-12-05T06:00:00Z")));
        // Friday morning belongs to Thursday's window, not listed.
        assert!(!w.contains(utc("2026-12-04T03:00:00Z")));
        // Saturday evening is not a window start.
        assert!(!w.contains(utc("2026-12-05T23:00:00Z")));
    }

    #[test]
    fn every_day_when_days_is_absent_and_24_00_ends_the_day() {
        let w = window(r#"{"from": "00:00", "to": "24:00", "tz": "UTC"}"#);
        assert!(w.contains(utc("2026-12-05T00:00:00Z")));
        assert!(w.contains(utc("2026-12-06T23:59:59Z")));
    }

    #[test]
    fn berlin_office_hours_follow_daylight_saving() {
        let w = window(BERLIN_OFFICE);
        // 07:30 UTC is 08:30 in winter (CET) and 09:30 in summer (CEST).
        // Clocks go forward on Sunday 2026-03-29 and back on Sunday 2026-10-25.
        assert!(
            !w.contains(utc("2026-03-27T07:30:00Z")),
            "Friday before: 08:30 CET"
        );
        assert!(
            w.contains(utc("2026-03-30T07:30:00Z")),
            "Monday after: 09:30 CEST"
        );
        assert!(
            !w.contains(utc("2026-03-30T16:00:00Z")),
            "Monday after: 18:00 CEST"
        );
        assert!(
            w.contains(utc("2026-10-23T15:30:00Z")),
            "Friday before: 17:30 CEST"
        );
        assert!(
            !w.contains(utc("2026-10-23T16:00:00Z")),
            "Friday before: 18:00 CEST"
        );
        assert!(
            w.contains(utc("2026-10-26T16:30:00Z")),
            "Monday after: 17:30 CET"
        );
        assert!(
            !w.contains(utc("2026-10-26T07:30:00Z")),
            "Monday after: 08:30 CET"
        );
    }

    #[test]
    fn the_hour_berlin_skips_is_never_inside_and_the_hour_it_repeats_is_inside_twice() {
        let w = window(r#"{"from": "02:00", "to": "03:00", "tz": "Europe/Berlin"}"#);
        // 2026-03-29: 01:59:59 CET is followed by 03:00:00 CEST.
        assert!(!w.contains(utc("2026-03-29T00:59:59Z")), "01:59:59 CET");
        assert!(!w.contains(utc("2026-03-29T01:00:00Z")), "03:00 CEST");
        // 2026-10-25: 02:00-02:59 happens in CEST, then again in CET.
        assert!(w.contains(utc("2026-10-25T00:30:00Z")), "02:30 CEST");
        assert!(w.contains(utc("2026-10-25T01:30:00Z")), "02:30 CET");
        assert!(!w.contains(utc("2026-10-25T02:00:00Z")), "03:00 CET");
    }

    #[test]
    fn a_new_york_night_window_spans_the_nights_the_clocks_change() {
        let w = window(r#"{"from": "22:00", "to": "06:00", "tz": "America/New_York"}"#);
        // Sunday 2026-03-08: 02:00 EST becomes 03:00 EDT, so the night is an
        // hour shorter; 10:30 UTC is 05:30 EST the day before, 06:30 EDT after.
        assert!(
            w.contains(utc("2026-03-07T10:30:00Z")),
            "Saturday 05:30 EST"
        );
        assert!(w.contains(utc("2026-03-08T07:30:00Z")), "03:30 EDT");
        assert!(!w.contains(utc("2026-03-08T10:30:00Z")), "06:30 EDT");
        assert!(w.contains(utc("2026-03-08T09:59:00Z")), "05:59 EDT");
        // Sunday 2026-11-01: 02:00 EDT becomes 01:00 EST, an hour longer.
        assert!(w.contains(utc("2026-11-01T10:30:00Z")), "05:30 EST");
        assert!(!w.contains(utc("2026-11-01T11:00:00Z")), "06:00 EST");
        assert!(
            w.contains(utc("2026-11-01T02:00:00Z")),
            "22:00 EDT on Saturday"
        );
        assert!(
            !w.contains(utc("2026-11-01T01:59:00Z")),
            "21:59 EDT on Saturday"
        );
    }

    #[test]
    fn bad_windows_say_what_is_wrong() {
        for (json, needle) in [
            (
                r#"{"from": "9:00", "to": "18:00", "tz": "UTC"}"#,
                "\"from\" \"9:00\"",
            ),
            (
                r#"{"from": "09:00", "to": "24:01", "tz": "UTC"}"#,
                "\"to\" \"24:01\"",
            ),
            (
                r#"{"from": "24:00", "to": "06:00", "tz": "UTC"}"#,
                "\"from\" \"24:00\"",
            ),
            (r#"{"from": "09:00", "to": "09:00", "tz": "UTC"}"#, "empty"),
            (
                r#"{"from": "00:00", "to": "24:00", "tz": "Mars/Olympus"}"#,
                "\"Mars/Olympus\"",
            ),
            (
                r#"{"days": ["Monday"], "from": "09:00", "to": "18:00", "tz": "UTC"}"#,
                "\"Monday\"",
            ),
            (
                r#"{"days": [], "from": "09:00", "to": "18:00", "tz": "UTC"}"#,
                "empty",
            ),
        ] {
            let err = Window::parse(&serde_json::from_str(json).unwrap()).unwrap_err();
            assert!(
                err.starts_with("during: ") && err.contains(needle),
                "{json}: {err}"
            );
        }
    }
}
