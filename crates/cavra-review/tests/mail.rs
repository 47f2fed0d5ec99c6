//! Reports go out through the tenant's own SMTP connectors, to the real SMTP server the
//! connector tests use (`cavra_connectors::smtp::testing`: TLS, AUTH, the envelope): to the
//! tenant's recipients only. Another tenant's connector is refused before anything is sent,
//! and the connector's own check refuses a message of another tenant.

use std::path::PathBuf;

use cavra_connectors::smtp::testing::{Mode, Pki, attachment, smtp_server};

fn yaml(port: u16, ca: &std::path::Path) -> String {
    let one = |name: &str, tenant: &str, to: &str, allowed: &str| {
        format!(
            "
- name: {name}
  tenant: {tenant}
  timeout_ms: 5000
  smtp:
    host: localhost
    port: {port}
    tls: starttls
    ca_file: {}
    from: \"cavra <cavra@cavra.example>\"
    to: [{to}]
    allowed_recipients: [{allowed}]
",
            ca.display()
        )
    };
    format!(
        "connectors:{}{}",
        one("acme-mail", "acme", "sec@acme.example", "\"@acme.example\""),
        one("beta-mail", "beta", "soc@beta.example", "\"@beta.example\"")
    )
}

#[test]
fn a_report_reaches_its_tenants_recipients_and_never_anothers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let pki = Pki::new();
    let (server, port) = rt.block_on(smtp_server(&pki, Mode::Starttls, None));
    let dir = tempfile::tempdir().expect("tmp");
    let config_file = dir.path().join("cavra-server.yaml");
    std::fs::write(&config_file, yaml(port, &pki.ca_file)).expect("config");
    let html = dir.path().join("report.html");
    std::fs::write(&html, "<!DOCTYPE html><p>acme's report</p>").expect("html");
    let attachments: Vec<PathBuf> = vec![html];
    let config = cavra_review::mail::config(&config_file).expect("connectors");

    let msg = cavra_review::mail::Message {
        tenant: "acme",
        subject: "Operating review acme",
        text: "# Operating review: acme\n",
        attachments: &attachments,
    };
    let through = cavra_review::mail::connectors(&config, "acme", None).expect("acme's");
    assert_eq!(through.len(), 1);
    let sent = cavra_review::mail::send(&msg, &through).expect("sent");
    assert!(sent[0].delivered, "{sent:?}");
    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].tls, "over TLS");
    assert_eq!(mails[0].to, ["sec@acme.example"]);
    assert!(mails[0].data.contains("Operating review acme"));
    let page = attachment(&mails[0].data, "report.html").expect("the page attached");
    assert_eq!(page, b"<!DOCTYPE html><p>acme's report</p>");

    // acme's report through beta's connector: refused, nothing sent.
    let e =
        cavra_review::mail::connectors(&config, "acme", Some("beta-mail")).expect_err("refused");
    assert!(e.to_string().contains("not tenant acme's"), "{e}");
    // And should a caller hand beta's connector over anyway, the connector refuses the
    // message of another tenant at delivery.
    let beta: Vec<_> = config.of_tenant("beta").collect();
    let sent = cavra_review::mail::send(&msg, &beta).expect("attempted");
    assert!(!sent[0].delivered);
    assert_eq!(sent[0].status, "refused");
    assert!(
        sent[0]
            .response
            .contains("an event of tenant acme at a connector of tenant beta"),
        "{sent:?}"
    );
    assert_eq!(server.mails().len(), 1, "nothing reached beta's recipients");
}

#[test]
fn a_recipient_off_the_tenants_allow_list_is_refused_by_the_configuration() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("c.yaml");
    let text = yaml(2525, &pki.ca_file).replace("to: [sec@acme.example]", "to: [soc@beta.example]");
    std::fs::write(&file, text).expect("config");
    let e = cavra_review::mail::config(&file).expect_err("refused");
    assert!(e.to_string().contains("allowed_recipients"), "{e}");
}
