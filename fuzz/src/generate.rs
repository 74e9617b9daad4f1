//! Random bindings and calls for the scope engine, decoded from the fuzzer's bytes. Values are
//! often made from the binding's own patterns (a glob instantiated, a prefix extended, an
//! address inside a network, a command matching a pattern and then tampered with), so that
//! both decisions are frequent.

use super::input::Input;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Characters of generated text: plain ones, path separators and tricks, non-ASCII letters
/// that may or may not be compared, and control characters (not tab or line breaks, whose
/// treatment is reported separately).
pub const TEXT: &[&str] = &[
    "a", "b", "c", "A", "0", "1", "2", ".", "_", "-", "/", "%", "%2e", "..", "*", "?", " ", "\\", "é", "а", "日", "ｆ",
    "ﬁ", "²", "\u{200b}", "\u{7}", "\u{7f}",
];

/// Text for the literal parts of a glob: no glob syntax, no `/`.
const LITERAL: &[&str] = &["a", "b", "c", "A", "0", "1", ".", "_", "-", "%", "..", "é", "а", "ｆ"];

/// Text for the words of a command value: the above, quotes, blanks, metacharacters, comments.
const SHELL: &[&str] = &[
    "a", "b", "-", "/", ".", "..", "*", " ", "  ", "\t", "\n", "\r", "'", "\"", "\\", "#", ";", "&", "&&", "|", "||",
    "`", "$", "$(", ")", "${", "}", "<", ">", "é", "\u{200b}", "\u{7}",
];

const SCHEME: &str = "https://";

#[derive(Debug, Clone)]
enum GlobPart {
    Lit(String),
    Star,
    One,
    Escaped(char),
}

#[derive(Debug, Clone)]
enum GlobComponent {
    Any,
    Parts(Vec<GlobPart>),
}

/// A generated glob: its components, kept to make matching values.
#[derive(Debug, Clone)]
pub struct GlobShape {
    scheme: bool,
    components: Vec<GlobComponent>,
}

impl GlobShape {
    fn new(input: &mut Input, max_components: usize, any: bool) -> GlobShape {
        let scheme = input.one_in(10);
        let n = 1 + input.below(max_components);
        let mut components = Vec::new();
        for _ in 0..n {
            if any && input.one_in(4) {
                components.push(GlobComponent::Any);
                continue;
            }
            let mut parts = Vec::new();
            for _ in 0..input.below(4) {
                let part = match input.below(8) {
                    0 | 1 => GlobPart::Star,
                    2 => GlobPart::One,
                    3 => GlobPart::Escaped(*input.pick(&['*', '?', 'a', '\\'])),
                    _ => GlobPart::Lit(input.text(LITERAL, 3)),
                };
                // Two stars in a row would be `**`, which has a meaning of its own.
                if matches!(part, GlobPart::Star) && matches!(parts.last(), Some(GlobPart::Star)) {
                    continue;
                }
                parts.push(part);
            }
            components.push(GlobComponent::Parts(parts));
        }
        GlobShape { scheme, components }
    }

    pub fn text(&self) -> String {
        let body: Vec<String> = self
            .components
            .iter()
            .map(|c| match c {
                GlobComponent::Any => "**".to_string(),
                GlobComponent::Parts(parts) => parts
                    .iter()
                    .map(|p| match p {
                        GlobPart::Lit(s) => s.clone(),
                        GlobPart::Star => "*".into(),
                        GlobPart::One => "?".into(),
                        GlobPart::Escaped(c) => format!("\\{c}"),
                    })
                    .collect(),
            })
            .collect();
        format!("{}{}", if self.scheme { SCHEME } else { "" }, body.join("/"))
    }

    /// A value the glob probably matches.
    pub fn instance(&self, input: &mut Input) -> String {
        let fill = |input: &mut Input| {
            if input.one_in(4) {
                input.text(&["a", "1", ".", "é", "ｆ", "/"], 3)
            } else {
                input.text(&["a", "b", "1", "-"], 3)
            }
        };
        let mut segments = Vec::new();
        for c in &self.components {
            match c {
                GlobComponent::Any => {
                    for _ in 0..input.below(3) {
                        segments.push(fill(input));
                    }
                }
                GlobComponent::Parts(parts) => segments.push(
                    parts
                        .iter()
                        .map(|p| match p {
                            GlobPart::Lit(s) => s.clone(),
                            GlobPart::Star => fill(input),
                            GlobPart::One => input.pick(&["a", "-", ".", "/", "é"]).to_string(),
                            GlobPart::Escaped(c) => c.to_string(),
                        })
                        .collect(),
                ),
            }
        }
        format!("{}{}", if self.scheme { SCHEME } else { "" }, segments.join("/"))
    }
}

/// A generated regex of the subset the reference reads.
#[derive(Debug, Clone)]
pub struct RegexShape {
    branches: Vec<Vec<(RegexAtom, char)>>,
}

#[derive(Debug, Clone)]
enum RegexAtom {
    Char(char),
    Dot,
    Class(Vec<char>),
}

const REGEX_CHARS: &[char] = &['a', 'b', 'c', 'A', '0', '1', '-', '_', 'é', 'а', '日'];
/// Inside `[...]`: no `-`, which would make a range.
const CLASS_CHARS: &[char] = &['a', 'b', 'c', '0', '_', 'é', 'а'];

impl RegexShape {
    fn new(input: &mut Input) -> RegexShape {
        let branches = (0..1 + input.below(3))
            .map(|_| {
                (0..input.below(5))
                    .map(|_| {
                        let atom = match input.below(6) {
                            0 => RegexAtom::Dot,
                            1 => RegexAtom::Class((0..1 + input.below(3)).map(|_| *input.pick(CLASS_CHARS)).collect()),
                            _ => RegexAtom::Char(*input.pick(REGEX_CHARS)),
                        };
                        (atom, *input.pick(&['1', '1', '1', '*', '+', '?']))
                    })
                    .collect()
            })
            .collect();
        RegexShape { branches }
    }

    pub fn text(&self) -> String {
        let branches: Vec<String> = self
            .branches
            .iter()
            .map(|b| {
                b.iter()
                    .map(|(atom, q)| {
                        let a = match atom {
                            RegexAtom::Char(c) => c.to_string(),
                            RegexAtom::Dot => ".".into(),
                            RegexAtom::Class(set) => format!("[{}]", set.iter().collect::<String>()),
                        };
                        if *q == '1' { a } else { format!("{a}{q}") }
                    })
                    .collect()
            })
            .collect();
        branches.join("|")
    }

    pub fn instance(&self, input: &mut Input) -> String {
        let branch = input.pick(&self.branches);
        let mut s = String::new();
        for (atom, q) in branch {
            let n = match q {
                '1' => 1,
                '?' => input.below(2),
                '+' => 1 + input.below(2),
                _ => input.below(3),
            };
            for _ in 0..n {
                s.push(match atom {
                    RegexAtom::Char(c) => *c,
                    RegexAtom::Dot => *input.pick(&['x', 'é', 'ｆ', '/', '.']),
                    RegexAtom::Class(set) => *input.pick(set),
                });
            }
        }
        s
    }
}

/// A generated command pattern: its words as globs, and which metacharacters it names.
#[derive(Debug, Clone)]
pub struct CommandShape {
    words: Vec<GlobShape>,
    /// A metacharacter written into the pattern (inside a quoted word), if any.
    meta: Option<&'static str>,
}

const PATTERN_META: &[&str] = &[";", "&", "|", "`", "$", "<", ">"];

impl CommandShape {
    fn new(input: &mut Input) -> CommandShape {
        let words = (0..1 + input.below(4)).map(|_| GlobShape::new(input, 2, false)).collect();
        let meta = input.one_in(4).then(|| *input.pick(PATTERN_META));
        CommandShape { words, meta }
    }

    pub fn text(&self) -> String {
        let mut words: Vec<String> = self.words.iter().map(GlobShape::text).collect();
        if let Some(m) = self.meta {
            words.push(format!("x{m}y"));
        }
        words.iter().map(|w| quote_pattern_word(w)).collect::<Vec<_>>().join(" ")
    }

    /// A command line that probably matches, with its words quoted in assorted ways, and now
    /// and then tampered with.
    pub fn instance(&self, input: &mut Input) -> String {
        let mut argv: Vec<String> = self.words.iter().map(|w| w.instance(input)).collect();
        if let Some(m) = self.meta {
            argv.push(format!("x{m}y"));
        }
        match input.below(12) {
            0 => argv.push(input.text(SHELL, 3)),
            1 => {
                argv.pop();
            }
            2 if !argv.is_empty() => {
                let i = input.below(argv.len());
                let at = input.below(argv[i].chars().count() + 1);
                let cut = argv[i].char_indices().nth(at).map_or(argv[i].len(), |(b, _)| b);
                let extra = *input.pick(SHELL);
                argv[i].insert_str(cut, extra);
            }
            _ => {}
        }
        let mut line = String::new();
        for (i, arg) in argv.iter().enumerate() {
            if i > 0 {
                let blank = *input.pick(&[" ", " ", "  ", "\t"]);
                line.push_str(blank);
            }
            line.push_str(&quote_value_word(arg, input));
        }
        if input.one_in(8) {
            let tail = *input.pick(&[
                "; rm -rf /",
                " && id",
                " || id",
                " | sh",
                " > /etc/passwd",
                " < /etc/shadow",
                "\nid",
                "\r",
                " $(id)",
                " `id`",
                " # comment",
                " #;",
                " &",
            ]);
            line.push_str(tail);
        }
        line
    }
}

/// A pattern word as the pattern's text: single-quoted when it holds anything the shell would
/// read (so that a glob's `\` escape reaches the glob).
fn quote_pattern_word(w: &str) -> String {
    if w.is_empty() || w.contains(|c: char| " \t\\\"#;&|`$<>".contains(c)) { format!("'{w}'") } else { w.to_string() }
}

/// A value word quoted one of several equivalent ways.
fn quote_value_word(w: &str, input: &mut Input) -> String {
    let special = |c: char| " \t\n\\'\"#;&|`$<>".contains(c);
    match input.below(4) {
        0 if !w.contains('\'') => format!("'{w}'"),
        1 => {
            let mut q = String::from("\"");
            for c in w.chars() {
                if "$`\"\\".contains(c) {
                    q.push('\\');
                }
                q.push(c);
            }
            q.push('"');
            q
        }
        2 => w.chars().flat_map(|c| if special(c) { vec!['\\', c] } else { vec![c] }).collect(),
        _ if w.is_empty() => "''".into(),
        _ => w.to_string(),
    }
}

/// How a dimension is generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ExactText,
    ExactNumber,
    Prefix,
    Glob,
    Regex,
    Max,
    Min,
    Cidr,
    Command,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::ExactText | Kind::ExactNumber => "exact",
            Kind::Prefix => "prefix",
            Kind::Glob => "glob",
            Kind::Regex => "regex",
            Kind::Max => "max",
            Kind::Min => "min",
            Kind::Cidr => "cidr",
            Kind::Command => "command",
        }
    }
}

const KINDS: &[Kind] = &[
    Kind::ExactText,
    Kind::ExactNumber,
    Kind::Prefix,
    Kind::Glob,
    Kind::Glob,
    Kind::Regex,
    Kind::Max,
    Kind::Min,
    Kind::Cidr,
    Kind::Cidr,
    Kind::Command,
];

/// How the binding gives a dimension's values.
#[derive(Debug, Clone)]
pub enum Given {
    Absent,
    Null,
    One(Value),
    List(Vec<Value>),
}

/// One dimension: its kind, parameter (JSON pointer tokens), values, and the shapes its
/// values were made from.
#[derive(Debug, Clone)]
pub struct Dim {
    pub kind: Kind,
    pub param: Vec<String>,
    pub given: Given,
    globs: Vec<GlobShape>,
    regexes: Vec<RegexShape>,
    commands: Vec<CommandShape>,
}

impl Dim {
    /// The values as the engine reads them (absent and null are none, one value is a list of one).
    pub fn values(&self) -> Vec<Value> {
        match &self.given {
            Given::Absent | Given::Null => Vec::new(),
            Given::One(v) => vec![v.clone()],
            Given::List(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Binding {
    pub dims: Vec<Dim>,
}

impl Binding {
    pub fn tool(&self) -> Value {
        let scope: Vec<Value> = self
            .dims
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let pointer: String = d.param.iter().map(|t| format!("/{t}")).collect();
                json!({"dimension": format!("d{i}"), "param": pointer, "match": d.kind.name()})
            })
            .collect();
        json!({"name": "t", "parameters": {"type": "object"}, "scope": scope})
    }

    pub fn values(&self) -> BTreeMap<String, Value> {
        let mut map = BTreeMap::new();
        for (i, d) in self.dims.iter().enumerate() {
            let v = match &d.given {
                Given::Absent => continue,
                Given::Null => Value::Null,
                Given::One(v) => v.clone(),
                Given::List(v) => Value::Array(v.clone()),
            };
            map.insert(format!("d{i}"), v);
        }
        map
    }
}

fn scalar_text(input: &mut Input) -> Value {
    let mut s = input.text(TEXT, 5);
    if input.one_in(10) {
        s.insert_str(0, SCHEME);
    }
    Value::from(s)
}

/// A number that is not integral (so that JSON equality needs no rule for `1` against `1.0`).
fn fraction(input: &mut Input) -> Value {
    Value::from(input.below(2001) as f64 - 1000.0 + 0.5)
}

/// A number written one of the ways `max` and `min` read: a JSON integer or float, a decimal
/// string (leading zeros, a fraction, an exponent), near `base`.
fn number_near(base: i64, input: &mut Input) -> Value {
    let n = base.saturating_add(input.below(5) as i64 - 2);
    match input.below(10) {
        0 => Value::from(n.to_string()),
        1 => Value::from(format!("{n}.{}", input.pick(&["0", "5", "000", "0001", "9999"]))),
        2 => Value::from(format!("{n}{}", input.pick(&["e0", "E0", "e+0", "0e-1", "00e-2"]))),
        3 => {
            let (sign, digits) = if n < 0 { ("-", n.unsigned_abs().to_string()) } else { ("", n.to_string()) };
            Value::from(format!("{sign}00{digits}"))
        }
        4 => Value::from(n as f64 + *input.pick(&[0.5, -0.5, 0.25])),
        5 => {
            // Scientific notation of n: d.ddd e k.
            let (sign, digits) = if n < 0 { ("-", n.unsigned_abs().to_string()) } else { ("", n.to_string()) };
            let (first, rest) = digits.split_at(1);
            Value::from(format!("{sign}{first}.{rest}e{}", digits.len() - 1))
        }
        _ => Value::from(n),
    }
}

/// Any number or number-like text, including ones that are not numbers at all.
fn random_number(input: &mut Input) -> Value {
    match input.below(10) {
        0 => {
            let digits: String = (0..1 + input.below(45)).map(|_| *input.pick(&["0", "1", "9"])).collect();
            Value::from(format!("{}{digits}", input.pick(&["", "-", "+"])))
        }
        1 => {
            let exponent: String = (0..1 + input.below(22)).map(|_| *input.pick(&["0", "1", "9"])).collect();
            Value::from(format!(
                "{}{}e{}{exponent}",
                input.pick(&["", "-"]),
                input.pick(&["1", "0", "9.5", "0.0"]),
                input.pick(&["", "-", "+"])
            ))
        }
        2 => Value::from(*input.pick(&[
            "", "-", "+", ".", "e5", "1e", "1e+", "1.2.3", "--1", "1-2", "+-1", "1ee2", "0x10", " 1", "1 ", "inf",
            "NaN", "1_000", "1,5", ".5", "5.", "-.5", "+.5e1", "١", "true",
        ])),
        3 => {
            let f = f64::from_bits(input.u64());
            Value::from(if f.is_finite() { f } else { 0.5 })
        }
        4 => Value::from(input.u64()),
        5 => Value::Bool(input.one_in(2)),
        _ => Value::from(input.i64()),
    }
}

fn ipv4(bits: u32) -> String {
    std::net::Ipv4Addr::from(bits).to_string()
}

fn ipv6(bits: u128) -> String {
    std::net::Ipv6Addr::from(bits).to_string()
}

/// A network or address of the binding: IPv4, IPv6, or IPv4-mapped IPv6, any prefix length.
fn network(input: &mut Input) -> Value {
    let v4 = input.u64() as u32;
    let text = match input.below(10) {
        8 if input.one_in(3) => {
            input.pick(&["10.0.0.256", "1.2.3.4/33", "::1/129", "no-address", "", "1.2.3.4/", "1.2.3"]).to_string()
        }
        0 | 8 => ipv4(v4),
        1..=4 => format!("{}/{}", ipv4(v4), input.below(33)),
        5 => format!("::ffff:{}/{}", ipv4(v4), 80 + input.below(49)),
        6 => {
            let high = *input.pick(&[0u128, 0xfd00 << 112, 0x2001_0db8 << 96, 0xffff << 32]);
            format!("{}/{}", ipv6(high | u128::from(input.u64())), input.below(129))
        }
        _ => ipv6(u128::from(input.u64()) << 64 | u128::from(input.u64())),
    };
    Value::from(text)
}

/// An address or network, often inside `net` (the text of one of the binding's networks).
fn address_for(net: Option<&str>, input: &mut Input) -> Value {
    let parsed = net.and_then(|n| {
        let (a, l) = n.split_once('/').unwrap_or((n, "32"));
        Some((a.parse::<std::net::Ipv4Addr>().ok()?, l.parse::<u32>().ok()?))
    });
    let random = u32::try_from(input.u64() >> 32).unwrap();
    let bits = match parsed {
        Some((a, len)) if len <= 32 && !input.one_in(4) => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            (u32::from(a) & mask) | (random & !mask)
        }
        _ => random,
    };
    let text = match input.below(8) {
        0 => format!("{}/{}", ipv4(bits), input.below(33)),
        1 => format!("::ffff:{}", ipv4(bits)),
        2 => format!("::ffff:{}/{}", ipv4(bits), 80 + input.below(49)),
        3 => format!("{}/{}", ipv6(u128::from(input.u64())), input.below(129)),
        4 if input.one_in(4) => return network(input),
        _ => ipv4(bits),
    };
    Value::from(text)
}

/// A random binding of 1 to 4 dimensions; some share a parameter, some parameters are nested.
pub fn binding(input: &mut Input) -> Binding {
    let n = *input.pick(&[1, 1, 1, 2, 2, 3, 4]);
    let mut dims = Vec::new();
    for _ in 0..n {
        let kind = *input.pick(KINDS);
        let param = match input.below(6) {
            0 => vec!["o".to_string(), format!("p{}", input.below(3))],
            _ => vec![format!("p{}", input.below(4))],
        };
        let (mut globs, mut regexes, mut commands) = (Vec::new(), Vec::new(), Vec::new());
        let count = match kind {
            // A limit is one number; two now and then, which the binding must refuse.
            Kind::Max | Kind::Min => 1 + usize::from(input.one_in(12)),
            _ => 1 + input.below(3),
        };
        let mut values: Vec<Value> = (0..count)
            .map(|_| match kind {
                Kind::ExactText => match input.below(8) {
                    0 => Value::from(input.i64()),
                    1 => Value::Bool(input.one_in(2)),
                    _ => scalar_text(input),
                },
                Kind::ExactNumber => match input.below(8) {
                    0 => fraction(input),
                    1 => Value::from(input.text(&["1", "2", "a"], 2)),
                    _ => Value::from(input.i64()),
                },
                Kind::Prefix => {
                    let mut s = input.text(TEXT, 4);
                    if input.one_in(8) {
                        s.insert_str(0, SCHEME);
                    }
                    Value::from(s)
                }
                Kind::Glob => {
                    let g = GlobShape::new(input, 3, true);
                    let v = Value::from(g.text());
                    globs.push(g);
                    v
                }
                Kind::Regex => {
                    let r = RegexShape::new(input);
                    let v = Value::from(r.text());
                    regexes.push(r);
                    v
                }
                Kind::Max | Kind::Min => match input.below(6) {
                    0 => random_number(input),
                    1 => number_near(input.i64(), input),
                    _ => Value::from(input.i64()),
                },
                Kind::Cidr => network(input),
                Kind::Command => {
                    let c = CommandShape::new(input);
                    let v = Value::from(c.text());
                    commands.push(c);
                    v
                }
            })
            .collect();
        // Now and then a value of the wrong kind, which the binding must refuse.
        if input.one_in(24) {
            values.push(
                input.pick(&[json!(null), json!([1]), json!({"a": 1}), json!(true), json!(3), json!("x")]).clone(),
            );
        }
        let given = match input.below(24) {
            0 => Given::Absent,
            1 => Given::Null,
            2 => Given::List(Vec::new()),
            3 | 4 if values.len() == 1 && !values[0].is_array() && !values[0].is_object() => {
                Given::One(values[0].clone())
            }
            _ => Given::List(values),
        };
        dims.push(Dim { kind, param, given, globs, regexes, commands });
    }
    Binding { dims }
}

/// A value for a parameter checked by `d`: often one that `d` allows or nearly does.
fn value_for(d: &Dim, input: &mut Input) -> Value {
    let values = d.values();
    let picked = |input: &mut Input| (!values.is_empty()).then(|| input.pick(&values).clone());
    if input.one_in(24) {
        return input.pick(&[json!(null), json!({"a": 1}), json!(true), json!(1.5), json!(""), json!([])]).clone();
    }
    match d.kind {
        Kind::ExactText | Kind::ExactNumber => match picked(input) {
            Some(v) if input.below(3) > 0 => v,
            _ if d.kind == Kind::ExactNumber => {
                if input.one_in(4) {
                    fraction(input)
                } else {
                    Value::from(input.i64())
                }
            }
            _ => scalar_text(input),
        },
        Kind::Prefix => match picked(input).and_then(|v| v.as_str().map(str::to_string)) {
            Some(p) if input.below(4) > 0 => {
                let rest =
                    if input.one_in(3) { input.text(TEXT, 3) } else { input.text(&["a", "b", "1", "-", "/x"], 3) };
                Value::from(p + &rest)
            }
            _ => scalar_text(input),
        },
        Kind::Glob => match d.globs.is_empty() || input.one_in(5) {
            true => scalar_text(input),
            false => Value::from(input.pick(&d.globs).instance(input)),
        },
        Kind::Regex => match d.regexes.is_empty() || input.one_in(5) {
            true => scalar_text(input),
            false => Value::from(input.pick(&d.regexes).instance(input)),
        },
        Kind::Max | Kind::Min => {
            let base = picked(input).and_then(|v| match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse::<i64>().ok(),
                _ => None,
            });
            match base {
                Some(b) if input.below(3) > 0 => number_near(b, input),
                _ => random_number(input),
            }
        }
        Kind::Cidr => {
            let net = picked(input);
            address_for(net.as_ref().and_then(Value::as_str), input)
        }
        Kind::Command => match d.commands.is_empty() || input.one_in(6) {
            true => Value::from(input.text(SHELL, 8)),
            false => Value::from(input.pick(&d.commands).instance(input)),
        },
    }
}

/// A random call for `b`: each parameter it checks (now and then missing, or a list).
pub fn call(b: &Binding, input: &mut Input) -> Value {
    let mut args = Map::new();
    for (i, d) in b.dims.iter().enumerate() {
        // A parameter shared by several dimensions gets its value from the first of them,
        // or from a later one now and then.
        let first = b.dims.iter().position(|other| other.param == d.param) == Some(i);
        if !first && !input.one_in(3) {
            continue;
        }
        if input.one_in(16) {
            continue; // missing
        }
        let value = if input.one_in(8) {
            Value::Array((0..input.below(4)).map(|_| value_for(d, input)).collect())
        } else {
            value_for(d, input)
        };
        let (last, parents) = d.param.split_last().unwrap();
        let mut map = &mut args;
        for p in parents {
            let slot = map.entry(p.clone()).or_insert_with(|| json!({}));
            if !slot.is_object() {
                *slot = json!({});
            }
            map = slot.as_object_mut().unwrap();
        }
        map.insert(last.clone(), value);
    }
    if input.one_in(32) {
        args.insert("o".into(), json!("not an object"));
    }
    Value::Object(args)
}
