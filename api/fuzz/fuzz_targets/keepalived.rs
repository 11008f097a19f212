//! keepalived.conf parsing: any bytes (as UTF-8, lossily) parse to a configuration or to an
//! error with a line inside the input, and a parsed configuration converts to requests or an
//! error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvs_api::keepalived::{parse, to_requests};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count().max(1);
    match parse(&text) {
        Ok(cfg) => {
            if let Err(e) = to_requests(&cfg) {
                assert!(e.line >= 1 && e.line <= lines + 1, "line {} of {lines}", e.line);
            }
        }
        Err(e) => assert!(e.line >= 1 && e.line <= lines + 1, "line {} of {lines}", e.line),
    }
});
