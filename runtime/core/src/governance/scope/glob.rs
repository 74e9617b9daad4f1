//! Globs as the scope engine reads them: `*` and `?` do not cross `/`, `**` does, `\` escapes.
//!
//! globset translates each pattern into a regex; the patterns of one dimension are compiled
//! together into one anchored dense DFA (regex-automata), so a decision is a single pass over the
//! value's bytes with no allocation and no per-search set-up: the start state is found once, when
//! the globs compile, and a decision is a table lookup per byte. Patterns whose DFA would exceed
//! [`DFA_SIZE_LIMIT`] do not compile: the binding is refused rather than matched slowly.

use globset::GlobBuilder;
use regex_automata::Anchored;
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::{start, syntax};

/// The largest DFA one dimension's globs may compile to.
const DFA_SIZE_LIMIT: usize = 8 << 20;

/// The compiled globs of one dimension (or one argument of a command pattern).
#[derive(Debug)]
pub(crate) struct Globs {
    dfa: dense::DFA<Vec<u32>>,
    /// The anchored start state at the beginning of a value.
    start: StateID,
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
        Ok(Globs { dfa, start, patterns })
    }

    /// Whether the whole of `value` matches one of the globs: the DFA walks every byte, then the
    /// end of the value (every glob is anchored at both ends, so only the state after the end
    /// can be a match). A dead state ends the walk early; a quit state (none is configured) is no
    /// match.
    pub(crate) fn is_match(&self, value: &[u8]) -> bool {
        let mut state = self.start;
        for &byte in value {
            state = self.dfa.next_state(state, byte);
            if self.dfa.is_special_state(state) && (self.dfa.is_dead_state(state) || self.dfa.is_quit_state(state)) {
                return false;
            }
        }
        self.dfa.is_match_state(self.dfa.next_eoi_state(state))
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
