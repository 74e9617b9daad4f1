//! The agent link (DESIGN.md, "Agent link"): tools that live beside an existing agent, on its
//! machine, reached by `monstrum serve` over a WebSocket the agent's daemon opens (no port is
//! opened on the agent's side). The link speaks MCP: the daemon ([`daemon`]) is an MCP server
//! offering its local tools (command templates, local MCP servers over stdio); the server's end
//! ([`link`]) is monstrum-mcp's client, so an agent's tools are stored with fingerprints,
//! quarantined when a re-registration changes them, bound with `- agent: NAME`, and every call
//! passes the one gate before it travels server -> agent -> tool.

pub mod config;
pub mod daemon;
pub mod link;
mod local;
mod wire;
