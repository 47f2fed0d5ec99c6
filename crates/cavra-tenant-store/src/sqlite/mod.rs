//! The SQLite backend: one writer thread with group commit, a pool of readers.
//!
//! Every write is a closure run on the writer thread in a shared transaction; the writer takes
//! whatever writes are waiting (up to `BATCH`), commits them together (`synchronous=FULL`: one
//! fsync), and only then answers each caller. The delivery worker's writes wait in a lane of
//! their own, run when no other write waits, and let the writes that arrive meanwhile in
//! between their units ([`Lanes`], [`Units`]). A failing write undoes its own work (one
//! statement, or its own savepoint) without disturbing the others in its batch; the decision
//! path's writes keep their tenants' log heads in memory for the batch ([`Heads`]).
//!
//! The queries are split by what they serve, each file implementing one of the store's traits
//! ([`crate::backend`]): `directory` (tenants, tokens), `decisions`, `approvals`, `config`
//! (registry, packs, assignments) and `evidence` (the log); `rows` maps rows to records and
//! `schema` holds the migrations.

mod approvals;
mod config;
mod decisions;
mod directory;
mod evidence;
mod inventory;
mod rows;
mod schema;
#[cfg(test)]
mod tests;
mod wal_gather;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cavra_evidence::compact::Frontier;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::backend::*;
use crate::log::{
    CHECKPOINT_EVERY, NewEntry, approval_body, approval_entry, build_entry, decision_entry,
    sign_checkpoint,
};
use crate::types::*;
use crate::{LogSettings, Readiness, Result, SCHEMA_VERSION, StoreError};

/// Writes committed together at most.
const BATCH: usize = 512;
/// Reader connections.
const READERS: usize = 4;
/// WAL pages after which the writer checkpoints (4 MiB with 4 KiB pages).
const WAL_RESTART_PAGES: i64 = 1024;
/// A WAL file larger than this is truncated to it when the WAL restarts.
const WAL_KEEP_BYTES: i64 = 16 * 1024 * 1024;

use rows::*;
use schema::MIGRATIONS;

type Finish = Box<dyn FnOnce(Option<&str>) + Send>;
/// A write of a group commit: runs, then says whether it left the group's transaction
/// unusable (it failed after changing rows it could not undo), and how to answer its caller.
type Run =
    Box<dyn FnOnce(&Connection, &LogSettings, &mut Heads) -> (Option<String>, Finish) + Send>;

/// A write waiting for the writer; `direct` writes share the group's [`Heads`].
struct Job {
    direct: bool,
    /// The delivery worker's writes (claims, attempts' records, releases, purges): never
    /// behind a decision's write in a group commit, and run only when no other write waits
    /// (see [`Lanes`]).
    background: bool,
    work: Work,
}

/// What a job runs.
enum Work {
    /// One closure, at once.
    Once(Run),
    /// Units, a few at a time (always in the background lane): see [`Units`].
    Units(Box<dyn Units>),
}

/// A background write made of independent units (a batch's delivery attempts), which the
/// writer runs one after another with the group's [`Heads`], letting the writes that arrive
/// meanwhile in between: after [`BACKGROUND_SLICE`] it stops as soon as another write
/// waits, commits what it ran together with that write, and goes on in a later group.
/// A decision then waits for a few units, not for a whole batch's record (a record of 256
/// attempts held the writer, and the decisions queued behind it, for milliseconds).
trait Units: Send {
    /// Runs the next unit: `Ok(false)` when none was left. A unit fails only before it
    /// changes anything, or it takes its group down (as a direct write does).
    fn run_next(
        &mut self,
        conn: &Connection,
        settings: &LogSettings,
        heads: &mut Heads,
    ) -> Result<bool>;
    /// The group holding the units run since the last call ended, committed (`None`) or not;
    /// answers the caller once every unit is committed, or at the first failure. True when
    /// it answered (the job is over).
    fn group_ended(&mut self, error: Option<&str>) -> bool;
}

/// How long a background write of units runs (at least one unit) before it yields to a
/// waiting write: a decision waits for about this much of the worker's work at most, and
/// the worker still moves a few units per group when decisions never stop coming (an
/// attempt's record is some tens of microseconds).
const BACKGROUND_SLICE: std::time::Duration = std::time::Duration::from_micros(200);

/// Foreground groups after which a waiting background write runs even though foreground
/// writes still wait: the delivery worker keeps moving when decisions never stop coming.
/// One (the lanes take turns): the worker has one write out at a time, so each turn it waits
/// for delays its next write too; after 4 groups a turn, 64 writers flat out on a loaded
/// machine got 3,662 decisions/s and 1,445 events/s (docs/benchmarks.md).
const BACKGROUND_EVERY: usize = 1;

/// When foreground writes never stop coming, a background write's turn lasts at least the
/// writer's time in the foreground groups since the last turn divided by this: the worker
/// then gets as much of a saturated writer as the decisions (a delivered event costs the
/// writer about what a decision does), so delivery keeps up with them. With a fifth of it,
/// 64 writers flat out on a loaded machine got 3,011 decisions/s and 891 events/s, a backlog
/// growing by the second (docs/benchmarks.md). Before the lanes, the worker's writes joined
/// the decisions' groups whole and were never held back.
const BACKGROUND_SHARE: u32 = 1;

/// The longest a background turn lasts while foreground writes wait.
const BACKGROUND_SLICE_MAX: std::time::Duration = std::time::Duration::from_millis(20);

/// The writes waiting for the writer, in two lanes. A decision's transaction should not
/// wait behind the delivery worker's writes (issue 18: at most 5 % added latency on the
/// decision path): when the two wait together the decisions are committed first, and a
/// background write runs alone, in a transaction of its own, when no foreground write is
/// waiting, or after [`BACKGROUND_EVERY`] foreground groups. A decision then waits at most
/// for the one background write already running, which the worker keeps short (it records
/// and claims in chunks).
#[derive(Default)]
struct Lanes {
    foreground: std::collections::VecDeque<Job>,
    background: std::collections::VecDeque<Job>,
    /// Foreground groups run, while a background write waited, since the last background turn.
    since_background: usize,
    /// The writer's time in those groups.
    foreground_busy: std::time::Duration,
}

impl Lanes {
    fn push(&mut self, job: Job) {
        if job.background || matches!(job.work, Work::Units(_)) {
            self.background.push_back(job);
        } else {
            self.foreground.push_back(job);
        }
    }

    fn is_empty(&self) -> bool {
        self.foreground.is_empty() && self.background.is_empty()
    }

    /// The next group commit: one background write, or up to `max` foreground writes in
    /// their order of arrival.
    fn next_group(&mut self, max: usize) -> Vec<Job> {
        let background_turn = !self.background.is_empty()
            && (self.foreground.is_empty() || self.since_background >= BACKGROUND_EVERY);
        if background_turn {
            self.since_background = 0;
            self.foreground_busy = std::time::Duration::ZERO;
            return self.background.pop_front().into_iter().collect();
        }
        // Only the groups a background write waited through count: one that ran before
        // the worker's write came leaves the decisions queued with it first.
        if !self.background.is_empty() {
            self.since_background += 1;
        }
        self.take_foreground(max)
    }

    /// How long the next background turn may run while foreground writes wait (see
    /// [`BACKGROUND_SHARE`]).
    fn slice(&self) -> std::time::Duration {
        (self.foreground_busy / BACKGROUND_SHARE).clamp(BACKGROUND_SLICE, BACKGROUND_SLICE_MAX)
    }

    /// Up to `max` foreground writes, in their order of arrival.
    fn take_foreground(&mut self, max: usize) -> Vec<Job> {
        let n = self.foreground.len().min(max.max(1));
        self.foreground.drain(..n).collect()
    }
}

/// The log heads (id and frontier) of the tenants a group commit's direct writes appended
/// to, kept in memory for the length of the group and written to `log_meta` once, before the
/// commit: a decision then costs no read and no update of its tenant's head row (three
/// statements each before). The writer writes them back before any other kind of write runs,
/// so that one reads `log_meta` as it is; it forgets them when the group is rolled back.
#[derive(Default)]
pub(crate) struct Heads(std::collections::HashMap<String, Head>);

struct Head {
    log_id: String,
    frontier: Frontier,
}

impl Heads {
    /// `tenant`'s head: from memory, else from `log_meta` (created for the log's first entry).
    fn get(&mut self, conn: &Connection, tenant: &str) -> Result<&mut Head> {
        if !self.0.contains_key(tenant) {
            let row: Option<(String, i64, Vec<u8>)> = conn
                .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = ?1")?
                .query_row(params![tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let (log_id, size, bytes) = match row {
                Some(row) => row,
                None => {
                    conn.prepare_cached(
                        "INSERT INTO log_meta (tenant, log_id, size, frontier) VALUES (?1, lower(hex(randomblob(16))), 0, x'')",
                    )?
                    .execute(params![tenant])?;
                    conn.prepare_cached(
                        "SELECT log_id, size, frontier FROM log_meta WHERE tenant = ?1",
                    )?
                    .query_row(params![tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                }
            };
            let frontier = Frontier::from_bytes(size as u64, &bytes)
                .map_err(|e| StoreError::Corrupt(format!("log frontier of {tenant}: {e}")))?;
            self.0.insert(tenant.to_string(), Head { log_id, frontier });
        }
        self.0
            .get_mut(tenant)
            .ok_or_else(|| StoreError::Corrupt(format!("log head of {tenant}")))
    }

    /// Writes every head held to `log_meta` and forgets them.
    fn store(&mut self, conn: &Connection) -> Result<()> {
        for (tenant, head) in self.0.drain() {
            conn.prepare_cached("UPDATE log_meta SET size = ?1, frontier = ?2 WHERE tenant = ?3")?
                .execute(params![
                    head.frontier.size() as i64,
                    head.frontier.to_bytes(),
                    tenant
                ])?;
        }
        Ok(())
    }
}

/// The SQLite backend.
pub struct SqliteDb {
    path: PathBuf,
    pub(crate) redactor: std::sync::Arc<cavra_redact::Redactor>,
    writer: mpsc::Sender<Job>,
    readers: std::sync::Arc<Readers>,
}

/// The reader connections, shared with the blocking tasks that use them.
struct Readers {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl Readers {
    /// A pooled connection, or a new one when all are in use.
    fn take(&self) -> Result<Connection> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        match pooled {
            Some(c) => Ok(c),
            None => {
                let c = connect(&self.path)?;
                c.pragma_update(None, "query_only", "ON")?;
                Ok(c)
            }
        }
    }

    /// Returns a connection to the pool.
    fn give(&self, conn: Connection) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(conn);
        }
    }
}

/// Creates the database file readable by its owner only (0600) when it does not exist yet:
/// it holds every tenant's decisions and token digests. SQLite gives its `-wal` and `-shm`
/// files the main file's permissions. A file an older version created readable by others
/// (0644), and its `-wal` and `-shm` companions, are made private before they are opened.
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut companions = [path.as_os_str().to_owned(), path.as_os_str().to_owned()];
            companions[0].push("-wal");
            companions[1].push("-shm");
            make_private(path)?;
            for companion in companions {
                make_private(Path::new(&companion))?;
            }
            Ok(())
        }
        Err(source) => Err(StoreError::File {
            path: path.to_path_buf(),
            action: "create it".into(),
            source,
        }),
    }
}

/// Removes the group's and others' permissions from an existing file; a missing file is fine.
fn make_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StoreError::File {
                path: path.to_path_buf(),
                action: "read its permissions".into(),
                source,
            });
        }
    };
    let mode = metadata.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7700)).map_err(
        |source| StoreError::File {
            path: path.to_path_buf(),
            action: format!(
                "make it private (it is readable by others, mode {:o})",
                mode & 0o777
            ),
            source,
        },
    )
}

/// How much of the database file a reader maps (`PRAGMA mmap_size`).
const READER_MMAP_BYTES: i64 = 1 << 31;

fn connect(path: &Path) -> Result<Connection> {
    connect_through(path, None)
}

/// The writer's connection: its WAL writes go through [`wal_gather`] (one `pwrite` per
/// commit instead of two per page), or the default VFS should that not register.
fn connect_writer(path: &Path) -> Result<Connection> {
    match wal_gather::register() {
        Ok(()) => connect_through(path, Some(wal_gather::NAME)),
        Err(e) => {
            eprintln!("cavra: SQLite writes each WAL frame separately ({e})");
            connect_through(path, None)
        }
    }
}

fn connect_through(path: &Path, vfs: Option<&std::ffi::CStr>) -> Result<Connection> {
    let conn = match vfs {
        Some(vfs) => {
            Connection::open_with_flags_and_vfs(path, rusqlite::OpenFlags::default(), vfs)?
        }
        None => Connection::open(path)?,
    };
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "{} cannot use write-ahead logging (journal_mode={mode})",
            path.display()
        )));
    }
    // Durable before acknowledged: the writer answers only after its commit is on disk.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Each write in a group commit runs in its own savepoint, whose undo pages would
    // otherwise go to a temporary file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > MIGRATIONS.len() as i64 {
        return Err(StoreError::Corrupt(format!(
            "the database's schema (version {version}) is newer than this cavra (version {})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

impl SqliteDb {
    /// Opens (creating) the database and starts its writer.
    pub async fn open(path: &Path, settings: LogSettings) -> Result<SqliteDb> {
        let path = path.to_path_buf();
        let p = path.clone();
        let (conn, readers) = tokio::task::spawn_blocking(move || -> Result<_> {
            if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Corrupt(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            create_private(&p)?;
            let mut conn = connect_writer(&p)?;
            migrate(&mut conn)?;
            let mut readers = Vec::with_capacity(READERS);
            for _ in 0..READERS {
                let r = connect(&p)?;
                r.pragma_update(None, "query_only", "ON")?;
                // Readers map the database file instead of copying each page they read into
                // their own cache: a fold over the whole log (the AISPM posture) reads
                // gigabytes, and the copies were a sixth of its CPU (docs/benchmarks.md).
                // SQLite caps the map at its compile-time limit (2 GB by default); pages past
                // it, and the WAL, are read as before.
                r.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
                readers.push(r);
            }
            Ok((conn, readers))
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("opening the store: {e}")))??;
        let redactor = settings.redactor.clone();
        let (tx, rx) = mpsc::channel::<Job>(8192);
        // The writer checkpoints (PASSIVE) after a commit that leaves more than
        // WAL_RESTART_PAGES in the WAL, and its next transaction restarts the WAL from the
        // beginning. Measured under load (docs/benchmarks.md): a small WAL keeps each
        // checkpoint short (p99 6–7 ms at 1,024 pages, 10 ms at 4,096, 40 ms at 32,768),
        // and a separate checkpointing thread made no difference, so there is none.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_RESTART_PAGES)?;
        conn.pragma_update(None, "journal_size_limit", WAL_KEEP_BYTES)?;
        std::thread::Builder::new()
            .name("cavra-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, settings))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the writer: {e}")))?;
        Ok(SqliteDb {
            path: path.clone(),
            redactor,
            writer: tx,
            readers: std::sync::Arc::new(Readers {
                path,
                pool: Mutex::new(readers),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the writer thread; answers once it is committed. `f` undoes its own
    /// partial work when it fails (one statement, or [`atomic`]).
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &LogSettings) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.submit(false, false, move |c, settings, _| f(c, settings))
            .await
    }

    /// [`SqliteDb::write`] for the delivery worker's writes: never in the same group commit
    /// as the decisions' writes, and run when none of theirs waits (see [`Lanes`]). Keep
    /// each short: a decision arriving while it runs waits for it.
    pub(crate) async fn write_background<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &LogSettings) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.submit(false, true, move |c, settings, _| f(c, settings))
            .await
    }

    /// A background write of independent `units`, each run by `f` with the group's log
    /// heads, a few at a time between other writes (see [`Units`]); answers with each unit's
    /// result, in order, once all are committed. Should the store fail midway, the units
    /// committed before stay committed and the answer is the error. `f` must fail only
    /// before it changes anything (a unit that fails after takes its group down).
    pub(crate) async fn write_units<U, R, F>(&self, units: Vec<U>, f: F) -> Result<Vec<R>>
    where
        U: Send + 'static,
        R: Send + 'static,
        F: FnMut(&Connection, &LogSettings, &mut Heads, U) -> Result<R> + Send + 'static,
    {
        if units.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel::<Result<Vec<R>>>();
        let job = UnitsJob {
            todo: units.into_iter(),
            f,
            done: Vec::new(),
            uncommitted: 0,
            failed: None,
            reply: Some(reply),
        };
        self.writer
            .send(Job {
                direct: false,
                background: true,
                work: Work::Units(Box::new(job)),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on the writer thread without a savepoint of its own, for the hot path (a
    /// savepoint per decision was about 3 % of the service's CPU). Should `f` fail after
    /// changing rows, the whole group commit is rolled back and every write in it answered
    /// with an error: nothing half-written is ever committed. `f` must make its checks that
    /// can fail in normal operation before it changes anything.
    ///
    /// Its appends go through the group's [`Heads`] (see there).
    async fn write_direct<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &LogSettings, &mut Heads) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.submit(true, false, f).await
    }

    async fn submit<R: Send + 'static>(
        &self,
        direct: bool,
        background: bool,
        f: impl FnOnce(&Connection, &LogSettings, &mut Heads) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (reply, answer) = oneshot::channel::<Result<R>>();
        let run: Run = Box::new(move |conn, settings, heads| {
            let changes = conn.total_changes();
            let result = f(conn, settings, heads);
            let poison = match &result {
                Err(e) if direct && conn.total_changes() != changes => Some(format!(
                    "a write of the same group commit failed halfway ({e}); the group was rolled back"
                )),
                _ => None,
            };
            let finish: Finish = Box::new(move |commit_error: Option<&str>| {
                let out = match (result, commit_error) {
                    (Ok(v), None) => Ok(v),
                    (Ok(_), Some(e)) => Err(StoreError::Corrupt(format!("commit failed: {e}"))),
                    (Err(e), _) => Err(e),
                };
                let _ = reply.send(out);
            });
            (poison, finish)
        });
        self.writer
            .send(Job {
                direct,
                background,
                work: Work::Once(run),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a reader connection off the async threads.
    pub(crate) async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let out = f(&conn);
            readers.give(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("reader task: {e}")))?
    }
}

impl TenantStore for SqliteDb {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn readiness(&self) -> Result<Readiness> {
        self.read(|c| {
            let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            Ok(Readiness {
                schema_version: v,
                migrations_current: v == SCHEMA_VERSION,
            })
        })
        .await
    }
}

/// The job of [`SqliteDb::write_units`].
struct UnitsJob<U, R, F> {
    todo: std::vec::IntoIter<U>,
    f: F,
    /// The results so far, the last `uncommitted` of them from the group now open.
    done: Vec<R>,
    uncommitted: usize,
    /// A unit's failure, answered when its group ends.
    failed: Option<StoreError>,
    reply: Option<oneshot::Sender<Result<Vec<R>>>>,
}

impl<U, R, F> Units for UnitsJob<U, R, F>
where
    U: Send,
    R: Send,
    F: FnMut(&Connection, &LogSettings, &mut Heads, U) -> Result<R> + Send,
{
    fn run_next(
        &mut self,
        conn: &Connection,
        settings: &LogSettings,
        heads: &mut Heads,
    ) -> Result<bool> {
        let Some(unit) = self.todo.next() else {
            return Ok(false);
        };
        match (self.f)(conn, settings, heads, unit) {
            Ok(r) => {
                self.done.push(r);
                self.uncommitted += 1;
                Ok(true)
            }
            Err(e) => {
                let text = e.to_string();
                self.failed = Some(e);
                Err(StoreError::Corrupt(text))
            }
        }
    }

    fn group_ended(&mut self, error: Option<&str>) -> bool {
        let out = match (self.failed.take(), error) {
            (Some(e), _) => Err(e),
            (None, Some(e)) => Err(StoreError::Corrupt(format!("commit failed: {e}"))),
            (None, None) => {
                self.uncommitted = 0;
                if self.todo.len() > 0 {
                    return false;
                }
                Ok(std::mem::take(&mut self.done))
            }
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(out);
        }
        true
    }
}

fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<Job>, settings: LogSettings) {
    let mut lanes = Lanes::default();
    let mut finishers: Vec<Finish> = Vec::with_capacity(BATCH);
    let mut heads = Heads::default();
    loop {
        if lanes.is_empty() {
            match rx.blocking_recv() {
                Some(job) => lanes.push(job),
                None => break,
            }
        }
        // Everything waiting, so that the lanes see it (the channel holds at most 8,192).
        while let Ok(job) = rx.try_recv() {
            lanes.push(job);
        }
        let group_started = std::time::Instant::now();
        // A background turn's slice (see BACKGROUND_SHARE), read before the turn resets it.
        let slice = lanes.slice();
        let mut batch = lanes.next_group(BATCH);
        let foreground_only = batch.iter().all(|j| !j.background);
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the jobs drops their reply channels: each caller gets an error, and
            // nothing was written.
            eprintln!("cavra: the store could not begin a transaction: {e}");
            batch.clear();
            continue;
        }
        let mut poisoned: Option<String> = None;
        // A background write of units runs first, alone, until it is done or, after a few
        // units, another write waits: that write then joins this group (one commit for both).
        let mut resumable: Option<Box<dyn Units>> = None;
        if let [
            Job {
                work: Work::Units(_),
                ..
            },
        ] = batch.as_slice()
            && let Some(Job {
                work: Work::Units(mut units),
                ..
            }) = batch.pop()
        {
            let (started, mut ran) = (std::time::Instant::now(), 0usize);
            loop {
                if ran > 0
                    && !(rx.is_empty() && lanes.foreground.is_empty())
                    && started.elapsed() >= slice
                {
                    break;
                }
                match units.run_next(&conn, &settings, &mut heads) {
                    Ok(true) => ran += 1,
                    Ok(false) => break,
                    Err(e) => {
                        poisoned = Some(format!(
                            "a background write failed halfway ({e}); the group was rolled back"
                        ));
                        break;
                    }
                }
            }
            resumable = Some(units);
            if poisoned.is_none() {
                while let Ok(job) = rx.try_recv() {
                    lanes.push(job);
                }
                batch = lanes.take_foreground(BATCH);
            }
        }
        for job in batch.drain(..) {
            // Any other write reads and writes log_meta itself: it sees the heads so far.
            if !job.direct
                && let Err(e) = heads.store(&conn)
                && poisoned.is_none()
            {
                poisoned = Some(format!(
                    "writing the log heads failed ({e}); the group was rolled back"
                ));
            }
            // A job undoes its own partial work on failure (`atomic`), or fails before it
            // changes anything, so a failing job does not disturb the others in its batch;
            // one that fails halfway anyway poisons the batch, which is then rolled back.
            let (poison, finish) = match job.work {
                Work::Once(run) => run(&conn, &settings, &mut heads),
                Work::Units(mut units) => {
                    // Never here (a units job is a group's first and only background job);
                    // answered as a failure rather than run out of turn.
                    units.group_ended(Some("a background write out of its turn"));
                    continue;
                }
            };
            if poisoned.is_none() {
                poisoned = poison;
            }
            finishers.push(finish);
        }
        if poisoned.is_none()
            && let Err(e) = heads.store(&conn)
        {
            poisoned = Some(format!(
                "writing the log heads failed ({e}); the group was rolled back"
            ));
        }
        // Rolled back or committed, the next group reads the heads afresh.
        heads.0.clear();
        let err = match poisoned {
            Some(p) => {
                eprintln!("cavra: {p}");
                let _ = conn.execute_batch("ROLLBACK");
                Some(p)
            }
            None => {
                let commit = conn.execute_batch("COMMIT");
                let err = commit.as_ref().err().map(|e| e.to_string());
                if err.is_some() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                err
            }
        };
        for finish in finishers.drain(..) {
            finish(err.as_deref());
        }
        // Counted only while the worker waits for its turn (the share is of a busy writer);
        // a write that came during the group waited for it (not yet drained into the lanes,
        // it went uncounted, and the worker's turns shrank to the least slice: 1,700
        // events/s for 3,600 decisions/s flat out).
        while let Ok(job) = rx.try_recv() {
            lanes.push(job);
        }
        if foreground_only && !lanes.background.is_empty() {
            lanes.foreground_busy += group_started.elapsed();
        }
        if let Some(mut units) = resumable
            && !units.group_ended(err.as_deref())
        {
            // Not done: it goes on before any other background write.
            lanes.background.push_front(Job {
                direct: false,
                background: true,
                work: Work::Units(units),
            });
        }
    }
    let _ = conn.close();
}

/// Runs `f` so that, if it fails, whatever it changed is undone (its own savepoint).
pub(crate) fn atomic<R>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
    conn.prepare_cached("SAVEPOINT inner")?.execute([])?;
    match f(conn) {
        Ok(v) => {
            conn.prepare_cached("RELEASE inner")?.execute([])?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO inner; RELEASE inner");
            Err(e)
        }
    }
}

/// Appends one entry to `tenant`'s log; returns its index. Reads and writes the log's head
/// row itself (for the writes that are not direct).
pub(crate) fn append(
    conn: &Connection,
    settings: &LogSettings,
    tenant: &str,
    entry: NewEntry<'_>,
) -> Result<u64> {
    let mut heads = Heads::default();
    let index = append_with(conn, settings, &mut heads, tenant, entry)?;
    heads.store(conn)?;
    Ok(index)
}

/// Appends one entry to `tenant`'s log with its head in `heads`; returns its index. The head
/// moves on only once the entry's row is in.
pub(crate) fn append_with(
    conn: &Connection,
    settings: &LogSettings,
    heads: &mut Heads,
    tenant: &str,
    entry: NewEntry<'_>,
) -> Result<u64> {
    let NewEntry {
        kind,
        ref_id,
        session_id,
        timestamp,
        body,
    } = entry;
    let head = heads.get(conn, tenant)?;
    let index = head.frontier.size();
    let built = build_entry(&settings.redactor, tenant, index, kind, timestamp, body)?;
    conn.prepare_cached(
        "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        tenant,
        index as i64,
        kind,
        ref_id,
        session_id,
        timestamp,
        built.bytes,
        built.leaf.as_slice()
    ])?;
    head.frontier.push(built.leaf);
    if head.frontier.size() % CHECKPOINT_EVERY == 0 {
        let checkpoint = sign_checkpoint(&head.log_id, &head.frontier, timestamp, &settings.signer);
        insert_checkpoint(conn, tenant, &checkpoint)?;
    }
    Ok(index)
}

/// `tenant`'s log id and frontier (creating the log for its first entry).
fn log_head(conn: &Connection, tenant: &str) -> Result<(String, Frontier)> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO log_meta (tenant, log_id, size, frontier) VALUES (?1, lower(hex(randomblob(16))), 0, x'')",
    )?
    .execute(params![tenant])?;
    let (log_id, size, bytes): (String, i64, Vec<u8>) = conn
        .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = ?1")?
        .query_row(params![tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let frontier = Frontier::from_bytes(size as u64, &bytes)
        .map_err(|e| StoreError::Corrupt(format!("log frontier of {tenant}: {e}")))?;
    Ok((log_id, frontier))
}

/// Appends entries to `tenant`'s log in order, reading and writing its head once (the
/// delivery attempts of a batch); returns their indexes.
pub(crate) fn append_many(
    conn: &Connection,
    settings: &LogSettings,
    tenant: &str,
    entries: Vec<NewEntry<'_>>,
) -> Result<Vec<u64>> {
    let (log_id, mut frontier) = log_head(conn, tenant)?;
    let mut indexes = Vec::with_capacity(entries.len());
    let mut insert = conn.prepare_cached(
        "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in entries {
        let index = frontier.size();
        let built = build_entry(
            &settings.redactor,
            tenant,
            index,
            e.kind,
            e.timestamp,
            e.body,
        )?;
        frontier.push(built.leaf);
        insert.execute(params![
            tenant,
            index as i64,
            e.kind,
            e.ref_id,
            e.session_id,
            e.timestamp,
            built.bytes,
            built.leaf.as_slice()
        ])?;
        if frontier.size() % CHECKPOINT_EVERY == 0 {
            insert_checkpoint(
                conn,
                tenant,
                &sign_checkpoint(&log_id, &frontier, e.timestamp, &settings.signer),
            )?;
        }
        indexes.push(index);
    }
    conn.prepare_cached("UPDATE log_meta SET size = ?1, frontier = ?2 WHERE tenant = ?3")?
        .execute(params![frontier.size() as i64, frontier.to_bytes(), tenant])?;
    Ok(indexes)
}

fn insert_checkpoint(conn: &Connection, tenant: &str, c: &CheckpointRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO checkpoints (tenant, tree_size, root_hash, timestamp, key_id, envelope) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        tenant,
        c.tree_size as i64,
        c.root_hash,
        c.timestamp,
        c.key_id,
        c.envelope
    ])?;
    crate::sqlite_outbox::insert_event(conn, tenant, &crate::outbox::checkpoint_event(c)?, None)?;
    Ok(())
}
