//! The agent hook: `cavra hook <agent>` answers an agent's hook on stdin, and never fails open.
//!
//! Agents let the tool run when a hook crashes, exits with an unexpected code or times out. So
//! the answer is made under `catch_unwind`, with a panic hook that prints nothing to stdout,
//! with stdin capped at [`MAX_INPUT_BYTES`], and against a watchdog that answers deny on its
//! own when the deadline passes ([`run`]). Every failure is answered with a deny that says
//! what to fix. Every decision is written to the local store (redacted) before the answer is
//! printed.
//!
//! - [`options`]: what one call is asked to do and what it reads from its surroundings;
//! - [`answer`](fn@answer): one call answered, the same function in process and in the hook
//!   server; `pre` decides a tool call through the runtime's governor, `post` records its
//!   outcome;
//! - [`run`], [`emit`], [`read_input`]: the hook as a process (watchdog, crash guard, one
//!   answer printed);
//! - [`daemon`]: the per-repository hook server behind `--daemon`, its client, and what the CLI
//!   and `cavra doctor` do with it.
//!
//! Flags are the binary's: [`HookOptions`] is a plain struct (with the `clap` feature, its
//! enums derive `clap::ValueEnum`).

#![warn(missing_docs)]

mod answer;
pub mod daemon;
pub mod options;
mod post;
mod pre;
mod process;

pub use answer::{LoadedPack, OneShot, Resources, answer, load_policy, open_store};
pub use options::{
    ApprovalMode, DEFAULT_APPROVAL_TTL_MINUTES, DEFAULT_DEADLINE_MS, HOOK_TIMEOUT_SECS, HookEnv,
    HookOptions, MAX_INPUT_BYTES, ServerFallback,
};
pub use process::{emit, read_input, run};
