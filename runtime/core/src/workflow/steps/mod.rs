//! One file per step kind.

pub mod approval;
pub mod delegate;
pub mod llm;
pub mod subworkflow;
pub mod tool;
