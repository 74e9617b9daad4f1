//! The Monstrum runtime: the workflow engine, the gate every tool call passes, the durable
//! store, model providers and the `monstrum` command line.

pub mod audit;
pub mod cli;
pub mod governance;
pub mod llm;
pub mod memory;
pub mod plugin;
pub mod store;
pub mod vault;
pub mod workflow;
pub mod workspace;
