//! Authentication for the cavra API service.
//!
//! Two kinds of bearer credential reach the service:
//!
//! * **API tokens** (`cavra_<id>_<secret>`), created by `cavra token create`: the server keeps a
//!   [`TokenRecord`] per token holding only the SHA-256 digest of the secret. [`parse_bearer`]
//!   splits a presented token, [`TokenRecord::authenticate`] checks it in constant time and
//!   applies revocation and expiry.
//! * **OIDC bearer JWTs**, checked by [`OidcVerifier`] against the identity provider's JWKS (a file
//!   or an http(s) URL, cached, refetched on an unknown `kid`), with the issuer, audience and
//!   validity window enforced and the claims mapped to a [`Principal`].
//!
//! [`is_api_token`] tells the two apart. Every failure is an [`IdentityError`] whose
//! [`IdentityError::code`] and [`IdentityError::http_status`] give the server a stable
//! problem-details type and status; no message carries a secret.
//!
//! The crate is a pure library: no HTTP server framework and no database. The `testing` cargo
//! feature adds [`testing::TestIssuer`] and [`testing::JwksServer`] for integration tests.

mod error;
mod oidc;
mod principal;
mod token;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::IdentityError;
pub use oidc::{JwksSource, OidcConfig, OidcVerifier};
pub use principal::{AuthMethod, Principal, Role, UnknownRole};
pub use token::{
    ApiTokenParts, IssuedToken, TOKEN_PREFIX, TokenDigest, TokenRecord, TokenSecret, is_api_token,
    parse_bearer,
};
