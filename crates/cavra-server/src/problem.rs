//! Errors as RFC 9457 problem details, and a JSON body extractor whose every rejection is one.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// A problem details document (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// Why a request was refused, as a word a program can act on (`tenant-suspended`,
    /// `tenant-expired`, `feature-not-entitled`, `limit-reached`); absent when the type says
    /// all there is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Seconds to wait before retrying (sent as `Retry-After`, not in the body).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of kind `slug` (`https://cavra.dev/problems/<slug>`).
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("https://cavra.dev/problems/{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            reason: None,
            retry_after: None,
        }
    }

    /// 403 for a reason a program can act on: `reason` is the problem's type (slug) and its
    /// `reason` member, and the detail starts with it, so that a client that shows only the
    /// detail (the hook's denial) still names it.
    pub fn refused(reason: &str, title: &str, detail: impl Into<String>) -> Self {
        let mut p = Self::new(StatusCode::FORBIDDEN, reason, title, detail);
        p.reason = Some(reason.to_string());
        p
    }

    /// 429: over a rate limit; retry after `seconds`.
    pub fn too_many(seconds: u64, what: &str) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("over {what}; retry after {seconds} s"),
        );
        p.retry_after = Some(seconds);
        p
    }

    /// 400: the request is malformed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 401: no or bad credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 404: nothing by that id in the caller's tenant (whether or not it exists elsewhere).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("no {what} with that id"),
        )
    }

    /// 409: the state changed meanwhile.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 422: well-formed but not acceptable.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "Invalid request",
            detail,
        )
    }

    /// 500: our fault. The detail is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        log_line!("cavra serve: internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed; see its log",
        )
    }

    /// 503: a dependency is down.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cavra\""),
            );
        }
        resp
    }
}

impl From<cavra_tenant_store::StoreError> for Problem {
    fn from(e: cavra_tenant_store::StoreError) -> Self {
        match e {
            cavra_tenant_store::StoreError::Conflict(m) => Problem::conflict(m),
            cavra_tenant_store::StoreError::Closed => {
                Problem::unavailable("the store is shutting down")
            }
            // The database's own text never leaves the service: it names tables, columns
            // and values, and says nothing a client can act on.
            cavra_tenant_store::StoreError::InvalidInput(m) => {
                log_line!(
                    "cavra serve: the database refused a value: {}",
                    first_line(&m)
                );
                Problem::unprocessable("a value in the request cannot be stored")
            }
            cavra_tenant_store::StoreError::Postgres(m) => {
                log_line!("cavra serve: the database failed: {}", first_line(&m));
                Problem::unavailable("the database is unavailable; retry")
            }
            other => Problem::internal(other),
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The handlers' result.
pub type ApiResult<T> = Result<T, Problem>;

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A JSON body whose rejections are problem details: 415 without a JSON content type, 413
/// over the size limit, 400 for malformed JSON, 422 for unknown fields, wrong types or a NUL
/// character anywhere.
pub struct Body<T>(pub T);

impl<T> FromRequest<std::sync::Arc<crate::AppState>> for Body<T>
where
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(
        req: Request,
        state: &std::sync::Arc<crate::AppState>,
    ) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            ));
        }
        // A peer that sends its body slowly holds a connection and a buffer: it gets a
        // bounded time to finish.
        let wait =
            std::time::Duration::from_secs(state.config.connections.body_read_timeout_seconds);
        let read = tokio::time::timeout(wait, axum::body::Bytes::from_request(req, state)).await;
        let Ok(read) = read else {
            return Err(Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "Request timeout",
                format!(
                    "the request body did not arrive within {} s",
                    wait.as_secs()
                ),
            ));
        };
        let bytes = match read {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    "Body too large",
                    "the request body is larger than the server accepts",
                ));
            }
            Err(e) => return Err(Problem::bad_request(e.body_text())),
        };
        // No text the service stores may hold a NUL (PostgreSQL cannot, and both backends
        // must answer alike), so one anywhere in a body is refused before anything reads it.
        if crate::limits::json_has_nul(&bytes) {
            return Err(Problem::unprocessable(
                "the body holds a NUL character (\\u0000); no field accepts one",
            ));
        }
        // Read without tracking the path of every field (serde_path_to_error, about 9,000
        // instructions of each decision request); a body that fails is read again the
        // tracking way, which accepts the same bodies and names where the error lies.
        if let Ok(v) = serde_json::from_slice::<T>(&bytes) {
            return Ok(Body(v));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => Problem::unprocessable(e.body_text()),
                JsonRejection::JsonSyntaxError(e) => {
                    Problem::bad_request(format!("malformed JSON: {}", e.body_text()))
                }
                JsonRejection::MissingJsonContentType(_) => Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "Unsupported media type",
                    "send the body as application/json",
                ),
                JsonRejection::BytesRejection(e) => {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        Problem::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "too-large",
                            "Body too large",
                            "the request body is larger than the server accepts",
                        )
                    } else {
                        Problem::bad_request(e.body_text())
                    }
                }
                other => Problem::bad_request(other.body_text()),
            }),
        }
    }
}
