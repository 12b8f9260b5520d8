//! Helpers every kind shares: reading JSON leniently, facts, region codes
//! from ARNs, console links, status words to tones, and a readable summary of
//! any JSON.

use std::borrow::Cow;

use serde_json::Value;

use crate::notice::{Fact, Link, Part, Rich, Tone};

pub use crate::notice::encode;

/// The value at `path` (object keys) in `v`.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

/// The value at `path` as text: strings as they are, numbers and booleans
/// written out; `None` for null, missing, empty, arrays and objects.
pub fn text_at(v: &Value, path: &[&str]) -> Option<String> {
    at(v, path).and_then(scalar)
}

/// The array at `key` of `v`, or nothing when it is absent or not an array.
pub fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The text of a scalar (string, number or bool); `None` for the rest.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A fact with a time given in milliseconds since the epoch (Step Functions'
/// `startDate`), none when absent or not a number.
pub fn epoch_ms_field(label: &'static str, v: Option<&Value>) -> Option<Fact> {
    let t = chrono::DateTime::from_timestamp_millis(v?.as_i64()?)?;
    Some(Fact {
        label: Cow::Borrowed(label),
        value: Rich(vec![crate::notice::Span::Time(crate::notice::Stamp::At(t))]),
    })
}

/// `what: name`, or `what` alone when the name is blank (never a dangling
/// colon).
pub fn named(what: &str, name: &str) -> String {
    match (what.trim(), name.trim()) {
        (what, "") => what.to_string(),
        ("", name) => name.to_string(),
        (what, name) => format!("{what}: {name}"),
    }
}

/// ` (status)`, or nothing when the status is blank (never an empty `()`).
pub fn paren(status: &str) -> String {
    match status.trim() {
        "" => String::new(),
        status => format!(" ({status})"),
    }
}

/// The words that are not blank, joined by spaces.
pub fn words(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A fact with a time as its value (none when the value is blank).
pub fn time_field(label: &'static str, raw: Option<&str>) -> Option<Fact> {
    let raw = raw?.trim();
    if raw.is_empty() {
        return None;
    }
    Some(Fact {
        label: Cow::Borrowed(label),
        value: Rich::new().time(raw),
    })
}

/// A fact: a label and its value, trimmed. `None` when the value is blank,
/// so callers can collect optional facts.
pub fn field(label: impl Into<Cow<'static, str>>, value: Option<impl AsRef<str>>) -> Option<Fact> {
    let value = value?;
    let value = value.as_ref().trim();
    if value.is_empty() {
        return None;
    }
    Some(Fact {
        label: label.into(),
        value: Rich::new().text(value.to_string()),
    })
}

/// Like [`field`] with the value as inline code (ids, ARNs, names).
pub fn code_field(label: &'static str, value: Option<impl AsRef<str>>) -> Option<Fact> {
    let value = value?;
    let value = value.as_ref().trim();
    if value.is_empty() {
        return None;
    }
    Some(Fact {
        label: Cow::Borrowed(label),
        value: Rich::new().code(value.to_string()),
    })
}

/// The facts that have a value, as one part (none when all are empty).
pub fn fields(items: impl IntoIterator<Item = Option<Fact>>) -> Option<Part> {
    let items: Vec<Fact> = items.into_iter().flatten().collect();
    (!items.is_empty()).then_some(Part::Facts(items))
}

/// The parts of an ARN: partition, service, region, account, resource.
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: &'a str,
    /// The region code, validated (`us-east-1`).
    pub region: &'a str,
    /// The account id.
    pub account: &'a str,
}

/// Splits an ARN; `None` unless it has six parts and a plausible region code.
pub fn arn(text: &str) -> Option<Arn<'_>> {
    let mut parts = text.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let partition = parts.next()?;
    let _service = parts.next()?;
    let region = parts.next()?;
    let account = parts.next()?;
    let _resource = parts.next()?;
    if !is_region(region) || !partition.starts_with("aws") {
        return None;
    }
    Some(Arn {
        partition,
        region,
        account,
    })
}

/// Whether `text` looks like a region code (`eu-west-3`), so it is safe in a
/// host name.
pub fn is_region(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text.contains('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The console's base URL for a region of a partition.
pub fn console(partition: &str, region: &str) -> Option<String> {
    if !is_region(region) {
        return None;
    }
    Some(match partition {
        "aws-cn" => format!("https://{region}.console.amazonaws.cn"),
        "aws-us-gov" => "https://console.amazonaws-us-gov.com".to_string(),
        _ => format!("https://{region}.console.aws.amazon.com"),
    })
}

/// The console's base URL for a region, its partition told by its prefix.
pub fn console_base(region: &str) -> Option<String> {
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    console(partition, region)
}

/// The console link for a service page: `base/service/home?region=R#fragment`.
pub fn console_link(region: &str, service: &str, fragment: &str) -> Option<String> {
    Some(format!(
        "{}/{service}/home?region={region}#{fragment}",
        console_base(region)?
    ))
}

/// A link on its own line, when there is one.
pub fn link_line(url: Option<String>, label: &str) -> Option<Part> {
    url.map(|url| Part::Link(Link::new(label, url)))
}

fn summary_of(lines: Vec<(String, String)>, max_lines: usize) -> Rich {
    let total = lines.len();
    let mut md = Rich::new();
    for (i, (key, value)) in lines.into_iter().take(max_lines).enumerate() {
        if i > 0 {
            md = md.line();
        }
        md = if key.is_empty() {
            md.text(value)
        } else {
            md.bold(format!("{key}:")).text(" ").text(value)
        };
    }
    if total > max_lines {
        md = md
            .line()
            .text(format!("… {} more not shown", total - max_lines));
    }
    md
}

/// A readable summary of a JSON value: one `*key:* value` line per leaf,
/// nested keys joined with `.`, lists of scalars joined with commas; at most
/// `max_lines` lines, then a count of what is not shown.
///
/// The most telling lines come first: the status (`status_key`,
/// a key at the top of `v`), then names and ids (`name`, `jobName`,
/// `request-id`, `taskArn`...), then the rest in their order. So a cut to
/// `max_lines` never loses the status.
pub fn ranked_summary(v: &Value, max_lines: usize, status_key: Option<&str>) -> Rich {
    let mut lines = Vec::new();
    flatten("", v, &mut lines, 0);
    let rank = |key: &str| {
        if Some(key) == status_key {
            return 0;
        }
        let last = key.rsplit('.').next().unwrap_or(key);
        let is_word = |word: &str, camel: &str| {
            last.eq_ignore_ascii_case(word)
                || last.ends_with(camel)
                || last.ends_with(&format!("-{word}"))
                || last.ends_with(&format!("_{word}"))
        };
        if is_word("name", "Name") || is_word("id", "Id") || is_word("arn", "Arn") {
            1
        } else {
            2
        }
    };
    lines.sort_by_key(|(key, _)| rank(key));
    summary_of(lines, max_lines)
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>, depth: usize) {
    // Deeply nested JSON is summarized, not walked without end.
    const MAX_DEPTH: usize = 6;
    const MAX_VALUE_CHARS: usize = 300;
    let short = |s: String| -> String {
        if s.chars().count() > MAX_VALUE_CHARS {
            let mut cut: String = s.chars().take(MAX_VALUE_CHARS).collect();
            cut.push('…');
            cut
        } else {
            s
        }
    };
    let join = |key: &str| -> String {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match v {
        Value::Object(map) if depth < MAX_DEPTH => {
            for (key, value) in map {
                flatten(&join(key), value, out, depth + 1);
            }
        }
        Value::Array(items) if depth < MAX_DEPTH => {
            if items.iter().all(|i| !i.is_object() && !i.is_array()) {
                let joined: Vec<String> = items
                    .iter()
                    .map(|i| scalar(i).unwrap_or_else(|| "null".into()))
                    .collect();
                if !joined.is_empty() {
                    out.push((prefix.to_string(), short(joined.join(", "))));
                }
            } else {
                for (i, item) in items.iter().enumerate() {
                    flatten(&format!("{prefix}[{i}]"), item, out, depth + 1);
                }
            }
        }
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::Object(_) | Value::Array(_) => {
            out.push((prefix.to_string(), short(v.to_string())));
        }
        other => {
            let text = scalar(other).unwrap_or_default();
            out.push((prefix.to_string(), short(text)));
        }
    }
}

/// The tone of a status word most AWS services share.
pub fn tone_of(status: &str) -> Tone {
    let s = status.to_ascii_uppercase();
    let s = s.as_str();
    if s.contains("FAIL")
        || s.contains("ALARM")
        || s.contains("TIMED_OUT")
        || s.contains("TIMEOUT")
        || s.contains("ERROR")
        || s == "CRITICAL"
        || s == "HIGH"
        || s == "STOPPED"
        || s == "TERMINATED"
        || s.contains("ROLLBACK")
        || s == "ABORTED"
        || s == "EXPIRED"
        || s == "BOUNCE"
        || s == "COMPLAINT"
    {
        Tone::Danger
    } else if s == "OK"
        || s.contains("SUCCE")
        || s.ends_with("_COMPLETE")
        || s == "COMPLETED"
        || s == "RUNNING"
        || s == "DELIVERY"
        || s == "CLOSED"
        || s == "RESOLVED"
    {
        Tone::Good
    } else if s == "MEDIUM"
        || s.contains("WARN")
        || s == "STOPPING"
        || s == "SHUTTING-DOWN"
        || s == "ACTUAL"
        || s == "FORECASTED"
        || s == "PARTIAL"
    {
        Tone::Warning
    } else if s == "INSUFFICIENT_DATA" || s.is_empty() {
        Tone::Neutral
    } else {
        Tone::Info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_encoded_for_console_fragments() {
        assert_eq!(
            encode("prod/api 5xx (p99)|<x>"),
            "prod%2Fapi%205xx%20%28p99%29%7C%3Cx%3E"
        );
    }

    #[test]
    fn arns_give_validated_region_codes() {
        let a = arn("arn:aws:cloudwatch:eu-west-3:123456789012:alarm:a:b").unwrap();
        assert_eq!((a.region, a.account), ("eu-west-3", "123456789012"));
        assert!(arn("arn:aws:cloudwatch:EU West:1:alarm:a").is_none());
        assert!(arn("arn:aws:s3:::bucket").is_none());
        assert!(arn("not an arn").is_none());
    }

    #[test]
    fn summaries_put_the_status_then_names_and_ids_first() {
        let v = serde_json::json!({"paid": 1, "detail": "x", "jobName": "etl", "state": "FAILED", "request-id": "r"});
        assert_eq!(
            ranked_summary(&v, 2, Some("state")).plain(),
            "state: FAILED\njobName: etl\n… 3 more not shown"
        );
    }

    #[test]
    fn summaries_flatten_and_count_what_is_hidden() {
        let v = serde_json::json!({"a": {"b": 1, "c": [1, 2]}, "d": null, "e": "x<y"});
        assert_eq!(
            ranked_summary(&v, 10, None).plain(),
            "a.b: 1\na.c: 1, 2\ne: x<y"
        );
        assert_eq!(
            ranked_summary(&v, 1, None).plain(),
            "a.b: 1\n… 2 more not shown"
        );
    }
}
