//! What both hook clients need to find this repository's hook server: the repository root,
//! the private socket folder and the socket's name. `std` and `libc` only, so that the slim
//! `cavra-hook` binary stays small: its start-up is most of what an agent waits for on each
//! tool call.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Unix socket paths are limited to 108 bytes with the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// Where one repository's server listens and locks.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The canonical repository root.
    pub root: PathBuf,
    /// The socket.
    pub socket: PathBuf,
    /// The lock file held by the running server.
    pub lock: PathBuf,
}

/// FNV-1a, 64 bits: a stable name for a root (a collision only costs a fallback, since the
/// server serves any repository correctly and the client checks nothing else by it).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The repository root for `start`: the nearest folder up from it holding `.git`, else
/// `start` (as `support::find_repo_root`).
pub fn find_repo_root(start: &Path) -> PathBuf {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if d.join(".git").exists() {
            return d.to_path_buf();
        }
        dir = d.parent();
    }
    start.to_path_buf()
}

/// The user's private folder for sockets, `$XDG_RUNTIME_DIR/cavra` or `/tmp/cavra-<uid>`:
/// created 0700 if missing; refused unless it is a real folder (not a link) owned by the
/// user and closed to everyone else.
pub fn socket_dir(xdg_runtime_dir: Option<OsString>) -> Option<PathBuf> {
    let dir = socket_dir_path(xdg_runtime_dir);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(_) => return None,
    }
    is_private_dir(&dir).then_some(dir)
}

/// Where the private socket folder is, without creating it (for looking only).
pub fn socket_dir_path(xdg_runtime_dir: Option<OsString>) -> PathBuf {
    match xdg_runtime_dir.filter(|d| Path::new(d).is_absolute()) {
        Some(d) => PathBuf::from(d).join("cavra"),
        None => PathBuf::from(format!("/tmp/cavra-{}", euid())),
    }
}

/// Whether `dir` is a real folder (not a link) owned by the user and closed to everyone else.
pub fn is_private_dir(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir)
        .is_ok_and(|meta| meta.is_dir() && meta.uid() == euid() && meta.mode() & 0o077 == 0)
}

impl Paths {
    /// The paths for a repository root (canonicalised here), or none when there is no
    /// private folder or the socket path would be too long.
    pub fn for_root(root: &Path) -> Option<Paths> {
        let root = std::fs::canonicalize(root).ok()?;
        let dir = socket_dir(std::env::var_os("XDG_RUNTIME_DIR"))?;
        Paths::in_dir(root, &dir)
    }

    /// The paths for a canonical repository root in a given socket folder, or none when the
    /// socket path would be too long.
    pub fn in_dir(root: PathBuf, dir: &Path) -> Option<Paths> {
        let name = format!("hook-{:016x}", fnv1a(root.as_os_str().as_bytes()));
        let socket = dir.join(format!("{name}.sock"));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return None;
        }
        Some(Paths {
            root,
            socket,
            lock: dir.join(format!("{name}.lock")),
        })
    }
}

/// Whether an environment variable can change a hook decision (sent to the server): every
/// `CAVRA_*`, what the home folder and the pack cache's place derive from, and the user.
pub fn wanted_var(name: &str) -> bool {
    // USER and LOGNAME name the person who answers the agent's prompt (ask mode).
    matches!(name, "HOME" | "XDG_CACHE_HOME" | "USER" | "LOGNAME") || name.starts_with("CAVRA_")
}

/// The deny message when the server took the call and did not answer by the deadline.
pub fn deadline_message(deadline_ms: u128) -> String {
    format!(
        "no decision within {deadline_ms} ms: this repository's hook server took the call and did not answer; stop it with `cavra hook daemon stop` (the next call starts a fresh one), or drop --daemon from the hook command"
    )
}

/// The deny message when the server took the call and then failed it (`what` happened).
pub fn broken_message(what: &str) -> String {
    format!(
        "this repository's hook server took the call and then {what}; nothing was decided, so nothing may run. Stop it with `cavra hook daemon stop` (the next call starts a fresh one), or drop --daemon from the hook command"
    )
}
