//! A tool's failure.

use std::fmt;

use crate::bindings::monstrum::plugin::types::ToolError as WitToolError;

/// Why a tool failed; the caller sees the message as the tool error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolError {
    /// The plugin has no such tool.
    UnknownTool(String),
    /// The arguments are not what the tool expects.
    InvalidArguments(String),
    /// The tool ran and failed.
    Failed(String),
}

impl ToolError {
    /// No tool called `tool`.
    pub fn unknown_tool(tool: &str) -> Self {
        Self::UnknownTool(tool.to_string())
    }

    /// The tool failed with `message`.
    pub fn failed(message: impl fmt::Display) -> Self {
        Self::Failed(message.to_string())
    }

    pub(crate) fn into_wit(self) -> WitToolError {
        match self {
            Self::UnknownTool(t) => WitToolError::UnknownTool(t),
            Self::InvalidArguments(m) => WitToolError::InvalidArguments(m),
            Self::Failed(m) => WitToolError::Failed(m),
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTool(t) => write!(f, "no such tool: {t}"),
            Self::InvalidArguments(m) => write!(f, "invalid arguments: {m}"),
            Self::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ToolError {}

impl From<crate::http::HttpError> for ToolError {
    fn from(e: crate::http::HttpError) -> Self {
        Self::Failed(e.to_string())
    }
}

impl From<serde_json::Error> for ToolError {
    fn from(e: serde_json::Error) -> Self {
        Self::Failed(e.to_string())
    }
}
