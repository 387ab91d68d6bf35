//! Sans-IO Infonet sync scheduling: `Retry-After` parsing, failure backoff, worker state
//! transitions and peer selection. The clock is always passed in (`now`, UNIX seconds); all
//! arithmetic saturates.

use serde::{Deserialize, Serialize};

/// Upper bound on any `Retry-After` we honour (seconds).
pub const RETRY_AFTER_CAP_S: u64 = 3_600;
/// Default interval between successful syncs.
pub const DEFAULT_INTERVAL_S: u64 = 300;
/// Default base delay after the first failure.
pub const DEFAULT_FAILURE_BACKOFF_S: u64 = 60;
/// Default cap of the exponential ladder (0 = honour `Retry-After` only).
pub const DEFAULT_FAILURE_BACKOFF_CAP_S: u64 = 1_800;
/// A `running` attempt older than this is considered stuck and may be restarted.
pub const STUCK_AFTER_S: u64 = 300;
/// Exponent cap of the ladder (overflow defence).
pub const MAX_BACKOFF_EXPONENT: u32 = 16;
/// Peer bucket that takes part in chain sync.
pub const SYNC_BUCKET: &str = "sync";

/// Parse a `Retry-After` header into seconds from `now`: delta-seconds or an HTTP-date
/// (IMF-fixdate, obsolete RFC 850 or asctime). Capped at [`RETRY_AFTER_CAP_S`]; dates in the
/// past give 0; anything unparseable gives 0.
pub fn parse_retry_after(value: &str, now: u64) -> u64 {
    let v = value.trim();
    if v.is_empty() {
        return 0;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().unwrap_or(u64::MAX).min(RETRY_AFTER_CAP_S);
    }
    match parse_http_date(v) {
        Some(t) => {
            let delta = t.saturating_sub(i64::try_from(now).unwrap_or(i64::MAX));
            u64::try_from(delta.max(0))
                .unwrap_or(0)
                .min(RETRY_AFTER_CAP_S)
        }
        None => 0,
    }
}

fn month_index(m: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let m = m.to_ascii_lowercase();
    MONTHS.iter().position(|x| *x == m).map(|i| i as u32 + 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn hms(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':');
    let h = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let sec = it.next()?.parse().ok()?;
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some((h, m, sec))
}

fn to_unix(y: i64, mon: u32, d: u32, (h, mi, s): (u32, u32, u32)) -> Option<i64> {
    if !(1..=12).contains(&mon) || d == 0 || d > days_in_month(y, mon) || !(1..=9999).contains(&y) {
        return None;
    }
    Some(
        days_from_civil(y, mon, d) * 86_400
            + i64::from(h) * 3600
            + i64::from(mi) * 60
            + i64::from(s),
    )
}

/// Parse an HTTP-date (RFC 9110 §5.6.7) to UNIX seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    match parts.as_slice() {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [wd, d, mon, y, t, "GMT"] if wd.ends_with(',') && y.len() == 4 => {
            to_unix(y.parse().ok()?, month_index(mon)?, d.parse().ok()?, hms(t)?)
        }
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        [wd, date, t, "GMT"] if wd.ends_with(',') => {
            let mut it = date.split('-');
            let d: u32 = it.next()?.parse().ok()?;
            let mon = month_index(it.next()?)?;
            let yy = it.next()?;
            if it.next().is_some() {
                return None;
            }
            let y: i64 = yy.parse().ok()?;
            // Two-digit years: RFC 9110 says interpret > 50 years in the future as the past.
            let y = if yy.len() == 2 {
                if y < 70 {
                    2000 + y
                } else {
                    1900 + y
                }
            } else {
                y
            };
            to_unix(y, mon, d, hms(t)?)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [_wd, mon, d, t, y] if y.len() == 4 => {
            to_unix(y.parse().ok()?, month_index(mon)?, d.parse().ok()?, hms(t)?)
        }
        _ => None,
    }
}

/// Delay before the next attempt after a failure:
/// `max(min(base · 2^(failures−1), cap), retry_after)`; `cap == 0` honours `retry_after` only.
pub fn failure_backoff_seconds(
    base_s: u64,
    consecutive_failures: u64,
    retry_after_s: u64,
    cap_s: u64,
) -> u64 {
    if cap_s == 0 {
        return retry_after_s;
    }
    let grown = if base_s > 0 && consecutive_failures > 0 {
        let exp = u32::try_from(consecutive_failures - 1)
            .unwrap_or(u32::MAX)
            .min(MAX_BACKOFF_EXPONENT);
        base_s.saturating_mul(1u64 << exp)
    } else {
        0
    };
    grown.min(cap_s).max(retry_after_s)
}

/// Scheduler configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncConfig {
    pub interval_s: u64,
    pub failure_backoff_s: u64,
    pub failure_backoff_cap_s: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            interval_s: DEFAULT_INTERVAL_S,
            failure_backoff_s: DEFAULT_FAILURE_BACKOFF_S,
            failure_backoff_cap_s: DEFAULT_FAILURE_BACKOFF_CAP_S,
        }
    }
}

/// Outcome of the last attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    #[default]
    Idle,
    Running,
    Ok,
    Error,
    Fork,
    Solo,
}

/// Sync worker state (field names as in the reference's status output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncWorkerState {
    pub last_sync_started_at: u64,
    pub last_sync_finished_at: u64,
    pub last_sync_ok_at: u64,
    pub next_sync_due_at: u64,
    pub last_peer_url: String,
    pub last_error: String,
    pub last_outcome: SyncOutcome,
    pub current_head: String,
    pub fork_detected: bool,
    pub consecutive_failures: u64,
}

fn pick(new: &str, old: &str) -> String {
    if new.is_empty() {
        old.to_string()
    } else {
        new.to_string()
    }
}

impl SyncWorkerState {
    /// Should an attempt start now? A `running` attempt blocks until it is stuck.
    pub fn should_run(&self, now: u64) -> bool {
        if self.last_outcome == SyncOutcome::Running {
            return self.last_sync_started_at == 0
                || now.saturating_sub(self.last_sync_started_at) >= STUCK_AFTER_S;
        }
        self.next_sync_due_at <= now
    }

    /// Mark an attempt as started.
    pub fn begin(&self, peer_url: &str, current_head: &str, now: u64) -> Self {
        SyncWorkerState {
            last_sync_started_at: now,
            last_peer_url: pick(peer_url, &self.last_peer_url),
            last_error: String::new(),
            last_outcome: SyncOutcome::Running,
            current_head: pick(current_head, &self.current_head),
            fork_detected: false,
            ..self.clone()
        }
    }

    /// Finish a successful attempt.
    pub fn finish_ok(
        &self,
        cfg: &SyncConfig,
        peer_url: &str,
        current_head: &str,
        fork_detected: bool,
        now: u64,
    ) -> Self {
        SyncWorkerState {
            last_sync_finished_at: now,
            last_sync_ok_at: now,
            next_sync_due_at: now.saturating_add(cfg.interval_s),
            last_peer_url: pick(peer_url, &self.last_peer_url),
            last_error: String::new(),
            last_outcome: SyncOutcome::Ok,
            current_head: pick(current_head, &self.current_head),
            fork_detected,
            consecutive_failures: 0,
            ..self.clone()
        }
    }

    /// Finish a failed attempt (`retry_after_s` from a 429's header, 0 if none).
    pub fn finish_err(
        &self,
        cfg: &SyncConfig,
        peer_url: &str,
        error: &str,
        fork_detected: bool,
        retry_after_s: u64,
        now: u64,
    ) -> Self {
        let failures = self.consecutive_failures.saturating_add(1);
        let delay = failure_backoff_seconds(
            cfg.failure_backoff_s,
            failures,
            retry_after_s,
            cfg.failure_backoff_cap_s,
        );
        SyncWorkerState {
            last_sync_finished_at: now,
            next_sync_due_at: now.saturating_add(delay),
            last_peer_url: pick(peer_url, &self.last_peer_url),
            last_error: error.trim().to_string(),
            last_outcome: if fork_detected {
                SyncOutcome::Fork
            } else {
                SyncOutcome::Error
            },
            fork_detected,
            consecutive_failures: failures,
            ..self.clone()
        }
    }

    /// Finish a round with no peers to talk to.
    pub fn finish_solo(&self, cfg: &SyncConfig, current_head: &str, now: u64) -> Self {
        SyncWorkerState {
            last_sync_finished_at: now,
            next_sync_due_at: now.saturating_add(cfg.interval_s),
            last_peer_url: String::new(),
            last_error: String::new(),
            last_outcome: SyncOutcome::Solo,
            current_head: pick(current_head, &self.current_head),
            fork_detected: false,
            consecutive_failures: 0,
            ..self.clone()
        }
    }
}

/// A known peer as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PeerRecord {
    pub peer_url: String,
    pub bucket: String,
    pub enabled: bool,
    pub cooldown_until: u64,
    pub last_sync_ok_at: u64,
    pub role: String,
    pub source: String,
    pub failure_count: u64,
    pub added_at: u64,
}

impl PeerRecord {
    /// Bundled or bootstrap-promoted seed?
    pub fn is_seed(&self) -> bool {
        self.role.trim().eq_ignore_ascii_case("seed")
            && matches!(
                self.source.trim().to_ascii_lowercase().as_str(),
                "bundle" | "bootstrap_promoted"
            )
    }
}

/// Eligible peers (sync bucket, enabled, cooldown passed), best first: most recent success,
/// then seeds, fewest failures, oldest added, URL.
pub fn eligible_sync_peers(records: &[PeerRecord], now: u64) -> Vec<PeerRecord> {
    let mut out: Vec<PeerRecord> = records
        .iter()
        .filter(|r| r.bucket == SYNC_BUCKET && r.enabled && r.cooldown_until <= now)
        .cloned()
        .collect();
    out.sort_by(|a, b| {
        b.last_sync_ok_at
            .cmp(&a.last_sync_ok_at)
            .then_with(|| b.is_seed().cmp(&a.is_seed()))
            .then_with(|| a.failure_count.cmp(&b.failure_count))
            .then_with(|| a.added_at.cmp(&b.added_at))
            .then_with(|| a.peer_url.cmp(&b.peer_url))
    });
    out
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120", NOW), 120);
        assert_eq!(parse_retry_after(" 99999 ", NOW), 3600);
        assert_eq!(parse_retry_after("999999999999999999999999", NOW), 3600);
        assert_eq!(parse_retry_after("", NOW), 0);
        assert_eq!(parse_retry_after("soon", NOW), 0);
        assert_eq!(parse_retry_after("-5", NOW), 0);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(NOW as i64)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(NOW as i64)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(NOW as i64)
        );
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", NOW), 120);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", NOW), 0);
        assert_eq!(
            parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", NOW),
            3600
        );
        assert_eq!(parse_retry_after("Sun, 31 Feb 1994 08:49:37 GMT", NOW), 0);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT", NOW), 0);
    }

    #[test]
    fn backoff_ladder() {
        let ladder: Vec<u64> = (1..=8)
            .map(|n| failure_backoff_seconds(60, n, 0, 1800))
            .collect();
        assert_eq!(ladder, vec![60, 120, 240, 480, 960, 1800, 1800, 1800]);
        assert_eq!(failure_backoff_seconds(60, 1, 600, 1800), 600);
        assert_eq!(failure_backoff_seconds(60, 5, 0, 0), 0);
        assert_eq!(failure_backoff_seconds(60, 5, 42, 0), 42);
        assert_eq!(failure_backoff_seconds(60, 0, 0, 1800), 0);
        assert_eq!(
            failure_backoff_seconds(u64::MAX, u64::MAX, 0, u64::MAX),
            u64::MAX
        );
    }

    #[test]
    fn state_machine() {
        let cfg = SyncConfig::default();
        let s = SyncWorkerState::default();
        assert!(s.should_run(0));
        let r = s.begin("https://a", "h1", 1000);
        assert!(!r.should_run(1299));
        assert!(r.should_run(1300));
        let e = r.finish_err(&cfg, "", " boom ", false, 0, 1010);
        assert_eq!(
            (
                e.next_sync_due_at,
                e.consecutive_failures,
                e.last_error.as_str()
            ),
            (1070, 1, "boom")
        );
        assert_eq!(e.last_peer_url, "https://a");
        let e2 = e
            .begin("", "", 1070)
            .finish_err(&cfg, "", "x", true, 0, 1080);
        assert_eq!(
            (e2.next_sync_due_at, e2.last_outcome),
            (1200, SyncOutcome::Fork)
        );
        let ok = e2
            .begin("", "", 1200)
            .finish_ok(&cfg, "", "h2", false, 1210);
        assert_eq!(
            (
                ok.next_sync_due_at,
                ok.consecutive_failures,
                ok.current_head.as_str()
            ),
            (1510, 0, "h2")
        );
        let solo = ok.finish_solo(&cfg, "", u64::MAX);
        assert_eq!(solo.next_sync_due_at, u64::MAX);
    }

    #[test]
    fn peer_ordering() {
        let p = |url: &str, ok: u64, seed: bool, fails: u64, added: u64| PeerRecord {
            peer_url: url.into(),
            bucket: "sync".into(),
            enabled: true,
            last_sync_ok_at: ok,
            role: if seed { "seed".into() } else { "peer".into() },
            source: if seed {
                "bundle".into()
            } else {
                "operator".into()
            },
            failure_count: fails,
            added_at: added,
            ..Default::default()
        };
        let mut disabled = p("z", 999, true, 0, 0);
        disabled.enabled = false;
        let mut cooling = p("y", 999, true, 0, 0);
        cooling.cooldown_until = 101;
        let mut push = p("x", 999, true, 0, 0);
        push.bucket = "push".into();
        let recs = vec![
            p("e", 0, false, 0, 1),
            p("d", 0, true, 5, 9),
            p("c", 0, false, 0, 0),
            p("b", 50, false, 9, 9),
            p("a", 0, false, 0, 0),
            disabled,
            cooling,
            push,
        ];
        let order: Vec<String> = eligible_sync_peers(&recs, 100)
            .into_iter()
            .map(|r| r.peer_url)
            .collect();
        assert_eq!(order, vec!["b", "d", "a", "c", "e"]);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}", now in any::<u64>(), a in any::<u64>(), b in any::<u64>(), c in any::<u64>(), d in any::<u64>()) {
            let _ = parse_retry_after(&s, now);
            prop_assert!(parse_retry_after(&s, now) <= RETRY_AFTER_CAP_S);
            let _ = failure_backoff_seconds(a, b, c, d);
            let st = SyncWorkerState { consecutive_failures: b, last_sync_started_at: a, ..Default::default() };
            let _ = st.should_run(now);
            let _ = st.finish_err(&SyncConfig { interval_s: a, failure_backoff_s: c, failure_backoff_cap_s: d }, "", "", false, c, now);
        }
    }
}
