//! Durations written the way people write them in YAML: `30s`, `2m`, `1h 30m`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration parsed by `humantime` (`500ms`, `30s`, `30m`, `2h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// The standard-library duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(Duration)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration `{text}`: {e} (write e.g. 30s, 2m, 1h)")))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}
