//! Authentication of every request: `Authorization: Bearer <credential>` where the credential
//! is a cavra API token (`cavra_<id>_<secret>`, checked against the stored SHA-256 of its
//! secret) or, when OIDC is configured, a JWT from the identity provider.

use cavra_tenant_store::Directory;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cavra_identity::{IdentityError, Principal, Role, TokenRecord, is_api_token, parse_bearer};
use time::OffsetDateTime;

use crate::AppState;
use crate::problem::Problem;

/// The authenticated caller of a request, and its tenant's entitlement (already admitted).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal, Arc<crate::entitlement::Gate>);

impl Caller {
    /// The caller's tenant.
    pub fn tenant(&self) -> &str {
        &self.0.tenant
    }

    /// The caller's subject.
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// `principal` as the caller of a request by `method`, if its tenant admits it: a
    /// principal of a tenant the service does not know acts nowhere; one of a suspended or
    /// expired tenant only reads, and only an auditor's (see [`crate::entitlement`]).
    pub async fn admit(
        state: &AppState,
        principal: Principal,
        method: &axum::http::Method,
    ) -> Result<Caller, Problem> {
        let Some(gate) = state.tenant_gate(&principal.tenant).await? else {
            return Err(Problem::forbidden(format!(
                "tenant `{}` does not exist on this service",
                principal.tenant
            )));
        };
        gate.admit(method, &principal)?;
        Ok(Caller(principal, gate))
    }

    /// The caller's tenant's entitlement: its features and limits.
    pub fn entitlement(&self) -> &crate::entitlement::Gate {
        &self.1
    }

    /// Whether the caller holds any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.0.has_role(*r))
    }

    /// Refuses unless the caller holds one of `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), Problem> {
        if self.has_any(roles) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "{what} needs the role {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
    }
}

fn identity_problem(e: &IdentityError) -> Problem {
    match e.http_status() {
        401 => Problem::unauthorized(e.to_string()),
        403 => Problem::forbidden(e.to_string()),
        503 => Problem::unavailable(e.to_string()),
        _ => Problem::internal(e),
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let mut headers = parts
            .headers
            .get_all(axum::http::header::AUTHORIZATION)
            .iter();
        let header = headers
            .next()
            .ok_or_else(|| Problem::unauthorized("send `Authorization: Bearer <token>`"))?;
        // Two credentials in one request: which one acts would depend on which component
        // reads first (a proxy, this service), so neither does.
        if headers.next().is_some() {
            return Err(Problem::unauthorized(
                "send exactly one Authorization header; this request has several",
            ));
        }
        let text = header
            .to_str()
            .map_err(|_| Problem::unauthorized("the Authorization header is not text"))?;
        let credential = bearer_credential(text).ok_or_else(|| {
            Problem::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
        let principal = if is_api_token(credential) {
            api_token(state, credential).await?
        } else if let Some(oidc) = &state.oidc {
            oidc.verify(credential)
                .await
                .map_err(|e| identity_problem(&e))?
        } else {
            return Err(Problem::unauthorized(
                "the credential is not a cavra API token, and this service accepts no OIDC tokens",
            ));
        };
        let caller = Caller::admit(state, principal, &parts.method).await?;
        rate_limit(state, &caller.0)?;
        if let Some(tag) = parts.extensions.get::<crate::conn::ConnectionTag>() {
            tag.authenticated();
        }
        Ok(caller)
    }
}

/// Counts the request against its credential's and its tenant's rates, when limited.
fn rate_limit(state: &AppState, principal: &Principal) -> Result<(), Problem> {
    let limits = &state.config.rate_limits;
    let burst = limits.burst_seconds.unwrap_or(1.0);
    let now = std::time::Instant::now();
    if let Some(rate) = limits.per_token_per_second {
        let key = match &principal.method {
            cavra_identity::AuthMethod::ApiToken { token_id } => format!("token:{token_id}"),
            cavra_identity::AuthMethod::Oidc { issuer } => {
                format!("oidc:{issuer}:{}", principal.subject)
            }
            cavra_identity::AuthMethod::Integration { integration, user } => {
                format!("integration:{integration}:{user}")
            }
        };
        state
            .limiter
            .take(&key, rate, burst, now)
            .map_err(|secs| Problem::too_many(secs, "this credential's request rate"))?;
    }
    if let Some(rate) = limits.per_tenant_per_second {
        state
            .limiter
            .take(&format!("tenant:{}", principal.tenant), rate, burst, now)
            .map_err(|secs| Problem::too_many(secs, "this tenant's request rate"))?;
    }
    Ok(())
}

/// The credential of `Bearer <credential>`; the scheme name is case-insensitive (RFC 9110
/// §11.1).
fn bearer_credential(header: &str) -> Option<&str> {
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(rest.trim()).filter(|c| !c.is_empty())
}

async fn api_token(state: &Arc<AppState>, credential: &str) -> Result<Principal, Problem> {
    let parts = parse_bearer(credential).map_err(|e| identity_problem(&e))?;
    let Some(known) = state.tokens.get(&parts.token_id, &state.db).await? else {
        return Err(identity_problem(&IdentityError::InvalidApiToken));
    };
    known
        .authenticate(&parts, OffsetDateTime::now_utc())
        .map_err(|e| identity_problem(&e))
}

/// Token records cached briefly, so that a burst of requests does not read the database for
/// each. Revocation through this replica evicts at once; on other replicas it takes effect
/// within [`TokenCache::TTL`].
pub struct TokenCache(crate::cache::TtlCache<Option<Arc<TokenRecord>>>);

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache(crate::cache::TtlCache::new(Self::TTL))
    }
}

impl TokenCache {
    /// How long a cached record is trusted.
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(2);

    /// The token `id`, from the cache or the database (`None`: no such token). A stored record
    /// that does not convert is an error and is not cached.
    pub async fn get(
        &self,
        id: &str,
        db: &cavra_tenant_store::Db,
    ) -> Result<Option<Arc<TokenRecord>>, Problem> {
        if let Some(known) = self.0.get(id) {
            return Ok(known);
        }
        // The store reads the record typed (roles, digest, times), once per database read,
        // not on every request.
        let known = db.token(id).await?.map(Arc::new);
        self.0.put(id, known.clone());
        Ok(known)
    }

    /// Forgets a record (after a revocation).
    pub fn evict(&self, id: &str) {
        self.0.evict(id);
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_credential;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_credential() {
        for h in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr  abc "] {
            assert_eq!(bearer_credential(h), Some("abc"), "{h}");
        }
        for h in ["Basic abc", "Bearer", "Bearer   ", "Bearerabc", ""] {
            assert_eq!(bearer_credential(h), None, "{h}");
        }
    }
}
