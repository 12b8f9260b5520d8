//! Slack's text escaping, the one escaper of both Slack renderers: `&`, `<`
//! and `>` become `&amp;`, `&lt;`, `&gt;` (so a published `<!channel>` is
//! shown, never executed), and control characters other than newline and
//! tab are dropped (they have no business in a message, and some clients
//! show them as boxes). Pure.

/// Whether `c` is left out of Slack text.
fn is_dropped(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Whether no byte of `text` needs escaping or dropping. Conservative: a
/// `0xC2` byte (the lead byte of C1 controls, and of `·`, `©`...) counts.
fn is_clean(text: &str) -> bool {
    text.bytes().all(|b| {
        (b >= 0x20 && b != b'&' && b != b'<' && b != b'>' && b != 0x7F && b != 0xC2)
            || b == b'\n'
            || b == b'\t'
    })
}

/// Appends `text` to `out`, escaped.
pub fn push(out: &mut String, text: &str) {
    if is_clean(text) {
        out.push_str(text);
        return;
    }
    // Copies the runs between special characters whole. Each special is an
    // ASCII byte or a two-byte C1 control, so every cut is a char boundary.
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let (width, with) = match bytes[i] {
            b'&' => (1, "&amp;"),
            b'<' => (1, "&lt;"),
            b'>' => (1, "&gt;"),
            b'\n' | b'\t' => (0, ""),
            0..=0x1F | 0x7F => (1, ""),
            0xC2 if matches!(bytes.get(i + 1), Some(0x80..=0x9F)) => (2, ""),
            _ => (0, ""),
        };
        if width == 0 {
            i += 1;
            continue;
        }
        out.push_str(&text[start..i]);
        out.push_str(with);
        i += width;
        start = i;
    }
    out.push_str(&text[start..]);
}

/// `text`, escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push(&mut out, text);
    out
}

/// The width of `c` once escaped.
fn escaped_width(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        c if is_dropped(c) => 0,
        _ => 1,
    }
}

/// Escapes `text` and keeps the result within `max_chars` characters; when
/// cut, it ends with a marker saying how many of its characters are shown
/// (`… [truncated: N of M characters shown]`). Never splits an escape.
pub fn escape_within(text: &str, max_chars: usize) -> String {
    // Fast path, taken by almost every record: nothing to escape and short
    // enough by bytes (a char is at least one byte), so one copy does it.
    if text.len() <= max_chars && is_clean(text) {
        return text.to_owned();
    }
    let total_chars = text.chars().count();
    let escaped_len: usize = text.chars().map(escaped_width).sum();
    if escaped_len <= max_chars {
        return escape(text);
    }
    // Reserve room for the marker, computed with the largest numbers it can hold.
    let marker_room = marker(total_chars, total_chars).chars().count();
    let budget = max_chars.saturating_sub(marker_room);
    // Find where the escaped text would pass the budget, then escape up to there.
    let (mut used, mut shown, mut cut) = (0, 0, 0);
    for (at, c) in text.char_indices() {
        let w = escaped_width(c);
        if used + w > budget {
            break;
        }
        used += w;
        shown += 1;
        cut = at + c.len_utf8();
    }
    let mut out = escape(&text[..cut]);
    out.push_str(&marker(shown, total_chars));
    out
}

fn marker(shown: usize, total: usize) -> String {
    format!("\n… [truncated: {shown} of {total} characters shown]")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The char-by-char definition the faster paths must agree with.
    fn reference_escape(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c if is_dropped(c) => {}
                c => out.push(c),
            }
        }
        out
    }

    /// The char-by-char definition of cutting with the marker.
    fn reference_within(text: &str, max_chars: usize) -> String {
        let escaped = reference_escape(text);
        if escaped.chars().count() <= max_chars {
            return escaped;
        }
        let total = text.chars().count();
        let budget = max_chars - marker(total, total).chars().count();
        let (mut out, mut shown) = (String::new(), 0);
        for c in text.chars() {
            let piece = reference_escape(&c.to_string());
            if out.chars().count() + piece.chars().count() > budget {
                break;
            }
            out.push_str(&piece);
            shown += 1;
        }
        out + &marker(shown, total)
    }

    #[test]
    fn mentions_and_links_are_escaped_and_control_characters_dropped() {
        assert_eq!(
            escape("<!channel> a & b > c"),
            "&lt;!channel&gt; a &amp; b &gt; c"
        );
        assert_eq!(escape("a\u{0}b\r\nc\td\u{7f}e\u{85}f·"), "ab\nc\tdef·");
    }

    #[test]
    fn fast_paths_agree_with_the_char_by_char_definition() {
        let texts = [
            "",
            "plain",
            "a & b < c > d",
            "&&&<<<>>>",
            "ünïcödé 日本語 <tag> & 🚀",
            "ends with &",
            "<starts",
            "bell\u{7} and C1 \u{9b} and ©·",
            "\r\n\r\n",
        ];
        for text in texts {
            assert_eq!(escape(text), reference_escape(text), "{text:?}");
            let width: usize = text.chars().map(escaped_width).sum();
            // At, around and far from the point where the text stops fitting.
            for max in [width.saturating_sub(1), width, width + 1, 1000] {
                let max = max.max(crate::render::MIN_MAX_MESSAGE_CHARS);
                let got = escape_within(text, max);
                assert_eq!(got, reference_within(text, max), "{text:?} within {max}");
                assert!(got.chars().count() <= max);
            }
        }
        // Multi-byte text longer in bytes than the cap but not in characters.
        let text = "é".repeat(150);
        assert_eq!(escape_within(&text, 200), text);
        // Escaping alone pushes it over: 50 '&' are 250 characters escaped.
        let text = "&".repeat(50);
        let got = escape_within(&text, 200);
        assert!(got.contains("[truncated:"), "{got}");
        assert_eq!(got, reference_within(&text, 200));
        // Cut inside multi-byte and escaped text alike.
        let text = "日本<語>&é\u{1} ".repeat(100);
        for max in [200, 333, 1000] {
            assert_eq!(escape_within(&text, max), reference_within(&text, max));
        }
    }

    #[test]
    fn long_text_is_cut_with_a_visible_marker_within_the_limit() {
        let long = "é<".repeat(150_000);
        let out = escape_within(&long, 4000);
        assert!(out.chars().count() <= 4000, "{}", out.chars().count());
        assert!(
            out.ends_with("of 300000 characters shown]"),
            "{}",
            &out[out.len() - 60..]
        );
        assert!(!out.contains("&lt\n"), "an escape was split");
        let shown: usize = out.split('\n').next().unwrap().matches("&lt;").count();
        assert!(shown > 500);
        assert_eq!(escape_within("日本語 🚨", 10), "日本語 🚨");
    }
}
