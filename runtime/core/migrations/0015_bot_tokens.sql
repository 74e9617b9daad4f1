-- A token bound to a bot opens `/mcp` on `monstrum serve` (the bot's tools over MCP) and nothing
-- of `/api`; its `role` is `bot`. NULL for the API's tokens.
ALTER TABLE api_tokens ADD COLUMN bot TEXT;
