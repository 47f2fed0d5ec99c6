//! The cavra decision core.
//!
//! A pure function of (compiled pack, request, the caller's clock value and ids): no I/O, no
//! global state. Every entry point — CLI, agent hooks, the API service, MCP, the CI gate —
//! builds a [`Request`] and calls [`evaluate`]; nothing decides anywhere else.

pub mod evaluate;
pub mod guards;
pub mod paths;
pub mod record;
pub mod registry;
pub mod request;
pub mod testing;

pub use cavra_policy::{ActionType, CompiledPack, Decision, Mode, Severity};
pub use evaluate::{
    Env, Explanation, Normalization, Subject, evaluate, evaluate_with_registry, explain,
    explain_with_registry, normalize,
};
pub use paths::{NoSymlinks, PATCH_READ_LIMIT, PatchText, PathResolver};
pub use record::{DecisionRecord, RuleMatch};
pub use registry::{
    McpRegistry, McpServerEntry, RegistryVerdict, ServerApproval, ToolCapability, TrustTier,
};
pub use request::Request;
