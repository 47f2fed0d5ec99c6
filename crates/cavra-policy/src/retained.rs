//! Packs as evidence keeps them: the canonical JSON of a merged document (what its digest is
//! computed over) turned back into a pack that decides exactly as it did, and rules shown as
//! their author wrote them.

use crate::compile::{CompiledPack, CompiledRule};
use crate::document::PackDocument;
use crate::error::{PolicyError, PolicyErrorKind};
use crate::load::{ResolvedPack, digest};
use serde::Serialize;
use std::collections::BTreeMap;

/// A merged pack from its canonical JSON (as the store and evidence bundles keep it), named
/// `origin`. Its digest is computed from the document again, so a caller compares it with the
/// digest it expected to learn whether the kept text is the pack that decided.
pub fn from_canonical(canonical: &str, origin: &str) -> Result<ResolvedPack, PolicyError> {
    let document: PackDocument = serde_json::from_str(canonical).map_err(|e| {
        PolicyError::new(
            PolicyErrorKind::Invalid,
            format!("{origin}: the kept pack is not a pack document: {e}"),
        )
    })?;
    let digest = digest(&document)?;
    Ok(ResolvedPack {
        document,
        origin: origin.to_string(),
        chain: vec![origin.to_string()],
        digest,
        source_text: canonical.into(),
    })
}

/// A rule as its author wrote it: what `policy compile` shows, `policy diff` compares and
/// `policy explain --decision` quotes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleView {
    /// The rule id.
    pub id: String,
    /// The action types it applies to.
    pub actions: Vec<String>,
    /// Its decision.
    pub decision: String,
    /// Its severity.
    pub severity: String,
    /// Its reason, when the pack gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who approves, when the pack names a group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approver_group: Option<String>,
    /// The patterns as written.
    pub patterns: Vec<String>,
}

impl RuleView {
    /// The view of one compiled rule.
    pub fn of(r: &CompiledRule) -> RuleView {
        RuleView {
            id: r.id.clone(),
            actions: r.actions.iter().map(|a| a.as_str().to_string()).collect(),
            decision: r.decision.as_str().to_string(),
            severity: r.severity.as_str().to_string(),
            reason: r.reason.clone(),
            approver_group: r.approver_group.clone(),
            patterns: r.patterns.clone(),
        }
    }
}

/// Every rule of a pack by id. A custom rule over several pattern kinds is compiled into
/// several entries with one id; it is one rule to its author, so their patterns are joined.
pub fn rule_views(pack: &CompiledPack) -> BTreeMap<String, RuleView> {
    let mut out: BTreeMap<String, RuleView> = BTreeMap::new();
    for r in &pack.rules {
        let view = RuleView::of(r);
        out.entry(r.id.clone())
            .and_modify(|v| v.patterns.extend(view.patterns.iter().cloned()))
            .or_insert(view);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{builtin, canonical_document, compile, load_pack};
    use std::path::Path;

    #[test]
    fn every_builtin_pack_comes_back_from_its_canonical_form_with_its_digest() {
        for pack in builtin::builtin_packs() {
            let resolved = load_pack(pack.id, Path::new("/")).expect("built-in pack loads");
            let canonical = canonical_document(&resolved.document).expect("canonical");
            let back = from_canonical(&canonical, "kept").expect("comes back");
            assert_eq!(back.digest, resolved.digest, "{}", pack.id);
            assert_eq!(back.document, resolved.document, "{}", pack.id);
            let a = rule_views(&compile(&resolved).expect("compiles"));
            let b = rule_views(&compile(&back).expect("compiles again"));
            assert_eq!(a, b, "{}", pack.id);
        }
    }

    #[test]
    fn a_changed_kept_pack_has_another_digest_and_garbage_is_refused() {
        let resolved = load_pack("cavra-baseline", Path::new("/")).expect("loads");
        let canonical = canonical_document(&resolved.document).expect("canonical");
        let changed = canonical.replacen("\"1.0.0\"", "\"1.0.1\"", 1);
        assert_ne!(changed, canonical, "the pack has a version");
        let back = from_canonical(&changed, "kept").expect("still a document");
        assert_ne!(back.digest, resolved.digest);
        assert!(from_canonical("{\"nope\": 1}", "kept").is_err());
        assert!(from_canonical("not json", "kept").is_err());
    }
}
