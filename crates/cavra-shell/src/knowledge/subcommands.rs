//! Subcommand words at any depth: which words of a command are its subcommands (`gh pr
//! merge`, `git submodule foreach`, `kubectl config set-credentials`), the options that only
//! choose where or how a program acts before each of them, and the other readings of the words
//! where an option cavra does not know makes a subcommand word uncertain.

use super::apply::{long_name, scan, short_letter};
use super::{Effect, Knowledge, OptionEntry, ProgramEntry};
use crate::words::Word;

/// Whether `entry` describes the level reached by `path` (the subcommand words so far): the
/// program's own options for an empty path, else the last word under the ones before it.
fn at_level(entry: &ProgramEntry, path: &[&str]) -> bool {
    match path.split_last() {
        None => entry.subcommands.is_empty(),
        Some((last, above)) => {
            entry.under.len() == above.len()
                && entry.under.iter().zip(above).all(|(u, w)| u == w)
                && entry.subcommands.iter().any(|s| s == last)
        }
    }
}

/// Whether the word ending `path` takes a subcommand word of its own: an entry says it is
/// `nested`, or entries are written for the words under it.
fn takes_subcommand(kb: &Knowledge, base: &str, path: &[&str]) -> bool {
    !path.is_empty()
        && kb.entries_for(base).any(|e| {
            (e.nested && at_level(e, path))
                || (e.under.len() == path.len() && e.under.iter().zip(path).all(|(u, w)| u == w))
        })
}

/// Indices in `args` of the subcommand words, outermost first: the first operand after the
/// program's own options, then, while the knowledge base says a word takes a subcommand of
/// its own, the first operand after that word's options.
pub(super) fn subcommand_path(kb: &Knowledge, base: &str, args: &[Word]) -> Vec<usize> {
    let mut out = Vec::new();
    let Some(first) = subcommand_index(kb, base, args) else {
        return out;
    };
    out.push(first);
    let mut words: Vec<&str> = vec![args.get(first).map_or("", |w| w.text.as_str())];
    while takes_subcommand(kb, base, &words) && out.len() < MAX_DEPTH {
        let from = out.last().map_or(0, |i| i + 1);
        let next = match kb.entries_for(base).find(|e| at_level(e, &words)) {
            Some(entry) => scan(entry, args, from, args.len())
                .operands
                .first()
                .copied(),
            None => {
                (from..args.len()).find(|&i| args.get(i).is_some_and(|w| !w.text.starts_with('-')))
            }
        };
        let Some(next) = next else { break };
        out.push(next);
        words.push(args.get(next).map_or("", |w| w.text.as_str()));
    }
    out
}

/// Deepest subcommand path followed (`kubectl config set-credentials` is 2 deep).
const MAX_DEPTH: usize = 8;

/// Index of the subcommand word: the first operand after the program's own options (as its
/// program-level entry spells them; where that entry lists every option that takes a value,
/// as git's does, any other option is skipped as one word).
fn subcommand_index(kb: &Knowledge, base: &str, args: &[Word]) -> Option<usize> {
    let mut program = kb
        .entries_for(base)
        .filter(|e| e.subcommands.is_empty())
        .peekable();
    if program.peek().is_none() {
        return args.iter().position(|w| !w.text.starts_with('-'));
    }
    if kb
        .entries_for(base)
        .any(|e| e.subcommands.is_empty() && e.complete_options)
    {
        let texts: Vec<&str> = args.iter().map(|w| w.text.as_str()).collect();
        return program_words_start(kb, base, &texts);
    }
    // Each entry may know other options that take a value: the one that skips the most
    // words read the most of them (`cargo --config X build`: `X` is a value, not `build`).
    program
        .filter_map(|e| scan(e, args, 0, args.len()).operands.first().copied())
        .max()
}

/// Index of the first word after the program's own options that only choose where or how it
/// acts (`git -C dir`, `kubectl -n prod`, `docker --context c`), or `None` when an option
/// the knowledge base does not know as one stands before it (nothing is guessed), or no word
/// follows. Where the program's entry lists every option that takes a value
/// (`complete_options`), any other option is skipped as one word.
pub(crate) fn program_words_start(kb: &Knowledge, base: &str, toks: &[&str]) -> Option<usize> {
    let complete = kb
        .entries_for(base)
        .any(|e| e.subcommands.is_empty() && e.complete_options);
    let mut i = 0;
    while let Some(t) = toks.get(i) {
        if !t.starts_with('-') || *t == "-" {
            return Some(i);
        }
        match neutral_span(kb.entries_for(base).filter(|e| e.subcommands.is_empty()), t) {
            Some(n) => i += n,
            None if complete && *t != "--" => i += 1,
            None => return None,
        }
    }
    None
}

/// Whether `word` is one of `entries`' neutral options, and how many words it spans (2 when
/// its value is the next word).
fn neutral_span<'e>(entries: impl Iterator<Item = &'e ProgramEntry>, word: &str) -> Option<usize> {
    let (name, inline) = match word.split_once('=') {
        Some((n, _)) => (n, true),
        None => (word, false),
    };
    for e in entries {
        if e.neutral_options.iter().any(|n| n == name) {
            let takes_value = match name.strip_prefix("--") {
                Some(long) => e.long_with_value.iter().any(|v| v == long),
                None if e.single_dash_long => e
                    .long_with_value
                    .iter()
                    .any(|v| Some(v.as_ref()) == name.strip_prefix('-')),
                None => name
                    .strip_prefix('-')
                    .and_then(|l| l.chars().next())
                    .is_some_and(|c| e.short_with_value.contains(c)),
            };
            return Some(if takes_value && !inline { 2 } else { 1 });
        }
        // A short option with its value attached: `-Ro/r`, `-fprod.yml`.
        if !e.single_dash_long
            && !word.starts_with("--")
            && word.len() > 2
            && let Some(short) = word.get(..2)
            && e.neutral_options.iter().any(|n| n == short)
            && short[1..]
                .chars()
                .next()
                .is_some_and(|c| e.short_with_value.contains(c))
        {
            return Some(1);
        }
    }
    None
}

/// The words of a command as command patterns see them, and the other readings of them.
pub(crate) struct CanonicalWords<'a> {
    /// The words (the program name not included).
    pub words: Vec<&'a str>,
    /// Other readings of the words where an option cavra does not know stands before a word
    /// that may be a subcommand (`gh pr --weird merge 12`: `merge` is the subcommand, or the
    /// option's value): each with another candidate word put in the subcommand's place.
    pub readings: Vec<Vec<&'a str>>,
    /// Some readings were not made: more candidate words ([`MAX_CANDIDATES`]), deeper readings
    /// ([`MAX_READING_DEPTH`]) or more readings in all ([`MAX_ALL_READINGS`]) than the bounds. The command is then not simply allowed (the caller marks it
    /// `unparseable`, which needs approval at least): what was not read could be what a rule
    /// names.
    pub incomplete: bool,
}

/// Most candidate words made into readings at one uncertain place.
const MAX_CANDIDATES: usize = 12;

/// The words of a command as command patterns see them (issue 15: subcommands matched as
/// words, at every depth): options that only choose where or how a program (or subcommand)
/// acts dropped before each subcommand word (`gh -R o/r pr merge 1` is `gh pr merge 1`,
/// `docker compose -f x.yml run web` is `docker compose run web`), subcommands written as
/// the entry spells them (`npm run-script x` is `npm run x`), and, where an option cavra does
/// not know stands where a subcommand word is expected, the other readings of the words after
/// it. `None` when nothing changes and there is no other reading; nothing is allocated then.
pub(crate) fn canonical_words<'a>(
    kb: &'a Knowledge,
    base: &str,
    toks: &[&'a str],
) -> Option<CanonicalWords<'a>> {
    canonical_words_at(kb, base, toks, 0)
}

/// [`canonical_words`], `depth` readings deep: each reading is read again (its words past the
/// uncertain one may be subcommand words too), at most [`MAX_READING_DEPTH`] deep.
fn canonical_words_at<'a>(
    kb: &'a Knowledge,
    base: &str,
    toks: &[&'a str],
    depth: usize,
) -> Option<CanonicalWords<'a>> {
    // Commands without options and without subcommand spellings keep their words.
    let has_option = toks.iter().any(|t| t.starts_with('-') && t.len() > 1);
    let described = kb.entries_for(base).next().is_some();
    if !has_option
        && !kb
            .entries_for(base)
            .any(|e| e.canonical_subcommand.is_some())
    {
        return None;
    }
    if !described {
        // A program cavra knows nothing about: its leading plain words may be subcommand
        // words, and an option between them and a further word makes that word uncertain.
        let lead = toks.iter().take_while(|t| subcommand_like(t)).count();
        if lead == 0 {
            return None;
        }
        let (readings, incomplete) =
            readings(toks, lead, toks.get(..lead).unwrap_or_default(), &[]);
        return (!readings.is_empty()).then(|| CanonicalWords {
            words: toks.to_vec(),
            readings,
            incomplete,
        });
    }
    // A program described without subcommands (`find`, `rg`): its words are operands.
    if !kb
        .entries_for(base)
        .any(|e| !e.subcommands.is_empty() || !e.neutral_options.is_empty() || e.complete_options)
    {
        return None;
    }
    let mut out: Vec<&'a str> = Vec::with_capacity(toks.len());
    let mut path: Vec<&'a str> = Vec::new();
    let mut pos = 0;
    let mut changed = false;
    let mut readings_at: Option<usize> = None;
    // Options moved after the subcommand word they stood before.
    let mut kept: Vec<&'a str> = Vec::new();
    loop {
        let complete = kb
            .entries_for(base)
            .any(|e| e.complete_options && at_level(e, &path));
        let level = |e: &&ProgramEntry| {
            at_level(e, &path) || (e.options_anywhere && e.subcommands.is_empty())
        };
        let mut i = pos;
        let mut unknown = false;
        let mut level_kept: Vec<&'a str> = Vec::new();
        while let Some(t) = toks.get(i) {
            if !t.starts_with('-') || *t == "-" {
                break;
            }
            match neutral_span(kb.entries_for(base).filter(level), t) {
                Some(n) => i += n,
                None if complete && *t != "--" => i += 1,
                None => match known_span(kb.entries_for(base).filter(level), t) {
                    // An option the entry knows but that changes what the command does
                    // stays, after the subcommand word (`cargo --config X build` is
                    // `cargo build --config X`).
                    Some(n) => {
                        level_kept.extend(toks.get(i..i + n).unwrap_or_default());
                        i += n;
                    }
                    None => {
                        unknown = true;
                        break;
                    }
                },
            }
        }
        let expects_word = path.is_empty() || takes_subcommand(kb, base, &path);
        if unknown {
            // Where a subcommand word is expected, or past a word no entry describes (whether
            // it takes one is not known), the word after the option is uncertain.
            let described_level =
                path.is_empty() || kb.entries_for(base).any(|e| at_level(e, &path));
            if expects_word || !described_level {
                readings_at = Some(pos);
            }
            break;
        }
        if !expects_word {
            break;
        }
        let Some(word) = toks.get(i).copied() else {
            break;
        };
        if i > pos {
            changed = true;
        }
        kept.append(&mut level_kept);
        path.push(word);
        let spelled: &'a str = kb
            .entries_for(base)
            .filter(|e| at_level(e, &path))
            .find_map(|e| e.canonical_subcommand.as_deref())
            .unwrap_or(word);
        changed |= spelled != word;
        out.push(spelled);
        pos = i + 1;
        if path.len() >= MAX_DEPTH {
            break;
        }
    }
    let rest = toks.get(pos..).unwrap_or_default();
    // Past the last word the knowledge base describes, a word no entry describes may take a
    // subcommand of its own: an option after it makes the next word uncertain too.
    if readings_at.is_none()
        && !path.is_empty()
        && !kb.entries_for(base).any(|e| at_level(e, &path))
        && rest.first().is_some_and(|t| t.starts_with('-'))
    {
        readings_at = Some(pos);
    }
    let mut words = out.clone();
    words.extend_from_slice(&kept);
    words.extend_from_slice(rest);
    let mut all: Vec<Vec<&'a str>> = Vec::new();
    let mut incomplete = false;
    if let Some(at) = readings_at {
        let (made, beyond) = readings(toks, at, &out, &kept);
        // The deepest readings are not read again: their own uncertain words are not known.
        incomplete |= beyond || (depth >= MAX_READING_DEPTH && !made.is_empty());
        for r in made {
            if depth >= MAX_READING_DEPTH {
                all.push(r);
                continue;
            }
            // The reading's own subcommand words (`gh --weird pr merge`: `pr`, then `merge`).
            match canonical_words_at(kb, base, &r, depth + 1) {
                Some(again) => {
                    incomplete |= again.incomplete;
                    all.push(again.words);
                    all.extend(again.readings);
                }
                None => all.push(r),
            }
        }
    }
    all.retain(|r| *r != words);
    // Duplicates dropped, first occurrence kept (the order is the order of the candidates).
    let mut unique: Vec<Vec<&'a str>> = Vec::with_capacity(all.len());
    for r in all {
        if !unique.contains(&r) {
            unique.push(r);
        }
    }
    let mut all = unique;
    if all.len() > MAX_ALL_READINGS {
        incomplete = true;
        all.truncate(MAX_ALL_READINGS);
    }
    (changed || !all.is_empty()).then_some(CanonicalWords {
        words,
        readings: all,
        incomplete,
    })
}

/// How deep a reading is read again (a reading of a reading of a reading …).
const MAX_READING_DEPTH: usize = 2;

/// Whether `word` is an option one of `entries` knows (as one with an effect, one that takes a
/// value, or one that takes none), and how many words it spans.
fn known_span<'e>(entries: impl Iterator<Item = &'e ProgramEntry>, word: &str) -> Option<usize> {
    let (name, inline) = match word.split_once('=') {
        Some((n, _)) => (n, true),
        None => (word, false),
    };
    for e in entries {
        if let Some(long) = long_name(e, name) {
            let named = |o: &&OptionEntry| o.names.iter().any(|n| long_name(e, n) == Some(long));
            let takes = e.long_with_value.iter().any(|v| v == long)
                || e.options
                    .iter()
                    .filter(named)
                    .any(|o| o.effect.is_some_and(Effect::takes_value) || !o.settings.is_empty());
            if takes
                || e.long_options.iter().any(|v| v == long)
                || e.options.iter().any(|o| named(&o))
            {
                return Some(if takes && !inline { 2 } else { 1 });
            }
        } else if let Some(c) = word.strip_prefix('-').and_then(|r| r.chars().next()) {
            let named = |o: &&OptionEntry| o.names.iter().any(|n| short_letter(e, n) == Some(c));
            let takes = e.short_with_value.contains(c)
                || e.options
                    .iter()
                    .filter(named)
                    .any(|o| o.effect.is_some_and(Effect::takes_value) || !o.settings.is_empty());
            if takes || e.options.iter().any(|o| named(&o)) {
                return Some(if takes && word.len() == 2 { 2 } else { 1 });
            }
        }
    }
    None
}

/// Whether a word can be a subcommand name (`merge`, `set-credentials`): a letter, then
/// letters, digits, `-`, `_` or `:`. Paths, numbers and options cannot.
fn subcommand_like(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_alphabetic())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
}

/// Most readings kept for one command (besides its main one).
const MAX_ALL_READINGS: usize = 16;

/// The other readings of `toks` where an option stands at `at`: each of the next plain words
/// (at most [`MAX_CANDIDATES`]) put right after `head` (the subcommand words before `at`), the
/// rest as written; and whether there were more candidates than that.
fn readings<'a>(
    toks: &[&'a str],
    at: usize,
    head: &[&'a str],
    kept: &[&'a str],
) -> (Vec<Vec<&'a str>>, bool) {
    let rest = toks.get(at..).unwrap_or_default();
    if !rest
        .first()
        .is_some_and(|t| t.starts_with('-') && *t != "--")
    {
        return (Vec::new(), false);
    }
    let mut candidates: Vec<usize> = rest
        .iter()
        .take_while(|t| **t != "--")
        .enumerate()
        .filter(|(_, t)| subcommand_like(t))
        .map(|(j, _)| j)
        .take(MAX_CANDIDATES + 1)
        .collect();
    let beyond = candidates.len() > MAX_CANDIDATES;
    candidates.truncate(MAX_CANDIDATES);
    let made = candidates
        .into_iter()
        .map(|j| {
            let mut r: Vec<&'a str> = Vec::with_capacity(head.len() + rest.len());
            r.extend_from_slice(head);
            r.extend(rest.get(j).copied());
            r.extend_from_slice(kept);
            r.extend(
                rest.iter()
                    .enumerate()
                    .filter(|(k, _)| *k != j)
                    .map(|(_, t)| *t),
            );
            r
        })
        .collect();
    (made, beyond)
}
