//! cavra vs Cedar (`cedar-policy` 4.x) vs Rego (`regorus` 0.14), in process, in the same run, on
//! equivalent decisions over packs of ~300 rules each:
//!
//! - `files`: a `read_file` of a path deep in a repository against 300 path patterns
//!   (`data/privateN/**` ×296, `.env`, `*.pem`, `**/secrets.*`, `*.tfstate`): one path that one
//!   pattern blocks, and one that none matches (allowed);
//! - `mcp`: an `mcp_tool_call` against 296 allowed servers, 4 blocked servers and a rule that
//!   blocks `delete_*` tools; unknown servers are blocked: an allowed server (allow), an
//!   unknown server (block) and a blocked server (block).
//!
//! Two measurements per case, both with every policy parsed and compiled beforehand:
//!
//! - `decide_*`: the decision only. The engine-specific request (cavra `Request`; Cedar
//!   `Request` + `Entities`; the Rego `input` `Value`) is built outside the timed loop.
//! - `build_and_decide_*`: the engine-specific request is built from plain strings inside the
//!   timed loop, then decided. Policy data that does not depend on the request (Cedar's
//!   server-list entities, Rego's `data`) stays outside.
//!
//! Every engine's answer for every input is asserted before timing, so each comparison is of
//! equivalent work. Run with
//! `CARGO_TARGET_DIR=/work/target-peers cargo bench --bench peers -- --warm-up-time 1 --measurement-time 3`.

use cavra_engine::{ActionType, Env, NoSymlinks, Request, evaluate};
use cavra_policy::{CompiledPack, Decision, compile, load_pack_str};
use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet,
    RestrictedExpression,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use regorus::Value;
use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::path::Path;
use std::str::FromStr;

const PRIVATE_DIRS: usize = 296;
const ALLOWED_SERVERS: usize = 296;
const BLOCKED_SERVERS: usize = 4;

/// The file-path cases: (name, repository-relative path, blocked?).
const FILE_CASES: [(&str, &str, bool); 2] = [
    (
        "block_deep_path",
        "data/private251/customers/2025/q3/exports/eu-west/daily/batch-0042/part-00017.csv",
        true,
    ),
    (
        "allow_deep_path",
        "services/api/src/handlers/v2/billing/invoices/reconcile/eu-west/mod.rs",
        false,
    ),
];

/// The MCP cases: (name, server, tool, allowed?).
const MCP_CASES: [(&str, &str, &str, bool); 3] = [
    ("allowed_server", "mcp-server-250", "create_issue", true),
    ("unknown_server", "shadow-tools", "create_issue", false),
    ("blocked_server", "evil-fs-2", "create_issue", false),
];

const REPO_ROOT: &str = "/home/dev/repo";

// ------------------------------------------------------------------------------------------
// The policy, three times.
// ------------------------------------------------------------------------------------------

/// The 300 `block_read` patterns, as written in a cavra pack.
fn path_patterns() -> Vec<String> {
    let mut p: Vec<String> = [".env", "*.pem", "**/secrets.*", "*.tfstate"]
        .into_iter()
        .map(String::from)
        .collect();
    p.extend((0..PRIVATE_DIRS).map(|i| format!("data/private{i}/**")));
    p
}

fn allowed_servers() -> Vec<String> {
    (0..ALLOWED_SERVERS).map(|i| format!("mcp-server-{i}")).collect()
}

fn blocked_servers() -> Vec<String> {
    (0..BLOCKED_SERVERS).map(|i| format!("evil-fs-{i}")).collect()
}

/// YAML flow sequences are JSON-compatible.
fn flow(list: &[String]) -> String {
    serde_json::to_string(list).unwrap()
}

fn cavra_pack(yaml: &str, origin: &str) -> CompiledPack {
    let resolved = load_pack_str(yaml, origin, Path::new(".")).expect("the pack loads");
    compile(&resolved).expect("the pack compiles")
}

fn cavra_files_pack() -> CompiledPack {
    let yaml = format!(
        "metadata: {{id: peers-files, version: '1'}}\nfilesystem:\n  block_read: {}\n",
        flow(&path_patterns())
    );
    cavra_pack(&yaml, "peers-files.yaml")
}

fn cavra_mcp_pack() -> CompiledPack {
    let yaml = format!(
        "metadata: {{id: peers-mcp, version: '1'}}
mcp:
  block_unknown_servers: true
  allowed_servers: {}
  blocked_servers: {}
rules:
  - id: mcp-no-delete-tools
    action: mcp_tool_call
    tools: ['delete_*']
    decision: block
    reason: destructive MCP tools are blocked
",
        flow(&allowed_servers()),
        flow(&blocked_servers())
    );
    cavra_pack(&yaml, "peers-mcp.yaml")
}

/// Cedar: one `forbid` per cavra pattern, plus a `permit` (cavra's read default is allow).
///
/// Cedar's `like` has a single wildcard `*` that crosses `/`, while cavra's path globs are
/// gitignore-like (`*` stays in one folder, a pattern without `/` matches a name at any depth,
/// a folder pattern covers what is inside). Each cavra pattern is therefore translated into the
/// `like` disjunction with the same meaning:
/// - `data/privateN/**` (anchored; `**` crosses folders) → `like "data/privateN/*"`;
/// - `.env` (a file or folder named `.env` at any depth) → `== ".env"`, `like "*/.env"`,
///   `like ".env/*"`, `like "*/.env/*"`;
/// - `*.pem` (a name ending in `.pem` at any depth, and what is inside such a folder) →
///   `like "*.pem"`, `like "*.pem/*"`;
/// - `**/secrets.*` (a name starting with `secrets.` at any depth, and inside it) →
///   `like "secrets.*"`, `like "*/secrets.*"`.
///
/// With these translations the two agree on every path, not only on the tested ones (both are
/// statements about `/`-separated prefixes, suffixes and substrings).
fn cedar_files_policies() -> PolicySet {
    let mut src = String::from("permit(principal, action, resource);\n");
    let mut forbid = |cond: &str| {
        src.push_str(&format!(
            "forbid(principal, action == Action::\"read_file\", resource) when {{ {cond} }};\n"
        ))
    };
    forbid(
        r#"resource.path == ".env" || resource.path like "*/.env" || resource.path like ".env/*" || resource.path like "*/.env/*""#,
    );
    forbid(r#"resource.path like "*.pem" || resource.path like "*.pem/*""#);
    forbid(r#"resource.path like "secrets.*" || resource.path like "*/secrets.*""#);
    forbid(r#"resource.path like "*.tfstate" || resource.path like "*.tfstate/*""#);
    for i in 0..PRIVATE_DIRS {
        forbid(&format!(r#"resource.path like "data/private{i}/*""#));
    }
    let set = PolicySet::from_str(&src).expect("the Cedar file policies parse");
    assert_eq!(set.policies().count(), 301);
    set
}

/// Cedar, MCP, one policy per list entry: a `permit` per allowed server, a `forbid` per blocked
/// server, a `forbid` for `delete_*` tools. Unknown servers get Cedar's default deny, which is
/// cavra's `block_unknown_servers`.
fn cedar_mcp_policies() -> PolicySet {
    let mut src = String::new();
    for s in allowed_servers() {
        src.push_str(&format!(
            "permit(principal, action == Action::\"mcp_tool_call\", resource == McpServer::\"{s}\");\n"
        ));
    }
    for s in blocked_servers() {
        src.push_str(&format!(
            "forbid(principal, action == Action::\"mcp_tool_call\", resource == McpServer::\"{s}\");\n"
        ));
    }
    src.push_str(
        "forbid(principal, action == Action::\"mcp_tool_call\", resource) when { context.tool like \"delete_*\" };\n",
    );
    let set = PolicySet::from_str(&src).expect("the Cedar MCP policies parse");
    assert_eq!(set.policies().count(), 301);
    set
}

/// Cedar, MCP, the list as entity data: each server is an entity whose parent is
/// `ServerList::"allowed"` or `ServerList::"blocked"`; three policies. This is the other
/// idiomatic Cedar form (the lists live in the entity store, not in policies).
fn cedar_mcp_groups() -> (PolicySet, Entities) {
    let src = r#"
permit(principal, action == Action::"mcp_tool_call", resource in ServerList::"allowed");
forbid(principal, action == Action::"mcp_tool_call", resource in ServerList::"blocked");
forbid(principal, action == Action::"mcp_tool_call", resource) when { context.tool like "delete_*" };
"#;
    let set = PolicySet::from_str(src).expect("the Cedar MCP group policies parse");
    let list = |name: &str| uid("ServerList", name);
    let mut entities = vec![
        Entity::new_no_attrs(list("allowed"), HashSet::new()),
        Entity::new_no_attrs(list("blocked"), HashSet::new()),
    ];
    for s in allowed_servers() {
        entities.push(Entity::new_no_attrs(
            uid("McpServer", &s),
            HashSet::from([list("allowed")]),
        ));
    }
    for s in blocked_servers() {
        entities.push(Entity::new_no_attrs(
            uid("McpServer", &s),
            HashSet::from([list("blocked")]),
        ));
    }
    let entities = Entities::from_entities(entities, None).expect("the server entities are valid");
    (set, entities)
}

fn uid(ty: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(EntityTypeName::from_str(ty).unwrap(), EntityId::new(id))
}

/// Rego, files. The idiomatic form for a list of patterns is one rule iterating over a list in
/// `data` (`some g in data.block_read`), not 300 copies of the same rule body: it is the same
/// work, and the data can change without touching the policy.
///
/// `glob.match(g, ["/"], path)` has gitignore-like semantics close to cavra's (regorus uses the
/// same `globset` crate with `*` not crossing `/`), so `data.block_read` holds exactly the globs
/// cavra compiles its 300 patterns into: a pattern without `/` becomes `**/p` and `**/p/**`
/// (any depth, and inside such a folder); `data/privateN/**` stays as written. 304 globs.
const REGO_FILES: &str = r#"
package cavra.files

import rego.v1

default decision := "allow"

decision := "block" if blocked

blocked if {
	input.action == "read_file"
	some g in data.block_read
	glob.match(g, ["/"], input.path)
}
"#;

fn rego_file_globs() -> Vec<String> {
    let mut out = Vec::new();
    for p in path_patterns() {
        if p.contains('/') {
            out.push(p.clone());
            if !p.ends_with("/**") {
                out.push(format!("{p}/**"));
            }
        } else {
            out.push(format!("**/{p}"));
            out.push(format!("**/{p}/**"));
        }
    }
    out
}

/// Rego, MCP. The idiomatic form for name lists is an object keyed by name in `data` (a lookup,
/// not a scan); `delete_*` is a glob over the tool name.
const REGO_MCP: &str = r#"
package cavra.mcp

import rego.v1

default decision := "block"

decision := "allow" if {
	input.action == "mcp_tool_call"
	data.allowed_servers[input.server]
	not denied
}

denied if data.blocked_servers[input.server]

denied if glob.match("delete_*", [], input.tool)
"#;

fn rego_engine(policy: &str, data: serde_json::Value) -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("policy.rego".into(), policy.into())
        .expect("the Rego policy parses");
    engine
        .add_data(Value::from_json_str(&data.to_string()).unwrap())
        .expect("the Rego data loads");
    engine
}

fn rego_files_engine() -> regorus::Engine {
    rego_engine(
        REGO_FILES,
        serde_json::json!({ "block_read": rego_file_globs() }),
    )
}

fn rego_mcp_engine() -> regorus::Engine {
    let names = |v: Vec<String>| {
        serde_json::Value::Object(v.into_iter().map(|s| (s, true.into())).collect())
    };
    rego_engine(
        REGO_MCP,
        serde_json::json!({
            "allowed_servers": names(allowed_servers()),
            "blocked_servers": names(blocked_servers()),
        }),
    )
}

// ------------------------------------------------------------------------------------------
// Building each engine's request from plain strings.
// ------------------------------------------------------------------------------------------

fn cavra_file_request(path: &str) -> Request {
    let mut r = Request::new(ActionType::ReadFile, path);
    r.repo_root = Some(REPO_ROOT.to_string());
    r
}

fn cavra_mcp_request(server: &str, tool: &str) -> Request {
    let mut r = Request::new(ActionType::McpToolCall, "");
    r.server = Some(server.to_string());
    r.tool = Some(tool.to_string());
    r.repo_root = Some(REPO_ROOT.to_string());
    r
}

/// Cedar names that do not depend on the request, parsed once.
struct CedarNames {
    agent: EntityUid,
    read_file: EntityUid,
    mcp_tool_call: EntityUid,
    file: EntityTypeName,
    server: EntityTypeName,
}

impl CedarNames {
    fn new() -> Self {
        CedarNames {
            agent: uid("Agent", "claude-code"),
            read_file: EntityUid::from_str(r#"Action::"read_file""#).unwrap(),
            mcp_tool_call: EntityUid::from_str(r#"Action::"mcp_tool_call""#).unwrap(),
            file: EntityTypeName::from_str("File").unwrap(),
            server: EntityTypeName::from_str("McpServer").unwrap(),
        }
    }

    /// The file is the resource, with its path as an attribute; it comes with the request.
    fn file_request(&self, path: &str) -> (cedar_policy::Request, Entities) {
        let resource = EntityUid::from_type_name_and_id(self.file.clone(), EntityId::new(path));
        let attrs = HashMap::from([(
            "path".to_string(),
            RestrictedExpression::new_string(path.to_string()),
        )]);
        let entity = Entity::new(resource.clone(), attrs, HashSet::new()).unwrap();
        let entities = Entities::from_entities([entity], None).unwrap();
        let request = cedar_policy::Request::new(
            self.agent.clone(),
            self.read_file.clone(),
            resource,
            Context::empty(),
            None,
        )
        .unwrap();
        (request, entities)
    }

    fn mcp_request(&self, server: &str, tool: &str) -> cedar_policy::Request {
        let resource = EntityUid::from_type_name_and_id(self.server.clone(), EntityId::new(server));
        let context = Context::from_pairs([(
            "tool".to_string(),
            RestrictedExpression::new_string(tool.to_string()),
        )])
        .unwrap();
        cedar_policy::Request::new(
            self.agent.clone(),
            self.mcp_tool_call.clone(),
            resource,
            context,
            None,
        )
        .unwrap()
    }
}

fn rego_object(pairs: &[(&str, &str)]) -> Value {
    let mut v = Value::new_object();
    let obj = v.as_object_mut().unwrap();
    for (k, val) in pairs {
        obj.insert(Value::from(*k), Value::from(*val));
    }
    v
}

fn rego_file_input(path: &str) -> Value {
    rego_object(&[("action", "read_file"), ("path", path)])
}

fn rego_mcp_input(server: &str, tool: &str) -> Value {
    rego_object(&[
        ("action", "mcp_tool_call"),
        ("server", server),
        ("tool", tool),
    ])
}

fn rego_decide(engine: &mut regorus::Engine, rule: &str, input: Value) -> bool {
    engine.set_input(input);
    let v = engine.eval_rule(rule.to_string()).expect("the Rego rule evaluates");
    v == Value::from("allow")
}

fn cedar_allows(
    authorizer: &Authorizer,
    request: &cedar_policy::Request,
    policies: &PolicySet,
    entities: &Entities,
) -> bool {
    let response = authorizer.is_authorized(request, policies, entities);
    assert!(response.diagnostics().errors().next().is_none());
    response.decision() == cedar_policy::Decision::Allow
}

// ------------------------------------------------------------------------------------------

fn bench(c: &mut Criterion) {
    // regorus keeps compiled globs in an LRU cache of 128 by default; a scan over 304 globs would
    // evict every entry before it is reused and recompile each glob on every call. Size it for
    // the pack, as a deployment with this policy would.
    regorus::cache::configure(regorus::cache::Config {
        regex: 256,
        glob: 1024,
    });

    let env = Env {
        timestamp: "2026-01-01T00:00:00Z",
        decision_id: "bench",
        resolver: &NoSymlinks,
    };
    let authorizer = Authorizer::new();
    let names = CedarNames::new();

    let cavra_files = cavra_files_pack();
    let cedar_files = cedar_files_policies();
    let mut rego_files = rego_files_engine();
    let cavra_mcp = cavra_mcp_pack();
    let cedar_mcp = cedar_mcp_policies();
    let (cedar_groups, cedar_group_entities) = cedar_mcp_groups();
    let mut rego_mcp = rego_mcp_engine();
    const REGO_FILES_RULE: &str = "data.cavra.files.decision";
    const REGO_MCP_RULE: &str = "data.cavra.mcp.decision";
    let empty = Entities::empty();

    // --- Equivalence: every engine gives the expected answer on every input. ---------------
    for (name, path, blocked) in FILE_CASES {
        let expected = if blocked {
            Decision::Block
        } else {
            Decision::Allow
        };
        let record = evaluate(&cavra_files, &cavra_file_request(path), &env);
        assert_eq!(record.decision, expected, "cavra, files/{name}: {record:?}");
        // The absolute spelling agrees too.
        let abs = format!("{REPO_ROOT}/{path}");
        assert_eq!(
            evaluate(&cavra_files, &cavra_file_request(&abs), &env).decision,
            expected
        );
        let (req, ents) = names.file_request(path);
        assert_eq!(
            cedar_allows(&authorizer, &req, &cedar_files, &ents),
            !blocked,
            "cedar, files/{name}"
        );
        assert_eq!(
            rego_decide(&mut rego_files, REGO_FILES_RULE, rego_file_input(path)),
            !blocked,
            "rego, files/{name}"
        );
    }
    // The pattern kinds other than `data/privateN/**` agree as well.
    for (path, blocked) in [
        (".env", true),
        ("config/app/.env", true),
        (".env/local", true),
        ("config/.envrc", false),
        ("certs/tls/server.pem", true),
        ("server.pem.bak", false),
        ("secrets.yaml", true),
        ("deploy/secrets.prod.json", true),
        ("deploy/mysecrets.json", false),
        ("infra/state/prod.tfstate", true),
        ("data/private2951/x", false),
        ("data/private29/x", true),
        ("data/private29", false),
        ("x/data/private29/y", false),
    ] {
        let cavra = evaluate(&cavra_files, &cavra_file_request(path), &env).decision;
        let (req, ents) = names.file_request(path);
        let cedar = !cedar_allows(&authorizer, &req, &cedar_files, &ents);
        let rego = !rego_decide(&mut rego_files, REGO_FILES_RULE, rego_file_input(path));
        assert_eq!(
            (cavra == Decision::Block, cedar, rego),
            (blocked, blocked, blocked),
            "{path}: cavra {cavra}, cedar blocks {cedar}, rego blocks {rego}"
        );
    }
    for (name, server, tool, allowed) in MCP_CASES.into_iter().chain([
        ("delete_tool", "mcp-server-3", "delete_repo", false),
        ("first_server", "mcp-server-0", "list", true),
    ]) {
        let record = evaluate(&cavra_mcp, &cavra_mcp_request(server, tool), &env);
        let expected = if allowed {
            Decision::Allow
        } else {
            Decision::Block
        };
        assert_eq!(record.decision, expected, "cavra, mcp/{name}: {record:?}");
        let req = names.mcp_request(server, tool);
        assert_eq!(
            cedar_allows(&authorizer, &req, &cedar_mcp, &empty),
            allowed,
            "cedar, mcp/{name}"
        );
        assert_eq!(
            cedar_allows(&authorizer, &req, &cedar_groups, &cedar_group_entities),
            allowed,
            "cedar groups, mcp/{name}"
        );
        assert_eq!(
            rego_decide(&mut rego_mcp, REGO_MCP_RULE, rego_mcp_input(server, tool)),
            allowed,
            "rego, mcp/{name}"
        );
    }

    // --- decide only --------------------------------------------------------------------------
    let mut group = c.benchmark_group("decide_files");
    for (name, path, _) in FILE_CASES {
        let request = cavra_file_request(path);
        group.bench_function(BenchmarkId::new("cavra", name), |b| {
            b.iter(|| evaluate(black_box(&cavra_files), black_box(&request), &env))
        });
        let (req, ents) = names.file_request(path);
        group.bench_function(BenchmarkId::new("cedar", name), |b| {
            b.iter(|| authorizer.is_authorized(black_box(&req), &cedar_files, black_box(&ents)))
        });
        let input = rego_file_input(path);
        group.bench_function(BenchmarkId::new("rego", name), |b| {
            b.iter(|| {
                rego_files.set_input(black_box(input.clone()));
                rego_files.eval_rule(REGO_FILES_RULE.to_string()).unwrap()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("decide_mcp");
    for (name, server, tool, _) in MCP_CASES {
        let request = cavra_mcp_request(server, tool);
        group.bench_function(BenchmarkId::new("cavra", name), |b| {
            b.iter(|| evaluate(black_box(&cavra_mcp), black_box(&request), &env))
        });
        let req = names.mcp_request(server, tool);
        group.bench_function(BenchmarkId::new("cedar", name), |b| {
            b.iter(|| authorizer.is_authorized(black_box(&req), &cedar_mcp, &empty))
        });
        group.bench_function(BenchmarkId::new("cedar_groups", name), |b| {
            b.iter(|| {
                authorizer.is_authorized(black_box(&req), &cedar_groups, &cedar_group_entities)
            })
        });
        let input = rego_mcp_input(server, tool);
        group.bench_function(BenchmarkId::new("rego", name), |b| {
            b.iter(|| {
                rego_mcp.set_input(black_box(input.clone()));
                rego_mcp.eval_rule(REGO_MCP_RULE.to_string()).unwrap()
            })
        });
    }
    group.finish();

    // --- build the request from strings, then decide -----------------------------------------
    let mut group = c.benchmark_group("build_and_decide_files");
    for (name, path, _) in FILE_CASES {
        group.bench_function(BenchmarkId::new("cavra", name), |b| {
            b.iter(|| {
                let request = cavra_file_request(black_box(path));
                evaluate(&cavra_files, &request, &env)
            })
        });
        group.bench_function(BenchmarkId::new("cedar", name), |b| {
            b.iter(|| {
                let (req, ents) = names.file_request(black_box(path));
                authorizer.is_authorized(&req, &cedar_files, &ents)
            })
        });
        group.bench_function(BenchmarkId::new("rego", name), |b| {
            b.iter(|| {
                rego_files.set_input(rego_file_input(black_box(path)));
                rego_files.eval_rule(REGO_FILES_RULE.to_string()).unwrap()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("build_and_decide_mcp");
    for (name, server, tool, _) in MCP_CASES {
        group.bench_function(BenchmarkId::new("cavra", name), |b| {
            b.iter(|| {
                let request = cavra_mcp_request(black_box(server), black_box(tool));
                evaluate(&cavra_mcp, &request, &env)
            })
        });
        group.bench_function(BenchmarkId::new("cedar", name), |b| {
            b.iter(|| {
                let req = names.mcp_request(black_box(server), black_box(tool));
                authorizer.is_authorized(&req, &cedar_mcp, &empty)
            })
        });
        group.bench_function(BenchmarkId::new("cedar_groups", name), |b| {
            b.iter(|| {
                let req = names.mcp_request(black_box(server), black_box(tool));
                authorizer.is_authorized(&req, &cedar_groups, &cedar_group_entities)
            })
        });
        group.bench_function(BenchmarkId::new("rego", name), |b| {
            b.iter(|| {
                rego_mcp.set_input(rego_mcp_input(black_box(server), black_box(tool)));
                rego_mcp.eval_rule(REGO_MCP_RULE.to_string()).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
