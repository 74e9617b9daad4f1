//! The visual editor, client side (Leptos, compiled to WebAssembly and served by `monstrum serve`
//! at `/`). Its only way to the workspace is the API under `/api`, with the token the user pastes
//! once (kept in the tab's session storage). This first part: signing in, the workflows (their
//! canvas, text and diagnostics, and starting a run), the runs, a run's steps followed live with
//! its gates decided in place, and the approvals inbox.

mod api;
mod canvas;
mod pages;

use leptos::prelude::*;
use wasm_bindgen::prelude::wasm_bindgen;

/// Where the user is: the part of the URL after `#`.
#[derive(Clone, Debug, PartialEq)]
pub enum Page {
    Workflows,
    Workflow(String),
    Runs,
    Run(String),
    Approvals,
}

impl Page {
    fn of(hash: &str) -> Page {
        let path = hash.trim_start_matches('#').trim_matches('/');
        match path.split('/').collect::<Vec<_>>().as_slice() {
            ["workflows", name] => Page::Workflow(name.to_string()),
            ["runs"] => Page::Runs,
            ["runs", id] => Page::Run(id.to_string()),
            ["approvals"] => Page::Approvals,
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
            Page::Workflows | Page::Workflow(_) => "workflows",
            Page::Runs | Page::Run(_) => "runs",
            Page::Approvals => "approvals",
        };
        if on == which { "here" } else { "" }
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
            </nav>
            <span class="who"><button id="sign-out" class="plain" on:click=sign_out>"Sign out"</button></span>
        </header>
        <main>
            {move || {
                let token = token.clone();
                match page.get() {
                    Page::Workflows => view! { <pages::Workflows token /> }.into_any(),
                    Page::Workflow(name) => view! { <pages::Workflow token name /> }.into_any(),
                    Page::Runs => view! { <pages::Runs token /> }.into_any(),
                    Page::Run(id) => view! { <pages::Run token id /> }.into_any(),
                    Page::Approvals => view! { <pages::Approvals token /> }.into_any(),
                }
            }}
        </main>
    }
}

/// Runs when the module is loaded.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
