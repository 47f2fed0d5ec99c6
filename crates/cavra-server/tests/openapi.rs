//! `/openapi.json` is a valid OpenAPI document: checked by a real validator
//! (`openapi-spec-validator`, pinned in tests/openapi/requirements.txt, installed by
//! scripts/test) and by generating a Python client from it (`openapi-python-client`), which
//! fails on what generated clients trip over. Without Python and those tools the test fails
//! and says how to install them: CI must not skip it silently.

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

fn document() -> Value {
    serde_json::to_value(<cavra_server::openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .expect("the document serialises")
}

fn need(tool: &str, out: &std::io::Result<std::process::Output>) -> std::process::Output {
    match out {
        Ok(o) => o.clone(),
        Err(e) => panic!(
            "{tool} could not run ({e}); install the pinned test tools: python3 -m pip install -r tests/openapi/requirements.txt"
        ),
    }
}

/// The service serves the document embedded from `openapi.json` (`cavra_server::openapi::document()`, stored compressed),
/// which must be exactly what the annotations generate now. `CAVRA_WRITE_OPENAPI=1` rewrites
/// the file first (then rebuild: the binary embeds it).
#[test]
fn the_served_document_is_the_one_the_annotations_generate() {
    let generated =
        serde_json::to_string(&<cavra_server::openapi::ApiDoc as utoipa::OpenApi>::openapi())
            .expect("the document serialises");
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var("CAVRA_WRITE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&file, &generated).expect("write openapi.json");
    }
    let written = std::fs::read_to_string(&file).expect("read openapi.json");
    assert!(
        written == generated,
        "crates/cavra-server/openapi.json is not what the handlers' annotations generate; rewrite it: \
         CAVRA_WRITE_OPENAPI=1 cargo test -p cavra-server --test openapi"
    );
    assert!(
        cavra_server::openapi::document() == written,
        "the embedded document is not the file (rebuild)"
    );
}

#[test]
fn operation_ids_are_unique_and_query_parameters_are_in_the_query() {
    let doc = document();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().expect("operationId").to_string();
            let at = format!("{method} {path}");
            if let Some(first) = ids.insert(id.clone(), at.clone()) {
                panic!("operationId {id} of {at} is also {first}'s");
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().expect("name");
                if p["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{at}: path parameter {name} is not in the path"
                    );
                    assert_eq!(p["required"], true, "{at}: {name}");
                }
            }
        }
    }
}

#[test]
fn a_real_validator_accepts_the_document_and_a_client_generates_from_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("openapi.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&document()).expect("json"),
    )
    .expect("write");

    let out = need(
        "openapi-spec-validator",
        &Command::new("python3")
            .args(["-m", "openapi_spec_validator"])
            .arg(&file)
            .output(),
    );
    assert!(
        out.status.success(),
        "openapi-spec-validator rejects the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The bundle is a tar archive: to a generic client, bytes (the generator's documented
    // content-type override).
    let config = dir.path().join("generator.yaml");
    std::fs::write(
        &config,
        "content_type_overrides:\n  application/x-tar: application/octet-stream\n",
    )
    .expect("config");
    let out = need(
        "openapi-python-client",
        &Command::new("openapi-python-client")
            .args([
                "generate",
                "--fail-on-warning",
                "--meta",
                "none",
                "--config",
            ])
            .arg(&config)
            .arg("--path")
            .arg(&file)
            .arg("--output-path")
            .arg(dir.path().join("client"))
            .output(),
    );
    assert!(
        out.status.success(),
        "openapi-python-client cannot generate a client:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The generated client compiles.
    let out = need(
        "python3",
        &Command::new("python3")
            .args(["-m", "compileall", "-q"])
            .arg(dir.path().join("client"))
            .output(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn limit_answers_are_declared_where_they_apply() {
    let doc = document();
    let mut secured = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let at = format!("{method} {path}");
            let responses = &op["responses"];
            if op.get("requestBody").is_some() {
                for status in ["408", "413"] {
                    assert!(
                        responses.get(status).is_some(),
                        "{at} takes a body but does not declare {status}"
                    );
                }
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                secured += 1;
                let too_many = &responses["429"];
                assert!(too_many.is_object(), "{at} does not declare 429");
                assert!(
                    too_many["headers"]["Retry-After"].is_object(),
                    "{at}: 429 without Retry-After"
                );
            }
        }
    }
    assert!(secured > 20, "{secured} authenticated operations");
    let decide = &doc["paths"]["/v1/decisions"]["post"]["responses"];
    assert!(decide["408"].is_object() && decide["413"].is_object() && decide["429"].is_object());
}
