//! Applying knowledge-base entries to one simple command's arguments.

use super::subcommands::subcommand_path;
use super::{Abbreviations, Effect, Knowledge, OptionEntry, ProgramEntry};
use crate::tools::{Info, Inner, InnerKind, Stdin, sh_quote, stdin_code};
use crate::words::Word;
use crate::{AccessKind, RiskClass};
use std::borrow::Cow;
use std::str::FromStr;

/// The long name of an option spelling (`--exec` → `exec`; `-exec` when the program's long
/// options take one dash), or `None` for a short option (`-x`).
pub(super) fn long_name<'n>(entry: &ProgramEntry, spelling: &'n str) -> Option<&'n str> {
    if let Some(long) = spelling.strip_prefix("--") {
        return Some(long);
    }
    let bare = spelling.strip_prefix('-')?;
    (entry.single_dash_long || bare.chars().count() > 1).then_some(bare)
}

/// The letter of a short option spelling (`-x` → `x`).
pub(super) fn short_letter(entry: &ProgramEntry, spelling: &str) -> Option<char> {
    if entry.single_dash_long || spelling.starts_with("--") {
        return None;
    }
    let mut chars = spelling.strip_prefix('-')?.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// Every long option name the entry knows (the table abbreviations must be unique in).
fn long_table(entry: &ProgramEntry) -> Vec<&str> {
    let mut all: Vec<&str> = entry
        .options
        .iter()
        .flat_map(|o| o.names.iter().filter_map(|n| long_name(entry, n)))
        .collect();
    all.extend(entry.long_with_value.iter().map(|n| n.as_ref()));
    all.extend(entry.long_options.iter().map(|n| n.as_ref()));
    all
}

/// The full long names `name` stands for: itself when it is one, else (for programs that
/// accept abbreviations) every long name it is a prefix of. An ambiguous prefix keeps all its
/// candidates: the program either refuses it or picks one of them, so every one is judged.
fn resolve<'e>(entry: &'e ProgramEntry, name: &str) -> Vec<&'e str> {
    // The usual case, a full name, without building the table.
    let exact = entry
        .options
        .iter()
        .flat_map(|o| o.names.iter().filter_map(|n| long_name(entry, n)))
        .chain(entry.long_with_value.iter().map(|n| n.as_ref()))
        .chain(entry.long_options.iter().map(|n| n.as_ref()))
        .find(|n| *n == name);
    if let Some(exact) = exact {
        return vec![exact];
    }
    let table = long_table(entry);
    if entry.abbreviations != Abbreviations::UniquePrefix || name.is_empty() {
        return Vec::new();
    }
    let mut hits: Vec<&str> = table.into_iter().filter(|n| n.starts_with(name)).collect();
    hits.sort_by_key(|n| n.len());
    hits.dedup();
    hits
}

/// What the scan of one entry's arguments found.
#[derive(Default)]
pub(super) struct Found<'e> {
    /// Options with an effect: the option, its spelling as written, where its value or words
    /// are (`value`: index of the value word or an inline value; `words`: a range).
    hits: Vec<Hit<'e>>,
    /// Indices of the operands.
    pub(super) operands: Vec<usize>,
    /// Abbreviated long options as their full spelling: index and new text.
    expanded: Vec<(usize, String)>,
    /// Ambiguous abbreviations one of whose candidates has an effect: written out by no entry,
    /// so another entry of the same program cannot turn them into a harmless option first.
    held: Vec<usize>,
    /// Where an option terminator `--` ended the options.
    double_dash: Option<usize>,
}

struct Hit<'e> {
    option: &'e OptionEntry,
    written: String,
    value: Option<Word>,
    words: Option<(usize, usize)>,
}

/// Scans `args[start..end]` as `entry` describes.
pub(super) fn scan<'e>(
    entry: &'e ProgramEntry,
    args: &[Word],
    start: usize,
    end: usize,
) -> Found<'e> {
    let mut found = Found::default();
    let mut i = start;
    let mut only_operands = false;
    while i < end {
        let Some(w) = args.get(i) else { break };
        let t = w.text.as_str();
        if only_operands || t == "-" || !t.starts_with('-') || t.len() < 2 || !w.literal {
            found.operands.push(i);
            only_operands |= entry.options_end_at_operand;
            i += 1;
            continue;
        }
        if t == "--" {
            only_operands = true;
            found.double_dash.get_or_insert(i);
            i += 1;
            continue;
        }
        let as_long = match t.strip_prefix("--") {
            Some(long) => Some(long),
            None if entry.single_dash_long => t.strip_prefix('-'),
            None => None,
        };
        if let Some(long) = as_long {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let full = resolve(entry, name);
            // An abbreviation is written out for patterns and the shell analysis; an ambiguous
            // one only when none of its candidates has an effect (those are judged below, each
            // of them), as the shortest candidate (`--forc`: `--force`).
            let effect_candidate = full.len() > 1
                && entry.options.iter().any(|o| {
                    o.names
                        .iter()
                        .filter_map(|n| long_name(entry, n))
                        .any(|n| full.contains(&n))
                });
            if effect_candidate {
                found.held.push(i);
            }
            if let Some(first) = full.first()
                && *first != name
                && !effect_candidate
            {
                let dashes = if t.starts_with("--") { "--" } else { "-" };
                let text = match inline {
                    Some(v) => format!("{dashes}{first}={v}"),
                    None => format!("{dashes}{first}"),
                };
                found.expanded.push((i, text));
            }
            let options: Vec<&OptionEntry> = entry
                .options
                .iter()
                .filter(|o| {
                    o.names
                        .iter()
                        .filter_map(|n| long_name(entry, n))
                        .any(|n| full.contains(&n))
                })
                .collect();
            let takes_value = options
                .iter()
                .any(|o| o.effect.is_some_and(Effect::takes_value))
                || full
                    .iter()
                    .any(|n| entry.long_with_value.iter().any(|v| v == n));
            let value = match inline {
                Some(v) => Some(Word::derived(w, v)),
                None if takes_value => args.get(i + 1).filter(|_| i + 1 < end).cloned(),
                None => None,
            };
            let mut next = i + if inline.is_none() && takes_value {
                2
            } else {
                1
            };
            for option in options {
                let words = (option.effect == Some(Effect::CommandWords)).then(|| {
                    let from = i + 1;
                    let to = words_end(args, from, end, option);
                    next = next.max(to + 1);
                    (from, to)
                });
                found.hits.push(Hit {
                    option,
                    written: format!("{}{name}", if t.starts_with("--") { "--" } else { "-" }),
                    value: value.clone(),
                    words,
                });
            }
            i = next;
            continue;
        }
        // A cluster of short options: `-e rs`, `-xv`, `-n1`.
        let mut next = i + 1;
        for (pos, c) in t.char_indices().skip(1) {
            let rest = t.get(pos + c.len_utf8()..).unwrap_or("");
            let value = || {
                if rest.is_empty() {
                    args.get(i + 1).filter(|_| i + 1 < end).cloned()
                } else {
                    Some(Word::derived(w, rest))
                }
            };
            let option = entry
                .options
                .iter()
                .find(|o| o.names.iter().any(|n| short_letter(entry, n) == Some(c)));
            if let Some(option) = option {
                let mut hit = Hit {
                    option,
                    written: format!("-{c}"),
                    value: None,
                    words: None,
                };
                // An option with classes only takes a value when its letter says so.
                let takes_value = option.effect.is_some_and(Effect::takes_value)
                    || (option.effect.is_none() && entry.short_with_value.contains(c));
                if option.effect == Some(Effect::CommandWords) {
                    let to = words_end(args, i + 1, end, option);
                    hit.words = Some((i + 1, to));
                    next = to + 1;
                } else if takes_value {
                    hit.value = value();
                    if rest.is_empty() {
                        next = i + 2;
                    }
                }
                let stops = option.effect == Some(Effect::CommandWords) || takes_value;
                found.hits.push(hit);
                if stops {
                    break;
                }
                continue;
            }
            if entry.short_with_value.contains(c) {
                if rest.is_empty() {
                    next = i + 2;
                }
                break;
            }
        }
        i = next;
    }
    found
}

/// Where the words of a `command_words` option end: at its `until` word, else at `end`.
fn words_end(args: &[Word], from: usize, end: usize, option: &OptionEntry) -> usize {
    match option.until.as_deref() {
        Some(until) => (from..end)
            .find(|&j| args.get(j).is_some_and(|w| w.text == until))
            .unwrap_or(end),
        None => end,
    }
}

/// The part of `args` an entry describes: `(start, end)`, or `None` when the entry is for a
/// subcommand the command does not run. `path` is [`subcommand_path`]; `has_subcommands`
/// whether any entry of the program names a subcommand.
fn range(
    entry: &ProgramEntry,
    path: &[usize],
    has_subcommands: bool,
    args: &[Word],
) -> Option<(usize, usize)> {
    if entry.subcommands.is_empty() {
        // A program with subcommands: its own options stand before the subcommand.
        let end = if has_subcommands && !entry.options_anywhere {
            path.first().copied().unwrap_or(args.len())
        } else {
            args.len()
        };
        return Some((0, end));
    }
    let depth = entry.under.len();
    let sub = *path.get(depth)?;
    let above_matches = entry
        .under
        .iter()
        .zip(path)
        .all(|(u, &i)| args.get(i).is_some_and(|w| w.text == **u));
    let name = args.get(sub)?;
    (above_matches && entry.subcommands.iter().any(|s| *s == name.text))
        .then_some((sub + 1, args.len()))
}

/// The arguments without a version selector (`cargo +nightly test` is `cargo test`), for
/// programs whose entry names one: the selector only chooses which installed version runs.
pub(crate) fn drop_version_selector<'a>(
    kb: &Knowledge,
    base: &str,
    args: &'a [Word],
) -> &'a [Word] {
    let Some(first) = args.first() else {
        return args;
    };
    // Selectors are punctuation (`+`): most first words are ruled out without a lookup.
    let selects = first.literal
        && first.text.len() > 1
        && !first
            .text
            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '/')
        && kb.entries_for(base).any(|e| {
            !e.version_selector.is_empty() && first.text.starts_with(e.version_selector.as_ref())
        });
    if selects { &args[1..] } else { args }
}

/// Abbreviated long options written in full (`git push --forc` → `--force`), for programs
/// whose option parser accepts unique prefixes, so patterns and the analysis see the option
/// the program will act on. The words are returned as they are when nothing changes.
pub(crate) fn expand_abbreviations<'a>(
    kb: &Knowledge,
    base: &str,
    args: &'a [Word],
) -> Cow<'a, [Word]> {
    let mut out: Option<Vec<Word>> = None;
    if !kb
        .entries_for(base)
        .any(|e| e.abbreviations == Abbreviations::UniquePrefix)
    {
        return Cow::Borrowed(args);
    }
    let has_subcommands = kb.entries_for(base).any(|e| !e.subcommands.is_empty());
    let path = if has_subcommands {
        subcommand_path(kb, base, args)
    } else {
        Vec::new()
    };
    // Two entries of one program (`git send-email` in the git and the uploads tables) each
    // know part of its options: an abbreviation that one entry reads as a harmless option may
    // be, for the other, ambiguous with an option that runs its value. Such a word stays as
    // written, and every entry judges each candidate.
    let mut expanded = Vec::new();
    let mut held = Vec::new();
    for entry in kb.entries_for(base) {
        if entry.abbreviations != Abbreviations::UniquePrefix {
            continue;
        }
        let Some((start, end)) = range(entry, &path, has_subcommands, args) else {
            continue;
        };
        let found = scan(entry, args, start, end);
        expanded.extend(found.expanded);
        held.extend(found.held);
    }
    for (i, text) in expanded {
        if held.contains(&i) {
            continue;
        }
        let words = out.get_or_insert_with(|| args.to_vec());
        if let Some(w) = words.get_mut(i) {
            *w = Word::derived(w, &text);
        }
    }
    match out {
        Some(words) => Cow::Owned(words),
        None => Cow::Borrowed(args),
    }
}

/// Applies every entry for `base` to the command's arguments: the commands, code, files,
/// network use and classes they imply go into `info`.
pub(crate) fn apply(kb: &Knowledge, base: &str, args: &[Word], stdin: &Stdin, info: &mut Info) {
    // Entries that say what an argument does; spelling (and plain programs') entries derive
    // nothing here.
    let acts = |e: &&ProgramEntry| {
        !e.options.is_empty()
            || e.operands.is_some()
            || !e.settings.is_empty()
            || !e.assignments.is_empty()
            || !e.writes.is_empty()
            || !e.default_reads.is_empty()
            || e.stdin.is_some()
            || !e.classes.is_empty()
    };
    if !kb.entries_for(base).any(|e| acts(&e)) {
        return;
    }
    let has_subcommands = kb.entries_for(base).any(|e| !e.subcommands.is_empty());
    // The subcommand words matter only to a program that has some.
    let path = if has_subcommands {
        subcommand_path(kb, base, args)
    } else {
        Vec::new()
    };
    for entry in kb.entries_for(base).filter(acts) {
        let Some((start, end)) = range(entry, &path, has_subcommands, args) else {
            continue;
        };
        let inner_before = info.inner.len();
        // Named only when something is derived (most entries derive nothing for most lines).
        let known = || format!("knowledge: {}", entry.describe());
        for class in entry.classes.iter() {
            if let Ok(c) = RiskClass::from_str(class) {
                info.class(c);
            }
        }
        // Files the entry names itself are spelt at the program (or subcommand) word.
        let named_files = |info: &mut Info, kind: AccessKind, files: &[super::Text]| {
            let at = start
                .checked_sub(1)
                .and_then(|i| args.get(i))
                .or(args.first());
            if let Some(at) = at.filter(|_| !files.is_empty()) {
                let label = format!("{base} [{}]", known());
                for file in files {
                    info.access(kind, &Word::derived(at, file), &label);
                }
            }
        };
        named_files(info, AccessKind::Write, &entry.writes);
        let found = scan(entry, args, start, end);
        // The files read by default, unless an option names others (`dotenv` loads `.env`
        // unless `-e FILE` is given).
        if !found
            .hits
            .iter()
            .any(|h| h.option.effect == Some(Effect::Read))
        {
            named_files(info, AccessKind::Read, &entry.default_reads);
        }
        for hit in &found.hits {
            for class in hit.option.classes.iter() {
                if let Ok(c) = RiskClass::from_str(class) {
                    info.class(c);
                }
            }
            let label = format!("{base} {} [{}]", hit.written, known());
            if !hit.option.settings.is_empty()
                && let Some(v) = &hit.value
                && let Some((key, value)) =
                    split_setting(&v.text).or_else(|| split_typed(&v.text, &hit.option.settings))
            {
                setting(&hit.option.settings, key, value, v, &label, info);
                continue;
            }
            let Some(e) = hit.option.effect else { continue };
            effect(e, &label, hit.value.as_ref(), hit.words, args, info);
        }
        if !entry.settings.is_empty()
            && let Some(first) = found.operands.first().and_then(|&i| args.get(i))
        {
            let label = format!("{base} operand [{}]", known());
            let pair = split_setting(&first.text)
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string(), first))
                .or_else(|| {
                    let value = found.operands.get(1).and_then(|&i| args.get(i))?;
                    Some((first.text.clone(), value.text.clone(), value))
                });
            if let Some((key, value, word)) = pair {
                setting(&entry.settings, &key, &value, word, &label, info);
            }
        }
        if !entry.assignments.is_empty() {
            let label = format!("{base} assignment [{}]", known());
            for w in found.operands.iter().filter_map(|&i| args.get(i)) {
                if let Some((name, value)) = split_setting(&w.text)
                    .filter(|(n, _)| crate::tools::is_assignment(&format!("{n}=")))
                    && !value.is_empty()
                {
                    setting(&entry.assignments, name, value, w, &label, info);
                }
            }
        }
        if let Some(e) = entry.operands
            && !found.operands.is_empty()
        {
            let label = format!("{base} operand [{}]", known());
            match e {
                Effect::CommandWords if entry.command_after > 0 => {
                    // `docker exec web cmd …`, `kubectl exec pod -- cmd …`: the command
                    // starts past the operands naming where it runs, or right after `--`.
                    let after = usize::from(entry.command_after);
                    let first = match found.double_dash {
                        Some(d) => found.operands.iter().copied().find(|&i| i > d),
                        // A wrapper whose options end at its first operand sees `--` as an
                        // operand (`aws-vault exec prod -- cmd`, `mise x node@20 -- cmd`):
                        // one among the operands that name where the command runs ends them.
                        // A later `--` is the command's own (`faketime X git log -- f`).
                        None => match found
                            .operands
                            .iter()
                            .take(after + 1)
                            .position(|&i| args.get(i).is_some_and(|w| w.text == "--"))
                        {
                            Some(p) => found.operands.get(p + 1).copied(),
                            None => found.operands.get(after).copied(),
                        },
                    };
                    if let Some(first) = first {
                        info.words(args, first, end, &label, stdin.clone());
                    }
                }
                Effect::CommandWords => {
                    let split = found.operands.first().and_then(|&i| {
                        let sep = entry.environment_separator.as_ref();
                        let w = args.get(i)?;
                        let (_, cmd) = w.text.split_once(sep).filter(|_| !sep.is_empty())?;
                        Some((i, cmd, w))
                    });
                    match split {
                        // `hatch run test:pytest -x`: the command is `pytest -x`.
                        Some((i, cmd, w)) => {
                            let mut text = sh_quote(cmd);
                            let rest = args.get(i + 1..end).unwrap_or_default();
                            for r in rest {
                                text.push(' ');
                                text.push_str(&sh_quote(&r.text));
                            }
                            let all_literal = w.literal && rest.iter().all(|r| r.literal);
                            let joined = Word {
                                literal: all_literal,
                                ..Word::derived(w, &text)
                            };
                            info.code(&[&joined], &label, stdin.clone());
                        }
                        None => {
                            if let Some(&first) = found.operands.first() {
                                info.words(args, first, end, &label, stdin.clone());
                            }
                        }
                    }
                }
                Effect::CommandLine => {
                    let words: Vec<&Word> =
                        found.operands.iter().filter_map(|&i| args.get(i)).collect();
                    info.code(&words, &label, Stdin::Terminal);
                }
                Effect::Command => {
                    // Each operand is a command line (`hyperfine 'a' 'b'`); several operands
                    // may also be one command given as words (`tmux new cmd args`).
                    for &i in &found.operands {
                        if let Some(w) = args.get(i) {
                            info.code(&[w], &label, Stdin::Terminal);
                        }
                    }
                    if let (Some(&first), true) = (found.operands.first(), found.operands.len() > 1)
                    {
                        info.words(args, first, end, &label, Stdin::Terminal);
                    }
                }
                _ => {
                    for &i in &found.operands {
                        effect(e, &label, args.get(i), None, args, info);
                    }
                }
            }
        }
        match entry.stdin {
            Some(Effect::Command) => stdin_code(base, true, stdin, info),
            Some(Effect::Code) => stdin_code(base, false, stdin, info),
            _ => {}
        }
        // A program that runs a command as part of work of its own (in a pod, while
        // rebasing, while extracting) is judged as itself too; see `ProgramEntry::wrapper`.
        if !entry.wrapper && info.inner.len() > inner_before {
            info.acts_itself = true;
        }
    }
}

/// A setting written `KEY=VALUE` or `KEY VALUE` (ssh's `-o`): the key and the value, or
/// `None` when the text is not one. An `=` or a space inside quotes belongs to the key
/// (`target.'cfg(target_os = "linux")'.runner=…`).
fn split_setting(text: &str) -> Option<(&str, &str)> {
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '=') | (None, ' ' | '\t') => {
                let key = text.get(..i)?.trim();
                let value = text.get(i..)?.trim_start();
                let value = value.strip_prefix('=').unwrap_or(value).trim();
                return (!key.is_empty()).then_some((key, value));
            }
            _ => {}
        }
    }
    None
}

/// `TYPE:DEST`, as pytest-cov's `--cov-report html:DIR` spells a report and where it goes:
/// taken as a setting only when a setting names `TYPE`, so a value that merely holds a colon
/// (`-o log_format=%(name)s:%(message)s` is split at `=` before this) derives nothing new.
fn split_typed<'t>(text: &'t str, settings: &[super::Setting]) -> Option<(&'t str, &'t str)> {
    let (key, value) = text.split_once(':')?;
    let named = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && settings.iter().any(|s| s.names_key(key));
    named.then_some((key, value))
}

/// A setting's value as the program reads it: TOML (cargo's `--config`) writes a string in
/// quotes and a command as an array of strings (`['sh', '-c', 'x']`); other text is as written.
fn setting_value(value: &str) -> String {
    let v = value.trim();
    let unquote = |s: &str| -> String {
        let s = s.trim();
        for q in ['"', '\''] {
            if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
                return inner.to_string();
            }
        }
        s.to_string()
    };
    if let Some(inner) = v.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner
            .split(',')
            .map(|item| sh_quote(&unquote(item)))
            .collect::<Vec<_>>()
            .join(" ");
    }
    unquote(v)
}

/// The effects of setting `key` to `value` (written in `word`), as `settings` say.
fn setting(
    settings: &[super::Setting],
    key: &str,
    value: &str,
    word: &Word,
    label: &str,
    info: &mut Info,
) {
    let value = setting_value(value);
    // An empty value sets nothing to run, load, read or write: `pytest -o addopts=""` clears
    // the ini file's options.
    if value.trim().is_empty() {
        return;
    }
    for s in settings.iter().filter(|s| s.names_key(key)) {
        let v = Word::derived(word, &value);
        effect(
            s.effect,
            &format!("{label} {key}"),
            Some(&v),
            None,
            &[],
            info,
        );
    }
}

fn effect(
    e: Effect,
    label: &str,
    value: Option<&Word>,
    words: Option<(usize, usize)>,
    args: &[Word],
    info: &mut Info,
) {
    match e {
        Effect::Command => {
            if let Some(v) = value {
                info.code(&[v], label, Stdin::Terminal);
            }
        }
        Effect::CommandWords => {
            if let Some((from, to)) = words {
                info.words(args, from, to, label, Stdin::Terminal);
            }
        }
        Effect::Code => info.class(RiskClass::InterpreterInlineCode),
        Effect::Read => {
            if let Some(v) = value {
                info.access(AccessKind::Read, v, label);
            }
        }
        Effect::Write => {
            if let Some(v) = value {
                info.access(AccessKind::Write, v, label);
            }
        }
        Effect::WriteFolder => {
            if let Some(v) = value {
                info.access(AccessKind::Write, v, label);
                info.access(AccessKind::Write, &crate::folders::subtree(v), label);
            }
        }
        // A command line given as one value: as `command`.
        Effect::CommandLine => {
            if let Some(v) = value {
                info.code(&[v], label, Stdin::Terminal);
            }
        }
        Effect::Network => info.class(RiskClass::NetworkEgress),
    }
}

/// Environment assignments made for a command (`NAME=value cmd`, `export NAME=value`,
/// `env NAME=value cmd`): what their values make programs do goes into `info`, each named by
/// the entry that says so. git configuration set through the environment is judged as `git -c`.
pub(crate) fn assignments(kb: &Knowledge, list: &[(&str, &Word)], info: &mut Info) {
    for (name, value) in list {
        // Folders appended after the current PATH (`PATH=$PATH:./node_modules/.bin`) cannot
        // change what a name already found runs, and every command is judged by its name:
        // only folders put before it (or a PATH replaced) decide where commands come from.
        if *name == "PATH"
            && [
                "$PATH:",
                "${PATH}:",
                "\"$PATH:",
                "\"${PATH}:",
                "\"$PATH\":",
                "\"${PATH}\":",
            ]
            .iter()
            .any(|p| value.text.starts_with(p))
            && !value.text.contains(['`', '('])
        {
            continue;
        }
        // less reads its options from `LESS` too, a `+` first command among them
        // (`LESS='+!cmd' git log`): its `!` runs a shell command, its `|` pipes to one.
        if *name == "LESS" {
            for word in value.text.split_whitespace() {
                let Some(commands) = word.strip_prefix('+') else {
                    continue;
                };
                if commands.contains(['!', '|']) {
                    let command = commands
                        .split_once('!')
                        .map(|(_, c)| c)
                        .or_else(|| {
                            commands
                                .split_once('|')
                                .map(|(_, c)| c.get(1..).unwrap_or(""))
                        })
                        .unwrap_or("");
                    let start = value.text.find(command).unwrap_or(0);
                    let rest = value.text.get(start..).unwrap_or(command).trim();
                    if !rest.is_empty() {
                        info.code(&[&Word::derived(value, rest)], "LESS= +!", Stdin::Terminal);
                    }
                }
            }
        }
        for entry in kb.environment_for(name) {
            let label = if entry.origin.is_empty() {
                format!("{name}= [knowledge: {name}]")
            } else {
                format!("{name}= [knowledge: {name} ({})]", entry.origin)
            };
            if let Some(e) = entry.effect {
                // less runs `|cmd %s` and `||cmd %s` input preprocessors: the bars only say
                // how the output is read.
                let stripped = value.text.trim_start_matches('|');
                let command = (e == Effect::Command && stripped.len() != value.text.len())
                    .then(|| Word::derived(value, stripped));
                effect(
                    e,
                    &label,
                    Some(command.as_ref().unwrap_or(value)),
                    None,
                    &[],
                    info,
                );
            }
            if let Some((program, sub)) = entry.options_of.split_first() {
                options_value(kb, program, sub, value, &label, info);
            }
        }
    }
    crate::gitconfig::environment(list, info);
}

/// A variable whose value is options of `program sub…` (`GOFLAGS`, `MAKEFLAGS`): the options
/// are judged as the knowledge base judges them on that program's command line.
fn options_value(
    kb: &Knowledge,
    program: &str,
    sub: &[super::Text],
    value: &Word,
    label: &str,
    info: &mut Info,
) {
    if !value.literal {
        info.class(RiskClass::DynamicCommand);
        return;
    }
    let mut words: Vec<Word> = sub.iter().map(|s| Word::derived(value, s)).collect();
    words.extend(
        value
            .text
            .split_whitespace()
            .map(|t| Word::derived(value, t)),
    );
    let words = expand_abbreviations(kb, program, &words).into_owned();
    let mut derived = Info::default();
    apply(kb, program, &words, &Stdin::Terminal, &mut derived);
    info.classes.extend(derived.classes);
    info.accesses.extend(derived.accesses);
    for inner in derived.inner {
        // The words live in the value, not in the command's arguments: hand them on as text.
        let kind = match inner.kind {
            InnerKind::Words(start, end) => InnerKind::Code(
                words
                    .get(start..end)
                    .unwrap_or_default()
                    .iter()
                    .map(|w| sh_quote(&w.text))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            code => code,
        };
        info.inner.push(Inner {
            kind,
            label: format!("{} ({label})", inner.label),
            stdin: inner.stdin,
            span: value.span,
            folder: None,
        });
    }
}
