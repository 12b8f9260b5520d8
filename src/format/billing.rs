//! `budgets` (the plain-text AWS Budgets notification) and `cost_anomaly`
//! (Cost Anomaly Detection's JSON): what was spent against what was expected.

use serde_json::Value;

use super::common::{self, code_field, field, fields, text_at};
use super::slack::{Block, Md, Tone};
use super::{Card, Detection, Kind};
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

/// Renders a budget notification.
pub fn render_budget(n: &Notification) -> Card {
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
    let mut blocks = vec![Block::header(format!(
        "{} Budget alert: {name}",
        common::emoji(tone)
    ))];
    // The sentence that says what crossed what.
    if let Some(sentence) = text.lines().map(str::trim).find(|l| {
        l.starts_with("You requested")
            || l.contains("is greater than")
            || l.contains("has exceeded")
    }) {
        blocks.push(Block::text(Md::new().text(sentence)));
    }
    blocks.extend(fields([
        actual.as_ref().and_then(|(k, v)| field(k, Some(v))),
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
    Card {
        fallback: format!("Budget alert {name} ({alert}){amounts}"),
        tone: Some(tone),
        blocks,
    }
}

fn money(v: &Value, key: &str) -> Option<String> {
    let n = v.get("impact")?.get(key)?.as_f64()?;
    Some(format!("${n:.2}"))
}

/// Renders a cost anomaly alert.
pub fn render_anomaly(v: &Value) -> Card {
    let monitor = text_at(v, &["monitorName"]).unwrap_or_else(|| "cost monitor".into());
    let impact = money(v, "totalImpact");
    let percent = common::at(v, &["impact", "totalImpactPercentage"])
        .and_then(Value::as_f64)
        .map(|p| format!("{p:.1}%"));
    let mut blocks = vec![Block::header(format!("🟠 Cost anomaly: {monitor}"))];
    let mut line = Md::new();
    if let Some(impact) = &impact {
        line = line.bold(&format!("{impact} above expected"));
        if let Some(p) = &percent {
            line = line.text(&format!(" (+{p})"));
        }
    }
    if !line.is_empty() {
        blocks.push(Block::text(line));
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
        let mut md = Md::new().bold("Root causes");
        for cause in causes.iter().take(10) {
            let parts: Vec<String> = ["service", "region", "usageType", "linkedAccount"]
                .iter()
                .filter_map(|k| text_at(cause, &[k]))
                .collect();
            md = md.line().text("• ").text(&parts.join(" · "));
        }
        blocks.push(Block::text(md));
    }
    blocks.extend(common::link_line(
        text_at(v, &["anomalyDetailsLink"]),
        "Open the anomaly in Cost Explorer",
    ));
    Card {
        fallback: format!(
            "Cost anomaly on {monitor}: {} above expected{}",
            impact.unwrap_or_else(|| "spend".into()),
            percent.map(|p| format!(" (+{p})")).unwrap_or_default()
        ),
        tone: Some(Tone::Warning),
        blocks,
    }
}
