//! A pack's `knowledge:` section (and a knowledge file of the built-in base, which has the same
//! shape): what programs do with their options, operands and input, added to cavra's built-in
//! knowledge base ([`cavra_shell::knowledge`]).
//!
//! Checked like the rest of a pack: unknown keys, wrong types and unknown words at their line
//! and column first, then the entry checks of [`cavra_shell::ProgramEntry::check`] located at
//! the offending value.

use crate::error::{PolicyError, PolicyErrorKind};
use crate::load::{Field, SNode, Seg, Shape, Source, check_shape, locate, opt, parse_tree, req};
use crate::load::{saphyr_error, yaml_options};
use cavra_shell::knowledge::{Effect, EnvironmentEntry, MAX_PACK_ENTRIES, ProgramEntry};
use serde::{Deserialize, Serialize};

/// `knowledge:` entries a pack adds to the built-in knowledge base.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeSection {
    /// One entry per program (or per subcommand of a program).
    pub programs: Vec<ProgramEntry>,
    /// Environment variables whose values programs run or load.
    pub environment: Vec<EnvironmentEntry>,
}

impl KnowledgeSection {
    /// Whether the section adds nothing.
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty() && self.environment.is_empty()
    }

    /// The built-in knowledge base plus this section, every entry naming `origin`.
    pub fn compile(&self, origin: &str) -> cavra_shell::Knowledge {
        cavra_shell::Knowledge::with_entries(
            self.programs
                .iter()
                .map(|e| e.clone().with_origin(origin.to_string()))
                .collect(),
            self.environment
                .iter()
                .map(|e| e.clone().with_origin(origin.to_string()))
                .collect(),
        )
    }
}

const EFFECT_WORDS: [&str; Effect::NAMES.len()] = {
    let mut words = [""; Effect::NAMES.len()];
    let mut i = 0;
    while i < Effect::NAMES.len() {
        words[i] = Effect::NAMES[i].0;
        i += 1;
    }
    words
};

const OPTION_FIELDS: &[Field] = &[
    req("names", Shape::StrList),
    opt("effect", Shape::OptWord("effect", &EFFECT_WORDS)),
    opt("classes", Shape::StrList),
    opt("until", Shape::OptStr),
    opt("settings", Shape::List(&SETTING_SHAPE)),
];

const SETTING_FIELDS: &[Field] = &[
    req("keys", Shape::StrList),
    req(
        "effect",
        Shape::Word(
            "effect",
            &["command", "code", "read", "write", "write_folder"],
        ),
    ),
];

const SETTING_SHAPE: Shape = Shape::Struct("knowledge setting", SETTING_FIELDS);

const OPTION_SHAPE: Shape = Shape::Struct("knowledge option", OPTION_FIELDS);

const ENTRY_FIELDS: &[Field] = &[
    req("program", Shape::Str),
    opt("aliases", Shape::StrList),
    opt("subcommands", Shape::StrList),
    opt("under", Shape::StrList),
    req("source", Shape::Str),
    opt(
        "abbreviations",
        Shape::Word("abbreviations", &["none", "unique_prefix"]),
    ),
    opt("single_dash_long", Shape::Bool),
    opt("options_anywhere", Shape::Bool),
    opt("options_end_at_operand", Shape::Bool),
    opt("short_with_value", Shape::Str),
    opt("long_with_value", Shape::StrList),
    opt("long_options", Shape::StrList),
    opt("options", Shape::List(&OPTION_SHAPE)),
    opt("operands", Shape::OptWord("effect", &EFFECT_WORDS)),
    opt("command_after", Shape::OptNumber),
    opt("settings", Shape::List(&SETTING_SHAPE)),
    opt("assignments", Shape::List(&SETTING_SHAPE)),
    opt("writes", Shape::StrList),
    opt("default_reads", Shape::StrList),
    opt("wrapper", Shape::Bool),
    opt("stdin", Shape::OptWord("effect", &["command", "code"])),
    opt("classes", Shape::StrList),
    opt("version_selector", Shape::Str),
    opt("environment_separator", Shape::Str),
    opt("neutral_options", Shape::StrList),
    opt("nested", Shape::Bool),
    opt("complete_options", Shape::Bool),
    opt("canonical_subcommand", Shape::OptStr),
];

const ENTRY_SHAPE: Shape = Shape::Struct("knowledge entry", ENTRY_FIELDS);

const ENVIRONMENT_FIELDS: &[Field] = &[
    req("names", Shape::StrList),
    req("source", Shape::Str),
    opt(
        "effect",
        Shape::OptWord(
            "effect",
            &["command", "code", "read", "write", "write_folder"],
        ),
    ),
    opt("options_of", Shape::StrList),
];

const ENVIRONMENT_SHAPE: Shape = Shape::Struct("knowledge environment entry", ENVIRONMENT_FIELDS);

const SECTION_FIELDS: &[Field] = &[
    opt("programs", Shape::List(&ENTRY_SHAPE)),
    opt("environment", Shape::List(&ENVIRONMENT_SHAPE)),
];

/// The shape of a `knowledge:` section, and of a whole knowledge file.
pub(crate) const SECTION_SHAPE: Shape = Shape::Struct("knowledge", SECTION_FIELDS);

/// Turns `options[1].names[0]` into path segments below an entry.
fn field_path(field: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in field.split('.') {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
            out.push(Seg::Key(key));
        }
        for idx in pieces {
            if let Ok(i) = idx.trim_end_matches(']').parse::<usize>() {
                out.push(Seg::Idx(i));
            }
        }
    }
    out
}

/// Checks a section's entries (below `prefix` in `tree`, shown as `shown`).
pub(crate) fn validate_section(
    src: &Source,
    tree: &SNode,
    prefix: &[Seg<'_>],
    shown: &str,
    section: &KnowledgeSection,
) -> Result<(), PolicyError> {
    let mut at = prefix.to_vec();
    at.push(Seg::Key("programs"));
    if section.programs.len() + section.environment.len() > MAX_PACK_ENTRIES {
        return Err(src.error_at(
            PolicyErrorKind::Invalid,
            format!(
                "`{shown}` has {} entries; at most {MAX_PACK_ENTRIES} are accepted",
                section.programs.len() + section.environment.len()
            ),
            &locate(tree, &at).referenced,
        ));
    }
    for (i, entry) in section.programs.iter().enumerate() {
        if let Err((field, message)) = entry.check() {
            let mut path = at.clone();
            path.push(Seg::Idx(i));
            path.extend(field_path(&field));
            return Err(src.error_at(
                PolicyErrorKind::InvalidValue,
                format!("`{shown}programs[{i}].{field}`: {message}"),
                &locate(tree, &path).referenced,
            ));
        }
    }
    let mut at = prefix.to_vec();
    at.push(Seg::Key("environment"));
    for (i, entry) in section.environment.iter().enumerate() {
        if let Err((field, message)) = entry.check() {
            let mut path = at.clone();
            path.push(Seg::Idx(i));
            path.extend(field_path(&field));
            return Err(src.error_at(
                PolicyErrorKind::InvalidValue,
                format!("`{shown}environment[{i}].{field}`: {message}"),
                &locate(tree, &path).referenced,
            ));
        }
    }
    Ok(())
}

/// Loads a knowledge file (`programs:` and `environment:` entries, the format of
/// `crates/cavra-shell/knowledge` and of a pack's `knowledge:` section), with located errors.
/// Each entry's origin is set to `origin`.
pub fn parse_knowledge(text: &str, origin: &str) -> Result<KnowledgeSection, PolicyError> {
    let src = Source::new(text, origin);
    let tree = parse_tree(&src)?;
    check_shape(&src, &tree, &SECTION_SHAPE, "")?;
    let section: KnowledgeSection = serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| saphyr_error(&src, &e, PolicyErrorKind::InvalidValue))?;
    validate_section(&src, &tree, &[], "", &section)?;
    Ok(KnowledgeSection {
        programs: section
            .programs
            .into_iter()
            .map(|e| e.with_origin(origin.to_string()))
            .collect(),
        environment: section
            .environment
            .into_iter()
            .map(|e| e.with_origin(origin.to_string()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_point_into_the_entry() {
        let p = field_path("options[1].names[0]");
        assert!(matches!(
            p.as_slice(),
            [
                Seg::Key("options"),
                Seg::Idx(1),
                Seg::Key("names"),
                Seg::Idx(0)
            ]
        ));
    }

    #[test]
    fn a_bad_entry_is_located() {
        let text = "programs:\n  - program: fd\n    source: fd(1)\n    options:\n      - {names: [exec], effect: command}\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("`exec` is not an option spelling");
        let loc = e.location.clone().expect("located");
        assert_eq!((loc.file.as_str(), loc.line), ("k.yaml", 5), "{e}");
        assert!(e.message.contains("options[0].names[0]"), "{e}");
        let text = "programs:\n  - program: fd\n    source: fd(1)\n    optoins: []\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("unknown key");
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(4), "{e}");
        let text = "programs:\n  - program: fd\n    source: fd(1)\n    operands: runs\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("unknown effect");
        assert_eq!(
            e.location.as_ref().map(|l| (l.line, l.column)),
            Some((4, 15)),
            "{e}"
        );
        let text = "programs:\n  - program: fd\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("source is required");
        assert!(e.to_string().contains("source"), "{e}");
        let text =
            "environment:\n  - names: [GIT_SSH_COMMAND]\n    source: git(1)\n    effect: network\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("network is no value effect");
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(4), "{e}");
        let text = "environment:\n  - names: [GIT SSH]\n    source: git(1)\n    effect: command\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("not a variable name");
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(2), "{e}");
    }

    #[test]
    fn a_pack_entry_says_whether_its_program_is_a_pure_wrapper() {
        let role = |wrapper: &str| {
            let text = format!(
                "programs:\n  - program: inbox\n    source: inbox(1)\n{wrapper}    options_end_at_operand: true\n    operands: command_words\n"
            );
            let section = parse_knowledge(&text, "k.yaml").unwrap_or_else(|e| panic!("{e}"));
            let kb = section.compile("k.yaml");
            let a = cavra_shell::analyze_with_knowledge(
                "inbox ls",
                &cavra_shell::Limits::default(),
                &kb,
            );
            a.commands.first().map(|c| c.role)
        };
        assert_eq!(
            role("    wrapper: true\n"),
            Some(cavra_shell::CommandRole::Wrapper)
        );
        assert_eq!(role(""), Some(cavra_shell::CommandRole::Executed));
    }

    #[test]
    fn options_with_classes_and_spelling_fields_load_and_are_checked() {
        let text = "programs:\n  - program: runas\n    source: runas(1)\n    options_anywhere: true\n    long_with_value: [user, dir]\n    neutral_options: [--dir]\n    version_selector: '+'\n    options:\n      - {names: [--user], classes: [privilege_escalation]}\n    operands: command_words\n  - program: runas\n    subcommands: [job, jobs]\n    source: runas(1)\n    nested: true\n    canonical_subcommand: job\n";
        let section = parse_knowledge(text, "k.yaml").unwrap_or_else(|e| panic!("{e}"));
        let kb = section.compile("k.yaml");
        let a = cavra_shell::analyze_with_knowledge(
            "runas +v2 --dir x jobs --dir y run --user=root sh",
            &cavra_shell::Limits::default(),
            &kb,
        );
        assert!(
            a.classes
                .contains(&cavra_shell::RiskClass::PrivilegeEscalation)
        );
        assert_eq!(
            a.commands.first().map(|c| c.canonical.as_str()),
            Some("runas job run --user=root sh")
        );
        let text =
            "programs:\n  - program: x\n    source: x(1)\n    options:\n      - {names: [--y]}\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("an option needs an effect or classes");
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(5), "{e}");
        let text = "programs:\n  - program: x\n    source: x(1)\n    options:\n      - {names: [--y], classes: [root]}\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("no such class");
        assert!(e.message.contains("options[0].classes[0]"), "{e}");
        let text = "programs:\n  - program: x\n    source: x(1)\n    nested: true\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("nested without subcommands");
        assert!(e.message.contains("nested"), "{e}");
        let text = "programs:\n  - program: x\n    source: x(1)\n    version_selector: ab\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("a selector is one character");
        assert!(e.message.contains("version_selector"), "{e}");
    }

    #[test]
    fn writes_and_command_after_load_and_are_checked_where_they_stand() {
        let text = "programs:\n  - program: box\n    subcommands: [exec]\n    source: box(1)\n    operands: command_words\n    command_after: 1\n  - program: box\n    subcommands: [config]\n    source: box(1)\n    writes: ['~/.boxrc']\n";
        let section = parse_knowledge(text, "k.yaml").expect("both keys load");
        assert_eq!(section.programs[0].command_after, 1);
        assert_eq!(section.programs[1].writes.len(), 1);
        let text = "programs:\n  - program: box\n    source: box(1)\n    command_after: 2\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("command_after needs command_words");
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(4), "{e}");
        let text = "programs:\n  - program: box\n    source: box(1)\n    writes: x\n";
        let e = parse_knowledge(text, "k.yaml").expect_err("writes is a list");
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(4), "{e}");
    }

    #[test]
    fn every_built_in_knowledge_file_loads_as_a_pack_section_would() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cavra-shell/knowledge");
        let (mut programs, mut environment) = (0, 0);
        for f in std::fs::read_dir(&dir).expect("knowledge folder") {
            let path = f.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let section = parse_knowledge(&text, &path.display().to_string())
                .unwrap_or_else(|e| panic!("{e}"));
            programs += section.programs.len();
            environment += section.environment.len();
        }
        assert_eq!(programs, cavra_shell::Knowledge::builtin_entries().len());
        assert_eq!(
            environment,
            cavra_shell::Knowledge::builtin_environment().len()
        );
    }
}
