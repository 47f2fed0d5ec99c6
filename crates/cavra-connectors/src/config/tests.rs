//! The connectors configuration's tests: parsing, validation and the refusals.

use super::*;

fn one(yaml: &str) -> Result<ConnectorsConfig, String> {
    ConnectorsConfig::from_yaml(yaml).map_err(|e| e.to_string())
}

const HEC: &str = "
- name: siem
  tenant: acme
  events: [decision.block, \"approval.*\"]
  filter: {severity: [high, critical], repository: [\"acme/*\"]}
  splunk_hec:
    url: https://splunk.internal:8088
    token: env:CAVRA_HEC_TOKEN
    channel: 0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a11
    ack: true
";

#[test]
fn a_valid_configuration_reads() {
    let c = one(HEC).unwrap();
    assert_eq!(c.0.len(), 1);
    assert_eq!(c.0[0].kind(), Some(Kind::SplunkHec));
    assert_eq!(
        c.0[0].filter.severity,
        vec![Severity::High, Severity::Critical]
    );
    assert_eq!(c.0[0].retry, RetryPolicy::default());
}

#[test]
fn templates_are_parsed_with_the_configuration() {
    let with = |t: &str| HEC.replace("  splunk_hec:", &format!("  template:\n{t}  splunk_hec:"));
    let c = one(&with("    text: \"{{data.severity}}: {{data.reason}}\"\n")).unwrap();
    assert_eq!(
        c.0[0].template.text.as_ref().map(|t| t.source()),
        Some("{{data.severity}}: {{data.reason}}")
    );
    // Where the bad value is: line 7 of the YAML, and what is wrong with it.
    let err = one(&with("    text: \"{{data.severity}} {{data.sevrity}}\"\n")).unwrap_err();
    assert!(err.contains("line 7"), "{err}");
    assert!(err.contains("column"), "{err}");
    assert!(
        err.contains("data.sevrity") && err.contains("character 19"),
        "{err}"
    );
    let err = one(&with("    text: \"{{data.reason\"\n")).unwrap_err();
    assert!(
        err.contains("line 7") && err.contains("not closed"),
        "{err}"
    );
    let err = one(&with("    txt: \"x\"\n")).unwrap_err();
    assert!(err.contains("txt") && err.contains("line 7"), "{err}");
    // A subject is an e-mail's only.
    let err = one(&with("    subject: \"{{type}}\"\n")).unwrap_err();
    assert!(
        err.contains("connectors[0] (siem).template.subject"),
        "{err}"
    );
    // A secret pasted into a template is an inline secret like any other.
    let err = one(&with(
        "    text: \"ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa {{type}}\"\n",
    ))
    .unwrap_err();
    assert!(
        err.contains("template.text") && !err.contains("ghp_aaaa"),
        "{err}"
    );
}

#[test]
fn an_inline_secret_is_refused_with_its_field_named() {
    let token = "0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a12";
    let err = one(&HEC.replace("env:CAVRA_HEC_TOKEN", token)).unwrap_err();
    assert!(
        err.contains("connectors[0] (siem).splunk_hec.token"),
        "{err}"
    );
    assert!(err.contains("inline secret"), "{err}");
    assert!(!err.contains(token), "{err}");

    let err = one(&HEC.replace(
        "https://splunk.internal:8088",
        "https://admin:hunter2@splunk.internal:8088",
    ))
    .unwrap_err();
    assert!(err.contains("connectors[0] (siem).splunk_hec.url"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    // A token pasted into a field that is not a secret field.
    let err = one(&HEC.replace(
            "channel: 0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a11",
            "channel: 0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a11\n    index: ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ))
        .unwrap_err();
    assert!(err.contains("splunk_hec.index"), "{err}");
    assert!(!err.contains("ghp_aaaa"), "{err}");
}

#[test]
fn mistakes_are_named() {
    for (change, expect) in [
        (
            ("events: [decision.block", "events: [decision.blok"),
            "events[0]",
        ),
        (("name: siem", "name: Siem"), "connectors[0].name"),
        (("ack: true", "ack: true\n    colour: red"), "colour"),
        (
            (
                "https://splunk.internal:8088",
                "http://splunk.internal:8088",
            ),
            "loopback",
        ),
        (
            ("    channel: 0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a11\n", ""),
            "needs a channel",
        ),
        (
            ("repository: [\"acme/*\"]", "repository: [\"acme/[\"]"),
            "filter.repository[0]",
        ),
    ] {
        let err = one(&HEC.replace(change.0, change.1)).unwrap_err();
        assert!(err.contains(expect), "{change:?}: {err}");
    }
    let twice = format!("{HEC}{}", HEC.trim_start_matches('\n'));
    assert!(
        one(&twice)
            .unwrap_err()
            .contains("another connector of that name")
    );
    let loopback = HEC.replace("https://splunk.internal:8088", "http://127.0.0.1:9");
    assert!(one(&loopback).is_ok());
    let none = "- {name: x, tenant: acme}";
    assert!(one(none).unwrap_err().contains("give its kind"));
}

#[test]
fn broker_urls_are_secure_unless_loopback() {
    for (url, ok) in [
        ("nats://127.0.0.1:4222", true),
        ("nats://localhost:4222", true),
        ("nats://[::1]:4222", true),
        ("tls://nats.internal:4222", true),
        ("nats://nats.internal:4222", false),
        ("http://nats.internal:4222", false),
        ("tls://user:pw@nats.internal:4222", false),
    ] {
        let r = check_server_url("u", url, "tls", "nats");
        assert_eq!(r.is_ok(), ok, "{url}: {r:?}");
    }
    let yaml = "- {name: q, tenant: acme, amqp: {url: \"amqp://10.0.0.1:5672/%2f\"}}";
    assert!(one(yaml).unwrap_err().contains("loopback only"));
    let yaml =
        "- {name: q, tenant: acme, amqp: {url: \"amqp://127.0.0.1:5672/%2f\", exchange: \"\"}}";
    assert!(one(yaml).unwrap_err().contains("amqp.queue"));
}

#[test]
fn smtp_recipients_and_allow_lists() {
    let smtp = |tenant: &str, to: &str, allowed: &str| {
        format!(
            "- name: mail\n  tenant: {tenant}\n  smtp: {{host: smtp.example, from: a@cavra.example, to: [{to}], allowed_recipients: [{allowed}]}}\n"
        )
    };
    assert!(one(&smtp("acme", "ops@acme.example", "\"@acme.example\"")).is_ok());
    assert!(one(&smtp("acme", "OPS@Acme.Example", "ops@acme.example")).is_ok());
    let err = one(&smtp("acme", "ops@globex.example", "\"@acme.example\"")).unwrap_err();
    assert!(err.contains("smtp.to[0]"), "{err}");
    let err = one(&smtp("acme", "ops@acme.example", "nobody")).unwrap_err();
    assert!(err.contains("allowed_recipients[0]"), "{err}");
    // Two tenants sharing an address, or a domain and an address in it.
    for (a, b) in [
        ("ops@acme.example", "ops@acme.example"),
        ("\"@acme.example\"", "x@acme.example"),
        ("\"@acme.example\"", "\"@ACME.example\""),
    ] {
        let to_b = b.trim_matches('"').trim_start_matches('@');
        let to_b = if to_b.contains('@') {
            to_b.to_string()
        } else {
            format!("x@{to_b}")
        };
        let yaml = format!(
            "{}{}",
            smtp("acme", "ops@acme.example", a),
            smtp("globex", &to_b, b)
        );
        let err = one(&yaml).unwrap_err();
        assert!(err.contains("one tenant only"), "{a} {b}: {err}");
    }
    // Two tenants may mail different people of one domain.
    let yaml = format!(
        "{}{}",
        smtp("acme", "a@mail.example", "a@mail.example"),
        smtp("globex", "b@mail.example", "b@mail.example")
    );
    assert!(one(&yaml).is_ok());
    let err = one(&smtp("acme", "ops@acme.example", "\"@acme.example\"")
        .replace("host: smtp.example", "host: smtp.example, tls: none"))
    .unwrap_err();
    assert!(err.contains("loopback relay only"), "{err}");
}
