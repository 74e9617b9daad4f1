//! EVM transactions signed by the host; the key never enters the plugin.

use crate::bindings::monstrum::plugin::evm_signer as wit;
pub use crate::bindings::monstrum::plugin::evm_signer::Transaction;

/// The signer's address (`0x...`).
pub fn address() -> Result<String, String> {
    wit::address()
}

/// Signs `tx`; returns the raw signed transaction.
pub fn sign_transaction(tx: &Transaction) -> Result<Vec<u8>, String> {
    wit::sign_transaction(tx)
}

/// Signs `tx` and submits it through the binding's RPC endpoint; returns the transaction hash.
pub fn send_transaction(tx: &Transaction) -> Result<String, String> {
    wit::send_transaction(tx)
}
