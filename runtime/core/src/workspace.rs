//! A workspace on disk: `monstrum.yaml`, `bots/`, `workflows/`, and the data in `.monstrum/`.

use crate::plugin::Component;
use anyhow::{Context, bail};
use monstrum_model::{Bot, ModelRef};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `monstrum.yaml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Default model for LLM steps whose bot names none.
    #[serde(default)]
    pub model: Option<ModelRef>,
    /// Store URL (`sqlite://…` or `postgres://…`); default: SQLite in `.monstrum/`.
    #[serde(default)]
    pub store: Option<String>,
    /// Address of `monstrum serve`.
    #[serde(default)]
    pub server: Option<String>,
    /// Steps run at once, unless a workflow says otherwise (default 16).
    #[serde(default)]
    pub max_parallel: Option<usize>,
    /// How plugins' HTTP requests reach the network: a proxy URL (`http://proxy:3128`), `none`
    /// (direct), or `env` (the default: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
    #[serde(default)]
    pub proxy: Option<String>,
    /// The publishers whose packages `skill install` and `plugin install` accept: each a name
    /// and an Ed25519 public key as `monstrum key create` prints it (`ed25519:BASE64`).
    #[serde(default)]
    pub trust: Vec<crate::marketplace::TrustedKey>,
}

impl Config {
    /// The plugin host's proxy setting from `proxy:`.
    pub fn proxy(&self) -> crate::plugin::Proxy {
        match self.proxy.as_deref().map(str::trim) {
            None | Some("env") => crate::plugin::Proxy::Env,
            Some("none") => crate::plugin::Proxy::None,
            Some(url) => crate::plugin::Proxy::Url(url.to_string()),
        }
    }
}

/// Where a workspace's plugin comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum PluginSource {
    /// Embedded in the binary.
    Builtin,
    /// An installed package, `plugins/<name>.mst`.
    Installed(PathBuf),
    /// A plugin being developed in `plugins/<name>/`.
    Dev(PathBuf),
}

impl PluginSource {
    /// `builtin`, `installed` or `dev`.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginSource::Builtin => "builtin",
            PluginSource::Installed(_) => "installed",
            PluginSource::Dev(_) => "dev",
        }
    }
}

/// A plugin a workspace can use.
#[derive(Clone)]
pub struct AvailablePlugin {
    /// Its manifest.
    pub manifest: monstrum_model::Manifest,
    /// Where it comes from.
    pub source: PluginSource,
    /// Its component.
    pub component: Component,
}

/// The `*.mst` files directly in `dir`, sorted (none if `dir` does not exist).
fn installed_packages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        if path.extension().is_some_and(|e| e == crate::plugin::package::EXTENSION) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The catalog and components of `plugins`, in precedence order: of several with one name, the
/// last wins.
pub(crate) fn catalog_of(plugins: Vec<AvailablePlugin>) -> (crate::governance::Catalog, HashMap<String, Component>) {
    let mut manifests = Vec::new();
    let mut components = HashMap::new();
    for p in plugins {
        components.insert(p.manifest.name.clone(), p.component);
        manifests.push(p.manifest);
    }
    (crate::governance::Catalog::new(manifests), components)
}

/// A skill of the workspace as it loads.
#[derive(Clone, Debug)]
pub struct SkillEntry {
    /// Its folder's name.
    pub name: String,
    /// Its `SKILL.md`.
    pub file: PathBuf,
    /// The skill, when it has no error (it may have warnings).
    pub skill: Option<monstrum_model::Skill>,
    /// Its errors and warnings, located in the file.
    pub problems: Vec<monstrum_model::Diagnostic>,
}

/// A `SKILL.md`'s text loaded as the skill of folder `folder`: the skill when nothing but
/// warnings was found, and every problem.
pub fn skill_in_folder(text: &str, folder: &str) -> (Option<monstrum_model::Skill>, Vec<monstrum_model::Diagnostic>) {
    let loaded = monstrum_model::load_skill_in(text, Some(folder));
    let ok = loaded.diagnostics.iter().all(monstrum_model::Diagnostic::is_warning);
    (loaded.value.filter(|_| ok), loaded.diagnostics)
}

/// A workspace folder and its configuration.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The folder.
    pub root: PathBuf,
    /// Its `monstrum.yaml` (defaults when absent).
    pub config: Config,
    /// The registered MCP servers, each a manifest of its approved tools, as the store held them
    /// when [`Workspace::load_mcp`] read it (none before). Shared with the clones of this
    /// workspace and the catalogs made from it (a running server replaces them).
    pub mcp: crate::governance::McpServers,
}

impl Workspace {
    /// The workspace for `explicit` if given; else the nearest folder upward from `start` that
    /// holds `monstrum.yaml`, `bots/` or `workflows/`; else the current directory.
    pub fn discover(explicit: Option<&Path>, start: &Path) -> anyhow::Result<Workspace> {
        let root = match explicit {
            Some(dir) => dir.to_path_buf(),
            None => {
                let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
                start
                    .ancestors()
                    .find(|d| ["monstrum.yaml", "bots", "workflows"].iter().any(|m| d.join(m).exists()))
                    .map(Path::to_path_buf)
                    .unwrap_or(std::env::current_dir()?)
            }
        };
        let root = std::path::absolute(&root).unwrap_or(root);
        if !root.is_dir() {
            bail!("workspace {} is not a folder", root.display());
        }
        let config_file = root.join("monstrum.yaml");
        let config = if config_file.exists() {
            let text = std::fs::read_to_string(&config_file)
                .with_context(|| format!("cannot read {}", config_file.display()))?;
            serde_yaml::from_str(&text).with_context(|| format!("invalid {}", config_file.display()))?
        } else {
            Config::default()
        };
        Ok(Workspace { root, config, mcp: Default::default() })
    }

    /// `.monstrum/`: the database, the vault key, caches.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join(".monstrum")
    }

    /// The store URL: `--db`, else `store:` in monstrum.yaml, else SQLite in `.monstrum/`.
    pub fn store_url(&self, cli: Option<&str>) -> anyhow::Result<String> {
        if let Some(url) = cli.map(str::to_string).or_else(|| self.config.store.clone()) {
            return Ok(url);
        }
        let dir = self.data_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(crate::store::Store::sqlite_url(&dir.join("monstrum.db")))
    }

    /// A path relative to the workspace.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The file of sub-workflow `sub` called by the workflow in `parent`: relative to the
    /// parent's folder, and inside the workspace when the parent is (a workflow of the workspace
    /// calls workflows of the workspace only).
    pub fn sub_workflow(&self, parent: &Path, sub: &str) -> anyhow::Result<PathBuf> {
        let path = parent.parent().unwrap_or(Path::new(".")).join(sub);
        if self.inside(parent).is_ok() {
            self.inside(&path).with_context(|| format!("sub-workflow {sub}"))?;
        }
        Ok(path)
    }

    /// `path` (relative to the workspace, or absolute) with `.` and `..` resolved, if it stays
    /// inside the workspace: a file that a workflow or bot names (a script, a sub-workflow) is
    /// never read from elsewhere. Lexical: a symbolic link inside the workspace is the owner's.
    pub fn inside(&self, path: &Path) -> anyhow::Result<PathBuf> {
        let root = normalize(&std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone()));
        let full = normalize(&std::path::absolute(root.join(path)).unwrap_or_else(|_| root.join(path)));
        if full.starts_with(&root) {
            Ok(full)
        } else {
            bail!("{} is outside the workspace ({})", path.display(), root.display())
        }
    }

    /// The plugins the workspace can use: the built-in ones, the installed packages
    /// (`plugins/<name>.mst`) and those being developed in `plugins/<name>/` (manifest and
    /// component); of several with one name, the last of [`Workspace::available_plugins`] wins.
    pub fn plugins(&self) -> anyhow::Result<(crate::governance::Catalog, HashMap<String, Component>)> {
        let (catalog, components) = catalog_of(self.available_plugins()?);
        Ok((catalog.with_mcp(self.mcp.clone()).with_channels(self.channel_names()), components))
    }

    /// The names of the workspace's channel files (`channels/NAME.yaml`), whether they load or not.
    pub fn channel_names(&self) -> Vec<String> {
        self.channel_files().into_iter().map(|(name, _)| name).collect()
    }

    /// The workspace's channel files (`channels/NAME.yaml`), as (name, file), by name.
    pub fn channel_files(&self) -> Vec<(String, PathBuf)> {
        let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(self.root.join("channels"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p)))
            .collect();
        files.sort();
        files
    }

    /// Reads the registered MCP servers' approved tools from `store` (see [`Workspace::mcp`]).
    pub async fn load_mcp(&self, store: &crate::store::Store) -> anyhow::Result<()> {
        self.mcp.set(store.mcp_manifests().await?);
        Ok(())
    }

    /// Every plugin of the workspace, in precedence order: built-in, then installed packages
    /// (each verified: checksums, manifest, component), then dev plugins. A later one of the
    /// same name shadows an earlier one. A package that fails verification is an error.
    pub fn available_plugins(&self) -> anyhow::Result<Vec<AvailablePlugin>> {
        let mut out: Vec<AvailablePlugin> = crate::plugin::builtin()
            .into_iter()
            .map(|p| AvailablePlugin {
                manifest: p.manifest,
                source: PluginSource::Builtin,
                component: Component::Builtin(p.component),
            })
            .collect();
        let dir = self.root.join("plugins");
        for file in installed_packages(&dir)? {
            let package = crate::plugin::Package::read(&file)?;
            let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if stem != package.manifest.name {
                bail!(
                    "{} holds plugin `{}`: rename it to plugins/{}.mst or reinstall it",
                    file.display(),
                    package.manifest.name,
                    package.manifest.name
                );
            }
            out.push(AvailablePlugin {
                manifest: package.manifest,
                source: PluginSource::Installed(file),
                component: Component::Package(package.component),
            });
        }
        for (plugin_dir, m) in crate::governance::Catalog::load_dir(&dir)? {
            let component = Component::File(plugin_dir.join(&m.component));
            out.push(AvailablePlugin { manifest: m, source: PluginSource::Dev(plugin_dir), component });
        }
        Ok(out)
    }

    /// The manifests of [`Workspace::plugins`].
    pub fn catalog(&self) -> anyhow::Result<crate::governance::Catalog> {
        Ok(self.plugins()?.0)
    }

    /// The skill named `name`, from `skills/<name>/SKILL.md`; its warnings are not errors.
    pub fn skill(&self, name: &str) -> anyhow::Result<monstrum_model::Skill> {
        plain_name("skill", name)?;
        let file = self.root.join("skills").join(name).join("SKILL.md");
        if !file.is_file() {
            bail!("unknown skill `{name}`: there is no {}", file.display());
        }
        let entry = self.read_skill(name);
        match entry.skill {
            Some(skill) => Ok(skill),
            None => {
                let list: Vec<String> = entry
                    .problems
                    .iter()
                    .filter(|d| !d.is_warning())
                    .map(|d| format!("{}:{d}", file.display()))
                    .collect();
                bail!("invalid skill file:\n{}", list.join("\n"))
            }
        }
    }

    /// The text of `file`, a path inside skill `name`'s folder (`references/guide.md`): never a
    /// path out of it, by `..`, an absolute path or a link; at most 256 KiB of UTF-8 text.
    pub fn skill_file(&self, name: &str, file: &str) -> anyhow::Result<String> {
        plain_name("skill", name)?;
        let dir = self.root.join("skills").join(name);
        let rel = Path::new(file);
        let inside = !file.is_empty() && rel.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            bail!("`{file}` is not a path inside skill `{name}`'s folder");
        }
        let real = dir.join(rel).canonicalize().with_context(|| format!("skill `{name}` has no file `{file}`"))?;
        let real_dir = dir.canonicalize().with_context(|| format!("unknown skill `{name}`"))?;
        if !real.starts_with(&real_dir) || !real.is_file() {
            bail!("`{file}` is not a file inside skill `{name}`'s folder");
        }
        let size = std::fs::metadata(&real)?.len();
        if size > 256 << 10 {
            bail!("`{file}` of skill `{name}` is {size} bytes, more than 256 KiB");
        }
        std::fs::read_to_string(&real).with_context(|| format!("`{file}` of skill `{name}` is not UTF-8 text"))
    }

    /// Every skill of `skills/` (a folder holding `SKILL.md`), by name, as it loads: one that
    /// does not load is listed with its problems, and the others still load.
    pub fn skills(&self) -> Vec<SkillEntry> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join("skills"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("SKILL.md").is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        names.iter().map(|name| self.read_skill(name)).collect()
    }

    fn read_skill(&self, name: &str) -> SkillEntry {
        let file = self.root.join("skills").join(name).join("SKILL.md");
        let (skill, problems) = match std::fs::read_to_string(&file) {
            Err(e) => (None, vec![monstrum_model::Diagnostic::new("E001", Vec::new(), format!("cannot read it: {e}"))]),
            Ok(text) => skill_in_folder(&text, name),
        };
        SkillEntry { name: name.to_string(), file, skill, problems }
    }
    /// The file of the bot named `name`: `bots/<name>.yaml` (or `.yml`).
    pub fn bot_file(&self, name: &str) -> anyhow::Result<PathBuf> {
        plain_name("bot", name)?;
        ["yaml", "yml"]
            .iter()
            .map(|ext| self.root.join("bots").join(format!("{name}.{ext}")))
            .find(|f| f.is_file())
            .with_context(|| format!("unknown bot `{name}`: no bots/{name}.yaml in {}", self.root.display()))
    }

    /// The bot named `name`, from `bots/<name>.yaml`.
    pub fn bot(&self, name: &str) -> anyhow::Result<Bot> {
        let file = self.bot_file(name)?;
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        match monstrum_model::load_bot(&text).ok() {
            Ok(bot) => Ok(bot),
            Err(problems) => {
                let list: Vec<String> = problems.iter().map(|d| format!("{}:{d}", file.display())).collect();
                bail!("invalid bot file:\n{}", list.join("\n"))
            }
        }
    }
}

/// A bot's or skill's name is a file name in its folder, never a path out of it.
pub fn plain_name(what: &str, name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok { Ok(()) } else { bail!("`{name}` is not a {what} name (letters, digits, -, _ and ., not a path)") }
}

/// `path` with `.` and `..` taken out, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skill_file_is_read_only_inside_the_skills_folder() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace { root: dir.path().to_path_buf(), config: Config::default(), mcp: Default::default() };
        let skill = dir.path().join("skills/care");
        std::fs::create_dir_all(skill.join("references")).unwrap();
        std::fs::write(skill.join("references/guide.md"), "guide").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), skill.join("references/link.md")).unwrap();
        assert_eq!(ws.skill_file("care", "references/guide.md").unwrap(), "guide");
        for outside in
            ["../../secret.txt", "/etc/passwd", "references/link.md", "", ".", "references/../../../secret.txt"]
        {
            let err = ws.skill_file("care", outside).unwrap_err().to_string();
            assert!(err.contains("inside skill `care`'s folder"), "{outside}: {err}");
        }
        assert!(ws.skill_file("../care", "references/guide.md").is_err(), "the skill is a plain name");
        assert!(ws.skill_file("care", "references").is_err(), "a folder is not a file");
    }

    #[test]
    fn names_and_paths_stay_inside_the_workspace() {
        let ws = Workspace { root: PathBuf::from("/srv/ws"), config: Config::default(), mcp: Default::default() };
        assert_eq!(ws.inside(Path::new("scripts/a.yaml")).unwrap(), PathBuf::from("/srv/ws/scripts/a.yaml"));
        assert_eq!(
            ws.inside(Path::new("workflows/../scripts/./a.yaml")).unwrap(),
            PathBuf::from("/srv/ws/scripts/a.yaml")
        );
        for outside in ["../x.yaml", "scripts/../../x.yaml", "/etc/passwd", "/srv/wsx/a.yaml"] {
            assert!(ws.inside(Path::new(outside)).is_err(), "{outside}");
        }
        for bad in ["../../etc/x", "a/b", ".hidden", "", "x\\y"] {
            let e = ws.bot(bad).unwrap_err().to_string();
            assert!(e.contains("not a bot name"), "{bad}: {e}");
            assert!(ws.skill(bad).unwrap_err().to_string().contains("not a skill name"), "{bad}");
        }
    }
}
