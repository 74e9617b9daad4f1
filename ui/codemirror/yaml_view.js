// The editor's YAML view: CodeMirror 6 (a kept code editor) with YAML highlighting, the checks'
// problems shown at their lines (lint), and undo left to the editor's one history (the page's
// Undo covers every change; CodeMirror's own history is not loaded). The page (Rust, ui/src/
// yaml_view.rs) calls window.MonstrumYaml; bundled by esbuild into ../vendor/codemirror.js.
import { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection } from "@codemirror/view";
import { EditorState, Compartment, Annotation, Transaction } from "@codemirror/state";
import { defaultKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching, foldGutter } from "@codemirror/language";
import { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import { yaml } from "@codemirror/lang-yaml";
import { lintGutter, setDiagnostics } from "@codemirror/lint";

// A change the page made (to follow the canvas or undo), not the user's typing.
const fromPage = Annotation.define();
const editable = new Compartment();

// A non-breaking space typed (Option+Space on a Mac, or the browser's own editing of a space at
// a line's end) is a space: YAML does not read U+00A0 as one, and the file would not parse.
const plainSpaces = EditorState.transactionFilter.of((tr) => {
  if (!tr.docChanged || !tr.isUserEvent("input")) return tr;
  let found = false;
  tr.changes.iterChanges((fromA, toA, fromB, toB, inserted) => {
    if (inserted.toString().includes("\u00a0")) found = true;
  });
  if (!found) return tr;
  const changes = [];
  tr.changes.iterChanges((fromA, toA, fromB, toB, inserted) => {
    changes.push({ from: fromA, to: toA, insert: inserted.toString().replace(/\u00a0/g, " ") });
  });
  return { changes, selection: tr.selection, scrollIntoView: tr.scrollIntoView, userEvent: tr.annotation(Transaction.userEvent) };
});

// The page's style nonce (its Content-Security-Policy allows no other inline style).
const nonce = document.querySelector('meta[name="csp-nonce"]')?.content || "";

function readOnlyState(readOnly) {
  return [EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)];
}

window.MonstrumYaml = {
  // An editor in `parent` holding `text`; `onChange(text)` after each edit by the user.
  create(parent, text, readOnly, onChange) {
    const view = new EditorView({
      parent,
      state: EditorState.create({
        doc: text,
        extensions: [
          lineNumbers(),
          foldGutter(),
          lintGutter(),
          drawSelection(),
          highlightActiveLine(),
          highlightSelectionMatches(),
          indentOnInput(),
          bracketMatching(),
          syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
          yaml(),
          plainSpaces,
          EditorView.cspNonce.of(nonce),
          EditorState.tabSize.of(2),
          keymap.of([...defaultKeymap, ...searchKeymap, indentWithTab]),
          editable.of(readOnlyState(readOnly)),
          EditorView.updateListener.of((update) => {
            if (update.docChanged && !update.transactions.some((t) => t.annotation(fromPage))) {
              onChange(update.state.doc.toString());
            }
          }),
        ],
      }),
    });
    parent.monstrumView = view;
    return view;
  },

  // Replaces the text (when it differs), keeping the cursor where it can.
  setText(view, text) {
    const now = view.state.doc.toString();
    if (now === text) return;
    // Only the part that changed is replaced: the cursor and scroll stay put around it.
    let start = 0;
    while (start < now.length && start < text.length && now[start] === text[start]) start++;
    let endNow = now.length, endText = text.length;
    while (endNow > start && endText > start && now[endNow - 1] === text[endText - 1]) { endNow--; endText--; }
    view.dispatch({ changes: { from: start, to: endNow, insert: text.slice(start, endText) }, annotations: fromPage.of(true) });
  },

  // The checks' problems, as JSON: [{line, message, severity}], lines from 1 (0 or none: the
  // first).
  setProblems(view, problemsJson) {
    const problems = JSON.parse(problemsJson);
    const doc = view.state.doc;
    const diagnostics = problems.map((p) => {
      const line = doc.line(Math.min(Math.max(p.line || 1, 1), doc.lines));
      return { from: line.from, to: line.to, severity: p.severity || "error", message: p.message };
    });
    view.dispatch(setDiagnostics(view.state, diagnostics));
  },

  setReadOnly(view, readOnly) {
    view.dispatch({ effects: editable.reconfigure(readOnlyState(readOnly)) });
  },

  // Puts the cursor at the start of `line` (from 1) and brings it into view.
  goToLine(view, line) {
    const doc = view.state.doc;
    const at = doc.line(Math.min(Math.max(line, 1), doc.lines));
    view.dispatch({ selection: { anchor: at.from, head: at.to }, scrollIntoView: true });
    view.focus();
  },

  // The text of the editor inside `element` (for the browser tests, as a field's value).
  textOf(element) {
    const view = element && (element.monstrumView || (element.querySelector(".cm-editor") && element.monstrumView));
    return view ? view.state.doc.toString() : null;
  },
};
