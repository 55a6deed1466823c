//! The restart path of one daemon (docs/design.md §4, §8): a restart is asked for once every
//! HAProxy has heard the drain, the backoff has passed and the daemon's turn has come; the
//! lease may defer it (one quiet wait, not a flip a second); the orchestrator answers; `rise`
//! passing probes from the new process within `restart-timeout` prove it. An attempt that does
//! not bring it back backs off, and a spent budget holds it; a failed canary holds its service.

use std::fmt;
use std::time::{Duration, Instant};

use super::phase::{Attempt, Kill, LeaseWait, Phase};
use super::reason::{Awaiting, Reason, Why};
use super::tracked::Tracked;
use super::{Action, RestartError};

/// How soon a restart deferred by the lease is tried again.
const LEASE_RETRY: Duration = Duration::from_secs(1);

/// How soon a restart the orchestrator did not take is asked for again: each ask is a mgr
/// command, and what refused it (a mgr failing over, an inventory that lags) takes seconds.
pub(super) const NOT_TAKEN_RETRY: Duration = Duration::from_secs(10);

/// Start times come with whole-second or tick precision: a process that started this little
/// before the restart was asked for counts as the new one.
const START_SLACK: Duration = Duration::from_secs(1);

/// Two start times the host gives this close are one process (they are computed from the
/// wall clock at each look).
const SAME_PROCESS: Duration = Duration::from_millis(500);

/// While probes pass but the inventory does not show the new process yet (and the host does
/// not show it either), ask for a fresh inventory this often. With cephadm each ask is an
/// `orch ps --refresh`: a queue entry and a serve-loop pass on the mgr.
const PROOF_REFRESH: Duration = Duration::from_secs(5);

/// Why a restart under way was not made. Nothing was tried in any case: no budget spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotMade {
    /// The lease kept it back (held by another restart, or RADOS unreachable); no lease was
    /// taken for it.
    Deferred { rados_unreachable: bool },
    /// The orchestrator refused it, or could not be asked.
    NotTaken,
    /// The orchestrator took it and, at the restart timeout, the same process still runs:
    /// the next restart goes to the backends after the one that took it.
    NotPerformed,
}

/// What this host's daemons say about starting a restart of one of them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Gate {
    /// Only the state file's inventory lists it.
    Unconfirmed,
    /// A canary restart of the service did not bring its daemon back.
    ServiceHeld { canary: String },
    /// `max_concurrent_restarts` of the service are restarting.
    OneAtATime { restarting: Vec<String> },
    /// Every daemon of the service failed and `canary`, which failed first, restarts first.
    CanaryFirst { canary: String },
    /// Not a block: no other daemon of the service serves, so this restart is its canary.
    Canary,
}

impl Gate {
    pub(super) fn blocks(&self) -> bool {
        !matches!(self, Self::Canary)
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unconfirmed => f.write_str(
                "only the state file's inventory lists it; ceph orch ps has not listed it since the sidecar started",
            ),
            Self::ServiceHeld { canary } => write!(
                f,
                "the canary restart of {canary} did not bring it back; every restart of the service holds until `ceph-warden reset {canary}`"
            ),
            Self::OneAtATime { restarting } => write!(
                f,
                "{} of the same service restarting (one at a time)",
                restarting.join(", ")
            ),
            Self::CanaryFirst { canary } => write!(
                f,
                "{canary} of the same service restarts first (the canary: every daemon of the service failed)"
            ),
            Self::Canary => f.write_str("the canary of its service"),
        }
    }
}

impl Tracked {
    /// Acts on the deadlines that passed by `now`; `gate` is what this host's other daemons say
    /// about restarting this one now.
    pub(super) fn tick(
        &mut self,
        name: &str,
        now: Instant,
        gate: Option<&Gate>,
        actions: &mut Vec<Action>,
    ) {
        self.budget.expire(now, self.policy.restart_window);
        let budget_left = self.budget.left(self.policy.max_restarts);
        self.kill_if_hung(name, now, actions);
        match self.phase {
            Phase::Failed | Phase::WaitingForLease(LeaseWait::Idle(None)) => {
                if !budget_left {
                    let spent = self.budget.spent(self.policy.restart_window);
                    self.set(name, Phase::Held, Reason::BudgetSpent(spent), now, actions);
                } else if self.budget.due(now)
                    && (gate.is_some_and(Gate::blocks) || self.drain_confirmed(now))
                {
                    // A daemon that must wait its turn says so at once: with no healthy peer
                    // that keeps it in rotation before HAProxy hears a `down`.
                    self.restart_in_turn(name, gate, true, now, actions);
                }
            }
            Phase::Draining {
                planned: Some(planned),
            }
            | Phase::WaitingForLease(LeaseWait::Idle(Some(planned))) => {
                let idle = planned.in_flight == Some(0);
                let waited_enough = now >= planned.started + self.policy.drain_timeout;
                let retry_due = self.budget.due(now);
                if retry_due && self.drain_confirmed(now) && (idle || waited_enough) {
                    self.restart_in_turn(name, gate, false, now, actions);
                }
            }
            Phase::Recovering(attempt)
                if self.probes.streaks.risen(self.policy.rise) && now < attempt.deadline =>
            {
                if self.new_process_seen(&attempt) {
                    self.recovered(name, now, actions);
                } else {
                    self.ask_for_proof(now, actions);
                }
            }
            Phase::Restarting(attempt) | Phase::Recovering(attempt)
                if now >= attempt.deadline && self.old_process_still_runs(&attempt) =>
            {
                let why = Reason::NotPerformed {
                    waited: attempt.timeout(),
                };
                self.restart_not_made(name, NotMade::NotPerformed, why, now, actions);
            }
            Phase::Restarting(attempt) | Phase::Recovering(attempt) if now >= attempt.deadline => {
                self.restart_timed_out(name, attempt, now, actions);
                // Out of budget: held at once, not at the next tick.
                self.tick(name, now, gate, actions);
            }
            Phase::Held if budget_left && !self.flags.holds_service => {
                self.set(name, Phase::Failed, Reason::WindowRoom, now, actions);
                self.tick(name, now, gate, actions);
            }
            _ => {}
        }
    }

    /// When [`Tracked::tick`] may act next.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let confirm = (self.policy.load_balanced)
            .then_some(self.announced.since() + self.policy.drain_confirm_timeout);
        let not_before_confirm = |at: Option<Instant>| [at, confirm].into_iter().flatten().max();
        match self.phase {
            Phase::Failed | Phase::WaitingForLease(LeaseWait::Idle(None)) => {
                not_before_confirm(self.budget.next_attempt_at())
            }
            Phase::Draining {
                planned: Some(planned),
            }
            | Phase::WaitingForLease(LeaseWait::Idle(Some(planned))) => {
                not_before_confirm(Some(planned.started + self.policy.drain_timeout))
            }
            Phase::Restarting(attempt) if self.kill_waits_for_confirmation(&attempt) => {
                confirm.map_or(Some(attempt.deadline), |c| Some(c.min(attempt.deadline)))
            }
            Phase::Restarting(attempt) | Phase::Recovering(attempt) => Some(attempt.deadline),
            Phase::Held => self.budget.frees_at(self.policy.restart_window),
            _ => None,
        }
    }

    /// Restarts it when the gate lets it (as the service's canary when the gate says so);
    /// otherwise (failed, or a planned restart draining) says once why it waits.
    fn restart_in_turn(
        &mut self,
        name: &str,
        gate: Option<&Gate>,
        counted: bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let canary = gate == Some(&Gate::Canary);
        match gate.filter(|g| g.blocks()) {
            Some(gate) => {
                let why = Why {
                    reason: Reason::WaitingForTurn(gate.clone()),
                    peers: if counted { self.waiting_note() } else { None },
                };
                if why != self.why {
                    self.set(name, self.phase, why, now, actions);
                }
            }
            // Kept in rotation and no longer held back. As the canary (no sibling serves): out
            // first, then the restart once every HAProxy heard it (the next tick). With a
            // sibling serving again (the canary back): it stays until its own probes find a
            // healthy peer (`peers`), by which time HAProxy has the canary back too. (A lease
            // deferred on another host's account is asked again as it is: the kill of a hung
            // process waits for every HAProxy to hear the `down` all the same.)
            None if self.kept_in_rotation() && !matches!(self.phase, Phase::WaitingForLease(_)) => {
                if canary {
                    self.fail(name, now, actions);
                }
            }
            None => self.issue_restart(name, counted, canary, now, actions),
        }
    }

    /// Asks for a restart. `canary`: no other daemon of the service on this host serves.
    /// While the lease keeps it waiting, a retry changes neither the state nor the word, and
    /// writes nothing: the wait is one phase with one event, not a flip a second.
    pub(super) fn issue_restart(
        &mut self,
        name: &str,
        counted: bool,
        canary: bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let planned = self.phase.planned().copied();
        let canary = planned.is_none() && (self.probes.no_healthy_peer.is_some() || canary);
        if counted {
            self.budget.charge(now);
        }
        self.listing.grace_until = Some(now + self.policy.startup_grace);
        self.probes.streaks.reset();
        let attempt = Attempt::new(now, self.policy.restart_timeout, canary, planned);
        actions.push(Action::Restart {
            daemon: name.to_string(),
            fall_back: self.flags.fall_back,
        });
        if let Phase::WaitingForLease(_) = self.phase {
            self.phase = Phase::WaitingForLease(LeaseWait::Asking(attempt));
            return;
        }
        self.restarting(name, attempt, Awaiting::Answer, now, actions);
        actions.push(Action::Persist);
    }

    /// Restarting, saying what the restart waits for (and, when it was restarted for want of
    /// a healthy peer, that too: /status keeps saying so, docs/design.md §4).
    fn restarting(
        &mut self,
        name: &str,
        attempt: Attempt,
        awaiting: Awaiting,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let reason = match attempt.planned {
            Some(_) => Reason::PlannedRestartRequested { awaiting },
            None => Reason::RestartRequested {
                attempt: self.budget.attempt(),
                awaiting,
            },
        };
        let why = Why {
            reason,
            peers: self.peer_note(),
        };
        self.set_saying(name, Phase::Restarting(attempt), why, now, actions);
    }

    /// The restart was not asked for (lease held or unavailable): undo the attempt and try
    /// again in a second, without backoff and without charging the budget. When RADOS does
    /// not answer, the failure is the cluster's: `degraded` (back in rotation), and only
    /// `fall` fresh failures make it failed again (right after a RADOS stall ends, a daemon
    /// that was waiting on it must not be restarted by a lease that works again).
    pub(super) fn restart_deferred(
        &mut self,
        name: &str,
        reason: String,
        rados_unreachable: bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let why = if rados_unreachable {
            Reason::Cluster { detail: reason }
        } else {
            Reason::WaitingForLease(reason)
        };
        let cause = NotMade::Deferred { rados_unreachable };
        self.restart_not_made(name, cause, why, now, actions);
    }

    /// The restart under way was not made (`cause`): undo the attempt, refund the budget,
    /// give back the lease taken for it, and ask again shortly, with no backoff. A canary
    /// stays a canary: nothing was tried, so nothing failed.
    fn restart_not_made(
        &mut self,
        name: &str,
        cause: NotMade,
        why: Reason,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let (retry, rados_unreachable) = match cause {
            NotMade::Deferred { rados_unreachable } => (LEASE_RETRY, rados_unreachable),
            NotMade::NotTaken | NotMade::NotPerformed => {
                // The lease was taken for it.
                if self.phase.restart_under_way() {
                    actions.push(Action::ReleaseLease {
                        daemon: name.to_string(),
                    });
                }
                if cause == NotMade::NotPerformed {
                    self.flags.fall_back = true;
                    actions.push(Action::NotPerformed {
                        daemon: name.to_string(),
                    });
                }
                (NOT_TAKEN_RETRY, false)
            }
        };
        let (attempt, first) = match (self.phase, cause) {
            (Phase::Restarting(attempt), _) if attempt.outstanding => (attempt, true),
            (Phase::Restarting(attempt) | Phase::Recovering(attempt), NotMade::NotPerformed) => {
                (attempt, true)
            }
            (Phase::WaitingForLease(LeaseWait::Asking(attempt)), _) => (attempt, false),
            _ => return,
        };
        if attempt.planned.is_none() {
            self.budget.refund(attempt.issued);
        }
        self.listing.grace_until = None;
        self.budget.retry_at(Some(now + retry));
        if rados_unreachable && attempt.planned.is_none() {
            self.budget.retry_at(None);
            self.probes.streaks.reset();
            self.set(name, Phase::Degraded, why, now, actions);
            actions.push(Action::Persist);
            return;
        }
        let wait = Phase::WaitingForLease(LeaseWait::Idle(attempt.planned));
        // Another host's daemon restarts first: with no healthy peer, kept in rotation.
        let peers = match (&why, cause) {
            (Reason::WaitingForLease(_), NotMade::Deferred { .. }) if attempt.planned.is_none() => {
                self.waiting_note()
            }
            _ => None,
        };
        let why = Why { reason: why, peers };
        if first || why != self.why {
            self.set(name, wait, why, now, actions);
        } else {
            self.phase = wait;
        }
        if first {
            actions.push(Action::Persist);
        }
    }

    pub(super) fn restart_answered(
        &mut self,
        name: &str,
        result: Result<String, RestartError>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        if let Err(RestartError::NotTaken(said)) = &result {
            let why = Reason::NotTaken(said.clone());
            self.restart_not_made(name, NotMade::NotTaken, why, now, actions);
            return;
        }
        match &mut self.phase {
            Phase::WaitingForLease(LeaseWait::Asking(attempt)) => {
                // The lease came through on a quiet retry: the restart is under way now.
                let attempt = Attempt {
                    outstanding: false,
                    ..*attempt
                };
                if result.is_ok() {
                    self.restarting(name, attempt, Awaiting::Orchestrator, now, actions);
                    actions.push(Action::Persist);
                }
            }
            Phase::Restarting(attempt) => {
                attempt.outstanding = false;
                let attempt = *attempt;
                // Taken: now it waits for the orchestrator, unless the reason already says more
                // (a new process came first: the systemd and command backends answer once the
                // restart is done).
                let asking = matches!(
                    &self.why.reason,
                    Reason::RestartRequested {
                        awaiting: Awaiting::Answer,
                        ..
                    } | Reason::PlannedRestartRequested {
                        awaiting: Awaiting::Answer
                    }
                );
                if result.is_ok() && asking && !self.new_process_on_host(&attempt) {
                    self.restarting(name, attempt, Awaiting::Orchestrator, now, actions);
                } else {
                    self.refresh_word(now);
                }
            }
            Phase::Recovering(attempt) => attempt.outstanding = false,
            // Proven back or given up already: a late answer changes nothing.
            _ => return,
        }
        match result {
            Ok(said) => {
                if !said.is_empty() {
                    self.last_event = Some(format!("orchestrator: {said}"));
                }
                actions.push(Action::RefreshInventory);
            }
            Err(err) => {
                actions.push(Action::ReleaseLease {
                    daemon: name.to_string(),
                });
                self.attempt_failed(name, Reason::RestartFailed(err), now, actions);
            }
        }
    }

    /// Proven back by `rise` passing probes from the new process.
    pub(super) fn recovered(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        actions.push(Action::ReleaseLease {
            daemon: name.to_string(),
        });
        actions.push(Action::RestartProven {
            daemon: name.to_string(),
        });
        self.budget.succeeded();
        self.listing.grace_until = None;
        self.flags.fall_back = false;
        self.serve(name, Reason::BackAfterRestart, now, actions);
    }

    /// The restart did not bring it back: back to `failed` (the attempt, and any answer of
    /// the orchestrator still outstanding, no longer matter), and wait before the next one.
    /// The caller gives back the restart lease (a canary's goes back only once its hold is up).
    fn attempt_failed(
        &mut self,
        name: &str,
        reason: Reason,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.budget.attempt_failed(now, &self.policy);
        self.set(name, Phase::Failed, reason, now, actions);
    }

    /// The restart did not bring it back within its own timeout (a reload since changes only
    /// the next attempts). A canary's failure holds the whole service; any other attempt backs
    /// off and gives its lease back.
    fn restart_timed_out(
        &mut self,
        name: &str,
        attempt: Attempt,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let waited = attempt.timeout();
        self.attempt_failed(name, Reason::NotBack { waited }, now, actions);
        if attempt.canary {
            // Every peer was down and restarting this one did not help: restarting the others
            // will not either. Everyone holds, and says why.
            let reason = Reason::CanaryNotBack {
                waited,
                daemon: name.to_string(),
            };
            self.flags.holds_service = true;
            self.set(name, Phase::Held, reason, now, actions);
            // No ReleaseLease: HoldService frees the lease once the hold is up. A lease freed
            // first lets a peer restart before it can see the hold.
            actions.push(Action::HoldService {
                daemon: name.to_string(),
                reason: self.why.to_string(),
            });
            return;
        }
        actions.push(Action::ReleaseLease {
            daemon: name.to_string(),
        });
    }

    /// Kills the process it restarts when that is proven hung and nothing is lost by it: the
    /// orchestrator took the restart (cephadm's stop would SIGTERM it and wait podman's 10 s
    /// for a process that acts on no signal but SIGKILL), every HAProxy has heard it is out
    /// of rotation, its last probe failed with the admin socket silent too, and the host shows
    /// that the process running is still the one from before the request (never a new one).
    /// Once per attempt, only when `kill-hung` is on; never for a planned restart.
    pub(super) fn kill_if_hung(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        let Phase::Restarting(attempt) = self.phase else {
            return;
        };
        // Killed only once every HAProxy heard it is out: a restart asked while it was kept in
        // rotation (its lease deferred on another host's account) may not have been heard yet.
        // One left in rotation for want of a healthy peer still serves: never killed.
        let due = self.kill_waits_for_confirmation(&attempt)
            && self.heard_out(now)
            && !attempt.outstanding
            && attempt.planned.is_none()
            && self.old_process_still_runs(&attempt)
            && !self.skip_drain();
        if due {
            self.phase = Phase::Restarting(Attempt {
                kill: Kill::Asked,
                ..attempt
            });
            actions.push(Action::KillHung {
                daemon: name.to_string(),
                not_after: attempt.issued,
            });
        }
    }

    /// Every HAProxy heard the word that took it out of rotation (or waiting longer is
    /// pointless): what the kill of a hung process waits for.
    fn heard_out(&self, now: Instant) -> bool {
        !self.announced.word().in_rotation() && self.drain_confirmed(now)
    }

    /// A kill is wanted for this attempt (on, hung, not asked yet): until HAProxy heard the
    /// `down`, the confirmation's deadline is when it may go.
    fn kill_waits_for_confirmation(&self, attempt: &super::phase::Attempt) -> bool {
        self.policy.kill_hung && self.probes.hung() && attempt.kill == Kill::NotAsked
    }

    /// The kill of the hung process answered (what it said, or why it failed): one event
    /// either way, and the restart says what it waits for now.
    pub(super) fn hung_killed(
        &mut self,
        name: &str,
        result: Result<String, String>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let (kill, awaiting) = match result {
            Ok(said) => (Kill::Killed, Awaiting::Killed(said)),
            Err(err) => (Kill::Failed, Awaiting::KillFailed(err)),
        };
        match self.phase {
            Phase::Restarting(attempt) if attempt.kill == Kill::Asked => {
                let attempt = Attempt { kill, ..attempt };
                if self.new_process_on_host(&attempt) {
                    // Overtaken: the restart waits for the new process, as it said.
                    self.phase = Phase::Restarting(attempt);
                    self.refresh_word(now);
                } else {
                    self.restarting(name, attempt, awaiting, now, actions);
                }
            }
            Phase::Recovering(attempt) if attempt.kill == Kill::Asked => {
                self.phase = Phase::Recovering(Attempt { kill, ..attempt });
            }
            _ => {}
        }
    }

    /// What the agent's `down` word says a restart waits for (`/status`'s reason says it at
    /// more length): the orchestrator's answer (a `ceph` call can take its whole timeout while
    /// no mgr is active), then, as far as the host shows which process runs, the orchestrator
    /// to restart it, a new process after the kill, the new process to answer.
    pub(super) fn restart_word(&self, attempt: &Attempt) -> String {
        let wait = if self.new_process_on_host(attempt) {
            "waiting for the new process to answer"
        } else if attempt.outstanding {
            "asking the orchestrator"
        } else if attempt.kill == Kill::Killed {
            "hung process killed, waiting for the orchestrator to start a new one"
        } else if self.old_process_still_runs(attempt) {
            "waiting for the orchestrator to restart it"
        } else {
            "waiting for the daemon to answer"
        };
        format!("restarting: {wait}")
    }

    /// The host shows a process started after the restart was asked for.
    fn new_process_on_host(&self, attempt: &Attempt) -> bool {
        self.listing
            .process_started_at
            .is_some_and(|started| started >= attempt.issued)
    }

    /// The process answering now is the one started by the restart: the host shows a
    /// process started after the request (its admin socket), or, when the host cannot tell,
    /// the inventory shows a start after it (or there are no start times to go by).
    pub(super) fn new_process_seen(&self, attempt: &Attempt) -> bool {
        if let Some(started) = self.listing.process_started_at {
            return started >= attempt.issued;
        }
        if !self.policy.prove_by_start_time {
            return true;
        }
        self.listing
            .started_at
            .is_none_or(|started| started + START_SLACK >= attempt.issued)
    }

    /// The host shows that the process running now started before the restart was asked
    /// for: the orchestrator has not performed it (cephadm accepts a restart it will not run
    /// while paused, for an unmanaged service or an offline host, and runs it late when its
    /// serve loop is busy). Nothing was tried, so a timeout then is no failed attempt.
    pub(super) fn old_process_still_runs(&self, attempt: &Attempt) -> bool {
        self.listing
            .process_started_at
            .is_some_and(|started| started < attempt.issued)
    }

    /// The host shows when the running process started. A process started after the restart
    /// was asked for is the new one: the passes counted before it came were the old one's
    /// (a frozen RGW thawed on its way out), so the count starts again from it.
    pub(super) fn process_started(
        &mut self,
        name: &str,
        ago: Duration,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(started) = now.checked_sub(ago) else {
            return;
        };
        let same = self
            .listing
            .process_started_at
            .is_some_and(|known| known.max(started) - known.min(started) < SAME_PROCESS);
        if same {
            return;
        }
        self.listing.process_started_at = Some(started);
        self.refresh_word(now);
        let Some(attempt) = self.phase.attempt().copied() else {
            return;
        };
        if started >= attempt.issued {
            self.probes.streaks.reset();
            let why = Why {
                reason: Reason::NewProcess {
                    rise: self.policy.rise,
                },
                peers: self.peer_note(),
            };
            self.set_saying(name, Phase::Restarting(attempt), why, now, actions);
        }
    }

    /// Asks for a fresh inventory (at most one per [`PROOF_REFRESH`]) to see the restarted
    /// process, unless the host shows which process answers (the inventory cannot overrule
    /// it).
    pub(super) fn ask_for_proof(&mut self, now: Instant, actions: &mut Vec<Action>) {
        if self.listing.process_started_at.is_some() {
            return;
        }
        if let Phase::Recovering(attempt) = &mut self.phase {
            if attempt.ask_for_proof(now, PROOF_REFRESH) {
                actions.push(Action::RefreshInventory);
            }
        }
    }
}
