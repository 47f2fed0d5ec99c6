//! The redaction corpus: realistic (and fake) secrets in the places agents put them, and
//! ordinary text that must come out untouched. Shared by this crate's tests, the hook tests
//! and the evidence tests (store, log, bundles, exports): none of [`Case::secrets`] may appear
//! in anything cavra writes.
//!
//! Every secret is built at run time from a seeded generator, so the repository holds no
//! string a secret scanner would flag, and every run uses the same values.

/// One corpus item.
#[derive(Debug, Clone)]
pub struct Case {
    /// A short name (`github-ghp`, `pem-rsa`, …).
    pub name: &'static str,
    /// A realistic text holding the secrets: a command line or a file's content.
    pub text: String,
    /// Exact strings that must not survive redaction.
    pub secrets: Vec<String>,
    /// Rule ids of which at least one must report the case.
    pub rules: &'static [&'static str],
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8] = b"0123456789abcdef";

/// `len` characters of `alphabet`, from a generator seeded by `seed` (deterministic).
pub fn fake(alphabet: &[u8], len: usize, seed: &str) -> String {
    // FNV-1a of the seed, then xorshift64*.
    let mut state = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    }) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
            let i = usize::try_from(r).unwrap_or(0) % alphabet.len();
            char::from(alphabet[i])
        })
        .collect()
}

fn case(
    name: &'static str,
    text: String,
    secrets: Vec<String>,
    rules: &'static [&'static str],
) -> Case {
    Case {
        name,
        text,
        secrets,
        rules,
    }
}

/// A PEM block: its text and its body lines (each a secret).
fn pem(label: &str, headers: &str, seed: &str) -> (String, Vec<String>) {
    let lines: Vec<String> = (0..4)
        .map(|i| fake(BASE64, 64, &format!("{seed}-{i}")))
        .collect();
    let text = format!(
        "-----BEGIN {label}-----\n{headers}{}\n-----END {label}-----\n",
        lines.join("\n")
    );
    (text, lines)
}

/// The secrets, each in a realistic text.
pub fn secrets() -> Vec<Case> {
    let mut out = Vec::new();

    // AWS
    let akid = format!("AKIA{}", fake(UPPER_DIGITS, 16, "akid"));
    let asid = format!("ASIA{}", fake(UPPER_DIGITS, 16, "asid"));
    let sak = fake(BASE64, 40, "aws-secret");
    let sak2 = fake(BASE64, 40, "aws-secret-2");
    out.push(case(
        "aws-env",
        format!("AWS_ACCESS_KEY_ID={akid} AWS_SECRET_ACCESS_KEY={sak} aws s3 ls s3://backups"),
        vec![akid.clone(), sak.clone()],
        &["aws-access-key-id", "aws-secret-access-key"],
    ));
    out.push(case(
        "aws-configure-set-id",
        format!("aws configure set aws_access_key_id {asid} --profile ci"),
        vec![asid.clone()],
        &["aws-access-key-id"],
    ));
    out.push(case(
        "aws-configure-set-secret",
        format!("aws configure set aws_secret_access_key {sak2} --profile ci"),
        vec![sak2.clone()],
        &["aws-secret-access-key"],
    ));
    out.push(case(
        "aws-credentials-file",
        format!("[default]\naws_access_key_id = {akid}\naws_secret_access_key = {sak2}\nregion = eu-west-1\n"),
        vec![akid.clone(), sak2.clone()],
        &["aws-access-key-id", "aws-secret-access-key"],
    ));

    // GCP
    let key_id = fake(HEX, 40, "gcp-key-id");
    let (sa_pem, sa_lines) = pem("PRIVATE KEY", "", "gcp-sa");
    let sa = serde_json::json!({
        "type": "service_account",
        "project_id": "demo-project-123",
        "private_key_id": key_id,
        "private_key": sa_pem,
        "client_email": "ci@demo-project-123.iam.gserviceaccount.com",
        "client_id": "104857600000000000001",
        "token_uri": "https://oauth2.googleapis.com/token"
    });
    let mut sa_secrets = sa_lines;
    sa_secrets.push(key_id);
    out.push(case(
        "gcp-service-account-json",
        serde_json::to_string_pretty(&sa).unwrap_or_default(),
        sa_secrets,
        &["private-key", "gcp-service-account-key"],
    ));
    let aiza = format!("AIza{}", fake(BASE64URL, 35, "aiza"));
    out.push(case(
        "gcp-api-key",
        format!(
            "curl -s 'https://maps.googleapis.com/maps/api/geocode/json?address=Paris&key={aiza}'"
        ),
        vec![aiza],
        &["gcp-api-key"],
    ));

    // GitHub
    for (name, prefix) in [
        ("github-ghp", "ghp_"),
        ("github-gho", "gho_"),
        ("github-ghu", "ghu_"),
        ("github-ghs", "ghs_"),
        ("github-ghr", "ghr_"),
    ] {
        let token = format!("{prefix}{}", fake(ALNUM, 36, name));
        out.push(case(
            name,
            format!("curl -H 'Authorization: token {token}' https://api.github.com/user/repos"),
            vec![token],
            &["github-token"],
        ));
    }
    let pat = format!(
        "github_pat_{}_{}",
        fake(ALNUM, 22, "pat-a"),
        fake(ALNUM, 59, "pat-b")
    );
    out.push(case(
        "github-fine-grained-pat",
        format!("echo {pat} | gh auth login --with-token"),
        vec![pat],
        &["github-fine-grained-pat"],
    ));

    // Slack
    for (name, prefix) in [
        ("slack-xoxb", "xoxb"),
        ("slack-xoxp", "xoxp"),
        ("slack-xoxa", "xoxa"),
    ] {
        let token = format!(
            "{prefix}-{}-{}-{}",
            fake(b"0123456789", 12, &format!("{name}1")),
            fake(b"0123456789", 13, &format!("{name}2")),
            fake(ALNUM, 24, &format!("{name}3"))
        );
        out.push(case(
            name,
            format!("SLACK_BOT_TOKEN={token} node notify.js"),
            vec![token],
            &["slack-token"],
        ));
    }
    let xapp = format!(
        "xapp-1-A{}-{}-{}",
        fake(UPPER_DIGITS, 10, "xapp1"),
        fake(b"0123456789", 13, "xapp2"),
        fake(HEX, 64, "xapp3")
    );
    out.push(case(
        "slack-xapp",
        format!("SLACK_APP_TOKEN={xapp} python bot.py"),
        vec![xapp],
        &["slack-token"],
    ));
    let hook_secret = fake(ALNUM, 24, "slack-webhook");
    let webhook = format!(
        "https://hooks.slack.com/services/T{}/B{}/{hook_secret}",
        fake(UPPER_DIGITS, 8, "wh-t"),
        fake(UPPER_DIGITS, 10, "wh-b")
    );
    out.push(case(
        "slack-webhook",
        format!("curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"deployed\"}}' {webhook}"),
        vec![hook_secret],
        &["slack-webhook"],
    ));

    // PEM private keys
    for (name, label, headers) in [
        ("pem-rsa", "RSA PRIVATE KEY", ""),
        ("pem-ec", "EC PRIVATE KEY", ""),
        ("pem-openssh", "OPENSSH PRIVATE KEY", ""),
        ("pem-pkcs8", "PRIVATE KEY", ""),
        ("pem-pkcs8-encrypted", "ENCRYPTED PRIVATE KEY", ""),
        (
            "pem-rsa-legacy-encrypted",
            "RSA PRIVATE KEY",
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0A1B2C3D4E5F60718293A4B5C6D7E8F9\n\n",
        ),
    ] {
        let (text, lines) = pem(label, headers, name);
        out.push(case(
            name,
            format!("cat > deploy_key <<'EOF'\n{text}EOF\nchmod 600 deploy_key"),
            lines,
            &["private-key"],
        ));
    }

    // Passwords in URLs
    for (name, template) in [
        (
            "url-https",
            "git clone https://deploy:{}@git.example.com/org/repo.git",
        ),
        (
            "url-postgres",
            "psql postgres://app:{}@db.internal:5432/app -c 'select 1'",
        ),
        (
            "url-redis-no-user",
            "redis-cli -u redis://:{}@cache.internal:6379/0 ping",
        ),
        (
            "url-mongodb-srv",
            "mongosh 'mongodb+srv://admin:{}@cluster0.example.net/prod'",
        ),
    ] {
        let pw = fake(ALNUM, 18, name);
        out.push(case(
            name,
            template.replace("{}", &pw),
            vec![pw],
            &["url-password"],
        ));
    }

    // JWT
    let jwt = format!(
        "eyJ{}.eyJ{}.{}",
        fake(BASE64URL, 33, "jwt-h"),
        fake(BASE64URL, 90, "jwt-p"),
        fake(BASE64URL, 43, "jwt-s")
    );
    out.push(case(
        "jwt",
        format!("http GET https://api.example.com/v1/me 'Cookie: session={jwt}'"),
        vec![jwt],
        &["jwt"],
    ));

    // Authorization headers
    let bearer = fake(BASE64URL, 40, "bearer");
    out.push(case(
        "authorization-bearer",
        format!("curl -H \"Authorization: Bearer {bearer}\" https://api.example.com/v1/items"),
        vec![bearer],
        &["authorization-header"],
    ));
    let basic = fake(BASE64, 28, "basic");
    out.push(case(
        "authorization-basic",
        format!("wget --header='Authorization: Basic {basic}' https://repo.example.com/pkg.tgz"),
        vec![basic],
        &["authorization-header"],
    ));

    // Passwords and tokens in assignments, flags and near keywords
    let db_pw = fake(ALNUM, 20, "db-password");
    out.push(case(
        "env-password",
        format!("DB_PASSWORD={db_pw} ./migrate.sh up"),
        vec![db_pw],
        &["sensitive-assignment"],
    ));
    let flag_tok = fake(ALNUM, 32, "flag-token");
    out.push(case(
        "flag-token",
        format!("terraform login --token {flag_tok} app.terraform.io"),
        vec![flag_tok],
        &["sensitive-flag"],
    ));
    let curl_pw = fake(ALNUM, 16, "curl-user");
    out.push(case(
        "curl-user",
        format!("curl -u admin:{curl_pw} https://jenkins.example.com/api/json"),
        vec![curl_pw],
        &["basic-auth-flag"],
    ));
    let yaml_secret = fake(ALNUM, 32, "yaml-secret");
    out.push(case(
        "yaml-client-secret",
        format!("oauth:\n  client_id: web-frontend\n  client_secret: {yaml_secret}\n"),
        vec![yaml_secret],
        &["sensitive-assignment", "generic-high-entropy"],
    ));
    let near = fake(ALNUM, 40, "near-keyword");
    out.push(case(
        "high-entropy-near-keyword",
        format!("const signingKey = \"{near}\";\n"),
        vec![near],
        &["generic-high-entropy"],
    ));
    let stripe = format!("sk_live_{}", fake(ALNUM, 24, "stripe"));
    out.push(case(
        "stripe-live-key",
        format!("stripe charges list --limit 3 --api-key {stripe}"),
        vec![stripe],
        &["stripe-secret-key"],
    ));
    out
}

/// A rule a policy pack might add (as YAML under `redaction.rules`), and a case only it finds.
pub fn custom_rule_yaml() -> &'static str {
    "- id: acme-internal-token\n  description: ACME internal service token\n  regex: 'ACME-[0-9A-F]{32}'\n  keywords: [ACME-]\n"
}

/// The case [`custom_rule_yaml`]'s rule finds (the built-in rules do not).
pub fn custom_case() -> Case {
    let token = format!("ACME-{}", fake(b"0123456789ABCDEF", 32, "acme"));
    case(
        "acme-internal-token",
        format!("deployctl push --service billing {token}"),
        vec![token],
        &["acme-internal-token"],
    )
}

/// Ordinary text that no rule may touch.
pub fn harmless() -> Vec<String> {
    [
        "git commit -m \"fix token parsing\"",
        "git commit -m 'rotate the password reset flow; secrets live in vault now'",
        "cargo test",
        "cargo test -p cavra-redact --test corpus -- --nocapture",
        "cargo clippy --workspace --all-targets -- -D warnings",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  target/release/cavra",
        "sha256sum keys/public.pem",
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  keys/public.pem",
        "cavra decision show 0192b8e4-7c1a-7f3e-9d2b-5a6c7e8f9a0b",
        "git show 3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a --stat",
        "cat src/auth/token_store.rs",
        "ls ~/.config/app/secrets/",
        "grep -rn \"password\" src/ tests/",
        "npm install jsonwebtoken@9",
        "export PATH=/usr/local/bin:$PATH",
        "echo $GITHUB_TOKEN | gh auth login --with-token",
        "docker run --rm -u 1000:1000 alpine:3.20 id",
        "git clone https://github.com/org/repo.git",
        "psql postgres://localhost:5432/app",
        "kubectl get secret db-credentials -o yaml",
        "ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519 -C dev@example.com",
        "python -m http.server 8000",
        "npm test && git status",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
