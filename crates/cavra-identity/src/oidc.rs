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

/// Read a JWKS, keeping the keys cavra can verify with. Keys for encryption, symmetric keys,
/// unknown key types and curves are skipped; a set with no usable key is an error.
fn parse_key_set(bytes: &[u8]) -> Result<KeySet, IdentityError> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<Value>,
    }
    let raw: RawSet = serde_json::from_slice(bytes)
        .map_err(|_| IdentityError::JwksInvalid("not a JSON object with a `keys` list".into()))?;
    let keys: Vec<VerifyKey> = raw.keys.iter().filter_map(parse_jwk).collect();
    if keys.is_empty() {
        return Err(IdentityError::JwksInvalid(
            "it holds no usable signing key".into(),
        ));
    }
    Ok(KeySet { keys })
}

fn parse_jwk(jwk: &Value) -> Option<VerifyKey> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("use").is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()?
            .iter()
            .any(|op| op.as_str() == Some("verify"));
        if !verifies {
            return None;
        }
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(alg)) => Some(accepted_algorithm(alg).ok()?),
        Some(_) => return None,
    };
    let (kind, key) = match (field("kty")?, field("crv")) {
        ("RSA", _) => (
            KeyKind::Rsa,
            DecodingKey::from_rsa_components(field("n")?, field("e")?),
        ),
        ("EC", Some("P-256")) => (
            KeyKind::EcP256,
            DecodingKey::from_ec_components(field("x")?, field("y")?),
        ),
        ("EC", Some("P-384")) => (
            KeyKind::EcP384,
            DecodingKey::from_ec_components(field("x")?, field("y")?),
        ),
        ("OKP", Some("Ed25519")) => (
            KeyKind::Ed25519,
            DecodingKey::from_ed_components(field("x")?),
        ),
        // Symmetric (`oct`) keys are never trusted: a JWKS is public.
        _ => return None,
    };
    let key = key.ok()?;
    if let Some(alg) = alg
        && !kind.fits(alg)
    {
        return None;
    }
    Some(VerifyKey {
        kid: field("kid").map(str::to_owned),
        kind,
        alg,
        key,
    })
}

/// The signature algorithms cavra accepts. `none` and the HMAC family are refused outright: with
/// a public JWKS, an HMAC "secret" is whatever an attacker read from it.
fn accepted_algorithm(name: &str) -> Result<Algorithm, IdentityError> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        other => return Err(IdentityError::UnsupportedAlgorithm(printable(other))),
    })
}

/// Check the token's shape and read the header fields that choose the key.
fn parse_header(token: &str) -> Result<(Algorithm, Option<String>), IdentityError> {
    let malformed = |m: &str| IdentityError::Malformed(m.to_owned());
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed("the token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("a JWT has three dot-separated parts"));
    };
    if header.is_empty() || payload.is_empty() {
        return Err(malformed("a JWT has three dot-separated parts"));
    }
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("the JWT header is not base64url"))?;
    let header: JoseHeader = serde_json::from_slice(&header)
        .map_err(|_| malformed("the JWT header is not a JSON object with an `alg`"))?;
    if header.crit.is_some() {
        // Critical extensions must be understood to be honoured; cavra understands none.
        return Err(malformed("the JWT header has critical extensions"));
    }
    let alg = accepted_algorithm(&header.alg)?;
    Ok((alg, header.kid))
}

fn map_jwt_error(kind: &ErrorKind) -> IdentityError {
    match kind {
        ErrorKind::InvalidSignature => IdentityError::BadSignature,
        ErrorKind::ExpiredSignature => IdentityError::Expired,
        ErrorKind::ImmatureSignature => IdentityError::NotYetValid,
        ErrorKind::InvalidIssuer => IdentityError::WrongIssuer,
        ErrorKind::InvalidAudience => IdentityError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => IdentityError::MissingClaim(printable(claim)),
        ErrorKind::InvalidClaimFormat(claim) => IdentityError::InvalidClaim(printable(claim)),
        ErrorKind::InvalidAlgorithm => IdentityError::AlgorithmMismatch {
            alg: "(header)".into(),
            kid: "(key)".into(),
        },
        ErrorKind::Base64(_) => IdentityError::Malformed("the JWT is not base64url".into()),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            IdentityError::Malformed("the JWT payload is not a JSON object".into())
        }
        // Key-format errors come from a key the JWKS advertised but that cannot verify
        // anything; the token cannot be trusted either way.
        _ => IdentityError::BadSignature,
    }
}

/// A claim by name; a dotted name that is not itself a claim walks into nested objects
/// (`realm_access.roles`).
fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut segments = name.split('.');
    let mut current = claims.get(segments.next()?)?;
    for segment in segments {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

fn required_string(claims: &Map<String, Value>, name: &str) -> Result<String, IdentityError> {
    match lookup(claims, name) {
        None | Some(Value::Null) => Err(IdentityError::MissingClaim(printable(name))),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(_) => Err(IdentityError::InvalidClaim(printable(name))),
    }
}

/// A list of strings, or one string of space-separated values (as `scope` is written).
fn string_set(value: &Value, name: &str) -> Result<BTreeSet<String>, IdentityError> {
    match value {
        Value::String(s) => Ok(s.split_whitespace().map(str::to_owned).collect()),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(IdentityError::InvalidClaim(printable(name))),
            })
            .collect(),
        _ => Err(IdentityError::InvalidClaim(printable(name))),
    }
}

/// Caller-supplied text (a `kid`, an `alg`) made safe to echo in an error: printable ASCII,
/// at most 64 characters.
fn printable(text: &str) -> String {
    if text.len() <= 64 && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        text.to_owned()
    } else {
        "(unprintable)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_aliases() {
        let config: OidcConfig = serde_json::from_value(serde_json::json!({
            "issuer": "https://idp.example",
            "audience": "cavra",
            "jwks": "https://idp.example/jwks",
        }))
        .expect("minimal config");
        assert_eq!(
            config,
            OidcConfig::new("https://idp.example", "cavra", "https://idp.example/jwks")
        );
        assert_eq!(config.leeway_seconds, 60);
        assert_eq!(config.cache_seconds, 300);
        assert_eq!(config.min_refresh_seconds, 30);
        assert!(config.validate().is_ok());

        let many: OidcConfig = serde_json::from_value(serde_json::json!({
            "issuer": "i", "audiences": ["a", "b"], "jwks": "/etc/cavra/jwks.json",
        }))
        .expect("list of audiences");
        assert_eq!(many.audiences, ["a", "b"]);
        assert_eq!(
            many.jwks_source(),
            Ok(JwksSource::File("/etc/cavra/jwks.json".into()))
        );
    }

    #[test]
    fn the_documented_yaml_example_is_a_valid_config() {
        let doc = include_str!("../../../docs/identity.md");
        let yaml = doc
            .split("```yaml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/identity.md has a yaml example");
        let config: OidcConfig = serde_saphyr::from_str(yaml).expect("example parses");
        assert!(config.validate().is_ok());
        assert_eq!(config.audiences, ["cavra-api"]);
        assert_eq!(config.roles_claim, "realm_access.roles");
        assert_eq!(
            config.role_map.get("cavra-approvers"),
            Some(&Role::Approver)
        );
        assert_eq!(config.role_map.len(), 4);
        let defaults = OidcConfig::new(&config.issuer, "cavra-api", &config.jwks);
        assert_eq!(config.leeway_seconds, defaults.leeway_seconds);
        assert_eq!(config.cache_seconds, defaults.cache_seconds);
        assert_eq!(config.min_refresh_seconds, defaults.min_refresh_seconds);
        assert_eq!(config.http_timeout_seconds, defaults.http_timeout_seconds);
        assert_eq!(config.tenant_claim, defaults.tenant_claim);
        assert_eq!(config.groups_claim, defaults.groups_claim);
        assert_eq!(config.subject_claim, defaults.subject_claim);
    }

    #[test]
    fn config_refuses_unknown_keys_and_unsafe_sources() {
        let typo = serde_json::from_value::<OidcConfig>(serde_json::json!({
            "issuer": "i", "audience": "a", "jwks": "/k", "leway_seconds": 5,
        }));
        assert!(typo.is_err());

        for (jwks, ok) in [
            ("https://idp.example/keys", true),
            ("http://127.0.0.1:8080/keys", true),
            ("http://localhost/keys", true),
            ("http://[::1]:9/keys", true),
            ("http://idp.example/keys", false),
            ("http://10.0.0.1/keys", false),
            ("ftp://idp.example/keys", false),
            ("", false),
        ] {
            let config = OidcConfig::new("i", "a", jwks);
            assert_eq!(config.validate().is_ok(), ok, "{jwks}");
        }
        let mut empty_audience = OidcConfig::new("i", "", "/k");
        assert!(matches!(
            empty_audience.validate(),
            Err(IdentityError::Config(_))
        ));
        empty_audience.audiences.clear();
        assert!(matches!(
            empty_audience.validate(),
            Err(IdentityError::Config(_))
        ));
    }

    #[test]
    fn header_parsing_refuses_none_hmac_and_junk() {
        let encode = |header: &str| format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header));
        assert!(matches!(
            parse_header(&encode(r#"{"alg":"none"}"#)),
            Err(IdentityError::UnsupportedAlgorithm(alg)) if alg == "none"
        ));
        for alg in ["HS256", "HS384", "HS512", "ES512", "RSA-OAEP", "eddsa"] {
            let header = format!(r#"{{"alg":"{alg}","kid":"k"}}"#);
            assert!(
                matches!(
                    parse_header(&encode(&header)),
                    Err(IdentityError::UnsupportedAlgorithm(_))
                ),
                "{alg}"
            );
        }
        assert_eq!(
            parse_header(&encode(r#"{"alg":"EdDSA","kid":"k1"}"#)),
            Ok((Algorithm::EdDSA, Some("k1".to_owned())))
        );
        assert!(matches!(
            parse_header(&encode(r#"{"alg":"RS256","crit":["b64"],"b64":false}"#)),
            Err(IdentityError::Malformed(_))
        ));
        for junk in [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            "!!!.e30.x",
            "e30..x",
            &"a".repeat(70_000),
        ] {
            assert!(
                matches!(parse_header(junk), Err(IdentityError::Malformed(_))),
                "{junk:.20}"
            );
        }
    }

    #[test]
    fn key_set_keeps_only_usable_signing_keys() {
        let set = parse_key_set(
            serde_json::json!({"keys": [
                {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
                {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB", "kid": "enc"},
                {"kty": "OKP", "crv": "Ed448", "x": "AAAA", "kid": "ed448"},
                {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"},
                {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ed", "alg": "EdDSA"},
                {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "bad-pin", "alg": "RS256"},
                {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa", "alg": "RSA-OAEP"},
                "not an object",
            ]})
            .to_string()
            .as_bytes(),
        )
        .expect("one usable key");
        let kids: Vec<_> = set.keys.iter().map(|k| k.kid.clone()).collect();
        assert_eq!(kids, [Some("ed".to_owned())]);

        assert!(matches!(
            parse_key_set(b"{\"keys\": []}"),
            Err(IdentityError::JwksInvalid(_))
        ));
        assert!(matches!(
            parse_key_set(b"[]"),
            Err(IdentityError::JwksInvalid(_))
        ));
        assert!(matches!(
            parse_key_set(b"\xff"),
            Err(IdentityError::JwksInvalid(_))
        ));
    }

    #[test]
    fn nested_claims_are_found_by_dotted_name() {
        let claims: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "realm_access": {"roles": ["admin"]},
            "a.b": "flat wins",
            "a": {"b": "nested"},
        }))
        .expect("object");
        assert_eq!(
            lookup(&claims, "realm_access.roles"),
            Some(&serde_json::json!(["admin"]))
        );
        assert_eq!(
            lookup(&claims, "a.b"),
            Some(&serde_json::json!("flat wins"))
        );
        assert_eq!(lookup(&claims, "realm_access.missing"), None);
        assert_eq!(lookup(&claims, "a.b.c"), None);
    }

    proptest::proptest! {
        #[test]
        fn header_parsing_never_panics(input in proptest::prelude::any::<String>()) {
            let _ = parse_header(&input);
        }

        #[test]
        fn header_parsing_never_panics_on_jwt_shaped_input(
            header in proptest::prelude::any::<Vec<u8>>(),
            rest in "[A-Za-z0-9_.-]{0,40}",
        ) {
            let _ = parse_header(&format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header)));
        }
    }

    #[test]
    fn printable_hides_control_characters_and_long_text() {
        assert_eq!(printable("key-1"), "key-1");
        assert_eq!(printable("line\nbreak"), "(unprintable)");
        assert_eq!(printable(&"k".repeat(65)), "(unprintable)");
    }
}
