//! How the command line shows a time: the local time zone, to the second.

/// Milliseconds since the epoch as `2026-12-04 18:39:20`, local time (empty if out of range).
pub fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}
