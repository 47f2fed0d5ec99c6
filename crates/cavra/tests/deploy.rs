//! The deployment artefacts under deploy/, checked with the tools their users run: the Compose
//! file against the Compose Specification (and `docker compose config` where a Compose client
//! is installed), the Helm chart with Helm 4 (`helm lint`, `helm template` over every values
//! file in deploy/helm/cavra/ci/) and every rendered manifest against the Kubernetes schemas,
//! then the hardening both promise (non-root, read-only, no capabilities, limits, probes,
//! secrets by reference only). The configuration each one hands `cavra serve` is parsed by
//! cavra itself.
//!
//! The tools: tests/deploy/requirements.txt (installed by scripts/test) and scripts/fetch-helm
//! (run by .ci/run). A missing tool skips its test with the reason printed, unless
//! CAVRA_REQUIRE_DEPLOY_TOOLS=1 (set by .ci/run), where it fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::{cavra_bin, text, workspace};

fn chart() -> PathBuf {
    workspace().join("deploy/helm/cavra")
}

/// `program` when it runs (`program version_arg`), else None after saying why (or a failure
/// when the tools are required).
fn tool(program: &Path, version_arg: &str, install: &str) -> Option<PathBuf> {
    let runs = Command::new(program)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        return Some(program.to_path_buf());
    }
    let why = format!("{} is not installed ({install})", program.display());
    if std::env::var("CAVRA_REQUIRE_DEPLOY_TOOLS").is_ok_and(|v| v == "1") {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// Helm from scripts/fetch-helm's cache, else `helm` on PATH.
fn helm() -> Option<PathBuf> {
    let fetched = Command::new(workspace().join("scripts/fetch-helm"))
        .arg("--installed")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("helm"));
    tool(
        &fetched.unwrap_or_else(|| PathBuf::from("helm")),
        "version",
        "run scripts/fetch-helm",
    )
}

fn python_tool(name: &str) -> Option<PathBuf> {
    tool(
        Path::new(name),
        "--version",
        "python3 -m pip install -r tests/deploy/requirements.txt",
    )
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the tool runs")
}

/// The YAML documents of `yaml` as JSON values (empty documents dropped).
fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(v, |v, k| v.get(k).unwrap_or(&Value::Null))
}

/// A variable name that says it holds a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "TOKEN",
        "SECRET",
        "PRIVATE",
        "CREDENTIAL",
        "API_KEY",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// A value that holds a credential itself (a URL with a password, a PEM key).
fn inline_secret(value: &str) -> bool {
    value.contains("PRIVATE KEY") || url::Url::parse(value).is_ok_and(|u| u.password().is_some())
}

// ---------------------------------------------------------------------------------------------
// Compose

fn compose_file() -> PathBuf {
    workspace().join("deploy/compose/compose.yaml")
}

/// Secrets as `deploy/compose/init-secrets` writes them, in a folder outside the repository.
fn compose_secrets() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let out = run(
        Command::new(workspace().join("deploy/compose/init-secrets"))
            .arg(dir.path())
            .env("CAVRA", cavra_bin()),
    );
    assert!(out.status.success(), "{}", text(&out));
    dir
}

#[test]
fn compose_secrets_are_written_outside_repositories_once_and_read_by_cavra() {
    let dir = compose_secrets();
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).expect(f);
    let (password, config, key) = (
        read("postgres_password"),
        read("cavra-server.yaml"),
        read("signing-key.pem"),
    );
    assert!(password.len() >= 32, "a long random password");
    assert!(config.contains(&format!("postgres://cavra:{password}@postgres:5432/cavra")));
    // cavra reads both as `cavra serve` will.
    let parsed = cavra_server::ServerConfig::from_yaml(&config, "cavra-server.yaml")
        .expect("cavra accepts the configuration");
    assert!(parsed.database_url.starts_with("postgres://"));
    cavra_evidence::keys::private_key_from_pem(&key).expect("a PKCS#8 Ed25519 key");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700, "only its owner reaches the folder");

    // Again: nothing changes.
    let out = run(
        Command::new(workspace().join("deploy/compose/init-secrets"))
            .arg(dir.path())
            .env("CAVRA", cavra_bin()),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(read("postgres_password"), password);
    assert_eq!(read("signing-key.pem"), key);

    // Never inside a repository.
    let repo = tempfile::tempdir().expect("tmp");
    support::git(repo.path(), &["init", "-q"]);
    let out = run(
        Command::new(workspace().join("deploy/compose/init-secrets"))
            .arg(repo.path().join("secrets"))
            .env("CAVRA", cavra_bin()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("inside a git repository"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_compose_file_follows_the_compose_spec() {
    let Some(check) = python_tool("check-jsonschema") else {
        return;
    };
    let validate = |file: &Path| {
        run(Command::new(&check)
            .args(["--builtin-schema", "vendor.compose-spec"])
            .arg(file))
    };
    let out = validate(&compose_file());
    assert!(out.status.success(), "{}", text(&out));
    // The validator is not a rubber stamp: a misspelt key fails it.
    let dir = tempfile::tempdir().expect("tmp");
    let broken = dir.path().join("compose.yaml");
    let yaml = std::fs::read_to_string(compose_file()).expect("compose.yaml");
    std::fs::write(&broken, yaml.replace("depends_on:", "depend_on:")).expect("write");
    assert!(!validate(&broken).status.success());
}

/// The Compose file as a Compose client resolves it (`docker compose config`, or the
/// standalone `docker-compose config`), with secrets from `init-secrets`; None when no client
/// is installed.
fn compose_config(secrets: Option<&Path>) -> Option<Output> {
    let clients: [(&str, &[&str]); 2] = [("docker", &["compose"]), ("docker-compose", &[])];
    for (program, sub) in clients {
        let works = Command::new(program)
            .args(sub)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !works {
            continue;
        }
        let mut c = Command::new(program);
        c.args(sub)
            .arg("-f")
            .arg(compose_file())
            .arg("config")
            .env_remove("CAVRA_SECRETS_DIR")
            .env_remove("CAVRA_IMAGE");
        if let Some(dir) = secrets {
            c.env("CAVRA_SECRETS_DIR", dir);
        }
        return Some(run(&mut c));
    }
    None
}

#[test]
fn compose_resolves_and_keeps_the_promised_hardening() {
    let secrets = compose_secrets();
    let Some(out) = compose_config(Some(secrets.path())) else {
        // Optional even in CI: the file's schema is checked above without a client.
        eprintln!(
            "SKIPPED: no Compose client (`docker compose`, or Debian's docker-compose) to resolve the file"
        );
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    let resolved = String::from_utf8_lossy(&out.stdout).into_owned();
    let c = documents(&resolved).remove(0);

    // Secrets come from files in the secrets folder, never from the file itself.
    let dir = secrets.path().display().to_string();
    let declared = get(&c, "secrets").as_object().expect("secrets");
    assert_eq!(declared.len(), 3);
    for (name, s) in declared {
        let file = get(s, "file").as_str().unwrap_or_default();
        assert!(file.starts_with(&dir), "{name}: {file}");
    }
    let services = get(&c, "services").as_object().expect("services");
    for (name, s) in services {
        for (key, value) in get(s, "environment").as_object().into_iter().flatten() {
            let value = value.as_str().unwrap_or_default();
            assert!(!inline_secret(value), "{name}: {key} holds a secret inline");
            assert!(
                !secret_name(key) || key.ends_with("_FILE") || value.starts_with("/run/secrets/"),
                "{name}: {key} must name a secret file, not hold the secret"
            );
        }
        for port in get(s, "ports").as_array().into_iter().flatten() {
            let published = port.as_str().map(str::to_string).unwrap_or_else(|| {
                get(port, "host_ip")
                    .as_str()
                    .unwrap_or("0.0.0.0")
                    .to_string()
            });
            assert!(
                published.starts_with("127.0.0.1"),
                "{name}: published beyond loopback: {port}"
            );
        }
    }
    for name in ["cavra", "migrate"] {
        let s = &services[name];
        assert_eq!(get(s, "user"), "65532:65532", "{name}");
        assert_eq!(get(s, "read_only"), true, "{name}");
        assert_eq!(get(s, "cap_drop"), &serde_json::json!(["ALL"]), "{name}");
        assert!(
            get(s, "security_opt")
                .to_string()
                .contains("no-new-privileges:true"),
            "{name}"
        );
    }
    for name in ["postgres", "nats", "cavra"] {
        assert!(
            get(&services[name], "healthcheck.test").is_array(),
            "{name} has a healthcheck"
        );
    }
    assert_eq!(
        get(&services["cavra"], "healthcheck.test"),
        &serde_json::json!(["CMD", "/usr/local/bin/cavra", "healthcheck"]),
        "no curl in the image: the binary probes itself"
    );
    let depends = get(&services["cavra"], "depends_on");
    assert_eq!(get(depends, "postgres.condition"), "service_healthy");
    assert_eq!(get(depends, "nats.condition"), "service_healthy");
    assert_eq!(
        get(depends, "migrate.condition"),
        "service_completed_successfully"
    );
    let migrate = &services["migrate"];
    assert_eq!(
        get(migrate, "command"),
        &serde_json::json!(["db", "migrate"])
    );
    assert_eq!(
        get(migrate, "depends_on.postgres.condition"),
        "service_healthy"
    );

    // Without the secrets folder, Compose refuses and says what to set.
    let out = compose_config(None).expect("the same client");
    assert!(!out.status.success());
    assert!(text(&out).contains("CAVRA_SECRETS_DIR"), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------------
// Helm

/// The values files the chart is tested with.
fn values_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart().join("ci"))
        .expect("deploy/helm/cavra/ci")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
}

fn template(helm: &Path, args: &[&str]) -> Output {
    run(Command::new(helm)
        .args(["template", "cavra"])
        .arg(chart())
        .args(["--namespace", "cavra"])
        .args(args))
}

/// The pod spec of a Deployment or Job.
// (`get` splits on dots: keys with a dot in them, `helm.sh/hook` or `config.yaml`, are indexed.)
fn pod_spec(doc: &Value) -> &Value {
    get(doc, "spec.template.spec")
}

/// Non-root, read-only, no privilege escalation, no capabilities, seccomp, limits.
fn check_pod_hardening(what: &str, pod: &Value) {
    assert_eq!(get(pod, "securityContext.runAsNonRoot"), true, "{what}");
    assert!(
        get(pod, "securityContext.runAsUser").as_u64().unwrap_or(0) > 0,
        "{what}: a non-root uid"
    );
    assert_eq!(
        get(pod, "securityContext.seccompProfile.type"),
        "RuntimeDefault",
        "{what}"
    );
    assert_eq!(get(pod, "automountServiceAccountToken"), false, "{what}");
    for c in get(pod, "containers").as_array().expect("containers") {
        let sc = get(c, "securityContext");
        assert_eq!(get(sc, "readOnlyRootFilesystem"), true, "{what}");
        assert_eq!(get(sc, "allowPrivilegeEscalation"), false, "{what}");
        assert_eq!(
            get(sc, "capabilities.drop"),
            &serde_json::json!(["ALL"]),
            "{what}"
        );
        for r in [
            "requests.cpu",
            "requests.memory",
            "limits.cpu",
            "limits.memory",
        ] {
            assert!(
                !get(c, &format!("resources.{r}")).is_null(),
                "{what}: resources.{r}"
            );
        }
        for e in get(c, "env").as_array().into_iter().flatten() {
            let name = get(e, "name").as_str().unwrap_or_default();
            if let Some(value) = get(e, "value").as_str() {
                assert!(
                    !inline_secret(value),
                    "{what}: {name} holds a secret inline"
                );
                assert!(
                    !secret_name(name),
                    "{what}: {name} must come from a Secret (valueFrom)"
                );
            }
        }
    }
}

/// The checks every rendering passes, whatever the values.
fn check_rendering(name: &str, docs: &[Value]) {
    let kinds: Vec<&str> = docs
        .iter()
        .map(|d| get(d, "kind").as_str().unwrap_or_default())
        .collect();
    assert!(
        !kinds.contains(&"Secret"),
        "{name}: the chart never renders a Secret"
    );
    for kind in [
        "Deployment",
        "Service",
        "ConfigMap",
        "Job",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ] {
        assert!(kinds.contains(&kind), "{name}: no {kind} in {kinds:?}");
    }
    for doc in docs {
        let kind = get(doc, "kind").as_str().unwrap_or_default();
        let what = format!("{name}: {kind}");
        match kind {
            "Deployment" => {
                let pod = pod_spec(doc);
                check_pod_hardening(&what, pod);
                let replicas = get(doc, "spec.replicas").as_u64();
                let hpa_min = docs
                    .iter()
                    .find(|d| get(d, "kind") == "HorizontalPodAutoscaler")
                    .and_then(|h| get(h, "spec.minReplicas").as_u64());
                assert!(
                    replicas.or(hpa_min).unwrap_or(0) >= 2,
                    "{what}: two replicas at least"
                );
                assert_eq!(get(doc, "spec.strategy.type"), "RollingUpdate", "{what}");
                assert_eq!(
                    get(doc, "spec.strategy.rollingUpdate.maxUnavailable"),
                    0,
                    "{what}"
                );
                let c = &pod["containers"][0];
                for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                    assert!(get(c, probe).is_object(), "{what}: {probe}");
                }
                assert_eq!(get(c, "readinessProbe.httpGet.path"), "/readyz", "{what}");
                let env = get(c, "env").to_string();
                assert!(
                    env.contains("\"secretKeyRef\"") && env.contains("CAVRA_DATABASE_URL"),
                    "{what}: the database URL comes from a Secret"
                );
            }
            "Job" => {
                check_pod_hardening(&what, pod_spec(doc));
                let hook = &doc["metadata"]["annotations"]["helm.sh/hook"];
                assert_eq!(hook, "pre-install,pre-upgrade", "{what}");
                assert_eq!(
                    pod_spec(doc)["containers"][0]["args"],
                    serde_json::json!(["db", "migrate", "--json"]),
                    "{what}"
                );
            }
            "NetworkPolicy" => {
                assert_eq!(
                    get(doc, "spec.policyTypes"),
                    &serde_json::json!(["Ingress", "Egress"]),
                    "{what}"
                );
                let egress = get(doc, "spec.egress").as_array().expect("egress");
                assert!(
                    egress.len() >= 2,
                    "{what}: DNS and the database, nothing unnamed"
                );
                for rule in egress {
                    assert!(
                        get(rule, "to").is_array(),
                        "{what}: an egress rule names its peers"
                    );
                    assert!(get(rule, "ports").is_array(), "{what}: and its ports");
                }
            }
            "ConfigMap" => {
                let config = doc["data"]["config.yaml"].as_str().expect("config.yaml");
                assert!(!inline_secret(config), "{what}: a secret in the ConfigMap");
                let parsed = cavra_server::ServerConfig::from_yaml(config, "config.yaml")
                    .unwrap_or_else(|e| panic!("{what}: cavra refuses its configuration: {e}"));
                assert_eq!(parsed.listen, "0.0.0.0:7700");
            }
            _ => {}
        }
    }
}

#[test]
fn the_helm_chart_lints_renders_and_validates_with_every_values_file() {
    let Some(helm) = helm() else { return };
    let Some(validate) = python_tool("kubernetes-validate") else {
        return;
    };
    let out = tempfile::tempdir().expect("tmp");
    for values in values_files() {
        let name = values
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let v = values.to_string_lossy().into_owned();
        let lint = run(Command::new(&helm)
            .args(["lint", "--strict"])
            .arg(chart())
            .args(["-f", &v]));
        assert!(lint.status.success(), "{name}: {}", text(&lint));
        let rendered = template(&helm, &["-f", &v]);
        assert!(rendered.status.success(), "{name}: {}", text(&rendered));
        let file = out.path().join(&name);
        std::fs::write(&file, &rendered.stdout).expect("write");
        let checked = run(Command::new(&validate)
            .args(["--strict", "--kubernetes-version", "1.33.0", "--quiet"])
            .arg(&file));
        assert!(checked.status.success(), "{name}: {}", text(&checked));
        let docs = documents(&String::from_utf8_lossy(&rendered.stdout));
        check_rendering(&name, &docs);
        let kinds: Vec<String> = docs
            .iter()
            .map(|d| get(d, "kind").as_str().unwrap_or_default().to_string())
            .collect();
        match name.as_str() {
            "production-values.yaml" => {
                for kind in ["ServiceMonitor", "HorizontalPodAutoscaler"] {
                    assert!(kinds.iter().any(|k| k == kind), "{name}: {kind}");
                }
                let sm = docs.iter().find(|d| get(d, "kind") == "ServiceMonitor");
                let sm = sm.expect("ServiceMonitor");
                assert_eq!(get(sm, "apiVersion"), "monitoring.coreos.com/v1");
                assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
                assert_eq!(sm["spec"]["endpoints"][0]["port"], "http");
                let deploy = docs.iter().find(|d| get(d, "kind") == "Deployment");
                let c = &pod_spec(deploy.expect("Deployment"))["containers"][0];
                assert!(
                    get(c, "image")
                        .as_str()
                        .is_some_and(|i| i.contains("@sha256:")),
                    "pinned by digest"
                );
                assert_eq!(
                    c["envFrom"][0]["secretRef"]["name"],
                    "cavra-connector-secrets"
                );
            }
            "external-secrets-values.yaml" => {
                let es: Vec<&Value> = docs
                    .iter()
                    .filter(|d| get(d, "kind") == "ExternalSecret")
                    .collect();
                assert_eq!(es.len(), 2, "{name}: the database URL and the signing key");
                for e in es {
                    assert_eq!(get(e, "apiVersion"), "external-secrets.io/v1");
                    assert!(get(e, "spec.secretStoreRef.name").is_string());
                    assert!(get(e, "spec.data").to_string().contains("remoteRef"));
                }
            }
            _ => {}
        }
    }

    // The validator is not a rubber stamp: a misspelt field of a rendered Deployment fails.
    let minimal = std::fs::read_to_string(out.path().join("minimal-values.yaml")).expect("r");
    let broken = out.path().join("broken.yaml");
    std::fs::write(
        &broken,
        minimal.replace("readinessProbe:", "readynessProbe:"),
    )
    .expect("w");
    let checked = run(Command::new(&validate)
        .args(["--strict", "--kubernetes-version", "1.33.0", "--quiet"])
        .arg(&broken));
    assert!(!checked.status.success(), "{}", text(&checked));
}

#[test]
fn the_helm_values_schema_refuses_unsafe_or_incomplete_values() {
    let Some(helm) = helm() else { return };
    let minimal = chart().join("ci/minimal-values.yaml");
    let minimal = minimal.to_string_lossy();
    let ok = template(&helm, &["-f", &minimal]);
    assert!(ok.status.success(), "{}", text(&ok));
    for (set, why) in [
        ("replicaCount=1", "replicaCount"),
        (
            "securityContext.readOnlyRootFilesystem=false",
            "readOnlyRootFilesystem",
        ),
        (
            "securityContext.allowPrivilegeEscalation=true",
            "allowPrivilegeEscalation",
        ),
        ("podSecurityContext.runAsUser=0", "runAsUser"),
        ("database.existingSecret=", "existingSecret"),
        ("signingKey.existingSecret=", "existingSecret"),
        ("oidc.issuer=https://login.example.com/", "jwks"),
        (
            "config.database_url=postgres://u:p@db/cavra",
            "database_url",
        ),
        ("resources.limits=null", "limits"),
        ("networkPolicy.database.cidrs=null", "database"),
        ("image.digest=latest", "digest"),
        ("autoscaling.minReplicas=1", "minReplicas"),
    ] {
        let out = template(&helm, &["-f", &minimal, "--set", set]);
        assert!(!out.status.success(), "{set} was accepted");
        assert!(text(&out).contains(why), "{set}: {}", text(&out));
    }
    // Nothing given at all: the chart says which Secrets to name.
    let bare = template(&helm, &[]);
    assert!(!bare.status.success());
    assert!(text(&bare).contains("existingSecret"), "{}", text(&bare));
}
