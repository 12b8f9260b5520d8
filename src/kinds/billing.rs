//! `budgets` (the plain-text AWS Budgets notification) and `cost_anomaly`
//! (Cost Anomaly Detection's JSON): what was spent against what was expected.

use serde_json::Value;

use super::common::{self, code_field, field, fields, text_at};
use super::{Detection, Kind};
use crate::notice::{Draft, List, Part, Rich, Tone};
use crate::record::Notification;

/// Cost Anomaly Detection: `anomalyId` and `impact`.
pub fn detect(v: &Value) -> Option<Detection> {
    (v.get("anomalyId").is_some() && v.get("impact").is_some_and(Value::is_object)).then_some(
        Detection {
            kind: Kind::CostAnomaly,
            status: None,
        },
    )
}

/// AWS Budgets: the text starts with (or holds) "AWS Budget Notification";
/// the status is the alert type (`ACTUAL` or `FORECASTED`).
pub fn detect_text(text: &str) -> Option<Detection> {
    if !text.contains("AWS Budget Notification") {
        return None;
    }
    Some(Detection {
        kind: Kind::Budgets,
        status: line_value(text, "Alert Type"),
    })
}

/// The value of a `Label: value` line.
fn line_value(text: &str, label: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == label && !value.trim().is_empty()).then(|| value.trim().to_string())
    })
}

/// Reads a budget notification. No thread; what it says is its text.
pub fn read_budget(n: &Notification) -> Draft {
    let text = &n.message;
    let name = line_value(text, "Budget Name").unwrap_or_else(|| "budget".into());
    let alert = line_value(text, "Alert Type").unwrap_or_default();
    let actual = text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .ends_with("Amount")
            .then_some(())
            .filter(|_| key.trim() != "Budgeted Amount")
            .map(|_| (key.trim().to_string(), value.trim().to_string()))
    });
    let tone = if alert == "ACTUAL" {
        Tone::Danger
    } else {
        Tone::Warning
    };
    let mut blocks = Vec::new();
    // The sentence that says what crossed what.
    if let Some(sentence) = text.lines().map(str::trim).find(|l| {
        l.starts_with("You requested")
            || l.contains("is greater than")
            || l.contains("has exceeded")
    }) {
        blocks.push(Part::Text(Rich::new().text(sentence.to_string())));
    }
    blocks.extend(fields([
        actual.as_ref().and_then(|(k, v)| field(k.clone(), Some(v))),
        field("Budgeted amount", line_value(text, "Budgeted Amount")),
        field("Alert threshold", line_value(text, "Alert Threshold")),
        field("Alert type", Some(&alert)),
        field("Budget type", line_value(text, "Budget Type")),
        code_field(
            "Account",
            line_value(text, "AWS Account").or_else(|| {
                text.lines()
                    .find_map(|l| l.trim().strip_prefix("AWS Account ").map(str::to_string))
            }),
        ),
    ]));
    blocks.extend(common::link_line(
        Some("https://console.aws.amazon.com/billing/home#/budgets".into()),
        "Open AWS Budgets",
    ));
    let amounts = actual
        .map(|(k, v)| format!(" — {k} {v}"))
        .unwrap_or_default();
    Draft::new(
        Some(format!("Budget alert: {name}")),
        format!("Budget alert {name}{}{amounts}", common::paren(&alert)),
        Some(tone),
        blocks,
    )
}

fn money(v: &Value, key: &str) -> Option<String> {
    let n = v.get("impact")?.get(key)?.as_f64()?;
    Some(format!("${n:.2}"))
}

/// Reads a cost anomaly alert. Its thread is the anomaly; what it says is
/// the anomaly and its impact so far.
pub fn read_anomaly(v: &Value) -> Draft {
    let monitor = text_at(v, &["monitorName"]).unwrap_or_else(|| "cost monitor".into());
    let impact = money(v, "totalImpact");
    let percent = common::at(v, &["impact", "totalImpactPercentage"])
        .and_then(Value::as_f64)
        .map(|p| format!("{p:.1}%"));
    let mut blocks = Vec::new();
    let mut line = Rich::new();
    if let Some(impact) = &impact {
        line = line.bold(format!("{impact} above expected"));
        if let Some(p) = &percent {
            line = line.text(format!(" (+{p})"));
        }
    }
    if !line.is_empty() {
        blocks.push(Part::Text(line));
    }
    blocks.extend(fields([
        field("Actual spend", money(v, "totalActualSpend")),
        field("Expected spend", money(v, "totalExpectedSpend")),
        field("Largest daily impact", money(v, "maxImpact")),
        common::time_field("Started", text_at(v, &["anomalyStartDate"]).as_deref()),
        common::time_field("Ended", text_at(v, &["anomalyEndDate"]).as_deref()),
        code_field("Account", text_at(v, &["accountId"])),
    ]));
    let causes = common::items(v, "rootCauses");
    if !causes.is_empty() {
        let items = causes
            .iter()
            .take(10)
            .map(|cause| {
                let parts: Vec<String> = ["service", "region", "usageType", "linkedAccount"]
                    .iter()
                    .filter_map(|k| text_at(cause, &[k]))
                    .collect();
                Rich::new().text(parts.join(" · "))
            })
            .collect();
        blocks.push(Part::List(List {
            title: "Root causes".into(),
            items,
            hidden: 0,
        }));
    }
    blocks.extend(common::link_line(
        text_at(v, &["anomalyDetailsLink"]),
        "Open the anomaly in Cost Explorer",
    ));
    let id = text_at(v, &["anomalyId"]);
    let said = [id.clone(), impact.clone(), text_at(v, &["anomalyEndDate"])];
    let headline = format!(
        "Cost anomaly on {monitor}: {} above expected{}",
        impact.unwrap_or_else(|| "spend".into()),
        percent.map(|p| format!(" (+{p})")).unwrap_or_default()
    );
    let thread = id.map(|id| {
        format!(
            "cost_anomaly:{}:{id}",
            text_at(v, &["accountId"]).unwrap_or_default()
        )
    });
    Draft::new(
        Some(format!("Cost anomaly: {monitor}")),
        headline,
        Some(Tone::Warning),
        blocks,
    )
    .says(said)
    .thread(thread)
}
