//! The visual editor, client side (Leptos, compiled to WebAssembly and served by `monstrum serve`
//! at `/`). Its only way to the workspace is the API under `/api`, with the token the user pastes
//! once (kept in the tab's session storage): signing in, the workflows and their editor
//! (canvas, palette, property panel, YAML, undo, save, versions, run), the runs, a run's steps
//! followed live with its gates decided in place, and the approvals inbox. Controls the token's
//! role may not use are not shown (`GET /api/me`); the API refuses them anyway.

mod api;
mod audit;
mod canvas;
mod catalog;
mod editor;
mod events;
mod history;
mod inputs;
mod pages;
mod panel;
mod tool_form;
mod versions;
mod yaml_view;

use leptos::prelude::*;
use wasm_bindgen::prelude::wasm_bindgen;

/// Where the user is: the part of the URL after `#`.
#[derive(Clone, Debug, PartialEq)]
pub enum Page {
    Workflows,
    Workflow(String),
    /// A workflow that does not exist yet: the first save creates it.
    New(String),
    Runs,
    Run(String),
    Approvals,
    Bots,
    Bot(String),
    Plugins,
    Plugin(String),
    Audit,
}

impl Page {
    fn of(hash: &str) -> Page {
        let path = hash.trim_start_matches('#').trim_matches('/');
        match path.split('/').collect::<Vec<_>>().as_slice() {
            ["workflows", name] => Page::Workflow(name.to_string()),
            ["new", name] => Page::New(name.to_string()),
            ["runs"] => Page::Runs,
            ["runs", id] => Page::Run(id.to_string()),
            ["approvals"] => Page::Approvals,
            ["bots"] => Page::Bots,
            ["bots", name] => Page::Bot(name.to_string()),
            ["plugins"] => Page::Plugins,
            ["plugins", name] => Page::Plugin(name.to_string()),
            ["audit"] => Page::Audit,
            _ => Page::Workflows,
        }
    }

    fn now() -> Page {
        Page::of(&window().location().hash().unwrap_or_default())
    }
}

#[component]
fn App() -> impl IntoView {
    let token = RwSignal::new(api::stored_token());
    let page = RwSignal::new(Page::now());
    let listener = window_event_listener(leptos::ev::hashchange, move |_| page.set(Page::now()));
    on_cleanup(move || listener.remove());
    move || match token.get() {
        None => view! { <pages::SignIn token /> }.into_any(),
        Some(t) => view! { <Shell token=t signed_in=token page /> }.into_any(),
    }
}

#[component]
fn Shell(token: String, signed_in: RwSignal<Option<String>>, page: RwSignal<Page>) -> impl IntoView {
    let here = move |which: &'static str| {
        let on = match page.get() {
            Page::Workflows | Page::Workflow(_) | Page::New(_) => "workflows",
            Page::Runs | Page::Run(_) => "runs",
            Page::Approvals => "approvals",
            Page::Bots | Page::Bot(_) => "bots",
            Page::Plugins | Page::Plugin(_) => "plugins",
            Page::Audit => "audit",
        };
        if on == which { "here" } else { "" }
    };
    // The token's role: until it is known, no control that needs one is shown.
    let role = api::load("/api/me".into(), token.clone());
    let at_least = move |least: &'static [&'static str]| {
        Signal::derive(move || {
            role.with(|r| {
                r.as_ref()
                    .and_then(|r| r.as_ref().ok())
                    .is_some_and(|me| least.contains(&me["role"].as_str().unwrap_or_default()))
            })
        })
    };
    let can_edit = at_least(&["editor", "admin"]);
    let can_decide = at_least(&["approver", "editor", "admin"]);
    let is_admin = at_least(&["admin"]);
    let who = move || {
        role.with(|r| match r {
            Some(Ok(me)) => {
                format!("{} ({})", me["name"].as_str().unwrap_or_default(), me["role"].as_str().unwrap_or_default())
            }
            _ => String::new(),
        })
    };
    let sign_out = move |_| {
        api::store_token(None);
        signed_in.set(None);
    };
    view! {
        <header>
            <span class="brand">"Monstrum"</span>
            <nav>
                <a href="#/workflows" class=move || here("workflows")>"Workflows"</a>
                <a href="#/runs" class=move || here("runs")>"Runs"</a>
                <a href="#/approvals" class=move || here("approvals")>"Approvals"</a>
                <a href="#/bots" class=move || here("bots")>"Bots"</a>
                <a href="#/plugins" class=move || here("plugins")>"Plugins"</a>
                <a href="#/audit" class=move || here("audit")>"Audit"</a>
            </nav>
            <span class="who"><span id="who">{who}</span> <button id="sign-out" class="plain" on:click=sign_out>"Sign out"</button></span>
        </header>
        <main>
            {move || {
                let token = token.clone();
                match page.get() {
                    Page::Workflows => view! { <pages::Workflows token can_edit /> }.into_any(),
                    Page::Workflow(name) => view! { <editor::Editor token name new=false can_edit /> }.into_any(),
                    Page::New(name) => view! { <editor::Editor token name new=true can_edit /> }.into_any(),
                    Page::Runs => view! { <pages::Runs token /> }.into_any(),
                    Page::Run(id) => view! { <pages::Run token id can_decide /> }.into_any(),
                    Page::Approvals => view! { <pages::Approvals token can_decide /> }.into_any(),
                    Page::Bots => view! { <catalog::Bots token /> }.into_any(),
                    Page::Bot(name) => view! { <catalog::Bot token name /> }.into_any(),
                    Page::Plugins => view! { <catalog::Plugins token /> }.into_any(),
                    Page::Plugin(name) => view! { <catalog::Plugin token name is_admin /> }.into_any(),
                    Page::Audit => view! { <audit::Audit token /> }.into_any(),
                }
            }}
        </main>
    }
}

/// Runs when the module is loaded.
#[wasm_bindgen(start)]
pub fn start() {
    // A panic stops the page's code: say so on the page (and in the console), not a page that
    // silently ignores every click after.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let document = window().document();
        if let Some((document, body)) = document.as_ref().and_then(|d| Some((d, d.body()?))) {
            if let Ok(banner) = document.create_element("div") {
                banner.set_id("crashed");
                banner.set_text_content(Some(&format!(
                    "The editor stopped on an error and must be reloaded (unsaved changes are lost): {info}"
                )));
                let _ = body.prepend_with_node_1(&banner);
            }
        }
    }));
    leptos::mount::mount_to_body(App);
}
