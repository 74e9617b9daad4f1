//! Registered MCP servers and their tools in the store (DESIGN.md, "MCP"): what each server last
//! described, and what an admin approved. The catalog offers a tool only while the two agree.

use super::{Context, Store, StoreResult, now_ms};
use monstrum_model::{Effect, Manifest, ToolDef};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// A registered MCP server. `headers` names, for each HTTP header sent to it, the vault entry
/// holding its value.
#[derive(Clone, Debug, Serialize)]
pub struct McpServerRecord {
    pub name: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub auth: Option<McpAuth>,
    pub created_at: i64,
    pub refreshed_at: Option<i64>,
}

/// How a server's access tokens are obtained: OAuth 2.1 client credentials.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct McpAuth {
    /// `client_secret` (sent as `client_secret_post` or `client_secret_basic`, as the
    /// authorization server supports) or `private_key_jwt` (an ES256 assertion).
    pub method: String,
    pub client_id: String,
    /// The vault entry of the client secret, or of the PEM private key for `private_key_jwt`.
    pub secret: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The authorization server's metadata, discovered at registration (or made from the token
    /// URL given): later connections use it as pinned, so a server cannot send the secret
    /// elsewhere by changing its metadata.
    pub metadata: Value,
}

/// A tool as an MCP server describes it: everything its fingerprint covers.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct McpTool {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub input_schema: Value,
    #[serde(default)]
    pub annotations: Value,
}

impl McpTool {
    /// SHA-256 over the name, description, input schema and annotations, with object keys in
    /// sorted order (a server that reorders a schema's keys has not changed it).
    pub fn fingerprint(&self) -> String {
        let canonical = sorted(&serde_json::to_value(self).unwrap_or(Value::Null)).to_string();
        crate::audit::hex_digest(Sha256::digest(canonical.as_bytes()).into())
    }

    /// What a call does, from the server's annotations: `readOnlyHint` is a read,
    /// `idempotentHint` idempotent, anything else a write (the safe default after a crash).
    pub fn effect(&self) -> Effect {
        let hint = |name: &str| self.annotations.get(name).and_then(Value::as_bool) == Some(true);
        if hint("readOnlyHint") {
            Effect::Read
        } else if hint("idempotentHint") {
            Effect::Idempotent
        } else {
            Effect::Write
        }
    }

    fn to_def(&self) -> ToolDef {
        ToolDef {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.input_schema.clone(),
            scope: Vec::new(),
            redact: Vec::new(),
            effect: self.effect(),
        }
    }
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let by_key: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(by_key.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// One tool of a registered server: what it last said, and what was approved.
#[derive(Clone, Debug, Serialize)]
pub struct McpToolRecord {
    pub server: String,
    pub seen: McpTool,
    pub seen_fingerprint: String,
    pub approved: Option<McpTool>,
    pub approved_fingerprint: Option<String>,
    pub changed_at: i64,
}

impl McpToolRecord {
    /// A tool as first seen: approved when `approve` (at registration), else quarantined.
    pub fn new(server: &str, seen: McpTool, approve: bool) -> McpToolRecord {
        let fingerprint = seen.fingerprint();
        McpToolRecord {
            server: server.to_string(),
            approved: approve.then(|| seen.clone()),
            approved_fingerprint: approve.then(|| fingerprint.clone()),
            seen,
            seen_fingerprint: fingerprint,
            changed_at: now_ms(),
        }
    }

    /// `approved` (offered to the bots that bind it), `new` or `changed` (quarantined).
    pub fn state(&self) -> &'static str {
        match &self.approved_fingerprint {
            Some(f) if *f == self.seen_fingerprint => "approved",
            Some(_) => "changed",
            None => "new",
        }
    }
}

/// A change to a server's stored tools.
pub enum McpToolChange {
    /// Insert or replace this record.
    Put(McpToolRecord),
    /// The server no longer has this tool.
    Remove(String),
}

fn server_row(row: &AnyRow) -> Result<McpServerRecord, sqlx::Error> {
    let headers: String = row.try_get("headers")?;
    let auth: Option<String> = row.try_get("auth")?;
    Ok(McpServerRecord {
        name: row.try_get("name")?,
        url: row.try_get("url")?,
        headers: serde_json::from_str(&headers).map_err(|e| sqlx::Error::Decode(e.into()))?,
        auth: auth.map(|a| serde_json::from_str(&a)).transpose().map_err(|e| sqlx::Error::Decode(e.into()))?,
        created_at: row.try_get("created_at")?,
        refreshed_at: row.try_get("refreshed_at")?,
    })
}

fn tool_row(row: &AnyRow) -> Result<McpToolRecord, sqlx::Error> {
    let json = |column: &str| -> Result<Option<McpTool>, sqlx::Error> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(e.into()))).transpose()
    };
    Ok(McpToolRecord {
        server: row.try_get("server")?,
        seen: json("seen")?.ok_or_else(|| sqlx::Error::Decode("a tool row without `seen`".into()))?,
        seen_fingerprint: row.try_get("seen_fingerprint")?,
        approved: json("approved")?,
        approved_fingerprint: row.try_get("approved_fingerprint")?,
        changed_at: row.try_get("changed_at")?,
    })
}

fn to_text(tool: &McpTool) -> String {
    serde_json::to_string(tool).expect("a tool serializes")
}

impl Store {
    /// Registers a server with its first tool list, all approved; false if the name is taken.
    pub(crate) async fn add_mcp_server(&self, server: &McpServerRecord, tools: &[McpToolRecord]) -> StoreResult<bool> {
        let what = || format!("cannot register MCP server {}", server.name);
        let mut tx = self.pool.begin().await.context(what())?;
        let done = sqlx::query(
            "INSERT INTO mcp_servers (name, url, headers, auth, created_at, refreshed_at) VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&server.name)
        .bind(&server.url)
        .bind(serde_json::to_string(&server.headers).expect("headers serialize"))
        .bind(server.auth.as_ref().map(|a| serde_json::to_string(a).expect("auth serializes")))
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .context(what())?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        for tool in tools {
            put_tool(&mut tx, tool).await.context(what())?;
        }
        tx.commit().await.context(what())?;
        Ok(true)
    }

    /// Every registered server, by name.
    pub async fn mcp_servers(&self) -> StoreResult<Vec<McpServerRecord>> {
        let rows = sqlx::query("SELECT * FROM mcp_servers ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .context("cannot list MCP servers")?;
        rows.iter().map(server_row).collect::<Result<_, _>>().context("bad MCP server row")
    }

    /// The server registered as `name`.
    pub async fn mcp_server(&self, name: &str) -> StoreResult<Option<McpServerRecord>> {
        let row = sqlx::query("SELECT * FROM mcp_servers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .context(format!("cannot read MCP server {name}"))?;
        row.as_ref().map(server_row).transpose().context("bad MCP server row")
    }

    /// Forgets a server and its tools; false if there was none of that name.
    pub(crate) async fn remove_mcp_server(&self, name: &str) -> StoreResult<bool> {
        let what = || format!("cannot remove MCP server {name}");
        let mut tx = self.pool.begin().await.context(what())?;
        sqlx::query("DELETE FROM mcp_tools WHERE server = $1").bind(name).execute(&mut *tx).await.context(what())?;
        let done =
            sqlx::query("DELETE FROM mcp_servers WHERE name = $1").bind(name).execute(&mut *tx).await.context(what())?;
        tx.commit().await.context(what())?;
        Ok(done.rows_affected() == 1)
    }

    /// The stored tools of `server`, by name.
    pub async fn mcp_tools(&self, server: &str) -> StoreResult<Vec<McpToolRecord>> {
        let rows = sqlx::query("SELECT * FROM mcp_tools WHERE server = $1 ORDER BY name")
            .bind(server)
            .fetch_all(&self.pool)
            .await
            .context(format!("cannot list the tools of MCP server {server}"))?;
        rows.iter().map(tool_row).collect::<Result<_, _>>().context("bad MCP tool row")
    }

    /// Applies `changes` to `server`'s tools and marks it refreshed, in one transaction.
    pub(crate) async fn save_mcp_tools(&self, server: &str, changes: &[McpToolChange]) -> StoreResult<()> {
        let what = || format!("cannot store the tools of MCP server {server}");
        let mut tx = self.pool.begin().await.context(what())?;
        for change in changes {
            match change {
                McpToolChange::Put(tool) => put_tool(&mut tx, tool).await.context(what())?,
                McpToolChange::Remove(name) => {
                    sqlx::query("DELETE FROM mcp_tools WHERE server = $1 AND name = $2")
                        .bind(server)
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .context(what())?;
                }
            }
        }
        sqlx::query("UPDATE mcp_servers SET refreshed_at = $1 WHERE name = $2")
            .bind(now_ms())
            .bind(server)
            .execute(&mut *tx)
            .await
            .context(what())?;
        tx.commit().await.context(what())
    }

    /// Approves what `server` says of `tool` now; false if it has no such tool.
    pub(crate) async fn approve_mcp_tool(&self, server: &str, tool: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE mcp_tools SET approved = seen, approved_fingerprint = seen_fingerprint, changed_at = $1
             WHERE server = $2 AND name = $3",
        )
        .bind(now_ms())
        .bind(server)
        .bind(tool)
        .execute(&self.pool)
        .await
        .context(format!("cannot approve {tool} of MCP server {server}"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Every registered server as a manifest of its approved tools, for the catalog. A
    /// quarantined tool is not in it: to every bot it does not exist.
    pub async fn mcp_manifests(&self) -> StoreResult<Vec<Manifest>> {
        let mut out = Vec::new();
        for server in self.mcp_servers().await? {
            let tools = self.mcp_tools(&server.name).await?;
            out.push(Manifest {
                name: server.name.clone(),
                version: "0.0.0".into(),
                description: Some(format!("MCP server at {}", server.url)),
                component: String::new(),
                credentials: BTreeMap::new(),
                config: BTreeMap::new(),
                network: Vec::new(),
                http: None,
                dimensions: BTreeMap::new(),
                ssh: None,
                signer: None,
                tools: tools
                    .iter()
                    .filter(|t| t.state() == "approved")
                    .filter_map(|t| t.approved.as_ref())
                    .map(McpTool::to_def)
                    .collect(),
            });
        }
        Ok(out)
    }
}

async fn put_tool(tx: &mut sqlx::Transaction<'_, sqlx::Any>, tool: &McpToolRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mcp_tools (server, name, seen, seen_fingerprint, approved, approved_fingerprint, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (server, name) DO UPDATE SET seen = $3, seen_fingerprint = $4, approved = $5,
             approved_fingerprint = $6, changed_at = $7",
    )
    .bind(&tool.server)
    .bind(&tool.seen.name)
    .bind(to_text(&tool.seen))
    .bind(&tool.seen_fingerprint)
    .bind(tool.approved.as_ref().map(to_text))
    .bind(tool.approved_fingerprint.clone())
    .bind(tool.changed_at)
    .execute(&mut **tx)
    .await
    .map(drop)
}
