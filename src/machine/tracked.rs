//! One daemon as the machine tracks it: its [`Phase`], why it is there, what the inventory,
//! the probes and the operator said of it, the word HAProxy is told and the restart budget;
//! and how probes move it. The restart path is `restart.rs`; the operator's commands are
//! `operator.rs`.

use std::time::{Duration, Instant};

use super::budget::Budget;
use super::drain::Announced;
use super::phase::Phase;
use super::reason::{PeerNote, Reason, Why};
use super::streaks::Streaks;
use super::verdict::{self, ProbeClass, ProbeError, Step, Verdict};
use super::{
    Action, DaemonView, Discovered, Event, LastProbe, NoHealthyPeer, OperatorView, Persisted,
    Policy, State, StreakView, Word,
};

/// How long a daemon drained for shedding load stays out after its last busy answer: its
/// probes pass as soon as it is drained (the load went elsewhere, not away), and each return
/// costs the requests it sheds until HAProxy hears the next `drain` (about 1.5 s of its share).
pub(super) const SHED_HOLD: Duration = Duration::from_secs(30);

/// RADOS has answered none of a daemon's operations for this long, across two probes that
/// found it stalled: the stall is the whole cluster's as the daemon sees it (its reply count
/// moves while any OSD answers it), and HAProxy holds new requests for it ([`HOLD_MAXCONN`]).
pub(super) const HOLD_AFTER: Duration = Duration::from_secs(2);

/// While RADOS answers none of an RGW's operations, HAProxy is told `maxconn:2` for it: new
/// requests wait in HAProxy's queue (`timeout queue`) instead of in the RGW, so the ones the
/// clients or HAProxy give up on never reach RADOS, and at the thaw the RGW serves the live
/// ones instead of working off the dead. Measured (osd-frozen-45 at 100 req/s, 3 runs each in
/// one bench run): 1,522-1,543 client errors held against 2,012-2,219 not held.
pub(super) const HOLD_MAXCONN: u32 = 2;

/// What HAProxy is told once a hold ends: HAProxy keeps an agent-set `maxconn` until told
/// another, and `maxconn:0` (no limit) leaves the requests queued during the hold there until
/// `timeout queue` (measured on 2.6: 3,768 of them answered 503 after 30 s), so a bound no
/// RGW behind one HAProxy reaches.
pub(super) const OPEN_MAXCONN: u32 = 10_000;

/// Why a daemon in service is drained for load while its peers take its share (docs/design.md
/// §4): never for a hang, and never more of its service than `max-load-drain-percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shed {
    /// Busy (503 SlowDown and the like): out until [`SHED_HOLD`] after its `last` busy answer.
    Busy { last: Instant },
    /// Slower than its peers (issue 14): out while it stays slow. Under `leastconn` a lower
    /// weight did not move its share at the benchmark's load (an idle server is ranked first
    /// whatever its weight), so a drain is what takes its slow answers away from clients.
    Slow,
}

/// What HAProxy was told of a daemon's weight for its speed against its peers (issue 14).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Speed {
    /// Never slow: `up ready`, the weight HAProxy's config gives it.
    Untold,
    /// `ratio` times slower than its peers: `up ready <weight>%` (under 100).
    Slow { ratio: f64, weight: u8 },
    /// Slow once, as fast as its peers again: `up ready 100%` (HAProxy keeps an agent-set
    /// weight until told another).
    Restored,
}

impl Speed {
    fn weight(self) -> u8 {
        match self {
            Self::Slow { weight, .. } => weight,
            Self::Untold | Self::Restored => 100,
        }
    }

    /// Its weight is lowered: it does not serve at full weight.
    pub(super) fn lowered(self) -> bool {
        matches!(self, Self::Slow { .. })
    }
}

#[derive(Debug)]
pub(super) struct Tracked {
    pub(super) policy: Policy,
    pub(super) phase: Phase,
    /// When the state (as readers see it) last changed.
    since: Instant,
    /// Drained for load (busy or slow) while its peers can take its share.
    pub(super) shed: Option<Shed>,
    /// Its HAProxy weight for its speed against its peers (issue 14).
    pub(super) speed: Speed,
    /// HAProxy holds new requests for it: RADOS answers none of its operations.
    pub(super) held: bool,
    /// HAProxy was told a `maxconn` for it once (a hold): every `up ready` says
    /// [`OPEN_MAXCONN`] from then on.
    pub(super) maxconn_told: bool,
    /// When it last failed after serving: kept through its restarts until it serves again
    /// (the first of a service to fail is its canary).
    pub(super) failed_at: Option<Instant>,
    /// When a probe last found RADOS stalled under it (the admin socket's old op, or the
    /// health gate): the service's backlog after a stall is no daemon's fault.
    pub(super) degraded_at: Option<Instant>,
    pub(super) why: Why,
    pub(super) listing: Listing,
    pub(super) probes: Probes,
    pub(super) flags: Flags,
    /// The word HAProxy is told, and which HAProxies have heard it.
    pub(super) announced: Announced,
    /// Restarts in the window, and the backoff.
    pub(super) budget: Budget,
    pub(super) last_event: Option<String>,
}

/// What the inventory says of the daemon and of its running process.
#[derive(Debug)]
pub(super) struct Listing {
    pub(super) daemon_type: String,
    /// Its service: at most `max_concurrent_restarts` daemons of a service restart at once on
    /// this host.
    pub(super) service: String,
    /// A fresh inventory (not the state file's) has listed it: only then may it be restarted.
    pub(super) confirmed: bool,
    /// Inventories in a row that did not list it: forgotten at two.
    pub(super) missing: u32,
    /// When the running process started, as the inventory last said.
    pub(super) started_at: Option<Instant>,
    /// When the running process started, as the host shows it (its admin socket): fresher
    /// than the inventory, and it decides when known.
    pub(super) process_started_at: Option<Instant>,
    /// Until then probe failures of a starting daemon are expected: its process is young
    /// (discovered so, or a restart was asked for). RGW takes a while to initialise.
    pub(super) grace_until: Option<Instant>,
}

impl Listing {
    fn new(found: Discovered, policy: &Policy, now: Instant) -> Self {
        Self {
            daemon_type: found.daemon_type,
            service: found.service,
            confirmed: !found.stale,
            missing: 0,
            started_at: found.started_ago.and_then(|ago| now.checked_sub(ago)),
            process_started_at: None,
            grace_until: found
                .started_ago
                .filter(|ago| *ago < policy.startup_grace)
                .map(|ago| now + (policy.startup_grace - ago)),
        }
    }

    /// Listed again (by a fresh inventory, or by the state file's).
    pub(super) fn update(&mut self, found: Discovered, now: Instant) {
        self.missing = 0;
        self.confirmed |= !found.stale;
        self.service = found.service;
        if let Some(ago) = found.started_ago {
            self.started_at = now.checked_sub(ago);
        }
    }
}

/// What the probes said lately.
#[derive(Debug, Default)]
pub(super) struct Probes {
    /// Consecutive passed and failed probes (fall/rise).
    pub(super) streaks: Streaks,
    pub(super) last: Option<LastProbe>,
    /// Failing while no peer is healthy: restarted all the same; not drained while it still
    /// answers GET.
    pub(super) no_healthy_peer: Option<NoHealthyPeer>,
    /// The operator's configuration is wrong for this daemon (e.g. the S3 canary credentials).
    pub(super) config_error: Option<String>,
    /// The last counted probe's `GET` timed out, and which part hangs (its class, named when
    /// it fails).
    pub(super) hang: Option<verdict::Hang>,
    /// Since when (the first probe's send time) its `GET` has timed out with its admin socket
    /// silent too, probe after probe; `None` once a probe says otherwise.
    pub(super) silent_since: Option<Instant>,
    /// Failures in a row that found a healthy peer while it was kept in rotation.
    pub(super) peer_back: u32,
    /// The RADOS reply count the probes that found RADOS stalled under it read; `None` once a
    /// probe says otherwise.
    pub(super) replies: Option<Replies>,
}

/// The RADOS reply count that probes finding RADOS stalled under a daemon read, probe after
/// probe.
#[derive(Debug, Clone, Copy)]
pub(super) struct Replies {
    count: u64,
    /// The send time of the first probe that read this count.
    since: Instant,
    /// The send time of the last one.
    last: Instant,
}

/// A daemon kept in rotation for want of a healthy peer goes out on this many failures in a
/// row that find a peer healthy: HAProxy puts the canary back `rise` x `downinter` (2 s) after
/// it listens again, about a second after the sidecar's own `rise`. Going out on the first
/// left HAProxy with no server for a moment: all three frozen at 100 req/s, ~790 requests
/// killed by `shutdown-sessions` and replayed found none (503).
const PEER_BACK_AFTER: u32 = 2;

impl Probes {
    /// Keeps [`Probes::replies`] current from a probe: the admin socket found RADOS stalled
    /// (`degraded`, decided by `asok`) and read the reply count, or the count is forgotten.
    pub(super) fn note_replies(
        &mut self,
        result: &Result<Verdict, ProbeError>,
        step: Step,
        replies: Option<u64>,
        sent: Instant,
    ) {
        let stalled = matches!(result, Ok(Verdict::Degraded { .. })) && step == Step::Asok;
        self.replies = replies.filter(|_| stalled).map(|count| Replies {
            count,
            since: match self.replies {
                Some(before) if before.count == count => before.since,
                _ => sent,
            },
            last: sent,
        });
    }

    /// How long RADOS has answered none of its operations, once that is [`HOLD_AFTER`] or
    /// more as the last probe saw it.
    pub(super) fn unanswered_for(&self) -> Option<Duration> {
        let replies = self.replies?;
        let silent = replies.last.saturating_duration_since(replies.since);
        (silent >= HOLD_AFTER).then_some(silent)
    }

    /// The last counted probe failed and the admin socket did not answer either: the whole
    /// process is hung.
    pub(super) fn hung(&self) -> bool {
        self.hang == Some(verdict::Hang::Process)
    }

    /// Keeps the probe for `/status` and counts it, unless it found a configuration problem
    /// (which says nothing of the daemon's health). Returns whether it passed, if counted.
    fn record(
        &mut self,
        result: &Result<Verdict, ProbeError>,
        step: Step,
        now: Instant,
    ) -> Option<bool> {
        let detail = if step == Step::Http {
            verdict::describe(result)
        } else {
            format!("{step}: {}", verdict::describe(result))
        };
        let class = ProbeClass::of(result);
        self.last = Some(LastProbe {
            class,
            detail,
            at: now,
        });
        if class == ProbeClass::Config {
            return None;
        }
        self.streaks.observe(result.is_ok());
        Some(result.is_ok())
    }

    pub(super) fn last_was(&self, class: ProbeClass) -> bool {
        self.last.as_ref().is_some_and(|p| p.class == class)
    }

    pub(super) fn detail(&self) -> String {
        self.last
            .as_ref()
            .map_or_else(String::new, |p| p.detail.clone())
    }
}

/// What the operator sets or clears, and what outlives one restart attempt.
#[derive(Debug)]
pub(super) struct Flags {
    /// Persisted.
    pub(super) maintenance: bool,
    /// Out of rotation until undrained; persisted.
    pub(super) drained: bool,
    /// This daemon's failed canary restart holds every restart of its service until the
    /// operator resets it, even once it came back by itself (the hold in RADOS stays too).
    pub(super) holds_service: bool,
    /// The last restart was taken and not performed: the next goes to the backends after the
    /// one that took it, until a restart is proven.
    pub(super) fall_back: bool,
}

impl Tracked {
    pub(super) fn new(found: Discovered, policy: Policy, saved: Persisted, now: Instant) -> Self {
        let (phase, reason) = if saved.maintenance {
            (Phase::Maintenance, Reason::MaintenancePersisted)
        } else {
            let phase = Phase::Starting {
                leaving_maintenance: false,
            };
            (phase, Reason::NoVerdictYet)
        };
        let mut t = Self {
            phase,
            since: now,
            failed_at: None,
            degraded_at: None,
            shed: None,
            speed: Speed::Untold,
            held: false,
            maxconn_told: saved.maxconn_told,
            why: reason.into(),
            listing: Listing::new(found, &policy, now),
            probes: Probes::default(),
            flags: Flags {
                maintenance: saved.maintenance,
                drained: saved.drained,
                holds_service: false,
                fall_back: false,
            },
            announced: Announced::new(Word::Up, now),
            budget: Budget::from_ages(&saved.restart_ages, policy.restart_window, now),
            last_event: None,
            policy,
        };
        t.announced = Announced::new(t.desired_word(), now);
        t
    }

    /// As readers see it.
    pub(super) fn view(&self, name: &str, deadlines: super::Deadlines) -> DaemonView {
        DaemonView {
            deadlines,
            name: name.to_string(),
            daemon_type: self.listing.daemon_type.clone(),
            state: self.phase.state(),
            word: self.announced.word().clone(),
            reason: self.why.to_string(),
            since: self.since,
            last_probe: self.probes.last.clone(),
            streaks: StreakView {
                ok: self.probes.streaks.ok(),
                failed: self.probes.streaks.failed(),
            },
            restarts_in_window: u32::try_from(self.budget.used()).unwrap_or(u32::MAX),
            operator: OperatorView {
                maintenance: self.flags.maintenance,
                drained: self.flags.drained,
                planned_restart: self.phase.planned().is_some(),
            },
            last_event: self.last_event.clone(),
            config_error: self.probes.config_error.clone(),
        }
    }

    /// What the state file keeps of it.
    pub(super) fn persisted(&self, now: Instant) -> Persisted {
        Persisted {
            maintenance: self.flags.maintenance,
            drained: self.flags.drained,
            restart_ages: self.budget.ages(now),
            maxconn_told: self.maxconn_told,
        }
    }

    /// An event of this daemon, from `from` to where it is now.
    pub(super) fn event(&self, name: &str, from: State, reason: String) -> Event {
        Event {
            daemon: name.to_string(),
            from,
            to: self.phase.state(),
            word: self.announced.word().to_string(),
            reason,
        }
    }

    /// Serving clients: what a canary's siblings are not.
    pub(super) fn in_service(&self) -> bool {
        matches!(self.phase, Phase::Healthy | Phase::Busy | Phase::Degraded)
    }

    /// In rotation: `up ready`, with its weight once the weight was ever lowered (HAProxy keeps
    /// an agent-set weight until told another).
    fn ready_word(&self) -> Word {
        let maxconn = match (self.held, self.maxconn_told) {
            (true, _) => Some(HOLD_MAXCONN),
            (false, true) => Some(OPEN_MAXCONN),
            (false, false) => None,
        };
        match (maxconn, self.speed) {
            (None, Speed::Untold) => Word::UpReady,
            (None, speed) => Word::UpReadyAt(speed.weight()),
            (Some(maxconn), speed) => Word::UpReadyLimit {
                weight: (speed != Speed::Untold).then(|| speed.weight()),
                maxconn,
            },
        }
    }

    /// Sets its HAProxy weight (a percentage) for being `ratio` times slower than its peers,
    /// or back to 100 % (`None`), saying why.
    pub(super) fn set_weight(
        &mut self,
        name: &str,
        slow: Option<(f64, u8)>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let weight = slow.map_or(100, |(_, w)| w);
        if self.speed.weight() == weight {
            return;
        }
        self.speed = slow.map_or(Speed::Restored, |(ratio, weight)| Speed::Slow {
            ratio,
            weight,
        });
        let reason = match slow {
            Some((ratio, weight)) => self.slow_reason(ratio, weight),
            None => {
                // As fast as its peers: nothing left to shed.
                if self.shed == Some(Shed::Slow) {
                    self.shed = None;
                }
                Reason::SpeedBack
            }
        };
        let phase = self.phase;
        self.set_saying(name, phase, reason, now, actions);
    }

    /// The word this phase serves (docs/design.md §4 table).
    fn desired_word(&self) -> Word {
        let drained = self.flags.drained;
        match self.phase {
            Phase::Maintenance
            | Phase::Starting {
                leaving_maintenance: true,
            } => Word::Maint,
            Phase::Starting { .. } if drained => Word::Drain,
            Phase::Starting { .. } => Word::Up,
            Phase::Healthy | Phase::Suspect | Phase::Busy | Phase::Degraded if drained => {
                Word::Drain
            }
            // Busy or slow, its peers taking its share: with leastconn a server that fails fast
            // gets its full share whatever its weight, and a slow one at this load as much at
            // weight 10 % as at 100 % (both measured), so only a drain sheds it.
            Phase::Busy | Phase::Healthy | Phase::Suspect if self.shed.is_some() => Word::Drain,
            // Degraded: the cluster is slow under every RGW; taking this one out helps nobody.
            Phase::Healthy | Phase::Suspect | Phase::Busy | Phase::Degraded => self.ready_word(),
            Phase::Draining { .. } => Word::Drain,
            Phase::WaitingForLease(wait) if wait.planned().is_some() => Word::Drain,
            // No peer can take its clients: draining it would only turn slow answers into
            // HAProxy's 503s. HAProxy's own health check still takes a dead one out.
            Phase::Failed
            | Phase::WaitingForLease(_)
            | Phase::Restarting(_)
            | Phase::Recovering(_)
                if self.skip_drain() =>
            {
                self.ready_word()
            }
            // Every peer failed too and another restarts first: HAProxy holds requests on it
            // (and `retry-on` moves them to the first one back) instead of answering 503.
            Phase::Failed | Phase::WaitingForLease(_) if self.kept_in_rotation() => {
                self.ready_word()
            }
            Phase::Failed | Phase::WaitingForLease(_) => Word::Down(self.why.to_string()),
            Phase::Restarting(attempt) | Phase::Recovering(attempt)
                if attempt.planned.is_some() =>
            {
                Word::Drain
            }
            Phase::Restarting(attempt) => Word::Down(self.restart_word(&attempt)),
            // Passes enough, from a process not yet known to be the new one: the count says
            // nothing more (it once read `recovering 118/2` until the restart timed out).
            Phase::Recovering(attempt)
                if self.probes.streaks.risen(self.policy.rise)
                    && !self.new_process_seen(&attempt) =>
            {
                Word::Down("recovering: waiting to see the new process".into())
            }
            Phase::Recovering(_) => Word::Down(format!(
                "recovering {}/{}",
                self.probes.streaks.ok(),
                self.policy.rise
            )),
            Phase::Held => Word::Down(format!("held: {}", self.why)),
        }
    }

    /// Moves to `to` saying why (`to` may be the phase it is in: a new reason); one event per
    /// change of state.
    pub(super) fn set(
        &mut self,
        name: &str,
        to: Phase,
        why: impl Into<Why>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let from = self.phase.state();
        self.phase = to;
        self.why = why.into();
        // A hold lasts while RADOS answers none of its operations, and only in service.
        self.held &= self.phase == Phase::Degraded;
        self.shed = match (self.phase, self.shed) {
            (Phase::Busy, busy @ Some(Shed::Busy { .. })) => busy,
            // A slow one that misses a probe stays out: slower still is the way to a hang.
            (Phase::Healthy | Phase::Suspect, slow @ Some(Shed::Slow)) => slow,
            _ => None,
        };
        if self.in_service() {
            self.failed_at = None;
        } else if self.phase.state() == State::Failed && self.failed_at.is_none() {
            self.failed_at = Some(now);
        }
        self.refresh_word(now);
        let to = self.phase.state();
        if from != to {
            self.since = now;
            self.last_event = Some(format!("{from} -> {to}: {}", self.why));
            let event = self.event(name, from, self.why.to_string());
            actions.push(Action::Event(event));
        }
    }

    /// As [`Tracked::set`], and a move within one state that changes what it waits for is an
    /// event too (a restart under way: taken, the hung process killed, a new process).
    pub(super) fn set_saying(
        &mut self,
        name: &str,
        to: Phase,
        why: impl Into<Why>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let (from, before) = (self.phase.state(), self.why.to_string());
        self.set(name, to, why, now, actions);
        let reason = self.why.to_string();
        if from == self.phase.state() && reason != before {
            self.last_event = Some(reason.clone());
            actions.push(Action::Event(self.event(name, from, reason)));
        }
    }

    /// Tells HAProxy what the phase and the operator's flags say now.
    pub(super) fn refresh_word(&mut self, now: Instant) {
        self.announced.set(self.desired_word(), now);
    }

    /// Whether a restart may go: every HAProxy has heard the word taking it out of
    /// rotation (a daemon HAProxy does not balance, or one that is not drained because no peer
    /// could take its clients, has nothing to wait for).
    pub(super) fn drain_confirmed(&self, now: Instant) -> bool {
        !self.policy.load_balanced
            || self.skip_drain()
            || self.announced.confirmed(
                now,
                self.policy.drain_confirm_timeout,
                self.policy.peer_ttl,
            )
    }

    /// Back in service: healthy, busy (the last probe was), or draining when the operator said
    /// so.
    pub(super) fn serve(
        &mut self,
        name: &str,
        reason: Reason,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let detail = self.probes.detail();
        let (to, reason) = if self.flags.drained {
            (Phase::Draining { planned: None }, Reason::Drained)
        } else if self.probes.last_was(ProbeClass::Degraded) {
            let unanswered = self
                .probes
                .unanswered_for()
                .filter(|_| self.policy.load_balanced);
            let reason = match unanswered {
                Some(silent) => Reason::ClusterHeld { detail, silent },
                None => Reason::Cluster { detail },
            };
            if unanswered.is_some() != self.held {
                // The hold starting or ending is an event: HAProxy's word for it changes.
                self.held = unanswered.is_some();
                if self.held && !self.maxconn_told {
                    // Before HAProxy hears it: a sidecar restarted during the hold must still
                    // end it (HAProxy keeps the `maxconn`).
                    self.maxconn_told = true;
                    actions.push(Action::Persist);
                }
                self.set_saying(name, Phase::Degraded, reason, now, actions);
                return;
            }
            (Phase::Degraded, reason)
        } else if self.probes.last_was(ProbeClass::Busy) {
            match self.shed {
                Some(Shed::Busy { .. }) => {
                    self.shed = Some(Shed::Busy { last: now });
                    (Phase::Busy, Reason::SheddingDrained { detail })
                }
                _ => (Phase::Busy, Reason::Shedding { detail }),
            }
        } else if matches!(self.shed, Some(Shed::Busy { last }) if now < last + SHED_HOLD) {
            // Drained, its probes pass: the load it shed has gone elsewhere, not away.
            (Phase::Busy, Reason::ShedHold { hold: SHED_HOLD })
        } else if let Speed::Slow { ratio, weight } = self.speed {
            (Phase::Healthy, self.slow_reason(ratio, weight))
        } else {
            (Phase::Healthy, reason)
        };
        self.set(name, to, reason, now, actions);
    }

    /// Why a slow daemon is where it is: drained, or in rotation at its lower weight.
    fn slow_reason(&self, ratio: f64, weight: u8) -> Reason {
        match self.shed {
            Some(Shed::Slow) => Reason::SlowDrained { ratio },
            _ => Reason::Slow { ratio, weight },
        }
    }

    /// Busy or slow, and its peers can take its share (the machine decides for the service):
    /// drained, busy until `SHED_HOLD` after its last busy answer, slow while it is slow.
    pub(super) fn start_shedding(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        if self.shed.is_some() {
            return;
        }
        let (phase, reason) = if self.busy_now() {
            self.shed = Some(Shed::Busy { last: now });
            let detail = self.probes.detail();
            (Phase::Busy, Reason::SheddingDrained { detail })
        } else if let Some(ratio) = self.slow_now() {
            self.shed = Some(Shed::Slow);
            (Phase::Healthy, Reason::SlowDrained { ratio })
        } else {
            return;
        };
        self.set_saying(name, phase, reason, now, actions);
    }

    /// Its peers can no longer take its share: back in rotation at once, busy or slow or not.
    pub(super) fn stop_shedding(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        let (phase, reason) = match self.shed.take() {
            None => return,
            Some(Shed::Busy { .. }) => {
                let detail = self.probes.detail();
                (Phase::Busy, Reason::ShedEnded { detail })
            }
            Some(Shed::Slow) => match self.speed {
                Speed::Slow { ratio, weight } => (self.phase, Reason::SlowBack { ratio, weight }),
                Speed::Untold | Speed::Restored => (self.phase, Reason::SpeedBack),
            },
        };
        self.set_saying(name, phase, reason, now, actions);
    }

    /// How many times slower than its peers it answers, while healthy and told a lower weight
    /// for it.
    pub(super) fn slow_now(&self) -> Option<f64> {
        match self.speed {
            Speed::Slow { ratio, .. } if self.phase == Phase::Healthy => Some(ratio),
            _ => None,
        }
    }

    /// Busy, as its last probe found it (not only held drained after shedding).
    pub(super) fn busy_now(&self) -> bool {
        self.phase == Phase::Busy && self.probes.last_was(ProbeClass::Busy)
    }

    pub(super) fn probe(
        &mut self,
        name: &str,
        result: &Result<Verdict, ProbeError>,
        step: Step,
        sent: Instant,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        if self.sent_before_restart(sent) {
            return;
        }
        // A configuration problem is not the daemon's health: it decides nothing.
        let Some(pass) = self.probes.record(result, step, now) else {
            return;
        };
        let risen = pass && self.probes.streaks.risen(self.policy.rise);
        let fallen = !pass && self.probes.streaks.fallen(self.policy.fall);
        let in_grace = self.listing.grace_until.is_some_and(|until| now < until);
        match self.phase {
            Phase::Maintenance => {}
            Phase::Starting { .. } if risen => {
                self.serve(name, Reason::ProbesPass, now, actions);
            }
            Phase::Starting { .. } if fallen && !in_grace => self.fail(name, now, actions),
            Phase::Starting { .. } => {}
            // A planned restart is draining: it goes whatever the probes say.
            Phase::Draining { planned: Some(_) } => {}
            Phase::WaitingForLease(wait) if wait.planned().is_some() => {}
            Phase::Healthy
            | Phase::Busy
            | Phase::Degraded
            | Phase::Suspect
            | Phase::Draining { planned: None } => {
                self.probe_in_service(name, pass, now, actions);
            }
            Phase::Failed | Phase::WaitingForLease(_) | Phase::Held => {
                if risen {
                    self.budget.succeeded();
                    self.serve(name, Reason::CameBack, now, actions);
                }
            }
            Phase::Restarting(_) | Phase::Recovering(_) => {
                self.probe_after_restart(name, pass, now, actions);
            }
        }
    }

    /// In service (or drained by the operator): a pass serves, `fall` failures fail it,
    /// fewer make it suspect.
    fn probe_in_service(
        &mut self,
        name: &str,
        pass: bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let fall = self.policy.fall;
        if pass {
            let reason = if self.phase == Phase::Suspect {
                Reason::ProbesPassAgain
            } else {
                Reason::ProbesPass
            };
            self.serve(name, reason, now, actions);
        } else if self.probes.streaks.fallen(fall) {
            self.fail(name, now, actions);
        } else {
            let reason = Reason::SomeFailed {
                failed: self.probes.streaks.failed(),
                fall,
                detail: self.probes.detail(),
            };
            self.set(name, Phase::Suspect, reason, now, actions);
        }
    }

    /// After a restart: `rise` passes prove it back only once the orchestrator shows the new
    /// process; a failure while recovering goes back to waiting.
    fn probe_after_restart(
        &mut self,
        name: &str,
        pass: bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let (Phase::Restarting(attempt) | Phase::Recovering(attempt)) = self.phase else {
            return;
        };
        let (ok, rise) = (self.probes.streaks.ok(), self.policy.rise);
        let risen = pass && self.probes.streaks.risen(rise);
        if risen && self.new_process_seen(&attempt) {
            self.recovered(name, now, actions);
        } else if risen {
            let reason = Reason::AwaitingNewProcess {
                ok,
                rise,
                old_process: self.listing.process_started_at.is_some(),
            };
            self.set(name, Phase::Recovering(attempt), reason, now, actions);
            self.ask_for_proof(now, actions);
        } else if pass {
            let reason = Reason::PassAfterRestart { ok, rise };
            self.set(name, Phase::Recovering(attempt), reason, now, actions);
        } else if matches!(self.phase, Phase::Recovering(_)) {
            let reason = Reason::FailedAgain {
                detail: self.probes.detail(),
            };
            self.set(name, Phase::Restarting(attempt), reason, now, actions);
        }
    }

    /// Keeps `no_healthy_peer` current from each probe: a failure says whether a peer was
    /// healthy, a pass clears it. While failed, restarting or recovering, a change turns the
    /// word between `down` (drain) and `up ready` (no peer to drain to).
    pub(super) fn peers(
        &mut self,
        name: &str,
        result: &Result<Verdict, ProbeError>,
        no_healthy_peer: Option<NoHealthyPeer>,
        sent: Instant,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        if self.sent_before_restart(sent) {
            return;
        }
        let new = match result {
            Err(ProbeError::Config(_)) => return,
            Err(_) => no_healthy_peer,
            Ok(_) => None,
        };
        let peer_back = new.is_none() && result.is_err();
        self.probes.peer_back = if peer_back {
            self.probes.peer_back + 1
        } else {
            0
        };
        if new == self.probes.no_healthy_peer
            || (peer_back && self.kept_in_rotation() && self.probes.peer_back < PEER_BACK_AFTER)
        {
            return;
        }
        let was_lone = self.skip_drain() || self.kept_in_rotation();
        self.probes.no_healthy_peer = new;
        if !matches!(
            self.phase.state(),
            State::Failed | State::Restarting | State::Recovering
        ) {
            return;
        }
        let peers = if self.kept_in_rotation() && self.probes.no_healthy_peer.is_some() {
            self.waiting_note()
        } else if was_lone && !self.skip_drain() {
            Some(PeerNote::HealthyAgain)
        } else {
            self.peer_note()
        };
        let why = Why {
            reason: self.why.reason.clone(),
            peers,
        };
        self.set(name, self.phase, why, now, actions);
    }

    /// Failed, saying the last probe and why it is not drained when no peer is healthy.
    pub(super) fn fail(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        let detail = match self.probes.hang {
            Some(hang) => format!("{}: {hang}", self.probes.detail()),
            None => self.probes.detail(),
        };
        let why = Why {
            reason: Reason::ProbeFailed { detail },
            peers: self.peer_note(),
        };
        self.set(name, Phase::Failed, why, now, actions);
    }

    /// Keeps which part of the daemon its last counted probe found hung: the class its
    /// failure is named by, and whether the whole process is (failed, and its admin socket
    /// silent too), which a kill of the hung process needs (`restart.rs`).
    pub(super) fn note_hang(
        &mut self,
        result: &Result<Verdict, ProbeError>,
        hang: Option<verdict::Hang>,
        sent: Instant,
    ) {
        if self.says_something(result, sent) {
            self.probes.hang = hang.filter(|_| result.is_err());
        }
    }

    /// Keeps [`Probes::silent_since`] from a probe's own result (before anything reads it as
    /// a stall's backlog).
    pub(super) fn note_silence(
        &mut self,
        result: &Result<Verdict, ProbeError>,
        hang: Option<verdict::Hang>,
        sent: Instant,
    ) {
        if !self.says_something(result, sent) {
            return;
        }
        if matches!(result, Err(ProbeError::Timeout)) && hang == Some(verdict::Hang::Process) {
            self.probes.silent_since.get_or_insert(sent);
        } else {
            self.probes.silent_since = None;
        }
    }

    /// Whether a probe says something of the process running now: not one sent before the
    /// restart under way, nor one that found a configuration problem.
    fn says_something(&self, result: &Result<Verdict, ProbeError>, sent: Instant) -> bool {
        !self.sent_before_restart(sent) && !matches!(result, Err(ProbeError::Config(_)))
    }

    /// A probe sent before the restart under way was asked for: the old process may have
    /// answered it, so it says nothing now. So is one sent before the new process started,
    /// once the host shows it.
    fn sent_before_restart(&self, sent: Instant) -> bool {
        self.phase.attempt().is_some_and(|attempt| {
            sent < attempt.issued
                || self
                    .listing
                    .process_started_at
                    .is_some_and(|started| started >= attempt.issued && sent < started)
        })
    }

    /// No peer could take its clients and it still answers GET: not drained (unless for a
    /// planned restart, which always drains).
    pub(super) fn skip_drain(&self) -> bool {
        self.phase.planned().is_none()
            && self
                .probes
                .no_healthy_peer
                .as_ref()
                .is_some_and(|lone| lone.answers)
    }

    /// Kept in rotation while it waits for its turn to restart, for want of a healthy peer.
    pub(super) fn kept_in_rotation(&self) -> bool {
        matches!(self.why.peers, Some(PeerNote::KeptInRotation(_)))
    }

    /// What the peers add to the reason of a failed daemon waiting for its turn (another
    /// daemon of the service restarting first, or the lease held): with no healthy peer it
    /// is kept in rotation; a planned restart always drains.
    pub(super) fn waiting_note(&self) -> Option<PeerNote> {
        match &self.probes.no_healthy_peer {
            Some(lone) if self.phase.planned().is_none() => {
                Some(PeerNote::KeptInRotation(lone.clone()))
            }
            _ => self.peer_note(),
        }
    }

    /// What a failure's reason adds when no peer is healthy: why it is (not) drained.
    pub(super) fn peer_note(&self) -> Option<PeerNote> {
        self.probes
            .no_healthy_peer
            .clone()
            .map(PeerNote::NoHealthyPeer)
    }

    /// Keeps `config_error` current, saying so when it appears, changes or goes away.
    pub(super) fn config_problem(
        &mut self,
        name: &str,
        result: &Result<Verdict, ProbeError>,
        reported: Option<String>,
        actions: &mut Vec<Action>,
    ) {
        let problem = match result {
            Err(ProbeError::Config(message)) => Some(message.clone()),
            _ => reported,
        };
        if problem != self.probes.config_error {
            self.probes.config_error.clone_from(&problem);
            actions.push(Action::ConfigProblem {
                daemon: name.to_string(),
                message: problem,
            });
        }
    }
}
