//! Connectors of the caller's tenant (admins only): what is configured, deliveries and their
//! attempts, dead letters, retries, and test events. The connectors themselves are service
//! configuration (`connectors:`); secrets are shown only as their references.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cavra_identity::Role;
use cavra_tenant_store::Outbox;
use cavra_tenant_store::outbox::{Delivery, DeliveryFilter, DeliveryState, NewEvent};
use cavra_tenant_store::{EntryQuery, Evidence};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::{Params, check_id};
use crate::auth::Caller;
use crate::problem::{ApiResult, Body, Problem};

fn admin(caller: &Caller) -> ApiResult<()> {
    caller.require(&[Role::Admin], "managing connectors")
}

/// A connector as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorView {
    /// Its name in the tenant.
    pub name: String,
    /// `splunk_hec`, `ocsf_https`, `syslog_tls`, `nats_jetstream`, `amqp` or `smtp`.
    pub kind: String,
    /// The event types it receives (empty: all).
    pub events: Vec<String>,
    /// Its filters.
    #[schema(value_type = Object)]
    pub filter: Value,
    /// Where it sends (scheme, host, port and path).
    pub destination: String,
    /// Its secrets, as references (`env:NAME`, `file:/path`), never their values.
    pub secrets: Vec<String>,
    /// Its dead letters (counted up to `limits.list_items`).
    pub dead_letters: usize,
}

/// A delivery as returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The event.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The connector.
    pub destination: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When it is due next (pending only).
    pub next_attempt_at: Option<String>,
    /// When it was routed.
    pub created_at: String,
    /// When it last changed.
    #[schema(value_type = String)]
    pub updated_at: cavra_store::Timestamp,
    /// The last attempt's status.
    pub last_status: Option<String>,
    /// The last attempt's error (redacted).
    pub last_error: Option<String>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        let time = |ms: i64| {
            time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
                .map(crate::format_time)
                .unwrap_or_default()
        };
        DeliveryView {
            next_attempt_at: (d.state == DeliveryState::Pending).then(|| time(d.next_at_ms)),
            created_at: time(d.created_ms),
            event_id: d.event_id,
            event_type: d.event_kind,
            destination: d.destination,
            state: d.state.as_str().into(),
            attempts: d.attempts,
            updated_at: d.updated_at,
            last_status: d.last_status,
            last_error: d.last_error,
        }
    }
}

/// One event's deliveries and every attempt at them (the delivery audit records).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetail {
    /// The event as stored (its payload is redacted again on the way out).
    #[schema(value_type = Object)]
    pub event: Value,
    /// Its deliveries, one per destination.
    pub deliveries: Vec<DeliveryView>,
    /// Every attempt, oldest first: evidence entries (`kind: delivery`) with their index.
    #[schema(value_type = Vec<Object>)]
    pub attempts: Vec<Value>,
}

/// Filters for listing deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    /// Only in this state: pending, delivered, dead.
    pub state: Option<String>,
    /// Only to this connector.
    pub destination: Option<String>,
    /// Only of this event.
    pub event_id: Option<String>,
    /// At most this many (default and cap: `limits.list_items`).
    pub limit: Option<usize>,
}

/// A test event sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    /// The test event; follow its delivery at `/v1/connectors/deliveries/{event_id}`.
    pub event_id: String,
    /// The evidence entry that records the request.
    pub log_index: Option<u64>,
}

/// Which dead letters to retry (none given: all of the tenant's).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// Only this event's.
    #[serde(default)]
    pub event_id: Option<String>,
    /// Only this connector's.
    #[serde(default)]
    pub destination: Option<String>,
}

/// How many dead letters went back to pending.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    /// How many.
    pub retried: u64,
}

/// The tenant's connectors.
#[utoipa::path(get, path = "/v1/connectors", tag = "connectors", operation_id = "connectors_list",
    responses((status = 200, body = Vec<ConnectorView>), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<ConnectorView>>> {
    admin(&caller)?;
    let tenant = caller.tenant();
    let dead = state
        .db
        .deliveries(
            tenant,
            &DeliveryFilter {
                state: Some(DeliveryState::Dead),
                limit: state.config.limits.list_items,
                ..DeliveryFilter::default()
            },
        )
        .await?;
    let out = state
        .config
        .connectors
        .of_tenant(tenant)
        .map(|c| ConnectorView {
            name: c.name.clone(),
            kind: c.kind().map(|k| k.as_str()).unwrap_or("").into(),
            events: c.events.clone(),
            filter: serde_json::to_value(&c.filter).unwrap_or(Value::Null),
            destination: c.destination(),
            secrets: c.secret_refs(),
            dead_letters: dead.iter().filter(|d| d.destination == c.name).count(),
        })
        .collect();
    Ok(Json(out))
}

/// Send a signed test event to one connector; the worker delivers it like any other event.
#[utoipa::path(post, path = "/v1/connectors/{name}/test", tag = "connectors", operation_id = "connectors_test",
    params(("name" = String, Path, description = "the connector")),
    responses((status = 202, body = TestSent), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn test(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<TestSent>)> {
    admin(&caller)?;
    check_id(&name)?;
    let tenant = caller.tenant();
    if state.config.connectors.get(tenant, &name).is_none() {
        return Err(Problem::not_found("connector"));
    }
    let mut event = NewEvent::new(
        "connector.test",
        None,
        cavra_store::Timestamp::now(),
        json!({"connector": name, "requested_by": caller.subject(), "message": "a test event from cavra"}),
    );
    event.only_destination = Some(name.clone());
    let entry = json!({"event_id": event.id, "connector": name, "requested_by": caller.subject()});
    let event_id = event.id.clone();
    let log_index = state
        .db
        .enqueue_event(tenant, event, Some(("connector_test".into(), entry)))
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestSent {
            event_id,
            log_index,
        }),
    ))
}

fn filter(state: &AppState, p: DeliveryParams) -> ApiResult<DeliveryFilter> {
    let delivery_state = p
        .state
        .map(|s| {
            DeliveryState::parse(&s)
                .ok_or_else(|| Problem::bad_request("state: pending, delivered or dead"))
        })
        .transpose()?;
    let cap = state.config.limits.list_items;
    Ok(DeliveryFilter {
        state: delivery_state,
        destination: p.destination,
        event_id: p.event_id,
        limit: p.limit.unwrap_or(cap).min(cap),
    })
}

/// The tenant's deliveries, newest first.
#[utoipa::path(get, path = "/v1/connectors/deliveries", tag = "connectors", operation_id = "connectors_deliveries",
    params(DeliveryParams),
    responses((status = 200, body = Vec<DeliveryView>), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Params(p): Params<DeliveryParams>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    admin(&caller)?;
    let f = filter(&state, p)?;
    let rows = state.db.deliveries(caller.tenant(), &f).await?;
    Ok(Json(rows.into_iter().map(DeliveryView::from).collect()))
}

/// The tenant's dead letters, newest first: each is a blocker in the tenant's posture until
/// retried.
#[utoipa::path(get, path = "/v1/connectors/dead-letters", tag = "connectors", operation_id = "connectors_dead_letters",
    responses((status = 200, body = Vec<DeliveryView>), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn dead_letters(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    admin(&caller)?;
    let f = DeliveryFilter {
        state: Some(DeliveryState::Dead),
        limit: state.config.limits.list_items,
        ..DeliveryFilter::default()
    };
    let rows = state.db.deliveries(caller.tenant(), &f).await?;
    Ok(Json(rows.into_iter().map(DeliveryView::from).collect()))
}

/// One event's deliveries and every attempt at them.
#[utoipa::path(get, path = "/v1/connectors/deliveries/{event_id}", tag = "connectors", operation_id = "connectors_delivery",
    params(("event_id" = String, Path, description = "the event (evt_…)")),
    responses((status = 200, body = DeliveryDetail), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn delivery(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(event_id): Path<String>,
) -> ApiResult<Json<DeliveryDetail>> {
    admin(&caller)?;
    check_id(&event_id)?;
    let tenant = caller.tenant();
    let event = state
        .db
        .event(tenant, &event_id)
        .await?
        .ok_or_else(|| Problem::not_found("event"))?;
    let deliveries = state
        .db
        .deliveries(
            tenant,
            &DeliveryFilter {
                event_id: Some(event_id.clone()),
                limit: state.config.limits.list_items,
                ..DeliveryFilter::default()
            },
        )
        .await?;
    let attempts = state
        .db
        .entries(
            tenant,
            &EntryQuery {
                kind: Some("delivery".into()),
                ref_id: Some(event_id),
                limit: state.config.limits.list_items,
                ..EntryQuery::default()
            },
        )
        .await?
        .into_iter()
        .map(|e| json!({"index": e.index, "time": e.timestamp, "attempt": e.entry["body"]}))
        .collect();
    let mut event = serde_json::to_value(&event).map_err(Problem::internal)?;
    cavra_redact::Redactor::builtin().redact_json_in_place(&mut event);
    Ok(Json(DeliveryDetail {
        event,
        deliveries: deliveries.into_iter().map(DeliveryView::from).collect(),
        attempts,
    }))
}

/// Put dead letters back to pending (fresh attempt count and age); their earlier attempts
/// stay in the evidence log.
#[utoipa::path(post, path = "/v1/connectors/retry", tag = "connectors", operation_id = "connectors_retry",
    request_body = RetryBody,
    responses((status = 200, body = Retried), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<RetryBody>,
) -> ApiResult<Json<Retried>> {
    admin(&caller)?;
    for id in [&body.event_id, &body.destination].into_iter().flatten() {
        check_id(id)?;
    }
    let now = time::OffsetDateTime::now_utc();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let retried = state
        .db
        .retry_dead(
            caller.tenant(),
            body.event_id.as_deref(),
            body.destination.as_deref(),
            now_ms,
            cavra_store::Timestamp::at_or_epoch(now),
        )
        .await?;
    Ok(Json(Retried { retried }))
}
