//! One history for every change the editor makes (canvas, panel and YAML): each entry is the
//! whole document, the workflow's text and its node positions, so undo always lands on a state
//! the file can express.

use crate::canvas::Positions;

/// The document being edited.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Doc {
    pub text: String,
    pub positions: Positions,
}

/// What came before the document and what undo took back.
#[derive(Clone, Debug, Default)]
pub struct History {
    past: Vec<Doc>,
    future: Vec<Doc>,
    /// The last change was typing in the YAML view: the next keystroke joins its entry.
    typing: bool,
}

/// A bound on the entries kept, so a long session's history does not grow without end.
const KEPT: usize = 500;

impl History {
    /// `current` is replaced by a change: it becomes undoable; redo is forgotten. A change that
    /// changes nothing is no entry.
    pub fn record(&mut self, current: &Doc, next: &Doc, typing: bool) {
        if current == next || (typing && self.typing) {
            self.typing = typing;
            return;
        }
        self.past.push(current.clone());
        if self.past.len() > KEPT {
            self.past.remove(0);
        }
        self.future.clear();
        self.typing = typing;
    }

    /// The document before `current`, if any.
    pub fn undo(&mut self, current: &Doc) -> Option<Doc> {
        let before = self.past.pop()?;
        self.future.push(current.clone());
        self.typing = false;
        Some(before)
    }

    /// The document undo took back, if any.
    pub fn redo(&mut self, current: &Doc) -> Option<Doc> {
        let after = self.future.pop()?;
        self.past.push(current.clone());
        self.typing = false;
        Some(after)
    }

    pub fn can_undo(&self) -> bool {
        !self.past.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.future.is_empty()
    }
}
