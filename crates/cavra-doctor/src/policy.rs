//! The policy: which pack decides, whether it loads, its mode, and whether it is signed.

use crate::agents::Installed;
use crate::{Finding, Setup, Status, keys::read_trust_root};
use cavra_policy::{Mode, builtin};
use std::path::{Path, PathBuf};

/// The pack the hooks use: the one given (`--policy`, `CAVRA_POLICY`), else the one a hook
/// command names (`--policy`/`-p`), else the repository's `.cavra/policy.yaml`; none when
/// there is none of these (the hook then denies every call, and never falls back to a
/// built-in pack).
fn reference(setup: &Setup, installed: &[Installed]) -> Option<String> {
    if let Some(p) = setup.policy.as_deref().filter(|p| !p.trim().is_empty()) {
        return Some(p.to_string());
    }
    let named = installed.iter().flat_map(|i| &i.commands).find_map(|c| {
        let at = c
            .options
            .iter()
            .position(|o| o == "--policy" || o == "-p")?;
        c.options.get(at + 1).cloned()
    });
    if named.is_some() {
        return named;
    }
    let local = setup
        .repo_root
        .join(cavra_store::STORE_DIR)
        .join("policy.yaml");
    local
        .is_file()
        .then(|| local.to_string_lossy().into_owned())
}

/// Loads and compiles the pack (without the pack cache, which would write), then reports its
/// mode and signature.
pub fn check_policy(setup: &Setup, installed: &[Installed], out: &mut Vec<Finding>) {
    let Some(reference) = reference(setup, installed) else {
        let (status, summary) = if installed.is_empty() {
            (
                Status::Info,
                "no .cavra/policy.yaml (`cavra evaluate` uses the built-in cavra-baseline)",
            )
        } else {
            (
                Status::Fail,
                "no policy: .cavra/policy.yaml does not exist and CAVRA_POLICY is not set, so the hooks deny every call",
            )
        };
        out.push(Finding::new("policy", status, summary).fix(
            "run `cavra init <agent>` to write .cavra/policy.yaml (a pack to review and edit), or give the hook command --policy builtin:cavra-baseline",
        ));
        return;
    };
    // A bad pack is the cold path here; its error carries place and source for the message.
    let loaded = cavra_policy::load_pack(&reference, &setup.repo_root)
        .map_err(|e| e.to_string())
        .and_then(|resolved| {
            cavra_policy::compile(&resolved)
                .map(|c| (resolved, c))
                .map_err(|e| e.to_string())
        });
    let (resolved, compiled) = match loaded {
        Ok(pair) => pair,
        Err(e) => {
            out.push(
                Finding::new("policy", Status::Fail, format!("the pack does not load: {e}"))
                    .fix(format!(
                        "correct it (`cavra policy validate {reference}` shows the place); until it loads every hook call is denied"
                    )),
            );
            return;
        }
    };
    let summary = format!(
        "{} {} from {}: {} rules, mode {}, digest {}",
        compiled.id,
        compiled.version,
        compiled.origin,
        compiled.rules.len(),
        compiled.mode,
        compiled.digest
    );
    out.push(Finding::new("policy", Status::Ok, summary));
    let top = resolved.chain.last().cloned().unwrap_or_default();
    match compiled.mode {
        Mode::Enforce => {}
        Mode::Strict => out.push(Finding::new(
            "policy.mode",
            Status::Info,
            "mode strict: every allowed action also needs a person's approval",
        )),
        Mode::AuditOnly => out.push(
            Finding::new(
                "policy.mode",
                Status::Warn,
                "mode audit_only: nothing is blocked or held for approval; decisions are only recorded",
            )
            .fix(format!("set `mode: enforce` under metadata in {top} once the audit period is over")),
        ),
        Mode::BreakGlass => out.push(
            Finding::new(
                "policy.mode",
                Status::Warn,
                "mode break_glass: blocked actions proceed whenever an actor and a reason are given",
            )
            .fix(format!("set `mode: enforce` under metadata in {top} when the incident is closed")),
        ),
    }
    check_signatures(setup, &resolved, out);
}

/// Every file pack of the chain: signed or not, and whether the signature holds.
fn check_signatures(setup: &Setup, resolved: &cavra_policy::ResolvedPack, out: &mut Vec<Finding>) {
    let files: Vec<&String> = resolved
        .chain
        .iter()
        .filter(|origin| !origin.starts_with("builtin:") && builtin::find(origin).is_none())
        .collect();
    if files.is_empty() {
        return;
    }
    let required = resolved.document.metadata.require_signature;
    let trust = read_trust_root(setup);
    for origin in files {
        let path = PathBuf::from(origin);
        let sig = signature_path(&path);
        let Ok(envelope) = std::fs::read_to_string(&sig) else {
            let (status, summary) = if required {
                (
                    Status::Fail,
                    format!(
                        "{origin} is not signed and the pack requires a signature: every hook call is denied"
                    ),
                )
            } else {
                (Status::Info, format!("{origin} is not signed"))
            };
            out.push(
                Finding::new("policy.signature", status, summary).fix(format!(
                    "sign it with `cavra policy sign {origin} --key KEY` and make hooks refuse unsigned packs with --require-signed-policy"
                )),
            );
            continue;
        };
        let trust = match &trust {
            None => {
                out.push(
                    Finding::new(
                        "policy.signature",
                        Status::Info,
                        format!(
                            "{origin} carries a signature ({}), not checked here",
                            sig.display()
                        ),
                    )
                    .fix("give --trust-root FILE (or CAVRA_TRUST_ROOT) to check it"),
                );
                continue;
            }
            Some(Err(_)) => continue, // reported by the trust root check
            Some(Ok(trust)) => trust,
        };
        let verified = std::fs::read_to_string(&path)
            .map_err(|e| format!("{origin}: {e}"))
            .and_then(|text| {
                let document =
                    cavra_policy::parse_document(&text, origin).map_err(|e| e.to_string())?;
                cavra_policy::load::digest(&document).map_err(|e| e.to_string())
            })
            .and_then(|digest| {
                cavra_evidence::pack_signature::verify(&envelope, origin, &digest, trust)
            });
        match verified {
            Ok(by) => out.push(Finding::new(
                "policy.signature",
                Status::Ok,
                format!("{origin} is signed by {} ({})", by.key_id, by.status.as_str()),
            )),
            Err(why) => out.push(
                Finding::new(
                    "policy.signature",
                    Status::Fail,
                    format!("{origin}: the signature does not hold: {why}"),
                )
                .fix(format!(
                    "if the change to the pack is intended, have it reviewed and re-signed (`cavra policy sign {origin} --key KEY`); otherwise restore the signed version"
                )),
            ),
        }
    }
}

/// Where a pack's detached signature lives (`PACK.sig`, as `cavra policy sign` writes it).
fn signature_path(pack: &Path) -> PathBuf {
    let mut name = pack.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}
