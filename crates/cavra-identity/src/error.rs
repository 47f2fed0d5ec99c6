//! Why a credential was refused.

/// Why a bearer credential was refused, or why verification could not run.
///
/// Messages name claims, key ids and algorithms but never a token, a secret or key material, so
/// they may be shown to the caller as a problem-details `detail`. [`IdentityError::code`] is a
/// stable slug for the problem `type`; [`IdentityError::http_status`] the status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The credential is not a well-formed API token or JWT.
    #[error("the bearer credential is malformed: {0}")]
    Malformed(String),
    /// No API token with this id exists, or its secret does not match. The two are one error so
    /// a caller cannot probe which token ids exist.
    #[error("the API token is not valid")]
    InvalidApiToken,
    /// The API token was revoked.
    #[error("the API token has been revoked")]
    Revoked,
    /// The token's expiry (plus leeway for JWTs) has passed.
    #[error("the token has expired")]
    Expired,
    /// The JWT's `nbf` (minus leeway) is still in the future.
    #[error("the token is not valid yet (nbf is in the future)")]
    NotYetValid,
    /// The JWT's signature does not verify with the key its `kid` names.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// The JWT header names an algorithm cavra never accepts (`none`, HMAC, unknown).
    #[error("the token's algorithm `{0}` is not accepted")]
    UnsupportedAlgorithm(String),
    /// The JWT header's algorithm does not fit the key it names (algorithm confusion).
    #[error("the token's algorithm `{alg}` does not fit key `{kid}`")]
    AlgorithmMismatch {
        /// The `alg` of the token header.
        alg: String,
        /// The key id the token named (or `-` when it named none).
        kid: String,
    },
    /// The JWT names a key id the identity provider's key set does not hold.
    #[error("the identity provider has no signing key `{0}`")]
    UnknownKey(String),
    /// The JWT's `iss` is not the configured issuer.
    #[error("the token was issued by an issuer this service does not trust")]
    WrongIssuer,
    /// The JWT's `aud` holds none of the configured audiences.
    #[error("the token is not meant for this service (audience mismatch)")]
    WrongAudience,
    /// A required claim is absent.
    #[error("the token lacks the required `{0}` claim")]
    MissingClaim(String),
    /// A claim is present but has the wrong shape (e.g. a number where a string belongs).
    #[error("the token's `{0}` claim is malformed")]
    InvalidClaim(String),
    /// The credential is valid but grants none of cavra's roles.
    #[error("the token grants no cavra role")]
    NoRole,
    /// The JWKS could not be read or fetched. The reason names no URL.
    #[error("the identity provider's key set could not be fetched: {0}")]
    JwksUnavailable(String),
    /// The JWKS was fetched but is not a usable key set.
    #[error("the identity provider's key set is invalid: {0}")]
    JwksInvalid(String),
    /// The OIDC configuration is unusable.
    #[error("invalid OIDC configuration: {0}")]
    Config(String),
    /// The operating system's random number generator failed while issuing a token.
    #[error("the operating system's random number generator failed")]
    Rng,
}

impl IdentityError {
    /// A stable slug for the problem-details `type` (e.g. `token-expired`).
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::Malformed(_) => "malformed-credential",
            IdentityError::InvalidApiToken => "invalid-api-token",
            IdentityError::Revoked => "token-revoked",
            IdentityError::Expired => "token-expired",
            IdentityError::NotYetValid => "token-not-yet-valid",
            IdentityError::BadSignature => "bad-signature",
            IdentityError::UnsupportedAlgorithm(_) => "unsupported-algorithm",
            IdentityError::AlgorithmMismatch { .. } => "algorithm-mismatch",
            IdentityError::UnknownKey(_) => "unknown-signing-key",
            IdentityError::WrongIssuer => "wrong-issuer",
            IdentityError::WrongAudience => "wrong-audience",
            IdentityError::MissingClaim(_) => "missing-claim",
            IdentityError::InvalidClaim(_) => "invalid-claim",
            IdentityError::NoRole => "no-role",
            IdentityError::JwksUnavailable(_) => "jwks-unavailable",
            IdentityError::JwksInvalid(_) => "jwks-invalid",
            IdentityError::Config(_) => "identity-config",
            IdentityError::Rng => "rng-failure",
        }
    }

    /// The HTTP status to answer with: 401 when the credential is not valid (including a missing
    /// `exp`, `iss` or `aud`), 403 when it is valid but cannot act in cavra (no subject, tenant
    /// or role), 503 when the identity provider's keys
    /// cannot be had, 500 for local faults.
    pub fn http_status(&self) -> u16 {
        match self {
            IdentityError::Malformed(_)
            | IdentityError::InvalidApiToken
            | IdentityError::Revoked
            | IdentityError::Expired
            | IdentityError::NotYetValid
            | IdentityError::BadSignature
            | IdentityError::UnsupportedAlgorithm(_)
            | IdentityError::AlgorithmMismatch { .. }
            | IdentityError::UnknownKey(_)
            | IdentityError::WrongIssuer
            | IdentityError::WrongAudience => 401,
            // Without a valid `exp`, `iss` or `aud` the token is no credential for this service;
            // without a subject or tenant it is a credential cavra cannot act on.
            IdentityError::MissingClaim(claim) | IdentityError::InvalidClaim(claim)
                if matches!(claim.as_str(), "exp" | "nbf" | "iss" | "aud") =>
            {
                401
            }
            IdentityError::MissingClaim(_)
            | IdentityError::InvalidClaim(_)
            | IdentityError::NoRole => 403,
            IdentityError::JwksUnavailable(_) | IdentityError::JwksInvalid(_) => 503,
            IdentityError::Config(_) | IdentityError::Rng => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_distinct_code_and_a_status() {
        let all = [
            IdentityError::Malformed("x".into()),
            IdentityError::InvalidApiToken,
            IdentityError::Revoked,
            IdentityError::Expired,
            IdentityError::NotYetValid,
            IdentityError::BadSignature,
            IdentityError::UnsupportedAlgorithm("none".into()),
            IdentityError::AlgorithmMismatch {
                alg: "HS256".into(),
                kid: "k".into(),
            },
            IdentityError::UnknownKey("k".into()),
            IdentityError::WrongIssuer,
            IdentityError::WrongAudience,
            IdentityError::MissingClaim("tenant".into()),
            IdentityError::InvalidClaim("roles".into()),
            IdentityError::NoRole,
            IdentityError::JwksUnavailable("x".into()),
            IdentityError::JwksInvalid("x".into()),
            IdentityError::Config("x".into()),
            IdentityError::Rng,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(IdentityError::code).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(IdentityError::Expired.http_status(), 401);
        assert_eq!(IdentityError::NoRole.http_status(), 403);
        assert_eq!(
            IdentityError::MissingClaim("tenant".into()).http_status(),
            403
        );
        assert_eq!(IdentityError::MissingClaim("exp".into()).http_status(), 401);
        assert_eq!(
            IdentityError::JwksUnavailable("x".into()).http_status(),
            503
        );
    }
}
