-- The audit trail and the budget ledger. Portable SQL (SQLite and PostgreSQL).

-- Append-only; each record's hash covers its fields and the previous record's hash, so an
-- edited, removed or reordered record breaks the chain (`monstrum audit verify`).
CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    run_id    TEXT,
    step_key  TEXT,
    bot       TEXT,
    tool      TEXT,
    decision  TEXT,
    reason    TEXT,
    detail    TEXT NOT NULL,
    prev      TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_by_run ON audit (run_id);
CREATE INDEX audit_by_bot ON audit (bot);

-- One row per account a model request is charged to (`bot:<name>`, `delegation:<id>`).
-- A reservation is written before the request is sent and settled with the real usage after.
-- Money is in micro-dollars so sums are exact.
CREATE TABLE budget_usage (
    reservation  TEXT NOT NULL,
    account      TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    at           BIGINT NOT NULL,
    tokens       BIGINT NOT NULL,
    micro_usd    BIGINT NOT NULL,
    settled      INTEGER NOT NULL,
    PRIMARY KEY (reservation, account)
);
CREATE INDEX budget_by_account ON budget_usage (account, at);
