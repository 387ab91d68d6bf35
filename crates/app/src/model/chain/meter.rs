//! The sync view's progress: a round's events/s (`RateMeter`), the share of the relay's chain verified.

/// Throughput of one sync round: events verified (and stored) per second since it began.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RateMeter {
    start_ms: f64,
    start_count: u64,
    last_ms: f64,
    last_count: u64,
}

impl RateMeter {
    pub fn start(now_ms: f64, count: u64) -> Self {
        RateMeter {
            start_ms: now_ms,
            start_count: count,
            last_ms: now_ms,
            last_count: count,
        }
    }

    /// Record the verified total at `now_ms` (a count going backwards restarts the meter).
    pub fn record(&mut self, now_ms: f64, count: u64) {
        if count < self.start_count || now_ms < self.start_ms {
            *self = RateMeter::start(now_ms, count);
            return;
        }
        self.last_ms = now_ms;
        self.last_count = count;
    }

    /// Events handled since the start.
    pub fn events(&self) -> u64 {
        self.last_count - self.start_count
    }

    pub fn elapsed_ms(&self) -> f64 {
        self.last_ms - self.start_ms
    }

    /// Events per second; `None` until some time has passed and something was counted.
    pub fn per_second(&self) -> Option<f64> {
        let ms = self.elapsed_ms();
        if ms <= 0.0 || self.events() == 0 {
            return None;
        }
        Some(self.events() as f64 * 1000.0 / ms)
    }

    /// Seconds left for `remaining` more events at the rate so far (`None` without a rate).
    pub fn eta_secs(&self, remaining: u64) -> Option<f64> {
        self.per_second().map(|r| remaining as f64 / r)
    }
}

/// Progress as a fraction `0.0..=1.0` of the relay's chain (1.0 when the relay is empty).
pub fn progress_fraction(verified: u64, relay_total: u64) -> f64 {
    if relay_total == 0 {
        return 1.0;
    }
    (verified as f64 / relay_total as f64).min(1.0)
}
