//! Governance: the one gate every tool call passes, whatever proposed it, and what it enforces:
//! visibility, the scope engine, delegation, budgets, and the audit trail it writes.

pub mod agent_link;
pub mod budget;
mod catalog;
pub mod channels;
mod gate;
pub mod policy;
pub mod principal;
pub mod quarantine;
pub mod scope;
mod skill_prompt;

pub use catalog::{Catalog, McpServers};
pub use gate::{
    BotLoader, DELEGATE_TOOL, DelegationRequest, Executor, Gate, GateCall, ModelCall, Reservation, SkillLoader,
    ToolError,
};
pub use policy::{BindingProblem, BotPolicy, BoundTool, compile_bot};
pub use principal::{Identity, MAX_DELEGATION_DEPTH, Principal};
pub use skill_prompt::{SKILL_PROMPT_BUDGET, SKILLS_READ, SkillFiles};
