-- Agent keys (`monstrum agent-key create NAME`): the key an agent's daemon connects to `/agent`
-- with, kept as a SHA-256 (the key is shown once). The agent's tools are kept as a tool server's,
-- named `agent:NAME` in mcp_servers and mcp_tools. `connected_at` is set by the server that holds
-- the agent's link while it does (NULL otherwise); `last_seen_at` is its last connection or call.
CREATE TABLE agent_keys (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    connected_at BIGINT,
    last_seen_at BIGINT
);
