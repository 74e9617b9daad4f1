-- Transactions the host signer submitted, by the call that asked for them (its idempotency key
-- and the number of the send within the call). Written before a transaction is submitted, so
-- that a call sent again after a crash finds the transaction it already submitted and asks the
-- node about it instead of signing another. Portable SQL (SQLite and PostgreSQL).
CREATE TABLE evm_sent (
    slot     TEXT PRIMARY KEY,
    hash     TEXT NOT NULL,
    sent_at  BIGINT NOT NULL
);
