//! The gate (DESIGN.md, "One gate"): every tool call, whatever proposed it, passes here, in order:
//! resolve the tool in the caller's visible set, validate the arguments against its JSON Schema,
//! check its scope (the binding, then every delegation on the chain), write the decision to the
//! audit trail, execute, and record the result. Model requests reserve and settle budget here,
//! and delegations are granted here. There is no second path.

use super::budget::{Account, Ledger, period_start, to_micro};
use super::catalog::Catalog;
use super::policy::{BotPolicy, BoundTool, compile_bot, schema_problems};
use super::principal::{Delegation, Identity, MAX_DELEGATION_DEPTH, Principal};
use super::scope::{Source, ToolScope};
use super::skill_prompt::{self, SKILLS_READ, SkillFiles};
use crate::audit::{AuditEntry, AuditKind, Trail, redact};
use crate::core_tools;
use crate::events::{Decision, Event, EventSink};
use crate::llm::ToolSpec;
use crate::memory::{CallContext, Memory, Reach};
use crate::store::{CallRecord, Store};
use jsonschema::Validator;
use monstrum_model::{Bot, Effect, Limits, Skill};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Instant;

/// Why a tool call did not give an output.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum ToolError {
    /// Not in the caller's visible set; identical for a tool that does not exist.
    #[error("no such tool: {0}")]
    NoSuchTool(String),
    /// The arguments do not match the tool's schema.
    #[error("invalid arguments for {tool}: {reason}")]
    InvalidArguments { tool: String, reason: String },
    /// A rule refused the call.
    #[error("denied: {0}")]
    Denied(String),
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
    /// A write was sent by a process that stopped before its result was recorded: it may have
    /// had its effect. It is not sent again unless a person decides so (`GateCall::resend`).
    #[error("a write may have happened: {tool} was sent (call {key}) and its result was never recorded")]
    InDoubt { tool: String, key: String },
}

impl ToolError {
    /// Whether the gate refused the call (as opposed to the tool failing, or being in doubt).
    pub fn is_denial(&self) -> bool {
        matches!(self, ToolError::NoSuchTool(_) | ToolError::InvalidArguments { .. } | ToolError::Denied(_))
    }
}

/// Runs an allowed bound tool: the plugin host, or the MCP client for `mcp:` bindings.
/// Credentials are injected behind this line.
#[async_trait::async_trait]
pub trait Executor: Send + Sync {
    /// Runs `tool` with `arguments` for `principal`, whose skills and delegations narrow what
    /// the plugin's capabilities (SSH commands) may do, as they narrowed the call itself. `key`
    /// is the call's idempotency key, for the plugin and the services it calls.
    async fn execute(
        &self,
        tool: &BoundTool,
        arguments: Value,
        principal: &Principal,
        key: Option<&str>,
    ) -> Result<Value, String>;
}

/// The executor of a build without a plugin host: every plugin call fails.
struct NoHost;

#[async_trait::async_trait]
impl Executor for NoHost {
    async fn execute(&self, tool: &BoundTool, _: Value, _: &Principal, _: Option<&str>) -> Result<Value, String> {
        Err(format!("no plugin host is available to run {}", tool.name))
    }
}

/// Loads a bot's file by name.
pub type BotLoader = Arc<dyn Fn(&str) -> anyhow::Result<Bot> + Send + Sync>;

/// Loads a skill by name.
pub type SkillLoader = Arc<dyn Fn(&str) -> anyhow::Result<Skill> + Send + Sync>;

/// Who asks, and what they were shown.
pub struct GateCall<'a> {
    /// The run.
    pub run: &'a str,
    /// The step (key) on whose behalf the call is made.
    pub step: &'a str,
    /// Who calls.
    pub principal: &'a Principal,
    /// The tool's name.
    pub tool: &'a str,
    /// Its arguments.
    pub arguments: Value,
    /// For a model's call: the names it was offered. A name outside them is "no such tool".
    pub offered: Option<&'a [String]>,
    /// The call's idempotency key (run, step, item, attempt, call), the same when a run resumes
    /// after a crash; `None` outside a run. With a journal, a plugin call under a key that
    /// already finished returns its recorded output without being sent again.
    pub key: Option<&'a str>,
    /// A person decided that a write in doubt under `key` is to be sent again.
    pub resend: bool,
    /// The conversation the run came from (`<channel>/<conversation>`), if any: the call's
    /// `channel:` memory partition.
    pub conversation: Option<&'a str>,
}

/// A delegation asked for by a step or by a model.
#[derive(Clone, Debug, Default)]
pub struct DelegationRequest {
    pub bot: String,
    pub tools: Option<Vec<String>>,
    pub scope: BTreeMap<String, Value>,
    pub budget: Option<Limits>,
}

/// Which model a step of a run asks: what a budget reservation and its audit record are about.
#[derive(Clone, Copy, Debug)]
pub struct ModelCall<'a> {
    pub run: &'a str,
    pub step: &'a str,
    pub model: &'a str,
}

/// A budget reservation for one model request.
pub struct Reservation {
    id: String,
}

struct CoreTool {
    spec: Arc<ToolSpec>,
    validator: Validator,
}

static CORE: LazyLock<BTreeMap<String, Arc<CoreTool>>> = LazyLock::new(|| {
    core_tools::specs()
        .into_iter()
        .map(|spec| {
            let validator = jsonschema::validator_for(&spec.parameters).expect("core tool schemas are valid");
            (spec.name.clone(), Arc::new(CoreTool { spec: Arc::new(spec), validator }))
        })
        .collect()
});

/// A bot's memory tools: ownership is the permission, so they skip the scope engine, and no
/// delegation's tool list hides a delegate's own memory from it.
static MEMORY: LazyLock<BTreeMap<String, Arc<CoreTool>>> = LazyLock::new(|| {
    crate::memory::specs()
        .into_iter()
        .map(|spec| {
            let validator = jsonschema::validator_for(&spec.parameters).expect("memory tool schemas are valid");
            (spec.name.clone(), Arc::new(CoreTool { spec: Arc::new(spec), validator }))
        })
        .collect()
});

/// The name of the tool through which a model delegates.
pub const DELEGATE_TOOL: &str = "core.delegate";

static DELEGATE_SPEC: LazyLock<Arc<ToolSpec>> = LazyLock::new(|| {
    Arc::new(ToolSpec {
        name: DELEGATE_TOOL.into(),
        description: "Hand a task to another bot you may delegate to; it works with its own tools, \
        narrowed by what you pass here, and its answer is returned"
            .into(),
        parameters: json!({
            "type": "object",
            "required": ["bot", "task"],
            "properties": {
                "bot": { "type": "string", "description": "the bot to delegate to" },
                "task": { "type": "string", "description": "what it should do" },
                "tools": { "type": "array", "items": { "type": "string" }, "description": "narrows its tools" },
                "scope": { "type": "object", "description": "narrows its scope, by dimension" }
            },
            "additionalProperties": false
        }),
    })
});

/// The detail of a call's audit record (fields in the order a JSON object of them had).
#[derive(Serialize)]
struct CallDetail<'a> {
    arguments: Cow<'a, Value>,
    chain: String,
}

/// The detail of a call's result record.
#[derive(Serialize)]
struct ResultDetail<'a> {
    duration_ms: f64,
    key: Option<&'a str>,
}

enum Target {
    Core(Arc<CoreTool>),
    Memory(Arc<CoreTool>, Reach),
    /// `skills.read`: the bot's own skills.
    Skills(Arc<BotPolicy>),
    Bound(Arc<BoundTool>),
}

struct Inner {
    catalog: Catalog,
    bots: BotLoader,
    skills: SkillLoader,
    skill_files: Option<SkillFiles>,
    policies: Mutex<HashMap<String, Identity>>,
    trail: Trail,
    ledger: Ledger,
    memory: Memory,
    executor: Arc<dyn Executor>,
    /// Runs the tools of `mcp:` bindings: the MCP client, attached by the door that has one.
    mcp: OnceLock<Arc<dyn Executor>>,
    /// The channel gateway, which runs `channel:` bindings' tools (`send`).
    channels: OnceLock<Arc<dyn Executor>>,
    journal: Option<Store>,
}

/// The gate. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

/// What a denial looks like before it is recorded: the error and the rule that decided.
struct Refusal {
    error: ToolError,
    rule: String,
}

impl Gate {
    /// A gate over `catalog`'s plugins for the bots `bots` loads, auditing to `trail`.
    pub fn new(catalog: Catalog, bots: BotLoader, trail: Trail, ledger: Ledger) -> Gate {
        Gate {
            inner: Arc::new(Inner {
                catalog,
                bots,
                skills: Arc::new(|name| anyhow::bail!("unknown skill `{name}`")),
                skill_files: None,
                policies: Mutex::default(),
                trail,
                ledger,
                memory: Memory::in_memory(),
                executor: Arc::new(NoHost),
                mcp: OnceLock::new(),
                channels: OnceLock::new(),
                journal: None,
            }),
        }
    }

    /// A gate with only the built-in tools, auditing in memory (benchmarks, tests).
    pub fn builtin() -> Gate {
        Gate::new(
            Catalog::default(),
            Arc::new(|name| anyhow::bail!("unknown bot `{name}`")),
            Trail::in_memory(),
            Ledger::in_memory(),
        )
    }

    /// The same gate running plugin tools with `executor`.
    pub fn with_executor(self, executor: Arc<dyn Executor>) -> Gate {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| panic!("with_executor is called while building"));
        Gate { inner: Arc::new(Inner { executor, ..inner }) }
    }

    /// The same gate loading skills with `skills`.
    pub fn with_skills(self, skills: SkillLoader) -> Gate {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| panic!("with_skills is called while building"));
        Gate { inner: Arc::new(Inner { skills, ..inner }) }
    }

    /// The same gate reading skills' files (for `skills.read`) with `files`.
    pub fn with_skill_files(self, files: SkillFiles) -> Gate {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| panic!("with_skill_files is called while building"));
        Gate { inner: Arc::new(Inner { skill_files: Some(files), ..inner }) }
    }

    /// The same gate keeping bot memory in `memory`.
    pub fn with_memory(self, memory: Memory) -> Gate {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| panic!("with_memory is called while building"));
        Gate { inner: Arc::new(Inner { memory, ..inner }) }
    }

    /// The same gate journaling plugin calls in `store` (see [`GateCall::key`]).
    pub fn with_journal(self, store: Store) -> Gate {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| panic!("with_journal is called while building"));
        Gate { inner: Arc::new(Inner { journal: Some(store), ..inner }) }
    }

    /// Runs the tools of `mcp:` bindings with `client` from now on; false if a client was
    /// attached before (it stays). Without one, such calls fail after the gate allowed them.
    pub fn attach_mcp(&self, client: Arc<dyn Executor>) -> bool {
        self.inner.mcp.set(client).is_ok()
    }

    /// Attaches the executor of `channel:` bindings (the channel gateway's sender); false if one
    /// is attached already.
    pub fn attach_channels(&self, sender: Arc<dyn Executor>) -> bool {
        self.inner.channels.set(sender).is_ok()
    }

    /// Bot memory.
    pub fn memory(&self) -> &Memory {
        &self.inner.memory
    }

    /// The memory partitions `principal` reaches in `run` (none for a caller that is not a bot).
    pub fn memory_context<'a>(
        &self,
        principal: &Principal,
        run: &'a str,
        conversation: Option<&'a str>,
    ) -> Option<CallContext<'a>> {
        match &principal.identity {
            Identity::Bot(policy) => Some(memory_context(policy, principal, run, conversation)),
            _ => None,
        }
    }

    /// The audit trail the gate writes.
    pub fn trail(&self) -> &Trail {
        &self.inner.trail
    }

    /// The catalog of plugins.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The identity of bot `name` (compiled once; a bot that does not compile is `Faulty`).
    pub fn identity(&self, name: &str) -> Identity {
        if let Ok(cache) = self.inner.policies.lock()
            && let Some(id) = cache.get(name)
        {
            return id.clone();
        }
        let identity = self.compile(name);
        if let Ok(mut cache) = self.inner.policies.lock() {
            cache.insert(name.to_string(), identity.clone());
        }
        identity
    }

    /// Compiles bot `name` again from its file and skills, for the bots the gate has compiled:
    /// what a server does when a bot's or a skill's file changes. A bot that compiles replaces
    /// its old policy (steps that start after it see the new one); a broken edit keeps the last
    /// good version and is returned as a problem; a bot whose file is gone (`removed`) is
    /// forgotten, so it fails closed as an unknown bot.
    pub fn reload(&self, name: &str, removed: bool) -> Result<(), String> {
        let Ok(mut cache) = self.inner.policies.lock() else { return Err("the gate's cache is poisoned".into()) };
        if removed {
            cache.remove(name);
            return Ok(());
        }
        let was_good = match cache.get(name) {
            None => return Ok(()),
            Some(old) => matches!(old, Identity::Bot(_)),
        };
        match self.compile(name) {
            Identity::Faulty { reason, .. } if was_good => Err(reason),
            fresh => {
                cache.insert(name.to_string(), fresh);
                Ok(())
            }
        }
    }

    /// Replaces the registered MCP servers' approved tools (a server process, when an admin
    /// approved a tool or drift was quarantined) and compiles again every bot the gate has
    /// compiled. Unlike [`Gate::reload`], a bot that no longer compiles does not keep its last
    /// good version, which offered tools that are no longer approved: it fails closed, and its
    /// reason is returned. Nothing happens when the servers are the same as before.
    pub fn set_mcp(&self, servers: Vec<monstrum_model::Manifest>) -> Vec<(String, Result<(), String>)> {
        if !self.inner.catalog.mcp().set(servers) {
            return Vec::new();
        }
        self.compiled_bots()
            .into_iter()
            .map(|name| {
                let fresh = self.compile(&name);
                let outcome = match &fresh {
                    Identity::Faulty { reason, .. } => Err(reason.clone()),
                    _ => Ok(()),
                };
                if let Ok(mut cache) = self.inner.policies.lock() {
                    cache.insert(name.clone(), fresh);
                }
                (name, outcome)
            })
            .collect()
    }

    /// The names of the bots the gate has compiled.
    pub fn compiled_bots(&self) -> Vec<String> {
        self.inner.policies.lock().map(|c| c.keys().cloned().collect()).unwrap_or_default()
    }

    fn compile(&self, name: &str) -> Identity {
        match (self.inner.bots)(name) {
            Err(e) => Identity::Faulty { bot: name.to_string(), reason: e.to_string() },
            Ok(bot) => match bot
                .skills
                .iter()
                .map(|s| (self.inner.skills)(s))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(|e| vec![super::policy::BindingProblem { path: Vec::new(), message: format!("{e:#}") }])
                .and_then(|skills| compile_bot(&bot, &self.inner.catalog, &skills))
            {
                Ok(policy) => Identity::Bot(Arc::new(policy)),
                Err(problems) => Identity::Faulty {
                    bot: name.to_string(),
                    reason: format!(
                        "bot `{name}` does not compile: {}",
                        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    ),
                },
            },
        }
    }

    /// The principal of a step run by `bot` (or by nobody).
    pub fn principal(&self, bot: Option<&str>) -> Principal {
        match bot {
            None => Principal::anonymous(),
            Some(name) => Principal { identity: self.identity(name), chain: Vec::new(), constraints: Arc::default() },
        }
    }

    // ---- visibility

    /// The tools `principal` may be offered, narrowed by `narrow` (a step's `tools:` list), in a
    /// stable order. Names in `narrow` that are not visible are ignored: a list only narrows.
    ///
    /// Every tool list (the step's, each delegation's) must let a name through; the shortest
    /// list, when there is one, gives the candidates, so a narrowed request costs what the list
    /// costs and not what the bot's bindings cost.
    pub fn visible_tools(&self, principal: &Principal, narrow: Option<&[String]>) -> Vec<Arc<ToolSpec>> {
        let policy = match &principal.identity {
            Identity::Faulty { .. } => return Vec::new(),
            Identity::Anonymous => None,
            Identity::Bot(p) => Some(p),
        };
        let delegates = policy.is_some_and(|p| can_delegate(p, principal));
        let chain_lists = principal.chain.iter().filter_map(|d| d.tools.as_deref());
        let lists: Vec<&[String]> = narrow.into_iter().chain(chain_lists).collect();
        let passes = |name: &str, own: bool| {
            let step = narrow.is_none_or(|n| n.iter().any(|x| x == name));
            step && (own || principal.chain_allows(name))
        };
        let lookup = |name: &str| -> Option<(Arc<ToolSpec>, bool)> {
            if let Some(m) = MEMORY.get(name) {
                return policy.map(|_| (m.spec.clone(), true));
            }
            if name == SKILLS_READ {
                return policy.filter(|p| !p.skills_fit()).map(|_| (skill_prompt::SPEC.clone(), true));
            }
            if let Some(c) = CORE.get(name) {
                return Some((c.spec.clone(), false));
            }
            if name == DELEGATE_TOOL {
                return delegates.then(|| (DELEGATE_SPEC.clone(), false));
            }
            policy.and_then(|p| p.tools.get(name)).map(|t| (t.spec.clone(), false))
        };
        let mut tools: Vec<Arc<ToolSpec>> = match lists.iter().min_by_key(|l| l.len()) {
            // A bot's own memory is not hidden by a delegation's list, so it is a candidate too.
            Some(shortest) => {
                let own: Vec<&str> = if narrow.is_none() {
                    MEMORY.keys().map(String::as_str).chain([SKILLS_READ]).collect()
                } else {
                    Vec::new()
                };
                shortest
                    .iter()
                    .map(String::as_str)
                    .chain(own)
                    .filter_map(|name| lookup(name).filter(|(_, own)| passes(name, *own)).map(|(spec, _)| spec))
                    .collect()
            }
            None => {
                let Some(p) = policy else { return CORE.values().map(|c| c.spec.clone()).collect() };
                // Computed once per bot: the sorted list of everything but the delegate tool.
                let offered = p.offered.get_or_init(|| {
                    let mut all: Vec<Arc<ToolSpec>> = CORE.values().map(|c| c.spec.clone()).collect();
                    all.extend(p.tools.values().map(|t| t.spec.clone()));
                    all.extend(MEMORY.values().map(|m| m.spec.clone()));
                    if !p.skills_fit() {
                        all.push(skill_prompt::SPEC.clone());
                    }
                    all.sort_unstable_by(|a, b| a.name.cmp(&b.name));
                    all
                });
                let mut all = Vec::with_capacity(offered.len() + 1);
                all.extend(offered.iter().cloned());
                if delegates {
                    let at = all.partition_point(|t| t.name.as_str() < DELEGATE_TOOL);
                    all.insert(at, DELEGATE_SPEC.clone());
                }
                return all;
            }
        };
        tools.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        tools.dedup_by(|a, b| a.name == b.name);
        tools
    }

    // ---- tool calls

    /// Passes one call through the gate and, when allowed, executes it.
    pub async fn call(&self, mut call: GateCall<'_>, events: &EventSink) -> Result<Value, ToolError> {
        let started = Instant::now();
        let checked = self.check(&call);
        let (decision, rule) = match &checked {
            Ok((_, rule)) => (Decision::Allowed, rule.clone()),
            Err(r) => (Decision::Denied, format!("{} ({})", r.error, r.rule)),
        };
        let entry = AuditEntry::at(AuditKind::ToolCall, call.run, call.step, call.principal.bot_name())
            .on(call.tool)
            .decided(decision_name(decision), Some(rule))
            .with_detail(CallDetail {
                arguments: match &checked {
                    Ok((Target::Bound(t), _)) if !t.redact.is_empty() => Cow::Owned(redact(&call.arguments, &t.redact)),
                    Ok(_) => Cow::Borrowed(&call.arguments),
                    // An unknown tool has no manifest saying what is secret: keep nothing.
                    Err(_) => Cow::Owned(Value::String("[not recorded]".into())),
                },
                chain: call.principal.chain_text(),
            });
        // The decision is on disk before a tool with an effect outside the run acts. A built-in
        // tool's only effect is its output, recorded with the step after this record, and a
        // refusal has none: their records join the next commit without being waited for.
        let acts_outside = matches!(checked, Ok((Target::Bound(_) | Target::Memory(..), _)));
        let recorded = if acts_outside {
            self.inner.trail.append(entry).await.map(drop)
        } else {
            self.inner.trail.append_later(entry);
            Ok(())
        };
        let (decision, reason) = match (&checked, &recorded) {
            (_, Err(e)) => (Decision::Denied, Some(format!("the audit trail cannot be written: {e}"))),
            (Ok(_), Ok(())) => (Decision::Allowed, None),
            (Err(r), Ok(())) => (Decision::Denied, Some(r.error.to_string())),
        };
        if events.is_active() {
            events.emit(Event::ToolCall {
                run: call.run.to_string(),
                step: call.step.to_string(),
                tool: call.tool.to_string(),
                decision,
                reason,
            });
        }
        if let Err(e) = recorded {
            return Err(ToolError::Denied(format!("the audit trail cannot be written: {e}")));
        }
        let (target, _) = checked.map_err(|r| r.error)?;
        let result = match target {
            Target::Core(tool) => {
                core_tools::call(&tool.spec.name, std::mem::take(&mut call.arguments)).await.map_err(ToolError::Failed)
            }
            Target::Memory(tool, reach) => {
                let bot = call.principal.bot_name().unwrap_or_default();
                self.inner.memory.call(&tool.spec.name, bot, &reach, &call.arguments).await.map_err(ToolError::Failed)
            }
            Target::Skills(policy) => {
                skill_prompt::read(&policy, &call.arguments, self.inner.skill_files.as_ref()).map_err(ToolError::Failed)
            }
            Target::Bound(tool) => self.execute_journaled(&tool, &call).await,
        };
        let outcome = match &result {
            Ok(_) => "succeeded",
            Err(ToolError::InDoubt { .. }) => "in_doubt",
            Err(ToolError::Denied(_)) => "denied",
            Err(_) => "failed",
        };
        let done = AuditEntry::at(AuditKind::ToolResult, call.run, call.step, call.principal.bot_name())
            .on(call.tool)
            .decided(outcome, result.as_ref().err().map(ToString::to_string))
            .with_detail(ResultDetail { duration_ms: started.elapsed().as_secs_f64() * 1000.0, key: call.key });
        // Its failure fails the commit of the step's record, which follows it.
        self.inner.trail.append_later(done);
        result
    }

    /// Runs an allowed plugin call. With a journal and a key, the call is written as sent before
    /// it runs and with its result after; a call under a key that already finished returns its
    /// recorded output, and a write left in doubt by a stopped process is not sent again unless a
    /// person decided so (`resend`). `idempotent` calls in doubt are sent again under the same
    /// key; `read` calls are not journaled at all.
    async fn execute_journaled(&self, tool: &BoundTool, call: &GateCall<'_>) -> Result<Value, ToolError> {
        let executor: &dyn Executor = match tool.binding.tool_server() {
            None if tool.binding.channel.is_some() => match self.inner.channels.get() {
                Some(gateway) => gateway.as_ref(),
                None => return Err(ToolError::Failed(format!("no channel gateway is available to run {}", tool.name))),
            },
            None => self.inner.executor.as_ref(),
            Some(server) => match self.inner.mcp.get() {
                Some(client) => client.as_ref(),
                None => return Err(ToolError::Failed(format!("no MCP client is available to reach `{server}`"))),
            },
        };
        let run = || executor.execute(tool, call.arguments.clone(), call.principal, call.key);
        let effect = tool.manifest.tool(&tool.tool).map_or(Effect::Write, |d| d.effect);
        // A read changes nothing: sending it again after a crash is harmless, so it costs no
        // journal writes.
        let (Some(journal), Some(key)) = (&self.inner.journal, call.key.filter(|_| effect != Effect::Read)) else {
            return run().await.map_err(ToolError::Failed);
        };
        let digest = crate::audit::hex_digest(Sha256::digest(redact(&call.arguments, &tool.redact).to_string()).into());
        let journal_fault = |e: crate::store::StoreError| ToolError::Denied(format!("the call journal: {e}"));
        if let Some(prev) = journal.call_record(key).await.map_err(journal_fault)? {
            let same = prev.tool == call.tool && prev.arguments == digest;
            if same && prev.state == "done" {
                return Ok(prev.output.unwrap_or(Value::Null));
            }
            if prev.state != "done" && prev.effect == Effect::Write.as_str() && !call.resend {
                return Err(ToolError::InDoubt { tool: prev.tool, key: key.to_string() });
            }
        }
        let record = CallRecord {
            key: key.to_string(),
            run_id: call.run.to_string(),
            step_key: call.step.to_string(),
            tool: call.tool.to_string(),
            effect: effect.as_str().to_string(),
            arguments: digest,
            state: "sent".into(),
            output: None,
            error: None,
            sent_at: crate::store::now_ms(),
        };
        journal.call_sent(&record).await.map_err(journal_fault)?;
        let result = run().await;
        if let Err(e) = journal.call_ended(key, &result).await {
            tracing::error!(tool = call.tool, key, "the end of a call could not be journaled: {e}");
        }
        result.map_err(ToolError::Failed)
    }

    /// Resolve, validate, scope: the decision, without side effects.
    fn check(&self, call: &GateCall<'_>) -> Result<(Target, String), Refusal> {
        let principal = call.principal;
        let no_such = || Refusal { error: ToolError::NoSuchTool(call.tool.to_string()), rule: "visibility".into() };
        let offered = call.offered.is_none_or(|names| names.iter().any(|n| n == call.tool));
        let own = MEMORY.get(call.tool);
        let skills_read = call.tool == SKILLS_READ;
        if !offered || (own.is_none() && !skills_read && !principal.chain_allows(call.tool)) {
            return Err(no_such());
        }
        let policy = match &principal.identity {
            Identity::Faulty { reason, .. } => {
                return Err(Refusal { error: ToolError::NoSuchTool(call.tool.to_string()), rule: reason.clone() });
            }
            Identity::Anonymous => None,
            Identity::Bot(p) => Some(p),
        };
        let invalid = |reason: String| Refusal {
            error: ToolError::InvalidArguments { tool: call.tool.to_string(), reason },
            rule: "schema".into(),
        };
        if let (Some(tool), Some(policy)) = (own, policy) {
            schema_problems(&tool.validator, &call.arguments).map_err(invalid)?;
            let reach = memory_context(policy, principal, call.run, call.conversation)
                .resolve(call.tool, &call.arguments)
                .map_err(|why| Refusal { error: ToolError::Denied(why), rule: "memory partition".into() })?;
            return Ok((Target::Memory(tool.clone(), reach), "ownership: the bot's own memory".into()));
        }
        if skills_read {
            // Offered only to a bot whose skills do not fit its prompt; to any other, it does not exist.
            let policy = policy.filter(|p| !p.skills_fit()).ok_or_else(no_such)?;
            schema_problems(&skill_prompt::VALIDATOR, &call.arguments).map_err(invalid)?;
            return Ok((Target::Skills(policy.clone()), "ownership: the bot's own skills".into()));
        }
        if let Some(core) = CORE.get(call.tool) {
            schema_problems(&core.validator, &call.arguments).map_err(invalid)?;
            return Ok((Target::Core(core.clone()), "built-in tool".into()));
        }
        let tool = policy.and_then(|p| p.tools.get(call.tool)).ok_or_else(no_such)?;
        tool.validate(&call.arguments).map_err(invalid)?;
        let deny = |rule: String, why: String| Refusal { error: ToolError::Denied(why), rule };
        tool.scope
            .check(&call.arguments)
            .map_err(|d| deny(format!("binding {}", tool.binding.instance_name()), d.to_string()))?;
        for (skill, scope) in &tool.narrowing {
            scope.check(&call.arguments).map_err(|d| deny(format!("skill {skill}"), d.to_string()))?;
        }
        let constraints = principal.constraints.get(call.tool).map_or(&[][..], Vec::as_slice);
        for (hop, scope) in constraints {
            scope.check(&call.arguments).map_err(|d| deny(format!("delegation {hop}"), d.to_string()))?;
        }
        let dims: Vec<&str> = tool.scope.dimensions().collect();
        let narrowed = constraints.len();
        Ok((
            Target::Bound(tool.clone()),
            format!(
                "binding {}{}{}",
                tool.binding.instance_name(),
                if dims.is_empty() { String::new() } else { format!(" [{}]", dims.join(", ")) },
                if narrowed > 0 { format!(" and {narrowed} delegation(s)") } else { String::new() }
            ),
        ))
    }

    // ---- delegation

    /// Grants `request` to `from`: the delegate's principal, whose tools and scope are the
    /// intersection of its own and of every constraint on the chain. Audited either way.
    pub async fn delegate(
        &self,
        from: &Principal,
        request: &DelegationRequest,
        run: &str,
        step: &str,
    ) -> Result<Principal, ToolError> {
        let decided = self.decide_delegation(from, request, run).await;
        let reason = match &decided {
            Ok(_) => format!("{} may delegate to {}", from.bot_name().unwrap_or("-"), request.bot),
            Err(e) => e.to_string(),
        };
        let entry = AuditEntry::at(AuditKind::Delegation, run, step, from.bot_name())
            .on(format!("delegate:{}", request.bot))
            .decided(if decided.is_ok() { "allowed" } else { "denied" }, Some(reason))
            .with_detail(json!({
                "chain": from.chain_text(),
                "tools": request.tools,
                "scope": request.scope,
                "budget": request.budget,
            }));
        self.inner
            .trail
            .append(entry)
            .await
            .map_err(|e| ToolError::Denied(format!("the audit trail cannot be written: {e}")))?;
        decided
    }

    async fn decide_delegation(
        &self,
        from: &Principal,
        request: &DelegationRequest,
        run: &str,
    ) -> Result<Principal, ToolError> {
        let deny = |why: String| Err(ToolError::Denied(why));
        let Identity::Bot(policy) = &from.identity else {
            return deny("only a bot can delegate".into());
        };
        if !policy.bot.delegates.contains(&request.bot) {
            return deny(format!("bot `{}` may not delegate to `{}`", policy.bot.name, request.bot));
        }
        if from.bots().contains(&request.bot.as_str()) {
            return deny(format!("delegation loop: {} > {}", from.chain_text(), request.bot));
        }
        if from.chain.len() >= MAX_DELEGATION_DEPTH {
            return deny(format!("delegation chains are limited to {MAX_DELEGATION_DEPTH} hops"));
        }
        let target = match self.identity(&request.bot) {
            Identity::Bot(p) => p,
            Identity::Faulty { reason, .. } => return deny(reason),
            Identity::Anonymous => return deny("no bot".into()),
        };
        let named: std::collections::HashSet<&String> = target
            .tools
            .values()
            .filter_map(|t| t.manifest.tool(&t.tool))
            .flat_map(|def| def.scope.iter().map(|r| &r.dimension))
            .collect();
        if let Some(unknown) = request.scope.keys().find(|k| !named.contains(k)) {
            return deny(format!("no tool of `{}` has a dimension `{unknown}`", request.bot));
        }
        if let Some(share) = request.budget {
            self.check_share(from, run, share).await?;
        }
        let hop = Delegation {
            id: uuid::Uuid::new_v4().to_string(),
            from: policy.bot.name.clone(),
            to: request.bot.clone(),
            tools: request.tools.clone(),
            scope: request.scope.clone(),
            budget: request.budget,
            skills: policy
                .skills
                .iter()
                .filter(|s| !s.scope.is_empty())
                .map(|s| (s.name.clone(), s.scope.clone()))
                .collect(),
        };
        let mut chain = from.chain.clone();
        chain.push(Arc::new(hop));
        // Every hop's scope, and the scope of every skill its delegator had enabled, binds the
        // new delegate, not only the hop's own delegate.
        let mut constraints = super::principal::Constraints::new();
        for hop in chain.iter() {
            let hop_scope = (!hop.scope.is_empty()).then(|| (format!("{} > {}", hop.from, hop.to), &hop.scope));
            let skill_scopes =
                hop.skills.iter().map(|(skill, scope)| (format!("skill {skill} of {}", hop.from), scope));
            for (label, values) in hop_scope.into_iter().chain(skill_scopes) {
                for (name, tool) in &target.tools {
                    let def =
                        tool.manifest.tool(&tool.tool).ok_or_else(|| ToolError::Denied(format!("{name} vanished")))?;
                    let scope = ToolScope::compile(def, values, Source::Constraint)
                        .map_err(|e| ToolError::Denied(format!("bad scope of {label} for {name}: {e}")))?;
                    if !scope.is_empty() {
                        constraints.entry(name.clone()).or_default().push((label.clone(), scope));
                    }
                }
            }
        }
        Ok(Principal { identity: Identity::Bot(target), chain, constraints: Arc::new(constraints) })
    }

    /// A share may not exceed what the delegator has left on any of its accounts.
    async fn check_share(&self, from: &Principal, run: &str, share: Limits) -> Result<(), ToolError> {
        for account in self.accounts(from, run) {
            let used = self.inner.ledger.used(&account).await.map_err(|e| ToolError::Denied(format!("budget: {e}")))?;
            let asks_tokens = share.tokens.map(|t| t as i64);
            let asks_micro = share.usd.map(to_micro);
            let left_tokens = account.limits.tokens.map(|t| t as i64 - used.0);
            let left_micro = account.limits.usd.map(|u| to_micro(u) - used.1);
            let too_much = |asks: Option<i64>, left: Option<i64>| match (asks, left) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(a), Some(l)) => a > l,
            };
            if too_much(asks_tokens, left_tokens) || too_much(asks_micro, left_micro) {
                return Err(ToolError::Denied(format!(
                    "the budget share is more than {} has left ({} tokens, ${:.4})",
                    account.label,
                    left_tokens.map_or("unlimited".into(), |t| t.to_string()),
                    left_micro.map_or(f64::INFINITY, |m| m as f64 / 1e6)
                )));
            }
        }
        Ok(())
    }

    // ---- budgets

    /// What bot `name` has used of its budget this period, with the account (its limits and
    /// period), as the gate counts it; `None` for a bot without a period budget.
    pub async fn period_use(&self, name: &str) -> Result<Option<(Account, (i64, i64))>, String> {
        let Identity::Bot(policy) = self.identity(name) else { return Ok(None) };
        let Some(account) = policy.bot.budget.and_then(|b| period_account(name, &b)) else { return Ok(None) };
        let used = self.inner.ledger.used(&account).await?;
        Ok(Some((account, used)))
    }

    /// The accounts a request by `principal` is limited by.
    fn accounts(&self, principal: &Principal, run: &str) -> Vec<Account> {
        let mut out = Vec::new();
        for name in principal.bots() {
            let Identity::Bot(policy) = self.identity(name) else { continue };
            let Some(budget) = policy.bot.budget else { continue };
            out.extend(period_account(name, &budget));
            if let Some(limits) = budget.run {
                out.push(Account {
                    key: format!("bot:{name}"),
                    label: format!("bot {name} per run"),
                    limits,
                    since: 0,
                    run: Some(run.into()),
                });
            }
        }
        for hop in &principal.chain {
            if let Some(limits) = hop.budget {
                out.push(Account {
                    key: format!("delegation:{}", hop.id),
                    label: format!("the share {} gave {}", hop.from, hop.to),
                    limits,
                    since: 0,
                    run: None,
                });
            }
        }
        out
    }

    /// Reserves a model request's estimate before it is sent. A denial is audited, and so is a
    /// ledger failure (which denies too).
    pub async fn reserve(
        &self,
        principal: &Principal,
        request: &ModelCall<'_>,
        tokens: u64,
        usd: f64,
    ) -> Result<Reservation, ToolError> {
        let charged: Vec<String> = principal
            .bots()
            .iter()
            .map(|b| format!("bot:{b}"))
            .chain(principal.chain.iter().filter(|h| h.budget.is_some()).map(|h| format!("delegation:{}", h.id)))
            .collect();
        let ModelCall { run, step, model } = *request;
        let accounts = self.accounts(principal, run);
        let decided = if principal.bot_name().is_none() {
            Ok(String::new())
        } else {
            self.inner.ledger.reserve(&accounts, &charged, run, tokens as i64, to_micro(usd)).await
        };
        let error = match &decided {
            Ok(_) => None,
            Err(Ok(over)) => Some(format!("budget exhausted: {over}")),
            Err(Err(fault)) => Some(format!("budget unavailable: {fault}")),
        };
        let reason = error.clone().unwrap_or_else(|| format!("within {} budget account(s)", accounts.len()));
        let entry = AuditEntry::at(AuditKind::ModelRequest, run, step, principal.bot_name())
            .on(model)
            .decided(if error.is_none() { "allowed" } else { "denied" }, Some(reason))
            .with_detail(json!({ "chain": principal.chain_text(), "estimate_tokens": tokens, "estimate_usd": usd }));
        let recorded = self.inner.trail.append(entry).await;
        match (decided, recorded) {
            (Ok(id), Ok(_)) => Ok(Reservation { id }),
            (Ok(id), Err(e)) => {
                if !id.is_empty() {
                    let _ = self.inner.ledger.settle(&id, 0, 0).await;
                }
                Err(ToolError::Denied(format!("the audit trail cannot be written: {e}")))
            }
            (Err(_), _) => Err(ToolError::Denied(error.unwrap_or_default())),
        }
    }

    /// Settles a reservation with what the request used, and audits the usage.
    pub async fn settle(
        &self,
        reservation: Reservation,
        principal: &Principal,
        request: &ModelCall<'_>,
        usage: (u64, u64),
        usd: f64,
    ) {
        if !reservation.id.is_empty()
            && let Err(e) = self.inner.ledger.settle(&reservation.id, (usage.0 + usage.1) as i64, to_micro(usd)).await
        {
            tracing::error!("a model request's usage could not be settled: {e}");
        }
        let entry = AuditEntry::at(AuditKind::ModelRequest, request.run, request.step, principal.bot_name())
            .on(request.model)
            .decided("used", None)
            .with_detail(json!({ "input_tokens": usage.0, "output_tokens": usage.1, "usd": usd }));
        if let Err(e) = self.inner.trail.append(entry).await {
            tracing::error!("a model request's usage could not be audited: {e}");
        }
    }

    /// Records a decision on an approval gate.
    pub async fn audit_approval(
        &self,
        run: &str,
        step: &str,
        approved: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<(), String> {
        let entry = AuditEntry::at(AuditKind::Approval, run, step, None)
            .decided(if approved { "approved" } else { "rejected" }, Some(format!("decided by {by}")))
            .with_detail(json!({ "by": by, "comment": comment }));
        self.inner.trail.append(entry).await.map(drop)
    }

    /// Records that `by` cancelled a run.
    pub async fn audit_cancel(&self, run: &str, by: &str) -> Result<(), String> {
        let mut entry = AuditEntry::new(AuditKind::Cancellation)
            .decided("cancelled", Some(format!("cancelled by {by}")))
            .with_detail(json!({ "by": by }));
        entry.run = Some(run.to_string());
        self.inner.trail.append(entry).await.map(drop)
    }
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Allowed => "allowed",
        Decision::Denied => "denied",
    }
}

fn can_delegate(policy: &BotPolicy, principal: &Principal) -> bool {
    !policy.bot.delegates.is_empty() && principal.chain.len() < MAX_DELEGATION_DEPTH
}

/// Bot `name`'s account for its budget's period, if the budget limits a period.
fn period_account(name: &str, budget: &monstrum_model::Budget) -> Option<Account> {
    (budget.tokens.is_some() || budget.usd.is_some()).then(|| Account {
        key: format!("bot:{name}"),
        label: format!("bot {name} per {:?}", budget.period).to_lowercase(),
        limits: budget.period_limits(),
        since: period_start(budget.period),
        run: None,
    })
}

/// A bot's call context for memory: its run, its conversation, and the instances it may call a
/// tool of after every delegation's narrowing (their `resource:` partitions).
fn memory_context<'a>(
    policy: &BotPolicy,
    principal: &Principal,
    run: &'a str,
    conversation: Option<&'a str>,
) -> CallContext<'a> {
    let mut instances: Vec<String> = policy
        .tools
        .iter()
        .filter(|(name, _)| principal.chain_allows(name))
        .map(|(_, tool)| tool.binding.instance_name().to_string())
        .collect();
    instances.dedup();
    CallContext { run, conversation, instances }
}
