-- Runs, their steps, approval gates and model requests. Portable SQL: the same file runs on
-- SQLite (the embedded default) and PostgreSQL. Ids are text, times are milliseconds since the
-- epoch, JSON is stored as text. Later tables (bots, bindings, audit records, memory partitions,
-- plugin instances, vault entries) come as further numbered migrations keyed the same way.

CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    workflow     TEXT NOT NULL,
    file         TEXT NOT NULL,
    source       TEXT NOT NULL,
    inputs       TEXT NOT NULL,
    status       TEXT NOT NULL,
    started_by   TEXT NOT NULL,
    parent_run   TEXT,
    parent_step  TEXT,
    outputs      TEXT,
    error        TEXT,
    owner        TEXT,
    lease_until  BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX runs_by_created ON runs (created_at);
CREATE INDEX runs_by_parent ON runs (parent_run, parent_step);

-- One row per step, and one per item of a for_each step (key `id[index]`).
CREATE TABLE steps (
    run_id       TEXT NOT NULL,
    step_key     TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    output       TEXT,
    error        TEXT,
    started_at   BIGINT,
    finished_at  BIGINT,
    PRIMARY KEY (run_id, step_key)
);

CREATE TABLE approvals (
    run_id        TEXT NOT NULL,
    step_id       TEXT NOT NULL,
    message       TEXT NOT NULL,
    approvers     TEXT NOT NULL,
    self_approval BIGINT NOT NULL,
    requested_at  BIGINT NOT NULL,
    expires_at    BIGINT,
    decision      TEXT,
    decided_by    TEXT,
    comment       TEXT,
    decided_at    BIGINT,
    PRIMARY KEY (run_id, step_id)
);

CREATE TABLE llm_requests (
    id            TEXT PRIMARY KEY,
    run_id        TEXT NOT NULL,
    step_key      TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    script        TEXT,
    tools         TEXT NOT NULL,
    input_tokens  BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    error         TEXT,
    at            BIGINT NOT NULL
);
CREATE INDEX llm_requests_by_run ON llm_requests (run_id);
