//! What every subcommand needs: finding the repository, loading the policy, the clock and ids,
//! a file-system symlink resolver, and turning errors into diagnostics and exit codes.

use cavra_policy::{CompiledPack, PolicyError, ResolvedPack, compile};
use std::path::{Path, PathBuf};

/// Exit code: the action may proceed / the command succeeded.
pub const EXIT_OK: i32 = 0;
/// Exit code: an error.
pub const EXIT_ERROR: i32 = 1;
/// Exit code: a usage error.
pub const EXIT_USAGE: i32 = 2;

/// The built-in pack used when no policy is given and the repository has none.
pub use cavra_runtime::policy::DEFAULT_PACK;

/// A failure that ends a subcommand, with the exit code it maps to.
#[derive(Debug)]
pub enum Failure {
    /// A policy that cannot be used: printed as a rich diagnostic (exit 1).
    Policy(Box<PolicyError>),
    /// Bad arguments that clap could not catch (exit 2).
    Usage(String),
    /// Anything else (exit 1).
    Other(anyhow::Error),
}

impl From<PolicyError> for Failure {
    fn from(e: PolicyError) -> Self {
        Failure::Policy(Box::new(e))
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl From<cavra_runtime::keyfiles::KeyFileError> for Failure {
    fn from(e: cavra_runtime::keyfiles::KeyFileError) -> Self {
        Failure::Other(e.into())
    }
}

impl From<cavra_runtime::trust_file::TrustFileError> for Failure {
    fn from(e: cavra_runtime::trust_file::TrustFileError) -> Self {
        Failure::Other(e.into())
    }
}

impl From<cavra_validate::ValidateError> for Failure {
    fn from(e: cavra_validate::ValidateError) -> Self {
        Failure::Other(e.into())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Other(e.into())
    }
}

impl Failure {
    /// Prints the failure to stderr and returns its exit code.
    pub fn report(self) -> i32 {
        match self {
            Failure::Policy(e) => {
                eprint!("{}", policy_report(&e));
                EXIT_ERROR
            }
            Failure::Usage(msg) => {
                eprintln!("error: {msg}");
                EXIT_USAGE
            }
            Failure::Other(e) => {
                eprintln!("error: {e:#}");
                EXIT_ERROR
            }
        }
    }
}

/// A rich diagnostic for a policy error: file, line, column, the source lines, the suggestion.
pub fn policy_report(e: &PolicyError) -> crate::report::PolicyReport<'_> {
    crate::report::PolicyReport(e)
}

/// The repository root for `start`: the nearest folder up from it holding `.git`, else `start`.
pub fn find_repo_root(start: &Path) -> PathBuf {
    // One implementation, shared with the slim `cavra-hook` client.
    cavra_hook_wire::client::find_repo_root(start)
}

pub use cavra_runtime::repo::FsResolver;

/// The current folder, absolute.
pub fn current_dir() -> Result<PathBuf, Failure> {
    std::env::current_dir()
        .map_err(|e| Failure::Other(anyhow::anyhow!("cannot read the current folder: {e}")))
}

/// A policy loaded and compiled, with where it came from.
pub struct LoadedPolicy {
    /// The resolved pack.
    pub resolved: ResolvedPack,
    /// The compiled pack.
    pub compiled: CompiledPack,
}

/// Which policy applies: `--policy` (a path or a built-in id), else `CAVRA_POLICY`, else the
/// repository's `.cavra/policy.yaml`, else the built-in baseline (the runtime's rule).
pub fn policy_reference(explicit: Option<&str>, repo_root: &Path) -> String {
    cavra_runtime::policy::Source::cli(explicit, repo_root, repo_root)
        .reference()
        .unwrap_or_else(|_| DEFAULT_PACK.to_string())
}

/// A policy that cannot be used, as the failure that reports it (with its source line when
/// the pack itself is at fault).
pub fn load_failure(e: cavra_runtime::policy::LoadError) -> Failure {
    use cavra_runtime::policy::LoadError;
    match e {
        LoadError::Unusable { error, .. } | LoadError::Uncompilable { error, .. } => {
            Failure::Policy(error)
        }
        other => Failure::Other(anyhow::anyhow!("{other}")),
    }
}

/// Resolves a pack by reference, through the pack cache when there is one.
// `PolicyError` keeps its place and source for diagnostics; it is only built on the cold path.
#[allow(clippy::result_large_err)]
pub fn resolve_pack(reference: &str, base: &Path) -> Result<ResolvedPack, PolicyError> {
    cavra_runtime::policy::resolve_pack_with_cache(
        reference,
        base,
        cavra_runtime::policy::pack_cache_dir_in(cavra_runtime::policy::process_env),
    )
}

/// Loads and compiles a policy by reference, relative paths against the current folder.
pub fn load_policy(reference: &str) -> Result<LoadedPolicy, Failure> {
    let base = current_dir()?;
    let resolved = resolve_pack(reference, &base)?;
    let compiled = compile(&resolved)?;
    Ok(LoadedPolicy { resolved, compiled })
}

pub use cavra_runtime::now_rfc3339;

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Other(e.into()))?;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(Failure::from),
    }
}

/// Whether stdout is a terminal (for colour).
pub fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints what a reading command found: its JSON with `--json`, else `text` as it is.
pub fn show<T: serde::Serialize>(json: bool, value: &T, text: &str) -> Result<i32, Failure> {
    if json {
        print_json(value)?
    } else {
        print!("{text}")
    }
    Ok(EXIT_OK)
}

/// Prints what a mutating command did: its JSON with `--json`, else its sentence. Every
/// mutating command reports through here, so scripts never have to parse prose.
pub fn done(json: bool, value: &serde_json::Value, text: &str) -> Result<i32, Failure> {
    if json {
        print_json(value)?;
    } else {
        println!("{text}");
    }
    Ok(EXIT_OK)
}
