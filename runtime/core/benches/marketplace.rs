//! The marketplace's inner figure (issue 11): reading and verifying a package in memory, as
//! `install` does before writing anything: unpack, check every entry against `SHA256SUMS`,
//! load the skill (or validate the plugin's WebAssembly component), then check the Ed25519
//! signature and the publisher against a trust list. No process, network or disk. The
//! packages: the shipped skill `skills/log-triage` and the built-in github plugin. Median and
//! 95th percentile over 300 rounds each; signing (publish) alongside.
//!
//! `cargo bench -p monstrum-core --bench marketplace`

use monstrum_core::marketplace::{Kind, Package, Signature, SigningKey, SkillPackage, TrustedKey};
use std::time::{Duration, Instant};

const ROUNDS: usize = 300;

fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() * 95 / 100])
}

fn measure(what: &str, mut f: impl FnMut()) {
    f();
    let times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    let (median, p95) = percentiles(times);
    println!("{what:<52} median {:>8.1} µs   p95 {:>8.1} µs", median.as_secs_f64() * 1e6, p95.as_secs_f64() * 1e6);
}

fn main() {
    let keys = tempfile::tempdir().expect("tempdir");
    let (key, _) = SigningKey::create(keys.path(), "bench").expect("key");
    let trust = vec![TrustedKey { name: "bench".into(), key: key.public().to_string() }];

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../skills/log-triage");
    let mut skill = SkillPackage::from_dir(&dir).expect("the shipped skill packs");
    let signed = Package::Skill(skill.clone()).signed().expect("signed");
    skill.signature = Some(Signature::sign(&signed, &key));
    let skill_bytes = skill.to_bytes().expect("bytes");

    let github = monstrum_core::plugin::builtin::find("github").expect("github is built in");
    let mut plugin = monstrum_core::plugin::package::Package::new(
        github.manifest_text.to_string(),
        "# github\n".into(),
        github.component.to_vec(),
    )
    .expect("package");
    let signed_plugin = Package::Plugin(plugin.clone()).signed().expect("signed");
    plugin.signature = Some(Signature::sign(&signed_plugin, &key));
    let plugin_bytes = plugin.to_bytes().expect("bytes");

    println!(
        "packages: skill log-triage {} bytes, plugin github {} bytes (component {} bytes)",
        skill_bytes.len(),
        plugin_bytes.len(),
        github.component.len()
    );
    for (what, kind, bytes) in [
        ("verify skill log-triage (read + checksums + signature)", Kind::Skill, &skill_bytes),
        ("verify plugin github (read + component + signature)", Kind::Plugin, &plugin_bytes),
    ] {
        measure(what, || {
            let package = Package::from_bytes(kind, bytes).expect("reads");
            let signed = package.signed().expect("signed");
            assert_eq!(Signature::verify(&signed, &trust).expect("trusted"), "bench");
        });
    }
    measure("signature check alone (Ed25519 verify_strict + trust)", || {
        assert!(Signature::verify(&signed_plugin_with(&signed_plugin, &key), &trust).is_ok());
    });
    measure("sign (publish): Ed25519 over the checksums", || {
        std::hint::black_box(Signature::sign(&signed, &key));
    });
}

fn signed_plugin_with(
    signed: &monstrum_core::marketplace::Signed,
    key: &SigningKey,
) -> monstrum_core::marketplace::Signed {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let mut s = signed.clone();
    s.signature = Some(TEXT.get_or_init(|| Signature::sign(signed, key)).clone());
    s
}
