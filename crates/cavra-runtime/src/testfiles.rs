//! Policy test files (`cavra policy test`): each file's policy loaded relative to it and every
//! case decided by the engine, with no disk lookups (test files describe requests on a
//! repository that need not exist here).

use cavra_engine::testing::{TestReport, run_cases};
use cavra_policy::testfile::parse_test_file;
use cavra_policy::{CompiledPack, compile};
use std::path::{Path, PathBuf};

/// Files named on the command line, with folders expanded to their `*.yaml`/`*.yml` files.
pub fn expand(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(f)
                .map(|rd| {
                    rd.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                        .collect()
                })
                .unwrap_or_default();
            inside.sort();
            out.extend(inside);
        } else {
            out.push(f.clone());
        }
    }
    out
}

/// Runs one test file (or a pack with `tests:`): its policy resolved relative to the file,
/// every case decided with no disk lookups. `Err`: the file or its policy cannot be loaded.
pub fn run_test_file(path: &Path) -> Result<TestReport, String> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{origin}: cannot read: {e}"))?;
    let file = parse_test_file(&text, &origin).map_err(|e| e.to_string())?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let resolved = file.resolve_policy(&base).map_err(|e| e.to_string())?;
    let compiled: CompiledPack = compile(&resolved).map_err(|e| e.to_string())?;
    // Test files describe requests on a repository that need not exist here: no disk lookups.
    Ok(run_cases(
        &compiled,
        &origin,
        &file.defaults,
        &file.cases,
        &cavra_engine::NoSymlinks,
    ))
}

/// Runs every test file named (folders expanded): the merged report, and the files that
/// could not be loaded, each with why.
pub fn run_test_files(files: &[PathBuf]) -> (TestReport, Vec<String>) {
    let mut report = TestReport::default();
    let mut load_errors = Vec::new();
    for path in expand(files) {
        match run_test_file(&path) {
            Ok(r) => report.merge(r),
            Err(e) => load_errors.push(e),
        }
    }
    (report, load_errors)
}

/// The report as `cavra policy test` prints it: each file that could not be loaded, each
/// failed case with what was expected and what was decided, then `N passed, M failed`.
pub fn to_text(report: &TestReport, load_errors: &[String]) -> String {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let mut out = String::new();
    for e in load_errors {
        let _ = writeln!(out, "{e}");
    }
    for f in &report.failures {
        let expected: Vec<&str> = f.expected.iter().map(|d| d.as_str()).collect();
        let pinned = f
            .expected_rule
            .as_deref()
            .map(|r| format!(" by {r}"))
            .unwrap_or_default();
        let _ = match &f.error {
            Some(e) => writeln!(out, "{}: {}: {e}", f.file, f.case),
            None => writeln!(
                out,
                "{}: {}: expected {}{pinned}, got {} (rule {})",
                f.file,
                f.case,
                expected.join(" or "),
                f.got.map(|d| d.as_str()).unwrap_or("nothing"),
                f.rule.as_deref().unwrap_or("-")
            ),
        };
    }
    let failed = report.failures.len() + load_errors.len();
    let _ = writeln!(out, "{} passed, {} failed", report.passed, failed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_expands_to_its_yaml_files_in_order_and_bad_files_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = "policy:\n  metadata: {id: t, version: '1'}\n  filesystem: {block_read: ['.env']}\ncases:\n  - {name: env, request: {action: read_file, target: .env}, expect: block}\n  - {name: wrong, request: {action: read_file, target: .env}, expect: allow}\n";
        std::fs::write(dir.path().join("b.yaml"), good).expect("write");
        std::fs::write(dir.path().join("a.yml"), "cases: [").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not a test").expect("write");
        let files = expand(&[dir.path().to_path_buf()]);
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.yml", "b.yaml"]);
        let (report, errors) = run_test_files(&[dir.path().to_path_buf()]);
        assert_eq!(report.passed, 1);
        assert_eq!(report.failures.len(), 1);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("a.yml"), "{errors:?}");
        let text = to_text(&report, &errors);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], errors[0]);
        assert!(
            lines[1].ends_with(": wrong: expected allow, got block (rule filesystem.read.block)"),
            "{text}"
        );
        assert_eq!(lines[2], "1 passed, 2 failed");
    }
}
