//! Workflow versions: every save stores the text as a numbered version, and the file in
//! `workflows/` is the head. A save that does not validate writes nothing; a save against a
//! version that is no longer the head is refused; a file edited by hand since the last save is
//! kept as a version of its own before it is overwritten, so no text is ever lost. The command
//! line (`monstrum workflow`) and the server share this.

use crate::store::{Store, StoreError, VersionRecord};
use crate::workspace::Workspace;
use monstrum_model::Diagnostic;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Why a save was refused.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("the workflow does not validate ({} problem(s)); nothing was written", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error("version {expected} is no longer the head (version {head} is): reload and save again")]
    Conflict { expected: i64, head: i64 },
    #[error("`{0}` is not a workflow name (letters, digits, - and _)")]
    BadName(String),
    #[error("no version {version} of workflow {workflow}")]
    NoVersion { workflow: String, version: i64 },
    #[error("cannot write {0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a save stored.
#[derive(Clone, Debug, Serialize)]
pub struct Saved {
    pub workflow: String,
    pub version: i64,
    pub hash: String,
    /// False when the text was already the head (nothing new was stored).
    pub created: bool,
}

/// SHA-256 of a workflow's text, hex.
pub fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A name that can only be a file directly in `workflows/`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The file of workflow `name` in `workspace` (`.yaml`, or an existing `.yml`).
pub fn file_of(workspace: &Workspace, name: &str) -> PathBuf {
    let dir = workspace.root.join("workflows");
    let yml = dir.join(format!("{name}.yml"));
    if yml.is_file() { yml } else { dir.join(format!("{name}.yaml")) }
}

/// The workflow name a file is versioned under: its name without `.yaml`.
pub fn name_of(file: &Path) -> Option<&str> {
    file.file_stem().and_then(|s| s.to_str()).filter(|n| valid_name(n))
}

/// The saved version whose text `source` is (what a run records). A workflow never saved has
/// none, found without hashing its text (a run of 1,000 steps would pay ~4,000 instructions a
/// step for it: benches/instructions.sh).
pub async fn version_of(store: &Store, file: &Path, source: &str) -> Result<Option<i64>, StoreError> {
    let Some(name) = name_of(file) else { return Ok(None) };
    if store.head_version(name).await?.is_none() {
        return Ok(None);
    }
    store.version_of_text(name, &hash(source)).await
}

/// Saves `text` as the next version of workflow `name` and writes it to its file. With
/// `if_match`, refused unless that version is the head.
pub async fn save(
    store: &Store,
    workspace: &Workspace,
    name: &str,
    text: &str,
    author: &str,
    message: &str,
    if_match: Option<i64>,
) -> Result<Saved, SaveError> {
    if !valid_name(name) {
        return Err(SaveError::BadName(name.into()));
    }
    let file = file_of(workspace, name);
    let (_, problems) = crate::check::workflow(text, &file, workspace);
    if !problems.is_empty() {
        return Err(SaveError::Invalid(problems));
    }
    let new_hash = hash(text);
    let mut head = store.head_version(name).await?;
    // A file changed by hand since the last save becomes a version before it is replaced.
    if let Ok(on_disk) = std::fs::read_to_string(&file) {
        let disk_hash = hash(&on_disk);
        if disk_hash != new_hash && head.as_ref().is_none_or(|h| h.hash != disk_hash) {
            let found = VersionRecord {
                workflow: name.into(),
                version: head.as_ref().map_or(1, |h| h.version + 1),
                hash: disk_hash,
                text: None,
                author: "(file on disk)".into(),
                message: "the file as found before a save".into(),
                created_at: 0,
            };
            store.insert_version(&found, &on_disk).await?;
            head = Some(found);
        }
    }
    let head_version = head.as_ref().map_or(0, |h| h.version);
    if let Some(expected) = if_match
        && expected != head_version
    {
        return Err(SaveError::Conflict { expected, head: head_version });
    }
    if let Some(h) = head.as_ref().filter(|h| h.hash == new_hash) {
        write(&file, text)?;
        return Ok(Saved { workflow: name.into(), version: h.version, hash: new_hash, created: false });
    }
    let record = VersionRecord {
        workflow: name.into(),
        version: head_version + 1,
        hash: new_hash.clone(),
        text: None,
        author: author.into(),
        message: message.into(),
        created_at: 0,
    };
    if !store.insert_version(&record, text).await? {
        let head = store.head_version(name).await?.map_or(0, |h| h.version);
        return Err(SaveError::Conflict { expected: head_version, head });
    }
    write(&file, text)?;
    Ok(Saved { workflow: name.into(), version: record.version, hash: new_hash, created: true })
}

/// Writes version `version`'s text as a new version.
pub async fn rollback(
    store: &Store,
    workspace: &Workspace,
    name: &str,
    version: i64,
    author: &str,
) -> Result<Saved, SaveError> {
    let old =
        store.version(name, version).await?.ok_or_else(|| SaveError::NoVersion { workflow: name.into(), version })?;
    let text = old.text.unwrap_or_default();
    save(store, workspace, name, &text, author, &format!("rollback to version {version}"), None).await
}

/// The editor's node positions of workflow `name`: a file beside the workflow
/// (`workflows/NAME.layout.json`), so the workflow's own file stays the user's.
pub fn layout_file(workspace: &Workspace, name: &str) -> PathBuf {
    workspace.root.join("workflows").join(format!("{name}.layout.json"))
}

/// Writes the editor's node positions of workflow `name` (see [`layout_file`]), at once.
pub fn write_layout(workspace: &Workspace, name: &str, json: &str) -> Result<(), SaveError> {
    write(&layout_file(workspace, name), json)
}

/// Replaces `file` with `text` at once (a reader sees the old text or the new, never half).
fn write(file: &Path, text: &str) -> Result<(), SaveError> {
    let io = |e: std::io::Error| SaveError::Io(format!("{}: {e}", file.display()));
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = file.with_extension(format!("saving-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, file).map_err(io)
}

/// Two versions compared: a unified text diff, and the steps added, removed and changed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Diff {
    pub text: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// Compares two texts of a workflow (`a` the older).
pub fn diff(a: &str, b: &str, label_a: &str, label_b: &str) -> Diff {
    let text = similar::TextDiff::from_lines(a, b).unified_diff().header(label_a, label_b).to_string();
    let steps = |t: &str| -> Vec<(String, serde_json::Value)> {
        monstrum_model::load_workflow(t)
            .value
            .map(|w| w.steps.iter().map(|s| (s.id.clone(), serde_json::to_value(s).unwrap_or_default())).collect())
            .unwrap_or_default()
    };
    let (old, new) = (steps(a), steps(b));
    let find =
        |list: &[(String, serde_json::Value)], id: &str| list.iter().find(|(i, _)| i == id).map(|(_, v)| v.clone());
    let added = new.iter().filter(|(id, _)| find(&old, id).is_none()).map(|(id, _)| id.clone()).collect();
    let removed = old.iter().filter(|(id, _)| find(&new, id).is_none()).map(|(id, _)| id.clone()).collect();
    let changed =
        new.iter().filter(|(id, v)| find(&old, id).is_some_and(|o| &o != v)).map(|(id, _)| id.clone()).collect();
    Diff { text, added, removed, changed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_names_the_steps_added_removed_and_changed() {
        let a = "name: w\nsteps:\n  - { id: a, tool: core.echo, with: { x: 1 } }\n  - { id: b, tool: core.echo }\n";
        let b = "name: w\nsteps:\n  - { id: a, tool: core.echo, with: { x: 2 } }\n  - { id: c, tool: core.echo }\n";
        let d = diff(a, b, "v1", "v2");
        assert_eq!(
            (d.added, d.removed, d.changed),
            (vec!["c".to_string()], vec!["b".to_string()], vec!["a".to_string()])
        );
        assert!(d.text.contains("--- v1") && d.text.contains("+  - { id: c, tool: core.echo }"), "{}", d.text);
        assert_eq!(diff(a, a, "x", "y").changed, Vec::<String>::new());
    }
}
