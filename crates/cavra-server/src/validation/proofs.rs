//! The probe objects and the five proofs, each run from one tenant (`x`) against its peer
//! (`y`) with nothing but the API: what `x` asks for of `y`'s must answer exactly as an id that
//! does not exist does, and what `y` sees must hold nothing of `x`'s.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::report::{Cleanup, ProbeObject, ProofResult};
use super::{Client, Credentials, ValidationError};

/// An id no tenant holds, for the answers a real id of the peer's must equal.
const GHOST_DECISION: &str = "0190f000-0000-7000-8000-000000000000";
/// A pack digest no tenant holds.
const GHOST_PACK: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// One probe tenant: who its credentials say it is.
pub struct Side<'a> {
    /// Its id (from `/v1/whoami`).
    pub tenant: String,
    /// Its credentials.
    pub creds: &'a Credentials,
    label: &'static str,
}

impl<'a> Side<'a> {
    /// Asks the service who `creds` are.
    pub async fn open(
        http: &Client,
        creds: &'a Credentials,
        label: &'static str,
    ) -> Result<Side<'a>, ValidationError> {
        let me = http
            .ok(&creds.admin, "GET", "/v1/whoami", None)
            .await
            .map_err(|e| ValidationError::Service(format!("probe tenant {label}: {e}")))?;
        let tenant = me
            .get("tenant")
            .and_then(Value::as_str)
            .ok_or_else(|| ValidationError::Service("whoami names no tenant".into()))?
            .to_string();
        Ok(Side {
            tenant,
            creds,
            label,
        })
    }
}

/// What a run planted in one tenant.
#[derive(Default)]
pub struct Planted {
    session: String,
    decision: Option<String>,
    approval: Option<String>,
    pack: Option<String>,
    connectors: Vec<String>,
    events: Vec<String>,
    problems: Vec<String>,
}

fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_string)
}

/// Creates the probe objects in `side`, listing each in `objects`.
pub async fn plant(
    http: &Client,
    side: &Side<'_>,
    run_id: &str,
    signer: Option<&super::Signer>,
    objects: &mut Vec<ProbeObject>,
) -> Planted {
    let mut p = Planted {
        session: format!("{run_id}-{}", side.label),
        ..Planted::default()
    };
    let mut object = |kind: &str, id: &str| {
        objects.push(ProbeObject {
            kind: kind.into(),
            id: id.into(),
            cleanup: Cleanup::MarkedProbe,
        })
    };
    for (action, target) in [
        ("read_file", "cavra-probe.txt"),
        ("execute_command", "make deploy-prod"),
    ] {
        let body = json!({"request": {"action": action, "target": target,
            "session_id": p.session, "agent_id": "cavra-probe", "repository": run_id}});
        match http
            .ok(&side.creds.agent, "POST", "/v1/decisions", Some(&body))
            .await
        {
            Ok(d) => {
                if let Some(id) = str_at(&d, &["record", "decision_id"]) {
                    object("decision", &id);
                    p.decision.get_or_insert(id);
                }
                if let Some(id) = str_at(&d, &["approval", "id"]) {
                    object("approval", &id);
                    p.approval = Some(id);
                }
            }
            Err(e) => p.problems.push(format!("a probe decision: {e}")),
        }
    }
    let pack = format!(
        "metadata:\n  id: {run_id}-{}\n  title: cavra probe\n  description: probe data of a tenant isolation validation (cavra validate tenants)\n  version: '1'\n  inherits: [cavra-baseline]\n  mode: audit_only\n",
        side.label
    );
    match http
        .ok(
            &side.creds.admin,
            "POST",
            "/v1/policies",
            Some(&upload(&pack, signer)),
        )
        .await
    {
        Ok(v) => {
            if let Some(d) = str_at(&v, &["digest"]) {
                object("pack", &d);
                p.pack = Some(d);
            }
        }
        Err(e) => p.problems.push(format!("a probe pack: {e}")),
    }
    if let Ok(list) = http
        .ok(&side.creds.admin, "GET", "/v1/connectors", None)
        .await
    {
        for c in list.as_array().into_iter().flatten() {
            let Some(name) = str_at(c, &["name"]) else {
                continue;
            };
            let path = format!("/v1/connectors/{name}/test");
            if let Ok(sent) = http.ok(&side.creds.admin, "POST", &path, None).await
                && let Some(id) = str_at(&sent, &["event_id"])
            {
                object("connector_event", &id);
                p.events.push(id);
            }
            p.connectors.push(name);
        }
    }
    p
}

/// The probe pack's upload body: signed with the report key when there is one (a service
/// that requires signed packs accepts only those).
fn upload(pack: &str, signer: Option<&super::Signer>) -> Value {
    let signature = signer.and_then(|s| {
        let (id, digest) = crate::packs::document_digest(pack, "<probe>").ok()?;
        cavra_evidence::pack_signature::sign(&id, &digest, &s.key, &s.key_id, &crate::now_text())
            .ok()
    });
    match signature {
        Some(sig) => json!({ "document": pack, "signature": sig }),
        None => json!({ "document": pack }),
    }
}

async fn deliveries_of(http: &Client, token: &str, event: &str) -> Option<Vec<Value>> {
    let path = format!("/v1/connectors/deliveries?event_id={event}");
    http.ok(token, "GET", &path, None)
        .await
        .ok()
        .and_then(|v| v.as_array().cloned())
}

/// Waits (at most `wait`) until every probe event's deliveries are delivered or dead.
pub async fn settle(http: &Client, side: &Side<'_>, p: &Planted, wait: Duration) {
    let start = Instant::now();
    for event in &p.events {
        while start.elapsed() < wait {
            let pending = match deliveries_of(http, &side.creds.admin, event).await {
                Some(d) => d.is_empty() || d.iter().any(|d| d["state"] == "pending"),
                None => false,
            };
            if !pending {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Expires the approval requests the run made; the rest stays, named as probe data.
pub async fn clean(http: &Client, side: &Side<'_>, objects: &mut [ProbeObject]) {
    for o in objects.iter_mut().filter(|o| o.kind == "approval") {
        let path = format!("/v1/approvals/{}/expire", o.id);
        let body = json!({"reason": "probe data of a tenant isolation validation"});
        o.cleanup = match http
            .call(&side.creds.admin, "POST", &path, Some(&body))
            .await
        {
            Ok((s, _)) if (200..300).contains(&s) || s == 409 => Cleanup::Closed,
            _ => Cleanup::Failed,
        };
    }
}

struct Check {
    failed: Vec<String>,
    checked: Vec<String>,
}

impl Check {
    fn new() -> Self {
        Check {
            failed: Vec::new(),
            checked: Vec::new(),
        }
    }
    fn that(&mut self, holds: bool, what: String) {
        if holds {
            self.checked.push(what);
        } else {
            self.failed.push(what);
        }
    }
    fn result(self, id: u8, name: &str) -> ProofResult {
        let passed = self.failed.is_empty() && !self.checked.is_empty();
        let detail = if !self.failed.is_empty() {
            format!("failed: {}", self.failed.join("; "))
        } else if self.checked.is_empty() {
            "nothing could be checked".into()
        } else {
            self.checked.join("; ")
        };
        ProofResult {
            id,
            name: name.into(),
            passed,
            detail,
        }
    }
}

async fn status(
    http: &Client,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    http.call(token, method, path, body)
        .await
        .unwrap_or_else(|e| (0, Value::String(e.to_string())))
}

/// The five proofs for tenant `x` against `y`.
pub async fn all(
    http: &Client,
    x: (&Side<'_>, &Planted),
    y: (&Side<'_>, &Planted),
) -> Vec<ProofResult> {
    let bundle_dir = tempfile::tempdir();
    let bundle = match &bundle_dir {
        Ok(d) => http
            .bundle(&x.0.creds.auditor, "", d.path())
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    vec![
        evidence(http, x, y, &bundle).await,
        packs(http, x, y).await,
        delivery(http, x, y).await,
        blockers(http, x, y).await,
        posture(http, x).await,
    ]
}

/// (1) x cannot read y's evidence.
async fn evidence(
    http: &Client,
    (x, px): (&Side<'_>, &Planted),
    (y, py): (&Side<'_>, &Planted),
    bundle: &Result<std::path::PathBuf, String>,
) -> ProofResult {
    let mut c = Check::new();
    for problem in px.problems.iter().chain(&py.problems) {
        c.that(false, problem.clone());
    }
    let t = &x.creds.auditor;
    if let Some(d) = &py.decision {
        let real = status(http, t, "GET", &format!("/v1/decisions/{d}"), None).await;
        let ghost = status(
            http,
            t,
            "GET",
            &format!("/v1/decisions/{GHOST_DECISION}"),
            None,
        )
        .await;
        c.that(
            real.0 == 404 && real.0 == ghost.0,
            format!(
                "{}'s decision answers {} to {} (a missing id: {})",
                y.tenant, real.0, x.tenant, ghost.0
            ),
        );
    }
    let real = status(
        http,
        t,
        "GET",
        &format!("/v1/sessions/{}", py.session),
        None,
    )
    .await;
    c.that(
        real.0 == 404,
        format!("{}'s session answers {}", y.tenant, real.0),
    );
    if let Some(a) = &py.approval {
        let real = status(http, t, "GET", &format!("/v1/approvals/{a}"), None).await;
        c.that(
            real.0 == 404,
            format!("{}'s approval request answers {}", y.tenant, real.0),
        );
    }
    let theirs = status(
        http,
        t,
        "GET",
        &format!("/v1/evidence/entries?session_id={}", py.session),
        None,
    )
    .await;
    c.that(
        theirs.0 == 200 && theirs.1.as_array().is_some_and(Vec::is_empty),
        format!(
            "{}'s entries searched by its session: {} with {} entries",
            y.tenant,
            theirs.0,
            theirs.1.as_array().map_or(0, Vec::len)
        ),
    );
    let own = status(
        http,
        t,
        "GET",
        &format!("/v1/evidence/entries?session_id={}", px.session),
        None,
    )
    .await;
    c.that(
        own.1.as_array().is_some_and(|a| !a.is_empty()),
        format!(
            "{}'s own probe entries are found ({})",
            x.tenant,
            own.1.as_array().map_or(0, Vec::len)
        ),
    );
    match bundle {
        Ok(dir) => {
            let text = std::fs::read_to_string(dir.join("entries.jsonl")).unwrap_or_default();
            let leaks = text.contains(&py.session)
                || py
                    .decision
                    .as_ref()
                    .is_some_and(|d| text.contains(d.as_str()));
            c.that(
                !leaks && text.contains(&px.session),
                format!(
                    "{}'s evidence bundle holds its own probe and nothing of {}'s",
                    x.tenant, y.tenant
                ),
            );
        }
        Err(e) => c.that(false, format!("{}'s evidence bundle: {e}", x.tenant)),
    }
    c.result(1, "evidence")
}

/// (2) x cannot use y's policy packs.
async fn packs(
    http: &Client,
    (x, _): (&Side<'_>, &Planted),
    (y, py): (&Side<'_>, &Planted),
) -> ProofResult {
    let mut c = Check::new();
    let digest = match &py.pack {
        Some(d) => Some(d.clone()),
        None => http
            .ok(&y.creds.admin, "GET", "/v1/policies", None)
            .await
            .ok()
            .and_then(|l| l.as_array().and_then(|a| a.first().cloned()))
            .and_then(|p| str_at(&p, &["digest"])),
    };
    let Some(d) = digest else {
        c.that(
            false,
            format!(
                "{} holds no pack to prove with, and uploading one was refused",
                y.tenant
            ),
        );
        return c.result(2, "policy_packs");
    };
    let real = status(
        http,
        &x.creds.auditor,
        "GET",
        &format!("/v1/policies/{d}"),
        None,
    )
    .await;
    c.that(
        real.0 == 404,
        format!("{}'s pack answers {} to {}", y.tenant, real.0, x.tenant),
    );
    let assign = |pack: &str| json!({"repository": "cavra-probe/none", "pack": pack});
    let real = status(
        http,
        &x.creds.admin,
        "PUT",
        "/v1/policy-assignments",
        Some(&assign(&d)),
    )
    .await;
    let ghost = status(
        http,
        &x.creds.admin,
        "PUT",
        "/v1/policy-assignments",
        Some(&assign(GHOST_PACK)),
    )
    .await;
    c.that(
        (400..500).contains(&real.0) && real.0 == ghost.0,
        format!(
            "assigning {}'s pack answers {} (a missing pack: {})",
            y.tenant, real.0, ghost.0
        ),
    );
    let with = |pack: &str| json!({"request": {"action": "read_file", "target": "cavra-probe.txt", "session_id": "cavra-probe", "agent_id": "cavra-probe"}, "policy": pack});
    let real = status(
        http,
        &x.creds.agent,
        "POST",
        "/v1/decisions",
        Some(&with(&d)),
    )
    .await;
    let ghost = status(
        http,
        &x.creds.agent,
        "POST",
        "/v1/decisions",
        Some(&with(GHOST_PACK)),
    )
    .await;
    c.that(
        (400..500).contains(&real.0)
            && real.0 == ghost.0
            && real.1.get("type") == ghost.1.get("type"),
        format!(
            "deciding with {}'s pack answers {} (a missing pack: {})",
            y.tenant, real.0, ghost.0
        ),
    );
    c.result(2, "policy_packs")
}

/// (3) x's report delivery cannot reach y's recipients.
async fn delivery(
    http: &Client,
    (x, px): (&Side<'_>, &Planted),
    (y, py): (&Side<'_>, &Planted),
) -> ProofResult {
    let mut c = Check::new();
    if px.connectors.is_empty() {
        c.that(
            false,
            format!(
                "{} has no connector (report recipient) configured to prove with",
                x.tenant
            ),
        );
        return c.result(3, "report_delivery");
    }
    for name in py.connectors.iter().filter(|n| !px.connectors.contains(n)) {
        let real = status(
            http,
            &x.creds.admin,
            "POST",
            &format!("/v1/connectors/{name}/test"),
            None,
        )
        .await;
        c.that(
            real.0 == 404,
            format!(
                "a test event to {}'s connector {name} answers {}",
                y.tenant, real.0
            ),
        );
    }
    for event in &px.events {
        let ours = deliveries_of(http, &x.creds.admin, event)
            .await
            .unwrap_or_default();
        c.that(
            !ours.is_empty()
                && ours.iter().all(|d| {
                    d["destination"]
                        .as_str()
                        .is_some_and(|n| px.connectors.iter().any(|c| c == n))
                }),
            format!(
                "event {event} went to {}'s connectors only ({} deliveries)",
                x.tenant,
                ours.len()
            ),
        );
        let theirs = deliveries_of(http, &y.creds.admin, event).await;
        c.that(
            theirs.as_ref().is_some_and(Vec::is_empty),
            format!("event {event} has no delivery in {}", y.tenant),
        );
    }
    c.that(
        !px.events.is_empty(),
        format!("{} test event(s) sent", px.events.len()),
    );
    c.result(3, "report_delivery")
}

/// (4) x's connector failures do not appear as y's blockers.
async fn blockers(
    http: &Client,
    (x, _): (&Side<'_>, &Planted),
    (y, _): (&Side<'_>, &Planted),
) -> ProofResult {
    let mut c = Check::new();
    let dead = |s: &Side<'_>| {
        let t = s.creds.admin.clone();
        async move {
            http.ok(&t, "GET", "/v1/connectors/dead-letters", None)
                .await
                .ok()
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
        }
    };
    let x_dead = dead(x).await;
    if x_dead.is_empty() {
        c.that(false, format!("{} has no failing connector to prove with (configure one to a closed port with retry.max_attempts: 1)", x.tenant));
        return c.result(4, "connector_blockers");
    }
    let y_dead: Vec<String> = dead(y)
        .await
        .iter()
        .filter_map(|d| str_at(d, &["destination"]))
        .collect();
    let x_events: Vec<String> = x_dead
        .iter()
        .filter_map(|d| str_at(d, &["event_id"]))
        .collect();
    let own = http.ok(&x.creds.admin, "GET", "/v1/readiness", None).await;
    let is_dead = |b: &&Value| b["validator"] == crate::readiness::DEAD_LETTERS;
    let own_n = own
        .as_ref()
        .ok()
        .and_then(|r| {
            r["blockers"]
                .as_array()
                .map(|a| a.iter().filter(is_dead).count())
        })
        .unwrap_or(0);
    c.that(
        own_n > 0,
        format!(
            "{}'s own readiness shows its dead letters ({own_n} blocker(s))",
            x.tenant
        ),
    );
    match http.ok(&y.creds.admin, "GET", "/v1/readiness", None).await {
        Ok(r) => {
            let list = r["blockers"].as_array().cloned().unwrap_or_default();
            let foreign: Vec<String> = list
                .iter()
                .filter(|b| {
                    let text = b.to_string();
                    b["tenant"].as_str() == Some(x.tenant.as_str())
                        || x_events.iter().any(|e| text.contains(e.as_str()))
                        || (is_dead(b)
                            && !y_dead.iter().any(|n| {
                                b["problem"]
                                    .as_str()
                                    .is_some_and(|p| p.contains(&format!("connector {n}:")))
                            }))
                })
                .map(|b| b["problem"].as_str().unwrap_or_default().to_string())
                .collect();
            c.that(
                foreign.is_empty(),
                format!(
                    "{}'s readiness holds no blocker of {}'s ({} blocker(s) checked{})",
                    y.tenant,
                    x.tenant,
                    list.len(),
                    if foreign.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", foreign.join(", "))
                    }
                ),
            );
        }
        Err(e) => c.that(false, format!("{}'s readiness: {e}", y.tenant)),
    }
    c.result(4, "connector_blockers")
}

/// (5) x's posture is computed from x's evidence: the service's figure over the entries a
/// bundle of x's log holds (`?tree_size=` of the bundle's checkpoint) equals the one
/// recomputed offline from that bundle, however the log grows meanwhile (a failing
/// connector's retries keep appending deliveries while the proofs run).
async fn posture(http: &Client, (x, _): (&Side<'_>, &Planted)) -> ProofResult {
    let mut c = Check::new();
    let t = &x.creds.auditor;
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            c.that(false, e.to_string());
            return c.result(5, "posture");
        }
    };
    let offline = http
        .bundle(t, "", dir.path())
        .await
        .map_err(|e| e.to_string())
        .and_then(|d| {
            let size = bundle_tree_size(&d)?;
            let posture = cavra_aispm::posture_from_bundle(&d).map_err(|e| e.to_string())?;
            Ok((size, posture))
        });
    match offline {
        Ok((size, off)) => match http
            .ok(t, "GET", &format!("/v1/posture?tree_size={size}"), None)
            .await
        {
            Ok(a) => {
                let off = serde_json::to_value(&off).unwrap_or(Value::Null);
                let same = off == a["aispm"] && off["tenant"].as_str() == Some(x.tenant.as_str());
                c.that(same, format!("the service's posture of {} over the {size} entries of its bundle against the one recomputed offline from the bundle: service {} entries, score {}; offline {} entries, score {}", x.tenant, a["aispm"]["covers"]["entries"], a["aispm"]["score"], off["covers"]["entries"], off["score"]));
            }
            Err(e) => c.that(false, format!("posture of {}: {e}", x.tenant)),
        },
        Err(e) => c.that(false, format!("posture of {}: {e}", x.tenant)),
    }
    c.result(5, "posture")
}

/// The number of log entries a bundle's checkpoint signs (its `manifest.json`).
fn bundle_tree_size(dir: &std::path::Path) -> Result<u64, String> {
    let path = dir.join(cavra_bundle::files::MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    manifest["tree_size"]
        .as_u64()
        .ok_or_else(|| format!("{} has no tree_size", path.display()))
}
