//! Running policy test cases (the conformance format) against a compiled pack.

use crate::evaluate::{Env, evaluate};
use crate::paths::{PatchText, PathContext, PathResolver};
use crate::request::Request;
use cavra_policy::document::TestCase;
use cavra_policy::{CompiledPack, Decision};
use serde::Serialize;

/// One case that did not get what it expected.
#[derive(Debug, Clone, Serialize)]
pub struct CaseFailure {
    /// The test file.
    pub file: String,
    /// The case's name.
    pub case: String,
    /// The accepted decisions.
    pub expected: Vec<Decision>,
    /// The pinned rule, if any.
    pub expected_rule: Option<String>,
    /// What the engine decided (`None` when the request itself was malformed).
    pub got: Option<Decision>,
    /// The deciding rule.
    pub rule: Option<String>,
    /// Why the case could not run, when it could not.
    pub error: Option<String>,
}

/// The outcome of running cases.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TestReport {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failures: Vec<CaseFailure>,
}

impl TestReport {
    /// Adds another report's counts.
    pub fn merge(&mut self, other: TestReport) {
        self.passed += other.passed;
        self.failures.extend(other.failures);
    }
}

/// Builds a case's request: the file's defaults, overridden by the case's own fields.
pub fn case_request(
    defaults: &serde_json::Map<String, serde_json::Value>,
    case: &TestCase,
) -> Result<Request, String> {
    let mut merged = defaults.clone();
    for (k, v) in &case.request {
        merged.insert(k.clone(), v.clone());
    }
    serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| format!("invalid request: {e}"))
}

/// The files a case gives (`files:`), over the caller's resolver: a case's world has those
/// files and no others.
struct CaseFiles<'a> {
    files: Vec<(String, &'a str)>,
    inner: &'a dyn PathResolver,
}

impl PathResolver for CaseFiles<'_> {
    fn resolve(&self, absolute: &str) -> Option<String> {
        self.inner.resolve(absolute)
    }

    fn patch_text(&self, absolute: &str) -> PatchText {
        match self.files.iter().find(|(path, _)| path == absolute) {
            Some((_, text)) => PatchText::Text(text.to_string()),
            None => PatchText::Unreadable("there is no such file".into()),
        }
    }
}

/// Runs `cases` against `pack`.
pub fn run_cases(
    pack: &CompiledPack,
    file: &str,
    defaults: &serde_json::Map<String, serde_json::Value>,
    cases: &[TestCase],
    resolver: &dyn PathResolver,
) -> TestReport {
    let mut report = TestReport::default();
    for (i, case) in cases.iter().enumerate() {
        let expected: Vec<Decision> = case.expect.as_slice().to_vec();
        let fail = |got, rule, error| CaseFailure {
            file: file.to_string(),
            case: case.name.clone(),
            expected: expected.clone(),
            expected_rule: case.rule.clone(),
            got,
            rule,
            error,
        };
        let request = match case_request(defaults, case) {
            Ok(r) => r,
            Err(e) => {
                report.failures.push(fail(None, None, Some(e)));
                continue;
            }
        };
        let id = format!("test-{i}");
        let ctx = PathContext {
            repo_root: request.repo_root.as_deref(),
            cwd: request.cwd.as_deref(),
            home: request.home.as_deref(),
        };
        let files = CaseFiles {
            files: case
                .files
                .iter()
                .filter_map(|(path, text)| Some((ctx.normalize(path).absolute?, text.as_str())))
                .collect(),
            inner: resolver,
        };
        let env = Env {
            timestamp: "1970-01-01T00:00:00Z",
            decision_id: &id,
            resolver: &files,
        };
        let record = evaluate(pack, &request, &env);
        let decision_ok = expected.contains(&record.decision);
        let rule_ok = case.rule.as_deref().is_none_or(|r| r == record.rule_id);
        if decision_ok && rule_ok {
            report.passed += 1;
        } else {
            report
                .failures
                .push(fail(Some(record.decision), Some(record.rule_id), None));
        }
    }
    report
}
