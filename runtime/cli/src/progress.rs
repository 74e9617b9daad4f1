//! The terminal view of a run: a live line per running step, a bar for `for_each`. When the
//! output is not a terminal, the same events become plain lines.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use monstrum_core::events::{Decision, Event};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

/// Shows events as they come.
pub struct Progress {
    multi: Option<MultiProgress>,
    lines: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    /// A view on stderr; live only on a terminal.
    pub fn new() -> Self {
        let multi =
            std::io::stderr().is_terminal().then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi, lines: Mutex::new(HashMap::new()) }
    }

    fn say(&self, text: String) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                // One write per line (`eprintln!` makes one per piece; stderr is unbuffered), and
                // a closed stderr does not stop the run.
                let mut line = text;
                line.push('\n');
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
        }
    }

    fn line(&self, step: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let mut lines = self.lines.lock().ok()?;
        Some(
            lines
                .entry(step.to_string())
                .or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("template"));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                })
                .clone(),
        )
    }

    fn end_line(&self, step: &str) {
        if let Some(bar) = self.lines.lock().ok().and_then(|mut l| l.remove(step)) {
            bar.finish_and_clear();
        }
    }

    /// Removes whatever is still drawn.
    pub fn clear(&self) {
        if let Ok(mut lines) = self.lines.lock() {
            for (_, bar) in lines.drain() {
                bar.finish_and_clear();
            }
        }
    }

    /// Shows one event.
    pub fn handle(&self, event: &Event) {
        match event {
            Event::RunStarted { run, workflow, resumed } => {
                self.say(format!("{} {workflow} (run {run})", if *resumed { "resuming" } else { "running" }))
            }
            Event::StepStarted { step, attempt, .. } => {
                let label = if *attempt > 1 { format!("{step} (attempt {attempt})") } else { step.clone() };
                match self.line(step) {
                    Some(bar) => bar.set_message(label),
                    None => self.say(format!("  ▸ {label}")),
                }
            }
            Event::StepProgress { step, done, total, .. } => {
                if let Some(bar) = self.line(step) {
                    if bar.length() != Some(*total as u64) {
                        bar.set_length(*total as u64);
                        bar.set_style(
                            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
                                .expect("template")
                                .progress_chars("=> "),
                        );
                        bar.set_message(step.clone());
                    }
                    bar.set_position(*done as u64);
                }
            }
            Event::StepFinished { step, duration_ms, .. } => {
                self.end_line(step);
                self.say(format!("  ✓ {step} ({duration_ms} ms)"));
            }
            Event::StepFailed { step, error, .. } => {
                self.end_line(step);
                self.say(format!("  ✗ {step}: {error}"));
            }
            Event::StepSkipped { step, reason, .. } => {
                self.end_line(step);
                self.say(format!("  – {step} skipped: {reason}"));
            }
            Event::ApprovalRequested { step, message, .. } => {
                self.end_line(step);
                self.say(format!("  ⏸ {step} waits for approval: {message}"));
            }
            Event::ApprovalDecided { step, approved, by, .. } => self.say(format!(
                "  {} {step} {} by {by}",
                if *approved { "✓" } else { "✗" },
                if *approved { "approved" } else { "rejected" }
            )),
            Event::LlmRequest { step, model, input_tokens, output_tokens, .. } => {
                self.say(format!("    {step}: asked {model} ({input_tokens} + {output_tokens} tokens)"))
            }
            Event::ToolCall { step, tool, decision, reason, .. } => match decision {
                Decision::Allowed => self.say(format!("    {step}: called {tool}")),
                Decision::Denied => self.say(format!("    {step}: {tool} denied: {}", reason.as_deref().unwrap_or(""))),
            },
            Event::RunFinished { .. } => self.clear(),
        }
    }
}
