//! The per-repository hook server behind `cavra hook <agent> --daemon`.
//!
//! A hook process pays for starting, loading and compiling the policy and opening the store
//! (schema parse, WAL index rebuild, a folder fsync) on every tool call. The server keeps the
//! compiled policy and the open store between calls; the hook becomes a client that sends its
//! arguments, folder, relevant environment and stdin over a Unix socket and prints the answer.
//! The server answers with [`crate::hook::answer`], the very function the in-process hook
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

pub use cavra_hook_wire::client as client_core;
use cavra_hook_wire::wire;

pub use client_core::Paths;
use client_core::euid;

use crate::hook::{self, HookArgs, HookEnv, LoadedPack, Resources};
use cavra_agents::{Agent, Answer};
use cavra_store::Store;
use clap::Subcommand;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wire::{DecideRequest, Reply, Request};

/// How long the server lives without a call, unless `CAVRA_HOOK_DAEMON_IDLE_SECS` says.
pub const DEFAULT_IDLE_SECS: u64 = 600;
/// A connected peer gets this long to send its request and read the reply.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// `cavra hook daemon …`: see or stop this repository's hook server.
#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Whether this repository's hook server runs: pid, calls served, socket.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop this repository's hook server (the next `--daemon` call starts a new one).
    Stop {
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the hook server in the foreground (what `--daemon` starts in the background).
    #[command(hide = true)]
    Run {
        /// The repository root to serve (default: the repository of the current folder).
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

// ---------------------------------------------------------------------------------------------
// The client.

/// The request for one call.
fn decide_request(args: &HookArgs, input: &[u8], env: &HookEnv) -> DecideRequest {
    DecideRequest {
        agent: args.agent.as_str().to_string(),
        approval_mode: match args.approval_mode {
            hook::ApprovalMode::Ask => 0,
            hook::ApprovalMode::Store => 1,
        },
        policy: args.policy.clone(),
        approval_ttl: args.approval_ttl,
        deadline_ms: args.deadline_ms,
        require_signed_policy: args.require_signed_policy,
        trust_root: args
            .trust_root
            .as_ref()
            .map(|p| p.as_os_str().as_bytes().to_vec()),
        server: args.server.clone(),
        server_fallback: match args.server_fallback {
            hook::ServerFallback::Local => 0,
            hook::ServerFallback::Deny => 1,
        },
        cwd: env
            .cwd
            .as_ref()
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .map_err(Clone::clone),
        env: env
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
            .collect(),
        input: input.to_vec(),
    }
}

/// A deny for a server that took the call and then failed it.
fn broken(agent: Agent, what: &str) -> Answer {
    cavra_agents::render_failure(agent, &client_core::broken_message(what))
}

/// Asks this repository's hook server. `None`: the server did not take the call (none runs,
/// a stale socket, or it does not serve this kind of call), so the caller decides in
/// process; when none runs, one is started in the background for the next call.
pub fn ask(args: &HookArgs, input: &[u8], env: &HookEnv) -> Option<Answer> {
    // Calls that go to the API service are not served: they wait on the network anyway.
    if args.server.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        return None;
    }
    let cwd = env.cwd.as_ref().ok()?;
    let root = crate::support::find_repo_root(cwd);
    // No `.cavra/` yet: the in-process hook says what to do; no server for a non-project.
    if !root.join(cavra_store::STORE_DIR).is_dir() {
        return None;
    }
    let paths = Paths::for_root(&root)?;
    let mut stream = match UnixStream::connect(&paths.socket) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            start_server(&paths);
            return None;
        }
        Err(_) => return None,
    };
    let deadline = Duration::from_millis(args.deadline_ms.max(1));
    // The watchdog answers at the deadline (it started with the process); these only make
    // sure that no read or write outlives it.
    let _ = stream.set_read_timeout(Some(deadline + Duration::from_secs(1)));
    let _ = stream.set_write_timeout(Some(deadline + Duration::from_secs(1)));
    let frame = Request::Decide(decide_request(args, input, env)).encode();
    hook::WAITING_ON_SERVER.store(true, Ordering::SeqCst);
    if wire::write_frame(&mut stream, &frame).is_err() {
        // The server closed without reading the request: it cannot have decided it.
        hook::WAITING_ON_SERVER.store(false, Ordering::SeqCst);
        return None;
    }
    let reply = match wire::read_frame(&mut stream) {
        Ok(body) => body,
        Err(wire::WireError::Io(e)) => {
            return Some(broken(
                args.agent,
                &format!("broke the connection before answering ({e})"),
            ));
        }
        Err(e) => return Some(broken(args.agent, &format!("answered garbage ({e})"))),
    };
    match Reply::decode(&reply) {
        Ok(Reply::Answer {
            exit_code,
            stdout,
            stderr,
        }) => Some(Answer {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            exit_code,
        }),
        Ok(Reply::NotServed(_)) => {
            hook::WAITING_ON_SERVER.store(false, Ordering::SeqCst);
            None
        }
        Ok(other) => Some(broken(
            args.agent,
            &format!("answered something else ({other:?})"),
        )),
        Err(e) => Some(broken(args.agent, &format!("answered garbage ({e})"))),
    }
}

/// Starts the server for next time: detached (its own session, stdio on /dev/null), so that
/// the agent, which waits for the hook's output to close, never waits on it. Best effort.
fn start_server(paths: &Paths) {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["hook", "daemon", "run", "--root"])
        .arg(&paths.root)
        .current_dir(&paths.root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches nothing of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    // Not waited for: this process exits right after answering and the server is adopted.
    let _ = cmd.spawn();
}

// ---------------------------------------------------------------------------------------------
// `cavra hook daemon status|stop|run`.

/// Runs `cavra hook daemon …`.
pub fn command(cmd: &DaemonCommand) -> Result<i32, crate::support::Failure> {
    use crate::support::Failure;
    let root_of = |explicit: Option<&PathBuf>| -> Result<Paths, Failure> {
        let root = match explicit {
            Some(r) => r.clone(),
            None => crate::support::find_repo_root(&crate::support::current_dir()?),
        };
        Paths::for_root(&root).ok_or_else(|| {
            Failure::Other(anyhow::anyhow!(
                "no hook server for {}: no private socket folder (XDG_RUNTIME_DIR/cavra or /tmp/cavra-UID, mode 0700, yours), or the path is too long",
                root.display()
            ))
        })
    };
    match cmd {
        DaemonCommand::Status { json } => {
            // Only looks: no socket folder is made to find out.
            use cavra_doctor::HookServerState;
            let root = crate::support::find_repo_root(&crate::support::current_dir()?);
            let state = look(&root);
            if *json {
                let value = match &state {
                    HookServerState::Running(text) => {
                        serde_json::json!({ "root": root, "running": true, "status": text })
                    }
                    HookServerState::NotRunning { socket } | HookServerState::Stale { socket } => {
                        serde_json::json!({ "root": root, "running": false, "socket": socket })
                    }
                    HookServerState::Unavailable(why) => {
                        serde_json::json!({ "root": root, "running": false, "unavailable": why })
                    }
                };
                crate::support::print_json(&value)?;
                return Ok(0);
            }
            match state {
                HookServerState::Running(text) => say(&text),
                HookServerState::NotRunning { socket } | HookServerState::Stale { socket } => {
                    say(&format!(
                        "hook server for {}: not running\nsocket: {}",
                        root.display(),
                        socket.display()
                    ))
                }
                HookServerState::Unavailable(why) => say(&format!(
                    "hook server for {}: not running; it cannot run here: {why}",
                    root.display()
                )),
            }
            Ok(0)
        }
        DaemonCommand::Stop { json } => {
            let paths = root_of(None)?;
            let stopped = |was_running: bool| -> Result<i32, Failure> {
                let text = if was_running {
                    "stopped"
                } else {
                    "not running"
                };
                crate::support::done(
                    *json,
                    &serde_json::json!({ "root": paths.root, "was_running": was_running }),
                    &format!("hook server for {}: {text}", paths.root.display()),
                )
            };
            match call(&paths, &Request::Stop) {
                Some(Reply::Stopping) => {
                    // Stopped means exited: its lock is released when the process is gone.
                    let started = Instant::now();
                    while started.elapsed() < Duration::from_secs(10) {
                        if try_lock(&paths.lock).is_some() {
                            return stopped(true);
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(Failure::Other(anyhow::anyhow!(
                        "the hook server for {} was asked to stop and still runs after 10 s",
                        paths.root.display()
                    )))
                }
                _ => stopped(false),
            }
        }
        DaemonCommand::Run { root } => {
            let paths = root_of(root.as_ref())?;
            serve(paths).map_err(|e| Failure::Other(anyhow::anyhow!("hook server: {e}")))?;
            Ok(0)
        }
    }
}

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

/// Prints a line on stdout; a reader that stopped early (`| head`) is not an error.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
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
fn try_lock(path: &Path) -> Option<std::fs::File> {
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

// ---------------------------------------------------------------------------------------------
// The server.

/// Compiled policies the server keeps, each with the content hash of every source it was
/// made from; an entry is used only while every source still hashes the same.
#[derive(Default)]
pub struct PolicyCache {
    entries: HashMap<PolicyKey, CachedPolicy>,
}

/// A policy reference and the folder it is resolved from.
type PolicyKey = (String, PathBuf);
/// Each source's origin and SHA-256, and the pack compiled from them.
type CachedPolicy = (Vec<(String, [u8; 32])>, Arc<LoadedPack>);

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}

/// The text of one source in a chain: a built-in pack or a file (as the pack cache reads it).
fn source_text(origin: &str) -> Option<Vec<u8>> {
    match origin.strip_prefix("builtin:") {
        Some(id) => cavra_policy::builtin::find(id).map(|p| p.yaml.as_bytes().to_vec()),
        None => std::fs::read(origin).ok(),
    }
}

impl PolicyCache {
    /// The compiled pack for a reference, if every source is unchanged since it was made.
    pub fn get(&mut self, reference: &str, base: &Path) -> Option<Arc<LoadedPack>> {
        let key = (reference.to_string(), base.to_path_buf());
        let (stamps, loaded) = self.entries.get(&key)?;
        let fresh = stamps
            .iter()
            .all(|(origin, hash)| source_text(origin).is_some_and(|t| &sha256(&t) == hash));
        if fresh {
            Some(loaded.clone())
        } else {
            self.entries.remove(&key);
            None
        }
    }

    /// Keeps a compiled pack, unless a source changed while it was loaded (the top pack's
    /// stamp must be of the very text that was compiled).
    pub fn put(&mut self, reference: &str, base: &Path, loaded: Arc<LoadedPack>) {
        let resolved = &loaded.resolved;
        let Some(stamps) = resolved
            .chain
            .iter()
            .map(|o| source_text(o).map(|t| (o.clone(), sha256(&t))))
            .collect::<Option<Vec<_>>>()
        else {
            return;
        };
        let top = sha256(resolved.source_text.as_bytes());
        if !stamps
            .iter()
            .any(|(o, h)| o == &resolved.origin && h == &top)
        {
            return;
        }
        // A handful of references at most in practice; a bound keeps a mistake small.
        if self.entries.len() >= 16 {
            self.entries.clear();
        }
        self.entries.insert(
            (reference.to_string(), base.to_path_buf()),
            (stamps, loaded),
        );
    }
}

/// (device, inode) of a file, to notice it being replaced.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// What the server keeps between calls.
struct State {
    paths: Paths,
    store: Option<Store>,
    db_id: Option<(u64, u64)>,
    policies: PolicyCache,
    /// A store of another repository, opened for one call (a payload's cwd elsewhere).
    other: Option<Store>,
}

impl State {
    fn is_own(&self, repo_root: &Path) -> bool {
        repo_root == self.paths.root
            || std::fs::canonicalize(repo_root).is_ok_and(|c| c == self.paths.root)
    }

    fn own_store(&mut self) -> Result<&mut Store, String> {
        let db = self
            .paths
            .root
            .join(cavra_store::STORE_DIR)
            .join(cavra_store::DB_FILE);
        let id = file_id(&db);
        // Replaced or removed under us: a new connection, as a fresh process would open.
        if self.store.is_none() || id.is_none() || id != self.db_id {
            self.store = None;
            let mut store = hook::open_store(&self.paths.root)?;
            // The WAL is bounded after each answer instead (see `serve_connection`).
            store.set_maintain_on_commit(false);
            self.db_id = file_id(&db);
            self.store = Some(store);
        }
        self.store
            .as_mut()
            .ok_or_else(|| "cannot open the decision store".to_string())
    }
}

impl Resources for State {
    fn store_and_policy(
        &mut self,
        args: &HookArgs,
        env: &HookEnv,
        repo_root: &Path,
    ) -> (Result<&mut Store, String>, Result<Arc<LoadedPack>, String>) {
        if !self.is_own(repo_root) {
            let pack = hook::load_policy(args, env, repo_root, Some(&mut self.policies));
            let store = match hook::open_store(repo_root) {
                Ok(s) => Ok(self.other.insert(s)),
                Err(e) => Err(e),
            };
            return (store, pack);
        }
        let pack = hook::load_policy(args, env, repo_root, Some(&mut self.policies));
        (self.own_store(), pack)
    }

    fn store(&mut self, repo_root: &Path) -> Result<&mut Store, String> {
        if self.is_own(repo_root) {
            return self.own_store();
        }
        let store = hook::open_store(repo_root)?;
        Ok(self.other.insert(store))
    }
}

/// Counters and flags the connection threads share with the main loop.
struct Shared {
    state: Mutex<State>,
    in_flight: AtomicUsize,
    /// Decisions being made (what idleness is about; `status` calls do not count).
    deciding: AtomicUsize,
    calls: AtomicU64,
    last_call: Mutex<Instant>,
    stop: AtomicBool,
    started: Instant,
    idle: Duration,
}

/// Set by the server's panic hook: after a panic the server answers (a deny) and exits,
/// since its state may be half-changed.
static PANICKED: AtomicBool = AtomicBool::new(false);

fn peer_uid(stream: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a valid socket descriptor, and `cred`/`len` describe a ucred-sized buffer.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// The arguments and environment of a decide request, or why it is not served.
fn from_request(d: DecideRequest) -> Result<(HookArgs, HookEnv, Vec<u8>), String> {
    let agent: Agent = d.agent.parse().map_err(|e| format!("{e}"))?;
    if d.server.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        return Err("calls that go to the API service are decided in process".into());
    }
    let args = HookArgs {
        agent,
        approval_mode: match d.approval_mode {
            0 => hook::ApprovalMode::Ask,
            1 => hook::ApprovalMode::Store,
            _ => return Err("unknown approval mode".into()),
        },
        policy: d.policy,
        approval_ttl: d.approval_ttl,
        deadline_ms: d.deadline_ms,
        require_signed_policy: d.require_signed_policy,
        trust_root: d.trust_root.map(|b| PathBuf::from(OsString::from_vec(b))),
        server: d.server,
        server_fallback: match d.server_fallback {
            0 => hook::ServerFallback::Local,
            1 => hook::ServerFallback::Deny,
            _ => return Err("unknown server fallback".into()),
        },
        daemon: true,
        fail_closed: None,
    };
    let env = HookEnv {
        cwd: d.cwd.map(|b| PathBuf::from(OsString::from_vec(b))),
        vars: d
            .env
            .into_iter()
            .filter(|(k, _)| HookEnv::wanted(k))
            .map(|(k, v)| (k, OsString::from_vec(v)))
            .collect(),
    };
    Ok((args, env, d.input))
}

fn serve_connection(shared: &Shared, mut stream: UnixStream) {
    if peer_uid(&stream) != Some(euid()) {
        return;
    }
    let _ = stream.set_read_timeout(Some(PEER_TIMEOUT));
    let _ = stream.set_write_timeout(Some(PEER_TIMEOUT));
    let Ok(body) = wire::read_frame(&mut stream) else {
        return;
    };
    let mut decided = false;
    let reply = match Request::decode(&body) {
        Err(_) => return,
        Ok(Request::Status) => Reply::Status(status_text(shared)),
        Ok(Request::Stop) => {
            shared.stop.store(true, Ordering::SeqCst);
            Reply::Stopping
        }
        Ok(Request::Decide(d)) => match from_request(d) {
            Err(why) => Reply::NotServed(why),
            Ok((args, env, input)) => {
                shared.deciding.fetch_add(1, Ordering::SeqCst);
                decided = true;
                let answer = {
                    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                    hook::answer(&args, Ok(&input), &env, &mut *state)
                };
                shared.calls.fetch_add(1, Ordering::Relaxed);
                // Only decisions keep the server alive; `status` does not.
                *shared.last_call.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                shared.deciding.fetch_sub(1, Ordering::SeqCst);
                Reply::Answer {
                    exit_code: answer.exit_code,
                    stdout: answer.stdout.into_bytes(),
                    stderr: answer.stderr.into_bytes(),
                }
            }
        },
    };
    let _ = wire::write_frame(&mut stream, &reply.encode());
    drop(stream);
    // Bounding the WAL checkpoints (two more fsyncs) every few calls: done here, after the
    // answer, so that no agent waits on it.
    if decided {
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = state.store.as_mut() {
            let _ = store.maintain();
        }
    }
}

fn status_text(shared: &Shared) -> String {
    let paths = &shared.state.lock().unwrap_or_else(|p| p.into_inner()).paths;
    format!(
        "hook server for {}: running\npid: {}\nup: {} s\ncalls: {}\nidle timeout: {} s\nsocket: {}",
        paths.root.display(),
        std::process::id(),
        shared.started.elapsed().as_secs(),
        shared.calls.load(Ordering::Relaxed),
        shared.idle.as_secs(),
        paths.socket.display()
    )
}

/// An executable's identity: device, inode, size, modification time.
type ExeStamp = (u64, u64, u64, i64, i64);

/// The executable's identity, to notice an upgrade.
fn exe_stamp(exe: &Path) -> Option<ExeStamp> {
    let m = std::fs::metadata(exe).ok()?;
    Some((m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// Why the server should stop now, if it should.
fn reason_to_stop(
    shared: &Shared,
    exe: &Option<(PathBuf, Option<ExeStamp>)>,
) -> Option<&'static str> {
    if shared.stop.load(Ordering::SeqCst) {
        return Some("asked to stop");
    }
    if PANICKED.load(Ordering::SeqCst) {
        return Some("internal error");
    }
    let root = shared
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .paths
        .root
        .clone();
    if !root.join(cavra_store::STORE_DIR).is_dir() {
        return Some("the repository's .cavra/ is gone");
    }
    if let Some((path, stamp)) = exe
        && exe_stamp(path) != *stamp
    {
        return Some("its executable changed");
    }
    let idle = shared
        .last_call
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .elapsed();
    (idle >= shared.idle && shared.deciding.load(Ordering::SeqCst) == 0).then_some("idle")
}

/// Serves the repository until a reason to stop. Returns at once (quietly) when another
/// server holds the lock.
pub fn serve(paths: Paths) -> std::io::Result<()> {
    let Some(_lock) = try_lock(&paths.lock) else {
        return Ok(());
    };
    std::panic::set_hook(Box::new(|_| PANICKED.store(true, Ordering::SeqCst)));
    // A socket file left by a killed server: the lock says it is nobody's.
    match std::fs::remove_file(&paths.socket) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&paths.socket)?;
    std::fs::set_permissions(&paths.socket, std::fs::Permissions::from_mode(0o600))?;
    let socket_id = file_id(&paths.socket);
    let idle = std::env::var("CAVRA_HOOK_DAEMON_IDLE_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_IDLE_SECS);
    let exe = std::env::current_exe().ok().map(|p| {
        let stamp = exe_stamp(&p);
        (p, stamp)
    });
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            paths: paths.clone(),
            store: None,
            db_id: None,
            policies: PolicyCache::default(),
            other: None,
        }),
        in_flight: AtomicUsize::new(0),
        deciding: AtomicUsize::new(0),
        calls: AtomicU64::new(0),
        last_call: Mutex::new(Instant::now()),
        stop: AtomicBool::new(false),
        started: Instant::now(),
        idle: Duration::from_secs(idle),
    });
    // Warm up: the first call should not pay for opening the store.
    {
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        let _ = state.own_store();
    }
    let handle = |stream: UnixStream| {
        let shared = shared.clone();
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new().spawn({
            let shared = shared.clone();
            move || {
                serve_connection(&shared, stream);
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        });
        if spawned.is_err() {
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    };
    let mut last_check = Instant::now();
    loop {
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 250) };
        if ready > 0 {
            match listener.accept() {
                Ok((stream, _)) => handle(stream),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        if last_check.elapsed() >= Duration::from_millis(250)
            || shared.stop.load(Ordering::SeqCst)
            || PANICKED.load(Ordering::SeqCst)
        {
            last_check = Instant::now();
            if reason_to_stop(&shared, &exe).is_some() {
                break;
            }
            // The socket file removed or replaced (another server after a lost lock, a
            // cleanup): nobody can reach this one any more.
            if file_id(&paths.socket) != socket_id {
                return Ok(());
            }
        }
    }
    // Stop taking new calls, then serve those already queued, then let the last finish.
    if file_id(&paths.socket) == socket_id {
        let _ = std::fs::remove_file(&paths.socket);
    }
    listener.set_nonblocking(true)?;
    while let Ok((stream, _)) = listener.accept() {
        let _ = stream.set_nonblocking(false);
        handle(stream);
    }
    let started = Instant::now();
    while shared.in_flight.load(Ordering::SeqCst) > 0 && started.elapsed() < PEER_TIMEOUT * 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Decisions in flight are committed (or the connection threads are stuck on a peer);
    // the store closes with the process.
    Ok(())
}
