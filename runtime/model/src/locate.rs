//! Finds where a path points in the YAML source, for diagnostics.
//!
//! Values are typed by serde_yaml; marked-yaml is used only for its node positions, so a
//! semantic error (an unknown `needs`, a cycle) points at the exact line and column.

use crate::diagnostic::{Location, PathSeg};
use marked_yaml::{Node, Span};

/// Positions of the nodes of one document.
pub struct Locator<'a> {
    text: &'a str,
    root: Option<Node>,
}

impl<'a> Locator<'a> {
    /// Parses `text` for positions; a document marked-yaml cannot read yields no positions.
    pub fn new(text: &'a str) -> Self {
        let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(false);
        let root = marked_yaml::parse_yaml_with_options(0, text, options).ok();
        Locator { text, root }
    }

    /// Location of the node at `path`, or of its deepest existing ancestor. A scalar is shown by
    /// its value, a mapping or sequence under a key by that key.
    pub fn locate(&self, path: &[PathSeg]) -> Option<Location> {
        let mut node = self.root.as_ref()?;
        let mut span = *node.span();
        for seg in path {
            match (seg, node) {
                (PathSeg::Key(k), Node::Mapping(map)) => {
                    let Some((key, value)) = map.iter().find(|(key, _)| key.as_str() == k.as_str()) else {
                        break;
                    };
                    node = value;
                    span = if matches!(value, Node::Scalar(_)) { *value.span() } else { *key.span() };
                }
                (PathSeg::Index(i), Node::Sequence(seq)) => {
                    let Some(item) = seq.get(*i) else { break };
                    node = item;
                    // A mapping item is shown by its first key (its own mark is at the colon).
                    span = match item.as_mapping().and_then(|m| m.iter().next()) {
                        Some((key, _)) => *key.span(),
                        None => *item.span(),
                    };
                }
                _ => break,
            }
        }
        self.to_location(&span)
    }

    /// Location of a key of the mapping at `path` (used for unknown fields).
    pub fn locate_key(&self, path: &[PathSeg], key: &str) -> Option<Location> {
        let mut node = self.root.as_ref()?;
        for seg in path {
            node = match (seg, node) {
                (PathSeg::Key(k), Node::Mapping(map)) => map.get(k.as_str())?,
                (PathSeg::Index(i), Node::Sequence(seq)) => seq.get(*i)?,
                _ => return None,
            };
        }
        let map = node.as_mapping()?;
        let (k, _) = map.iter().find(|(k, _)| k.as_str() == key)?;
        self.to_location(k.span())
    }

    /// Location of a 1-based line and column.
    pub fn at(&self, line: usize, column: usize) -> Location {
        let offset = byte_offset(self.text, line, column);
        let len = self.text[offset..].chars().next().map_or(0, char::len_utf8);
        Location { line, column, offset, len }
    }

    fn to_location(&self, span: &Span) -> Option<Location> {
        let start = span.start()?;
        let mut loc = self.at(start.line(), start.column());
        // Highlight the token: up to the end marker on the same line, else to the end of the word.
        let rest = &self.text[loc.offset..];
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let len = match span.end() {
            Some(end) if end.line() == start.line() && end.column() > start.column() => {
                let end_off = byte_offset(self.text, end.line(), end.column());
                end_off.saturating_sub(loc.offset).min(line_end)
            }
            _ => rest[..line_end].trim_end().len(),
        };
        loc.len = len.max(loc.len.min(1));
        Some(loc)
    }
}

fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let col = l.char_indices().nth(column.saturating_sub(1)).map_or(l.len(), |(b, _)| b);
            return offset + col;
        }
        offset += l.len();
    }
    text.len()
}
