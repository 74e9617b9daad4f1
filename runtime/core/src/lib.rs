//! The Monstrum runtime as a library: the workflow engine, the gate every tool call passes, the
//! plugin host, the vault, the durable store, model providers and the audit trail.
//!
//! Doors (the command line in `runtime/cli`, and the server, MCP, agent link and gateway crates)
//! start from [`open`]: it wires a workspace's plugins, bots, skills, memory and store into one
//! [`governance::Gate`] and an [`workflow::Engine`] over it. A door calls the engine, or the
//! gate's one entry for a tool call ([`governance::Gate::call`]) and for what a principal sees
//! ([`governance::Gate::visible_tools`]); what runs after the gate is an
//! [`governance::Executor`]. The plugin host's internals, the store's writer and the audit
//! trail's appender are not reachable from another crate (see docs/architecture.md).

pub mod audit;
pub mod check;
mod core_tools;
pub mod events;
pub mod governance;
pub mod llm;
pub mod marketplace;
pub mod memory;
mod open;
pub mod plugin;
pub mod store;
pub mod trial;
pub mod vault;
pub mod versions;
pub mod workflow;
pub mod workspace;

pub use open::{gate, open, open_in};
