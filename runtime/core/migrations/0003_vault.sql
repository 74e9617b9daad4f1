-- The vault: credentials encrypted with XChaCha20-Poly1305 under the workspace's master key.
-- Portable SQL (SQLite and PostgreSQL). The store never sees a plaintext: `nonce` (24 bytes) and
-- `ciphertext` (the sealed value and its 16-byte tag) are base64 TEXT, and the entry's name is
-- the associated data, so a ciphertext moved to another row does not decrypt. `key_id` names the
-- master key an entry was sealed with (a truncated SHA-256 of it, which reveals nothing of the key),
-- so a wrong key is reported as such and entries under two keys are never mixed.
CREATE TABLE vault (
    name        TEXT PRIMARY KEY,
    nonce       TEXT NOT NULL,
    ciphertext  TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
