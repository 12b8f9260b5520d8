//! Detection and identity of the kinds.

use super::*;

fn notification(subject: Option<&str>, message: &str) -> Notification {
    Notification {
        message_id: "m".into(),
        topic_arn: "arn:aws:sns:us-east-1:123456789012:alarms-topic".into(),
        subject: subject.map(str::to_string),
        message: message.into(),
        timestamp: None,
        message_attributes: Default::default(),
    }
}

#[test]
fn kind_names_round_trip_and_unknown_names_are_refused() {
    for kind in Kind::ALL {
        assert_eq!(kind.as_str().parse::<Kind>().unwrap(), kind);
    }
    let err = "cloudwatch".parse::<Kind>().unwrap_err();
    assert!(err.to_string().contains("\"cloudwatch\""), "{err}");
}

#[test]
fn detection_reads_content_never_the_topic() {
    let kind = |subject, message| read(&notification(subject, message), 4_000).kind;
    assert_eq!(kind(Some("ALARM: x"), "disk full"), Kind::Text);
    assert_eq!(kind(None, r#"{"AlarmName": "x"}"#), Kind::Json);
    assert_eq!(kind(None, "[1, 2]"), Kind::Json);
    assert_eq!(kind(None, "{not json"), Kind::Text);
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The first notification of a fixture.
fn fixture(name: &str) -> Notification {
    let text = std::fs::read_to_string(format!("{ROOT}/tests/fixtures/{name}.json")).unwrap();
    let records = crate::record::parse_event(&text).unwrap();
    records[0].notification().unwrap().clone()
}

#[test]
fn each_family_threads_by_the_thing_whose_lifecycle_it_follows() {
    let expected: &[(&str, Option<&str>)] = &[
        (
            "sns-cloudwatch-alarm",
            Some("arn:aws:cloudwatch:us-east-1:123456789012:alarm:api-5xx-rate"),
        ),
        (
            "sns-cloudwatch-composite",
            Some("arn:aws:cloudwatch:eu-west-1:210987654321:alarm:checkout-degraded"),
        ),
        (
            "sns-guardduty-finding",
            Some(
                "arn:aws:guardduty:eu-west-1:210987654321:detector/5ab1c2d3e4f5a6b7c8d9e0f1a2b3c4d5/finding/7ec9a1f2b3c44d5e8f60718293a4b5c6",
            ),
        ),
        // Three findings in one event: no one lifecycle.
        ("sns-securityhub-findings", None),
        (
            "sns-health-event",
            Some(
                "arn:aws:health:eu-west-1::event/LAMBDA/AWS_LAMBDA_OPERATIONAL_ISSUE/AWS_LAMBDA_OPERATIONAL_ISSUE_7F3A1_2B9C4E5D6A1",
            ),
        ),
        (
            "sns-codepipeline",
            Some(
                "codepipeline:eu-west-1:210987654321:checkout-release:3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
            ),
        ),
        (
            "sns-codebuild",
            Some(
                "arn:aws:codebuild:eu-west-1:210987654321:build/checkout-tests:8d7c6b5a-4f3e-2d1c-0b9a-8f7e6d5c4b3a",
            ),
        ),
        (
            "sns-codedeploy",
            Some("codedeploy:eu-west-1:210987654321:d-4XK2P9QZB"),
        ),
        (
            "sns-cloudformation-stack",
            Some(
                "arn:aws:cloudformation:eu-west-1:210987654321:stack/checkout-prod/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            ),
        ),
        (
            "sns-ecs-task-stopped",
            Some("arn:aws:ecs:eu-west-1:210987654321:task/prod/5e4d3c2b1a0f49e8d7c6b5a4f3e2d1c0"),
        ),
        (
            "sns-eventbridge-ec2",
            Some("ec2:us-east-1:123456789012:i-0abcd1234ef567890"),
        ),
        (
            "sns-autoscaling",
            Some("autoscaling:eu-west-1:210987654321:7d6c5b4a-3e2f-1a0b-9c8d-7e6f5a4b3c2d"),
        ),
        (
            "sns-backup",
            Some("backup:eu-west-1:210987654321:4B3C2D1E-0F9A-8B7C-6D5E-4F3A2B1C0D9E"),
        ),
        (
            "sns-cost-anomaly",
            Some("cost_anomaly:210987654321:9f8e7d6c-5b4a-3f2e-1d0c-b9a8f7e6d5c4"),
        ),
        // No lifecycle: one event of many, a bounce, a budget, text, JSON.
        ("sns-rds-event", None),
        ("sns-ses-bounce", None),
        ("sns-budgets", None),
        ("sns-chatbot-custom", None),
        ("sns-eventbridge-generic", None),
        ("sns-json-unknown", None),
        ("sns-plain", None),
    ];
    for (name, thread) in expected {
        let n = fixture(name);
        assert_eq!(read(&n, 4_000).thread_key(), *thread, "{name}");
    }
}

#[test]
fn an_alarm_and_its_recovery_share_a_thread_but_not_a_fingerprint() {
    let alarm = fixture("sns-cloudwatch-alarm");
    let ok = fixture("sns-cloudwatch-ok");
    let (alarm, ok) = (read(&alarm, 4_000), read(&ok, 4_000));
    assert_eq!(alarm.thread_key(), ok.thread_key());
    assert_ne!(alarm.dedup_key(), ok.dedup_key());
}

#[test]
fn the_fingerprint_ignores_how_a_notification_came() {
    // The same notification re-published: another SNS message, topic and
    // time; for an EventBridge event, also another region's copy.
    for name in [
        "sns-cloudwatch-alarm",
        "sns-guardduty-finding",
        "sns-codebuild",
        "sns-ecs-task-stopped",
        "sns-health-event",
        "sns-backup",
        "sns-budgets",
        "sns-plain",
    ] {
        let first = fixture(name);
        let mut again = first.clone();
        again.message_id = "another".into();
        again.topic_arn = "arn:aws:sns:us-west-2:999999999999:elsewhere".into();
        again.timestamp = Some("2030-01-01T00:00:00Z".into());
        assert_eq!(
            read(&first, 4_000).dedup_key(),
            read(&again, 4_000).dedup_key(),
            "{name}"
        );
    }
}

#[test]
fn the_same_finding_from_two_regions_has_one_fingerprint() {
    let home = fixture("sns-securityhub-findings");
    let mut event: Value = serde_json::from_str(&home.message).unwrap();
    event["region"] = "us-east-1".into();
    event["id"] = "another-event-id".into();
    event["time"] = "2026-11-24T10:09:00Z".into();
    let mut aggregated = home.clone();
    aggregated.message = event.to_string();
    let (a, b) = (read(&home, 4_000), read(&aggregated, 4_000));
    assert_eq!(a.dedup_key(), b.dedup_key());
    // An update of one finding is news.
    event["detail"]["findings"][0]["UpdatedAt"] = "2026-11-25T00:00:00Z".into();
    let mut updated = home.clone();
    updated.message = event.to_string();
    assert_ne!(a.dedup_key(), read(&updated, 4_000).dedup_key());
}

#[test]
fn a_different_message_has_a_different_fingerprint() {
    let a = notification(Some("s"), "disk full");
    let b = notification(Some("s"), "disk fine");
    let c = notification(None, "disk full");
    let keys: std::collections::BTreeSet<String> = [&a, &b, &c]
        .iter()
        .map(|n| read(n, 4_000).dedup_key())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k.len() == 32));
}

#[test]
fn a_fingerprint_is_the_first_16_bytes_of_its_sha256_in_lower_case_hex() {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in ["text", "", "s", "disk full"] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let expected: String = hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = read(&notification(Some("s"), "disk full"), 4_000).dedup_key();
    assert_eq!(key, expected);
}

#[test]
fn headlines_are_plain_and_on_one_line() {
    let special = fixture("sns-slack-special-chars");
    let notice = read(&special, 4_000);
    // Plain text: nothing escaped, nothing of mrkdwn.
    assert!(
        notice
            .headline
            .starts_with("Build & deploy <prod>: <!channel>")
    );
    let mut multi = notification(Some("two\nlines"), "first\r\nsecond");
    assert_eq!(read(&multi, 4_000).headline, "two lines: first");
    multi.subject = None;
    multi.message = " \n ".into();
    assert_eq!(read(&multi, 4_000).headline, crate::notice::EMPTY_HEADLINE);
    let alarm = fixture("sns-cloudwatch-alarm");
    let notice = read(&alarm, 4_000);
    assert!(
        notice
            .headline
            .starts_with("ALARM: api-5xx-rate (us-east-1) — Threshold Crossed")
    );
    assert_eq!(notice.title.as_deref(), Some("ALARM: api-5xx-rate"));
    assert_eq!(notice.tone, Some(crate::notice::Tone::Danger));
    assert!(notice.links().next().unwrap().is_trusted());
    assert!(notice.facts().any(|f| f.label == "Threshold"));
}

#[test]
fn json_is_shown_from_the_one_parse_and_cut_to_the_limit() {
    let n = notification(None, &format!("[{}]", vec!["0"; 5_000].join(",")));
    let notice = read(&n, 300);
    assert_eq!(notice.kind, Kind::Json);
    let [crate::notice::Part::Code(shown)] = notice.body.as_slice() else {
        panic!("{:?}", notice.body);
    };
    assert!(shown.chars().count() <= 300, "{shown}");
    assert!(
        shown.ends_with("[truncated: 240 of 25002 characters shown]"),
        "{shown}"
    );
}

#[test]
fn json_too_large_to_parse_is_json_shown_as_sent() {
    let big = format!("{{\"a\":[{}]}}", vec!["0"; 200_000].join(","));
    assert!(big.len() > MAX_PARSED_MESSAGE_BYTES);
    let n = notification(None, &big);
    let notice = read(&n, 4_000);
    assert_eq!(notice.kind, Kind::Json);
    let [crate::notice::Part::Code(shown)] = notice.body.as_slice() else {
        panic!("{:?}", notice.body);
    };
    assert!(shown.starts_with("{\"a\":[0,0,"), "{shown}");
    assert!(shown.ends_with(&format!("of {} characters shown]", big.len())));
    let broken = format!("{big}x");
    assert_eq!(read(&notification(None, &broken), 4_000).kind, Kind::Text);
}

#[test]
fn an_alarm_via_eventbridge_reads_as_the_alarm_it_is() {
    let n = fixture("sns-cloudwatch-alarm-eventbridge");
    let notice = read(&n, 4_000);
    assert_eq!(notice.kind, Kind::CloudwatchAlarm);
    assert_eq!(notice.status.as_deref(), Some("ALARM"));
    assert_eq!(notice.tone, Some(crate::notice::Tone::Danger));
    // The same thread as the SNS form of the same alarm: its ARN.
    assert_eq!(
        notice.thread_key(),
        Some("arn:aws:cloudwatch:eu-west-1:210987654321:alarm:orders-db-cpu-high")
    );
    assert!(
        notice
            .links()
            .next()
            .unwrap()
            .url
            .contains("#alarmsV2:alarm/orders-db-cpu-high")
    );
    let composite = serde_json::json!({"version": "0", "id": "1", "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": "210987654321", "region": "eu-west-1", "time": "2026-11-24T10:01:44Z",
        "resources": ["arn:aws:cloudwatch:eu-west-1:210987654321:alarm:checkout-degraded"],
        "detail": {"alarmName": "checkout-degraded", "state": {"value": "OK", "reason": "", "timestamp": "2026-11-24T10:01:44.128+0000"},
            "configuration": {"alarmRule": "ALARM(checkout-latency-p99) OR ALARM(checkout-5xx)"}}});
    let n = notification(None, &composite.to_string());
    let notice = read(&n, 4_000);
    assert_eq!(
        (notice.kind, notice.status.as_deref()),
        (Kind::CloudwatchCompositeAlarm, Some("OK"))
    );
    assert_eq!(notice.title.as_deref(), Some("OK: checkout-degraded"));
}

#[test]
fn auto_scalings_own_test_notification_is_autoscaling_without_a_placeholder() {
    let test = r#"{"AccountId":"210987654321","RequestId":"4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8",
        "AutoScalingGroupARN":"arn:aws:autoscaling:eu-west-1:210987654321:autoScalingGroup:1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d:autoScalingGroupName/web-frontend",
        "AutoScalingGroupName":"web-frontend","Service":"AWS Auto Scaling","Event":"autoscaling:TEST_NOTIFICATION",
        "Time":"2026-11-24T10:00:00.000Z"}"#;
    let n = notification(None, test);
    let notice = read(&n, 4_000);
    assert_eq!(
        (notice.kind, notice.status.as_deref()),
        (Kind::Autoscaling, None)
    );
    assert_eq!(
        notice.title.as_deref(),
        Some("Auto Scaling test notification: web-frontend")
    );
    assert_eq!(
        notice.headline,
        "Auto Scaling test notification: web-frontend"
    );
}

#[test]
fn missing_values_leave_their_phrase_out() {
    let health = r#"{"version":"0","id":"1","detail-type":"AWS Health Event","source":"aws.health",
        "account":"210987654321","region":"eu-west-1","time":"2026-11-24T10:00:00Z","resources":[],
        "detail":{"service":"EC2","eventTypeCategory":"scheduledChange","eventTypeCode":"AWS_EC2_MAINTENANCE_SCHEDULED"}}"#;
    let health = notification(None, health);
    let notice = read(&health, 4_000);
    assert_eq!(notice.kind, Kind::HealthEvent);
    assert_eq!(
        notice.title.as_deref(),
        Some("AWS Health: EC2 scheduledChange")
    );
    assert_eq!(notice.headline, "AWS Health EC2 scheduledChange");
    let hook = r#"{"version":"0","id":"2","detail-type":"EC2 Instance-launch Lifecycle Action","source":"aws.autoscaling",
        "account":"210987654321","region":"eu-west-1","time":"2026-11-24T10:00:00Z","resources":[],
        "detail":{"LifecycleHookName":"drain-before-launch","LifecycleTransition":"autoscaling:EC2_INSTANCE_LAUNCHING",
            "AutoScalingGroupName":"web-frontend","EC2InstanceId":"i-0c1d2e3f4a5b6c7d8"}}"#;
    let hook = notification(None, hook);
    let notice = read(&hook, 4_000);
    assert_eq!(
        (notice.kind, notice.status.as_deref()),
        (Kind::Autoscaling, None)
    );
    assert_eq!(
        notice.headline,
        "EC2 Instance-launch Lifecycle Action: web-frontend"
    );
    assert!(
        notice
            .facts()
            .any(|f| f.label == "Lifecycle hook" && f.value.plain() == "drain-before-launch")
    );
}

#[test]
fn a_step_functions_execution_threads_by_its_arn() {
    let n = fixture("sns-step-functions-failed");
    let notice = read(&n, 4_000);
    assert_eq!(
        (notice.kind, notice.status.as_deref()),
        (Kind::StepFunctions, Some("FAILED"))
    );
    assert_eq!(
        notice.thread_key(),
        Some("arn:aws:states:eu-west-1:210987654321:execution:invoice-export:nightly-2026-11-24")
    );
    assert_eq!(
        notice.headline,
        "Step Functions FAILED: invoice-export: States.TaskFailed"
    );
}

#[test]
fn a_codedeploy_trigger_shares_the_thread_of_its_deployment() {
    let n = fixture("sns-codedeploy-trigger");
    let notice = read(&n, 4_000);
    assert_eq!(
        (notice.kind, notice.status.as_deref()),
        (Kind::Codedeploy, Some("FAILED"))
    );
    assert_eq!(
        notice.thread_key(),
        Some("codedeploy:eu-west-1:210987654321:d-7HQ3M2XWB")
    );
}

#[test]
fn s3s_test_event_and_a_successful_destination_record_are_their_kinds() {
    let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-24T10:00:00.000Z",
        "Bucket":"invoices-archive","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;
    let n = notification(Some("Amazon S3 Notification"), test);
    let notice = read(&n, 4_000);
    assert_eq!(
        (notice.kind, notice.status.as_deref()),
        (Kind::S3Event, Some("s3:TestEvent"))
    );
    assert_eq!(notice.headline, "S3 test event: invoices-archive");
    let success = r#"{"version":"1.0","timestamp":"2026-11-24T10:00:44.817Z",
        "requestContext":{"requestId":"r-1","functionArn":"arn:aws:lambda:eu-west-1:210987654321:function:invoice-render:$LATEST","condition":"Success","approximateInvokeCount":1},
        "requestPayload":{},"responseContext":{"statusCode":200,"executedVersion":"$LATEST"},"responsePayload":"done"}"#;
    let n = notification(None, success);
    let notice = read(&n, 4_000);
    assert_eq!(
        (notice.kind, notice.status.as_deref(), notice.tone),
        (
            Kind::LambdaDestination,
            Some("Success"),
            Some(crate::notice::Tone::Good)
        )
    );
    assert_eq!(notice.headline, "Lambda Success: invoice-render");
}

#[test]
fn a_root_sign_in_is_called_out() {
    let login = r#"{"version":"0","id":"1","detail-type":"AWS Console Sign In via CloudTrail","source":"aws.signin",
        "account":"210987654321","time":"2026-11-24T09:00:00Z","region":"us-east-1","resources":[],
        "detail":{"userIdentity":{"type":"Root","principalId":"210987654321","arn":"arn:aws:iam::210987654321:root","accountId":"210987654321"},
            "eventTime":"2026-11-24T09:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1",
            "sourceIPAddress":"192.0.2.10","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"},
            "eventID":"e-1","eventType":"AwsConsoleSignIn"}}"#;
    let n = notification(None, login);
    let notice = read(&n, 4_000);
    assert_eq!(
        (notice.kind, notice.status.as_deref()),
        (Kind::CloudtrailEvent, Some("ConsoleLogin"))
    );
    assert_eq!(
        notice.title.as_deref(),
        Some("ConsoleLogin by root (Success)")
    );
    assert_eq!(notice.tone, Some(crate::notice::Tone::Danger));
    assert!(
        notice
            .facts()
            .any(|f| f.label == "MFA used" && f.value.plain() == "No")
    );
}

#[test]
fn a_manual_approval_asks_for_review_and_never_shows_its_token() {
    use crate::notice::{Part, Span, Stamp, Tone};
    let n = fixture("sns-codepipeline-approval");
    let notice = read(&n, 4_000);
    assert_eq!(
        (notice.kind, notice.status.as_deref(), notice.tone),
        (
            Kind::Codepipeline,
            Some(deploy::APPROVAL_NEEDED),
            Some(Tone::Warning)
        )
    );
    assert_eq!(
        notice.title.as_deref(),
        Some("Approval needed: checkout-release / Production / ApproveProd")
    );
    assert_eq!(
        notice.thread_key(),
        Some("codepipeline:eu-west-1:checkout-release:Production:ApproveProd")
    );
    let expires = notice.facts().find(|f| f.label == "Expires").unwrap();
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-08T11:48:00Z").unwrap();
    assert_eq!(expires.value.0, vec![Span::Time(Stamp::At(at.into()))]);
    let links: Vec<_> = notice.links().collect();
    assert_eq!(links[0].label, "Review and approve");
    assert!(links[0].is_trusted());
    assert_eq!(links.len(), 2, "review, then the pipeline");
    let external = notice.facts().find(|f| f.label == "To review").unwrap();
    let [Span::Link(external)] = external.value.0.as_slice() else {
        panic!("{external:?}");
    };
    assert!(!external.is_trusted(), "shown as text, never as a link");
    // The token reaches no text, fact or headline (only AWS's review URL).
    let texts = notice.body.iter().filter_map(|p| match p {
        Part::Text(r) | Part::Note(r) => Some(r.plain()),
        _ => None,
    });
    for text in texts
        .chain(notice.facts().map(|f| f.value.plain()))
        .chain([notice.headline.clone()])
    {
        assert!(!text.contains("TOKENFIXTURE"), "{text}");
    }
}

#[test]
fn an_approval_threads_by_its_execution_when_it_names_one() {
    let msg = r#"{"region":"us-east-1","approval":{"pipelineName":"p","stageName":"s","actionName":"a","pipelineExecutionId":"e-1","token":"t"}}"#;
    let n = notification(None, msg);
    let notice = read(&n, 4_000);
    assert_eq!(notice.kind, Kind::Codepipeline);
    assert_eq!(notice.thread_key(), Some("codepipeline:us-east-1:p:e-1"));
    // Without a stage or action it is no approval request: plain JSON.
    let bare = r#"{"approval":{"pipelineName":"p"}}"#;
    assert_eq!(read(&notification(None, bare), 4_000).kind, Kind::Json);
}

#[test]
fn a_dms_event_is_an_rds_event_titled_by_its_task() {
    let n = fixture("sns-dms-task-failed");
    let notice = read(&n, 4_000);
    assert_eq!(
        (notice.kind, notice.status.as_deref()),
        (Kind::RdsEvent, Some("DMS-EVENT-0078"))
    );
    assert_eq!(
        notice.title.as_deref(),
        Some("DMS replication-task: orders-cdc-to-warehouse")
    );
    assert_eq!(notice.tone, Some(crate::notice::Tone::Danger));
    assert!(notice.headline.starts_with("DMS orders-cdc-to-warehouse: "));
    let link = notice.links().next().unwrap();
    assert_eq!(link.label, "Open in the DMS console");
    let instance = r#"{"Event Source":"replication-instance","SourceId":"dms-prod-1","Event ID":"http://docs.aws.amazon.com/dms/latest/userguide/CHAP_Events.html#DMS-EVENT-0013","Event Message":"Replication instance is being rebooted."}"#;
    let n = notification(None, instance);
    let notice = read(&n, 4_000);
    assert_eq!(notice.status.as_deref(), Some("DMS-EVENT-0013"));
    assert_eq!(
        notice.title.as_deref(),
        Some("DMS replication-instance: dms-prod-1")
    );
    assert_eq!(notice.tone, Some(crate::notice::Tone::Warning));
}
