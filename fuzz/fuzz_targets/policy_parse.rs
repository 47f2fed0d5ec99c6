//! Fuzzes policy pack and policy test file parsing: errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = cavra_policy::load::parse_document(&text, "<fuzz>");
    let _ = cavra_policy::testfile::parse_test_file(&text, "<fuzz>");
});
