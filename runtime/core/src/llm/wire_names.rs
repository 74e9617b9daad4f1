//! Tool names on the wire. OpenAI and Anthropic accept only `[A-Za-z0-9_-]` in tool names, while
//! Monstrum's names contain a dot (`core.echo`); the dot is sent as `__`.

/// The name sent to a provider.
pub fn to_wire(name: &str) -> String {
    name.replace('.', "__")
}

/// The name a provider used, back in Monstrum's form. A name that was not offered comes back
/// unchanged apart from the separator, and the gate answers "no such tool".
pub fn from_wire(name: &str) -> String {
    name.replacen("__", ".", 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        for name in ["core.echo", "github-work.create_comment", "a_b.c_d"] {
            assert_eq!(super::from_wire(&super::to_wire(name)), name);
        }
    }
}
