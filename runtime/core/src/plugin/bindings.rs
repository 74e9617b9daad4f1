//! The host side of the WIT package `monstrum:plugin` (`plugins/sdk/wit/since_v0.1.0`, the
//! interface version plugins are built against): generated bindings and the glue from each imported interface to the
//! module that implements it.

use super::state::CallState;

wasmtime::component::bindgen!({
    path: "../../plugins/sdk/wit/since_v0.1.0",
    world: "integration",
    imports: { default: async | trappable },
    exports: { default: async },
});

use self::monstrum::plugin::{evm_signer, http, kv, log, ssh, types};

impl types::Host for CallState {}

impl http::Host for CallState {
    async fn send(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        let env = &self.env;
        Ok(self.http_log.send(&env.manifest, req, async |req| super::http::send(env, req).await).await)
    }
}

impl kv::Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, String>> {
        Ok(self.env.kv.get(&self.env.instance, &key).await)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        Ok(self.env.kv.set(&self.env.instance, &key, value).await)
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), String>> {
        Ok(self.env.kv.delete(&self.env.instance, &key).await)
    }
}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => tracing::Level::TRACE,
            log::Level::Debug => tracing::Level::DEBUG,
            log::Level::Info => tracing::Level::INFO,
            log::Level::Warn => tracing::Level::WARN,
            log::Level::Error => tracing::Level::ERROR,
        };
        super::log::guest_log(&self.env.manifest.name, &self.env.instance, level, &message);
        Ok(())
    }
}

impl ssh::Host for CallState {
    async fn exec(&mut self, host: String, argv: Vec<String>) -> wasmtime::Result<Result<ssh::ExecOutput, String>> {
        Ok(super::ssh::exec(&self.env, &host, &argv).await.map(|o| ssh::ExecOutput {
            exit_code: o.exit_code,
            stdout: o.stdout,
            stderr: o.stderr,
        }))
    }
}

impl evm_signer::Host for CallState {
    async fn address(&mut self) -> wasmtime::Result<Result<String, String>> {
        Ok(super::evm::address(&self.env).await)
    }

    async fn sign_transaction(&mut self, tx: evm_signer::Transaction) -> wasmtime::Result<Result<Vec<u8>, String>> {
        Ok(super::evm::sign(&self.env, tx.into()).await)
    }

    async fn send_transaction(&mut self, tx: evm_signer::Transaction) -> wasmtime::Result<Result<String, String>> {
        Ok(super::evm::send(&self.env, tx.into()).await)
    }
}

impl From<evm_signer::Transaction> for super::evm::EvmTransaction {
    fn from(tx: evm_signer::Transaction) -> Self {
        Self {
            chain_id: tx.chain_id,
            to: tx.to,
            value: tx.value,
            data: tx.data,
            nonce: tx.nonce,
            gas_limit: tx.gas_limit,
            max_fee_per_gas: tx.max_fee_per_gas,
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
        }
    }
}
