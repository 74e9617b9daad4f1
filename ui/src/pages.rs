//! The pages: signing in, the workflows, the runs, one run, the approvals inbox (the workflow
//! editor is `editor.rs`).

use crate::api::{self, Loaded, Refused, call, load};
use crate::canvas::{Canvas, Direction, Layout, Positions, auto_positions, layout};
use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};
use std::collections::HashMap;

/// `loaded` as a view: waiting, the server's refusal, or `show` of the answer.
pub fn shown(loaded: RwSignal<Loaded>, show: impl Fn(Value) -> AnyView + Send + Sync + 'static) -> impl IntoView {
    move || match loaded.get() {
        None => view! { <p class="loading">"Loading…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{e.message}</p> }.into_any(),
        Some(Ok(v)) => show(v),
    }
}

pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn status(s: String) -> impl IntoView {
    view! { <span class=format!("status {s}")>{s.clone()}</span> }
}

/// The items of a JSON list (none if it is not one).
pub fn items(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// A run id as lists show it: its first 8 characters.
fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Approve and Reject for the gate `step` of `run`; `then` runs after the server took the
/// decision, and a refusal goes to `error`.
fn decision_buttons(
    token: String,
    run: String,
    step: String,
    error: RwSignal<Option<String>>,
    then: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let decide = move |approve: bool| {
        let (token, path, then) = (token.clone(), format!("/api/runs/{run}/approvals/{step}"), then.clone());
        spawn_local(async move {
            match call(Method::POST, &path, &token, Some(&json!({ "approve": approve }))).await {
                Ok(_) => then(),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let (yes, no) = (decide.clone(), decide);
    view! {
        <div class="actions">
            <button class="approve" on:click=move |_| yes(true)>"Approve"</button>
            <button class="reject plain" on:click=move |_| no(false)>"Reject"</button>
        </div>
    }
}

pub fn go(hash: &str) {
    let _ = window().location().set_hash(hash);
}

#[component]
pub fn SignIn(token: RwSignal<Option<String>>) -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = typed.get_untracked().trim().to_string();
        spawn_local(async move {
            match call(Method::GET, "/api/workflows", &t, None).await {
                Ok(_) => {
                    api::store_token(Some(&t));
                    token.set(Some(t));
                }
                Err(Refused { status: 401, .. }) => {
                    error.set(Some("That token is not valid: make one with `monstrum token create`.".into()))
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <form class="login" on:submit=submit>
            <h1>"Monstrum"</h1>
            <p>"Paste an API token (" <code>"monstrum token create --role viewer"</code> "). This tab keeps it until it is closed."</p>
            <input id="token" type="password" placeholder="mst_…" autocomplete="off"
                prop:value=move || typed.get()
                on:input:target=move |ev| typed.set(ev.target().value()) />
            <button id="sign-in" type="submit">"Sign in"</button>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </form>
    }
}

#[component]
pub fn Workflows(token: String, can_edit: Signal<bool>) -> impl IntoView {
    let list = load("/api/workflows".into(), token);
    let typed = RwSignal::new(String::new());
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = typed.get_untracked().trim().to_string();
        if !name.is_empty() {
            go(&format!("#/new/{name}"));
        }
    };
    view! {
        <h1>"Workflows"</h1>
        {move || can_edit.get().then(|| view! {
            <form class="new" on:submit=create>
                <input id="new-name" type="text" placeholder="new-workflow" pattern="[A-Za-z0-9_-]{1,128}"
                    title="letters, digits, - and _" prop:value=move || typed.get()
                    on:input:target=move |ev| typed.set(ev.target().value()) />
                <button id="new" type="submit">"New workflow"</button>
            </form>
        })}
        {shown(list, |v| {
            let rows = items(&v).into_iter().map(|w| {
                let name = text(&w["name"]);
                view! {
                    <tr>
                        <td><a href=format!("#/workflows/{name}")>{name.clone()}</a></td>
                        <td>{text(&w["file"])}</td>
                    </tr>
                }
            }).collect_view();
            view! {
                <table id="workflows">
                    <thead><tr><th>"Name"</th><th>"File"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }.into_any()
        })}
    }
}

/// The canvas of a workflow's text as it ran, laid out (no problems marked: it ran).
fn layout_of(text: &str) -> Option<Layout> {
    let steps = monstrum_model::edit::outline(text).ok()?;
    Some(layout(&steps, &[], &Positions::new(), &auto_positions(&steps, Direction::LeftRight)))
}

#[component]
pub fn Runs(token: String) -> impl IntoView {
    let list = load("/api/runs".into(), token);
    view! {
        <h1>"Runs"</h1>
        {shown(list, |v| {
            let rows = items(&v).into_iter().map(|r| {
                let id = text(&r["id"]);
                view! {
                    <tr>
                        <td><a href=format!("#/runs/{id}")><code>{short(&id)}</code></a></td>
                        <td>{text(&r["workflow"])}</td>
                        <td>{status(text(&r["status"]))}</td>
                        <td>{text(&r["started_by"])}</td>
                    </tr>
                }
            }).collect_view();
            view! {
                <table id="runs">
                    <thead><tr><th>"Run"</th><th>"Workflow"</th><th>"Status"</th><th>"Started by"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }.into_any()
        })}
    }
}

/// Reads a run's detail into `detail` again; reads asked for while one is under way become one
/// more read after it (a burst of events is two reads, not one per event).
#[derive(Clone, Copy)]
struct Refresh {
    detail: RwSignal<Loaded>,
    /// (a read is under way, another is wanted after it)
    state: StoredValue<(bool, bool)>,
}

impl Refresh {
    fn run(self, id: String, token: String) {
        let busy = self.state.try_update_value(|s| {
            let busy = s.0;
            if busy {
                s.1 = true
            } else {
                s.0 = true
            }
            busy
        });
        if busy != Some(false) {
            return; // under way (it reads again after), or the page is gone
        }
        spawn_local(async move {
            let answer = call(Method::GET, &format!("/api/runs/{id}"), &token, None).await;
            // An unchanged answer leaves the page as it is: re-rendering it would replace the
            // buttons under the user's pointer (a click landing mid-render was lost).
            let same = self.detail.try_with_untracked(|shown| match (shown, &answer) {
                (Some(Ok(a)), Ok(b)) => a == b,
                _ => false,
            });
            if same == Some(false) {
                let _ = self.detail.try_set(Some(answer));
            }
            let again = self.state.try_update_value(|s| std::mem::replace(s, (false, false)).1);
            if again == Some(true) {
                self.run(id, token);
            }
        });
    }
}

#[component]
pub fn Run(token: String, id: String, can_decide: Signal<bool>) -> impl IntoView {
    let detail = RwSignal::new(None);
    let refresh = Refresh { detail, state: StoredValue::new((false, false)) };
    // Set by a decision made here: the stream is asked again at once.
    let kick = StoredValue::new(false);
    refresh.run(id.clone(), token.clone());
    // Live: each event of the run's stream reads its detail again; the stream ends after the
    // run's end (or when the page is left), and a last read follows.
    {
        let (id, token) = (id.clone(), token.clone());
        spawn_local(async move {
            let path = format!("/api/runs/{id}/events");
            let on_event = |_event| refresh.run(id.clone(), token.clone());
            let alive = move || detail.try_get_untracked().is_some();
            let kicked = move || kick.try_update_value(|k| std::mem::take(k)).unwrap_or(false);
            crate::events::follow(path, token.clone(), on_event, alive, kicked).await;
            refresh.run(id.clone(), token.clone());
        });
    }
    // The run's workflow as a canvas, each node coloured by its step's status.
    // The workflow is read once, when the run's first detail names it.
    let shape = RwSignal::new(None::<Layout>);
    {
        let token = token.clone();
        let asked = StoredValue::new(false);
        Effect::new(move |_| {
            let Some(name) = detail.with(|d| match d {
                Some(Ok(d)) => Some(text(&d["run"]["workflow"])),
                _ => None,
            }) else {
                return;
            };
            if asked.get_value() {
                return;
            }
            asked.set_value(true);
            let token = token.clone();
            spawn_local(async move {
                if let Ok(w) = call(Method::GET, &format!("/api/workflows/{name}"), &token, None).await {
                    let _ = shape.try_set(w["text"].as_str().and_then(layout_of));
                }
            });
        });
    }
    let statuses = Signal::derive(move || {
        let Some(Ok(d)) = detail.get() else { return HashMap::new() };
        d["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| (text(&s["step_key"]), text(&s["status"])))
            .collect::<HashMap<String, String>>()
    });
    let error = RwSignal::new(None::<String>);
    // The run's audit records, read again when the run's detail changes.
    let trail = RwSignal::<Loaded>::new(None);
    {
        let (id, token) = (id.clone(), token.clone());
        Effect::new(move |_| {
            detail.track();
            let (id, token) = (id.clone(), token.clone());
            spawn_local(async move {
                let answer = call(Method::GET, &format!("/api/audit?run={id}&limit=500"), &token, None).await;
                let _ = trail.try_set(Some(answer));
            });
        });
    }
    view! {
        {shown(detail, move |d| {
            let run = &d["run"];
            let steps = items(&d["steps"]).into_iter().map(|s| {
                view! {
                    <tr class="step" data-step=text(&s["step_key"])>
                        <td>{text(&s["step_key"])}</td>
                        <td>{status(text(&s["status"]))}</td>
                        <td>{text(&s["attempts"])}</td>
                        <td>{duration(&s["started_at"], &s["finished_at"])}</td>
                        <td><code>{s.get("output").filter(|o| !o.is_null()).map(|o| o.to_string()).unwrap_or_default()}</code></td>
                        <td class="error">{text(&s["error"])}</td>
                    </tr>
                }
            }).collect_view();
            let gates = items(&d["waiting"]).into_iter().map(|g| {
                let step = text(&g["step_id"]);
                // After the decision, the page shows it at once (the stream brings the rest).
                let again = {
                    let (token, id) = (token.clone(), id.clone());
                    move || {
                        kick.set_value(true);
                        refresh.run(id.clone(), token.clone())
                    }
                };
                view! {
                    <div class="gate">
                        <p><strong>{step.clone()}</strong>": "{text(&g["message"])}</p>
                        {can_decide.get_untracked().then(|| decision_buttons(token.clone(), id.clone(), step, error, again))}
                    </div>
                }
            }).collect_view();
            view! {
                <h1>{text(&run["workflow"])} " " <code>{short(&text(&run["id"]))}</code></h1>
                <p id="run-status">{status(text(&run["status"]))} " started by " {text(&run["started_by"])}</p>
                {gates}
                {move || shape.get().map(|layout| view! { <Canvas layout status=statuses /> })}
                <table id="steps">
                    <thead><tr><th>"Step"</th><th>"Status"</th><th>"Attempts"</th><th>"Time"</th><th>"Output"</th><th>"Error"</th></tr></thead>
                    <tbody>{steps}</tbody>
                </table>
                {model_requests(&d["llm_requests"])}
            }.into_any()
        })}
        {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        <h2>"Audit records"</h2>
        {shown(trail, |v| {
            let rows = items(&v).into_iter().map(|r| view! {
                <tr>
                    <td>{text(&r["seq"])}</td>
                    <td>{text(&r["kind"])}</td>
                    <td>{text(&r["step"])}</td>
                    <td><code>{text(&r["tool"])}</code></td>
                    <td>{status(text(&r["decision"]))}</td>
                    <td>{text(&r["reason"])}</td>
                </tr>
            }).collect_view();
            view! {
                <table id="run-audit">
                    <thead><tr><th>"Seq"</th><th>"Kind"</th><th>"Step"</th><th>"Tool"</th><th>"Decision"</th><th>"Why"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }.into_any()
        })}
    }
}

/// How long a step took, from its record's times (ms since 1970).
fn duration(started: &Value, finished: &Value) -> String {
    match (started.as_i64(), finished.as_i64()) {
        (Some(a), Some(b)) if b >= a => format!("{} ms", b - a),
        _ => String::new(),
    }
}

/// The model requests of a run: step, model, tokens, and an error if one failed.
fn model_requests(requests: &Value) -> Option<impl IntoView + use<>> {
    let list = items(requests);
    (!list.is_empty()).then(|| {
        let rows = list
            .into_iter()
            .map(|r| {
                view! {
                    <tr>
                        <td>{text(&r["step_key"])}</td>
                        <td>{format!("{}/{}", text(&r["provider"]), text(&r["model"]))}</td>
                        <td>{format!("{} in, {} out", text(&r["input_tokens"]), text(&r["output_tokens"]))}</td>
                        <td class="error">{text(&r["error"])}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <h2>"Model requests"</h2>
            <table id="model-requests">
                <thead><tr><th>"Step"</th><th>"Model"</th><th>"Tokens"</th><th>"Error"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    })
}

/// The gates waiting for a decision, each decided in place; the list is read again after each.
#[component]
pub fn Approvals(token: String, can_decide: Signal<bool>) -> impl IntoView {
    let pending = RwSignal::new(None);
    let reload = {
        let token = token.clone();
        move || {
            let token = token.clone();
            spawn_local(async move {
                let _ = pending.try_set(Some(call(Method::GET, "/api/approvals", &token, None).await));
            });
        }
    };
    reload();
    let error = RwSignal::new(None::<String>);
    view! {
        <h1>"Approvals"</h1>
        {shown(pending, move |v| {
            let gates = items(&v);
            if gates.is_empty() {
                return view! { <p id="no-approvals">"Nothing waits for a decision."</p> }.into_any();
            }
            let rows = gates.into_iter().map(|g| {
                let (run, step) = (text(&g["run_id"]), text(&g["step_id"]));
                let buttons = can_decide
                    .get_untracked()
                    .then(|| decision_buttons(token.clone(), run.clone(), step.clone(), error, reload.clone()));
                view! {
                    <tr class="pending" data-step=step.clone()>
                        <td><a href=format!("#/runs/{run}")><code>{short(&run)}</code></a></td>
                        <td>{step.clone()}</td>
                        <td>{text(&g["message"])}</td>
                        <td>{buttons}</td>
                    </tr>
                }
            }).collect_view();
            view! {
                <table id="approvals">
                    <thead><tr><th>"Run"</th><th>"Step"</th><th>"Asks"</th><th></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }.into_any()
        })}
        {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
    }
}
