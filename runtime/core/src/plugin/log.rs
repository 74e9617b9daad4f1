//! The `log` capability: a guest's messages go to the host's `tracing` log under the target
//! `monstrum::plugin::guest`, with the plugin and instance, cut to [`MAX_MESSAGE_BYTES`].

use tracing::Level;

/// The longest message kept, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;

pub(crate) fn guest_log(plugin: &str, instance: &str, level: Level, message: &str) {
    let message = truncate(message, MAX_MESSAGE_BYTES);
    match level {
        Level::TRACE => tracing::trace!(target: "monstrum::plugin::guest", plugin, instance, "{message}"),
        Level::DEBUG => tracing::debug!(target: "monstrum::plugin::guest", plugin, instance, "{message}"),
        Level::INFO => tracing::info!(target: "monstrum::plugin::guest", plugin, instance, "{message}"),
        Level::WARN => tracing::warn!(target: "monstrum::plugin::guest", plugin, instance, "{message}"),
        Level::ERROR => tracing::error!(target: "monstrum::plugin::guest", plugin, instance, "{message}"),
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(super::truncate("héllo", 2), "h");
        assert_eq!(super::truncate("hello", 10), "hello");
    }
}
