//! The end-to-end tests: the real `monstrum` binary against real servers (PostgreSQL, OpenSSH,
//! ganache, local servers speaking hosted services' wire formats). One test binary with a module
//! per area, so the runtime is linked once rather than once per file.

mod common;

mod agent;
mod attacks;
mod channels;
mod cli;
mod crash;
mod durability;
mod editor;
mod evm;
mod governance;
mod llm_workflow;
mod marketplace;
mod mcp;
mod mcp_conformance;
mod mcp_serve;
mod mcp_sign_in;
mod memory;
mod openapi_conformance;
mod plugin_author;
mod plugin_instances;
mod plugin_package;
mod python_sdk;
mod serve;
mod ssh;
mod vault;
mod web_search;
