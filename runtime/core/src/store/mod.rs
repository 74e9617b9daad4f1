//! The durable store: runs, steps, approval gates and model requests, through sqlx.
//!
//! SQLite in `<workspace>/.monstrum/monstrum.db` by default (WAL mode); the same schema on
//! PostgreSQL with `--db postgres://…`. Step completions go through one writer task that commits
//! whatever is queued in a single transaction (group commit), so a wide DAG does not pay one
//! commit per step, while each completion is still on disk before its dependants start.

mod agents;
mod audit;
mod batch_sql;
mod calls;
mod deliveries;
mod mcp;
mod memory;
mod plugin_kv;
mod records;
mod run_events;
mod tokens;
mod vault;
mod versions;
mod writer;

pub use agents::AgentRecord;
pub use audit::AuditFilter;
pub use calls::CallRecord;
pub use deliveries::{DeliveryRecord, NewDelivery};
pub use mcp::{McpAuth, McpServerRecord, McpTool, McpToolChange, McpToolRecord};
pub use memory::MemoryHit;
pub(crate) use memory::search_words;
pub use records::{ApprovalRecord, LlmRecord, RunRecord, StepRecord};
pub use tokens::{TokenRecord, bearer, new_secret, secret_hash};
pub use vault::VaultRow;
pub use versions::VersionRecord;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection, Row};
use std::path::Path;
use std::sync::Once;
use writer::{WriteOp, Writer};

/// A store failure, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("store: {context}: {}", root_cause(cause))]
pub struct StoreError {
    context: String,
    // Not a `#[source]`: the message already names the cause, and error chains would repeat it.
    cause: sqlx::Error,
}

fn root_cause(e: &sqlx::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

trait Context<T> {
    fn context(self, what: impl Into<String>) -> StoreResult<T>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, what: impl Into<String>) -> StoreResult<T> {
        self.map_err(|cause| StoreError { context: what.into(), cause })
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    writer: Writer,
    /// SQLite (else PostgreSQL): it takes `?` parameters, which it finds without a search.
    sqlite: bool,
}

static DRIVERS: Once = Once::new();

/// WAL: readers never block the writer; NORMAL: commits survive a killed process (not a power
/// cut), which is the durability a run needs; a busy database is waited for, not failed.
const SQLITE_SETUP: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;";

impl Store {
    /// The URL of the embedded SQLite store of a workspace.
    pub fn sqlite_url(db_file: &Path) -> String {
        format!("sqlite://{}?mode=rwc", db_file.display())
    }

    /// Opens (creating if needed) the store at `url` and brings its schema up to date.
    pub async fn open(url: &str) -> StoreResult<Store> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let sqlite = url.starts_with("sqlite:");
        // One plain connection first: a pool retries a failing open until its timeout, while a
        // store that cannot be opened (not a database, unreachable) should fail at once.
        let mut probe = sqlx::AnyConnection::connect(url).await.context(format!("cannot open {}", redact_url(url)))?;
        sqlx::raw_sql(if sqlite { SQLITE_SETUP } else { "SELECT 1" })
            .execute(&mut probe)
            .await
            .context(format!("cannot open {}", redact_url(url)))?;
        probe.close().await.context(format!("cannot open {}", redact_url(url)))?;
        // SQLite has one writer at a time: with several connections, a step record batch and an
        // audit append collide and SQLite's busy handler sleeps (1, 2, 5, 10 ms...; ~940 sleeps
        // in a run of 1,000 parallel steps). One connection queues them instead: a run of 1,000
        // steps took 0.82 s (parallel) and 1.53 s (chain) with four, 0.41-0.57 s and 0.31-0.37 s
        // with one. Only the writer holds a transaction, and it acquires nothing inside it.
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 1 } else { 8 })
            .acquire_timeout(std::time::Duration::from_secs(10))
            // A pool pings a connection before lending it; an embedded file has no other end to
            // lose, and on SQLite the ping is one more trip to its thread per query.
            .test_before_acquire(!sqlite)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        sqlx::raw_sql(SQLITE_SETUP).execute(conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .context(format!("cannot open {}", redact_url(url)))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError { context: "cannot migrate the schema".into(), cause: e.into() })?;
        memory::create_search_index(&pool, sqlite).await?;
        let writer = Writer::spawn(pool.clone(), sqlite);
        Ok(Store { pool, writer, sqlite })
    }

    // ---- runs

    /// Records a new run.
    pub(crate) async fn create_run(&self, run: &RunRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO runs (id, workflow, file, source, inputs, status, started_by, parent_run, parent_step, created_at, updated_at, workflow_version, conversation)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&run.id)
        .bind(&run.workflow)
        .bind(&run.file)
        .bind(&run.source)
        .bind(run.inputs.to_string())
        .bind(&run.status)
        .bind(&run.started_by)
        .bind(run.parent_run.clone())
        .bind(run.parent_step.clone())
        .bind(run.created_at)
        .bind(run.updated_at)
        .bind(run.workflow_version)
        .bind(run.conversation.clone())
        .execute(&self.pool)
        .await
        .context("cannot record the run")?;
        Ok(())
    }

    /// A run by id (a unique prefix of at least 6 characters also finds it).
    pub async fn load_run(&self, id: &str) -> StoreResult<Option<RunRecord>> {
        let rows = sqlx::query("SELECT * FROM runs WHERE id = $1 OR id LIKE $2 ORDER BY created_at LIMIT 2")
            .bind(id)
            // A prefix is matched only when it can be one of a run id's (a UUID: hex digits and
            // `-`); `%` and `_` would be LIKE's wildcards. Otherwise the pattern is empty, which
            // no id matches.
            .bind(if id.len() >= 6 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                format!("{id}%")
            } else {
                String::new()
            })
            .fetch_all(&self.pool)
            .await
            .context("cannot read the run")?;
        if let Some(exact) = rows.iter().find(|r| r.get::<String, _>("id") == id) {
            return RunRecord::from_row(exact).map(Some).context("bad run row");
        }
        match rows.as_slice() {
            [one] => RunRecord::from_row(one).map(Some).context("bad run row"),
            _ => Ok(None),
        }
    }

    /// The newest runs first; with `before` (a run's id), the ones started before that run.
    /// `None` if there is no run `before`.
    pub async fn list_runs(&self, limit: i64, before: Option<&str>) -> StoreResult<Option<Vec<RunRecord>>> {
        let rows = match before {
            None => sqlx::query("SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT $1").bind(limit),
            Some(run) => {
                if self.load_run(run).await?.is_none_or(|r| r.id != run) {
                    return Ok(None);
                }
                sqlx::query(
                    "SELECT * FROM runs WHERE (created_at, id) < (SELECT created_at, id FROM runs WHERE id = $1)
                     ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(run)
                .bind(limit)
            }
        }
        .fetch_all(&self.pool)
        .await
        .context("cannot list runs")?;
        rows.iter().map(RunRecord::from_row).collect::<Result<_, _>>().context("bad run row").map(Some)
    }

    /// Top-level runs recorded as running: after a restart, the ones a dead process held are
    /// resumed by whoever serves the workspace.
    pub async fn running_runs(&self) -> StoreResult<Vec<RunRecord>> {
        let rows =
            sqlx::query("SELECT * FROM runs WHERE status = 'running' AND parent_run IS NULL ORDER BY created_at")
                .fetch_all(&self.pool)
                .await
                .context("cannot list running runs")?;
        rows.iter().map(RunRecord::from_row).collect::<Result<_, _>>().context("bad run row")
    }

    /// The child run a sub-workflow step started, if any.
    pub async fn child_run(&self, parent: &str, step: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT id FROM runs WHERE parent_run = $1 AND parent_step = $2")
            .bind(parent)
            .bind(step)
            .fetch_optional(&self.pool)
            .await
            .context("cannot read child run")?;
        Ok(row.map(|r| r.get("id")))
    }

    /// The child runs of `parent` that have not ended (running, or waiting at a gate).
    pub async fn open_children(&self, parent: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM runs WHERE parent_run = $1 AND status IN ('running', 'waiting') ORDER BY created_at",
        )
        .bind(parent)
        .fetch_all(&self.pool)
        .await
        .context("cannot list child runs")?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    /// Sets a run's status, and its outputs and error when it ends. A run that ends, in any way
    /// and by any path (its driver, a cancel of a waiting run, a resume after a crash), loses
    /// its task memory in the same transaction: no bot keeps a run's scratch past the run.
    pub(crate) async fn set_run_status(
        &self,
        id: &str,
        status: &str,
        outputs: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let now = now_ms();
        let finished = matches!(status, "succeeded" | "failed" | "cancelled").then_some(now);
        let mut tx = self.pool.begin().await.context("cannot update the run")?;
        sqlx::query(
            "UPDATE runs SET status = $1, outputs = $2, error = $3, updated_at = $4, finished_at = $5 WHERE id = $6",
        )
        .bind(status)
        .bind(outputs.map(|o| o.to_string()))
        .bind(error.map(str::to_string))
        .bind(now)
        .bind(finished)
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("cannot update the run")?;
        if finished.is_some() {
            memory::clear_task(&mut tx, id).await?;
        }
        tx.commit().await.context("cannot update the run")?;
        Ok(())
    }

    /// Takes the run for this process: succeeds if nobody holds it, the lease ran out, or
    /// `stale_owner` says the holder is gone.
    pub(crate) async fn claim_run(
        &self,
        id: &str,
        owner: &str,
        lease_ms: i64,
        stale_owner: Option<&str>,
    ) -> StoreResult<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE runs SET owner = $1, lease_until = $2
             WHERE id = $3 AND (owner IS NULL OR owner = $4 OR lease_until < $5 OR owner = $6)",
        )
        .bind(owner)
        .bind(now + lease_ms)
        .bind(id)
        .bind(owner)
        .bind(now)
        .bind(stale_owner.unwrap_or(owner).to_string())
        .execute(&self.pool)
        .await
        .context("cannot claim the run")?;
        Ok(done.rows_affected() == 1)
    }

    /// Flags a run as to be cancelled (by `by`), for the process that drives it.
    pub(crate) async fn request_cancel(&self, id: &str, by: &str) -> StoreResult<()> {
        sqlx::query("UPDATE runs SET cancel_requested = $1 WHERE id = $2")
            .bind(by)
            .bind(id)
            .execute(&self.pool)
            .await
            .context("cannot flag the run as cancelled")?;
        Ok(())
    }

    /// Who asked to cancel a run, if anybody did.
    pub(crate) async fn cancel_requested(&self, id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT cancel_requested FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("cannot read the run")?;
        Ok(row.and_then(|r| r.try_get("cancel_requested").ok()).flatten())
    }

    /// Marks steps of a cancelled run `cancelled`, and closes its open gates.
    pub(crate) async fn cancel_steps(&self, run: &str, keys: &[String], reason: &str, at: i64) -> StoreResult<()> {
        for key in keys {
            sqlx::query(
                "UPDATE steps SET status = 'cancelled', error = $1, finished_at = $2 WHERE run_id = $3 AND step_key = $4",
            )
            .bind(reason)
            .bind(at)
            .bind(run)
            .bind(key)
            .execute(&self.pool)
            .await
            .context("cannot record a cancelled step")?;
        }
        sqlx::query(
            "UPDATE approvals SET decision = 'cancelled', comment = $1, decided_at = $2 WHERE run_id = $3 AND decision IS NULL",
        )
        .bind(reason)
        .bind(at)
        .bind(run)
        .execute(&self.pool)
        .await
        .context("cannot close the run's gates")?;
        Ok(())
    }

    /// Gives the run up.
    pub(crate) async fn release_run(&self, id: &str, owner: &str) -> StoreResult<()> {
        sqlx::query("UPDATE runs SET owner = NULL, lease_until = NULL WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await
            .context("cannot release the run")?;
        Ok(())
    }

    // ---- steps

    /// Every step record of a run.
    pub async fn load_steps(&self, run: &str) -> StoreResult<Vec<StepRecord>> {
        let rows = sqlx::query("SELECT * FROM steps WHERE run_id = $1 ORDER BY started_at, step_key")
            .bind(run)
            .fetch_all(&self.pool)
            .await
            .context("cannot read steps")?;
        rows.iter().map(StepRecord::from_row).collect::<Result<_, _>>().context("bad step row")
    }

    /// Notes that an attempt started; queued behind earlier writes, not awaited.
    pub(crate) fn step_started(&self, run: &str, key: &str, step: &str, attempt: u32) {
        self.writer.send(WriteOp::Started {
            run: run.into(),
            key: key.into(),
            step: step.into(),
            attempt,
            at: now_ms(),
        });
    }

    /// Records how a step ended without waiting for the commit; [`Store::flush`] waits for it.
    pub(crate) fn step_finished_later(&self, record: StepRecord) {
        self.writer.send(WriteOp::Finished(record));
    }

    /// Returns once every step record queued so far is committed.
    pub(crate) async fn flush(&self) -> StoreResult<()> {
        self.writer.commit(WriteOp::Barrier).await.map(drop)
    }

    /// Records how a step (or item) ended; returns once it is committed.
    pub(crate) async fn step_finished(&self, record: StepRecord) -> StoreResult<()> {
        self.writer.commit(WriteOp::Finished(record)).await.map(drop)
    }

    /// Forgets steps so that a resume runs them again (`resume --from`).
    pub(crate) async fn delete_steps(&self, run: &str, step_ids: &[String]) -> StoreResult<()> {
        // A step's own rows and its items' (`id[3]`): gates over its writes in doubt, and its
        // journaled calls, so that running it again is a new call (a person asked for it).
        const OF_STEP: &str = "= $2 OR substr(?, 1, length($2) + 1) = $2 || '['";
        for id in step_ids {
            sqlx::query("DELETE FROM steps WHERE run_id = $1 AND step_id = $2")
                .bind(run)
                .bind(id)
                .execute(&self.pool)
                .await
                .context("cannot reset steps")?;
            for (table, column) in [("approvals", "step_id"), ("tool_calls", "step_key")] {
                let sql =
                    format!("DELETE FROM {table} WHERE run_id = $1 AND ({column} {})", OF_STEP.replace('?', column));
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(run)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .context(format!("cannot reset {table}"))?;
            }
        }
        Ok(())
    }

    // ---- approvals

    /// Opens a gate unless it is already open; returns the gate as recorded.
    pub(crate) async fn request_approval(&self, gate: &ApprovalRecord) -> StoreResult<ApprovalRecord> {
        sqlx::query(
            "INSERT INTO approvals (run_id, step_id, message, approvers, self_approval, requested_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, step_id) DO NOTHING",
        )
        .bind(&gate.run_id)
        .bind(&gate.step_id)
        .bind(&gate.message)
        .bind(serde_json::to_string(&gate.approvers).unwrap_or_default())
        .bind(gate.self_approval as i64)
        .bind(gate.requested_at)
        .bind(gate.expires_at)
        .execute(&self.pool)
        .await
        .context("cannot open the approval gate")?;
        self.load_approval(&gate.run_id, &gate.step_id)
            .await?
            .ok_or_else(|| StoreError { context: "approval gate vanished".into(), cause: sqlx::Error::RowNotFound })
    }

    /// A gate of a run.
    pub async fn load_approval(&self, run: &str, step: &str) -> StoreResult<Option<ApprovalRecord>> {
        let row = sqlx::query("SELECT * FROM approvals WHERE run_id = $1 AND step_id = $2")
            .bind(run)
            .bind(step)
            .fetch_optional(&self.pool)
            .await
            .context("cannot read the approval gate")?;
        row.as_ref().map(ApprovalRecord::from_row).transpose().context("bad approval row")
    }

    /// Gates of a run that wait for a decision.
    pub async fn open_approvals(&self, run: &str) -> StoreResult<Vec<ApprovalRecord>> {
        let rows = sqlx::query("SELECT * FROM approvals WHERE run_id = $1 AND decision IS NULL ORDER BY requested_at")
            .bind(run)
            .fetch_all(&self.pool)
            .await
            .context("cannot read approval gates")?;
        rows.iter().map(ApprovalRecord::from_row).collect::<Result<_, _>>().context("bad approval row")
    }

    /// Every gate that waits for a decision, oldest first.
    pub async fn pending_approvals(&self) -> StoreResult<Vec<ApprovalRecord>> {
        let rows = sqlx::query("SELECT * FROM approvals WHERE decision IS NULL ORDER BY requested_at")
            .fetch_all(&self.pool)
            .await
            .context("cannot read approval gates")?;
        rows.iter().map(ApprovalRecord::from_row).collect::<Result<_, _>>().context("bad approval row")
    }

    /// Records a decision (`approved`, `rejected` or `expired`) on an undecided gate; false if
    /// it was already decided.
    pub(crate) async fn decide_approval(
        &self,
        run: &str,
        step: &str,
        decision: &str,
        by: &str,
        comment: Option<&str>,
        output: Option<&serde_json::Value>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE approvals SET decision = $1, decided_by = $2, comment = $3, decided_at = $4, output = $7
             WHERE run_id = $5 AND step_id = $6 AND decision IS NULL",
        )
        .bind(decision)
        .bind(by)
        .bind(comment.map(str::to_string))
        .bind(now_ms())
        .bind(run)
        .bind(step)
        .bind(output.map(serde_json::Value::to_string))
        .execute(&self.pool)
        .await
        .context("cannot record the decision")?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that an undecided gate expired (which rejects it); false if it was decided.
    pub(crate) async fn expire_approval(&self, run: &str, step: &str) -> StoreResult<bool> {
        self.decide_approval(run, step, "expired", "timeout", Some("expired"), None).await
    }

    // ---- model requests

    /// Records one model request.
    pub(crate) async fn record_llm_request(&self, r: &LlmRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO llm_requests (id, run_id, step_key, provider, model, script, tools, input_tokens, output_tokens, error, at, memory)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&r.run_id)
        .bind(&r.step_key)
        .bind(&r.provider)
        .bind(&r.model)
        .bind(r.script.clone())
        .bind(serde_json::to_string(&r.tools).unwrap_or_default())
        .bind(r.input_tokens as i64)
        .bind(r.output_tokens as i64)
        .bind(r.error.clone())
        .bind(r.at)
        .bind(serde_json::to_string(&r.memory).unwrap_or_default())
        .execute(&self.pool)
        .await
        .context("cannot record the model request")?;
        Ok(())
    }

    /// The model requests of a run, oldest first.
    pub async fn llm_requests(&self, run: &str) -> StoreResult<Vec<LlmRecord>> {
        let rows = sqlx::query("SELECT * FROM llm_requests WHERE run_id = $1 ORDER BY at, id")
            .bind(run)
            .fetch_all(&self.pool)
            .await
            .context("cannot read model requests")?;
        rows.iter().map(LlmRecord::from_row).collect::<Result<_, _>>().context("bad model request row")
    }
}

fn redact_url(url: &str) -> String {
    // postgres://user:password@host/db: never print the password.
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn json_column(row: &AnyRow, name: &str) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let text: Option<String> = row.try_get(name)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e)))).transpose()
}
