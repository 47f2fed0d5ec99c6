//! Policy packs on the service: uploads are parsed, validated and (by default) signature
//! checked; they may inherit only built-in packs (the service never reads its own disk on a
//! tenant's behalf); compiled packs are cached by digest.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use cavra_evidence::trust::TrustRoot;
use cavra_policy::{CompiledPack, compile, load_pack, load_pack_str};
use sha2::{Digest, Sha256};

/// Prefix of a built-in pack reference.
pub const BUILTIN: &str = "builtin:";

/// Compiled packs by reference (`builtin:<id>` or an upload's digest).
#[derive(Default)]
pub struct PackCache {
    compiled: RwLock<HashMap<String, Arc<CompiledPack>>>,
}

/// An upload that passed every check.
pub struct CheckedUpload {
    /// `sha256:…` of the document's canonical form (what a signature covers).
    pub digest: String,
    /// `metadata.id`.
    pub pack_id: String,
    /// The verified signature, when any.
    pub signed_by: Option<serde_json::Value>,
    /// The compiled pack.
    pub compiled: Arc<CompiledPack>,
}

/// Why an upload is refused (each a 422 for the caller).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The YAML or the pack is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A signature is needed or does not hold.
    #[error("{0}")]
    Signature(String),
}

/// The canonical digest of a pack document's text.
pub fn document_digest(text: &str, origin: &str) -> Result<(String, String), String> {
    let document = cavra_policy::parse_document(text, origin).map_err(|e| e.to_string())?;
    let canonical = cavra_policy::canonical_document(&document).map_err(|e| e.message)?;
    Ok((
        document.metadata.id.clone(),
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        ),
    ))
}

/// The reference of a built-in pack id, if it is one.
pub fn builtin_reference(name: &str) -> Option<String> {
    let id = name.strip_prefix(BUILTIN).unwrap_or(name);
    cavra_policy::builtin::find(id).map(|p| format!("{BUILTIN}{}", p.id))
}

impl PackCache {
    /// A compiled pack from the cache.
    pub fn get(&self, reference: &str) -> Option<Arc<CompiledPack>> {
        self.compiled.read().ok()?.get(reference).cloned()
    }

    fn put(&self, reference: &str, pack: Arc<CompiledPack>) {
        if let Ok(mut map) = self.compiled.write() {
            map.insert(reference.to_string(), pack);
        }
    }

    /// Compiles a built-in pack (cached).
    pub fn builtin(&self, reference: &str) -> Result<Arc<CompiledPack>, String> {
        if let Some(p) = self.get(reference) {
            return Ok(p);
        }
        let id = reference.strip_prefix(BUILTIN).unwrap_or(reference);
        let resolved = load_pack(id, Path::new("/")).map_err(|e| e.to_string())?;
        let compiled = Arc::new(compile(&resolved).map_err(|e| e.to_string())?);
        self.put(reference, compiled.clone());
        Ok(compiled)
    }

    /// Compiles a stored upload's text (cached by its digest).
    pub fn uploaded(&self, digest: &str, text: &str) -> Result<Arc<CompiledPack>, String> {
        if let Some(p) = self.get(digest) {
            return Ok(p);
        }
        let compiled = Arc::new(compile_upload(text, digest)?);
        self.put(digest, compiled.clone());
        Ok(compiled)
    }

    /// Checks an upload: valid, inheriting only built-in packs, signed when required.
    pub fn check_upload(
        &self,
        text: &str,
        signature: Option<&str>,
        require_signature: bool,
        trust: Option<&TrustRoot>,
    ) -> Result<CheckedUpload, UploadError> {
        let (pack_id, digest) = document_digest(text, "<upload>").map_err(UploadError::Invalid)?;
        let signed_by = match (signature, trust) {
            (Some(sig), Some(trust)) => {
                let by = cavra_evidence::pack_signature::verify(sig, &pack_id, &digest, trust)
                    .map_err(UploadError::Signature)?;
                Some(
                    serde_json::json!({"key_id": by.key_id, "status": format!("{:?}", by.status).to_lowercase()}),
                )
            }
            (Some(_), None) => {
                return Err(UploadError::Signature(
                    "the service has no trust root to check pack signatures against".into(),
                ));
            }
            (None, _) if require_signature => {
                return Err(UploadError::Signature(format!(
                    "pack `{pack_id}` is not signed; this service accepts only packs signed by a key of its trust root (sign it with `cavra policy sign`)"
                )));
            }
            (None, _) => None,
        };
        let compiled = Arc::new(compile_upload(text, &digest).map_err(UploadError::Invalid)?);
        self.put(&digest, compiled.clone());
        Ok(CheckedUpload {
            digest,
            pack_id,
            signed_by,
            compiled,
        })
    }
}

fn compile_upload(text: &str, digest: &str) -> Result<CompiledPack, String> {
    let document = cavra_policy::parse_document(text, "<upload>").map_err(|e| e.to_string())?;
    for parent in &document.metadata.inherits {
        if builtin_reference(parent).is_none() {
            return Err(format!(
                "metadata.inherits: `{parent}` is not a built-in pack; packs on the service may inherit only built-in packs"
            ));
        }
    }
    let origin = format!("upload:{digest}");
    let resolved = load_pack_str(text, &origin, Path::new("/nonexistent-cavra-upload-base"))
        .map_err(|e| e.to_string())?;
    compile(&resolved).map_err(|e| e.to_string())
}
