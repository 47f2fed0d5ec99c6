//! The hook server: one per repository (an exclusive lock), answering each decide request
//! with [`crate::answer`] on the store and compiled policy it keeps, and stopping when idle,
//! when `.cavra/` goes, when its executable changes, or when asked.

use super::PEER_TIMEOUT;
use super::PolicyCache;
use super::control::try_lock;
use crate::answer::{LoadedPack, Resources};
use crate::options::{ApprovalMode, HookEnv, HookOptions, ServerFallback};
use cavra_agents::Agent;
use cavra_hook_wire::client::{Paths, euid};
use cavra_hook_wire::wire::{self, DecideRequest, Reply, Request};
use cavra_store::Store;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the server lives without a call, unless `CAVRA_HOOK_DAEMON_IDLE_SECS` says.
pub const DEFAULT_IDLE_SECS: u64 = 600;

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
            let mut store = crate::open_store(&self.paths.root)?;
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
        args: &HookOptions,
        env: &HookEnv,
        repo_root: &Path,
    ) -> (Result<&mut Store, String>, Result<Arc<LoadedPack>, String>) {
        if !self.is_own(repo_root) {
            let pack = crate::load_policy(args, env, repo_root, Some(&mut self.policies));
            let store = match crate::open_store(repo_root) {
                Ok(s) => Ok(self.other.insert(s)),
                Err(e) => Err(e),
            };
            return (store, pack);
        }
        let pack = crate::load_policy(args, env, repo_root, Some(&mut self.policies));
        (self.own_store(), pack)
    }

    fn store(&mut self, repo_root: &Path) -> Result<&mut Store, String> {
        if self.is_own(repo_root) {
            return self.own_store();
        }
        let store = crate::open_store(repo_root)?;
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
fn from_request(d: DecideRequest) -> Result<(HookOptions, HookEnv, Vec<u8>), String> {
    let agent: Agent = d.agent.parse().map_err(|e| format!("{e}"))?;
    if d.server.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        return Err("calls that go to the API service are decided in process".into());
    }
    let args = HookOptions {
        agent,
        approval_mode: match d.approval_mode {
            0 => ApprovalMode::Ask,
            1 => ApprovalMode::Store,
            _ => return Err("unknown approval mode".into()),
        },
        policy: d.policy,
        approval_ttl: d.approval_ttl,
        deadline_ms: d.deadline_ms,
        require_signed_policy: d.require_signed_policy,
        trust_root: d.trust_root.map(|b| PathBuf::from(OsString::from_vec(b))),
        server: d.server,
        server_fallback: match d.server_fallback {
            0 => ServerFallback::Local,
            1 => ServerFallback::Deny,
            _ => return Err("unknown server fallback".into()),
        },
        daemon: true,
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
                    crate::answer(&args, Ok(&input), &env, &mut *state)
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
