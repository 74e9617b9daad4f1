//! The YAML view: CodeMirror 6 (`ui/codemirror/`, bundled into `ui/vendor/codemirror.js` and
//! loaded by the page as `window.MonstrumYaml`), kept in step with the document both ways. The
//! user's edits come back through `on_edit`; the document's changes (canvas, panel, undo) are put
//! in as the part of the text that changed, so the cursor stays. The checks' problems show at
//! their lines.

use leptos::prelude::*;
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = MonstrumYaml, js_name = create)]
    fn cm_create(parent: &web_sys::Element, text: &str, read_only: bool, on_change: &JsValue) -> JsValue;
    #[wasm_bindgen(js_namespace = MonstrumYaml, js_name = setText)]
    fn cm_set_text(view: &JsValue, text: &str);
    #[wasm_bindgen(js_namespace = MonstrumYaml, js_name = setProblems)]
    fn cm_set_problems(view: &JsValue, problems_json: &str);
    #[wasm_bindgen(js_namespace = MonstrumYaml, js_name = setReadOnly)]
    fn cm_set_read_only(view: &JsValue, read_only: bool);
    #[wasm_bindgen(js_namespace = MonstrumYaml, js_name = goToLine)]
    fn cm_go_to_line(view: &JsValue, line: u32);
}

/// A problem as the view marks it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mark {
    pub line: usize,
    pub message: String,
}

/// The view's editor, once made: the handle the page keeps to send it changes.
#[derive(Clone, Copy)]
pub struct YamlHandle {
    view: StoredValue<Option<JsValue>, LocalStorage>,
    ready: RwSignal<bool>,
}

impl YamlHandle {
    pub fn new() -> Self {
        YamlHandle { view: StoredValue::new_local(None), ready: RwSignal::new(false) }
    }

    /// Runs `f` on the editor once it is made (and again whenever what `f` reads changes).
    fn with(&self, f: impl FnOnce(&JsValue)) {
        if self.ready.get() {
            self.view.with_value(|v| {
                if let Some(v) = v {
                    f(v)
                }
            });
        }
    }

    /// Puts the cursor on `line` (from 1).
    pub fn go_to_line(&self, line: usize) {
        self.view.with_value(|v| {
            if let Some(v) = v {
                cm_go_to_line(v, line as u32)
            }
        });
    }
}

#[component]
pub fn YamlView(
    handle: YamlHandle,
    #[prop(into)] text: Signal<String>,
    #[prop(into)] problems: Signal<Vec<Mark>>,
    #[prop(into)] read_only: Signal<bool>,
    on_edit: Callback<String>,
) -> impl IntoView {
    let parent = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        let Some(el) = parent.get() else { return };
        if handle.view.with_value(Option::is_some) {
            return;
        }
        let on_change = Closure::<dyn Fn(String)>::new(move |t: String| on_edit.run(t));
        let view = cm_create(&el, &text.get_untracked(), read_only.get_untracked(), on_change.as_ref());
        // The editor calls it for as long as the page lives.
        on_change.forget();
        handle.view.set_value(Some(view));
        handle.ready.set(true);
    });
    Effect::new(move |_| {
        let t = text.get();
        handle.with(|v| cm_set_text(v, &t));
    });
    Effect::new(move |_| {
        let marks = problems.get();
        let json = serde_json::to_string(&marks).expect("marks are JSON");
        // Marks are placed on the text they were found in: it goes in first (when this runs
        // before the text's own effect).
        let t = text.get();
        handle.with(|v| {
            cm_set_text(v, &t);
            cm_set_problems(v, &json)
        });
    });
    Effect::new(move |_| {
        let r = read_only.get();
        handle.with(|v| cm_set_read_only(v, r));
    });
    view! { <div class="yaml-editor" id="yaml" node_ref=parent></div> }
}
