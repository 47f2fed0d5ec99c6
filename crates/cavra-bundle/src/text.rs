//! The lines people read of a written bundle and of a bundle's verification (`cavra evidence
//! bundle`, `cavra evidence verify`); the JSON forms are the types' own serialisations.

use std::fmt::Write as _;

use crate::{VerifyReport, WrittenBundle};

// Writing to a String cannot fail: the results of `writeln!` below are ignored for that reason.

impl WrittenBundle {
    /// What was written: the entries and tree head, the decisions by word, and who signed
    /// (the checkpoint by the log key `log_key_id`).
    pub fn to_text(&self, log_key_id: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "wrote {}: {} entries of a log of {} (tree head {})",
            self.dir.display(),
            self.entries,
            self.tree_size,
            self.root_hash
        );
        let counts: Vec<String> = self
            .decisions
            .iter()
            .map(|(d, n)| format!("{n} {d}"))
            .collect();
        if !counts.is_empty() {
            let _ = writeln!(out, "  decisions: {}", counts.join(", "));
        }
        let _ = match &self.signed_by {
            Some(k) => writeln!(
                out,
                "  signed by {k}; checkpoint signed by the log key {log_key_id}"
            ),
            None => writeln!(
                out,
                "  UNSIGNED (no --sign-key): it verifies only with --allow-unsigned; checkpoint signed by the log key {log_key_id}"
            ),
        };
        out
    }
}

impl VerifyReport {
    /// Each check with `ok` or `FAIL`, then the verdict.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let word = if c.ok { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "{word} {:<10} {}", c.name, c.detail);
        }
        let _ = if self.ok() {
            writeln!(out, "verified: {} entries", self.entries)
        } else {
            writeln!(out, "NOT verified: {} failure(s)", self.failures.len())
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::{Check, VerifyReport, WrittenBundle};
    use std::collections::BTreeMap;

    #[test]
    fn a_written_bundle_says_what_it_holds_and_who_signed() {
        let mut written = WrittenBundle {
            dir: "/b".into(),
            entries: 3,
            tree_size: 9,
            root_hash: "ab".into(),
            decisions: BTreeMap::from([("allow".to_string(), 2), ("block".to_string(), 1)]),
            signed_by: Some("auditor".into()),
            files: Vec::new(),
        };
        assert_eq!(
            written.to_text("log-1"),
            "wrote /b: 3 entries of a log of 9 (tree head ab)\n  decisions: 2 allow, 1 block\n  signed by auditor; checkpoint signed by the log key log-1\n"
        );
        written.signed_by = None;
        written.decisions.clear();
        let text = written.to_text("log-1");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("  UNSIGNED (no --sign-key)"), "{text}");
    }

    #[test]
    fn a_verification_lists_its_checks_then_the_verdict() {
        let mut report = VerifyReport {
            checks: vec![Check {
                name: "manifest".into(),
                ok: true,
                detail: "12 files".into(),
            }],
            entries: 4,
            ..VerifyReport::default()
        };
        assert_eq!(
            report.to_text(),
            "ok   manifest   12 files\nverified: 4 entries\n"
        );
        report
            .failures
            .push("checksum mismatch: entries.jsonl".into());
        assert!(report.to_text().ends_with("NOT verified: 1 failure(s)\n"));
    }
}
