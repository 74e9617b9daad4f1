//! Plugin packages with the real binary: `plugin pack` a real guest component, `plugin install`
//! it into a workspace, `plugin list` / `inspect` it, and run a workflow whose bot is bound to
//! the installed plugin (scripted model, real WebAssembly host). Then hostile and broken
//! packages: each is refused with a message naming what is wrong, and nothing is installed.

use crate::common::{Ws, events, finished, of_type, text};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The guests `runtime/core/build.rs` built next to the binary: `<target>/guests/...`.
pub(crate) fn guest(lib: &str) -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_monstrum"));
    let target = bin.parent().and_then(Path::parent).expect("the binary is in <target>/<profile>/");
    let wasm = target.join("guests/wasm32-wasip2/release").join(format!("{lib}.wasm"));
    assert!(wasm.is_file(), "{} was not built by runtime/core/build.rs", wasm.display());
    wasm
}

/// A plugin folder as an author has it: the test guest `sandbox-test` with its built component.
pub(crate) fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let manifest = crate::common::repo().join("plugins/testing/sandbox-test/manifest.yaml");
    std::fs::copy(manifest, dir.path().join("manifest.yaml")).unwrap();
    std::fs::copy(guest("sandbox_test"), dir.path().join("sandbox-test.wasm")).unwrap();
    std::fs::write(dir.path().join("README.md"), "# sandbox-test\n\nMisbehaves on purpose.\n").unwrap();
    dir
}

/// Packs `dir` with the binary into `out`.
pub(crate) fn pack(ws: &Ws, dir: &Path, out: &Path) {
    let o = ws.run(&["plugin", "pack", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}

/// The files in the workspace's `plugins/` (none if it does not exist).
fn installed(ws: &Ws) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(ws.path().join("plugins")) else { return Vec::new() };
    let mut names: Vec<String> = entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// The entries of a package, as the test reads them with the same kept libraries.
pub(crate) fn unpack(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (name, data)
        })
        .collect()
}

/// A gzip-compressed tar of `entries`, names written raw into the header (so `../x` is possible,
/// as a hostile packer would write it).
pub(crate) fn archive(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append(&header, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// `SHA256SUMS` for `entries` (what a packer that updates the checksums would write).
pub(crate) fn sums(entries: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    use sha2::Digest;
    let text: String = entries
        .iter()
        .filter(|(n, _)| n != "SHA256SUMS" && n != "SIGNATURE")
        .map(|(n, d)| format!("{}  {n}\n", hex::encode(sha2::Sha256::digest(d))))
        .collect();
    ("SHA256SUMS".into(), text.into_bytes())
}

pub(crate) fn with_sums(mut entries: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    entries.retain(|(n, _)| n != "SHA256SUMS");
    let s = sums(&entries);
    entries.push(s);
    entries
}

pub(crate) fn replace(entries: &[(String, Vec<u8>)], name: &str, data: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    entries.iter().map(|(n, d)| (n.clone(), if n == name { data.clone() } else { d.clone() })).collect()
}

#[test]
fn pack_install_list_inspect_and_run_an_installed_plugin() {
    let ws = Ws::new();
    let dir = plugin_dir();
    let file = ws.path().join("sandbox-test-0.1.0.mst");
    let o = ws.run(&["--json", "plugin", "pack", dir.path().to_str().unwrap(), "-o", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let packed = &events(&o)[0];
    assert_eq!(packed["type"], "plugin_packed");
    assert_eq!(packed["name"], "sandbox-test");

    // The archive holds exactly the four entries, and the checksums are sha256sum's.
    let entries = unpack(&std::fs::read(&file).unwrap());
    let mut names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(names, ["README.md", "SHA256SUMS", "manifest.yaml", "sandbox-test.wasm"]);
    let listed = String::from_utf8(entries.iter().find(|(n, _)| n == "SHA256SUMS").unwrap().1.clone()).unwrap();
    assert_eq!(listed, String::from_utf8(sums(&entries).1).unwrap());

    let o = ws.run(&["plugin", "install", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(installed(&ws), ["sandbox-test.mst"]);
    assert_eq!(std::fs::read(ws.path().join("plugins/sandbox-test.mst")).unwrap(), std::fs::read(&file).unwrap());

    // Installing it again needs --force.
    let o = ws.run(&["plugin", "install", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("already installed") && text(&o).contains("--force"), "{}", text(&o));
    let o = ws.run(&["plugin", "install", "--force", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(installed(&ws), ["sandbox-test.mst"], "no temporary file is left behind");

    let o = ws.run(&["--json", "plugin", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    let list = events(&o);
    let entry = |name: &str| list.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name} in {list:?}"));
    assert_eq!(entry("sandbox-test")["source"], "installed");
    assert_eq!(entry("sandbox-test")["tools"], 13);
    assert_eq!(entry("github")["source"], "builtin");
    let o = ws.run(&["plugin", "list"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("sandbox-test") && l.contains("installed"))
    );

    let o = ws.run(&["plugin", "inspect", "sandbox-test"]);
    assert!(o.status.success(), "{}", text(&o));
    let shown = String::from_utf8_lossy(&o.stdout);
    for expected in [
        "sandbox-test 0.1.0 (installed ",
        "token            injected as HTTP header `Authorization: Bearer <secret>`",
        "key              injected as query parameter `api_key=<secret>`",
        "region           string   default \"us\"",
        "http://127.0.0.1",
        "kv_set  Writes a key",
        "parameters: key (string, required), value (string, required)",
    ] {
        assert!(shown.contains(expected), "`{expected}` in:\n{shown}");
    }
    let o = ws.run(&["--json", "plugin", "inspect", "github"]);
    let github = &events(&o)[0];
    assert_eq!(github["source"], "builtin");
    assert_eq!(github["default_origins"][0], "https://api.github.com");
    assert_eq!(github["credential_injection"]["token"], "HTTP header `Authorization: Bearer <secret>`");
    assert_eq!(github["dimensions"]["repos"]["description"].as_str().map(|d| d.contains("owner/name")), Some(true));
    let tool = github["tools"].as_array().unwrap().iter().find(|t| t["name"] == "create_comment").unwrap();
    assert_eq!(tool["scope"][0], serde_json::json!({ "dimension": "repos", "param": "/repo", "match": "glob" }));
    let o = ws.run(&["plugin", "inspect", "nothing-here"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("unknown plugin `nothing-here`"), "{}", text(&o));

    // A workflow whose bot is bound to the installed plugin, end to end on the real host.
    ws.write(
        "bots/keeper.yaml",
        r#"name: keeper
model: { provider: scripted, script: scripts/keeper.yaml }
resources:
  - plugin: sandbox-test
    instance: box
    tools: [kv_set, kv_get]
"#,
    );
    ws.write(
        "scripts/keeper.yaml",
        r#"
- tool_calls:
    - { name: box.kv_set, arguments: { key: note, value: remembered } }
- tool_calls:
    - { name: box.kv_get, arguments: { key: note } }
    - { name: box.spin, arguments: {} }
- text: done
"#,
    );
    ws.write(
        "workflows/keep.yaml",
        r#"name: keep
bot: keeper
steps:
  - id: think
    llm: { prompt: "Remember something." }
  - id: read
    needs: [think]
    tool: box.kv_get
    with: { key: note }
"#,
    );
    let o = ws.run(&["run", "--json", "workflows/keep.yaml"]);
    let evs = events(&o);
    assert_eq!(finished(&evs)["status"], "succeeded", "{}", text(&o));
    let offered = of_type(&evs, "llm_request")[0]["tools"].to_string();
    assert!(offered.contains("box.kv_set") && offered.contains("box.kv_get"), "{offered}");
    assert!(!offered.contains("box.spin"), "an unbound tool of the package is not shown: {offered}");
    let calls: Vec<(String, String)> = of_type(&evs, "tool_call")
        .iter()
        .map(|e| (e["tool"].as_str().unwrap().to_string(), e["decision"].as_str().unwrap().to_string()))
        .collect();
    let expect = |t: &str, d: &str| (t.to_string(), d.to_string());
    assert!(calls.contains(&expect("box.kv_set", "allowed")), "{calls:?}");
    assert!(calls.contains(&expect("box.spin", "denied")), "{calls:?}");
    let read = of_type(&evs, "step_finished").into_iter().find(|e| e["step"] == "read").cloned().unwrap();
    assert_eq!(read["output"], Value::from("remembered"), "the installed component ran and kept its value");
}

#[test]
fn installing_over_a_builtin_needs_force_and_then_shadows_it() {
    let ws = Ws::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(crate::common::repo().join("plugins/noop/manifest.yaml"), dir.path().join("manifest.yaml")).unwrap();
    std::fs::copy(guest("noop"), dir.path().join("noop.wasm")).unwrap();
    let file = ws.path().join("noop.mst");
    let o = ws.run(&["plugin", "pack", dir.path().to_str().unwrap(), "-o", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no README.md"), "a README is written from the manifest: {}", text(&o));

    let o = ws.run(&["plugin", "install", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("`noop` is a built-in plugin") && text(&o).contains("--force"), "{}", text(&o));
    assert!(installed(&ws).is_empty());

    let o = ws.run(&["plugin", "install", "--force", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = ws.run(&["--json", "plugin", "list"]);
    let noop: Vec<Value> = events(&o).into_iter().filter(|p| p["name"] == "noop").collect();
    assert_eq!(noop.len(), 2, "{noop:?}");
    assert_eq!((noop[0]["source"].as_str(), noop[0]["active"].as_bool()), (Some("builtin"), Some(false)));
    assert_eq!((noop[1]["source"].as_str(), noop[1]["active"].as_bool()), (Some("installed"), Some(true)));

    // A plugin being developed in plugins/noop/ wins over both.
    copy_plugin_folder(dir.path(), &ws.path().join("plugins/noop"));
    let o = ws.run(&["--json", "plugin", "list"]);
    let noop: Vec<Value> = events(&o).into_iter().filter(|p| p["name"] == "noop").collect();
    let sources: Vec<(&str, bool)> =
        noop.iter().map(|p| (p["source"].as_str().unwrap(), p["active"].as_bool().unwrap())).collect();
    assert_eq!(sources, [("builtin", false), ("installed", false), ("dev", true)]);
    let o = ws.run(&["plugin", "inspect", "noop"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("noop 0.1.0 (dev "), "{}", text(&o));
}

fn copy_plugin_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn broken_and_hostile_packages_are_refused_and_nothing_is_installed() {
    let ws = Ws::new();
    let dir = plugin_dir();
    let good = ws.path().join("good.mst");
    pack(&ws, dir.path(), &good);
    let bytes = std::fs::read(&good).unwrap();
    let entries = unpack(&bytes);
    let component = entries.iter().find(|(n, _)| n == "sandbox-test.wasm").unwrap().1.clone();
    let manifest = String::from_utf8(entries.iter().find(|(n, _)| n == "manifest.yaml").unwrap().1.clone()).unwrap();

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x5a;
    let mut tampered_component = component.clone();
    let at = tampered_component.len() / 2;
    tampered_component[at] ^= 1;
    let bad_manifest =
        manifest.replace("name: fetch", "name: fetch\n    scope: [{ dimension: nowhere, param: /url, match: glob }]");
    let mut traversal = entries.clone();
    traversal.push(("../evil.sh".into(), b"#!/bin/sh\nrm -rf ~\n".to_vec()));
    let mut absolute = entries.clone();
    absolute.push(("/tmp/monstrum-evil".into(), b"x".to_vec()));
    let mut extra = with_sums(entries.clone());
    extra.push(("install.sh".into(), b"echo hi".to_vec()));
    let renamed: Vec<(String, Vec<u8>)> = replace(
        &entries,
        "manifest.yaml",
        manifest.replace("component: sandbox-test.wasm", "component: other.wasm").into_bytes(),
    );
    let no_readme: Vec<(String, Vec<u8>)> =
        with_sums(entries.iter().filter(|(n, _)| n != "README.md").cloned().collect());

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a flipped byte", flipped, "not a valid plugin package"),
        (
            "a changed component, checksums kept",
            archive(&replace(&entries, "sandbox-test.wasm", tampered_component)),
            "checksum mismatch for `sandbox-test.wasm`",
        ),
        ("a traversal entry", archive(&traversal), "entry `../evil.sh` is not a plain file name"),
        ("an absolute entry", archive(&absolute), "entry `/tmp/monstrum-evil` is not a plain file name"),
        ("an unknown entry", archive(&extra), "unknown entry `install.sh`"),
        (
            "a manifest that does not load",
            archive(&with_sums(replace(&entries, "manifest.yaml", bad_manifest.into_bytes()))),
            "undeclared dimension `nowhere`",
        ),
        (
            "a core module instead of a component",
            archive(&with_sums(replace(&entries, "sandbox-test.wasm", b"\0asm\x01\0\0\0".to_vec()))),
            "a core module, not a component",
        ),
        (
            "a component that is not WebAssembly",
            archive(&with_sums(replace(&entries, "sandbox-test.wasm", b"\0asm\x0d\0\x01\0garbage".to_vec()))),
            "is not a valid WebAssembly component",
        ),
        (
            "a component name that does not match the manifest",
            archive(&with_sums(renamed)),
            "the manifest names the component `other.wasm`, but the package holds `sandbox-test.wasm`",
        ),
        ("no README", archive(&no_readme), "the package has no `README.md`"),
        ("not a package at all", b"just some text".to_vec(), "not a gzip-compressed tar archive"),
    ];
    for (what, data, expected) in cases {
        let file = ws.path().join("bad.mst");
        std::fs::write(&file, &data).unwrap();
        let o = ws.run(&["plugin", "install", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(expected), "{what}: expected `{expected}` in:\n{stderr}");
        assert!(stderr.contains("bad.mst") && stderr.contains("nothing installed"), "{what}: {stderr}");
        assert!(installed(&ws).is_empty(), "{what}: nothing is written into plugins/: {:?}", installed(&ws));
    }
    assert!(!ws.path().join("evil.sh").exists() && !ws.path().parent().unwrap().join("evil.sh").exists());
    assert!(!Path::new("/tmp/monstrum-evil").exists());

    // A package placed in plugins/ by hand is verified too: runs refuse to start on it.
    std::fs::create_dir_all(ws.path().join("plugins")).unwrap();
    let mut f = std::fs::File::create(ws.path().join("plugins/sandbox-test.mst")).unwrap();
    f.write_all(&archive(&replace(&entries, "README.md", b"# edited after packing\n".to_vec()))).unwrap();
    let o = ws.run(&["plugin", "list"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("plugins/sandbox-test.mst") && text(&o).contains("checksum mismatch for `README.md`"),
        "{}",
        text(&o)
    );
}

#[test]
fn packing_a_guest_crate_without_its_component_says_how_to_build_it() {
    let ws = Ws::new();
    let crate_dir = crate::common::repo().join("plugins/testing/sandbox-test");
    let o = ws.run(&["plugin", "pack", crate_dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("sandbox-test.wasm does not exist"), "{stderr}");
    assert!(stderr.contains("cargo build --release --target wasm32-wasip2"), "{stderr}");
    assert!(stderr.contains("sandbox_test.wasm"), "{stderr}");
    // --component names the built file; the package still calls it by the manifest's name.
    let out = ws.path().join("sb.mst");
    let wasm = guest("sandbox_test");
    let o = ws.run(&[
        "plugin",
        "pack",
        crate_dir.to_str().unwrap(),
        "--component",
        wasm.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let names: Vec<String> = unpack(&std::fs::read(&out).unwrap()).into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"sandbox-test.wasm".to_string()), "{names:?}");
    // A folder with a broken manifest is refused with its location.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("manifest.yaml"), "name: Bad Name\nversion: 0.1.0\ncomponent: x.wasm\ntools: []\n")
        .unwrap();
    let o = ws.run(&["plugin", "pack", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("manifest.yaml:1:") && text(&o).contains("invalid plugin name"), "{}", text(&o));
}
