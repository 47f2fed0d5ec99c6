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
    let doc = include_str!("../../../../docs/identity.md");
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
