//! A small getopt: splits a command's arguments into options (with their values) and operands,
//! so that option values are never mistaken for file operands (`head -n 1 .env`).

use crate::words::Word;

/// How a tool's options are spelled.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Spec {
    /// Short option letters that take a value (attached `-n1` or as the next word `-n 1`).
    pub short_val: &'static str,
    /// Long option names (without `--`) that take the next word as value when written without `=`.
    pub long_val: &'static [&'static str],
    /// Options end at the first operand (POSIX `+` getopt, wrappers such as `sudo`, `xargs`).
    pub stop_at_operand: bool,
}

/// One parsed argument.
#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    /// An option: its name (a letter, or the long name without `--`) and value.
    Opt(String, Option<Word>),
    /// An operand: its index in the argument slice.
    Operand(usize),
}

/// Parses `args` according to `spec`.
pub(crate) fn parse(args: &[Word], spec: &Spec) -> Vec<Parsed> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut only_operands = false;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        if only_operands || t == "-" || !t.starts_with('-') || t.len() < 2 {
            out.push(Parsed::Operand(i));
            if spec.stop_at_operand {
                only_operands = true;
            }
            i += 1;
            continue;
        }
        if t == "--" {
            only_operands = true;
            i += 1;
            continue;
        }
        if let Some(long) = t.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) => {
                    out.push(Parsed::Opt(name.to_string(), Some(Word::derived(w, value))));
                    i += 1;
                }
                None if spec.long_val.contains(&long) => {
                    out.push(Parsed::Opt(long.to_string(), args.get(i + 1).cloned()));
                    i += 2;
                }
                None => {
                    out.push(Parsed::Opt(long.to_string(), None));
                    i += 1;
                }
            }
            continue;
        }
        let mut consumed_next = false;
        for (pos, c) in t.char_indices().skip(1) {
            if spec.short_val.contains(c) {
                let rest = t.get(pos + c.len_utf8()..).unwrap_or("");
                if rest.is_empty() {
                    out.push(Parsed::Opt(c.to_string(), args.get(i + 1).cloned()));
                    consumed_next = true;
                } else {
                    out.push(Parsed::Opt(c.to_string(), Some(Word::derived(w, rest))));
                }
                break;
            }
            out.push(Parsed::Opt(c.to_string(), None));
        }
        i += if consumed_next { 2 } else { 1 };
    }
    out
}

/// Indices of the operands.
pub(crate) fn operands(parsed: &[Parsed]) -> Vec<usize> {
    parsed
        .iter()
        .filter_map(|p| match p {
            Parsed::Operand(i) => Some(*i),
            Parsed::Opt(..) => None,
        })
        .collect()
}

/// Whether option `name` (letter or long name) was given.
pub(crate) fn has(parsed: &[Parsed], names: &[&str]) -> bool {
    parsed
        .iter()
        .any(|p| matches!(p, Parsed::Opt(n, _) if names.contains(&n.as_str())))
}

/// Values of option `names`.
pub(crate) fn values<'a>(parsed: &'a [Parsed], names: &[&str]) -> Vec<&'a Word> {
    parsed
        .iter()
        .filter_map(|p| match p {
            Parsed::Opt(n, Some(v)) if names.contains(&n.as_str()) => Some(v),
            _ => None,
        })
        .collect()
}

/// Index of the first operand when options stop at the first operand: where a wrapper's inner
/// command starts.
pub(crate) fn first_operand(parsed: &[Parsed]) -> Option<usize> {
    operands(parsed).first().copied()
}
