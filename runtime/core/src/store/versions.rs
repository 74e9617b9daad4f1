//! Workflow versions in the store: the text of every save, numbered from 1 per workflow.

use super::{Context, Store, StoreResult, now_ms};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// One stored version of a workflow.
#[derive(Clone, Debug, Serialize)]
pub struct VersionRecord {
    pub workflow: String,
    pub version: i64,
    /// SHA-256 of the text, hex.
    pub hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub author: String,
    pub message: String,
    pub created_at: i64,
}

fn version_row(row: &AnyRow, with_text: bool) -> Result<VersionRecord, sqlx::Error> {
    Ok(VersionRecord {
        workflow: row.try_get("workflow")?,
        version: row.try_get("version")?,
        hash: row.try_get("hash")?,
        text: if with_text { Some(row.try_get("text")?) } else { None },
        author: row.try_get("author")?,
        message: row.try_get("message")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Stores `text` as version `version` of `workflow`; false if that version exists (somebody
    /// saved first).
    pub(crate) async fn insert_version(&self, v: &VersionRecord, text: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO workflow_versions (workflow, version, hash, text, author, message, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (workflow, version) DO NOTHING",
        )
        .bind(&v.workflow)
        .bind(v.version)
        .bind(&v.hash)
        .bind(text)
        .bind(&v.author)
        .bind(&v.message)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context(format!("cannot store a version of workflow {}", v.workflow))?;
        Ok(done.rows_affected() == 1)
    }

    /// The newest version of `workflow` (without its text), if it was ever saved.
    pub async fn head_version(&self, workflow: &str) -> StoreResult<Option<VersionRecord>> {
        let row = sqlx::query(
            "SELECT workflow, version, hash, author, message, created_at FROM workflow_versions
             WHERE workflow = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(workflow)
        .fetch_optional(&self.pool)
        .await
        .context(format!("cannot read the versions of workflow {workflow}"))?;
        row.as_ref().map(|r| version_row(r, false)).transpose().context("bad version row")
    }

    /// Every version of `workflow`, newest first, without their texts.
    pub async fn versions(&self, workflow: &str) -> StoreResult<Vec<VersionRecord>> {
        let rows = sqlx::query(
            "SELECT workflow, version, hash, author, message, created_at FROM workflow_versions
             WHERE workflow = $1 ORDER BY version DESC",
        )
        .bind(workflow)
        .fetch_all(&self.pool)
        .await
        .context(format!("cannot read the versions of workflow {workflow}"))?;
        rows.iter().map(|r| version_row(r, false)).collect::<Result<_, _>>().context("bad version row")
    }

    /// One version with its text.
    pub async fn version(&self, workflow: &str, version: i64) -> StoreResult<Option<VersionRecord>> {
        let row = sqlx::query("SELECT * FROM workflow_versions WHERE workflow = $1 AND version = $2")
            .bind(workflow)
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .context(format!("cannot read version {version} of workflow {workflow}"))?;
        row.as_ref().map(|r| version_row(r, true)).transpose().context("bad version row")
    }

    /// The newest version of `workflow` whose text has `hash`.
    pub(crate) async fn version_of_text(&self, workflow: &str, hash: &str) -> StoreResult<Option<i64>> {
        let row = sqlx::query(
            "SELECT version FROM workflow_versions WHERE workflow = $1 AND hash = $2 ORDER BY version DESC LIMIT 1",
        )
        .bind(workflow)
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .context(format!("cannot read the versions of workflow {workflow}"))?;
        Ok(row.map(|r| r.get("version")))
    }
}
