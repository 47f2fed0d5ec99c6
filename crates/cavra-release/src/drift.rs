//! Trust-root drift: the trust root in use compared, key by key, with the one the distributed
//! trust package carries and with what each service replica reports using. Any difference —
//! a key one side lacks, another fingerprint under the same id, another status or validity — is
//! drift, named by key and by side, so the readiness gate can act on it.

use std::collections::BTreeSet;

use cavra_evidence::trust::{KeyRecord, TrustRoot};
use serde::{Deserialize, Serialize};

/// One trust root to compare, and where it came from.
#[derive(Debug, Clone)]
pub struct Side {
    /// `package`, or the service's address.
    pub name: String,
    /// Its trust root; `None` when the side uses none (a service with no trust root set).
    pub root: Option<TrustRoot>,
}

/// What kind of difference a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// The other side trusts a key the trust root in use does not hold.
    MissingInUse,
    /// The trust root in use holds a key the other side does not.
    MissingThere,
    /// The same key id names another public key.
    FingerprintDiffers,
    /// Active, retired or revoked differs.
    StatusDiffers,
    /// The validity window differs.
    ValidityDiffers,
    /// The other side uses no trust root at all.
    NoTrustRoot,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Which side differs from the trust root in use.
    pub side: String,
    /// The key (empty for [`DriftKind::NoTrustRoot`]).
    pub key_id: String,
    /// What differs.
    pub kind: DriftKind,
    /// In words: both values.
    pub detail: String,
}

/// A side's summary.
#[derive(Debug, Clone, Serialize)]
pub struct SideSummary {
    /// Its name.
    pub name: String,
    /// `sha256:` of its canonical keys (equal digests: equal trust), when it has a trust root.
    pub digest: Option<String>,
    /// How many keys.
    pub keys: usize,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The trust root in use.
    pub in_use: SideSummary,
    /// Each side compared.
    pub compared: Vec<SideSummary>,
    /// Every difference.
    pub drift: Vec<Finding>,
}

impl Status {
    /// Whether everything compared agrees with the trust root in use.
    pub fn in_sync(&self) -> bool {
        self.drift.is_empty()
    }

    /// The comparison as `cavra trust status` prints it: each side's keys and digest, then
    /// `in sync` or each difference.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        // Writing to a String cannot fail.
        let mut out = String::new();
        let _ = writeln!(
            out,
            "trust root in use: {} key(s), {}",
            self.in_use.keys,
            self.in_use.digest.as_deref().unwrap_or("-")
        );
        for s in &self.compared {
            let _ = writeln!(
                out,
                "  {}: {} key(s), {}",
                s.name,
                s.keys,
                s.digest.as_deref().unwrap_or("no trust root")
            );
        }
        if self.in_sync() {
            let _ = writeln!(out, "in sync");
        } else {
            for f in &self.drift {
                let _ = writeln!(out, "drift: {} {}: {}", f.side, f.key_id, f.detail);
            }
        }
        out
    }
}

/// `sha256:` of the trust root's keys in canonical JSON, sorted by key id: the same keys with
/// the same status and validity give the same digest, whatever their order in the file.
pub fn digest(root: &TrustRoot) -> String {
    let mut keys = root.keys.clone();
    keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
    let value = serde_json::to_value(&keys).unwrap_or_default();
    format!(
        "sha256:{}",
        crate::sha256_hex(&cavra_evidence::canonical::to_canonical_bytes(&value))
    )
}

fn summary(name: &str, root: Option<&TrustRoot>) -> SideSummary {
    SideSummary {
        name: name.to_string(),
        digest: root.map(digest),
        keys: root.map_or(0, |r| r.keys.len()),
    }
}

fn window(k: &KeyRecord) -> String {
    format!(
        "{} to {}",
        k.valid_from,
        k.valid_until.as_deref().unwrap_or("open")
    )
}

/// Compares the trust root in use with each side.
pub fn compare(in_use: &TrustRoot, sides: &[Side]) -> Status {
    let mut drift = Vec::new();
    for side in sides {
        let Some(other) = &side.root else {
            drift.push(Finding {
                side: side.name.clone(),
                key_id: String::new(),
                kind: DriftKind::NoTrustRoot,
                detail: "uses no trust root".into(),
            });
            continue;
        };
        let ids: BTreeSet<&str> = in_use
            .keys
            .iter()
            .chain(&other.keys)
            .map(|k| k.key_id.as_str())
            .collect();
        for id in ids {
            let mut push = |kind, detail: String| {
                drift.push(Finding {
                    side: side.name.clone(),
                    key_id: id.to_string(),
                    kind,
                    detail,
                })
            };
            match (in_use.get(id), other.get(id)) {
                (None, Some(k)) => push(
                    DriftKind::MissingInUse,
                    format!(
                        "{} trusts {id} ({}), the trust root in use does not",
                        side.name,
                        k.status.as_str()
                    ),
                ),
                (Some(k), None) => push(
                    DriftKind::MissingThere,
                    format!(
                        "the trust root in use trusts {id} ({}), {} does not",
                        k.status.as_str(),
                        side.name
                    ),
                ),
                (Some(a), Some(b)) => {
                    if a.fingerprint != b.fingerprint {
                        push(
                            DriftKind::FingerprintDiffers,
                            format!("in use {}, {} {}", a.fingerprint, side.name, b.fingerprint),
                        );
                        continue;
                    }
                    if a.status != b.status {
                        push(
                            DriftKind::StatusDiffers,
                            format!(
                                "in use {}, {} {}",
                                a.status.as_str(),
                                side.name,
                                b.status.as_str()
                            ),
                        );
                    }
                    if window(a) != window(b) {
                        push(
                            DriftKind::ValidityDiffers,
                            format!("in use {}, {} {}", window(a), side.name, window(b)),
                        );
                    }
                }
                (None, None) => {}
            }
        }
    }
    Status {
        in_use: summary("in use", Some(in_use)),
        compared: sides
            .iter()
            .map(|s| summary(&s.name, s.root.as_ref()))
            .collect(),
        drift,
    }
}

/// The trust root a distributed trust package carries, once its signature holds against
/// `in_use` (or the key of `fingerprint` in it, told out of band) and every pack in it verifies.
pub fn package_trust_root(
    package: &std::path::Path,
    fingerprint: Option<&str>,
    in_use: &TrustRoot,
    trust_path: &std::path::Path,
) -> Result<TrustRoot, crate::ReleaseError> {
    let text = String::from_utf8_lossy(&crate::read(package)?).into_owned();
    cavra_runtime::trust_package::open_text(&text, fingerprint, in_use.clone(), trust_path)
        .map(|opened| opened.trust_root)
        .map_err(|e| crate::package_error(&package.display().to_string(), e))
}

/// The trust root a service replica reports using (`GET /v1/trust`): `None` when it uses none.
pub fn reported_trust_root(answer: &serde_json::Value) -> Result<Option<TrustRoot>, String> {
    match answer.get("trust_root") {
        None => Err("the answer has no trust_root field (not a cavra service?)".into()),
        Some(serde_json::Value::Null) => Ok(None),
        Some(v) => TrustRoot::from_json(&v.to_string())
            .map(Some)
            .map_err(|e| format!("the reported trust root: {e}")),
    }
}

/// A replica as a side to compare: its address and the trust root its `GET /v1/trust`
/// `answer` reports.
pub fn replica_side(url: &str, answer: &serde_json::Value) -> Result<Side, crate::ReleaseError> {
    let root = reported_trust_root(answer)
        .map_err(|e| crate::ReleaseError::Verify(format!("{url}: {e}")))?;
    Ok(Side {
        name: url.to_string(),
        root,
    })
}

/// `cavra trust status`: the trust root file `trust_path` compared with the trust package
/// `package` (opened with `fingerprint` when given) and with each replica's `GET /v1/trust`
/// answer (by its address).
pub fn status_of(
    trust_path: &std::path::Path,
    package: Option<&std::path::Path>,
    fingerprint: Option<&str>,
    replicas: &[(String, serde_json::Value)],
) -> Result<Status, crate::ReleaseError> {
    let in_use = cavra_runtime::trust_file::read(trust_path)
        .map_err(|e| crate::ReleaseError::Verify(format!("{}: {e}", trust_path.display())))?;
    let mut sides = Vec::new();
    if let Some(package) = package {
        let root = package_trust_root(package, fingerprint, &in_use, trust_path)?;
        sides.push(Side {
            name: format!("package {}", package.display()),
            root: Some(root),
        });
    }
    for (server, answer) in replicas {
        let root = reported_trust_root(answer)
            .map_err(|e| crate::ReleaseError::Verify(format!("{server}: {e}")))?;
        sides.push(Side {
            name: server.clone(),
            root,
        });
    }
    Ok(compare(&in_use, &sides))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_evidence::keys::from_seed;
    use cavra_evidence::trust::KeyRecord;

    fn root(seeds: &[(u8, &str)]) -> TrustRoot {
        let mut r = TrustRoot::default();
        for (seed, id) in seeds {
            let key = from_seed(&[*seed; 32]).verifying_key();
            r.add(
                KeyRecord::new(*id, "ops", &key, time::OffsetDateTime::UNIX_EPOCH, None).unwrap(),
            )
            .unwrap();
        }
        r
    }

    #[test]
    fn equal_roots_do_not_drift_whatever_the_order() {
        let a = root(&[(1, "a"), (2, "b")]);
        let b = root(&[(2, "b"), (1, "a")]);
        let s = compare(
            &a,
            &[Side {
                name: "package".into(),
                root: Some(b),
            }],
        );
        assert!(s.in_sync(), "{:?}", s.drift);
        assert_eq!(s.in_use.digest, s.compared[0].digest);
        let digest = s.in_use.digest.clone().unwrap_or_default();
        assert_eq!(
            s.to_text(),
            format!(
                "trust root in use: 2 key(s), {digest}\n  package: 2 key(s), {digest}\nin sync\n"
            )
        );
        let missing = compare(
            &a,
            &[Side {
                name: "replica".into(),
                root: None,
            }],
        );
        let text = missing.to_text();
        assert!(
            text.contains("\n  replica: 0 key(s), no trust root\ndrift: replica "),
            "{text}"
        );
    }

    #[test]
    fn every_kind_of_drift_is_named() {
        let in_use = root(&[(1, "a"), (2, "b"), (3, "c")]);
        let mut other = root(&[(1, "a"), (9, "b"), (3, "c"), (4, "d")]);
        other
            .revoke("c", "leaked", time::OffsetDateTime::UNIX_EPOCH)
            .unwrap();
        let mut in_use2 = in_use.clone();
        in_use2.keys.retain(|k| k.key_id != "a");
        let s = compare(
            &in_use2,
            &[
                Side {
                    name: "package".into(),
                    root: Some(other),
                },
                Side {
                    name: "http://replica-2".into(),
                    root: None,
                },
            ],
        );
        let kinds: Vec<(String, DriftKind)> =
            s.drift.iter().map(|f| (f.key_id.clone(), f.kind)).collect();
        assert!(
            kinds.contains(&("a".into(), DriftKind::MissingInUse)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("d".into(), DriftKind::MissingInUse)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("b".into(), DriftKind::FingerprintDiffers)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("c".into(), DriftKind::StatusDiffers)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&(String::new(), DriftKind::NoTrustRoot)),
            "{kinds:?}"
        );
        assert!(!s.in_sync());
        let missing_there = compare(
            &in_use,
            &[Side {
                name: "package".into(),
                root: Some(root(&[(1, "a")])),
            }],
        );
        assert!(
            missing_there
                .drift
                .iter()
                .any(|f| f.kind == DriftKind::MissingThere && f.key_id == "b")
        );
    }
}
