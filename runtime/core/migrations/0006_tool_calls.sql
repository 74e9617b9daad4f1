-- The call journal: every plugin tool call the gate allows is written here, durably, before it is
-- sent, and its result after. A row left `sent` by a process that stopped is a call in doubt: it
-- may or may not have had its effect. Keyed by the idempotency key (run/step/attempt/n), which
-- the plugin and the services it calls see too. Portable SQL (SQLite and PostgreSQL).
CREATE TABLE tool_calls (
    call_key   TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL,
    step_key   TEXT NOT NULL,
    tool       TEXT NOT NULL,
    effect     TEXT NOT NULL,
    arguments  TEXT NOT NULL,
    state      TEXT NOT NULL,
    output     TEXT,
    error      TEXT,
    sent_at    BIGINT NOT NULL,
    done_at    BIGINT
);
CREATE INDEX tool_calls_by_step ON tool_calls (run_id, step_key);

-- A gate over a write in doubt may be decided with the output the write had ("mark done").
ALTER TABLE approvals ADD COLUMN output TEXT;
