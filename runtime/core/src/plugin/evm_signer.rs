//! The host's [`EvmSigner`]: a secp256k1 key held in the host (alloy's `PrivateKeySigner`) that
//! signs EIP-1559 transactions and submits them to the binding's JSON-RPC endpoint.
//!
//! - The key is the vault's secret: 32 bytes as hex (`0x` optional). It is decoded into a
//!   zeroized buffer, the signer built from it wipes its scalar when dropped, and no error or log
//!   line ever quotes it.
//! - A nonce, gas limit or fee the guest leaves out is filled from the node: the pending nonce,
//!   `eth_estimateGas` plus a fifth, and twice the base fee plus the suggested tip.
//! - RLP, signing and the EIP-2718 envelope are alloy's (`alloy-consensus`, `alloy-signer`).
//! - Sends from one account through one endpoint are serialized in this process (from reading
//!   the pending nonce to submitting), so parallel steps do not sign two transactions with one
//!   nonce. Separate processes sending from one account are not coordinated.
//!
//! [`EvmSigner`] has no place for per-binding settings, so [`HostExecutor`] runs each plugin call
//! inside [`with_endpoint`], which makes the binding's `rpc_url` visible to this signer for that
//! call only (as `ssh_client::with_target` does for SSH).
//!
//! [`HostExecutor`]: super::HostExecutor

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use async_trait::async_trait;
use zeroize::Zeroizing;

use super::evm::{EvmSigner, EvmTransaction};
use super::evm_rpc::Rpc;
use crate::store::Store;

tokio::task_local! {
    static ENDPOINT: Option<String>;
    static SENT: Option<Arc<SentJournal>>;
}

/// Runs `fut` with `rpc_url` as the JSON-RPC endpoint of the transactions it signs.
pub async fn with_endpoint<F: std::future::Future>(rpc_url: Option<String>, fut: F) -> F::Output {
    ENDPOINT.scope(rpc_url, fut).await
}

/// Where the transactions a call submits are recorded, by the call's idempotency key and the
/// number of the send within the call: a call sent again after a crash finds the transaction it
/// already submitted and, if the node knows it, answers with it instead of signing another.
pub struct SentJournal {
    store: Store,
    key: String,
    sends: std::sync::atomic::AtomicU32,
}

impl SentJournal {
    pub fn new(store: Store, key: String) -> Self {
        SentJournal { store, key, sends: Default::default() }
    }

    fn next_slot(&self) -> String {
        format!("{}#{}", self.key, self.sends.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// Runs `fut` recording its submitted transactions in `journal`.
pub async fn with_sent_journal<F: std::future::Future>(journal: Option<SentJournal>, fut: F) -> F::Output {
    SENT.scope(journal.map(Arc::new), fut).await
}

/// One lock per (endpoint, sender): held from choosing the nonce to submitting.
type SendLocks = Mutex<HashMap<(String, Address), Arc<tokio::sync::Mutex<()>>>>;

/// Signs with the key it is given and sends through the call's endpoint.
#[derive(Clone, Debug, Default)]
pub struct LocalKeySigner {
    client: reqwest::Client,
    sending: Arc<SendLocks>,
}

impl LocalKeySigner {
    /// A signer with its own HTTP client (redirects are not followed).
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { client, sending: Arc::default() }
    }

    /// The lock of sends from `from` through `url`.
    fn sending(&self, url: &str, from: Address) -> Result<Arc<tokio::sync::Mutex<()>>, String> {
        let mut locks = self.sending.lock().map_err(|_| "evm: the signer's locks are poisoned")?;
        Ok(locks.entry((url.to_string(), from)).or_default().clone())
    }

    /// Fills in what the guest left out and signs.
    async fn complete_and_sign(&self, key: &str, tx: EvmTransaction) -> Result<Vec<u8>, String> {
        let signer = parse_key(key)?;
        let to = tx.to.as_deref().map(parse_address).transpose()?;
        let value = U256::from_str_radix(&tx.value, 10)
            .map_err(|_| format!("evm: the value `{}` is not a decimal amount of wei", tx.value))?;
        let fee = |v: &Option<String>, what: &str| {
            v.as_deref()
                .map(|s| s.parse::<u128>().map_err(|_| format!("evm: the {what} `{s}` is not a decimal amount of wei")))
                .transpose()
        };
        let (max_fee, tip) = (fee(&tx.max_fee_per_gas, "max fee")?, fee(&tx.max_priority_fee_per_gas, "tip")?);
        let data = Bytes::from(tx.data);
        let (nonce, gas_limit, max_fee, tip) = match (tx.nonce, tx.gas_limit, max_fee, tip) {
            (Some(nonce), Some(gas), Some(max_fee), Some(tip)) => (nonce, gas, max_fee, tip),
            (nonce, gas, max_fee, tip) => {
                let endpoint = ENDPOINT.try_with(Clone::clone).ok().flatten();
                let url = endpoint.as_deref().ok_or("evm: the binding's config sets no `rpc_url`")?;
                let rpc = Rpc::new(&self.client, url);
                let from = signer.address();
                let nonce = match nonce {
                    Some(n) => n,
                    None => rpc.nonce(from).await?,
                };
                let gas = match gas {
                    Some(g) => g,
                    None => {
                        let estimate = rpc.estimate_gas(from, to, value, &data).await?;
                        estimate.saturating_add(estimate / 5)
                    }
                };
                let (max_fee, tip) = match (max_fee, tip) {
                    (Some(m), Some(t)) => (m, t),
                    (m, t) => {
                        let (node_max, node_tip) = rpc.fees().await?;
                        let tip = t.unwrap_or(node_tip);
                        (m.unwrap_or(node_max.max(tip)), tip)
                    }
                };
                (nonce, gas, max_fee, tip)
            }
        };
        let unsigned = TxEip1559 {
            chain_id: tx.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: to.map_or(TxKind::Create, TxKind::Call),
            value,
            access_list: Default::default(),
            input: data,
        };
        let signature =
            signer.sign_hash_sync(&unsigned.signature_hash()).map_err(|e| format!("evm: signing failed: {e}"))?;
        let envelope = TxEnvelope::Eip1559(unsigned.into_signed(signature));
        Ok(envelope.encoded_2718())
    }
}

/// The signer of a hex private key. The error never quotes the key.
fn parse_key(key: &str) -> Result<PrivateKeySigner, String> {
    let text = key.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, bytes.as_mut_slice())
        .map_err(|_| "evm: the bound signer key is not a 32-byte hex private key".to_string())?;
    PrivateKeySigner::from_slice(bytes.as_slice())
        .map_err(|_| "evm: the bound signer key is not a valid secp256k1 private key".to_string())
}

fn parse_address(text: &str) -> Result<Address, String> {
    Address::from_str(text).map_err(|_| format!("evm: `{text}` is not an address"))
}

#[async_trait]
impl EvmSigner for LocalKeySigner {
    async fn address(&self, key: &str) -> Result<String, String> {
        Ok(parse_key(key)?.address().to_checksum(None))
    }

    async fn sign(&self, key: &str, tx: EvmTransaction) -> Result<Vec<u8>, String> {
        self.complete_and_sign(key, tx).await
    }

    async fn send(&self, key: &str, tx: EvmTransaction) -> Result<String, String> {
        let endpoint = ENDPOINT.try_with(Clone::clone).ok().flatten();
        let url = endpoint.as_deref().ok_or("evm: the binding's config sets no `rpc_url`")?;
        let lock = self.sending(url, parse_key(key)?.address())?;
        let _sending = lock.lock().await;
        let rpc = Rpc::new(&self.client, url);
        let journal = SENT.try_with(Clone::clone).ok().flatten();
        let slot = journal.as_ref().map(|j| j.next_slot());
        if let (Some(j), Some(slot)) = (&journal, &slot)
            && let Some(hash) = j.store.evm_sent(slot).await.map_err(|e| format!("evm: {e}"))?
            && rpc.knows(&hash).await?
        {
            // Submitted by an earlier try of this call (the process stopped before its result was
            // recorded): the node has it, so it is not signed again.
            return Ok(hash);
        }
        let raw = self.complete_and_sign(key, tx).await?;
        if let (Some(j), Some(slot)) = (&journal, &slot) {
            let hash = format!("0x{}", hex::encode(alloy_primitives::keccak256(&raw)));
            j.store.record_evm_sent(slot, &hash).await.map_err(|e| format!("evm: {e}"))?;
        }
        rpc.send_raw(&raw).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::transaction::SignerRecoverable;
    use alloy_eips::eip2718::Decodable2718;

    /// Ganache's and Hardhat's well-known first development key: public, holds nothing real.
    const KEY: &str = "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d";
    const ADDRESS: &str = "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1";

    fn tx() -> EvmTransaction {
        EvmTransaction {
            chain_id: 1337,
            to: Some("0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0".into()),
            value: "1000".into(),
            data: vec![],
            nonce: Some(7),
            gas_limit: Some(21_000),
            max_fee_per_gas: Some("2000000000".into()),
            max_priority_fee_per_gas: Some("1000000000".into()),
        }
    }

    #[tokio::test]
    async fn address_of_a_known_key() {
        let signer = LocalKeySigner::new();
        assert_eq!(signer.address(KEY).await.unwrap().to_lowercase(), ADDRESS.to_lowercase());
        assert_eq!(signer.address(&KEY[2..]).await.unwrap().to_lowercase(), ADDRESS.to_lowercase());
    }

    #[tokio::test]
    async fn signs_a_complete_transaction_without_a_node() {
        let raw = LocalKeySigner::new().sign(KEY, tx()).await.unwrap();
        let decoded = TxEnvelope::decode_2718(&mut raw.as_slice()).unwrap();
        let TxEnvelope::Eip1559(signed) = &decoded else { panic!("not EIP-1559: {decoded:?}") };
        assert_eq!(signed.tx().nonce, 7);
        assert_eq!(signed.tx().value, U256::from(1000));
        assert_eq!(signed.tx().chain_id, 1337);
        let from = decoded.recover_signer().unwrap();
        assert_eq!(from.to_string().to_lowercase(), ADDRESS.to_lowercase());
    }

    #[tokio::test]
    async fn an_incomplete_transaction_needs_an_endpoint() {
        let err = LocalKeySigner::new().sign(KEY, EvmTransaction { nonce: None, ..tx() }).await.unwrap_err();
        assert!(err.contains("rpc_url"), "{err}");
    }

    #[tokio::test]
    async fn bad_keys_are_refused_without_quoting_them() {
        let signer = LocalKeySigner::new();
        for key in ["nothex-secret-value", "0x1234", &format!("{KEY}00")] {
            let err = signer.address(key).await.unwrap_err();
            assert!(!err.contains(key.trim_start_matches("0x")), "{err}");
        }
        let zero = format!("0x{}", "0".repeat(64));
        assert!(signer.address(&zero).await.is_err());
    }

    #[tokio::test]
    async fn bad_amounts_are_refused() {
        let signer = LocalKeySigner::new();
        assert!(signer.sign(KEY, EvmTransaction { value: "-1".into(), ..tx() }).await.is_err());
        assert!(signer.sign(KEY, EvmTransaction { value: "1e18".into(), ..tx() }).await.is_err());
        assert!(signer.sign(KEY, EvmTransaction { to: Some("0x12".into()), ..tx() }).await.is_err());
    }
}
