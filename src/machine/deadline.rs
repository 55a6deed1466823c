//! Probe deadlines learned from the service (docs/design.md §3, issue 14): a hung RGW is called
//! hung within a fraction of a second when its service answers in milliseconds, and no RGW is
//! called hung when all of them slow down together.
//!
//! Each daemon keeps its last [`WINDOW`] answer times per probe step (a timeout counts as the
//! deadline it ran out: the answer took at least that). A step's deadline for the daemons of a
//! service is [`MULTIPLE`] times the lower median, across the service's daemons, of each one's
//! 95th percentile, within the configured floor and ceiling:
//! - one frozen RGW's timeouts raise only its own percentile, which the median leaves out, so
//!   its next probe keeps the short deadline and `fall` is reached in two probe intervals;
//! - when every RGW slows down, every percentile rises and so does the deadline;
//! - a daemon with fewer than [`MIN_SAMPLES`] answers is left out; with none to go by (a
//!   service just discovered) the deadline is the ceiling, the fixed timeout it replaces.
//!
//! Pure: no clock, no I/O.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

use super::verdict::Step;

/// Answer times kept per daemon and step: 16 s of probes at the default 250 ms interval.
pub const WINDOW: usize = 64;
/// Answers a daemon needs before its percentile counts.
pub const MIN_SAMPLES: usize = 8;
/// The deadline is this many times the service's typical 95th percentile.
pub const MULTIPLE: u32 = 5;
const PERCENTILE: usize = 95;

/// How long one probe step took: an answer, or its deadline run out (`answered` false: it
/// took at least that). Deadlines learn from both; the slowness of a daemon against its peers
/// from answers only (a hang is the failure path's, and a frozen RGW's timeouts must not make
/// it "slow" once it is back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed {
    pub step: Step,
    pub took: Duration,
    pub answered: bool,
}

/// `[run] probe-timeout-floor` and `probe-timeout` (the ceiling; the S3 canary's is `[s3]
/// timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bounds {
    #[serde(serialize_with = "millis")]
    pub floor: Duration,
    #[serde(serialize_with = "millis")]
    pub ceiling: Duration,
    #[serde(serialize_with = "millis")]
    pub s3_ceiling: Duration,
}

impl Default for Bounds {
    /// The config's defaults.
    fn default() -> Self {
        Self {
            floor: Duration::from_millis(250),
            ceiling: Duration::from_secs(1),
            s3_ceiling: Duration::from_secs(1),
        }
    }
}

impl Bounds {
    fn ceiling(&self, step: Step) -> Duration {
        match step {
            Step::S3 => self.s3_ceiling,
            _ => self.ceiling,
        }
        .max(self.floor)
    }
}

/// The deadline of each step of a daemon's probe, as the prober uses them and `/status` shows
/// them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    #[serde(serialize_with = "millis")]
    pub http: Duration,
    #[serde(serialize_with = "millis")]
    pub s3: Duration,
    #[serde(serialize_with = "millis")]
    pub asok: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The lower median: of two, the smaller, so one daemon's trouble never sets the figure.
fn lower_median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort_unstable();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

/// Recent answer times, per daemon and step.
#[derive(Debug, Default)]
pub(super) struct Learned {
    times: BTreeMap<(String, Step), VecDeque<(Duration, bool)>>,
}

impl Learned {
    /// One answer of `daemon` at `step` took `took`.
    #[cfg(test)]
    fn record(&mut self, daemon: &str, step: Step, took: Duration) {
        self.record_timed(
            daemon,
            Timed {
                step,
                took,
                answered: true,
            },
        );
    }

    pub(super) fn record_timed(&mut self, daemon: &str, timed: Timed) {
        let window = self
            .times
            .entry((daemon.to_string(), timed.step))
            .or_default();
        if window.len() == WINDOW {
            window.pop_front();
        }
        window.push_back((timed.took, timed.answered));
    }

    /// Forgets the daemons `keep` says no.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.times.retain(|(daemon, _), _| keep(daemon));
    }

    /// `daemon`'s 95th percentile at `step` (timeouts counted), once it has enough answers.
    fn high(&self, daemon: &str, step: Step) -> Option<Duration> {
        self.percentile(daemon, step, PERCENTILE, false)
    }

    /// `daemon`'s `pct`th percentile at `step`, of its answers only or with its timeouts too,
    /// once it has enough of them.
    fn percentile(
        &self,
        daemon: &str,
        step: Step,
        pct: usize,
        answers_only: bool,
    ) -> Option<Duration> {
        let window = self.times.get(&(daemon.to_string(), step))?;
        let mut sorted: Vec<Duration> = window
            .iter()
            .filter(|(_, answered)| *answered || !answers_only)
            .map(|(took, _)| *took)
            .collect();
        if sorted.len() < MIN_SAMPLES {
            return None;
        }
        sorted.sort_unstable();
        let at = (sorted.len() * pct).div_ceil(100).saturating_sub(1);
        sorted.get(at).copied()
    }

    /// How `daemon`'s median `GET` compares with its peers' (the lower median of theirs):
    /// `(ratio, extra)`, once it and at least one peer have enough answers.
    pub(super) fn slowness<'a>(
        &self,
        daemon: &str,
        peers: impl Iterator<Item = &'a str>,
    ) -> Option<(f64, Duration)> {
        let own = self.percentile(daemon, Step::Http, 50, true)?;
        let typical = lower_median(
            peers
                .filter(|p| *p != daemon)
                .filter_map(|p| self.percentile(p, Step::Http, 50, true))
                .collect(),
        )?;
        let ratio = own.as_secs_f64() / typical.max(Duration::from_millis(1)).as_secs_f64();
        Some((ratio, own.saturating_sub(typical)))
    }

    /// The deadline of `step` for the daemons `members` (one service).
    pub(super) fn deadline<'a>(
        &self,
        members: impl Iterator<Item = &'a str>,
        step: Step,
        bounds: Bounds,
    ) -> Duration {
        let ceiling = bounds.ceiling(step);
        let Some(typical) = lower_median(members.filter_map(|m| self.high(m, step)).collect())
        else {
            return ceiling;
        };
        typical
            .saturating_mul(MULTIPLE)
            .clamp(bounds.floor, ceiling)
    }

    /// Every step's deadline for the daemons `members`.
    pub(super) fn deadlines<'a>(
        &self,
        members: impl Iterator<Item = &'a str> + Clone,
        bounds: Bounds,
    ) -> Deadlines {
        Deadlines {
            http: self.deadline(members.clone(), Step::Http, bounds),
            s3: self.deadline(members.clone(), Step::S3, bounds),
            asok: self.deadline(members, Step::Asok, bounds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        floor: Duration::from_millis(250),
        ceiling: Duration::from_secs(1),
        s3_ceiling: Duration::from_secs(2),
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn fill(learned: &mut Learned, daemon: &str, took: Duration, n: usize) {
        for _ in 0..n {
            learned.record(daemon, Step::Http, took);
        }
    }

    fn http(learned: &Learned, members: &[&str]) -> Duration {
        learned.deadline(members.iter().copied(), Step::Http, BOUNDS)
    }

    #[test]
    fn with_nothing_learned_the_deadline_is_the_ceiling() {
        let mut learned = Learned::default();
        assert_eq!(http(&learned, &["rgw.a", "rgw.b"]), ms(1000));
        // Too few answers to go by.
        fill(&mut learned, "rgw.a", ms(2), MIN_SAMPLES - 1);
        assert_eq!(http(&learned, &["rgw.a"]), ms(1000));
        fill(&mut learned, "rgw.a", ms(2), 1);
        assert_eq!(http(&learned, &["rgw.a"]), ms(250));
    }

    #[test]
    fn a_fast_service_gets_the_floor_and_a_slow_one_a_multiple_of_its_percentile() {
        let mut learned = Learned::default();
        for rgw in ["rgw.a", "rgw.b", "rgw.c"] {
            fill(&mut learned, rgw, ms(3), 40);
        }
        assert_eq!(http(&learned, &["rgw.a", "rgw.b", "rgw.c"]), ms(250));
        // All three slow down together (10x and more): the deadline follows, to the ceiling.
        for rgw in ["rgw.a", "rgw.b", "rgw.c"] {
            fill(&mut learned, rgw, ms(120), WINDOW);
        }
        assert_eq!(http(&learned, &["rgw.a", "rgw.b", "rgw.c"]), ms(600));
        for rgw in ["rgw.a", "rgw.b", "rgw.c"] {
            fill(&mut learned, rgw, ms(400), WINDOW);
        }
        assert_eq!(http(&learned, &["rgw.a", "rgw.b", "rgw.c"]), ms(1000));
    }

    #[test]
    fn one_daemon_timing_out_does_not_lengthen_the_service_deadline() {
        let mut learned = Learned::default();
        for rgw in ["rgw.a", "rgw.b", "rgw.c"] {
            fill(&mut learned, rgw, ms(60), 40);
        }
        assert_eq!(http(&learned, &["rgw.a", "rgw.b", "rgw.c"]), ms(300));
        // rgw.b freezes: its probes time out at the deadline, every one of them.
        fill(&mut learned, "rgw.b", ms(300), WINDOW);
        assert_eq!(http(&learned, &["rgw.a", "rgw.b", "rgw.c"]), ms(300));
        // Of two, the lower one counts.
        assert_eq!(http(&learned, &["rgw.a", "rgw.b"]), ms(300));
    }

    #[test]
    fn a_few_slow_answers_in_the_window_do_not_set_the_deadline() {
        let mut learned = Learned::default();
        fill(&mut learned, "rgw.a", ms(10), WINDOW - 3);
        fill(&mut learned, "rgw.a", ms(900), 3);
        // 3 of 64 is under the 5 % the percentile leaves out.
        assert_eq!(http(&learned, &["rgw.a"]), ms(250));
        fill(&mut learned, "rgw.a", ms(900), 1);
        assert_eq!(http(&learned, &["rgw.a"]), ms(1000));
    }

    #[test]
    fn a_daemon_is_slow_by_its_answers_not_by_its_timeouts() {
        let mut learned = Learned::default();
        for rgw in ["rgw.a", "rgw.b"] {
            fill(&mut learned, rgw, ms(2), 20);
        }
        // rgw.b froze: its probes ran out their deadline (it took at least that).
        for _ in 0..40 {
            learned.record_timed(
                "rgw.b",
                Timed {
                    step: Step::Http,
                    took: ms(250),
                    answered: false,
                },
            );
        }
        let peers = || ["rgw.a", "rgw.b"].into_iter();
        let (ratio, _) = learned.slowness("rgw.b", peers()).unwrap();
        assert!((ratio - 1.0).abs() < 0.01, "{ratio}");
        // The timeouts still lengthen its own percentile (not the service's: two daemons,
        // the lower one counts).
        assert_eq!(http(&learned, &["rgw.b"]), ms(1000));
        assert_eq!(http(&learned, &["rgw.a", "rgw.b"]), ms(250));
        fill(&mut learned, "rgw.b", ms(40), 30);
        let (ratio, extra) = learned.slowness("rgw.b", peers()).unwrap();
        assert!(
            (ratio - 20.0).abs() < 0.01 && extra == ms(38),
            "{ratio} {extra:?}"
        );
    }

    #[test]
    fn each_step_learns_on_its_own_and_forgotten_daemons_count_no_more() {
        let mut learned = Learned::default();
        for _ in 0..MIN_SAMPLES {
            learned.record("rgw.a", Step::Asok, ms(1));
            learned.record("rgw.a", Step::S3, ms(180));
        }
        let d = learned.deadlines(["rgw.a"].into_iter(), BOUNDS);
        assert_eq!((d.http, d.asok, d.s3), (ms(1000), ms(250), ms(900)));
        learned.retain(|daemon| daemon != "rgw.a");
        let d = learned.deadlines(["rgw.a"].into_iter(), BOUNDS);
        assert_eq!((d.http, d.asok, d.s3), (ms(1000), ms(1000), ms(2000)));
    }
}
