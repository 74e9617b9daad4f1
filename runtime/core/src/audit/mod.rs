//! The audit trail: every tool call (allowed or denied, with the rule that decided), every model
//! request, every delegation and every approval decision, appended in order and chained by hash.
//!
//! A record's hash is SHA-256 over its sequence number, its fields and the previous record's
//! hash, so `verify` finds any record that was edited, removed or moved. (Removing the newest
//! records leaves a shorter valid chain; an external copy of the latest hash detects that.)

mod trail;

pub use trail::Trail;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The previous hash of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// The gate's decision on a tool call (written before the tool runs).
    ToolCall,
    /// How an allowed tool call ended.
    ToolResult,
    /// A model request: its budget decision, model, tokens and cost.
    ModelRequest,
    /// A delegation to another bot.
    Delegation,
    /// A decision on an approval gate.
    Approval,
    /// A person cancelled a run.
    Cancellation,
    /// A package installed from an index, or refused (checksum, signature, trust).
    Install,
    /// A package published to the index `monstrum serve` hosts, or refused (a changed version).
    Publish,
    /// A registered MCP server's tools changed (added, changed: quarantined; removed), or an
    /// admin registered the server or approved a tool.
    McpTools,
    /// An agent's link: connected, disconnected, refused (a forged or revoked key), revoked.
    Agent,
    /// A channel's message: routed to a bot (the run it started), dropped (no route), its
    /// answer undelivered.
    Channel,
}

impl AuditKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::ToolCall => "tool_call",
            AuditKind::ToolResult => "tool_result",
            AuditKind::ModelRequest => "model_request",
            AuditKind::Delegation => "delegation",
            AuditKind::Approval => "approval",
            AuditKind::Cancellation => "cancellation",
            AuditKind::Install => "install",
            AuditKind::Publish => "publish",
            AuditKind::McpTools => "mcp_tools",
            AuditKind::Agent => "agent",
            AuditKind::Channel => "channel",
        }
    }
}

/// A record to append.
#[derive(Clone, Debug, Default)]
pub struct AuditEntry {
    pub kind: Option<AuditKind>,
    pub run: Option<String>,
    pub step: Option<String>,
    pub bot: Option<String>,
    pub tool: Option<String>,
    /// `allowed` or `denied` (or an approval's `approved` / `rejected`).
    pub decision: Option<String>,
    /// The rule that decided, or why it was denied.
    pub reason: Option<String>,
    /// Anything else, as JSON text: redacted arguments, duration, tokens, cost, the delegation
    /// chain.
    pub detail: String,
}

impl AuditEntry {
    /// An entry of `kind`.
    pub fn new(kind: AuditKind) -> AuditEntry {
        AuditEntry { kind: Some(kind), detail: "{}".into(), ..Default::default() }
    }

    /// An entry of `kind` about `step` of `run`, on behalf of `bot`.
    pub fn at(kind: AuditKind, run: &str, step: &str, bot: Option<&str>) -> AuditEntry {
        AuditEntry {
            run: Some(run.to_string()),
            step: Some(step.to_string()),
            bot: bot.map(str::to_string),
            ..AuditEntry::new(kind)
        }
    }

    /// What it is about: a tool, a model, a delegation target.
    pub fn on(mut self, tool: impl Into<String>) -> AuditEntry {
        self.tool = Some(tool.into());
        self
    }

    /// The decision and the rule or reason behind it.
    pub fn decided(mut self, decision: &str, reason: Option<String>) -> AuditEntry {
        self.decision = Some(decision.to_string());
        self.reason = reason;
        self
    }

    /// Anything else worth keeping: `detail` serialized once, here (borrowed values are not
    /// copied into a JSON tree first).
    pub fn with_detail(mut self, detail: impl Serialize) -> AuditEntry {
        self.detail = serde_json::to_string(&detail)
            .unwrap_or_else(|e| serde_json::json!({ "unserializable": e.to_string() }).to_string());
        self
    }
}

/// A record as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub run: Option<String>,
    pub step: Option<String>,
    pub bot: Option<String>,
    pub tool: Option<String>,
    pub decision: Option<String>,
    pub reason: Option<String>,
    /// JSON text, hashed exactly as stored.
    pub detail: String,
    pub prev: String,
    pub hash: String,
}

impl AuditRecord {
    /// Seals `entry` as record `seq` after `prev`.
    pub fn seal(entry: AuditEntry, seq: i64, at: i64, prev: &str) -> AuditRecord {
        let mut r = AuditRecord {
            seq,
            at,
            kind: entry.kind.map_or("unknown", AuditKind::as_str).to_string(),
            run: entry.run,
            step: entry.step,
            bot: entry.bot,
            tool: entry.tool,
            decision: entry.decision,
            reason: entry.reason,
            detail: entry.detail,
            prev: prev.to_string(),
            hash: String::new(),
        };
        r.hash = r.compute_hash();
        r
    }

    /// The hash this record's fields give.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        fn opt(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or("\u{0}")
        }
        let (mut seq, mut at) = (itoa::Buffer::new(), itoa::Buffer::new());
        for field in [
            seq.format(self.seq),
            at.format(self.at),
            self.kind.as_str(),
            opt(&self.run),
            opt(&self.step),
            opt(&self.bot),
            opt(&self.tool),
            opt(&self.decision),
            opt(&self.reason),
            self.detail.as_str(),
            self.prev.as_str(),
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex_digest(h.finalize().into())
    }
}

/// A SHA-256 digest as 64 lowercase hex digits, written into place (`hex::encode` collects the
/// digits one `char` at a time, which showed in the per-step profile of every audit record).
pub(crate) fn hex_digest(digest: [u8; 32]) -> String {
    let mut digits = [0u8; 64];
    hex::encode_to_slice(digest, &mut digits).expect("64 digits for 32 bytes");
    String::from_utf8(digits.to_vec()).expect("hex digits are ASCII")
}

/// A break in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainProblem {
    /// The record where the chain breaks.
    pub seq: i64,
    /// What is wrong.
    pub problem: String,
}

/// Checks a whole trail, in `seq` order: every problem found.
pub fn verify(records: &[AuditRecord]) -> Vec<ChainProblem> {
    let mut problems = Vec::new();
    let mut prev_hash = GENESIS.to_string();
    let mut expected_seq = 1;
    for r in records {
        if r.seq != expected_seq {
            let problem = if r.seq > expected_seq {
                format!("records {expected_seq}..{} are missing (removed)", r.seq - 1)
            } else {
                format!("record {} appears out of order", r.seq)
            };
            problems.push(ChainProblem { seq: r.seq, problem });
        }
        if r.compute_hash() != r.hash {
            problems.push(ChainProblem { seq: r.seq, problem: "its content does not match its hash (edited)".into() });
        } else if r.prev != prev_hash {
            problems.push(ChainProblem {
                seq: r.seq,
                problem: "it does not follow the record before it (a record was removed, inserted or moved)".into(),
            });
        }
        prev_hash = r.hash.clone();
        expected_seq = r.seq + 1;
    }
    problems
}

/// Replaces the arguments at `pointers` with `"[redacted]"`.
pub fn redact(arguments: &serde_json::Value, pointers: &[String]) -> serde_json::Value {
    let mut out = arguments.clone();
    for p in pointers {
        if let Some(v) = out.pointer_mut(p) {
            *v = serde_json::Value::String("[redacted]".into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry::new(AuditKind::ToolCall);
                e.tool = Some(format!("t{seq}"));
                let r = AuditRecord::seal(e, seq, 1000 + seq, &prev);
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert!(verify(&chain(5)).is_empty());
    }

    #[test]
    fn edits_removals_and_moves_are_found() {
        let mut edited = chain(5);
        edited[2].decision = Some("allowed".into());
        assert_eq!(verify(&edited)[0].seq, 3);

        let mut removed = chain(5);
        removed.remove(2);
        assert!(verify(&removed).iter().any(|p| p.seq == 4 && p.problem.contains("missing")));

        // Moved: records 2 and 3 swap places, renumbered and rehashed by someone who does not
        // know the chain rule well enough; the link to the previous record breaks.
        let mut moved = chain(5);
        moved.swap(1, 2);
        for (i, r) in moved.iter_mut().enumerate() {
            r.seq = i as i64 + 1;
            r.hash = r.compute_hash();
        }
        assert!(!verify(&moved).is_empty());
    }

    #[test]
    fn redaction_replaces_only_the_marked_fields() {
        let args = serde_json::json!({"repo": "a/b", "auth": {"token": "s3cret"}});
        let r = redact(&args, &["/auth/token".into(), "/missing".into()]);
        assert_eq!(r, serde_json::json!({"repo": "a/b", "auth": {"token": "[redacted]"}}));
    }
}
