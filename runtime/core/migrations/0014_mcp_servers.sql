-- MCP servers registered with `monstrum mcp add`, and their tools. `headers` maps an HTTP header
-- to the vault entry whose secret is its value (never the secret itself); `auth` is the OAuth
-- client-credentials setting (client id, the vault entry of its secret or key, and the
-- authorization server's metadata pinned at registration). A tool's `seen` is what
-- the server last described; `approved` is what an admin approved (at registration, or with
-- `mcp approve`). A tool is offered to bots only while both fingerprints are equal: a new tool,
-- or one whose description, schema or annotations changed, is quarantined until approved.
CREATE TABLE mcp_servers (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    auth TEXT,
    created_at BIGINT NOT NULL,
    refreshed_at BIGINT
);
CREATE TABLE mcp_tools (
    server TEXT NOT NULL,
    name TEXT NOT NULL,
    seen TEXT NOT NULL,
    seen_fingerprint TEXT NOT NULL,
    approved TEXT,
    approved_fingerprint TEXT,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (server, name)
);
