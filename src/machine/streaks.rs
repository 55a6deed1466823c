//! Fall/rise hysteresis (docs/design.md §4): consecutive passed and failed probes. `fall` failures
//! in a row take a daemon out; `rise` passes in a row put it back; one outcome resets the
//! other count. The phases decide what a count means; this only counts.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Streaks {
    ok: u32,
    failed: u32,
}

impl Streaks {
    pub(super) fn observe(&mut self, pass: bool) {
        if pass {
            self.ok = self.ok.saturating_add(1);
            self.failed = 0;
        } else {
            self.failed = self.failed.saturating_add(1);
            self.ok = 0;
        }
    }

    /// Start counting afresh (a restart, leaving maintenance, a fresh start after a stall).
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }

    /// Consecutive passes.
    pub(super) fn ok(self) -> u32 {
        self.ok
    }

    /// Consecutive failures.
    pub(super) fn failed(self) -> u32 {
        self.failed
    }

    pub(super) fn risen(self, rise: u32) -> bool {
        self.ok >= rise
    }

    pub(super) fn fallen(self, fall: u32) -> bool {
        self.failed >= fall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_outcome_resets_the_other_count() {
        let mut s = Streaks::default();
        for pass in [false, false, true, true, true, false] {
            s.observe(pass);
        }
        assert_eq!((s.ok(), s.failed()), (0, 1));
        s.observe(false);
        assert!(s.fallen(2) && !s.fallen(3) && !s.risen(1));
        s.observe(true);
        assert!(s.risen(1) && !s.risen(2) && !s.fallen(1));
        s.reset();
        assert_eq!(s, Streaks::default());
    }
}
