//! OIDC verification against JWTs signed by a test JWKS served on loopback (or read from a file).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cavra_identity::testing::{JwksServer, RsaTestKey, TestIssuer, closed_loopback_url, unix_now};
use cavra_identity::{AuthMethod, IdentityError, OidcConfig, OidcVerifier, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "cavra-api";

fn issuer() -> TestIssuer {
    let mut issuer = TestIssuer::new(ISSUER, AUDIENCE);
    issuer
        .add_rsa("rsa-1", Algorithm::RS256, RsaTestKey::First)
        .add_ed25519("ed-1");
    issuer
}

fn config(jwks: &str) -> OidcConfig {
    let mut config = OidcConfig::new(ISSUER, AUDIENCE, jwks);
    config.min_refresh_seconds = 0;
    config
}

/// An issuer with its JWKS on a loopback server and a verifier trusting it.
fn served() -> (TestIssuer, JwksServer, OidcVerifier) {
    let issuer = issuer();
    let server = JwksServer::start(issuer.jwks_json());
    let verifier = OidcVerifier::new(config(&server.url())).expect("valid config");
    (issuer, server, verifier)
}

/// Verification must fail with `expected`, and the message must not repeat the token.
async fn refused(verifier: &OidcVerifier, token: &str, expected: IdentityError) {
    let error = verifier
        .verify(token)
        .await
        .expect_err("token must be refused");
    assert_eq!(error, expected);
    assert!(!token.is_empty() && !error.to_string().contains(token));
    assert!(matches!(error.http_status(), 401 | 403 | 503));
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    if let Value::Object(map) = &mut claims {
        map.remove(key);
    }
    claims
}

#[tokio::test]
async fn rs256_token_is_accepted_with_claims_mapped() {
    let (issuer, server, verifier) = served();
    let claims = with(
        issuer.claims("alice@example.com", "acme", &["approver", "auditor"]),
        "groups",
        json!(["security", "platform"]),
    );
    let principal = verifier
        .verify(&issuer.mint("rsa-1", &claims))
        .await
        .expect("valid token");
    assert_eq!(principal.subject, "alice@example.com");
    assert_eq!(principal.tenant, "acme");
    assert_eq!(principal.roles, [Role::Approver, Role::Auditor].into());
    assert!(principal.in_group("security") && principal.in_group("platform"));
    assert_eq!(
        principal.method,
        AuthMethod::Oidc {
            issuer: ISSUER.into()
        }
    );
    assert_eq!(server.fetch_count(), 1);
}

#[tokio::test]
async fn eddsa_and_ps256_tokens_are_accepted() {
    let mut issuer = issuer();
    issuer.add_rsa("pss", Algorithm::PS256, RsaTestKey::Second);
    let server = JwksServer::start(issuer.jwks_json());
    let verifier = OidcVerifier::new(config(&server.url())).expect("valid config");
    for kid in ["ed-1", "pss"] {
        let token = issuer.mint(kid, &issuer.claims("bot", "acme", &["agent"]));
        let principal = verifier.verify(&token).await.expect(kid);
        assert_eq!(principal.roles, [Role::Agent].into());
        assert!(principal.approver_groups.is_empty());
    }
}

#[tokio::test]
async fn the_key_set_is_cached_between_requests() {
    let (issuer, server, verifier) = served();
    let token = issuer.mint("ed-1", &issuer.claims("bot", "acme", &["agent"]));
    for _ in 0..3 {
        verifier.verify(&token).await.expect("valid token");
    }
    assert_eq!(server.fetch_count(), 1);
}

#[tokio::test]
async fn expiry_is_enforced_with_leeway() {
    let (issuer, _server, verifier) = served();
    let now = unix_now();
    let claims = issuer.claims("bot", "acme", &["agent"]);

    let long_expired = issuer.mint("ed-1", &with(claims.clone(), "exp", json!(now - 3600)));
    refused(&verifier, &long_expired, IdentityError::Expired).await;

    // Leeway is 60 s: a token that expired 10 s ago is still accepted (clock skew).
    let just_expired = issuer.mint("ed-1", &with(claims.clone(), "exp", json!(now - 10)));
    verifier.verify(&just_expired).await.expect("within leeway");

    let no_exp = issuer.mint("ed-1", &without(claims, "exp"));
    refused(
        &verifier,
        &no_exp,
        IdentityError::MissingClaim("exp".into()),
    )
    .await;
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let (issuer, _server, verifier) = served();
    let claims = issuer.claims("bot", "acme", &["agent"]);
    let future = issuer.mint(
        "rsa-1",
        &with(claims.clone(), "nbf", json!(unix_now() + 3600)),
    );
    refused(&verifier, &future, IdentityError::NotYetValid).await;
    let skewed = issuer.mint("rsa-1", &with(claims, "nbf", json!(unix_now() + 10)));
    verifier.verify(&skewed).await.expect("nbf within leeway");
}

#[tokio::test]
async fn wrong_issuer_and_wrong_audience_are_refused() {
    let (issuer, _server, verifier) = served();
    let claims = issuer.claims("bot", "acme", &["agent"]);
    let other_iss = issuer.mint(
        "ed-1",
        &with(claims.clone(), "iss", json!("https://evil.test")),
    );
    refused(&verifier, &other_iss, IdentityError::WrongIssuer).await;
    let other_aud = issuer.mint("ed-1", &with(claims.clone(), "aud", json!(["other-api"])));
    refused(&verifier, &other_aud, IdentityError::WrongAudience).await;
    let no_iss = issuer.mint("ed-1", &without(claims.clone(), "iss"));
    refused(
        &verifier,
        &no_iss,
        IdentityError::MissingClaim("iss".into()),
    )
    .await;
    let no_aud = issuer.mint("ed-1", &without(claims.clone(), "aud"));
    refused(
        &verifier,
        &no_aud,
        IdentityError::MissingClaim("aud".into()),
    )
    .await;

    // One of several audiences is enough.
    let several = issuer.mint("ed-1", &with(claims, "aud", json!(["other-api", AUDIENCE])));
    verifier
        .verify(&several)
        .await
        .expect("audience among several");
}

#[tokio::test]
async fn a_signature_by_another_key_with_the_same_kid_is_refused() {
    let (_issuer, _server, verifier) = served();
    let mut forger = TestIssuer::new(ISSUER, AUDIENCE);
    forger
        .add_ed25519("ed-1")
        .add_rsa("rsa-1", Algorithm::RS256, RsaTestKey::Second);
    for kid in ["ed-1", "rsa-1"] {
        let forged = forger.mint(kid, &forger.claims("mallory", "acme", &["admin"]));
        refused(&verifier, &forged, IdentityError::BadSignature).await;
    }
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let (issuer, _server, verifier) = served();
    let token = issuer.mint("rsa-1", &issuer.claims("bot", "acme", &["agent"]));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let admin = issuer.claims("bot", "acme", &["admin"]);
    parts[1] = URL_SAFE_NO_PAD.encode(admin.to_string());
    refused(&verifier, &parts.join("."), IdentityError::BadSignature).await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (issuer, server, verifier) = served();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"ed-1"}"#);
    let payload = URL_SAFE_NO_PAD.encode(issuer.claims("mallory", "acme", &["admin"]).to_string());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}.c2ln"),
    ] {
        refused(
            &verifier,
            &token,
            IdentityError::UnsupportedAlgorithm("none".into()),
        )
        .await;
    }
    assert_eq!(server.fetch_count(), 0, "refused before any key lookup");
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let (issuer, _server, verifier) = served();
    let claims = issuer.claims("mallory", "acme", &["admin"]);
    let public = issuer.jwk("rsa-1").expect("published key");
    let n = public["n"].as_str().expect("modulus");
    // The classic confusion attack: use public key material as an HMAC secret.
    for secret in [n.as_bytes().to_vec(), public.to_string().into_bytes()] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.kid = Some("rsa-1".into());
            let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret))
                .expect("hmac signs");
            let name = format!("{alg:?}");
            refused(&verifier, &token, IdentityError::UnsupportedAlgorithm(name)).await;
        }
    }
}

#[tokio::test]
async fn an_algorithm_that_does_not_fit_the_named_key_is_refused() {
    let (issuer, _server, verifier) = served();
    let claims = issuer.claims("mallory", "acme", &["admin"]);
    // Signed by the Ed25519 key but naming the RSA key.
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("rsa-1".into());
    let token = issuer.mint_with_header("ed-1", header, &claims);
    refused(
        &verifier,
        &token,
        IdentityError::AlgorithmMismatch {
            alg: "EdDSA".into(),
            kid: "rsa-1".into(),
        },
    )
    .await;

    // The RSA key is published for RS256 only; a PS256 token naming it is refused.
    let mut pss = TestIssuer::new(ISSUER, AUDIENCE);
    pss.add_rsa("rsa-1", Algorithm::PS256, RsaTestKey::First);
    let token = pss.mint("rsa-1", &claims);
    refused(
        &verifier,
        &token,
        IdentityError::AlgorithmMismatch {
            alg: "PS256".into(),
            kid: "rsa-1".into(),
        },
    )
    .await;
}

#[tokio::test]
async fn an_unknown_kid_triggers_a_refetch_and_is_accepted_after_rotation() {
    let (mut issuer, server, verifier) = served();
    let old = issuer.mint("ed-1", &issuer.claims("bot", "acme", &["agent"]));
    verifier.verify(&old).await.expect("before rotation");
    assert_eq!(server.fetch_count(), 1);

    issuer.rotate("ed-2");
    server.set_document(issuer.jwks_json());
    let new = issuer.mint("ed-2", &issuer.claims("bot", "acme", &["agent"]));
    verifier
        .verify(&new)
        .await
        .expect("new key found by refetch");
    assert_eq!(server.fetch_count(), 2);

    // The rotated-out key is gone from the set just fetched.
    refused(&verifier, &old, IdentityError::UnknownKey("ed-1".into())).await;
}

#[tokio::test]
async fn a_removed_key_stops_verifying_after_the_next_fetch() {
    let (mut issuer, server, verifier) = served();
    let token = issuer.mint("rsa-1", &issuer.claims("bot", "acme", &["agent"]));
    verifier.verify(&token).await.expect("published key");

    issuer.remove_key("rsa-1");
    server.set_document(issuer.jwks_json());
    // Still cached: the provider's removal is seen at the next fetch, not before.
    verifier.verify(&token).await.expect("cached key set");
    assert_eq!(verifier.refresh().await, Ok(1));
    refused(&verifier, &token, IdentityError::UnknownKey("rsa-1".into())).await;
}

#[tokio::test]
async fn an_expired_cache_is_refetched() {
    let mut issuer = issuer();
    let server = JwksServer::start(issuer.jwks_json());
    let mut config = config(&server.url());
    config.cache_seconds = 0;
    let verifier = OidcVerifier::new(config).expect("valid config");
    let token = issuer.mint("ed-1", &issuer.claims("bot", "acme", &["agent"]));
    verifier.verify(&token).await.expect("first fetch");
    issuer.remove_key("ed-1");
    server.set_document(issuer.jwks_json());
    refused(&verifier, &token, IdentityError::UnknownKey("ed-1".into())).await;
    assert!(server.fetch_count() >= 2);
}

#[tokio::test]
async fn refetching_for_unknown_kids_is_rate_limited() {
    let issuer = issuer();
    let server = JwksServer::start(issuer.jwks_json());
    let mut config = config(&server.url());
    config.min_refresh_seconds = 3600;
    let verifier = OidcVerifier::new(config).expect("valid config");
    let mut forger = TestIssuer::new(ISSUER, AUDIENCE);
    forger.add_ed25519("made-up");
    let token = forger.mint("made-up", &forger.claims("bot", "acme", &["agent"]));
    for _ in 0..5 {
        refused(
            &verifier,
            &token,
            IdentityError::UnknownKey("made-up".into()),
        )
        .await;
    }
    assert_eq!(server.fetch_count(), 1, "one fetch, no refetch storm");
}

#[tokio::test]
async fn an_unreachable_jwks_is_a_clear_error() {
    let issuer = issuer();
    let url = closed_loopback_url();
    let verifier = OidcVerifier::new(config(&url)).expect("valid config");
    let token = issuer.mint("ed-1", &issuer.claims("bot", "acme", &["agent"]));
    let error = verifier.verify(&token).await.expect_err("no JWKS");
    assert!(
        matches!(error, IdentityError::JwksUnavailable(_)),
        "{error:?}"
    );
    assert_eq!(error.http_status(), 503);
    assert!(
        !error.to_string().contains(&url),
        "the URL stays out of the message"
    );
    assert!(matches!(
        verifier.refresh().await,
        Err(IdentityError::JwksUnavailable(_))
    ));
}

#[tokio::test]
async fn a_failing_or_invalid_jwks_endpoint_is_a_clear_error() {
    let issuer = issuer();
    let server = JwksServer::start(issuer.jwks_json());
    let verifier = OidcVerifier::new(config(&server.url())).expect("valid config");
    let token = issuer.mint("ed-1", &issuer.claims("bot", "acme", &["agent"]));

    server.set_status(500);
    let error = verifier.verify(&token).await.expect_err("HTTP 500");
    assert_eq!(
        error,
        IdentityError::JwksUnavailable("the JWKS endpoint answered HTTP 500".into())
    );

    server.set_status(200);
    server.set_document("<html>login</html>");
    assert!(matches!(
        verifier.verify(&token).await,
        Err(IdentityError::JwksInvalid(_))
    ));

    server.set_document(issuer.jwks_json());
    verifier
        .verify(&token)
        .await
        .expect("recovers once the endpoint does");
}

#[tokio::test]
async fn a_failed_fetch_is_not_retried_before_min_refresh() {
    let issuer = issuer();
    let server = JwksServer::start(issuer.jwks_json());
    let mut config = config(&server.url());
    config.min_refresh_seconds = 3600;
    let verifier = OidcVerifier::new(config).expect("valid config");
    let token = issuer.mint("ed-1", &issuer.claims("bot", "acme", &["agent"]));
    server.set_status(503);
    for _ in 0..3 {
        assert!(matches!(
            verifier.verify(&token).await,
            Err(IdentityError::JwksUnavailable(_))
        ));
    }
    assert_eq!(server.fetch_count(), 1);
}

#[tokio::test]
async fn the_jwks_can_come_from_a_file() {
    let mut issuer = issuer();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, issuer.jwks_json()).expect("write jwks");
    let verifier =
        OidcVerifier::new(config(path.to_str().expect("utf-8 path"))).expect("valid config");
    let token = issuer.mint("ed-1", &issuer.claims("bot", "acme", &["agent"]));
    verifier.verify(&token).await.expect("key from file");

    // Rotation by rewriting the file: an unknown kid re-reads it.
    issuer.rotate("ed-2");
    std::fs::write(&path, issuer.jwks_json()).expect("rewrite jwks");
    let rotated = issuer.mint("ed-2", &issuer.claims("bot", "acme", &["agent"]));
    verifier
        .verify(&rotated)
        .await
        .expect("key from rewritten file");

    let missing = OidcVerifier::new(config(
        dir.path().join("absent.json").to_str().expect("utf-8"),
    ))
    .expect("valid config");
    assert!(matches!(
        missing.verify(&token).await,
        Err(IdentityError::JwksUnavailable(_))
    ));
}

#[tokio::test]
async fn the_tenant_claim_is_required_unless_fixed() {
    let (issuer, server, verifier) = served();
    let token = issuer.mint(
        "ed-1",
        &without(issuer.claims("bot", "acme", &["agent"]), "tenant"),
    );
    refused(
        &verifier,
        &token,
        IdentityError::MissingClaim("tenant".into()),
    )
    .await;
    let numeric = issuer.mint(
        "ed-1",
        &with(issuer.claims("bot", "x", &["agent"]), "tenant", json!(7)),
    );
    refused(
        &verifier,
        &numeric,
        IdentityError::InvalidClaim("tenant".into()),
    )
    .await;
    let empty = issuer.mint("ed-1", &issuer.claims("bot", "", &["agent"]));
    refused(
        &verifier,
        &empty,
        IdentityError::InvalidClaim("tenant".into()),
    )
    .await;

    let mut fixed = config(&server.url());
    fixed.tenant = Some("solo".into());
    let fixed = OidcVerifier::new(fixed).expect("valid config");
    assert_eq!(
        fixed.verify(&token).await.expect("fixed tenant").tenant,
        "solo"
    );

    let mut custom = config(&server.url());
    custom.tenant_claim = "org.id".into();
    let custom = OidcVerifier::new(custom).expect("valid config");
    let nested = issuer.mint(
        "ed-1",
        &with(
            issuer.claims("bot", "x", &["agent"]),
            "org",
            json!({"id": "acme"}),
        ),
    );
    assert_eq!(
        custom.verify(&nested).await.expect("nested tenant").tenant,
        "acme"
    );
}

#[tokio::test]
async fn tokens_without_a_recognised_role_are_refused() {
    let (issuer, server, verifier) = served();
    let unknown = issuer.mint(
        "ed-1",
        &issuer.claims("bot", "acme", &["Admin", "superuser"]),
    );
    refused(&verifier, &unknown, IdentityError::NoRole).await;
    let none = issuer.mint("ed-1", &without(issuer.claims("bot", "acme", &[]), "roles"));
    refused(&verifier, &none, IdentityError::NoRole).await;
    let empty = issuer.mint("ed-1", &issuer.claims("bot", "acme", &[]));
    refused(&verifier, &empty, IdentityError::NoRole).await;
    let object = issuer.mint(
        "ed-1",
        &with(
            issuer.claims("bot", "acme", &[]),
            "roles",
            json!({"admin": true}),
        ),
    );
    refused(
        &verifier,
        &object,
        IdentityError::InvalidClaim("roles".into()),
    )
    .await;

    // Known names among unknown ones count; a space-separated string works too.
    let mixed = issuer.mint(
        "ed-1",
        &issuer.claims("bot", "acme", &["superuser", "auditor"]),
    );
    assert_eq!(
        verifier.verify(&mixed).await.expect("one known role").roles,
        [Role::Auditor].into()
    );
    let spaced = issuer.mint(
        "ed-1",
        &with(
            issuer.claims("bot", "acme", &[]),
            "roles",
            json!("agent admin"),
        ),
    );
    assert_eq!(
        verifier
            .verify(&spaced)
            .await
            .expect("space-separated")
            .roles,
        [Role::Agent, Role::Admin].into()
    );

    // With a role map only mapped values count, from the configured claim.
    let mut mapped = config(&server.url());
    mapped.roles_claim = "realm_access.roles".into();
    mapped.groups_claim = "teams".into();
    mapped.role_map = [("cavra-approvers".to_owned(), Role::Approver)].into();
    let mapped = OidcVerifier::new(mapped).expect("valid config");
    let claims = with(
        with(
            issuer.claims("carol", "acme", &[]),
            "realm_access",
            json!({"roles": ["cavra-approvers", "admin"]}),
        ),
        "teams",
        json!("release security"),
    );
    let principal = mapped
        .verify(&issuer.mint("rsa-1", &claims))
        .await
        .expect("mapped role");
    assert_eq!(principal.roles, [Role::Approver].into());
    assert_eq!(
        principal.approver_groups,
        ["release".to_owned(), "security".to_owned()].into()
    );
    let unmapped = with(
        issuer.claims("carol", "acme", &[]),
        "realm_access",
        json!({"roles": ["admin"]}),
    );
    refused(
        &mapped,
        &issuer.mint("rsa-1", &unmapped),
        IdentityError::NoRole,
    )
    .await;
}

#[tokio::test]
async fn the_subject_claim_is_required() {
    let (issuer, _server, verifier) = served();
    let token = issuer.mint(
        "ed-1",
        &without(issuer.claims("bot", "acme", &["agent"]), "sub"),
    );
    refused(&verifier, &token, IdentityError::MissingClaim("sub".into())).await;
}

#[tokio::test]
async fn garbage_is_malformed_and_never_fetches_keys() {
    let (issuer, server, verifier) = served();
    let valid = issuer.mint("ed-1", &issuer.claims("bot", "acme", &["agent"]));
    let cases = [
        String::new(),
        "garbage".into(),
        "a.b".into(),
        "a.b.c".into(),
        "...".into(),
        format!("{valid}.extra"),
        format!(" {valid}"),
        valid.replacen('.', "", 1),
        "eyJhbGciOiJSUzI1NiJ9".into(),
        "eyJhbGciOiJSUzI1NiJ9..sig".into(),
        format!("{}.e30.x", URL_SAFE_NO_PAD.encode("[1,2]")),
        format!("{}.e30.x", URL_SAFE_NO_PAD.encode(r#"{"kid":"ed-1"}"#)),
        "cavra_0123456789abcdef_notajwt".into(),
        "\u{0}\u{1}.\u{2}.\u{3}".into(),
    ];
    for case in &cases {
        match verifier.verify(case).await {
            Err(IdentityError::Malformed(message)) => {
                assert!(case.is_empty() || !message.contains(case.as_str()))
            }
            other => panic!("{case:?} gave {other:?}"),
        }
    }
    assert_eq!(server.fetch_count(), 0);
}

#[tokio::test]
async fn a_malformed_payload_after_a_valid_header_is_refused() {
    let (issuer, _server, verifier) = served();
    let valid = issuer.mint("ed-1", &issuer.claims("bot", "acme", &["agent"]));
    let parts: Vec<&str> = valid.split('.').collect();
    for payload in ["!!!", "bm90IGpzb24"] {
        let token = format!("{}.{payload}.{}", parts[0], parts[2]);
        let error = verifier.verify(&token).await.expect_err("refused");
        assert!(
            matches!(
                error,
                IdentityError::BadSignature | IdentityError::Malformed(_)
            ),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn es256_and_es384_tokens_are_accepted() {
    let mut issuer = issuer();
    issuer
        .add_ec("p256", Algorithm::ES256)
        .add_ec("p384", Algorithm::ES384);
    let server = JwksServer::start(issuer.jwks_json());
    let verifier = OidcVerifier::new(config(&server.url())).expect("valid config");
    for kid in ["p256", "p384"] {
        let token = issuer.mint(kid, &issuer.claims("bot", "acme", &["agent"]));
        verifier.verify(&token).await.expect(kid);
    }
    // ES384 naming the P-256 key does not fit it.
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some("p256".into());
    let token = issuer.mint_with_header("p384", header, &issuer.claims("bot", "acme", &["agent"]));
    refused(
        &verifier,
        &token,
        IdentityError::AlgorithmMismatch {
            alg: "ES384".into(),
            kid: "p256".into(),
        },
    )
    .await;
}

#[tokio::test]
async fn a_token_without_kid_is_checked_against_the_keys_that_fit() {
    let (issuer, _server, verifier) = served();
    let claims = issuer.claims("bot", "acme", &["agent"]);
    let token = issuer.mint_with_header("ed-1", Header::new(Algorithm::EdDSA), &claims);
    verifier
        .verify(&token)
        .await
        .expect("the one Ed25519 key verifies it");

    let mut forger = TestIssuer::new(ISSUER, AUDIENCE);
    forger.add_ed25519("x");
    let forged = forger.mint_with_header("x", Header::new(Algorithm::EdDSA), &claims);
    refused(&verifier, &forged, IdentityError::BadSignature).await;

    let mut es = TestIssuer::new(ISSUER, AUDIENCE);
    es.add_ec("x", Algorithm::ES256);
    let no_fitting_key = es.mint_with_header("x", Header::new(Algorithm::ES256), &claims);
    refused(
        &verifier,
        &no_fitting_key,
        IdentityError::AlgorithmMismatch {
            alg: "ES256".into(),
            kid: "-".into(),
        },
    )
    .await;
}

#[tokio::test]
async fn an_issuer_list_is_refused() {
    let (issuer, _server, verifier) = served();
    let claims = with(
        issuer.claims("bot", "acme", &["agent"]),
        "iss",
        json!([ISSUER, "https://evil.test"]),
    );
    refused(
        &verifier,
        &issuer.mint("ed-1", &claims),
        IdentityError::InvalidClaim("iss".into()),
    )
    .await;
}

#[tokio::test]
async fn concurrent_requests_on_a_cold_cache_share_one_fetch() {
    let (issuer, server, verifier) = served();
    let token = issuer.mint("ed-1", &issuer.claims("bot", "acme", &["agent"]));
    let (a, b, c, d) = tokio::join!(
        verifier.verify(&token),
        verifier.verify(&token),
        verifier.verify(&token),
        verifier.verify(&token)
    );
    for result in [a, b, c, d] {
        result.expect("valid token");
    }
    assert_eq!(server.fetch_count(), 1);
}

/// The server holds the verifier in shared state and awaits `verify` inside request handlers,
/// which must be `Send`.
#[test]
fn the_verifier_is_shareable_and_its_futures_are_send() {
    fn shareable<T: Send + Sync + 'static>() {}
    fn send<T: Send>(_: &T) {}
    shareable::<OidcVerifier>();
    shareable::<IdentityError>();
    let verifier = OidcVerifier::new(config("/nonexistent/jwks.json")).expect("valid config");
    let verify = verifier.verify("a.b.c");
    send(&verify);
    let refresh = verifier.refresh();
    send(&refresh);
}
