//! Globs as the scope engine reads them: `*` and `?` do not cross `/`, `**` does, `\` escapes.
//!
//! globset translates each pattern into a regex; the patterns of one dimension are compiled
//! together into one anchored dense DFA (regex-automata), which is then laid out as a flat table
//! of its reachable states, so a decision is a single pass over the value's bytes with no
//! allocation and no per-search set-up: a class lookup and a table lookup per byte. Patterns whose
//! DFA would exceed [`DFA_SIZE_LIMIT`] do not compile: the binding is refused rather than matched
//! slowly.

use globset::GlobBuilder;
use regex_automata::Anchored;
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::{start, syntax};
use std::collections::HashMap;

/// The largest DFA one dimension's globs may compile to.
const DFA_SIZE_LIMIT: usize = 8 << 20;

/// The compiled globs of one dimension (or one argument of a command pattern): the DFA's
/// reachable states as rows of a table, row 0 being the dead state (no match, whatever follows).
#[derive(Debug)]
pub(crate) struct Globs {
    /// The DFA's class of each byte.
    classes: [u8; 256],
    /// `next[row_start + class]` is the start of the next state's row.
    next: Vec<u32>,
    /// By row: whether a value that ends in that state matches.
    accepts: Vec<bool>,
    /// log2 of a row's length.
    shift: u32,
    /// The start of the start state's row.
    start: u32,
    patterns: Vec<String>,
}

impl Globs {
    /// Compiles `patterns`; a malformed glob or one too complex for the size limit is an error.
    pub(crate) fn new(patterns: Vec<String>) -> Result<Globs, String> {
        let regexes = patterns.iter().map(|p| translate(p)).collect::<Result<Vec<_>, _>>()?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    // Values are short: skipping ahead with memchr costs more than it saves.
                    .accelerate(false)
                    .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                    .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
            )
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .thompson(thompson::Config::new().utf8(false))
            .build_many(&regexes)
            .map_err(|e| format!("the globs {patterns:?} cannot be compiled: {e}"))?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|e| format!("the globs {patterns:?} have no start state: {e}"))?;
        Ok(Globs::flatten(&dfa, start, patterns))
    }

    /// Lays out the states reachable from `start` as rows, by a breadth-first walk. A dead or
    /// quit state (none is configured) is row 0: no match.
    fn flatten(dfa: &dense::DFA<Vec<u32>>, start: StateID, patterns: Vec<String>) -> Globs {
        let byte_classes = dfa.byte_classes();
        let mut classes = [0u8; 256];
        // One byte of each class, to ask the DFA where that class leads.
        let mut representatives: Vec<u8> = Vec::new();
        for byte in 0..=255u8 {
            let class = byte_classes.get(byte);
            classes[usize::from(byte)] = class;
            if usize::from(class) == representatives.len() {
                representatives.push(byte);
            }
        }
        let stride = representatives.len().next_power_of_two();
        let shift = stride.trailing_zeros();
        let stops = |id: StateID| dfa.is_dead_state(id) || dfa.is_quit_state(id);
        let mut rows: Vec<Option<StateID>> = vec![None];
        let mut row_of: HashMap<StateID, u32> = HashMap::new();
        let mut row = |id: StateID, rows: &mut Vec<Option<StateID>>| -> u32 {
            if stops(id) {
                return 0;
            }
            *row_of.entry(id).or_insert_with(|| {
                rows.push(Some(id));
                (rows.len() - 1) as u32
            })
        };
        let start = row(start, &mut rows);
        let (mut next, mut accepts) = (Vec::new(), Vec::new());
        let mut at = 0;
        while at < rows.len() {
            next.resize((at + 1) * stride, 0);
            match rows[at] {
                None => accepts.push(false),
                Some(id) => {
                    for (class, &byte) in representatives.iter().enumerate() {
                        next[at * stride + class] = row(dfa.next_state(id, byte), &mut rows) << shift;
                    }
                    accepts.push(dfa.is_match_state(dfa.next_eoi_state(id)));
                }
            }
            at += 1;
        }
        Globs { classes, next, accepts, shift, start: start << shift, patterns }
    }

    /// Whether the whole of `value` matches one of the globs: a walk over every byte, then the
    /// end of the value (every glob is anchored at both ends, so only the state after the end
    /// can be a match). The dead state ends the walk early.
    pub(crate) fn is_match(&self, value: &[u8]) -> bool {
        let mut state = self.start as usize;
        for &byte in value {
            state = self.next[state + usize::from(self.classes[usize::from(byte)])] as usize;
            if state == 0 {
                return false;
            }
        }
        self.accepts[state >> self.shift]
    }

    /// The patterns as written.
    pub(crate) fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// globset's regex for `pattern` (anchored at both ends, bytes rather than Unicode).
fn translate(pattern: &str) -> Result<String, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.regex().to_string())
        .map_err(|e| format!("bad glob `{pattern}`: {}", e.kind()))
}

#[cfg(test)]
mod tests {
    use super::Globs;

    fn globs(p: &[&str]) -> Globs {
        Globs::new(p.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn star_stays_in_a_segment_double_star_crosses() {
        let g = globs(&["acme/public-*", "logs/**", "web-?.internal", "lit\\*eral"]);
        for ok in ["acme/public-", "acme/public-site", "logs/a/b/c", "web-1.internal", "lit*eral"] {
            assert!(g.is_match(ok.as_bytes()), "{ok}");
        }
        for bad in ["acme/public-x/y", "acme/private", "xacme/public-a", "web-12.internal", "litxeral", ""] {
            assert!(!g.is_match(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn agrees_with_globset() {
        let patterns = ["a*b", "**/x", "[ab]?/c*", "{foo,bar}-*"];
        let g = globs(&patterns);
        let set: Vec<globset::GlobMatcher> = patterns
            .iter()
            .map(|p| globset::GlobBuilder::new(p).literal_separator(true).build().unwrap().compile_matcher())
            .collect();
        for v in ["ab", "aXb", "a/b", "x", "q/x", "q/r/x", "a1/c", "b2/cd", "c1/c", "foo-1", "bar-", "baz-1", "foo-a/b"]
        {
            assert_eq!(g.is_match(v.as_bytes()), set.iter().any(|m| m.is_match(v)), "{v}");
        }
    }

    #[test]
    fn malformed_globs_are_errors() {
        assert!(Globs::new(vec!["a[b".into()]).is_err());
    }
}
