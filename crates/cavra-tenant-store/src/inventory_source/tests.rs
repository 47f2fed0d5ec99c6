use proptest::prelude::*;

use super::*;

fn limits() -> SourceLimits {
    SourceLimits::default()
}

fn parse(text: &str, format: SourceFormat) -> Result<Parsed, SourceError> {
    parse_source(text.as_bytes(), format, "f", &limits())
}

#[test]
fn json_arrays_and_pages_give_typed_items_with_stable_ids() {
    let p = parse(
        r#"[{"kind": "endpoint", "hostname": "dev-1", "os": "macOS", "last_seen": "2026-01-02T03:04:05+01:00"},
            {"kind": "agent", "name": "claude-code", "endpoint": "dev-1", "hooks": "yes"},
            {"kind": "mcp-server", "name": "github", "endpoint": "dev-1"},
            {"id": "gh-42", "kind": "repository", "name": "acme/app"},
            {"kind": "CI_RUNNER", "name": "runner-7"}]"#,
        SourceFormat::Json,
    )
    .expect("parses");
    let ids: Vec<&str> = p.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "endpoint:dev-1",
            "agent:claude-code@dev-1",
            "mcp_server:github@dev-1",
            "gh-42",
            "ci_runner:runner-7"
        ]
    );
    assert_eq!(
        p.items[0].last_seen.as_deref(),
        Some("2026-01-02T02:04:05.000Z")
    );
    assert_eq!(p.items[0].attributes["os"], "macOS");
    assert_eq!(p.items[1].hooks, Some(true));
    assert_eq!(p.next, None);

    let page = parse(
        r#"{"items": [{"kind": "agent", "name": "codex"}], "next": "https://x/p2", "total": 3}"#,
        SourceFormat::Json,
    )
    .expect("a page");
    assert_eq!(page.next.as_deref(), Some("https://x/p2"));
    assert_eq!(page.items.len(), 1);
}

#[test]
fn json_errors_say_where() {
    let e = parse(
        "[\n {\"kind\": \"agent\", \"name\": \"a\"},\n {\"kind\": \"agent\" \"name\": 1}\n]",
        SourceFormat::Json,
    )
    .expect_err("syntax");
    assert!(matches!(e, SourceError::At { line: 3, .. }), "{e}");
    assert!(e.to_string().starts_with("f:3:"), "{e}");
    let e = parse(
        r#"[{"kind": "agent", "name": "a"}, {"kind": "toaster", "name": "b"}]"#,
        SourceFormat::Json,
    )
    .expect_err("kind");
    assert_eq!(
        e.to_string(),
        "f: item 2: kind `toaster` is not one of endpoint, repository, ci_runner, agent, mcp_server"
    );
    let e = parse(r#"[{"kind": "agent"}]"#, SourceFormat::Json).expect_err("name");
    assert_eq!(e.to_string(), "f: item 1: no `name`");
    let e = parse(
        r#"[{"kind": "agent", "name": "a"}, {"kind": "agent", "name": "a"}]"#,
        SourceFormat::Json,
    )
    .expect_err("dup");
    assert!(e.to_string().contains("item 1's too"), "{e}");
    let e = parse(
        r#"[{"kind": "agent", "name": "a", "last_seen": "yesterday"}]"#,
        SourceFormat::Json,
    )
    .expect_err("time");
    assert!(e.to_string().contains("`last_seen`"), "{e}");
    assert!(parse("\"x\"", SourceFormat::Json).is_err());
    assert!(parse("[] []", SourceFormat::Json).is_err());
}

#[test]
fn bounds_are_checked_while_reading() {
    let small = SourceLimits {
        max_bytes: 100,
        max_items: 2,
        max_field_bytes: 8,
    };
    let big = "[".to_string() + &"{\"kind\":\"agent\",\"name\":\"a\"},".repeat(10) + "]";
    assert!(matches!(
        parse_source(big.as_bytes(), SourceFormat::Json, "f", &small),
        Err(SourceError::TooLarge { size, max: 100, .. }) if size == big.len()
    ));
    let three =
        r#"[{"kind":"agent","name":"a"},{"kind":"agent","name":"b"},{"kind":"agent","name":"c"}]"#;
    let roomy = SourceLimits {
        max_bytes: 1000,
        ..small
    };
    assert!(matches!(
        parse_source(three.as_bytes(), SourceFormat::Json, "f", &roomy),
        Err(SourceError::TooManyItems { max: 2, .. })
    ));
    let page = format!(r#"{{"items": {three}}}"#);
    assert!(matches!(
        parse_source(page.as_bytes(), SourceFormat::Json, "f", &roomy),
        Err(SourceError::TooManyItems { .. })
    ));
    let csv = "kind,name\nagent,a\nagent,b\nagent,c\n";
    assert!(matches!(
        parse_source(csv.as_bytes(), SourceFormat::Csv, "f", &roomy),
        Err(SourceError::TooManyItems { .. })
    ));
    let long = "kind,name\nagent,abcdefghijkl\n";
    let e = parse_source(long.as_bytes(), SourceFormat::Csv, "f", &roomy).expect_err("field");
    assert!(
        matches!(
            e,
            SourceError::At {
                line: 2,
                column: 2,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn csv_reads_quoted_fields_and_errors_name_line_and_column() {
    let p = parse(
        "\u{feff}kind,name,endpoint,hooks,owner\r\nagent,claude-code,dev-1,no,\"Platform, Inc\"\r\nendpoint,\"dev\n1\",,,\r\n\r\n",
        SourceFormat::Csv,
    );
    let e = p.expect_err("a control character in a name");
    assert!(
        matches!(
            e,
            SourceError::At {
                line: 3,
                column: 2,
                ..
            }
        ),
        "{e}"
    );
    let p = parse(
        "kind,name,endpoint,hooks,owner\nagent,claude-code,dev-1,no,\"Platform, \"\"Inc\"\"\"\nendpoint,dev-1,,,\n",
        SourceFormat::Csv,
    )
    .expect("parses");
    assert_eq!(p.items.len(), 2);
    assert_eq!(p.items[0].id, "agent:claude-code@dev-1");
    assert_eq!(p.items[0].hooks, Some(false));
    assert_eq!(p.items[0].attributes["owner"], "Platform, \"Inc\"");

    let e = parse("kind,name\nagent,a\nagent\n", SourceFormat::Csv).expect_err("short row");
    assert_eq!(e.to_string(), "f:3:2: 1 fields where the header has 2");
    let e = parse("kind,name\nagent,a\"b\n", SourceFormat::Csv).expect_err("quote");
    assert!(
        matches!(
            e,
            SourceError::At {
                line: 2,
                column: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = parse("kind,name\nagent,\"open\n", SourceFormat::Csv).expect_err("open quote");
    assert!(
        matches!(
            e,
            SourceError::At {
                line: 2,
                column: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = parse("kind,name,hooks\nagent,a,maybe\n", SourceFormat::Csv).expect_err("hooks");
    assert!(
        matches!(
            e,
            SourceError::At {
                line: 2,
                column: 3,
                ..
            }
        ),
        "{e}"
    );
    let e = parse("name\nagent\n", SourceFormat::Csv).expect_err("no kind");
    assert!(e.to_string().contains("no `kind` column"), "{e}");
    let e = parse("kind,name\nagent,a\nagent,a\n", SourceFormat::Csv).expect_err("dup");
    assert_eq!(e.to_string(), "f:3:1: the id `agent:a` is line 2's too");
    let e =
        parse_source(b"kind,name\n\xff\n", SourceFormat::Csv, "f", &limits()).expect_err("utf8");
    assert!(matches!(e, SourceError::At { line: 2, .. }), "{e}");
}

#[test]
fn osquery_results_give_hosts_agents_and_mcp_servers() {
    let log = r#"{"name":"pack_cavra_agents","hostIdentifier":"dev-1","unixTime":1767225600,"action":"added","columns":{"name":"claude-code","version":"2.0"}}
{"name":"pack_cavra_mcp_servers","hostIdentifier":"dev-1","unixTime":1767225700,"snapshot":[{"name":"github","command":"npx"},{"name":"fs"}]}
{"name":"system_info","hostIdentifier":"dev-2","unixTime":"1767225800","columns":{"cpu":"x"}}
{"name":"pack_cavra_agents","hostIdentifier":"dev-2","unixTime":1767225900,"action":"removed","columns":{"name":"cursor"}}
"#;
    let p = parse(log, SourceFormat::Osquery).expect("parses");
    let ids: Vec<&str> = p.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "agent:claude-code@dev-1",
            "endpoint:dev-1",
            "endpoint:dev-2",
            "mcp_server:fs@dev-1",
            "mcp_server:github@dev-1"
        ]
    );
    // The host's last sighting is the newest of its rows.
    assert_eq!(
        p.items[1].last_seen.as_deref(),
        Some("2026-01-01T00:01:40.000Z")
    );
    assert_eq!(p.items[4].attributes["command"], "npx");
    let e = parse(
        "{\"name\":\"x\",\"hostIdentifier\":\"h\"}\n{oops}\n",
        SourceFormat::Osquery,
    )
    .expect_err("bad line");
    assert!(matches!(e, SourceError::At { line: 2, .. }), "{e}");
    let e = parse("{\"name\":\"x\"}\n", SourceFormat::Osquery).expect_err("no host");
    assert_eq!(e.to_string(), "f:1:1: no `hostIdentifier`");
    let arr = r#"[{"name":"repos","hostIdentifier":"ci-1","columns":{"path":"/src/app"}}]"#;
    let p = parse(arr, SourceFormat::Osquery).expect("array");
    assert_eq!(p.items[1].id, "repository:/src/app");
}

fn csv_cell() -> impl Strategy<Value = String> {
    "[a-z0-9 ,\"\n-]{1,12}"
        .prop_map(|s| s.trim().to_string())
        .prop_filter("non-empty", |s| !s.is_empty() && !s.contains('\n'))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

proptest! {
    /// Any input either parses within its bounds or is refused with an error, never a panic.
    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..400), which in 0..3u8) {
        let format = [SourceFormat::Json, SourceFormat::Csv, SourceFormat::Osquery][which as usize];
        let small = SourceLimits { max_bytes: 300, max_items: 5, max_field_bytes: 16 };
        if let Ok(p) = parse_source(&bytes, format, "f", &small) {
            prop_assert!(p.items.len() <= 5 || format == SourceFormat::Osquery && p.items.len() <= 10);
        }
    }

    /// CSV written with quoting reads back the same names and attributes.
    #[test]
    fn csv_round_trips(names in proptest::collection::btree_set(csv_cell(), 1..8), owner in csv_cell()) {
        let mut text = String::from("kind,name,owner\n");
        for n in &names {
            text.push_str(&format!("agent,{},{}\n", quote(n), quote(&owner)));
        }
        let p = parse(&text, SourceFormat::Csv).expect("quoted CSV parses");
        let got: Vec<String> = p.items.iter().map(|i| i.name.clone()).collect();
        let want: Vec<String> = names.iter().cloned().collect();
        prop_assert_eq!(got, want);
        for i in &p.items {
            prop_assert_eq!(&i.attributes["owner"], &Value::String(owner.clone()));
        }
    }

    /// JSON written by serde reads back the same items.
    #[test]
    fn json_round_trips(names in proptest::collection::btree_set("[a-zA-Z0-9._/-][a-zA-Z0-9 ._/-]{0,19}", 1..8)) {
        let items: Vec<Value> = names
            .iter()
            .map(|n| serde_json::json!({"kind": "repository", "name": n}))
            .collect();
        let text = serde_json::to_string(&items).expect("json");
        match parse(&text, SourceFormat::Json) {
            Ok(p) => {
                let got: Vec<String> = p.items.iter().map(|i| i.name.clone()).collect();
                let want: Vec<String> = names.iter().map(|n| n.trim().to_string()).collect();
                prop_assert_eq!(got, want);
            }
            // Names that are the same once trimmed have one id.
            Err(e) => prop_assert!(e.to_string().contains("too"), "{}", e),
        }
    }
}
