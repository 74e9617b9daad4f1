//! `monstrum vault set NAME` (the value on stdin, never in argv), `vault list`, `vault rm NAME`.

use crate::{EXIT_DONE, Global};
use anyhow::{Context, bail};
use monstrum_core::store::Store;
use monstrum_core::vault::{MAX_SECRET_LEN, Vault, check_name};
use monstrum_core::workspace::Workspace;
use serde_json::json;
use std::io::{IsTerminal, Read};
use std::path::Path;
use zeroize::Zeroizing;

async fn open(global: &Global) -> anyhow::Result<Vault> {
    let workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let store = Store::open(&workspace.store_url(global.db.as_deref())?).await?;
    Vault::open(&workspace.data_dir(), store)
}

/// All of stdin (at most [`MAX_SECRET_LEN`] bytes) without one trailing newline.
fn read_secret(input: impl Read) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    // Capacity for the whole value up front: no reallocation leaves a copy behind.
    let mut value = Zeroizing::new(Vec::with_capacity(MAX_SECRET_LEN + 2));
    input.take(MAX_SECRET_LEN as u64 + 2).read_to_end(&mut value).context("cannot read the value from stdin")?;
    if value.ends_with(b"\n") {
        value.pop();
        if value.ends_with(b"\r") {
            value.pop();
        }
    }
    if value.len() > MAX_SECRET_LEN {
        bail!("the value on stdin is larger than {MAX_SECRET_LEN} bytes");
    }
    if value.is_empty() {
        bail!(
            "refusing to store an empty value: pipe it on stdin, e.g. `printf %s \"$TOKEN\" | monstrum vault set NAME`"
        );
    }
    Ok(value)
}

/// Encrypts the value read from stdin under `name`.
pub async fn set(global: &Global, name: &str) -> anyhow::Result<u8> {
    check_name(name)?;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Type the value for {name}, then press Enter and Ctrl-D:");
    }
    let value = read_secret(stdin.lock())?;
    let vault = open(global).await?;
    vault.set(name, &value).await?;
    if global.json {
        println!("{}", json!({ "type": "vault_set", "name": name }));
    } else {
        println!("stored {name} ({} bytes, encrypted)", value.len());
    }
    Ok(EXIT_DONE)
}

/// Entry names with the time each was last set; never a value.
pub async fn list(global: &Global) -> anyhow::Result<u8> {
    let entries = open(global).await?.list().await?;
    for (name, updated_at) in &entries {
        if global.json {
            println!("{}", json!({ "type": "vault_entry", "name": name, "updated_at": updated_at }));
        } else {
            let at = crate::local_time::local_time(*updated_at);
            println!("{name:<40} {at}");
        }
    }
    if entries.is_empty() && !global.json {
        println!("the vault is empty");
    }
    Ok(EXIT_DONE)
}

/// Deletes an entry.
pub async fn remove(global: &Global, name: &str) -> anyhow::Result<u8> {
    open(global).await?.remove(name).await?;
    if global.json {
        println!("{}", json!({ "type": "vault_removed", "name": name }));
    } else {
        println!("removed {name}");
    }
    Ok(EXIT_DONE)
}

#[cfg(test)]
mod tests {
    use super::read_secret;

    #[test]
    fn one_trailing_newline_is_trimmed() {
        assert_eq!(&*read_secret(&b"tok\n"[..]).expect("value"), b"tok");
        assert_eq!(&*read_secret(&b"tok\r\n"[..]).expect("value"), b"tok");
        assert_eq!(&*read_secret(&b"tok\n\n"[..]).expect("value"), b"tok\n");
        assert_eq!(&*read_secret(&b" tok "[..]).expect("value"), b" tok ");
    }

    #[test]
    fn empty_and_oversized_values_are_refused() {
        assert!(read_secret(&b""[..]).is_err());
        assert!(read_secret(&b"\n"[..]).is_err());
        let big = vec![b'x'; super::MAX_SECRET_LEN + 1];
        assert!(read_secret(&big[..]).is_err());
        assert!(read_secret(&big[1..]).is_ok());
    }
}
