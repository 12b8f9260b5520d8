//! A body as the one body reader takes it: a dead letter as `redrive` reads
//! it from SQS or the file, and an SQS message of the buffer queue.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sns_to_slack::record::body;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((_, records)) = body::read_letter(text) {
            assert!(!records.is_empty());
        }
        let _ = body::read(text);
    }
});
