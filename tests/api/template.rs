//! `template.yml` and `dashboards/` say what the deploy issue asks: tracing,
//! an encrypted DLQ with 14-day retention, Lambda's own failure backstop,
//! least privilege, the alarms, every setting wired, and a dashboard that is
//! the file in `dashboards/` and names only metrics the code emits; and what
//! the buffer issue asks of the two delivery modes: Buffered (topic -> SQS
//! buffer -> event source mapping) and Direct (topic -> asynchronous invoke);
//! and what the encryption issue asks: `KmsKeyArn` encrypts every resource
//! that can hold a notification or a setting, the role may use that key only,
//! and without it nothing changes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_norway::Value;
use sns_to_slack::{config, metrics};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn template() -> Value {
    let text = std::fs::read_to_string(format!("{ROOT}/template.yml")).unwrap();
    serde_norway::from_str(&text).expect("template.yml is YAML")
}

fn dashboard_file() -> String {
    std::fs::read_to_string(format!("{ROOT}/dashboards/sns-to-slack.json")).unwrap()
}

/// Follows a path of mapping keys.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, key| {
        v.get(*key)
            .unwrap_or_else(|| panic!("template has no {}", path.join(".")))
    })
}

/// `(tag, value)` of a short-form intrinsic such as `!Ref X`.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string(), &t.value)),
        _ => None,
    }
}

fn refers_to(v: &Value, tag: &str, target: &str) -> bool {
    matches!(intrinsic(v), Some((t, inner)) if t == tag && inner.as_str() == Some(target))
}

/// The `(condition, then, else)` of `!If [condition, then, else]`.
fn if_of(v: &Value) -> (&str, &Value, &Value) {
    let Some(("!If", args)) = intrinsic(v).as_ref().map(|(t, a)| (t.as_str(), *a)) else {
        panic!("not an !If: {v:?}")
    };
    let args = args.as_sequence().expect("!If takes a list");
    assert_eq!(args.len(), 3, "!If takes three items");
    (
        args[0].as_str().expect("a condition name"),
        &args[1],
        &args[2],
    )
}

/// True for `!Ref AWS::NoValue`.
fn no_value(v: &Value) -> bool {
    refers_to(v, "!Ref", "AWS::NoValue")
}

/// What a property holds once CloudFormation has decided `HasKmsKey`:
/// `!If [HasKmsKey, a, b]` is `a` with a key and `b` without; `None` is
/// `!Ref AWS::NoValue` (the property is not set). Any other value is the same
/// either way.
fn with_key(v: &Value, has_key: bool) -> Option<&Value> {
    let v = match intrinsic(v) {
        Some((tag, _)) if tag == "!If" => {
            let (condition, then, otherwise) = if_of(v);
            assert_eq!(condition, "HasKmsKey", "{v:?}");
            if has_key { then } else { otherwise }
        }
        _ => v,
    };
    (!no_value(v)).then_some(v)
}

/// An SQS queue: SQS-managed encryption without `KmsKeyArn`, the key with it.
fn assert_sqs_managed_without_a_key(q: &Value) {
    let managed = at(q, &["SqsManagedSseEnabled"]);
    assert_eq!(
        with_key(managed, false).and_then(Value::as_bool),
        Some(true)
    );
    assert!(
        with_key(managed, true).is_none(),
        "SQS refuses SqsManagedSseEnabled beside KmsMasterKeyId"
    );
}

/// The topic the function reads: the stack's own, or `ExistingTopicArn`.
fn is_the_topic(v: &Value) -> bool {
    let (condition, created, existing) = if_of(v);
    condition == "CreateTopic"
        && refers_to(created, "!Ref", "Topic")
        && refers_to(existing, "!Ref", "ExistingTopicArn")
}

/// A resource's `Condition`, if it has one.
fn condition_of<'a>(t: &'a Value, id: &str) -> Option<&'a str> {
    at(t, &["Resources", id])
        .get("Condition")
        .and_then(Value::as_str)
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    at(t, &["Resources"])
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect()
}

#[test]
fn the_function_is_rust_on_arm64_with_active_tracing() {
    let t = template();
    let f = at(&t, &["Resources", "Function"]);
    assert_eq!(at(f, &["Type"]).as_str(), Some("AWS::Serverless::Function"));
    let p = at(f, &["Properties"]);
    assert_eq!(at(p, &["Tracing"]).as_str(), Some("Active"));
    assert_eq!(at(p, &["Runtime"]).as_str(), Some("provided.al2023"));
    assert_eq!(at(p, &["Handler"]).as_str(), Some("bootstrap"));
    assert_eq!(at(p, &["Architectures"])[0].as_str(), Some("arm64"));
    assert_eq!(
        at(f, &["Metadata", "BuildMethod"]).as_str(),
        Some("rust-cargolambda")
    );
    assert_eq!(
        at(f, &["Metadata", "BuildProperties", "Binary"]).as_str(),
        Some("sns-to-slack")
    );
    assert!(refers_to(at(p, &["MemorySize"]), "!Ref", "MemorySize"));
    assert!(refers_to(at(p, &["Timeout"]), "!Ref", "Timeout"));
    let (mode, direct, buffered) = if_of(at(p, &["ReservedConcurrentExecutions"]));
    assert_eq!(mode, "Direct");
    assert!(refers_to(direct, "!Ref", "ReservedConcurrency"));
    assert!(
        no_value(buffered),
        "Buffered: the event source's MaximumConcurrency caps the invocations"
    );
    assert!(refers_to(
        at(p, &["LoggingConfig", "LogGroup"]),
        "!Ref",
        "LogGroup"
    ));
    assert_eq!(
        at(p, &["LoggingConfig", "LogFormat"]).as_str(),
        Some("JSON")
    );
}

#[test]
fn every_setting_of_the_configuration_is_wired() {
    let t = template();
    let vars = at(
        &t,
        &[
            "Resources",
            "Function",
            "Properties",
            "Environment",
            "Variables",
        ],
    );
    let set: BTreeSet<&str> = vars
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    let wanted: BTreeSet<&str> = config::VARIABLES.iter().copied().collect();
    assert_eq!(set, wanted);
    assert!(refers_to(
        &vars["DEAD_LETTER_QUEUE_URL"],
        "!Ref",
        "DeadLetterQueue"
    ));
    assert!(refers_to(&vars["WEBHOOK_URL"], "!Ref", "WebHookURL"));
}

#[test]
fn the_function_knows_its_last_receive_and_its_share_of_the_rate_in_both_modes() {
    let t = template();
    let vars = at(
        &t,
        &[
            "Resources",
            "Function",
            "Properties",
            "Environment",
            "Variables",
        ],
    );
    // The same parameter as the buffer's maxReceiveCount, so the function
    // dead-letters a record (with its reason) on the receive SQS would move it.
    assert!(refers_to(&vars["MAX_RECEIVES"], "!Ref", "MaxReceives"));
    let redrive = at(
        &t,
        &["Resources", "BufferQueue", "Properties", "RedrivePolicy"],
    );
    assert!(refers_to(
        at(redrive, &["maxReceiveCount"]),
        "!Ref",
        "MaxReceives"
    ));
    // As many processes as may run at once, in either mode.
    let (mode, buffered, direct) = if_of(&vars["FUNCTION_CONCURRENCY"]);
    assert_eq!(mode, "Buffered");
    assert!(refers_to(buffered, "!Ref", "MaximumConcurrency"));
    assert!(refers_to(direct, "!Ref", "ReservedConcurrency"));
    let esm = at(
        &t,
        &[
            "Resources",
            "BufferEventSource",
            "Properties",
            "ScalingConfig",
        ],
    );
    assert!(refers_to(
        at(esm, &["MaximumConcurrency"]),
        "!Ref",
        "MaximumConcurrency"
    ));
}

#[test]
fn delivery_mode_defaults_to_buffered_and_each_mode_has_its_condition() {
    let t = template();
    let p = at(&t, &["Parameters", "DeliveryMode"]);
    assert_eq!(at(p, &["Default"]).as_str(), Some("Buffered"));
    let allowed: Vec<&str> = at(p, &["AllowedValues"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(allowed, ["Buffered", "Direct"]);
    for (name, value) in [("Buffered", "Buffered"), ("Direct", "Direct")] {
        let c = at(&t, &["Conditions", name]);
        let Some(("!Equals", args)) = intrinsic(c).as_ref().map(|(t, a)| (t.as_str(), *a)) else {
            panic!("condition {name} is not !Equals")
        };
        assert!(refers_to(&args[0], "!Ref", "DeliveryMode"), "{name}");
        assert_eq!(args[1].as_str(), Some(value), "{name}");
    }
    for id in [
        "BufferQueue",
        "BufferQueuePolicy",
        "BufferSubscription",
        "BufferEventSource",
        "BufferAgeAlarm",
    ] {
        assert_eq!(condition_of(&t, id), Some("Buffered"), "{id}");
    }
    for id in [
        "FunctionNotifications",
        "FunctionNotificationsPermission",
        "FunctionEventInvokeConfig",
        "AsyncEventsDroppedAlarm",
        "AsyncEventAgeAlarm",
    ] {
        assert_eq!(condition_of(&t, id), Some("Direct"), "{id}");
    }
    // SAM events cannot carry a condition: the function declares none, and
    // each mode's wiring is a resource of its own.
    assert!(
        at(&t, &["Resources", "Function", "Properties"])
            .get("Events")
            .is_none()
    );
}

/// `VisibilityTimeout: !Sub ${Timeout}0` evaluated for a Timeout.
fn visibility_for(template: &Value, timeout: u64) -> u64 {
    let v = at(
        template,
        &[
            "Resources",
            "BufferQueue",
            "Properties",
            "VisibilityTimeout",
        ],
    );
    let Some(("!Sub", text)) = intrinsic(v).as_ref().map(|(t, a)| (t.as_str(), *a)) else {
        panic!("VisibilityTimeout is not derived from Timeout: {v:?}")
    };
    text.as_str()
        .unwrap()
        .replace("${Timeout}", &timeout.to_string())
        .parse()
        .expect("a whole number of seconds")
}

#[test]
fn the_buffer_is_kept_encrypted_outlasts_six_timeouts_and_redrives_to_the_dlq() {
    let t = template();
    let buffer = at(&t, &["Resources", "BufferQueue"]);
    for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
        assert_eq!(
            at(buffer, &[policy]).as_str(),
            Some("Retain"),
            "a switch to Direct must not delete what the buffer holds"
        );
    }
    let q = at(buffer, &["Properties"]);
    assert_sqs_managed_without_a_key(q);
    assert_eq!(
        at(q, &["MessageRetentionPeriod"]).as_u64(),
        Some(14 * 24 * 3600),
        "a backlog is never deleted for age"
    );
    let timeout = at(&t, &["Parameters", "Timeout"]);
    for seconds in [
        at(timeout, &["MinValue"]).as_u64().unwrap(),
        at(timeout, &["Default"]).as_u64().unwrap(),
        at(timeout, &["MaxValue"]).as_u64().unwrap(),
    ] {
        let visibility = visibility_for(&t, seconds);
        assert!(
            visibility >= 6 * seconds,
            "Timeout {seconds}: visibility {visibility}"
        );
        assert!(visibility <= 43_200, "SQS's largest visibility timeout");
    }
    let target = at(q, &["RedrivePolicy", "deadLetterTargetArn"]);
    assert!(
        matches!(intrinsic(target), Some((tag, v)) if tag == "!GetAtt" && v.as_str() == Some("DeadLetterQueue.Arn"))
    );
    let receives = at(&t, &["Parameters", "MaxReceives"]);
    assert!(at(receives, &["MinValue"]).as_u64() >= Some(1));
    assert!(
        at(receives, &["Default"]).as_u64() >= Some(5),
        "AWS advises >= 5"
    );
}

#[test]
fn the_dead_letter_queue_accepts_the_buffers_redrive_and_no_other_queues() {
    let t = template();
    let policy = at(
        &t,
        &[
            "Resources",
            "DeadLetterQueue",
            "Properties",
            "RedriveAllowPolicy",
        ],
    );
    let (mode, buffered, direct) = if_of(policy);
    assert_eq!(mode, "Buffered");
    assert_eq!(
        at(buffered, &["redrivePermission"]).as_str(),
        Some("byQueue")
    );
    assert_eq!(at(direct, &["redrivePermission"]).as_str(), Some("denyAll"));
    let sources = at(buffered, &["sourceQueueArns"]).as_sequence().unwrap();
    assert_eq!(sources.len(), 1);
    // Named, not !GetAtt: the two queues would depend on each other.
    let Some(("!Sub", arn)) = intrinsic(&sources[0])
        .as_ref()
        .map(|(t, a)| (t.as_str(), *a))
    else {
        panic!("the source queue's ARN is not !Sub")
    };
    let name = at(&t, &["Resources", "BufferQueue", "Properties", "QueueName"]);
    let Some(("!Sub", name)) = intrinsic(name).as_ref().map(|(t, a)| (t.as_str(), *a)) else {
        panic!("the buffer's QueueName is not !Sub")
    };
    let arn = arn.as_str().unwrap();
    let name = name.as_str().unwrap();
    assert!(
        arn.starts_with("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:")
            && arn.ends_with(&format!(":{name}")),
        "{arn} does not name the buffer {name}"
    );
}

#[test]
fn the_topic_delivers_sns_json_to_the_buffer_and_only_the_topic_may_send() {
    let t = template();
    let s = at(&t, &["Resources", "BufferSubscription", "Properties"]);
    assert_eq!(at(s, &["Protocol"]).as_str(), Some("sqs"));
    assert_eq!(
        at(s, &["RawMessageDelivery"]).as_bool(),
        Some(false),
        "raw delivery would drop TopicArn, Subject and the attributes"
    );
    assert!(is_the_topic(at(s, &["TopicArn"])));
    let endpoint = at(s, &["Endpoint"]);
    assert!(
        matches!(intrinsic(endpoint), Some((tag, v)) if tag == "!GetAtt" && v.as_str() == Some("BufferQueue.Arn"))
    );
    let statements = at(
        &t,
        &[
            "Resources",
            "BufferQueuePolicy",
            "Properties",
            "PolicyDocument",
            "Statement",
        ],
    )
    .as_sequence()
    .unwrap();
    let allows: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .collect();
    assert_eq!(allows.len(), 1, "one grant: the topic's");
    let allow = allows[0];
    assert_eq!(
        at(allow, &["Principal", "Service"]).as_str(),
        Some("sns.amazonaws.com")
    );
    assert_eq!(at(allow, &["Action"]).as_str(), Some("sqs:SendMessage"));
    assert!(is_the_topic(at(
        allow,
        &["Condition", "ArnEquals", "aws:SourceArn"]
    )));
    assert!(
        statements
            .iter()
            .any(|s| s["Sid"].as_str() == Some("TlsOnly") && s["Effect"].as_str() == Some("Deny"))
    );
}

#[test]
fn the_event_source_reports_batch_item_failures_within_the_concurrency_it_is_given() {
    let t = template();
    let e = at(&t, &["Resources", "BufferEventSource", "Properties"]);
    assert!(refers_to(at(e, &["FunctionName"]), "!Ref", "Function"));
    let source = at(e, &["EventSourceArn"]);
    assert!(
        matches!(intrinsic(source), Some((tag, v)) if tag == "!GetAtt" && v.as_str() == Some("BufferQueue.Arn"))
    );
    assert!(refers_to(at(e, &["BatchSize"]), "!Ref", "BatchSize"));
    assert!(refers_to(
        at(e, &["MaximumBatchingWindowInSeconds"]),
        "!Ref",
        "BatchWindowSeconds"
    ));
    let types: Vec<&str> = at(e, &["FunctionResponseTypes"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(types, ["ReportBatchItemFailures"]);
    let concurrency = at(&t, &["Parameters", "MaximumConcurrency"]);
    assert_eq!(
        at(concurrency, &["MinValue"]).as_u64(),
        Some(2),
        "the event source's minimum"
    );
    assert!(at(concurrency, &["MaxValue"]).as_u64() <= Some(1000));
}

#[test]
fn an_alarm_watches_the_age_of_the_buffers_oldest_notification() {
    let t = template();
    let a = at(&t, &["Resources", "BufferAgeAlarm", "Properties"]);
    assert_eq!(at(a, &["Namespace"]).as_str(), Some("AWS/SQS"));
    assert_eq!(
        at(a, &["MetricName"]).as_str(),
        Some("ApproximateAgeOfOldestMessage")
    );
    let queue = &at(a, &["Dimensions"])[0];
    assert_eq!(queue["Name"].as_str(), Some("QueueName"));
    assert!(
        matches!(intrinsic(&queue["Value"]), Some((tag, v)) if tag == "!GetAtt" && v.as_str() == Some("BufferQueue.QueueName"))
    );
    assert!(refers_to(
        at(a, &["Threshold"]),
        "!Ref",
        "BufferAgeAlarmSeconds"
    ));
    assert_eq!(
        at(a, &["ComparisonOperator"]).as_str(),
        Some("GreaterThanThreshold")
    );
}

#[test]
fn direct_mode_keeps_the_asynchronous_subscription() {
    let t = template();
    let s = at(&t, &["Resources", "FunctionNotifications", "Properties"]);
    assert_eq!(at(s, &["Protocol"]).as_str(), Some("lambda"));
    assert!(is_the_topic(at(s, &["TopicArn"])));
    let p = at(
        &t,
        &["Resources", "FunctionNotificationsPermission", "Properties"],
    );
    assert_eq!(at(p, &["Principal"]).as_str(), Some("sns.amazonaws.com"));
    assert_eq!(at(p, &["Action"]).as_str(), Some("lambda:InvokeFunction"));
    assert!(is_the_topic(at(p, &["SourceArn"])));
    assert!(refers_to(at(p, &["FunctionName"]), "!Ref", "Function"));
}

#[test]
fn the_seed_parameters_keep_their_names_and_the_webhook_is_no_echo() {
    let t = template();
    let params = at(&t, &["Parameters"]);
    for name in [
        "FunctionName",
        "SNSTopic",
        "WebHookURL",
        "Channel",
        "Username",
        "IconEmoji",
    ] {
        assert!(params.get(name).is_some(), "parameter {name} is missing");
    }
    assert_eq!(at(params, &["WebHookURL", "NoEcho"]).as_bool(), Some(true));
}

#[test]
fn the_dead_letter_queue_is_encrypted_kept_14_days_and_only_the_function_sends() {
    let t = template();
    let q = at(&t, &["Resources", "DeadLetterQueue", "Properties"]);
    assert_sqs_managed_without_a_key(q);
    assert_eq!(
        at(q, &["MessageRetentionPeriod"]).as_u64(),
        Some(14 * 24 * 3600)
    );
    let statements = at(
        &t,
        &[
            "Resources",
            "DeadLetterQueuePolicy",
            "Properties",
            "PolicyDocument",
            "Statement",
        ],
    );
    let deny = statements
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["Sid"].as_str() == Some("OnlyTheFunctionSends"))
        .expect("a statement that denies other senders");
    assert_eq!(deny["Effect"].as_str(), Some("Deny"));
    assert_eq!(deny["Action"].as_str(), Some("sqs:SendMessage"));
    let exempt = &deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"];
    assert!(
        matches!(intrinsic(exempt), Some((tag, v)) if tag == "!GetAtt" && v.as_str() == Some("FunctionRole.Arn"))
    );
}

#[test]
fn lambdas_own_failure_handling_backstops_into_the_same_queue() {
    let t = template();
    let c = at(
        &t,
        &["Resources", "FunctionEventInvokeConfig", "Properties"],
    );
    assert!(refers_to(at(c, &["FunctionName"]), "!Ref", "Function"));
    assert_eq!(at(c, &["Qualifier"]).as_str(), Some("$LATEST"));
    assert!(at(c, &["MaximumRetryAttempts"]).as_u64().is_some());
    assert!(at(c, &["MaximumEventAgeInSeconds"]).as_u64().is_some());
    let on_failure = at(c, &["DestinationConfig", "OnFailure"]);
    let dest = at(on_failure, &["Destination"]);
    assert!(
        matches!(intrinsic(dest), Some((tag, v)) if tag == "!GetAtt" && v.as_str() == Some("DeadLetterQueue.Arn"))
    );
}

#[test]
fn the_role_is_least_privilege() {
    let t = template();
    let f = at(&t, &["Resources", "Function", "Properties"]);
    assert!(
        f.get("Policies").is_none(),
        "SAM policies would widen the role"
    );
    let role = at(&t, &["Resources", "FunctionRole", "Properties"]);
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "no managed policies"
    );
    let mut granted: BTreeMap<String, String> = BTreeMap::new();
    let mut conditional = BTreeSet::new();
    for policy in at(role, &["Policies"]).as_sequence().unwrap() {
        // A policy for one mode or setting is `!If [Condition, policy, !Ref AWS::NoValue]`.
        let policy = match intrinsic(policy) {
            Some((tag, _)) if tag == "!If" => {
                let (condition, then, otherwise) = if_of(policy);
                assert!(no_value(otherwise));
                conditional.insert((
                    condition.to_string(),
                    then["PolicyName"].as_str().unwrap().to_string(),
                ));
                then
            }
            _ => policy,
        };
        for s in at(policy, &["PolicyDocument", "Statement"])
            .as_sequence()
            .unwrap()
        {
            assert_eq!(s["Effect"].as_str(), Some("Allow"));
            let actions: Vec<&str> = match &s["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Sequence(list) => list.iter().map(|a| a.as_str().unwrap()).collect(),
                other => panic!("odd Action {other:?}"),
            };
            let resource = match intrinsic(&s["Resource"]) {
                Some((tag, _)) if tag == "!If" => {
                    let (condition, then, otherwise) = if_of(&s["Resource"]);
                    let show = |v: &Value| match intrinsic(v) {
                        Some((tag, v)) => format!("{tag} {}", v.as_str().unwrap()),
                        None => v.as_str().unwrap().to_string(),
                    };
                    format!("{condition} ? {} : {}", show(then), show(otherwise))
                }
                Some((tag, v)) => format!("{tag} {}", v.as_str().unwrap()),
                None => s["Resource"].as_str().unwrap().to_string(),
            };
            for a in actions {
                granted.insert(a.to_string(), resource.clone());
            }
        }
    }
    let expected: BTreeMap<String, String> = [
        ("logs:CreateLogStream", "!GetAtt LogGroup.Arn"),
        ("logs:PutLogEvents", "!GetAtt LogGroup.Arn"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        ("sqs:SendMessage", "!GetAtt DeadLetterQueue.Arn"),
        ("sqs:ReceiveMessage", "!GetAtt BufferQueue.Arn"),
        ("sqs:DeleteMessage", "!GetAtt BufferQueue.Arn"),
        ("sqs:GetQueueAttributes", "!GetAtt BufferQueue.Arn"),
        ("sqs:ChangeMessageVisibility", "!GetAtt BufferQueue.Arn"),
        (
            "secretsmanager:GetSecretValue",
            "WebhooksSecretIsArn ? !Ref WebhooksSecretId : !Sub arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${WebhooksSecretId}-??????",
        ),
        ("kms:Decrypt", "!Ref KmsKeyArn"),
        ("kms:GenerateDataKey", "!Ref KmsKeyArn"),
        // The state table's item actions, on that table only.
        ("dynamodb:GetItem", "!GetAtt StateTable.Arn"),
        ("dynamodb:PutItem", "!GetAtt StateTable.Arn"),
        ("dynamodb:UpdateItem", "!GetAtt StateTable.Arn"),
        ("dynamodb:DeleteItem", "!GetAtt StateTable.Arn"),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_string(), r.to_string()))
    .collect();
    assert_eq!(granted, expected);
    let conditional: Vec<(&str, &str)> = conditional
        .iter()
        .map(|(c, p)| (c.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        conditional,
        [
            ("Buffered", "buffer-queue"),
            ("HasKmsKey", "kms"),
            ("HasWebhooksSecret", "webhooks-secret")
        ],
        "the buffer's grants exist in Buffered mode only, the secret's and the key's only when set"
    );
}

/// Where each type of resource that can hold a notification or a setting
/// names its KMS key. A resource of one of these types that the template adds
/// later (the lifecycle work's state table is `AWS::DynamoDB::Table`) fails
/// [`kms_key_arn_encrypts_every_resource_that_holds_data_and_nothing_changes_without_it`]
/// until it takes `KmsKeyArn` too.
const ENCRYPTABLE: &[(&str, &[&str])] = &[
    ("AWS::SNS::Topic", &["KmsMasterKeyId"]),
    ("AWS::SQS::Queue", &["KmsMasterKeyId"]),
    ("AWS::Logs::LogGroup", &["KmsKeyId"]),
    ("AWS::Serverless::Function", &["KmsKeyArn"]),
    ("AWS::Lambda::Function", &["KmsKeyArn"]),
    (
        "AWS::DynamoDB::Table",
        &["SSESpecification", "KMSMasterKeyId"],
    ),
];

#[test]
fn kms_key_arn_is_an_optional_key_arn() {
    let t = template();
    let p = at(&t, &["Parameters", "KmsKeyArn"]);
    assert_eq!(at(p, &["Default"]).as_str(), Some(""));
    let condition = at(&t, &["Conditions", "HasKmsKey"]);
    let Some(("!Not", inner)) = intrinsic(condition).as_ref().map(|(t, a)| (t.as_str(), *a)) else {
        panic!("HasKmsKey is not !Not [!Equals [!Ref KmsKeyArn, \"\"]]")
    };
    let Some(("!Equals", args)) = intrinsic(&inner[0]).as_ref().map(|(t, a)| (t.as_str(), *a))
    else {
        panic!("HasKmsKey is not !Not [!Equals [...]]")
    };
    assert!(refers_to(&args[0], "!Ref", "KmsKeyArn"));
    assert_eq!(args[1].as_str(), Some(""));
    // IAM scopes kms actions by key ARN; an alias would match no key.
    let pattern = at(p, &["AllowedPattern"]).as_str().unwrap();
    assert!(pattern.contains(":key/"), "{pattern}");
    assert!(
        pattern.starts_with("^(") && pattern.ends_with(")?$"),
        "empty is allowed: {pattern}"
    );
}

#[test]
fn kms_key_arn_encrypts_every_resource_that_holds_data_and_nothing_changes_without_it() {
    let t = template();
    let mut covered = BTreeSet::new();
    for (kind, path) in ENCRYPTABLE {
        for (id, resource) in resources_of_type(&t, kind) {
            let p = at(resource, &["Properties"]);
            let (last, parents) = path.split_last().unwrap();
            let holder = parents
                .iter()
                .try_fold(p, |v, key| v.get(*key).and_then(|v| with_key(v, true)));
            let key = holder.and_then(|h| h.get(*last)).unwrap_or_else(|| {
                panic!(
                    "{id} ({kind}) does not take KmsKeyArn at {}",
                    path.join(".")
                )
            });
            assert!(
                with_key(key, true).is_some_and(|k| refers_to(k, "!Ref", "KmsKeyArn")),
                "{id}: with KmsKeyArn, {} is not the key: {key:?}",
                path.join(".")
            );
            assert!(
                with_key(key, false).is_none(),
                "{id}: without KmsKeyArn, {} must stay unset (AWS-managed encryption as before)",
                path.join(".")
            );
            covered.insert(id);
        }
    }
    for id in [
        "Topic",
        "BufferQueue",
        "DeadLetterQueue",
        "LogGroup",
        "Function",
    ] {
        assert!(covered.contains(id), "{id} is not encrypted with KmsKeyArn");
    }
    // Without a key each queue keeps SQS-managed encryption, and with one SQS
    // gets only the key (it refuses both at once).
    for id in ["BufferQueue", "DeadLetterQueue"] {
        assert_sqs_managed_without_a_key(at(&t, &["Resources", id, "Properties"]));
    }
}

#[test]
fn the_role_may_use_the_key_only_when_it_is_set_and_only_that_key() {
    let t = template();
    let policies = at(&t, &["Resources", "FunctionRole", "Properties", "Policies"])
        .as_sequence()
        .unwrap();
    let kms: Vec<&Value> = policies
        .iter()
        .filter(|p| serde_norway::to_string(p).unwrap().contains("kms:"))
        .collect();
    assert_eq!(kms.len(), 1, "one policy grants kms actions");
    let (condition, policy, otherwise) = if_of(kms[0]);
    assert_eq!(condition, "HasKmsKey");
    assert!(no_value(otherwise), "no key, no kms grant");
    let statements = at(policy, &["PolicyDocument", "Statement"])
        .as_sequence()
        .unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s["Effect"].as_str(), Some("Allow"));
    let actions: Vec<&str> = s["Action"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(actions, ["kms:Decrypt", "kms:GenerateDataKey"]);
    assert!(refers_to(&s["Resource"], "!Ref", "KmsKeyArn"));
}

#[test]
fn every_scanner_check_skipped_says_why() {
    let t = template();
    let mut skipped = BTreeSet::new();
    for (id, resource) in at(&t, &["Resources"]).as_mapping().unwrap() {
        let Some(skips) = resource
            .get("Metadata")
            .and_then(|m| m.get("checkov"))
            .and_then(|c| c.get("skip"))
        else {
            continue;
        };
        for skip in skips.as_sequence().unwrap() {
            let check = at(skip, &["id"]).as_str().unwrap();
            let why = at(skip, &["comment"]).as_str().unwrap_or("");
            assert!(why.len() > 40, "{id:?} skips {check} without a reason");
            skipped.insert(check.to_string());
        }
    }
    // Only the checks that cannot apply (issue 22): no dead-letter config
    // (the DLQ is wired per mode instead), no VPC (it must reach Slack), and
    // no point-in-time recovery for a state table whose items expire.
    assert_eq!(
        skipped.iter().map(String::as_str).collect::<Vec<_>>(),
        ["CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_28"]
    );
}

#[test]
fn the_alarms_cover_the_failure_modes_and_notify_the_optional_topic() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    let mut names = BTreeSet::new();
    for (id, alarm) in &alarms {
        let p = at(alarm, &["Properties"]);
        match p.get("MetricName") {
            Some(m) => names.insert(m.as_str().unwrap().to_string()),
            None => names.insert(
                at(p, &["Metrics"])[0]["MetricStat"]["Metric"]["MetricName"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ),
        };
        let actions = at(p, &["AlarmActions"]);
        let Some((tag, args)) = intrinsic(actions) else {
            panic!("{id}: AlarmActions is not conditional")
        };
        assert_eq!(tag, "!If");
        assert_eq!(args[0].as_str(), Some("HasAlarmTopic"), "{id}");
    }
    for wanted in [
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "Errors",
        "AsyncEventsDropped",
        "AsyncEventAge",
        "Duration",
        metrics::DEAD_LETTERED,
    ] {
        assert!(names.contains(wanted), "no alarm on {wanted}");
    }
}

#[test]
fn alarms_on_our_namespace_name_only_emitted_metrics() {
    let t = template();
    for (id, alarm) in resources_of_type(&t, "AWS::CloudWatch::Alarm") {
        let p = at(alarm, &["Properties"]);
        if p.get("Namespace")
            .is_some_and(|n| refers_to(n, "!Ref", "MetricsNamespace"))
        {
            let name = at(p, &["MetricName"]).as_str().unwrap();
            assert!(
                metrics::ALL.contains(&name),
                "{id} names {name}, which the code does not emit"
            );
            let dim = &at(p, &["Dimensions"])[0];
            assert_eq!(dim["Name"].as_str(), Some(metrics::SERVICE_DIMENSION));
        }
    }
}

/// The stack's names a deployed dashboard gets through `!Sub`.
fn stack_names() -> BTreeMap<&'static str, &'static str> {
    [
        ("AWS::Region", "eu-west-1"),
        ("FunctionName", "notifier"),
        ("Function", "notifier"),
        ("MetricsNamespace", "SnsToSlack"),
        (
            "DeadLetterQueue.QueueName",
            "notifier-DeadLetterQueue-AbC123",
        ),
        ("LogGroup", "/aws/lambda/notifier"),
        ("BufferQueueName", "notifier-buffer"),
    ]
    .into_iter()
    .collect()
}

/// What CloudFormation's `!Sub` does with `${Name}` (and `${!Literal}`).
fn substitute(text: &str, names: &BTreeMap<&str, &str>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("unclosed ${") + start;
        let name = &rest[start + 2..end];
        match name.strip_prefix('!') {
            Some(literal) => out.push_str(&format!("${{{literal}}}")),
            None => out.push_str(
                names
                    .get(name)
                    .unwrap_or_else(|| panic!("${{{name}}} is not a stack name")),
            ),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_deployed_dashboard_is_the_file_with_the_stacks_names() {
    let t = template();
    let body = at(
        &t,
        &["Resources", "Dashboard", "Properties", "DashboardBody"],
    );
    let Some((tag, args)) = intrinsic(body) else {
        panic!("DashboardBody is not !Sub")
    };
    assert_eq!(tag, "!Sub");
    // `!Sub [text, {BufferQueueName: !If [Buffered, buffer's name, no queue's name]}]`
    let args = args.as_sequence().expect("!Sub [text, variables]");
    let text = &args[0];
    let (mode, buffer, direct) = if_of(at(&args[1], &["BufferQueueName"]));
    assert_eq!(mode, "Buffered");
    assert!(
        matches!(intrinsic(buffer), Some((tag, v)) if tag == "!GetAtt" && v.as_str() == Some("BufferQueue.QueueName"))
    );
    let direct = direct.as_str().unwrap();
    assert!(
        direct.contains(' '),
        "Direct mode names no queue that could exist: {direct}"
    );
    let names = stack_names();
    let deployed = substitute(text.as_str().unwrap(), &names);
    let file = substitute(&dashboard_file(), &names);
    assert!(
        deployed.trim_end() == file.trim_end(),
        "template.yml's dashboard differs from dashboards/sns-to-slack.json: run scripts/sync-dashboard"
    );
    let json: Json = serde_json::from_str(&deployed).expect("the deployed body is JSON");
    assert!(json["widgets"].as_array().is_some_and(|w| !w.is_empty()));
    assert!(deployed.contains("notifier-DeadLetterQueue-AbC123"));
    assert!(deployed.contains("notifier-buffer"));
}

/// Every (namespace, metric name) a dashboard's widgets plot, with `"."`
/// resolved to the row above; SEARCH expressions give their MetricName.
fn plotted(dashboard: &Json) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for widget in dashboard["widgets"].as_array().unwrap() {
        let Some(rows) = widget["properties"]["metrics"].as_array() else {
            continue;
        };
        let mut previous: Vec<String> = Vec::new();
        for row in rows {
            let row = row.as_array().unwrap();
            if let Some(expr) = row.first().and_then(|c| c["expression"].as_str()) {
                let ns = expr
                    .split('{')
                    .nth(1)
                    .and_then(|s| s.split(',').next())
                    .unwrap_or("");
                let name = expr
                    .split("MetricName=\\\"")
                    .nth(1)
                    .or_else(|| expr.split("MetricName=\"").nth(1));
                let name = name.and_then(|s| s.split(['"', '\\']).next()).unwrap_or("");
                out.insert((ns.to_string(), name.to_string()));
                continue;
            }
            let cells: Vec<String> = row
                .iter()
                .filter_map(Json::as_str)
                .enumerate()
                .map(|(i, c)| {
                    if c == "." {
                        previous.get(i).cloned().unwrap_or_default()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            out.insert((cells[0].clone(), cells[1].clone()));
            previous = cells;
        }
    }
    out
}

#[test]
fn the_dashboard_names_only_metrics_the_code_emits_and_has_every_panel() {
    let dashboard: Json =
        serde_json::from_str(&dashboard_file()).expect("the dashboard file is JSON");
    let plotted = plotted(&dashboard);
    let ours: BTreeSet<&str> = plotted
        .iter()
        .filter(|(ns, _)| ns == "${MetricsNamespace}")
        .map(|(_, n)| n.as_str())
        .collect();
    for name in &ours {
        assert!(
            metrics::ALL.contains(name),
            "the dashboard plots {name}, which the code does not emit"
        );
    }
    for name in [
        metrics::POSTED,
        metrics::DEAD_LETTERED,
        metrics::RATE_LIMITED,
        metrics::RETRIED,
        metrics::DELIVERY_LATENCY,
    ] {
        assert!(ours.contains(name), "the dashboard lacks {name}");
    }
    for (ns, name) in [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        ("AWS/Lambda", "AsyncEventAge"),
        ("AWS/Lambda", "AsyncEventsDropped"),
    ] {
        assert!(
            plotted.contains(&(ns.to_string(), name.to_string())),
            "the dashboard lacks {ns} {name}"
        );
    }
    let log = dashboard["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["type"] == "log")
        .expect("a Logs Insights widget");
    let query = log["properties"]["query"].as_str().unwrap();
    assert!(query.contains("fields.outcome = 'failed'"), "{query}");
    for name in [
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
    ] {
        assert!(
            dashboard["widgets"].as_array().unwrap().iter().any(|w| {
                w["properties"]["metrics"].as_array().is_some_and(|rows| {
                    rows.iter().any(|row| {
                        row[1].as_str() == Some(name)
                            && row[3].as_str() == Some("${BufferQueueName}")
                    })
                })
            }),
            "the dashboard lacks the buffer's {name}"
        );
    }
    let dl_metrics = plotted
        .iter()
        .filter(|(ns, n)| ns == "${MetricsNamespace}" && n == metrics::DEAD_LETTERED)
        .count();
    assert!(dl_metrics >= 1);
}

/// The SEARCH expressions of a dashboard's widgets.
fn searches(dashboard: &Json) -> Vec<String> {
    dashboard["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["properties"]["metrics"].as_array())
        .flatten()
        .filter_map(|row| row[0]["expression"].as_str())
        .filter(|e| e.starts_with("SEARCH("))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_dashboard_splits_posts_and_dead_letters_by_webhook_as_the_code_emits_them() {
    let dashboard: Json =
        serde_json::from_str(&dashboard_file()).expect("the dashboard file is JSON");
    let by_webhook = format!(
        "{{${{MetricsNamespace}},{},{}}}",
        metrics::SERVICE_DIMENSION,
        metrics::WEBHOOK_DIMENSION
    );
    let names: BTreeSet<String> = searches(&dashboard)
        .iter()
        .filter(|e| e.contains(&by_webhook))
        .map(|e| {
            assert!(
                e.contains("Service=\"${FunctionName}\""),
                "{e}: not this function's"
            );
            e.split("MetricName=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    // The documents src/metrics.rs writes per webhook carry these three.
    assert_eq!(
        names,
        BTreeSet::from([
            metrics::DEAD_LETTERED.to_string(),
            metrics::POSTED.to_string(),
            metrics::RATE_LIMITED.to_string()
        ])
    );
}

#[test]
fn the_outputs_lead_to_the_topic_queue_function_and_dashboard() {
    let t = template();
    let outputs = at(&t, &["Outputs"]);
    for name in [
        "TopicArn",
        "DeadLetterQueueUrl",
        "BufferQueueUrl",
        "FunctionName",
        "DashboardUrl",
    ] {
        assert!(outputs.get(name).is_some(), "output {name} is missing");
    }
    let retention = at(
        &t,
        &["Resources", "LogGroup", "Properties", "RetentionInDays"],
    );
    assert!(refers_to(retention, "!Ref", "LogRetentionDays"));
}
