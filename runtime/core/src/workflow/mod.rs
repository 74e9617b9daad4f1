//! The workflow engine: a scheduler that runs a DAG of steps, in parallel where it can,
//! durably when it has a store. One file per step kind under `steps/`.

mod attempt;
mod cancel;
mod claim;
mod context;
mod inputs;
mod plan;
mod result;
mod run;
mod scheduler;
mod step_task;
mod steps;

pub use crate::events::{Decision, Event, EventSink};
pub use cancel::{CancelError, Cancelled, Cancels};
pub use inputs::resolve_inputs;
pub use plan::Plan;
pub use result::{StepResult, StepStatus};
pub use run::{DecideError, Engine, EngineError, RunOutcome, RunStatus, StartRun};
