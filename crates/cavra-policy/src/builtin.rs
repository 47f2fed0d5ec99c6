//! Packs shipped inside the binary. (Contract; implementation in progress.)

/// A built-in pack.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPack {
    /// Its id (`cavra-baseline`).
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// The YAML source.
    pub yaml: &'static str,
}

/// Every built-in pack.
pub fn builtin_packs() -> &'static [BuiltinPack] {
    &[]
}

/// The built-in pack with this id (with or without the `builtin:` prefix).
pub fn find(id: &str) -> Option<&'static BuiltinPack> {
    let id = id.strip_prefix("builtin:").unwrap_or(id);
    builtin_packs().iter().find(|p| p.id == id)
}
