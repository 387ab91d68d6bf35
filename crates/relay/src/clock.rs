//! The wall clock: the only place the relay reads the time (everything else takes `now`).

/// Seconds since the Unix epoch (0 if the system clock is before it).
pub fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
