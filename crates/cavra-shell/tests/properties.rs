//! Property tests: the analysis never panics, keeps its indices consistent, and the canonical
//! form does not depend on quoting, spacing or the executable's directory.

use cavra_shell::{CommandAnalysis, analyze};
use proptest::prelude::*;

/// Bash reserved words change the parse when unquoted, so generated plain words avoid them.
const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do",
    "done", "in", "function", "time", "coproc",
];

fn plain_word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.,:/-]{0,8}".prop_filter("reserved word", |w| !RESERVED.contains(&w.as_str()))
}

fn command_words() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(plain_word(), 1..6)
}

fn check_invariants(text: &str, a: &CommandAnalysis) {
    for c in &a.commands {
        assert_eq!(c.variants.first(), Some(&c.canonical), "{text:?}");
        assert!(c.variants.len() <= 8, "{text:?}");
        assert!(
            c.span.0 <= c.span.1 && c.span.1 <= text.len(),
            "{text:?}: {:?}",
            c.span
        );
        assert!(!c.argv.is_empty(), "{text:?}");
    }
    for f in &a.file_accesses {
        assert!(f.command_index < a.commands.len(), "{text:?}");
    }
    for p in &a.git_pushes {
        assert!(p.command_index < a.commands.len(), "{text:?}");
    }
    for c in &a.commands {
        assert!(c.classes.is_subset(&a.classes), "{text:?}");
    }
    assert_eq!(
        a.problems.is_empty(),
        !a.classes.contains(&cavra_shell::RiskClass::Unparseable),
        "{text:?}: {:?}",
        a.problems
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_text(text in any::<String>()) {
        let a = analyze(&text);
        check_invariants(&text, &a);
    }

    #[test]
    fn never_panics_on_shell_metacharacters(
        text in "[a-z$'\"\\\\`(){};|&<>! \n\t*?#=~.-]{0,120}"
    ) {
        let a = analyze(&text);
        check_invariants(&text, &a);
    }

    #[test]
    fn never_panics_on_wrapper_soup(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "sudo", "sh -c '", "bash -c \"", "'", "\"", "$(", ")", "`", "<(", "env A=1",
                "xargs", "find . -exec", "\\;", "eval", "timeout 5", "|", "&&", ";", "\n",
                "rm -rf x", "git push -f", "curl x", "<<EOF\n", "EOF\n", "\\\n", "{", "}",
                "if", "then", "fi", "> f", "2>&1", "echo", "$x", "${y:-", "}", "(", ")",
            ]),
            0..40,
        )
    ) {
        let text = parts.join(" ");
        let a = analyze(&text);
        check_invariants(&text, &a);
    }

    #[test]
    fn quoting_literal_words_changes_nothing(
        words in command_words(),
        quotes in prop::collection::vec(0u8..4, 6),
    ) {
        let plain = words.join(" ");
        let quoted: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(i, w)| match quotes.get(i).copied().unwrap_or(0) {
                1 => format!("'{w}'"),
                2 => format!("\"{w}\""),
                // Quote removal inside a word: `te''rm`.
                3 => {
                    let (a, b) = w.split_at(1);
                    format!("{a}''{b}")
                }
                _ => w.clone(),
            })
            .collect();
        let quoted = quoted.join(" ");
        let a = analyze(&plain);
        let b = analyze(&quoted);
        prop_assert_eq!(a.commands.len(), 1);
        prop_assert_eq!(b.commands.len(), 1);
        prop_assert_eq!(&a.commands[0].argv, &b.commands[0].argv);
        prop_assert_eq!(&a.commands[0].canonical, &b.commands[0].canonical);
    }

    #[test]
    fn spacing_changes_nothing(
        words in command_words(),
        gaps in prop::collection::vec("[ \t]{1,4}", 6),
        lead in "[ \t]{0,3}",
        trail in "[ \t]{0,3}",
    ) {
        let mut spaced = lead.clone();
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                spaced.push_str(gaps.get(i).map(String::as_str).unwrap_or(" "));
            }
            spaced.push_str(w);
        }
        spaced.push_str(&trail);
        let a = analyze(&words.join(" "));
        let b = analyze(&spaced);
        prop_assert_eq!(&a.commands[0].canonical, &b.commands[0].canonical);
        prop_assert_eq!(&a.commands[0].canonical, &words.join(" ").replacen(
            words[0].as_str(),
            cavra_shell::canonicalize_pattern(&words[0]).as_str(),
            1,
        ));
    }

    #[test]
    fn executable_directory_changes_nothing(
        words in command_words(),
        dir in prop::sample::select(vec!["/usr/bin/", "/bin/", "./", "../tools/", "~/bin/"]),
    ) {
        let name = words[0].rsplit('/').next().unwrap_or("x").to_string();
        prop_assume!(!name.is_empty() && !RESERVED.contains(&name.as_str()));
        let mut rest = words.clone();
        rest[0] = name.clone();
        let a = analyze(&rest.join(" "));
        rest[0] = format!("{dir}{name}");
        let b = analyze(&rest.join(" "));
        prop_assert_eq!(&a.commands[0].canonical, &b.commands[0].canonical);
    }

    #[test]
    fn canonical_pattern_is_idempotent(p in "[ a-z*?/\t-]{0,40}") {
        let once = cavra_shell::canonicalize_pattern(&p);
        prop_assert_eq!(cavra_shell::canonicalize_pattern(&once), once.clone());
    }

    #[test]
    fn canonical_form_is_its_own_pattern(words in command_words()) {
        let a = analyze(&words.join(" "));
        let c = &a.commands[0].canonical;
        prop_assert_eq!(&cavra_shell::canonicalize_pattern(c), c);
    }
}

/// Code points above 255 once reached C's `isdigit` in the bash grammar's scanner and could
/// crash the process; the parser now sees only ASCII while words keep their text.
#[test]
fn high_code_points_never_reach_the_grammar() {
    let prefixes = [
        "", "echo ", "cat <<", "x=$((", "a[", "${", "<", ">", "2>", "&", "$'", "\"$", "case ", "1",
    ];
    for prefix in prefixes {
        for ch in ['\u{10FFFF}', '\u{FFFD}', '\u{0660}', 'é', '\u{1F600}'] {
            for tail in ["", "1", " x", "9>", "\n"] {
                let text = format!("{prefix}{ch}{ch}{tail}");
                let _ = cavra_shell::analyze(&text);
            }
        }
    }
    let a = cavra_shell::analyze("cat ./données/.env && echo 'ünïcode ✓'");
    let argv: Vec<String> = a.commands.iter().map(|c| c.argv.join(" ")).collect();
    assert_eq!(argv, ["cat ./données/.env", "echo ünïcode ✓"]);
    assert!(
        a.file_accesses.iter().any(|f| f.path == "./données/.env"),
        "{:?}",
        a.file_accesses
    );
}
