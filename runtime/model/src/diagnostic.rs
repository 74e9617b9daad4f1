//! Problems found in a file: a stable code, a one-line reason and where.

use std::fmt;

/// One step of a path into a YAML document (`steps[2].needs[0]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSeg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Where a problem is: 1-based line and column, and the byte range in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Byte offset of the start in the source text.
    pub offset: usize,
    /// Length in bytes of the highlighted text (at least 1 where the source has a character there).
    pub len: usize,
}

/// A problem in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code, e.g. `E004`; listed in `docs/errors.md`.
    pub code: &'static str,
    /// One-line reason.
    pub message: String,
    /// Path of the offending node in the document.
    pub path: Vec<PathSeg>,
    /// Where in the source, when it could be found.
    pub location: Option<Location>,
    /// What to do about it, when there is something to say.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at `path`; the location is filled in by the loader.
    pub fn new(code: &'static str, path: Vec<PathSeg>, message: impl Into<String>) -> Self {
        Diagnostic { code, message: message.into(), path, location: None, help: None }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Whether it is a warning (a `W` code): the file still loads.
    pub fn is_warning(&self) -> bool {
        self.code.starts_with('W')
    }

    /// The path written as `steps[2].needs[0]`.
    pub fn path_string(&self) -> String {
        render_path(&self.path)
    }
}

/// Writes a path as `steps[2].needs[0]`.
pub fn render_path(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(l) => write!(f, "{}:{}: {}: {}", l.line, l.column, self.code, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

/// Shorthand used by the validators: `path!["steps", 2, "needs"]`.
#[macro_export]
#[doc(hidden)]
macro_rules! path {
    ($($seg:expr),* $(,)?) => { vec![$($crate::diagnostic::IntoSeg::into_seg($seg)),*] };
}

#[doc(hidden)]
pub trait IntoSeg {
    fn into_seg(self) -> PathSeg;
}
impl IntoSeg for &str {
    fn into_seg(self) -> PathSeg {
        PathSeg::Key(self.to_string())
    }
}
impl IntoSeg for String {
    fn into_seg(self) -> PathSeg {
        PathSeg::Key(self)
    }
}
impl IntoSeg for &String {
    fn into_seg(self) -> PathSeg {
        PathSeg::Key(self.clone())
    }
}
impl IntoSeg for usize {
    fn into_seg(self) -> PathSeg {
        PathSeg::Index(self)
    }
}
