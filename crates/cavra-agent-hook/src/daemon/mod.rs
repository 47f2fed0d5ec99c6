//! The per-repository hook server behind `cavra hook <agent> --daemon`.
//!
//! A hook process pays for starting, loading and compiling the policy and opening the store
//! (schema parse, WAL index rebuild, a folder fsync) on every tool call. The server keeps the
//! compiled policy and the open store between calls; the hook becomes a client that sends its
//! arguments, folder, relevant environment and stdin over a Unix socket and prints the answer.
//! The server answers with [`crate::answer`], the very function the in-process hook
//! uses, and commits each record durably before it replies.
//!
//! Correctness never depends on the server: when it cannot be reached (no socket, a stale
//! one, refused) the client decides in process as without `--daemon`, and starts a server in
//! the background for the next call. Once the server took a call, the client fails closed: no
//! answer by the deadline, or a broken or garbled reply, is a deny that says what to fix.
//!
//! Files: the socket `hook-<hash>.sock` and the lock `hook-<hash>.lock` (one server per
//! repository: an exclusive `flock`), in `$XDG_RUNTIME_DIR/cavra/` or else
//! `/tmp/cavra-<uid>/`, a folder of mode 0700 owned by the user (refused otherwise); `<hash>`
//! names the canonical repository root. The server checks that every peer has its own uid,
//! re-reads the policy's sources on every call (a changed policy decides the very next call),
//! reopens the store when `.cavra/cavra.db` was replaced, and exits when idle
//! (`CAVRA_HOOK_DAEMON_IDLE_SECS`, default 600), when `.cavra/` disappears, when its own
//! executable changes, or on `cavra hook daemon stop`.

mod cache;
mod client;
mod control;
mod server;

pub use cache::PolicyCache;
pub use cavra_hook_wire::client::Paths;
pub use client::ask;
pub use control::{look, stop};
pub use server::{DEFAULT_IDLE_SECS, serve};

use std::time::Duration;

/// A connected peer gets this long to send its request and read the reply.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
