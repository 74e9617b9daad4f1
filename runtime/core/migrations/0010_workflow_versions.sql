-- Every save of a workflow is a version (the file in workflows/ is the head); a run records the
-- version it ran. The primary key refuses a second save on the same version: two saves racing
-- never lose one silently.
CREATE TABLE workflow_versions (
    workflow TEXT NOT NULL,
    version BIGINT NOT NULL,
    hash TEXT NOT NULL,
    text TEXT NOT NULL,
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workflow, version)
);
ALTER TABLE runs ADD COLUMN workflow_version BIGINT;
