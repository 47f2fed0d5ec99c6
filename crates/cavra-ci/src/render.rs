//! The CI gate's report in each output format: text for a person, JUnit XML, GitHub
//! workflow commands and job summary, GitLab code quality, SARIF 2.1.0.

use crate::CheckReport;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// For people.
    Text,
    /// For machines.
    Json,
    /// JUnit XML (GitLab test reports, most CI systems): one test case per changed path.
    Junit,
    /// GitHub Actions: `::error file=…::` annotations, and a markdown job summary written to
    /// `$GITHUB_STEP_SUMMARY` when it is set.
    Github,
    /// GitLab code-quality report (JSON).
    Gitlab,
    /// SARIF 2.1.0 (GitHub code scanning): one rule per finding kind, results located on the
    /// changed paths.
    Sarif,
}

/// The report in `format` (for [`Format::Github`], the annotations; the job summary is
/// [`markdown_summary`], which [`append_step_summary`] writes).
pub fn render(report: &CheckReport, format: Format) -> Result<String, serde_json::Error> {
    Ok(match format {
        Format::Text => text(report),
        Format::Json => {
            let mut v = serde_json::to_value(report)?;
            v["ok"] = serde_json::Value::Bool(report.ok());
            serde_json::to_string_pretty(&v)? + "\n"
        }
        Format::Junit => junit(report),
        Format::Github => github(report),
        Format::Gitlab => gitlab(report)?,
        Format::Sarif => sarif(report)?,
    })
}

/// Appends the report's markdown summary to the file GitHub Actions names in
/// `$GITHUB_STEP_SUMMARY` (`path`), as a job's steps each add theirs.
pub fn append_step_summary(report: &CheckReport, path: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(markdown_summary(report).as_bytes())
}

/// The report for a person: the range, the evidence, each finding with its rule and fix.
pub fn text(report: &CheckReport) -> String {
    let mut s = format!(
        "cavra ci check {}..{}: {} changed path(s), judged by {} ({})\n",
        &report.base[..12.min(report.base.len())],
        &report.head[..12.min(report.head.len())],
        report.changes.len(),
        report.policy,
        report.policy_digest
    );
    if let Some(n) = report.evidence_entries {
        s.push_str(&format!("evidence: verified bundle of {n} entries\n"));
    }
    for c in report.commits.iter().filter(|c| !c.sessions.is_empty()) {
        s.push_str(&format!(
            "commit {}: agent session {}\n",
            &c.commit[..12.min(c.commit.len())],
            c.sessions.join(", ")
        ));
    }
    for e in &report.exempted {
        s.push_str(&format!(
            "exempt: {} (by {}; would be: {})\n",
            e.path,
            e.authors.join(", "),
            e.waived.label()
        ));
    }
    for f in &report.findings {
        let path = if f.path.is_empty() {
            "(bundle)"
        } else {
            &f.path
        };
        s.push_str(&format!(
            "{}: {path}\n    rule: {}\n    {}\n    fix: {}\n",
            f.kind.label(),
            f.rule,
            f.message,
            f.fix
        ));
    }
    s.push_str(&if report.ok() {
        "passed: every change is allowed by the base policy and covered by governed evidence\n"
            .to_string()
    } else {
        format!("FAILED: {} finding(s)\n", report.findings.len())
    });
    s
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one test case per changed path (failing with its findings), plus one for the
/// evidence when it does not verify.
pub fn junit(report: &CheckReport) -> String {
    let mut cases = String::new();
    let mut failures = 0;
    let bundle: Vec<&crate::Finding> = report
        .findings
        .iter()
        .filter(|f| f.path.is_empty())
        .collect();
    let mut case =
        |name: &str, found: &[&crate::Finding]| {
            cases.push_str(&format!(
                "    <testcase classname=\"cavra.ci\" name=\"{}\"",
                xml_escape(name)
            ));
            if found.is_empty() {
                cases.push_str("/>\n");
                return;
            }
            failures += 1;
            cases.push_str(">\n");
            for f in found {
                cases.push_str(&format!(
                "      <failure type=\"{}\" message=\"{}: {}\">{}\nrule: {}\nfix: {}</failure>\n",
                xml_escape(f.kind.label()),
                xml_escape(f.kind.label()),
                xml_escape(if f.path.is_empty() { "(bundle)" } else { &f.path }),
                xml_escape(&f.message),
                xml_escape(&f.rule),
                xml_escape(&f.fix)
            ));
            }
            cases.push_str("    </testcase>\n");
        };
    case("evidence", &bundle);
    for c in &report.changes {
        let found: Vec<&crate::Finding> = report
            .findings
            .iter()
            .filter(|f| f.path == c.change.path)
            .collect();
        case(&c.change.path, &found);
    }
    let tests = report.changes.len() + 1;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"cavra ci check\" tests=\"{tests}\" failures=\"{failures}\">\n  <testsuite name=\"cavra ci check {}..{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">\n{cases}  </testsuite>\n</testsuites>\n",
        xml_escape(&report.base),
        xml_escape(&report.head)
    )
}

/// GitHub's workflow-command escaping for the message and for properties.
fn gh_escape(s: &str, property: bool) -> String {
    let mut out = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

/// GitHub annotations, one per finding (GitHub shows at most 10 errors per step; the rest
/// are in the job summary and the log).
pub fn github(report: &CheckReport) -> String {
    let mut s = String::new();
    for f in &report.findings {
        let title = gh_escape(&format!("cavra: {}", f.kind.label()), true);
        let message = gh_escape(
            &format!("{} (rule {}). Fix: {}", f.message, f.rule, f.fix),
            false,
        );
        if f.path.is_empty() {
            s.push_str(&format!("::error title={title}::{message}\n"));
        } else {
            s.push_str(&format!(
                "::error file={},title={title}::{message}\n",
                gh_escape(&f.path, true)
            ));
        }
    }
    s.push_str(&if report.ok() {
        format!(
            "cavra ci check passed: {} changed path(s) covered\n",
            report.changes.len()
        )
    } else {
        format!(
            "cavra ci check FAILED: {} finding(s)\n",
            report.findings.len()
        )
    });
    s
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The job summary (markdown).
pub fn markdown_summary(report: &CheckReport) -> String {
    let mut s = format!(
        "## cavra ci check: {}\n\n{} changed path(s) between `{}` and `{}`, judged by `{}` ({}).\n\n",
        if report.ok() { "passed" } else { "failed" },
        report.changes.len(),
        &report.base[..12.min(report.base.len())],
        &report.head[..12.min(report.head.len())],
        md_cell(&report.policy),
        report.policy_digest
    );
    if report.findings.is_empty() {
        s.push_str(
            "Every change is allowed by the base policy and covered by governed evidence.\n",
        );
        return s;
    }
    s.push_str("| finding | path | rule | what | fix |\n|---|---|---|---|---|\n");
    for f in &report.findings {
        s.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            f.kind.label(),
            md_cell(&f.path).replace('`', "'"),
            md_cell(&f.rule),
            md_cell(&f.message),
            md_cell(&f.fix)
        ));
    }
    s
}

/// GitLab code quality: an array of issues with a fingerprint, severity and location.
pub fn gitlab(report: &CheckReport) -> Result<String, serde_json::Error> {
    use sha2::{Digest, Sha256};
    let issues: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let path = if f.path.is_empty() { ".cavra/evidence" } else { &f.path };
            let fingerprint = hex::encode(Sha256::digest(
                format!("{}\0{}\0{}", f.kind.label(), f.path, f.message).as_bytes(),
            ));
            serde_json::json!({
                "description": format!("{}: {} — {} (fix: {})", f.kind.label(), path, f.message, f.fix),
                "check_name": format!("cavra/{}", serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()),
                "fingerprint": fingerprint,
                "severity": match f.kind {
                    crate::FindingKind::RequiresApproval => "major",
                    _ => "blocker",
                },
                "location": {"path": path, "lines": {"begin": 1}},
            })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&issues)? + "\n")
}

/// GitHub code scanning accepts at most this many results per run.
const SARIF_MAX_RESULTS: usize = 25_000;

const KINDS: [crate::FindingKind; 8] = [
    crate::FindingKind::PolicyBlock,
    crate::FindingKind::RequiresApproval,
    crate::FindingKind::Bypass,
    crate::FindingKind::AlteredAfterDecision,
    crate::FindingKind::BlockedWrite,
    crate::FindingKind::EvidenceInvalid,
    crate::FindingKind::SessionNotInEvidence,
    crate::FindingKind::AttestationMissing,
];

fn kind_id(kind: crate::FindingKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn kind_help(kind: crate::FindingKind) -> (&'static str, &'static str) {
    use crate::FindingKind::*;
    match kind {
        PolicyBlock => (
            "The base branch's policy blocks this change.",
            "Revert the change; a branch cannot loosen the policy that judges it.",
        ),
        RequiresApproval => (
            "The base branch's policy routes this change to a person and no approval covers it.",
            "Have the change approved through cavra so the evidence holds an approved write.",
        ),
        Bypass => (
            "The path changed with no governed write behind it.",
            "Make the change through a governed agent session, or have it approved.",
        ),
        AlteredAfterDecision => (
            "The content at head is not what the governed write left.",
            "Revert the edit made after the decision, or make it through the agent.",
        ),
        BlockedWrite => (
            "The only governed writes of this path were blocked or not approved.",
            "Revert the change, or get it approved through cavra.",
        ),
        EvidenceInvalid => (
            "The evidence bundle does not verify.",
            "Produce the bundle with `cavra evidence bundle` and sign it with a trusted key.",
        ),
        AttestationMissing => (
            "The base policy requires a pull-request attestation and none that verifies was given.",
            "Attest the change with `cavra ci attest` and pass it with --attestation.",
        ),
        SessionNotInEvidence => (
            "A commit's Cavra-Session trailer names an agent session the evidence does not hold.",
            "Bundle every session that made the branch's commits.",
        ),
    }
}

/// SARIF 2.1.0.
pub fn sarif(report: &CheckReport) -> Result<String, serde_json::Error> {
    use sha2::{Digest, Sha256};
    let rules: Vec<serde_json::Value> = KINDS
        .iter()
        .map(|&k| {
            let (what, fix) = kind_help(k);
            serde_json::json!({
                "id": format!("cavra/{}", kind_id(k)),
                "name": kind_id(k),
                "shortDescription": {"text": k.label()},
                "fullDescription": {"text": what},
                "help": {"text": fix},
                "defaultConfiguration": {"level": "error"},
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = report
        .findings
        .iter()
        .take(SARIF_MAX_RESULTS)
        .map(|f| {
            let index = KINDS.iter().position(|&k| k == f.kind).unwrap_or(0);
            // Code scanning needs a file location; bundle-wide findings sit on the policy.
            let uri = if f.path.is_empty() { ".cavra/policy.yaml" } else { &f.path };
            let fingerprint = hex::encode(Sha256::digest(
                format!("{}\0{}\0{}", kind_id(f.kind), f.path, f.rule).as_bytes(),
            ));
            serde_json::json!({
                "ruleId": format!("cavra/{}", kind_id(f.kind)),
                "ruleIndex": index,
                "level": "error",
                "message": {"text": format!("{}: {} — {} (rule {}). Fix: {}", f.kind.label(), if f.path.is_empty() { "(bundle)" } else { &f.path }, f.message, f.rule, f.fix)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": 1},
                }}],
                "partialFingerprints": {"cavraFinding/v1": fingerprint},
            })
        })
        .collect();
    let doc = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cavra",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "automationDetails": {"id": format!("cavra-ci-check/{}", &report.head)},
            "results": results,
            "properties": {
                "base": report.base,
                "head": report.head,
                "policy": report.policy,
                "policyDigest": report.policy_digest,
                "changedPaths": report.changes.len(),
                "findings": report.findings.len(),
                "truncated": report.findings.len() > SARIF_MAX_RESULTS,
            },
        }],
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Finding, FindingKind};

    fn report(findings: Vec<Finding>) -> CheckReport {
        CheckReport {
            base: "0123456789abcdef0123".into(),
            head: "fedcba9876543210fedc".into(),
            policy: ".cavra/policy.yaml".into(),
            policy_digest: "sha256:00".into(),
            changes: Vec::new(),
            findings,
            evidence_entries: None,
            commits: Vec::new(),
            exempted: Vec::new(),
            evidence_decisions: Default::default(),
        }
    }

    fn finding(kind: FindingKind, path: &str, message: &str) -> Finding {
        Finding {
            kind,
            path: path.into(),
            rule: "filesystem.write.block".into(),
            message: message.into(),
            fix: "revert it".into(),
        }
    }

    #[test]
    fn a_clean_report_passes_in_text_and_junit() {
        let r = report(Vec::new());
        let text = text(&r);
        assert!(
            text.starts_with("cavra ci check 0123456789ab..fedcba987654: 0 changed path(s)"),
            "{text}"
        );
        assert!(text.ends_with("passed: every change is allowed by the base policy and covered by governed evidence\n"), "{text}");
        assert!(!junit(&r).contains("<failure"), "{}", junit(&r));
    }

    #[test]
    fn markup_in_a_finding_cannot_break_out_of_its_format() {
        // A bundle-wide finding (no path) is the `evidence` test case's failure.
        let r = report(vec![finding(
            FindingKind::EvidenceInvalid,
            "",
            "bad <x>& entry\n::error::forged",
        )]);
        let xml = junit(&r);
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("&lt;x&gt;&amp;"), "{xml}");
        assert!(!xml.contains("<x>"), "{xml}");
        let gh = github(&r);
        // A newline in a message would start a new workflow command on its own line.
        assert_eq!(
            gh.lines().filter(|l| l.starts_with("::")).count(),
            1,
            "{gh}"
        );
        assert!(text(&r).contains("FAILED: 1 finding(s)"));
    }

    #[test]
    fn sarif_and_gitlab_are_valid_json_with_stable_fingerprints() {
        let r = report(vec![finding(
            FindingKind::Bypass,
            "src/a.rs",
            "no governed write",
        )]);
        let sarif: serde_json::Value =
            serde_json::from_str(&sarif(&r).expect("sarif")).expect("sarif json");
        assert_eq!(sarif["version"], "2.1.0");
        let result = &sarif["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "cavra/bypass");
        let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules");
        let index = result["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(rules[index]["id"], "cavra/bypass");
        let gitlab: serde_json::Value =
            serde_json::from_str(&gitlab(&r).expect("gitlab")).expect("gitlab json");
        let again: serde_json::Value =
            serde_json::from_str(&super::gitlab(&r).expect("gitlab")).expect("gitlab json");
        assert_eq!(gitlab[0]["fingerprint"], again[0]["fingerprint"]);
        assert_eq!(gitlab[0]["location"]["path"], "src/a.rs");
    }

    #[test]
    fn each_format_renders_and_json_says_whether_the_check_holds() {
        let failing = report(vec![finding(FindingKind::PolicyBlock, ".env", "blocked")]);
        let json: serde_json::Value =
            serde_json::from_str(&render(&failing, Format::Json).expect("json")).expect("parses");
        assert_eq!(json["ok"], false);
        assert_eq!(json["findings"][0]["path"], ".env");
        assert_eq!(
            render(&failing, Format::Text).expect("text"),
            text(&failing)
        );
        assert_eq!(
            render(&failing, Format::Junit).expect("junit"),
            junit(&failing)
        );
        assert_eq!(
            render(&failing, Format::Github).expect("github"),
            github(&failing)
        );
        for format in [Format::Gitlab, Format::Sarif] {
            let out = render(&failing, format).expect("renders");
            serde_json::from_str::<serde_json::Value>(&out).expect("JSON");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let summary = dir.path().join("summary.md");
        std::fs::write(&summary, "earlier step\n").expect("write");
        append_step_summary(&failing, &summary).expect("append");
        let text = std::fs::read_to_string(&summary).expect("read");
        assert_eq!(
            text,
            format!("earlier step\n{}", markdown_summary(&failing))
        );
    }
}
