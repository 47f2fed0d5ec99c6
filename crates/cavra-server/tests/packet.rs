//! Signed packets: one that verifies, and each reason one does not (unsigned, tampered,
//! untrusted_key, stale, blockers_open, invalid), offline against a trust root; the
//! configuration digests a packet carries against the live ones.

use std::collections::BTreeMap;

use cavra_evidence::keys::{SigningKey, from_seed};
use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_server::packet::{self, Expect, Kind, Packet, Reason};
use cavra_server::readiness::{Blocker, FORMAT, Readiness};
use time::OffsetDateTime;

fn key(seed: u8) -> SigningKey {
    from_seed(&[seed; 32])
}

fn trust() -> TrustRoot {
    let mut t = TrustRoot::default();
    let since = OffsetDateTime::now_utc() - time::Duration::days(400);
    t.add(KeyRecord::new("ops", "ops", &key(1).verifying_key(), since, None).expect("record"))
        .expect("add");
    t
}

fn readiness(blockers: Vec<Blocker>) -> Readiness {
    Readiness {
        format: FORMAT.into(),
        checked_at: cavra_server::now_text(),
        tenants: vec!["a".into()],
        validators: vec!["connectors.dead_letters".into()],
        blockers,
        digests: BTreeMap::from([("tenant/a/packs".to_string(), "sha256:01".to_string())]),
    }
}

fn signed(blockers: Vec<Blocker>, by: &SigningKey, id: &str) -> String {
    Packet::new(Kind::Readiness, id, readiness(blockers), None)
        .sign(by)
        .expect("signs")
}

fn reason(text: &str, expect: &Expect<'_>) -> Option<Reason> {
    packet::verify(text, &trust(), expect)
        .err()
        .map(|r| r.reason)
}

fn now() -> Expect<'static> {
    Expect::new(Kind::Readiness, None, None)
}

#[test]
fn a_packet_signed_by_a_trusted_key_without_blockers_verifies() {
    let text = signed(vec![], &key(1), "ops");
    let v = packet::verify(&text, &trust(), &now()).expect("verifies");
    assert_eq!(v.key_id, "ops");
    assert_eq!(
        v.packet
            .readiness
            .as_ref()
            .expect("a readiness result")
            .tenants,
        ["a"]
    );
    let outcome = packet::Outcome::of(&Ok(v));
    assert_eq!(outcome.exit_code(), 0);
}

#[test]
fn a_changed_byte_is_tampered() {
    let text = signed(vec![], &key(1), "ops");
    let mut env: serde_json::Value = serde_json::from_str(&text).expect("json");
    let payload = env["payload"].as_str().expect("payload").to_string();
    // Flip one character of the signed payload (base64), keeping it valid base64.
    let mut bytes = payload.into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    env["payload"] = String::from_utf8(bytes).expect("ascii").into();
    assert_eq!(reason(&env.to_string(), &now()), Some(Reason::Tampered));
}

#[test]
fn a_key_the_trust_root_does_not_hold_is_untrusted() {
    let text = signed(vec![], &key(2), "someone");
    assert_eq!(reason(&text, &now()), Some(Reason::UntrustedKey));
}

#[test]
fn an_old_packet_is_stale_under_max_age() {
    let mut p = Packet::new(Kind::Readiness, "ops", readiness(vec![]), None);
    p.signed_at = cavra_server::format_time(OffsetDateTime::now_utc() - time::Duration::days(40));
    let text = p.sign(&key(1)).expect("signs");
    let max = packet::parse_duration("35d").expect("duration");
    let expect = Expect::new(Kind::Readiness, Some(max), None);
    assert_eq!(reason(&text, &expect), Some(Reason::Stale));
    let expect = Expect::new(
        Kind::Readiness,
        Some(packet::parse_duration("60d").expect("d")),
        None,
    );
    assert_eq!(reason(&text, &expect), None);
}

#[test]
fn open_blockers_fail_a_packet_that_verifies() {
    let b = Blocker {
        validator: "connectors.dead_letters".into(),
        tenant: Some("a".into()),
        count: 1,
        problem: "connector x: 1 dead letter(s)".into(),
        fix: "retry".into(),
    };
    let text = signed(vec![b], &key(1), "ops");
    let r = packet::verify(&text, &trust(), &now()).expect_err("blockers");
    assert_eq!(r.reason, Reason::BlockersOpen);
    assert!(r.detail.contains("connectors.dead_letters"), "{}", r.detail);
    assert_eq!(packet::Outcome::of(&Err(r)).exit_code(), 1);
}

#[test]
fn a_packet_without_a_signature_is_unsigned() {
    let bare = serde_json::to_string(&Packet::new(
        Kind::Readiness,
        "ops",
        readiness(vec![]),
        None,
    ))
    .expect("json");
    assert_eq!(reason(&bare, &now()), Some(Reason::Unsigned));
    let mut env: serde_json::Value =
        serde_json::from_str(&signed(vec![], &key(1), "ops")).expect("json");
    env["signatures"] = serde_json::json!([]);
    assert_eq!(reason(&env.to_string(), &now()), Some(Reason::Unsigned));
}

#[test]
fn another_kind_or_no_packet_at_all_is_invalid() {
    let text = signed(vec![], &key(1), "ops");
    let review = Expect::new(Kind::AispmReview, None, None);
    assert_eq!(reason(&text, &review), Some(Reason::Invalid));
    assert_eq!(reason("not json", &now()), Some(Reason::Invalid));
    assert_eq!(reason("{\"a\": 1}", &now()), Some(Reason::Invalid));
}

#[test]
fn digests_that_differ_from_the_live_ones_are_stale() {
    let text = signed(vec![], &key(1), "ops");
    let same = BTreeMap::from([("tenant/a/packs".to_string(), "sha256:01".to_string())]);
    assert_eq!(
        reason(&text, &Expect::new(Kind::Readiness, None, Some(&same))),
        None
    );
    let changed = BTreeMap::from([("tenant/a/packs".to_string(), "sha256:02".to_string())]);
    let r = packet::verify(
        &text,
        &trust(),
        &Expect::new(Kind::Readiness, None, Some(&changed)),
    )
    .expect_err("stale");
    assert_eq!(r.reason, Reason::Stale);
    assert!(r.detail.contains("tenant/a/packs"), "{}", r.detail);
    // A connector added since: a digest the packet does not hold.
    let more = BTreeMap::from([
        ("tenant/a/packs".to_string(), "sha256:01".to_string()),
        ("tenant/a/connectors".to_string(), "sha256:03".to_string()),
    ]);
    let expect = Expect::new(Kind::Readiness, None, Some(&more));
    assert_eq!(reason(&text, &expect), Some(Reason::Stale));
}

#[test]
fn durations_read_days_hours_minutes_and_seconds() {
    assert_eq!(packet::parse_duration("30d"), Ok(time::Duration::days(30)));
    assert_eq!(packet::parse_duration("12h"), Ok(time::Duration::hours(12)));
    for bad in ["", "30", "d", "0d", "-1d", "3w", "99999999999d"] {
        assert!(packet::parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_review_record_verifies_as_what_it_records_and_an_empty_packet_is_invalid() {
    let review = Expect::new(Kind::ReviewRecord, None, None);
    let record = |passed: bool| {
        let content = serde_json::json!({"step": "publication", "passed": passed,
            "problems": if passed { vec![] } else { vec!["artefact a: digest mismatch"] }});
        Packet::review_record("ops", None, content)
            .sign(&key(1))
            .expect("signs")
    };
    assert_eq!(reason(&record(true), &review), None);
    let r = packet::verify(&record(false), &trust(), &review).expect_err("did not pass");
    assert_eq!(r.reason, Reason::BlockersOpen);
    assert!(
        r.detail
            .contains("publication step did not pass: artefact a"),
        "{}",
        r.detail
    );
    // A review record is not a readiness packet, and a packet must carry something.
    assert_eq!(reason(&record(true), &now()), Some(Reason::Invalid));
    let mut empty = Packet::review_record("ops", None, serde_json::json!({}));
    empty.record = None;
    let text = empty.sign(&key(1)).expect("signs");
    assert_eq!(reason(&text, &review), Some(Reason::Invalid));
}
