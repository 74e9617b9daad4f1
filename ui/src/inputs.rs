//! Starting a run from the editor: a form of the workflow's declared `inputs`, each field by its
//! type (a number, a checkbox, JSON for a list or a mapping), its default shown; an input left
//! empty takes its default, and the server checks them all (a refusal is shown here).

use crate::api::call;
use crate::editor::open_run;
use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use monstrum_model::{InputSpec, InputType};
use serde_json::{Map, Value, json};

/// The value typed for an input of `kind`.
fn value_of(kind: Option<InputType>, typed: &str) -> Result<Value, String> {
    match kind {
        None | Some(InputType::String) => Ok(Value::String(typed.to_string())),
        Some(InputType::Boolean) => Ok(Value::Bool(typed == "true")),
        Some(_) => serde_json::from_str(typed).map_err(|e| format!("`{typed}` is not JSON: {e}")),
    }
}

#[component]
pub fn RunForm(token: String, name: String, text: String, on_close: Callback<()>) -> impl IntoView {
    let inputs: Vec<(String, InputSpec)> =
        monstrum_model::load_workflow(&text).value.map(|w| w.inputs.into_iter().collect()).unwrap_or_default();
    let typed: Vec<(String, Option<InputType>, RwSignal<String>)> = inputs
        .iter()
        .map(|(k, spec)| {
            let start = match (&spec.default, spec.kind) {
                (Some(Value::Bool(b)), _) => b.to_string(),
                (_, Some(InputType::Boolean)) => "false".into(),
                _ => String::new(),
            };
            (k.clone(), spec.kind, RwSignal::new(start))
        })
        .collect();
    let error = RwSignal::new(None::<String>);
    let title = format!("Run {name}");
    let start = {
        let typed = typed.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let mut values = Map::new();
            for (k, kind, v) in &typed {
                let v = v.get_untracked();
                if v.is_empty() {
                    continue; // its default, or the server says it is required
                }
                match value_of(*kind, &v) {
                    Ok(value) => {
                        values.insert(k.clone(), value);
                    }
                    Err(e) => return error.set(Some(format!("{k}: {e}"))),
                }
            }
            let (token, body) = (token.clone(), json!({ "workflow": name, "inputs": values }));
            spawn_local(async move {
                match call(Method::POST, "/api/runs", &token, Some(&body)).await {
                    Ok(run) => open_run(run["run"].as_str().unwrap_or_default()),
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let fields = inputs
        .into_iter()
        .zip(typed)
        .map(|((k, spec), (_, kind, value))| {
            let hint = match (&spec.default, kind) {
                (Some(d), _) => format!("default {d}"),
                (None, _) => "required".to_string(),
            };
            let kind_name = kind.map(|k| format!("{k:?}").to_lowercase()).unwrap_or_else(|| "string".into());
            let control = if kind == Some(InputType::Boolean) {
                view! {
                    <input type="checkbox" name=k.clone() prop:checked=move || value.get() == "true"
                        on:change:target=move |ev| value.set(ev.target().checked().to_string()) />
                }
                .into_any()
            } else {
                let input_type =
                    if matches!(kind, Some(InputType::Integer | InputType::Number)) { "number" } else { "text" };
                view! {
                    <input type=input_type name=k.clone() placeholder=hint.clone()
                        prop:value=move || value.get() on:input:target=move |ev| value.set(ev.target().value()) />
                }
                .into_any()
            };
            view! {
                <label>
                    <span>{k.clone()} " " <small>{kind_name}</small></span>
                    {control}
                    <small class="muted">{spec.description.clone().unwrap_or_default()}</small>
                </label>
            }
        })
        .collect_view();
    view! {
        <form class="run-form" id="run-form" on:submit=start>
            <h2>{title}</h2>
            {fields}
            <div class="actions">
                <button id="start" type="submit">"Start"</button>
                <button class="plain" type="button" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </form>
    }
}
