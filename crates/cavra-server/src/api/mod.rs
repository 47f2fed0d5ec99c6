//! The HTTP routes. Every `/v1` route is authenticated and tenant-scoped; ids of another
//! tenant's records are answered exactly like ids that do not exist.

pub mod approvals;
pub mod connectors;
pub mod decisions;
pub mod evidence;
pub mod health;
pub mod integrations;
pub mod inventory;
pub mod policies;
pub mod registry;
pub mod releases;
#[cfg(test)]
mod settle_tests;
pub mod tenants;
pub mod validations;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::extract::rejection::QueryRejection;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::problem::Problem;
use cavra_tenant_store::Timestamp;

/// Query parameters whose rejections are problem documents.
pub struct Params<T>(pub T);

impl<T> FromRequestParts<Arc<AppState>> for Params<T>
where
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // Every query value is an identifier, a number or a time: printable and short, on
        // both backends alike (a NUL reaches PostgreSQL as an error, SQLite as a mismatch).
        if let Ok(pairs) = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
            for (key, value) in &pairs.0 {
                crate::limits::identifier(key, value, state.config.limits.id_bytes)?;
            }
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e: QueryRejection| Problem::bad_request(e.body_text()))
    }
}

/// A `since`/`until` query time: RFC 3339, read into the stores' time ([`Timestamp`]: UTC
/// with milliseconds, compared with stored times as their text). A value that is not such a
/// time (an empty one, or a year the stores cannot hold, included) is refused with 422 naming
/// the field: never ignored, so a filter the caller meant is never silently widened to
/// everything.
pub fn query_time(field: &str, value: Option<String>) -> Result<Option<Timestamp>, Problem> {
    value
        .map(|v| {
            Timestamp::parse(&v).map_err(|e| {
                Problem::unprocessable(format!(
                    "`{field}` is not an RFC 3339 time such as 2026-01-31T09:00:00Z: {e}"
                ))
            })
        })
        .transpose()
}

/// Checks an id taken from a path: printable, short, no separators that could mean anything
/// to a store.
pub fn check_id(id: &str) -> Result<(), Problem> {
    let ok = !id.is_empty()
        && id.len() <= 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_request(
            "invalid id: use 1-200 characters of letters, digits, - _ . : @",
        ))
    }
}

/// Counts problem answers (4xx, 5xx) for the metrics.
fn count_problems(state: &AppState, resp: &Response) {
    if resp.status().is_client_error() || resp.status().is_server_error() {
        state.metrics.problem();
    }
}

async fn not_found() -> Problem {
    Problem::new(
        axum::http::StatusCode::NOT_FOUND,
        "no-route",
        "No such route",
        "see /openapi.json for the routes this service has",
    )
}

/// A route's 405 as a problem like the service's others.
fn method_not_allowed(resp: Response) -> Response {
    if resp.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED {
        return axum::response::IntoResponse::into_response(Problem::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this route does not take that method; see /openapi.json",
        ));
    }
    resp
}

/// Every route.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    // An import is its source in a JSON string: quotes and line ends take two bytes each.
    let inventory_body = state
        .config
        .inventory
        .max_bytes
        .saturating_mul(2)
        .saturating_add(64 << 10)
        .max(limit);
    let v1 = Router::new()
        .route("/decisions", post(decisions::create).get(decisions::list))
        .route("/decisions/{id}", get(decisions::get_one))
        .route("/sessions", get(decisions::sessions))
        .route("/sessions/{id}", get(decisions::session))
        .route("/approvals", get(approvals::list))
        .route("/approvals/expire", post(approvals::sweep))
        .route("/approvals/{id}", get(approvals::get_one))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/deny", post(approvals::deny))
        .route("/approvals/{id}/expire", post(approvals::expire))
        .route("/approvals/{id}/break-glass", post(approvals::break_glass))
        .route("/registry/{kind}", get(registry::list))
        .route(
            "/registry/{kind}/{name}",
            get(registry::get_one)
                .put(registry::put_one)
                .delete(registry::delete_one),
        )
        .route("/policies", get(policies::list).post(policies::upload))
        .route("/policies/{digest}", get(policies::get_one))
        .route(
            "/policy-assignments",
            get(policies::assignments).put(policies::assign),
        )
        .route("/evidence/entries", get(evidence::entries))
        .route("/evidence/head", get(evidence::head))
        .route("/evidence/bundle", get(evidence::bundle))
        .route("/evidence/entries/{index}/proof", get(evidence::proof))
        .route("/tenants", get(tenants::list).post(tenants::create))
        .route("/tenants/{id}", get(tenants::get_one))
        .route(
            "/tenants/{id}/entitlement",
            get(tenants::entitlement).put(tenants::entitle),
        )
        .route("/posture", get(tenants::posture))
        .route("/posture/trend", get(tenants::posture_trend))
        .route("/readiness", get(tenants::readiness))
        .route("/connectors", get(connectors::list))
        .route("/connectors/deliveries", get(connectors::deliveries))
        .route(
            "/connectors/deliveries/{event_id}",
            get(connectors::delivery),
        )
        .route("/connectors/dead-letters", get(connectors::dead_letters))
        .route("/connectors/retry", post(connectors::retry))
        .route("/connectors/{name}/test", post(connectors::test))
        .route(
            "/integrations/slack/interactions",
            post(integrations::slack_interactions),
        )
        .route(
            "/integrations/teams/messages",
            post(integrations::teams_messages),
        )
        .route(
            "/integrations/servicenow/events",
            post(integrations::servicenow_events),
        )
        .route("/integrations/jira/events", post(integrations::jira_events))
        .route(
            "/inventory",
            get(inventory::list)
                .post(inventory::import_one)
                .layer(axum::extract::DefaultBodyLimit::max(inventory_body)),
        )
        .route("/inventory/versions", get(inventory::versions))
        .route("/inventory/coverage", get(inventory::coverage_of))
        .route("/releases", post(releases::record))
        .route("/trust", get(releases::trust))
        .route("/validations", post(validations::record))
        .route("/whoami", get(tenants::whoami));
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(health::openapi))
        .fallback(not_found)
        // Every answer: a 405 made a problem, then problems counted. One plain response
        // map rather than two `from_fn` middlewares, which box a future and clone the inner
        // service for every request.
        .layer(tower::util::MapResponseLayer::new({
            let state = state.clone();
            move |resp: Response| {
                let resp = method_not_allowed(resp);
                count_problems(&state, &resp);
                resp
            }
        }))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
}
