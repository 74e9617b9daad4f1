//! The `command` match kind: a command line compared with patterns argument by argument.
//!
//! The value is split into argv the way a POSIX shell would (quotes, escapes) by `shlex`, and each
//! argument is compared with the pattern's argument at the same position as a glob (`*` does not
//! cross `/`). Argument counts must be equal. Shell metacharacters (`;`, `&`, `|`, backtick, `$`,
//! `<`, `>`, newline, carriage return) anywhere in the value refuse it, unless the pattern that
//! matches contains the same characters itself.

use super::glob::Globs;
use super::values::refusal;

const META: &[u8] = b";&|`$<>\n\r";

fn meta_mask(text: &str) -> u16 {
    text.bytes().filter_map(|b| META.iter().position(|m| *m == b)).fold(0, |mask, i| mask | (1 << i))
}

/// A compiled command pattern.
#[derive(Debug)]
pub(crate) struct CommandPattern {
    text: String,
    args: Vec<Globs>,
    meta: u16,
}

impl CommandPattern {
    /// Compiles `pattern`; an unbalanced quote or a bad glob is an error.
    pub(crate) fn new(pattern: &str) -> Result<Self, String> {
        let words = shlex::split(pattern).ok_or_else(|| format!("`{pattern}` has an unbalanced quote"))?;
        if words.is_empty() {
            return Err("an empty command pattern".into());
        }
        let args = words.iter().map(|w| Globs::new(vec![w.clone()])).collect::<Result<Vec<_>, _>>()?;
        Ok(CommandPattern { text: pattern.to_string(), args, meta: meta_mask(pattern) })
    }

    /// The pattern as written.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

/// Whether `value` matches one of `patterns`; `Err` says why not.
pub(crate) fn check(patterns: &[CommandPattern], value: &str) -> Result<(), String> {
    let meta = meta_mask(value);
    let argv = shlex::split(value).ok_or("the command has an unbalanced quote")?;
    if argv.is_empty() {
        return Err("the command is empty".into());
    }
    if let Some(why) = argv.iter().find_map(|a| refusal(a, true)) {
        return Err(format!("an argument {why}"));
    }
    let fits = |p: &CommandPattern| {
        meta & !p.meta == 0
            && p.args.len() == argv.len()
            && p.args.iter().zip(&argv).all(|(g, a)| g.is_match(a.as_bytes()))
    };
    if patterns.iter().any(fits) {
        return Ok(());
    }
    if meta != 0 && !patterns.iter().any(|p| meta & !p.meta == 0) {
        return Err("it contains shell metacharacters that no pattern names".into());
    }
    Err("it matches no allowed command".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(patterns: &[&str], value: &str) -> bool {
        let compiled: Vec<_> = patterns.iter().map(|p| CommandPattern::new(p).unwrap()).collect();
        check(&compiled, value).is_ok()
    }

    #[test]
    fn argv_wise_matching() {
        let p = ["tail -n * /var/log/*", "systemctl restart app"];
        assert!(allowed(&p, "tail -n 5 /var/log/app.log"));
        assert!(allowed(&p, "tail -n 5 '/var/log/app.log'"));
        assert!(allowed(&p, "systemctl restart app"));
        assert!(!allowed(&p, "systemctl restart db"));
        assert!(!allowed(&p, "systemctl restart app now"));
        assert!(!allowed(&p, "tail -n 5 /var/log/nginx/error.log"), "`*` does not cross `/`");
        assert!(!allowed(&p, "tail -n 5 /var/log/.."));
        assert!(!allowed(&p, "tail -n 5 /etc/shadow"));
        assert!(!allowed(&p, ""));
        assert!(!allowed(&p, "tail -n 5 '/var/log/app.log"));
    }

    #[test]
    fn metacharacters_are_refused_unless_named() {
        let p = ["tail -n * /var/log/*"];
        for attack in [
            "tail -n 5 /var/log/app.log; rm -rf /",
            "tail -n 5 /var/log/app.log && rm -rf /",
            "tail -n 5 /var/log/app.log || rm -rf /",
            "tail -n 5 /var/log/app.log | sh",
            "tail -n `rm -rf /` /var/log/app.log",
            "tail -n $(rm -rf /) /var/log/app.log",
            "tail -n 5 /var/log/app.log > /etc/passwd",
            "tail -n 5 /var/log/a.log\nrm -rf /",
            "tail -n 5 '/var/log/a;b'",
            "tail -n ${IFS} /var/log/app.log",
        ] {
            assert!(!allowed(&p, attack), "{attack:?} must be refused");
        }
        assert!(allowed(&["sh -c 'ps aux | grep app'"], "sh -c 'ps aux | grep app'"));
        assert!(!allowed(&["sh -c 'ps aux | grep app'"], "sh -c 'ps aux ; grep app'"));
    }
}
