//! Notice -> Block Kit: the typed Block Kit model (blocks, text objects),
//! mrkdwn, and every limit Slack sets, checked in one place ([`violations`])
//! and enforced on every message ([`BlockKit::new`]). Pure.
//!
//! Content only enters mrkdwn through [`Md`], which escapes it
//! ([`super::escape`]); the only `<...>` tokens in a rendered message are the
//! links and `<!date^...>` times that [`Md`] builds itself, and a mention
//! the caller passes in. So a published `<!here>`, `<@U123>` or
//! `<https://evil|bank>` is shown as text and never executes. `plain_text`
//! objects (headers) are never parsed by Slack for mentions or links, so
//! they carry the text as written.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value};

use super::escape::{escape, push as push_escaped};
use super::{Overrides, Payload};
use crate::notice::{Link, List, Notice, Part, Rich, Span, Stamp, Tone, is_trusted_url, utc};

/// Most blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// Longest `plain_text` of a header block, in characters.
pub const MAX_HEADER_CHARS: usize = 150;
/// Longest text of a section block, in characters.
pub const MAX_SECTION_CHARS: usize = 3_000;
/// Most fields of a section block.
pub const MAX_FIELDS: usize = 10;
/// Longest text of one section field, in characters.
pub const MAX_FIELD_CHARS: usize = 2_000;
/// Most elements of a context block.
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
/// Longest text of one context element, in characters.
pub const MAX_CONTEXT_CHARS: usize = 3_000;
/// Longest top-level `text`, in characters.
pub const MAX_TEXT_CHARS: usize = 40_000;
/// Most characters of block text in one message, all blocks together. Slack
/// has been reported to reject longer block messages (`invalid_blocks`,
/// `msg_blocks_too_long`) although each block is within its own limit.
pub const MAX_TOTAL_BLOCK_CHARS: usize = 12_000;

/// Raw characters per section of a long text or JSON body; escaping may
/// lengthen it, and the section limit (3,000) still holds after.
const CHUNK_CHARS: usize = 2_500;

/// The attachment `color` of a tone.
pub fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Danger => "#d13212",
        Tone::Warning => "#f2a900",
        Tone::Good => "#2eb67d",
        Tone::Info => "#1d9bd1",
        Tone::Neutral => "#9ea7ad",
    }
}

/// A Block Kit text object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Text {
    /// Plain text (headers): never parsed for markup, mentions or links.
    PlainText {
        /// The text.
        text: String,
        /// Whether `:emoji:` codes are shown as emoji.
        emoji: bool,
    },
    /// mrkdwn, always built through [`Md`].
    Mrkdwn {
        /// The escaped text.
        text: String,
    },
}

impl Text {
    /// A `plain_text` object.
    pub fn plain(text: impl Into<String>) -> Self {
        Text::PlainText {
            text: text.into(),
            emoji: true,
        }
    }

    /// The text, whatever its type.
    pub fn as_str(&self) -> &str {
        match self {
            Text::PlainText { text, .. } | Text::Mrkdwn { text } => text,
        }
    }

    fn chars(&self) -> usize {
        self.as_str().chars().count()
    }

    /// Keeps the text within `max` characters, with a visible marker when cut.
    fn cut_to(&mut self, max: usize) {
        match self {
            Text::PlainText { text, .. } => {
                if text.chars().count() > max {
                    *text = cut_plain(text, max);
                }
            }
            Text::Mrkdwn { text } => {
                if text.chars().count() > max {
                    *text = cut_mrkdwn(text, max);
                }
            }
        }
    }
}

impl From<Md> for Text {
    fn from(md: Md) -> Self {
        Text::Mrkdwn { text: md.0 }
    }
}

/// A Block Kit layout block.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// Large bold title, `plain_text` of at most 150 characters.
    Header {
        /// The title.
        text: Text,
    },
    /// A text and/or up to 10 two-column fields.
    Section {
        /// The main text.
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<Text>,
        /// Short label/value fields shown in two columns.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fields: Vec<Text>,
    },
    /// Small grey text, at most 10 elements.
    Context {
        /// The elements.
        elements: Vec<Text>,
    },
    /// A horizontal rule.
    Divider {},
}

impl Block {
    /// A header block titled `text`.
    pub fn header(text: impl Into<String>) -> Self {
        Block::Header {
            text: Text::plain(text),
        }
    }

    /// A section block with one mrkdwn text.
    pub fn text(md: Md) -> Self {
        Block::Section {
            text: Some(md.into()),
            fields: Vec::new(),
        }
    }

    /// A section block of fields (each a `*label*` line and its value).
    pub fn fields(fields: Vec<Md>) -> Self {
        Block::Section {
            text: None,
            fields: fields.into_iter().map(Text::from).collect(),
        }
    }

    /// A context block of mrkdwn elements.
    pub fn context(elements: Vec<Md>) -> Self {
        Block::Context {
            elements: elements.into_iter().map(Text::from).collect(),
        }
    }

    /// A divider.
    pub fn divider() -> Self {
        Block::Divider {}
    }

    /// Every text object of the block.
    pub fn texts(&self) -> Vec<&Text> {
        match self {
            Block::Header { text } => vec![text],
            Block::Section { text, fields } => text.iter().chain(fields.iter()).collect(),
            Block::Context { elements } => elements.iter().collect(),
            Block::Divider {} => Vec::new(),
        }
    }

    fn texts_mut(&mut self) -> Vec<&mut Text> {
        match self {
            Block::Header { text } => vec![text],
            Block::Section { text, fields } => text.iter_mut().chain(fields.iter_mut()).collect(),
            Block::Context { elements } => elements.iter_mut().collect(),
            Block::Divider {} => Vec::new(),
        }
    }

    fn chars(&self) -> usize {
        self.texts().iter().map(|t| t.chars()).sum()
    }

    /// Whether the block shows nothing (Slack rejects empty text objects, so
    /// such a block is left out).
    fn is_blank(&self) -> bool {
        !matches!(self, Block::Divider {}) && self.texts().is_empty()
    }

    /// Applies the block's own limits: header length, section text, field
    /// count and length, context elements. Blank texts are removed first.
    fn bound(&mut self) {
        let blank = |t: &Text| t.as_str().trim().is_empty();
        match self {
            Block::Header { text } if blank(text) => *self = Block::Context { elements: vec![] },
            Block::Section { text, fields } => {
                if text.as_ref().is_some_and(blank) {
                    *text = None;
                }
                fields.retain(|f| !blank(f));
            }
            Block::Context { elements } => elements.retain(|e| !blank(e)),
            _ => {}
        }
        match self {
            Block::Header { text } => {
                // A header is plain_text whatever the caller built.
                let plain = text.as_str().replace('\n', " ");
                *text = Text::plain(plain);
                text.cut_to(MAX_HEADER_CHARS);
            }
            Block::Section { text, fields } => {
                if let Some(text) = text {
                    text.cut_to(MAX_SECTION_CHARS);
                }
                if fields.len() > MAX_FIELDS {
                    let hidden = fields.len() - (MAX_FIELDS - 1);
                    fields.truncate(MAX_FIELDS - 1);
                    fields.push(
                        Md::new()
                            .italic_static(&format!("… {hidden} more fields not shown"))
                            .into(),
                    );
                }
                for field in fields.iter_mut() {
                    field.cut_to(MAX_FIELD_CHARS);
                }
            }
            Block::Context { elements } => {
                if elements.len() > MAX_CONTEXT_ELEMENTS {
                    let hidden = elements.len() - (MAX_CONTEXT_ELEMENTS - 1);
                    elements.truncate(MAX_CONTEXT_ELEMENTS - 1);
                    elements.push(
                        Md::new()
                            .italic_static(&format!("… {hidden} more not shown"))
                            .into(),
                    );
                }
                for element in elements.iter_mut() {
                    element.cut_to(MAX_CONTEXT_CHARS);
                }
            }
            Block::Divider {} => {}
        }
    }
}

/// mrkdwn under construction. Message content goes in escaped; the markup
/// (bold, code, links, dates) is added by the methods, never from content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Md(String);

impl Md {
    /// Empty mrkdwn.
    pub fn new() -> Self {
        Md(String::new())
    }

    /// Content, escaped.
    pub fn text(mut self, content: &str) -> Self {
        push_escaped(&mut self.0, content);
        self
    }

    /// Content in bold (asterisks inside are shown, not interpreted as markup
    /// that could close the bold early: they become a lookalike).
    pub fn bold(mut self, content: &str) -> Self {
        let content = content.trim();
        if content.is_empty() {
            return self;
        }
        self.0.push('*');
        push_escaped(&mut self.0, &content.replace('*', "∗"));
        self.0.push('*');
        self
    }

    /// Our own fixed words in italics (content never goes here).
    fn italic_static(mut self, words: &str) -> Self {
        self.0.push('_');
        push_escaped(&mut self.0, words);
        self.0.push('_');
        self
    }

    /// Content as inline code.
    pub fn code(mut self, content: &str) -> Self {
        if content.is_empty() {
            return self;
        }
        self.0.push('`');
        push_escaped(&mut self.0, &content.replace('`', "'").replace('\n', " "));
        self.0.push('`');
        self
    }

    /// Content as a preformatted block.
    pub fn code_block(mut self, content: &str) -> Self {
        self.0.push_str("```\n");
        // A ``` inside would close the block early: break it with a
        // zero-width space so it shows as written.
        push_escaped(&mut self.0, &content.replace("```", "`\u{200b}``"));
        self.0.push_str("\n```");
        self
    }

    /// A line break.
    pub fn line(mut self) -> Self {
        self.0.push('\n');
        self
    }

    /// Content labelled: `*label:* value` (nothing when value is empty).
    pub fn labelled(self, label: &str, value: &str) -> Self {
        if value.trim().is_empty() {
            return self;
        }
        self.bold(&format!("{label}:")).text(" ").text(value)
    }

    /// A link to `url` labelled `label`. Only `https://` URLs on an AWS
    /// console or documentation host are links; anything else is shown as
    /// text (Slack links a bare URL showing the URL itself, so nothing is
    /// disguised).
    pub fn link(mut self, url: &str, label: &str) -> Self {
        if !is_trusted_url(url) {
            return self.text(url);
        }
        self.0.push('<');
        for c in url.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("%3C"),
                '>' => self.0.push_str("%3E"),
                '|' => self.0.push_str("%7C"),
                ' ' => self.0.push_str("%20"),
                c if c.is_control() => {}
                c => self.0.push(c),
            }
        }
        self.0.push('|');
        push_escaped(&mut self.0, &label.replace('|', "¦"));
        self.0.push('>');
        self
    }

    /// A time each reader sees in their own zone, with `fallback` for
    /// clients that cannot (`<!date^...>`).
    pub fn date(mut self, epoch_seconds: i64, fallback: &str) -> Self {
        // Written into the text, not through a `format!` of its own.
        let _ = write!(
            self.0,
            "<!date^{epoch_seconds}^{{date_short_pretty}} {{time_secs}}|"
        );
        if fallback.contains('|') {
            push_escaped(&mut self.0, &fallback.replace('|', "¦"));
        } else {
            push_escaped(&mut self.0, fallback);
        }
        self.0.push('>');
        self
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `other` appended: both were built by these methods, so the result is
    /// as safe as each.
    pub fn then(mut self, other: &Md) -> Self {
        self.0.push_str(&other.0);
        self
    }

    /// The mrkdwn text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The marker that ends a cut text.
const CUT_MARKER: &str = " … [cut]";

fn cut_plain(text: &str, max: usize) -> String {
    let keep = max.saturating_sub(CUT_MARKER.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(CUT_MARKER);
    out
}

/// Cuts mrkdwn to `max` characters without splitting an escape (`&amp;`), a
/// `<link|label>` or leaving a code block open, and ends it with the marker.
fn cut_mrkdwn(text: &str, max: usize) -> String {
    // Room for the marker and a closing ``` when needed.
    let keep = max.saturating_sub(CUT_MARKER.chars().count() + 4);
    let end = text
        .char_indices()
        .nth(keep)
        .map(|(at, _)| at)
        .unwrap_or(text.len());
    let mut head = &text[..end];
    // An escape cut in the middle: drop its start.
    if let Some(amp) = head.rfind('&')
        && !head[amp..].contains(';')
    {
        head = &head[..amp];
    }
    // A link or date cut in the middle: drop it whole.
    if let Some(open) = head.rfind('<')
        && !head[open..].contains('>')
    {
        head = &head[..open];
    }
    let mut out = head.to_string();
    if head.matches("```").count() % 2 == 1 {
        out.push_str("\n```");
    }
    out.push_str(CUT_MARKER);
    out
}

/// The coloured bar: one attachment carrying the colour and the blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// Bar colour.
    pub color: &'static str,
    /// The message's blocks.
    pub blocks: Vec<Block>,
    /// Shown by clients that cannot show blocks.
    pub fallback: String,
}

/// A Block Kit message as posted to an Incoming Webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockKit {
    /// Top-level text: the phone notification and screen-reader summary.
    pub text: String,
    /// Blocks, when the message has no colour bar.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
    /// One attachment with the colour and the blocks, when it has one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Bar>,
    /// Channel override (legacy webhooks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Username override (legacy webhooks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Icon override (legacy webhooks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_emoji: Option<String>,
}

impl BlockKit {
    /// Builds a message from `blocks`, with `fallback` (plain words, escaped
    /// here) as the top-level text and a bar of `tone`'s colour when given,
    /// and enforces every limit: each block's own, at most [`MAX_BLOCKS`]
    /// blocks and [`MAX_TOTAL_BLOCK_CHARS`] characters of block text in all.
    /// What is cut is replaced by a visible marker; nothing is rejected.
    /// A `mention` (mrkdwn, already checked) leads the top-level text.
    pub fn new(
        fallback: &str,
        tone: Option<Tone>,
        blocks: Vec<Block>,
        overrides: &Overrides,
        mention: Option<&str>,
    ) -> Self {
        let blocks = bound_blocks(blocks);
        let mut text = escape(fallback.trim());
        if text.is_empty() {
            text = crate::notice::EMPTY_HEADLINE.into();
        }
        if let Some(mention) = mention {
            text = format!("{mention} {text}");
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            text = cut_mrkdwn(&text, MAX_TEXT_CHARS);
        }
        let (blocks, attachments) = match tone {
            None => (blocks, Vec::new()),
            Some(tone) => (
                Vec::new(),
                vec![Bar {
                    color: color(tone),
                    blocks,
                    fallback: text.clone(),
                }],
            ),
        };
        let message = BlockKit {
            text,
            blocks,
            attachments,
            channel: overrides.channel.clone(),
            username: overrides.username.clone(),
            icon_emoji: overrides.icon_emoji.clone(),
        };
        debug_assert!(
            message.violations().is_empty(),
            "{:?}",
            message.violations()
        );
        message
    }

    /// Every block of the message, top level or in the attachment.
    pub fn all_blocks(&self) -> impl Iterator<Item = &Block> {
        self.blocks
            .iter()
            .chain(self.attachments.iter().flat_map(|a| a.blocks.iter()))
    }
}

/// What Slack's limits look at in one block.
struct Measure {
    /// `header`, `section`, `context`...
    kind: String,
    /// Characters of its main text (header, section).
    text: usize,
    /// Characters of each field (section).
    fields: Vec<usize>,
    /// Elements (context).
    elements: usize,
    /// Whether a text object inside has no visible text.
    blank: bool,
    /// Characters of every text inside.
    chars: usize,
}

impl Block {
    fn measure(&self) -> Measure {
        let texts = self.texts();
        let (kind, text, fields, elements) = match self {
            Block::Header { text } => ("header", text.chars(), Vec::new(), 0),
            Block::Section { text, fields } => (
                "section",
                text.as_ref().map_or(0, Text::chars),
                fields.iter().map(Text::chars).collect(),
                0,
            ),
            Block::Context { elements } => ("context", 0, Vec::new(), elements.len()),
            Block::Divider {} => ("divider", 0, Vec::new(), 0),
        };
        Measure {
            kind: kind.to_string(),
            text,
            fields,
            elements,
            blank: texts.iter().any(|t| t.as_str().trim().is_empty()),
            chars: texts.iter().map(|t| t.chars()).sum(),
        }
    }
}

/// The measure of a block as JSON (a publisher's, of any type).
fn measure_json(block: &Value) -> Measure {
    let chars = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    Measure {
        kind: block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        text: block
            .get("text")
            .and_then(|t| t.get("text"))
            .map_or(0, chars),
        fields: block
            .get("fields")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|f| f.get("text").map_or(0, chars))
            .collect(),
        elements: block
            .get("elements")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        blank: has_blank_text(block),
        chars: text_chars_in(block),
    }
}

/// Every limit of Slack's a message breaks, in words; empty when it is
/// within all of them: at most [`MAX_BLOCKS`] blocks, a header of
/// [`MAX_HEADER_CHARS`], a section text of [`MAX_SECTION_CHARS`],
/// [`MAX_FIELDS`] fields of [`MAX_FIELD_CHARS`], [`MAX_CONTEXT_ELEMENTS`]
/// context elements, no empty text, a top-level text of [`MAX_TEXT_CHARS`]
/// and [`MAX_TOTAL_BLOCK_CHARS`] of block text in all. The one check, for
/// our messages and for publishers' own payloads alike.
fn check(text_chars: usize, blocks: &[Measure]) -> Vec<String> {
    let mut out = Vec::new();
    if text_chars > MAX_TEXT_CHARS {
        out.push(format!(
            "text has {text_chars} characters (limit {MAX_TEXT_CHARS})"
        ));
    }
    if blocks.len() > MAX_BLOCKS {
        out.push(format!("{} blocks (limit {MAX_BLOCKS})", blocks.len()));
    }
    let mut total = 0;
    for (i, block) in blocks.iter().enumerate() {
        total += block.chars;
        if block.blank {
            out.push(format!("block {i}: an empty text (Slack rejects it)"));
        }
        let text = block.text;
        match block.kind.as_str() {
            "header" if text > MAX_HEADER_CHARS => out.push(format!(
                "block {i}: header has {text} characters (limit {MAX_HEADER_CHARS})"
            )),
            "section" => {
                if text > MAX_SECTION_CHARS {
                    out.push(format!(
                        "block {i}: section text has {text} characters (limit {MAX_SECTION_CHARS})"
                    ));
                }
                if block.fields.len() > MAX_FIELDS {
                    out.push(format!(
                        "block {i}: {} fields (limit {MAX_FIELDS})",
                        block.fields.len()
                    ));
                }
                for &n in &block.fields {
                    if n > MAX_FIELD_CHARS {
                        out.push(format!(
                            "block {i}: a field has {n} characters (limit {MAX_FIELD_CHARS})"
                        ));
                    }
                }
            }
            "context" if block.elements > MAX_CONTEXT_ELEMENTS => out.push(format!(
                "block {i}: context has {} elements (limit {MAX_CONTEXT_ELEMENTS})",
                block.elements
            )),
            _ => {}
        }
    }
    if total > MAX_TOTAL_BLOCK_CHARS {
        out.push(format!(
            "blocks hold {total} characters of text (limit {MAX_TOTAL_BLOCK_CHARS})"
        ));
    }
    out
}

/// Every limit a Slack payload as JSON (a publisher's own) breaks, in words
/// ([`check`]); empty when it is within all of them.
pub fn violations(payload: &Map<String, Value>) -> Vec<String> {
    let text = payload
        .get("text")
        .and_then(Value::as_str)
        .map_or(0, |s| s.chars().count());
    let mut blocks: Vec<Measure> = Vec::new();
    if let Some(Value::Array(top)) = payload.get("blocks") {
        blocks.extend(top.iter().map(measure_json));
    }
    if let Some(Value::Array(attachments)) = payload.get("attachments") {
        for a in attachments {
            if let Some(Value::Array(inner)) = a.get("blocks") {
                blocks.extend(inner.iter().map(measure_json));
            }
        }
    }
    check(text, &blocks)
}

impl BlockKit {
    /// Every limit this message breaks ([`check`]); empty for every message
    /// [`BlockKit::new`] builds.
    pub fn violations(&self) -> Vec<String> {
        let blocks: Vec<Measure> = self.all_blocks().map(Block::measure).collect();
        check(self.text.chars().count(), &blocks)
    }
}

/// Whether a text object inside has no visible text.
fn has_blank_text(v: &Value) -> bool {
    match v {
        Value::Object(map) => {
            let is_text_object = matches!(
                map.get("type").and_then(Value::as_str),
                Some("mrkdwn" | "plain_text")
            );
            (is_text_object
                && map
                    .get("text")
                    .and_then(Value::as_str)
                    .is_none_or(|t| t.trim().is_empty()))
                || map.values().any(has_blank_text)
        }
        Value::Array(items) => items.iter().any(has_blank_text),
        _ => false,
    }
}

/// Characters of every `text` string inside a JSON value.
fn text_chars_in(v: &Value) -> usize {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if k == "text" => s.chars().count(),
                other => text_chars_in(other),
            })
            .sum(),
        Value::Array(items) => items.iter().map(text_chars_in).sum(),
        _ => 0,
    }
}

/// The final pass: each block within its limits, then the message within 50
/// blocks and 12,000 characters of block text, with a context block saying
/// what was cut.
fn bound_blocks(mut blocks: Vec<Block>) -> Vec<Block> {
    // Room for the closing marker block.
    const MARKER_ROOM: usize = 80;
    for block in &mut blocks {
        block.bound();
    }
    blocks.retain(|b| !b.is_blank());
    let total_blocks = blocks.len();
    let mut kept = Vec::with_capacity(blocks.len().min(MAX_BLOCKS));
    let mut used = 0usize;
    let mut cut = false;
    for mut block in blocks {
        if total_blocks > MAX_BLOCKS && kept.len() == MAX_BLOCKS - 1 {
            cut = true;
            break;
        }
        let chars = block.chars();
        let budget = MAX_TOTAL_BLOCK_CHARS - MARKER_ROOM;
        if used + chars > budget {
            // Shorten this block's texts to what is left, if enough is left
            // to be worth reading; then stop.
            let mut left = budget - used;
            if left >= 200 && !matches!(block, Block::Header { .. }) {
                for text in block.texts_mut() {
                    let n = text.chars();
                    if n <= left {
                        left -= n;
                    } else if left >= 40 {
                        text.cut_to(left);
                        left = left.saturating_sub(text.chars());
                    } else {
                        text.cut_to(40.min(n));
                        left = 0;
                    }
                }
                used += block.chars();
                if used <= budget {
                    kept.push(block);
                }
            }
            cut = true;
            break;
        }
        used += chars;
        kept.push(block);
    }
    if cut {
        let shown = kept.len();
        kept.push(Block::context(vec![Md::new().italic_static(&format!(
            "… cut to fit Slack's limits ({shown} of {total_blocks} blocks shown)"
        ))]));
    }
    kept
}

/// Renders `notice` as Block Kit: a header (the title, led by the tone's
/// emoji), the body part by part, and a last line saying where it came
/// from, in a bar of the tone's colour; within every limit ([`BlockKit::new`]).
/// A publisher's own Slack payload within the limits is posted as given
/// (the overrides added where it sets none, the headline for a blank
/// `text`); beyond them it is shown as JSON
/// with the reason. A `mention` (Slack mention tokens, already checked)
/// leads the top-level text and the first section text when the notice's
/// tone is danger, never otherwise.
pub fn render(notice: &Notice<'_>, overrides: &Overrides, mention: Option<&str>) -> Payload {
    if let Some(payload) = &notice.slack_payload {
        let problems = violations(payload);
        if problems.is_empty() {
            let mut payload = with_overrides(payload.clone(), overrides);
            // A blank `text` would leave phone notifications empty: it takes
            // the headline (never empty) instead.
            if payload
                .get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| t.trim().is_empty())
            {
                payload.insert("text".into(), Value::String(notice.headline.clone()));
            }
            return Payload::Passthrough(payload);
        }
        return Payload::Blocks(message(notice, overrides, None, Some(&problems.join("; "))));
    }
    let mention = mention.filter(|_| notice.tone == Some(Tone::Danger));
    Payload::Blocks(message(notice, overrides, mention, None))
}

/// A publisher's payload with the overrides added where it sets none.
fn with_overrides(mut map: Map<String, Value>, overrides: &Overrides) -> Map<String, Value> {
    for (key, value) in [
        ("channel", &overrides.channel),
        ("username", &overrides.username),
        ("icon_emoji", &overrides.icon_emoji),
    ] {
        if let Some(value) = value
            && !map.contains_key(key)
        {
            map.insert(key.into(), Value::String(value.clone()));
        }
    }
    map
}

fn message(
    notice: &Notice<'_>,
    overrides: &Overrides,
    mention: Option<&str>,
    shown_as_json: Option<&str>,
) -> BlockKit {
    let mut blocks = Vec::with_capacity(notice.body.len() + 3);
    if let Some(title) = &notice.title {
        blocks.push(Block::header(match notice.tone {
            Some(tone) => format!("{} {title}", tone.emoji()),
            None => title.clone(),
        }));
    }
    if let Some(why) = shown_as_json {
        blocks.push(Block::context(vec![
            Md::new()
                .text("This Slack payload is shown as JSON: ")
                .text(why),
        ]));
    }
    for part in &notice.body {
        push_part(&mut blocks, part);
    }
    blocks.push(footer(notice));
    if let Some(mention) = mention {
        lead_with(&mut blocks, mention);
    }
    BlockKit::new(&notice.headline, notice.tone, blocks, overrides, mention)
}

/// Puts `mention` in front of the first section text, or in a section of
/// its own after the header when there is none.
pub(crate) fn lead_with(blocks: &mut Vec<Block>, mention: &str) {
    for block in blocks.iter_mut() {
        if let Block::Section {
            text: Some(Text::Mrkdwn { text }),
            ..
        } = block
        {
            *text = format!("{mention} {text}");
            return;
        }
    }
    let at = usize::from(matches!(blocks.first(), Some(Block::Header { .. })));
    blocks.insert(
        at,
        Block::Section {
            text: Some(Text::Mrkdwn {
                text: mention.to_string(),
            }),
            fields: Vec::new(),
        },
    );
}

/// The blocks of one part of a notice's body.
fn push_part(blocks: &mut Vec<Block>, part: &Part) {
    match part {
        Part::Text(rich) => blocks.push(Block::text(mrkdwn(Md::new(), rich))),
        Part::Facts(facts) => blocks.push(Block::fields(
            facts
                .iter()
                .map(|f| mrkdwn(Md::new().bold(&f.label).line(), &f.value))
                .collect(),
        )),
        Part::List(List {
            title,
            items,
            hidden,
        }) => {
            let mut md = Md::new().bold(title);
            for item in items {
                md = mrkdwn(md.line().text("• "), item);
            }
            if *hidden > 0 {
                md = md.line().text(&format!("… {hidden} more"));
            }
            blocks.push(Block::text(md));
        }
        Part::Prose(text) => {
            for chunk in chunks(text) {
                blocks.push(Block::text(Md::new().text(chunk)));
            }
        }
        Part::Code(text) => {
            for chunk in chunks(text) {
                blocks.push(Block::text(Md::new().code_block(chunk)));
            }
        }
        Part::Note(rich) => blocks.push(Block::context(vec![mrkdwn(Md::new(), rich)])),
        Part::Link(Link { label, url }) => {
            blocks.push(Block::context(vec![Md::new().link(url, label)]))
        }
        Part::Divider => blocks.push(Block::divider()),
    }
}

/// `rich` appended to `md` as mrkdwn.
fn mrkdwn(md: Md, rich: &Rich) -> Md {
    rich.0.iter().fold(md, |md, span| match span {
        Span::Text(s) => md.text(s),
        Span::Bold(s) => md.bold(s),
        Span::Code(s) => md.code(s),
        Span::CodeBlock(s) => md.code_block(s),
        Span::Line => md.line(),
        Span::Link(Link { label, url }) => md.link(url, label),
        Span::Time(stamp) => time(md, stamp),
    })
}

fn time(md: Md, stamp: &Stamp) -> Md {
    match stamp {
        Stamp::At(t) => md.date(t.timestamp(), &utc(*t)),
        Stamp::AsSent(raw) => md.text(raw),
    }
}

/// The last line of every Block Kit message: where it came from and when.
fn footer(notice: &Notice<'_>) -> Block {
    let mut md = Md::new().text("via SNS ").code(notice.origin.topic);
    if let Some(ts) = notice.origin.timestamp {
        md = time(md.text(" · "), &Stamp::parse(ts));
    }
    Block::context(vec![md])
}

/// Splits `text` into pieces of at most [`CHUNK_CHARS`] characters, at a line
/// break when there is one in the second half of the piece.
fn chunks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = match rest.char_indices().nth(CHUNK_CHARS) {
            None => rest.len(),
            Some((at, _)) => match rest[..at].rfind('\n') {
                Some(nl) if nl > at / 2 => nl + 1,
                _ => at,
            },
        };
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

/// A link that opens a payload's blocks in Slack's Block Kit Builder: the
/// top-level blocks, or those of its attachment (the Builder does not show
/// attachments). `None` when the payload has no blocks.
pub fn builder_link(payload: &Value) -> Option<String> {
    let blocks = payload
        .get("blocks")
        .or_else(|| payload.get("attachments")?.get(0)?.get("blocks"))?;
    let json = serde_json::json!({ "blocks": blocks }).to_string();
    Some(format!(
        "https://app.slack.com/block-kit-builder/#{}",
        crate::notice::encode(&json)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_escaped_and_markup_is_ours() {
        let md = Md::new()
            .bold("a*b <!here>")
            .text(" <@U123> & <https://evil.example|bank>");
        assert_eq!(
            md.as_str(),
            "*a∗b &lt;!here&gt;* &lt;@U123&gt; &amp; &lt;https://evil.example|bank&gt;"
        );
    }

    #[test]
    fn only_aws_https_urls_become_links() {
        let md = Md::new().link(
            "https://us-east-1.console.aws.amazon.com/x?a=1&b=<2>|3",
            "open |x|",
        );
        assert_eq!(
            md.as_str(),
            "<https://us-east-1.console.aws.amazon.com/x?a=1&amp;b=%3C2%3E%7C3|open ¦x¦>"
        );
        for url in [
            "http://console.aws.amazon.com/",
            "https://evil.example/aws.amazon.com",
            "https://console.aws.amazon.com.evil.example/",
            "https://user@evil.example?.aws.amazon.com",
        ] {
            let md = Md::new().link(url, "label");
            assert!(!md.as_str().contains('<'), "{url}: {}", md.as_str());
            assert!(!md.as_str().contains("label"), "{url}");
        }
    }

    #[test]
    fn dates_show_local_time_with_an_escaped_fallback() {
        let md = Md::new().date(1_700_000_000, "2023-11-14 22:13 UTC <x>");
        assert_eq!(
            md.as_str(),
            "<!date^1700000000^{date_short_pretty} {time_secs}|2023-11-14 22:13 UTC &lt;x&gt;>"
        );
        assert_eq!(
            Md::new().date(-5, "a|b").as_str(),
            "<!date^-5^{date_short_pretty} {time_secs}|a¦b>",
            "a bar would end the fallback"
        );
    }

    #[test]
    fn cut_mrkdwn_never_splits_an_escape_a_link_or_leaves_code_open() {
        let text = Md::new().code_block(&"a&b ".repeat(100)).0;
        for max in 20..120 {
            let out = cut_mrkdwn(&text, max);
            assert!(out.chars().count() <= max, "{max}: {out}");
            assert!(out.ends_with(CUT_MARKER));
            assert_eq!(out.matches("```").count() % 2, 0, "{out}");
            let body = out.trim_end_matches(CUT_MARKER);
            if let Some(amp) = body.rfind('&') {
                assert!(body[amp..].starts_with("&amp;"), "{out}");
            }
        }
        let link = Md::new()
            .text("x")
            .link("https://aws.amazon.com/", "docs")
            .0;
        assert_eq!(cut_mrkdwn(&link, 14), "x … [cut]");
    }

    #[test]
    fn every_block_limit_is_enforced_with_a_marker() {
        let long = "x".repeat(5_000);
        let blocks = vec![
            Block::header(long.clone()),
            Block::text(Md::new().text(&long)),
            Block::fields((0..15).map(|_| Md::new().text(&long)).collect()),
            Block::context((0..12).map(|_| Md::new().text("c")).collect()),
        ];
        let msg = BlockKit::new("f", Some(Tone::Danger), blocks, &Overrides::default(), None);
        let blocks = &msg.attachments[0].blocks;
        assert_eq!(blocks[0].texts()[0].chars(), MAX_HEADER_CHARS);
        let section = blocks[1].texts()[0].chars();
        assert!((MAX_SECTION_CHARS - 10..=MAX_SECTION_CHARS).contains(&section));
        let total: usize = blocks.iter().map(Block::chars).sum();
        assert!(total <= MAX_TOTAL_BLOCK_CHARS, "{total}");
        let last = blocks.last().unwrap().texts()[0].as_str();
        assert!(last.contains("cut to fit"), "{last}");
    }

    #[test]
    fn blank_texts_and_the_blocks_they_leave_empty_are_left_out() {
        let blocks = vec![
            Block::header("  "),
            Block::text(Md::new().text(" \n ")),
            Block::fields(vec![Md::new(), Md::new().text("kept")]),
            Block::context(vec![Md::new()]),
            Block::divider(),
        ];
        let msg = BlockKit::new("f", None, blocks, &Overrides::default(), None);
        let v = serde_json::to_value(&msg).unwrap();
        assert!(msg.violations().is_empty(), "{:?}", msg.violations());
        assert_eq!(msg.blocks.len(), 2, "{v}");
        assert_eq!(msg.blocks[0].texts()[0].as_str(), "kept");
    }

    #[test]
    fn fifty_blocks_fit_without_a_marker() {
        let blocks = (0..50).map(|i| Block::text(Md::new().text(&i.to_string())));
        let msg = BlockKit::new("f", None, blocks.collect(), &Overrides::default(), None);
        assert_eq!(msg.blocks.len(), 50);
        assert_eq!(msg.blocks[49].texts()[0].as_str(), "49");
    }

    #[test]
    fn more_than_fifty_blocks_are_cut_with_a_marker() {
        let blocks = (0..80).map(|i| Block::text(Md::new().text(&i.to_string())));
        let msg = BlockKit::new("f", None, blocks.collect(), &Overrides::default(), None);
        assert_eq!(msg.blocks.len(), MAX_BLOCKS);
        let last = msg.blocks.last().unwrap().texts()[0].as_str();
        assert!(last.contains("49 of 80 blocks shown"), "{last}");
    }

    #[test]
    fn fields_and_context_elements_are_capped_with_a_marker() {
        let mut b = Block::fields((0..15).map(|i| Md::new().text(&i.to_string())).collect());
        b.bound();
        assert_eq!(b.texts().len(), MAX_FIELDS);
        assert!(b.texts()[9].as_str().contains("6 more fields"));
        let mut c = Block::context((0..12).map(|_| Md::new().text("c")).collect());
        c.bound();
        assert_eq!(c.texts().len(), MAX_CONTEXT_ELEMENTS);
    }

    #[test]
    fn the_bar_colour_puts_blocks_in_one_attachment() {
        let msg = BlockKit::new(
            "ALARM <!channel>",
            Some(Tone::Danger),
            vec![Block::divider()],
            &Overrides::default(),
            None,
        );
        let v = serde_json::to_value(&msg).unwrap();
        assert_eq!(v["text"], "ALARM &lt;!channel&gt;");
        assert_eq!(v["attachments"][0]["color"], "#d13212");
        assert_eq!(v["attachments"][0]["blocks"][0]["type"], "divider");
        assert!(v.get("blocks").is_none());
    }

    fn notification(message: &str) -> crate::record::Notification {
        crate::record::Notification {
            message_id: "m".into(),
            topic_arn: "arn:aws:sns:eu-west-1:123456789012:ops".into(),
            subject: Some("subject <x>".into()),
            message: message.into(),
            timestamp: None,
            message_attributes: Default::default(),
        }
    }

    fn rendered(message: &str, mention: Option<&str>) -> Value {
        let n = notification(message);
        let notice = crate::kinds::read(&n, 4_000);
        serde_json::to_value(render(&notice, &Overrides::default(), mention)).unwrap()
    }

    const MENTION: &str = "<!here> <@U0123ABCD>";

    #[test]
    fn a_mention_leads_the_text_and_first_section_of_a_danger_notice() {
        let alarm =
            r#"{"AlarmName":"api","NewStateValue":"ALARM","OldStateValue":"OK","Trigger":{}}"#;
        let v = rendered(alarm, Some(MENTION));
        assert_eq!(v["text"], "<!here> <@U0123ABCD> ALARM: api");
        let blocks = &v["attachments"][0]["blocks"];
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[1]["text"]["text"],
            "<!here> <@U0123ABCD> *OK → ALARM*"
        );
        // Only the first section.
        let all = v.to_string();
        assert_eq!(all.matches("<!here>").count(), 3, "{all}"); // text, fallback, section
    }

    #[test]
    fn a_mention_gets_its_own_section_when_there_is_none() {
        let mut blocks = vec![
            Block::header("t"),
            Block::context(vec![Md::new().text("c")]),
        ];
        lead_with(&mut blocks, MENTION);
        assert_eq!(blocks[1].texts()[0].as_str(), MENTION);
        assert!(matches!(blocks[1], Block::Section { .. }));
    }

    #[test]
    fn no_mention_unless_the_tone_is_danger() {
        let ok = r#"{"AlarmName":"api","NewStateValue":"OK","Trigger":{}}"#;
        let payload = r#"{"text":"hi"}"#;
        for message in [ok, "plain text", "[1]", payload] {
            let v = rendered(message, Some(MENTION));
            assert!(!v.to_string().contains("<!here>"), "{message}: {v}");
            assert_eq!(v, rendered(message, None), "{message}");
        }
    }

    #[test]
    fn a_slack_payload_within_the_limits_is_posted_as_given() {
        let v = rendered(r#"{"text":"<!here> deploy","unfurl_links":false}"#, None);
        assert_eq!(
            v,
            serde_json::json!({"text": "<!here> deploy", "unfurl_links": false})
        );
    }

    #[test]
    fn a_slack_payload_with_a_blank_text_gets_the_headline() {
        let v = rendered(
            r#"{"text":" ","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"deployed"}}]}"#,
            None,
        );
        let text = v["text"].as_str().unwrap();
        assert!(!text.trim().is_empty(), "{v}");
        assert_eq!(v["blocks"][0]["text"]["text"], "deployed");
    }

    #[test]
    fn a_slack_payload_over_the_limits_is_shown_as_json_with_the_reason() {
        let blocks: Vec<Value> = (0..51)
            .map(|_| serde_json::json!({"type": "divider"}))
            .collect();
        let v = rendered(&serde_json::json!({ "blocks": blocks }).to_string(), None);
        let note = v["blocks"][1]["elements"][0]["text"].as_str().unwrap();
        assert!(note.contains("51 blocks (limit 50)"), "{note}");
        let big = serde_json::json!({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(12_001)}}]});
        let why = violations(big.as_object().unwrap()).join("; ");
        assert!(why.contains("12001 characters"), "{why}");
    }
}
