-- The events `monstrum serve` streamed for the runs it drove, numbered per run: a subscriber
-- resumes from them (Last-Event-ID) after it fell behind or after the server restarted.
CREATE TABLE run_events (
    run_id TEXT NOT NULL,
    id BIGINT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
);
