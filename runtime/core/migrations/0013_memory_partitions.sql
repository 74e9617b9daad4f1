-- Memory partitions beyond `global` and `task:<run>`: a run started from a conversation
-- (`<channel>/<conversation>`) gives its bots the `channel:<channel>/<conversation>` partition.
-- The full-text index over memory is the store's own engine and so not portable SQL: the store
-- creates it after these migrations (SQLite FTS5, PostgreSQL `tsvector`), see store/memory.rs.
ALTER TABLE runs ADD COLUMN conversation TEXT;
-- Which memory entries joined a model request's context (JSON list of `partition/key`).
ALTER TABLE llm_requests ADD COLUMN memory TEXT;
-- A run's end deletes its task partition by partition, across bots.
CREATE INDEX memory_by_part ON memory (part);
