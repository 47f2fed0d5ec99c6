//! Every built-in pack passes its own embedded tests through the real engine.

use cavra_engine::testing::run_cases;
use cavra_policy::builtin::builtin_packs;
use cavra_policy::compile;
use cavra_policy::testfile::parse_test_file;
use std::path::Path;

#[test]
fn builtin_packs_pass_their_embedded_tests() {
    assert!(builtin_packs().len() >= 3);
    for pack in builtin_packs() {
        let origin = format!("builtin:{}", pack.id);
        let file = parse_test_file(pack.yaml, &origin).unwrap_or_else(|e| panic!("{origin}: {e}"));
        assert!(!file.cases.is_empty(), "{origin} has embedded tests");
        let resolved = file
            .resolve_policy(Path::new("."))
            .unwrap_or_else(|e| panic!("{origin}: {e}"));
        let compiled = compile(&resolved).unwrap_or_else(|e| panic!("{origin}: {e}"));
        let report = run_cases(
            &compiled,
            &origin,
            &file.defaults,
            &file.cases,
            &cavra_engine::NoSymlinks,
        );
        assert!(
            report.failures.is_empty(),
            "{origin}: {:#?}",
            report.failures
        );
        assert_eq!(report.passed, file.cases.len());
    }
}
