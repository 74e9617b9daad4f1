//! The `evm-signer` capability: the host signs with the key bound to the instance (the
//! manifest's credential with `inject: { signer: true }`); the key never enters the guest.
//!
//! Before anything is signed, the call's [`SignerPolicy`] (the manifest's `signer:` block
//! against the binding's values, narrowed by the caller's skills and delegations) must accept
//! the transaction: its recipient or the contract and decoded arguments it calls, and its value.
//! Without a policy nothing is signed. The signing itself is an [`EvmSigner`] given to the host
//! ([`super::HostConfig::signer`]); a host without one answers every request with "not
//! configured".

use std::sync::Arc;

use async_trait::async_trait;

use super::state::CallEnv;

/// An EIP-1559 transaction as the guest describes it; amounts are decimal strings of wei.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvmTransaction {
    pub chain_id: u64,
    pub to: Option<String>,
    pub value: String,
    pub data: Vec<u8>,
    pub nonce: Option<u64>,
    pub gas_limit: Option<u64>,
    pub max_fee_per_gas: Option<String>,
    pub max_priority_fee_per_gas: Option<String>,
}

/// Decides whether the host may sign a transaction the guest describes.
pub type SignerPolicy = Arc<dyn Fn(&EvmTransaction) -> Result<(), String> + Send + Sync>;

/// Signs (and sends) transactions with a private key the host holds.
#[async_trait]
pub trait EvmSigner: Send + Sync {
    /// The address of `key`.
    async fn address(&self, key: &str) -> Result<String, String>;
    /// The raw signed transaction.
    async fn sign(&self, key: &str, tx: EvmTransaction) -> Result<Vec<u8>, String>;
    /// Signs and submits; returns the transaction hash.
    async fn send(&self, key: &str, tx: EvmTransaction) -> Result<String, String>;
}

/// The signer and the key of this call, or why there are none.
fn signer(state: &CallEnv) -> Result<(&dyn EvmSigner, &str), String> {
    let Some(signer) = state.signer.as_deref() else {
        return Err("EVM signing is not configured in this host".into());
    };
    let field = state.manifest.credentials.iter().find(|(_, c)| c.inject.signer).map(|(name, _)| name);
    let Some(field) = field else {
        return Err(format!("plugin {} declares no signer credential", state.manifest.name));
    };
    let key =
        state.secrets.get(field).ok_or_else(|| format!("no signer key is bound to instance {}", state.instance))?;
    Ok((signer, key))
}

pub(crate) async fn address(state: &CallEnv) -> Result<String, String> {
    let (signer, key) = signer(state)?;
    signer.address(key).await
}

/// The call's policy must accept `tx`; without a policy nothing is signed.
fn allowed(state: &CallEnv, tx: &EvmTransaction) -> Result<(), String> {
    let policy = state.signer_policy.as_ref().ok_or_else(|| {
        format!("the host signs nothing for plugin {}: its manifest has no `signer:` block", state.manifest.name)
    })?;
    policy(tx).map_err(|why| format!("the host refuses to sign: {why}"))
}

pub(crate) async fn sign(state: &CallEnv, tx: EvmTransaction) -> Result<Vec<u8>, String> {
    let (signer, key) = signer(state)?;
    allowed(state, &tx)?;
    signer.sign(key, tx).await
}

pub(crate) async fn send(state: &CallEnv, tx: EvmTransaction) -> Result<String, String> {
    let (signer, key) = signer(state)?;
    allowed(state, &tx)?;
    signer.send(key, tx).await
}
