//! Who is calling: a bot (or nobody), and the chain of delegations it acts under.

use super::policy::BotPolicy;
use super::scope::ToolScope;
use monstrum_model::Limits;
use std::collections::HashMap;
use std::sync::Arc;

/// How deep delegations may nest (a delegate of a delegate of …).
pub const MAX_DELEGATION_DEPTH: usize = 4;

/// The identity a call is made under.
#[derive(Clone)]
pub enum Identity {
    /// No bot: only the built-in `core.*` tools.
    Anonymous,
    /// A bot whose policy compiled.
    Bot(Arc<BotPolicy>),
    /// A bot whose policy could not be compiled: it sees nothing and may call nothing.
    Faulty { bot: String, reason: String },
}

/// One hop of delegation: what the delegator allowed the delegate.
pub struct Delegation {
    /// Its id (the budget account of its share).
    pub id: String,
    /// The delegating bot.
    pub from: String,
    /// The delegate.
    pub to: String,
    /// The tools it may use, by `<instance>.<tool>`; `None` does not narrow.
    pub tools: Option<Vec<String>>,
    /// Narrower values per dimension; they bind every delegate further down the chain too.
    pub scope: std::collections::BTreeMap<String, serde_json::Value>,
    /// The share of the delegator's budget.
    pub budget: Option<Limits>,
    /// The scopes of the delegator's enabled skills, by skill: a skill narrows what its bot
    /// does through a delegate as it narrows what the bot does itself.
    pub skills: Vec<(String, std::collections::BTreeMap<String, serde_json::Value>)>,
}

/// The rules every delegation on a chain adds, compiled against the last delegate's tools: by
/// tool, (which delegation, its rules).
pub type Constraints = HashMap<String, Vec<(String, ToolScope)>>;

/// A caller: an identity and the delegations it acts under, outermost first.
#[derive(Clone)]
pub struct Principal {
    pub identity: Identity,
    pub chain: Vec<Arc<Delegation>>,
    /// Every hop's scope, compiled for this principal's tools.
    pub constraints: Arc<Constraints>,
}

impl Principal {
    /// Nobody in particular: the `core.*` tools.
    pub fn anonymous() -> Principal {
        Principal { identity: Identity::Anonymous, chain: Vec::new(), constraints: Arc::default() }
    }

    /// The values that narrow this principal's bindings: its enabled skills' scopes and every
    /// delegation's scope on its chain (dimension → values).
    pub fn narrowing(&self) -> Vec<&std::collections::BTreeMap<String, serde_json::Value>> {
        let skills = match &self.identity {
            Identity::Bot(policy) => policy.skills.iter().map(|s| &s.scope).collect(),
            _ => Vec::new(),
        };
        skills.into_iter().chain(self.chain.iter().map(|hop| &hop.scope)).collect()
    }

    /// The bot's name, if there is a bot.
    pub fn bot_name(&self) -> Option<&str> {
        match &self.identity {
            Identity::Anonymous => None,
            Identity::Bot(p) => Some(&p.bot.name),
            Identity::Faulty { bot, .. } => Some(bot),
        }
    }

    /// The bots on the chain, outermost first, this one last.
    pub fn bots(&self) -> Vec<&str> {
        self.chain.iter().map(|d| d.from.as_str()).chain(self.bot_name()).collect()
    }

    /// Whether every delegation on the chain lets `tool` through.
    pub fn chain_allows(&self, tool: &str) -> bool {
        self.chain.iter().all(|d| d.tools.as_ref().is_none_or(|t| t.iter().any(|n| n == tool)))
    }

    /// The chain as written in the audit trail: `ops > dba`.
    pub fn chain_text(&self) -> String {
        self.bots().join(" > ")
    }
}
