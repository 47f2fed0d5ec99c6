//! One check for every callback another system signs with a shared secret (Slack's button
//! presses, a Teams outgoing webhook, Jira's and ServiceNow's webhooks): HMAC-SHA256 compared
//! in constant time against each configured key, a time window, and a bounded memory of the
//! callbacks already taken so none is taken twice.
//!
//! A callback is checked in steps, because the vendors put the time in different places (a
//! header, the body): [`Verifier::signed_by`] finds the keys that signed the raw bytes (the
//! body is read only after that), [`Signed::fresh_once`] refuses one outside
//! [`MAX_SKEW_SECONDS`] of now or seen before, and [`Signed::of_tenant`] takes the signer of
//! the tenant the callback names (one secret may serve several tenants: it signs for each).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ConnectorError;
use crate::chat::ChatApprover;
use crate::config::{ConnectorConfig, ConnectorsConfig};

/// HMAC-SHA256 of `parts` (concatenated) with `key`.
fn mac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    for p in parts {
        m.update(p);
    }
    m
}

/// HMAC-SHA256 of `parts` with `key`, as bytes.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac(key, parts).finalize().into_bytes().into()
}

/// Whether `expected` is the HMAC-SHA256 of `parts` with `key`, compared in constant time.
pub fn hmac_matches(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    mac(key, parts).verify_slice(expected).is_ok()
}

/// How far a callback's time may be from now, in seconds (Slack's advice, and Teams').
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;

/// Callbacks remembered at most at once; past this (after forgetting expired ones) new
/// callbacks are refused rather than let a replay through.
pub const REPLAY_CAPACITY: usize = 100_000;

/// Why a callback was not let through by the [`ReplayGuard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// It was seen before, within its validity.
    Replayed,
    /// The memory is full of callbacks still valid.
    Full,
}

/// Remembers the callbacks seen (their signatures or ids) until they would be refused as
/// stale anyway, so each is taken once. Bounded by [`REPLAY_CAPACITY`]. One per replica: a
/// replay sent to another replica finds the approval already decided (the store's
/// transition takes a pending approval only).
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<Vec<u8>, i64>>,
}

impl ReplayGuard {
    /// Notes `key`, valid until `until` (seconds); refuses it when seen before.
    pub fn first_time(&self, key: &[u8], until: i64, now: i64) -> Result<(), Seen> {
        self.first_time_within(key, until, now, REPLAY_CAPACITY)
    }

    fn first_time_within(
        &self,
        key: &[u8],
        until: i64,
        now: i64,
        capacity: usize,
    ) -> Result<(), Seen> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.get(key).is_some_and(|&u| u >= now) {
            return Err(Seen::Replayed);
        }
        if seen.len() >= capacity {
            seen.retain(|_, u| *u >= now);
            if seen.len() >= capacity {
                return Err(Seen::Full);
            }
        }
        seen.insert(key.to_vec(), until);
        Ok(())
    }
}

/// Whose key a callback may be signed with.
pub trait Signer {
    /// The HMAC key.
    fn key(&self) -> &[u8];
    /// The tenant it signs for.
    fn tenant(&self) -> &str;
}

/// One tenant's configured sender of signed callbacks (a Slack app, a Teams outgoing webhook,
/// a Jira site, a ServiceNow instance): the key it signs with, the people who may approve
/// through it, and what its kind adds (`K`).
pub struct SignedApp<K> {
    /// The tenant.
    pub tenant: String,
    /// The connector's name.
    pub name: String,
    /// Its kind's configuration key (`slack`, `jira`, …), so logs tell senders apart.
    pub vendor: &'static str,
    key: Vec<u8>,
    approvers: BTreeMap<String, ChatApprover>,
    /// What the kind of connector adds (a Slack app's bot, Jira's statuses).
    pub kind: K,
}

impl<K> SignedApp<K> {
    /// The sender that connector `c` configures, signing with `key`.
    pub fn new(
        c: &ConnectorConfig,
        key: Vec<u8>,
        approvers: BTreeMap<String, ChatApprover>,
        kind: K,
    ) -> SignedApp<K> {
        SignedApp {
            tenant: c.tenant.clone(),
            name: c.name.clone(),
            vendor: c.kind().map_or("unknown", crate::config::Kind::as_str),
            key,
            approvers,
            kind,
        }
    }

    /// The approver identity a user of the other system (a Slack or Teams user, an
    /// Atlassian account, a ServiceNow user) acts as, when configured.
    pub fn approver(&self, user: &str) -> Option<&ChatApprover> {
        self.approvers.get(user)
    }
}

impl<K> Signer for SignedApp<K> {
    fn key(&self) -> &[u8] {
        &self.key
    }

    fn tenant(&self) -> &str {
        &self.tenant
    }
}

impl<K> std::fmt::Debug for SignedApp<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key, nor what the kind holds (a bot token).
        f.debug_struct("SignedApp")
            .field("vendor", &self.vendor)
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A verifier of every connector in `config` that `app_of` makes a sender of (those it
/// answers `None` for take no callbacks).
pub fn verifier_of<K>(
    config: &ConnectorsConfig,
    mut app_of: impl FnMut(&ConnectorConfig) -> Result<Option<SignedApp<K>>, ConnectorError>,
) -> Result<Verifier<SignedApp<K>>, ConnectorError> {
    let mut apps = Vec::new();
    for c in &config.0 {
        if let Some(app) = app_of(c)? {
            apps.push(Arc::new(app));
        }
    }
    Ok(Verifier::new(apps))
}

/// The word a signed ticket update (ServiceNow, Jira) that is not one is recorded with.
pub const NOT_AN_UPDATE: &str = "not_an_update";

/// Why a signed callback was refused before any approval rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No signature (or time) where the vendor puts it, or not in its form.
    Unsigned,
    /// Signed by no configured key.
    BadSignature,
    /// Signed, but more than [`MAX_SKEW_SECONDS`] from now (the tenants whose key signed it).
    Stale(Vec<String>),
    /// Signed and fresh, but seen before.
    Replayed(Vec<String>),
    /// Too many callbacks remembered to tell a replay: refused rather than risk one.
    Busy,
    /// Signed, but not what the endpoint takes (or naming a tenant whose key did not sign
    /// it): the tenants, why.
    Malformed(Vec<String>, String),
}

impl Refusal {
    /// A short word for records; `malformed` is the vendor's word for
    /// [`Refusal::Malformed`] (`not_a_press`, `not_a_command`, `not_an_update`).
    pub fn word(&self, malformed: &'static str) -> &'static str {
        match self {
            Refusal::Unsigned => "unsigned",
            Refusal::BadSignature => "bad_signature",
            Refusal::Stale(_) => "stale",
            Refusal::Replayed(_) => "replayed",
            Refusal::Busy => "busy",
            Refusal::Malformed(..) => malformed,
        }
    }

    /// The tenants whose key signed it (a refusal is recorded for them; one nobody signed
    /// belongs to no tenant).
    pub fn tenants(&self) -> &[String] {
        match self {
            Refusal::Stale(t) | Refusal::Replayed(t) | Refusal::Malformed(t, _) => t,
            _ => &[],
        }
    }
}

/// The configured signers of one kind of callback and the memory of those taken.
pub struct Verifier<S> {
    signers: Vec<Arc<S>>,
    seen: ReplayGuard,
}

impl<S> Default for Verifier<S> {
    fn default() -> Self {
        Verifier {
            signers: Vec::new(),
            seen: ReplayGuard::default(),
        }
    }
}

impl<S: Signer> Verifier<S> {
    /// A verifier of callbacks signed by one of `signers`.
    pub fn new(signers: Vec<Arc<S>>) -> Verifier<S> {
        Verifier {
            signers,
            seen: ReplayGuard::default(),
        }
    }

    /// Whether any signer is configured.
    pub fn is_empty(&self) -> bool {
        self.signers.is_empty()
    }

    /// The signers whose key makes `signature` the HMAC-SHA256 of `parts` (each compared in
    /// constant time); none: [`Refusal::BadSignature`].
    pub fn signed_by(&self, parts: &[&[u8]], signature: &[u8]) -> Result<Signed<'_, S>, Refusal> {
        let by: Vec<Arc<S>> = self
            .signers
            .iter()
            .filter(|s| hmac_matches(s.key(), parts, signature))
            .cloned()
            .collect();
        if by.is_empty() {
            return Err(Refusal::BadSignature);
        }
        Ok(Signed {
            seen: &self.seen,
            by,
        })
    }
}

/// A callback whose signature one or more configured keys made.
pub struct Signed<'a, S> {
    seen: &'a ReplayGuard,
    by: Vec<Arc<S>>,
}

impl<S: Signer> Signed<'_, S> {
    /// The tenants whose key signed it.
    pub fn tenants(&self) -> Vec<String> {
        self.by.iter().map(|s| s.tenant().to_string()).collect()
    }

    /// A [`Refusal::Malformed`] for the signers' tenants.
    pub fn malformed(&self, why: impl Into<String>) -> Refusal {
        Refusal::Malformed(self.tenants(), why.into())
    }

    /// Refuses it when its time `at` (Unix seconds) is more than [`MAX_SKEW_SECONDS`] from
    /// `now`, or when `replay_key` (its signature, or the vendor's delivery id) was taken
    /// before; otherwise remembers the key until the callback would be stale anyway.
    pub fn fresh_once(&self, at: i64, replay_key: &[u8], now: i64) -> Result<(), Refusal> {
        if (now - at).abs() > MAX_SKEW_SECONDS {
            return Err(Refusal::Stale(self.tenants()));
        }
        match self.seen.first_time(replay_key, at + MAX_SKEW_SECONDS, now) {
            Ok(()) => Ok(()),
            Err(Seen::Replayed) => Err(Refusal::Replayed(self.tenants())),
            Err(Seen::Full) => Err(Refusal::Busy),
        }
    }

    /// The first configured signer that signed it (for callbacks that name no tenant).
    pub fn first(self) -> Arc<S> {
        let mut by = self.by;
        // `signed_by` never makes a `Signed` of no signer.
        by.swap_remove(0)
    }

    /// The signer of `tenant` (the tenant the callback names); none: it names a tenant whose
    /// key did not sign it.
    pub fn of_tenant(self, tenant: &str, what: &str) -> Result<Arc<S>, Refusal> {
        let tenants = self.tenants();
        self.by
            .into_iter()
            .find(|s| s.tenant() == tenant)
            .ok_or_else(|| {
                Refusal::Malformed(
                    tenants,
                    format!("the {what} names tenant `{tenant}`, whose secret did not sign it"),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_shows_its_kind_and_never_its_key() {
        let config = crate::ConnectorsConfig::from_yaml(
            "
- name: tickets
  tenant: acme
  jira:
    base_url: https://acme.atlassian.net
    user: cavra@acme.example
    api_token: env:CAVRA_JIRA_TOKEN
    project: SEC
",
        )
        .expect("valid");
        let app = SignedApp::new(&config.0[0], b"hunter2-key".to_vec(), BTreeMap::new(), ());
        let shown = format!("{app:?}");
        assert!(
            shown.contains("\"jira\"") && shown.contains("tickets") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn hmac_matches_known_values_in_constant_time() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hmac_matches(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &mac
        ));
        assert!(!hmac_matches(
            b"Jefe",
            &[b"what do ya want for nothing!"],
            &mac
        ));
        assert!(!hmac_matches(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &mac[..31]
        ));
    }

    #[test]
    fn the_replay_guard_remembers_until_expiry_and_is_bounded() {
        let g = ReplayGuard::default();
        assert_eq!(g.first_time_within(b"a", 100, 0, 2), Ok(()));
        assert_eq!(g.first_time_within(b"a", 100, 50, 2), Err(Seen::Replayed));
        assert_eq!(g.first_time_within(b"b", 10, 0, 2), Ok(()));
        // Full of valid entries: refused, not forgotten.
        assert_eq!(g.first_time_within(b"c", 100, 5, 2), Err(Seen::Full));
        // Once `b` expired it makes room.
        assert_eq!(g.first_time_within(b"c", 100, 11, 2), Ok(()));
        assert_eq!(g.first_time_within(b"a", 200, 101, 2), Ok(()), "a expired");
    }

    struct Key(&'static str, &'static [u8]);
    impl Signer for Key {
        fn key(&self) -> &[u8] {
            self.1
        }
        fn tenant(&self) -> &str {
            self.0
        }
    }

    #[test]
    fn a_callback_is_signed_fresh_once_and_for_its_tenant() {
        let v = Verifier::new(vec![
            Arc::new(Key("a", b"secret-a")),
            Arc::new(Key("b", b"secret-b")),
            Arc::new(Key("c", b"secret-a")),
        ]);
        let sig = hmac_sha256(b"secret-a", &[b"100.", b"body"]);
        assert_eq!(
            v.signed_by(&[b"100.body"], &sig).err(),
            None,
            "parts are concatenated"
        );
        assert_eq!(
            v.signed_by(&[b"100.", b"bodY"], &sig).err(),
            Some(Refusal::BadSignature)
        );
        let signed = v.signed_by(&[b"100.", b"body"], &sig).expect("signed");
        assert_eq!(signed.tenants(), ["a", "c"], "one secret, two tenants");
        assert_eq!(
            signed.fresh_once(100, &sig, 100 + MAX_SKEW_SECONDS + 1),
            Err(Refusal::Stale(vec!["a".into(), "c".into()]))
        );
        assert_eq!(signed.fresh_once(100, &sig, 100 - MAX_SKEW_SECONDS), Ok(()));
        assert_eq!(
            signed.fresh_once(100, &sig, 101),
            Err(Refusal::Replayed(vec!["a".into(), "c".into()]))
        );
        let again = v.signed_by(&[b"100.", b"body"], &sig).expect("signed");
        assert!(matches!(
            again.of_tenant("b", "ticket"),
            Err(Refusal::Malformed(t, _)) if t == ["a", "c"]
        ));
        let again = v.signed_by(&[b"100.", b"body"], &sig).expect("signed");
        assert_eq!(again.of_tenant("c", "ticket").expect("c").tenant(), "c");
        assert_eq!(Refusal::Busy.word("x"), "busy");
        assert_eq!(Refusal::Malformed(vec![], String::new()).word("x"), "x");
    }
}
