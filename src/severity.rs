//! Severity: one scale for every kind of notification, so a `ROUTES` rule can
//! say `"min_severity": "High"`. Pure.
//!
//! Normalised from the kind and status [`crate::kinds`] detects:
//! - `guardduty_finding`, `securityhub_finding`, `inspector_finding`: their label (`Critical`,
//!   `High`, `Medium`, `Low`; Security Hub's `Informational` counts as `Low`).
//! - `cloudwatch_alarm`, `cloudwatch_composite_alarm`: `ALARM` is `High`;
//!   `OK` and `INSUFFICIENT_DATA` have no severity.
//! - every other kind (Health events, deploys, ECS, budgets, text...) has no
//!   severity: it never matches a `min_severity` rule (route it by `kind` and
//!   `status` instead).

use std::fmt;
use std::str::FromStr;

/// How bad a record is, in order: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Findings labelled Low or Informational.
    Low,
    /// Findings labelled Medium.
    Medium,
    /// Findings labelled High; alarms in `ALARM`.
    High,
    /// Findings labelled Critical.
    Critical,
}

/// The names a rule may give, in order.
pub const NAMES: &[&str] = &["Low", "Medium", "High", "Critical"];

impl Severity {
    /// The name, as a rule spells it (`High`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`NAMES`]. Not retryable: fix the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("min_severity {0:?} is not a severity (one of: {names})", names = NAMES.join(", "))]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    /// Exactly one of [`NAMES`] (names are exact: `high` is refused).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Low" => Ok(Severity::Low),
            "Medium" => Ok(Severity::Medium),
            "High" => Ok(Severity::High),
            "Critical" => Ok(Severity::Critical),
            other => Err(UnknownSeverity(other.to_string())),
        }
    }
}

/// The severity of a record of `kind` with detected `status` (module docs),
/// or `None` when that kind or status has none.
pub fn of(kind: &str, status: &str) -> Option<Severity> {
    match kind {
        "guardduty_finding" | "securityhub_finding" | "inspector_finding" => {
            match status.trim().to_ascii_lowercase().as_str() {
                "critical" => Some(Severity::Critical),
                "high" => Some(Severity::High),
                "medium" => Some(Severity::Medium),
                "low" | "informational" => Some(Severity::Low),
                _ => None,
            }
        }
        "cloudwatch_alarm" | "cloudwatch_composite_alarm" => status
            .eq_ignore_ascii_case("ALARM")
            .then_some(Severity::High),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspector_findings_go_by_their_label_too() {
        assert_eq!(of("inspector_finding", "HIGH"), Some(Severity::High));
        assert_eq!(of("inspector_finding", "UNTRIAGED"), None);
    }

    #[test]
    fn findings_go_by_their_label_and_informational_is_low() {
        for kind in ["guardduty_finding", "securityhub_finding"] {
            assert_eq!(of(kind, "Critical"), Some(Severity::Critical));
            assert_eq!(of(kind, "High"), Some(Severity::High));
            assert_eq!(of(kind, "HIGH"), Some(Severity::High));
            assert_eq!(of(kind, "Medium"), Some(Severity::Medium));
            assert_eq!(of(kind, "Low"), Some(Severity::Low));
            assert_eq!(of(kind, "Informational"), Some(Severity::Low));
            assert_eq!(of(kind, ""), None);
        }
    }

    #[test]
    fn an_alarm_in_alarm_is_high_and_other_states_have_none() {
        for kind in ["cloudwatch_alarm", "cloudwatch_composite_alarm"] {
            assert_eq!(of(kind, "ALARM"), Some(Severity::High));
            assert_eq!(of(kind, "OK"), None);
            assert_eq!(of(kind, "INSUFFICIENT_DATA"), None);
        }
    }

    #[test]
    fn other_kinds_have_no_severity_whatever_their_status() {
        for (kind, status) in [
            ("health_event", "open"),
            ("codebuild", "FAILED"),
            ("ecs_task", "STOPPED"),
            ("text", "High"),
            ("json", "Critical"),
        ] {
            assert_eq!(of(kind, status), None, "{kind} {status}");
        }
    }

    #[test]
    fn the_scale_is_ordered_and_names_are_exact() {
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::Medium < Severity::High);
        assert!(Severity::High < Severity::Critical);
        for name in NAMES {
            assert_eq!(name.parse::<Severity>().unwrap().as_str(), *name);
        }
        let err = "high".parse::<Severity>().unwrap_err().to_string();
        assert!(
            err.contains("\"high\"") && err.contains("Low, Medium, High, Critical"),
            "{err}"
        );
    }
}
