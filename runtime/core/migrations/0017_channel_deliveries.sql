-- Deliveries of the channel gateway (DESIGN.md, "Channels"): one row per event a channel's
-- service sent, keyed by the service's own event id, so a redelivery (Slack's retries,
-- Telegram's update_id, Feishu's event_id, Standard Webhooks' webhook-id) is recognised by the
-- primary key, across restarts, and runs once. `status`: routed (a run was started: `run_id`),
-- dropped (no route matched), answered, unanswered (the answer could not be delivered: `error`).
-- `reply` is what the kind needs to answer (a response URL, an interaction token): kept here for
-- the answer, never given to the run.
CREATE TABLE channel_deliveries (
    channel TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    conversation TEXT NOT NULL,
    bot TEXT,
    workflow TEXT,
    run_id TEXT,
    message TEXT NOT NULL,
    reply TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    PRIMARY KEY (channel, event_id)
);
CREATE INDEX channel_deliveries_by_time ON channel_deliveries (received_at);
