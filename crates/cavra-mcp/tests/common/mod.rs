//! A governor over a scratch repository, for the transport tests.

use cavra_mcp::{Governor, GovernorConfig, KeyLoader};
use cavra_store::LogSigner;
use std::sync::Arc;
use std::time::Duration;

/// A governor with the built-in baseline over a fresh store in `dir`.
pub fn governor(dir: &std::path::Path) -> Governor {
    let resolved = cavra_policy::load_pack("cavra-baseline", dir).expect("baseline loads");
    let pack = cavra_policy::compile(&resolved).expect("baseline compiles");
    let store = cavra_store::Store::open_repo(dir).expect("store");
    let log_key: KeyLoader = Arc::new(|| {
        let key = cavra_evidence::keys::from_seed(&[7u8; 32]);
        Ok(LogSigner {
            key_id: "log-test".into(),
            key,
        })
    });
    Governor::new(GovernorConfig {
        repo_root: dir.to_path_buf(),
        policy_reference: "cavra-baseline".into(),
        resolved,
        pack,
        store,
        log_key,
        bundle_key: None,
        session_id: "test-session".into(),
        agent: "mcp".into(),
        approval_ttl: Duration::from_secs(600),
        resolver: Box::new(cavra_engine::NoSymlinks),
        home: None,
    })
}
