//! Routing: which named webhooks a record goes to, or that it is muted, or
//! that no rule wants it. Pure.
//!
//! `ROUTES` is a JSON array of rules tried in order; the first rule whose
//! `match` holds decides. `{"match": {...}, "to": ["security", "ops"]}` posts
//! to each webhook named; `{"match": {...}, "drop": true}` mutes. A rule
//! without `match` matches everything. `match` keys, all of which must hold:
//! `topic` (glob on the topic name), `subject` (glob), `kind` (a kind name),
//! `status` (glob, case-insensitive), `attributes` (attribute name -> glob on
//! its string value), `min_severity` (that [`Severity`] or worse, as
//! [`crate::severity`] normalises it per kind), `during` (a [`Window`] of
//! weekdays and local hours, judged at [`Facts::published`]; outside it the rule does
//! not match and the next rule is tried). Globs know `*` and `?` (the
//! `wildmatch` crate). A `to` rule may carry `mention`: Slack mention tokens
//! ([`parse_mention`]) the decision hands on to rendering.

use std::collections::HashMap;

use std::sync::Arc;

use aws_lambda_events::sns::MessageAttribute;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use wildmatch::WildMatch;

use crate::severity::{self, Severity};
use crate::window::{Window, WindowText};

use crate::destination::webhook::Webhook;
use crate::destination::{Destination, Webhooks, WebhooksError};
use crate::redact;

/// What one rule in `ROUTES` gets wrong. Not retryable: fix the setting.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("ROUTES is invalid: {0}")]
pub struct RouteError(pub String);

/// What routing decided for one record, by webhook name ([`Route`] holds the
/// webhooks themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedRoute<'a> {
    /// Post to each of these webhooks (at least one).
    To {
        /// The webhook names.
        names: &'a [String],
        /// The matching rule's index in `ROUTES` (0-based; 0 without `ROUTES`).
        rule: usize,
        /// The rule's `mention`: checked tokens joined by single spaces.
        mention: Option<&'a str>,
    },
    /// Muted by rule number `rule` (0-based): counted and logged, not posted.
    Drop {
        /// The rule's index in `ROUTES`.
        rule: usize,
    },
    /// No rule matched: dead-lettered with reason `unrouted`.
    Unrouted,
}

/// What a rule can match on, for one record.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The topic's name (the last part of its ARN); empty when unknown.
    pub topic: &'a str,
    /// The SNS subject; empty when none.
    pub subject: &'a str,
    /// The detected kind (`cloudwatch_alarm`, `text`...).
    pub kind: &'a str,
    /// The detected status (`ALARM`, `HIGH`...); empty when none.
    pub status: &'a str,
    /// The SNS message attributes.
    pub attributes: &'a HashMap<String, MessageAttribute>,
    /// When SNS published the record (its RFC 3339 `Timestamp`, as sent):
    /// the instant `during` windows are judged at, read only when a rule has
    /// one ([`published_at`]); `None`, or unreadable, matches no `during`.
    pub published: Option<&'a str>,
}

/// The routing table.
#[derive(Debug, Clone)]
pub struct Routes {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    topic: Option<WildMatch>,
    subject: Option<WildMatch>,
    kind: Option<String>,
    status: Option<WildMatch>,
    attributes: Vec<(String, WildMatch)>,
    min_severity: Option<Severity>,
    during: Option<Window>,
    action: Action,
    mention: Option<String>,
}

#[derive(Debug, Clone)]
enum Action {
    To(Vec<String>),
    Drop,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    #[serde(rename = "match", default)]
    matcher: Option<MatchText>,
    #[serde(default)]
    to: Option<Vec<String>>,
    #[serde(default)]
    drop: Option<bool>,
    #[serde(default)]
    mention: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MatchText {
    topic: Option<String>,
    subject: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    #[serde(default)]
    attributes: HashMap<String, String>,
    min_severity: Option<String>,
    during: Option<WindowText>,
}

impl Routes {
    /// Everything to the one webhook `name` (no `ROUTES`, one webhook).
    pub fn all_to(name: &str) -> Self {
        Self {
            rules: vec![Rule {
                topic: None,
                subject: None,
                kind: None,
                status: None,
                attributes: Vec::new(),
                min_severity: None,
                during: None,
                action: Action::To(vec![name.to_string()]),
                mention: None,
            }],
        }
    }

    /// Parses `ROUTES`, checking each rule against the webhook names that
    /// exist and the kind names that can be detected. Errors name the rule (by
    /// its 0-based index) and what is wrong with it; a value that is not a name
    /// (a URL put where a name belongs) is described, never shown. A rule
    /// naming a webhook twice in `"to"` is an error (it would post twice).
    pub fn parse(text: &str, webhooks: &[&str], kinds: &[&str]) -> Result<Self, RouteError> {
        let rules: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| {
            RouteError(format!(
                "expected a JSON array of rules ({})",
                redact::serde_problem(&e)
            ))
        })?;
        if rules.is_empty() {
            return Err(RouteError("it has no rule".into()));
        }
        let rules = rules
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                Rule::parse(value, webhooks, kinds)
                    .map_err(|e| RouteError(format!("rule {i}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// The first rule that matches `facts` decides.
    pub fn decide(&self, facts: &Facts<'_>) -> NamedRoute<'_> {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.matches(facts) {
                return match &rule.action {
                    Action::To(names) => NamedRoute::To {
                        names,
                        rule: i,
                        mention: rule.mention.as_deref(),
                    },
                    Action::Drop => NamedRoute::Drop { rule: i },
                };
            }
        }
        NamedRoute::Unrouted
    }
}

impl Rule {
    fn parse(value: serde_json::Value, webhooks: &[&str], kinds: &[&str]) -> Result<Self, String> {
        let text: RuleText =
            serde_json::from_value(value).map_err(|e| redact::serde_problem(&e))?;
        let action = match (text.to, text.drop) {
            (Some(_), Some(true)) => return Err("has both \"to\" and \"drop\"".into()),
            (Some(names), _) => {
                if names.is_empty() {
                    return Err("\"to\" names no webhook".into());
                }
                if let Some((j, unknown)) = names
                    .iter()
                    .enumerate()
                    .find(|(_, n)| !webhooks.contains(&n.as_str()))
                {
                    let defined = webhooks.join(", ");
                    return Err(match redact::shown(unknown) {
                        Some(name) => format!(
                            "\"to\" names webhook {name}, which is not defined (defined: {defined})"
                        ),
                        None => format!(
                            "\"to\" item {j} is {} where a webhook name belongs (defined: {defined})",
                            redact::describe(unknown)
                        ),
                    });
                }
                if let Some(twice) = names
                    .iter()
                    .enumerate()
                    .find_map(|(j, n)| names[..j].contains(n).then_some(n))
                {
                    return Err(format!(
                        "\"to\" names webhook {twice:?} twice (each record would be posted twice)"
                    ));
                }
                Action::To(names)
            }
            (None, Some(true)) => Action::Drop,
            (None, _) => return Err("needs \"to\": [webhook names] or \"drop\": true".into()),
        };
        let mention = match (text.mention, &action) {
            (None, _) => None,
            (Some(_), Action::Drop) => {
                return Err("has \"mention\" but drops: a muted record mentions no one".into());
            }
            (Some(m), Action::To(_)) => Some(parse_mention(&m)?),
        };
        let m = text.matcher.unwrap_or_default();
        let min_severity = m
            .min_severity
            .as_deref()
            .map(str::parse::<Severity>)
            .transpose()
            .map_err(|e| e.to_string())?;
        let during = m.during.as_ref().map(Window::parse).transpose()?;
        if let Some(kind) = &m.kind
            && !kinds.contains(&kind.as_str())
        {
            return Err(format!(
                "kind {} is not a kind this version detects ({})",
                redact::describe(kind),
                kinds.join(", ")
            ));
        }
        let mut attributes: Vec<(String, WildMatch)> = m
            .attributes
            .into_iter()
            .map(|(name, glob)| (name, WildMatch::new(&glob)))
            .collect();
        attributes.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            topic: m.topic.as_deref().map(WildMatch::new),
            subject: m.subject.as_deref().map(WildMatch::new),
            kind: m.kind,
            status: m.status.as_deref().map(WildMatch::new_case_insensitive),
            attributes,
            min_severity,
            during,
            action,
            mention,
        })
    }

    fn matches(&self, f: &Facts<'_>) -> bool {
        let glob = |g: &Option<WildMatch>, value: &str| g.as_ref().is_none_or(|g| g.matches(value));
        glob(&self.topic, f.topic)
            && glob(&self.subject, f.subject)
            && self.kind.as_deref().is_none_or(|k| k == f.kind)
            && glob(&self.status, f.status)
            && self
                .attributes
                .iter()
                .all(|(name, g)| f.attributes.get(name).is_some_and(|a| g.matches(&a.value)))
            && self
                .min_severity
                .is_none_or(|min| severity::of(f.kind, f.status).is_some_and(|s| s >= min))
            && self
                .during
                .as_ref()
                .is_none_or(|w| published_at(f.published).is_some_and(|now| w.contains(now)))
    }
}

/// The instant a notification's `during` windows are judged at: when SNS
/// published it (its RFC 3339 `Timestamp`), so a record is routed the same
/// way whenever it is delivered or redriven. `None` when absent or unreadable.
pub fn published_at(timestamp: Option<&str>) -> Option<DateTime<Utc>> {
    timestamp
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
}

/// Checks a rule's `mention`: Slack mention tokens separated by spaces, each
/// `<!here>`, `<!channel>`, `<@U...>` / `<@W...>` (a user) or
/// `<!subteam^S...>` (a user group), ids in capitals and digits. Returns them
/// joined by single spaces. The error names the first token that is not one.
///
/// Hand-written: four fixed shapes, no pattern crate needed.
pub fn parse_mention(text: &str) -> Result<String, String> {
    const EXPECTED: &str = "<!here>, <!channel>, <@U0123ABCD>, <!subteam^S0123ABCD>";
    let id = |s: &str, first: &[char]| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| first.contains(&c))
            && s.len() >= 2
            && s.len() <= 32
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    let tokens: Vec<&str> = text.split(' ').filter(|t| !t.is_empty()).collect();
    if tokens.is_empty() {
        return Err(format!(
            "\"mention\" is empty (expected tokens such as {EXPECTED})"
        ));
    }
    for token in &tokens {
        let ok = match *token {
            "<!here>" | "<!channel>" => true,
            t => t
                .strip_prefix("<@")
                .and_then(|t| t.strip_suffix('>'))
                .map(|u| id(u, &['U', 'W']))
                .or_else(|| {
                    t.strip_prefix("<!subteam^")
                        .and_then(|t| t.strip_suffix('>'))
                        .map(|s| id(s, &['S']))
                })
                .unwrap_or(false),
        };
        if !ok {
            return Err(format!(
                "\"mention\" token {token:?} is not a Slack mention (expected {EXPECTED}, separated by spaces)"
            ));
        }
    }
    Ok(tokens.join(" "))
}

/// The named webhooks and the rules that choose among them: what the pipeline
/// routes with. Every name a rule uses is defined.
#[derive(Debug, Clone)]
pub struct Routing {
    webhooks: Webhooks,
    routes: Routes,
}

impl Routing {
    /// Checks `routes` (the text of `ROUTES`, if set) against `webhooks` and
    /// the kind names `kinds`. Without `ROUTES`, everything goes to the only
    /// webhook; several webhooks and no `ROUTES`, or no webhook, is an error.
    pub fn new(
        webhooks: Webhooks,
        routes: Option<&str>,
        kinds: &[&str],
    ) -> Result<Self, RouteError> {
        let names: Vec<&str> = webhooks.iter().map(|d| d.name.as_str()).collect();
        let routes = match (routes, names.as_slice()) {
            (_, []) => return Err(RouteError("no webhook is defined to route to".into())),
            (Some(text), _) => Routes::parse(text, &names, kinds)?,
            (None, [only]) => Routes::all_to(only),
            (None, several) => {
                return Err(RouteError(format!(
                    "it is required when several webhooks are defined ({})",
                    several.join(", ")
                )));
            }
        };
        Ok(Self { webhooks, routes })
    }

    /// The webhooks routed to.
    pub fn webhooks(&self) -> &Webhooks {
        &self.webhooks
    }

    /// Where a record with `facts` goes.
    pub fn decide(&self, facts: &Facts<'_>) -> Route {
        match self.routes.decide(facts) {
            NamedRoute::To {
                names,
                rule,
                mention,
            } => Route::To {
                to: names
                    .iter()
                    .filter_map(|n| self.webhooks.get(n).cloned())
                    .collect(),
                rule,
                mention: mention.map(str::to_string),
            },
            NamedRoute::Drop { rule } => Route::Drop { rule },
            NamedRoute::Unrouted => Route::Unrouted,
        }
    }
}

/// Why the webhooks and routes could not be set up at start-up.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SetupError {
    /// The webhook table or its secret.
    #[error(transparent)]
    Webhooks(#[from] WebhooksError),
    /// `ROUTES`.
    #[error(transparent)]
    Routes(#[from] RouteError),
}

impl From<Webhook> for Routing {
    /// One webhook named `default`, everything to it.
    fn from(webhook: Webhook) -> Self {
        Self {
            webhooks: Webhooks::single(webhook),
            routes: Routes::all_to(crate::destination::DEFAULT_NAME),
        }
    }
}

/// [`NamedRoute`] with the webhooks themselves.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Post to each of `to` (at least one).
    To {
        /// The webhooks.
        to: Vec<Arc<Destination>>,
        /// The matching rule's index in `ROUTES` (0-based; 0 without `ROUTES`).
        rule: usize,
        /// The rule's `mention` (checked tokens joined by single spaces), for
        /// the renderer to put in front of a message whose tone is danger.
        mention: Option<String>,
    },
    /// Muted by rule number `rule` (0-based).
    Drop {
        /// The rule's index in `ROUTES`.
        rule: usize,
    },
    /// No rule matched.
    Unrouted,
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEBHOOKS: &[&str] = &["ops", "security", "payments"];
    const KINDS: &[&str] = &["cloudwatch_alarm", "guardduty_finding", "text"];

    fn attributes(pairs: &[(&str, &str)]) -> HashMap<String, MessageAttribute> {
        pairs
            .iter()
            .map(|(k, v)| {
                let mut a = MessageAttribute::default();
                a.data_type = "String".into();
                a.value = v.to_string();
                (k.to_string(), a)
            })
            .collect()
    }

    fn facts<'a>(
        topic: &'a str,
        kind: &'a str,
        status: &'a str,
        attributes: &'a HashMap<String, MessageAttribute>,
    ) -> Facts<'a> {
        Facts {
            topic,
            subject: "",
            kind,
            status,
            attributes,
            published: None,
        }
    }

    const TABLE: &str = r#"[
        {"match": {"kind": "guardduty_finding"}, "to": ["security"]},
        {"match": {"status": "ok"}, "drop": true},
        {"match": {"topic": "payments-*"}, "to": ["payments", "ops"]},
        {"match": {"attributes": {"team": "pay?"}}, "to": ["payments"]},
        {"match": {"subject": "*[test]*"}, "drop": true},
        {"to": ["ops"]}
    ]"#;

    #[test]
    fn the_first_matching_rule_decides() {
        let routes = Routes::parse(TABLE, WEBHOOKS, KINDS).unwrap();
        let none = attributes(&[]);
        let team = attributes(&[("team", "pays")]);
        let to = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let decide = |f: Facts<'_>| match routes.decide(&f) {
            NamedRoute::To { names, .. } => Ok(names.to_vec()),
            NamedRoute::Drop { rule } => Err(rule),
            NamedRoute::Unrouted => Err(usize::MAX),
        };
        assert_eq!(
            decide(facts("alerts", "guardduty_finding", "OK", &none)),
            Ok(to(&["security"]))
        );
        assert_eq!(
            decide(facts("alerts", "cloudwatch_alarm", "OK", &none)),
            Err(1)
        );
        assert_eq!(
            decide(facts("alerts", "cloudwatch_alarm", "Ok", &none)),
            Err(1)
        );
        assert_eq!(
            decide(facts("payments-prod", "cloudwatch_alarm", "ALARM", &none)),
            Ok(to(&["payments", "ops"]))
        );
        assert_eq!(
            decide(facts("alerts", "text", "", &team)),
            Ok(to(&["payments"]))
        );
        assert_eq!(decide(facts("alerts", "text", "", &none)), Ok(to(&["ops"])));
        let mut subject = facts("alerts", "text", "", &none);
        subject.subject = "deploy [test] run";
        assert_eq!(decide(subject), Err(4));
    }

    #[test]
    fn no_matching_rule_is_unrouted() {
        let routes = Routes::parse(
            r#"[{"match": {"topic": "prod-*"}, "to": ["ops"]}]"#,
            WEBHOOKS,
            KINDS,
        )
        .unwrap();
        let none = attributes(&[]);
        assert_eq!(
            routes.decide(&facts("dev-x", "text", "", &none)),
            NamedRoute::Unrouted
        );
        let all = Routes::all_to("default");
        assert!(
            matches!(all.decide(&facts("dev-x", "text", "", &none)), NamedRoute::To { names, rule: 0, mention: None } if names == ["default"])
        );
    }

    #[test]
    fn every_match_key_must_hold() {
        let routes = Routes::parse(
            r#"[{"match": {"kind": "cloudwatch_alarm", "status": "ALARM", "attributes": {"env": "prod"}}, "to": ["ops"]}]"#,
            WEBHOOKS,
            KINDS,
        )
        .unwrap();
        let prod = attributes(&[("env", "prod")]);
        let dev = attributes(&[("env", "dev")]);
        assert!(matches!(
            routes.decide(&facts("t", "cloudwatch_alarm", "alarm", &prod)),
            NamedRoute::To { .. }
        ));
        for f in [
            facts("t", "cloudwatch_alarm", "OK", &prod),
            facts("t", "cloudwatch_alarm", "ALARM", &dev),
            facts("t", "text", "ALARM", &prod),
            facts("t", "cloudwatch_alarm", "ALARM", &attributes(&[])),
        ] {
            assert_eq!(routes.decide(&f), NamedRoute::Unrouted, "{f:?}");
        }
    }

    #[test]
    fn errors_name_the_rule_and_what_is_wrong() {
        for (text, needle) in [
            ("{}", "JSON array"),
            ("[]", "no rule"),
            (
                r#"[{"to": ["ops"]}, {"to": ["chat"]}]"#,
                "rule 1: \"to\" names webhook \"chat\"",
            ),
            (r#"[{"to": []}]"#, "rule 0: \"to\" names no webhook"),
            (
                r#"[{"match": {"kind": "alarm"}, "to": ["ops"]}]"#,
                "rule 0: kind \"alarm\"",
            ),
            (
                r#"[{"match": {"topics": "x"}, "to": ["ops"]}]"#,
                "rule 0: unknown field `topics`",
            ),
            (r#"[{"to": ["ops"], "drop": true}]"#, "both"),
            (r#"[{"match": {}}]"#, "needs \"to\""),
            (r#"[{"drop": "yes"}]"#, "rule 0"),
            (
                r#"[{"to": ["ops", "security", "ops"]}]"#,
                "rule 0: \"to\" names webhook \"ops\" twice",
            ),
        ] {
            let err = Routes::parse(text, WEBHOOKS, KINDS)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("ROUTES is invalid: "), "{text}: {err}");
            assert!(err.contains(needle), "{text}: {err}");
            assert!(!err.contains("line 0 column 0"), "{text}: {err}");
        }
    }

    #[test]
    fn a_url_where_a_name_belongs_is_described_never_shown() {
        const URL: &str = "https://hooks.slack.com/services/T0/B0/SECRET";
        for (text, needle) in [
            (
                format!(r#"[{{"to": ["ops", "{URL}"]}}]"#),
                "rule 0: \"to\" item 1 is a URL where a webhook name belongs (defined: ops, security, payments)",
            ),
            (
                format!(r#"[{{"to": "{URL}"}}]"#),
                "rule 0: invalid type: string (a URL), expected a sequence",
            ),
            (
                format!(r#"[{{"to": ["ops"]}}, {{"drop": "{URL}"}}]"#),
                "rule 1: invalid type: string (a URL), expected a boolean",
            ),
            (
                format!(r#"[{{"match": {{"kind": "{URL}"}}, "to": ["ops"]}}]"#),
                "rule 0: kind a URL is not a kind",
            ),
            (
                format!(r#"[{{"match": {{"topic": ["{URL}"]}}, "to": ["ops"]}}]"#),
                "rule 0: invalid type: sequence, expected a string",
            ),
            (
                format!(r#"[{{"{URL}": ["ops"]}}]"#),
                "rule 0: unknown field a URL, expected one of",
            ),
            (
                format!(r#"["{URL}"]"#),
                "rule 0: invalid type: string (a URL)",
            ),
            (
                format!(r#"{{"to": "{URL}"}}"#),
                "expected a JSON array of rules",
            ),
            (format!(r#"[{{"to": ["{URL}"#), "at line 1 column"),
        ] {
            let err = Routes::parse(&text, WEBHOOKS, KINDS)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(
                !err.contains("SECRET") && !err.contains("hooks.slack"),
                "{err}"
            );
            assert!(!err.contains("line 0"), "{text}: {err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_placement_of_a_url_shows_it(
            tail in "[A-Z]{3}[0-9]{3}[A-Za-z0-9]{0,8}(/[A-Za-z0-9]{4,12}){0,2}",
            quote in proptest::bool::ANY,
            place in 0usize..8,
        ) {
            let secret = if quote { format!("\\\"{tail}") } else { tail.clone() };
            let url = format!("https://hooks.slack.com/services/{secret}");
            let text = match place {
                0 => format!(r#"[{{"to": ["{url}"]}}]"#),
                1 => format!(r#"[{{"to": "{url}"}}]"#),
                2 => format!(r#"[{{"drop": "{url}"}}]"#),
                3 => format!(r#"[{{"match": {{"kind": "{url}"}}, "to": ["ops"]}}]"#),
                4 => format!(r#"[{{"{url}": true}}]"#),
                5 => format!(r#"[{{"match": {{"{url}": "x"}}, "to": ["ops"]}}]"#),
                6 => format!(r#"["{url}"]"#),
                _ => format!(r#"{{"{url}": 1}}"#),
            };
            let err = Routes::parse(&text, WEBHOOKS, KINDS).unwrap_err().to_string();
            proptest::prop_assert!(!err.contains(&tail), "{}: {}", text, err);
            proptest::prop_assert!(!err.contains("hooks.slack"), "{}: {}", text, err);
        }
    }

    fn at(text: &str) -> Option<DateTime<Utc>> {
        Some(DateTime::parse_from_rfc3339(text).unwrap().to_utc())
    }

    /// `Ok((names, rule, mention))`, `Err(rule)` for a drop, `Err(MAX)` unrouted.
    type Decided = Result<(Vec<String>, usize, Option<String>), usize>;

    fn decided(routes: &Routes, f: &Facts<'_>) -> Decided {
        match routes.decide(f) {
            NamedRoute::To {
                names,
                rule,
                mention,
            } => Ok((names.to_vec(), rule, mention.map(str::to_string))),
            NamedRoute::Drop { rule } => Err(rule),
            NamedRoute::Unrouted => Err(usize::MAX),
        }
    }

    #[test]
    fn mention_tokens_are_checked_and_joined_by_single_spaces() {
        for (text, joined) in [
            ("<!here>", "<!here>"),
            ("<!channel>", "<!channel>"),
            ("<@U0123ABCD>", "<@U0123ABCD>"),
            ("<@W0123ABCD>", "<@W0123ABCD>"),
            ("<!subteam^S0123ABCD>", "<!subteam^S0123ABCD>"),
            (
                "  <!subteam^S0123ABCD>   <@U0123ABCD> <!here> ",
                "<!subteam^S0123ABCD> <@U0123ABCD> <!here>",
            ),
        ] {
            assert_eq!(parse_mention(text).as_deref(), Ok(joined), "{text:?}");
        }
        for (text, token) in [
            ("@here", "\"@here\""),
            ("<!everyone>", "\"<!everyone>\""),
            ("<@u0123abcd>", "\"<@u0123abcd>\""),
            ("<@>", "\"<@>\""),
            ("<@S0123ABCD>", "\"<@S0123ABCD>\""),
            ("<!subteam^U0123ABCD>", "\"<!subteam^U0123ABCD>\""),
            (
                "<!subteam^S0123ABCD|oncall>",
                "\"<!subteam^S0123ABCD|oncall>\"",
            ),
            ("<!here> <https://evil|x>", "\"<https://evil|x>\""),
            ("<!here>\t<!channel>", "\"<!here>\\t<!channel>\""),
            ("", "empty"),
            ("   ", "empty"),
        ] {
            let err = parse_mention(text).unwrap_err();
            assert!(err.contains(token), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_decision_carries_the_matched_rules_mention_and_index() {
        let routes = Routes::parse(
            r#"[
                {"match": {"kind": "guardduty_finding"}, "to": ["security"], "mention": "<!subteam^S0123ABCD>  <@U0123ABCD>"},
                {"to": ["ops"]}
            ]"#,
            WEBHOOKS,
            KINDS,
        )
        .unwrap();
        let none = attributes(&[]);
        assert_eq!(
            decided(&routes, &facts("t", "guardduty_finding", "High", &none)),
            Ok((
                vec!["security".to_string()],
                0,
                Some("<!subteam^S0123ABCD> <@U0123ABCD>".to_string())
            ))
        );
        assert_eq!(
            decided(&routes, &facts("t", "cloudwatch_alarm", "ALARM", &none)),
            Ok((vec!["ops".to_string()], 1, None))
        );
    }

    #[test]
    fn min_severity_matches_that_severity_or_worse_per_kind() {
        let routes = Routes::parse(
            r#"[
                {"match": {"min_severity": "High"}, "to": ["security"]},
                {"match": {"min_severity": "Low"}, "to": ["payments"]},
                {"to": ["ops"]}
            ]"#,
            WEBHOOKS,
            &[
                "guardduty_finding",
                "securityhub_finding",
                "cloudwatch_alarm",
                "health_event",
                "text",
            ],
        )
        .unwrap();
        let none = attributes(&[]);
        let to = |kind: &str, status: &str| {
            decided(&routes, &facts("t", kind, status, &none)).map(|(names, _, _)| names[0].clone())
        };
        for (kind, status, webhook) in [
            ("guardduty_finding", "Critical", "security"),
            ("guardduty_finding", "High", "security"),
            ("securityhub_finding", "HIGH", "security"),
            ("securityhub_finding", "Medium", "payments"),
            ("guardduty_finding", "Low", "payments"),
            ("securityhub_finding", "Informational", "payments"),
            ("cloudwatch_alarm", "ALARM", "security"),
            ("cloudwatch_alarm", "OK", "ops"),
            ("cloudwatch_alarm", "INSUFFICIENT_DATA", "ops"),
            ("health_event", "open", "ops"),
            ("text", "High", "ops"),
        ] {
            assert_eq!(to(kind, status), Ok(webhook.to_string()), "{kind} {status}");
        }
    }

    #[test]
    fn outside_its_window_a_rule_does_not_match_and_the_next_rule_decides() {
        let routes = Routes::parse(
            r#"[
                {"match": {"during": {"days": ["Sat"], "from": "02:00", "to": "04:00", "tz": "Europe/Berlin"}}, "drop": true},
                {"match": {"during": {"from": "18:00", "to": "09:00", "tz": "Europe/Berlin"}}, "to": ["payments"]},
                {"to": ["ops"]}
            ]"#,
            WEBHOOKS,
            KINDS,
        )
        .unwrap();
        let none = attributes(&[]);
        let when = |now: Option<&str>| {
            let mut f = facts("t", "cloudwatch_alarm", "ALARM", &none);
            f.published = now;
            decided(&routes, &f).map(|(names, _, _)| names[0].clone())
        };
        // Tuesday 2026-12-01, CET.
        assert_eq!(
            when(Some("2026-12-01T10:00:00Z")),
            Ok("ops".into()),
            "11:00"
        );
        assert_eq!(
            when(Some("2026-12-01T16:59:59Z")),
            Ok("ops".into()),
            "17:59:59"
        );
        assert_eq!(
            when(Some("2026-12-01T17:00:00Z")),
            Ok("payments".into()),
            "18:00 exactly"
        );
        assert_eq!(
            when(Some("2026-12-01T23:30:00Z")),
            Ok("payments".into()),
            "00:30, across midnight"
        );
        assert_eq!(
            when(Some("2026-12-02T07:59:00Z")),
            Ok("payments".into()),
            "08:59"
        );
        assert_eq!(
            when(Some("2026-12-02T08:00:00Z")),
            Ok("ops".into()),
            "09:00"
        );
        // Saturday 2026-12-05 03:00 CET: the maintenance window drops it.
        assert_eq!(when(Some("2026-12-05T02:00:00Z")), Err(0));
        assert_eq!(
            when(Some("2026-12-05T03:00:00Z")),
            Ok("payments".into()),
            "04:00: night again"
        );
        // Without a time no window holds.
        assert_eq!(when(Some("yesterday")), Ok("ops".into()), "unreadable");
        assert_eq!(when(None), Ok("ops".into()));
    }

    #[test]
    fn the_time_judged_is_when_sns_published_the_record() {
        assert_eq!(
            published_at(Some("2026-11-24T10:02:17.123Z")),
            at("2026-11-24T10:02:17.123Z")
        );
        assert_eq!(published_at(Some("yesterday")), None);
        assert_eq!(published_at(None), None);
    }

    #[test]
    fn errors_of_the_new_keys_name_the_rule_and_what_is_wrong() {
        for (text, needle) in [
            (
                r#"[{"to": ["ops"]}, {"to": ["ops"], "mention": "@here"}]"#,
                "rule 1: \"mention\" token \"@here\"",
            ),
            (
                r#"[{"to": ["ops"], "mention": ""}]"#,
                "rule 0: \"mention\" is empty",
            ),
            (
                r#"[{"drop": true, "mention": "<!here>"}]"#,
                "rule 0: has \"mention\" but drops",
            ),
            (
                r#"[{"match": {"min_severity": "high"}, "to": ["ops"]}]"#,
                "rule 0: min_severity \"high\" is not a severity (one of: Low, Medium, High, Critical)",
            ),
            (
                r#"[{"match": {"during": {"from": "09:00", "to": "18:00", "tz": "Berlin"}}, "to": ["ops"]}]"#,
                "rule 0: during: \"tz\" \"Berlin\"",
            ),
            (
                r#"[{"match": {"during": {"from": "09:00", "to": "18:00"}}, "to": ["ops"]}]"#,
                "rule 0: missing field `tz`",
            ),
            (
                r#"[{"match": {"during": {"from": "09:00", "to": "18:00", "tz": "UTC", "zone": "x"}}, "to": ["ops"]}]"#,
                "rule 0: unknown field `zone`",
            ),
        ] {
            let err = Routes::parse(text, WEBHOOKS, KINDS)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn the_readme_example_routes_findings_night_and_maintenance() {
        let routes = Routes::parse(
            r#"[
              {"match": {"min_severity": "High", "kind": "guardduty_finding"}, "to": ["security"], "mention": "<!subteam^S0123ABCD>"},
              {"match": {"min_severity": "High", "kind": "securityhub_finding"}, "to": ["security"], "mention": "<!subteam^S0123ABCD>"},
              {"match": {"during": {"days": ["Sat"], "from": "02:00", "to": "04:00", "tz": "Europe/Berlin"}}, "drop": true},
              {"match": {"during": {"from": "20:00", "to": "08:00", "tz": "Europe/Berlin"}}, "to": ["ops-night"], "mention": "<!here>"},
              {"to": ["ops"]}
            ]"#,
            &["security", "ops-night", "ops"],
            &["guardduty_finding", "securityhub_finding", "cloudwatch_alarm"],
        )
        .unwrap();
        let none = attributes(&[]);
        let route = |kind: &str, status: &str, now: &str| {
            let mut f = facts("alerts", kind, status, &none);
            f.published = Some(now);
            decided(&routes, &f).map(|(names, _, mention)| (names[0].clone(), mention))
        };
        let to =
            |name: &str, mention: Option<&str>| Ok((name.to_string(), mention.map(str::to_string)));
        // Saturday 2026-12-05 03:00 CET.
        assert_eq!(
            route("guardduty_finding", "High", "2026-12-05T02:00:00Z"),
            to("security", Some("<!subteam^S0123ABCD>"))
        );
        assert_eq!(
            route("guardduty_finding", "Medium", "2026-12-05T02:00:00Z"),
            Err(2)
        );
        // Tuesday 2026-12-01 23:00 and 23:10 CET, then Wednesday 08:00.
        assert_eq!(
            route("cloudwatch_alarm", "ALARM", "2026-12-01T22:00:00Z"),
            to("ops-night", Some("<!here>"))
        );
        assert_eq!(
            route("cloudwatch_alarm", "OK", "2026-12-01T22:10:00Z"),
            to("ops-night", Some("<!here>")),
            "the rule carries its mention; rendering shows it only when the tone is bad"
        );
        assert_eq!(
            route("cloudwatch_alarm", "ALARM", "2026-12-02T07:00:00Z"),
            to("ops", None)
        );
    }
}
