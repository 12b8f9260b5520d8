//! An SNS or SQS event payload: parsed, and each readable record detected,
//! rendered (Block Kit and the Go layout) and serialized, as the function does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sns_to_slack::kinds;
use sns_to_slack::record;
use sns_to_slack::render::{
    self, DEFAULT_MAX_MESSAGE_CHARS, MIN_MAX_MESSAGE_CHARS, MessageFormat, Overrides,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(records) = record::parse_event(text) else {
        return;
    };
    for r in &records {
        if let Ok(n) = r.notification() {
            for message_format in [MessageFormat::Blocks, MessageFormat::Attachments] {
                let overrides = Overrides {
                    message_format,
                    ..Overrides::default()
                };
                // A small limit too, so the cutting code runs on short inputs.
                for max in [MIN_MAX_MESSAGE_CHARS, DEFAULT_MAX_MESSAGE_CHARS] {
                    let notice = kinds::read(n, max);
                    let payload = render::render(&notice, &overrides, Some("<!here>"));
                    serde_json::to_vec(&payload).expect("a Slack message serializes");
                    let _ = (notice.dedup_key(), notice.thread_key());
                }
            }
        }
    }
});
