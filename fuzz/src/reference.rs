//! A plain reference for the scope engine, written from docs/governance.md ("The scope engine")
//! without looking at how the engine does it: no DFA, no regex crate, no shlex, no bigdecimal.
//! Slow and simple on purpose; the fuzz target compares its decisions with `ToolScope`'s.
//!
//! Where docs/governance.md leaves a detail open, the reading chosen is said where it is made:
//! - globs follow globset's documented syntax (docs: "globset's translation"): `?` is one byte,
//!   `*` any bytes but `/`, a `**` component any number of components (at least one when it ends
//!   the pattern: `a/**` does not match `a`), and a pattern of only `**` components matches
//!   everything, even with a trailing `/` (`**/` matches `abc`);
//! - an IPv6 network is read as IPv4 only when all of it is IPv4-mapped (`::ffff:0:0/96` or
//!   narrower); IPv4 and IPv6 networks never contain each other's addresses;
//! - tab, line feed and carriage return are not refused as control characters (the engine
//!   lets them through and docs/governance.md says "ASCII control characters": reported, and
//!   kept out of the generated strings except where a command's metacharacter rule decides).

use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// What the reference says about one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    /// Outside what the reference decides exactly (a number with an exponent too large to
    /// write out); the call is still run, only not compared.
    Unknown,
}

/// One dimension's allowed values, compiled by the reference.
#[derive(Debug)]
pub enum Allowed {
    Nothing,
    /// A `max` or `min` limit with an exponent too large to write out: every decision is
    /// [`Verdict::Unknown`] (the engine may also refuse the limit).
    Undecided,
    Exact(Vec<Value>),
    Glob(Vec<Glob>),
    Regex(Vec<Regex>),
    Prefix(Vec<String>),
    Max(Dec),
    Min(Dec),
    Cidr(Vec<Net>),
    Command(Vec<Command>),
}

fn strings(values: &[Value]) -> Result<Vec<&str>, String> {
    values.iter().map(|v| v.as_str().ok_or_else(|| format!("{v} is not a string"))).collect()
}

/// Compiles a dimension's values for the match kind named `kind`; `Err` when the binding is
/// invalid.
pub fn compile(kind: &str, values: &[Value]) -> Result<Allowed, String> {
    if values.is_empty() {
        return Ok(Allowed::Nothing);
    }
    Ok(match kind {
        "exact" => {
            if let Some(bad) = values.iter().find(|v| !(v.is_string() || v.is_number() || v.is_boolean())) {
                return Err(format!("exact value {bad}"));
            }
            Allowed::Exact(values.to_vec())
        }
        "glob" => Allowed::Glob(strings(values)?.into_iter().map(Glob::parse).collect::<Result<_, _>>()?),
        "regex" => Allowed::Regex(strings(values)?.into_iter().map(Regex::parse).collect()),
        "prefix" => Allowed::Prefix(strings(values)?.into_iter().map(str::to_string).collect()),
        "max" | "min" => {
            let [v] = values else { return Err("max/min takes one number".into()) };
            let n = match number(v) {
                Some(Ok(n)) => n,
                Some(Err(Huge)) => return Ok(Allowed::Undecided),
                None => return Err(format!("{v} is not a number")),
            };
            if kind == "max" { Allowed::Max(n) } else { Allowed::Min(n) }
        }
        "cidr" => Allowed::Cidr(
            strings(values)?
                .into_iter()
                .map(|s| Net::parse(s).ok_or_else(|| format!("{s} is no network")))
                .collect::<Result<_, _>>()?,
        ),
        "command" => Allowed::Command(strings(values)?.into_iter().map(Command::parse).collect::<Result<_, _>>()?),
        other => panic!("unknown kind {other}"),
    })
}

/// The decision on one parameter value: a list must be non-empty with every element allowed.
pub fn decide(allowed: &Allowed, value: &Value) -> Verdict {
    match value {
        Value::Array(items) if items.is_empty() => Verdict::Deny,
        Value::Array(items) => all(items.iter().map(|item| decide_one(allowed, item))),
        one => decide_one(allowed, one),
    }
}

/// The conjunction of several verdicts: any denial denies.
pub fn all(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let mut unknown = false;
    for v in verdicts {
        match v {
            Verdict::Deny => return Verdict::Deny,
            Verdict::Unknown => unknown = true,
            Verdict::Allow => {}
        }
    }
    if unknown { Verdict::Unknown } else { Verdict::Allow }
}

fn verdict(allowed: bool) -> Verdict {
    if allowed { Verdict::Allow } else { Verdict::Deny }
}

fn decide_one(allowed: &Allowed, value: &Value) -> Verdict {
    let text = value.as_str();
    match allowed {
        Allowed::Nothing => Verdict::Deny,
        Allowed::Undecided => Verdict::Unknown,
        Allowed::Exact(values) => verdict(values.iter().any(|a| json_equal(a, value))),
        Allowed::Glob(globs) => match text {
            Some(s) if !refused(s, true) => verdict(globs.iter().any(|g| g.matches(s.as_bytes()))),
            _ => Verdict::Deny,
        },
        Allowed::Regex(res) => match text {
            Some(s) if !refused(s, false) => verdict(res.iter().any(|r| r.matches(s))),
            _ => Verdict::Deny,
        },
        Allowed::Prefix(prefixes) => match text {
            Some(s) if !refused(s, true) => verdict(prefixes.iter().any(|p| s.starts_with(p.as_str()))),
            _ => Verdict::Deny,
        },
        Allowed::Max(limit) | Allowed::Min(limit) => match number(value) {
            None => Verdict::Deny,
            Some(Err(Huge)) => Verdict::Unknown,
            Some(Ok(n)) => {
                let order = n.cmp(limit);
                verdict(if matches!(allowed, Allowed::Max(_)) {
                    order != Ordering::Greater
                } else {
                    order != Ordering::Less
                })
            }
        },
        Allowed::Cidr(nets) => match text.and_then(Net::parse) {
            Some(net) => verdict(nets.iter().any(|n| n.contains(&net))),
            None => Verdict::Deny,
        },
        Allowed::Command(patterns) => match text {
            Some(s) => verdict(command_allowed(patterns, s)),
            None => Verdict::Deny,
        },
    }
}

/// JSON equality of scalars: same type and same value ("3" is not 3). Numbers: two integers
/// compare exactly, two fractions as floats; an integer never equals a fraction (the generator
/// makes no fraction with an integral value, so `1` against `1.0` is not decided here).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => {
            let int = |n: &serde_json::Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
            match (int(x), int(y)) {
                (Some(i), Some(j)) => i == j,
                (None, None) => x.as_f64() == y.as_f64(),
                _ => false,
            }
        }
        _ => false,
    }
}

// ------------------------------------------------------------------------- refused text

/// The non-ASCII characters the generator uses, and whether each may be compared: letters and
/// digits in NFKC form may; fullwidth, ligature, superscript (not NFKC) and format characters
/// (not letters or digits) may not. All of them have canonical combining class 0 and no
/// composition with their neighbours, so a string of them is NFKC exactly when each is.
const NON_ASCII: &[(char, bool)] = &[
    ('é', true),
    ('а', true), // Cyrillic a
    ('日', true),
    ('١', true),         // Arabic-Indic digit one
    ('ｆ', false),       // fullwidth f
    ('ﬁ', false),        // ligature fi
    ('²', false),        // superscript two
    ('\u{200b}', false), // zero-width space
];

/// Whether a string is refused before any pattern sees it (docs/governance.md, "Refused, never
/// normalised"); `path_like` for glob, prefix and command arguments.
pub fn refused(s: &str, path_like: bool) -> bool {
    for c in s.chars() {
        if !c.is_ascii() {
            let (_, ok) = NON_ASCII.iter().find(|(n, _)| *n == c).unwrap_or_else(|| panic!("{c:?} is not generated"));
            if !ok {
                return true;
            }
        } else if c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r') {
            return true;
        }
    }
    if !path_like {
        return false;
    }
    let rest = strip_scheme(s);
    let b = s.as_bytes();
    let percent = (0..b.len())
        .any(|i| b[i] == b'%' && b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit());
    s.contains('\\') || percent || rest.split('/').any(|seg| seg == "..") || rest.contains("//")
}

/// The text after a leading URL scheme (`scheme://`, RFC 3986: a letter, then letters, digits,
/// `+`, `-`, `.`), or all of it.
fn strip_scheme(s: &str) -> &str {
    if let Some((scheme, rest)) = s.split_once("://") {
        let mut chars = scheme.chars();
        if chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return rest;
        }
    }
    s
}

// ------------------------------------------------------------------------------- globs

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Byte(u8),
    /// `?`: one byte other than `/`.
    One,
    /// `*`: any bytes other than `/`.
    Many,
}

#[derive(Debug, Clone, PartialEq)]
enum Component {
    /// A whole `**` component.
    Any,
    Parts(Vec<Part>),
}

/// A glob, as components between `/`.
#[derive(Debug)]
pub struct Glob {
    components: Vec<Component>,
}

impl Glob {
    pub fn parse(pattern: &str) -> Result<Glob, String> {
        let mut components = Vec::new();
        let mut raw: Vec<(u8, bool)> = Vec::new(); // (byte, escaped) of the current component
        let mut bytes = pattern.bytes();
        let finish = |raw: &mut Vec<(u8, bool)>, components: &mut Vec<Component>| {
            let c = if raw.as_slice() == [(b'*', false), (b'*', false)] {
                Component::Any
            } else {
                Component::Parts(
                    raw.iter()
                        .map(|&(b, escaped)| match (b, escaped) {
                            (b'?', false) => Part::One,
                            (b'*', false) => Part::Many,
                            (b, _) => Part::Byte(b),
                        })
                        .collect(),
                )
            };
            components.push(c);
            raw.clear();
        };
        while let Some(b) = bytes.next() {
            match b {
                b'\\' => raw.push((bytes.next().ok_or("a dangling escape")?, true)),
                b'/' => finish(&mut raw, &mut components),
                b'[' | b']' | b'{' | b'}' | b',' | b'!' => {
                    panic!("{pattern:?}: glob classes and alternatives are not generated")
                }
                b => raw.push((b, false)),
            }
        }
        finish(&mut raw, &mut components);
        Ok(Glob { components })
    }

    pub fn matches(&self, value: &[u8]) -> bool {
        // `**` alone matches everything, and so, in globset, does any pattern of nothing but
        // `**` components with or without a trailing `/` (`**/`, `**/**/`): they parse to the
        // single token of `**`.
        let (last, init) = self.components.split_last().expect("a glob has a component");
        let all_any = |c: &[Component]| c.iter().all(|c| *c == Component::Any);
        if all_any(&self.components) || (*last == Component::Parts(Vec::new()) && !init.is_empty() && all_any(init)) {
            return true;
        }
        let segments: Vec<&[u8]> = value.split(|b| *b == b'/').collect();
        matches_components(&self.components, &segments)
    }
}

fn matches_components(pattern: &[Component], value: &[&[u8]]) -> bool {
    match pattern.split_first() {
        None => value.is_empty(),
        // A trailing `**` matches one or more components; elsewhere, zero or more.
        Some((Component::Any, [])) => !value.is_empty(),
        Some((Component::Any, rest)) => (0..=value.len()).any(|skip| matches_components(rest, &value[skip..])),
        Some((Component::Parts(parts), rest)) => {
            !value.is_empty() && matches_parts(parts, value[0]) && matches_components(rest, &value[1..])
        }
    }
}

fn matches_parts(parts: &[Part], value: &[u8]) -> bool {
    match parts.split_first() {
        None => value.is_empty(),
        Some((Part::Byte(b), rest)) => value.first() == Some(b) && matches_parts(rest, &value[1..]),
        Some((Part::One, rest)) => !value.is_empty() && matches_parts(rest, &value[1..]),
        Some((Part::Many, rest)) => (0..=value.len()).any(|n| matches_parts(rest, &value[n..])),
    }
}

// ------------------------------------------------------------------------------ regexes

#[derive(Debug, Clone)]
enum Atom {
    Char(char),
    Dot,
    Class(Vec<char>),
}

/// A regex of the generated subset: alternatives of atoms (a character, `.`, `[...]`), each
/// with an optional `*`, `+` or `?`. Matched against the whole value.
#[derive(Debug)]
pub struct Regex {
    branches: Vec<Vec<(Atom, char)>>,
}

impl Regex {
    pub fn parse(pattern: &str) -> Regex {
        let branches = pattern
            .split('|')
            .map(|branch| {
                let mut items = Vec::new();
                let mut chars = branch.chars().peekable();
                while let Some(c) = chars.next() {
                    let atom = match c {
                        '.' => Atom::Dot,
                        '[' => Atom::Class(chars.by_ref().take_while(|c| *c != ']').collect()),
                        '*' | '+' | '?' | '(' | ')' | '\\' | '^' | '$' | '{' | '}' | ']' => {
                            panic!("{pattern:?} is outside the generated subset")
                        }
                        c => Atom::Char(c),
                    };
                    let quantifier = match chars.peek() {
                        Some(&q @ ('*' | '+' | '?')) => {
                            chars.next();
                            q
                        }
                        _ => '1',
                    };
                    items.push((atom, quantifier));
                }
                items
            })
            .collect();
        Regex { branches }
    }

    pub fn matches(&self, value: &str) -> bool {
        let chars: Vec<char> = value.chars().collect();
        self.branches.iter().any(|b| matches_items(b, &chars))
    }
}

fn atom_matches(atom: &Atom, c: char) -> bool {
    match atom {
        Atom::Char(a) => *a == c,
        Atom::Dot => c != '\n',
        Atom::Class(set) => set.contains(&c),
    }
}

fn matches_items(items: &[(Atom, char)], value: &[char]) -> bool {
    let Some(((atom, q), rest)) = items.split_first() else { return value.is_empty() };
    // How many characters from the front this atom may take: a run of matching characters.
    let run = value.iter().take_while(|c| atom_matches(atom, **c)).count();
    let counts: Vec<usize> = match q {
        '1' => vec![1],
        '?' => vec![0, 1],
        '+' => (1..=run).collect(),
        _ => (0..=run).collect(),
    };
    counts.into_iter().any(|n| n <= run && matches_items(rest, &value[n..]))
}

// ------------------------------------------------------------------------------ numbers

/// A decimal number written out exactly: `0.d1 d2 ... × 10^exp`, `digits` without leading or
/// trailing zeros (empty for zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dec {
    negative: bool,
    digits: Vec<u8>,
    exp: i64,
}

/// A number whose exponent is beyond what the reference compares (over 9999 in size).
#[derive(Debug)]
pub struct Huge;

impl Ord for Dec {
    fn cmp(&self, other: &Dec) -> Ordering {
        let sign = |d: &Dec| {
            if d.digits.is_empty() {
                0
            } else if d.negative {
                -1
            } else {
                1
            }
        };
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        let magnitude = self.exp.cmp(&other.exp).then_with(|| self.digits.cmp(&other.digits));
        if a < 0 { magnitude.reverse() } else { magnitude }
    }
}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Dec) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A JSON number (as its JSON text) or a decimal string: `[+-]digits[.digits][e[+-]digits]`,
/// with digits on at least one side of the point.
pub fn number(v: &Value) -> Option<Result<Dec, Huge>> {
    match v {
        Value::Number(n) => decimal(&n.to_string()),
        Value::String(s) => decimal(s),
        _ => None,
    }
}

pub fn decimal(s: &str) -> Option<Result<Dec, Huge>> {
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return None;
    }
    let exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let body = e.strip_prefix(['+', '-']).unwrap_or(e);
            if body.is_empty() || !digits(body) {
                return None;
            }
            let magnitude = body.trim_start_matches('0');
            if magnitude.len() > 4 {
                return Some(Err(Huge));
            }
            let m: i64 = if magnitude.is_empty() { 0 } else { magnitude.parse().unwrap() };
            if e.starts_with('-') { -m } else { m }
        }
    };
    let all: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let leading = all.iter().take_while(|d| **d == 0).count();
    let mut significant = all[leading..].to_vec();
    while significant.last() == Some(&0) {
        significant.pop();
    }
    // int.frac = 0.(all) × 10^len(int); dropping `leading` zeros moves the point left.
    let exp = if significant.is_empty() { 0 } else { exp + int.len() as i64 - leading as i64 };
    Some(Ok(Dec { negative, digits: significant, exp }))
}

// ------------------------------------------------------------------------------ networks

/// An address or network: IPv4 (`bits` in the low 32) or IPv6, and its prefix length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Net {
    v4: bool,
    bits: u128,
    len: u32,
}

impl Net {
    /// `address` or `address/length`; an IPv6 network all inside `::ffff:0:0/96` is IPv4.
    pub fn parse(s: &str) -> Option<Net> {
        let (address, len) = match s.split_once('/') {
            Some((a, l)) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => {
                (a, Some(l.parse::<u32>().ok()?))
            }
            Some(_) => return None,
            None => (s, None),
        };
        let net = match address.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => Net { v4: true, bits: u128::from(u32::from(a)), len: len.unwrap_or(32) },
            IpAddr::V6(a) => Net { v4: false, bits: u128::from(a), len: len.unwrap_or(128) },
        };
        if net.len > if net.v4 { 32 } else { 128 } {
            return None;
        }
        if !net.v4 && net.bits >> 32 == 0xffff && net.len >= 96 {
            return Some(Net { v4: true, bits: net.bits & 0xffff_ffff, len: net.len - 96 });
        }
        Some(net)
    }

    fn width(&self) -> u32 {
        if self.v4 { 32 } else { 128 }
    }

    /// The network's bits with the host part cleared.
    fn masked(&self, len: u32) -> u128 {
        let host = self.width() - len;
        if host >= 128 { 0 } else { self.bits >> host << host }
    }

    pub fn contains(&self, other: &Net) -> bool {
        self.v4 == other.v4 && other.len >= self.len && self.masked(self.len) == other.masked(self.len)
    }
}

// ------------------------------------------------------------------------------ commands

/// The shell metacharacters of docs/governance.md.
pub const META: &[char] = &[';', '&', '|', '`', '$', '<', '>', '\n', '\r'];

pub fn meta(s: &str) -> BTreeSet<char> {
    s.chars().filter(|c| META.contains(c)).collect()
}

#[derive(Debug)]
pub struct Command {
    meta: BTreeSet<char>,
    args: Vec<Glob>,
}

impl Command {
    pub fn parse(pattern: &str) -> Result<Command, String> {
        let words = split(pattern).ok_or("unbalanced quote")?;
        if words.is_empty() {
            return Err("an empty command pattern".into());
        }
        Ok(Command { meta: meta(pattern), args: words.iter().map(|w| Glob::parse(w)).collect::<Result<_, _>>()? })
    }
}

fn command_allowed(patterns: &[Command], value: &str) -> bool {
    let Some(argv) = split(value) else { return false };
    if argv.is_empty() || argv.iter().any(|a| refused(a, true)) {
        return false;
    }
    let m = meta(value);
    patterns.iter().any(|p| {
        m.is_subset(&p.meta)
            && p.args.len() == argv.len()
            && p.args.iter().zip(&argv).all(|(g, a)| g.matches(a.as_bytes()))
    })
}

/// Splits a command line into words with POSIX quoting: blanks and newlines separate words,
/// `'...'` is literal, `"..."` keeps its text but for `\` before `$`, `` ` ``, `"`, `\` or a
/// newline, a `\` outside quotes takes the next character literally (a newline: nothing), and a
/// `#` that starts a word comments out the rest of the line. `None` for an unclosed quote or a
/// trailing `\`. Operators (`;`, `|`, ...) are ordinary characters here: the metacharacter rule
/// refuses them before they could matter.
pub fn split(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if word.is_none() {
            match c {
                ' ' | '\t' | '\n' => continue,
                '#' => {
                    chars.by_ref().find(|c| *c == '\n');
                    continue;
                }
                _ => word = Some(String::new()),
            }
        }
        let w = word.as_mut().unwrap();
        match c {
            ' ' | '\t' | '\n' => words.extend(word.take()),
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    c => w.push(c),
                }
            },
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        c @ ('$' | '`' | '"' | '\\') => w.push(c),
                        '\n' => {}
                        c => {
                            w.push('\\');
                            w.push(c);
                        }
                    },
                    c => w.push(c),
                }
            },
            '\\' => match chars.next()? {
                '\n' => {}
                c => w.push(c),
            },
            c => w.push(c),
        }
    }
    words.extend(word);
    Some(words)
}
