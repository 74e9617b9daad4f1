//! The plugin manifest (DESIGN.md, "Plugin manifest"): what a plugin offers and how each of its
//! tools is governed. Everything the host and the gate know about an integration comes from here.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A plugin's manifest.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name (`github`); bindings name it in `plugin:`.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// What it integrates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The component file, relative to the manifest.
    pub component: String,
    /// Credential fields, by name; the host injects them at the boundary.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, CredentialSpec>,
    /// Configuration fields a binding may set, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, ConfigField>,
    /// Origins the plugin may reach through the host (templates over `config`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<String>,
    /// What else governs the `http` capability: URLs beyond `network:` that the binding's scope
    /// allows, and per-request limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCapability>,
    /// Permission dimensions a binding gives values for.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, DimensionSpec>,
    /// What governs the `ssh` capability: every command the guest asks the host to run is
    /// checked against the binding's values of these dimensions. Without it the plugin may run
    /// no SSH command at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshCapability>,
    /// What governs the `evm-signer` capability: every transaction the guest asks the host to
    /// sign is checked against the binding's values of these dimensions. A plugin with a signer
    /// credential must have it; without it the host signs nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerCapability>,
    /// The tools.
    pub tools: Vec<ToolDef>,
}

impl Manifest {
    /// The tool called `name`.
    pub fn tool(&self, name: &str) -> Option<&ToolDef> {
        self.tools.iter().find(|t| t.name == name)
    }
}

/// A credential field.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the host puts it.
    pub inject: Inject,
}

/// Where the host injects a credential. Exactly one target is set.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Inject {
    /// An HTTP request header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// An HTTP query parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// How the value is written (`Bearer {}`); `{}` is the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The private key of SSH sessions the host opens.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ssh: bool,
    /// The key the host signs transactions with.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signer: bool,
    /// For `header` and `query`: the only origin (and optional path prefix) whose requests may
    /// carry this credential, a template over `config` like `network:` entries
    /// (`"{{ config.api_url }}"`). The host refuses to attach it to a request anywhere else.
    /// Required when the plugin can reach more than one origin; without it, a plugin with a
    /// single `network:` entry and no `http.url` ties the credential to that entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl Inject {
    /// How many targets are set (a valid manifest has exactly one).
    pub fn targets(&self) -> usize {
        usize::from(self.header.is_some())
            + usize::from(self.query.is_some())
            + usize::from(self.ssh)
            + usize::from(self.signer)
    }
}

/// A configuration field.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    /// `string`, `integer`, `number` or `boolean`.
    #[serde(rename = "type", default = "string_type")]
    pub kind: String,
    /// What it sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The value when a binding does not set it; without one the field is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

fn string_type() -> String {
    "string".into()
}

/// A permission dimension.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DimensionSpec {
    /// What its values mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A regular expression (anchored) every string value a binding gives must match, so that a
    /// value in the wrong spelling is refused when the bot loads rather than silently matching
    /// nothing (`^0x[0-9a-f]{40}$`: a checksummed address is refused with this message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// The dimensions that govern a plugin's SSH commands (`ssh:` in a manifest):
///
/// ```yaml
/// ssh:
///   host: { dimension: hosts, match: glob }
///   command: { dimension: commands, match: command }
/// ```
///
/// The host checks each command's target host and its argv (quoted back into one command line)
/// with the same scope engine as tool parameters, against the calling binding's values.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SshCapability {
    /// The rule for the host (`name` or `name:port`).
    pub host: CapabilityRule,
    /// The rule for the command line.
    pub command: CapabilityRule,
}

/// What the host may sign for a plugin (`signer:` in a manifest):
///
/// ```yaml
/// signer:
///   to: { dimension: recipients, match: exact }       # a transaction without data: its recipient
///   value: { dimension: max_value, match: max }        # every transaction's value, in wei
///   calls:                                             # a transaction with data calls one of these
///     - function: "transfer(address,uint256)"
///       to: { dimension: contracts, match: exact }     # the contract called
///       args: [{ dimension: recipients, match: exact }, { dimension: max_value, match: max }]
/// ```
///
/// The host decodes what it is asked to sign and checks it with the same scope engine as tool
/// parameters, against the calling binding's values narrowed by the caller's skills and
/// delegations, whatever the guest asks. Contract creation and data that calls no listed
/// function are refused.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignerCapability {
    /// The rule for a transaction without data (a native transfer): its `to`.
    pub to: CapabilityRule,
    /// The rule for every transaction's value (wei as a decimal string).
    pub value: CapabilityRule,
    /// The functions a transaction with data may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<SignerCall>,
}

/// A function the host may sign a call of.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignerCall {
    /// Its canonical signature, `transfer(address,uint256)`: arguments of the static types
    /// `address`, `bool` and `uint8` to `uint256`.
    pub function: String,
    /// The rule for the contract called.
    pub to: CapabilityRule,
    /// One rule per argument, in order (addresses as lowercase 0x hex, integers as decimal
    /// strings, booleans as booleans).
    #[serde(default)]
    pub args: Vec<CapabilityRule>,
}

/// The argument types of a canonical function signature the signer can decode, or why not.
pub fn signer_arg_types(function: &str) -> Result<Vec<String>, String> {
    let inner = function
        .split_once('(')
        .filter(|(name, rest)| !name.is_empty() && rest.ends_with(')'))
        .map(|(_, rest)| &rest[..rest.len() - 1])
        .ok_or_else(|| format!("`{function}` is not a canonical signature like transfer(address,uint256)"))?;
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .map(|t| {
            let bits = t.strip_prefix("uint").map(|b| b.parse::<u32>());
            match (t, bits) {
                ("address" | "bool", _) => Ok(t.to_string()),
                (_, Some(Ok(n))) if n % 8 == 0 && (8..=256).contains(&n) => Ok(t.to_string()),
                _ => Err(format!(
                    "`{function}`: the signer decodes address, bool and uint8..uint256 arguments, not `{t}`"
                )),
            }
        })
        .collect()
}

/// What governs a plugin's HTTP requests beyond its `network:` origins (`http:` in a manifest):
///
/// ```yaml
/// http:
///   url: { dimension: urls, match: glob }      # also any URL the binding's `urls` allow
///   timeout_secs: "{{ config.timeout_secs }}"   # per request (template over config)
///   max_response_bytes: "{{ config.max_bytes }}"
/// ```
///
/// The host checks the full URL of every request that is not under a `network:` entry with the
/// same scope engine as tool parameters, against the calling binding's values of `url`'s
/// dimension: what a tool's scope lets the model ask for is exactly what the guest may reach.
/// The limits apply to every request of the plugin, on top of the call's own deadline and memory.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpCapability {
    /// The rule for URLs outside `network:`; without it, only `network:` is reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<CapabilityRule>,
    /// Seconds a request may take (a template over `config` rendering a positive number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<String>,
    /// The largest response body accepted, in bytes (a template over `config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<String>,
    /// A header (`Idempotency-Key`) the host sets on every request of a call to the call's
    /// idempotency key, the same when a run resumes after a crash and sends the call again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_header: Option<String>,
}

impl Manifest {
    /// Whether the plugin may reach more than one origin (several `network:` entries, or URLs
    /// from the binding's scope): then every HTTP credential must name its `origin`.
    pub fn reaches_several_origins(&self) -> bool {
        self.network.len() > 1 || self.http.as_ref().is_some_and(|h| h.url.is_some())
    }
}

/// A dimension and how a capability's value is compared with its values.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRule {
    /// The dimension whose values allow.
    pub dimension: String,
    /// How a value is compared with the allowed ones.
    #[serde(rename = "match")]
    pub kind: MatchKind,
}

/// One tool of a plugin.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    /// Its name inside the plugin (`create_comment`); callers write `<instance>.<name>`.
    pub name: String,
    /// What it does, shown to models.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of its arguments.
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
    /// How its parameters are checked against a binding's dimensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<ScopeRule>,
    /// JSON pointers of arguments that are secret: redacted in the audit trail and events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redact: Vec<String>,
    /// What a call does outside: after a crash, a `read` or `idempotent` call in doubt is sent
    /// again, a `write` is not sent again without a person's decision.
    #[serde(default, skip_serializing_if = "Effect::is_write")]
    pub effect: Effect,
}

/// What a tool call does outside the run, which decides what happens to it after a crash.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Changes nothing: sent again freely.
    Read,
    /// Changes something, but sending it again changes nothing more (a `PUT`, a call the service
    /// dedupes by its idempotency key, a transaction the host recognises).
    Idempotent,
    /// Changes something each time it is sent (the default).
    #[default]
    Write,
}

impl Effect {
    pub fn is_write(&self) -> bool {
        *self == Effect::Write
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Idempotent => "idempotent",
            Effect::Write => "write",
        }
    }
}

fn empty_object_schema() -> Value {
    serde_json::json!({ "type": "object" })
}

/// A rule: the parameter at `param` must match one of the binding's values of `dimension`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScopeRule {
    /// The dimension whose values allow.
    pub dimension: String,
    /// JSON pointer into the arguments (`/repo`).
    pub param: String,
    /// How a value is compared with the allowed ones.
    #[serde(rename = "match")]
    pub kind: MatchKind,
}

/// How a parameter is compared with a dimension's allowed values.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// Equal to one of the values.
    Exact,
    /// Matches one of the glob patterns (`*` does not cross `/`; `**` does).
    Glob,
    /// Matches one of the regular expressions, anchored at both ends.
    Regex,
    /// Starts with one of the values.
    Prefix,
    /// A number at most the value.
    Max,
    /// A number at least the value.
    Min,
    /// An IP address (or network) inside one of the networks.
    Cidr,
    /// A command line that matches one of the patterns argument by argument.
    Command,
}

impl MatchKind {
    /// Its name as written in a manifest.
    pub fn name(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Glob => "glob",
            MatchKind::Regex => "regex",
            MatchKind::Prefix => "prefix",
            MatchKind::Max => "max",
            MatchKind::Min => "min",
            MatchKind::Cidr => "cidr",
            MatchKind::Command => "command",
        }
    }
}

/// The `signer:` block's problems: a plugin with a signer credential must say what may be
/// signed, every rule names a declared dimension, and every call's arguments have a rule each.
fn signer_problems(m: &Manifest, out: &mut Vec<crate::Diagnostic>) {
    use crate::diagnostic::{Diagnostic, PathSeg};
    let key = |k: &str| PathSeg::Key(k.to_string());
    let has_key = m.credentials.values().any(|c| c.inject.signer);
    let Some(signer) = &m.signer else {
        if has_key {
            out.push(
                Diagnostic::new("E014", vec![key("credentials")], "a signer credential needs a `signer:` block")
                    .with_help("say what the host may sign: `signer: { to: {dimension, match}, value: {dimension, match}, calls: [...] }`"),
            );
        }
        return;
    };
    if !has_key {
        out.push(Diagnostic::new(
            "E014",
            vec![key("signer")],
            "a `signer:` block without a credential with `inject: { signer: true }`",
        ));
    }
    let rule = |out: &mut Vec<Diagnostic>, path: Vec<PathSeg>, r: &CapabilityRule| {
        if !m.dimensions.contains_key(&r.dimension) {
            out.push(Diagnostic::new("E014", path, format!("undeclared dimension `{}`", r.dimension)));
        }
    };
    rule(out, vec![key("signer"), key("to"), key("dimension")], &signer.to);
    rule(out, vec![key("signer"), key("value"), key("dimension")], &signer.value);
    for (i, call) in signer.calls.iter().enumerate() {
        let at = |rest: &[PathSeg]| [&[key("signer"), key("calls"), PathSeg::Index(i)][..], rest].concat();
        rule(out, at(&[key("to"), key("dimension")]), &call.to);
        for (j, arg) in call.args.iter().enumerate() {
            rule(out, at(&[key("args"), PathSeg::Index(j), key("dimension")]), arg);
        }
        match signer_arg_types(&call.function) {
            Err(e) => out.push(Diagnostic::new("E014", at(&[key("function")]), e)),
            Ok(types) if types.len() != call.args.len() => out.push(Diagnostic::new(
                "E014",
                at(&[key("args")]),
                format!(
                    "`{}` has {} argument(s): give one rule each, not {}",
                    call.function,
                    types.len(),
                    call.args.len()
                ),
            )),
            Ok(_) => {}
        }
    }
}

/// Checks a manifest's internal consistency.
pub(crate) fn validate_manifest(m: &Manifest) -> Vec<crate::Diagnostic> {
    use crate::diagnostic::{Diagnostic, PathSeg};
    let key = |k: &str| PathSeg::Key(k.to_string());
    let mut out = Vec::new();
    if !valid_name(&m.name) {
        out.push(
            Diagnostic::new("E014", vec![key("name")], format!("invalid plugin name `{}`", m.name))
                .with_help("a name is lowercase letters, digits and `-`, starting with a letter"),
        );
    }
    for (name, c) in &m.credentials {
        if c.inject.targets() != 1 {
            out.push(Diagnostic::new(
                "E014",
                vec![key("credentials"), key(name), key("inject")],
                "a credential is injected into exactly one of: header, query, ssh, signer",
            ));
        }
        let http = c.inject.header.is_some() || c.inject.query.is_some();
        if c.inject.origin.is_some() && !http {
            out.push(Diagnostic::new(
                "E014",
                vec![key("credentials"), key(name), key("inject"), key("origin")],
                "only a header or query credential is tied to an origin",
            ));
        }
        if http && c.inject.origin.is_none() && m.reaches_several_origins() {
            out.push(
                Diagnostic::new(
                    "E014",
                    vec![key("credentials"), key(name), key("inject")],
                    "this plugin reaches several origins: the credential must name the one it is for",
                )
                .with_help("add `origin: \"{{ config.api_url }}\"` (a template like a `network:` entry)"),
            );
        }
    }
    if let Some(rule) = m.http.as_ref().and_then(|h| h.url.as_ref())
        && !m.dimensions.contains_key(&rule.dimension)
    {
        out.push(Diagnostic::new(
            "E014",
            vec![key("http"), key("url"), key("dimension")],
            format!("undeclared dimension `{}`", rule.dimension),
        ));
    }
    if let Some(ssh) = &m.ssh {
        for (name, rule) in [("host", &ssh.host), ("command", &ssh.command)] {
            if !m.dimensions.contains_key(&rule.dimension) {
                out.push(Diagnostic::new(
                    "E014",
                    vec![key("ssh"), key(name), key("dimension")],
                    format!("undeclared dimension `{}`", rule.dimension),
                ));
            }
        }
    }
    signer_problems(m, &mut out);
    let mut seen = std::collections::HashSet::new();
    for (i, tool) in m.tools.iter().enumerate() {
        let at = |k: &str| vec![key("tools"), PathSeg::Index(i), key(k)];
        if !valid_tool_name(&tool.name) {
            out.push(Diagnostic::new("E014", at("name"), format!("invalid tool name `{}`", tool.name)));
        }
        if !seen.insert(tool.name.as_str()) {
            out.push(Diagnostic::new("E014", at("name"), format!("duplicate tool `{}`", tool.name)));
        }
        if tool.parameters.get("type").and_then(Value::as_str) != Some("object") {
            out.push(Diagnostic::new("E014", at("parameters"), "a tool's parameters are a JSON Schema of type object"));
        }
        for (j, rule) in tool.scope.iter().enumerate() {
            let at = |k: &str| vec![key("tools"), PathSeg::Index(i), key("scope"), PathSeg::Index(j), key(k)];
            if !m.dimensions.contains_key(&rule.dimension) {
                out.push(Diagnostic::new(
                    "E014",
                    at("dimension"),
                    format!("undeclared dimension `{}`", rule.dimension),
                ));
            }
            if !rule.param.starts_with('/') {
                out.push(
                    Diagnostic::new("E014", at("param"), format!("`{}` is not a JSON pointer", rule.param))
                        .with_help("a pointer starts with `/`, e.g. `/repo`"),
                );
            }
        }
        for (j, pointer) in tool.redact.iter().enumerate() {
            if !pointer.starts_with('/') {
                let path = vec![key("tools"), PathSeg::Index(i), key("redact"), PathSeg::Index(j)];
                out.push(Diagnostic::new("E014", path, format!("`{pointer}` is not a JSON pointer")));
            }
        }
    }
    out
}

/// A plugin or instance name: lowercase letters, digits and `-`, starting with a letter.
pub fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_tool_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    fn problems(text: &str) -> Vec<String> {
        match crate::load_manifest(text).ok() {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| format!("{}: {}", d.code, d.message)).collect(),
        }
    }

    const HEAD: &str = "name: p\nversion: 0.1.0\ncomponent: p.wasm\ntools: []\n";

    #[test]
    fn a_signer_says_what_may_be_signed_with_declared_dimensions_and_one_rule_per_argument() {
        let key = "credentials:\n  k: { inject: { signer: true } }\ndimensions: { to: {}, max: {} }\n";
        assert_eq!(problems(&format!("{HEAD}{key}")), ["E014: a signer credential needs a `signer:` block"]);
        let block = |calls: &str| {
            format!(
                "{HEAD}{key}signer:\n  to: {{ dimension: to, match: exact }}\n  value: {{ dimension: max, match: max }}\n  calls: {calls}\n"
            )
        };
        let good = block(
            "[{ function: \"transfer(address,uint256)\", to: { dimension: to, match: exact }, args: [{ dimension: to, match: exact }, { dimension: max, match: max }] }]",
        );
        assert!(problems(&good).is_empty(), "{:?}", problems(&good));
        let undeclared = block("[{ function: \"f()\", to: { dimension: nowhere, match: exact } }]");
        assert_eq!(problems(&undeclared), ["E014: undeclared dimension `nowhere`"]);
        let dynamic = block(
            "[{ function: \"f(string)\", to: { dimension: to, match: exact }, args: [{ dimension: to, match: exact }] }]",
        );
        assert!(problems(&dynamic)[0].contains("not `string`"), "{:?}", problems(&dynamic));
        let short = block(
            "[{ function: \"f(address,bool)\", to: { dimension: to, match: exact }, args: [{ dimension: to, match: exact }] }]",
        );
        assert!(problems(&short)[0].contains("give one rule each"), "{:?}", problems(&short));
        let keyless = format!(
            "{HEAD}dimensions: {{ to: {{}}, max: {{}} }}\nsigner:\n  to: {{ dimension: to, match: exact }}\n  value: {{ dimension: max, match: max }}\n"
        );
        assert!(problems(&keyless)[0].contains("without a credential"), "{:?}", problems(&keyless));
    }

    #[test]
    fn signer_argument_types() {
        assert_eq!(super::signer_arg_types("transfer(address,uint256)").unwrap(), ["address", "uint256"]);
        assert_eq!(super::signer_arg_types("ping()").unwrap(), Vec::<String>::new());
        for bad in ["transfer", "(address)", "f(uint7)", "f(uint264)", "f(int256)", "f(address"] {
            assert!(super::signer_arg_types(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tool_is_a_write_unless_it_says_otherwise() {
        let text = "name: p\nversion: 0.1.0\ncomponent: p.wasm\ntools:\n  - { name: a }\n  - { name: b, effect: read }\n  - { name: c, effect: idempotent }\n".to_string();
        let m = crate::load_manifest(&text).ok().expect("loads");
        let effects: Vec<_> = m.tools.iter().map(|t| t.effect).collect();
        assert_eq!(effects, [super::Effect::Write, super::Effect::Read, super::Effect::Idempotent]);
        assert!(!problems(&text.replace("idempotent", "sometimes")).is_empty());
    }

    #[test]
    fn a_credential_of_a_plugin_with_several_origins_names_its_origin() {
        let two = "network: [\"{{ config.a }}\", \"{{ config.b }}\"]\n";
        let untied = format!("{HEAD}{two}credentials:\n  k: {{ inject: {{ header: X-Key }} }}\n");
        assert_eq!(
            problems(&untied),
            ["E014: this plugin reaches several origins: the credential must name the one it is for"]
        );
        let tied = format!(
            "{HEAD}{two}credentials:\n  k: {{ inject: {{ header: X-Key, origin: \"{{{{ config.a }}}}\" }} }}\n"
        );
        assert!(problems(&tied).is_empty(), "{:?}", problems(&tied));
        let one =
            format!("{HEAD}network: [\"{{{{ config.a }}}}\"]\ncredentials:\n  k: {{ inject: {{ query: key }} }}\n");
        assert!(problems(&one).is_empty(), "a single-origin plugin may leave it implicit");
    }

    #[test]
    fn a_url_rule_makes_a_plugin_reach_several_origins_and_needs_a_declared_dimension() {
        let text = format!(
            "{HEAD}network: [\"{{{{ config.a }}}}\"]\nhttp:\n  url: {{ dimension: urls, match: glob }}\ncredentials:\n  k: {{ inject: {{ query: key }} }}\n"
        );
        let p = problems(&text);
        assert!(p.iter().any(|m| m.contains("must name the one it is for")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("undeclared dimension `urls`")), "{p:?}");
        let ssh = format!("{HEAD}credentials:\n  k: {{ inject: {{ ssh: true, origin: x }} }}\n");
        assert_eq!(problems(&ssh), ["E014: only a header or query credential is tied to an origin"]);
    }
}
