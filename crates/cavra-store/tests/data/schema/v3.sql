-- The local store schema as cavra left it at version 3: migrations 1..3 exactly as released
-- (git commit f3be63f, 2026-12-03, crates/cavra-store/src/lib.rs). Frozen: tests/migrations.rs creates a
-- database from this file and migrates it to the current version.

-- migration 1
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        agent TEXT,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        cwd TEXT,
        decisions INTEGER NOT NULL DEFAULT 0,
        blocked INTEGER NOT NULL DEFAULT 0,
        approvals INTEGER NOT NULL DEFAULT 0,
        warned INTEGER NOT NULL DEFAULT 0,
        outcomes INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        decision_id TEXT NOT NULL UNIQUE,
        session_id TEXT,
        tool_use_id TEXT,
        action_type TEXT NOT NULL,
        decision TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX decisions_session ON decisions(session_id, seq);
    CREATE INDEX decisions_tool_use ON decisions(tool_use_id);
    CREATE INDEX decisions_decision ON decisions(decision);
    CREATE INDEX decisions_fingerprint ON decisions(fingerprint);
    CREATE TABLE outcomes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tool_use_id TEXT,
        decision_id TEXT,
        session_id TEXT,
        success INTEGER,
        sha256 TEXT,
        path TEXT,
        timestamp TEXT NOT NULL
    );
    CREATE INDEX outcomes_tool_use ON outcomes(tool_use_id);
    CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        decision_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        session_id TEXT,
        approver_group TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        state TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        reason TEXT,
        summary TEXT NOT NULL,
        history TEXT NOT NULL
    );
    CREATE INDEX approvals_fingerprint ON approvals(fingerprint, state);
    CREATE INDEX approvals_state ON approvals(state);
    

-- migration 2
    CREATE TABLE log_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        log_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        frontier BLOB NOT NULL
    );
    INSERT INTO log_meta (id, log_id, size, frontier) VALUES (1, lower(hex(randomblob(16))), 0, x'');
    CREATE TABLE log_entries (
        idx INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        ref_id TEXT,
        session_id TEXT,
        timestamp TEXT NOT NULL,
        entry BLOB NOT NULL,
        leaf_hash BLOB NOT NULL
    );
    CREATE INDEX log_entries_session ON log_entries(session_id, idx);
    CREATE INDEX log_entries_time ON log_entries(timestamp, idx);
    CREATE INDEX log_entries_ref ON log_entries(ref_id);
    CREATE TABLE checkpoints (
        tree_size INTEGER PRIMARY KEY,
        root_hash TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        key_id TEXT NOT NULL,
        envelope TEXT NOT NULL
    );
    CREATE TABLE policies (
        digest TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        document TEXT NOT NULL,
        first_used TEXT NOT NULL
    );
    

-- migration 3
    CREATE TABLE mcp_servers (
        name TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by TEXT
    );
    CREATE TABLE mcp_tool_pins (
        server TEXT NOT NULL,
        tool TEXT NOT NULL,
        digest TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        PRIMARY KEY (server, tool)
    );
    
