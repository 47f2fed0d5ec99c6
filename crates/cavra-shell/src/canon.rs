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

/// Index of git's subcommand in `args` (the words after `git`), skipping git's own options
/// (`knowledge/infrastructure.yaml` lists those that take a value).
pub(crate) fn git_subcommand_index(args: &[&str]) -> Option<usize> {
    crate::knowledge::program_words_start(Knowledge::builtin(), "git", args)
}

/// Index of the subcommand of `tool` in `args`, skipping the tool's options that only choose
/// where it acts (`docker --context c run …`); `None` when an option before the subcommand is
/// not known to be one (then nothing is dropped: cavra never guesses what an option means).
pub(crate) fn tool_subcommand_index(tool: &str, args: &[&str]) -> Option<usize> {
    crate::knowledge::program_words_start(Knowledge::builtin(), tool, args).filter(|&i| i > 0)
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

/// Canonical form and variants of a command whose name is `name` (already a base name when
/// literal) and arguments `args`. Only arguments before `flag_limit` (where a wrapper's inner
/// command starts) are considered flags of this command.
pub(crate) fn forms(
    kb: &Knowledge,
    name: &str,
    name_literal: bool,
    args: &[Word],
    flag_limit: usize,
) -> Forms {
    let mut toks: Vec<&str> = args.iter().map(|w| w.text.as_str()).collect();
    // Subcommands as words: neutral options before each subcommand word dropped (`git -C
    // dir`, `kubectl -n prod`, `gh pr -R o/r`), subcommand spellings written as the knowledge
    // base spells them, and the other readings where an unknown option makes a word uncertain.
    let mut readings: Vec<Vec<&str>> = Vec::new();
    let mut readings_incomplete = false;
    if name_literal && let Some(words) = crate::knowledge::canonical_words(kb, name, &toks) {
        toks = words.words;
        readings = words.readings;
        readings_incomplete = words.incomplete;
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
    // Every reading is matched: a rule naming any of them applies.
    let reading_keys: Vec<String> = readings.iter().map(|r| key(r)).collect();
    for r in &readings {
        add(r);
    }

    // Only flags before `--` are flags.
    let end = toks
        .iter()
        .position(|t| *t == "--")
        .unwrap_or(toks.len())
        .min(flag_limit);
    let single_dash_long = name_literal && kb.entries_for(name).any(|e| e.single_dash_long);
    let cluster_idx: Vec<usize> = if single_dash_long {
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
    Forms {
        canonical,
        variants,
        keys,
        readings: reading_keys,
        readings_incomplete,
    }
}

/// A command's canonical form, its other spellings and readings (see [`forms`]).
pub(crate) struct Forms {
    /// The canonical form.
    pub canonical: String,
    /// Spellings of the same command, the canonical one first, then the other readings.
    pub variants: Vec<String>,
    /// Their match keys.
    pub keys: Vec<String>,
    /// Match keys of the other readings alone (see `SimpleCommand::readings`).
    pub readings: Vec<String>,
    /// Not every reading could be made within the bounds (see
    /// `knowledge::CanonicalWords::incomplete`).
    pub readings_incomplete: bool,
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
