//! The `monstrum` binary: the command line (clap), the progress view and diagnostics, wiring
//! the core (`monstrum-core`) together. No engine, gate or store code lives here.

mod agent;
mod audit;
mod channel;
mod diagnostics;
mod local_time;
mod marketplace;
mod mcp;
mod mcp_sign_in;
mod plugin;
mod plugin_build;
mod plugin_test;
mod progress;
mod run;
mod runs;
mod scaffold;
mod serve;
mod skill;
mod vault;
mod workflow;

use clap::{Parser, Subcommand};
use monstrum_core::marketplace::Kind;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a run that finished.
pub const EXIT_DONE: u8 = 0;
/// Exit code of a failed run or command.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of invalid input (nothing ran).
pub const EXIT_INVALID: u8 = 2;
/// Exit code of a run that waits for approval.
pub const EXIT_WAITING: u8 = 3;

/// Monstrum: a workflow runtime for AI agents in which governance is structural.
#[derive(Parser)]
#[command(name = "monstrum", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The workspace folder (default: found upward from the file or the current directory).
    #[arg(long, global = true)]
    workspace: Option<PathBuf>,
    /// Print one JSON object per line instead of the progress view.
    #[arg(long, global = true)]
    json: bool,
    /// Store URL: sqlite://FILE or postgres://… (default: SQLite in <workspace>/.monstrum).
    #[arg(long, global = true, env = "MONSTRUM_DB")]
    db: Option<String>,
    /// Who is acting (default: the operating-system user).
    #[arg(long = "as", global = true, value_name = "NAME")]
    acting_as: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workflow file.
    Run {
        file: PathBuf,
        /// An input: NAME=VALUE (repeatable).
        #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// The conversation the run is for (CHANNEL/CONVERSATION): its bots' `channel:` memory
        /// partition, as when the run comes from that conversation through a channel.
        #[arg(long, value_name = "CHANNEL/CONVERSATION")]
        conversation: Option<String>,
    },
    /// Check workflow and bot files; report every problem with file, line and column.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List runs, or show one.
    Runs {
        #[command(subcommand)]
        action: Option<RunsAction>,
    },
    /// The audit trail: list records, or verify the chain.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Approve (or reject) a waiting gate and continue the run.
    Approve {
        run: String,
        step: String,
        /// Reject instead of approving.
        #[arg(long)]
        reject: bool,
        #[arg(long)]
        comment: Option<String>,
        /// For a write in doubt: mark it done with this output (JSON) instead of sending it again.
        #[arg(long, value_name = "JSON", conflicts_with = "reject")]
        output: Option<String>,
    },
    /// Continue a run that was interrupted, or re-run it from a step.
    Resume {
        run: String,
        /// Run this step and everything after it again; earlier results are reused.
        #[arg(long)]
        from: Option<String>,
    },
    /// Encrypted credentials: set (the value is read from stdin, never argv), list names, remove.
    Vault {
        #[command(subcommand)]
        action: VaultAction,
    },
    /// Plugins: start one, build it, call its tools, pack and install it, list and inspect.
    Plugin {
        #[command(subcommand)]
        action: plugin::PluginAction,
    },
    /// MCP servers whose tools bots bind (`- mcp: NAME`): register, list, refresh, approve.
    Mcp {
        #[command(subcommand)]
        action: mcp::McpAction,
    },
    /// Skills: start one, list the workspace's as they load.
    Skill {
        #[command(subcommand)]
        action: SkillAction,
    },
    /// Publisher keys, which sign the packages `skill publish` and `plugin publish` put in an index.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Serve the workspace: the JSON API, live events, runs driven by the server.
    Serve {
        #[arg(long, default_value = "127.0.0.1:7410")]
        addr: std::net::SocketAddr,
        /// Listen on a non-loopback address (put a TLS proxy in front).
        #[arg(long)]
        allow_remote: bool,
    },
    /// Workflow versions: save, list, diff, roll back.
    Workflow {
        #[command(subcommand)]
        action: workflow::WorkflowAction,
    },
    /// API tokens of `monstrum serve`: create (printed once), list, revoke.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Run beside an existing agent: link out to `monstrum serve` and offer the tools of
    /// --config (command templates, local MCP servers) to the bots bound to this agent.
    Agent {
        /// The server's URL (http://127.0.0.1:7410); the link goes to its /agent.
        #[arg(long)]
        server: String,
        /// The agent key (`monstrum agent-key create`); else MONSTRUM_AGENT_KEY.
        #[arg(long)]
        key: Option<String>,
        /// agent.yaml: the tools to offer.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Agent keys: create (printed once), revoke.
    AgentKey {
        #[command(subcommand)]
        action: agent::AgentKeyAction,
    },
    /// The agents: linked or not, last seen, their tools.
    Agents,
    /// Channels (channels/NAME.yaml): their hooks, routes and recent deliveries.
    Channel {
        #[command(subcommand)]
        action: channel::ChannelAction,
    },
}

#[derive(Subcommand)]
enum SkillAction {
    /// A new skill: skills/NAME/SKILL.md in the Agent Skills format.
    New { name: String },
    /// Every skill of skills/: name, version, source, status and problems (file and line).
    List,
    /// Enable a skill in a bot: adds it to bots/BOT.yaml's `skills:`, keeping comments and layout.
    Enable { bot: String, name: String },
    /// Disable a skill in a bot: takes it out of bots/BOT.yaml's `skills:`.
    Disable { bot: String, name: String },
    /// Pack a skill folder, sign it with a publisher key, and put it in an index.
    Publish {
        /// The skill's folder (skills/NAME).
        dir: PathBuf,
        #[command(flatten)]
        to: marketplace::PublishTo,
    },
    /// Install a skill from an index into skills/NAME: the newest version matching @VERSION,
    /// after checking its checksums, its signature and its publisher against `trust:`.
    Install {
        /// NAME or NAME@VERSION (a version such as 1.2.0, or a requirement such as ^1).
        spec: String,
        /// The index: a folder, or a server's URL.
        #[arg(long)]
        index: String,
        /// Take an unsigned package (from a local folder index only; audited).
        #[arg(long)]
        allow_unsigned: bool,
        /// Replace the skill if it is installed.
        #[arg(long)]
        force: bool,
        /// An API token, for a server's index.
        #[arg(long, env = "MONSTRUM_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeyAction {
    /// A new Ed25519 publisher key in .monstrum/keys/NAME.key; prints its public key.
    Create { name: String },
}

#[derive(Subcommand)]
enum TokenAction {
    /// A new token with a role, or bound to a bot; it is printed once, on the last line.
    Create {
        /// admin, editor, approver or viewer: what the token may do in the API
        #[arg(long, required_unless_present = "bot", conflicts_with = "bot")]
        role: Option<String>,
        /// A token for `/mcp` alone, serving this bot's tools to an MCP client (no API route).
        #[arg(long)]
        bot: Option<String>,
        /// Who it is (recorded as who started a run or decided a gate).
        #[arg(long)]
        name: Option<String>,
    },
    /// Names, roles and last use; never a token.
    List,
    /// Revoke a token: it opens nothing from now on.
    Revoke { name: String },
}

#[derive(Subcommand)]
enum VaultAction {
    /// Store the value read from stdin (one trailing newline is dropped) under NAME.
    Set { name: String },
    /// Entry names and when each was last set; values are never shown.
    List,
    /// Delete an entry.
    Rm { name: String },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Audit records, oldest first, filtered.
    List {
        #[arg(long)]
        bot: Option<String>,
        #[arg(long)]
        run: Option<String>,
        #[arg(long)]
        tool: Option<String>,
        /// allowed, denied, used, succeeded, failed, approved, rejected
        #[arg(long)]
        decision: Option<String>,
        /// tool_call, tool_result, model_request, delegation, approval
        #[arg(long)]
        kind: Option<String>,
        /// Only the newest N.
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Check the hash chain: any edited, removed or reordered record is reported (exit 1).
    Verify,
}

#[derive(Subcommand)]
enum RunsAction {
    /// The newest runs.
    List {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One run: steps, timings, outputs, errors, gates and model requests.
    Show { run: String },
    /// Stop a run: its running steps are cancelled, its open gates closed.
    Cancel { run: String },
}

/// Options every command shares.
pub struct Global {
    pub workspace: Option<PathBuf>,
    pub json: bool,
    pub db: Option<String>,
    pub acting_as: Option<String>,
}

impl Global {
    /// Who is acting: `--as`, else the operating-system user.
    pub fn who(&self) -> String {
        self.acting_as
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .filter(|s| !s.is_empty())
            .or_else(os_user)
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The name of the user owning this process, from /etc/passwd (no environment needed).
fn os_user() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_string())
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MONSTRUM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let global = Global { workspace: cli.workspace, json: cli.json, db: cli.db, acting_as: cli.acting_as };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let code = runtime.block_on(async move {
        let result = match cli.command {
            Command::Run { file, inputs, conversation } => {
                run::run(&global, &file, &inputs, conversation.as_deref()).await
            }
            Command::Validate { files } => Ok(diagnostics::validate(&global, &files).await),
            Command::Runs { action } => match action.unwrap_or(RunsAction::List { limit: 20 }) {
                RunsAction::List { limit } => runs::list(&global, limit).await,
                RunsAction::Show { run } => runs::show(&global, &run).await,
                RunsAction::Cancel { run } => run::cancel(&global, &run).await,
            },
            Command::Approve { run, step, reject, comment, output } => {
                run::approve(&global, &run, &step, !reject, comment.as_deref(), output.as_deref()).await
            }
            Command::Audit { action } => match action {
                AuditAction::List { bot, run, tool, decision, kind, limit } => {
                    let filter = monstrum_core::store::AuditFilter {
                        bot,
                        run,
                        tool,
                        decision,
                        kind,
                        limit,
                        ..Default::default()
                    };
                    audit::list(&global, filter).await
                }
                AuditAction::Verify => audit::verify(&global).await,
            },
            Command::Resume { run, from } => run::resume(&global, &run, from.as_deref()).await,
            Command::Vault { action } => match action {
                VaultAction::Set { name } => vault::set(&global, &name).await,
                VaultAction::List => vault::list(&global).await,
                VaultAction::Rm { name } => vault::remove(&global, &name).await,
            },
            Command::Plugin { action } => plugin::run(&global, action).await,
            Command::Mcp { action } => mcp::run(&global, action).await,
            Command::Skill { action: SkillAction::New { name } } => scaffold::skill_new(&global, &name),
            Command::Skill { action: SkillAction::List } => skill::list(&global),
            Command::Skill { action: SkillAction::Enable { bot, name } } => skill::toggle(&global, &bot, &name, true),
            Command::Skill { action: SkillAction::Disable { bot, name } } => skill::toggle(&global, &bot, &name, false),
            Command::Skill { action: SkillAction::Publish { dir, to } } => {
                marketplace::publish(&global, Kind::Skill, &dir, to).await
            }
            Command::Skill { action: SkillAction::Install { spec, index, allow_unsigned, force, token } } => {
                let args = marketplace::InstallArgs {
                    kind: Kind::Skill,
                    spec: &spec,
                    index: &index,
                    token,
                    allow_unsigned,
                    force,
                };
                marketplace::install(&global, args).await
            }
            Command::Key { action: KeyAction::Create { name } } => marketplace::key_create(&global, &name),
            Command::Serve { addr, allow_remote } => serve::serve(&global, addr, allow_remote).await,
            Command::Workflow { action } => workflow::run(&global, action).await,
            Command::Agent { server, key, config } => agent::daemon(server, key, config).await,
            Command::AgentKey { action } => agent::key(&global, action).await,
            Command::Agents => agent::list(&global).await,
            Command::Channel { action } => channel::run(&global, action).await,
            Command::Token { action } => match action {
                TokenAction::Create { role, bot, name } => serve::create(&global, role.as_deref(), bot, name).await,
                TokenAction::List => serve::list(&global).await,
                TokenAction::Revoke { name } => serve::revoke(&global, &name).await,
            },
        };
        result.unwrap_or_else(|e| {
            report_error(&global, &e);
            EXIT_FAILED
        })
    });
    ExitCode::from(code)
}

/// Prints a command's error (as a JSON object with `--json`).
pub fn report_error(global: &Global, e: &anyhow::Error) {
    if global.json {
        println!("{}", serde_json::json!({ "type": "error", "error": format!("{e:#}") }));
    } else {
        eprintln!("error: {e:#}");
    }
}
