//! Monstrum's file formats and their validation.
//!
//! Pure: no I/O, no async, so the visual editor can build it for the browser too. A file is
//! loaded with [`load_workflow`] (or [`load_bot`]), which returns the typed value together with
//! every problem found, each with a stable code and a line and column in the source.

mod bot;
mod bot_skills;
mod channel;
mod diagnostic;
mod duration;
pub mod edit;
mod edit_keep;
mod locate;
mod manifest;
mod parse;
mod skill;
mod template;
mod validate;
mod workflow;

pub use bot::{AGENT_PREFIX, Binding, BindingRule, Bot, Budget, Limits, ModelRef, Period, Price};
pub use bot_skills::{disable_skill, enable_skill};
pub use channel::{Channel, ChannelKind, LLM_ROUTE, Route, channel_manifest, load_channel, valid_channel_name};
pub use diagnostic::{Diagnostic, Location, PathSeg};
pub use duration::Duration;
pub use manifest::{
    CapabilityRule, ConfigField, CredentialSpec, DimensionSpec, Effect, HttpCapability, Inject, Manifest, MatchKind,
    ScopeRule, SignerCall, SignerCapability, ToolDef, signer_arg_types, valid_name,
};
pub use parse::{Loaded, load_bot, load_manifest, load_workflow, locate};
pub use skill::{Skill, load_skill, load_skill_in, valid_skill_name};
pub use template::{expression_env, is_template, template_references};
pub use workflow::{
    ApprovalStep, CORE_TOOLS, DelegateStep, InputSpec, InputType, LlmOutput, LlmStep, OnError, Retry, Step, StepKind,
    Workflow,
};
