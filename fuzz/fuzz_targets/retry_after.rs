//! A `Retry-After` header value, read alone and through the retry decision,
//! whose wait must stay within the cap.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use sns_to_slack::delivery::policy::{self, Attempt, Decision};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let _ = policy::parse_retry_after(value, now);
    let cap = Duration::from_secs(60);
    let backoff = Duration::from_millis(250);
    let attempt = Attempt::Status {
        status: 429,
        body: String::new(),
        retry_after: Some(value.to_string()),
    };
    match policy::decide(&attempt, 1, 5, backoff, now, cap) {
        Decision::Retry { after, .. } => assert!(after <= cap),
        d => panic!("a 429 on the first attempt must be retried: {d:?}"),
    }
});
