//! Registry and packs: the tenant's MCP servers (trust tier, approval, allowed tools, pins)
//! and agents; its policy packs (versions, signatures), which pack is assigned where, one
//! pack's document, and a line diff between two of them.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use cavra_tenant_store::{Configuration, RegistryKind, StoredPack};
use maud::{Markup, html};
use serde::Deserialize;

use crate::layout::{self, Section, badge};
use crate::login::url_encode;
use crate::session::Signed;
use crate::{Console, PREFIX};

/// The `metadata.version` of a pack document, read without parsing the whole pack.
pub fn pack_version(document: &str) -> Option<&str> {
    let mut in_metadata = false;
    for line in document.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_metadata = line.trim_end() == "metadata:";
            continue;
        }
        if in_metadata && let Some(v) = line.trim_start().strip_prefix("version:") {
            return Some(v.trim().trim_matches(['\'', '"']));
        }
    }
    None
}

fn signed_by(p: &StoredPack) -> Markup {
    html! {
        @match &p.signed_by {
            Some(v) => { (badge("ok")) " " (v.get("key_id").and_then(|k| k.as_str()).map_or_else(|| v.to_string(), str::to_string)) },
            None => span.muted { "unsigned" },
        }
    }
}

fn text(v: &serde_json::Value, k: &str) -> String {
    match v.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `GET /console/registry`.
pub async fn page(State(console): State<Arc<Console>>, signed: Signed) -> Response {
    let tenant = signed.caller.tenant();
    let db = &console.state.db;
    let (servers, agents, packs, assignments) = match (
        db.registry(tenant, RegistryKind::McpServer).await,
        db.registry(tenant, RegistryKind::Agent).await,
        db.packs(tenant).await,
        db.assignments(tenant).await,
    ) {
        (Ok(s), Ok(a), Ok(p), Ok(x)) => (s, a, p, x),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
            return layout::store_error(e);
        }
    };
    let default_pack = &console.state.config.default_pack;
    let body = html! {
        h1 { "Registry and packs" }
        h2 { "MCP servers" }
        table {
            thead { tr { th scope="col" { "Server" } th scope="col" { "Trust tier" } th scope="col" { "Approval" } th scope="col" { "Owner" } th scope="col" { "Allowed tools" } th scope="col" { "Changed" } th scope="col" { "Record" } } }
            tbody {
                @if servers.is_empty() { tr { td colspan="7" { "No MCP servers registered." } } }
                @for s in &servers {
                    tr {
                        td { code { (s.name) } }
                        td { (text(&s.record, "trust_tier")) }
                        td { (badge(&text(&s.record, "approval_state"))) }
                        td { (text(&s.record, "owner")) }
                        td { (text(&s.record, "allowed_tools")) }
                        td { (s.updated_at) " by " (s.updated_by) }
                        td { details { summary { "all fields, pins included" } pre { (serde_json::to_string_pretty(&s.record).unwrap_or_default()) } } }
                    }
                }
            }
        }
        h2 { "Agents" }
        table {
            thead { tr { th scope="col" { "Agent" } th scope="col" { "Kind" } th scope="col" { "Owner" } th scope="col" { "Enabled" } th scope="col" { "Changed" } } }
            tbody {
                @if agents.is_empty() { tr { td colspan="5" { "No agents registered." } } }
                @for a in &agents {
                    tr {
                        td { code { (a.name) } }
                        td { (text(&a.record, "kind")) }
                        td { (text(&a.record, "owner")) }
                        td { (text(&a.record, "enabled")) }
                        td { (a.updated_at) " by " (a.updated_by) }
                    }
                }
            }
        }
        h2 { "Policy packs" }
        table {
            thead { tr { th scope="col" { "Pack" } th scope="col" { "Version" } th scope="col" { "Digest" } th scope="col" { "Signature" } th scope="col" { "Uploaded" } } }
            tbody {
                @if packs.is_empty() { tr { td colspan="5" { "No packs uploaded; decisions use the built-in " code { (default_pack) } "." } } }
                @for p in &packs {
                    tr {
                        td { (p.pack_id) }
                        td { (pack_version(&p.document).unwrap_or("—")) }
                        td { a href={ (PREFIX) "/packs/" (p.digest) } { code { (p.digest.get(..19).unwrap_or(&p.digest)) "…" } } }
                        td { (signed_by(p)) }
                        td { (p.uploaded_at) " by " (p.uploaded_by) }
                    }
                }
            }
        }
        h2 { "Assignments" }
        table {
            thead { tr { th scope="col" { "Scope" } th scope="col" { "Pack" } th scope="col" { "Assigned" } } }
            tbody {
                tr.muted { td { "(nothing assigned)" } td { "built-in " code { (default_pack) } } td { "the service's default" } }
                @for a in &assignments {
                    tr {
                        td { @if a.scope.is_empty() { "the whole tenant" } @else { "repository " code { (a.scope) } } }
                        td { @if a.pack.starts_with("sha256:") { a href={ (PREFIX) "/packs/" (a.pack) } { code { (a.pack) } } } @else { code { (a.pack) } } }
                        td { (a.assigned_at) " by " (a.assigned_by) }
                    }
                }
            }
        }
        @if packs.len() >= 2 {
            h2 { "Compare two packs" }
            form.filters method="get" action={ (PREFIX) "/packs/diff" } aria-label="Compare two packs" {
                div { label for="d-from" { "From" } select #d-from name="from" { @for p in &packs { option value=(p.digest) { (p.pack_id) " " (pack_version(&p.document).unwrap_or("")) " (" (p.uploaded_at) ")" } } } }
                div { label for="d-to" { "To" } select #d-to name="to" { @for (i, p) in packs.iter().enumerate() { option value=(p.digest) selected[i == 1] { (p.pack_id) " " (pack_version(&p.document).unwrap_or("")) " (" (p.uploaded_at) ")" } } } }
                button type="submit" { "Compare" }
            }
        }
    };
    layout::page(&signed, Section::Registry, "Registry and packs", body)
}

/// `GET /console/packs/{digest}`: another tenant's pack is a 404, as an unknown one.
pub async fn pack(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(digest): Path<String>,
) -> Response {
    if cavra_server::api::check_id(&digest).is_err() {
        return layout::not_found().await;
    }
    let p = match console.state.db.pack(signed.caller.tenant(), &digest).await {
        Ok(Some(p)) => p,
        Ok(None) => return layout::not_found().await,
        Err(e) => return layout::store_error(e),
    };
    let body = html! {
        h1 { "Pack " (p.pack_id) " " (pack_version(&p.document).unwrap_or("")) }
        dl.facts {
            dt { "Digest" } dd { code { (p.digest) } }
            dt { "Signature" } dd { (signed_by(&p)) }
            dt { "Uploaded" } dd { (p.uploaded_at) " by " (p.uploaded_by) }
        }
        h2 { "Document" }
        pre { (p.document) }
    };
    layout::page(
        &signed,
        Section::Registry,
        &format!("Pack {}", p.pack_id),
        body,
    )
}

/// The diff's query.
#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    /// The older pack's digest.
    pub from: String,
    /// The newer pack's digest.
    pub to: String,
}

/// Lines each side may have for a diff here (the table is lines × lines).
pub const DIFF_LINES: usize = 2_000;

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// In both.
    Same(&'a str),
    /// Only in the old.
    Removed(&'a str),
    /// Only in the new.
    Added(&'a str),
}

/// A line diff of `old` and `new` by longest common subsequence; None when either has more
/// than [`DIFF_LINES`] lines.
pub fn diff<'a>(old: &'a str, new: &'a str) -> Option<Vec<Line<'a>>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len() > DIFF_LINES || b.len() > DIFF_LINES {
        return None;
    }
    let w = b.len() + 1;
    let mut lcs = vec![0u16; (a.len() + 1) * w];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * w + j] = if a[i] == b[j] {
                lcs[(i + 1) * w + j + 1] + 1
            } else {
                lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(Line::Same(a[i]));
            i += 1;
            j += 1;
        } else if lcs[(i + 1) * w + j] >= lcs[i * w + j + 1] {
            out.push(Line::Removed(a[i]));
            i += 1;
        } else {
            out.push(Line::Added(b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| Line::Removed(l)));
    out.extend(b[j..].iter().map(|l| Line::Added(l)));
    Some(out)
}

/// `GET /console/packs/diff?from=&to=`.
pub async fn diff_page(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(q): Query<DiffQuery>,
) -> Response {
    let tenant = signed.caller.tenant();
    let db = &console.state.db;
    if cavra_server::api::check_id(&q.from).is_err() || cavra_server::api::check_id(&q.to).is_err()
    {
        return layout::not_found().await;
    }
    let (from, to) = match (db.pack(tenant, &q.from).await, db.pack(tenant, &q.to).await) {
        (Ok(Some(f)), Ok(Some(t))) => (f, t),
        (Ok(_), Ok(_)) => return layout::not_found().await,
        (Err(e), _) | (_, Err(e)) => return layout::store_error(e),
    };
    let Some(lines) = diff(&from.document, &to.document) else {
        return layout::error_page(
            Some(StatusCode::UNPROCESSABLE_ENTITY),
            &format!(
                "a pack has more than {DIFF_LINES} lines; compare them with `diff` on the downloaded documents"
            ),
        );
    };
    let changed = lines.iter().filter(|l| !matches!(l, Line::Same(_))).count();
    let body = html! {
        h1 { "Pack diff" }
        p {
            "From " a href={ (PREFIX) "/packs/" (url_encode(&from.digest)) } { (from.pack_id) " " (pack_version(&from.document).unwrap_or("")) }
            " to " a href={ (PREFIX) "/packs/" (url_encode(&to.digest)) } { (to.pack_id) " " (pack_version(&to.document).unwrap_or("")) }
            ": " (changed) " lines differ."
        }
        pre aria-label="Line diff: lines starting with minus were removed, with plus were added" {
            @for l in &lines {
                @match l {
                    Line::Same(t) => span.diff-line { "  " (t) },
                    Line::Removed(t) => del.diff-line.diff-del { "- " (t) },
                    Line::Added(t) => ins.diff-line.diff-add { "+ " (t) },
                }
            }
        }
    };
    layout::page(&signed, Section::Registry, "Pack diff", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_keeps_common_lines_and_marks_the_rest() {
        let d = diff("a\nb\nc\n", "a\nc\nd\n").unwrap();
        assert_eq!(
            d,
            [
                Line::Same("a"),
                Line::Removed("b"),
                Line::Same("c"),
                Line::Added("d")
            ]
        );
        assert_eq!(diff("x", "x").unwrap(), [Line::Same("x")]);
        let big = "l\n".repeat(DIFF_LINES + 1);
        assert!(diff(&big, "l").is_none());
    }

    #[test]
    fn the_version_is_read_from_metadata_only() {
        let doc = "rules:\n  version: nope\nmetadata:\n  id: p\n  version: '2.1'\n";
        assert_eq!(pack_version(doc), Some("2.1"));
        assert_eq!(pack_version("metadata:\n  id: p\n"), None);
    }
}
