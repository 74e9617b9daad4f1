//! Governance: the one gate every tool call passes, whatever proposed it.

mod gate;

pub use gate::{Gate, GateCall, ToolError};
