//! Helpers the engine's integration tests share: a pack from YAML, and a fixed environment.
// Each test crate includes this module and uses part of it.
#![allow(dead_code)]

use cavra_engine::{CompiledPack, Env, NoSymlinks};
use cavra_policy::{compile, load_pack_str};
use std::path::Path;

/// A pack loaded from `yaml` (no parents on disk) and compiled; panics with the error.
pub fn pack(yaml: &str) -> CompiledPack {
    let resolved =
        load_pack_str(yaml, "<test>", Path::new(".")).unwrap_or_else(|e| panic!("pack loads: {e}"));
    compile(&resolved).unwrap_or_else(|e| panic!("pack compiles: {e}"))
}

/// A fixed time and decision id, no symlinks.
pub fn env() -> Env<'static> {
    Env {
        timestamp: "2026-01-01T00:00:00Z",
        decision_id: "d-1",
        resolver: &NoSymlinks,
    }
}
