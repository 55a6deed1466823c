//! The restart budget of one daemon (docs/design.md §4): at most `max-restarts` automatic restarts
//! per `restart-window`, exponential backoff between attempts that did not bring it back
//! (`backoff`, doubled each time up to `backoff-max`), and the reason a spent budget holds it.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use super::Policy;

#[derive(Debug, Default)]
pub(super) struct Budget {
    /// When each restart inside the window was asked for.
    restarts: VecDeque<Instant>,
    /// Consecutive attempts that did not bring it back (drives the backoff); a restart that
    /// brought it back resets it.
    failed: u32,
    /// No automatic attempt before this.
    next_attempt_at: Option<Instant>,
}

impl Budget {
    /// From the ages of the restarts the state file kept (those outside the window are gone).
    pub(super) fn from_ages(ages: &[Duration], window: Duration, now: Instant) -> Self {
        Self {
            restarts: ages
                .iter()
                .filter(|age| **age < window)
                .filter_map(|age| now.checked_sub(*age))
                .collect(),
            ..Self::default()
        }
    }

    /// Forgets the restarts that left the window by `now`.
    pub(super) fn expire(&mut self, now: Instant, window: Duration) {
        while self
            .restarts
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= window)
        {
            self.restarts.pop_front();
        }
    }

    pub(super) fn left(&self, max_restarts: u32) -> bool {
        self.restarts.len() < max_restarts as usize
    }

    /// Restarts inside the window.
    pub(super) fn used(&self) -> usize {
        self.restarts.len()
    }

    /// Ages of the restarts inside the window, for the state file.
    pub(super) fn ages(&self, now: Instant) -> Vec<Duration> {
        self.restarts
            .iter()
            .map(|at| now.saturating_duration_since(*at))
            .collect()
    }

    /// When the oldest restart leaves the window (a held daemon may go again then).
    pub(super) fn frees_at(&self, window: Duration) -> Option<Instant> {
        self.restarts.front().map(|at| *at + window)
    }

    /// The number of the next attempt (1 after a success).
    pub(super) fn attempt(&self) -> u32 {
        self.failed + 1
    }

    /// An automatic restart asked for at `at`.
    pub(super) fn charge(&mut self, at: Instant) {
        self.restarts.push_back(at);
    }

    /// The restart asked for at `at` was not made (the lease deferred it): not charged.
    pub(super) fn refund(&mut self, at: Instant) {
        if self.restarts.back() == Some(&at) {
            self.restarts.pop_back();
        }
    }

    /// The attempt did not bring it back: back off before the next one.
    pub(super) fn attempt_failed(&mut self, now: Instant, policy: &Policy) {
        self.failed = self.failed.saturating_add(1);
        let doublings = self.failed.saturating_sub(1).min(16);
        let backoff = policy
            .backoff_initial
            .saturating_mul(1u32 << doublings)
            .min(policy.backoff_max);
        self.next_attempt_at = Some(now + backoff);
    }

    /// It is back (after a restart, or by itself): the next failure starts afresh.
    pub(super) fn succeeded(&mut self) {
        self.failed = 0;
        self.next_attempt_at = None;
    }

    /// Try again at `at` (a deferred restart), or as soon as possible (`None`).
    pub(super) fn retry_at(&mut self, at: Option<Instant>) {
        self.next_attempt_at = at;
    }

    pub(super) fn due(&self, now: Instant) -> bool {
        self.next_attempt_at.is_none_or(|at| now >= at)
    }

    pub(super) fn next_attempt_at(&self) -> Option<Instant> {
        self.next_attempt_at
    }

    /// The operator's reset: a fresh budget. Returns whether there was anything to clear.
    pub(super) fn reset(&mut self) -> bool {
        let had = !self.restarts.is_empty() || self.failed > 0;
        *self = Self::default();
        had
    }

    /// Why a spent budget holds it: the restarts in the window, and how many of them failed.
    pub(super) fn spent(&self, window: Duration) -> Spent {
        Spent {
            restarts: self.restarts.len(),
            window,
            failed: usize::try_from(self.failed).unwrap_or(usize::MAX),
        }
    }
}

/// Why a spent budget holds a daemon. A restart that brought it back, for a while, is not one
/// that failed: the text tells the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spent {
    restarts: usize,
    window: Duration,
    failed: usize,
}

impl fmt::Display for Spent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            restarts: n,
            failed,
            ..
        } = *self;
        let window = humantime::format_duration(self.window);
        if failed >= n {
            write!(f, "{n} restarts in {window} did not bring it back")
        } else if failed == 0 {
            write!(
                f,
                "restart budget spent: {n} restarts in {window} (max-restarts), each brought it back for a while"
            )
        } else {
            write!(
                f,
                "restart budget spent: {n} restarts in {window} (max-restarts); the last {failed} did not bring it back"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            ..super::super::tests::policy()
        }
    }

    #[test]
    fn the_backoff_doubles_up_to_its_maximum_and_a_success_starts_afresh() {
        #[expect(
            clippy::disallowed_methods,
            reason = "the fake clock needs one real origin; only offsets from it are used"
        )]
        let t0 = Instant::now();
        let mut budget = Budget::default();
        let mut waits = Vec::new();
        for _ in 0..5 {
            budget.attempt_failed(t0, &policy());
            waits.push(budget.next_attempt_at().map(|at| at - t0));
        }
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(waits, [secs(10), secs(20), secs(40), secs(60), secs(60)]);
        assert_eq!(budget.attempt(), 6);
        budget.succeeded();
        assert!(budget.due(t0));
        assert_eq!(budget.attempt(), 1);
    }

    #[test]
    fn restarts_leave_the_window_and_a_deferred_one_is_refunded() {
        #[expect(
            clippy::disallowed_methods,
            reason = "the fake clock needs one real origin; only offsets from it are used"
        )]
        let t0 = Instant::now();
        let window = Duration::from_secs(1800);
        let min = |m: u64| t0 + Duration::from_secs(60 * m);
        let mut budget = Budget::from_ages(
            &[Duration::from_secs(60), Duration::from_secs(3600)],
            window,
            min(0),
        );
        assert_eq!(
            budget.used(),
            1,
            "the one an hour old is outside the window"
        );
        budget.charge(min(1));
        budget.charge(min(2));
        assert!(!budget.left(3));
        budget.refund(min(2));
        assert!(budget.left(3), "a deferred restart is not charged");
        budget.expire(min(29), window);
        assert_eq!(budget.used(), 1, "the one from t0 - 1 min left at 29 min");
        assert_eq!(budget.frees_at(window), Some(min(31)));
        assert!(budget.reset());
        assert!(!budget.reset(), "nothing left to clear");
    }
}
