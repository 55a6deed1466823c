//! Why a daemon is where it is, typed. Each move of the machine names its [`Reason`]; the peers'
//! answers add a [`PeerNote`] to a failure; together they are a daemon's [`Why`]. They are only
//! ever rendered (for `/status`, the events and HAProxy's `down` word), never read back: a
//! later change of the peers' answer replaces the note and keeps the reason.

use std::fmt;
use std::time::Duration;

use super::budget::Spent;
use super::restart::Gate;
use super::{NoHealthyPeer, RestartError};

/// What a restart under way waits for, before any process answers.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Awaiting {
    /// The orchestrator (or the lease in front of it) has not answered.
    Answer,
    /// The orchestrator took the restart; the old process still runs (cephadm queues it).
    Orchestrator,
    /// The hung process was killed (what the kill said); the orchestrator starts the new one.
    Killed(String),
    /// Killing the hung process failed (what the kill said): the orchestrator's stop does it.
    KillFailed(String),
}

impl fmt::Display for Awaiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Answer => f.write_str("asking the orchestrator"),
            Self::Orchestrator => {
                f.write_str("the orchestrator took it; waiting for it to restart the daemon")
            }
            Self::Killed(said) => write!(
                f,
                "killed the hung process (its admin socket did not answer either): {said}; waiting for the orchestrator to start a new one"
            ),
            Self::KillFailed(err) => write!(
                f,
                "the orchestrator took it; killing the hung process failed ({err}); waiting for the orchestrator to restart the daemon"
            ),
        }
    }
}

/// What a daemon's last move was for. `detail` is the last probe as `/status` shows it
/// (`timeout`, `s3: http 500`).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reason {
    NoVerdictYet,
    MaintenancePersisted,
    MaintenanceOn,
    /// Back from maintenance: `maint` until `rise` passing probes.
    MaintenanceOff {
        rise: u32,
    },
    Drained,
    Undrained,
    UndrainedFailing {
        detail: String,
    },
    PlannedDraining,
    Reset,
    ProbesPass,
    ProbesPassAgain,
    CameBack,
    BackAfterRestart,
    Shedding {
        detail: String,
    },
    /// Busy, and drained while its peers take its share.
    SheddingDrained {
        detail: String,
    },
    /// Drained after shedding load; its probes pass, and it is back once `hold` passed since
    /// its last busy answer.
    ShedHold {
        hold: std::time::Duration,
    },
    /// Was drained for shedding load; its peers can no longer take its share.
    ShedEnded {
        detail: String,
    },
    /// Answers `ratio` times slower than its peers: its HAProxy weight is `weight` %.
    Slow {
        ratio: f64,
        weight: u8,
    },
    /// Answers `ratio` times slower than its peers, and drained while they take its share.
    SlowDrained {
        ratio: f64,
    },
    /// Was drained for being slow; its peers can no longer take its share: back at `weight` %.
    SlowBack {
        ratio: f64,
        weight: u8,
    },
    /// As fast as its peers again: its weight back to 100 %.
    SpeedBack,
    /// The cluster under it is the problem (a RADOS stall, a lease RADOS cannot give).
    Cluster {
        detail: String,
    },
    /// As `Cluster`, and RADOS has answered none of its operations for `silent`: HAProxy
    /// holds new requests for it in its queue.
    ClusterHeld {
        detail: String,
        silent: Duration,
    },
    ProbeFailed {
        detail: String,
    },
    SomeFailed {
        failed: u32,
        fall: u32,
        detail: String,
    },
    PassAfterRestart {
        ok: u32,
        rise: u32,
    },
    /// `rise` reached, but the answering process is not known to be the new one:
    /// `old_process` when the host shows it started before the restart, otherwise the
    /// inventory does not show a new start yet.
    AwaitingNewProcess {
        ok: u32,
        rise: u32,
        old_process: bool,
    },
    /// The host shows a process started after the restart was asked for.
    NewProcess {
        rise: u32,
    },
    FailedAgain {
        detail: String,
    },
    RestartRequested {
        attempt: u32,
        awaiting: Awaiting,
    },
    PlannedRestartRequested {
        awaiting: Awaiting,
    },
    /// Held back by this host's other daemons (or by the state file).
    WaitingForTurn(Gate),
    /// Deferred by the restart lease, which says why.
    WaitingForLease(String),
    /// The orchestrator did not take the restart (what it said): asked again shortly.
    NotTaken(String),
    /// The orchestrator took the restart, but the process that runs is still the old one.
    NotPerformed {
        waited: Duration,
    },
    RestartFailed(RestartError),
    NotBack {
        waited: Duration,
    },
    /// The canary restart of `daemon` (this one) did not help: the service holds.
    CanaryNotBack {
        waited: Duration,
        daemon: String,
    },
    BudgetSpent(Spent),
    WindowRoom,
    Forgotten,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not_back = |waited: &Duration| {
            format!(
                "not back within {} of the restart",
                humantime::format_duration(*waited)
            )
        };
        match self {
            Self::NoVerdictYet => f.write_str("no verdict yet"),
            Self::MaintenancePersisted => f.write_str("in maintenance (persisted)"),
            Self::MaintenanceOn => f.write_str("in maintenance by the operator"),
            Self::MaintenanceOff { rise } => {
                write!(f, "left maintenance; waiting for {rise} passing probes")
            }
            Self::Drained => f.write_str("drained by the operator"),
            Self::Undrained => f.write_str("undrained by the operator"),
            Self::UndrainedFailing { detail } => write!(f, "undrained; last probe failed: {detail}"),
            Self::PlannedDraining => f.write_str("planned restart: draining"),
            Self::Reset => f.write_str("reset by the operator"),
            Self::ProbesPass => f.write_str("probes pass"),
            Self::ProbesPassAgain => f.write_str("probes pass again"),
            Self::CameBack => f.write_str("came back without a restart"),
            Self::BackAfterRestart => f.write_str("back after the restart"),
            Self::Shedding { detail } => write!(f, "alive but shedding load ({detail})"),
            Self::SheddingDrained { detail } => write!(
                f,
                "alive but shedding load ({detail}); drained while its peers take its share (at most a third of the service at once, two serving)"
            ),
            Self::ShedHold { hold } => write!(
                f,
                "drained after shedding load; probes pass again; back in rotation {} after its last busy answer",
                humantime::format_duration(*hold)
            ),
            Self::ShedEnded { detail } => write!(
                f,
                "alive but shedding load ({detail}); back in rotation: its peers can no longer take its share"
            ),
            Self::Cluster { detail } => write!(
                f,
                "the cluster, not this daemon: {detail}; not drained, not restarted"
            ),
            Self::ClusterHeld { detail, silent } => write!(
                f,
                "the cluster, not this daemon: {detail}; RADOS answered none of its ops for {:.0}s: new requests wait in HAProxy's queue (maxconn {}) instead of in the RGW; not drained, not restarted",
                silent.as_secs_f64(),
                super::tracked::HOLD_MAXCONN
            ),
            Self::Slow { ratio, weight } => write!(
                f,
                "slow, not hung: GET answers {ratio:.1}x slower than its peers'; HAProxy weight {weight}% (restarted only if it stops answering)"
            ),
            Self::SlowDrained { ratio } => write!(
                f,
                "slow, not hung: GET answers {ratio:.1}x slower than its peers'; drained while they take its share (restarted only if it stops answering)"
            ),
            Self::SlowBack { ratio, weight } => write!(
                f,
                "slow, not hung: GET answers {ratio:.1}x slower than its peers'; back in rotation at HAProxy weight {weight}%: its peers can no longer take its share"
            ),
            Self::SpeedBack => f.write_str("probes pass; as fast as its peers again: weight 100%"),
            Self::ProbeFailed { detail } => f.write_str(detail),
            Self::SomeFailed { failed, fall, detail } => {
                write!(f, "{failed} of {fall} probes failed: {detail}")
            }
            Self::PassAfterRestart { ok, rise } => {
                write!(f, "probes pass {ok}/{rise} after the restart")
            }
            Self::AwaitingNewProcess {
                ok,
                rise,
                old_process: true,
            } => write!(
                f,
                "probes pass {ok}/{rise} from a process that started before the restart (its admin socket); waiting for the new one"
            ),
            Self::AwaitingNewProcess { ok, rise, .. } => write!(
                f,
                "probes pass {ok}/{rise}; waiting for the orchestrator to show the restarted process"
            ),
            Self::NewProcess { rise } => write!(
                f,
                "a new process started (its admin socket is new); waiting for {rise} passing probes from it"
            ),
            Self::FailedAgain { detail } => write!(f, "failed again after the restart: {detail}"),
            Self::RestartRequested { attempt, awaiting } => {
                write!(f, "restart requested (attempt {attempt}); {awaiting}")
            }
            Self::PlannedRestartRequested { awaiting } => {
                write!(f, "planned restart requested; {awaiting}")
            }
            Self::WaitingForTurn(gate) => write!(f, "waiting to restart: {gate}"),
            Self::WaitingForLease(why) => write!(f, "waiting to restart: {why}"),
            Self::NotPerformed { waited } => write!(
                f,
                "waiting to restart: the orchestrator took the restart but has not performed it in {} (the same process runs); asked again in {}s, no restart budget spent",
                humantime::format_duration(*waited),
                super::restart::NOT_TAKEN_RETRY.as_secs()
            ),
            Self::NotTaken(said) => write!(
                f,
                "waiting to restart: the orchestrator did not take the restart, asked again in {}s (no restart budget spent): {said}",
                super::restart::NOT_TAKEN_RETRY.as_secs()
            ),
            Self::RestartFailed(err) => write!(f, "restart failed: {err}"),
            Self::NotBack { waited } => f.write_str(&not_back(waited)),
            Self::CanaryNotBack { waited, daemon } => write!(
                f,
                "the canary restart (every peer was down) did not bring it back ({}); every restart of the service holds until `ceph-warden reset {daemon}`",
                not_back(waited)
            ),
            Self::BudgetSpent(spent) => spent.fmt(f),
            Self::WindowRoom => f.write_str("the restart window has room again"),
            Self::Forgotten => f.write_str("no longer in the inventory; forgotten"),
        }
    }
}

/// What the peers' answers add to a failure: why it is (not) drained.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum PeerNote {
    /// No peer is healthy: restarted all the same; not drained while it still answers GET.
    NoHealthyPeer(NoHealthyPeer),
    /// No peer is healthy and another daemon of the service restarts first: kept in
    /// rotation (`up ready`) while it waits, so HAProxy holds requests on it instead of
    /// answering 503 with no server (docs/design.md §8, clients during the gap).
    KeptInRotation(NoHealthyPeer),
    /// It was not drained for want of a healthy peer; now there is one.
    HealthyAgain,
}

impl fmt::Display for PeerNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHealthyPeer(lone) if lone.answers => write!(f, "; not drained: {}", lone.why),
            Self::NoHealthyPeer(lone) => write!(f, "; {}", lone.why),
            Self::KeptInRotation(lone) => write!(
                f,
                "; kept in rotation: {}; HAProxy holds its requests until a peer is back",
                lone.why
            ),
            Self::HealthyAgain => f.write_str("; a peer is healthy again: drained"),
        }
    }
}

/// A daemon's reason, and what the peers add to it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Why {
    pub(super) reason: Reason,
    pub(super) peers: Option<PeerNote>,
}

impl From<Reason> for Why {
    fn from(reason: Reason) -> Self {
        Self {
            reason,
            peers: None,
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reason.fmt(f)?;
        match &self.peers {
            Some(note) => note.fmt(f),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab tests, the benchmark and operators' greps read these texts: they stay word for
    /// word what the machine said when reasons were strings.
    #[test]
    fn reasons_read_as_they_always_did() {
        let lone = |answers| {
            Some(PeerNote::NoHealthyPeer(NoHealthyPeer {
                why: "no healthy peer (rgw.b: timeout)".into(),
                answers,
            }))
        };
        let failed = |peers| Why {
            reason: Reason::ProbeFailed {
                detail: "timeout".into(),
            },
            peers,
        };
        let rows: Vec<(Why, &str)> = vec![
            (
                Reason::RestartRequested {
                    attempt: 1,
                    awaiting: Awaiting::Answer,
                }
                .into(),
                "restart requested (attempt 1); asking the orchestrator",
            ),
            (Reason::BackAfterRestart.into(), "back after the restart"),
            (
                Reason::PassAfterRestart { ok: 1, rise: 2 }.into(),
                "probes pass 1/2 after the restart",
            ),
            (
                Reason::WaitingForLease("the restart lease is held by h2".into()).into(),
                "waiting to restart: the restart lease is held by h2",
            ),
            (
                failed(lone(true)),
                "timeout; not drained: no healthy peer (rgw.b: timeout)",
            ),
            (failed(lone(false)), "timeout; no healthy peer (rgw.b: timeout)"),
            (
                failed(Some(PeerNote::HealthyAgain)),
                "timeout; a peer is healthy again: drained",
            ),
            (
                Reason::RestartFailed(RestartError::NotInInventory).into(),
                "restart failed: not in the inventory",
            ),
            (
                Reason::CanaryNotBack {
                    waited: Duration::from_secs(120),
                    daemon: "rgw.a".into(),
                }
                .into(),
                "the canary restart (every peer was down) did not bring it back (not back within 2m of the restart); every restart of the service holds until `ceph-warden reset rgw.a`",
            ),
        ];
        for (why, text) in rows {
            assert_eq!(why.to_string(), text);
        }
    }
}
