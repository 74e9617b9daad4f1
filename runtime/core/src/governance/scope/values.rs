//! What a string must look like before any pattern sees it.
//!
//! Refused, never normalised (the tool receives the caller's original text, so checking a
//! normalised copy would check something else than what runs):
//! - text not in Unicode NFKC form (fullwidth letters and punctuation, ligatures, other
//!   compatibility forms that a server may fold into ASCII later);
//! - non-ASCII characters that are not letters or digits (zero-width and bidi-override format
//!   characters, look-alike punctuation) and ASCII control characters;
//! - for path-like kinds (`glob`, `prefix`, `command` arguments): a `..` segment, a backslash,
//!   percent-encoding (`%2e`), and an empty segment (`//`) other than right after a URL scheme.
//!
//! Look-alike letters (Cyrillic `а` for Latin `a`) are different characters and are compared as
//! such, so they never match a pattern written in ASCII.

/// Why a string value is refused, or `None` when it may be compared. One pass over the bytes
/// for plain ASCII, the common case.
pub(crate) fn refusal(value: &str, path_like: bool) -> Option<&'static str> {
    if !value.is_ascii() {
        if value.chars().any(|c| !c.is_ascii() && !c.is_alphanumeric()) {
            return Some("contains a non-ASCII character that is not a letter or digit");
        }
        if !unicode_normalization::is_nfkc(value) {
            return Some("is not in Unicode NFKC form (compatibility or look-alike characters)");
        }
    }
    let bytes = value.as_bytes();
    // Checked from the first byte, a value is plain less often than from after its scheme, so
    // a plain value needs no look for a scheme at all.
    if plain(bytes, path_like, 0) {
        return None;
    }
    // Where a URL's `scheme://` ends: its `//` is not an empty path segment.
    let scheme_end = if path_like { scheme_end(bytes) } else { 0 };
    if plain(bytes, path_like, scheme_end) { None } else { walk(bytes, path_like, scheme_end) }
}

/// The exact check, byte by byte.
fn walk(bytes: &[u8], path_like: bool, scheme_end: usize) -> Option<&'static str> {
    let mut segment_start = scheme_end;
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_control() && b != b'\n' && b != b'\r' && b != b'\t' {
            return Some("contains a control character");
        }
        if !path_like || i < scheme_end {
            continue;
        }
        match b {
            b'\\' => return Some("contains a backslash"),
            b'%' if bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit) =>
            {
                return Some("contains percent-encoding");
            }
            b'/' => {
                if let Some(why) =
                    segment_refusal(&bytes[segment_start..i], segment_start > scheme_end || i > scheme_end)
                {
                    return Some(why);
                }
                segment_start = i + 1;
            }
            _ => {}
        }
    }
    if path_like && bytes[segment_start..] == *b".." {
        return Some("contains a `..` path segment");
    }
    None
}

/// The common case, decided in one pass over the bytes without branching on them: no control
/// character (tab and line breaks included), and for path-like kinds no backslash, no `%`, and no
/// `..` or `//` after the scheme. Anything else takes the exact walk of [`walk`].
fn plain(bytes: &[u8], path_like: bool, scheme_end: usize) -> bool {
    let odd = if path_like { CONTROL | PATH_ODD } else { CONTROL };
    let separators = if path_like { DOT | SLASH } else { 0 };
    let (head, rest) = bytes.split_at(scheme_end);
    let mut bad = head.iter().fold(0, |acc, &b| acc | CLASS[usize::from(b)] & odd);
    // A byte's class and the previous byte's separator class share a bit only for `..` or `//`.
    let mut previous = 0;
    for &b in rest {
        let class = CLASS[usize::from(b)];
        bad |= class & odd | class & previous;
        previous = class & separators;
    }
    bad == 0
}

const CONTROL: u8 = 1;
const PATH_ODD: u8 = 2;
const DOT: u8 = 4;
const SLASH: u8 = 8;

/// What [`plain`] looks for, by byte: control characters, a backslash or `%`, `.` and `/`.
static CLASS: [u8; 256] = {
    let mut class = [0; 256];
    let mut b = 0;
    while b < 256 {
        class[b] = match b as u8 {
            0..0x20 | 0x7f => CONTROL,
            b'\\' | b'%' => PATH_ODD,
            b'.' => DOT,
            b'/' => SLASH,
            _ => 0,
        };
        b += 1;
    }
    class
};

/// The segment between two slashes: `..` is refused, and so is an empty one between slashes.
fn segment_refusal(segment: &[u8], between_slashes: bool) -> Option<&'static str> {
    match segment {
        b".." => Some("contains a `..` path segment"),
        b"" if between_slashes => Some("contains an empty path segment (`//`)"),
        _ => None,
    }
}

/// The length of a leading `scheme://`, or 0.
fn scheme_end(bytes: &[u8]) -> usize {
    let scheme = bytes.iter().take_while(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)).count();
    if scheme > 0 && bytes[scheme..].starts_with(b"://") { scheme + 3 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn refuses_tricks_and_accepts_plain_text() {
        for ok in ["acme/public-site", "/var/log/app.log", "https://api.example.com/v1/x", "café", "日本語"] {
            assert_eq!(refusal(ok, true), None, "{ok}");
        }
        for bad in [
            "/var/log/../../etc/shadow",
            "..",
            "/var/log/%2e%2e/x",
            "a//b",
            "https://x.com//etc",
            "C:\\windows",
            "acme\u{200b}/public-x",
            "acme/public\u{202e}x",
            "ａｃｍｅ/public-x",
            "tab\u{7}bell",
        ] {
            assert!(refusal(bad, true).is_some(), "{bad:?} should be refused");
        }
        assert_eq!(refusal("a/../b", false), None, "path checks only apply to path-like kinds");
        assert!(refusal("ａ", false).is_some(), "NFKC applies to every kind");
    }

    /// Every string of up to six characters over the characters that matter: whenever the fast
    /// test calls a string plain, the exact walk accepts it too.
    #[test]
    fn the_fast_path_never_accepts_what_the_walk_refuses() {
        const ALPHABET: &[u8] = b"./%\\a:\t";
        let mut checked = 0;
        for len in 0..=6u32 {
            for mut n in 0..ALPHABET.len().pow(len) {
                let mut bytes = Vec::new();
                for _ in 0..len {
                    bytes.push(ALPHABET[n % ALPHABET.len()]);
                    n /= ALPHABET.len();
                }
                for path_like in [false, true] {
                    let end = if path_like { super::scheme_end(&bytes) } else { 0 };
                    // `refusal` first asks with no scheme at all, then after the scheme.
                    if super::plain(&bytes, path_like, 0) || super::plain(&bytes, path_like, end) {
                        assert_eq!(super::walk(&bytes, path_like, end), None, "{:?}", String::from_utf8_lossy(&bytes));
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000, "the fast path was taken {checked} times");
    }

    /// A trick in the last bytes of a value is found, whatever its length.
    #[test]
    fn tricks_at_the_end_of_a_value_are_found() {
        for len in [2, 31, 32, 33, 34, 63, 64, 65, 66, 200] {
            let head = "a".repeat(len - 2);
            for tail in ["/..", "//", "\\x", "%2e", "\u{7}"] {
                let value = format!("{head}{tail}");
                assert!(refusal(&value, true).is_some(), "{value:?} ({} bytes) should be refused", value.len());
            }
            assert_eq!(refusal(&format!("{head}/x"), true), None);
            assert_eq!(refusal(&format!("https://{head}/x"), true), None, "a URL's own `//` is not a trick");
        }
    }
}
