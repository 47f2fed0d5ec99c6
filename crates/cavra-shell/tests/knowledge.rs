//! Property tests of long-option abbreviations against every modelled program's option table:
//! a program whose parser accepts unique prefixes derives from a prefix everything the full
//! option derives (exactly that when the prefix names one option); a program that wants full
//! names derives nothing from a strict prefix.

use cavra_shell::knowledge::{Abbreviations, Effect, Knowledge, ProgramEntry};
use cavra_shell::{AccessKind, CommandAnalysis, RiskClass, analyze};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// One long option with an effect or classes: its entry, its name without dashes, its effect
/// (none for an option that only carries classes).
struct Case {
    entry: &'static ProgramEntry,
    name: String,
    effect: Option<Effect>,
}

fn dashes(entry: &ProgramEntry) -> &'static str {
    if entry.single_dash_long { "-" } else { "--" }
}

fn long_names(entry: &'static ProgramEntry) -> Vec<Case> {
    let mut out = Vec::new();
    // An option that derives only through the keys of its settings (`pytest --override-ini
    // cache_dir=…`) has nothing to derive from a probe value that is no setting; the policy
    // tests hold its cases.
    for o in entry
        .options
        .iter()
        .filter(|o| o.effect.is_some() || o.settings.is_empty())
    {
        for n in o.names.iter() {
            let bare = n.strip_prefix("--").or_else(|| {
                n.strip_prefix('-')
                    .filter(|b| entry.single_dash_long && b.len() > 1)
            });
            if let Some(b) = bare {
                out.push(Case {
                    entry,
                    name: b.to_string(),
                    effect: o.effect,
                });
            }
        }
    }
    out
}

fn cases() -> Vec<Case> {
    Knowledge::builtin_entries()
        .iter()
        .flat_map(long_names)
        .collect()
}

/// Every long name the entry knows.
fn table(entry: &ProgramEntry) -> Vec<String> {
    let mut all: Vec<String> = long_names_of(entry);
    all.extend(entry.long_with_value.iter().map(|s| s.to_string()));
    all.extend(entry.long_options.iter().map(|s| s.to_string()));
    all
}

fn long_names_of(entry: &ProgramEntry) -> Vec<String> {
    entry
        .options
        .iter()
        .flat_map(|o| o.names.iter())
        .filter_map(|n| {
            n.strip_prefix("--")
                .or_else(|| n.strip_prefix('-').filter(|b| b.len() > 1))
                .map(str::to_string)
        })
        .collect()
}

/// The command line that uses `spelling` with a value that shows what was derived.
fn line(entry: &ProgramEntry, spelling: &str, effect: Option<Effect>) -> String {
    let sub: String = entry
        .under
        .iter()
        .chain(entry.subcommands.first())
        .map(|s| format!(" {s}"))
        .collect();
    let value = match effect {
        Some(Effect::Command | Effect::CommandLine) => "'terraform apply'",
        Some(Effect::CommandWords) => "terraform apply",
        _ => "kb-probe-file",
    };
    format!("{}{sub} {}{spelling} {value}", entry.program, dashes(entry))
}

/// What a line derives that shows an option's effect.
fn derived(a: &CommandAnalysis) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for c in &a.commands {
        if c.canonical.starts_with("terraform apply") {
            out.insert("runs terraform apply".to_string());
        }
    }
    for f in &a.file_accesses {
        if f.path == "kb-probe-file" {
            let kind = match f.kind {
                AccessKind::Read => "read",
                AccessKind::Write => "write",
                AccessKind::Delete => "delete",
            };
            out.insert(format!("{kind} kb-probe-file"));
        }
    }
    for c in [
        RiskClass::InterpreterInlineCode,
        RiskClass::NetworkEgress,
        RiskClass::PrivilegeEscalation,
        RiskClass::PackageInstall,
    ] {
        if a.classes.contains(&c) {
            out.insert(c.as_str().to_string());
        }
    }
    out
}

#[test]
fn the_tables_hold_options_with_effects() {
    let all = cases();
    assert!(all.len() > 50, "{}", all.len());
    // Every full spelling derives its effect.
    for c in &all {
        let text = line(c.entry, &c.name, c.effect);
        assert!(!derived(&analyze(&text)).is_empty(), "{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_prefix_derives_what_the_option_derives(pick in any::<prop::sample::Index>(), cut in 1usize..64) {
        let all = cases();
        let c = pick.get(&all);
        let len = cut.min(c.name.len());
        let prefix = &c.name[..len];
        let full = derived(&analyze(&line(c.entry, &c.name, c.effect)));
        let text = line(c.entry, prefix, c.effect);
        let got = derived(&analyze(&text));
        let table = table(c.entry);
        let exact = table.iter().any(|n| n == prefix);
        let candidates: Vec<&String> = table.iter().filter(|n| n.starts_with(prefix)).collect();
        // A prefix that is another option's full name is that option (`gdb -e` is `-exec`);
        // a program whose operands are commands runs the value either way.
        let other_option = exact && prefix != c.name;
        if other_option || c.entry.operands.is_some() {
            return Ok(());
        }
        match c.entry.abbreviations {
            Abbreviations::UniquePrefix => {
                // Whatever the program picks among the candidates is judged.
                prop_assert!(got.is_superset(&full), "{text}: {got:?} lacks {full:?}");
                if candidates.len() == 1 || prefix == c.name {
                    prop_assert_eq!(&got, &full, "{}", text);
                }
            }
            Abbreviations::None => {
                // The option's own effect is gone (what the program does with the value as
                // an operand, such as an editor opening it, may remain).
                let marker = match c.effect {
                    Some(Effect::Command | Effect::CommandWords) => Some("runs terraform apply"),
                    Some(Effect::Code) => Some("interpreter_inline_code"),
                    _ => None,
                };
                if let Some(m) = marker.filter(|_| prefix != c.name) {
                    prop_assert!(!got.contains(m), "{text}: {got:?}");
                }
            }
        }
    }
}
