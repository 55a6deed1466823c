//! The phases of one daemon (docs/design.md §4), each holding what is true only in it: a
//! restart's [`Attempt`] lives in `Restarting` and `Recovering`, a planned restart's drain in
//! `Draining`, a restart the lease keeps waiting in `WaitingForLease`. Leaving a phase drops its
//! data, so nothing is reset by hand. Readers see the [`State`] a phase reads as.

use std::time::{Duration, Instant};

use super::State;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Phase {
    /// No verdict yet: just discovered, or back from maintenance (`maint` until there is one).
    Starting {
        leaving_maintenance: bool,
    },
    Healthy,
    /// Some probes failed, fewer than `fall`.
    Suspect,
    /// Alive but shedding load: never drained or restarted.
    Busy,
    /// The cluster under it is the problem: kept in rotation, never restarted.
    Degraded,
    /// Out of rotation: drained by the operator, or for a planned restart.
    Draining {
        planned: Option<Planned>,
    },
    /// Out of rotation; restarted once every HAProxy has heard, the backoff has passed and its
    /// turn has come.
    Failed,
    /// The restart lease keeps its restart waiting (reads as failed, or as draining for a
    /// planned restart): asked again every second, with one event for the whole wait.
    WaitingForLease(LeaseWait),
    /// A restart was asked for and no probe sent since has passed.
    Restarting(Attempt),
    /// Probes pass after the restart: not yet `rise` of them, or not yet from the new process.
    Recovering(Attempt),
    /// No automatic restart until the window has room or the operator resets it.
    Held,
    Maintenance,
}

/// A restart asked for and not yet proven.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Attempt {
    /// Only probes sent after this prove it: a frozen RGW thawed on its way out (systemd sends
    /// SIGCONT after SIGTERM) still answers the requests queued before the restart.
    pub(super) issued: Instant,
    /// Not back by then: the attempt failed. Fixed when asked for (a reload since changes only
    /// the next attempts).
    pub(super) deadline: Instant,
    /// The orchestrator (or the lease in front of it) has not answered yet.
    pub(super) outstanding: bool,
    /// Asked for while no other daemon of the service served: if it does not bring this one
    /// back, the whole service holds.
    pub(super) canary: bool,
    /// A planned restart, with its drain (kept for when the lease sends it back to draining).
    pub(super) planned: Option<Planned>,
    /// When a fresh inventory was last asked for to prove it.
    pub(super) proof_refresh_at: Option<Instant>,
    /// The sidecar's own kill of the hung process it restarts.
    pub(super) kill: Kill,
}

/// The sidecar's own kill of a hung process whose restart the orchestrator took: podman's
/// stop would wait 10 s for a SIGTERM a hung process never acts on (docs/design.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kill {
    NotAsked,
    /// Asked for; no answer yet.
    Asked,
    Killed,
    /// The kill failed: the orchestrator's stop ends the process, later.
    Failed,
}

impl Attempt {
    /// Asked for at `now`, to be proven within `timeout`.
    pub(super) fn new(
        now: Instant,
        timeout: Duration,
        canary: bool,
        planned: Option<Planned>,
    ) -> Self {
        Self {
            issued: now,
            deadline: now + timeout,
            outstanding: true,
            canary,
            planned,
            proof_refresh_at: None,
            kill: Kill::NotAsked,
        }
    }

    /// How long it was given.
    pub(super) fn timeout(&self) -> Duration {
        self.deadline.saturating_duration_since(self.issued)
    }

    /// Whether to ask for a fresh inventory now (at most one per `every`) to see the new process.
    pub(super) fn ask_for_proof(&mut self, now: Instant, every: Duration) -> bool {
        let due = self.proof_refresh_at.is_none_or(|at| now >= at + every);
        if due {
            self.proof_refresh_at = Some(now);
        }
        due
    }
}

/// The operator's planned restart: drained first, restarted once HAProxy and the requests in
/// flight allow, outside the budget, never `down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Planned {
    /// When the drain began: the requests in flight are waited for `drain-timeout` at most.
    pub(super) started: Instant,
    /// The requests in flight, as last counted.
    pub(super) in_flight: Option<u64>,
}

/// A restart the lease deferred.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum LeaseWait {
    /// Until the next try (the budget says when); a planned restart keeps its drain.
    Idle(Option<Planned>),
    /// Asked again; no answer yet.
    Asking(Attempt),
}

impl Phase {
    /// What readers see.
    pub(super) fn state(&self) -> State {
        match self {
            Self::Starting { .. } => State::Starting,
            Self::Healthy => State::Healthy,
            Self::Suspect => State::Suspect,
            Self::Busy => State::Busy,
            Self::Degraded => State::Degraded,
            Self::Draining { .. } => State::Draining,
            Self::WaitingForLease(wait) if wait.planned().is_some() => State::Draining,
            Self::Failed | Self::WaitingForLease(_) => State::Failed,
            Self::Restarting(_) => State::Restarting,
            Self::Recovering(_) => State::Recovering,
            Self::Held => State::Held,
            Self::Maintenance => State::Maintenance,
        }
    }

    /// The planned restart under way, in whichever phase it is.
    pub(super) fn planned(&self) -> Option<&Planned> {
        match self {
            Self::Draining { planned } => planned.as_ref(),
            Self::WaitingForLease(wait) => wait.planned(),
            Self::Restarting(attempt) | Self::Recovering(attempt) => attempt.planned.as_ref(),
            _ => None,
        }
    }

    /// The requests in flight were counted: the planned restart under way (if any) keeps the
    /// count.
    pub(super) fn in_flight(&mut self, active: u64) {
        let planned = match self {
            Self::Draining { planned } | Self::WaitingForLease(LeaseWait::Idle(planned)) => planned,
            Self::Restarting(attempt)
            | Self::Recovering(attempt)
            | Self::WaitingForLease(LeaseWait::Asking(attempt)) => &mut attempt.planned,
            _ => return,
        };
        if let Some(planned) = planned {
            planned.in_flight = Some(active);
        }
    }

    /// The restart under way since it was asked for (not one the lease still holds back).
    pub(super) fn attempt(&self) -> Option<&Attempt> {
        match self {
            Self::Restarting(attempt) | Self::Recovering(attempt) => Some(attempt),
            _ => None,
        }
    }

    /// Waiting for its turn to be restarted: failed, or a planned restart draining, with no
    /// request out.
    pub(super) fn wants_restart(&self) -> bool {
        matches!(
            self,
            Self::Failed
                | Self::Draining { planned: Some(_) }
                | Self::WaitingForLease(LeaseWait::Idle(_))
        )
    }

    /// A restart of it is asked for, or under way and not yet proven.
    pub(super) fn restart_under_way(&self) -> bool {
        matches!(
            self,
            Self::Restarting(_) | Self::Recovering(_) | Self::WaitingForLease(_)
        )
    }
}

impl LeaseWait {
    pub(super) fn planned(&self) -> Option<&Planned> {
        match self {
            Self::Idle(planned) => planned.as_ref(),
            Self::Asking(attempt) => attempt.planned.as_ref(),
        }
    }
}
