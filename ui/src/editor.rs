//! The workflow editor: canvas, palette, property panel and YAML view over one document (the
//! workflow's text and its node positions), with one undo history, validation in the browser
//! (`monstrum_model`, the code `monstrum validate` runs, then the server's workspace checks),
//! save (a version), the versions with a diff and rollback, and run with an inputs form.
//!
//! The text is the document: the canvas and the panel edit it through `monstrum_model::edit`; a
//! text nobody edited is saved as it was loaded.

use crate::api::{Refused, call};
use crate::canvas::{Canvas, Direction, Editing, Layout, Positions, View, auto_positions, layout, step_of};
use crate::history::{Doc, History};
use crate::pages::{go, items, status, text};
use crate::panel::Panel;
use crate::versions::Versions;
use crate::yaml_view::{Mark, YamlHandle, YamlView};
use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use monstrum_model::edit::{self, EditError};
use serde_json::{Value, json};
use std::time::Duration;

/// The editor's state: every signal is a handle, so the whole is `Copy`.
#[derive(Clone, Copy)]
pub struct Ed {
    pub doc: RwSignal<Doc>,
    history: RwSignal<History>,
    pub selected: RwSignal<Vec<String>>,
    selected_edge: RwSignal<Option<(String, String)>>,
    error: RwSignal<Option<String>>,
}

const CLIP_KEY: &str = "monstrum.clipboard";

impl Ed {
    /// Replaces the document with `next` as one change (`typing` joins a burst of keystrokes).
    fn set(self, next: Doc, typing: bool) {
        let current = self.doc.get_untracked();
        self.history.update(|h| h.record(&current, &next, typing));
        self.doc.set(next);
        self.error.set(None);
    }

    /// A change of the text by `f`; its refusal is shown, and the document stays as it was.
    pub fn change(self, f: impl FnOnce(&Doc) -> Result<String, EditError>, typing: bool) {
        let current = self.doc.get_untracked();
        match f(&current) {
            Ok(text) => self.set(Doc { text, positions: current.positions.clone() }, typing),
            Err(e) => self.error.set(Some(e.0)),
        }
    }

    fn undo(self) {
        let current = self.doc.get_untracked();
        if let Some(before) = self.history.try_update(|h| h.undo(&current)).flatten() {
            self.doc.set(before);
        }
    }

    fn redo(self) {
        let current = self.doc.get_untracked();
        if let Some(after) = self.history.try_update(|h| h.redo(&current)).flatten() {
            self.doc.set(after);
        }
    }

    fn delete(self) {
        if let Some((from, to)) = self.selected_edge.get_untracked() {
            self.selected_edge.set(None);
            return self.change(|d| edit::disconnect(&d.text, &from, &to), false);
        }
        let ids = self.selected.get_untracked();
        if ids.is_empty() {
            return;
        }
        let current = self.doc.get_untracked();
        match edit::remove_steps(&current.text, &ids) {
            Ok(text) => {
                let mut positions = current.positions.clone();
                positions.retain(|id, _| !ids.contains(id));
                self.selected.set(Vec::new());
                self.set(Doc { text, positions }, false);
            }
            Err(e) => self.error.set(Some(e.0)),
        }
    }

    fn copy(self) -> bool {
        let ids = self.selected.get_untracked();
        match edit::copy_steps(&self.doc.get_untracked().text, &ids) {
            Ok(clip) => {
                if let Some(s) = window().session_storage().ok().flatten() {
                    let _ = s.set_item(CLIP_KEY, &clip);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Pastes the clipboard's steps, moved down and right of where they were copied.
    fn paste(self, layout: Layout) {
        let clip = window().session_storage().ok().flatten().and_then(|s| s.get_item(CLIP_KEY).ok().flatten());
        let Some(clip) = clip else { return };
        let current = self.doc.get_untracked();
        match edit::paste_steps(&current.text, &clip) {
            Ok((text, added)) => {
                let mut positions = current.positions.clone();
                if !positions.is_empty() {
                    let bottom = layout.nodes.iter().map(|n| n.y).fold(0.0, f64::max);
                    for (i, id) in added.iter().enumerate() {
                        positions.insert(id.clone(), (40.0 + i as f64 * 30.0, bottom + 100.0 + i as f64 * 30.0));
                    }
                }
                self.selected.set(added);
                self.set(Doc { text, positions }, false);
            }
            Err(e) => self.error.set(Some(e.0)),
        }
    }

    fn add(self, kind: &str, layout: &Layout) {
        let current = self.doc.get_untracked();
        match edit::add_step(&current.text, kind) {
            Ok((text, id)) => {
                let mut positions = current.positions.clone();
                // A hand-placed canvas gets the new node beside it; an automatic one lays it out.
                if !positions.is_empty() {
                    let right = layout.nodes.iter().map(|n| n.x).fold(-260.0, f64::max);
                    positions.insert(id.clone(), (right + 260.0, 20.0));
                }
                self.selected.set(vec![id]);
                self.set(Doc { text, positions }, false);
            }
            Err(e) => self.error.set(Some(e.0)),
        }
    }
}

/// A problem as the page lists it.
#[derive(Clone, Debug, PartialEq)]
struct Problem {
    code: String,
    message: String,
    path: String,
    line: Option<usize>,
}

fn problems_of_model(text: &str) -> Vec<Problem> {
    monstrum_model::load_workflow(text)
        .diagnostics
        .iter()
        .map(|d| Problem {
            code: d.code.to_string(),
            message: d.message.clone(),
            path: d.path_string(),
            line: d.location.map(|l| l.line),
        })
        .collect()
}

fn problems_of_server(diagnostics: &Value) -> Vec<Problem> {
    items(diagnostics)
        .iter()
        .map(|d| Problem {
            code: text(&d["code"]),
            message: text(&d["message"]),
            path: text(&d["path"]),
            line: d["line"].as_u64().map(|l| l as usize),
        })
        .collect()
}

/// Where the editor is with the server: the version the text was loaded or saved as, and that
/// text (a text that differs has unsaved changes).
#[derive(Clone, Debug, Default, PartialEq)]
struct Saved {
    exists: bool,
    version: Option<i64>,
    text: String,
}

/// The editor of workflow `name`; `new` starts an empty one that the first save creates.
#[component]
pub fn Editor(token: String, name: String, new: bool, can_edit: Signal<bool>) -> impl IntoView {
    let ed = Ed {
        doc: RwSignal::new(Doc::default()),
        history: RwSignal::new(History::default()),
        selected: RwSignal::new(Vec::new()),
        selected_edge: RwSignal::new(None),
        error: RwSignal::new(None),
    };
    let saved = RwSignal::new(None::<Saved>);
    let loading_error = RwSignal::new(None::<String>);
    // The server's checks of a text (the workspace's: bots, bindings, files).
    let checked = RwSignal::new(None::<(String, Vec<Problem>)>);
    let view = RwSignal::new(View::default());
    let direction = RwSignal::new(Direction::LeftRight);
    let versions_shown = RwSignal::new(0u32);

    // Load the file and its positions (or start an empty one).
    {
        let (token, name) = (token.clone(), name.clone());
        spawn_local(async move {
            if new {
                let _ = ed.doc.try_set(Doc { text: edit::new_workflow(&name), positions: Positions::new() });
                let _ = saved.try_set(Some(Saved::default()));
                return;
            }
            match call(Method::GET, &format!("/api/workflows/{name}"), &token, None).await {
                Ok(w) => {
                    let text = text(&w["text"]);
                    let placed = call(Method::GET, &format!("/api/workflows/{name}/layout"), &token, None).await;
                    let positions = placed
                        .ok()
                        .and_then(|l| l["positions"].as_array().cloned())
                        .into_iter()
                        .flatten()
                        .filter_map(|p| Some((p["step"].as_str()?.to_string(), (p["x"].as_f64()?, p["y"].as_f64()?))))
                        .collect();
                    let _ = checked.try_set(Some((text.clone(), problems_of_server(&w["diagnostics"]))));
                    let _ =
                        saved.try_set(Some(Saved { exists: true, version: w["version"].as_i64(), text: text.clone() }));
                    let _ = ed.doc.try_set(Doc { text, positions });
                }
                Err(e) => {
                    let _ = loading_error.try_set(Some(e.message));
                }
            }
        });
    }

    let current_text = Memo::new(move |_| ed.doc.with(|d| d.text.clone()));
    let outline = Memo::new(move |_| edit::outline(&current_text.get()));
    let auto = Memo::new(move |_| {
        let d = direction.get();
        outline.with(|o| o.as_ref().map(|steps| auto_positions(steps, d)).unwrap_or_default())
    });
    // What the checks say of the text now: the server's when it checked this very text, else
    // the model's, at once.
    let problems = Memo::new(move |_| {
        let text = current_text.get();
        match checked.get() {
            Some((t, p)) if t == text => p,
            _ => problems_of_model(&text),
        }
    });
    // The server checks each text once the user pauses (250 ms).
    {
        let token = token.clone();
        Effect::new(move |_| {
            let text = current_text.get();
            if saved.with_untracked(Option::is_none) || text.trim().is_empty() {
                return;
            }
            let token = token.clone();
            set_timeout(
                move || {
                    if current_text.try_get_untracked().as_ref() != Some(&text) {
                        return; // typed on since
                    }
                    spawn_local(async move {
                        let answer =
                            crate::api::call_text(Method::POST, "/api/workflows/validate", &token, &text).await;
                        if let Ok(v) = answer {
                            let _ = checked.try_set(Some((text, problems_of_server(&v["diagnostics"]))));
                        }
                    });
                },
                Duration::from_millis(250),
            );
        });
    }
    let shape = Memo::new(move |_| {
        let Ok(steps) = outline.get() else { return Layout::default() };
        let on_steps: Vec<(usize, String)> = problems
            .get()
            .iter()
            .filter_map(|p| Some((step_of(&p.path)?, format!("{}: {}", p.code, p.message))))
            .collect();
        ed.doc.with(|d| auto.with(|a| layout(&steps, &on_steps, &d.positions, a)))
    });

    // Moving nodes: the first move fixes every node where it is, so nothing jumps later.
    let moved = Callback::new(move |moves: Vec<(String, (f64, f64))>| {
        let mut next = ed.doc.get_untracked();
        if next.positions.is_empty() {
            next.positions = shape.with_untracked(|l| l.nodes.iter().map(|n| (n.id.clone(), (n.x, n.y))).collect());
        }
        next.positions.extend(moves);
        ed.set(next, false);
    });
    let connect = Callback::new(move |(from, to): (String, String)| {
        ed.change(|d| edit::connect(&d.text, &from, &to), false);
    });
    let editing = Editing { selected: ed.selected, selected_edge: ed.selected_edge, moved, connect, view, can_edit };

    // Positions are kept beside the file whenever they change (once the file exists).
    {
        let (token, name) = (token.clone(), name.clone());
        Effect::new(move |before: Option<Positions>| {
            let positions = ed.doc.with(|d| d.positions.clone());
            let exists = saved.with(|s| s.as_ref().is_some_and(|s| s.exists));
            if exists && before.as_ref().is_some_and(|b| *b != positions) && can_edit.get_untracked() {
                put_layout(token.clone(), name.clone(), positions.clone());
            }
            positions
        });
    }

    // Keys: Delete, undo/redo, copy/paste/duplicate; not while typing in a field, where only
    // undo and redo are the editor's (in the YAML view, whose edits are in the one history).
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        let target = ev.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok());
        let inside = |css: &str| target.as_ref().and_then(|e| e.closest(css).ok().flatten()).is_some();
        let (in_code, in_field) = (inside(".cm-editor"), inside("input, textarea, select"));
        if in_field || !can_edit.get_untracked() {
            return;
        }
        if in_code && !((ev.ctrl_key() || ev.meta_key()) && matches!(ev.key().as_str(), "z" | "Z" | "y")) {
            return;
        }
        let command = ev.ctrl_key() || ev.meta_key();
        let handled = match (command, ev.key().as_str()) {
            (false, "Delete" | "Backspace") => {
                ed.delete();
                true
            }
            (true, "z") if !ev.shift_key() => {
                ed.undo();
                true
            }
            (true, "y") | (true, "Z") | (true, "z") => {
                ed.redo();
                true
            }
            (true, "c") => ed.copy(),
            (true, "v") => {
                ed.paste(shape.get_untracked());
                true
            }
            (true, "d") => {
                if ed.copy() {
                    ed.paste(shape.get_untracked());
                }
                true
            }
            _ => false,
        };
        if handled {
            ev.prevent_default();
        }
    });
    on_cleanup(move || keys.remove());

    let save_message = RwSignal::new(String::new());
    let save = {
        let (token, name) = (token.clone(), name.clone());
        move || {
            let Some(s) = saved.get_untracked() else { return };
            let text = current_text.get_untracked();
            let positions = ed.doc.with_untracked(|d| d.positions.clone());
            let message = save_message.get_untracked();
            let (token, name) = (token.clone(), name.clone());
            spawn_local(async move {
                let answer = if s.exists {
                    let mut request = gloo_net::http::RequestBuilder::new(&format!("/api/workflows/{name}"))
                        .method(Method::PUT)
                        .header("Authorization", &format!("Bearer {token}"));
                    if let Some(v) = s.version {
                        request = request.header("If-Match", &format!("\"{v}\""));
                    }
                    crate::api::send(request, Some(&json!({ "text": text, "message": message }))).await
                } else {
                    let body = json!({ "name": name, "text": text, "message": message });
                    call(Method::POST, "/api/workflows", &token, Some(&body)).await
                };
                match answer {
                    Ok(v) => {
                        saved.set(Some(Saved { exists: true, version: v["version"].as_i64(), text: text.clone() }));
                        save_message.set(String::new());
                        ed.error.set(None);
                        if !positions.is_empty() {
                            put_layout(token, name, positions);
                        }
                        versions_shown.update(|n| *n += 1);
                    }
                    Err(Refused { status: 412, message, .. }) => ed.error.set(Some(format!(
                        "{message} Someone saved this workflow since you opened it: reload to see theirs (your text is still here)."
                    ))),
                    Err(e) => {
                        if !e.diagnostics.is_null() {
                            checked.set(Some((text, problems_of_server(&e.diagnostics))));
                        }
                        ed.error.set(Some(e.message));
                    }
                }
            });
        }
    };
    let dirty = move || saved.with(|s| s.as_ref().is_some_and(|s| !s.exists || s.text != current_text.get()));

    let toolbar = move || {
        let save = save.clone();
        let palette = edit::STEP_KINDS
            .iter()
            .map(|kind| {
                let label = match *kind {
                    "tool" => "+ Tool",
                    "llm" => "+ LLM",
                    "approval" => "+ Approval",
                    "delegate" => "+ Delegate",
                    _ => "+ Sub-workflow",
                };
                view! { <button class="plain add" data-kind=*kind on:click=move |_| ed.add(kind, &shape.get_untracked())>{label}</button> }
            })
            .collect_view();
        view! {
            <div class="toolbar">
                <span class="group">{palette}</span>
                <span class="group">
                    <button id="undo" class="plain" title="Undo (Ctrl+Z)" disabled=move || !ed.history.with(History::can_undo) on:click=move |_| ed.undo()>"Undo"</button>
                    <button id="redo" class="plain" title="Redo (Ctrl+Shift+Z)" disabled=move || !ed.history.with(History::can_redo) on:click=move |_| ed.redo()>"Redo"</button>
                    <button id="delete" class="plain" title="Delete" on:click=move |_| ed.delete()>"Delete"</button>
                    <button id="duplicate" class="plain" title="Duplicate (Ctrl+D)" on:click=move |_| { if ed.copy() { ed.paste(shape.get_untracked()) } }>"Duplicate"</button>
                </span>
                <span class="group">
                    <button id="layout-lr" class="plain" title="Lay out left to right" on:click=move |_| {
                        direction.set(Direction::LeftRight);
                        let mut next = ed.doc.get_untracked();
                        next.positions.clear();
                        ed.set(next, false);
                    }>"Layout →"</button>
                    <button id="layout-tb" class="plain" title="Lay out top to bottom" on:click=move |_| {
                        let mut next = ed.doc.get_untracked();
                        next.positions = outline.with_untracked(|o| o.as_ref().map(|s| auto_positions(s, Direction::TopBottom)).unwrap_or_default());
                        ed.set(next, false);
                    }>"Layout ↓"</button>
                </span>
                <span class="group save">
                    <input id="message" type="text" placeholder="What changed (optional)"
                        prop:value=move || save_message.get() on:input:target=move |ev| save_message.set(ev.target().value()) />
                    <button id="save" disabled=move || !dirty() on:click=move |_| save()>"Save"</button>
                </span>
            </div>
        }
    };
    let zoom = move |by: f64| {
        view.update(|v| {
            v.zoom = (v.zoom * by).clamp(0.05, 4.0);
        })
    };
    let fit = move || {
        let size = document()
            .get_element_by_id("board")
            .map(|b| (b.client_width() as f64, b.client_height() as f64))
            .unwrap_or((900.0, 520.0));
        view.set(View::fit(&shape.get_untracked(), size.0, size.1));
    };

    let yaml = YamlHandle::new();
    let marks = Signal::derive(move || {
        problems.with(|p| {
            p.iter()
                .map(|p| Mark { line: p.line.unwrap_or(1), message: format!("{}: {}", p.code, p.message) })
                .collect::<Vec<_>>()
        })
    });
    let problem_list = move || {
        problems
            .get()
            .into_iter()
            .map(|p| {
                let at = p.line.map(|l| format!(" line {l}")).unwrap_or_default();
                let line = p.line;
                view! {
                    <li on:click=move |_| if let Some(l) = line { yaml.go_to_line(l) }>
                        <code>{p.code}</code>{at}" · "<span class="path">{p.path}</span>": "{p.message}
                    </li>
                }
            })
            .collect_view()
    };
    let valid = move || problems.with(Vec::is_empty);
    let version = move || match saved.get() {
        Some(Saved { exists: false, .. }) => "new: not saved yet".to_string(),
        Some(Saved { version: Some(v), .. }) => format!("version {v}"),
        _ => "not a saved version".to_string(),
    };

    let name_for_run = name.clone();
    let token_for_run = token.clone();
    let run_form = RwSignal::new(false);
    view! {
        <h1>{name.clone()} {move || dirty().then(|| view! { <span class="dirty" id="dirty">" · unsaved"</span> })}</h1>
        {move || loading_error.get().map(|e| view! { <p class="error">{e}</p> })}
        <p>
            <span class="status-line">{move || status(if valid() { "valid".into() } else { "invalid".into() })}</span>
            " workflows/" {name.clone()} ".yaml · " <span id="version">{version}</span>
        </p>
        {move || can_edit.get().then(toolbar.clone())}
        {move || ed.error.get().map(|e| view! { <p class="error" id="edit-error">{e}</p> })}
        <div class="workspace">
            <div class="board" id="board">
                <Canvas layout=shape editing />
                <div class="zoom">
                    <button class="plain" id="zoom-in" title="Zoom in" on:click=move |_| zoom(1.2)>"+"</button>
                    <button class="plain" id="zoom-out" title="Zoom out" on:click=move |_| zoom(1.0 / 1.2)>"−"</button>
                    <button class="plain" id="fit" title="Fit the workflow in view" on:click=move |_| fit()>"Fit"</button>
                </div>
                {move || outline.get().err().map(|e| view! { <p class="canvas-note">{e.0}</p> })}
            </div>
            <Panel ed can_edit token=token.clone() />
        </div>
        <ul class="diagnostics" id="diagnostics">{problem_list}</ul>
        <div class="yaml-view">
            <h2>"YAML"</h2>
            <YamlView handle=yaml text=current_text problems=marks read_only=Signal::derive(move || !can_edit.get())
                on_edit=Callback::new(move |typed: String| ed.change(move |_| Ok(typed), true)) />
        </div>
        {move || {
            let (token, name) = (token_for_run.clone(), name_for_run.clone());
            let exists = saved.with(|s| s.as_ref().is_some_and(|s| s.exists));
            (can_edit.get() && exists).then(|| view! {
                <div class="actions">
                    <button id="run" disabled=dirty title=move || if dirty() { "Save first: a run runs the saved file" } else { "" }
                        on:click=move |_| run_form.set(true)>"Run…"</button>
                </div>
                {move || run_form.get().then(|| view! { <crate::inputs::RunForm token=token.clone() name=name.clone() text=current_text.get_untracked() on_close=Callback::new(move |_| run_form.set(false)) /> })}
            })
        }}
        {move || {
            let _ = versions_shown.get();
            let exists = saved.with(|s| s.as_ref().is_some_and(|s| s.exists));
            exists.then(|| view! { <Versions token=token.clone() name=name.clone() can_edit /> })
        }}
    }
}

fn put_layout(token: String, name: String, positions: Positions) {
    let body = json!({
        "positions": positions.into_iter().map(|(step, (x, y))| json!({ "step": step, "x": x, "y": y })).collect::<Vec<_>>()
    });
    spawn_local(async move {
        let _ = call(Method::PUT, &format!("/api/workflows/{name}/layout"), &token, Some(&body)).await;
    });
}

/// Opens the run `id`'s page.
pub fn open_run(id: &str) {
    go(&format!("#/runs/{id}"));
}
