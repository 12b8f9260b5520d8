//! A dead-letter message body, as `redrive` reads it from SQS or the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sns_to_slack::redrive::body;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(parsed) = body::parse(text)
    {
        assert!(!parsed.records.is_empty());
    }
});
