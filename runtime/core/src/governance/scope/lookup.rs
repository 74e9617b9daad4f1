//! Finding the parameters that a tool's rules check in a call's arguments, in one pass.
//!
//! Most rules point at a top-level argument (`/repo`). Their distinct keys get slots, and a small
//! perfect hash (chosen when the scope compiles) maps a key to its slot, so one walk over the
//! argument object fills every slot: a few instructions per argument instead of a scan of the
//! object per rule. Keys the hash cannot tell apart, and scopes with more keys than slots, keep the
//! scan (see `Pointer::get`).

use serde_json::{Map, Value};

/// The most distinct top-level keys one scope gathers.
pub(super) const MAX_KEYS: usize = 16;
/// Slots of the hash table (a power of two).
const TABLE: usize = 64;
/// Objects larger than this are looked up key by key instead (the walk would visit every entry).
const MAX_WALK: usize = 64;

/// The slots of one scope's top-level keys.
#[derive(Debug)]
pub(super) struct Lookup {
    keys: Vec<String>,
    /// hash → slot + 1; 0 is no key.
    table: [u8; TABLE],
    seed: u32,
}

/// The arguments' values by slot.
pub(super) type Found<'v> = [Option<&'v Value>; MAX_KEYS];

impl Lookup {
    /// A lookup for `keys` (distinct), or `None` when there are too many or no seed separates them.
    pub(super) fn new(keys: Vec<String>) -> Option<Lookup> {
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return None;
        }
        (0..256u32).map(|i| 0x9E37_79B1u32.wrapping_add(i.wrapping_mul(0x6A09_E668))).find_map(|seed| {
            let mut table = [0u8; TABLE];
            for (slot, key) in keys.iter().enumerate() {
                let cell = &mut table[hash(key.as_bytes(), seed)];
                if *cell != 0 {
                    return None;
                }
                *cell = slot as u8 + 1;
            }
            Some(Lookup { keys: keys.clone(), table, seed })
        })
    }

    /// The slot of `key`, if it is one of the keys.
    pub(super) fn slot(&self, key: &str) -> Option<usize> {
        self.keys.iter().position(|k| k == key)
    }

    /// The values of the keys in `arguments`, by slot; `None` when the object is too large to
    /// walk (the caller then looks each key up).
    #[inline]
    pub(super) fn gather<'v>(&self, arguments: &'v Map<String, Value>) -> Option<Found<'v>> {
        if arguments.len() > MAX_WALK {
            return None;
        }
        let mut found: Found<'v> = [None; MAX_KEYS];
        for (key, value) in arguments {
            let cell = self.table[hash(key.as_bytes(), self.seed)];
            if cell != 0 {
                let slot = usize::from(cell - 1);
                if same(&self.keys[slot], key) {
                    found[slot] = Some(value);
                }
            }
        }
        Some(found)
    }
}

/// A hash of a key's length, its first two and its last two bytes, to `TABLE` cells.
#[inline]
fn hash(key: &[u8], seed: u32) -> usize {
    let n = key.len();
    let at = |i: usize| key.get(i).copied().unwrap_or(0);
    let x =
        u32::from_le_bytes([at(0), at(1), at(n.wrapping_sub(2)), at(n.wrapping_sub(1))]) ^ (n as u32).rotate_left(13);
    (x.wrapping_mul(seed) >> (32 - TABLE.trailing_zeros())) as usize
}

/// String equality for short keys: lengths first, then at most two overlapping four-byte words
/// (no call to `memcmp` up to eight bytes).
#[inline]
pub(super) fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
    match n {
        0 => true,
        // The first, middle and last bytes are every byte.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=8 => word(a, 0) == word(b, 0) && word(a, n - 4) == word(b, n - 4),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_key_is_found_in_its_slot_and_nothing_else_is() {
        let names = ["repo", "host", "file", "branch", "project", "path", "url", "amount", "timeout", "ip", "", "r"];
        let lookup = Lookup::new(keys(&names)).expect("a seed separates these keys");
        let mut args = serde_json::Map::new();
        for (i, k) in names.iter().enumerate().rev() {
            args.insert(k.to_string(), json!(i));
        }
        // Keys that are not gathered, some sharing a length and ends with one that is.
        for other in ["repos", "rePo", "body", "hist", "pa", "ur"] {
            args.insert(other.to_string(), json!("other"));
        }
        let found = lookup.gather(&args).unwrap();
        for (i, k) in names.iter().enumerate() {
            assert_eq!(found[lookup.slot(k).unwrap()], Some(&json!(i)), "{k}");
        }
        assert_eq!(found.iter().flatten().count(), names.len());
        let empty = serde_json::Map::new();
        let missing = lookup.gather(&empty).unwrap();
        assert!(missing.iter().all(Option::is_none));
    }

    #[test]
    fn same_is_string_equality() {
        let words = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abc",
            "abd",
            "xbc",
            "abcd",
            "abce",
            "abcde",
            "abxde",
            "abcdefgh",
            "abcdefgi",
            "xbcdefgh",
            "abcdefghi",
            "abcdefghj",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
        ];
        for a in words {
            for b in words {
                assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn too_many_or_inseparable_keys_have_no_lookup() {
        let many: Vec<String> = (0..=MAX_KEYS).map(|i| format!("k{i}")).collect();
        assert!(Lookup::new(many).is_none());
        // Same length, same first two and last two bytes: no hash of those tells them apart.
        assert!(Lookup::new(keys(&["abXyz", "abYyz"])).is_none());
        assert!(Lookup::new(Vec::new()).is_none());
    }

    #[test]
    fn a_large_object_is_not_walked() {
        let lookup = Lookup::new(keys(&["a"])).unwrap();
        let args: serde_json::Map<String, Value> = (0..=MAX_WALK).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(lookup.gather(&args).is_none());
    }
}
