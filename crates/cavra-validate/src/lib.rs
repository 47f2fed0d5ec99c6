//! Runtime validation with the real agents: `cavra validate runtime` drives a scripted
//! session through a real agent on this machine (Claude Code, its model a stand-in on
//! loopback), checks every step on disk, in cavra's records and in the agent's own
//! transcript, looks for bypasses (tool calls with no decision, files changed with no governed
//! write, hooks removed or broken mid-session), and signs a validation report that verifies
//! offline.
//!
//! Library code: the `cavra validate` command only parses flags, calls [`runtime::run`] or
//! [`report::verify`], and prints.

#![warn(missing_docs)]

pub mod demo;
pub mod report;
pub mod runtime;
pub mod standin;
pub mod transcript;

/// Why a validation could not run to its report (a run that finds bypasses is not an error:
/// its report says `failed`).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// A file or folder could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A program could not be started.
    #[error("could not run {program}: {source}")]
    Run {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The scratch set-up failed (a folder in the way, a set-up command that failed).
    #[error("set-up: {0}")]
    Setup(String),
    /// The agent did not run to a result.
    #[error("the agent: {0}")]
    Agent(String),
    /// cavra's records could not be read.
    #[error("cavra's records: {0}")]
    Records(String),
    /// A step of the demo failed (the message says which).
    #[error("{0}")]
    Demo(String),
    /// The report could not be signed.
    #[error(transparent)]
    Report(#[from] report::ReportError),
}
