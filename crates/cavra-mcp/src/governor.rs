//! One place where the MCP server and the proxy decide, ask for approvals and record: the same
//! engine call, the repository's MCP registry, the store's approvals, and redacted records
//! written durably before anything is answered.

use crate::McpError;
use cavra_engine::{
    ActionType, DecisionRecord, Env, Explanation, PathResolver, Request, explain_with_registry,
};
use cavra_policy::{CompiledPack, ResolvedPack};
use cavra_runtime::decide::Call;
use cavra_runtime::record::{Caller, Context as StoredContext};
use cavra_store::{Approval, ApprovalState, LogSigner, Store};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Loads the repository's log key on demand (it signs checkpoints and, when no other key is
/// given, evidence bundles).
pub type KeyLoader = Arc<dyn Fn() -> Result<LogSigner, String> + Send + Sync>;

/// What a governor is built from.
pub struct GovernorConfig {
    /// The repository root.
    pub repo_root: PathBuf,
    /// The reference the policy was loaded by (a path or a built-in id).
    pub policy_reference: String,
    /// The resolved policy.
    pub resolved: ResolvedPack,
    /// The compiled policy.
    pub pack: CompiledPack,
    /// The repository's store, with its log key attached.
    pub store: Store,
    /// The log key.
    pub log_key: KeyLoader,
    /// The key that signs evidence bundles; None: the log key signs them.
    pub bundle_key: Option<LogSigner>,
    /// The session decisions are recorded under.
    pub session_id: String,
    /// The agent (`mcp` for the server, `mcp-proxy` for the gateway).
    pub agent: String,
    /// How long a pending approval stays valid.
    pub approval_ttl: Duration,
    /// Symlink resolution.
    pub resolver: Box<dyn PathResolver + Send>,
    /// The user's home folder.
    pub home: Option<String>,
}

/// What a governor for a repository is opened from (the flags of `cavra mcp serve|proxy`).
pub struct OpenOptions<'a> {
    /// The repository root.
    pub repo_root: PathBuf,
    /// The folder relative policy paths are read against.
    pub cwd: &'a Path,
    /// The policy named (a path or a built-in id); default: the runtime's rule.
    pub policy: Option<&'a str>,
    /// The session to record under; default: a fresh `mcp-…` id.
    pub session_id: Option<&'a str>,
    /// The agent (`mcp` for the server, `mcp-proxy` for the gateway).
    pub agent: &'a str,
    /// How long a pending approval stays valid.
    pub approval_ttl: Duration,
    /// The key that signs evidence bundles; None: the log key signs them.
    pub bundle_key: Option<LogSigner>,
}

/// Why a governor could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The policy cannot be loaded (as the hook would refuse it).
    #[error(transparent)]
    Policy(#[from] cavra_runtime::policy::LoadError),
    /// The repository's store cannot be opened.
    #[error("cannot open the decision store under {}/.cavra: {error}", root.display())]
    Store {
        /// The repository root.
        root: PathBuf,
        /// Why.
        error: cavra_store::StoreError,
    },
}

/// A decided request: the runtime's decided call (one request here), from which the caller
/// takes the record, the approval and its answer ([`Governed::verdict`]).
pub use cavra_runtime::decide::Governed;

/// Decides, asks for approvals and records.
pub struct Governor {
    repo_root: PathBuf,
    policy_reference: String,
    resolved: ResolvedPack,
    pack: CompiledPack,
    store: Store,
    log_key: KeyLoader,
    bundle_key: Option<LogSigner>,
    session_id: String,
    agent: String,
    approval_ttl: Duration,
    resolver: Box<dyn PathResolver + Send>,
    home: Option<String>,
}

fn now_string(now: OffsetDateTime) -> Result<String, McpError> {
    Ok(cavra_store::format_time(now)?)
}

impl Governor {
    /// A governor over this configuration.
    pub fn new(config: GovernorConfig) -> Self {
        Governor {
            repo_root: config.repo_root,
            policy_reference: config.policy_reference,
            resolved: config.resolved,
            pack: config.pack,
            store: config.store,
            log_key: config.log_key,
            bundle_key: config.bundle_key,
            session_id: config.session_id,
            agent: config.agent,
            approval_ttl: config.approval_ttl,
            resolver: config.resolver,
            home: config.home,
        }
    }

    /// Opens a governor for a repository: its policy loaded by the runtime's loader, as for
    /// the hook (so a pack, or CAVRA_REQUIRE_SIGNED_POLICY, that requires signatures is
    /// checked against the trust root here too), its store with the log key attached.
    pub fn open(options: OpenOptions<'_>) -> Result<Self, OpenError> {
        let repo_root = options.repo_root;
        let source = cavra_runtime::policy::Source::cli(options.policy, &repo_root, options.cwd);
        let reference = source.reference()?;
        let loaded = source.load(&reference)?;
        let mut store = Store::open_repo(&repo_root).map_err(|error| OpenError::Store {
            root: repo_root.clone(),
            error,
        })?;
        cavra_runtime::keyfiles::attach_log_key(&mut store, &repo_root);
        let key_root = repo_root.clone();
        let log_key: KeyLoader = Arc::new(move || {
            cavra_runtime::keyfiles::log_key(&key_root).map_err(|e| format!("{e:#}"))
        });
        let session_id = options
            .session_id
            .map(str::to_string)
            .unwrap_or_else(|| format!("mcp-{}", uuid::Uuid::now_v7()));
        Ok(Governor::new(GovernorConfig {
            repo_root,
            policy_reference: reference,
            resolved: loaded.resolved,
            pack: loaded.compiled,
            store,
            log_key,
            bundle_key: options.bundle_key,
            session_id,
            agent: options.agent.to_string(),
            approval_ttl: options.approval_ttl,
            resolver: Box::new(cavra_runtime::repo::FsResolver),
            home: cavra_runtime::repo::home_dir(),
        }))
    }

    /// The session decisions are recorded under.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Records later decisions under another session (the HTTP transport gives each MCP
    /// session its own).
    pub fn set_session_id(&mut self, session_id: String) {
        self.session_id = session_id;
    }

    /// The repository root.
    pub fn repo_root(&self) -> &Path {
        &self.repo_root
    }

    /// The policy in force: reference, origin, id, version, digest.
    pub fn policy(&self) -> Value {
        json!({
            "reference": self.policy_reference,
            "origin": self.resolved.origin,
            "id": self.pack.id,
            "version": self.pack.version,
            "digest": self.pack.digest,
            "chain": self.resolved.chain,
        })
    }

    /// The compiled policy.
    pub fn pack(&self) -> &CompiledPack {
        &self.pack
    }

    /// The store.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Fills in what the caller may not choose: the session, the agent, the repository.
    fn complete(&self, mut request: Request) -> Request {
        request.session_id = Some(self.session_id.clone());
        request.agent_id = Some(self.agent.clone());
        let root = self.repo_root.to_string_lossy().into_owned();
        if request.repo_root.is_none() {
            request.repo_root = Some(root.clone());
        }
        if request.cwd.is_none() {
            request.cwd = Some(root);
        }
        if request.home.is_none() {
            request.home.clone_from(&self.home);
        }
        request
    }

    fn registry(&self, request: &Request) -> Result<Option<cavra_engine::McpRegistry>, McpError> {
        if request.action != ActionType::McpToolCall {
            return Ok(None);
        }
        let registry = self.store.mcp_registry()?;
        Ok((!registry.is_empty()).then_some(registry))
    }

    /// Evaluates without recording (for filtering tool lists and explaining).
    pub fn evaluate_only(&self, request: Request) -> Result<DecisionRecord, McpError> {
        // The runtime's decide step, as every entry point takes it.
        self.unrecorded(request, |pack, request, env, registry| {
            cavra_runtime::decide::decide_one(
                pack,
                request,
                registry,
                env.timestamp,
                env.decision_id,
                env.resolver,
            )
        })
    }

    /// Explains a request's decision without recording it.
    pub fn explain(&self, request: Request) -> Result<Explanation, McpError> {
        self.unrecorded(request, explain_with_registry)
    }

    /// Runs `f` on the completed request with a fresh timestamp and decision id, recording
    /// nothing.
    fn unrecorded<T>(
        &self,
        request: Request,
        f: impl FnOnce(&CompiledPack, &Request, &Env<'_>, Option<&cavra_engine::McpRegistry>) -> T,
    ) -> Result<T, McpError> {
        let request = self.complete(request);
        let registry = self.registry(&request)?;
        let now = now_string(OffsetDateTime::now_utc())?;
        let id = uuid::Uuid::now_v7().to_string();
        let env = Env {
            timestamp: &now,
            decision_id: &id,
            resolver: self.resolver.as_ref(),
        };
        Ok(f(&self.pack, &request, &env, registry.as_ref()))
    }

    /// Decides a request and records it; a decision that needs approval uses an approval
    /// granted for exactly this action, else points at (or creates) a pending one. `context`
    /// (the MCP tool call, say) is stored with the record, redacted with it.
    pub fn decide(&mut self, request: Request, context: Value) -> Result<Governed, McpError> {
        self.decide_with(request, context, |_| {})
    }

    /// [`Governor::decide`] with a change to the record before approvals and recording (the
    /// proxy's built-in checks, such as a changed tool description). The runtime decides,
    /// resolves approvals and records, as for every entry point.
    pub fn decide_with(
        &mut self,
        request: Request,
        context: Value,
        adjust: impl FnOnce(&mut DecisionRecord),
    ) -> Result<Governed, McpError> {
        let request = self.complete(request);
        let caller = Caller {
            agent: self.agent.clone(),
            session_id: Some(self.session_id.clone()),
            cwd: request.cwd.clone(),
            tool_use_id: context
                .get("call_id")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        // Stored beside the record: the MCP call, and the arguments and capability decided.
        let mut stored: StoredContext = vec![("mcp".into(), context)];
        if let Some(args) = &request.arguments {
            stored.push(("arguments".into(), args.clone()));
        }
        if let Some(cap) = &request.capability {
            stored.push(("capability".into(), Value::String(cap.clone())));
        }
        let call = Call {
            caller: &caller,
            context: &stored,
            requested_by: self.requested_by(),
            approval_ttl: self.approval_ttl,
            ask: cavra_runtime::local::Ask::Approver,
            service: None,
        };
        let mut runtime = cavra_runtime::decide::Governor {
            store: &mut self.store,
            pack: &self.pack,
            resolved: &self.resolved,
            resolver: self.resolver.as_ref(),
        };
        Ok(runtime.decide(vec![request], &call, OffsetDateTime::now_utc(), adjust)?)
    }

    fn requested_by(&self) -> String {
        format!("{}:{}", self.agent, self.session_id)
    }

    /// Asks in advance for an approval of an action that needs one. An action that is allowed
    /// needs none; a blocked one cannot be approved.
    pub fn request_approval(
        &mut self,
        request: Request,
        context: Value,
    ) -> Result<Governed, McpError> {
        self.decide(request, context)
    }

    /// An approval by id.
    pub fn approval(&self, id: &str) -> Result<Option<Approval>, McpError> {
        Ok(self.store.approval(id)?)
    }

    /// Records what a forwarded tool call returned (redacted by the log like every entry).
    pub fn record_result(
        &mut self,
        decision_id: &str,
        call_id: Option<&str>,
        success: bool,
        result: &Value,
    ) -> Result<(), McpError> {
        use sha2::{Digest, Sha256};
        let redacted = self.pack.redactor().redact_json(result).value;
        let digest = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(result.to_string().as_bytes()))
        );
        let timestamp = cavra_store::Timestamp::now();
        self.store.record_outcome_with_result(
            &cavra_store::Outcome {
                tool_use_id: call_id.map(str::to_string),
                decision_id: Some(decision_id.to_string()),
                session_id: Some(self.session_id.clone()),
                success: Some(success),
                sha256: Some(digest),
                path: None,
                timestamp,
            },
            Some(&redacted),
        )?;
        Ok(())
    }

    /// The session's counts and its decisions, newest first.
    pub fn session_summary(&self, session_id: Option<&str>) -> Result<Value, McpError> {
        let id = session_id.unwrap_or(&self.session_id);
        let session = self.store.session(id)?;
        let decisions = self.store.decisions(&cavra_store::DecisionFilter {
            session_id: Some(id.to_string()),
            limit: Some(200),
            ..Default::default()
        })?;
        let rows: Vec<Value> = decisions
            .iter()
            .map(|d| {
                json!({
                    "decision_id": d.decision_id,
                    "timestamp": d.timestamp,
                    "action_type": d.action_type,
                    "decision": d.decision,
                    "rule_id": d.rule_id,
                    "target": d.record.get("target").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        let pending: Vec<Value> = self
            .store
            .approvals(Some(ApprovalState::Pending))?
            .into_iter()
            .filter(|a| a.session_id.as_deref() == Some(id))
            .map(|a| json!({"approval_id": a.id, "summary": a.summary, "expires_at": a.expires_at}))
            .collect();
        Ok(json!({
            "session_id": id,
            "found": session.is_some(),
            "decisions": session.as_ref().map(|s| s.decisions).unwrap_or(0),
            "blocked": session.as_ref().map(|s| s.blocked).unwrap_or(0),
            "approvals": session.as_ref().map(|s| s.approvals).unwrap_or(0),
            "warned": session.as_ref().map(|s| s.warned).unwrap_or(0),
            "outcomes": session.as_ref().map(|s| s.outcomes).unwrap_or(0),
            "first_seen": session.as_ref().map(|s| s.first_seen),
            "last_seen": session.as_ref().map(|s| s.last_seen),
            "pending_approvals": pending,
            "recent": rows,
        }))
    }

    /// Writes a signed evidence bundle of a session to `out` (inside the repository).
    pub fn evidence_bundle(
        &mut self,
        session_id: Option<&str>,
        out: &Path,
    ) -> Result<cavra_bundle::WrittenBundle, McpError> {
        let log = (self.log_key)().map_err(McpError::Bundle)?;
        let sign = match &self.bundle_key {
            Some(k) => LogSigner {
                key_id: k.key_id.clone(),
                key: k.key.clone(),
            },
            None => LogSigner {
                key_id: log.key_id.clone(),
                key: log.key.clone(),
            },
        };
        cavra_bundle::write_bundle(
            &mut self.store,
            out,
            cavra_bundle::BundleOptions {
                selection: cavra_bundle::Selection {
                    session_id: Some(session_id.unwrap_or(&self.session_id).to_string()),
                    since: None,
                    until: None,
                },
                sign: Some(&sign),
                log_signer: Some(&log),
                retention_days: 365,
                legal_hold: false,
                created_at: OffsetDateTime::now_utc(),
                progress: None,
            },
        )
        .map_err(|e| McpError::Bundle(e.to_string()))
    }
}
