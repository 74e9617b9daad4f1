//! A workflow's saved versions: who saved which and why, a diff between any two (the text and
//! the steps added, removed and changed), and a rollback, which saves an old text as the newest
//! version.

use crate::api::{call, load};
use crate::pages::{items, shown, text};
use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};

/// A time the store gives (milliseconds since 1970) as the browser's locale writes it.
fn when(ms: &Value) -> String {
    let Some(ms) = ms.as_f64() else { return String::new() };
    let date = js_sys::Date::new(&ms.into());
    date.to_locale_string("default", &Default::default()).into()
}

#[component]
pub fn Versions(token: String, name: String, can_edit: Signal<bool>) -> impl IntoView {
    let list = load(format!("/api/workflows/{name}/versions"), token.clone());
    let from = RwSignal::new(None::<i64>);
    let to = RwSignal::new(None::<i64>);
    let diff = RwSignal::new(None::<Result<Value, String>>);
    let compare = {
        let (token, name) = (token.clone(), name.clone());
        move || {
            let (Some(a), Some(b)) = (from.get_untracked(), to.get_untracked()) else { return };
            let (token, name) = (token.clone(), name.clone());
            spawn_local(async move {
                let answer =
                    call(Method::GET, &format!("/api/workflows/{name}/diff?from={a}&to={b}"), &token, None).await;
                diff.set(Some(answer.map_err(|e| e.message)));
            });
        }
    };
    let rollback = move |version: i64| {
        let (token, name) = (token.clone(), name.clone());
        spawn_local(async move {
            let body = json!({ "version": version });
            match call(Method::POST, &format!("/api/workflows/{name}/rollback"), &token, Some(&body)).await {
                // The editor reads the file again: the rollback is its newest version now.
                Ok(_) => {
                    let _ = window().location().reload();
                }
                Err(e) => diff.set(Some(Err(e.message))),
            }
        });
    };
    view! {
        <section class="versions" id="versions">
            <h2>"Versions"</h2>
            {shown(list, move |v| {
                let rows = items(&v).into_iter().map(|r| {
                    let n = r["version"].as_i64().unwrap_or_default();
                    let back = rollback.clone();
                    view! {
                        <tr data-version=n>
                            <td><input type="radio" name="from" on:change=move |_| from.set(Some(n)) /></td>
                            <td><input type="radio" name="to" on:change=move |_| to.set(Some(n)) /></td>
                            <td>{n}</td>
                            <td>{text(&r["author"])}</td>
                            <td>{text(&r["message"])}</td>
                            <td>{when(&r["created_at"])}</td>
                            <td>{move || can_edit.get().then(|| {
                                let back = back.clone();
                                view! { <button class="plain rollback" on:click=move |_| back(n)>"Roll back to this"</button> }
                            })}</td>
                        </tr>
                    }
                }).collect_view();
                view! {
                    <table>
                        <thead><tr><th>"From"</th><th>"To"</th><th>"Version"</th><th>"By"</th><th>"Message"</th><th>"Saved"</th><th></th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }.into_any()
            })}
            <div class="actions">
                <button class="plain" id="compare" disabled=move || from.get().is_none() || to.get().is_none() on:click=move |_| compare()>"Compare"</button>
            </div>
            {move || diff.get().map(|d| match d {
                Ok(d) => {
                    let steps = |key: &str| items(&d[key]).iter().map(text).collect::<Vec<_>>().join(", ");
                    view! {
                        <p class="diff-steps">
                            "Added: " {steps("added")} " · removed: " {steps("removed")} " · changed: " {steps("changed")}
                        </p>
                        <pre class="diff" id="diff">{text(&d["text"])}</pre>
                    }.into_any()
                }
                Err(e) => view! { <p class="error">{e}</p> }.into_any(),
            })}
        </section>
    }
}
