//! `cloudwatch_alarm` and `cloudwatch_composite_alarm`, as CloudWatch
//! publishes them to SNS and as EventBridge delivers them (`CloudWatch Alarm
//! State Change`): the state change, the reason, the metric (plain, metric
//! math, anomaly band) or the rule, and a console link built from the region
//! code in the alarm's ARN. Both forms of one alarm share its thread.

use serde_json::Value;

use super::common::{self, code_field, field, fields, text_at, time_field};
use super::generic::{first_line, is_eventbridge};
use super::{Detection, Kind};
use crate::notice::{Draft, Fact, List, Part, Rich, Tone};

/// A metric alarm has `AlarmName`, `NewStateValue` and `Trigger`; a composite
/// alarm has `AlarmName` and `AlarmRule`. The status is the new state.
pub fn detect(v: &Value) -> Option<Detection> {
    if is_eventbridge(v) {
        return detect_event(v);
    }
    v.get("AlarmName")?.as_str()?;
    let state = text_at(v, &["NewStateValue"]);
    let kind = if v.get("AlarmRule").is_some_and(Value::is_string) {
        Kind::CloudwatchCompositeAlarm
    } else if state.is_some() && v.get("Trigger").is_some_and(Value::is_object) {
        Kind::CloudwatchAlarm
    } else {
        return None;
    };
    Some(Detection {
        kind,
        status: state,
    })
}

/// EventBridge's `CloudWatch Alarm State Change` from `aws.cloudwatch`: a
/// composite alarm when its configuration has an `alarmRule`; the status is
/// the new state.
fn detect_event(v: &Value) -> Option<Detection> {
    if text_at(v, &["source"])? != "aws.cloudwatch"
        || text_at(v, &["detail-type"])? != "CloudWatch Alarm State Change"
    {
        return None;
    }
    let d = v.get("detail")?;
    let kind = if text_at(d, &["configuration", "alarmRule"]).is_some() {
        Kind::CloudwatchCompositeAlarm
    } else {
        Kind::CloudwatchAlarm
    };
    Some(Detection {
        kind,
        status: text_at(d, &["state", "value"]),
    })
}

/// The tone of an alarm state.
fn tone(state: &str) -> Tone {
    match state {
        "ALARM" => Tone::Danger,
        "OK" => Tone::Good,
        _ => Tone::Neutral,
    }
}

/// What both forms of an alarm state change say: the alarm, its states and
/// where and when it changed. [`StateChange::draft`] writes the parts they
/// share (the change line, facts, link, headline and thread) around the
/// metric or rule each form describes in its own way.
struct StateChange {
    name: String,
    new: String,
    old: Option<String>,
    arn: String,
    region: Option<String>,
    /// The region as the SNS form names it ("US East (N. Virginia)"), shown
    /// when the ARN has no region code.
    region_display: Option<String>,
    account: Option<String>,
    reason: Option<String>,
    changed_at: Option<String>,
}

impl StateChange {
    /// The alarm's draft: the change line, then `middle` (its metric or
    /// rule), its description and time, the console link; its thread is the
    /// alarm (its ARN); what it says is the alarm, the new state and when.
    fn draft(self, middle: Vec<Part>, description: Option<String>) -> Draft {
        let StateChange {
            name,
            new,
            old,
            arn,
            region,
            region_display,
            account,
            reason,
            changed_at,
        } = self;
        let tone = tone(&new);
        let parsed = common::arn(&arn);
        let mut change = Rich::new().bold(match &old {
            Some(old) => format!("{old} → {new}"),
            None => new.clone(),
        });
        if let Some(region) = &region {
            change = change.text(" in ").code(region.clone());
        } else if let Some(display) = region_display {
            change = change.text(" in ").text(display);
        }
        if let Some(account) = &account {
            change = change.text(" · account ").code(account.clone());
        }
        if let Some(reason) = &reason {
            change = change.line().text(reason.clone());
        }
        let mut body = vec![Part::Text(change)];
        body.extend(middle);
        body.extend(fields([
            field("Description", description),
            time_field("State changed", changed_at.as_deref()),
        ]));
        let link = region
            .as_deref()
            .and_then(|r| console_url(parsed.as_ref().map_or("aws", |a| a.partition), r, &name));
        body.extend(common::link_line(
            link,
            "Open the alarm in the CloudWatch console",
        ));
        let mut headline = format!("{new}: {name}");
        if let Some(region) = &region {
            headline.push_str(&format!(" ({region})"));
        }
        if let Some(reason) = &reason {
            headline.push_str(&format!(" — {}", first_line(reason)));
        }
        let thread = if arn.is_empty() {
            format!(
                "cloudwatch_alarm:{}:{}:{name}",
                region.as_deref().unwrap_or(""),
                account.as_deref().unwrap_or("")
            )
        } else {
            arn
        };
        Draft::new(Some(format!("{new}: {name}")), headline, Some(tone), body)
            .says([Some(thread.clone()), Some(new), changed_at.clone()])
            .thread(Some(thread))
            .at(changed_at.as_deref())
    }
}

/// Reads a metric or composite alarm as SNS delivers it.
pub fn read(v: &Value) -> Draft {
    let arn = text_at(v, &["AlarmArn"]).unwrap_or_default();
    let parsed = common::arn(&arn);
    let region = parsed.as_ref().map(|a| a.region.to_string());
    let account =
        text_at(v, &["AWSAccountId"]).or_else(|| parsed.as_ref().map(|a| a.account.to_string()));
    let mut middle = Vec::new();
    if let Some(rule) = text_at(v, &["AlarmRule"]) {
        middle.push(Part::Text(Rich::new().bold("Rule").line().code(rule)));
        if let Some(children) = triggering_children(v) {
            middle.push(children);
        }
    } else {
        middle.extend(metric_parts(v.get("Trigger").unwrap_or(&Value::Null)));
    }
    StateChange {
        name: text_at(v, &["AlarmName"]).unwrap_or_else(|| "(unnamed alarm)".into()),
        new: text_at(v, &["NewStateValue"]).unwrap_or_else(|| "UNKNOWN".into()),
        old: text_at(v, &["OldStateValue"]),
        region_display: text_at(v, &["Region"]),
        region,
        account,
        reason: text_at(v, &["NewStateReason"]),
        changed_at: text_at(v, &["StateChangeTime"]),
        arn,
    }
    .draft(middle, text_at(v, &["AlarmDescription"]))
}

/// Reads an alarm state change delivered by EventBridge: the same title,
/// change line, metric or rule, facts, link and thread as the SNS form.
pub fn read_event(v: &Value) -> Draft {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let arn = common::items(v, "resources")
        .iter()
        .filter_map(common::scalar)
        .find(|r| r.contains(":alarm:"))
        .unwrap_or_default();
    let parsed = common::arn(&arn);
    let region = parsed
        .as_ref()
        .map(|a| a.region.to_string())
        .or_else(|| text_at(v, &["region"]));
    let account =
        text_at(v, &["account"]).or_else(|| parsed.as_ref().map(|a| a.account.to_string()));
    let config = d.get("configuration").unwrap_or(&Value::Null);
    let middle = match text_at(config, &["alarmRule"]) {
        Some(rule) => vec![Part::Text(Rich::new().bold("Rule").line().code(rule))],
        None => event_metrics(config),
    };
    StateChange {
        name: text_at(d, &["alarmName"]).unwrap_or_else(|| "(unnamed alarm)".into()),
        new: text_at(d, &["state", "value"]).unwrap_or_else(|| "UNKNOWN".into()),
        old: text_at(d, &["previousState", "value"]),
        region_display: None,
        region,
        account,
        reason: text_at(d, &["state", "reason"]),
        changed_at: text_at(d, &["state", "timestamp"]).or_else(|| text_at(v, &["time"])),
        arn,
    }
    .draft(middle, text_at(config, &["description"]))
}

/// The metric of an alarm as EventBridge describes it
/// (`configuration.metrics`): one metric as facts, several (metric math) as
/// a list of their ids and expressions.
fn event_metrics(config: &Value) -> Vec<Part> {
    let metrics = common::items(config, "metrics");
    let stat_of = |m: &Value| {
        let metric = m.pointer("/metricStat/metric")?;
        let dims: Vec<String> = metric
            .get("dimensions")
            .and_then(Value::as_object)
            .map(|d| {
                d.iter()
                    .filter_map(|(k, v)| Some(format!("{k}={}", common::scalar(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        let dims = if dims.is_empty() {
            String::new()
        } else {
            format!(" ({})", dims.join(", "))
        };
        Some(
            format!(
                "{} {}{dims}",
                text_at(metric, &["namespace"]).unwrap_or_default(),
                text_at(metric, &["name"]).unwrap_or_default()
            )
            .trim()
            .to_string(),
        )
    };
    match metrics {
        [] => Vec::new(),
        [one] if one.get("expression").is_none() => {
            let period = one.pointer("/metricStat/period").and_then(Value::as_u64);
            fields([
                code_field("Metric", stat_of(one)),
                field("Statistic", text_at(one, &["metricStat", "stat"])),
                field(
                    "Period",
                    period.map(|p| {
                        if p % 60 == 0 {
                            format!("{} min", p / 60)
                        } else {
                            format!("{p} s")
                        }
                    }),
                ),
            ])
            .into_iter()
            .collect()
        }
        many => {
            let mut md = Rich::new().bold("Metric math");
            for m in many {
                md = md
                    .line()
                    .code(text_at(m, &["id"]).unwrap_or_default())
                    .text(" ");
                if let Some(expr) = text_at(m, &["expression"]) {
                    md = md.code(expr);
                } else if let Some(stat) = stat_of(m) {
                    let s = text_at(m, &["metricStat", "stat"]).unwrap_or_default();
                    md = md.text(format!("{s} of {stat}").trim().to_string());
                }
                if let Some(label) = text_at(m, &["label"]) {
                    md = md.text(" — ").text(label);
                }
                if m.get("returnData").and_then(Value::as_bool) == Some(true) {
                    md = md.text(" (alarmed on)");
                }
            }
            vec![Part::Text(md)]
        }
    }
}

/// The alarm's page in the console, the name encoded as one component (names
/// may hold `/`, spaces, parentheses).
pub fn console_url(partition: &str, region: &str, name: &str) -> Option<String> {
    Some(format!(
        "{}/cloudwatch/home?region={region}#alarmsV2:alarm/{}",
        common::console(partition, region)?,
        common::encode(name)
    ))
}

/// The words for a comparison operator.
fn comparison(op: &str) -> &str {
    match op {
        "GreaterThanThreshold" => ">",
        "GreaterThanOrEqualToThreshold" => "≥",
        "LessThanThreshold" => "<",
        "LessThanOrEqualToThreshold" => "≤",
        "LessThanLowerOrGreaterThanUpperThreshold" => "outside the band",
        "LessThanLowerThreshold" => "below the band",
        "GreaterThanUpperThreshold" => "above the band",
        other => other,
    }
}

/// Metric, statistic and threshold of a metric alarm, whichever of plain
/// metric, metric math or anomaly band it uses.
fn metric_parts(t: &Value) -> Vec<Part> {
    let mut blocks = Vec::new();
    let op = text_at(t, &["ComparisonOperator"]).unwrap_or_default();
    let band = text_at(t, &["ThresholdMetricId"]);
    let metrics = t.get("Metrics").and_then(Value::as_array);
    let metric = match (text_at(t, &["Namespace"]), text_at(t, &["MetricName"])) {
        (Some(ns), Some(name)) => Some(format!("{ns} {name}{}", dimensions(t.get("Dimensions")))),
        (None, Some(name)) => Some(name),
        _ => None,
    };
    let statistic = text_at(t, &["Statistic"]).or_else(|| text_at(t, &["ExtendedStatistic"]));
    let period = t.get("Period").and_then(Value::as_u64);
    let evaluation = evaluation(t, period);
    let threshold = match &band {
        Some(id) => Some(
            Rich::new()
                .text(format!("{} ", comparison(&op)))
                .code(id.clone()),
        ),
        None => text_at(t, &["Threshold"])
            .map(|th| Rich::new().text(format!("{} {th}", comparison(&op)))),
    };
    blocks.extend(fields([
        code_field("Metric", metric),
        field("Statistic", statistic),
        threshold.map(|value| Fact {
            label: "Threshold".into(),
            value,
        }),
        field("Evaluation", evaluation),
        field("Missing data", text_at(t, &["TreatMissingData"])),
    ]));
    if let Some(metrics) = metrics {
        let mut md = Rich::new().bold(if band.is_some() {
            "Anomaly detection"
        } else {
            "Metric math"
        });
        for m in metrics {
            let id = text_at(m, &["Id"]).unwrap_or_default();
            md = md.line().code(id).text(" ");
            if let Some(expr) = text_at(m, &["Expression"]) {
                md = md.code(expr);
            } else {
                md = md.text(at_stat(m));
            }
            if let Some(label) = text_at(m, &["Label"]) {
                md = md.text(" — ").text(label);
            }
            if m.get("ReturnData").and_then(Value::as_bool) == Some(true) {
                md = md.text(" (alarmed on)");
            }
        }
        blocks.push(Part::Text(md));
    }
    blocks
}

fn at_stat(m: &Value) -> String {
    let ns = text_at(m, &["MetricStat", "Metric", "Namespace"]).unwrap_or_default();
    let name = text_at(m, &["MetricStat", "Metric", "MetricName"]).unwrap_or_default();
    let stat = text_at(m, &["MetricStat", "Stat"]).unwrap_or_default();
    let dims = dimensions(common::at(m, &["MetricStat", "Metric", "Dimensions"]));
    format!("{stat} of {ns} {name}{dims}").trim().to_string()
}

/// `(name=value, ...)` of a dimension list (CloudWatch writes the keys in
/// lower or upper case depending on the alarm's age).
fn dimensions(v: Option<&Value>) -> String {
    let Some(Value::Array(dims)) = v else {
        return String::new();
    };
    let parts: Vec<String> = dims
        .iter()
        .filter_map(|d| {
            let name = text_at(d, &["name"]).or_else(|| text_at(d, &["Name"]))?;
            let value = text_at(d, &["value"]).or_else(|| text_at(d, &["Value"]))?;
            Some(format!("{name}={value}"))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// "3 of 5 periods of 5 min".
fn evaluation(t: &Value, period: Option<u64>) -> Option<String> {
    let periods = t.get("EvaluationPeriods").and_then(Value::as_u64)?;
    let datapoints = t
        .get("DatapointsToAlarm")
        .and_then(Value::as_u64)
        .unwrap_or(periods);
    let period = period.map(|p| {
        if p % 60 == 0 {
            format!(" of {} min", p / 60)
        } else {
            format!(" of {p} s")
        }
    });
    Some(format!(
        "{datapoints} of {periods} periods{}",
        period.unwrap_or_default()
    ))
}

/// The children whose state triggered a composite alarm.
fn triggering_children(v: &Value) -> Option<Part> {
    let children = v.get("TriggeringChildren")?.as_array()?;
    if children.is_empty() {
        return None;
    }
    let items = children
        .iter()
        .map(|child| {
            let arn = text_at(child, &["Arn"]).unwrap_or_default();
            let name = arn.rsplit_once(":alarm:").map_or(arn.as_str(), |(_, n)| n);
            let state = text_at(child, &["State", "Value"]).unwrap_or_default();
            let mut item = Rich::new().code(name.to_string()).text(" ").text(state);
            if let Some(ts) = text_at(child, &["State", "Timestamp"]) {
                item = item.text(" since ").time(&ts);
            }
            item
        })
        .collect();
    Some(Part::List(List {
        title: "Triggered by".into(),
        items,
        hidden: 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_links_encode_names_and_use_the_region_code() {
        assert_eq!(
            console_url("aws", "eu-west-3", "prod/api 5xx (p99)").unwrap(),
            "https://eu-west-3.console.aws.amazon.com/cloudwatch/home?region=eu-west-3#alarmsV2:alarm/prod%2Fapi%205xx%20%28p99%29"
        );
        assert!(console_url("aws", "US East (N. Virginia)", "a").is_none());
        assert!(
            console_url("aws-cn", "cn-north-1", "a")
                .unwrap()
                .starts_with("https://cn-north-1.console.amazonaws.cn/")
        );
    }

    #[test]
    fn evaluation_reads_as_datapoints_of_periods() {
        let t = serde_json::json!({"EvaluationPeriods": 5, "DatapointsToAlarm": 3});
        assert_eq!(
            evaluation(&t, Some(300)).unwrap(),
            "3 of 5 periods of 5 min"
        );
        assert_eq!(evaluation(&t, Some(10)).unwrap(), "3 of 5 periods of 10 s");
    }
}
