//! The local MCP registry and the MCP proxy's tool pins.
//!
//! Registry entries are kept as the engine's own JSON ([`McpServerEntry`]), so the CLI, the
//! hook and the proxy read back exactly what the engine decides with, and the API service can
//! store the same documents.

use crate::{Result, Store};
use cavra_engine::{McpRegistry, McpServerEntry};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// What the MCP proxy first saw of a tool: the digest of its description and input schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolPin {
    /// The server (as named to the proxy).
    pub server: String,
    /// The tool.
    pub tool: String,
    /// `sha256:…` of the tool's canonical description and schema.
    pub digest: String,
    /// When it was first seen.
    pub first_seen: crate::Timestamp,
}

impl Store {
    /// Adds or replaces a server's registry entry.
    pub fn put_mcp_server(
        &mut self,
        entry: &McpServerEntry,
        updated_by: Option<&str>,
        now: &str,
    ) -> Result<()> {
        let text = serde_json::to_string(entry)?;
        self.conn.execute(
            "INSERT INTO mcp_servers (name, entry, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET entry = ?2, updated_at = ?3, updated_by = ?4",
            params![entry.name, text, now, updated_by],
        )?;
        Ok(())
    }

    /// Removes a server from the registry; false when it was not there.
    pub fn remove_mcp_server(&mut self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM mcp_servers WHERE name = ?1", params![name])?
            > 0)
    }

    /// One server's entry.
    pub fn mcp_server(&self, name: &str) -> Result<Option<McpServerEntry>> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT entry FROM mcp_servers WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        })
    }

    /// The whole registry. A damaged entry is an error, never skipped: a registry with a
    /// server silently missing would block it, one with a restriction missing would allow.
    pub fn mcp_registry(&self) -> Result<McpRegistry> {
        let mut stmt = self
            .conn
            .prepare("SELECT entry FROM mcp_servers ORDER BY name")?;
        let texts: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        let mut entries = Vec::with_capacity(texts.len());
        for t in texts {
            entries.push(serde_json::from_str::<McpServerEntry>(&t)?);
        }
        Ok(McpRegistry::from_entries(entries))
    }

    /// The pinned digest of a tool, if it was seen before.
    pub fn tool_pin(&self, server: &str, tool: &str) -> Result<Option<ToolPin>> {
        Ok(self
            .conn
            .query_row(
                "SELECT server, tool, digest, first_seen FROM mcp_tool_pins WHERE server = ?1 AND tool = ?2",
                params![server, tool],
                |r| {
                    Ok(ToolPin {
                        server: r.get(0)?,
                        tool: r.get(1)?,
                        digest: r.get(2)?,
                        first_seen: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Pins a tool's digest the first time it is seen; returns the pin in force (the earlier
    /// one when there was one, so a changed tool never replaces its own pin).
    pub fn pin_tool(
        &mut self,
        server: &str,
        tool: &str,
        digest: &str,
        now: crate::Timestamp,
    ) -> Result<ToolPin> {
        self.conn.execute(
            "INSERT OR IGNORE INTO mcp_tool_pins (server, tool, digest, first_seen) VALUES (?1, ?2, ?3, ?4)",
            params![server, tool, digest, now],
        )?;
        match self.tool_pin(server, tool)? {
            Some(p) => Ok(p),
            None => Err(crate::StoreError::Corrupt(format!(
                "the pin of {server}/{tool} vanished after it was written"
            ))),
        }
    }

    /// Forgets a tool's pin (a person accepted its new description).
    pub fn unpin_tool(&mut self, server: &str, tool: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM mcp_tool_pins WHERE server = ?1 AND tool = ?2",
            params![server, tool],
        )? > 0)
    }
}
