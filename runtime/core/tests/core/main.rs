//! The core's integration tests, one test binary with a module per area: the gate's delegation
//! properties, the scope engine against Cedar, the LLM providers against local servers speaking
//! their wire formats, and the plugin host (sandbox, SSH policy against a real OpenSSH server).

mod cedar;
#[path = "../../../../tests/e2e/common/sshd.rs"]
mod sshd;

mod delegation_props;
mod fuzz_corpus;
mod llm_providers;
mod plugin_host;
mod scope_cedar;
mod ssh_policy;
