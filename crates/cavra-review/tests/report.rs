//! The operating review report's pages: the same sections in Markdown and HTML, the charts
//! drawn here as inline SVG (no script, nothing fetched), text escaped, and the signed record
//! naming both files by digest. Its figures from a real service: crates/cavra/tests/review.rs.

use std::collections::BTreeMap;

use cavra_review::report::{self, Day, ReportData, RuleCount};
use cavra_review::verify::{self, Checks};

fn data() -> ReportData {
    let mut posture = cavra_aispm::Accumulator::new().finish();
    posture.decisions.total = 12;
    posture.decisions.by_decision = BTreeMap::from([
        ("allow".to_string(), 7),
        ("block".to_string(), 4),
        ("require_approval".to_string(), 1),
    ]);
    posture.approvals.latency_p50_ms = Some(1500);
    posture.score = Some(72.5);
    let day = |d: u32, score: Option<f64>| Day {
        since: format!("2026-11-{d:02}T00:00:00.000Z"),
        until: format!("2026-11-{:02}T00:00:00.000Z", d + 1),
        score,
        decisions: 4,
        blocked: 1,
    };
    ReportData {
        tenant: "acme".into(),
        period: cavra_review::Period {
            since: "2026-11-01T00:00:00.000Z".into(),
            until: "2026-11-04T00:00:00.000Z".into(),
        },
        posture,
        days: vec![day(1, Some(60.0)), day(2, None), day(3, Some(80.0))],
        top_rules: vec![RuleCount {
            rule_id: "secrets.<env>|read".into(),
            decisions: 4,
            by_decision: BTreeMap::from([("block".to_string(), 4)]),
        }],
        decisions_read: 12,
        rules_truncated: false,
        readiness: cavra_server::readiness::Readiness {
            format: cavra_server::readiness::FORMAT.into(),
            checked_at: "2026-11-04T00:00:00.000Z".into(),
            tenants: vec!["acme".into()],
            validators: vec![],
            blockers: vec![cavra_server::readiness::Blocker {
                validator: "connectors.dead_letters".into(),
                tenant: Some("acme".into()),
                count: 1,
                problem: "1 dead letter on mail".into(),
                fix: "cavra connector retry".into(),
            }],
            digests: BTreeMap::new(),
        },
    }
}

#[test]
fn the_pages_say_the_same_with_charts_drawn_as_svg_and_no_script() {
    let d = data();
    let md = report::render::markdown(&d);
    let html = report::render::html(&d).expect("html");
    for section in [
        "Decisions by outcome",
        "Top rules",
        "Approvals",
        "Posture trend",
        "Break glass",
        "Connector health",
        "Open blockers",
    ] {
        assert!(md.contains(&format!("## {section}")), "{section} in {md}");
        assert!(html.contains(&format!("<h2>{section}</h2>")), "{section}");
    }
    assert!(md.contains("| block | 4 |"), "{md}");
    assert!(md.contains("| latency p50 | 1.5 s |"), "{md}");
    assert!(md.contains("| 2026-11-02 | n/a | 4 | 1 |"), "{md}");
    assert!(md.contains("connectors.dead_letters"), "{md}");
    // A pipe in a rule id does not break the Markdown table; angle brackets are escaped in HTML.
    assert!(md.contains("secrets.<env>\\|read"), "{md}");
    assert!(html.contains("secrets.&lt;env&gt;|read"));
    // Two charts, inline SVG with their labels as text; nothing that runs or loads.
    assert_eq!(html.matches("<svg").count(), 2, "two charts");
    // plotters writes each text on its own line inside `<text>`.
    let texts: Vec<&str> = html
        .split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>').and_then(|(_, r)| r.split_once("</text>")))
        .map(|(inner, _)| inner.trim())
        .collect();
    for label in [
        "Decisions by outcome",
        "allow",
        "block",
        "Posture score by day",
        "11-01",
        "11-03",
        "100",
    ] {
        assert!(texts.contains(&label), "{label} drawn as text: {texts:?}");
    }
    assert!(
        html.contains("<polyline") || html.contains("<path"),
        "the trend's line"
    );
    for banned in [
        "<script",
        "javascript:",
        "src=\"http",
        "href=\"http",
        "@import",
    ] {
        assert!(!html.contains(banned), "{banned} in the page");
    }
}

#[test]
fn the_period_is_cut_in_days_and_the_record_names_the_pages() {
    let t = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("t")
    };
    let days = report::days(t("2026-11-01T06:00:00Z"), t("2026-11-03T12:00:00Z"));
    assert_eq!(days.len(), 3);
    assert_eq!(
        days[2].1,
        t("2026-11-03T12:00:00Z"),
        "the last day ends with the period"
    );

    let dir = tempfile::tempdir().expect("tmp");
    let g = cavra_runtime::keyfiles::generate(dir.path(), "ops").expect("key");
    let signer = cavra_runtime::keyfiles::signer(&g.private_key, None).expect("signer");
    let mut root = cavra_evidence::trust::TrustRoot::default();
    let vk = cavra_runtime::keyfiles::read_public(&g.public_key).expect("pub");
    let from = time::OffsetDateTime::from_unix_timestamp(1_577_836_800).expect("2020");
    root.add(cavra_evidence::trust::KeyRecord::new("ops", "ops", &vk, from, None).expect("r"))
        .expect("add");
    let out = dir.path().join("report");
    let w = report::write(&data(), &out, &signer).expect("written");
    // Open blockers are reported, not a failure of the report.
    assert!(w.passed);
    let text = std::fs::read_to_string(out.join("report.record.json")).expect("record");
    let v = verify::record(&text, &root, &Checks::default()).expect("verifies");
    assert_eq!(
        v.record.period.as_ref().map(|p| p.since.as_str()),
        Some("2026-11-01T00:00:00.000Z")
    );
    for name in ["report.md", "report.html", "report.json"] {
        let bytes = std::fs::read(out.join(name)).expect("page");
        let named = v
            .record
            .inputs
            .iter()
            .find(|i| i.name == name)
            .expect("named");
        assert_eq!(named.sha256, cavra_review::sha256(&bytes), "{name}");
    }
    assert_eq!(v.record.body["open_blockers"][0], "connectors.dead_letters");
}
