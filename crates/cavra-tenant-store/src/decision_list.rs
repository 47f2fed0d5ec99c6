//! The decision list of both backends (`GET /v1/decisions`, the console's search): newest
//! first by time, then by sequence number among decisions of the same time, paginated by
//! keyset on that order, so a page deep in a million decisions costs what the first does.
//!
//! Each filter has an index of its own, `(tenant, <column>, timestamp[, seq])` (migration 8):
//! a page is one range scan of that index in its own order, read until the page is full,
//! with no sort and no rows of other values in between. An index holds only the rows a
//! filter can ask it for (migration 9): the session's and the repository's only decisions
//! that have one, the outcome's only decisions other than `allow`. A list of allowed
//! decisions alone reads the time index and skips the others: most decisions are allowed, so
//! its pages cost about what the unfiltered list's do, and every decision recorded makes one
//! index entry fewer (each index is an insert and, per group commit, a page written). When several filters are given, one
//! index is read (the first of [`DecisionIndex::for_filter`]'s order) and the others filter
//! its rows. SQLite is told the index (`INDEXED BY`) and the join order (`CROSS JOIN`): its
//! planner has no statistics here (no `ANALYZE`), and reading the time index backwards
//! instead, filtering a million rows to find a rare value, is a plan it may weigh; told, no
//! SQLite version and no shape of the data can change the choice. PostgreSQL chooses from its
//! statistics. The tests `every_decision_filter_reads_its_own_index_on_*` check the plans of
//! both.

use rusqlite::OptionalExtension;

use crate::types::DecisionFilter;
use crate::{Db, Result};

/// Migration 8 on SQLite: the request's repository as a column (filled from each decision's
/// log entry), and one index per filter in list order. `seq` is the rowid, which SQLite
/// keeps at the end of every index entry, so `(tenant, x, timestamp)` is ordered by
/// `(timestamp, seq)` within a value of `x`. The time index covers what `(tenant, seq)` was
/// for (the unfiltered list), which goes.
pub(crate) const SQLITE_MIGRATION: &str = r#"
ALTER TABLE decisions ADD COLUMN repository TEXT;
UPDATE decisions SET repository = (
    SELECT CASE WHEN json_type(CAST(e.entry AS TEXT), '$.body.record.repository') = 'text'
        THEN json_extract(CAST(e.entry AS TEXT), '$.body.record.repository') END
    FROM log_entries e WHERE e.tenant = decisions.tenant AND e.idx = decisions.log_index);
DROP INDEX decisions_tenant;
DROP INDEX decisions_session;
CREATE INDEX decisions_time ON decisions(tenant, timestamp);
CREATE INDEX decisions_session ON decisions(tenant, session_id, timestamp);
CREATE INDEX decisions_outcome ON decisions(tenant, decision, timestamp);
CREATE INDEX decisions_action ON decisions(tenant, action_type, timestamp);
CREATE INDEX decisions_rule ON decisions(tenant, rule_id, timestamp);
CREATE INDEX decisions_actor ON decisions(tenant, requested_by, timestamp);
CREATE INDEX decisions_repository ON decisions(tenant, repository, timestamp);
"#;

/// Migration 9 on SQLite: the session, repository and outcome indexes hold only the rows a
/// filter can find through them (a filter is an equality, so never NULL; a list of allowed
/// decisions reads the time index, see [`DecisionIndex::for_filter`]). For a decision without
/// session or repository, or allowed, that is one index insert fewer each.
pub(crate) const SQLITE_MIGRATION_9: &str = r#"
DROP INDEX decisions_session;
DROP INDEX decisions_repository;
DROP INDEX decisions_outcome;
CREATE INDEX decisions_session ON decisions(tenant, session_id, timestamp) WHERE session_id IS NOT NULL;
CREATE INDEX decisions_repository ON decisions(tenant, repository, timestamp) WHERE repository IS NOT NULL;
CREATE INDEX decisions_outcome ON decisions(tenant, decision, timestamp) WHERE decision <> 'allow';
"#;

/// Migration 9 on PostgreSQL: as on SQLite.
pub(crate) const POSTGRES_MIGRATION_9: &str = r#"
DROP INDEX decisions_session;
DROP INDEX decisions_repository;
DROP INDEX decisions_outcome;
CREATE INDEX decisions_session ON decisions(tenant, session_id, timestamp, seq) WHERE session_id IS NOT NULL;
CREATE INDEX decisions_repository ON decisions(tenant, repository, timestamp, seq) WHERE repository IS NOT NULL;
CREATE INDEX decisions_outcome ON decisions(tenant, decision, timestamp, seq) WHERE decision <> 'allow';
"#;

/// Migration 8 on PostgreSQL: as on SQLite, with `seq` in each index (a heap table has no
/// rowid in its index entries).
pub(crate) const POSTGRES_MIGRATION: &str = r#"
ALTER TABLE decisions ADD COLUMN repository TEXT COLLATE "C";
UPDATE decisions d SET repository = convert_from(e.entry, 'UTF8')::jsonb #>> '{body,record,repository}'
    FROM log_entries e
    WHERE e.tenant = d.tenant AND e.idx = d.log_index
        AND jsonb_typeof(convert_from(e.entry, 'UTF8')::jsonb #> '{body,record,repository}') = 'string';
DROP INDEX decisions_tenant;
DROP INDEX decisions_session;
CREATE INDEX decisions_time ON decisions(tenant, timestamp, seq);
CREATE INDEX decisions_session ON decisions(tenant, session_id, timestamp, seq);
CREATE INDEX decisions_outcome ON decisions(tenant, decision, timestamp, seq);
CREATE INDEX decisions_action ON decisions(tenant, action_type, timestamp, seq);
CREATE INDEX decisions_rule ON decisions(tenant, rule_id, timestamp, seq);
CREATE INDEX decisions_actor ON decisions(tenant, requested_by, timestamp, seq);
CREATE INDEX decisions_repository ON decisions(tenant, repository, timestamp, seq);
"#;

/// The index a decision list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionIndex {
    /// `decisions_time`: no equality filter (all decisions, or a time range).
    Time,
    /// `decisions_session`: one agent session.
    Session,
    /// `decisions_repository`: one repository.
    Repository,
    /// `decisions_rule`: one deciding rule.
    Rule,
    /// `decisions_actor`: one caller.
    Actor,
    /// `decisions_action`: one action type.
    Action,
    /// `decisions_outcome`: one decision other than allow (block, warn, …).
    Outcome,
}

impl DecisionIndex {
    /// Every index, the time index first.
    pub const ALL: [DecisionIndex; 7] = [
        DecisionIndex::Time,
        DecisionIndex::Session,
        DecisionIndex::Repository,
        DecisionIndex::Rule,
        DecisionIndex::Actor,
        DecisionIndex::Action,
        DecisionIndex::Outcome,
    ];

    /// Its name in the schema.
    pub fn name(self) -> &'static str {
        match self {
            DecisionIndex::Time => "decisions_time",
            DecisionIndex::Session => "decisions_session",
            DecisionIndex::Repository => "decisions_repository",
            DecisionIndex::Rule => "decisions_rule",
            DecisionIndex::Actor => "decisions_actor",
            DecisionIndex::Action => "decisions_action",
            DecisionIndex::Outcome => "decisions_outcome",
        }
    }

    /// The index a list with filter `f` reads: that of its first equality filter in the
    /// order session, repository, rule, actor, action, outcome (about the order of how few
    /// decisions one value has), else the time index. The outcome index holds no allowed
    /// decision (migration 9): allowed decisions alone are read from the time index.
    pub fn for_filter(f: &DecisionFilter) -> DecisionIndex {
        if f.session_id.is_some() {
            DecisionIndex::Session
        } else if f.repository.is_some() {
            DecisionIndex::Repository
        } else if f.rule_id.is_some() {
            DecisionIndex::Rule
        } else if f.requested_by.is_some() {
            DecisionIndex::Actor
        } else if f.action_type.is_some() {
            DecisionIndex::Action
        } else if f
            .decision
            .is_some_and(|d| d != crate::types::Decision::Allow)
        {
            DecisionIndex::Outcome
        } else {
            DecisionIndex::Time
        }
    }
}

/// Whose placeholders a query uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `?`, and `INDEXED BY` the chosen index.
    Sqlite,
    /// `$1`, `$2`, …
    Postgres,
}

/// A bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// A list's statement and its values, in placeholder order.
#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    pub(crate) sql: String,
    pub(crate) args: Vec<Arg>,
}

/// Where a page starts: strictly after (older than) the decision at this time and sequence
/// number, the one the previous page ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) timestamp: String,
    pub(crate) seq: i64,
}

/// The columns of a decision as read (`d`), then its log entry (`e`): the order both
/// backends' `decision_row` read.
const COLUMNS: &str = "d.decision_id, d.session_id, d.agent, d.requested_by, d.action_type, d.decision, d.rule_id, d.timestamp, d.fingerprint, d.policy_digest, d.log_index, e.entry";

/// The statement that turns a `before` decision id into its [`Cursor`] (an index lookup by
/// id, in the tenant: another tenant's id finds nothing).
pub(crate) fn cursor_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "SELECT timestamp, seq FROM decisions WHERE decision_id = ?1 AND tenant = ?2"
        }
        Dialect::Postgres => {
            "SELECT timestamp, seq FROM decisions WHERE decision_id = $1 AND tenant = $2"
        }
    }
}

/// The page of `tenant`'s decisions that `f` asks for, starting after `cursor` (the one
/// `f.before` names, looked up beforehand with [`cursor_sql`]).
pub(crate) fn list_query(
    dialect: Dialect,
    tenant: &str,
    f: &DecisionFilter,
    cursor: Option<&Cursor>,
) -> ListQuery {
    let index = DecisionIndex::for_filter(f);
    let mut q = ListQuery {
        sql: String::with_capacity(512),
        args: Vec::new(),
    };
    let mut n = 0;
    let mut arg = |q: &mut ListQuery, v: Arg| -> String {
        q.args.push(v);
        n += 1;
        match dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    };
    q.sql.push_str("SELECT ");
    q.sql.push_str(COLUMNS);
    q.sql.push_str(" FROM decisions d");
    match dialect {
        // The index, and the decisions as the outer loop of the join (SQLite keeps the
        // tables of a CROSS JOIN in their order), whatever the planner would guess.
        Dialect::Sqlite => {
            q.sql.push_str(" INDEXED BY ");
            q.sql.push_str(index.name());
            q.sql.push_str(" CROSS JOIN");
        }
        Dialect::Postgres => q.sql.push_str(" JOIN"),
    }
    q.sql.push_str(
        " log_entries e ON e.tenant = d.tenant AND e.idx = d.log_index WHERE d.tenant = ",
    );
    let p = arg(&mut q, Arg::Text(tenant.to_string()));
    q.sql.push_str(&p);
    // The index's own column first: it is the one the range is on.
    for (col, v) in [
        ("session_id", f.session_id.as_deref()),
        ("repository", f.repository.as_deref()),
        ("rule_id", f.rule_id.as_deref()),
        ("requested_by", f.requested_by.as_deref()),
        ("action_type", f.action_type.map(|a| a.as_str())),
        ("decision", f.decision.map(|d| d.as_str())),
    ] {
        if let Some(v) = v {
            let p = arg(&mut q, Arg::Text(v.to_string()));
            q.sql.push_str(&format!(" AND d.{col} = {p}"));
        }
    }
    // The outcome index's own condition, stated, so that either planner may read it with
    // the value bound later (a prepared statement cannot know it is not `allow`).
    if index == DecisionIndex::Outcome {
        q.sql.push_str(" AND d.decision <> 'allow'");
    }
    if let Some(since) = &f.since {
        let p = arg(&mut q, Arg::Text(since.text()));
        q.sql.push_str(&format!(" AND d.timestamp >= {p}"));
    }
    if let Some(until) = &f.until {
        let p = arg(&mut q, Arg::Text(until.text()));
        q.sql.push_str(&format!(" AND d.timestamp < {p}"));
    }
    if let Some(c) = cursor {
        match dialect {
            // A row value compares in index order and bounds the scan in PostgreSQL.
            Dialect::Postgres => {
                let t = arg(&mut q, Arg::Text(c.timestamp.clone()));
                let s = arg(&mut q, Arg::Int(c.seq));
                q.sql
                    .push_str(&format!(" AND (d.timestamp, d.seq) < ({t}, {s})"));
            }
            // SQLite bounds the scan on `timestamp <=`; the rest tells the cursor's own time
            // apart by sequence number (its rowid, at the end of the index entry).
            Dialect::Sqlite => {
                let t = arg(&mut q, Arg::Text(c.timestamp.clone()));
                let s = arg(&mut q, Arg::Int(c.seq));
                q.sql.push_str(&format!(
                    " AND d.timestamp <= {t} AND (d.timestamp < {t} OR d.seq < {s})"
                ));
            }
        }
    }
    q.sql.push_str(" ORDER BY d.timestamp DESC, d.seq DESC");
    if let Some(limit) = f.limit {
        let p = arg(&mut q, Arg::Int(limit.max(1) as i64));
        q.sql.push_str(&format!(" LIMIT {p}"));
    }
    q
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Arg::Text(s) => s.to_sql(),
            Arg::Int(i) => i.to_sql(),
        }
    }
}

impl Arg {
    /// As a PostgreSQL parameter.
    pub(crate) fn pg(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Arg::Text(s) => s,
            Arg::Int(i) => i,
        }
    }
}

impl Db {
    /// The query plan of the decision list `f` of `tenant` (SQLite's `EXPLAIN QUERY PLAN`,
    /// PostgreSQL's `EXPLAIN`), one line per step: which index a filter reads, and that the
    /// list needs no sort. A `before` id that is not found plans as a cursor at the start of
    /// time (the list itself is then empty).
    pub async fn decision_list_plan(
        &self,
        tenant: &str,
        f: &DecisionFilter,
    ) -> Result<Vec<String>> {
        match self {
            Db::Sqlite(db) => {
                let (tenant, f) = (tenant.to_string(), f.clone());
                db.read(move |c| {
                    let cursor = match &f.before {
                        None => None,
                        Some(id) => Some(
                            c.query_row(
                                cursor_sql(Dialect::Sqlite),
                                rusqlite::params![id, tenant],
                                |r| {
                                    Ok(Cursor {
                                        timestamp: r.get(0)?,
                                        seq: r.get(1)?,
                                    })
                                },
                            )
                            .optional()?
                            .unwrap_or(Cursor {
                                timestamp: String::new(),
                                seq: 0,
                            }),
                        ),
                    };
                    let q = list_query(Dialect::Sqlite, &tenant, &f, cursor.as_ref());
                    let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {}", q.sql))?;
                    let rows = st.query_map(rusqlite::params_from_iter(q.args.iter()), |r| {
                        r.get::<_, String>(3)
                    })?;
                    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
                })
                .await
            }
            Db::Postgres(db) => {
                let c = db.client().await?;
                let cursor = match &f.before {
                    None => None,
                    Some(id) => Some(
                        match c
                            .query_opt(cursor_sql(Dialect::Postgres), &[id, &tenant])
                            .await?
                        {
                            Some(r) => Cursor {
                                timestamp: r.try_get(0)?,
                                seq: r.try_get(1)?,
                            },
                            None => Cursor {
                                timestamp: String::new(),
                                seq: 0,
                            },
                        },
                    ),
                };
                let q = list_query(Dialect::Postgres, tenant, f, cursor.as_ref());
                let args: Vec<_> = q.args.iter().map(Arg::pg).collect();
                let rows = c.query(&format!("EXPLAIN {}", q.sql), &args).await?;
                rows.iter()
                    .map(|r| r.try_get::<_, String>(0).map_err(Into::into))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each equality filter leads to its own index, and the statement has one placeholder per
    /// value, in order.
    #[test]
    fn a_filter_chooses_its_index_and_binds_its_values_in_order() {
        let f = DecisionFilter {
            rule_id: Some("r".into()),
            decision: Some(crate::types::Decision::Block),
            since: Some("2026-01-01T00:00:00.000Z".parse().expect("time")),
            limit: Some(51),
            ..DecisionFilter::default()
        };
        assert_eq!(DecisionIndex::for_filter(&f), DecisionIndex::Rule);
        let cursor = Cursor {
            timestamp: "2026-01-02T00:00:00.000Z".into(),
            seq: 7,
        };
        let q = list_query(Dialect::Postgres, "acme", &f, Some(&cursor));
        assert!(
            q.sql
                .contains("d.rule_id = $2 AND d.decision = $3 AND d.timestamp >= $4")
        );
        assert!(q.sql.contains("(d.timestamp, d.seq) < ($5, $6)"));
        assert!(
            q.sql
                .ends_with("ORDER BY d.timestamp DESC, d.seq DESC LIMIT $7")
        );
        assert_eq!(q.args.len(), 7);
        assert_eq!(q.args[5], Arg::Int(7));
        let q = list_query(Dialect::Sqlite, "acme", &f, None);
        assert!(
            q.sql
                .contains("FROM decisions d INDEXED BY decisions_rule CROSS JOIN log_entries e")
        );
        assert_eq!(
            DecisionIndex::for_filter(&DecisionFilter::default()),
            DecisionIndex::Time
        );
    }
}
