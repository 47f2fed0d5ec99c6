//! Loading the policy that decides a request, written once: which pack applies (the explicit
//! reference, `CAVRA_POLICY`, the repository's `.cavra/policy.yaml`), the pack cache, and the
//! signature requirement (`--require-signed-policy`, `CAVRA_REQUIRE_SIGNED_POLICY`, or the
//! pack's own `metadata.require_signature`) checked against the trust root.
//!
//! The environment is passed in as a lookup, never read here: the hook server decides with its
//! client's environment, not its own.

use crate::signature;
use cavra_policy::{CompiledPack, PolicyError, ResolvedPack};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The built-in pack used when no policy is given and the repository has none (where a
/// fallback is allowed).
pub const DEFAULT_PACK: &str = "cavra-baseline";

/// A policy loaded for deciding: compiled, with what it was resolved from.
pub struct LoadedPack {
    /// The compiled pack that decides.
    pub compiled: CompiledPack,
    /// The resolved pack (recorded in the store once per digest).
    pub resolved: ResolvedPack,
}

/// Why no policy could be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No policy is named and the repository has none, where no built-in may stand in.
    #[error(
        "no policy: {} does not exist; run `cavra init <agent>` in the repository, or pass --policy builtin:cavra-baseline",
        .0.display()
    )]
    Missing(PathBuf),
    /// The pack cannot be read, parsed or resolved.
    #[error(
        "the policy {reference} cannot be used: {error}; fix it (`cavra policy validate {reference}`)"
    )]
    Unusable {
        /// The reference.
        reference: String,
        /// Where and why (file, line, column).
        error: Box<PolicyError>,
    },
    /// The pack resolves but does not compile.
    #[error(
        "the policy {reference} cannot be compiled: {error}; fix it (`cavra policy validate {reference}`)"
    )]
    Uncompilable {
        /// The reference.
        reference: String,
        /// Where and why.
        error: Box<PolicyError>,
    },
    /// Signed policies are required and the trust root cannot be read.
    #[error("{0}")]
    TrustRoot(String),
    /// Signed policies are required and a pack file's signature does not hold.
    #[error(
        "signed policies are required and {0}; nothing runs until the policy is signed by a trusted key"
    )]
    Unsigned(String),
}

impl LoadError {
    /// The policy error behind it, for a diagnostic with its source line.
    pub fn policy_error(&self) -> Option<&PolicyError> {
        match self {
            LoadError::Unusable { error, .. } | LoadError::Uncompilable { error, .. } => {
                Some(error)
            }
            _ => None,
        }
    }
}

/// Where the policy comes from, and the environment it is looked up in.
pub struct Source<'a> {
    /// The reference given explicitly (`--policy`): a path or a built-in id.
    pub explicit: Option<&'a str>,
    /// The repository root (its `.cavra/policy.yaml`, its trust root).
    pub repo_root: &'a Path,
    /// What relative references are resolved against (the caller's folder).
    pub base: &'a Path,
    /// Whether the built-in baseline stands in when nothing is named and the repository has
    /// no policy. The hook refuses instead: a repository whose policy went missing must not
    /// silently change rules.
    pub builtin_fallback: bool,
    /// Signed policies required whatever the environment says (`--require-signed-policy`).
    pub require_signed: bool,
    /// The trust root given explicitly (`--trust-root`).
    pub trust_root: Option<&'a Path>,
    /// The environment (`CAVRA_POLICY`, `CAVRA_REQUIRE_SIGNED_POLICY`, `CAVRA_TRUST_ROOT`, the
    /// pack cache's variables).
    pub var: &'a dyn Fn(&str) -> Option<OsString>,
}

impl<'a> Source<'a> {
    /// The source a CLI command reads: this process's environment, and the built-in baseline
    /// when nothing else applies.
    pub fn cli(explicit: Option<&'a str>, repo_root: &'a Path, base: &'a Path) -> Source<'a> {
        Source {
            explicit,
            repo_root,
            base,
            builtin_fallback: true,
            require_signed: false,
            trust_root: None,
            var: &process_env,
        }
    }

    fn text(&self, name: &str) -> Option<String> {
        (self.var)(name)
            .and_then(|v| v.into_string().ok())
            .filter(|v| !v.trim().is_empty())
    }

    /// The reference of the pack that applies.
    pub fn reference(&self) -> Result<String, LoadError> {
        if let Some(p) = self.explicit.filter(|p| !p.trim().is_empty()) {
            return Ok(p.to_string());
        }
        if let Some(p) = self.text("CAVRA_POLICY") {
            return Ok(p);
        }
        let local = self.repo_root.join(".cavra").join("policy.yaml");
        if local.is_file() {
            return Ok(local.to_string_lossy().into_owned());
        }
        if self.builtin_fallback {
            return Ok(DEFAULT_PACK.to_string());
        }
        Err(LoadError::Missing(local))
    }

    /// Whether signed policies are required before the pack is read (the flag or
    /// `CAVRA_REQUIRE_SIGNED_POLICY`); a pack can require it of itself as well.
    pub fn signing_required(&self) -> bool {
        self.require_signed
            || self
                .text("CAVRA_REQUIRE_SIGNED_POLICY")
                .is_some_and(|v| signature::required_by_value(Some(&v)))
    }

    /// Where resolved packs are cached (none: no cache).
    pub fn cache_dir(&self) -> Option<PathBuf> {
        pack_cache_dir_in(self.var)
    }

    /// Loads, checks the signatures of (when required) and compiles the pack of `reference`.
    pub fn load(&self, reference: &str) -> Result<LoadedPack, LoadError> {
        let resolved =
            resolve_pack_with_cache(reference, self.base, self.cache_dir()).map_err(|e| {
                LoadError::Unusable {
                    reference: reference.to_string(),
                    error: Box::new(e),
                }
            })?;
        if self.signing_required() || resolved.document.metadata.require_signature {
            let trust = signature::trust_root_in(
                self.trust_root,
                (self.var)("CAVRA_TRUST_ROOT").as_deref(),
                self.repo_root,
            )
            .map_err(LoadError::TrustRoot)?;
            signature::verify_chain(&resolved.chain, &trust).map_err(LoadError::Unsigned)?;
        }
        let compiled = cavra_policy::compile(&resolved).map_err(|e| LoadError::Uncompilable {
            reference: reference.to_string(),
            error: Box::new(e),
        })?;
        Ok(LoadedPack { compiled, resolved })
    }
}

/// The process's own environment, as a [`Source::var`] lookup.
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// Where resolved packs are cached: `$CAVRA_CACHE_DIR`, else `$XDG_CACHE_HOME/cavra/packs`,
/// else `~/.cache/cavra/packs`; none when `CAVRA_NO_CACHE` is set or no folder is known.
pub fn pack_cache_dir_in(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    if var("CAVRA_NO_CACHE").is_some() {
        return None;
    }
    let non_empty = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    non_empty("CAVRA_CACHE_DIR")
        .or_else(|| non_empty("XDG_CACHE_HOME").map(|d| d.join("cavra/packs")))
        .or_else(|| non_empty("HOME").map(|d| d.join(".cache/cavra/packs")))
}

/// Names this build of cavra, so one build never uses entries another build wrote (the
/// loader's meaning may differ between builds while a pack's text stays the same).
fn cache_namespace() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::metadata(p).ok());
    let stamp = exe
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            format!("{}-{}", m.len(), mtime.map(|d| d.as_nanos()).unwrap_or(0))
        })
        .unwrap_or_default();
    format!("{}-{stamp}", env!("CARGO_PKG_VERSION"))
}

/// Resolves a pack by reference, through the pack cache in `cache_dir` when there is one.
// `PolicyError` keeps its place and source for diagnostics; it is only built on the cold path.
#[allow(clippy::result_large_err)]
pub fn resolve_pack_with_cache(
    reference: &str,
    base: &Path,
    cache_dir: Option<PathBuf>,
) -> Result<ResolvedPack, PolicyError> {
    match cache_dir {
        Some(dir) => cavra_policy::load_pack_cached(reference, base, &dir, &cache_namespace()),
        None => cavra_policy::load_pack(reference, base),
    }
}

/// One pack checked by `cavra policy validate`: what it is when it loads, why not when not,
/// and the patterns that load but may not mean what their author expects.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Validated {
    /// The path or built-in id given.
    pub path: String,
    /// Whether it loads and compiles.
    pub ok: bool,
    /// Its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// How many rules it compiles to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<usize>,
    /// Why it does not load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Patterns that load but may not mean what their author expects.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Validated {
    /// A pack that loaded.
    pub fn valid(path: &str, resolved: &ResolvedPack, compiled: &CompiledPack) -> Self {
        Validated {
            path: path.to_string(),
            ok: true,
            id: Some(compiled.id.clone()),
            version: Some(compiled.version.clone()),
            digest: Some(compiled.digest.clone()),
            rules: Some(compiled.rules.len()),
            error: None,
            warnings: resolved.document.command_pattern_warnings(),
        }
    }

    /// A pack that did not.
    pub fn invalid(path: &str, error: &PolicyError) -> Self {
        Validated {
            path: path.to_string(),
            ok: false,
            id: None,
            version: None,
            digest: None,
            rules: None,
            error: Some(error.to_string()),
            warnings: Vec::new(),
        }
    }

    /// The line printed for a pack that loaded: `ok  PATH  (ID VERSION, N rules, DIGEST)`.
    pub fn ok_line(&self) -> String {
        format!(
            "ok  {}  ({} {}, {} rules, {})",
            self.path,
            self.id.as_deref().unwrap_or(""),
            self.version.as_deref().unwrap_or(""),
            self.rules.unwrap_or(0),
            self.digest.as_deref().unwrap_or("")
        )
    }
}

/// `cavra policy compile`: the resolved pack (inheritance merged) and its compiled rules.
pub fn compiled_view(resolved: &ResolvedPack, pack: &CompiledPack) -> serde_json::Value {
    serde_json::json!({
        "id": pack.id,
        "title": pack.title,
        "version": pack.version,
        "digest": pack.digest,
        "origin": pack.origin,
        "chain": pack.chain,
        "settings": cavra_policy::diff::settings(pack),
        "rules": cavra_policy::retained::rule_views(pack).into_values().collect::<Vec<_>>(),
        "pattern_count": pack.pattern_count(),
        "document": resolved.document,
    })
}

/// `cavra policy list`: the built-in packs, as JSON rows (id, title, description).
pub fn builtin_rows() -> Vec<serde_json::Value> {
    cavra_policy::builtin::builtin_packs()
        .iter()
        .map(|p| serde_json::json!({"id": p.id, "title": p.title, "description": p.description}))
        .collect()
}

/// `cavra policy list`: the built-in packs, a line each (`ID  TITLE — DESCRIPTION`).
pub fn builtin_text() -> String {
    let packs = cavra_policy::builtin::builtin_packs();
    let width = packs.iter().map(|p| p.id.len()).max().unwrap_or(0);
    packs
        .iter()
        .map(|p| format!("{:width$}  {} — {}\n", p.id, p.title, p.description))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn source<'a>(
        root: &'a Path,
        var: &'a dyn Fn(&str) -> Option<OsString>,
        builtin_fallback: bool,
    ) -> Source<'a> {
        Source {
            explicit: None,
            repo_root: root,
            base: root,
            builtin_fallback,
            require_signed: false,
            trust_root: None,
            var,
        }
    }

    #[test]
    fn a_validated_pack_names_itself_and_a_broken_one_says_why() {
        let resolved = cavra_policy::load_pack_str(
            "metadata: {id: t, version: '2'}\nfilesystem: {block_read: ['.env']}\n",
            "t.yaml",
            Path::new("/"),
        )
        .expect("pack");
        let compiled = cavra_policy::compile(&resolved).expect("compile");
        let ok = Validated::valid("t.yaml", &resolved, &compiled);
        assert_eq!(
            ok.ok_line(),
            format!(
                "ok  t.yaml  (t 2, {} rules, {})",
                compiled.rules.len(),
                compiled.digest
            )
        );
        let error = cavra_policy::load_pack_str("metadata: [", "bad.yaml", Path::new("/"))
            .expect_err("broken");
        let bad = Validated::invalid("bad.yaml", &error);
        let json = serde_json::to_value(&bad).expect("json");
        assert_eq!(json["ok"], false);
        assert!(
            json.get("id").is_none() && json.get("warnings").is_none(),
            "{json}"
        );
        assert_eq!(json["error"], error.to_string());
    }

    #[test]
    fn the_reference_is_explicit_then_the_environment_then_the_repository() {
        let dir = tempfile::tempdir().expect("tmp");
        let none = env(&[("CAVRA_NO_CACHE", "1")]);
        assert!(matches!(
            source(dir.path(), &none, false).reference(),
            Err(LoadError::Missing(_))
        ));
        assert_eq!(
            source(dir.path(), &none, true).reference().ok().as_deref(),
            Some(DEFAULT_PACK)
        );
        std::fs::create_dir(dir.path().join(".cavra")).expect("mkdir");
        std::fs::write(
            dir.path().join(".cavra/policy.yaml"),
            "metadata: {id: local, version: '1'}\n",
        )
        .expect("write");
        let local = source(dir.path(), &none, false).reference().expect("local");
        assert!(local.ends_with(".cavra/policy.yaml"), "{local}");
        let from_env = env(&[("CAVRA_POLICY", "builtin:cavra-baseline")]);
        assert_eq!(
            source(dir.path(), &from_env, false)
                .reference()
                .ok()
                .as_deref(),
            Some("builtin:cavra-baseline")
        );
        let mut explicit = source(dir.path(), &from_env, false);
        explicit.explicit = Some("other.yaml");
        assert_eq!(explicit.reference().ok().as_deref(), Some("other.yaml"));
    }

    #[test]
    fn a_pack_that_requires_signatures_is_refused_unsigned() {
        let dir = tempfile::tempdir().expect("tmp");
        let pack = dir.path().join("p.yaml");
        std::fs::write(
            &pack,
            "metadata: {id: p, version: '1', require_signature: true}\n",
        )
        .expect("write");
        let var = env(&[("CAVRA_NO_CACHE", "1")]);
        let src = source(dir.path(), &var, false);
        // No trust root: refused before anything compiles.
        let err = src.load(&pack.to_string_lossy()).err().expect("refused");
        assert!(matches!(err, LoadError::TrustRoot(_)), "{err}");
        // The same pack without the requirement loads.
        std::fs::write(&pack, "metadata: {id: p, version: '1'}\n").expect("write");
        assert!(src.load(&pack.to_string_lossy()).is_ok());
        // … unless the environment requires signatures.
        let strict = env(&[
            ("CAVRA_NO_CACHE", "1"),
            ("CAVRA_REQUIRE_SIGNED_POLICY", "1"),
        ]);
        let err = source(dir.path(), &strict, false)
            .load(&pack.to_string_lossy())
            .err()
            .expect("refused");
        assert!(matches!(err, LoadError::TrustRoot(_)), "{err}");
    }
}
