#![cfg(feature = "console")]
//! The web console in a real headless Chromium (Debian's `chromium`), driven by Playwright for
//! Python (tests/console/requirements.txt) with axe-core (tests/console/node): the real
//! `cavra serve` on a scratch store, its one-time login link, the real `cavra-hook` asking,
//! and tests/console/browser.py checking sign-in, every page (no console error, no serious or
//! critical axe-core violation), an approval round trip that unblocks the hook's retry, a
//! keyboard-only approval, live updates over server-sent events and a sandbox run. Screenshots
//! go to `target/tmp/console-screenshots/`.
//!
//! Without chromium, Playwright or axe-core the test says so and skips, unless
//! `CAVRA_REQUIRE_BROWSER=1` (set by `.ci/run`), which makes that a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::cargo::cargo_bin;

mod support;

use support::service::{cli as cavra, token};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the browser tests need, or why they cannot run.
struct Tools {
    python: String,
    chromium: String,
    axe: PathBuf,
}

fn tools() -> Result<Tools, String> {
    let python = std::env::var("CAVRA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let chromium = std::env::var("CAVRA_CHROMIUM").ok().or_else(|| {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .iter()
            .find(|p| Path::new(p).exists())
            .map(|p| p.to_string())
    });
    let Some(chromium) = chromium else {
        return Err("chromium is not installed (apt-get install chromium)".into());
    };
    let playwright = Command::new(&python)
        .args(["-c", "import playwright.sync_api"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !playwright {
        return Err(format!(
            "Playwright for Python is missing: {python} -m pip install -r tests/console/requirements.txt"
        ));
    }
    let axe = root().join("tests/console/node/node_modules/axe-core/axe.min.js");
    if !axe.exists() {
        return Err("axe-core is missing: npm ci --prefix tests/console/node".into());
    }
    Ok(Tools {
        python,
        chromium,
        axe,
    })
}

#[test]
fn the_console_in_a_real_browser() {
    let tools = match tools() {
        Ok(t) => t,
        Err(why) => {
            assert!(
                std::env::var("CAVRA_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "CAVRA_REQUIRE_BROWSER=1 but {why}"
            );
            eprintln!("\n\n*** SKIPPED: the console's browser tests did not run: {why} ***\n\n");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    assert!(
        cavra(&db)
            .args(["tenant", "create", "acme"])
            .status()
            .unwrap()
            .success()
    );
    let agent = token(
        &db,
        &[
            "--tenant",
            "acme",
            "--role",
            "agent",
            "--subject",
            "hook-bot",
        ],
    );
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join(".git")).unwrap();
    // The local policy, used only if the service could not be reached.
    std::fs::create_dir(project.path().join(".cavra")).unwrap();
    std::fs::write(
        project.path().join(".cavra/policy.yaml"),
        "metadata:\n  id: local\n  title: L\n  description: d\n  version: '1'\n  inherits: [cavra-baseline]\n",
    )
    .unwrap();

    let mut serve = support::service::serve(&db, &["--console-tenant", "acme"]);
    let base = serve.url.clone();
    let second = serve.next_line();
    let link = second
        .trim()
        .strip_prefix("cavra serve: console sign-in (one-time link): ")
        .unwrap_or_else(|| panic!("no login link in {second:?}"))
        .to_string();
    serve.keep_reading();

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let out = Command::new(&tools.python)
        .arg(root().join("tests/console/browser.py"))
        .env("CONSOLE_URL", &base)
        .env("CONSOLE_LINK", &link)
        .env("CHROMIUM", &tools.chromium)
        .env("AXE_JS", &tools.axe)
        .env("SCREENSHOTS", &shots)
        .env("HOOK", cargo_bin("cavra-hook"))
        .env("HOOK_PROJECT", project.path())
        .env("AGENT_TOKEN", &agent)
        .stdin(Stdio::null())
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser tests failed:\n{stderr}\n{stdout}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("no summary ({e}): {stdout}"));
    eprintln!("{summary:#}");
    for name in ["approvals", "approval", "sandbox", "evidence"] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "screenshot {name}"
        );
    }
    // Issue 22's budget for a first page, cold cache, as transferred (a size, not a time).
    for page in ["login", "approvals", "decisions"] {
        let bytes = summary["first_page_bytes"][page].as_u64().unwrap_or(0);
        assert!(
            bytes > 1_000 && bytes <= 150 * 1024,
            "{page}: {bytes} bytes: {summary}"
        );
    }
}
