//! One knowledge-base entry: what a program (or one of its subcommands) does with its options,
//! operands and standard input, as written in `crates/cavra-shell/knowledge/*.yaml` and in a
//! pack's `knowledge:` section.
//!
//! This file is also compiled into the crate's build script (which turns the built-in YAML
//! files into static tables), so it depends on nothing but `std` and `serde`.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The hash the built-in table of program names is laid out by (FNV-1a, 64 bits): the build
/// script places each name with it and a lookup probes from it, so both must agree.
pub fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Text that is either compiled in (the built-in knowledge base) or loaded (a pack's entries).
pub type Text = Cow<'static, str>;

/// A list that is either compiled in or loaded.
pub type List<T> = Cow<'static, [T]>;

/// What an option's value, the words after an option, the operands or the standard input are
/// to the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// A command line the program runs (through a shell or split into words): judged like the
    /// same command written literally.
    Command,
    /// The following words (up to `until`, or the end) are a command and its arguments.
    CommandWords,
    /// Code in the program's own language (a debugger command, a makefile fragment, a test
    /// script): cavra cannot read it, so it is inline code (`interpreter_inline_code`).
    Code,
    /// A file the program reads.
    Read,
    /// A file the program creates or changes.
    Write,
    /// A folder the program writes files in (a report or cache folder): a write of every
    /// path under it.
    WriteFolder,
    /// The operands, joined by spaces, are one shell command line (`git submodule foreach
    /// 'cmd'` or `foreach cmd args`, as `eval` joins them).
    CommandLine,
    /// The program reaches the network (`network_egress`).
    Network,
}

impl Effect {
    /// Whether an option with this effect takes a value (the rest take the following words or
    /// nothing).
    pub fn takes_value(self) -> bool {
        matches!(
            self,
            Effect::Command | Effect::Code | Effect::Read | Effect::Write | Effect::WriteFolder
        )
    }

    /// Every effect with its name as written in YAML.
    pub const NAMES: [(&'static str, Effect); 8] = [
        ("command", Effect::Command),
        ("command_words", Effect::CommandWords),
        ("code", Effect::Code),
        ("read", Effect::Read),
        ("write", Effect::Write),
        ("write_folder", Effect::WriteFolder),
        ("command_line", Effect::CommandLine),
        ("network", Effect::Network),
    ];
}

/// Which abbreviations of long options the program's option parser accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Abbreviations {
    /// Only the full name (clap, lexopt, hand-written parsers).
    #[default]
    None,
    /// Any prefix that names one long option (GNU `getopt_long`, git's parse-options,
    /// Python's argparse, npm's nopt): `--ex` is `--exec` when no other option starts `ex`.
    UniquePrefix,
}

/// One option with an effect, or with risk classes of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionEntry {
    /// Its spellings: `-x`, `--exec` (and `-exec` for programs whose long options take one
    /// dash).
    pub names: List<Text>,
    /// What its value (or the words after it) is; none for an option that only carries
    /// `classes` (its value, if any, is named in `short_with_value`/`long_with_value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// Risk classes the command carries when the option is given (`unshare -r`:
    /// `privilege_escalation`).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub classes: List<Text>,
    /// For `command_words`: the word that ends the command (`;` for `fd -x`); without it the
    /// command runs to the end of the line's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Text>,
    /// The option's value is a setting, `KEY=VALUE` (or `KEY VALUE`, as ssh's `-o` takes it):
    /// a setting whose key one of these names has that setting's effect on its value. A
    /// value that is not a setting has the option's own `effect` (`cargo --config FILE`).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub settings: List<Setting>,
}

/// Settings (configuration keys) whose value a program runs or loads: `ProxyCommand` for
/// `ssh -o`, `target.*.runner` for `cargo --config`, `script-shell` for `yarn config set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// Keys, compared without regard to case; one `*` stands for any text
    /// (`target.*.runner`).
    pub keys: List<Text>,
    /// What the value is: `command`, `code`, `read` or `write`.
    pub effect: Effect,
}

impl Setting {
    /// Whether the setting names `key`.
    pub fn names_key(&self, key: &str) -> bool {
        self.keys.iter().any(|k| match k.split_once('*') {
            Some((head, tail)) => {
                key.len() >= head.len() + tail.len()
                    && key
                        .get(..head.len())
                        .is_some_and(|h| h.eq_ignore_ascii_case(head))
                    && key
                        .get(key.len() - tail.len()..)
                        .is_some_and(|t| t.eq_ignore_ascii_case(tail))
            }
            None => k.eq_ignore_ascii_case(key),
        })
    }

    fn check(&self, field: &str) -> Result<(), (String, String)> {
        if self.keys.is_empty() {
            return Err((
                format!("{field}.keys"),
                "a setting names at least one key".into(),
            ));
        }
        for (i, k) in self.keys.iter().enumerate() {
            let ok = !k.is_empty()
                && k.len() <= MAX_NAME
                && k.matches('*').count() <= 1
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | '@'));
            if !ok {
                return Err((
                    format!("{field}.keys[{i}]"),
                    format!("`{k}` is not a key (letters, digits, - _ . @, one * at most)"),
                ));
            }
        }
        if matches!(self.effect, Effect::CommandWords | Effect::Network) {
            return Err((
                format!("{field}.effect"),
                "a setting's value is a `command`, `code`, or a file `read` or `write`".into(),
            ));
        }
        Ok(())
    }
}

/// What one program, or one of its subcommands, does with its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramEntry {
    /// The program's base name (`fd`, `git`).
    pub program: Text,
    /// Other names the same program is installed under (`fdfind`).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub aliases: List<Text>,
    /// The subcommands this entry describes (`[push]`, `[new-session, new]`); empty: the
    /// program's own options, whatever the subcommand.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub subcommands: List<Text>,
    /// The subcommand words above `subcommands`, outermost first: `[submodule]` for `git
    /// submodule foreach`, `[pr]` for `gh pr merge`, `[config]` for `kubectl config
    /// set-credentials`. Empty: `subcommands` follow the program's own options.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub under: List<Text>,
    /// Where the behaviour is documented: the manual page or documentation URL and the
    /// version it describes.
    pub source: Text,
    /// Which abbreviations of long options the program accepts.
    #[serde(default)]
    pub abbreviations: Abbreviations,
    /// Long options take one dash (`-exec`, Go's flag package, find, gdb).
    #[serde(default)]
    pub single_dash_long: bool,
    /// The program's own options (an entry without `subcommands`) are read anywhere on the
    /// line, after the subcommand too (npm's nopt, clap's and cobra's global options), not
    /// only before it as git's and tmux's.
    #[serde(default, skip_serializing_if = "is_false")]
    pub options_anywhere: bool,
    /// Options end at the first operand (a wrapper's command follows it).
    #[serde(default)]
    pub options_end_at_operand: bool,
    /// Short option letters (without effect) that take a value, so values are never taken
    /// for operands or options.
    #[serde(default)]
    pub short_with_value: Text,
    /// Long options (without effect, without dashes) that take the next word as value.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub long_with_value: List<Text>,
    /// Every other long option (without dashes): with the options above, the table an
    /// abbreviation must be unique in.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub long_options: List<Text>,
    /// Options with an effect.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub options: List<OptionEntry>,
    /// What the operands are (`command_words`: the first operand starts a command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operands: Option<Effect>,
    /// With `operands: command_words`: how many operands name where the command runs before
    /// it starts (a container, a compose service, an image, a pod: `docker exec web rm -rf x`
    /// runs `rm -rf x` in `web`). After an option terminator `--` the command starts right
    /// there (`kubectl exec pod -c app -- sh -c …`), whatever stands before it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub command_after: u8,
    /// The operands are one setting, `KEY VALUE` or `KEY=VALUE` (`yarn config set KEY
    /// VALUE`): a key these name has that setting's effect on the value.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub settings: List<Setting>,
    /// Operands of the form `NAME=VALUE` (make's variable assignments on its command line,
    /// which override the makefile's): a name these list has that setting's effect on the
    /// value (`make check CC='…'` runs the value wherever a recipe says `$(CC)`).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub assignments: List<Setting>,
    /// Files the program (or subcommand) writes whatever its arguments say: its own
    /// configuration file (`yarn config set` writes `~/.yarnrc`, or `.yarnrc.yml` with Yarn 2
    /// and later). Judged as writes of those files, as `--output FILE` is.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub writes: List<Text>,
    /// Files the program reads when no option names the files to read instead: dotenv-cli
    /// loads `.env` unless `-e FILE` says otherwise, and `dotenv -- printenv` prints it.
    /// Judged as reads of those files, as `-e FILE` is; an option with `effect: read` given on
    /// the line replaces them.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub default_reads: List<Text>,
    /// The program only prepares what the command it runs finds on this machine — a toolchain
    /// or virtual environment (`uv run`, `bundle exec`), variables (`dotenv`, `op run`), a
    /// tracer (`strace`), a terminal session (`tmux`) — and does nothing of its own that a
    /// policy judges, so it adds no decision of its own, as `nice` and `timeout` do not.
    /// Without it a program that runs a command is judged as itself too: `kubectl exec pod --
    /// ls` needs what `kubectl exec pod` needs, `git rebase -x 'make' main` what `git rebase
    /// main` needs, however harmless the command it runs.
    #[serde(default, skip_serializing_if = "is_false")]
    pub wrapper: bool,
    /// What the standard input is (`command`: shell code, as `at` reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Effect>,
    /// Risk classes the program (or subcommand) always carries (`network_egress` for `dig`).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub classes: List<Text>,
    /// A first argument starting with this text selects which installed version of the
    /// program runs (`+` for rustup's `cargo +nightly test`): it is dropped before the
    /// arguments are read, so the command is judged as the same command without it.
    #[serde(default, skip_serializing_if = "is_empty_text")]
    pub version_selector: Text,
    /// With `operands: command_words`: a first operand `NAME` + this text + `COMMAND` names
    /// an environment and then the command (`:` for `hatch run test:pytest`): the command is
    /// judged without the environment's name.
    #[serde(default, skip_serializing_if = "is_empty_text")]
    pub environment_separator: Text,
    /// Options that only choose where or how the program (or subcommand) acts — a folder, a
    /// context, a project file, quieter output — dropped from the canonical form when they
    /// stand before the (next) subcommand word, so `gh -R o/r pr merge` is matched as
    /// `gh pr merge`. Whether one takes a value is read from `short_with_value` and
    /// `long_with_value`. Any other option there stops the dropping (nothing is guessed).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub neutral_options: List<Text>,
    /// The subcommands this entry describes take a subcommand word of their own (`gh pr
    /// merge`, `docker compose run`, `kubectl config set-context`, `npm run SCRIPT`): the
    /// entry's `neutral_options` may stand before it too.
    #[serde(default, skip_serializing_if = "is_false")]
    pub nested: bool,
    /// Every option of this level that takes a value is listed (`short_with_value`,
    /// `long_with_value`, `neutral_options`): any other option takes none, so the word after
    /// it is never its value (git's own options before the subcommand). Without it an option
    /// the entry does not know makes the next word uncertain, and every reading is judged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub complete_options: bool,
    /// How the canonical form spells the subcommands of this entry (`run` for `npm
    /// run-script`, `npm rum`), so one pattern names them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_subcommand: Option<Text>,
    /// Where the entry is written (`knowledge/search.yaml`, or the pack); set by the loader.
    #[serde(default, skip)]
    pub origin: Text,
}

fn is_empty<T: Clone>(list: &List<T>) -> bool {
    list.is_empty()
}

fn is_empty_text(t: &Text) -> bool {
    t.is_empty()
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The risk class names an entry may carry (the policy names of `RiskClass`).
pub const CLASS_NAMES: [&str; 9] = [
    "remote_code_execution",
    "privilege_escalation",
    "dynamic_command",
    "recursive_delete",
    "force_push",
    "interpreter_inline_code",
    "network_egress",
    "package_install",
    "unparseable",
];

/// The longest path `writes` may name.
pub const MAX_PATH: usize = 256;

/// The most operands `command_after` may count.
pub const MAX_COMMAND_AFTER: u8 = 4;

/// The longest program, subcommand or option name accepted.
pub const MAX_NAME: usize = 128;

impl ProgramEntry {
    /// Whether the entry only says how the program's words are spelled (neutral options,
    /// nested subcommands, subcommand spellings, a version selector), not what any argument
    /// does: such an entry alone does not make a program known.
    pub fn spelling_only(&self) -> bool {
        self.options.is_empty()
            && self.operands.is_none()
            && self.stdin.is_none()
            && self.classes.is_empty()
            && self.settings.is_empty()
            && self.assignments.is_empty()
            && self.writes.is_empty()
            && self.default_reads.is_empty()
            && (self.nested
                || self.complete_options
                || self.single_dash_long
                || !self.neutral_options.is_empty()
                || self.canonical_subcommand.is_some()
                || !self.version_selector.is_empty())
    }

    /// Checks what the YAML schema cannot: names are words, options are spelled with dashes,
    /// `until` only where words are taken, classes exist. The message names the offending
    /// field (relative to the entry) and value.
    pub fn check(&self) -> Result<(), (String, String)> {
        fn word(field: &str, s: &str) -> Result<(), (String, String)> {
            let ok = !s.is_empty()
                && s.len() <= MAX_NAME
                && !s.starts_with('-')
                && s.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '-' | '_' | '.' | '+' | '@' | ':' | '[')
                });
            if ok {
                Ok(())
            } else {
                Err((
                    field.to_string(),
                    format!(
                        "`{s}` is not a program, subcommand or option name (letters, digits, - _ . + @ :)"
                    ),
                ))
            }
        }
        word("program", &self.program)?;
        for (i, a) in self.aliases.iter().enumerate() {
            word(&format!("aliases[{i}]"), a)?;
        }
        for (i, s) in self.subcommands.iter().enumerate() {
            word(&format!("subcommands[{i}]"), s)?;
        }
        for (i, s) in self.under.iter().enumerate() {
            word(&format!("under[{i}]"), s)?;
        }
        if !self.under.is_empty() && self.subcommands.is_empty() {
            return Err((
                "under".into(),
                "`under` names the words above the entry's `subcommands`: name them".into(),
            ));
        }
        if self.source.trim().is_empty() {
            return Err((
                "source".into(),
                "every entry names its source (manual page or documentation URL and version)"
                    .into(),
            ));
        }
        if let Some(c) = self
            .short_with_value
            .chars()
            .find(|c| !c.is_ascii_alphanumeric())
        {
            return Err((
                "short_with_value".into(),
                format!("`{c}` is not an option letter"),
            ));
        }
        for (field, list) in [
            ("long_with_value", &self.long_with_value),
            ("long_options", &self.long_options),
        ] {
            for (i, name) in list.iter().enumerate() {
                word(&format!("{field}[{i}]"), name)?;
            }
        }
        for (i, o) in self.options.iter().enumerate() {
            if o.names.is_empty() {
                return Err((
                    format!("options[{i}].names"),
                    "an option needs a name".into(),
                ));
            }
            for (j, n) in o.names.iter().enumerate() {
                let field = format!("options[{i}].names[{j}]");
                let bare = n.strip_prefix("--").or_else(|| n.strip_prefix('-'));
                match bare {
                    Some(b) if n.starts_with("--") || self.single_dash_long || b.len() == 1 => {
                        word(&field, b)?
                    }
                    _ => {
                        return Err((
                            field,
                            format!(
                                "`{n}` is not an option: `-x` (one letter) or `--name`{}",
                                if self.single_dash_long {
                                    " or `-name`"
                                } else {
                                    ""
                                }
                            ),
                        ));
                    }
                }
            }
            if o.effect.is_none() && o.classes.is_empty() && o.settings.is_empty() {
                return Err((
                    format!("options[{i}]"),
                    "an option has an `effect`, `classes`, `settings`, or some of them".into(),
                ));
            }
            for (j, setting) in o.settings.iter().enumerate() {
                setting.check(&format!("options[{i}].settings[{j}]"))?;
            }
            for (j, c) in o.classes.iter().enumerate() {
                if !CLASS_NAMES.contains(&c.as_ref()) {
                    return Err((
                        format!("options[{i}].classes[{j}]"),
                        format!("`{c}` is not a risk class ({})", CLASS_NAMES.join(", ")),
                    ));
                }
            }
            if o.until.is_some() && o.effect != Some(Effect::CommandWords) {
                return Err((
                    format!("options[{i}].until"),
                    "`until` ends the words of a `command_words` option only".into(),
                ));
            }
            if o.until.as_deref().is_some_and(str::is_empty) {
                return Err((format!("options[{i}].until"), "`until` is a word".into()));
            }
        }
        for (i, n) in self.neutral_options.iter().enumerate() {
            let field = format!("neutral_options[{i}]");
            let bare = n.strip_prefix("--").or_else(|| n.strip_prefix('-'));
            match bare {
                Some(b) if n.starts_with("--") || self.single_dash_long || b.len() == 1 => {
                    word(&field, b)?
                }
                _ => {
                    return Err((
                        field,
                        format!("`{n}` is not an option: `-x` (one letter) or `--name`"),
                    ));
                }
            }
        }
        if self.version_selector.len() > 1
            || self
                .version_selector
                .chars()
                .any(|c| c.is_ascii_alphanumeric() || c.is_whitespace())
        {
            return Err((
                "version_selector".into(),
                format!(
                    "`{}` is not a selector: one punctuation character such as `+`",
                    self.version_selector
                ),
            ));
        }
        if !self.environment_separator.is_empty() && self.operands != Some(Effect::CommandWords) {
            return Err((
                "environment_separator".into(),
                "`environment_separator` splits the command of `operands: command_words`".into(),
            ));
        }
        let files = self
            .writes
            .iter()
            .enumerate()
            .map(|(i, w)| (format!("writes[{i}]"), w))
            .chain(
                self.default_reads
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("default_reads[{i}]"), r)),
            );
        for (field, w) in files {
            let ok = !w.trim().is_empty()
                && w.len() <= MAX_PATH
                && !w.contains(['\0', '\n', '*', '?', '['])
                && !w.split('/').any(|c| c == "..");
            if !ok {
                return Err((
                    field,
                    format!(
                        "`{w}` is not a file path (no wildcards, no `..`, at most {MAX_PATH} bytes)"
                    ),
                ));
            }
        }
        if self.command_after > 0 && self.operands != Some(Effect::CommandWords) {
            return Err((
                "command_after".into(),
                "`command_after` counts the operands before the command of `operands: command_words`"
                    .into(),
            ));
        }
        if self.command_after > MAX_COMMAND_AFTER {
            return Err((
                "command_after".into(),
                format!("at most {MAX_COMMAND_AFTER} operands stand before the command"),
            ));
        }
        if self.options_anywhere && !self.subcommands.is_empty() {
            return Err((
                "options_anywhere".into(),
                "`options_anywhere` is for the program's own options: an entry without `subcommands`".into(),
            ));
        }
        if self.nested && self.subcommands.is_empty() {
            return Err((
                "nested".into(),
                "`nested` says the entry's subcommands take one of their own: name them in `subcommands`".into(),
            ));
        }
        if let Some(c) = &self.canonical_subcommand {
            if self.subcommands.is_empty() {
                return Err((
                    "canonical_subcommand".into(),
                    "`canonical_subcommand` spells the entry's `subcommands`: name them".into(),
                ));
            }
            word("canonical_subcommand", c)?;
        }
        if self
            .stdin
            .is_some_and(|e| e != Effect::Command && e != Effect::Code)
        {
            return Err((
                "stdin".into(),
                "the standard input can be `command` or `code`".into(),
            ));
        }
        for (j, setting) in self.settings.iter().enumerate() {
            setting.check(&format!("settings[{j}]"))?;
        }
        for (j, setting) in self.assignments.iter().enumerate() {
            setting.check(&format!("assignments[{j}]"))?;
        }
        for (i, c) in self.classes.iter().enumerate() {
            if !CLASS_NAMES.contains(&c.as_ref()) {
                return Err((
                    format!("classes[{i}]"),
                    format!("`{c}` is not a risk class ({})", CLASS_NAMES.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

/// An environment variable that makes programs run code: its value is judged as what it
/// names (`GIT_SSH_COMMAND=…` a command line, `LD_PRELOAD=…` code cavra cannot read,
/// `GOFLAGS=…` options of `go build`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentEntry {
    /// Variable names; one `*` stands for any text (`CARGO_TARGET_*_RUNNER`).
    pub names: List<Text>,
    /// Where the behaviour is documented (manual page or documentation URL and version).
    pub source: Text,
    /// What the value is: `command`, `code`, `read` or `write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// The value is options of this program (and subcommand): `[go, build]` for `GOFLAGS`,
    /// judged as the knowledge base judges those options on the command line.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub options_of: List<Text>,
    /// Where the entry is written; set by the loader.
    #[serde(default, skip)]
    pub origin: Text,
}

/// Whether `name` is an environment variable name (letters, digits, `_`, not starting with a
/// digit), with at most one `*` standing for any text.
fn is_variable_pattern(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.matches('*').count() <= 1
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '*')
}

impl EnvironmentEntry {
    /// Whether the entry names variable `name`.
    pub fn names_variable(&self, name: &str) -> bool {
        self.names.iter().any(|n| match n.split_once('*') {
            Some((head, tail)) => {
                name.len() >= head.len() + tail.len()
                    && name.starts_with(head)
                    && name.ends_with(tail)
            }
            None => n == name,
        })
    }

    /// Checks the entry; the error names the field (relative to the entry) and the problem.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.names.is_empty() {
            return Err((
                "names".into(),
                "an entry names at least one variable".into(),
            ));
        }
        for (i, n) in self.names.iter().enumerate() {
            if !is_variable_pattern(n) {
                return Err((
                    format!("names[{i}]"),
                    format!("`{n}` is not a variable name (letters, digits, _, one * at most)"),
                ));
            }
        }
        if self.source.trim().is_empty() {
            return Err((
                "source".into(),
                "every entry names its source (manual page or documentation URL and version)"
                    .into(),
            ));
        }
        for (i, w) in self.options_of.iter().enumerate() {
            let ok = !w.is_empty()
                && w.len() <= MAX_NAME
                && !w.starts_with('-')
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
            if !ok {
                return Err((
                    format!("options_of[{i}]"),
                    format!("`{w}` is not a program or subcommand name"),
                ));
            }
        }
        match (self.effect, self.options_of.is_empty()) {
            (Some(Effect::CommandWords | Effect::Network), _) => Err((
                "effect".into(),
                "a variable's value is a `command`, `code`, or a file `read` or `write`".into(),
            )),
            (Some(_), true) | (None, false) => Ok(()),
            _ => Err((
                "effect".into(),
                "give either `effect` or `options_of`".into(),
            )),
        }
    }
}
