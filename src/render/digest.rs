//! Digests and folded messages: many notices in few Slack messages. Pure.
//!
//! A digest shows one group ([`crate::group`]: one kind, status and topic) as
//! a header that counts it ("37 GuardDuty findings · Medium"), the group's
//! tone, and one line per unit: its headline (linked to its console page
//! when it has one), its time, how often it arrived and the states it went
//! through. Lines are packed into as many messages as Slack's limits need
//! ("part 2 of 3"); a line is never split between two sections or messages.
//!
//! A unit posted on its own that folded others in (duplicates, a flapping
//! alarm) is its lead's own message with a note that says what was folded
//! ([`folded_note`]), added to the notice as a neutral part, so every
//! renderer shows it.

use std::ops::Range;

use chrono::{DateTime, Utc};

use super::blocks::{Block, BlockKit, MAX_BLOCKS, MAX_SECTION_CHARS, MAX_TOTAL_BLOCK_CHARS, Md};
use super::{Overrides, Payload};
use crate::kinds::Kind;
use crate::notice::{Link, Notice, Rich, Stamp, Tone, one_line, utc};

/// Longest headline shown on a digest line, in characters: every line fits a
/// section whole, so no line is ever cut in half.
pub const MAX_LINE_HEADLINE_CHARS: usize = 300;
/// Longest top-level text of a digest (its phone notification).
const MAX_DIGEST_TEXT_CHARS: usize = 600;
/// Block characters kept free in each part for the header and the footer.
const FRAME_CHARS: usize = 600;

/// What a digest line, and grouping, need of one notice: owned, so a plan can
/// keep it without borrowing the notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The SNS message id.
    pub message_id: String,
    /// The kind.
    pub kind: Kind,
    /// The status, if any.
    pub status: Option<String>,
    /// The topic's name.
    pub topic: String,
    /// How urgent.
    pub tone: Option<Tone>,
    /// The notice's headline (one line).
    pub headline: String,
    /// The notice's first trusted console link.
    pub link: Option<Link>,
    /// When it happened, else when SNS published it.
    pub at: Option<DateTime<Utc>>,
    /// The notice's thread key.
    pub thread_key: Option<String>,
    /// The notice's fingerprint.
    pub dedup_key: String,
}

impl Line {
    /// The line of `notice`, published with SNS message id `message_id`.
    pub fn of(notice: &Notice<'_>, message_id: &str) -> Self {
        let at = notice.occurred_at.or_else(|| {
            notice.origin.timestamp.and_then(|t| match Stamp::parse(t) {
                Stamp::At(t) => Some(t),
                Stamp::AsSent(_) => None,
            })
        });
        Line {
            message_id: message_id.to_string(),
            kind: notice.kind,
            status: notice.status.clone(),
            topic: notice.origin.topic.to_string(),
            tone: notice.tone,
            headline: notice.headline.clone(),
            link: notice.links().find(|l| l.is_trusted()).cloned(),
            at,
            thread_key: notice.thread_key().map(str::to_string),
            dedup_key: notice.dedup_key(),
        }
    }

    /// A line of plain text with nothing to group on but its message id (for
    /// callers and tests that plan by hand).
    pub fn plain(message_id: &str, headline: &str) -> Self {
        Line {
            message_id: message_id.to_string(),
            kind: Kind::Text,
            status: None,
            topic: String::new(),
            tone: None,
            headline: headline.to_string(),
            link: None,
            at: None,
            thread_key: None,
            dedup_key: message_id.to_string(),
        }
    }

    fn state(&self) -> &str {
        self.status.as_deref().unwrap_or(self.kind.as_str())
    }
}

/// One unit of a digest, or the folded part of a message of its own: the
/// line shown and what was folded into it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The line shown (the latest of a thread).
    pub lead: &'a Line,
    /// How many times the lead's notice arrived.
    pub arrivals: usize,
    /// The thread's lines in the order they happened, the lead last (just the
    /// lead when nothing flapped).
    pub history: &'a [&'a Line],
}

impl Entry<'_> {
    /// Whether anything was folded into the lead.
    pub fn folded(&self) -> bool {
        self.arrivals > 1 || self.history.len() > 1
    }
}

/// A note that says what was folded into `entry`'s lead ("ALARM → OK → ALARM,
/// 3 changes in 4 min: ALARM at …, OK at …, ALARM at …. Arrived 2 times.");
/// `None` when nothing was.
pub fn folded_note(entry: &Entry<'_>) -> Option<Rich> {
    if !entry.folded() {
        return None;
    }
    let mut rich = Rich::new();
    if entry.history.len() > 1 {
        rich = rich.text(transitions(entry.history));
        for (i, line) in entry.history.iter().enumerate() {
            rich = rich.text(if i == 0 { ": " } else { ", " });
            rich = rich.text(line.state().to_string());
            if let Some(at) = line.at {
                rich = rich.text(" at ").time(&at.to_rfc3339());
            }
        }
        rich = rich.text(".");
    }
    if entry.arrivals > 1 {
        if !rich.is_empty() {
            rich = rich.text(" ");
        }
        rich = rich.text(format!("Arrived {} times.", entry.arrivals));
    }
    Some(rich)
}

/// "ALARM → OK → ALARM, 3 changes in 4 min" (the span when times are known).
pub fn transitions(history: &[&Line]) -> String {
    let states: Vec<&str> = history.iter().map(|l| l.state()).collect();
    let mut text = format!("{}, {} changes", states.join(" → "), history.len());
    let times = history.iter().filter_map(|l| l.at);
    if let (Some(first), Some(last)) = (times.clone().min(), times.max()) {
        let minutes = last.signed_duration_since(first).num_minutes().max(1);
        text.push_str(&format!(" in {minutes} min"));
    }
    text
}

/// What `count` notices of `kind` are called: "37 GuardDuty findings",
/// "1 CloudWatch alarm", "12 notifications".
pub fn noun(kind: Kind, count: usize) -> String {
    let (one, many) = match kind {
        Kind::CloudwatchAlarm => ("CloudWatch alarm", "CloudWatch alarms"),
        Kind::CloudwatchCompositeAlarm => ("composite alarm", "composite alarms"),
        Kind::GuarddutyFinding => ("GuardDuty finding", "GuardDuty findings"),
        Kind::SecurityhubFinding => ("Security Hub finding", "Security Hub findings"),
        Kind::HealthEvent => ("Health event", "Health events"),
        Kind::Codepipeline => ("pipeline event", "pipeline events"),
        Kind::Codebuild => ("build event", "build events"),
        Kind::Codedeploy => ("deployment event", "deployment events"),
        Kind::EcsTask => ("ECS task change", "ECS task changes"),
        Kind::Ec2State => ("EC2 state change", "EC2 state changes"),
        Kind::Autoscaling => ("Auto Scaling event", "Auto Scaling events"),
        Kind::CloudformationStack => ("stack event", "stack events"),
        Kind::RdsEvent => ("RDS event", "RDS events"),
        Kind::Budgets => ("budget alert", "budget alerts"),
        Kind::CostAnomaly => ("cost anomaly", "cost anomalies"),
        Kind::Backup => ("backup notification", "backup notifications"),
        Kind::SesNotification => ("SES notification", "SES notifications"),
        Kind::InspectorFinding => ("Inspector finding", "Inspector findings"),
        Kind::EcsService => ("ECS service event", "ECS service events"),
        Kind::StepFunctions => ("Step Functions execution", "Step Functions executions"),
        Kind::CloudtrailEvent => ("CloudTrail event", "CloudTrail events"),
        Kind::LambdaDestination => ("Lambda invocation record", "Lambda invocation records"),
        Kind::S3Event => ("S3 event", "S3 events"),
        Kind::ConfigCompliance => ("Config compliance change", "Config compliance changes"),
        Kind::Eventbridge => ("event", "events"),
        _ => ("notification", "notifications"),
    };
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The worst tone among the entries; `None` when none has one.
fn worst_tone(entries: &[Entry<'_>]) -> Option<Tone> {
    let rank = |t: &Tone| match t {
        Tone::Danger => 4,
        Tone::Warning => 3,
        Tone::Good => 2,
        Tone::Info => 1,
        Tone::Neutral => 0,
    };
    entries.iter().filter_map(|e| e.lead.tone).max_by_key(rank)
}

/// One digest line as mrkdwn: the headline (linked when the notice has a
/// trusted console link), the time, and what was folded.
fn line(entry: &Entry<'_>) -> Md {
    let lead = entry.lead;
    let headline = cut_chars(&one_line(&lead.headline), MAX_LINE_HEADLINE_CHARS);
    let mut md = Md::new().text("• ");
    md = match &lead.link {
        Some(link) => md.link(&link.url, &headline),
        None => md.text(&headline),
    };
    if let Some(at) = lead.at {
        md = md.text(" · ").date(at.timestamp(), &utc(at));
    }
    if entry.history.len() > 1 {
        md = md.text(" · ").text(&transitions(entry.history));
    }
    if entry.arrivals > 1 {
        md = md.text(&format!(" · arrived {} times", entry.arrivals));
    }
    md
}

/// `text` cut to `max` characters with an ellipsis.
fn cut_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One digest message: the payload and the entries (by index) it shows.
#[derive(Debug, Clone)]
pub struct DigestMessage {
    /// The Block Kit message.
    pub payload: Payload,
    /// The entries it carries, a range of those given.
    pub entries: Range<usize>,
}

/// The digest of one group (`entries`, all of one kind, status and topic) as
/// Block Kit messages within Slack's limits; each entry is a line in exactly
/// one of them, in order. A `mention` leads the first message when any
/// entry's tone is danger, and no other.
pub fn render(
    entries: &[Entry<'_>],
    overrides: &Overrides,
    mention: Option<&str>,
) -> Vec<DigestMessage> {
    let Some(first) = entries.first() else {
        return Vec::new();
    };
    let lines: Vec<Md> = entries.iter().map(line).collect();
    let ranges = pack(&lines);
    let tone = worst_tone(entries);
    let mention = mention.filter(|_| entries.iter().any(|e| e.lead.tone == Some(Tone::Danger)));
    let counted = noun(first.lead.kind, entries.len());
    let status = first.lead.status.as_deref();
    let title = match status {
        Some(status) => format!("{counted} · {status}"),
        None => counted.clone(),
    };
    let total = ranges.len();
    ranges
        .into_iter()
        .enumerate()
        .map(|(p, range)| {
            let of = if total > 1 {
                format!(" (part {} of {total})", p + 1)
            } else {
                String::new()
            };
            let header = match tone {
                Some(t) => format!("{} {title}{of}", t.emoji()),
                None => format!("{title}{of}"),
            };
            let mut blocks = vec![Block::header(header)];
            let mut section = Md::new();
            let mut section_chars = 0;
            for md in &lines[range.clone()] {
                let n = md.as_str().chars().count();
                if !section.is_empty() && section_chars + 1 + n > MAX_SECTION_CHARS {
                    blocks.push(Block::text(std::mem::take(&mut section)));
                    section_chars = 0;
                }
                if !section.is_empty() {
                    section = section.line();
                    section_chars += 1;
                }
                section = section.then(md);
                section_chars += n;
            }
            if !section.is_empty() {
                blocks.push(Block::text(section));
            }
            let mention = mention.filter(|_| p == 0);
            if let Some(mention) = mention {
                super::blocks::lead_with(&mut blocks, mention);
            }
            blocks.push(Block::context(vec![
                Md::new().text("via SNS ").code(&first.lead.topic),
            ]));
            let text = phone_text(&counted, status, &entries[range.clone()], p, total);
            DigestMessage {
                payload: Payload::Blocks(BlockKit::new(&text, tone, blocks, overrides, mention)),
                entries: range,
            }
        })
        .collect()
}

/// The digest's phone notification: "37 GuardDuty findings (Medium): first
/// headline; second headline; … and 35 more".
fn phone_text(
    counted: &str,
    status: Option<&str>,
    entries: &[Entry<'_>],
    part: usize,
    total: usize,
) -> String {
    let mut text = counted.to_string();
    if let Some(status) = status {
        text.push_str(&format!(" ({status})"));
    }
    if total > 1 {
        text.push_str(&format!(", part {} of {total}", part + 1));
    }
    text.push(':');
    let mut shown = 0;
    for entry in entries {
        let headline = one_line(&entry.lead.headline);
        if text.chars().count() + headline.chars().count() + 24 > MAX_DIGEST_TEXT_CHARS {
            break;
        }
        text.push_str(if shown == 0 { " " } else { "; " });
        text.push_str(&headline);
        shown += 1;
    }
    if shown < entries.len() {
        text.push_str(&format!("; … and {} more", entries.len() - shown));
    }
    text
}

/// Packs lines into parts: consecutive ranges whose sections stay within
/// [`MAX_BLOCKS`] (with the header and footer) and [`MAX_TOTAL_BLOCK_CHARS`]
/// (with room for them). Every part holds at least one line.
fn pack(lines: &[Md]) -> Vec<Range<usize>> {
    let budget = MAX_TOTAL_BLOCK_CHARS - FRAME_CHARS;
    let max_sections = MAX_BLOCKS - 3;
    let mut parts = Vec::new();
    let mut start = 0;
    let (mut chars, mut sections, mut section_chars) = (0usize, 0usize, 0usize);
    for (i, md) in lines.iter().enumerate() {
        let n = md.as_str().chars().count();
        let opens = sections == 0 || section_chars + 1 + n > MAX_SECTION_CHARS;
        let fits = chars + n < budget && (!opens || sections < max_sections);
        if !fits && i > start {
            parts.push(start..i);
            start = i;
            (chars, sections, section_chars) = (0, 0, 0);
        }
        if sections == 0 || section_chars + 1 + n > MAX_SECTION_CHARS {
            sections += 1;
            section_chars = n;
        } else {
            section_chars += 1 + n;
        }
        chars += n + 1;
    }
    if start < lines.len() {
        parts.push(start..lines.len());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn finding(i: usize, headline: &str) -> Line {
        Line {
            message_id: format!("m{i}"),
            kind: Kind::GuarddutyFinding,
            status: Some("Medium".into()),
            topic: "security".into(),
            tone: Some(Tone::Warning),
            headline: headline.into(),
            link: Some(Link::new(
                "Open",
                format!("https://console.aws.amazon.com/guardduty/home#/findings?fId={i}"),
            )),
            at: DateTime::from_timestamp(1_800_000_000 + i as i64, 0),
            thread_key: None,
            dedup_key: format!("d{i}"),
        }
    }

    fn entries<'a>(lines: &'a [Line], history: &'a [Vec<&'a Line>]) -> Vec<Entry<'a>> {
        lines
            .iter()
            .zip(history)
            .map(|(lead, h)| Entry {
                lead,
                arrivals: 1,
                history: h,
            })
            .collect()
    }

    fn json(part: &DigestMessage) -> serde_json::Value {
        serde_json::to_value(&part.payload).unwrap()
    }

    #[test]
    fn a_digest_counts_its_group_and_shows_one_line_per_entry() {
        let lines: Vec<Line> = (0..37)
            .map(|i| finding(i, &format!("Port probe on i-{i:04}")))
            .collect();
        let history: Vec<Vec<&Line>> = lines.iter().map(|l| vec![l]).collect();
        let parts = render(&entries(&lines, &history), &Overrides::default(), None);
        assert_eq!(parts.len(), 1);
        let body = json(&parts[0]);
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("37 GuardDuty findings (Medium): Port probe on i-0000; "),
            "{text}"
        );
        let attachment = &body["attachments"][0];
        assert_eq!(attachment["color"], "#f2a900");
        assert_eq!(
            attachment["blocks"][0]["text"]["text"],
            "🟠 37 GuardDuty findings · Medium"
        );
        let shown = body.to_string();
        for i in 0..37 {
            assert!(shown.contains(&format!("Port probe on i-{i:04}")), "{i}");
        }
        assert!(shown.contains(
            "<https://console.aws.amazon.com/guardduty/home#/findings?fId=3|Port probe on i-0003>"
        ));
    }

    #[test]
    fn a_large_group_is_split_into_parts_and_no_line_is_cut() {
        let long = "x".repeat(280);
        let lines: Vec<Line> = (0..300)
            .map(|i| finding(i, &format!("{i:03} {long}")))
            .collect();
        let history: Vec<Vec<&Line>> = lines.iter().map(|l| vec![l]).collect();
        let parts = render(&entries(&lines, &history), &Overrides::default(), None);
        assert!(parts.len() > 1);
        let mut next = 0;
        for (p, part) in parts.iter().enumerate() {
            assert_eq!(part.entries.start, next);
            next = part.entries.end;
            let body = json(part);
            let header = body["attachments"][0]["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap();
            assert!(
                header.ends_with(&format!("(part {} of {})", p + 1, parts.len())),
                "{header}"
            );
            let Payload::Blocks(kit) = &part.payload else {
                panic!()
            };
            assert!(kit.violations().is_empty(), "{:?}", kit.violations());
            let shown = body.to_string();
            for i in part.entries.clone() {
                assert!(shown.contains(&format!("{i:03} {long}")), "line {i} whole");
            }
        }
        assert_eq!(next, 300);
    }

    #[test]
    fn a_mention_leads_only_a_bad_digest_and_only_its_first_part() {
        let mut lines: Vec<Line> = (0..300).map(|i| finding(i, &"y".repeat(250))).collect();
        let history: Vec<Vec<&Line>> = lines.iter().map(|l| vec![l]).collect();
        let calm = render(
            &entries(&lines, &history),
            &Overrides::default(),
            Some("<!here>"),
        );
        assert!(!json(&calm[0]).to_string().contains("<!here>"));
        lines[7].tone = Some(Tone::Danger);
        let history: Vec<Vec<&Line>> = lines.iter().map(|l| vec![l]).collect();
        let bad = render(
            &entries(&lines, &history),
            &Overrides::default(),
            Some("<!here>"),
        );
        let first = json(&bad[0]);
        assert!(first["text"].as_str().unwrap().starts_with("<!here> "));
        assert!(
            first["attachments"][0]["blocks"][1]["text"]["text"]
                .as_str()
                .unwrap()
                .starts_with("<!here> ")
        );
        assert!(!json(&bad[1]).to_string().contains("<!here>"));
    }

    #[test]
    fn a_flapping_alarm_says_its_transitions_with_times() {
        let mut states = Vec::new();
        for (i, (state, minute)) in [("ALARM", 0), ("OK", 2), ("ALARM", 4)].iter().enumerate() {
            let mut l = finding(i, "CPU high");
            l.kind = Kind::CloudwatchAlarm;
            l.status = Some(state.to_string());
            l.at = DateTime::from_timestamp(1_800_000_000 + minute * 60, 0);
            states.push(l);
        }
        let history: Vec<&Line> = states.iter().collect();
        let entry = Entry {
            lead: &states[2],
            arrivals: 2,
            history: &history,
        };
        let note = folded_note(&entry).unwrap().plain();
        assert!(
            note.starts_with(
                "ALARM → OK → ALARM, 3 changes in 4 min: ALARM at 2027-01-15 08:00:00 UTC, OK at"
            ),
            "{note}"
        );
        assert!(note.ends_with("Arrived 2 times."), "{note}");
        let lone = Entry {
            lead: &states[0],
            arrivals: 1,
            history: &history[..1],
        };
        assert!(folded_note(&lone).is_none());
    }

    proptest! {
        #[test]
        fn any_digest_is_within_slacks_limits_and_names_every_entry(
            headlines in prop::collection::vec("[ -~<>&|*`]{0,400}", 1..120),
        ) {
            let lines: Vec<Line> = headlines.iter().enumerate().map(|(i, h)| finding(i, h)).collect();
            let history: Vec<Vec<&Line>> = lines.iter().map(|l| vec![l]).collect();
            let parts = render(&entries(&lines, &history), &Overrides::default(), Some("<!channel>"));
            let mut next = 0;
            for part in &parts {
                prop_assert_eq!(part.entries.start, next);
                prop_assert!(!part.entries.is_empty());
                next = part.entries.end;
                let Payload::Blocks(kit) = &part.payload else { panic!() };
                prop_assert!(kit.violations().is_empty(), "{:?}", kit.violations());
                let shown = serde_json::to_string(&part.payload).unwrap();
                for i in part.entries.clone() {
                    // Each line links to its own finding: it names its record.
                    prop_assert!(shown.contains(&format!("fId={i}|")), "entry {}", i);
                }
                prop_assert!(!shown.contains("<!channel>"), "no danger, no mention");
            }
            prop_assert_eq!(next, lines.len());
        }
    }
}
