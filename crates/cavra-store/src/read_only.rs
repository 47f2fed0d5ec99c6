//! Reading a store without changing it: opened read-only (no folder, database, `-wal` or
//! `-shm` file created, no migration), for the commands that only look (`cavra doctor`,
//! listings, `policy explain --decision`, `evidence log verify`), and the queries only they
//! need.

use crate::{
    DEFAULT_CHECKPOINT_EVERY, MIGRATIONS, Result, Store, StoreError, StoredDecision, decision_row,
    finish_decision,
};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

impl Store {
    /// Opens an existing store only to read it, creating nothing: no folder, no database, no
    /// migration. Read-only commands (`cavra doctor`, listings) use it, so that looking never
    /// changes what is on disk.
    ///
    /// The store keeps its write-ahead log between processes, so the `-wal` and `-shm` files
    /// normally exist and a read-only connection reads through them. When neither exists every
    /// commit is already in the database file, which is then opened as immutable (SQLite would
    /// otherwise create the `-shm` file to read a WAL-mode database).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        use rusqlite::OpenFlags;
        if !path.is_file() {
            return Err(StoreError::File {
                path: path.to_path_buf(),
                action: "open it to read".into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no store here: nothing has been recorded yet",
                ),
            });
        }
        let side = |suffix: &str| {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            PathBuf::from(p)
        };
        let has_log = side("-wal").exists() || side("-shm").exists();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = if has_log {
            Connection::open_with_flags(path, flags)?
        } else {
            let uri = format!("file:{}?immutable=1", uri_path(path));
            Connection::open_with_flags(uri, flags)?
        };
        conn.busy_timeout(Duration::from_secs(5))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            redactor: None,
            signer_loader: None,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            maintain_on_commit: false,
        };
        let known = MIGRATIONS.len() as i64;
        let found = store.schema_version()?;
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        if found < known {
            return Err(StoreError::Outdated { found, known });
        }
        Ok(store)
    }

    /// Decisions made by one rule (`agents.unknown_tool`), newest first, at most `limit`.
    pub fn decisions_by_rule(&self, rule_id: &str, limit: usize) -> Result<Vec<StoredDecision>> {
        let mut stmt = self.conn.prepare(
            "SELECT decision_id, session_id, tool_use_id, action_type, decision, rule_id, timestamp, fingerprint, record
             FROM decisions WHERE rule_id = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![rule_id, limit], decision_row)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(finish_decision))
            .collect()
    }
}

/// A path as the path part of an SQLite `file:` URI: `%`, `?` and `#` are escaped.
fn uri_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}
