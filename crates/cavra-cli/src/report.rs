//! A policy error as the terminal shows it: its code, the message, the source lines around the
//! place with a marker under the column, and the suggestion.
//!
//! Written here rather than with miette's graphical handler: that handler wraps text with
//! textwrap's Unicode line breaking, whose ICU tables alone were about 0.3 MB of the static
//! binary (docs/benchmarks.md#container-image), for the one report cavra draws.

use cavra_policy::PolicyError;
use std::fmt;

/// How many source lines are shown before and after the line in error.
const CONTEXT_LINES: usize = 1;

/// A policy error rendered for a terminal ([`fmt::Display`]).
pub struct PolicyReport<'a>(pub &'a PolicyError);

impl fmt::Display for PolicyReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        writeln!(f, "cavra::policy::{:?}", e.kind)?;
        writeln!(f)?;
        let snippet = match (&e.location, &e.source_text) {
            (Some(loc), Some(text)) => loc.offset.map(|offset| (loc, text, offset)),
            _ => None,
        };
        match (snippet, &e.location) {
            (Some((loc, text, offset)), _) => {
                writeln!(f, "  × {}", e.message)?;
                write_snippet(f, &loc.to_string(), text, offset)?;
            }
            (None, Some(loc)) => {
                writeln!(f, "  × {loc}")?;
                writeln!(f, "  ╰─▶ {}", e.message)?;
            }
            (None, None) => writeln!(f, "  × {}", e.message)?,
        }
        if let Some(help) = &e.help {
            writeln!(f, "  help: {help}")?;
        }
        Ok(())
    }
}

/// The lines of `text` around byte `offset`, numbered, with a marker under the offset's column
/// and `label` beside it.
fn write_snippet(
    f: &mut fmt::Formatter<'_>,
    label: &str,
    text: &str,
    offset: usize,
) -> fmt::Result {
    // An offset past the end or inside a character points at the nearest boundary before it.
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_index = text[..line_start].matches('\n').count();
    let lines: Vec<&str> = text.lines().collect();
    let first = line_index.saturating_sub(CONTEXT_LINES);
    let last = (line_index + CONTEXT_LINES).min(lines.len().saturating_sub(1));
    let width = (last + 1).max(line_index + 1).to_string().len();
    let pad = " ".repeat(width);
    writeln!(f, " {pad} ╭─[{label}]")?;
    let column = text[line_start..at].chars().count();
    let mut shown = false;
    for (i, line) in lines.iter().enumerate().take(last + 1).skip(first) {
        writeln!(f, " {:>width$} │ {line}", i + 1)?;
        if i == line_index {
            write_marker(f, &pad, column, label)?;
            shown = true;
        }
    }
    if !shown {
        // The offset is on an empty last line that `lines()` does not yield.
        writeln!(f, " {:>width$} │", line_index + 1)?;
        write_marker(f, &pad, column, label)?;
    }
    writeln!(f, " {pad} ╰────")
}

fn write_marker(f: &mut fmt::Formatter<'_>, pad: &str, column: usize, label: &str) -> fmt::Result {
    let indent = " ".repeat(column);
    writeln!(f, " {pad} · {indent}▲")?;
    writeln!(f, " {pad} · {indent}╰── {label}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_policy::SourceLocation;
    use cavra_policy::error::PolicyErrorKind;
    use std::sync::Arc;

    fn error(offset: Option<usize>, text: Option<&str>) -> PolicyError {
        let mut e = PolicyError::new(PolicyErrorKind::UnknownKey, "unknown key `blok_read`").at(
            SourceLocation {
                file: ".cavra/policy.yaml".into(),
                line: 3,
                column: 5,
                offset,
            },
        );
        e.help = Some("did you mean `block_read`?".into());
        if let Some(t) = text {
            e = e.with_source(Arc::from(t));
        }
        e
    }

    #[test]
    fn the_line_in_error_is_shown_with_its_neighbours_and_a_marker_under_the_column() {
        let text = "version: 1\nrules:\n  - blok_read: x\n  - allow: y\nlast: z\n";
        let offset = text.find("blok_read").unwrap();
        let out = PolicyReport(&error(Some(offset), Some(text))).to_string();
        let expected = "cavra::policy::UnknownKey\n\
            \n  × unknown key `blok_read`\
            \n   ╭─[.cavra/policy.yaml:3:5]\
            \n 2 │ rules:\
            \n 3 │   - blok_read: x\
            \n   ·     ▲\
            \n   ·     ╰── .cavra/policy.yaml:3:5\
            \n 4 │   - allow: y\
            \n   ╰────\
            \n  help: did you mean `block_read`?\n";
        assert_eq!(out, expected);
    }

    #[test]
    fn a_place_without_source_names_the_place_and_the_message() {
        let out = PolicyReport(&error(None, None)).to_string();
        assert!(
            out.contains("  × .cavra/policy.yaml:3:5\n  ╰─▶ unknown key `blok_read`\n"),
            "{out}"
        );
        assert!(
            out.ends_with("  help: did you mean `block_read`?\n"),
            "{out}"
        );
    }

    #[test]
    fn offsets_at_the_end_or_inside_a_character_are_drawn_without_panicking() {
        let text = "name: é\n";
        for offset in [0, 7, text.len(), text.len() + 10] {
            let out = PolicyReport(&error(Some(offset), Some(text))).to_string();
            assert!(out.contains("▲"), "{offset}: {out}");
        }
        let out = PolicyReport(&error(Some(1), Some(""))).to_string();
        assert!(out.contains(" 1 │\n"), "{out}");
    }
}
