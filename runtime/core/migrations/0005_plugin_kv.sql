-- The `kv` capability: key-value storage private to one plugin instance, kept across runs.
-- Portable SQL (SQLite and PostgreSQL): values are base64 TEXT.
CREATE TABLE plugin_kv (
    instance    TEXT NOT NULL,
    kkey        TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (instance, kkey)
);
