//! A throwaway local EVM node for tests: `ganache` (npm) on a free loopback port with one funded
//! account whose key is made up for the test, killed on drop; and `solcjs` (npm `solc`) to compile
//! the test's contracts.
//!
//! The npm binaries are looked for in `$MONSTRUM_NPM_BIN`, then `target/npm/node_modules/.bin`
//! (where `.ci/run` installs them: `npm install --no-save --prefix target/npm ganache@7
//! solc@0.8.19`), then on `PATH`.

use alloy_primitives::{Address, Bytes, U64, U256};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The node's chain id.
pub const CHAIN_ID: u64 = 1337;

/// A running ganache.
pub struct Ganache {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The funded account's private key, 64 hex digits without `0x`.
    pub key: String,
    /// The funded account's address.
    pub account: Address,
    dir: tempfile::TempDir,
    child: Child,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

/// The npm binary `name`, if installed where the harness looks.
pub fn npm_bin(name: &str) -> Option<PathBuf> {
    let dirs = std::env::var_os("MONSTRUM_NPM_BIN")
        .map(PathBuf::from)
        .into_iter()
        .chain([crate::common::repo().join("target/npm/node_modules/.bin")])
        .chain(std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default());
    dirs.map(|d| d.join(name)).find(|p| p.is_file())
}

/// 32 random bytes as hex (two v4 UUIDs' random bits are plenty for a throwaway test key).
fn random_key() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl Ganache {
    /// Starts a node whose only account holds 1000 ether, or `None` when ganache is not installed.
    pub fn start() -> Option<Ganache> {
        let bin = npm_bin("ganache")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let key = random_key();
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let log = std::fs::File::create(dir.path().join("ganache.log")).expect("log file");
        let child = Command::new(bin)
            .args(["--server.host", "127.0.0.1", "--server.port", &port.to_string()])
            .args(["--chain.chainId", &CHAIN_ID.to_string(), "--logging.quiet"])
            .arg(format!("--wallet.accounts=0x{key},{}", U256::from(10).pow(U256::from(21))))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("ganache starts");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut node = Ganache {
            url: format!("http://127.0.0.1:{port}"),
            key,
            account: Address::ZERO,
            dir,
            child,
            rt,
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        loop {
            if let Ok(id) = node.try_rpc("eth_chainId", json!([])) {
                assert_eq!(serde_json::from_value::<U64>(id).expect("chain id"), U64::from(CHAIN_ID));
                break;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("ganache exited ({status}): {}", node.log());
            }
            assert!(started.elapsed() < Duration::from_secs(120), "ganache did not answer: {}", node.log());
            std::thread::sleep(Duration::from_millis(200));
        }
        let accounts: Vec<Address> = serde_json::from_value(node.rpc("eth_accounts", json!([]))).expect("accounts");
        node.account = accounts[0];
        Some(node)
    }

    /// What the node wrote on stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ganache.log")).unwrap_or_default()
    }

    fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let reply: Value = self.rt.block_on(async {
            let r = self.http.post(&self.url).json(&body).send().await.map_err(|e| e.to_string())?;
            r.json::<Value>().await.map_err(|e| e.to_string())
        })?;
        match reply.get("error") {
            Some(e) => Err(format!("{method}: {e}")),
            None => Ok(reply["result"].clone()),
        }
    }

    /// Calls `method`; panics on an error.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The wei balance of `who`.
    pub fn balance(&self, who: Address) -> U256 {
        serde_json::from_value(self.rpc("eth_getBalance", json!([who, "latest"]))).expect("balance")
    }

    /// How many transactions `who` has sent (its nonce).
    pub fn nonce(&self, who: Address) -> u64 {
        let n: U64 =
            serde_json::from_value(self.rpc("eth_getTransactionCount", json!([who, "latest"]))).expect("nonce");
        n.to::<u64>()
    }

    /// `eth_call` of `data` on `to`.
    pub fn call(&self, to: Address, data: Vec<u8>) -> Bytes {
        serde_json::from_value(self.rpc("eth_call", json!([{ "to": to, "data": Bytes::from(data) }, "latest"])))
            .expect("call result")
    }

    /// Deploys `code` (creation bytecode with its constructor arguments) from the funded account
    /// (unlocked in the node); returns the contract's address.
    pub fn deploy(&self, code: Vec<u8>) -> Address {
        let hash = self.rpc(
            "eth_sendTransaction",
            json!([{ "from": self.account, "data": Bytes::from(code), "gas": U64::from(5_000_000) }]),
        );
        let receipt = self.rpc("eth_getTransactionReceipt", json!([hash]));
        assert_eq!(receipt["status"], "0x1", "deployment failed: {receipt}");
        serde_json::from_value(receipt["contractAddress"].clone()).expect("contract address")
    }
}

impl Drop for Ganache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Compiles `contract` of the Solidity file `source` with solcjs (optimized); its creation
/// bytecode, or `None` when solcjs is not installed.
pub fn compile(source: &Path, contract: &str) -> Option<Vec<u8>> {
    let solcjs = npm_bin("solcjs")?;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = source.file_name().expect("file name");
    std::fs::copy(source, dir.path().join(file)).expect("copy source");
    let out = Command::new(solcjs)
        .current_dir(dir.path())
        .args(["--bin", "--optimize", "--output-dir", "out"])
        .arg(file)
        .output()
        .expect("solcjs runs");
    assert!(out.status.success(), "solcjs failed: {}", String::from_utf8_lossy(&out.stderr));
    let stem = file.to_string_lossy().replace('.', "_");
    let bin = std::fs::read_to_string(dir.path().join("out").join(format!("{stem}_{contract}.bin"))).expect("bytecode");
    Some(alloy_primitives::hex::decode(bin.trim()).expect("hex bytecode"))
}
