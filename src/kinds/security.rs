//! `guardduty_finding` and `securityhub_finding` (Inspector, Macie, Config and
//! the others arrive through Security Hub): title, severity label, resources,
//! status and links. The status is the severity label, title case
//! (`Critical`, `High`, `Medium`, `Low`, `Informational`).

use serde_json::Value;

use super::common::{self, code_field, field, fields, text_at};
use super::generic::{first_line, is_eventbridge};
use super::{Detection, Kind};
use crate::notice::{Draft, Part, Rich, Tone};

/// Findings of one Security Hub event shown in full; the rest are counted.
const MAX_FINDINGS: usize = 8;

/// GuardDuty by `source`, Security Hub by its `detail-type`.
pub fn detect(v: &Value) -> Option<Detection> {
    if !is_eventbridge(v) {
        return None;
    }
    let source = text_at(v, &["source"]).unwrap_or_default();
    let detail_type = text_at(v, &["detail-type"]).unwrap_or_default();
    if source == "aws.guardduty" && detail_type == "GuardDuty Finding" {
        return Some(Detection {
            kind: Kind::GuarddutyFinding,
            status: v
                .pointer("/detail/severity")
                .and_then(Value::as_f64)
                .map(|s| guardduty_label(s).to_string()),
        });
    }
    if source == "aws.inspector2" && detail_type == "Inspector2 Finding" {
        return Some(Detection {
            kind: Kind::InspectorFinding,
            status: text_at(v, &["detail", "severity"]).map(|l| label_case(&l)),
        });
    }
    if detail_type == "Security Hub Findings - Imported" {
        let worst = findings(v)
            .iter()
            .filter_map(severity_label)
            .max_by_key(|l| rank(l));
        return Some(Detection {
            kind: Kind::SecurityhubFinding,
            status: worst,
        });
    }
    None
}

/// GuardDuty's severity bands: 9-10 Critical, 7-8.9 High, 4-6.9 Medium, else Low.
pub fn guardduty_label(severity: f64) -> &'static str {
    if severity >= 9.0 {
        "Critical"
    } else if severity >= 7.0 {
        "High"
    } else if severity >= 4.0 {
        "Medium"
    } else {
        "Low"
    }
}

/// A Security Hub finding's severity label, title case: its `Severity.Label`,
/// or for older findings that only carry `Severity.Normalized` (0-100), the
/// label AWS derives from it: 0 Informational, 1-39 Low, 40-69 Medium, 70-89
/// High, 90-100 Critical.
fn severity_label(f: &Value) -> Option<String> {
    if let Some(label) = text_at(f, &["Severity", "Label"]) {
        return Some(label_case(&label));
    }
    let normalized = f.pointer("/Severity/Normalized")?.as_f64()?;
    Some(
        match normalized {
            n if n >= 90.0 => "Critical",
            n if n >= 70.0 => "High",
            n if n >= 40.0 => "Medium",
            n if n >= 1.0 => "Low",
            _ => "Informational",
        }
        .to_string(),
    )
}

/// `HIGH` -> `High`.
fn label_case(label: &str) -> String {
    let lower = label.trim().to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn rank(label: &str) -> u8 {
    match label {
        "Critical" => 5,
        "High" => 4,
        "Medium" => 3,
        "Low" => 2,
        "Informational" => 1,
        _ => 0,
    }
}

/// The tone of a severity label.
pub fn tone(label: Option<&str>) -> Tone {
    match label.map(label_case).as_deref() {
        Some("Critical" | "High") => Tone::Danger,
        Some("Medium") => Tone::Warning,
        Some("Low" | "Informational") => Tone::Info,
        _ => Tone::Neutral,
    }
}

fn findings(v: &Value) -> &[Value] {
    v.pointer("/detail/findings")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Reads a GuardDuty or Security Hub event.
pub fn read(detection: &Detection, v: &Value) -> Draft {
    match detection.kind {
        Kind::GuarddutyFinding => guardduty(detection, v),
        Kind::InspectorFinding => inspector(detection, v),
        _ => securityhub(detection, v),
    }
}

/// A GuardDuty finding; its thread is the finding (its ARN); what it says
/// is the finding as last updated.
fn guardduty(detection: &Detection, v: &Value) -> Draft {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let label = detection.status.as_deref();
    let tone = tone(label);
    let title = text_at(d, &["title"]).unwrap_or_else(|| "GuardDuty finding".into());
    let severity = d.get("severity").and_then(Value::as_f64);
    let region = text_at(d, &["region"]).or_else(|| text_at(v, &["region"]));
    let account = text_at(d, &["accountId"]).or_else(|| text_at(v, &["account"]));
    let id = text_at(d, &["id"]);
    let mut body = Vec::new();
    if let Some(description) = text_at(d, &["description"]) {
        body.push(Part::Text(Rich::new().text(description)));
    }
    let severity_text = severity.map(|s| format!("{} ({s})", guardduty_label(s)));
    body.extend(fields([
        code_field("Type", text_at(d, &["type"])),
        field("Severity", severity_text),
        field("Resource", resource(d)),
        field(
            "Count",
            text_at(d, &["service", "count"])
                .or_else(|| text_at(d, &["service", "additionalInfo", "count"])),
        ),
        code_field("Account", account.clone()),
        code_field("Region", region.clone()),
        common::time_field(
            "First seen",
            text_at(d, &["service", "eventFirstSeen"]).as_deref(),
        ),
        common::time_field(
            "Last seen",
            text_at(d, &["service", "eventLastSeen"]).as_deref(),
        ),
    ]));
    let link = match (region.as_deref(), id.as_deref()) {
        (Some(region), Some(id)) => common::console_link(
            region,
            "guardduty",
            &format!("/findings?macros=current&fId={}", common::encode(id)),
        ),
        _ => None,
    };
    body.extend(common::link_line(
        link,
        "Open the finding in the GuardDuty console",
    ));
    let headline = format!("GuardDuty {}: {title}", label.unwrap_or("finding"));
    let thread = text_at(d, &["arn"]).or_else(|| {
        let id = id.as_deref()?;
        Some(format!(
            "guardduty_finding:{}:{}:{id}",
            region.as_deref().unwrap_or(""),
            account.as_deref().unwrap_or("")
        ))
    });
    let updated = text_at(d, &["updatedAt"]);
    Draft::new(Some(headline.clone()), headline, Some(tone), body)
        .says([
            thread.clone(),
            updated.clone(),
            text_at(d, &["service", "count"]),
        ])
        .thread(thread)
        .at(updated.as_deref())
}

/// An Amazon Inspector finding (package vulnerability, network
/// reachability, code): what is vulnerable, how badly, what fixes it. Its
/// thread is the finding (its ARN).
fn inspector(detection: &Detection, v: &Value) -> Draft {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let label = detection.status.as_deref();
    let tone = tone(label);
    let title = text_at(d, &["title"]).unwrap_or_else(|| "Inspector finding".into());
    let region = text_at(v, &["region"]);
    let vulnerability = d.get("packageVulnerabilityDetails").unwrap_or(&Value::Null);
    let packages: Vec<String> = common::items(vulnerability, "vulnerablePackages")
        .iter()
        .filter_map(|p| {
            let name = text_at(p, &["name"])?;
            let version = text_at(p, &["version"]).unwrap_or_default();
            Some(
                match text_at(p, &["fixedInVersion"]).filter(|f| f != "NotAvailable") {
                    Some(fixed) => format!("{name} {version} (fixed in {fixed})"),
                    None => format!("{name} {version}").trim().to_string(),
                },
            )
        })
        .collect();
    let resources: Vec<String> = common::items(d, "resources")
        .iter()
        .filter_map(|r| {
            let id = text_at(r, &["id"])?;
            Some(match text_at(r, &["type"]) {
                Some(t) => format!("{t} {id}"),
                None => id,
            })
        })
        .collect();
    let mut body = Vec::new();
    if let Some(description) = text_at(d, &["description"]) {
        body.push(Part::Text(
            Rich::new().text(super::generic::clip(&description, 1_500)),
        ));
    }
    body.extend(fields([
        field("Severity", label),
        field("Type", text_at(d, &["type"])),
        code_field(
            "Vulnerability",
            text_at(vulnerability, &["vulnerabilityId"]),
        ),
        field(
            "Packages",
            (!packages.is_empty()).then(|| packages.join("\n")),
        ),
        field(
            "Resources",
            (!resources.is_empty()).then(|| resources.join("\n")),
        ),
        field("Inspector score", text_at(d, &["inspectorScore"])),
        field("Exploit available", text_at(d, &["exploitAvailable"])),
        field("Fix available", text_at(d, &["fixAvailable"])),
        code_field(
            "Account",
            text_at(d, &["awsAccountId"]).or_else(|| text_at(v, &["account"])),
        ),
        common::time_field("Last seen", text_at(d, &["lastObservedAt"]).as_deref()),
    ]));
    let fix = text_at(d, &["remediation", "recommendation", "text"]);
    let url = text_at(d, &["remediation", "recommendation", "Url"])
        .or_else(|| text_at(vulnerability, &["sourceUrl"]));
    if fix.is_some() || url.is_some() {
        let mut md = Rich::new().bold("Remediation").text(" ");
        if let Some(fix) = fix {
            md = md.text(fix).text(" ");
        }
        if let Some(url) = url {
            md = md.link(url, "Read more");
        }
        body.push(Part::Note(md));
    }
    let link = region
        .as_deref()
        .and_then(|r| common::console_link(r, "inspector/v2", "/findings/all"));
    body.extend(common::link_line(
        link,
        "Open findings in the Inspector console",
    ));
    let finding = text_at(d, &["findingArn"]);
    let updated = text_at(d, &["updatedAt"]);
    let headline = common::named(
        &format!("Inspector {}", label.unwrap_or("finding")),
        &first_line(&title),
    );
    Draft::new(
        Some(common::named(label.unwrap_or("Unknown"), &title)),
        headline,
        Some(tone),
        body,
    )
    .says([finding.clone(), updated.clone(), text_at(d, &["status"])])
    .thread(finding)
    .at(updated.as_deref())
}

/// The resource a GuardDuty finding is about, in words.
fn resource(d: &Value) -> Option<String> {
    let r = d.get("resource")?;
    let kind = text_at(r, &["resourceType"]).unwrap_or_default();
    let id = text_at(r, &["instanceDetails", "instanceId"])
        .or_else(|| text_at(r, &["accessKeyDetails", "userName"]))
        .or_else(|| {
            r.get("s3BucketDetails")?
                .as_array()?
                .first()
                .and_then(|b| text_at(b, &["name"]))
        })
        .or_else(|| text_at(r, &["eksClusterDetails", "name"]))
        .or_else(|| text_at(r, &["ecsClusterDetails", "name"]))
        .or_else(|| text_at(r, &["rdsDbInstanceDetails", "dbInstanceIdentifier"]))
        .or_else(|| text_at(r, &["lambdaDetails", "functionName"]));
    match id {
        Some(id) if kind.is_empty() => Some(id),
        Some(id) => Some(format!("{kind} {id}")),
        None => (!kind.is_empty()).then_some(kind),
    }
}

/// Security Hub findings. One finding's thread is the finding (its `Id`,
/// an ARN); an event of several has none. What it says is its findings as
/// last updated, wherever the event was emitted (a finding aggregated into
/// another region says the same).
fn securityhub(detection: &Detection, v: &Value) -> Draft {
    let all = findings(v);
    let tone = tone(detection.status.as_deref());
    let n = all.len();
    let label = detection.status.as_deref().unwrap_or("Unknown");
    let title = match all {
        [one] => format!(
            "{label}: {}",
            text_at(one, &["Title"]).unwrap_or_else(|| "Security Hub finding".into())
        ),
        _ => format!("{n} Security Hub findings (worst: {label})"),
    };
    let mut body = Vec::new();
    for (i, f) in all.iter().take(MAX_FINDINGS).enumerate() {
        if i > 0 {
            body.push(Part::Divider);
        }
        body.extend(finding(f, n > 1));
    }
    if n > MAX_FINDINGS {
        body.push(Part::Note(
            Rich::new().text(format!("… {} more findings not shown", n - MAX_FINDINGS)),
        ));
    }
    if n == 0 {
        body.push(Part::Text(
            Rich::new().text("The event carries no findings."),
        ));
    }
    let region = text_at(v, &["region"]);
    let link = region
        .as_deref()
        .and_then(|r| common::console_link(r, "securityhub", "/findings"));
    body.extend(common::link_line(
        link,
        "Open findings in the Security Hub console",
    ));
    let headline = match all {
        [one] => common::named(
            &format!(
                "Security Hub {}",
                detection.status.as_deref().unwrap_or("finding")
            ),
            &first_line(&text_at(one, &["Title"]).unwrap_or_default()),
        ),
        _ => format!(
            "{n} Security Hub findings, worst {}",
            detection.status.as_deref().unwrap_or("unknown")
        ),
    };
    let thread = match all {
        [one] => text_at(one, &["Id"]),
        _ => None,
    };
    let mut said: Vec<Option<String>> = all
        .iter()
        .flat_map(|f| [text_at(f, &["Id"]), text_at(f, &["UpdatedAt"])])
        .collect();
    said.sort();
    let at = match all {
        [one] => text_at(one, &["UpdatedAt"]),
        _ => None,
    };
    Draft::new(Some(title), headline, Some(tone), body)
        .says(said)
        .thread(thread)
        .at(at.as_deref().or(text_at(v, &["time"]).as_deref()))
}

/// One finding: title (when several), description, facts, remediation.
fn finding(f: &Value, with_title: bool) -> Vec<Part> {
    let mut parts = Vec::new();
    let label = severity_label(f);
    let mut md = Rich::new();
    if with_title {
        md = md
            .text(tone(label.as_deref()).emoji())
            .text(" ")
            .bold(text_at(f, &["Title"]).unwrap_or_else(|| "(untitled finding)".into()))
            .line();
    }
    if let Some(description) = text_at(f, &["Description"]) {
        md = md.text(description);
    }
    if !md.is_empty() {
        parts.push(Part::Text(md));
    }
    let resources: Vec<String> = common::items(f, "Resources")
        .iter()
        .filter_map(|r| {
            let id = text_at(r, &["Id"])?;
            Some(match text_at(r, &["Type"]) {
                Some(t) => format!("{t} {id}"),
                None => id,
            })
        })
        .collect();
    let product = text_at(f, &["ProductName"])
        .or_else(|| text_at(f, &["ProductFields", "aws/securityhub/ProductName"]));
    parts.extend(fields([
        field("Severity", label),
        field(
            "Resources",
            (!resources.is_empty()).then(|| resources.join("\n")),
        ),
        field("Compliance", text_at(f, &["Compliance", "Status"])),
        field("Workflow", text_at(f, &["Workflow", "Status"])),
        field("Product", product),
        code_field("Account", text_at(f, &["AwsAccountId"])),
        code_field("Region", text_at(f, &["Region"])),
        common::time_field("Updated", text_at(f, &["UpdatedAt"]).as_deref()),
    ]));
    let text = text_at(f, &["Remediation", "Recommendation", "Text"]);
    let url = text_at(f, &["Remediation", "Recommendation", "Url"]);
    if text.is_some() || url.is_some() {
        let mut md = Rich::new().bold("Remediation").text(" ");
        if let Some(text) = text {
            md = md.text(text).text(" ");
        }
        if let Some(url) = url {
            md = md.link(url, "Read more");
        }
        parts.push(Part::Note(md));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardduty_severity_bands() {
        assert_eq!(guardduty_label(9.5), "Critical");
        assert_eq!(guardduty_label(8.0), "High");
        assert_eq!(guardduty_label(5.0), "Medium");
        assert_eq!(guardduty_label(2.0), "Low");
    }

    #[test]
    fn older_findings_take_their_label_from_the_normalized_severity() {
        let label = |n: f64| {
            severity_label(&serde_json::json!({"Severity": {"Normalized": n, "Product": 8}}))
        };
        assert_eq!(label(0.0).as_deref(), Some("Informational"));
        assert_eq!(label(1.0).as_deref(), Some("Low"));
        assert_eq!(label(39.0).as_deref(), Some("Low"));
        assert_eq!(label(40.0).as_deref(), Some("Medium"));
        assert_eq!(label(71.0).as_deref(), Some("High"));
        assert_eq!(label(90.0).as_deref(), Some("Critical"));
        let labelled = serde_json::json!({"Severity": {"Label": "LOW", "Normalized": 95}});
        assert_eq!(severity_label(&labelled).as_deref(), Some("Low"));
        assert_eq!(severity_label(&serde_json::json!({})), None);
    }

    #[test]
    fn securityhub_status_is_the_worst_label_of_its_findings() {
        let v = serde_json::json!({"source": "aws.securityhub", "detail-type": "Security Hub Findings - Imported",
            "detail": {"findings": [{"Severity": {"Label": "MEDIUM"}}, {"Severity": {"Label": "CRITICAL"}}, {"Severity": {"Label": "LOW"}}]}});
        let d = detect(&v).unwrap();
        assert_eq!(
            (d.kind, d.status.as_deref()),
            (Kind::SecurityhubFinding, Some("Critical"))
        );
    }
}
