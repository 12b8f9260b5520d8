//! `s3_event` (S3 event notifications published to SNS, `s3:TestEvent`
//! included) and `lambda_destination` (the record Lambda sends to a
//! destination after an asynchronous invocation): what happened to which
//! object, and which invocation failed or succeeded and why.

use serde_json::Value;

use super::common::{self, code_field, field, fields, named, scalar, text_at};
use super::generic::first_line;
use super::{Detection, Kind};
use crate::notice::{Draft, List, Part, Rich, Tone};

/// Records of one S3 event shown; the rest are counted.
const MAX_RECORDS: usize = 10;

/// S3 by `Records[].eventSource` `aws:s3` (status: the first record's
/// `eventName`) or by `Event` `s3:TestEvent`; a Lambda destination record by
/// `requestContext.condition` and `requestContext.functionArn` (status: the
/// condition).
pub fn detect(v: &Value) -> Option<Detection> {
    if let Some(first) = common::items(v, "Records").first()
        && text_at(first, &["eventSource"]).as_deref() == Some("aws:s3")
    {
        return Some(Detection {
            kind: Kind::S3Event,
            status: text_at(first, &["eventName"]),
        });
    }
    if text_at(v, &["Event"]).as_deref() == Some("s3:TestEvent") {
        return Some(Detection {
            kind: Kind::S3Event,
            status: Some("s3:TestEvent".into()),
        });
    }
    let context = v.get("requestContext")?;
    text_at(context, &["functionArn"])?;
    Some(Detection {
        kind: Kind::LambdaDestination,
        status: Some(text_at(context, &["condition"])?),
    })
}

/// Reads an S3 event notification: the objects, what happened to them, by
/// whom. No thread; what it says is each object's event (key, sequencer).
pub fn read_s3(detection: &Detection, v: &Value) -> Draft {
    let status = detection.status.clone().unwrap_or_default();
    let records = common::items(v, "Records");
    let Some(first) = records.first() else {
        // s3:TestEvent: S3 checking it may publish to the topic.
        let bucket = text_at(v, &["Bucket"]).unwrap_or_default();
        let body = fields([
            code_field("Bucket", Some(&bucket)),
            common::time_field("Time", text_at(v, &["Time"]).as_deref()),
            code_field("Request id", text_at(v, &["RequestId"])),
        ])
        .into_iter()
        .collect();
        let title = named("S3 test event", &bucket);
        return Draft::new(Some(title.clone()), title, Some(Tone::Info), body)
            .says([Some(bucket), text_at(v, &["RequestId"])]);
    };
    let tone = if status.contains("LostObject") || status.contains("Failed") {
        Tone::Danger
    } else if status.starts_with("ObjectRemoved") || status.contains("Delete") {
        Tone::Warning
    } else {
        Tone::Info
    };
    let bucket = text_at(first, &["s3", "bucket", "name"]).unwrap_or_default();
    let key = |r: &Value| text_at(r, &["s3", "object", "key"]).unwrap_or_default();
    let region = text_at(first, &["awsRegion"]).unwrap_or_default();
    let title = match records {
        [one] => named(&status, &format!("{bucket}/{}", key(one))),
        many => named(&format!("{} S3 events", many.len()), &bucket),
    };
    let mut body = Vec::new();
    if records.len() > 1 {
        body.push(Part::List(List {
            title: "Objects".into(),
            items: records
                .iter()
                .take(MAX_RECORDS)
                .map(|r| {
                    let mut item = Rich::new()
                        .code(key(r))
                        .text(" ")
                        .text(text_at(r, &["eventName"]).unwrap_or_default());
                    if let Some(size) = text_at(r, &["s3", "object", "size"]) {
                        item = item.text(format!(", {size} bytes"));
                    }
                    item
                })
                .collect(),
            hidden: records.len().saturating_sub(MAX_RECORDS),
        }));
    }
    body.extend(fields([
        code_field("Bucket", Some(&bucket)),
        records
            .len()
            .eq(&1)
            .then(|| code_field("Key", Some(key(first))))
            .flatten(),
        field(
            "Size",
            (records.len() == 1)
                .then(|| text_at(first, &["s3", "object", "size"]).map(|s| format!("{s} bytes")))
                .flatten(),
        ),
        code_field("By", text_at(first, &["userIdentity", "principalId"])),
        field(
            "Source IP",
            text_at(first, &["requestParameters", "sourceIPAddress"]),
        ),
        code_field("Region", Some(&region)),
        common::time_field("Time", text_at(first, &["eventTime"]).as_deref()),
    ]));
    let link = (!bucket.is_empty() && common::is_region(&region)).then(|| {
        format!(
            "https://s3.console.aws.amazon.com/s3/buckets/{}?region={region}",
            common::encode(&bucket)
        )
    });
    body.extend(common::link_line(link, "Open the bucket in the S3 console"));
    let said: Vec<Option<String>> = records
        .iter()
        .flat_map(|r| {
            [
                Some(key(r)),
                text_at(r, &["eventName"]),
                text_at(r, &["s3", "object", "sequencer"]),
            ]
        })
        .chain([Some(bucket.clone())])
        .collect();
    Draft::new(Some(title.clone()), format!("S3 {title}"), Some(tone), body)
        .says(said)
        .at(text_at(first, &["eventTime"]).as_deref())
}

/// Reads a Lambda destination record: the function, the condition, the
/// error it returned. No thread; what it says is the request and condition.
pub fn read_lambda(detection: &Detection, v: &Value) -> Draft {
    let condition = detection.status.clone().unwrap_or_default();
    let context = v.get("requestContext").unwrap_or(&Value::Null);
    let arn = text_at(context, &["functionArn"]).unwrap_or_default();
    let parsed = common::arn(&arn);
    // arn:aws:lambda:region:account:function:name[:version]
    let function = arn.split(':').nth(6).unwrap_or("").to_string();
    let tone = match condition.as_str() {
        "Success" => Tone::Good,
        _ => Tone::Danger,
    };
    let response = v.get("responsePayload").unwrap_or(&Value::Null);
    let mut body = Vec::new();
    let error_type = text_at(response, &["errorType"]);
    let error_message = text_at(response, &["errorMessage"]);
    if error_type.is_some() || error_message.is_some() {
        let mut md = Rich::new();
        if let Some(t) = &error_type {
            md = md.code(t.clone()).text(" ");
        }
        if let Some(m) = &error_message {
            md = md.text(super::generic::clip(m, 1_500));
        }
        body.push(Part::Text(md));
    }
    body.extend(fields([
        code_field("Function", Some(&function)),
        field("Condition", Some(&condition)),
        field(
            "Attempts",
            context.get("approximateInvokeCount").and_then(scalar),
        ),
        field(
            "Function error",
            text_at(v, &["responseContext", "functionError"]),
        ),
        field(
            "Status code",
            v.pointer("/responseContext/statusCode").and_then(scalar),
        ),
        code_field(
            "Version",
            text_at(v, &["responseContext", "executedVersion"]),
        ),
        code_field("Request id", text_at(context, &["requestId"])),
        common::time_field("Time", text_at(v, &["timestamp"]).as_deref()),
    ]));
    let link = parsed.as_ref().and_then(|a| {
        common::console_link(
            a.region,
            "lambda",
            &format!("/functions/{}", common::encode(&function)),
        )
    });
    body.extend(common::link_line(
        link,
        "Open the function in the Lambda console",
    ));
    let title = named(&condition, &function);
    let headline = match &error_message {
        Some(m) => format!("Lambda {title}: {}", first_line(m)),
        None => format!("Lambda {title}"),
    };
    Draft::new(Some(title), headline, Some(tone), body)
        .says([
            Some(arn.clone()),
            text_at(context, &["requestId"]),
            Some(condition),
        ])
        .at(text_at(v, &["timestamp"]).as_deref())
}
