//! One compiled dimension: the allowed values of a binding (or a delegation) for one match kind.

use super::cidr::Nets;
use super::command::{self, CommandPattern};
use super::glob::Globs;
use super::lookup::same;
use super::values::refusal;
use bigdecimal::BigDecimal;
use monstrum_model::MatchKind;
use regex::RegexSet;
use serde_json::Value;
use std::str::FromStr;

/// Allowed values, compiled once when a binding loads.
#[derive(Debug)]
pub(crate) enum Matcher {
    /// The dimension has no values: nothing is allowed.
    Nothing,
    Exact(Exact),
    /// The globs as one DFA, matched on the value as is.
    Glob(Globs),
    Regex(RegexSet),
    Prefix(Vec<String>),
    Max(Number),
    Min(Number),
    Cidr(Nets),
    Command(Vec<CommandPattern>),
}

/// A number compared exactly: integers up to 38 digits natively, anything else as a decimal.
#[derive(Debug, Clone)]
pub(crate) struct Number {
    int: Option<i128>,
    decimal: BigDecimal,
}

impl Number {
    fn parse(v: &Value) -> Option<Number> {
        match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(Number::from_int(i128::from(i)))
                } else if let Some(u) = n.as_u64() {
                    Some(Number::from_int(i128::from(u)))
                } else {
                    Number::parse_text(&n.to_string())
                }
            }
            Value::String(s) => Number::parse_text(s),
            _ => None,
        }
    }

    fn from_int(i: i128) -> Number {
        Number { int: Some(i), decimal: BigDecimal::from(i) }
    }

    fn parse_text(s: &str) -> Option<Number> {
        let digits = s.strip_prefix('-').unwrap_or(s);
        if !digits.is_empty() && digits.len() <= 38 && digits.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<i128>().ok().map(Number::from_int);
        }
        // Decimal or exponent notation only: no hex, no `inf`, no whitespace.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) {
            return None;
        }
        BigDecimal::from_str(s).ok().map(|decimal| Number { int: None, decimal })
    }

    fn cmp_value(&self, v: &Value) -> Option<std::cmp::Ordering> {
        // Fast path: both are integers.
        if let (Some(limit), Some(i)) = (self.int, v.as_i64()) {
            return Some(i128::from(i).cmp(&limit));
        }
        let n = Number::parse(v)?;
        match (self.int, n.int) {
            (Some(limit), Some(i)) => Some(i.cmp(&limit)),
            _ => Some(n.decimal.cmp(&self.decimal)),
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.int {
            Some(i) => write!(f, "{i}"),
            None => write!(f, "{}", self.decimal),
        }
    }
}

/// The values of an `exact` dimension, with its strings and integers apart so that a decision
/// compares a string or an integer only with values of its own kind.
#[derive(Debug)]
pub(crate) struct Exact {
    strings: Vec<String>,
    ints: Vec<i64>,
    /// Everything else (booleans, floats, integers beyond `i64`), compared as JSON values.
    others: Vec<Value>,
    /// All of them as written.
    values: Vec<Value>,
}

impl Exact {
    fn new(values: &[Value]) -> Exact {
        let (mut strings, mut ints, mut others) = (Vec::new(), Vec::new(), Vec::new());
        for v in values {
            match v {
                Value::String(s) => strings.push(s.clone()),
                Value::Number(n) if n.as_i64().is_some() => ints.extend(n.as_i64()),
                other => others.push(other.clone()),
            }
        }
        Exact { strings, ints, others, values: values.to_vec() }
    }

    /// Whether `value` equals one of the values (as JSON values are equal: `3` is not `"3"`, nor
    /// `3.0`).
    fn contains(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.strings.iter().any(|a| same(a, s)),
            Value::Number(n) => match n.as_i64() {
                Some(i) => self.ints.contains(&i),
                None => self.others.iter().any(|a| a == value),
            },
            _ => self.others.iter().any(|a| a == value),
        }
    }
}

fn strings(values: &[Value], kind: MatchKind) -> Result<Vec<String>, String> {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("a `{}` value must be a string, not {other}", kind.name())),
        })
        .collect()
}

impl Matcher {
    /// Compiles the allowed `values` for `kind`. An empty list compiles to [`Matcher::Nothing`].
    pub(crate) fn compile(kind: MatchKind, values: &[Value]) -> Result<Matcher, String> {
        if values.is_empty() {
            return Ok(Matcher::Nothing);
        }
        Ok(match kind {
            MatchKind::Exact => {
                if let Some(bad) = values.iter().find(|v| v.is_array() || v.is_object() || v.is_null()) {
                    return Err(format!("an `exact` value must be a string, number or boolean, not {bad}"));
                }
                Matcher::Exact(Exact::new(values))
            }
            MatchKind::Glob => Matcher::Glob(Globs::new(strings(values, kind)?)?),
            MatchKind::Regex => {
                let anchored: Vec<String> = strings(values, kind)?.iter().map(|p| format!("^(?:{p})$")).collect();
                Matcher::Regex(RegexSet::new(&anchored).map_err(|e| format!("bad regex: {e}"))?)
            }
            MatchKind::Prefix => Matcher::Prefix(strings(values, kind)?),
            MatchKind::Max | MatchKind::Min => {
                let [v] = values else {
                    return Err(format!("a `{}` dimension takes exactly one number", kind.name()));
                };
                let n = Number::parse(v).ok_or_else(|| format!("`{v}` is not a number"))?;
                if kind == MatchKind::Max { Matcher::Max(n) } else { Matcher::Min(n) }
            }
            MatchKind::Cidr => Matcher::Cidr(Nets::new(&strings(values, kind)?)?),
            MatchKind::Command => Matcher::Command(
                strings(values, kind)?.iter().map(|p| CommandPattern::new(p)).collect::<Result<_, _>>()?,
            ),
        })
    }

    /// Whether one parameter value is allowed; `Err` names the value refused (an element, for
    /// a list) and why. Nothing is formatted here: a denial's text is made only when read.
    pub(crate) fn check<'v>(&self, value: &'v Value) -> Result<(), (&'v Value, Why)> {
        if let Value::Array(items) = value {
            if items.is_empty() {
                return Err((value, Why::EmptyList));
            }
            return items.iter().try_for_each(|item| self.check_one(item).map_err(|why| (item, why)));
        }
        self.check_one(value).map_err(|why| (value, why))
    }

    fn check_one(&self, value: &Value) -> Result<(), Why> {
        let text = || value.as_str().ok_or(Why::NotString);
        let allow = |ok: bool| if ok { Ok(()) } else { Err(Why::NoMatch) };
        match self {
            Matcher::Nothing => Err(Why::Nothing),
            Matcher::Exact(allowed) => allow(allowed.contains(value)),
            Matcher::Glob(globs) => {
                let s = text()?;
                checked(s, true)?;
                allow(globs.is_match(s.as_bytes()))
            }
            Matcher::Regex(set) => {
                let s = text()?;
                checked(s, false)?;
                allow(set.is_match(s))
            }
            Matcher::Prefix(prefixes) => {
                let s = text()?;
                checked(s, true)?;
                allow(prefixes.iter().any(|p| s.starts_with(p.as_str())))
            }
            Matcher::Max(limit) => match limit.cmp_value(value) {
                Some(std::cmp::Ordering::Greater) => Err(Why::Above),
                Some(_) => Ok(()),
                None => Err(Why::NotNumber),
            },
            Matcher::Min(limit) => match limit.cmp_value(value) {
                Some(std::cmp::Ordering::Less) => Err(Why::Below),
                Some(_) => Ok(()),
                None => Err(Why::NotNumber),
            },
            Matcher::Cidr(nets) => allow(nets.contain(text()?).ok_or(Why::NotAddress)?),
            Matcher::Command(patterns) => command::check(patterns, text()?).map_err(Why::Command),
        }
    }

    /// Why `value` was refused, in words.
    pub(crate) fn explain(&self, value: &Value, why: &Why) -> String {
        let v = short(value);
        let limit = match self {
            Matcher::Max(n) | Matcher::Min(n) => n.to_string(),
            _ => String::new(),
        };
        match why {
            Why::EmptyList => "an empty list is not allowed".into(),
            Why::Nothing => "the binding allows no value in this dimension".into(),
            Why::NotString => format!("{v} is not a string"),
            Why::NotNumber => format!("{v} is not a number"),
            Why::NotAddress => format!("{v} is not an IP address"),
            Why::Refused(reason) => format!("{v} {reason}"),
            Why::Above => format!("{v} is above the limit {limit}"),
            Why::Below => format!("{v} is below the limit {limit}"),
            Why::Command(reason) => format!("command {v}: {reason}"),
            Why::NoMatch => match self {
                Matcher::Exact(_) => format!("{v} is not one of the allowed values"),
                Matcher::Glob(g) => format!("{v} matches none of {:?}", g.patterns()),
                Matcher::Prefix(p) => format!("{v} starts with none of {p:?}"),
                Matcher::Cidr(_) => format!("{v} is outside the allowed networks"),
                _ => format!("{v} matches no allowed pattern"),
            },
        }
    }

    /// The allowed values as written, for messages and the Cedar translation.
    pub(crate) fn describe(&self) -> String {
        match self {
            Matcher::Nothing => "nothing".into(),
            Matcher::Exact(e) => format!("{:?}", e.values),
            Matcher::Glob(g) => format!("{:?}", g.patterns()),
            Matcher::Regex(set) => format!("{:?}", set.patterns()),
            Matcher::Prefix(p) => format!("{p:?}"),
            Matcher::Max(n) => format!("at most {n}"),
            Matcher::Min(n) => format!("at least {n}"),
            Matcher::Cidr(n) => format!("{:?}", n.nets()),
            Matcher::Command(p) => format!("{:?}", p.iter().map(CommandPattern::text).collect::<Vec<_>>()),
        }
    }
}

fn checked(s: &str, path_like: bool) -> Result<(), Why> {
    refusal(s, path_like).map_or(Ok(()), |why| Err(Why::Refused(why)))
}

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Why {
    EmptyList,
    /// The dimension has no values.
    Nothing,
    NotString,
    NotNumber,
    NotAddress,
    /// The value's text is refused before any pattern sees it (see `values`).
    Refused(&'static str),
    /// No allowed value matches.
    NoMatch,
    Above,
    Below,
    /// A command's own reason.
    Command(String),
}

/// A value for a message: JSON, cut to 80 characters.
pub(crate) fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(kind: MatchKind, values: Value) -> Matcher {
        Matcher::compile(kind, values.as_array().unwrap()).unwrap()
    }

    #[test]
    fn each_kind_allows_and_denies() {
        let cases: Vec<(MatchKind, Value, Vec<Value>, Vec<Value>)> = vec![
            (MatchKind::Exact, json!(["a", 3]), vec![json!("a"), json!(3)], vec![json!("b"), json!("3"), json!(null)]),
            (
                MatchKind::Glob,
                json!(["acme/public-*", "logs/**"]),
                vec![json!("acme/public-site"), json!("logs/a/b/c")],
                vec![json!("internal/secrets"), json!("acme/public-x/y"), json!("acme/public-\u{200b}x"), json!(1)],
            ),
            (MatchKind::Regex, json!(["v[0-9]+"]), vec![json!("v12")], vec![json!("xv12"), json!("v12x")]),
            (
                MatchKind::Prefix,
                json!(["/var/log/"]),
                vec![json!("/var/log/app.log")],
                vec![json!("/etc/passwd"), json!("/var/log/../../etc/passwd")],
            ),
            (
                MatchKind::Max,
                json!(["1000000000000000000"]),
                vec![json!(5), json!("1000000000000000000"), json!("0.5"), json!(1e18)],
                vec![json!("1000000000000000001"), json!("1e19"), json!("0x10"), json!(true), json!("")],
            ),
            (MatchKind::Min, json!([1.5]), vec![json!(2), json!("1.5")], vec![json!(1), json!("1.49")]),
            (
                MatchKind::Cidr,
                json!(["10.0.0.0/8", "fd00::/8"]),
                vec![json!("10.1.2.3"), json!("::ffff:10.0.0.1"), json!("10.2.0.0/16"), json!("fd00::1")],
                vec![json!("11.0.0.1"), json!("10.0.0.0/7"), json!("example.com"), json!("::ffff:11.0.0.1")],
            ),
        ];
        for (kind, values, allowed, denied) in cases {
            let matcher = m(kind, values);
            for v in allowed {
                assert!(matcher.check(&v).is_ok(), "{kind:?} should allow {v}: {:?}", matcher.check(&v));
            }
            for v in denied {
                assert!(matcher.check(&v).is_err(), "{kind:?} should deny {v}");
            }
        }
    }

    /// Found by the scope fuzz target: an IPv4-mapped network wider than /96 was read as the
    /// IPv4 network /0, so `0.0.0.0/0` allowed `::ffff:10.0.0.1/64` (all of `::/64`, `::1`
    /// included) and a binding `::ffff:10.0.0.1/90` allowed every IPv4 address.
    #[test]
    fn a_mapped_network_wider_than_96_bits_is_ipv6() {
        let any_v4 = m(MatchKind::Cidr, json!(["0.0.0.0/0"]));
        assert!(any_v4.check(&json!("::ffff:10.0.0.1/64")).is_err());
        assert!(any_v4.check(&json!("::ffff:0.0.0.0/0")).is_err());
        assert!(any_v4.check(&json!("::ffff:10.0.0.1/104")).is_ok(), "/104 mapped is 10.0.0.0/8");
        let wide = m(MatchKind::Cidr, json!(["::ffff:10.0.0.1/90"]));
        assert!(wide.check(&json!("8.8.8.8")).is_err());
        assert!(wide.check(&json!("::1")).is_err(), "::ffc0:0:0/90 does not hold ::1");
        assert!(wide.check(&json!("::ffff:0:0/96")).is_err(), "IPv4, which no IPv6 network contains");
        assert!(wide.check(&json!("::ffc1:0:0/96")).is_ok(), "an IPv6 network inside ::ffc0:0:0/90");
    }

    /// Each kind of value equals only values of its own kind, as JSON values compare.
    #[test]
    fn exact_compares_as_json_values() {
        let big = u64::MAX;
        let e = m(MatchKind::Exact, json!(["3", 4, -5, 1.5, true, big]));
        for ok in [json!("3"), json!(4), json!(-5), json!(1.5), json!(true), json!(big)] {
            assert!(e.check(&ok).is_ok(), "{ok}");
            assert_eq!(e.check(&ok).is_ok(), json!(["3", 4, -5, 1.5, true, big]).as_array().unwrap().contains(&ok));
        }
        for bad in
            [json!(3), json!("4"), json!(4.0), json!(-5.0), json!("true"), json!(false), json!(big - 1), json!(null)]
        {
            assert!(e.check(&bad).is_err(), "{bad}");
            assert!(!json!(["3", 4, -5, 1.5, true, big]).as_array().unwrap().contains(&bad), "{bad}");
        }
    }

    #[test]
    fn empty_dimension_and_lists() {
        assert!(m(MatchKind::Exact, json!([])).check(&json!("a")).is_err());
        let g = m(MatchKind::Glob, json!(["a*"]));
        assert!(g.check(&json!(["ab", "ac"])).is_ok());
        assert!(g.check(&json!(["ab", "b"])).is_err());
        assert!(g.check(&json!([])).is_err());
    }

    #[test]
    fn bad_values_do_not_compile() {
        for (kind, values) in [
            (MatchKind::Regex, json!(["("])),
            (MatchKind::Cidr, json!(["10.0.0.0/99"])),
            (MatchKind::Max, json!(["lots"])),
            (MatchKind::Max, json!([1, 2])),
            (MatchKind::Glob, json!(["a[b"])),
            (MatchKind::Glob, json!([1])),
            (MatchKind::Command, json!(["tail 'x"])),
            (MatchKind::Exact, json!([{"a": 1}])),
        ] {
            assert!(Matcher::compile(kind, values.as_array().unwrap()).is_err(), "{kind:?} {values}");
        }
    }
}
