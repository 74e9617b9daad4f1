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
    let bytes = value.as_bytes();
    // Checked from the first byte, a value is plain less often than from after its scheme, so
    // a plain value needs no look for a scheme at all.
    if plain(bytes, path_like) {
        return None;
    }
    if !value.is_ascii() {
        if value.chars().any(|c| !c.is_ascii() && !c.is_alphanumeric()) {
            return Some("contains a non-ASCII character that is not a letter or digit");
        }
        if !unicode_normalization::is_nfkc(value) {
            return Some("is not in Unicode NFKC form (compatibility or look-alike characters)");
        }
    }
    // Where a URL's `scheme://` ends: its `//` is not an empty path segment. The scheme itself
    // holds nothing that the screen looks for, so the rest decides.
    let scheme_end = if path_like { scheme_end(bytes) } else { 0 };
    if scheme_end > 0 && plain(&bytes[scheme_end..], path_like) { None } else { walk(bytes, path_like, scheme_end) }
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

/// The common case, decided eight bytes at a time without branching on them: ASCII only, no
/// control character (tab and line breaks included), and for path-like kinds no backslash, no
/// `%`, and no `..` or `//`. Anything else takes the exact checks.
fn plain(bytes: &[u8], path_like: bool) -> bool {
    if path_like { screen::<true>(bytes) } else { screen::<false>(bytes) }
}

fn screen<const PATH: bool>(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    let mut flags = 0u64;
    // The separator flags of the previous word's last byte, moved to the first byte's place.
    let mut before = (0u64, 0u64);
    let mut check = |w: u64, before: (u64, u64)| {
        flags |= w & HIGH | below_space(w) | equal(w, 0x7f);
        if PATH {
            let (dots, slashes) = (equal(w, b'.'), equal(w, b'/'));
            // A pair's flag sits on its second byte.
            flags |=
                equal(w, b'\\') | equal(w, b'%') | dots & (dots << 8 | before.0) | slashes & (slashes << 8 | before.1);
            (dots >> 56, slashes >> 56)
        } else {
            (0, 0)
        }
    };
    if n < 8 {
        // Padded with a byte that no check looks for.
        let mut last = [b'a'; 8];
        for (to, from) in last.iter_mut().zip(bytes) {
            *to = *from;
        }
        check(u64::from_le_bytes(last), before);
        return flags == 0;
    }
    let mut at = 0;
    while at + 8 <= n {
        before = check(word(at), before);
        at += 8;
    }
    if at < n {
        // The last eight bytes, overlapping the word before: a pair that crosses into them lies
        // wholly inside them, so nothing is carried over.
        check(word(n - 8), (0, 0));
    }
    flags == 0
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// `0x80` in each byte of `w` that equals `c`, `0` in every other byte (no carry crosses a byte).
#[inline(always)]
fn equal(w: u64, c: u8) -> u64 {
    let x = w ^ ONES * u64::from(c);
    !((x & !HIGH).wrapping_add(!HIGH) | x) & HIGH
}

/// `0x80` in each byte of `w` below `0x20` (a control character), `0` in every other byte.
#[inline(always)]
fn below_space(w: u64) -> u64 {
    !((w & !HIGH).wrapping_add(ONES * 0x60) | w) & HIGH
}

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
                    if super::plain(&bytes, path_like) || end > 0 && super::plain(&bytes[end..], path_like) {
                        assert_eq!(super::walk(&bytes, path_like, end), None, "{:?}", String::from_utf8_lossy(&bytes));
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000, "the fast path was taken {checked} times");
    }

    /// A trick is found wherever it sits, across the eight-byte words the fast test reads too,
    /// and a URL's own `//` is not one.
    #[test]
    fn tricks_at_every_offset_are_found() {
        for offset in 0..26 {
            let head = "a".repeat(offset);
            for trick in ["/../", "//", "\\", "%2e", "\u{7}", "\u{7f}"] {
                let value = format!("{head}{trick}tail");
                assert!(refusal(&value, true).is_some(), "{value:?} should be refused");
            }
            assert!(refusal(&format!("{head}\u{1}x"), false).is_some(), "control characters in any kind");
            assert_eq!(refusal(&format!("{head}\tx\r\n"), true), None, "tabs and line breaks are text");
            assert_eq!(refusal(&format!("{head}a.b/c"), true), None);
            assert_eq!(refusal(&format!("{head}..b/c.."), true), None, "dots inside a segment are fine");
            assert_eq!(refusal(&format!("https://{head}.x/y"), true), None);
            assert!(refusal(&format!("https://{head}//y"), true).is_some(), "{head}");
        }
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
