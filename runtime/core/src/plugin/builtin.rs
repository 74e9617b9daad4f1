//! The plugins that ship inside the binary: every guest under `plugins/` with a manifest, built
//! for wasm32-wasip2 by `build.rs` and embedded here. The guests of `plugins/testing/` (which
//! misbehave on purpose) are embedded only with the `testing-plugins` feature, which this
//! crate's own tests and benches turn on.

use monstrum_model::{Manifest, load_manifest};

/// A plugin embedded at build time.
pub(crate) struct EmbeddedPlugin {
    name: &'static str,
    manifest: &'static str,
    component: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// A built-in plugin: its manifest and component.
#[derive(Clone, Debug)]
pub struct BuiltinPlugin {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The manifest's text, as shipped.
    pub manifest_text: &'static str,
    /// The component (wasm32-wasip2).
    pub component: &'static [u8],
}

/// The built-in manifests, parsed once per process.
static PARSED: std::sync::LazyLock<Vec<BuiltinPlugin>> = std::sync::LazyLock::new(|| parse(BUILTIN));

/// The built-in plugins, by name.
pub fn builtin() -> Vec<BuiltinPlugin> {
    PARSED.clone()
}

/// The built-in plugin called `name`.
pub fn find(name: &str) -> Option<BuiltinPlugin> {
    PARSED.iter().find(|p| p.manifest.name == name).cloned()
}

/// The test-only guests of `plugins/testing/`.
#[cfg(feature = "testing-plugins")]
pub fn testing(name: &str) -> Option<BuiltinPlugin> {
    TESTING.iter().find(|p| p.name == name).map(|p| parse(std::slice::from_ref(p)).remove(0))
}

fn parse(plugins: &[EmbeddedPlugin]) -> Vec<BuiltinPlugin> {
    plugins
        .iter()
        .map(|p| {
            // The build embeds only manifests of this repository; a test checks they all parse.
            let manifest = load_manifest(p.manifest)
                .ok()
                .unwrap_or_else(|d| panic!("the manifest of built-in plugin {} is invalid: {d:?}", p.name));
            BuiltinPlugin { manifest, manifest_text: p.manifest, component: p.component }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_manifest_parses_and_names_its_directory() {
        let all = super::builtin();
        assert!(all.iter().any(|p| p.manifest.name == "noop"), "noop is built in");
        for (p, e) in all.iter().zip(super::BUILTIN) {
            assert_eq!(p.manifest.name, e.name);
            assert!(p.component.starts_with(b"\0asm"), "{} is wasm", e.name);
        }
        assert!(super::find("sandbox-test").is_none(), "test guests are not built-ins");
    }
}
