//! `cloudtrail_event`: `AWS API Call via CloudTrail` and `AWS Console Sign In
//! via CloudTrail` delivered by EventBridge: who (identity type and ARN, the
//! root user called out), what (`eventName`, `eventSource`), from where, and
//! the result.

use serde_json::Value;

use super::common::{self, code_field, field, fields, paren, text_at, words};
use super::generic::is_eventbridge;
use super::{Detection, Kind};
use crate::notice::{Draft, Part, Rich, Tone};

/// By `detail-type`; the status is the `errorCode`, else the event's name.
pub fn detect(v: &Value) -> Option<Detection> {
    if !is_eventbridge(v) {
        return None;
    }
    let detail_type = text_at(v, &["detail-type"])?;
    if detail_type != "AWS API Call via CloudTrail"
        && detail_type != "AWS Console Sign In via CloudTrail"
    {
        return None;
    }
    let d = v.get("detail")?;
    Some(Detection {
        kind: Kind::CloudtrailEvent,
        status: text_at(d, &["errorCode"]).or_else(|| text_at(d, &["eventName"])),
    })
}

/// Who acted, in words: the user's name, else the role the session was
/// issued by, else the last part of the ARN; `root` for the root user.
fn who(identity: &Value) -> String {
    if text_at(identity, &["type"]).as_deref() == Some("Root") {
        return "root".into();
    }
    text_at(identity, &["userName"])
        .or_else(|| text_at(identity, &["sessionContext", "sessionIssuer", "userName"]))
        .or_else(|| {
            let arn = text_at(identity, &["arn"])?;
            Some(arn.rsplit([':', '/']).next().unwrap_or(&arn).to_string())
        })
        .or_else(|| text_at(identity, &["invokedBy"]))
        .unwrap_or_default()
}

/// Reads a CloudTrail event. No thread; what it says is the event (its
/// `eventID`).
pub fn read(v: &Value) -> Draft {
    let d = v.get("detail").unwrap_or(&Value::Null);
    let identity = d.get("userIdentity").unwrap_or(&Value::Null);
    let root = text_at(identity, &["type"]).as_deref() == Some("Root");
    let event = text_at(d, &["eventName"]).unwrap_or_default();
    let error = text_at(d, &["errorCode"]);
    let login = text_at(d, &["responseElements", "ConsoleLogin"]);
    let failed = error.is_some() || login.as_deref() == Some("Failure");
    let tone = if failed || root {
        Tone::Danger
    } else {
        Tone::Info
    };
    let actor = who(identity);
    let result = error.clone().or(login.clone()).unwrap_or_default();
    let by = if actor.is_empty() { "" } else { "by" };
    let title = format!("{}{}", words(&[&event, by, &actor]), paren(&result));
    let region = text_at(d, &["awsRegion"]).or_else(|| text_at(v, &["region"]));
    let mut body = Vec::new();
    let mut md = Rich::new();
    if root {
        md = md.bold("The root user").text(" made this call.");
    }
    if let Some(message) = text_at(d, &["errorMessage"]) {
        if !md.is_empty() {
            md = md.line();
        }
        md = md.text(message);
    }
    if !md.is_empty() {
        body.push(Part::Text(md));
    }
    body.extend(fields([
        code_field("Event", Some(&event)),
        code_field("Service", text_at(d, &["eventSource"])),
        field("Identity type", text_at(identity, &["type"])),
        code_field("Identity", text_at(identity, &["arn"])),
        field("Source IP", text_at(d, &["sourceIPAddress"])),
        field("User agent", text_at(d, &["userAgent"])),
        field("MFA used", text_at(d, &["additionalEventData", "MFAUsed"])),
        code_field("Region", region.clone()),
        code_field(
            "Account",
            text_at(d, &["recipientAccountId"]).or_else(|| text_at(v, &["account"])),
        ),
        common::time_field("Time", text_at(d, &["eventTime"]).as_deref()),
    ]));
    let id = text_at(d, &["eventID"]);
    let link = match (&region, &id) {
        (Some(r), Some(id)) => {
            common::console_link(r, "cloudtrail", &format!("/events/{}", common::encode(id)))
        }
        _ => None,
    };
    body.extend(common::link_line(link, "Open the event in CloudTrail"));
    Draft::new(
        Some(title.clone()),
        format!("CloudTrail {title}"),
        Some(tone),
        body,
    )
    .says([id, Some(event)])
    .at(text_at(d, &["eventTime"]).as_deref())
}
