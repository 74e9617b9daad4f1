//! The property panel: every field of the selected step that DESIGN.md's workflow format has, by
//! its kind. A field is read from the text (`edit::field_text`) and written back with
//! `edit::set_field` when the user leaves it, as one change in the history; an empty field is
//! removed from the file. Text fields are sent as quoted strings (so `true` typed in a message
//! stays text); YAML fields (`with`, `retry`, lists) are read as YAML.

use crate::editor::Ed;
use crate::tool_form::{ToolForm, visible_tools};
use leptos::prelude::*;
use monstrum_model::edit;
use std::collections::HashMap;

/// How a field is edited.
#[derive(Clone, Copy, PartialEq)]
enum Input {
    /// One line of text.
    Line,
    /// Several lines of text (prompts, messages, tasks).
    Lines,
    /// YAML (mappings, lists, numbers, booleans).
    Yaml,
    /// One of these words.
    Choice(&'static [&'static str]),
}

/// (label, path, input) of each field a step of `kind` has.
fn fields(kind: &str) -> Vec<(&'static str, &'static [&'static str], Input)> {
    use Input::*;
    let mut out: Vec<(&'static str, &'static [&'static str], Input)> = vec![("Id", &["id"], Line)];
    out.extend(match kind {
        // The tool and a form of its parameters are `ToolForm`'s; all of `with` as YAML here.
        "tool" => vec![("All parameters (with, YAML)", &["with"][..], Yaml)],
        "llm" => vec![
            ("Prompt", &["llm", "prompt"][..], Lines),
            ("System", &["llm", "system"], Lines),
            ("Model", &["llm", "model"], Yaml),
            ("Tools", &["llm", "tools"], Yaml),
            ("Output", &["llm", "output"], Choice(&["text", "json"])),
            ("Schema", &["llm", "schema"], Yaml),
            ("Max turns", &["llm", "max_turns"], Yaml),
        ],
        "approval" => vec![
            ("Message", &["approval", "message"][..], Lines),
            ("Approvers", &["approval", "approvers"], Yaml),
            ("Self-approval", &["approval", "self_approval"], Choice(&["true", "false"])),
            ("Timeout", &["approval", "timeout"], Line),
        ],
        "delegate" => vec![
            ("To bot", &["delegate", "bot"][..], Line),
            ("Task", &["delegate", "task"], Lines),
            ("Tools", &["delegate", "tools"], Yaml),
            ("Scope", &["delegate", "scope"], Yaml),
            ("Budget", &["delegate", "budget"], Yaml),
        ],
        "workflow" => vec![("Workflow file", &["workflow"][..], Line), ("Inputs (with)", &["with"], Yaml)],
        _ => vec![],
    });
    out.extend([
        ("Bot", &["bot"][..], Line),
        ("If", &["if"], Line),
        ("For each", &["for_each"], Line),
        ("Parallel items", &["max_parallel"], Yaml),
        ("Timeout", &["timeout"], Line),
        ("Retry", &["retry"], Yaml),
        ("On error", &["on_error"], Choice(&["fail", "continue"])),
    ]);
    out
}

/// The panel of the one selected step (nothing when none or several are selected).
#[component]
pub fn Panel(ed: Ed, can_edit: Signal<bool>, token: String) -> impl IntoView {
    let tool_lists = StoredValue::new(HashMap::new());
    let owner = Owner::current().expect("a component runs under an owner");
    let one = move || {
        let chosen = ed.selected.get();
        (chosen.len() == 1).then(|| chosen[0].clone())
    };
    move || {
        let Some(id) = one() else {
            let hint = if can_edit.get() {
                "Select a step to edit it. Add steps from the palette; drag from a node's right port to another node to connect them; Delete removes what is selected."
            } else {
                "Select a step to see its fields."
            };
            return view! { <aside class="panel" id="panel"><p class="muted">{hint}</p></aside> }.into_any();
        };
        let text = ed.doc.with(|d| d.text.clone());
        let Some(step) = edit::outline(&text).ok().and_then(|o| o.into_iter().find(|s| s.id == id)) else {
            return ().into_any();
        };
        let rows = fields(step.kind)
            .into_iter()
            .map(|(label, path, input)| {
                let value = edit::field_text(&text, &id, path).unwrap_or_default();
                let name = path.join(".");
                let id = id.clone();
                let commit = move |typed: String| {
                    let typed = typed.trim_end().to_string();
                    let value = if typed.trim().is_empty() {
                        None
                    } else if matches!(input, Input::Line | Input::Lines) && path != ["id"] {
                        Some(serde_json::to_string(&typed).expect("a string is JSON"))
                    } else {
                        Some(typed)
                    };
                    ed.change(|d| edit::set_field(&d.text, &id, path, value.as_deref()), false);
                };
                let disabled = move || !can_edit.get();
                let control = match input {
                    Input::Line => view! {
                        <input type="text" name=name.clone() prop:value=value disabled=disabled
                            on:change:target=move |ev| commit(ev.target().value()) />
                    }
                    .into_any(),
                    Input::Lines | Input::Yaml => view! {
                        <textarea name=name.clone() rows=if input == Input::Yaml { "3" } else { "2" } class:yaml=input == Input::Yaml
                            prop:value=value disabled=disabled
                            on:change:target=move |ev| commit(ev.target().value())></textarea>
                    }
                    .into_any(),
                    Input::Choice(words) => {
                        let options = std::iter::once("")
                            .chain(words.iter().copied())
                            .map(|w| view! { <option value=w selected=w == value>{w}</option> })
                            .collect_view();
                        view! {
                            <select name=name.clone() disabled=disabled on:change:target=move |ev| commit(ev.target().value())>{options}</select>
                        }
                        .into_any()
                    }
                };
                view! { <label><span>{label}</span>{control}</label> }.into_any()
            })
            .collect::<Vec<_>>();
        let mut rows = rows;
        if step.kind == "tool" {
            // After the id: the tool, and a form of its parameters.
            let bot = edit::field_text(&text, &id, &["bot"]).or_else(|| edit::workflow_field(&text, "bot"));
            let tools = visible_tools(tool_lists, &owner, token.clone(), bot.clone());
            rows.insert(1.min(rows.len()), view! { <ToolForm ed id=id.clone() bot tools can_edit /> }.into_any());
        }
        let needs = if step.needs.is_empty() { "nothing".to_string() } else { step.needs.join(", ") };
        view! {
            <aside class="panel" id="panel" data-step=id.clone()>
                <h2>{step.kind} " " <code>{id.clone()}</code></h2>
                <p class="muted">"Runs after: " {needs}</p>
                {rows}
            </aside>
        }
        .into_any()
    }
}
