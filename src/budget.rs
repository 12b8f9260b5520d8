//! Time left before the invocation deadline, minus the margin. Pure arithmetic.
//!
//! The handler turns the budget into an instant once; delivery then asks
//! [`attempt_timeout`] and [`wait_fits`] before every attempt and every wait,
//! so nothing starts that cannot finish before `deadline - margin`.

use std::time::Duration;

use tokio::time::Instant;

/// An attempt with less time than this left is not started: it could not get
/// an answer from Slack, only spend the time kept for dead-lettering.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(50);

/// How much time one invocation may spend on delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Time for delivery, the margin already taken off.
    pub time_left: Duration,
    /// False when the invocation's deadline was absent or already past at the
    /// start (the `cargo lambda watch` emulator sends 1970) and the default
    /// budget was used instead.
    pub deadline_known: bool,
}

/// The budget of an invocation whose deadline is `deadline_ms` (Unix epoch
/// milliseconds) when it is `now_ms`.
///
/// A deadline at or before `now_ms` is treated as unknown and `default` is used
/// whole; otherwise the budget is the time to the deadline less `margin`,
/// possibly zero.
pub fn plan(deadline_ms: u64, now_ms: u64, margin: Duration, default: Duration) -> Budget {
    if deadline_ms <= now_ms {
        return Budget {
            time_left: default,
            deadline_known: false,
        };
    }
    let to_deadline = Duration::from_millis(deadline_ms - now_ms);
    Budget {
        time_left: to_deadline.saturating_sub(margin),
        deadline_known: true,
    }
}

/// The timeout for an attempt started with `left` time remaining: the
/// configured timeout capped by the time left, or `None` when less than
/// [`MIN_ATTEMPT`] remains.
pub fn attempt_timeout(configured: Duration, left: Duration) -> Option<Duration> {
    (left >= MIN_ATTEMPT).then(|| configured.min(left))
}

/// Whether a wait of `wait` still leaves room for an attempt afterwards.
pub fn wait_fits(wait: Duration, left: Duration) -> bool {
    wait.checked_add(MIN_ATTEMPT)
        .is_some_and(|need| need <= left)
}

/// Stands in for "never" when an instant would overflow: far enough that no
/// process waits for it, near enough that adding it to a clock reading cannot
/// overflow on any platform tokio supports.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + wait`, saturating: a wait too long for the clock gives an instant
/// about a century away instead of panicking as `Instant + Duration` does.
pub fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn known_deadline_leaves_time_minus_margin() {
        let b = plan(10_000, 4_000, MS(2_000), MS(30_000));
        assert_eq!(
            b,
            Budget {
                time_left: MS(4_000),
                deadline_known: true
            }
        );
    }

    #[test]
    fn a_margin_larger_than_the_time_left_gives_zero() {
        assert_eq!(
            plan(10_000, 9_000, MS(2_000), MS(30_000)).time_left,
            Duration::ZERO
        );
    }

    #[test]
    fn a_past_deadline_is_unknown_and_uses_the_default() {
        // cargo lambda watch sends Lambda-Runtime-Deadline-Ms: 600000 (1970).
        let b = plan(600_000, 1_790_000_000_000, MS(2_000), MS(30_000));
        assert_eq!(
            b,
            Budget {
                time_left: MS(30_000),
                deadline_known: false
            }
        );
        assert!(!plan(5, 5, MS(0), MS(1)).deadline_known);
    }

    #[test]
    fn attempts_are_capped_by_the_time_left() {
        assert_eq!(attempt_timeout(MS(5_000), MS(60_000)), Some(MS(5_000)));
        assert_eq!(attempt_timeout(MS(5_000), MS(700)), Some(MS(700)));
        assert_eq!(attempt_timeout(MS(5_000), MS(49)), None);
    }

    #[test]
    fn later_saturates_instead_of_panicking() {
        let now = Instant::now();
        assert_eq!(later(now, MS(5)), now + MS(5));
        assert!(later(now, Duration::MAX) > now + FAR_FUTURE - MS(1));
    }

    #[test]
    fn waits_must_leave_room_for_an_attempt() {
        assert!(wait_fits(MS(1_000), MS(1_050)));
        assert!(!wait_fits(MS(1_000), MS(1_049)));
        assert!(!wait_fits(Duration::MAX, MS(1)));
    }
}
