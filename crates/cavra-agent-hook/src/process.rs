//! The hook as a process: one answer printed (by the hook or by its watchdog, whichever comes
//! first), stdin read with a bound, and fatal signals answered as a block. An agent lets its
//! tool run when a hook crashes, exits with an unexpected code or times out, so nothing here
//! may end the process any other way.

use crate::options::{HookEnv, HookOptions, MAX_INPUT_BYTES};
use cavra_agents::Answer;
use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Guards the single answer: whoever takes it first (the hook or the watchdog) prints.
static ANSWERED: Mutex<bool> = Mutex::new(false);

/// Set while the client waits on the hook server, so that the watchdog's deny names it.
pub static WAITING_ON_SERVER: AtomicBool = AtomicBool::new(false);

/// Prints the answer and exits with its code, unless the other side (hook or watchdog)
/// already did.
pub fn emit(answer: &Answer) -> ! {
    // A poisoned lock still guards the flag; the answer must go out either way.
    let mut done = ANSWERED.lock().unwrap_or_else(|p| p.into_inner());
    if !*done {
        *done = true;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(answer.stdout.as_bytes());
        if !answer.stdout.is_empty() {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
        if !answer.stderr.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}", answer.stderr);
            let _ = err.flush();
        }
        std::process::exit(answer.exit_code);
    }
    // The other side is answering and will exit the process.
    drop(done);
    loop {
        std::thread::park();
    }
}

/// Runs the hook. Never returns: the process exits with the agent's exit code.
pub fn run(args: &HookOptions) -> ! {
    let agent = args.agent;
    install_crash_guard();
    // Panics print one line to stderr and nothing to stdout; catch_unwind turns them into a deny.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(std::io::stderr(), "cavra hook: internal error: {info}");
    }));
    let deadline = Duration::from_millis(args.deadline_ms.max(1));
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        let message = if WAITING_ON_SERVER.load(Ordering::SeqCst) {
            cavra_hook_wire::client::deadline_message(deadline.as_millis())
        } else {
            format!(
                "no decision within {} ms (the hook's deadline); check that .cavra/ is on a local disk and not locked by another process",
                deadline.as_millis()
            )
        };
        emit(&cavra_agents::render_failure(agent, &message));
    });
    let input = read_input();
    let env = HookEnv::from_process();
    if args.daemon
        && let Ok(bytes) = &input
        && let Some(answer) = crate::daemon::ask(args, bytes, &env)
    {
        emit(&answer);
    }
    emit(&crate::answer(
        args,
        input.as_deref(),
        &env,
        &mut crate::OneShot::default(),
    ))
}

/// Reads stdin, at most [`MAX_INPUT_BYTES`]; more is an error.
pub fn read_input() -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("could not read the hook input on stdin: {e}"))?;
    if buf.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "the hook input is larger than {} KiB; cavra refuses inputs it will not read whole",
            MAX_INPUT_BYTES / 1024
        ));
    }
    Ok(buf)
}

/// A crash in native code (a C library's segmentation fault) cannot be caught as a panic,
/// and an agent lets its tool run when a hook dies of a signal. So the fatal signals answer
/// the one way every agent reads as a block: the reason on stderr and exit code 2. The
/// handler only calls async-signal-safe functions, and runs on the alternate signal stack that
/// Rust sets up, so a stack overflow is answered too.
fn install_crash_guard() {
    extern "C" fn on_fatal_signal(_signal: libc::c_int) {
        const MESSAGE: &[u8] =
            b"cavra blocked this tool call: cavra crashed while deciding (a fatal signal); nothing was decided, so nothing may run\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; MESSAGE is a static buffer.
        unsafe {
            libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
            libc::_exit(2);
        }
    }
    for signal in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGABRT,
    ] {
        // SAFETY: a zeroed sigaction is a valid start; the handler is an `extern "C" fn(c_int)`.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fatal_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}
