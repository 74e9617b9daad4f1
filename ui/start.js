// Loads the editor (the page's only script: the Content-Security-Policy allows no inline one).
import init from "/ui/monstrum_ui.js";
init({ module_or_path: "/ui/monstrum_ui_bg.wasm" });
