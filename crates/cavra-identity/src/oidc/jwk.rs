//! Parsing the provider's JWKS and the token's JOSE header, and mapping `jsonwebtoken` errors.

use super::*;

/// Read a JWKS, keeping the keys cavra can verify with. Keys for encryption, symmetric keys,
/// unknown key types and curves are skipped; a set with no usable key is an error.
pub(super) fn parse_key_set(bytes: &[u8]) -> Result<KeySet, IdentityError> {
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
pub(super) fn parse_header(token: &str) -> Result<(Algorithm, Option<String>), IdentityError> {
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

pub(super) fn map_jwt_error(kind: &ErrorKind) -> IdentityError {
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
