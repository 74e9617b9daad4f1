//! Bots and plugins as the workspace has them: a bot's bindings, the tools it sees (the gate's
//! visibility, with their schemas) and its budget's use this period; a plugin's manifest (tools
//! and their schemas and scope rules, credentials, config), and for an admin a form that writes
//! its credentials to the vault (never shown back) and gives the binding to put in a bot's file.

use crate::api::{call, load};
use crate::pages::{items, shown, text};
use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A tool and its schema, folded.
fn tool_row(t: &Value) -> impl IntoView + use<> {
    let (name, about, schema) = (text(&t["name"]), text(&t["description"]), pretty(&t["parameters"]));
    view! {
        <details class="tool" data-tool=name.clone()>
            <summary><code>{name.clone()}</code> " " <span class="muted">{about}</span></summary>
            <pre class="schema">{schema}</pre>
        </details>
    }
}

#[component]
pub fn Bots(token: String) -> impl IntoView {
    let list = load("/api/bots".into(), token);
    view! {
        <h1>"Bots"</h1>
        {shown(list, |v| {
            let rows = items(&v).into_iter().map(|b| {
                let name = text(&b["name"]);
                view! {
                    <tr>
                        <td><a href=format!("#/bots/{name}")>{name.clone()}</a></td>
                        <td>{text(&b["description"])}</td>
                    </tr>
                }
            }).collect_view();
            view! {
                <table id="bots"><thead><tr><th>"Bot"</th><th>"What it does"</th></tr></thead><tbody>{rows}</tbody></table>
            }.into_any()
        })}
    }
}

#[component]
pub fn Bot(token: String, name: String) -> impl IntoView {
    let bot = load(format!("/api/bots/{name}"), token);
    view! {
        <h1>"Bot " {name.clone()}</h1>
        {shown(bot, |v| {
            let file = &v["bot"];
            let bindings = items(&file["resources"]).into_iter().map(|r| {
                let instance = r["instance"].as_str().map(str::to_string).unwrap_or_else(|| text(&r["plugin"]));
                view! {
                    <tr>
                        <td><code>{instance}</code></td>
                        <td><a href=format!("#/plugins/{}", text(&r["plugin"]))>{text(&r["plugin"])}</a></td>
                        <td>{items(&r["tools"]).iter().map(text).collect::<Vec<_>>().join(", ")}</td>
                        <td><code>{if r["scope"].is_null() { String::new() } else { r["scope"].to_string() }}</code></td>
                    </tr>
                }
            }).collect_view();
            let budget = (!v["budget"].is_null()).then(|| {
                let b = &v["budget"];
                let limit = |used: String, limit: &Value| if limit.is_null() { used } else { format!("{used} of {}", text(limit)) };
                view! {
                    <p id="budget">
                        "Budget (" {text(&b["account"])} "): "
                        {limit(text(&b["tokens"]), &b["tokens_limit"])} " tokens, $"
                        {limit(format!("{:.4}", b["usd"].as_f64().unwrap_or(0.0)), &b["usd_limit"])}
                    </p>
                }
            });
            let problem = (!v["problem"].is_null()).then(|| view! { <p class="error">{text(&v["problem"])}</p> });
            let tools = items(&v["tools"]).iter().map(tool_row).collect_view();
            view! {
                <p>{text(&file["description"])}</p>
                {problem}
                {budget}
                <h2>"Bindings"</h2>
                <table id="bindings"><thead><tr><th>"Instance"</th><th>"Plugin"</th><th>"Tools"</th><th>"Scope"</th></tr></thead><tbody>{bindings}</tbody></table>
                <h2>"Tools it sees"</h2>
                <div id="tools">{tools}</div>
            }.into_any()
        })}
    }
}

#[component]
pub fn Plugins(token: String) -> impl IntoView {
    let list = load("/api/plugins".into(), token);
    view! {
        <h1>"Plugins"</h1>
        {shown(list, |v| {
            let rows = items(&v).into_iter().map(|p| {
                let name = text(&p["name"]);
                view! {
                    <tr>
                        <td><a href=format!("#/plugins/{name}")>{name.clone()}</a></td>
                        <td>{text(&p["version"])}</td>
                        <td>{text(&p["source"])}</td>
                        <td>{text(&p["manifest"]["description"])}</td>
                    </tr>
                }
            }).collect_view();
            view! {
                <table id="plugins"><thead><tr><th>"Plugin"</th><th>"Version"</th><th>"Source"</th><th>"What it does"</th></tr></thead><tbody>{rows}</tbody></table>
            }.into_any()
        })}
    }
}

#[component]
pub fn Plugin(token: String, name: String, is_admin: Signal<bool>) -> impl IntoView {
    let plugin = load(format!("/api/plugins/{name}"), token.clone());
    view! {
        <h1>"Plugin " {name.clone()}</h1>
        {shown(plugin, move |v| {
            let m = v["manifest"].clone();
            let tools = items(&m["tools"]).iter().map(tool_row).collect_view();
            let credentials = m["credentials"].as_object().cloned().unwrap_or_default();
            let config = m["config"].as_object().cloned().unwrap_or_default();
            let token = token.clone();
            view! {
                <p>{text(&m["description"])} " · " {text(&v["version"])} " · " {text(&v["source"])}</p>
                <h2>"Tools"</h2>
                <div id="tools">{tools}</div>
                {move || is_admin.get().then(|| view! { <BindingForm token=token.clone() plugin=text(&m["name"]) credentials=credentials.clone() config=config.clone() /> })}
            }.into_any()
        })}
    }
}

/// For an admin: each credential field's secret, written to the vault under a name (and never
/// read back), and the config fields, giving the binding a bot's file takes.
#[component]
fn BindingForm(
    token: String,
    plugin: String,
    credentials: serde_json::Map<String, Value>,
    config: serde_json::Map<String, Value>,
) -> impl IntoView {
    let names: Vec<(String, RwSignal<String>, RwSignal<String>)> = credentials
        .keys()
        .map(|field| (field.clone(), RwSignal::new(format!("{plugin}-{field}")), RwSignal::new(String::new())))
        .collect();
    let values: Vec<(String, Value, RwSignal<String>)> = config
        .iter()
        .map(|(k, spec)| {
            let start = if spec["default"].is_null() { String::new() } else { text(&spec["default"]) };
            (k.clone(), spec.clone(), RwSignal::new(start))
        })
        .collect();
    let said = RwSignal::new(None::<Result<String, String>>);
    let store = {
        let names = names.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            for (field, name, typed) in names.clone() {
                let (name, secret) = (name.get_untracked(), typed.get_untracked());
                if secret.is_empty() {
                    continue;
                }
                typed.set(String::new()); // the page keeps no secret once it is sent
                let token = token.clone();
                spawn_local(async move {
                    let answer =
                        call(Method::PUT, &format!("/api/vault/{name}"), &token, Some(&json!({ "value": secret })))
                            .await;
                    said.set(Some(match answer {
                        Ok(_) => Ok(format!("{field}: stored in the vault as {name}")),
                        Err(e) => Err(format!("{field}: {}", e.message)),
                    }));
                });
            }
        }
    };
    let binding = {
        let (names, values, plugin) = (names.clone(), values.clone(), plugin.clone());
        move || {
            let mut b = serde_json::Map::new();
            b.insert("plugin".into(), plugin.clone().into());
            match names.as_slice() {
                [] => {}
                [(_, name, _)] => {
                    b.insert("credential".into(), name.get().into());
                }
                many => {
                    let map = many.iter().map(|(f, n, _)| (f.clone(), Value::from(n.get()))).collect();
                    b.insert("credentials".into(), Value::Object(map));
                }
            }
            let config: serde_json::Map<String, Value> = values
                .iter()
                .filter(|(_, _, v)| !v.get().is_empty())
                .map(|(k, spec, v)| {
                    let typed = v.get();
                    let value = if spec["type"] == "string" {
                        Value::from(typed)
                    } else {
                        serde_json::from_str(&typed).unwrap_or(Value::from(typed))
                    };
                    (k.clone(), value)
                })
                .collect();
            if !config.is_empty() {
                b.insert("config".into(), Value::Object(config));
            }
            format!("resources:\n  - {}", serde_json::to_string(&Value::Object(b)).unwrap_or_default())
        }
    };
    let secret_fields = names
        .iter()
        .map(|(field, name, secret)| {
            let (name, secret) = (*name, *secret);
            view! {
                <fieldset>
                    <legend>{field.clone()}</legend>
                    <label><span>"Vault entry"</span><input type="text" name=format!("vault.{field}") prop:value=move || name.get() on:input:target=move |ev| name.set(ev.target().value()) /></label>
                    <label><span>"Secret (written to the vault, never shown again)"</span>
                        <input type="password" autocomplete="off" name=format!("secret.{field}") prop:value=move || secret.get() on:input:target=move |ev| secret.set(ev.target().value()) /></label>
                </fieldset>
            }
        })
        .collect_view();
    let config_fields = values
        .iter()
        .map(|(k, spec, v)| {
            let v = *v;
            view! {
                <label><span>{k.clone()} " " <small>{text(&spec["type"])}</small> " " <small class="muted">{text(&spec["description"])}</small></span>
                    <input type="text" name=format!("config.{k}") prop:value=move || v.get() on:input:target=move |ev| v.set(ev.target().value()) /></label>
            }
        })
        .collect_view();
    view! {
        <form class="binding panel" id="binding-form" on:submit=store>
            <h2>"Bind it"</h2>
            {secret_fields}
            {config_fields}
            <button type="submit" id="store-secrets">"Store the secrets"</button>
            {move || said.get().map(|s| match s {
                Ok(m) => view! { <p class="ok" id="stored">{m}</p> }.into_any(),
                Err(e) => view! { <p class="error">{e}</p> }.into_any(),
            })}
            <p class="muted">"The binding for a bot's file:"</p>
            <pre id="binding">{binding}</pre>
        </form>
    }
}
