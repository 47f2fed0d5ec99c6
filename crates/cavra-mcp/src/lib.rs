//! cavra and MCP, both ways.
//!
//! - [`server`]: `cavra mcp serve`, an MCP server through which an agent asks cavra: evaluate
//!   an action, explain a decision, ask for and follow an approval, list and validate
//!   policies, summarise the session and write a signed evidence bundle of it.
//! - [`proxy`]: `cavra mcp proxy`, a gateway between an agent and an upstream MCP server that
//!   filters `tools/list`, decides every `tools/call` before the upstream sees it, records the
//!   result, and notices a tool whose description changes after it was first seen.
//!
//! Both speak JSON-RPC 2.0 as MCP frames it, in both protocol eras: the handshake era
//! (`initialize`, versions 2025-06-18 and 2025-11-25) and the stateless 2026-07-28 revision
//! (no handshake; every request carries its protocol version in `_meta`; `server/discover`).
//! The JSON-RPC layer is written here rather than taken from an SDK because the proxy must
//! relay and rewrite raw messages of both eras, which an SDK's typed client/server does not
//! expose.

pub mod catalogue;
pub mod governor;
pub mod http;
pub mod jsonrpc;
pub mod proxy;
pub mod server;
pub mod stdio;

pub use governor::{Governed, Governor, GovernorConfig, KeyLoader, OpenError, OpenOptions};

/// Everything that can fail in the MCP server and proxy.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The decision store failed.
    #[error("decision store: {0}")]
    Store(#[from] cavra_store::StoreError),
    /// An evidence bundle could not be written.
    #[error("evidence bundle: {0}")]
    Bundle(String),
    /// Reading or writing a stream or a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The upstream MCP server could not be started or talked to.
    #[error("upstream MCP server: {0}")]
    Upstream(String),
    /// Bad input from the caller (a tool's arguments, a path outside the repository).
    #[error("{0}")]
    Invalid(String),
    /// A record could not be serialised.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The runtime could not decide or record.
    #[error("{0}")]
    Runtime(#[from] cavra_runtime::RuntimeError),
}

impl McpError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> McpError {
        let context = context.into();
        move |source| McpError::Io { context, source }
    }
}
