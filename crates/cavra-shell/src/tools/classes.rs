//! Risk classes that follow from a command's name and arguments (privilege escalation, host
//! power, remote code, package installs), and `git push` read as a push.

use super::*;

/// Risk classes that follow from the command name and its arguments alone.
pub(crate) fn classes(base: &str, args: &[Word], info: &mut Info) {
    let t = texts(args);
    if escalates(base, &t) {
        info.class(RiskClass::PrivilegeEscalation);
    }
    if base == "rm" {
        let p = opts::parse(args, &Spec::default());
        if opts::has(&p, &["r", "R", "recursive"]) {
            info.class(RiskClass::RecursiveDelete);
        }
    }
    let egress = match base {
        "curl" | "wget" | "nc" | "ncat" | "netcat" | "socat" | "ssh" | "scp" | "sftp"
        | "telnet" | "ftp" | "http" | "https" | "aria2c" | "xh" | "lftp" => true,
        "rsync" => args.iter().any(|w| is_remote(&w.text)),
        _ => serves_files(base, &t),
    };
    if egress {
        info.class(RiskClass::NetworkEgress);
    }
    if package_install(base, &t) {
        info.class(RiskClass::PackageInstall);
    }
}

/// Whether the command starts a web server over a folder (`python -m http.server`, `php -S`,
/// `ruby -run -e httpd`, `busybox httpd`): every file below it, `.env` included, is then
/// served to whoever connects, so it is treated as sending files out (`network_egress`).
fn serves_files(base: &str, t: &[&str]) -> bool {
    let python = base.starts_with("python") || base.starts_with("pypy");
    // `-m MODULE` or `-mMODULE`.
    let module = t.iter().enumerate().find_map(|(i, w)| {
        if *w == "-m" {
            t.get(i + 1).copied()
        } else {
            w.strip_prefix("-m").filter(|m| !m.is_empty())
        }
    });
    (python
        && matches!(
            module,
            Some("http.server" | "SimpleHTTPServer" | "uploadserver")
        ))
        || (base == "php" && t.iter().any(|w| *w == "-S" || w.starts_with("-S")))
        || (base == "ruby" && t.windows(2).any(|p| p == ["-e", "httpd"]) && t.contains(&"-run"))
        || (base == "busybox" && t.first() == Some(&"httpd"))
        || base == "httpd"
}

/// Whether the command gains privileges the agent does not have through an option's value: it
/// marks a file set-user/group-ID (`chmod u+s`, `chmod 4755`, `install -m 4755`), enters the
/// init process's namespaces (`nsenter -t 1`), runs a unit
/// through the system manager (`systemd-run` without `--user`), or starts a container with the
/// host's power (`--privileged`, host PID namespace, dangerous capabilities, the host's root or
/// control sockets mounted in). Programs that always gain privileges (`sudo`, `doas`, `su`,
/// `pkexec`, `run0`, `setcap`, `chroot`, `machinectl shell`, …) and options that do
/// (`unshare -r`, `setpriv --reuid`, `capsh --uid`) are data: `knowledge/privilege.yaml`.
pub(crate) fn escalates(base: &str, t: &[&str]) -> bool {
    match base {
        // Without --user it asks the system manager, which runs the unit as root.
        "systemd-run" => !t.contains(&"--user"),
        "chmod" => chmod_sets_id(t),
        "nsenter" => nsenter_init(t),
        "install" => option_values(t, &["-m"], &["--mode"])
            .iter()
            .any(|m| mode_sets_id(m)),
        "docker-compose" | "podman-compose" => t
            .iter()
            .position(|w| *w == "run")
            .is_some_and(|run| container_escalates(t.get(run..).unwrap_or(&[]))),
        "docker" | "podman" | "nerdctl" => {
            let sub = crate::canon::tool_subcommand_index("docker", t).unwrap_or(0);
            let mut rest = t.get(sub..).unwrap_or(&[]);
            if rest.first() == Some(&"container") {
                rest = rest.get(1..).unwrap_or(&[]);
            }
            // `docker compose [project options] run …` takes the same volume, capability and
            // user options for the one-off container it starts.
            if rest.first() == Some(&"compose")
                && let Some(run) = rest.iter().position(|w| *w == "run")
            {
                rest = rest.get(run..).unwrap_or(&[]);
            }
            rest.first()
                .is_some_and(|s| matches!(*s, "run" | "create" | "exec"))
                && container_escalates(rest)
        }
        _ => false,
    }
}

/// Values of an option given as `-m V`, `-mV`, `--mode V` or `--mode=V`.
pub(crate) fn option_values<'a>(t: &[&'a str], short: &[&str], long: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(a) = t.get(i) {
        i += 1;
        if *a == "--" {
            break;
        }
        if let Some((name, v)) = a.split_once('=')
            && (long.contains(&name) || short.contains(&name))
        {
            out.push(v);
            continue;
        }
        if long.contains(a) || short.contains(a) {
            if let Some(v) = t.get(i) {
                out.push(*v);
                i += 1;
            }
            continue;
        }
        for s in short {
            if let Some(v) = a.strip_prefix(s)
                && !v.is_empty()
                && !a.starts_with("--")
            {
                out.push(v);
            }
        }
    }
    out
}

/// A chmod/install mode that sets the set-user-ID or set-group-ID bit: symbolic (`u+s`,
/// `g=rwxs`, `+s`, `a+rs,o-w`) or octal with the 4000/2000 bits (`4755`, `2775`, `06755`).
pub(crate) fn mode_sets_id(mode: &str) -> bool {
    // GNU chmod takes a numeric mode after an operator too (`=4755`, `+4000`; `-6000`
    // clears): then the bits count however few digits are written.
    let (operator, digits) = match mode.strip_prefix(['+', '=', '-']) {
        Some(rest) => (mode.chars().next(), rest),
        None => (None, mode),
    };
    if !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        let value = digits
            .bytes()
            .fold(0u32, |v, b| (v << 3) | u32::from(b.saturating_sub(b'0')));
        return match operator {
            Some('-') => false,
            Some(_) => value & 0o6000 != 0,
            None => digits.len() >= 4 && value & 0o6000 != 0,
        };
    }
    mode.split(',').any(|clause| {
        // `[ugoa]*([-+=][rwxXst]*)+`: an operator that adds, followed by `s`.
        let mut adding = false;
        for c in clause.chars() {
            match c {
                '+' | '=' => adding = true,
                '-' => adding = false,
                's' if adding => return true,
                _ => {}
            }
        }
        false
    })
}

pub(crate) fn chmod_sets_id(t: &[&str]) -> bool {
    // `--reference=RFILE` copies RFILE's mode, set-ID bits included: a file outside the
    // project (`/usr/bin/passwd`, `~/bin/x`) may well carry them, and nothing on the line
    // says it does not.
    let mut words = t.iter();
    while let Some(w) = words.next() {
        let reference = match w.strip_prefix("--reference") {
            Some("") => words.next().copied(),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if reference.is_some_and(|r| r.starts_with(['/', '~']) || r.starts_with("../")) {
            return true;
        }
    }
    // The mode is the first word that is not an option; `-s`-like words that are modes
    // (`-s`, `+s`) are modes to chmod too, so every word is checked except known options.
    t.iter()
        .filter(|a| {
            !matches!(
                **a,
                "-R" | "-v"
                    | "-c"
                    | "-f"
                    | "--recursive"
                    | "--verbose"
                    | "--changes"
                    | "--silent"
                    | "--quiet"
                    | "--"
            ) && !a.starts_with("--reference")
        })
        .take(1)
        .any(|m| mode_sets_id(m))
}

/// `nsenter -t 1`, `--target 1`, `--target=1`, `-t1`, `-at 1`, `-t 01`, or init's namespace
/// files (`--mount=/proc/1/ns/mnt`): the init process's namespaces.
pub(crate) fn nsenter_init(t: &[&str]) -> bool {
    let mut i = 0;
    while let Some(a) = t.get(i) {
        i += 1;
        let value = if *a == "--target" || *a == "-t" {
            t.get(i).copied()
        } else if let Some(v) = a.strip_prefix("--target=") {
            Some(v)
        } else if a.starts_with('-') && !a.starts_with("--") {
            match a.find('t') {
                Some(p) if p + 1 < a.len() => a.get(p + 1..),
                Some(_) => t.get(i).copied(),
                None => None,
            }
        } else {
            None
        };
        // util-linux reads the PID as a decimal number: `01` and `+1` are 1 too.
        if value.is_some_and(|v| v.trim_start_matches('+').trim_start_matches('0') == "1") {
            return true;
        }
        // `--mount=/proc/1/ns/mnt`, `-n/proc/1/ns/net`: init's namespace files.
        if a.starts_with('-') && a.contains("/proc/1/") {
            return true;
        }
    }
    false
}

/// Host paths that hand a container the machine: its root, system configuration, kernel
/// interfaces, devices and the container engine's own control socket.
pub(crate) fn is_host_power_path(p: &str) -> bool {
    let mut norm = String::new();
    for part in p.split('/').filter(|s| !s.is_empty() && *s != ".") {
        norm.push('/');
        norm.push_str(part);
    }
    if !p.starts_with('/') {
        return false;
    }
    if norm.is_empty() {
        return true;
    }
    const POWER: &[&str] = &[
        "/etc",
        "/root",
        "/proc",
        "/sys",
        "/dev",
        "/boot",
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/podman/podman.sock",
        "/run/containerd",
        "/var/lib/docker",
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
    ];
    POWER
        .iter()
        .any(|x| norm == *x || norm.starts_with(&format!("{x}/")))
}

/// `docker run|create|exec …` options that give the container the host's power.
pub(crate) fn container_escalates(rest: &[&str]) -> bool {
    let mut i = 1;
    while let Some(a) = rest.get(i) {
        i += 1;
        if !a.starts_with('-') {
            // The image: what follows is the container's command.
            return false;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None if a.starts_with("-v") && a.len() > 2 => ("-v", Some(&a[2..])),
            None => (*a, None),
        };
        let takes_value = matches!(
            name,
            "-v" | "--volume"
                | "--mount"
                | "--pid"
                | "--cap-add"
                | "--userns"
                | "--security-opt"
                | "--device"
                | "--ipc"
                | "--uts"
                | "--cgroupns"
                | "-e"
                | "--env"
                | "-u"
                | "--user"
                | "-w"
                | "--workdir"
                | "--name"
                | "-p"
                | "--publish"
                | "--network"
                | "--net"
                | "--entrypoint"
                | "-l"
                | "--label"
                | "--env-file"
                | "--platform"
                | "--hostname"
                | "-h"
        );
        let value = match inline {
            Some(v) => Some(v),
            None if takes_value => {
                let v = rest.get(i).copied();
                i += 1;
                v
            }
            None => None,
        };
        let v = value.unwrap_or("");
        let hit = match name {
            "--privileged" => inline.is_none_or(|v| v != "false"),
            "--pid" | "--userns" | "--ipc" | "--uts" | "--cgroupns" => v == "host",
            "--cap-add" => v.split(',').any(|c| {
                let c = c.trim().to_ascii_uppercase();
                let c = c.strip_prefix("CAP_").unwrap_or(&c);
                matches!(
                    c,
                    "ALL" | "SYS_ADMIN" | "SYS_PTRACE" | "SYS_MODULE" | "DAC_READ_SEARCH"
                        | "SYS_RAWIO" | "SETUID" | "SETGID" | "DAC_OVERRIDE"
                )
            }),
            "--security-opt" => v.contains("unconfined") || v.contains("no-new-privileges=false"),
            "-v" | "--volume" => is_host_power_path(v.split(':').next().unwrap_or("")),
            "--mount" => v.split(',').any(|kv| {
                matches!(kv.split_once('='), Some(("source" | "src", p)) if is_host_power_path(p))
            }),
            _ => false,
        };
        if hit {
            return true;
        }
    }
    false
}

/// `host:path`, `user@host:path` or `rsync://…`, as used by scp and rsync.
pub(crate) fn is_remote(t: &str) -> bool {
    if t.starts_with('-') {
        return false;
    }
    if t.contains("://") {
        return true;
    }
    match t.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/'),
        None => false,
    }
}

/// Package installs whose spelling needs more than a subcommand word (`pip3.12 install`,
/// `python -m pip install`, `pacman -S`); runners that fetch packages (`npx`, `pipx run`,
/// `uvx`) and plain install subcommands of other managers (`composer install`) are data:
/// `knowledge/packages.yaml`.
pub(crate) fn package_install(base: &str, t: &[&str]) -> bool {
    let ops: Vec<&str> = t.iter().copied().filter(|a| !a.starts_with('-')).collect();
    let sub = ops.first().copied().unwrap_or("");
    let sub2 = ops.get(1).copied().unwrap_or("");
    match base {
        "npm" => matches!(
            sub,
            "install" | "i" | "add" | "ci" | "in" | "ins" | "inst" | "isntall" | "exec" | "x"
        ),
        "pnpm" => matches!(sub, "install" | "i" | "add" | "dlx"),
        "yarn" => ops.is_empty() || matches!(sub, "install" | "add" | "dlx"),
        "bun" => matches!(sub, "install" | "i" | "add" | "a" | "x"),
        b if b == "pip"
            || (b.starts_with("pip") && b[3..].chars().all(|c| c.is_ascii_digit() || c == '.')) =>
        {
            sub == "install"
        }
        b if is_python(b) => t
            .iter()
            .position(|a| *a == "-m")
            .and_then(|i| t.get(i + 1..))
            .is_some_and(|rest| {
                rest.first().is_some_and(|m| m.starts_with("pip")) && rest.contains(&"install")
            }),
        "uv" => {
            (sub == "pip" && sub2 == "install")
                || sub == "add"
                || (sub == "tool" && sub2 == "install")
        }
        "poetry" => matches!(sub, "add" | "install"),
        "cargo" => matches!(sub, "install" | "add" | "binstall"),
        "gem" => sub == "install",
        "go" => matches!(sub, "install" | "get"),
        "apt" | "apt-get" | "dnf" | "yum" | "zypper" | "brew" | "conda" | "mamba" | "snap"
        | "flatpak" | "port" | "pkg" => matches!(sub, "install" | "in" | "add" | "reinstall"),
        "apk" => sub == "add",
        "pacman" | "yay" | "paru" => t.iter().any(|a| {
            a.starts_with("-S") && !a.starts_with("-Ss") && !a.starts_with("-Si") || *a == "--sync"
        }),
        _ => false,
    }
}

/// `git [globals] push …`.
pub(crate) fn git_push(args: &[Word]) -> Option<Push> {
    let t = texts(args);
    let sub = crate::canon::git_subcommand_index(&t)?;
    if t.get(sub) != Some(&"push") {
        return None;
    }
    let rest = args.get(sub + 1..)?;
    let p = opts::parse(
        rest,
        &Spec {
            short_val: "o",
            long_val: &["push-option", "repo", "receive-pack", "exec"],
            stop_at_operand: false,
        },
    );
    let mut push = Push::default();
    for item in &p {
        let Parsed::Opt(name, value) = item else {
            continue;
        };
        match name.as_str() {
            "f" | "force" | "force-with-lease" | "force-if-includes" => push.force = true,
            // `--prune` deletes every remote branch its refspecs cover that the local side
            // lacks, the protected ones included, as `--mirror` does.
            "mirror" | "prune" => {
                push.force = true;
                push.all_branches = true;
            }
            "all" | "branches" => push.all_branches = true,
            // GitLab opens a merge request for the pushed branch when asked by push option.
            "o" | "push-option"
                if value
                    .as_ref()
                    .is_some_and(|v| v.text.starts_with("merge_request.create")) =>
            {
                push.opens_pull_request = true;
            }
            "repo" if push.remote.is_none() => {
                push.remote = value.as_ref().map(|v| v.text.clone());
            }
            _ => {}
        }
    }
    let ops = opts::operands(&p);
    let mut ops = ops.iter().filter_map(|&i| rest.get(i));
    if let Some(r) = ops.next() {
        push.remote = Some(r.text.clone());
    }
    let mut given = false;
    for r in ops {
        given = true;
        push_refspec(&r.text, &mut push);
    }
    // git's own options before `push` (git -c …): the refspecs and mode a remote's
    // configuration gives when the line gives none (git-config(1): `remote.NAME.push`,
    // `remote.NAME.mirror`, `push.default=matching`).
    let mut i = 0;
    while i < sub {
        let setting = match t.get(i).copied() {
            Some("-c") => {
                i += 1;
                t.get(i).copied()
            }
            Some(w) => w.strip_prefix("-c").filter(|r| !r.is_empty()),
            None => None,
        };
        i += 1;
        let Some((key, value)) = setting.and_then(|s| s.split_once('=')) else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if key.starts_with("remote.") && key.ends_with(".push") && !given {
            push_refspec(value, &mut push);
        } else if key.starts_with("remote.") && key.ends_with(".mirror") && value != "false" {
            push.force = true;
            push.all_branches = true;
        } else if key == "push.default" && value.eq_ignore_ascii_case("matching") && !given {
            push.all_branches = true;
        }
    }
    Some(push)
}

/// One refspec of a push (git-push(1)): its destination branch, or every branch for the
/// matching refspec (`:`) and for a pattern whose destination may be a branch
/// (`refs/heads/*:refs/heads/*`). A destination not under `refs/` is one git completes from
/// the remote's refs, `heads/main` among them as `refs/heads/main`.
fn push_refspec(spec: &str, push: &mut Push) {
    let body = match spec.strip_prefix('+') {
        Some(b) => {
            push.force = true;
            b
        }
        None => spec,
    };
    let dst = match body.split_once(':') {
        Some((src, "")) => src,
        Some((_, dst)) => dst,
        None => body,
    };
    if body == ":"
        || (dst.contains('*') && (dst.starts_with("refs/heads/") || !dst.starts_with("refs/")))
    {
        push.all_branches = true;
    }
    let dst = dst
        .strip_prefix("refs/heads/")
        .or_else(|| dst.strip_prefix("heads/"))
        .unwrap_or(dst);
    if !dst.is_empty() {
        push.branches.push(dst.to_string());
    }
    push.refspecs.push(spec.to_string());
}

/// Whether the command opens a pull (merge) request on a forge: `gh pr create` (or `new`),
/// `glab mr create` (or `new`), `hub pull-request`. Only the forge CLIs' own spellings; a push
/// that asks GitLab to open one is found by [`git_push`].
pub(crate) fn opens_pull_request(base: &str, args: &[Word]) -> bool {
    // The options these CLIs accept before the subcommand words that take a value.
    let takes_value: &[&str] = match base {
        "gh" | "glab" => &["-R", "--repo"],
        "hub" => &["-C", "-c"],
        _ => return false,
    };
    let mut words = Vec::new();
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        if takes_value.contains(&t) {
            i += 2;
            continue;
        }
        if !t.starts_with('-') {
            words.push(t);
            if words.len() == 2 {
                break;
            }
        }
        i += 1;
    }
    match (base, words.as_slice()) {
        ("gh", ["pr", sub, ..]) | ("glab", ["mr", sub, ..]) => matches!(*sub, "create" | "new"),
        ("hub", ["pull-request", ..]) => true,
        _ => false,
    }
}
