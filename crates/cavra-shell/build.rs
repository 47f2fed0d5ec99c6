//! Compiles the built-in knowledge base (`knowledge/*.yaml`) into static tables.
//!
//! Each file is read with the same entry type (and the same checks) a pack's `knowledge:`
//! section is loaded with; a file that does not read or check fails the build, naming the
//! file and the entry. The output is plain Rust data, so a process never parses YAML to know
//! what a program does, and a lookup is a hash of the program name and a probe or two.

#[path = "src/knowledge/entry.rs"]
#[allow(dead_code)]
mod entry;

use entry::{Effect, EnvironmentEntry, ProgramEntry, Setting, Text};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One knowledge file: the same shape as a pack's `knowledge:` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnowledgeFile {
    #[serde(default)]
    programs: Vec<ProgramEntry>,
    #[serde(default)]
    environment: Vec<EnvironmentEntry>,
}

fn text(s: &str) -> String {
    format!("Cow::Borrowed({s:?})")
}

fn texts(list: &[Text]) -> String {
    let items: Vec<String> = list.iter().map(|s| text(s)).collect();
    format!("Cow::Borrowed(&[{}])", items.join(", "))
}

fn effect(e: Option<Effect>) -> String {
    match e {
        Some(e) => format!("Some(Effect::{e:?})"),
        None => "None".to_string(),
    }
}

fn settings(list: &[Setting]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|s| {
            format!(
                "Setting {{ keys: {}, effect: Effect::{:?} }}",
                texts(&s.keys),
                s.effect
            )
        })
        .collect();
    format!("Cow::Borrowed(&[{}])", items.join(", "))
}

fn emit(entry: &ProgramEntry, origin: &str, out: &mut String) {
    let mut options = String::new();
    for o in entry.options.iter() {
        let until = match &o.until {
            Some(u) => format!("Some({})", text(u)),
            None => "None".to_string(),
        };
        let _ = write!(
            options,
            "OptionEntry {{ names: {}, effect: {}, classes: {}, until: {until}, settings: {} }}, ",
            texts(&o.names),
            effect(o.effect),
            texts(&o.classes),
            settings(&o.settings),
        );
    }
    let _ = writeln!(
        out,
        "    ProgramEntry {{ program: {}, aliases: {}, subcommands: {}, under: {}, source: {}, \
         abbreviations: Abbreviations::{:?}, single_dash_long: {}, options_anywhere: {}, options_end_at_operand: {}, \
         short_with_value: {}, long_with_value: {}, long_options: {}, \
         options: Cow::Borrowed(&[{options}]), operands: {}, command_after: {}, settings: {}, assignments: {}, writes: {}, default_reads: {}, wrapper: {}, stdin: {}, classes: {}, \
         version_selector: {}, environment_separator: {}, neutral_options: {}, nested: {}, complete_options: {}, canonical_subcommand: {}, origin: {} }},",
        text(&entry.program),
        texts(&entry.aliases),
        texts(&entry.subcommands),
        texts(&entry.under),
        text(&entry.source),
        entry.abbreviations,
        entry.single_dash_long,
        entry.options_anywhere,
        entry.options_end_at_operand,
        text(&entry.short_with_value),
        texts(&entry.long_with_value),
        texts(&entry.long_options),
        effect(entry.operands),
        entry.command_after,
        settings(&entry.settings),
        settings(&entry.assignments),
        texts(&entry.writes),
        texts(&entry.default_reads),
        entry.wrapper,
        effect(entry.stdin),
        texts(&entry.classes),
        text(&entry.version_selector),
        text(&entry.environment_separator),
        texts(&entry.neutral_options),
        entry.nested,
        entry.complete_options,
        match &entry.canonical_subcommand {
            Some(c) => format!("Some({})", text(c)),
            None => "None".to_string(),
        },
        text(origin),
    );
}

fn emit_environment(entry: &EnvironmentEntry, origin: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "    EnvironmentEntry {{ names: {}, source: {}, effect: {}, options_of: {}, origin: {} }},",
        texts(&entry.names),
        text(&entry.source),
        effect(entry.effect),
        texts(&entry.options_of),
        text(origin),
    );
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    println!("cargo:rerun-if-changed=knowledge");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = String::from("pub(super) static ENTRIES: &[ProgramEntry] = &[\n");
    let mut environment = String::from("pub(super) static ENVIRONMENT: &[EnvironmentEntry] = &[\n");
    let mut names: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    // Names with an entry that says what an argument does (not only how words are spelled).
    let mut known: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut count = 0usize;
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let origin = format!("knowledge/{name}");
        let yaml =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file: KnowledgeFile = serde_saphyr::from_str(&yaml)
            .unwrap_or_else(|e| panic!("crates/cavra-shell/{origin}: {e}"));
        for (i, entry) in file.programs.iter().enumerate() {
            if let Err((field, message)) = entry.check() {
                panic!("crates/cavra-shell/{origin}: programs[{i}].{field}: {message}");
            }
            emit(entry, &origin, &mut out);
            for n in std::iter::once(&entry.program).chain(entry.aliases.iter()) {
                names.entry(n.to_string()).or_default().push(count);
                if !entry.spelling_only() {
                    known.insert(n.to_string());
                }
            }
            count += 1;
        }
        for (i, entry) in file.environment.iter().enumerate() {
            if let Err((field, message)) = entry.check() {
                panic!("crates/cavra-shell/{origin}: environment[{i}].{field}: {message}");
            }
            emit_environment(entry, &origin, &mut environment);
        }
    }
    out.push_str("];\n\n");
    environment.push_str("];\n\n");
    out.push_str(&environment);
    // An open-addressing hash table of the names (FNV-1a, linear probing, at most half full),
    // so a lookup costs a hash of the name and a probe or two, not a walk through every name.
    let size = (names.len() * 2).next_power_of_two().max(16);
    let mut slots: Vec<Option<(&String, &Vec<usize>)>> = vec![None; size];
    for (name, idx) in &names {
        let mut at = (entry::name_hash(name) as usize) & (size - 1);
        while slots[at].is_some() {
            at = (at + 1) & (size - 1);
        }
        slots[at] = Some((name, idx));
    }
    let _ = writeln!(
        out,
        "/// One slot of [`PROGRAMS`]: a program name (or alias), the indices into [`ENTRIES`] of its\n\
         /// entries, and whether one of them says what an argument does; an empty name is a free slot.\n\
         pub(super) struct Slot {{ pub(super) name: &'static str, pub(super) entries: &'static [usize], pub(super) known: bool }}\n\n\
         /// The program names by [`name_hash`](super::entry::name_hash), linear probing.\n\
         pub(super) static PROGRAMS: [Slot; {size}] = ["
    );
    for slot in &slots {
        match slot {
            Some((name, idx)) => {
                let list: Vec<String> = idx.iter().map(usize::to_string).collect();
                let _ = writeln!(
                    out,
                    "    Slot {{ name: {name:?}, entries: &[{}], known: {} }},",
                    list.join(", "),
                    known.contains(*name)
                );
            }
            None => out.push_str("    Slot { name: \"\", entries: &[], known: false },\n"),
        }
    }
    out.push_str("];\n\n");
    let _ = writeln!(
        out,
        "/// The slot of a program name (or alias), if the knowledge base has entries for it.\n\
         pub(super) fn slot(program: &str) -> Option<&'static Slot> {{\n\
         \x20   let mut at = (super::entry::name_hash(program) as usize) & {mask};\n\
         \x20   loop {{\n\
         \x20       let slot = PROGRAMS.get(at)?;\n\
         \x20       if slot.name.is_empty() {{\n\
         \x20           return None;\n\
         \x20       }}\n\
         \x20       if slot.name == program {{\n\
         \x20           return Some(slot);\n\
         \x20       }}\n\
         \x20       at = (at + 1) & {mask};\n\
         \x20   }}\n\
         }}\n\n\
         /// Indices into [`ENTRIES`] of the entries for a program name (or alias).\n\
         pub(super) fn indices(program: &str) -> &'static [usize] {{\n\
         \x20   slot(program).map_or(&[], |s| s.entries)\n\
         }}\n\n\
         /// Whether an entry for the program (or alias) says what an argument does.\n\
         pub(super) fn known(program: &str) -> bool {{\n\
         \x20   slot(program).is_some_and(|s| s.known)\n\
         }}",
        mask = size - 1
    );
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}")))
        .join("knowledge.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
}
