//! The environment: line n of the input is the value of the n-th variable
//! the function reads. What the parser accepts must build a delivery.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sns_to_slack::config::{self, CliConfig, LambdaConfig};
use sns_to_slack::delivery::limiter::Limiter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let lambda = lines.next().is_some_and(|l| l.starts_with('L'));
    let values: Vec<(&str, String)> = config::VARIABLES
        .iter()
        .copied()
        .zip(lines.map(str::to_string))
        .collect();
    let lookup = |name: &str| {
        values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let config = if lambda {
        LambdaConfig::from_lookup(lookup).map(|c| c.config)
    } else {
        CliConfig::from_lookup(lookup).map(|c| c.config)
    };
    if let Ok(c) = config {
        let d = &c.delivery;
        let limiter = Limiter::new(d.rate_per_second, d.rate_burst, d.retry_after_max);
        limiter.pause("wh-a", std::time::Duration::MAX);
    }
});
