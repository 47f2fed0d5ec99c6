//! The client side of `--daemon`: one call sent to the repository's hook server, and a server
//! started in the background when none runs.

use crate::options::{ApprovalMode, HookEnv, HookOptions, ServerFallback};
use cavra_agents::{Agent, Answer};
use cavra_hook_wire::client::{self as client_core, Paths};
use cavra_hook_wire::wire::{self, DecideRequest, Reply, Request};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The request for one call.
pub(super) fn decide_request(args: &HookOptions, input: &[u8], env: &HookEnv) -> DecideRequest {
    DecideRequest {
        agent: args.agent.as_str().to_string(),
        approval_mode: match args.approval_mode {
            ApprovalMode::Ask => 0,
            ApprovalMode::Store => 1,
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
            ServerFallback::Local => 0,
            ServerFallback::Deny => 1,
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
pub fn ask(args: &HookOptions, input: &[u8], env: &HookEnv) -> Option<Answer> {
    // Calls that go to the API service are not served: they wait on the network anyway.
    if args.service().is_some() {
        return None;
    }
    let cwd = env.cwd.as_ref().ok()?;
    let root = cavra_hook_wire::client::find_repo_root(cwd);
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
    crate::process::WAITING_ON_SERVER.store(true, Ordering::SeqCst);
    if wire::write_frame(&mut stream, &frame).is_err() {
        // The server closed without reading the request: it cannot have decided it.
        crate::process::WAITING_ON_SERVER.store(false, Ordering::SeqCst);
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
            crate::process::WAITING_ON_SERVER.store(false, Ordering::SeqCst);
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
