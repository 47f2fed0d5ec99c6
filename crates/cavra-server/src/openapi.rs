//! The OpenAPI document, generated from the handlers' annotations. A test checks that every
//! route the router serves is in it.
//!
//! The service serves [`document`], the generated document as a file in the crate, not
//! [`ApiDoc::openapi`] itself: the code that builds it at run time was 0.6 MB of the static
//! binary for a 0.1 MB document (docs/benchmarks.md#container-image). The file is embedded
//! gzip-compressed (`build.rs`; 14 KB instead of 101 KB) and inflated on the first request.
//! `tests/openapi.rs` fails when the file is not exactly what the annotations generate, and
//! rewrites it with `CAVRA_WRITE_OPENAPI=1`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi};

use crate::api::{
    approvals, connectors, decisions, evidence, health, integrations, inventory, policies,
    registry, releases, tenants, validations,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A cavra API token (`cavra token create`) or an OIDC JWT",
                    ))
                    .build(),
            ),
        );
    }
}

/// The answers any operation may get from the service's limits, declared where they apply:
/// 408 and 413 on every operation that takes a body (its read timeout and size limits), 429
/// with `Retry-After` on every authenticated operation (the per-credential and per-tenant
/// rate limits; also the bundle permits).
struct LimitResponses;

fn problem_response(description: &str, retry_after: bool) -> RefOr<Response> {
    let mut builder = ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    if retry_after {
        builder = builder.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    RefOr::T(builder.build())
}

impl Modify for LimitResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                if op.request_body.is_some() {
                    responses.entry("408".into()).or_insert_with(|| {
                        problem_response(
                            "The body did not arrive within `connections.body_read_timeout_seconds`",
                            false,
                        )
                    });
                    responses.entry("413".into()).or_insert_with(|| {
                        problem_response(
                            "The body, or a field of it, is larger than the service accepts (`max_body_bytes`, `limits:`)",
                            false,
                        )
                    });
                }
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    responses.insert(
                        "429".into(),
                        problem_response(
                            "Over a rate limit (`rate_limits:`) or, for bundles, `limits.concurrent_bundles`; retry after `Retry-After` seconds",
                            true,
                        ),
                    );
                }
            }
        }
    }
}

/// The service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "cavra API", description = "Shared decisions, approvals, registry, policy packs and evidence for AI coding agents."),
    modifiers(&BearerAuth, &LimitResponses),
    paths(
        decisions::create, decisions::list, decisions::get_one, decisions::sessions, decisions::session,
        approvals::list, approvals::get_one, approvals::approve, approvals::deny, approvals::expire,
        approvals::break_glass, approvals::sweep,
        registry::list, registry::get_one, registry::put_one, registry::delete_one,
        policies::upload, policies::list, policies::get_one, policies::assignments, policies::assign,
        evidence::entries, evidence::head, evidence::proof, evidence::bundle,
        tenants::list, tenants::create, tenants::get_one, tenants::entitlement, tenants::entitle,
        tenants::posture, tenants::posture_trend, tenants::readiness, tenants::whoami, validations::record,
        connectors::list, connectors::test, connectors::deliveries, connectors::delivery,
        connectors::dead_letters, connectors::retry,
        releases::record, releases::trust,
        inventory::import_one, inventory::list, inventory::versions, inventory::coverage_of,
        integrations::slack_interactions, integrations::teams_messages,
        integrations::servicenow_events, integrations::jira_events,
        health::healthz, health::readyz, health::metrics, health::openapi,
    ),
    components(schemas(
        crate::problem::Problem,
        registry::AgentRecord,
    ))
)]
pub struct ApiDoc;

/// `openapi.json`, gzip-compressed by `build.rs`.
const COMPRESSED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/openapi.json.gz"));

/// The document `/openapi.json` serves: `ApiDoc::openapi()` as compact JSON, generated into
/// `openapi.json` beside this crate's `Cargo.toml` (see the module's documentation).
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut text = String::new();
        // The bytes are build.rs's own output of a UTF-8 file: inflating them cannot fail
        // short of a broken build, which the tests catch (an empty document is served then).
        if std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(COMPRESSED), &mut text)
            .is_err()
        {
            text.clear();
        }
        text
    });
    &DOCUMENT
}
