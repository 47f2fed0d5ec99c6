//! git configuration that makes git run a program or load code, however it is set: `git -c
//! key=value`, `git --config-env=key=VAR`, the `GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>`
//! pairs and `GIT_CONFIG_PARAMETERS` in the environment (git-config(1), git 2.47.0,
//! <https://git-scm.com/docs/git-config/2.47.0>; git(1) ENVIRONMENT VARIABLES).

use crate::RiskClass;
use crate::tools::{Info, Stdin, texts};
use crate::words::Word;

/// Keys whose value git runs through the shell (`core.pager`, `alias.x='!…'`): a key equal to
/// an entry, starting with an entry that ends in `.`, or ending with an entry that starts with
/// `.` (keys are case-insensitive; subsection names keep their case but never matter here).
const RUNS_PROGRAM: &[&str] = &[
    "core.pager",
    "core.editor",
    "core.sshcommand",
    "core.fsmonitor",
    "core.gitproxy",
    "core.askpass",
    "core.alternaterefscommand",
    "sequence.editor",
    "diff.external",
    "credential.helper",
    "gpg.program",
    "uploadpack.packobjectshook",
    "sendemail.sendmailcmd",
    "sendemail.tocmd",
    "sendemail.cccmd",
    "web.browser",
    "interactive.difffilter",
    "pager.",
    "alias.",
    ".textconv",
    ".command",
    ".clean",
    ".smudge",
    ".process",
    ".cmd",
    ".helper",
    ".driver",
    ".program",
    ".receivepack",
    ".uploadpack",
];

/// Keys whose value is code or configuration git loads, which cavra cannot read: hooks
/// folders, included configuration files, the `ext::` transport that runs commands.
const LOADS_CODE: &[&str] = &[
    "core.hookspath",
    "include.path",
    "includeif.",
    "protocol.allow",
    "protocol.ext.allow",
    "init.templatedir",
    // A working tree elsewhere, as `--work-tree`: `:/` pathspecs start at its top.
    "core.worktree",
];

/// Keys whose value names a file git reads and shows: `commit.template` becomes the commit
/// message, which `git log` prints (as `git commit -t FILE`).
const READS_FILE: &[&str] = &["commit.template"];

fn key_in(key: &str, table: &[&str]) -> bool {
    table.iter().any(|k| {
        if k.ends_with('.') {
            key.starts_with(k)
        } else if k.starts_with('.') {
            key.ends_with(k)
        } else {
            key == *k
        }
    })
}

/// What setting `key` to `value` makes git do, into `info`. `value` is `None` when it comes
/// from somewhere cavra cannot see (`--config-env`, a key without its value).
fn setting(key: &str, value: Option<&Word>, label: &str, info: &mut Info) {
    let written = key;
    let key = key.to_ascii_lowercase();
    if key_in(&key, LOADS_CODE) {
        // `protocol.allow=never` and friends only take away.
        let harmless = key.starts_with("protocol.")
            && value.is_some_and(|v| v.literal && matches!(v.text.as_str(), "never" | "user"));
        if !harmless {
            info.class(RiskClass::InterpreterInlineCode);
        }
        return;
    }
    // A remote's address with the `ext::` transport runs its command (git-remote-ext(1)):
    // as the value of `remote.NAME.url`, or as the address `url.ADDRESS.insteadOf` puts in
    // place of others (its subsection, whose letter case is kept).
    let address = if key.ends_with(".url") || key.ends_with(".pushurl") {
        value.map(|v| (v, v.text.as_str()))
    } else if key.starts_with("url.")
        && (key.ends_with(".insteadof") || key.ends_with(".pushinsteadof"))
    {
        let end = written.rfind('.').unwrap_or(written.len());
        value.map(|v| (v, written.get(4..end).unwrap_or("")))
    } else {
        None
    };
    if let Some((at, command)) =
        address.and_then(|(at, a)| a.strip_prefix("ext::").map(|c| (at, c)))
    {
        let word = Word::derived(at, &crate::tools::ext_command(command));
        info.code(&[&word], label, Stdin::Terminal);
        return;
    }
    if key_in(&key, READS_FILE) {
        match value {
            Some(v) => info.access(crate::AccessKind::Read, v, label.to_string()),
            None => info.class(RiskClass::DynamicCommand),
        }
        return;
    }
    if !key_in(&key, RUNS_PROGRAM) {
        return;
    }
    match value {
        Some(v) => {
            let program = v.text.strip_prefix('!').unwrap_or(&v.text);
            let word = Word::derived(v, program);
            info.code(&[&word], label, Stdin::Terminal);
        }
        None => info.class(RiskClass::DynamicCommand),
    }
}

/// git's own options before the subcommand: `-c key=value`, `--config-env=key=VAR` (the value
/// comes from the environment: not resolvable here), `--exec-path=DIR` (git runs its
/// programs from there) and `--git-dir=DIR` (another repository's configuration).
pub(crate) fn command_line(args: &[Word], info: &mut Info) {
    let words = texts(args);
    let end = crate::canon::git_subcommand_index(&words).unwrap_or(words.len());
    let mut i = 0;
    while i < end {
        let Some(w) = args.get(i) else { break };
        let t = w.text.as_str();
        i += 1;
        let (setting_word, text, from_env) = if t == "-c" || t == "--config-env" {
            let Some(next) = args.get(i) else { break };
            i += 1;
            (next, next.text.as_str(), t == "--config-env")
        } else if let Some(rest) = t.strip_prefix("--config-env=") {
            (w, rest, true)
        } else if let Some(rest) = t.strip_prefix("-c").filter(|r| !r.is_empty()) {
            (w, rest, false)
        } else {
            // `--git-dir=DIR` is `GIT_DIR=DIR` (environment.yaml): git then reads DIR's
            // configuration, whose keys run programs (`core.fsmonitor`, `core.sshCommand`),
            // and nothing on the line says what it holds. The repository's own `.git` is no
            // other configuration.
            let git_dir = if t == "--git-dir" {
                let value = args.get(i);
                i += 1;
                Some(value.map_or("", |v| v.text.as_str()))
            } else {
                t.strip_prefix("--git-dir=")
            };
            // `--work-tree=DIR`: the working tree elsewhere, from whose top `:/` pathspecs
            // start (`git --work-tree=/ add :/etc/shadow`). The repository's own is `.`.
            let work_tree = if t == "--work-tree" {
                let value = args.get(i);
                i += 1;
                Some(value.map_or("", |v| v.text.as_str()))
            } else {
                t.strip_prefix("--work-tree=")
            };
            if t.starts_with("--exec-path=")
                || git_dir.is_some_and(|d| !matches!(d.trim_end_matches('/'), ".git" | "./.git"))
                || work_tree.is_some_and(|d| d.trim_end_matches('/') != ".")
            {
                info.class(RiskClass::InterpreterInlineCode);
            }
            continue;
        };
        if !setting_word.literal {
            info.class(RiskClass::DynamicCommand);
            continue;
        }
        let Some((key, value)) = text.split_once('=') else {
            continue;
        };
        if from_env {
            setting(key, None, "git --config-env", info);
        } else {
            let value = Word::derived(setting_word, value);
            setting(key, Some(&value), "git -c", info);
        }
    }
}

/// `git config …` (git-config(1), git 2.47.0): a setting it writes is judged like the same
/// setting given with `git -c` (`git config core.pager 'CMD'` is a command git will run), and
/// the file it writes is a write of that file where it is not the repository's own
/// configuration (`--file F`, `--global`: `~/.gitconfig`, `--system`: `/etc/gitconfig`).
/// `--edit` hands the whole file to an editor: a write of it, `.git/config` included. Reads
/// (`--get`, `--list`, `get`, `list`) and settings of other keys derive nothing.
pub(crate) fn config_command(args: &[Word], info: &mut Info) {
    const READS: &[&str] = &[
        "--get",
        "--get-all",
        "--get-regexp",
        "--get-urlmatch",
        "--get-color",
        "--get-colorbool",
        "-l",
        "--list",
        "get",
        "list",
    ];
    const WITH_VALUE: &[&str] = &[
        "-f",
        "--file",
        "--blob",
        "--type",
        "--default",
        "--comment",
        "--value",
    ];
    let mut file: Option<Word> = None;
    let mut read = false;
    let mut edit = false;
    let mut operands: Vec<&Word> = Vec::new();
    let mut i = 0;
    while let Some(w) = args.get(i) {
        i += 1;
        let t = w.text.as_str();
        if !w.literal && t.starts_with('-') {
            // An option cavra cannot read: what the command writes is not known.
            info.class(RiskClass::DynamicCommand);
            continue;
        }
        let (name, inline) = match t.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (t, None),
        };
        if WITH_VALUE.contains(&name) {
            let value = match inline {
                Some(v) => Some(Word::derived(w, v)),
                None => {
                    i += 1;
                    args.get(i - 1).cloned()
                }
            };
            if matches!(name, "-f" | "--file") {
                file = value;
            }
            continue;
        }
        match name {
            "--global" => file = Some(Word::derived(w, "~/.gitconfig")),
            "--system" => file = Some(Word::derived(w, "/etc/gitconfig")),
            "-e" | "--edit" => edit = true,
            _ if READS.contains(&name) && (name.starts_with('-') || operands.is_empty()) => {
                read = true
            }
            "edit" if operands.is_empty() => edit = true,
            // `git config set KEY VALUE` (git 2.46): the verb is not the key.
            "set" if operands.is_empty() => {}
            _ if name.starts_with('-') => {}
            _ => operands.push(w),
        }
    }
    if edit {
        let target = file.or_else(|| args.first().map(|w| Word::derived(w, ".git/config")));
        if let Some(target) = target {
            info.access(crate::AccessKind::Write, &target, "git config --edit");
        }
        return;
    }
    if read {
        return;
    }
    let (Some(key), Some(value)) = (operands.first(), operands.get(1)) else {
        return;
    };
    if !key.literal {
        info.class(RiskClass::DynamicCommand);
        return;
    }
    setting(&key.text, Some(value), "git config", info);
    if let Some(f) = file {
        info.access(crate::AccessKind::Write, &f, "git config");
    }
}

/// The pieces of `GIT_CONFIG_PARAMETERS`: `'key'='value'` items, each part single-quoted
/// (git's own sq_quote), separated by spaces; a key may come without `=value`.
fn parameters(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let mut s = String::new();
        for c in chars.by_ref() {
            if c == '\'' {
                return s;
            }
            s.push(c);
        }
        s
    };
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let key = quoted(&mut chars);
        let value = if chars.peek() == Some(&'=') {
            chars.next();
            if chars.next() == Some('\'') {
                Some(quoted(&mut chars))
            } else {
                Some(String::new())
            }
        } else {
            None
        };
        out.push((key, value));
    }
    out
}

/// Configuration in the environment of a command: `GIT_CONFIG_KEY_<n>` with its
/// `GIT_CONFIG_VALUE_<n>`, and `GIT_CONFIG_PARAMETERS`.
pub(crate) fn environment(list: &[(&str, &Word)], info: &mut Info) {
    for (name, value) in list {
        if let Some(n) = name.strip_prefix("GIT_CONFIG_KEY_") {
            if !value.literal {
                info.class(RiskClass::DynamicCommand);
                continue;
            }
            let paired = list
                .iter()
                .find(|(k, _)| k.strip_prefix("GIT_CONFIG_VALUE_") == Some(n))
                .map(|(_, v)| *v);
            setting(&value.text, paired, "GIT_CONFIG_KEY", info);
        } else if *name == "GIT_CONFIG_PARAMETERS" {
            if !value.literal {
                info.class(RiskClass::DynamicCommand);
                continue;
            }
            for (key, v) in parameters(&value.text) {
                let v = v.map(|v| Word::derived(value, &v));
                setting(&key, v.as_ref(), "GIT_CONFIG_PARAMETERS", info);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parameters;

    #[test]
    fn config_parameters_are_read_as_git_writes_them() {
        assert_eq!(
            parameters("'core.pager'='less -R' 'alias.x'='!id'"),
            [
                ("core.pager".to_string(), Some("less -R".to_string())),
                ("alias.x".to_string(), Some("!id".to_string()))
            ]
        );
        assert_eq!(parameters("'core.bare'"), [("core.bare".to_string(), None)]);
        assert!(parameters("").is_empty());
    }
}
