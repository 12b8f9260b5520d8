//! What an error may show of a value someone configured: a name quoted, and
//! anything else (a URL, a Slack token, a long text) described by what kind of
//! value it is, never echoed, so a secret put where a name belongs stays out
//! of every error and log line (pure).

/// Longest a webhook name may be.
pub const MAX_NAME_CHARS: usize = 64;

/// Whether `name` can name a webhook: 1 to 64 of `A-Z a-z 0-9 _ - .`.
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `value` quoted, when an error may show it: a name (see [`is_name`]) not
/// shaped like a Slack token. `None` for anything else, which may be a secret
/// put where a name belongs.
pub fn shown(value: &str) -> Option<String> {
    (is_name(value) && !looks_like_token(value)).then(|| format!("{value:?}"))
}

/// `value` quoted when [`shown`] allows it, else what kind of value it is
/// (`a URL`, `a Slack token`, `a text of 80 characters`), never the value.
pub fn describe(value: &str) -> String {
    if let Some(quoted) = shown(value) {
        quoted
    } else if value.contains("://") || value.contains("/services/") {
        "a URL".into()
    } else if looks_like_token(value) {
        "a Slack token".into()
    } else if value.is_empty() {
        "an empty text".into()
    } else {
        format!("a text of {} characters", value.chars().count())
    }
}

fn looks_like_token(value: &str) -> bool {
    ["xox", "xapp-"].iter().any(|p| {
        value
            .get(..p.len())
            .is_some_and(|v| v.eq_ignore_ascii_case(p))
    })
}

/// A serde_json error as an error message may show it: serde's own words,
/// with every text it quotes from the input (`string "…"`, `unknown field
/// `…``) replaced by [`describe`], so a URL where a name or a flag belongs is
/// not echoed. The position is kept when there is one (serde_json shows none
/// for errors of an already parsed value, never "line 0 column 0").
pub fn serde_problem(e: &serde_json::Error) -> String {
    let text = without_quoted_values(&e.to_string());
    if text.contains("://") || text.contains("/services/") || looks_like_token_anywhere(&text) {
        // Belt and braces: a shape of message this function does not know.
        return match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("not valid JSON at line {} column {}", e.line(), e.column())
            }
            _ => "a value of the wrong type or shape".into(),
        };
    }
    text
}

fn looks_like_token_anywhere(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|word| word.len() > 8 && looks_like_token(word))
}

/// Replaces the string literals serde quotes (`"…"`, Debug-escaped) and the
/// key of `unknown field `…`` / `unknown variant `…`` with [`describe`].
fn without_quoted_values(message: &str) -> String {
    let mut message = message.to_string();
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(start) = message.find(prefix).map(|i| i + prefix.len()) {
            let end = ["`, expected", "`, there are no"]
                .iter()
                .filter_map(|end| message.rfind(end))
                .find(|&end| end >= start)
                .unwrap_or(message.len());
            let key = message[start..end].to_string();
            if shown(&key).is_none() {
                message.replace_range(start - 1..(end + 1).min(message.len()), &describe(&key));
            }
        }
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..open]);
        let literal = &rest[open + 1..];
        let mut escaped = false;
        let close = literal.char_indices().find_map(|(i, c)| match c {
            _ if escaped => {
                escaped = false;
                None
            }
            '\\' => {
                escaped = true;
                None
            }
            '"' => Some(i),
            _ => None,
        });
        let close = close.unwrap_or(literal.len());
        let value = &literal[..close];
        if shown(value).is_some() {
            out.push('"');
            out.push_str(value);
            out.push('"');
        } else {
            out.push('(');
            out.push_str(&describe(value));
            out.push(')');
        }
        rest = literal.get(close + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &str = "https://hooks.slack.com/services/T0/B0/OPSSECRET";

    /// The shape of a detailed webhook entry, for serde's own errors.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct WebhookEntry {
        url: String,
        #[serde(default)]
        rate_per_second: Option<f64>,
    }

    #[test]
    fn errors_describe_what_is_not_a_name_without_showing_it() {
        assert_eq!(describe("ops-eu.1"), "\"ops-eu.1\"");
        assert_eq!(describe(OPS), "a URL");
        assert_eq!(describe("hooks.slack.com/services/T0/B0/X"), "a URL");
        assert_eq!(describe("xoxb-1234-5678-abcdef"), "a Slack token");
        assert_eq!(describe(""), "an empty text");
        assert_eq!(describe("a b"), "a text of 3 characters");
        let problem = |json: &str| {
            serde_json::from_str::<WebhookEntry>(json)
                .map(|_| ())
                .unwrap_err()
        };
        let e = problem(&format!(r#"{{"url": 1, "{OPS}": 2}}"#));
        assert!(
            !serde_problem(&e).contains("SECRET"),
            "{}",
            serde_problem(&e)
        );
        let e = problem(&format!(
            r#"{{"url": "x", "rate_per_second": "say \"{OPS}\""}}"#
        ));
        assert!(
            !serde_problem(&e).contains("SECRET"),
            "{}",
            serde_problem(&e)
        );
        let e = problem(r#"{"url": "x", "colour": "red"}"#);
        assert!(
            serde_problem(&e).starts_with("unknown field `colour`, expected"),
            "{}",
            serde_problem(&e)
        );
    }
}
