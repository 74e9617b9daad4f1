//! A tool step's tool and parameters in the property panel. The tools offered are the ones the
//! step's bot sees, as the gate computes them (`GET /api/bots/{name}`, or `GET /api/tools` for a
//! step with no bot): never a list of the editor's own. The parameters form is generated from the
//! chosen tool's JSON Schema: a field per property (a choice for an `enum` or a boolean, YAML for
//! a list or a mapping), each written to `with.<property>`; a template (`{{ … }}`) is text in
//! any field.

use crate::api::call;
use crate::editor::Ed;
use crate::pages::text;
use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use monstrum_model::edit;
use serde_json::Value;
use std::collections::HashMap;

/// The tools a bot sees, as the API gives them (or why not).
pub type Tools = RwSignal<Option<Result<Vec<Value>, String>>>;

/// The tools `bot` sees (`None`: a step with no bot), read once per bot and page from the API.
/// The list belongs to `owner` (the panel), so it outlives the render that first asked for it.
pub fn visible_tools(
    cache: StoredValue<HashMap<Option<String>, Tools>>,
    owner: &Owner,
    token: String,
    bot: Option<String>,
) -> Tools {
    if let Some(known) = cache.with_value(|c| c.get(&bot).copied()) {
        return known;
    }
    let out: Tools = owner.with(|| RwSignal::new(None));
    cache.update_value(|c| {
        c.insert(bot.clone(), out);
    });
    spawn_local(async move {
        let answer = match &bot {
            Some(b) => call(Method::GET, &format!("/api/bots/{b}"), &token, None).await.map(|v| v["tools"].clone()),
            None => call(Method::GET, "/api/tools", &token, None).await,
        };
        let tools = answer.map(|v| v.as_array().cloned().unwrap_or_default()).map_err(|e| e.message);
        let _ = out.try_set(Some(tools));
    });
    out
}

/// What a property's field writes: text as a quoted string (so `3` typed for a string stays
/// text), anything else as YAML; a template is always text.
fn written(schema: &Value, typed: &str) -> Option<String> {
    let typed = typed.trim_end();
    if typed.trim().is_empty() {
        return None;
    }
    let is_text = schema["type"] == "string" || typed.contains("{{");
    Some(if is_text { serde_json::to_string(typed).expect("a string is JSON") } else { typed.to_string() })
}

#[component]
pub fn ToolForm(ed: Ed, id: String, bot: Option<String>, tools: Tools, can_edit: Signal<bool>) -> impl IntoView {
    let whose = bot.map(|b| format!("bot {b}")).unwrap_or_else(|| "a step with no bot".into());
    move || {
        let text_now = ed.doc.with(|d| d.text.clone());
        let current = edit::field_text(&text_now, &id, &["tool"]).unwrap_or_default();
        let list = match tools.get() {
            None => return view! { <p class="muted">"Loading the tools it sees…"</p> }.into_any(),
            Some(Err(e)) => return view! { <p class="error">{e}</p> }.into_any(),
            Some(Ok(list)) => list,
        };
        let chosen = list.iter().find(|t| t["name"] == current.as_str()).cloned();
        let mut options: Vec<AnyView> = list
            .iter()
            .map(|t| {
                let name = text(&t["name"]);
                let selected = name == current;
                view! { <option value=name.clone() selected=selected title=text(&t["description"])>{name.clone()}</option> }
                    .into_any()
            })
            .collect();
        if chosen.is_none() {
            let label = if current.is_empty() {
                "(choose a tool)".to_string()
            } else {
                format!("{current} (not seen by {whose})")
            };
            options.insert(0, view! { <option value=current.clone() selected=true>{label}</option> }.into_any());
        }
        let step = id.clone();
        let pick = move |name: String| {
            ed.change(
                |d| edit::set_field(&d.text, &step, &["tool"], Some(&serde_json::to_string(&name).expect("JSON"))),
                false,
            )
        };
        let properties =
            chosen.as_ref().and_then(|t| t["parameters"]["properties"].as_object().cloned()).unwrap_or_default();
        let required: Vec<String> = chosen
            .as_ref()
            .and_then(|t| t["parameters"]["required"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(text)
            .collect();
        let fields = properties
            .into_iter()
            .map(|(prop, schema)| {
                let value = edit::field_text(&text_now, &id, &["with", &prop]).unwrap_or_default();
                let (step, name) = (id.clone(), format!("with.{prop}"));
                let commit = {
                    let (schema, prop) = (schema.clone(), prop.clone());
                    move |typed: String| {
                        let value = written(&schema, &typed);
                        ed.change(|d| edit::set_field(&d.text, &step, &["with", &prop], value.as_deref()), false)
                    }
                };
                let mark = if required.contains(&prop) { " *" } else { "" };
                let hint = text(&schema["description"]);
                let choices: Option<Vec<String>> = match (&schema["enum"], &schema["type"]) {
                    (Value::Array(e), _) => Some(e.iter().map(text).collect()),
                    (_, t) if t == "boolean" => Some(vec!["true".into(), "false".into()]),
                    _ => None,
                };
                let kind = schema["type"].as_str().unwrap_or("any").to_string();
                let control = match choices {
                    Some(words) => {
                        let options = std::iter::once(String::new())
                            .chain(words)
                            .map(|w| view! { <option value=w.clone() selected=w == value>{w.clone()}</option> })
                            .collect_view();
                        view! { <select name=name disabled=move || !can_edit.get() on:change:target=move |ev| commit(ev.target().value())>{options}</select> }.into_any()
                    }
                    None if matches!(kind.as_str(), "object" | "array") => view! {
                        <textarea name=name class="yaml" rows="2" prop:value=value disabled=move || !can_edit.get()
                            on:change:target=move |ev| commit(ev.target().value())></textarea>
                    }
                    .into_any(),
                    None => view! {
                        <input type="text" name=name prop:value=value disabled=move || !can_edit.get()
                            on:change:target=move |ev| commit(ev.target().value()) />
                    }
                    .into_any(),
                };
                view! {
                    <label title=hint.clone()>
                        <span>{prop.clone()}{mark}" "<small>{kind}</small></span>
                        {control}
                    </label>
                }
            })
            .collect_view();
        let about = chosen.as_ref().map(|t| text(&t["description"])).unwrap_or_default();
        view! {
            <label>
                <span>"Tool (what " {whose.clone()} " sees)"</span>
                <select name="tool" disabled=move || !can_edit.get() on:change:target=move |ev| pick(ev.target().value())>{options}</select>
            </label>
            <p class="muted">{about}</p>
            <fieldset class="params"><legend>"Parameters"</legend>{fields}</fieldset>
        }
        .into_any()
    }
}
