//! MCP in Monstrum (DESIGN.md, "MCP"), both ways. As a client, a registered Streamable HTTP
//! server's tools become a tool source behind the core's gate; as a server ([`server`]), a bot's
//! tools are offered to an MCP client, each call through the same gate. Registering and refreshing a
//! server pins each tool's fingerprint, and a tool that is new or changed is quarantined until an
//! admin approves it ([`registry`]); an allowed call reaches the server through [`McpClient`],
//! the gate's executor for `mcp:` bindings, which alone puts the server's credentials on the
//! wire.

pub mod auth;
pub mod client;
pub mod registry;
pub mod server;
pub mod sign_in;

pub use client::{Adopted, Connection, McpClient, McpError};
pub use monstrum_core::governance::quarantine::Refresh;
pub use server::{BotCaller, BotServer};
