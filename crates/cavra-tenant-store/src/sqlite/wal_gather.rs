//! A VFS for the writer's connection that gathers the WAL writes of a commit into one.
//!
//! SQLite writes each WAL frame as two `pwrite`s (its 24-byte header, then the page), so a
//! group commit of 40 pages cost 80 system calls before its `fsync`, each touching one or two
//! pages of the kernel's cache (a frame is 4,120 bytes, so frames straddle pages). This VFS
//! wraps the default one and, for WAL files only, keeps consecutive writes in a buffer that
//! goes to the file in one `pwrite` before anything that needs the file as written: a sync, a
//! read, a size, a truncation, a file control, a lock, a close, a write elsewhere, or the
//! buffer reaching [`LIMIT`]. Every other file (the database, its `-shm`) is the default
//! VFS's own, unwrapped. (The default VFS takes at most 128 KiB − 1 bytes per write, so a
//! large buffer goes out in a few pieces.)
//!
//! Why this keeps every guarantee: the writer runs with `synchronous=FULL`, under which SQLite
//! syncs the WAL at every commit before it publishes the commit in the WAL index, so the
//! frames are in the file (and on disk) before any reader can see them and before the caller
//! is answered; frames of a transaction not yet committed are read only by the writer itself
//! (a read flushes first). A write that fails is reported by the call that flushed it — for a
//! commit, its sync — so SQLite treats the transaction as failed, as it would had the write
//! itself failed. The readers open the same WAL through the default VFS.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The VFS's registered name.
pub(crate) const NAME: &CStr = c"cavra-wal-gather";

/// Buffered bytes after which the buffer is written out even without a sync (a transaction
/// that spills, a huge commit): about 250 frames.
const LIMIT: usize = 1 << 20;

/// The most the default VFS writes in one call, rounded down to whole 4 KiB pages of the file.
const PIECE: usize = 0x1F000;

/// A WAL file: SQLite's handle first (its methods are [`METHODS`]), then the default VFS's
/// handle for the same file, in the same allocation (`szOsFile` makes room for both).
#[repr(C)]
struct GatherFile {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    buf: Vec<u8>,
    /// The file offset of `buf`'s first byte.
    start: i64,
}

/// The registered VFS, or the reason it could not be registered.
static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers the VFS (once per process) and says whether it can be used.
pub(crate) fn register() -> Result<(), String> {
    REGISTERED
        .get_or_init(|| {
            // SAFETY: sqlite3_vfs_find(NULL) gives the default VFS, which lives as long as the
            // process; the VFS built here is leaked so that it does too, as SQLite requires of
            // a registered VFS.
            unsafe {
                let rc = ffi::sqlite3_initialize();
                if rc != ffi::SQLITE_OK {
                    return Err(format!("sqlite3_initialize: {rc}"));
                }
                let inner = ffi::sqlite3_vfs_find(std::ptr::null());
                if inner.is_null() {
                    return Err("SQLite has no default VFS".into());
                }
                let own = std::mem::size_of::<GatherFile>();
                let size = own + (*inner).szOsFile as usize;
                let vfs = Box::new(ffi::sqlite3_vfs {
                    iVersion: 2,
                    szOsFile: c_int::try_from(size).map_err(|e| e.to_string())?,
                    mxPathname: (*inner).mxPathname,
                    pNext: std::ptr::null_mut(),
                    zName: NAME.as_ptr(),
                    pAppData: inner.cast(),
                    xOpen: Some(x_open),
                    xDelete: Some(x_delete),
                    xAccess: Some(x_access),
                    xFullPathname: Some(x_full_pathname),
                    xDlOpen: Some(x_dl_open),
                    xDlError: Some(x_dl_error),
                    xDlSym: Some(x_dl_sym),
                    xDlClose: Some(x_dl_close),
                    xRandomness: Some(x_randomness),
                    xSleep: Some(x_sleep),
                    xCurrentTime: Some(x_current_time),
                    xGetLastError: Some(x_get_last_error),
                    xCurrentTimeInt64: Some(x_current_time_int64),
                    xSetSystemCall: None,
                    xGetSystemCall: None,
                    xNextSystemCall: None,
                });
                let rc = ffi::sqlite3_vfs_register(Box::into_raw(vfs), 0);
                if rc != ffi::SQLITE_OK {
                    return Err(format!("sqlite3_vfs_register: {rc}"));
                }
                Ok(())
            }
        })
        .clone()
}

/// The wrapped VFS of `vfs`.
unsafe fn inner_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: `vfs` is the VFS `register` built, whose pAppData is the default VFS.
    unsafe { (*vfs).pAppData.cast() }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(f_close),
    xRead: Some(f_read),
    xWrite: Some(f_write),
    xTruncate: Some(f_truncate),
    xSync: Some(f_sync),
    xFileSize: Some(f_file_size),
    xLock: Some(f_lock),
    xUnlock: Some(f_unlock),
    xCheckReservedLock: Some(f_check_reserved_lock),
    xFileControl: Some(f_file_control),
    xSectorSize: Some(f_sector_size),
    xDeviceCharacteristics: Some(f_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite gives `file` szOsFile bytes, 8-byte aligned; the default VFS's handle
    // fits there alone, or after a GatherFile.
    unsafe {
        let inner_vfs = inner_vfs(vfs);
        let Some(open) = (*inner_vfs).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            return open(inner_vfs, name, file, flags, out_flags);
        }
        let inner = file
            .cast::<u8>()
            .add(std::mem::size_of::<GatherFile>())
            .cast::<ffi::sqlite3_file>();
        (*inner).pMethods = std::ptr::null();
        let rc = open(inner_vfs, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            if let Some(close) = (*inner).pMethods.as_ref().and_then(|m| m.xClose) {
                close(inner);
            }
            (*file).pMethods = std::ptr::null();
            return rc;
        }
        std::ptr::write(
            file.cast::<GatherFile>(),
            GatherFile {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                inner,
                buf: Vec::new(),
                start: 0,
            },
        );
        ffi::SQLITE_OK
    }
}

/// The GatherFile of a handle [`x_open`] wrapped.
unsafe fn gather<'a>(file: *mut ffi::sqlite3_file) -> &'a mut GatherFile {
    // SAFETY: only handles x_open wrapped have METHODS, and so reach the functions below.
    unsafe { &mut *file.cast::<GatherFile>() }
}

/// The default VFS's methods of the wrapped handle.
unsafe fn inner_methods<'a>(g: &GatherFile) -> &'a ffi::sqlite3_io_methods {
    // SAFETY: the default VFS opened `inner` successfully, so its methods are set.
    unsafe { &*(*g.inner).pMethods }
}

/// Writes the buffer out and empties it; the writes' result. The default VFS writes at most
/// 128 KiB − 1 bytes per call (its `seekAndWriteFd` masks larger sizes), so a buffer is
/// written in pieces of [`PIECE`] bytes: two or three `pwrite`s for a large group commit.
unsafe fn flush(g: &mut GatherFile) -> c_int {
    if g.buf.is_empty() {
        return ffi::SQLITE_OK;
    }
    // SAFETY: `inner` is open; each piece is at most PIECE bytes of the buffer.
    let rc = unsafe {
        match inner_methods(g).xWrite {
            Some(write) => {
                let mut rc = ffi::SQLITE_OK;
                let mut offset = g.start;
                for piece in g.buf.chunks(PIECE) {
                    rc = write(g.inner, piece.as_ptr().cast(), piece.len() as c_int, offset);
                    if rc != ffi::SQLITE_OK {
                        break;
                    }
                    offset += piece.len() as i64;
                    #[cfg(test)]
                    FLUSHES.with(|f| f.set(f.get() + 1));
                }
                rc
            }
            None => ffi::SQLITE_IOERR_WRITE,
        }
    };
    g.buf.clear();
    rc
}

#[cfg(test)]
thread_local! {
    /// `pwrite`s of gathered bytes from this thread (for the tests).
    static FLUSHES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

unsafe extern "C" fn f_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite passes `amount` readable bytes at `data`.
    unsafe {
        let g = gather(file);
        let Ok(n) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        if g.buf.is_empty() || offset != g.start + g.buf.len() as i64 {
            let rc = flush(g);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            g.start = offset;
        }
        g.buf
            .extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), n));
        if g.buf.len() >= LIMIT {
            return flush(g);
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn f_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: the handle is x_open's; after closing `inner` the GatherFile is dropped in place
    // (SQLite frees the memory).
    unsafe {
        let g = gather(file);
        let flushed = flush(g);
        let closed = match inner_methods(g).xClose {
            Some(close) => close(g.inner),
            None => ffi::SQLITE_OK,
        };
        std::ptr::drop_in_place(file.cast::<GatherFile>());
        (*file).pMethods = std::ptr::null();
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            closed
        }
    }
}

/// Flushes, then calls `f` with the wrapped handle and its methods.
unsafe fn after_flush(
    file: *mut ffi::sqlite3_file,
    f: impl FnOnce(*mut ffi::sqlite3_file, &ffi::sqlite3_io_methods) -> c_int,
) -> c_int {
    // SAFETY: the handle is x_open's.
    unsafe {
        let g = gather(file);
        let rc = flush(g);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        f(g.inner, inner_methods(g))
    }
}

unsafe extern "C" fn f_read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        after_flush(file, |inner, m| match m.xRead {
            Some(read) => read(inner, data, amount, offset),
            None => ffi::SQLITE_IOERR_READ,
        })
    }
}

unsafe extern "C" fn f_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        after_flush(file, |inner, m| match m.xTruncate {
            Some(truncate) => truncate(inner, size),
            None => ffi::SQLITE_IOERR_TRUNCATE,
        })
    }
}

unsafe extern "C" fn f_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        after_flush(file, |inner, m| match m.xSync {
            Some(sync) => sync(inner, flags),
            None => ffi::SQLITE_IOERR_FSYNC,
        })
    }
}

unsafe extern "C" fn f_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        after_flush(file, |inner, m| match m.xFileSize {
            Some(file_size) => file_size(inner, size),
            None => ffi::SQLITE_IOERR_FSTAT,
        })
    }
}

unsafe extern "C" fn f_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        after_flush(file, |inner, m| match m.xLock {
            Some(lock) => lock(inner, level),
            None => ffi::SQLITE_OK,
        })
    }
}

unsafe extern "C" fn f_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        after_flush(file, |inner, m| match m.xUnlock {
            Some(unlock) => unlock(inner, level),
            None => ffi::SQLITE_OK,
        })
    }
}

unsafe extern "C" fn f_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        after_flush(file, |inner, m| match m.xCheckReservedLock {
            Some(check) => check(inner, out),
            None => ffi::SQLITE_OK,
        })
    }
}

unsafe extern "C" fn f_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: forwarded as given.
    unsafe {
        after_flush(file, |inner, m| match m.xFileControl {
            Some(control) => control(inner, op, arg),
            None => ffi::SQLITE_NOTFOUND,
        })
    }
}

unsafe extern "C" fn f_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: forwarded as given; nothing written.
    unsafe {
        let g = gather(file);
        match inner_methods(g).xSectorSize {
            Some(sector_size) => sector_size(g.inner),
            None => 4096,
        }
    }
}

unsafe extern "C" fn f_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: forwarded as given; nothing written.
    unsafe {
        let g = gather(file);
        match inner_methods(g).xDeviceCharacteristics {
            Some(characteristics) => characteristics(g.inner),
            None => 0,
        }
    }
}

unsafe extern "C" fn x_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        (*v).xDelete
            .map_or(ffi::SQLITE_IOERR_DELETE, |f| f(v, name, sync_dir))
    }
}

unsafe extern "C" fn x_access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        (*v).xAccess
            .map_or(ffi::SQLITE_IOERR_ACCESS, |f| f(v, name, flags, out))
    }
}

unsafe extern "C" fn x_full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        (*v).xFullPathname
            .map_or(ffi::SQLITE_ERROR, |f| f(v, name, n, out))
    }
}

unsafe extern "C" fn x_dl_open(vfs: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        (*v).xDlOpen.map_or(std::ptr::null_mut(), |f| f(v, name))
    }
}

unsafe extern "C" fn x_dl_error(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        if let Some(f) = (*v).xDlError {
            f(v, n, out);
        }
    }
}

type DlSym = Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)>;

unsafe extern "C" fn x_dl_sym(
    vfs: *mut ffi::sqlite3_vfs,
    handle: *mut c_void,
    symbol: *const c_char,
) -> DlSym {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        (*v).xDlSym.and_then(|f| f(v, handle, symbol))
    }
}

unsafe extern "C" fn x_dl_close(vfs: *mut ffi::sqlite3_vfs, handle: *mut c_void) {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        if let Some(f) = (*v).xDlClose {
            f(v, handle);
        }
    }
}

unsafe extern "C" fn x_randomness(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        (*v).xRandomness.map_or(0, |f| f(v, n, out))
    }
}

unsafe extern "C" fn x_sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        (*v).xSleep.map_or(0, |f| f(v, micros))
    }
}

unsafe extern "C" fn x_current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        (*v).xCurrentTime.map_or(ffi::SQLITE_ERROR, |f| f(v, out))
    }
}

unsafe extern "C" fn x_get_last_error(
    vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        (*v).xGetLastError.map_or(0, |f| f(v, n, out))
    }
}

unsafe extern "C" fn x_current_time_int64(vfs: *mut ffi::sqlite3_vfs, out: *mut i64) -> c_int {
    // SAFETY: forwarded to the default VFS as given.
    unsafe {
        let v = inner_vfs(vfs);
        match (*v).xCurrentTimeInt64 {
            Some(f) if (*v).iVersion >= 2 => f(v, out),
            _ => ffi::SQLITE_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rusqlite::{Connection, OpenFlags, params};

    fn open(path: &std::path::Path, gathered: bool) -> Connection {
        register().expect("registered");
        let c = if gathered {
            Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME)
        } else {
            Connection::open(path)
        }
        .expect("open");
        let mode: String = c
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .expect("wal");
        assert_eq!(mode, "wal");
        c.pragma_update(None, "synchronous", "FULL").expect("sync");
        c
    }

    fn contents(c: &Connection) -> Vec<(i64, Vec<u8>)> {
        let mut st = c.prepare("SELECT k, v FROM t ORDER BY k").expect("select");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(i64, usize, u8),
        Delete(i64),
        Commit,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => (0i64..400, 0usize..20000, any::<u8>()).prop_map(|(k, n, b)| Op::Put(k, n, b)),
            3 => (0i64..400).prop_map(Op::Delete),
            1 => Just(Op::Commit),
        ]
    }

    fn apply(c: &Connection, op: &Op, open_tx: &mut bool) {
        if !*open_tx && !matches!(op, Op::Commit) {
            c.execute_batch("BEGIN IMMEDIATE").expect("begin");
            *open_tx = true;
        }
        match op {
            Op::Put(k, n, b) => {
                c.execute(
                    "INSERT OR REPLACE INTO t (k, v) VALUES (?1, ?2)",
                    params![k, vec![*b; *n]],
                )
                .expect("put");
            }
            Op::Delete(k) => {
                c.execute("DELETE FROM t WHERE k = ?1", params![k])
                    .expect("delete");
            }
            Op::Commit => {
                if *open_tx {
                    c.execute_batch("COMMIT").expect("commit");
                    *open_tx = false;
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Through the gathering VFS, with a page cache either small enough that transactions
        /// spill frames before their commit and rewrite them, or large enough that a commit
        /// gathers more than one piece, and a WAL that checkpoints, restarts and is truncated
        /// often: after every commit a reader on the default VFS sees what a database written
        /// through the default VFS holds, and the file is whole at the end.
        #[test]
        fn gathered_writes_are_what_sqlite_wrote(
            ops in proptest::collection::vec(op(), 1..160),
            cache in prop_oneof![Just(12), Just(2000)],
        ) {
            let dir = tempfile::tempdir().expect("dir");
            let (a, b) = (dir.path().join("gathered.db"), dir.path().join("plain.db"));
            let gathered = open(&a, true);
            let plain = open(&b, false);
            for c in [&gathered, &plain] {
                c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)").expect("create");
                c.pragma_update(None, "cache_size", cache).expect("cache");
                c.pragma_update(None, "wal_autocheckpoint", 40).expect("checkpoint");
                c.pragma_update(None, "journal_size_limit", 64 * 1024).expect("limit");
            }
            let reader = open(&a, false);
            let (mut tx_a, mut tx_b) = (false, false);
            for op in ops.iter().chain(std::iter::once(&Op::Commit)) {
                apply(&gathered, op, &mut tx_a);
                apply(&plain, op, &mut tx_b);
                if matches!(op, Op::Commit) {
                    prop_assert_eq!(contents(&reader), contents(&plain));
                }
            }
            drop(reader);
            drop(gathered);
            let reopened = open(&a, false);
            let check: String = reopened.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
            prop_assert_eq!(check, "ok");
            prop_assert_eq!(contents(&reopened), contents(&plain));
        }
    }

    /// A commit of 100 pages reaches the WAL in pieces of at most PIECE bytes (four), not
    /// in two writes per page.
    #[test]
    fn a_commit_is_a_few_writes() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("one.db");
        let c = open(&path, true);
        c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .expect("create");
        let wal_size = || {
            std::fs::metadata(dir.path().join("one.db-wal"))
                .expect("wal")
                .len() as usize
        };
        let (before, size_before) = (FLUSHES.with(|f| f.get()), wal_size());
        c.execute_batch("BEGIN IMMEDIATE").expect("begin");
        for k in 0..100 {
            c.execute(
                "INSERT INTO t (k, v) VALUES (?1, ?2)",
                params![k, vec![7u8; 3000]],
            )
            .expect("insert");
        }
        c.execute_batch("COMMIT").expect("commit");
        let writes = FLUSHES.with(|f| f.get()) - before;
        let written = wal_size() - size_before;
        assert!(written >= 100 * 4120, "{written} bytes");
        assert_eq!(
            writes,
            written.div_ceil(PIECE),
            "{written} bytes in {writes} writes"
        );
        let rows: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 100);
    }
}
