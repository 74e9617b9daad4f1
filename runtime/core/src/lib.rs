//! The Monstrum runtime: the workflow engine, the gate every tool call passes, the durable
//! store, model providers and the `monstrum` command line.

pub mod cli;
pub mod governance;
pub mod llm;
pub mod store;
pub mod workflow;
pub mod workspace;
