//! Canonical command forms and their alternate spellings.

use crate::knowledge::Knowledge;
use crate::words::Word;

/// Most alternate spellings produced for one command (canonical included).
const MAX_VARIANTS: usize = 8;

/// The executable's base name: the directory is meaningless for policy (`/usr/bin/rm` is `rm`).
pub(crate) fn basename(name: &str) -> &str {
    match name.rsplit_once('/') {
        Some((_, base)) if !base.is_empty() => base,
        _ => name,
    }
}

/// Git options placed before the subcommand that only choose where/how git runs, not what the
/// subcommand does. The `bool` says whether the option takes the next word as its value.
const GIT_NEUTRAL_GLOBALS: &[(&str, bool)] = &[
    ("-C", true),
    ("-c", true),
    ("--git-dir", true),
    ("--work-tree", true),
    ("--namespace", true),
    ("--config-env", true),
    ("--exec-path", false),
    ("--no-pager", false),
    ("-P", false),
    ("-p", false),
    ("--paginate", false),
    ("--no-replace-objects", false),
    ("--bare", false),
    ("--literal-pathspecs", false),
    ("--glob-pathspecs", false),
    ("--noglob-pathspecs", false),
    ("--icase-pathspecs", false),
    ("--no-optional-locks", false),
];

/// Index of git's subcommand in `args` (the words after `git`), skipping global options.
pub(crate) fn git_subcommand_index(args: &[&str]) -> Option<usize> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if !a.starts_with('-') {
            return Some(i);
        }
        let (name, has_inline) = match a.split_once('=') {
            Some((n, _)) => (n, true),
            None => (*a, false),
        };
        let takes_value = GIT_NEUTRAL_GLOBALS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or(false);
        i += if takes_value && !has_inline { 2 } else { 1 };
    }
    None
}

/// Options of other infrastructure tools that may stand before the subcommand and only choose
/// where the tool acts (which directory, namespace, profile, context), so that
/// `kubectl -n prod delete pod x` is matched as `kubectl delete pod x`. The `bool` says whether
/// the option takes the next word as its value (an inline `--opt=value` never does).
const TOOL_NEUTRAL_GLOBALS: &[(&str, &[(&str, bool)])] = &[
    ("terraform", &[("-chdir", false), ("-no-color", false)]),
    ("tofu", &[("-chdir", false), ("-no-color", false)]),
    (
        "kubectl",
        &[
            ("-n", true),
            ("--namespace", true),
            ("--context", true),
            ("--kubeconfig", true),
            ("--cluster", true),
            ("--user", true),
            ("-s", true),
            ("--server", true),
            ("--as", true),
            ("--as-group", true),
            ("--token", true),
            ("--request-timeout", true),
            ("-v", true),
            ("--v", true),
            ("--insecure-skip-tls-verify", false),
            ("-A", false),
            ("--all-namespaces", false),
        ],
    ),
    (
        "helm",
        &[
            ("-n", true),
            ("--namespace", true),
            ("--kube-context", true),
            ("--kubeconfig", true),
            ("--debug", false),
        ],
    ),
    (
        "aws",
        &[
            ("--profile", true),
            ("--region", true),
            ("--output", true),
            ("--endpoint-url", true),
            ("--query", true),
            ("--color", true),
            ("--ca-bundle", true),
            ("--cli-read-timeout", true),
            ("--cli-connect-timeout", true),
            ("--no-verify-ssl", false),
            ("--no-paginate", false),
            ("--no-cli-pager", false),
            ("--no-sign-request", false),
            ("--debug", false),
        ],
    ),
    (
        "gcloud",
        &[
            ("--project", true),
            ("--account", true),
            ("--configuration", true),
            ("--verbosity", true),
            ("--format", true),
            ("--quiet", false),
            ("-q", false),
        ],
    ),
    (
        "docker",
        &[
            ("-H", true),
            ("--host", true),
            ("--context", true),
            ("-c", true),
            ("--config", true),
            ("-l", true),
            ("--log-level", true),
            ("-D", false),
            ("--debug", false),
        ],
    ),
];

/// Index of the subcommand of `tool` in `args`, skipping the tool's neutral global options;
/// `None` for tools without such options, or when an option before the subcommand is not a
/// known neutral one (then nothing is dropped: cavra never guesses what an option means).
pub(crate) fn tool_subcommand_index(tool: &str, args: &[&str]) -> Option<usize> {
    let (_, globals) = TOOL_NEUTRAL_GLOBALS.iter().find(|(t, _)| *t == tool)?;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if !a.starts_with('-') {
            return (i > 0).then_some(i);
        }
        let (name, has_inline) = match a.split_once('=') {
            Some((n, _)) => (n, true),
            None => (*a, false),
        };
        let found = globals.iter().find(|(n, _)| *n == name);
        let (takes_value, has_inline) = match found {
            Some((_, v)) => (*v, has_inline),
            // A short option with its value attached: `-nprod`, `-sURL`.
            None if !a.starts_with("--") && a.len() > 2 => {
                let short = &a[..2];
                match globals.iter().find(|(n, v)| *n == short && *v) {
                    Some(_) => (true, true),
                    None => return None,
                }
            }
            None => return None,
        };
        i += if takes_value && !has_inline { 2 } else { 1 };
    }
    None
}

/// Whether `tok` is a cluster of short flags (`-rf`): a dash then ASCII letters only.
fn is_short_cluster(tok: &str) -> bool {
    // Long runs of letters are single-dash words (`-version`), not flag clusters.
    (2..=6).contains(&tok.len())
        && tok.starts_with('-')
        && !tok.starts_with("--")
        && tok[1..].bytes().all(|b| b.is_ascii_alphabetic())
}

/// `rm` flag spellings folded to their short form before variants are built.
fn fold_rm_flag(tok: &str) -> &str {
    match tok {
        "--recursive" => "-r",
        "--force" => "-f",
        "-R" => "-r",
        "--dir" => "-d",
        "--verbose" => "-v",
        "--interactive" => "-i",
        _ => tok,
    }
}

/// Tools whose options are single-dash words (`find -name`, `java -version`): their letters are
/// not clusters of short flags, so no merged/split spellings are made for them.
const SINGLE_DASH_LONG: &[&str] = &[
    "find",
    "java",
    "javac",
    "terraform",
    "tofu",
    "go",
    "openssl",
    "gcc",
    "g++",
    "cc",
    "clang",
    "clang++",
    "ffmpeg",
    "ffprobe",
    "xcodebuild",
    "keytool",
    "qemu-system-x86_64",
    "iptables",
    "ip",
    "tc",
];

/// Canonical form and variants of a command whose name is `name` (already a base name when
/// literal) and arguments `args`. Only arguments before `flag_limit` (where a wrapper's inner
/// command starts) are considered flags of this command.
pub(crate) fn forms(
    kb: &Knowledge,
    name: &str,
    name_literal: bool,
    args: &[Word],
    flag_limit: usize,
) -> (String, Vec<String>, Vec<String>) {
    let mut toks: Vec<&str> = args.iter().map(|w| w.text.as_str()).collect();
    if name_literal
        && name == "git"
        && let Some(i) = git_subcommand_index(&toks)
    {
        toks.drain(..i);
    } else if name_literal && let Some(i) = tool_subcommand_index(name, &toks) {
        toks.drain(..i);
    }
    // Subcommands as words: neutral options before a (nested) subcommand word dropped,
    // subcommand spellings written as the knowledge base spells them.
    if name_literal && let Some(words) = crate::knowledge::canonical_words(kb, name, &toks) {
        toks = words;
    }
    let original: Vec<&str> = toks.clone();
    if name_literal && name == "rm" {
        let mut ended = false;
        for t in toks.iter_mut() {
            if *t == "--" {
                ended = true;
            }
            if !ended {
                *t = fold_rm_flag(t);
            }
        }
    }
    let join = |ts: &[&str]| -> String {
        let mut s = String::from(name);
        for t in ts {
            s.push(' ');
            s.push_str(t);
        }
        s
    };
    let key = |ts: &[&str]| -> String {
        let mut k = String::new();
        crate::pattern::push_key_word(&mut k, name, true);
        for t in ts {
            crate::pattern::push_key_word(&mut k, t, false);
        }
        k
    };
    let canonical = join(&toks);
    let mut variants = vec![canonical.clone()];
    let mut keys = vec![key(&toks)];
    let mut add = |ts: &[&str]| {
        let v = join(ts);
        if variants.len() < MAX_VARIANTS && !variants.contains(&v) {
            variants.push(v);
            keys.push(key(ts));
        }
    };

    // Only flags before `--` are flags.
    let end = toks
        .iter()
        .position(|t| *t == "--")
        .unwrap_or(toks.len())
        .min(flag_limit);
    let cluster_idx: Vec<usize> = if name_literal && SINGLE_DASH_LONG.contains(&name) {
        Vec::new()
    } else {
        (0..end)
            .filter(|&i| toks.get(i).is_some_and(|t| is_short_cluster(t)))
            .collect()
    };
    // Membership by position; a hostile line can have tens of thousands of flags.
    let mut is_cluster = vec![false; toks.len()];
    for &i in &cluster_idx {
        if let Some(slot) = is_cluster.get_mut(i) {
            *slot = true;
        }
    }
    let clustered = |i: usize| is_cluster.get(i).copied().unwrap_or(false);
    if let Some(&first) = cluster_idx.first() {
        let letters: Vec<char> = cluster_idx
            .iter()
            .filter_map(|&i| toks.get(i))
            .flat_map(|t| t.chars().skip(1))
            .collect();
        let mut uniq: Vec<char> = Vec::new();
        for c in &letters {
            if !uniq.contains(c) {
                uniq.push(*c);
            }
        }
        // Split: every cluster becomes single flags in place.
        let mut split: Vec<String> = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            if clustered(i) {
                split.extend(t.chars().skip(1).map(|c| format!("-{c}")));
            } else {
                split.push((*t).to_string());
            }
        }
        let split_refs: Vec<&str> = split.iter().map(String::as_str).collect();
        add(&split_refs);

        let merged_with = |order: &[char], add: &mut dyn FnMut(&[&str])| {
            let cluster: String = std::iter::once('-').chain(order.iter().copied()).collect();
            let mut out: Vec<&str> = Vec::new();
            for (i, t) in toks.iter().enumerate() {
                if i == first {
                    out.push(cluster.as_str());
                } else if !clustered(i) {
                    out.push(t);
                }
            }
            add(&out);
        };
        merged_with(&uniq, &mut add);
        let mut sorted = uniq.clone();
        sorted.sort_unstable();
        merged_with(&sorted, &mut add);
        sorted.reverse();
        merged_with(&sorted, &mut add);
    }
    // The spelling as written, so a pattern using the long flags still matches.
    add(&original);
    (canonical, variants, keys)
}

/// See [`crate::canonicalize_pattern`].
pub(crate) fn canonicalize_pattern(pattern: &str) -> String {
    let mut words = pattern.split_whitespace();
    let Some(first) = words.next() else {
        return String::new();
    };
    let mut out = basename(first).to_string();
    for w in words {
        out.push(' ');
        out.push_str(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basenames() {
        assert_eq!(basename("/usr/bin/terraform"), "terraform");
        assert_eq!(basename("./x"), "x");
        assert_eq!(basename("x"), "x");
        assert_eq!(basename("dir/"), "dir/");
    }

    #[test]
    fn patterns() {
        assert_eq!(canonicalize_pattern("  /usr/bin/rm   -rf\t* "), "rm -rf *");
        assert_eq!(canonicalize_pattern(""), "");
        assert_eq!(canonicalize_pattern("terraform apply*"), "terraform apply*");
    }

    #[test]
    fn tool_globals() {
        assert_eq!(
            tool_subcommand_index("kubectl", &["-n", "prod", "delete", "pod"]),
            Some(2)
        );
        assert_eq!(
            tool_subcommand_index("kubectl", &["--context=x", "delete"]),
            Some(1)
        );
        assert_eq!(
            tool_subcommand_index("kubectl", &["-nprod", "delete"]),
            Some(1)
        );
        assert_eq!(
            tool_subcommand_index("terraform", &["-chdir=infra", "apply"]),
            Some(1)
        );
        assert_eq!(
            tool_subcommand_index("aws", &["--profile", "p", "--region", "r", "iam", "x"]),
            Some(4)
        );
        assert_eq!(
            tool_subcommand_index("kubectl", &["--weird", "delete"]),
            None
        );
        assert_eq!(tool_subcommand_index("kubectl", &["delete"]), None);
        assert_eq!(tool_subcommand_index("ls", &["-la"]), None);
    }

    #[test]
    fn git_globals() {
        assert_eq!(git_subcommand_index(&["-C", "d", "push"]), Some(2));
        assert_eq!(
            git_subcommand_index(&["--git-dir=x", "-c", "a=b", "push"]),
            Some(3)
        );
        assert_eq!(git_subcommand_index(&["--no-pager", "log"]), Some(1));
        assert_eq!(git_subcommand_index(&["-C"]), None);
    }
}
