//! The audit trail: the newest records, filtered by run, bot, tool, decision and kind, a page
//! older at a time, and the hash chain verified on demand.

use crate::api::{Loaded, call};
use crate::pages::{items, shown, status, text};
use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// The filters, as the API takes them.
const FILTERS: &[(&str, &str)] = &[
    ("run", "Run id"),
    ("bot", "Bot"),
    ("tool", "Tool"),
    ("decision", "Decision (allowed, denied, …)"),
    ("kind", "Kind (tool_call, model_request, …)"),
];

fn query(filters: &[(&'static str, RwSignal<String>)], cursor: Option<i64>) -> String {
    let mut parts: Vec<String> = filters
        .iter()
        .filter(|(_, v)| !v.get_untracked().trim().is_empty())
        .map(|(k, v)| format!("{k}={}", js_sys::encode_uri_component(v.get_untracked().trim())))
        .collect();
    parts.push("limit=100".into());
    if let Some(c) = cursor {
        parts.push(format!("cursor={c}"));
    }
    format!("/api/audit?{}", parts.join("&"))
}

#[component]
pub fn Audit(token: String) -> impl IntoView {
    let filters: Vec<(&'static str, RwSignal<String>)> =
        FILTERS.iter().map(|(k, _)| (*k, RwSignal::new(String::new()))).collect();
    let page = RwSignal::<Loaded>::new(None);
    let verified = RwSignal::<Loaded>::new(None);
    let read = {
        let (token, filters) = (token.clone(), filters.clone());
        move |cursor: Option<i64>| {
            let (token, path) = (token.clone(), query(&filters, cursor));
            spawn_local(async move {
                let _ = page.try_set(Some(call(Method::GET, &path, &token, None).await));
            });
        }
    };
    read(None);
    let verify = move |_| {
        let token = token.clone();
        spawn_local(async move {
            let _ = verified.try_set(Some(call(Method::GET, "/api/audit/verify", &token, None).await));
        });
    };
    let inputs = FILTERS
        .iter()
        .zip(filters.iter())
        .map(|((key, label), (_, value))| {
            let value = *value;
            view! {
                <label><span>{*label}</span>
                    <input type="text" name=*key prop:value=move || value.get() on:input:target=move |ev| value.set(ev.target().value()) /></label>
            }
        })
        .collect_view();
    let (apply, older) = (read.clone(), read);
    view! {
        <h1>"Audit"</h1>
        <form class="filters" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); apply(None) }>
            {inputs}
            <button type="submit" id="filter">"Show"</button>
            <button type="button" class="plain" id="verify" on:click=verify>"Verify the chain"</button>
        </form>
        {move || verified.get().map(|v| match v {
            Ok(v) => {
                let intact = v["intact"].as_bool().unwrap_or(false);
                let line = format!("{} records; the chain is {}", text(&v["records"]), if intact { "intact" } else { "broken" });
                view! { <p id="verified">{status(if intact { "valid".into() } else { "invalid".into() })} " " {line} " " <code>{if intact { String::new() } else { v["problems"].to_string() }}</code></p> }.into_any()
            }
            Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
        })}
        {shown(page, move |v| {
            let records = items(&v);
            let first = records.first().and_then(|r| r["seq"].as_i64());
            let rows = records.into_iter().map(|r| {
                view! {
                    <tr>
                        <td>{text(&r["seq"])}</td>
                        <td>{text(&r["kind"])}</td>
                        <td>{text(&r["bot"])}</td>
                        <td><code>{text(&r["tool"])}</code></td>
                        <td>{status(text(&r["decision"]))}</td>
                        <td>{text(&r["reason"])}</td>
                        <td><a href=format!("#/runs/{}", text(&r["run"]))><code>{text(&r["run"]).chars().take(8).collect::<String>()}</code></a></td>
                    </tr>
                }
            }).collect_view();
            let older = older.clone();
            view! {
                <table id="audit">
                    <thead><tr><th>"Seq"</th><th>"Kind"</th><th>"Bot"</th><th>"Tool"</th><th>"Decision"</th><th>"Why"</th><th>"Run"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
                {first.filter(|s| *s > 1).map(|s| view! {
                    <div class="actions"><button class="plain" id="older" on:click=move |_| older(Some(s))>"Older"</button></div>
                })}
            }.into_any()
        })}
    }
}
