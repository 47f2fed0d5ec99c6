//! What the CLI and `cavra doctor` do with a running hook server: look at it, stop it. Neither
//! creates anything (no socket folder, no lock file) to find out.

use super::PEER_TIMEOUT;
use cavra_hook_wire::client::{self as client_core, Paths};
use cavra_hook_wire::wire::{self, Reply, Request};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// What `cavra doctor` sees of a repository's hook server: it asks over the socket and
/// creates nothing (no socket folder, no lock file).
pub fn look(root: &Path) -> cavra_doctor::HookServerState {
    use cavra_doctor::HookServerState;
    let Ok(root) = std::fs::canonicalize(root) else {
        return HookServerState::Unavailable(format!("{} cannot be resolved", root.display()));
    };
    let dir = client_core::socket_dir_path(std::env::var_os("XDG_RUNTIME_DIR"));
    let Some(paths) = Paths::in_dir(root, &dir) else {
        return HookServerState::Unavailable(format!(
            "the socket path under {} is longer than {} bytes",
            dir.display(),
            client_core::MAX_SOCKET_PATH
        ));
    };
    if dir.exists() && !client_core::is_private_dir(&dir) {
        return HookServerState::Unavailable(format!(
            "{} is not a private folder of yours (mode 0700, owned by you, not a link)",
            dir.display()
        ));
    }
    if !paths.socket.exists() {
        return HookServerState::NotRunning {
            socket: paths.socket,
        };
    }
    match call(&paths, &Request::Status) {
        Some(Reply::Status(text)) => HookServerState::Running(text),
        _ => HookServerState::Stale {
            socket: paths.socket,
        },
    }
}

/// Asks the repository's hook server to stop and waits (up to 10 s) until it has exited.
/// `Ok(true)`: it ran and stopped; `Ok(false)`: none was running; `Err`: it still runs.
pub fn stop(paths: &Paths) -> Result<bool, String> {
    match call(paths, &Request::Stop) {
        Some(Reply::Stopping) => {
            // Stopped means exited: its lock is released when the process is gone.
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if try_lock(&paths.lock).is_some() {
                    return Ok(true);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(format!(
                "the hook server for {} was asked to stop and still runs after 10 s",
                paths.root.display()
            ))
        }
        _ => Ok(false),
    }
}

/// One call on the server for the CLI, or none when it does not run.
fn call(paths: &Paths, request: &Request) -> Option<Reply> {
    let mut stream = UnixStream::connect(&paths.socket).ok()?;
    let _ = stream.set_read_timeout(Some(PEER_TIMEOUT));
    let _ = stream.set_write_timeout(Some(PEER_TIMEOUT));
    wire::write_frame(&mut stream, &request.encode()).ok()?;
    Reply::decode(&wire::read_frame(&mut stream).ok()?).ok()
}

/// The lock file, locked exclusively, or none when another process holds it.
pub(super) fn try_lock(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .ok()?;
    // SAFETY: a valid open descriptor; flock does not touch memory.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    (rc == 0).then_some(file)
}
