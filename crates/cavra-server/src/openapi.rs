//! The OpenAPI document, generated from the handlers' annotations. A test checks that every
//! route the router serves is in it.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{approvals, decisions, evidence, health, policies, registry, tenants};

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

/// The service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "cavra API", description = "Shared decisions, approvals, registry, policy packs and evidence for AI coding agents."),
    modifiers(&BearerAuth),
    paths(
        decisions::create, decisions::list, decisions::get_one, decisions::sessions, decisions::session,
        approvals::list, approvals::get_one, approvals::approve, approvals::deny, approvals::expire,
        approvals::break_glass, approvals::sweep,
        registry::list, registry::get_one, registry::put_one, registry::delete_one,
        policies::upload, policies::list, policies::get_one, policies::assignments, policies::assign,
        evidence::entries, evidence::head, evidence::proof, evidence::bundle,
        tenants::list, tenants::create, tenants::get_one, tenants::posture, tenants::whoami,
        health::healthz, health::readyz, health::metrics, health::openapi,
    ),
    components(schemas(
        crate::problem::Problem,
        registry::AgentRecord,
    ))
)]
pub struct ApiDoc;
