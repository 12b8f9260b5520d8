//! Routing: which named webhooks a record goes to, or that it is muted, or
//! that no rule wants it. Pure.
//!
//! `ROUTES` is a JSON array of rules tried in order; the first rule whose
//! `match` holds decides. `{"match": {...}, "to": ["security", "ops"]}` posts
//! to each webhook named; `{"match": {...}, "drop": true}` mutes. A rule
//! without `match` matches everything. `match` keys, all of which must hold:
//! `topic` (glob on the topic name), `subject` (glob), `kind` (a kind name),
//! `status` (glob, case-insensitive), `attributes` (attribute name -> glob on
//! its string value). Globs know `*` and `?` (the `wildmatch` crate).

use std::collections::HashMap;

use std::sync::Arc;

use aws_lambda_events::sns::MessageAttribute;
use serde::Deserialize;
use wildmatch::WildMatch;

use crate::webhook::Webhook;
use crate::webhooks::{Destination, SecretStore, Source, Webhooks, WebhooksError};

/// What one rule in `ROUTES` gets wrong. Not retryable: fix the setting.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("ROUTES is invalid: {0}")]
pub struct RouteError(pub String);

/// What routing decided for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Post to each of these webhooks (at least one).
    To(&'a [String]),
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
    action: Action,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchText {
    topic: Option<String>,
    subject: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    #[serde(default)]
    attributes: HashMap<String, String>,
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
                action: Action::To(vec![name.to_string()]),
            }],
        }
    }

    /// Parses `ROUTES`, checking each rule against the webhook names that
    /// exist and the kind names that can be detected. Errors name the rule (by
    /// its 0-based index) and what is wrong with it.
    pub fn parse(text: &str, webhooks: &[&str], kinds: &[&str]) -> Result<Self, RouteError> {
        let rules: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| {
            RouteError(format!(
                "expected a JSON array of rules (line {} column {})",
                e.line(),
                e.column()
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
    pub fn decide(&self, facts: &Facts<'_>) -> Decision<'_> {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.matches(facts) {
                return match &rule.action {
                    Action::To(names) => Decision::To(names),
                    Action::Drop => Decision::Drop { rule: i },
                };
            }
        }
        Decision::Unrouted
    }
}

impl Rule {
    fn parse(value: serde_json::Value, webhooks: &[&str], kinds: &[&str]) -> Result<Self, String> {
        let text: RuleText = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let action = match (text.to, text.drop) {
            (Some(_), Some(true)) => return Err("has both \"to\" and \"drop\"".into()),
            (Some(names), _) => {
                if names.is_empty() {
                    return Err("\"to\" names no webhook".into());
                }
                if let Some(unknown) = names.iter().find(|n| !webhooks.contains(&n.as_str())) {
                    return Err(format!(
                        "\"to\" names webhook {unknown:?}, which is not defined (defined: {})",
                        webhooks.join(", ")
                    ));
                }
                Action::To(names)
            }
            (None, Some(true)) => Action::Drop,
            (None, _) => return Err("needs \"to\": [webhook names] or \"drop\": true".into()),
        };
        let m = text.matcher.unwrap_or(MatchText {
            topic: None,
            subject: None,
            kind: None,
            status: None,
            attributes: HashMap::new(),
        });
        if let Some(kind) = &m.kind
            && !kinds.contains(&kind.as_str())
        {
            return Err(format!(
                "kind {kind:?} is not a kind this version detects ({})",
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
            action,
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
    }
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
            Decision::To(names) => Route::To(
                names
                    .iter()
                    .filter_map(|n| self.webhooks.get(n).cloned())
                    .collect(),
            ),
            Decision::Drop { rule } => Route::Drop { rule },
            Decision::Unrouted => Route::Unrouted,
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

impl Routing {
    /// The routing of a process: the webhooks from `source` (the secret is
    /// fetched through `store`), checked against `routes`. `None` when no
    /// webhook is configured (the command line then previews).
    pub async fn load(
        source: Source,
        routes: Option<&str>,
        kinds: &[&str],
        store: &impl SecretStore,
    ) -> Result<Option<Self>, SetupError> {
        if source == Source::None {
            return Ok(None);
        }
        let webhooks = source.resolve(store).await?;
        Ok(Some(Self::new(webhooks, routes, kinds)?))
    }
}

impl Routing {
    /// The routing `config` describes, its secret (if any) read from Secrets
    /// Manager, its rules checked against every kind [`crate::kinds`] detects.
    pub async fn configured(config: &crate::config::Config) -> Result<Option<Self>, SetupError> {
        Self::load(
            config.webhooks.clone(),
            config.routes.as_deref(),
            crate::kinds::KIND_NAMES,
            &crate::webhooks::SecretsManager,
        )
        .await
    }
}

impl From<Webhook> for Routing {
    /// One webhook named `default`, everything to it.
    fn from(webhook: Webhook) -> Self {
        Self {
            webhooks: Webhooks::single(webhook),
            routes: Routes::all_to(crate::webhooks::DEFAULT_NAME),
        }
    }
}

/// [`Decision`] with the webhooks themselves.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Post to each (at least one).
    To(Vec<Arc<Destination>>),
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
            Decision::To(names) => Ok(names.to_vec()),
            Decision::Drop { rule } => Err(rule),
            Decision::Unrouted => Err(usize::MAX),
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
            Decision::Unrouted
        );
        let all = Routes::all_to("default");
        assert!(
            matches!(all.decide(&facts("dev-x", "text", "", &none)), Decision::To(n) if n == ["default"])
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
            Decision::To(_)
        ));
        for f in [
            facts("t", "cloudwatch_alarm", "OK", &prod),
            facts("t", "cloudwatch_alarm", "ALARM", &dev),
            facts("t", "text", "ALARM", &prod),
            facts("t", "cloudwatch_alarm", "ALARM", &attributes(&[])),
        ] {
            assert_eq!(routes.decide(&f), Decision::Unrouted, "{f:?}");
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
        ] {
            let err = Routes::parse(text, WEBHOOKS, KINDS)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("ROUTES is invalid: "), "{text}: {err}");
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
