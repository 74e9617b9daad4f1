//! Bot memory in the store.

use super::{Context, Store, StoreResult};
use serde_json::Value;
use sqlx::Row;

impl Store {
    /// A bot's value under `key` in `part`.
    pub async fn memory_get(&self, bot: &str, part: &str, key: &str) -> StoreResult<Option<Value>> {
        let row = sqlx::query("SELECT value FROM memory WHERE bot = $1 AND part = $2 AND mkey = $3")
            .bind(bot)
            .bind(part)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .context("cannot read memory")?;
        row.map(|r| -> Result<Value, sqlx::Error> {
            let text: String = r.try_get("value")?;
            serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
        })
        .transpose()
        .context("bad memory row")
    }

    /// Stores a bot's value.
    pub(crate) async fn memory_set(&self, bot: &str, part: &str, key: &str, value: &Value, at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memory (bot, part, mkey, value, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (bot, part, mkey) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(bot)
        .bind(part)
        .bind(key)
        .bind(value.to_string())
        .bind(at)
        .execute(&self.pool)
        .await
        .context("cannot write memory")?;
        Ok(())
    }

    /// Forgets a key; whether it was there.
    pub(crate) async fn memory_delete(&self, bot: &str, part: &str, key: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM memory WHERE bot = $1 AND part = $2 AND mkey = $3")
            .bind(bot)
            .bind(part)
            .bind(key)
            .execute(&self.pool)
            .await
            .context("cannot delete memory")?;
        Ok(done.rows_affected() > 0)
    }

    /// A bot's keys in `part`.
    pub async fn memory_keys(&self, bot: &str, part: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT mkey FROM memory WHERE bot = $1 AND part = $2 ORDER BY mkey")
            .bind(bot)
            .bind(part)
            .fetch_all(&self.pool)
            .await
            .context("cannot list memory")?;
        rows.iter().map(|r| r.try_get("mkey")).collect::<Result<_, _>>().context("bad memory row")
    }

    /// A bot's entries in `parts` that match `query`, best first: ranked by the store's own
    /// full-text engine (SQLite FTS5's bm25, PostgreSQL's `ts_rank`). Any word of the query
    /// matches; a query without words finds nothing.
    pub async fn memory_search(
        &self,
        bot: &str,
        parts: &[String],
        query: &str,
        limit: usize,
    ) -> StoreResult<Vec<MemoryHit>> {
        let words = search_words(query);
        if words.is_empty() || parts.is_empty() {
            return Ok(Vec::new());
        }
        let places: Vec<String> = (0..parts.len()).map(|i| format!("${}", i + 3)).collect();
        let places = places.join(", ");
        let limit_at = parts.len() + 3;
        let sql = if self.sqlite {
            format!(
                // CROSS JOIN: SQLite keeps the full-text match as the outer loop; left to itself
                // it walked the bot's rows and matched each one (minutes at 100,000 entries).
                "SELECT m.part, m.mkey, m.value, bm25(memory_fts) AS score
                 FROM memory_fts CROSS JOIN memory m ON m.rowid = memory_fts.rowid
                 WHERE memory_fts MATCH $1 AND m.bot = $2 AND m.part IN ({places})
                 ORDER BY score, m.mkey LIMIT ${limit_at}"
            )
        } else {
            format!(
                "SELECT part, mkey, value, -ts_rank(words, q)::float8 AS score
                 FROM memory, to_tsquery('simple', $1) q
                 WHERE words @@ q AND bot = $2 AND part IN ({places})
                 ORDER BY score, mkey LIMIT ${limit_at}"
            )
        };
        let text = if self.sqlite {
            words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" OR ")
        } else {
            words.join(" | ")
        };
        // Only placeholders are formatted into the text; every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(text).bind(bot);
        for part in parts {
            q = q.bind(part);
        }
        let rows = q.bind(limit as i64).fetch_all(&self.pool).await.context("cannot search memory")?;
        rows.iter()
            .map(|r| -> Result<MemoryHit, sqlx::Error> {
                let value: String = r.try_get("value")?;
                Ok(MemoryHit {
                    partition: r.try_get("part")?,
                    key: r.try_get("mkey")?,
                    value: serde_json::from_str(&value).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    // Lower is better in both engines' order; shown as higher-is-better.
                    score: -r.try_get::<f64, _>("score")?,
                })
            })
            .collect::<Result<_, _>>()
            .context("bad memory row")
    }
}

/// One entry a memory search found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MemoryHit {
    pub partition: String,
    pub key: String,
    pub value: Value,
    /// The engine's relevance, higher is better (comparable within one search only).
    pub score: f64,
}

/// The words PostgreSQL indexes for an entry (its stored column `words`, under a GIN index): split
/// where [`search_words`] and FTS5 split them, at anything but a letter or digit (PostgreSQL's
/// own parser reads `web-1` as `web` and `-1`). Stored, so ranking a match reads it rather than
/// computing it again for every matching row.
const DOCUMENT: &str = "to_tsvector('simple', regexp_replace(mkey || ' ' || value, '[^[:alnum:]]+', ' ', 'g'))";

/// The words of a search: letters and digits, lower-cased, at most 16 of them. Quoted for
/// FTS5 and joined for `to_tsquery`, so a query's punctuation is never the engine's syntax.
pub(crate) fn search_words(query: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in query.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word: String = word.to_lowercase().chars().take(64).collect();
        if !words.contains(&word) {
            words.push(word);
        }
        if words.len() == 16 {
            break;
        }
    }
    words
}

/// Creates the full-text index over memory if it is not there: the store's own engine, so not
/// portable SQL, and not a migration. SQLite: an FTS5 table over `memory`'s rows (by rowid),
/// kept by triggers, and filled from the rows already there when it is created (a VACUUM may
/// renumber rowids; `INSERT INTO memory_fts(memory_fts) VALUES('rebuild')` re-syncs it).
/// PostgreSQL: a stored generated `tsvector` column and a GIN index on it (replacing the index
/// on the expression an earlier version made).
pub(super) async fn create_search_index(pool: &sqlx::AnyPool, sqlite: bool) -> StoreResult<()> {
    let what = "cannot create the memory search index";
    if !sqlite {
        // Checked first: ALTER TABLE locks the table even when it has nothing to do.
        let has_words = sqlx::query(
            "SELECT 1 FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'memory' AND column_name = 'words'",
        )
        .fetch_optional(pool)
        .await
        .context(what)?
        .is_some();
        if has_words {
            return Ok(());
        }
        let sql = format!(
            "ALTER TABLE memory ADD COLUMN IF NOT EXISTS words tsvector GENERATED ALWAYS AS ({DOCUMENT}) STORED;
             CREATE INDEX IF NOT EXISTS memory_words_stored ON memory USING GIN (words);
             DROP INDEX IF EXISTS memory_words;"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.context(what)?;
        return Ok(());
    }
    let mut tx = pool.begin().await.context(what)?;
    let exists = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'memory_fts'")
        .fetch_optional(&mut *tx)
        .await
        .context(what)?
        .is_some();
    if !exists {
        sqlx::raw_sql(
            "CREATE VIRTUAL TABLE memory_fts USING fts5(mkey, value, content='memory', tokenize='unicode61');
             CREATE TRIGGER memory_fts_insert AFTER INSERT ON memory BEGIN
               INSERT INTO memory_fts (rowid, mkey, value) VALUES (new.rowid, new.mkey, new.value);
             END;
             CREATE TRIGGER memory_fts_delete AFTER DELETE ON memory BEGIN
               INSERT INTO memory_fts (memory_fts, rowid, mkey, value) VALUES ('delete', old.rowid, old.mkey, old.value);
             END;
             CREATE TRIGGER memory_fts_update AFTER UPDATE ON memory BEGIN
               INSERT INTO memory_fts (memory_fts, rowid, mkey, value) VALUES ('delete', old.rowid, old.mkey, old.value);
               INSERT INTO memory_fts (rowid, mkey, value) VALUES (new.rowid, new.mkey, new.value);
             END;
             INSERT INTO memory_fts (memory_fts) VALUES ('rebuild');",
        )
        .execute(&mut *tx)
        .await
        .context(what)?;
    }
    tx.commit().await.context(what)?;
    Ok(())
}

/// Deletes run `run`'s task partition, for every bot, in the transaction that ends the run.
pub(super) async fn clear_task(tx: &mut sqlx::Transaction<'_, sqlx::Any>, run: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM memory WHERE part = $1")
        .bind(format!("task:{run}"))
        .execute(&mut **tx)
        .await
        .context("cannot delete the run's task memory")?;
    Ok(())
}
