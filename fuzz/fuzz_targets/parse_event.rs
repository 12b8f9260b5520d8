//! An SNS event payload: parsed, and each readable record built into its
//! Slack message and serialized, as the function does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sns_to_slack::config::Overrides;
use sns_to_slack::{message, record};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(records) = record::parse_event(text) else {
        return;
    };
    for r in &records {
        if let Ok(n) = r.notification() {
            // A small limit too, so the cutting code runs on short inputs.
            for max in [
                message::MIN_MAX_MESSAGE_CHARS,
                message::DEFAULT_MAX_MESSAGE_CHARS,
            ] {
                let msg = message::build(n, &Overrides::default(), max);
                serde_json::to_vec(&msg).expect("a Slack message serializes");
            }
        }
    }
});
