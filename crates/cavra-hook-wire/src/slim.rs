//! The slim `cavra-hook <agent> [hook options]` client of the repository's hook server (the
//! `cavra-hook` binary is its `main`).
//!
//! `cavra hook <agent> --daemon` does the same, but the all-in-one `cavra` binary spends more
//! time starting (relocating and paging in a large static executable) than the server spends
//! deciding. This binary is `std`, `libc` and the small `cavra-hook-wire` crate only. It asks
//! the server; every other case goes to `cavra hook <agent> … --daemon` beside it, which
//! decides in process exactly as without the server and starts one for next time:
//!
//! - options it does not know, or `--server` (the API service): `cavra` runs instead (exec,
//!   stdin untouched);
//! - no server, a stale socket, a refusal, a call the server does not serve: `cavra` gets the
//!   stdin bytes already read on a pipe;
//! - the server took the call and then did not answer by the deadline, broke the connection
//!   or answered garbage: a deny, rendered in the agent's format by
//!   `cavra hook <agent> --fail-closed MESSAGE` (or, if that cannot run, the reason on stderr
//!   and exit code 2, which every agent reads as a block).

use crate::client as client_core;
use crate::wire;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wire::{DecideRequest, Reply, Request};

/// As `cavra hook`: the most stdin read.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// As `cavra hook`: the default deadline.
pub const DEFAULT_DEADLINE_MS: u64 = 8000;
/// As `cavra hook`: the default approval lifetime (minutes).
pub const DEFAULT_APPROVAL_TTL_MINUTES: u64 = 24 * 60;

/// The `cavra` binary beside this one.
fn cavra() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let big = exe.parent()?.join("cavra");
    big.is_file().then_some(big)
}

/// `cavra hook <args> [--daemon]`.
fn cavra_hook(args: &[OsString]) -> Option<Command> {
    let mut cmd = Command::new(cavra()?);
    cmd.arg("hook").args(args);
    if !args.iter().any(|a| a == "--daemon") {
        cmd.arg("--daemon");
    }
    Some(cmd)
}

/// Ends with a block every agent reads as one: the reason on stderr, exit code 2.
fn plain_block(message: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "cavra blocked this tool call: {message}");
    std::process::exit(2)
}

/// Hands the whole call to `cavra hook` (stdin not read yet).
fn exec_cavra(args: &[OsString]) -> ! {
    match cavra_hook(args) {
        Some(mut cmd) => {
            let e = cmd.exec();
            plain_block(&format!(
                "cavra-hook could not run cavra beside it ({e}); reinstall cavra"
            ))
        }
        None => plain_block("cavra-hook found no cavra binary beside it; reinstall cavra"),
    }
}

/// Hands the call to `cavra hook` with the stdin bytes already read, and exits as it does.
fn run_cavra_with(args: &[OsString], input: &[u8]) -> ! {
    let Some(mut cmd) = cavra_hook(args) else {
        plain_block("cavra-hook found no cavra binary beside it; reinstall cavra")
    };
    let child = cmd.stdin(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => plain_block(&format!(
            "cavra-hook could not run cavra beside it ({e}); reinstall cavra"
        )),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that stops reading early (oversize input) is not our error.
        let _ = stdin.write_all(input);
    }
    match child.wait() {
        Ok(status) => std::process::exit(status.code().unwrap_or(2)),
        Err(e) => plain_block(&format!("cavra-hook lost the cavra process ({e})")),
    }
}

/// A deny in the agent's format, for a server that took the call and failed it.
fn fail_closed(agent: &OsString, message: &str) -> ! {
    if let Some(big) = cavra() {
        let e = Command::new(big)
            .arg("hook")
            .arg(agent)
            .arg("--fail-closed")
            .arg(message)
            .exec();
        plain_block(&format!("{message} (and cavra could not run: {e})"));
    }
    plain_block(message)
}

/// The hook options, as `cavra hook` reads them; `None` for anything this client does not
/// handle itself (then `cavra hook` reads them, and says what is wrong if anything is).
fn parse(args: &[OsString]) -> Option<DecideRequest> {
    parse_with(args, &|name: &str| std::env::var(name).ok())
}

fn parse_with(
    args: &[OsString],
    env_text: &dyn Fn(&str) -> Option<String>,
) -> Option<DecideRequest> {
    let mut d = DecideRequest {
        agent: args.first()?.to_str()?.to_string(),
        approval_mode: 0,
        policy: None,
        approval_ttl: DEFAULT_APPROVAL_TTL_MINUTES,
        deadline_ms: match env_text("CAVRA_HOOK_DEADLINE_MS") {
            Some(v) => v.parse().ok()?,
            None => DEFAULT_DEADLINE_MS,
        },
        require_signed_policy: false,
        trust_root: None,
        server: env_text("CAVRA_SERVER"),
        server_fallback: match env_text("CAVRA_SERVER_FALLBACK").as_deref() {
            None | Some("local") => 0,
            Some("deny") => 1,
            Some(_) => return None,
        },
        cwd: Err(String::new()),
        env: Vec::new(),
        input: Vec::new(),
    };
    if d.agent.starts_with('-') {
        return None;
    }
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg, None),
        };
        let mut value = || -> Option<String> {
            match &inline {
                Some(v) => Some(v.clone()),
                None => rest.next()?.to_str().map(str::to_string),
            }
        };
        match name {
            "--daemon" if inline.is_none() => {}
            "--require-signed-policy" if inline.is_none() => d.require_signed_policy = true,
            "--approval-mode" => {
                d.approval_mode = match value()?.as_str() {
                    "ask" => 0,
                    "store" => 1,
                    _ => return None,
                }
            }
            "--policy" | "-p" => d.policy = Some(value()?),
            "--approval-ttl" => d.approval_ttl = value()?.parse().ok()?,
            "--deadline-ms" => d.deadline_ms = value()?.parse().ok()?,
            "--trust-root" => d.trust_root = Some(value()?.into_bytes()),
            "--server" => d.server = Some(value()?),
            "--server-fallback" => {
                d.server_fallback = match value()?.as_str() {
                    "local" => 0,
                    "deny" => 1,
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    // Calls to the API service are `cavra hook`'s.
    if d.server.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        return None;
    }
    Some(d)
}

/// The slim client's whole run: asks the server, or hands the call to `cavra hook` beside
/// it. Never returns.
pub fn main() -> ! {
    let started = Instant::now();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let Some(mut request) = parse(&args) else {
        exec_cavra(&args)
    };
    let agent = args[0].clone();
    let mut input = Vec::new();
    if std::io::stdin()
        .lock()
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut input)
        .is_err()
        || input.len() > MAX_INPUT_BYTES
    {
        // `cavra hook` says what is wrong with the input, in the agent's format.
        run_cavra_with(&args, &input);
    }
    let cwd = match std::env::current_dir() {
        Ok(c) => c,
        Err(_) => run_cavra_with(&args, &input),
    };
    let root = client_core::find_repo_root(&cwd);
    if !root.join(".cavra").is_dir() {
        run_cavra_with(&args, &input);
    }
    let Some(paths) = client_core::Paths::for_root(&root) else {
        run_cavra_with(&args, &input)
    };
    let mut stream = match UnixStream::connect(&paths.socket) {
        Ok(s) => s,
        // No server, a stale socket, a refusal: `cavra hook --daemon` decides in process and
        // starts a server.
        Err(_) => run_cavra_with(&args, &input),
    };
    request.cwd = Ok(cwd.into_os_string().into_vec());
    request.env = std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            client_core::wanted_var(&k).then(|| (k, v.as_bytes().to_vec()))
        })
        .collect();
    request.input = input;
    let deadline = Duration::from_millis(request.deadline_ms.max(1));
    let _ = stream.set_write_timeout(Some(deadline));
    let frame = Request::Decide(request).encode();
    if wire::write_frame(&mut stream, &frame).is_err() {
        // Closed before it read the call: it cannot have decided it.
        let Request::Decide(request) = Request::decode(&frame[4..]).unwrap_or(Request::Stop) else {
            plain_block("cavra-hook lost its own request")
        };
        run_cavra_with(&args, &request.input);
    }
    let left = deadline.saturating_sub(started.elapsed());
    if left.is_zero() {
        fail_closed(&agent, &client_core::deadline_message(deadline.as_millis()));
    }
    let _ = stream.set_read_timeout(Some(left));
    let body = match wire::read_frame(&mut stream) {
        Ok(b) => b,
        Err(wire::WireError::Io(e)) => {
            // A read timeout may end a hair early; a few milliseconds short is the deadline.
            let timed_out = started.elapsed() + Duration::from_millis(5) >= deadline;
            if timed_out {
                fail_closed(&agent, &client_core::deadline_message(deadline.as_millis()));
            }
            fail_closed(
                &agent,
                &client_core::broken_message(&format!(
                    "broke the connection before answering ({e})"
                )),
            )
        }
        Err(e) => fail_closed(
            &agent,
            &client_core::broken_message(&format!("answered garbage ({e})")),
        ),
    };
    match Reply::decode(&body) {
        Ok(Reply::Answer {
            exit_code,
            stdout,
            stderr,
        }) => {
            // As `cavra hook` prints its answer: each part with a final newline when not empty.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&stdout);
            if !stdout.is_empty() {
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
            if !stderr.is_empty() {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(&stderr);
                let _ = err.write_all(b"\n");
                let _ = err.flush();
            }
            std::process::exit(exit_code)
        }
        Ok(Reply::NotServed(_)) => {
            let Ok(Request::Decide(request)) = Request::decode(&frame[4..]) else {
                plain_block("cavra-hook lost its own request")
            };
            run_cavra_with(&args, &request.input)
        }
        Ok(other) => fail_closed(
            &agent,
            &client_core::broken_message(&format!("answered something else ({other:?})")),
        ),
        Err(e) => fail_closed(
            &agent,
            &client_core::broken_message(&format!("answered garbage ({e})")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_options_it_knows_are_read_as_cavra_hook_reads_them() {
        let d = parse_with(
            &args(&[
                "claude-code",
                "--daemon",
                "--approval-mode=store",
                "-p",
                "pack.yaml",
                "--approval-ttl",
                "5",
                "--trust-root",
                "/t.json",
                "--require-signed-policy",
            ]),
            &none,
        )
        .expect("handled here");
        assert_eq!(d.agent, "claude-code");
        assert_eq!(d.approval_mode, 1);
        assert_eq!(d.policy.as_deref(), Some("pack.yaml"));
        assert_eq!(d.approval_ttl, 5);
        assert_eq!(d.trust_root.as_deref(), Some(&b"/t.json"[..]));
        assert!(d.require_signed_policy);
        assert_eq!(d.deadline_ms, DEFAULT_DEADLINE_MS);
    }

    #[test]
    fn anything_else_goes_to_cavra_hook() {
        for list in [
            &["--help"][..],
            &["claude-code", "--unknown"],
            &["claude-code", "--approval-mode", "maybe"],
            &["claude-code", "--daemon=yes"],
            &["claude-code", "--server", "https://cavra.example"],
            &["claude-code", "--deadline-ms", "soon"],
        ] {
            assert!(parse_with(&args(list), &none).is_none(), "{list:?}");
        }
        // The API service named in the environment is `cavra hook`'s too.
        let service = |name: &str| (name == "CAVRA_SERVER").then(|| "https://x".to_string());
        assert!(parse_with(&args(&["codex"]), &service).is_none());
        let bad_fallback =
            |name: &str| (name == "CAVRA_SERVER_FALLBACK").then(|| "maybe".to_string());
        assert!(parse_with(&args(&["codex"]), &bad_fallback).is_none());
    }
}
