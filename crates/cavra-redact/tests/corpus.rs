//! The corpus: realistic command lines and file contents, each with the rules that must fire
//! and the secret that must not survive; and ordinary text that must come out unchanged.

use cavra_redact::Redactor;
use serde_json::Value;

#[test]
fn corpus() {
    let text = include_str!("data/corpus.jsonl");
    let mut failures = Vec::new();
    let mut cases = 0;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        cases += 1;
        let case: Value = serde_json::from_str(line).expect("corpus line is JSON");
        let input = case["text"].as_str().expect("text");
        let want: Vec<&str> = case["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let out = Redactor::builtin().redact_text(input);
        let got: Vec<&str> = out.findings.iter().map(|f| f.rule.as_str()).collect();
        for w in &want {
            if !got.contains(w) {
                failures.push(format!(
                    "line {}: expected rule {w}, got {got:?} for {input:?}",
                    n + 1
                ));
            }
        }
        if want.is_empty() && (!got.is_empty() || out.value != input) {
            failures.push(format!(
                "line {}: false positive {got:?}: {:?}",
                n + 1,
                out.value
            ));
        }
        if let Some(secret) = case["secret"].as_str().filter(|s| out.value.contains(s)) {
            failures.push(format!(
                "line {}: secret {secret:?} survived: {:?}",
                n + 1,
                out.value
            ));
        }
    }
    assert!(cases >= 25, "corpus too small");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_tool_input_is_redacted_with_pointers() {
    let input = serde_json::json!({
        "file_path": "/repo/.env.example",
        "content": "DATABASE_URL=postgres://app:pw12345678@db/app\nSTRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc\n",
        "headers": {"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz"}
    });
    let out = Redactor::builtin().redact_json(&input);
    let pointers: Vec<(&str, &str)> = out
        .findings
        .iter()
        .map(|f| (f.pointer.as_str(), f.rule.as_str()))
        .collect();
    assert!(
        pointers.contains(&("/content", "url-password")),
        "{pointers:?}"
    );
    assert!(
        pointers.contains(&("/content", "stripe-secret-key")),
        "{pointers:?}"
    );
    assert!(
        pointers.contains(&("/headers/Authorization", "sensitive-key")),
        "{pointers:?}"
    );
    let text = out.value.to_string();
    assert!(
        !text.contains("pw12345678")
            && !text.contains("sk_live_4eC39")
            && !text.contains("abcdefghijklmnop")
    );
    assert_eq!(out.value["file_path"], "/repo/.env.example");
}
