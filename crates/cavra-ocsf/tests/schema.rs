//! cavra's OCSF objects against the OCSF schema itself: the JSON Schema of API Activity for
//! the version and profiles the objects declare, generated from the OCSF schema that the
//! `ocsf-json-schema` package ships (tests/ocsf/requirements.txt, installed by
//! scripts/test; tests/ocsf/class_schema.py prints it). Its objects forbid attributes they do
//! not define, so an attribute outside the version or the declared profiles fails as surely
//! as a missing required one.

use std::path::PathBuf;
use std::process::Command;

use cavra_ocsf::{Activity, OCSF_VERSION, PROFILES, api_activity};
use serde_json::{Value, json};

fn class_schema(profiles: &[&str]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/ocsf/class_schema.py");
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&py)
        .arg(&script)
        .args([OCSF_VERSION, "api_activity", &profiles.join(",")])
        .output()
        .unwrap_or_else(|e| panic!("{py} could not run ({e})"));
    assert!(
        out.status.success(),
        "the OCSF schema could not be generated; install the pinned test tools: {py} -m pip install -r tests/ocsf/requirements.txt\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the class schema is JSON")
}

fn errors(validator: &jsonschema::Validator, o: &Value) -> Vec<String> {
    validator
        .iter_errors(o)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn samples() -> Vec<Value> {
    let decision = json!({"decision_id": "dec_1", "decision": "block"});
    vec![
        api_activity(
            &Activity {
                uid: "evt_1",
                kind: "decision.block",
                time: "2026-01-01T00:00:01.500Z",
                decision: "block",
                severity: "critical",
                message: "destructive command",
                agent: "claude-code",
                user: "alice",
                session: "s1",
                operation: "execute_command",
                request_uid: "dec_1",
                target: "rm -rf /",
                tenant: "acme",
                log_name: "cavra evidence log",
                sequence: Some(12),
            },
            &decision,
        ),
        // An approval: no agent, no severity, no target.
        api_activity(
            &Activity {
                uid: "evt_2",
                kind: "approval.approved",
                time: "2026-01-01T00:00:02Z",
                user: "bob",
                request_uid: "apr_1",
                tenant: "acme",
                ..Activity::default()
            },
            &json!({"approval_id": "apr_1"}),
        ),
        // A checkpoint: nothing but its kind and time.
        api_activity(
            &Activity {
                uid: "evt_3",
                kind: "evidence.checkpoint",
                time: "2026-01-01T00:00:03Z",
                ..Activity::default()
            },
            &json!({}),
        ),
        // A time that does not parse still gives a valid object.
        api_activity(
            &Activity {
                kind: "decision",
                time: "yesterday",
                decision: "warn",
                severity: "bogus",
                ..Activity::default()
            },
            &json!(null),
        ),
    ]
}

#[test]
fn objects_are_valid_for_their_declared_version_and_profiles() {
    let schema = class_schema(PROFILES);
    let validator = jsonschema::validator_for(&schema).expect("the OCSF class schema compiles");
    for o in samples() {
        assert_eq!(o["metadata"]["version"], OCSF_VERSION);
        assert_eq!(o["metadata"]["profiles"], json!(PROFILES));
        let errs = errors(&validator, &o);
        assert!(errs.is_empty(), "{o:#}\n{errs:#?}");
    }
}

#[test]
fn the_schema_check_catches_what_the_old_export_got_wrong() {
    let schema = class_schema(PROFILES);
    let validator = jsonschema::validator_for(&schema).expect("the OCSF class schema compiles");
    let good = samples().remove(0);
    // The old mapping: `disposition` (not in API Activity 1.1.0), `actor.app_name` (not in
    // its actor), no `src_endpoint` (required).
    let mut bad = good.clone();
    bad["disposition_id"] = json!(2);
    assert!(!errors(&validator, &bad).is_empty());
    let mut bad = good.clone();
    bad["actor"]["app_name"] = json!("claude-code");
    assert!(!errors(&validator, &bad).is_empty());
    let mut bad = good.clone();
    bad.as_object_mut().map(|o| o.remove("src_endpoint"));
    assert!(!errors(&validator, &bad).is_empty());
    // A profile's attribute without the profile declared.
    let undeclared = jsonschema::validator_for(&class_schema(&[])).expect("compiles");
    assert!(
        !errors(&undeclared, &good).is_empty(),
        "time_dt needs the datetime profile"
    );
}
