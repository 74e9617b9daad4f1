//! A plugin author outside the repository, with the real binary and the real toolchain:
//! `plugin new` in a temporary folder, `cargo test` of the scaffold on this machine, `plugin
//! build`, `plugin test` against a local HTTP API (allowed, denied by a scope value, the secret
//! never printed), `plugin build --install` and a workflow that uses the plugin. Then bad input:
//! each is refused with a message that says what is wrong, and nothing is written.

use crate::common::{Ws, events, finished, of_type, text};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const SECRET: &str = "s3cret-token-4711";

/// Whether cargo can build for wasm32-wasip2 here; skips (fails under MONSTRUM_REQUIRE_ALL=1)
/// if not.
fn wasm_target() -> bool {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let ok = out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "wasm32-wasip2"));
    if !ok {
        crate::common::skip("the wasm32-wasip2 target is not installed (rustup target add wasm32-wasip2)");
    }
    ok
}

/// Where the scaffold's builds go: the target directory of the guests `runtime/core/build.rs`
/// built, so the SDK and its dependencies are compiled once (the test copies the guests' lockfile
/// into the scaffold for the same versions).
fn guests_target() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_monstrum"));
    bin.parent().and_then(Path::parent).expect("the binary is in <target>/<profile>/").join("guests")
}

/// `monstrum ARGS` in `cwd` (not a workspace of the test's: the author's folder).
fn monstrum(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_monstrum"))
        .current_dir(cwd)
        .args(args)
        .env("CARGO_TARGET_DIR", guests_target())
        .env_remove("MONSTRUM_DB")
        .output()
        .expect("run monstrum")
}

/// `monstrum plugin new NAME` in `parent`; the plugin's folder, with the guests' lockfile.
fn scaffold(parent: &Path, name: &str) -> PathBuf {
    let o = monstrum(parent, &["plugin", "new", name]);
    assert!(o.status.success(), "{}", text(&o));
    let dir = parent.join(name);
    std::fs::copy(crate::common::repo().join("plugins/Cargo.lock"), dir.join("Cargo.lock")).expect("lockfile");
    dir
}

/// A JSON API that wants `Authorization: Bearer SECRET`; counts the requests it gets.
fn records_api(hits: Arc<AtomicUsize>) -> String {
    async fn record(
        State(hits): State<Arc<AtomicUsize>>,
        UrlPath((collection, id)): UrlPath<(String, String)>,
        headers: HeaderMap,
    ) -> (StatusCode, axum::Json<Value>) {
        hits.fetch_add(1, Ordering::SeqCst);
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {SECRET}")) {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "no token" })));
        }
        (StatusCode::OK, axum::Json(json!({ "collection": collection, "id": id, "title": "Dune" })))
    }
    crate::common::serve(axum::Router::new().route("/{collection}/{id}", get(record)).with_state(hits))
}

#[test]
fn an_author_scaffolds_builds_tests_installs_and_runs_a_plugin() {
    if !wasm_target() {
        return;
    }
    let author = tempfile::tempdir().expect("tempdir");
    let dir = scaffold(author.path(), "records");
    for file in ["Cargo.toml", "manifest.yaml", "src/lib.rs", "README.md", ".gitignore"] {
        assert!(dir.join(file).is_file(), "plugin new wrote no {file}");
    }
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(cargo_toml.contains("plugins/sdk"), "run from a checkout, the SDK is the checkout's: {cargo_toml}");

    // The scaffold's unit tests run on this machine, as written.
    let o = cargo()
        .current_dir(&dir)
        .args(["test", "--quiet"])
        .env("CARGO_TARGET_DIR", guests_target())
        .output()
        .expect("cargo test");
    assert!(o.status.success(), "cargo test of the scaffold: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 passed"), "{}", text(&o));

    let o = monstrum(author.path(), &["plugin", "build", "records"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.join("records.wasm").is_file() && dir.join("records-0.1.0.mst").is_file(), "{}", text(&o));
    assert!(text(&o).contains("of monstrum:plugin/integration, imports"), "{}", text(&o));

    // A workspace with the credential in its vault, and the API the plugin reads.
    let ws = Ws::new();
    ws.vault_set("records-token", SECRET);
    let hits = Arc::new(AtomicUsize::new(0));
    let api = records_api(hits.clone());
    let dir_arg = dir.to_str().unwrap();
    let config = format!("api_url={api}");
    let test = |collection: &str, extra: &[&str]| {
        let args = json!({ "collection": "books", "id": "7" }).to_string();
        let scope = format!("collections={collection}");
        let mut argv = vec!["plugin", "test", dir_arg, "get_record", "--args", &args, "--scope", &scope];
        argv.extend(["--config", &config, "--credential", "token=records-token"]);
        argv.extend(extra);
        ws.run(&argv)
    };

    let o = test("books", &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("allowed") && out.contains("binding records [collections]"), "{out}");
    assert!(out.contains("\"title\": \"Dune\""), "the API's answer is the output: {out}");
    assert!(out.contains(&format!("GET {api}/books/7 -> 200")), "the request is shown: {out}");
    assert!(out.contains("Authorization: [credential token]"), "the credential by name: {out}");
    assert!(out.contains("fuel") && out.contains("memory"), "{out}");
    assert!(!out.contains(SECRET), "the secret is never printed: {out}");

    let o = test("public-*", &["--json"]);
    assert_eq!(o.status.code(), Some(1), "denied is a failed call: {}", text(&o));
    let denied: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(denied["decision"], "denied", "{denied}");
    assert_eq!(denied["calls"], json!([]), "the host never ran a denied call: {denied}");
    assert!(denied["error"].as_str().unwrap().contains("books"), "the reason names the value: {denied}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "only the allowed call reached the API");

    let o = test("books", &["--json"]);
    let allowed: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let call = &allowed["calls"][0];
    assert_eq!(call["http"][0]["status"], 200, "{allowed}");
    assert!(call["fuel_used"].as_u64().unwrap() > 0 && call["memory_peak_bytes"].as_u64().unwrap() > 0, "{allowed}");

    // With a credential, the call reached a real service with a real secret: it is audited in
    // the workspace, the scratch bot named.
    let o = ws.run(&["audit", "list", "--json", "--bot", "plugin-test"]);
    let decisions: Vec<String> =
        events(&o).iter().filter(|r| r["kind"] == "tool_call").map(|r| r["decision"].to_string()).collect();
    assert_eq!(decisions, ["\"allowed\"", "\"denied\"", "\"allowed\""], "{}", text(&o));
    crate::common::assert_not_in_files(ws.path(), SECRET.as_bytes());

    // Installed into the workspace and used by a bot in a workflow.
    let o = monstrum(author.path(), &["plugin", "build", "records", "--install", ws.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(ws.path().join("plugins/records.mst").is_file(), "{}", text(&o));
    ws.write(
        "bots/librarian.yaml",
        &format!(
            "name: librarian\nresources:\n  - plugin: records\n    credential: records-token\n    tools: [get_record]\n    \
             scope: {{ collections: [books] }}\n    config: {{ api_url: \"{api}\" }}\n"
        ),
    );
    ws.write(
        "workflows/lookup.yaml",
        "name: lookup\nbot: librarian\nsteps:\n  - id: read\n    tool: records.get_record\n    with: { collection: books, id: \"9\" }\n  \
         - id: refused\n    tool: records.get_record\n    with: { collection: films, id: \"1\" }\n    on_error: continue\n",
    );
    let o = ws.run(&["run", "--json", "workflows/lookup.yaml"]);
    let evs = events(&o);
    let read = of_type(&evs, "step_finished").into_iter().find(|e| e["step"] == "read").cloned();
    assert_eq!(read.map(|r| r["output"]["title"].clone()), Some(json!("Dune")), "{}", text(&o));
    let refused = of_type(&evs, "tool_call").into_iter().find(|e| e["step"] == "refused").cloned().unwrap();
    assert_eq!(refused["decision"], "denied", "{}", text(&o));
    assert_eq!(finished(&evs)["status"], "succeeded", "{}", text(&o));
    assert_eq!(hits.load(Ordering::SeqCst), 3, "the workflow's denied call never reached the API");
}

/// `cargo` as the tests' own build ran it.
fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

#[test]
fn the_sdk_packages_for_crates_io_with_its_wit() {
    let plugins = crate::common::repo().join("plugins");
    let package = |extra: &[&str]| {
        cargo()
            .current_dir(&plugins)
            .args(["package", "-p", "monstrum-plugin-sdk", "--allow-dirty"])
            .args(extra)
            .env("CARGO_TARGET_DIR", guests_target())
            .output()
            .expect("cargo package")
    };
    let o = package(&["--list"]);
    assert!(o.status.success(), "{}", text(&o));
    let files = String::from_utf8_lossy(&o.stdout).into_owned();
    for file in ["wit/since_v0.1.0/plugin.wit", "README.md", "src/lib.rs"] {
        assert!(files.lines().any(|l| l == file), "the package lacks {file}: {files}");
    }
    // The packaged crate builds on its own, from what the package holds.
    let o = package(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Verifying monstrum-plugin-sdk"), "{}", text(&o));
}

#[test]
fn bad_plugins_are_refused_and_nothing_is_written() {
    if !wasm_target() {
        return;
    }
    let author = tempfile::tempdir().expect("tempdir");

    // Names: a built-in's, and one that is not a name.
    for (name, says) in [("github", "built-in plugin"), ("Bad_Name", "not a plugin name")] {
        let o = monstrum(author.path(), &["plugin", "new", name]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains(says), "{}", text(&o));
        assert!(!author.path().join(name).exists(), "nothing written for {name}");
    }

    // A manifest that does not validate: refused before compiling, with its line.
    let dir = scaffold(author.path(), "broken");
    let manifest = std::fs::read_to_string(dir.join("manifest.yaml")).unwrap();
    std::fs::write(dir.join("manifest.yaml"), manifest.replace("dimension: collections", "dimension: shelves"))
        .unwrap();
    let o = monstrum(author.path(), &["plugin", "build", "broken"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("invalid manifest") && text(&o).contains("E014"), "{}", text(&o));
    assert!(text(&o).contains("manifest.yaml:"), "the file and line are named: {}", text(&o));
    assert!(!dir.join("broken.wasm").exists() && !dir.join("broken-0.1.0.mst").exists());

    // A name that clashes with a built-in: never installed over it.
    let ws = Ws::new();
    std::fs::write(dir.join("manifest.yaml"), manifest.replace("name: broken", "name: github")).unwrap();
    let o = monstrum(author.path(), &["plugin", "build", "broken", "--install", ws.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("built-in plugin's name"), "{}", text(&o));
    assert!(!ws.path().join("plugins").exists(), "nothing installed");

    // A machine without the target: the one command to run (cargo answered as rustc does then).
    let fake = author.path().join("cargo-without-target");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho \"error[E0463]: can't find crate for \\`core\\`\" >&2\n\
         echo \"  = note: the \\`wasm32-wasip2\\` target may not be installed\" >&2\nexit 101\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("manifest.yaml"), &manifest).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_monstrum"))
        .current_dir(author.path())
        .args(["plugin", "build", "broken"])
        .env("CARGO", &fake)
        .output()
        .expect("run monstrum");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("run `rustup target add wasm32-wasip2`"), "{}", text(&o));
    assert!(!dir.join("broken.wasm").exists() && !dir.join("broken-0.1.0.mst").exists());

    // A crate that builds but is not of the world monstrum:plugin/integration.
    let other = author.path().join("other");
    std::fs::create_dir_all(other.join("src")).unwrap();
    std::fs::write(
        other.join("Cargo.toml"),
        "[package]\nname = \"other\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        other.join("src/lib.rs"),
        "#[unsafe(no_mangle)]\npub extern \"C\" fn answer() -> i32 {\n    42\n}\n",
    )
    .unwrap();
    let other_manifest = manifest.replace("name: broken", "name: other").replace("broken.wasm", "other.wasm");
    std::fs::write(other.join("manifest.yaml"), other_manifest).unwrap();
    let o = monstrum(author.path(), &["plugin", "build", "other"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not of the world monstrum:plugin/integration"), "{}", text(&o));
    assert!(!other.join("other.wasm").exists() && !other.join("other-0.1.0.mst").exists(), "nothing written");

    // `plugin test` of a plugin not built yet says how to build it.
    let o = monstrum(author.path(), &["plugin", "test", "other", "get_record"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("monstrum plugin build"), "{}", text(&o));
}

#[test]
fn a_new_skill_loads_and_is_never_written_over() {
    let ws = Ws::new();
    let o = ws.run(&["skill", "new", "log-triage"]);
    assert!(o.status.success(), "{}", text(&o));
    let file = ws.path().join("skills/log-triage/SKILL.md");
    let written = std::fs::read_to_string(&file).expect("skills/log-triage/SKILL.md");
    assert!(written.starts_with("---\nname: log-triage\ndescription: "), "{written}");

    // A bot that enables it validates: the workspace loads the skill as written.
    ws.write("bots/ops.yaml", "name: ops\nskills: [log-triage]\n");
    let o = ws.run(&["validate", "bots/ops.yaml"]);
    assert!(o.status.success(), "{}", text(&o));
    ws.write("bots/bad.yaml", "name: bad\nskills: [missing-skill]\n");
    let o = ws.run(&["validate", "bots/bad.yaml"]);
    assert!(!o.status.success(), "validate does look the skills up: {}", text(&o));

    std::fs::write(&file, "edited by hand").unwrap();
    for (name, says) in [("log-triage", "exists"), ("Log_Triage", "not a skill name"), ("a--b", "not a skill name")] {
        let o = ws.run(&["skill", "new", name]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains(says), "{}", text(&o));
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "edited by hand", "never written over");
}
