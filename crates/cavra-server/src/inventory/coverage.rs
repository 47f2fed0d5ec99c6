//! Coverage findings: which inventory items report cavra decisions, read from the tenant's
//! evidence log (its `decision` entries) against the current inventory version.
//!
//! - An **endpoint** reports when a decision was asked by it: the decision's `requested_by`
//!   (the token's subject) or its record's `actor` is the endpoint's name or id.
//! - A **repository** reports when a decision's record names it (`repository`), compared
//!   without scheme, host, `.git` and case, so `https://github.com/acme/app.git`,
//!   `github.com/acme/app` and `acme/app` are one repository.
//! - An **agent** reports when a decision came from an agent of its name (the decision's
//!   `agent`) and, for an agent on a known endpoint, was asked by that endpoint. An agent that
//!   does not report, or whose source says its hooks are not installed, runs without hooks.
//! - An **MCP server** configured somewhere but not in the tenant's MCP registry is
//!   unregistered.
//! - An item whose source last saw it more than `stale_after_days` ago is **stale**: marked,
//!   and left out of the shares (it is probably gone).

use std::collections::HashSet;

use cavra_tenant_store::{
    Configuration, Db, EntryQuery, Evidence, Inventory, InventoryItem, InventoryKind,
    InventoryVersion, RegistryKind, Result,
};
use serde::Serialize;
use utoipa::ToSchema;

/// Log entries read at a time.
const PAGE: usize = 2048;
/// Inventory items read at a time.
const ITEMS: usize = 1000;

/// Items of one kind and how many of them report decisions (stale items left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Share {
    /// Items not stale.
    pub total: u64,
    /// Of which report decisions (MCP servers: are registered).
    pub covered: u64,
}

impl Share {
    fn add(&mut self, covered: bool) {
        self.total += 1;
        self.covered += u64::from(covered);
    }
}

/// What a finding says about an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// An endpoint or repository from which no decision reached cavra.
    NotReporting,
    /// An agent with no decision reaching cavra, or whose hooks the source says are absent.
    AgentWithoutHooks,
    /// An MCP server configured but not in the MCP registry.
    McpServerUnregistered,
    /// Not seen by its source for longer than the stale period.
    Stale,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Finding {
    /// What it says.
    pub finding: FindingKind,
    /// The item's id.
    pub id: String,
    /// The item's kind.
    pub kind: InventoryKind,
    /// The item's name.
    pub name: String,
    /// The endpoint it is on, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Why, in words.
    pub detail: String,
}

/// The coverage of a tenant's current inventory.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Coverage {
    /// The tenant.
    pub tenant: String,
    /// The inventory version judged.
    pub inventory: InventoryVersion,
    /// When it was computed.
    pub at: String,
    /// Items unseen for longer than this many days are stale.
    pub stale_after_days: u32,
    /// Endpoints reporting decisions.
    pub endpoints: Share,
    /// Repositories reporting decisions.
    pub repositories: Share,
    /// Agents reporting decisions (the hook coverage).
    pub agents: Share,
    /// MCP servers registered.
    pub mcp_servers: Share,
    /// Stale items.
    pub stale: u64,
    /// Findings, by kind then id, at most the list limit.
    pub findings: Vec<Finding>,
    /// Findings in all (more than listed when the list was cut).
    pub findings_total: u64,
    /// Names of agents never seen deciding (at most 20, sorted), for the posture.
    pub unseen_agents: Vec<String>,
}

/// What the log says reported decisions.
#[derive(Debug, Default)]
pub struct Observed {
    requesters: HashSet<String>,
    agents: HashSet<String>,
    agent_requesters: HashSet<(String, String)>,
    repositories: HashSet<String>,
}

impl Observed {
    /// Reads one evidence entry (anything but a decision is skipped).
    pub fn push(&mut self, entry: &serde_json::Value) {
        if entry.get("kind").and_then(|k| k.as_str()) != Some("decision") {
            return;
        }
        let body = &entry["body"];
        let text = |v: &serde_json::Value| v.as_str().map(|s| s.trim().to_ascii_lowercase());
        let mut who: Vec<String> = Vec::new();
        who.extend(text(&body["requested_by"]));
        who.extend(text(&body["record"]["actor"]));
        if let Some(agent) = text(&body["agent"]) {
            for w in &who {
                if !self.agent_requesters.contains(&(agent.clone(), w.clone())) {
                    self.agent_requesters.insert((agent.clone(), w.clone()));
                }
            }
            self.agents.insert(agent);
        }
        if let Some(repo) = body["record"]["repository"].as_str() {
            self.repositories.insert(repository_key(repo));
        }
        self.requesters.extend(who);
    }

    fn endpoint(&self, item: &InventoryItem) -> bool {
        [&item.name, &item.id]
            .iter()
            .any(|n| self.requesters.contains(&n.to_ascii_lowercase()))
    }

    fn agent(&self, item: &InventoryItem) -> bool {
        let name = item.name.to_ascii_lowercase();
        match &item.endpoint {
            None => self.agents.contains(&name),
            Some(e) => self
                .agent_requesters
                .contains(&(name, e.to_ascii_lowercase())),
        }
    }
}

/// A repository's name without scheme, host, `.git`, trailing slashes and case: the part
/// both `https://github.com/acme/app.git` and `acme/app` end in.
pub fn repository_key(repo: &str) -> String {
    let mut r = repo.trim().to_ascii_lowercase();
    if let Some(i) = r.find("://") {
        r = r[i + 3..].to_string();
    }
    if let Some(rest) = r.strip_prefix("git@") {
        r = rest.replacen(':', "/", 1);
    }
    let r = r.trim_end_matches('/');
    let r = r.strip_suffix(".git").unwrap_or(r);
    // owner/name: the last two segments.
    let parts: Vec<&str> = r.split('/').filter(|p| !p.is_empty()).collect();
    parts[parts.len().saturating_sub(2)..].join("/")
}

/// A period's bound (the stores' text, as `api::query_time` or a packet's period gives it) as
/// the stores' time.
fn bound(t: Option<&str>) -> Result<Option<cavra_tenant_store::Timestamp>> {
    t.map(|t| {
        cavra_tenant_store::Timestamp::parse(t)
            .map_err(|e| cavra_tenant_store::StoreError::Time(format!("coverage period: {e}")))
    })
    .transpose()
}

/// Reads the decisions of `tenant`'s log (between `since` and `until`, when given).
pub async fn observe(
    db: &Db,
    tenant: &str,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Observed> {
    let mut seen = Observed::default();
    let mut after = None;
    loop {
        let page = db
            .entries(
                tenant,
                &EntryQuery {
                    kind: Some("decision".into()),
                    since: bound(since)?,
                    until: bound(until)?,
                    after_index: after,
                    limit: PAGE,
                    ..EntryQuery::default()
                },
            )
            .await?;
        for e in &page {
            seen.push(&e.entry);
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = Some(last.index),
            _ => break,
        }
    }
    Ok(seen)
}

/// How coverage is judged.
#[derive(Debug, Clone, Copy)]
pub struct Judging<'a> {
    /// Now, in the store's format.
    pub now: time::OffsetDateTime,
    /// Days after which an unseen item is stale.
    pub stale_after_days: u32,
    /// Findings listed at most.
    pub list_max: usize,
    /// Decisions at or after this time only.
    pub since: Option<&'a str>,
    /// Decisions before this time only.
    pub until: Option<&'a str>,
}

/// The coverage of `tenant`'s current inventory; None when it has none.
pub async fn coverage(db: &Db, tenant: &str, j: Judging<'_>) -> Result<Option<Coverage>> {
    let Some(version) = db.inventory_version(tenant, None).await? else {
        return Ok(None);
    };
    let seen = observe(db, tenant, j.since, j.until).await?;
    let registered: HashSet<String> = db
        .registry(tenant, RegistryKind::McpServer)
        .await?
        .into_iter()
        .map(|r| r.name.to_ascii_lowercase())
        .collect();
    let stale_before =
        crate::format_time(j.now - time::Duration::days(i64::from(j.stale_after_days)));
    let mut out = Coverage {
        tenant: tenant.to_string(),
        inventory: version.clone(),
        at: crate::format_time(j.now),
        stale_after_days: j.stale_after_days,
        endpoints: Share::default(),
        repositories: Share::default(),
        agents: Share::default(),
        mcp_servers: Share::default(),
        stale: 0,
        findings: Vec::new(),
        findings_total: 0,
        unseen_agents: Vec::new(),
    };
    let mut unseen = std::collections::BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = db
            .inventory_items(tenant, version.version, after.as_deref(), ITEMS)
            .await?;
        for item in &page {
            let mut finding = |f: FindingKind, detail: String| {
                out.findings_total += 1;
                if out.findings.len() < j.list_max {
                    out.findings.push(Finding {
                        finding: f,
                        id: item.id.clone(),
                        kind: item.kind,
                        name: item.name.clone(),
                        endpoint: item.endpoint.clone(),
                        detail,
                    });
                }
            };
            if let Some(last) = item
                .last_seen
                .as_deref()
                .filter(|l| *l < stale_before.as_str())
            {
                out.stale += 1;
                finding(
                    FindingKind::Stale,
                    format!(
                        "last seen {last}, more than {} days ago",
                        j.stale_after_days
                    ),
                );
                continue;
            }
            match item.kind {
                InventoryKind::Endpoint | InventoryKind::CiRunner => {
                    let ok = seen.endpoint(item);
                    if item.kind == InventoryKind::Endpoint {
                        out.endpoints.add(ok);
                    }
                    if !ok {
                        finding(
                            FindingKind::NotReporting,
                            "no decision was asked by it (requested_by or actor)".into(),
                        );
                    }
                }
                InventoryKind::Repository => {
                    let ok = seen.repositories.contains(&repository_key(&item.name))
                        || item
                            .repository
                            .as_deref()
                            .is_some_and(|r| seen.repositories.contains(&repository_key(r)));
                    out.repositories.add(ok);
                    if !ok {
                        finding(
                            FindingKind::NotReporting,
                            "no decision names this repository".into(),
                        );
                    }
                }
                InventoryKind::Agent => {
                    let deciding = seen.agent(item);
                    let ok = deciding && item.hooks != Some(false);
                    out.agents.add(ok);
                    if !ok {
                        if unseen.len() < 20 {
                            unseen.insert(item.id.clone());
                        }
                        let why = if item.hooks == Some(false) {
                            "its source says cavra's hooks are not installed"
                        } else {
                            "no decision from it reached cavra"
                        };
                        finding(FindingKind::AgentWithoutHooks, why.into());
                    }
                }
                InventoryKind::McpServer => {
                    let ok = registered.contains(&item.name.to_ascii_lowercase());
                    out.mcp_servers.add(ok);
                    if !ok {
                        finding(
                            FindingKind::McpServerUnregistered,
                            "configured, but not in the MCP registry".into(),
                        );
                    }
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == ITEMS => after = Some(last.id.clone()),
            _ => break,
        }
    }
    out.findings
        .sort_by(|a, b| (a.finding, &a.id).cmp(&(b.finding, &b.id)));
    out.unseen_agents = unseen.into_iter().collect();
    Ok(Some(out))
}

/// The hook coverage the posture and readiness gate use when the tenant has an inventory:
/// its agents (not stale) against those reporting decisions.
pub fn hook_coverage(c: &Coverage, unregistered: u64) -> cavra_aispm::HookCoverage {
    cavra_aispm::HookCoverage {
        inventory: c.agents.total,
        seen: c.agents.covered,
        unseen: c.unseen_agents.clone(),
        unregistered,
        inventory_version: Some(c.inventory.version),
    }
}
