-- Bot memory: one row per (bot, partition, key). Partitions: `global` (the bot's own) and
-- `task:<run>` (deleted when the run ends).
CREATE TABLE memory (
    bot         TEXT NOT NULL,
    part        TEXT NOT NULL,
    mkey        TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (bot, part, mkey)
);
