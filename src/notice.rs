//! The target-neutral notice: what a notification says, read once by
//! [`crate::kinds`], shown by every renderer of [`crate::render`]. Pure.
//!
//! Text in a notice is plain and unescaped: no mrkdwn, no HTML, no escapes.
//! The body is a list of [`Part`]s in reading order, their text a small rich
//! text model ([`Rich`]: words, bold, code, links, times, line breaks) that
//! each renderer maps to its own markup and escapes for its own target. So a
//! new target (a digest line, Teams, Google Chat) is one renderer file, with
//! no change to the kinds.
//!
//! A notice also knows its identity: [`Notice::thread_key`], the thing whose
//! lifecycle it belongs to (an alarm, a build, a finding), and
//! [`Notice::dedup_key`], a fingerprint of what it says.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Timelike, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::kinds::Kind;

/// How urgent a notice's status is; renderers colour by it (a bar, an emoji).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// ALARM, FAILED, Critical, High: red.
    Danger,
    /// Warnings, Medium: amber.
    Warning,
    /// OK, SUCCEEDED: green.
    Good,
    /// Informational, in progress: blue.
    Info,
    /// INSUFFICIENT_DATA, unknown: grey.
    Neutral,
}

impl Tone {
    /// The tone's name: `danger`, `warning`, `good`, `info`, `neutral`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Tone::Danger => "danger",
            Tone::Warning => "warning",
            Tone::Good => "good",
            Tone::Info => "info",
            Tone::Neutral => "neutral",
        }
    }

    /// An emoji for the tone, so the state reads even without colour (screen
    /// readers, phone notifications).
    pub const fn emoji(self) -> &'static str {
        match self {
            Tone::Danger => "🔴",
            Tone::Warning => "🟠",
            Tone::Good => "🟢",
            Tone::Info => "🔵",
            Tone::Neutral => "⚪",
        }
    }
}

/// A time as a notification states it: read when its format is one AWS uses,
/// else kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamp {
    /// A time read, in UTC; renderers show it in each reader's zone when
    /// their target can.
    At(DateTime<Utc>),
    /// A time that could not be read, shown as sent.
    AsSent(String),
}

impl Stamp {
    /// Reads the timestamps AWS sends (see [`parse_time`]).
    pub fn parse(raw: &str) -> Self {
        match parse_time(raw) {
            Some(t) => Stamp::At(t),
            None => Stamp::AsSent(raw.to_string()),
        }
    }
}

/// Parses the timestamps AWS sends: RFC 3339, CloudWatch's
/// `2026-11-24T09:15:01.884+0000` (no colon in the offset), RDS's
/// `2026-11-24 09:40:00.123` (UTC, no zone), CodePipeline's
/// `2026-12-01T14:30Z` (to the minute) and Health's RFC 2822 dates.
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    DateTime::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_rfc2822(raw))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            // RDS writes its event time without a zone; it is UTC.
            chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f")
                // CodePipeline writes an approval's expiry to the minute.
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%MZ"))
                .ok()
                .map(|t| t.and_utc())
        })
}

/// One run of rich text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// Words.
    Text(Cow<'static, str>),
    /// Words in bold (never empty).
    Bold(Cow<'static, str>),
    /// An id, name or ARN as inline code (never empty).
    Code(Cow<'static, str>),
    /// Preformatted text.
    CodeBlock(String),
    /// A line break.
    Line,
    /// A link (see [`Link`]).
    Link(Link),
    /// A time.
    Time(Stamp),
}

/// Rich text: [`Span`]s in order, built with the methods below. Empty words,
/// bold or code add nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rich(pub Vec<Span>);

impl Rich {
    /// No text.
    pub fn new() -> Self {
        Rich(Vec::new())
    }

    /// Words (nothing when empty).
    pub fn text(mut self, words: impl Into<Cow<'static, str>>) -> Self {
        let words = words.into();
        if !words.is_empty() {
            self.0.push(Span::Text(words));
        }
        self
    }

    /// Words in bold (nothing when blank; kept trimmed).
    pub fn bold(mut self, words: impl Into<Cow<'static, str>>) -> Self {
        let words = words.into();
        let trimmed = words.trim();
        if !trimmed.is_empty() {
            let words = if trimmed.len() == words.len() {
                words
            } else {
                Cow::Owned(trimmed.to_string())
            };
            self.0.push(Span::Bold(words));
        }
        self
    }

    /// Inline code (nothing when empty).
    pub fn code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        let code = code.into();
        if !code.is_empty() {
            self.0.push(Span::Code(code));
        }
        self
    }

    /// Preformatted text.
    pub fn code_block(mut self, text: impl Into<String>) -> Self {
        self.0.push(Span::CodeBlock(text.into()));
        self
    }

    /// A line break.
    pub fn line(mut self) -> Self {
        self.0.push(Span::Line);
        self
    }

    /// A link labelled `label`.
    pub fn link(mut self, url: impl Into<String>, label: impl Into<String>) -> Self {
        self.0.push(Span::Link(Link::new(label, url)));
        self
    }

    /// A time as sent: read when it can be ([`Stamp::parse`]).
    pub fn time(mut self, raw: &str) -> Self {
        self.0.push(Span::Time(Stamp::parse(raw)));
        self
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text as plain words: code as is, links by their label, times in
    /// UTC, line breaks as newlines.
    pub fn plain(&self) -> String {
        let mut out = String::new();
        for span in &self.0 {
            match span {
                Span::Text(s) | Span::Bold(s) | Span::Code(s) => out.push_str(s),
                Span::CodeBlock(s) => out.push_str(s),
                Span::Line => out.push('\n'),
                Span::Link(link) => out.push_str(&link.label),
                Span::Time(Stamp::At(t)) => out.push_str(&utc(*t)),
                Span::Time(Stamp::AsSent(s)) => out.push_str(s),
            }
        }
        out
    }
}

/// A time in words, UTC: `2026-11-24 09:15:01 UTC`.
///
/// Written digit by digit: chrono's `format` reads its pattern again at
/// every call, and this runs for every message. Years outside 0-9999 and
/// leap seconds, which that pattern writes its own way, still go through it.
pub fn utc(t: DateTime<Utc>) -> String {
    let year = t.year();
    if !(0..=9999).contains(&year) || t.nanosecond() >= 1_000_000_000 {
        return t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    }
    let digits = |out: &mut String, n: u32, width: u32| {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
        }
    };
    let mut out = String::with_capacity(23);
    digits(&mut out, year as u32, 4);
    let parts = [
        ('-', t.month()),
        ('-', t.day()),
        (' ', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ];
    for (separator, n) in parts {
        out.push(separator);
        digits(&mut out, n, 2);
    }
    out.push_str(" UTC");
    out
}

/// A link. Only `https://` URLs on an AWS host ([`Link::is_trusted`]) are
/// shown as links by any renderer; any other URL is shown as text, so
/// nothing a message contains can disguise where a link goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// What the link says (`Open the alarm in the CloudWatch console`).
    pub label: String,
    /// Where it goes.
    pub url: String,
}

impl Link {
    /// A link to `url` labelled `label`.
    pub fn new(label: impl Into<String>, url: impl Into<String>) -> Self {
        Link {
            label: label.into(),
            url: url.into(),
        }
    }

    /// Whether the URL may be shown as a labelled link: `https://` on an AWS
    /// console, documentation or service host.
    pub fn is_trusted(&self) -> bool {
        is_trusted_url(&self.url)
    }
}

/// Characters left as they are in a URL component: the unreserved set of
/// RFC 3986 (as JavaScript's `encodeURIComponent`, but encoding `!'()*` too,
/// which the console accepts and Slack's link syntax prefers).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `text` encoded as one URL component (a path segment, query value or
/// fragment part): `/`, spaces, parentheses, `|`, `<`, `>` all encoded.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// Whether a URL may become a labelled link: `https://` on an AWS host.
pub fn is_trusted_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if host.contains(['@', ':', '<', '>', '|', ' ', '\\']) {
        return false;
    }
    [
        ".aws.amazon.com",
        ".amazonaws.com",
        ".amazonaws.cn",
        ".amazonaws-us-gov.com",
    ]
    .iter()
    .any(|suffix| host.ends_with(suffix) || host == suffix[1..])
}

/// A labelled value (`Cluster`: `prod`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// The label, plain words.
    pub label: Cow<'static, str>,
    /// The value.
    pub value: Rich,
}

/// A list under a title, each item one line; `hidden` items not shown are
/// counted at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    /// What the items are (`Containers`).
    pub title: String,
    /// The items shown.
    pub items: Vec<Rich>,
    /// How many more there are, not shown (0: none).
    pub hidden: usize,
}

/// One part of a notice's body, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A paragraph.
    Text(Rich),
    /// Labelled values, shown side by side where the target can.
    Facts(Vec<Fact>),
    /// A titled list.
    List(List),
    /// A long text as published (a message that is no known kind), plain;
    /// renderers may split it to fit their limits.
    Prose(String),
    /// Preformatted text (JSON), already cut to the message limit; renderers
    /// may split it at line breaks.
    Code(String),
    /// Small print: where and when, keywords, a note.
    Note(Rich),
    /// A link on its own line (a console page).
    Link(Link),
    /// A separator between items (findings of one event).
    Divider,
}

/// Where a notice came from: the SNS notification as published. Renderers
/// that show the message as sent (the Go sample's layout) read it here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'n> {
    /// The topic's name (the last part of its ARN).
    pub topic: &'n str,
    /// When SNS published it, as sent.
    pub timestamp: Option<&'n str>,
    /// The subject, as sent.
    pub subject: Option<&'n str>,
    /// The message, as sent.
    pub message: &'n str,
    /// How many characters of the message may be shown (`MAX_MESSAGE_CHARS`):
    /// the kinds cut text and JSON to it, and a renderer that shows the
    /// message as sent cuts it there too.
    pub max_message_chars: usize,
}

/// What a notice's fingerprint is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Said {
    /// The fields that say what happened (ids, states, times), in order.
    Fields(Vec<String>),
    /// The subject and message as published (kinds without ids).
    Message,
}

/// A notification read: what it is, how urgent, what it says and how to
/// recognise it. Borrows the notification it was read from ([`Origin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice<'n> {
    /// The kind, detected from the content.
    pub kind: Kind,
    /// The status as the source names it (`ALARM`, `High`, `FAILED`...).
    pub status: Option<String>,
    /// How urgent; `None` for what has no status of its own (text, JSON,
    /// custom notifications): renderers show no colour.
    pub tone: Option<Tone>,
    /// The title (the state and the name), plain, without an emoji.
    pub title: Option<String>,
    /// One line of plain text that says it all, never empty: for phone
    /// notifications, digests and logs.
    pub headline: String,
    /// The body, in reading order.
    pub body: Vec<Part>,
    /// When the thing happened, when the notification says so.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Where it came from.
    pub origin: Origin<'n>,
    /// The publisher's own Slack payload (kind `slack_payload`), for the
    /// Slack renderer to post as given; the body shows it as JSON elsewhere.
    pub slack_payload: Option<serde_json::Map<String, serde_json::Value>>,
    thread_key: Option<String>,
    said: Said,
}

/// The parts of a notice its kind's reader writes; [`crate::kinds`] adds
/// the kind, status and origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Draft {
    pub title: Option<String>,
    pub headline: String,
    pub tone: Option<Tone>,
    pub body: Vec<Part>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub thread_key: Option<String>,
    pub said: Said,
}

impl Draft {
    /// A draft with a title, headline, tone and body; no identity yet
    /// (fingerprinted by its message).
    pub fn new(
        title: Option<String>,
        headline: String,
        tone: Option<Tone>,
        body: Vec<Part>,
    ) -> Self {
        Draft {
            title,
            headline,
            tone,
            body,
            occurred_at: None,
            thread_key: None,
            said: Said::Message,
        }
    }

    /// The thing whose lifecycle this is part of.
    pub fn thread(mut self, key: Option<String>) -> Self {
        self.thread_key = key.filter(|k| !k.trim().is_empty());
        self
    }

    /// What the notification says, by the fields that identify it (absent
    /// fields count as empty).
    pub fn says<S: Into<String>>(mut self, fields: impl IntoIterator<Item = Option<S>>) -> Self {
        self.said = Said::Fields(
            fields
                .into_iter()
                .map(|f| f.map(Into::into).unwrap_or_default())
                .collect(),
        );
        self
    }

    /// When it happened.
    pub fn at(mut self, raw: Option<&str>) -> Self {
        self.occurred_at = raw.and_then(parse_time);
        self
    }
}

/// The fallback headline of a notice with nothing to say.
pub const EMPTY_HEADLINE: &str = "SNS notification";

impl<'n> Notice<'n> {
    /// Assembles a notice from its kind's draft: the headline made one line
    /// (control characters and line breaks become spaces, trimmed, never
    /// empty).
    pub(crate) fn new(
        kind: Kind,
        status: Option<String>,
        draft: Draft,
        origin: Origin<'n>,
        slack_payload: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Self {
        Notice {
            kind,
            status,
            tone: draft.tone,
            title: draft.title,
            headline: one_line(&draft.headline),
            body: draft.body,
            occurred_at: draft.occurred_at,
            origin,
            slack_payload,
            thread_key: draft.thread_key,
            said: draft.said,
        }
    }

    /// The thing whose lifecycle this notification is part of, when it has
    /// one: an alarm's ARN, a pipeline execution, a build's ARN, a
    /// deployment, a finding, a Health event's ARN, a stack's id, a task, an
    /// instance, a backup job. `None` for what has no lifecycle (an RDS
    /// event, a bounce, text). Unique across accounts and regions: an ARN
    /// where the thing has one, else `kind:region:account:id`.
    pub fn thread_key(&self) -> Option<&str> {
        self.thread_key.as_deref()
    }

    /// A fingerprint of what the notification says (32 hex digits): equal
    /// for the same finding sent from two regions or re-emitted, whatever
    /// SNS message id, topic or publication time it came with. Made of the
    /// kind, status and the fields that identify the event (ids, states,
    /// times); for kinds without such fields, of the subject and message.
    /// Computed when asked.
    pub fn dedup_key(&self) -> String {
        let mut hash = Sha256::new();
        let mut feed = |part: &str| {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        };
        feed(self.kind.as_str());
        feed(self.status.as_deref().unwrap_or(""));
        match &self.said {
            Said::Fields(fields) => fields.iter().for_each(|f| feed(f)),
            Said::Message => {
                feed(self.origin.subject.unwrap_or(""));
                feed(self.origin.message);
            }
        }
        let digest = hash.finalize();
        // Lower-case hex, two digits a byte (a `format!` per byte cost more
        // than the hash).
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut key = String::with_capacity(32);
        for b in &digest[..16] {
            key.push(char::from(HEX[usize::from(b >> 4)]));
            key.push(char::from(HEX[usize::from(b & 0xF)]));
        }
        key
    }

    /// Every fact of the body, in order.
    pub fn facts(&self) -> impl Iterator<Item = &Fact> {
        self.body.iter().flat_map(|p| match p {
            Part::Facts(facts) => facts.as_slice(),
            _ => &[],
        })
    }

    /// Every link that stands on its own line (console pages), in order.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.body.iter().filter_map(|p| match p {
            Part::Link(link) => Some(link),
            _ => None,
        })
    }
}

/// `text` on one line: control characters (line breaks, tabs) become
/// spaces; trimmed; [`EMPTY_HEADLINE`] when nothing is left.
pub fn one_line(text: &str) -> String {
    // Most headlines have no control character: trimmed as they are.
    let mapped: String;
    let line = if text.chars().any(char::is_control) {
        mapped = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        mapped.trim()
    } else {
        text.trim()
    };
    if line.is_empty() {
        EMPTY_HEADLINE.to_string()
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_words_read_as_chronos_pattern_writes_them() {
        let pattern = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        for text in [
            "2026-11-24T09:15:01Z",
            "2026-01-02T03:04:05.999Z",
            "0001-01-01T00:00:00Z",
            "0000-12-31T23:59:59Z",
            "9999-12-31T23:59:59Z",
            "2016-12-31T23:59:60Z",
        ] {
            let t = DateTime::parse_from_rfc3339(text).unwrap().to_utc();
            assert_eq!(utc(t), pattern(t), "{text}");
        }
        assert_eq!(
            utc(DateTime::parse_from_rfc3339("2026-11-24T09:15:01Z")
                .unwrap()
                .to_utc()),
            "2026-11-24 09:15:01 UTC"
        );
        for secs in [-62_200_000_000_i64, 253_402_300_800, 400_000_000_000] {
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            assert_eq!(utc(t), pattern(t), "{secs}");
        }
    }

    #[test]
    fn rich_text_skips_empty_words_and_reads_as_plain_text() {
        let rich = Rich::new()
            .text("")
            .bold("  ")
            .code("")
            .bold(" State ")
            .text(" in ")
            .code("eu-west-1")
            .line()
            .link("https://console.aws.amazon.com/", "Open")
            .text(" at ")
            .time("2026-11-24T09:15:01.884+0000")
            .text(" or ")
            .time("yesterday");
        assert_eq!(rich.0[0], Span::Bold("State".into()));
        assert_eq!(
            rich.plain(),
            "State in eu-west-1\nOpen at 2026-11-24 09:15:01 UTC or yesterday"
        );
        assert!(Rich::new().text("").is_empty());
    }

    #[test]
    fn headlines_are_one_line_and_never_empty() {
        assert_eq!(one_line(" a\nb\r\tc\u{7} "), "a b  c");
        assert_eq!(one_line(" \n "), EMPTY_HEADLINE);
        assert_eq!(one_line("  a  b "), "a  b", "no control characters");
        assert_eq!(one_line("   "), EMPTY_HEADLINE);
    }

    #[test]
    fn only_aws_https_urls_are_trusted() {
        assert!(is_trusted_url("https://eu-west-1.console.aws.amazon.com/x"));
        assert!(is_trusted_url("https://aws.amazon.com/"));
        for url in [
            "http://console.aws.amazon.com/",
            "https://evil.example/aws.amazon.com",
            "https://console.aws.amazon.com.evil.example/",
            "https://user@evil.example?.aws.amazon.com",
            "https://console.aws.amazon.com:8443/",
        ] {
            assert!(!is_trusted_url(url), "{url}");
        }
    }

    #[test]
    fn aws_time_formats_are_read() {
        let t = parse_time("2026-11-24T09:15:01.884+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-24T09:15:01.884+00:00");
        assert!(parse_time("2026-11-24T09:15:01Z").is_some());
        assert!(parse_time("2026-11-24 09:40:00.123").is_some());
        assert!(parse_time("Tue, 24 Nov 2026 09:00:00 GMT").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
