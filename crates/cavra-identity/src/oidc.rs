//! OIDC bearer JWTs verified against the identity provider's JWKS.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{AuthMethod, IdentityError, Principal, Role};

mod jwk;
#[cfg(test)]
mod tests;
use jwk::{map_jwt_error, parse_header, parse_key_set};
mod claims;
use claims::{lookup, printable, required_string, string_set};

/// Largest JWT accepted. Tokens with many groups reach a few KiB; anything near this bound is
/// an attack on the parser, not a login.
const MAX_TOKEN_LEN: usize = 64 * 1024;
/// Largest JWKS document read from a file or URL.
const MAX_JWKS_LEN: usize = 1024 * 1024;

/// How cavra trusts one OIDC identity provider. Deserialises from the server's configuration
/// file; unknown keys are refused so a misspelt setting is not silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Expected `iss`, exactly as the provider writes it.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one. Accepts a string or a list
    /// (`audience` is an alias).
    #[serde(alias = "audience", deserialize_with = "one_or_many")]
    pub audiences: Vec<String>,
    /// Where the signing keys are: a file path, or an `https://` URL (`http://` only for a
    /// loopback host).
    pub jwks: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "defaults::leeway")]
    pub leeway_seconds: u64,
    /// How long a fetched key set is used before it is fetched again, in seconds.
    #[serde(default = "defaults::cache")]
    pub cache_seconds: u64,
    /// Least time between two fetches triggered by an unknown `kid` or after a failed fetch, in
    /// seconds, so forged `kid`s cannot make cavra hammer the provider.
    #[serde(default = "defaults::min_refresh")]
    pub min_refresh_seconds: u64,
    /// Timeout of one JWKS request, in seconds.
    #[serde(default = "defaults::http_timeout")]
    pub http_timeout_seconds: u64,
    /// Claim naming the tenant (dotted paths such as `org.tenant` reach into objects).
    #[serde(default = "defaults::tenant_claim")]
    pub tenant_claim: String,
    /// A fixed tenant for single-tenant providers; when set, `tenant_claim` is not read.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Claim holding roles: a list of strings or one space-separated string.
    #[serde(default = "defaults::roles_claim")]
    pub roles_claim: String,
    /// Claim holding approver groups: a list of strings or one space-separated string.
    #[serde(default = "defaults::groups_claim")]
    pub groups_claim: String,
    /// Provider role value → cavra role. When empty, role values must be cavra role names
    /// (`agent`, `approver`, `auditor`, `admin`); when set, only mapped values count.
    #[serde(default)]
    pub role_map: BTreeMap<String, Role>,
    /// Claim used as the principal's subject.
    #[serde(default = "defaults::subject_claim")]
    pub subject_claim: String,
}

mod defaults {
    pub fn leeway() -> u64 {
        60
    }
    pub fn cache() -> u64 {
        300
    }
    pub fn min_refresh() -> u64 {
        30
    }
    pub fn http_timeout() -> u64 {
        10
    }
    pub fn tenant_claim() -> String {
        "tenant".into()
    }
    pub fn roles_claim() -> String {
        "roles".into()
    }
    pub fn groups_claim() -> String {
        "groups".into()
    }
    pub fn subject_claim() -> String {
        "sub".into()
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

impl OidcConfig {
    /// A configuration with every optional setting at its default.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        jwks: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            jwks: jwks.into(),
            leeway_seconds: defaults::leeway(),
            cache_seconds: defaults::cache(),
            min_refresh_seconds: defaults::min_refresh(),
            http_timeout_seconds: defaults::http_timeout(),
            tenant_claim: defaults::tenant_claim(),
            tenant: None,
            roles_claim: defaults::roles_claim(),
            groups_claim: defaults::groups_claim(),
            role_map: BTreeMap::new(),
            subject_claim: defaults::subject_claim(),
        }
    }

    /// Check the configuration without contacting the provider.
    pub fn validate(&self) -> Result<(), IdentityError> {
        let config = |m: &str| Err(IdentityError::Config(m.to_owned()));
        if self.issuer.trim().is_empty() {
            return config("`issuer` is empty");
        }
        if self.audiences.is_empty() || self.audiences.iter().any(|a| a.trim().is_empty()) {
            return config("`audiences` needs at least one non-empty audience");
        }
        if self.tenant.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return config("`tenant` is empty");
        }
        for (name, value) in [
            ("tenant_claim", &self.tenant_claim),
            ("roles_claim", &self.roles_claim),
            ("groups_claim", &self.groups_claim),
            ("subject_claim", &self.subject_claim),
        ] {
            if value.trim().is_empty() {
                return Err(IdentityError::Config(format!("`{name}` is empty")));
            }
        }
        if self.http_timeout_seconds == 0 {
            return config("`http_timeout_seconds` must be at least 1");
        }
        self.jwks_source().map(|_| ())
    }

    /// Where the key set is read from, as configured in `jwks`.
    pub fn jwks_source(&self) -> Result<JwksSource, IdentityError> {
        JwksSource::parse(&self.jwks)
    }
}

/// Where an identity provider's JWKS is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A local file (re-read when the cache expires or an unknown `kid` arrives).
    File(PathBuf),
    /// An `https` URL, or an `http` URL on a loopback host.
    Url(reqwest::Url),
}

impl JwksSource {
    /// Parse a `jwks` setting. Plain `http` is refused except on loopback: whoever can alter the
    /// key set can mint any identity.
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(IdentityError::Config("`jwks` is empty".into()));
        }
        let lower = text.to_ascii_lowercase();
        if !lower.starts_with("https://") && !lower.starts_with("http://") {
            if lower.contains("://") {
                return Err(IdentityError::Config(
                    "`jwks` must be a file path or an https:// URL".into(),
                ));
            }
            return Ok(JwksSource::File(PathBuf::from(text)));
        }
        let url = reqwest::Url::parse(text)
            .map_err(|e| IdentityError::Config(format!("`jwks` is not a valid URL: {e}")))?;
        if url.scheme() == "http" && !is_loopback(&url) {
            return Err(IdentityError::Config(
                "`jwks` over plain http is only allowed for a loopback host; use https".into(),
            ));
        }
        Ok(JwksSource::Url(url))
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Make aws-lc-rs jsonwebtoken's process-wide crypto provider. jsonwebtoken picks it from its
/// cargo features on first use and panics if another crate in the build also enabled
/// `rust_crypto`; installing it explicitly keeps verification working (and on aws-lc-rs) then.
pub(crate) fn install_crypto_provider() {
    // Err means a provider is installed already, which is all this needs.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}

/// The kind of public key, which decides the algorithms it may verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        match self {
            KeyKind::Rsa => matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            KeyKind::EcP256 => alg == Algorithm::ES256,
            KeyKind::EcP384 => alg == Algorithm::ES384,
            KeyKind::Ed25519 => alg == Algorithm::EdDSA,
        }
    }
}

struct VerifyKey {
    kid: Option<String>,
    kind: KeyKind,
    /// The JWK's own `alg`, when it pins one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl VerifyKey {
    fn fits(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

/// The usable signing keys of one fetched JWKS.
struct KeySet {
    keys: Vec<VerifyKey>,
}

impl KeySet {
    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

#[derive(Default)]
struct CacheState {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<IdentityError>,
}

/// Verifies OIDC bearer JWTs for one identity provider. Cheap to share behind an `Arc`; all
/// methods take `&self`.
pub struct OidcVerifier {
    config: OidcConfig,
    source: JwksSource,
    client: Option<reqwest::Client>,
    cache: RwLock<CacheState>,
    /// Serialises fetches so a burst of requests after expiry causes one fetch, not many.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.config.issuer)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Only the parts of the JOSE header cavra looks at before choosing a key.
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

impl OidcVerifier {
    /// A verifier for `config`. Does not contact the provider; the key set is fetched on first
    /// use (call [`OidcVerifier::refresh`] to fetch it up front).
    pub fn new(config: OidcConfig) -> Result<Self, IdentityError> {
        install_crypto_provider();
        config.validate()?;
        let source = config.jwks_source()?;
        let client = match &source {
            JwksSource::File(_) => None,
            JwksSource::Url(url) => {
                let mut builder = reqwest::Client::builder()
                    .timeout(Duration::from_secs(config.http_timeout_seconds))
                    .https_only(url.scheme() == "https");
                if is_loopback(url) {
                    // A proxy cannot reach this machine's loopback interface.
                    builder = builder.no_proxy();
                }
                Some(builder.build().map_err(|e| {
                    IdentityError::Config(format!("cannot build the HTTP client: {e}"))
                })?)
            }
        };
        Ok(Self {
            config,
            source,
            client,
            cache: RwLock::new(CacheState::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The configuration this verifier enforces.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Fetch the key set now, whatever the cache holds, and return how many usable signing
    /// keys it has. Lets the server fail at startup on an unreachable or empty JWKS.
    pub async fn refresh(&self) -> Result<usize, IdentityError> {
        let _fetching = self.fetching.lock().await;
        self.fetch_and_store(Instant::now())
            .await
            .map(|set| set.keys.len())
    }

    /// Verify a bearer JWT and map its claims to a [`Principal`].
    ///
    /// Checks, in order: shape and header (`none` and HMAC algorithms refused), that the key
    /// named by `kid` exists (refetching the JWKS once, rate-limited, when it does not) and fits
    /// the header's algorithm, the signature, `iss`, `aud`, `exp` (required) and `nbf` with the
    /// configured leeway, then the subject, tenant and role claims.
    pub async fn verify(&self, token: &str) -> Result<Principal, IdentityError> {
        let (alg, kid) = parse_header(token)?;
        let mut set = self.current_keys().await?;
        if let Some(kid) = &kid
            && !set.has_kid(kid)
        {
            set = self.refetch_for_kid(kid).await?;
        }
        let claims = self.check_signature_and_claims(token, alg, kid.as_deref(), &set)?;
        self.principal_from(claims)
    }

    fn check_signature_and_claims(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
        set: &KeySet,
    ) -> Result<Map<String, Value>, IdentityError> {
        let named: Vec<&VerifyKey> = match kid {
            Some(kid) => set
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect(),
            None => set.keys.iter().collect(),
        };
        if named.is_empty() {
            return Err(IdentityError::UnknownKey(printable(
                kid.unwrap_or("(none)"),
            )));
        }
        let fitting: Vec<&VerifyKey> = named.into_iter().filter(|k| k.fits(alg)).collect();
        if fitting.is_empty() {
            return Err(IdentityError::AlgorithmMismatch {
                alg: format!("{alg:?}"),
                kid: printable(kid.unwrap_or("-")),
            });
        }

        let mut validation = Validation::new(alg);
        validation.leeway = self.config.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&self.config.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);

        // Several keys can share a kid (or there is no kid); the signature decides. Any error
        // other than a bad signature means the signature verified, so it is final.
        let mut last = IdentityError::BadSignature;
        for key in fitting {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                    last = IdentityError::BadSignature
                }
                Err(e) => return Err(map_jwt_error(e.kind())),
            }
        }
        Err(last)
    }

    fn principal_from(&self, claims: Map<String, Value>) -> Result<Principal, IdentityError> {
        let config = &self.config;
        let issuer = match claims.get("iss") {
            Some(Value::String(iss)) => iss.clone(),
            _ => return Err(IdentityError::InvalidClaim("iss".into())),
        };
        let subject = required_string(&claims, &config.subject_claim)?;
        let tenant = match &config.tenant {
            Some(fixed) => fixed.clone(),
            None => required_string(&claims, &config.tenant_claim)?,
        };

        let role_values = match lookup(&claims, &config.roles_claim) {
            None | Some(Value::Null) => return Err(IdentityError::NoRole),
            Some(value) => string_set(value, &config.roles_claim)?,
        };
        let roles: BTreeSet<Role> = role_values
            .iter()
            .filter_map(|value| {
                if config.role_map.is_empty() {
                    value.parse().ok()
                } else {
                    config.role_map.get(value).copied()
                }
            })
            .collect();
        if roles.is_empty() {
            return Err(IdentityError::NoRole);
        }

        let approver_groups = match lookup(&claims, &config.groups_claim) {
            None | Some(Value::Null) => BTreeSet::new(),
            Some(value) => string_set(value, &config.groups_claim)?,
        };

        Ok(Principal {
            subject,
            tenant,
            roles,
            approver_groups,
            method: AuthMethod::Oidc { issuer },
        })
    }

    fn cached(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        // The state is replaced field by field under the lock and stays consistent even if a
        // holder panicked, so a poisoned lock is still usable.
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh_keys(&self, now: Instant) -> Option<Arc<KeySet>> {
        let cache = self.cached();
        let max_age = Duration::from_secs(self.config.cache_seconds);
        match (&cache.keys, cache.fetched_at) {
            (Some(keys), Some(at)) if now.saturating_duration_since(at) < max_age => {
                Some(Arc::clone(keys))
            }
            _ => None,
        }
    }

    fn within_min_refresh(&self, now: Instant, at: Option<Instant>) -> bool {
        let min = Duration::from_secs(self.config.min_refresh_seconds);
        at.is_some_and(|at| now.saturating_duration_since(at) < min)
    }

    /// The cached key set while it is fresh; otherwise a new fetch. After a failed fetch, further
    /// attempts wait `min_refresh_seconds` and requests meanwhile get the same error: a stale
    /// key set is never used (a key the provider withdrew must stop working).
    async fn current_keys(&self) -> Result<Arc<KeySet>, IdentityError> {
        if let Some(keys) = self.fresh_keys(Instant::now()) {
            return Ok(keys);
        }
        let _fetching = self.fetching.lock().await;
        let now = Instant::now();
        if let Some(keys) = self.fresh_keys(now) {
            return Ok(keys);
        }
        {
            let cache = self.cached();
            if let Some(error) = &cache.last_error
                && self.within_min_refresh(now, cache.last_attempt)
            {
                return Err(error.clone());
            }
        }
        self.fetch_and_store(now).await
    }

    /// Fetch again because a token names a key the cached set lacks (the provider may have
    /// rotated), unless a fetch happened less than `min_refresh_seconds` ago.
    async fn refetch_for_kid(&self, kid: &str) -> Result<Arc<KeySet>, IdentityError> {
        let _fetching = self.fetching.lock().await;
        let now = Instant::now();
        {
            let cache = self.cached();
            if let Some(keys) = &cache.keys
                && keys.has_kid(kid)
            {
                return Ok(Arc::clone(keys));
            }
            if self.within_min_refresh(now, cache.last_attempt) {
                return Err(IdentityError::UnknownKey(printable(kid)));
            }
        }
        self.fetch_and_store(now).await
    }

    /// Fetch, then record the outcome. The caller holds `fetching`.
    async fn fetch_and_store(&self, now: Instant) -> Result<Arc<KeySet>, IdentityError> {
        let outcome = self
            .fetch()
            .await
            .and_then(|bytes| parse_key_set(&bytes))
            .map(Arc::new);
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        cache.last_attempt = Some(now);
        match &outcome {
            Ok(keys) => {
                cache.keys = Some(Arc::clone(keys));
                cache.fetched_at = Some(now);
                cache.last_error = None;
            }
            Err(error) => cache.last_error = Some(error.clone()),
        }
        outcome
    }

    async fn fetch(&self) -> Result<Vec<u8>, IdentityError> {
        match (&self.source, &self.client) {
            (JwksSource::File(path), _) => {
                let bytes = tokio::fs::read(path).await.map_err(|e| {
                    IdentityError::JwksUnavailable(format!("the JWKS file cannot be read ({e})"))
                })?;
                if bytes.len() > MAX_JWKS_LEN {
                    return Err(IdentityError::JwksInvalid(
                        "the JWKS file is too large".into(),
                    ));
                }
                Ok(bytes)
            }
            (JwksSource::Url(url), Some(client)) => fetch_url(client, url).await,
            (JwksSource::Url(_), None) => Err(IdentityError::Config(
                "no HTTP client for the JWKS URL".into(),
            )),
        }
    }
}

async fn fetch_url(client: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, IdentityError> {
    let unavailable = |e: reqwest::Error| {
        let what = if e.is_timeout() {
            "the request timed out"
        } else if e.is_connect() {
            "the connection failed"
        } else {
            "the request failed"
        };
        IdentityError::JwksUnavailable(what.into())
    };
    let mut response = client.get(url.clone()).send().await.map_err(unavailable)?;
    let status = response.status();
    if !status.is_success() {
        return Err(IdentityError::JwksUnavailable(format!(
            "the JWKS endpoint answered HTTP {}",
            status.as_u16()
        )));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_JWKS_LEN as u64)
    {
        return Err(IdentityError::JwksInvalid(
            "the JWKS document is too large".into(),
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > MAX_JWKS_LEN {
            return Err(IdentityError::JwksInvalid(
                "the JWKS document is too large".into(),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
