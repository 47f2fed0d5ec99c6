//! DSSE envelope and in-toto statement tests.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cavra_evidence::dsse::{DsseError, Envelope, Signature, TrustedKeys, pae};
use cavra_evidence::intoto::{PAYLOAD_TYPE, STATEMENT_TYPE, Statement, StatementError, Subject};
use cavra_evidence::keys::{self, SigningKey};
use proptest::prelude::*;
use serde_json::json;

fn key(n: u8) -> SigningKey {
    keys::from_seed(&[n; 32])
}

fn trusting(keys_: &[&SigningKey]) -> TrustedKeys {
    let mut t = TrustedKeys::new();
    for k in keys_ {
        t.insert_by_fingerprint(k.verifying_key());
    }
    t
}

#[test]
fn pae_matches_dsse_spec_example() {
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
    );
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    // Lengths are bytes, not characters.
    assert_eq!(
        pae("é", "€".as_bytes()),
        "DSSEv1 2 é 3 €".as_bytes().to_vec()
    );
}

#[test]
fn sign_and_verify() {
    let a = key(1);
    let env = Envelope::sign("text/plain", b"hello world", &[&a]);
    assert_eq!(env.payload, "aGVsbG8gd29ybGQ=");
    assert_eq!(env.signatures.len(), 1);
    assert_eq!(env.signatures[0].keyid, keys::key_id(&a.verifying_key()));
    let v = env.verify(&trusting(&[&a])).expect("verifies");
    assert_eq!(v.payload, b"hello world");
    assert_eq!(v.payload_type, "text/plain");
    assert_eq!(v.key_ids, vec![keys::key_id(&a.verifying_key())]);
    // The signature is over the PAE, not the bare payload.
    let raw = STANDARD.decode(&env.signatures[0].sig).expect("base64");
    let sig = ed25519_dalek::Signature::from_slice(&raw).expect("sig");
    assert!(
        a.verifying_key()
            .verify_strict(&pae("text/plain", b"hello world"), &sig)
            .is_ok()
    );
}

#[test]
fn json_round_trip_and_field_names() {
    let env = Envelope::sign("t", b"p", &[&key(1)]);
    let text = env.to_json();
    assert!(text.contains("\"payloadType\":\"t\""));
    assert!(text.contains("\"keyid\""));
    assert_eq!(Envelope::from_json(&text).expect("parse"), env);
}

#[test]
fn fails_without_signatures() {
    let env = Envelope::new("t", b"p");
    assert_eq!(
        env.verify(&trusting(&[&key(1)])),
        Err(DsseError::NoSignatures)
    );
}

#[test]
fn fails_for_unknown_key() {
    let env = Envelope::sign("t", b"p", &[&key(1)]);
    assert!(matches!(
        env.verify(&trusting(&[&key(2)])),
        Err(DsseError::NoTrustedSignature { .. })
    ));
    assert!(env.verify(&TrustedKeys::new()).is_err());
}

#[test]
fn keyid_is_never_trusted_alone() {
    let trusted_key = key(1);
    let attacker = key(2);
    // The attacker claims the trusted key's id.
    let mut env = Envelope::new("t", b"p");
    env.add_signature(&attacker, keys::key_id(&trusted_key.verifying_key()))
        .expect("sign");
    assert!(env.verify(&trusting(&[&trusted_key])).is_err());
    // A wrong or missing hint does not stop a genuinely trusted signature verifying,
    // and the reported id is the trusted one.
    let mut env = Envelope::new("t", b"p");
    env.add_signature(&trusted_key, "some-other-name")
        .expect("sign");
    let v = env.verify(&trusting(&[&trusted_key])).expect("verifies");
    assert_eq!(v.key_ids, vec![keys::key_id(&trusted_key.verifying_key())]);
}

#[test]
fn fails_on_tampering() {
    let a = key(1);
    let trusted = trusting(&[&a]);
    let env = Envelope::sign("t", b"payload", &[&a]);

    let mut bad = env.clone();
    bad.payload = STANDARD.encode(b"payloae");
    assert!(bad.verify(&trusted).is_err());

    let mut bad = env.clone();
    bad.payload_type = "u".into();
    assert!(bad.verify(&trusted).is_err());

    let mut bad = env.clone();
    let mut raw = STANDARD.decode(&bad.signatures[0].sig).expect("b64");
    raw[10] ^= 1;
    bad.signatures[0].sig = STANDARD.encode(&raw);
    assert!(bad.verify(&trusted).is_err());

    let mut bad = env.clone();
    bad.signatures[0].sig = "not base64!".into();
    assert!(bad.verify(&trusted).is_err());

    let mut bad = env.clone();
    bad.payload = "%%%".into();
    assert_eq!(bad.verify(&trusted), Err(DsseError::PayloadEncoding));

    // Substituting the signature with one by an untrusted key.
    let mut bad = env.clone();
    bad.signatures = Envelope::sign("t", b"payload", &[&key(9)]).signatures;
    assert!(bad.verify(&trusted).is_err());

    assert!(env.verify_typed(&trusted, "other").is_err());
    assert!(env.verify_typed(&trusted, "t").is_ok());
}

#[test]
fn threshold_counts_distinct_trusted_keys() {
    let (a, b, c) = (key(1), key(2), key(3));
    let env = Envelope::sign("t", b"p", &[&a, &b, &c]);
    let trusted = trusting(&[&a, &b]);
    assert_eq!(
        env.verify_threshold(&trusted, 2)
            .expect("2 of 2")
            .key_ids
            .len(),
        2
    );
    assert!(matches!(
        env.verify_threshold(&trusted, 3),
        Err(DsseError::ThresholdNotMet {
            found: 2,
            required: 3
        })
    ));
    // The same key signing twice, or trusted under two names, counts once.
    let mut twice = Envelope::sign("t", b"p", &[&a, &a]);
    twice.signatures.push(Signature {
        keyid: String::new(),
        sig: twice.signatures[0].sig.clone(),
    });
    let mut two_names = trusting(&[&a]);
    two_names.insert("alias", a.verifying_key());
    assert!(twice.verify_threshold(&two_names, 2).is_err());
}

#[test]
fn statement_sign_and_open() {
    let a = key(1);
    let st = Statement::new(
        vec![Subject::sha256_of("decisions.jsonl", b"{}\n")],
        "https://cavra.dev/evidence/v1",
        json!({"entries": 1}),
    );
    let env = st.sign(&[&a]).expect("sign");
    assert_eq!(env.payload_type, PAYLOAD_TYPE);
    let payload = env.payload_bytes().expect("payload");
    let text = String::from_utf8(payload).expect("utf8");
    assert!(text.starts_with(&format!("{{\"_type\":\"{STATEMENT_TYPE}\"")));
    let (opened, ids) = Statement::open(&env, &trusting(&[&a])).expect("open");
    assert_eq!(opened, st);
    assert_eq!(ids, vec![keys::key_id(&a.verifying_key())]);
    assert!(Statement::open(&env, &trusting(&[&key(2)])).is_err());

    let mut wrong_type = env.clone();
    wrong_type.payload_type = "application/json".into();
    wrong_type.signatures.clear();
    wrong_type.add_signature(&a, "").expect("sign");
    assert!(matches!(
        Statement::open(&wrong_type, &trusting(&[&a])),
        Err(StatementError::Dsse(DsseError::PayloadTypeMismatch { .. }))
    ));
}

#[test]
fn statement_validation() {
    let ok = Statement::new(
        vec![Subject::with_sha256("x", "a".repeat(64))],
        "p",
        json!({}),
    );
    assert!(ok.validate().is_ok());
    let mut bad = ok.clone();
    bad.statement_type = "https://in-toto.io/Statement/v0.1".into();
    assert!(bad.validate().is_err());
    let mut bad = ok.clone();
    bad.subject.clear();
    assert!(bad.validate().is_err());
    assert!(bad.sign(&[&key(1)]).is_err());
    let bad = Statement::new(
        vec![Subject::with_sha256("x", "A".repeat(64))],
        "p",
        json!({}),
    );
    assert!(bad.validate().is_err());
    let bad = Statement::new(vec![Subject::with_sha256("x", "abc")], "p", json!({}));
    assert!(bad.validate().is_err());
    // A signed envelope whose payload is not a statement is refused.
    let a = key(1);
    let env = Envelope::sign(PAYLOAD_TYPE, b"[1,2]", &[&a]);
    assert!(matches!(
        Statement::open(&env, &trusting(&[&a])),
        Err(StatementError::Json(_))
    ));
}

proptest! {
    #[test]
    fn envelope_parsing_and_verification_never_panic(text in ".*") {
        let trusted = trusting(&[&key(1)]);
        if let Ok(env) = Envelope::from_json(&text) {
            let _ = env.verify(&trusted);
            let _ = Statement::open(&env, &trusted);
        }
    }

    #[test]
    fn structured_envelopes_never_panic(
        payload_type in ".{0,20}", payload in "[A-Za-z0-9+/=_-]{0,40}",
        keyid in ".{0,10}", sig in "[A-Za-z0-9+/=_-]{0,100}",
    ) {
        let trusted = trusting(&[&key(1)]);
        let text = json!({
            "payloadType": payload_type, "payload": payload,
            "signatures": [{"keyid": keyid, "sig": sig}]
        }).to_string();
        let env = Envelope::from_json(&text).expect("well-formed");
        prop_assert!(env.verify(&trusted).is_err());
    }

    #[test]
    fn any_payload_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..200), ty in ".{0,30}") {
        let a = key(1);
        let env = Envelope::sign(ty.clone(), &payload, &[&a]);
        let parsed = Envelope::from_json(&env.to_json()).expect("parse");
        let v = parsed.verify(&trusting(&[&a])).expect("verify");
        prop_assert_eq!(v.payload, payload);
        prop_assert_eq!(v.payload_type, ty);
    }
}
