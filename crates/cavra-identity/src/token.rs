//! cavra API tokens: `cavra_<id>_<secret>`.
//!
//! The id (16 lowercase hex characters, 64 random bits) is a public lookup key; the secret is 32
//! bytes from the operating system's RNG written as exactly 43 base62 characters. Only the SHA-256
//! digest of the secret text is ever stored, and it is compared in constant time. Letters and
//! digits only (besides the two underscores) keep the token selectable with a double click and
//! easy for secret scanners to recognise.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::{AuthMethod, IdentityError, Principal, Role};

/// Every API token starts with this prefix.
pub const TOKEN_PREFIX: &str = "cavra_";

const ID_BYTES: usize = 8;
const ID_LEN: usize = ID_BYTES * 2;
const SECRET_BYTES: usize = 32;
/// 62^43 > 2^256 > 62^42: the smallest width that holds every 32-byte secret.
const SECRET_LEN: usize = 43;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether a bearer credential is shaped like a cavra API token (as opposed to a JWT). The server
/// uses this to choose the verifier; [`parse_bearer`] still validates the whole format.
pub fn is_api_token(bearer: &str) -> bool {
    bearer.starts_with(TOKEN_PREFIX)
}

/// The secret part of an API token. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// The secret text, for hashing or for showing once at creation.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret([redacted])")
    }
}

/// A presented API token split into its public id and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenParts {
    /// The public lookup id (16 lowercase hex characters).
    pub token_id: String,
    /// The secret to check against the stored [`TokenDigest`].
    pub secret: TokenSecret,
}

/// Split a bearer credential `cavra_<id>_<secret>` into id and secret.
///
/// Fails with [`IdentityError::Malformed`] on anything else; the message never repeats the input.
pub fn parse_bearer(bearer: &str) -> Result<ApiTokenParts, IdentityError> {
    let rest = bearer
        .strip_prefix(TOKEN_PREFIX)
        .ok_or_else(|| IdentityError::Malformed("an API token starts with `cavra_`".into()))?;
    let (id, secret) = rest
        .split_once('_')
        .ok_or_else(|| IdentityError::Malformed("an API token is `cavra_<id>_<secret>`".into()))?;
    if id.len() != ID_LEN || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(IdentityError::Malformed(
            "the API token id must be 16 lowercase hex characters".into(),
        ));
    }
    if secret.len() != SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(IdentityError::Malformed(
            "the API token secret must be 43 letters or digits".into(),
        ));
    }
    Ok(ApiTokenParts {
        token_id: id.to_owned(),
        secret: TokenSecret(secret.to_owned()),
    })
}

/// SHA-256 of a token secret's text: what the server stores instead of the secret.
/// Serialised as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest of `secret`.
    pub fn of(secret: &TokenSecret) -> Self {
        Self(Sha256::digest(secret.expose().as_bytes()).into())
    }

    /// Whether `secret` hashes to this digest, compared in constant time.
    pub fn matches(&self, secret: &TokenSecret) -> bool {
        bool::from(Self::of(secret).0.ct_eq(&self.0))
    }

    /// Lowercase hex, as stored.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse a stored digest (64 hex characters).
    pub fn from_hex(text: &str) -> Result<Self, IdentityError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| IdentityError::Malformed("a token digest is 64 hex characters".into()))?;
        Ok(Self(bytes))
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({})", self.to_hex())
    }
}

impl Serialize for TokenDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TokenDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TokenDigest::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A freshly generated API token. The plaintext is shown to the user once and never stored;
/// `Debug` does not show it.
pub struct IssuedToken {
    /// The public lookup id.
    pub token_id: String,
    /// What the server stores to check the token later.
    pub digest: TokenDigest,
    plaintext: TokenSecret,
}

impl IssuedToken {
    /// Generate a token from the operating system's RNG.
    pub fn generate() -> Result<Self, IdentityError> {
        let mut id = [0u8; ID_BYTES];
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut id).map_err(|_| IdentityError::Rng)?;
        getrandom::fill(&mut secret).map_err(|_| IdentityError::Rng)?;
        let token_id = hex::encode(id);
        let secret = TokenSecret(base62_fixed(&secret));
        let digest = TokenDigest::of(&secret);
        let plaintext = TokenSecret(format!("{TOKEN_PREFIX}{token_id}_{}", secret.expose()));
        Ok(Self {
            token_id,
            digest,
            plaintext,
        })
    }

    /// The whole token, `cavra_<id>_<secret>`, to hand to the user once.
    pub fn plaintext(&self) -> &str {
        self.plaintext.expose()
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token_id", &self.token_id)
            .field("digest", &self.digest)
            .field("plaintext", &"[redacted]")
            .finish()
    }
}

/// Big-endian base62 of 32 bytes, left-padded with `0` to [`SECRET_LEN`] characters so every
/// secret has the same length.
fn base62_fixed(bytes: &[u8; SECRET_BYTES]) -> String {
    let mut number = *bytes;
    let mut digits = [0u8; SECRET_LEN];
    for digit in digits.iter_mut().rev() {
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            // acc < 62 * 256, so the quotient fits a byte.
            *byte = (acc / 62) as u8;
            remainder = acc % 62;
        }
        *digit = BASE62[remainder as usize];
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// An API token as the service stores it (the tenant store's `api_tokens`) and authentication
/// checks it: the one token record, never the secret, only its SHA-256. Its times are instants
/// (the tenant store writes them as its fixed-width text, `2026-12-06T02:10:52.000Z`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The public lookup id (part of the token text).
    pub id: String,
    /// The tenant the token acts in.
    pub tenant: String,
    /// Who it stands for (`token:<id>` unless named when issued).
    pub subject: String,
    /// The roles it grants (one as issued; stored as a list).
    pub roles: Vec<Role>,
    /// Approver groups its holder belongs to, as given.
    #[serde(default)]
    pub groups: Vec<String>,
    /// SHA-256 of the secret.
    pub digest: TokenDigest,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the token stops working; `None` means it does not expire.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the token was revoked; a revoked token never works again.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    /// The record to store for a newly issued token, created at `now`: it stands for
    /// `token:<id>` and belongs to no approver group until the caller says otherwise.
    pub fn new(
        issued: &IssuedToken,
        tenant: impl Into<String>,
        role: Role,
        now: OffsetDateTime,
        expires_at: Option<OffsetDateTime>,
    ) -> Self {
        Self {
            id: issued.token_id.clone(),
            tenant: tenant.into(),
            subject: format!("token:{}", issued.token_id),
            roles: vec![role],
            groups: Vec::new(),
            digest: issued.digest,
            created_at: now,
            expires_at,
            revoked_at: None,
        }
    }

    /// `revoked`, `expired` (at or after `expires_at` as of `now`) or `active`: what a listing
    /// shows, the same test [`TokenRecord::authenticate`] applies.
    pub fn state(&self, now: OffsetDateTime) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|expires| now >= expires) {
            "expired"
        } else {
            "active"
        }
    }

    /// Check a presented token against this record at time `now`.
    ///
    /// The secret is checked first, so revocation and expiry are only disclosed to a caller who
    /// holds the secret.
    pub fn authenticate(
        &self,
        presented: &ApiTokenParts,
        now: OffsetDateTime,
    ) -> Result<Principal, IdentityError> {
        let id_matches = presented.token_id.as_bytes().ct_eq(self.id.as_bytes());
        let secret_matches = self.digest.matches(&presented.secret);
        if !bool::from(id_matches) || !secret_matches {
            return Err(IdentityError::InvalidApiToken);
        }
        match self.state(now) {
            "revoked" => return Err(IdentityError::Revoked),
            "expired" => return Err(IdentityError::Expired),
            _ => {}
        }
        // A principal always carries a role; a stored token without one grants nothing.
        if self.roles.is_empty() {
            return Err(IdentityError::NoRole);
        }
        Ok(Principal {
            subject: self.subject.clone(),
            tenant: self.tenant.clone(),
            roles: self.roles.iter().copied().collect(),
            approver_groups: self.groups.iter().cloned().collect::<BTreeSet<_>>(),
            method: AuthMethod::ApiToken {
                token_id: self.id.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::Duration;

    fn record_for(issued: &IssuedToken) -> TokenRecord {
        TokenRecord::new(issued, "acme", Role::Agent, OffsetDateTime::now_utc(), None)
    }

    #[test]
    fn generated_tokens_parse_and_verify() {
        let issued = IssuedToken::generate().expect("rng");
        let text = issued.plaintext();
        assert_eq!(text.len(), TOKEN_PREFIX.len() + ID_LEN + 1 + SECRET_LEN);
        assert!(is_api_token(text));
        let parts = parse_bearer(text).expect("parse");
        assert_eq!(parts.token_id, issued.token_id);
        assert!(issued.digest.matches(&parts.secret));
        let principal = record_for(&issued)
            .authenticate(&parts, OffsetDateTime::now_utc())
            .expect("valid");
        assert_eq!(principal.tenant, "acme");
        assert!(principal.has_role(Role::Agent));
        assert_eq!(
            principal.method,
            AuthMethod::ApiToken {
                token_id: issued.token_id.clone()
            }
        );
    }

    #[test]
    fn two_tokens_differ() {
        let a = IssuedToken::generate().expect("rng");
        let b = IssuedToken::generate().expect("rng");
        assert_ne!(a.token_id, b.token_id);
        assert_ne!(a.plaintext(), b.plaintext());
        assert_ne!(a.digest, b.digest);
    }

    #[test]
    fn wrong_secret_is_refused() {
        let issued = IssuedToken::generate().expect("rng");
        let other = IssuedToken::generate().expect("rng");
        let mut parts = parse_bearer(other.plaintext()).expect("parse");
        parts.token_id = issued.token_id.clone();
        assert!(!issued.digest.matches(&parts.secret));
        assert_eq!(
            record_for(&issued).authenticate(&parts, OffsetDateTime::now_utc()),
            Err(IdentityError::InvalidApiToken)
        );
    }

    #[test]
    fn a_secret_differing_in_one_character_is_refused() {
        let issued = IssuedToken::generate().expect("rng");
        let mut text = issued.plaintext().to_owned();
        let last = text.pop().expect("non-empty");
        text.push(if last == 'a' { 'b' } else { 'a' });
        let parts = parse_bearer(&text).expect("still well-formed");
        assert_eq!(
            record_for(&issued).authenticate(&parts, OffsetDateTime::now_utc()),
            Err(IdentityError::InvalidApiToken)
        );
    }

    #[test]
    fn a_record_for_another_id_is_refused() {
        let issued = IssuedToken::generate().expect("rng");
        let parts = parse_bearer(issued.plaintext()).expect("parse");
        let mut record = record_for(&issued);
        record.id = "0000000000000000".into();
        assert_eq!(
            record.authenticate(&parts, OffsetDateTime::now_utc()),
            Err(IdentityError::InvalidApiToken)
        );
    }

    #[test]
    fn revoked_and_expired_tokens_are_refused() {
        let now = OffsetDateTime::now_utc();
        let issued = IssuedToken::generate().expect("rng");
        let parts = parse_bearer(issued.plaintext()).expect("parse");

        let mut revoked = record_for(&issued);
        revoked.revoked_at = Some(now - Duration::minutes(1));
        assert_eq!(
            revoked.authenticate(&parts, now),
            Err(IdentityError::Revoked)
        );

        let expired = TokenRecord::new(&issued, "acme", Role::Admin, now, Some(now));
        assert_eq!(
            expired.authenticate(&parts, now),
            Err(IdentityError::Expired)
        );

        let mut roleless = record_for(&issued);
        roleless.roles.clear();
        assert_eq!(
            roleless.authenticate(&parts, now),
            Err(IdentityError::NoRole)
        );

        let later = TokenRecord::new(
            &issued,
            "acme",
            Role::Admin,
            now,
            Some(now + Duration::hours(1)),
        );
        assert!(later.authenticate(&parts, now).is_ok());
    }

    #[test]
    fn a_token_past_its_expiry_is_listed_as_expired() {
        let now = time::macros::datetime!(2026-06-01 12:00 UTC);
        let issued = IssuedToken::generate().expect("rng");
        let mut t = TokenRecord::new(&issued, "a", Role::Agent, now, None);
        assert_eq!(t.state(now), "active");
        t.expires_at = Some(time::macros::datetime!(2026-06-01 12:00:01 UTC));
        assert_eq!(t.state(now), "active");
        t.expires_at = Some(now);
        assert_eq!(t.state(now), "expired");
        t.revoked_at = Some(time::macros::datetime!(2026-05-01 00:00 UTC));
        assert_eq!(t.state(now), "revoked");
    }

    #[test]
    fn malformed_bearer_strings_are_refused() {
        let good = IssuedToken::generate().expect("rng");
        let (id, secret) = (
            good.token_id.clone(),
            parse_bearer(good.plaintext()).expect("ok"),
        );
        let secret = secret.secret.expose().to_owned();
        let cases = [
            String::new(),
            "cavra_".into(),
            "cavra__".into(),
            format!("Cavra_{id}_{secret}"),
            format!("cavra_{id}{secret}"),
            format!("cavra_{}_{secret}", id.to_uppercase()),
            format!("cavra_{}_{secret}", &id[1..]),
            format!("cavra_{id}0_{secret}"),
            format!("cavra_{id}_{}", &secret[1..]),
            format!("cavra_{id}_{secret}x"),
            format!("cavra_{id}_{}-", &secret[1..]),
            format!("cavra_{id}_{}_", &secret[1..]),
            format!(" cavra_{id}_{secret}"),
            format!("cavra_{id}_{secret} "),
            format!("cavra_{id}_{}é", &secret[2..]),
            "eyJhbGciOiJSUzI1NiJ9.e30.sig".into(),
        ];
        for case in cases {
            match parse_bearer(&case) {
                Err(IdentityError::Malformed(message)) => {
                    assert!(!message.contains(&secret), "message repeats the secret")
                }
                other => panic!("{case:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let issued = IssuedToken::generate().expect("rng");
        let parts = parse_bearer(issued.plaintext()).expect("parse");
        let secret = parts.secret.expose().to_owned();
        assert!(!format!("{issued:?}").contains(&secret));
        assert!(!format!("{parts:?}").contains(&secret));
    }

    #[test]
    fn digest_round_trips_through_hex_and_serde() {
        let issued = IssuedToken::generate().expect("rng");
        let hex = issued.digest.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(TokenDigest::from_hex(&hex), Ok(issued.digest));
        assert!(TokenDigest::from_hex("abc").is_err());
        assert!(TokenDigest::from_hex(&"zz".repeat(32)).is_err());
        let record = record_for(&issued);
        let json = serde_json::to_string(&record).expect("serialise");
        assert!(json.contains(&hex));
        let back: TokenRecord = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, record);
    }

    #[test]
    fn base62_is_fixed_width_at_the_extremes() {
        assert_eq!(base62_fixed(&[0u8; 32]), "0".repeat(SECRET_LEN));
        let max = base62_fixed(&[0xff; 32]);
        assert_eq!(max.len(), SECRET_LEN);
        // 2^256 / 62^42 is about 60.5, so the largest secret's leading digit is 60 (`y`): the
        // width is the smallest that fits, and nothing was truncated.
        assert!(max.starts_with('y'));
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(
            base62_fixed(&one),
            format!("{}1", "0".repeat(SECRET_LEN - 1))
        );
        let mut sixty_two = [0u8; 32];
        sixty_two[31] = 62;
        assert_eq!(
            base62_fixed(&sixty_two),
            format!("{}10", "0".repeat(SECRET_LEN - 2))
        );
    }

    proptest! {
        #[test]
        fn parser_never_panics(input in any::<String>()) {
            let _ = parse_bearer(&input);
        }

        #[test]
        fn parser_never_panics_on_near_tokens(id in "[0-9a-fA-F_]{0,20}", secret in "[0-9A-Za-z_é-]{0,50}") {
            let _ = parse_bearer(&format!("cavra_{id}_{secret}"));
        }

        #[test]
        fn any_secret_bytes_round_trip(bytes in any::<[u8; 32]>(), id in any::<[u8; 8]>()) {
            let text = format!("{TOKEN_PREFIX}{}_{}", hex::encode(id), base62_fixed(&bytes));
            let parts = parse_bearer(&text).expect("generated tokens parse");
            prop_assert_eq!(parts.token_id, hex::encode(id));
            prop_assert_eq!(parts.secret.expose(), base62_fixed(&bytes));
        }

        #[test]
        fn base62_is_injective(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            prop_assert_eq!(a == b, base62_fixed(&a) == base62_fixed(&b));
        }
    }
}
