//! The `evm` plugin through the real binary against a real local EVM node (ganache, started by
//! tests/e2e/common/ganache.rs on a loopback port with a funded account whose key is made up for the
//! test) and a real ERC-20 (tests/fixtures/evm/Token.sol, compiled with solcjs and deployed by
//! the harness).
//!
//! - Allowed native and ERC-20 transfers land (three of them sent in parallel): the recipient's
//!   balances change on chain, and the read tools (balance, erc20_balance, call, logs,
//!   estimate_gas) see them.
//! - An over-limit value or amount, an off-whitelist recipient, contract or function is denied by
//!   the gate, audited, and never reaches the chain: the sender's nonce and every balance are
//!   unchanged.
//! - The private key appears nowhere: not in the run's output, the audit trail or `.monstrum`.

use crate::common::ganache;

use crate::common::{Ws, assert_not_in_files, events, finished, of_type, skip, text};
use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, SolConstructor, sol};
use ganache::Ganache;
use serde_json::Value;

sol! {
    contract Token {
        constructor(string name_, string symbol_, uint256 supply);
        function balanceOf(address owner) returns (uint256);
        function transfer(address to, uint256 amount) returns (bool);
    }
}

/// The most one transfer may move, in wei or token base units.
const LIMIT: u64 = 1_000_000;

/// A node with two deployed tokens (the bound account holds each one's supply), or `None` after
/// a printed skip when ganache or solcjs is not installed.
struct Chain {
    node: Ganache,
    token: Address,
    other_token: Address,
}

fn chain() -> Option<Chain> {
    let Some(node) = Ganache::start() else {
        skip("ganache is not installed (npm install --no-save --prefix target/npm ganache@7 solc@0.8.19)");
        return None;
    };
    let source = crate::common::repo().join("tests/fixtures/evm/Token.sol");
    let Some(code) = ganache::compile(&source, "Token") else {
        skip("solcjs is not installed (npm install --no-save --prefix target/npm ganache@7 solc@0.8.19)");
        return None;
    };
    let deploy = |name: &str| {
        let supply = U256::from(10).pow(U256::from(24));
        let args = Token::constructorCall { name_: name.into(), symbol_: name.into(), supply }.abi_encode();
        node.deploy([code.clone(), args].concat())
    };
    let (token, other_token) = (deploy("GOOD"), deploy("OTHER"));
    Some(Chain { node, token, other_token })
}

impl Chain {
    fn token_balance(&self, token: Address, who: Address) -> U256 {
        let raw = self.node.call(token, Token::balanceOfCall { owner: who }.abi_encode());
        Token::balanceOfCall::abi_decode_returns(&raw).expect("balanceOf result")
    }
}

fn hex(a: Address) -> String {
    alloy_primitives::hex::encode_prefixed(a)
}

/// A made-up address (nobody holds its key).
fn address(byte: u8) -> Address {
    Address::repeat_byte(byte)
}

/// A workspace whose bot `treasurer` may pay `alice` at most [`LIMIT`] of ether or of the first
/// token, and read `balanceOf(address)` and `symbol()`; the node's key is in the vault as
/// `wallet-key`.
fn workspace(chain: &Chain, alice: Address) -> Ws {
    let ws = Ws::new();
    ws.write(
        "bots/treasurer.yaml",
        &format!(
            r#"name: treasurer
model: {{ provider: scripted, script: scripts/treasurer.yaml }}
resources:
  - plugin: evm
    instance: wallet
    credential: wallet-key
    tools: [address, balance, erc20_balance, transfer, erc20_transfer, call, logs, estimate_gas]
    scope:
      recipients: ["{alice}"]
      contracts: ["{token}"]
      functions: ["balanceOf(address)", "symbol()"]
      max_value: {LIMIT}
    config: {{ rpc_url: "{url}" }}
"#,
            alice = hex(alice),
            token = hex(chain.token),
            url = chain.node.url,
        ),
    );
    ws.write("scripts/treasurer.yaml", "- text: nothing to do\n");
    ws.vault_set("wallet-key", &format!("0x{}\n", chain.node.key));
    ws
}

fn output<'a>(evs: &'a [Value], step: &str) -> &'a Value {
    let done = evs.iter().find(|e| e["type"] == "step_finished" && e["step"] == step);
    &done.unwrap_or_else(|| panic!("step {step} did not finish: {evs:#?}"))["output"]
}

/// The key (either case) is in none of the run's output, the audit trail, the workspace's data.
fn assert_key_nowhere(ws: &Ws, node: &Ganache, out: &std::process::Output) {
    let key = node.key.to_lowercase();
    let upper = key.to_uppercase();
    assert!(!text(out).to_lowercase().contains(&key), "the key is in the run's output");
    let audit = ws.run(&["--json", "audit", "list"]);
    assert!(audit.status.success(), "{}", text(&audit));
    assert!(!text(&audit).to_lowercase().contains(&key), "the key is in the audit trail");
    assert_not_in_files(&ws.path().join(".monstrum"), key.as_bytes());
    assert_not_in_files(&ws.path().join(".monstrum"), upper.as_bytes());
}

#[test]
fn allowed_transfers_land_on_chain() {
    let Some(chain) = chain() else { return };
    let alice = address(0xa1);
    let ws = workspace(&chain, alice);
    let (a, t) = (hex(alice), hex(chain.token));
    let transfer_event = "Transfer(address indexed from, address indexed to, uint256 value)";
    ws.write(
        "workflows/pay.yaml",
        &format!(
            r#"name: pay
bot: treasurer
steps:
  - id: me
    tool: wallet.address
  - id: gas
    tool: wallet.estimate_gas
    with: {{ to: "{a}", value: "1" }}
  - id: pay
    needs: [me, gas]
    tool: wallet.transfer
    with: {{ to: "{a}", value: "{LIMIT}" }}
  - id: pay-token
    needs: [pay]
    tool: wallet.erc20_transfer
    with: {{ token: "{t}", to: "{a}", amount: "250" }}
  - id: fan-out
    needs: [pay-token]
    for_each: '["1", "2", "3"]'
    tool: wallet.transfer
    with: {{ to: "{a}", value: "{{{{ item }}}}" }}
  - id: balance
    needs: [fan-out]
    tool: wallet.balance
    with: {{ address: "{a}" }}
  - id: token-balance
    needs: [pay-token]
    tool: wallet.erc20_balance
    with: {{ token: "{t}", address: "{a}" }}
  - id: read
    needs: [pay-token]
    tool: wallet.call
    with: {{ contract: "{t}", function: "balanceOf(address)", args: ["{a}"], returns: [uint256] }}
  - id: logs
    needs: [pay-token]
    tool: wallet.logs
    with: {{ contract: "{t}", event: "{transfer_event}", from_block: 0, to_block: latest }}
"#
        ),
    );
    let nonce = chain.node.nonce(chain.node.account);
    let out = ws.run(&["run", "--json", "workflows/pay.yaml"]);
    let evs = events(&out);
    assert_eq!(finished(&evs)["status"], "succeeded", "{}\n{}", text(&out), chain.node.log());

    // On chain, read by the harness, not by the plugin.
    assert_eq!(chain.node.balance(alice), U256::from(LIMIT + 6));
    assert_eq!(chain.token_balance(chain.token, alice), U256::from(250));
    // Five transactions, three of them in parallel, each with its own nonce.
    assert_eq!(chain.node.nonce(chain.node.account), nonce + 5);

    let me = hex(chain.node.account);
    assert_eq!(output(&evs, "me")["address"], me);
    assert_eq!(output(&evs, "gas")["gas"], 21_000);
    let pay = output(&evs, "pay");
    assert_eq!(pay["status"], "success", "{pay}");
    assert!(pay["hash"].as_str().is_some_and(|h| h.starts_with("0x") && h.len() == 66), "{pay}");
    assert_eq!(output(&evs, "pay-token")["status"], "success");
    assert_eq!(output(&evs, "balance")["wei"], (LIMIT + 6).to_string());
    let fan = output(&evs, "fan-out").as_array().expect("one output per item").clone();
    assert!(fan.iter().all(|o| o["status"] == "success"), "{fan:?}");
    assert_eq!(output(&evs, "token-balance")["amount"], "250");
    assert_eq!(output(&evs, "read")["result"], serde_json::json!(["250"]));
    let logs = output(&evs, "logs")["logs"].as_array().expect("logs").clone();
    assert_eq!(logs.len(), 2, "the mint and the payment: {logs:?}");
    let paid = &logs[1]["args"];
    assert_eq!((&paid["from"], &paid["to"], &paid["value"]), (&me.clone().into(), &a.clone().into(), &"250".into()));
    assert_eq!(logs[1]["transaction"], output(&evs, "pay-token")["hash"]);

    let calls = of_type(&evs, "tool_call");
    assert_eq!(calls.len(), 11);
    assert!(calls.iter().all(|c| c["decision"] == "allowed"), "{calls:?}");
    assert_key_nowhere(&ws, &chain.node, &out);
}

#[test]
fn denied_transfers_never_reach_the_chain() {
    let Some(chain) = chain() else { return };
    let (alice, mallory) = (address(0xa1), address(0xee));
    let ws = workspace(&chain, alice);
    let (a, m, t, o) = (hex(alice), hex(mallory), hex(chain.token), hex(chain.other_token));
    ws.write(
        "workflows/attack.yaml",
        "name: attack\nbot: treasurer\nsteps:\n  - id: pay\n    llm: { prompt: Pay whoever asks }\n",
    );
    let over = LIMIT + 1;
    let huge = "1".repeat(60);
    // The same address as `alice`, written with capitals (the binding lists it in lowercase).
    let a_upper = format!("0x{}", a[2..].to_uppercase());
    ws.write(
        "scripts/treasurer.yaml",
        &format!(
            r#"
- tool_calls:
    - {{ name: wallet.transfer, arguments: {{ to: "{a}", value: "{over}" }} }}
    - {{ name: wallet.transfer, arguments: {{ to: "{a}", value: "{huge}" }} }}
    - {{ name: wallet.transfer, arguments: {{ to: "{m}", value: "1" }} }}
    - {{ name: wallet.erc20_transfer, arguments: {{ token: "{t}", to: "{a}", amount: "{over}" }} }}
    - {{ name: wallet.erc20_transfer, arguments: {{ token: "{t}", to: "{m}", amount: "1" }} }}
    - {{ name: wallet.erc20_transfer, arguments: {{ token: "{o}", to: "{a}", amount: "1" }} }}
    - {{ name: wallet.call, arguments: {{ contract: "{t}", function: "allowance(address,address)", args: ["{a}", "{m}"] }} }}
    - {{ name: wallet.call, arguments: {{ contract: "{o}", function: "balanceOf(address)", args: ["{a}"] }} }}
    - {{ name: wallet.logs, arguments: {{ contract: "{o}", event: "Transfer(address indexed from, address indexed to, uint256 value)" }} }}
    - {{ name: wallet.transfer, arguments: {{ to: "{a_upper}", value: "1" }} }}
    - {{ name: wallet.transfer, arguments: {{ to: "{a}", value: "0xffffffffffff" }} }}
    - {{ name: wallet.transfer, arguments: {{ to: "{a}", value: "1e30" }} }}
    - {{ name: wallet.transfer, arguments: {{ to: ["{a}", "{m}"], value: "1" }} }}
- text: done
"#
        ),
    );
    let me = chain.node.account;
    let (nonce, eth) = (chain.node.nonce(me), chain.node.balance(me));
    let out = ws.run(&["run", "--json", "workflows/attack.yaml"]);
    let evs = events(&out);
    assert_eq!(finished(&evs)["status"], "succeeded", "{}\n{}", text(&out), chain.node.log());

    let calls = of_type(&evs, "tool_call");
    assert_eq!(calls.len(), 13, "{calls:#?}");
    let expected = [
        ("transfer", "max_value"),
        ("transfer", "max_value"),
        ("transfer", "recipients"),
        ("erc20_transfer", "max_value"),
        ("erc20_transfer", "recipients"),
        ("erc20_transfer", "contracts"),
        ("call", "functions"),
        ("call", "contracts"),
        ("logs", "contracts"),
    ];
    for (call, (tool, dimension)) in calls.iter().zip(expected) {
        assert_eq!(call["tool"], format!("wallet.{tool}"), "{call}");
        assert_eq!(call["decision"], "denied", "{call}");
        let reason = call["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("scope") && reason.contains(dimension), "{dimension}: {reason}");
    }
    // Other spellings of an address or an amount are not what the schema accepts: denied too.
    for call in &calls[9..] {
        assert_eq!(call["tool"], "wallet.transfer", "{call}");
        assert_eq!(call["decision"], "denied", "{call}");
        let reason = call["reason"].as_str().unwrap_or_default();
        assert!(reason.starts_with("invalid arguments for wallet.transfer: /"), "{reason}");
    }

    // Nothing reached the chain: no transaction was sent, nobody was paid.
    assert_eq!(chain.node.nonce(me), nonce, "the sender's nonce moved");
    assert_eq!(chain.node.balance(me), eth, "the sender paid for something");
    for who in [alice, mallory] {
        assert_eq!(chain.node.balance(who), U256::ZERO);
        assert_eq!(chain.token_balance(chain.token, who), U256::ZERO);
        assert_eq!(chain.token_balance(chain.other_token, who), U256::ZERO);
    }

    let denied = ws.run(&["--json", "audit", "list", "--decision", "denied"]);
    assert!(denied.status.success(), "{}", text(&denied));
    assert_eq!(events(&denied).len(), 13, "every denial is audited: {}", text(&denied));
    assert_key_nowhere(&ws, &chain.node, &out);
}

/// The test guest `evil-signer` as a plugin under development in `ws`: it asks the host to sign
/// whatever it is given, and its tool's parameters have no scope rules.
fn install_evil_signer(ws: &Ws) {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_monstrum"));
    let target = bin.parent().and_then(std::path::Path::parent).expect("the binary is in <target>/<profile>/");
    let wasm = target.join("guests/wasm32-wasip2/release/evil_signer.wasm");
    assert!(wasm.is_file(), "{} was not built by runtime/core/build.rs", wasm.display());
    let dir = ws.path().join("plugins/evil-signer");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(wasm, dir.join("evil-signer.wasm")).unwrap();
    std::fs::copy(crate::common::repo().join("plugins/testing/evil-signer/manifest.yaml"), dir.join("manifest.yaml"))
        .unwrap();
}

/// ERC-20 `transfer(to, amount)` call data, as hex without `0x`.
fn transfer_data(to: Address, amount: u64) -> String {
    let data = Token::transferCall { to, amount: U256::from(amount) }.abi_encode();
    alloy_primitives::hex::encode(data)
}

#[test]
fn the_host_signs_nothing_outside_the_binding_whatever_the_guest_asks() {
    let Some(chain) = chain() else { return };
    let (alice, mallory) = (address(0xa1), address(0x66));
    let ws = Ws::new();
    install_evil_signer(&ws);
    ws.write(
        "bots/mule.yaml",
        &format!(
            r#"name: mule
model: {{ provider: scripted, script: scripts/none.yaml }}
resources:
  - plugin: evil-signer
    instance: evil
    credential: wallet-key
    tools: [sign]
    scope: {{ recipients: ["{alice}"], contracts: ["{token}"], max_value: {LIMIT} }}
    config: {{ rpc_url: "{url}" }}
"#,
            alice = hex(alice),
            token = hex(chain.token),
            url = chain.node.url,
        ),
    );
    ws.write("scripts/none.yaml", "- text: nothing\n");
    ws.vault_set("wallet-key", &format!("0x{}\n", chain.node.key));
    let (a, m, t, o) = (hex(alice), hex(mallory), hex(chain.token), hex(chain.other_token));
    // Each hostile request is its own step, so that every one is tried; the last one is allowed.
    let attacks = [
        ("to-mallory", format!(r#"{{ to: "{m}", value: "1", send: true }}"#)),
        ("over-limit", format!(r#"{{ to: "{a}", value: "{}", send: true }}"#, LIMIT + 1)),
        ("sign-only-to-mallory", format!(r#"{{ to: "{m}", value: "1" }}"#)),
        ("deploy", r#"{ value: "0", data: "6080", send: true }"#.to_string()),
        (
            "token-to-mallory",
            format!(r#"{{ to: "{t}", value: "0", data: "{}", send: true }}"#, transfer_data(mallory, 1)),
        ),
        (
            "token-over-limit",
            format!(r#"{{ to: "{t}", value: "0", data: "{}", send: true }}"#, transfer_data(alice, LIMIT + 1)),
        ),
        ("other-token", format!(r#"{{ to: "{o}", value: "0", data: "{}", send: true }}"#, transfer_data(alice, 1))),
        ("data-to-alice", format!(r#"{{ to: "{a}", value: "0", data: "{}", send: true }}"#, transfer_data(alice, 1))),
        (
            "trailing-bytes",
            format!(r#"{{ to: "{t}", value: "0", data: "{}00", send: true }}"#, transfer_data(alice, 1)),
        ),
    ];
    let mut workflow = String::from("name: heist\nbot: mule\nsteps:\n");
    for (id, with) in &attacks {
        workflow += &format!("  - {{ id: {id}, tool: evil.sign, with: {with}, on_error: continue }}\n");
    }
    workflow += &format!("  - {{ id: allowed, tool: evil.sign, with: {{ to: \"{a}\", value: \"7\", send: true }} }}\n");
    workflow += &format!(
        "  - {{ id: token-allowed, needs: [allowed], tool: evil.sign, with: {{ to: \"{t}\", value: \"0\", data: \"{}\", send: true }} }}\n",
        transfer_data(alice, 9)
    );
    ws.write("workflows/heist.yaml", &workflow);

    let nonce = chain.node.nonce(chain.node.account);
    let out = ws.run(&["run", "--json", "workflows/heist.yaml"]);
    let evs = events(&out);
    assert_eq!(finished(&evs)["status"], "succeeded", "{}", text(&out));
    for (id, _) in &attacks {
        let failed = evs.iter().find(|e| e["type"] == "step_failed" && e["step"] == *id);
        let error = failed.unwrap_or_else(|| panic!("{id} was signed: {evs:#?}"))["error"].as_str().unwrap_or_default();
        assert!(error.contains("the host refuses to sign"), "{id}: {error}");
        // The gate let the call through: only the host stood in the way.
        let call = of_type(&evs, "tool_call").into_iter().find(|e| e["step"] == *id).expect("a tool call");
        assert_eq!(call["decision"], "allowed", "{id}");
    }
    // Only the two allowed transactions reached the chain.
    assert_eq!(chain.node.nonce(chain.node.account), nonce + 2);
    assert_eq!(chain.node.balance(alice), U256::from(7));
    assert_eq!(chain.node.balance(mallory), U256::ZERO);
    assert_eq!(chain.token_balance(chain.token, alice), U256::from(9));
    assert_eq!(chain.token_balance(chain.token, mallory), U256::ZERO);
    assert_eq!(chain.token_balance(chain.other_token, alice), U256::ZERO);
    assert_key_nowhere(&ws, &chain.node, &out);
}

#[test]
fn a_checksummed_address_in_a_binding_is_refused_with_the_reason() {
    let ws = Ws::new();
    let checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    ws.write(
        "bots/treasurer.yaml",
        &format!(
            r#"name: treasurer
model: {{ provider: scripted, script: scripts/t.yaml }}
resources:
  - plugin: evm
    instance: wallet
    credential: wallet-key
    tools: [transfer]
    scope: {{ recipients: ["0x1111111111111111111111111111111111111111", "{checksummed}"], max_value: 5 }}
    config: {{ rpc_url: "http://127.0.0.1:8545" }}
"#
        ),
    );
    let out = ws.run(&["validate", "bots/treasurer.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains(checksummed) && said.contains("^0x[0-9a-f]{40}$"), "{said}");
    assert!(said.contains("treasurer.yaml:8:73"), "the line and column of the bad value: {said}");
}
