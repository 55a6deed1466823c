//! The decision core: one state machine per local daemon (docs/design.md §4), pure and synchronous.
//!
//! [`Machine::observe`] takes an [`Observation`] (a probe result, an agent poll, the outcome of a
//! restart, an inventory, an in-flight count) at a given instant and returns the [`Action`]s the
//! shell must carry out; [`Machine::tick`] does the same for deadlines that passed;
//! [`Machine::next_deadline`] says when to tick next; [`Machine::snapshot`] is what the agent and
//! the HTTP API serve. It never sleeps, spawns, reads a clock or does I/O: time is an argument,
//! so every scenario is a table-driven test with a fake clock (`machine/tests.rs`).
//!
//! The rules, in short: `fall` consecutive failures take a daemon out of rotation (`down`);
//! once every HAProxy that polls us has seen that (or `drain-confirm-timeout` passed) it is
//! restarted; the restart is proven only by `rise` passing probes within `restart-timeout`; at
//! most `max-restarts` attempts per `restart-window`, with exponential backoff between attempts,
//! after which the daemon is `held` until an operator resets it or the window frees a slot.
//! A planned restart drains first, waits for every HAProxy and for in-flight requests, then
//! restarts and verifies, and never says `down`.
//!
//! Each daemon is a `tracked::Tracked` in one `phase::Phase` at a time; the phase holds what is
//! true only in it (a restart's attempt, a planned restart's drain, the lease's wait) and reads
//! as the data-less [`State`]. Its `reason::Reason` is typed and only ever rendered. The rest,
//! by noun: `restart` (the restart path), `operator` (commands), `budget`, `drain`, `streaks`,
//! [`verdict`] (what probe answers mean).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

mod budget;
pub mod deadline;
mod drain;
mod operator;
mod phase;
mod reason;
mod restart;
mod streaks;
mod tracked;
pub mod verdict;

use reason::Reason;
use restart::Gate;
use tracked::Tracked;
use verdict::{ProbeClass, ProbeError, Step, Verdict};

pub use deadline::{Bounds, Deadlines};

#[cfg(test)]
mod rules;
#[cfg(test)]
mod tests;

/// How one daemon type is judged and handled (from `[daemon-types.<type>]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Consecutive failed probes that take a daemon out of rotation.
    pub fall: u32,
    /// Consecutive passed probes that put it back.
    pub rise: u32,
    /// Behind HAProxy: drain before acting. `node-exporter` is not: fail → restart → verify.
    pub load_balanced: bool,
    /// The longest wait for every known HAProxy to poll after the agent word changed.
    pub drain_confirm_timeout: Duration,
    /// The longest wait for in-flight requests to finish before a planned restart.
    pub drain_timeout: Duration,
    /// A restart must be followed by `rise` passing probes within this long.
    pub restart_timeout: Duration,
    /// Probe failures right after a restart (or the start of a recently started daemon) are
    /// expected for this long: RGW takes a while to initialise.
    pub startup_grace: Duration,
    pub max_restarts: u32,
    pub restart_window: Duration,
    /// Wait before the second attempt; doubled for each further one, up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// An HAProxy that has not polled a daemon for this long is no longer waited for.
    pub peer_ttl: Duration,
    /// Where the inventory gives start times, a restart is proven only once it shows the
    /// daemon started after the restart was asked for: until the orchestrator acts, the old
    /// process (thawed on its way out) can still answer probes.
    pub prove_by_start_time: bool,
    /// Kill a hung process whose restart the orchestrator took, instead of waiting for its
    /// stop (podman's 10 s): `kill-hung` is on and a way to kill is configured.
    pub kill_hung: bool,
}

impl Policy {
    /// The defaults of docs/design.md §4, for a daemon behind HAProxy (`load_balanced`) or
    /// not, whose HAProxies poll every `agent_inter`.
    pub fn defaults(load_balanced: bool, agent_inter: Duration) -> Self {
        Self {
            // Two probe timeouts in a row (with the default 500 ms interval and 1 s timeout:
            // 1.5-2 s without an answer) take a frozen RGW out; a healthy RGW answers GET / in
            // milliseconds.
            fall: 2,
            rise: 2,
            load_balanced,
            drain_confirm_timeout: agent_inter * 3,
            drain_timeout: Duration::from_secs(30),
            restart_timeout: Duration::from_secs(120),
            startup_grace: Duration::from_secs(30),
            max_restarts: 3,
            restart_window: Duration::from_secs(30 * 60),
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            // An HAProxy that has not polled for 10 agent intervals is gone (reloaded, removed).
            peer_ttl: agent_inter * 10,
            prove_by_start_time: true,
            kill_hung: false,
        }
    }
}

/// The state of one daemon (docs/design.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Starting,
    Healthy,
    Suspect,
    Busy,
    Draining,
    Failed,
    Restarting,
    Recovering,
    Held,
    Degraded,
    Maintenance,
}

impl State {
    pub const ALL: [State; 11] = [
        State::Starting,
        State::Healthy,
        State::Suspect,
        State::Busy,
        State::Draining,
        State::Failed,
        State::Restarting,
        State::Recovering,
        State::Held,
        State::Degraded,
        State::Maintenance,
    ];

    /// Probe a daemon in this state at one probe tick in this many. A probe that gives up on
    /// a stalled RGW only adds to its queue: a `degraded` one is probed 1 tick in 10, every
    /// 2.5 s at the default 250 ms interval (docs/design.md §8, "back off probing a degraded
    /// daemon").
    pub fn probe_one_tick_in(self) -> u64 {
        match self {
            State::Degraded => 10,
            _ => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Suspect => "suspect",
            Self::Busy => "busy",
            Self::Draining => "draining",
            Self::Failed => "failed",
            Self::Restarting => "restarting",
            Self::Recovering => "recovering",
            Self::Held => "held",
            Self::Degraded => "degraded",
            Self::Maintenance => "maintenance",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the agent tells HAProxy about a daemon: always one complete state, because HAProxy
/// only reverts what the agent said (`up` does not cancel `drain`; only `ready` does;
/// observed on HAProxy 2.6.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// No admin word: changes nothing HAProxy already has (a just-discovered daemon).
    Up,
    /// In rotation, clearing any drain or maintenance.
    UpReady,
    /// In rotation at this percentage of its configured weight (a slow RGW, issue 14). HAProxy
    /// keeps an agent-set weight until told another, so one lowered once is told `100%` when
    /// it recovers, and its weight from then on.
    UpReadyAt(u8),
    /// In rotation, at this percentage of its weight if set, with at most `maxconn`
    /// connections: HAProxy queues the rest (`timeout queue`). Said while RADOS answers none
    /// of its operations (a hold), and with a bound no RGW reaches once one ended.
    UpReadyLimit { weight: Option<u8>, maxconn: u32 },
    /// No new requests; the ones in flight finish.
    Drain,
    /// Out of rotation at once, with the reason HAProxy shows in `last_agt`.
    Down(String),
    /// Maintenance: out of rotation, health checks stop.
    Maint,
}

impl Word {
    /// It keeps the daemon in rotation (or changes nothing HAProxy has, for `up`).
    pub fn in_rotation(&self) -> bool {
        matches!(
            self,
            Self::Up | Self::UpReady | Self::UpReadyAt(_) | Self::UpReadyLimit { .. }
        )
    }
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Up => f.write_str("up"),
            Self::UpReady => f.write_str("up ready"),
            Self::UpReadyAt(weight) => write!(f, "up ready {weight}%"),
            Self::UpReadyLimit { weight, maxconn } => {
                f.write_str("up ready")?;
                if let Some(weight) = weight {
                    write!(f, " {weight}%")?;
                }
                write!(f, " maxconn:{maxconn}")
            }
            Self::Drain => f.write_str("drain"),
            Self::Maint => f.write_str("maint"),
            Self::Down(reason) => {
                // One line, always: a reason can never break the protocol.
                let clean: String = reason
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(200)
                    .collect();
                write!(f, "down #{clean}")
            }
        }
    }
}

/// A daemon as the inventory lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    pub name: String,
    pub daemon_type: String,
    /// How long ago the orchestrator says it started, if it says.
    pub started_ago: Option<Duration>,
    /// Its service (cephadm's service name; the type for a static inventory): at most
    /// `max_concurrent_restarts` daemons of a service restart at once on this host.
    pub service: String,
    /// Listed only by the inventory saved in the state file, not by a fresh one: watched and
    /// served, never restarted (the daemon may be long gone).
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The outcome of one probe of `daemon`, which was sent at `sent`; `step` names the step
    /// of the probe chain that decided it (`http`, `s3`).
    Probe {
        daemon: String,
        result: Result<Verdict, ProbeError>,
        sent: Instant,
        step: Step,
        /// A step of the chain found a configuration problem and was skipped; `result` is the
        /// verdict of the other steps.
        config_problem: Option<String>,
        /// A failure while no peer of the service is healthy.
        no_healthy_peer: Option<NoHealthyPeer>,
        /// A `GET` timed out, and which part hangs, as the admin socket told.
        hang: Option<verdict::Hang>,
        /// How long each step that answered (or ran out its deadline) took.
        times: Vec<deadline::Timed>,
        /// RADOS was stalled under it, and its count of replies from the OSDs read this
        /// ([`verdict::Outcome::rados_replies`]).
        rados_replies: Option<u64>,
    },
    /// The HAProxy at `haproxy` polled the agent for `daemon` and was told `word`. Only a
    /// poll that was told the current word confirms a change.
    Polled {
        daemon: String,
        haproxy: IpAddr,
        word: Word,
    },
    /// The orchestrator answered a restart request (`Ok`, with what it said, is not proof it
    /// restarted).
    RestartAnswered {
        daemon: String,
        result: Result<String, RestartError>,
    },
    /// The restart was not asked for: the cluster-wide restart lease is held by another
    /// restart (tried again shortly), or cannot be taken because RADOS does not answer
    /// (`rados_unreachable`: the cluster is sick, the failure is not the daemon's to fix).
    /// Not an attempt either way.
    RestartDeferred {
        daemon: String,
        reason: String,
        rados_unreachable: bool,
    },
    /// Requests the daemon is serving right now (its established TCP connections, see
    /// [`crate::probe::connections`]), while a planned restart waits for them.
    InFlight { daemon: String, active: u64 },
    /// The host shows when the daemon's running process started, `ago` before now: its admin
    /// socket was created then (a new process replaces it). Sent before each probe while a
    /// restart is under way, so a probe that passes after this was answered by this process
    /// or a newer one. The proof of a
    /// restart that does not wait for the orchestrator's cache (docs/design.md §7).
    ProcessStarted { daemon: String, ago: Duration },
    /// The kill of a hung process ([`Action::KillHung`]) answered: what the killer said, or
    /// why it failed.
    HungKilled {
        daemon: String,
        result: Result<String, String>,
    },
    /// The latest inventory of this host.
    Inventory(Vec<Discovered>),
}

/// Why a restart was not made. The orchestrator's own error is the shell's
/// ([`crate::orchestrate::OrchestrateError`]): the core keeps what it said, and depends on no
/// I/O module for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestartError {
    /// The daemon left the shell's inventory before the restart could be asked for.
    #[error("not in the inventory")]
    NotInInventory,
    /// The orchestrator tried and failed (its error in full: argv, exit status, stderr).
    #[error("{0}")]
    Orchestrator(String),
    /// The orchestrator did not take the restart: it refused it (an unknown daemon, a mgr
    /// failing over) or could not be asked (the CLI timed out). No attempt was made.
    #[error("not taken: {0}")]
    NotTaken(String),
}

/// A failure seen while no other daemon of the service was healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoHealthyPeer {
    /// Why, e.g. `no healthy peer (rgw.b: timeout)`.
    pub why: String,
    /// It still answers `GET`: it may be the best the service has, so it is not drained.
    pub answers: bool,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ask the orchestrator to restart the daemon, then report with `RestartAnswered`.
    /// `fall_back`: the last restart was taken by a backend that did not perform it: ask the
    /// backends after that one (cephadm paused, an unmanaged service: `systemd` next).
    Restart { daemon: String, fall_back: bool },
    /// Operator flags or restart history changed: write [`Machine::persisted`] to disk.
    Persist,
    /// Refresh the inventory now (after a restart: new start time).
    RefreshInventory,
    /// Log it and keep it for `/events`.
    Event(Event),
    /// Give back the restart lease taken for this daemon's restart, if any.
    ReleaseLease { daemon: String },
    /// The orchestrator took the daemon's restart and, at `restart-timeout`, had not performed
    /// it (the same process runs): counted, and said in the log.
    NotPerformed { daemon: String },
    /// Kill the daemon's hung process (`kill-hung`): the orchestrator took its restart, every
    /// HAProxy has heard it is out, its admin socket is silent too. Report with `HungKilled`.
    /// `not_after`: when the restart was asked for; the shell kills nothing if the host
    /// shows a process started since (the orchestrator's restart overtook the kill).
    KillHung { daemon: String, not_after: Instant },
    /// The restart is proven: `rise` passing probes from the new process (the "verified"
    /// restart metric).
    RestartProven { daemon: String },
    /// The canary restart (every peer down) did not bring it back: hold every restart of the
    /// daemon's service, on every host, saying `reason`; then release the daemon's lease.
    HoldService { daemon: String, reason: String },
    /// The operator reset the canary: lift the service's hold.
    LiftServiceHold { daemon: String },
    /// A configuration problem appeared (`Some`) or went away (`None`): log it loudly. It
    /// never changes the daemon's state.
    ConfigProblem {
        daemon: String,
        message: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub daemon: String,
    pub from: State,
    pub to: State,
    pub word: String,
    pub reason: String,
}

/// Operator requests (HTTP API and CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Drain,
    Undrain,
    Restart,
    Maintenance(bool),
    Reset,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no daemon {0} on this host")]
    UnknownDaemon(String),
    #[error("{daemon} is in maintenance; take it out of maintenance first")]
    InMaintenance { daemon: String },
}

/// What survives a sidecar restart, per daemon (the shell stores it with wall-clock times).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Persisted {
    pub maintenance: bool,
    pub drained: bool,
    /// Ages of the restart attempts still inside the window, at the time of saving.
    pub restart_ages: Vec<Duration>,
    /// HAProxy was told a `maxconn` for it (a hold during a RADOS stall): HAProxy keeps it
    /// across a sidecar restart, so the next sidecar says `maxconn:10000` too, or an RGW held
    /// at 2 when its sidecar restarted would stay at 2.
    pub maxconn_told: bool,
}

/// The last probe, as shown in `/status` and `/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastProbe {
    pub class: ProbeClass,
    pub detail: String,
    #[serde(skip)]
    pub at: Instant,
}

/// One daemon as readers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonView {
    pub name: String,
    pub daemon_type: String,
    pub state: State,
    pub word: Word,
    pub reason: String,
    pub since: Instant,
    pub last_probe: Option<LastProbe>,
    pub streaks: StreakView,
    pub restarts_in_window: u32,
    pub operator: OperatorView,
    pub last_event: Option<String>,
    /// The operator's configuration is wrong for this daemon (e.g. the S3 canary credentials).
    pub config_error: Option<String>,
    /// Its probe steps' deadlines, learned from its service ([`deadline`]).
    pub deadlines: Deadlines,
}

/// The hysteresis counts of a daemon: consecutive passed and failed probes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreakView {
    pub ok: u32,
    pub failed: u32,
}

/// What the operator asked of a daemon (keys of `/status` as they are).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OperatorView {
    pub maintenance: bool,
    pub drained: bool,
    pub planned_restart: bool,
}

/// Everything readers need, published after every change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub daemons: Vec<DaemonView>,
    /// The floor and ceilings of the learned probe deadlines.
    pub deadline_bounds: Bounds,
    /// `[run] max-load-drain-percent`.
    pub load_drain_percent: u8,
}

impl Snapshot {
    pub fn daemon(&self, name: &str) -> Option<&DaemonView> {
        self.daemons.iter().find(|d| d.name == name)
    }
}

/// How long after the last sight of a RADOS stall under a service its daemons' probe timeouts
/// are the stall's backlog and none of them is drained for load: an RGW works off the
/// requests a 45 s OSD stall held within ~20 s of the thaw (the last `503 SlowDown` of that
/// backlog came 22 s after its request). A hung process (silent admin socket) fails all the
/// same; one whose frontend alone hangs is called failed this much later.
pub const STALL_AFTERMATH: Duration = Duration::from_secs(30);

/// Within [`STALL_AFTERMATH`], how long an RGW's admin socket may stay silent (its `GET`
/// timing out too) before the process is called hung: at the thaw of a 45 s OSD stall, three
/// RGWs working off their backlog on a 2-core host left one's socket unanswered for two probes
/// in a row (its deadline ~250 ms), and calling it hung took it out and restarted it in the
/// middle of its backlog (benchmark, 1 run of 5: 6 requests killed, 38 downloads cut, ~350 more
/// 504s). A frozen process never answers; one busy with its backlog answers within seconds.
pub const STALL_SILENCE: Duration = Duration::from_secs(10);

/// A healthy RGW this many times slower than its peers (median `GET`) ...
pub const SLOW_RATIO: f64 = 4.0;
/// ... and this much slower gets a lower HAProxy weight: a few milliseconds of scheduling
/// jitter on a busy host is not worth moving traffic for.
pub const SLOW_EXTRA: Duration = Duration::from_millis(10);

/// The HAProxy weight, in percent, of an RGW `ratio` times slower than its peers: 1/ratio in
/// steps of 10 %, at least 10 %.
fn weight_for(ratio: f64) -> u8 {
    let percent = (100.0 / ratio.max(1.0) / 10.0).round() * 10.0;
    // Within 10..=100 by the clamp: the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let weight = percent.clamp(10.0, 100.0) as u8;
    weight
}

pub struct Machine {
    policies: BTreeMap<String, Policy>,
    default_policy: Policy,
    /// Daemons of one service restarting at once on this host (the lease extends the rule
    /// across hosts).
    max_concurrent_restarts: usize,
    daemons: BTreeMap<String, Tracked>,
    /// Flags loaded from disk for daemons not yet seen in an inventory.
    persisted: BTreeMap<String, Persisted>,
    /// Recent answer times, the probe deadlines' ground.
    learned: deadline::Learned,
    bounds: Bounds,
    /// At most this percentage of a service's daemons drained at once for shedding load.
    load_drain_percent: u8,
}

impl Machine {
    /// `policies` per daemon type; `default_policy` for the others; `persisted` from the state
    /// file (applied when each daemon is discovered).
    pub fn new(
        policies: BTreeMap<String, Policy>,
        default_policy: Policy,
        persisted: BTreeMap<String, Persisted>,
    ) -> Self {
        Self {
            policies,
            default_policy,
            max_concurrent_restarts: 1,
            daemons: BTreeMap::new(),
            persisted,
            learned: deadline::Learned::default(),
            bounds: Bounds::default(),
            load_drain_percent: 33,
        }
    }

    /// `[run] max-load-drain-percent`: at most this share of a service's daemons (at least one
    /// when above 0) drained at once for shedding load.
    pub fn set_load_drain_percent(&mut self, percent: u8) {
        self.load_drain_percent = percent.min(100);
    }

    /// The floor and ceilings of the learned probe deadlines (`[run] probe-timeout-floor`,
    /// `probe-timeout`, `[s3] timeout`).
    pub fn set_deadline_bounds(&mut self, bounds: Bounds) {
        self.bounds = bounds;
    }

    pub fn deadline_bounds(&self) -> Bounds {
        self.bounds
    }

    /// The probe deadlines of `name`'s service.
    fn deadlines(&self, name: &str) -> Deadlines {
        let service = self.daemons.get(name).map(|t| t.listing.service.as_str());
        let members = self
            .daemons
            .iter()
            .filter(move |(other, t)| {
                other.as_str() == name || Some(t.listing.service.as_str()) == service
            })
            .map(|(other, _)| other.as_str());
        self.learned.deadlines(members, self.bounds)
    }

    /// How many daemons of one service may restart at once (`[lease] max-concurrent-restarts`;
    /// 1 without a lease).
    pub fn set_max_concurrent_restarts(&mut self, n: u32) {
        self.max_concurrent_restarts = usize::try_from(n.max(1)).unwrap_or(1);
    }

    /// New policies (a config reload); daemons keep their state.
    pub fn set_policies(&mut self, policies: BTreeMap<String, Policy>, default_policy: Policy) {
        self.policies = policies;
        self.default_policy = default_policy;
        for tracked in self.daemons.values_mut() {
            tracked.policy = self
                .policies
                .get(&tracked.listing.daemon_type)
                .unwrap_or(&self.default_policy)
                .clone();
        }
    }

    pub fn observe(&mut self, observation: Observation, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        match observation {
            Observation::Inventory(list) => self.inventory(list, now, &mut actions),
            Observation::Probe {
                daemon,
                result,
                sent,
                step,
                config_problem,
                no_healthy_peer,
                hang,
                times,
                rados_replies,
            } => {
                if self.daemons.contains_key(&daemon) {
                    for timed in times {
                        self.learned.record_timed(&daemon, timed);
                    }
                }
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    t.note_silence(&result, hang, sent);
                }
                let result = self.after_stall(&daemon, result, hang, now);
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    if matches!(result, Ok(Verdict::Degraded { .. }))
                        && matches!(step, Step::Asok | Step::Health)
                    {
                        t.degraded_at = Some(now);
                    }
                    let canary = t.phase.attempt().is_some_and(|a| a.canary);
                    t.config_problem(&daemon, &result, config_problem, &mut actions);
                    t.peers(&daemon, &result, no_healthy_peer, sent, now, &mut actions);
                    t.note_hang(&result, hang, sent);
                    t.probes.note_replies(&result, step, rados_replies, sent);
                    t.probe(&daemon, &result, step, sent, now, &mut actions);
                    t.kill_if_hung(&daemon, now, &mut actions);
                    let service = t.listing.service.clone();
                    if canary && t.in_service() {
                        self.canary_back(&daemon, &service);
                    }
                    self.review_speed(&service, now, &mut actions);
                    self.review_shedding(&service, now, &mut actions);
                }
            }
            Observation::Polled {
                daemon,
                haproxy,
                word,
            } => {
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    t.announced.polled(haproxy, &word, now);
                    t.kill_if_hung(&daemon, now, &mut actions);
                }
            }
            Observation::RestartAnswered { daemon, result } => {
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    t.restart_answered(&daemon, result, now, &mut actions);
                    t.kill_if_hung(&daemon, now, &mut actions);
                }
            }
            Observation::RestartDeferred {
                daemon,
                reason,
                rados_unreachable,
            } => {
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    t.restart_deferred(&daemon, reason, rados_unreachable, now, &mut actions);
                }
            }
            Observation::InFlight { daemon, active } => {
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    t.phase.in_flight(active);
                }
            }
            Observation::ProcessStarted { daemon, ago } => {
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    t.process_started(&daemon, ago, now, &mut actions);
                    t.kill_if_hung(&daemon, now, &mut actions);
                }
            }
            Observation::HungKilled { daemon, result } => {
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    t.hung_killed(&daemon, result, now, &mut actions);
                }
            }
        }
        actions.extend(self.tick(now));
        actions
    }

    /// Acts on deadlines that have passed by `now`.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let names: Vec<String> = self.daemons.keys().cloned().collect();
        for name in names {
            let gate = self.restart_gate(&name);
            if let Some(t) = self.daemons.get_mut(&name) {
                t.tick(&name, now, gate.as_ref(), &mut actions);
            }
        }
        actions
    }

    /// The service's canary is back: restarts help, so the others that failed follow one by
    /// one without waiting for their own backoff (docs/design.md §8).
    fn canary_back(&mut self, canary: &str, service: &str) {
        for (name, t) in &mut self.daemons {
            if name != canary
                && t.listing.service == service
                && matches!(t.phase, phase::Phase::Failed)
            {
                t.budget.retry_at(None);
            }
        }
    }

    /// When the service last saw RADOS stalled under one of its daemons, if within
    /// [`STALL_AFTERMATH`]: every RGW of it is still working off the requests the stall held.
    fn stall_seen(&self, service: &str, now: Instant) -> Option<Instant> {
        self.daemons
            .values()
            .filter(|t| t.listing.service == service)
            .filter_map(|t| t.degraded_at)
            .filter(|at| now < *at + STALL_AFTERMATH)
            .max()
    }

    /// A probe timeout of `daemon` whose admin socket answered, within [`STALL_AFTERMATH`] of
    /// a RADOS stall under its service, is that stall's backlog: degraded, not the daemon's
    /// failure. After a 45 s OSD stall each RGW held more than 1,000 requests and answered
    /// none quickly for seconds; calling one failed then took it out (`down`) while it served
    /// its backlog, and its peers its share. So is one whose socket has been silent for less
    /// than [`STALL_SILENCE`] (the host busy with every RGW's backlog); silent longer, the
    /// process is hung and fails. A timeout the socket was not asked about still fails.
    fn after_stall(
        &self,
        daemon: &str,
        result: Result<Verdict, ProbeError>,
        hang: Option<verdict::Hang>,
        now: Instant,
    ) -> Result<Verdict, ProbeError> {
        if !matches!(result, Err(ProbeError::Timeout)) {
            return result;
        }
        let Some(t) = self.daemons.get(daemon) else {
            return result;
        };
        let socket = match hang {
            Some(verdict::Hang::Frontend) => "the admin socket answers".to_string(),
            Some(verdict::Hang::Process) => {
                match t
                    .probes
                    .silent_since
                    .map(|since| now.saturating_duration_since(since))
                {
                    Some(silent) if silent < STALL_SILENCE => format!(
                        "the admin socket silent for {:.1}s (hung if silent for {}s)",
                        silent.as_secs_f64(),
                        STALL_SILENCE.as_secs()
                    ),
                    _ => return result,
                }
            }
            None => return result,
        };
        match self.stall_seen(&t.listing.service, now) {
            Some(at) => Ok(Verdict::Degraded {
                reason: format!(
                    "timeout {:.0}s after RADOS stalled under the service: its backlog; {socket}",
                    now.duration_since(at).as_secs_f64()
                ),
            }),
            None => result,
        }
    }

    /// The daemons of `service` that HAProxy balances.
    fn balanced_members(&self, service: &str) -> Vec<String> {
        self.daemons
            .iter()
            .filter(|(_, t)| t.listing.service == service && t.policy.load_balanced)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Issue 14, slow but not hung: a healthy RGW whose median `GET` is [`SLOW_RATIO`] times its
    /// peers' and [`SLOW_EXTRA`] longer is told an HAProxy weight in proportion (1/ratio, in
    /// steps of 10 %, at least 10 %), and drained instead while its peers can take its share
    /// ([`Machine::review_shedding`]: under `leastconn` the weight counts only while every
    /// server has requests in flight, docs/design.md §4); back to 100 % once it is within twice
    /// its peers' (or 5 ms). Its peers slowing down with it change nothing (the ratio is to
    /// them), and it is restarted only when its probes time out.
    fn review_speed(&mut self, service: &str, now: Instant, actions: &mut Vec<Action>) {
        let members = self.balanced_members(service);
        for name in &members {
            let slowness = self
                .learned
                .slowness(name, members.iter().map(String::as_str));
            let Some(t) = self.daemons.get_mut(name) else {
                continue;
            };
            if t.phase != phase::Phase::Healthy {
                continue;
            }
            let lowered = t.speed.lowered();
            let slow = slowness.and_then(|(ratio, extra)| {
                let still = lowered && ratio >= 2.0 && extra >= SLOW_EXTRA / 2;
                let newly = ratio >= SLOW_RATIO && extra >= SLOW_EXTRA;
                (still || newly).then(|| (ratio, weight_for(ratio)))
            });
            t.set_weight(name, slow, now, actions);
        }
    }

    /// Busy or slow daemons of `service` are drained while the rest can take their share, and
    /// back in rotation as soon as it cannot (docs/design.md §4, busy and slow): at most
    /// `max-load-drain-percent` of the service (a third by default; at least one, unless 0)
    /// drained for load at once, at least two others serving at full weight, not busy, not
    /// drained, and none within [`STALL_AFTERMATH`] of a RADOS stall. Only daemons this host
    /// watches count: a lone RGW per host is never drained for load (its peers' words are not
    /// known here).
    fn review_shedding(&mut self, service: &str, now: Instant, actions: &mut Vec<Action>) {
        let members = self.balanced_members(service);
        let cap = match usize::from(self.load_drain_percent) {
            0 => 0,
            percent => (members.len() * percent / 100).max(1),
        };
        // After a RADOS stall every RGW of the service is busy with the same backlog: one
        // drained for it only gives its share to the others (a 45 s OSD stall, drained in 3
        // of 5 runs: 1,113 of its requests answered 503 by the RGWs against 820 without).
        let stall = self.stall_seen(service, now).is_some();
        let serving_besides = |machine: &Self, name: &str| {
            members
                .iter()
                .filter(|other| other.as_str() != name)
                .filter_map(|other| machine.daemons.get(other))
                .filter(|o| {
                    o.phase == phase::Phase::Healthy && o.shed.is_none() && !o.speed.lowered()
                })
                .count()
        };
        let shedding = |machine: &Self| {
            members
                .iter()
                .filter_map(|n| machine.daemons.get(n))
                .filter(|t| t.shed.is_some())
                .count()
        };
        for name in &members {
            let enough = !stall && serving_besides(self, name) >= 2 && shedding(self) <= cap;
            if let Some(t) = self.daemons.get_mut(name) {
                if t.shed.is_some() && !enough {
                    t.stop_shedding(name, now, actions);
                }
            }
        }
        for name in &members {
            let room = !stall && serving_besides(self, name) >= 2 && shedding(self) < cap;
            if let Some(t) = self.daemons.get_mut(name) {
                if room && (t.busy_now() || t.slow_now().is_some()) {
                    t.start_shedding(name, now, actions);
                }
            }
        }
    }

    /// Why `name` may not start a restart now, from what the machine knows of this host: a
    /// daemon only the state file lists; the service's other daemons restarting (one at a
    /// time, docs/design.md §8); a canary of the service that did not come back. `None`: go.
    fn restart_gate(&self, name: &str) -> Option<Gate> {
        let t = self.daemons.get(name)?;
        if !t.listing.confirmed {
            return Some(Gate::Unconfirmed);
        }
        let siblings = || {
            self.daemons.iter().filter(move |(other, o)| {
                other.as_str() != name && o.listing.service == t.listing.service
            })
        };
        if let Some((canary, _)) = siblings().find(|(_, o)| o.flags.holds_service) {
            return Some(Gate::ServiceHeld {
                canary: canary.clone(),
            });
        }
        let restarting: Vec<&String> = siblings()
            .filter(|(_, o)| o.phase.restart_under_way())
            .map(|(other, _)| other)
            .collect();
        // A canary under way is the only restart of its service, whatever the slots: it is
        // the test of whether restarts help at all (docs/design.md §8).
        let canary_under_way = siblings().any(|(_, o)| o.phase.attempt().is_some_and(|a| a.canary));
        if restarting.len() >= self.max_concurrent_restarts || canary_under_way {
            return Some(Gate::OneAtATime {
                restarting: restarting.iter().map(|n| n.to_string()).collect(),
            });
        }
        // No sibling serves (every other daemon of the service has failed or has no verdict
        // yet): a restart now is the service's canary.
        let mut others = siblings().peekable();
        if others.peek().is_some() && others.all(|(_, o)| !o.in_service()) {
            // Those failed at once (one probe round): the first to fail is the canary, and
            // the others wait for it without ever saying `down` (kept in rotation).
            let first = |(other, o): &(&String, &Tracked)| {
                o.phase.wants_restart()
                    && o.phase.planned().is_none()
                    && o.probes.no_healthy_peer.is_some()
                    && o.budget.next_attempt_at() <= t.budget.next_attempt_at()
                    && (o.failed_at, other.as_str()) < (t.failed_at, name)
            };
            let key = |(n, o): &(&String, &Tracked)| (o.failed_at, n.to_string());
            if let Some((canary, _)) = siblings().filter(first).min_by_key(key) {
                return Some(Gate::CanaryFirst {
                    canary: canary.clone(),
                });
            }
            return Some(Gate::Canary);
        }
        None
    }

    /// An operator command. Idempotent: repeating it changes nothing more.
    pub fn command(
        &mut self,
        daemon: &str,
        command: Command,
        now: Instant,
    ) -> Result<Vec<Action>, CommandError> {
        let t = self
            .daemons
            .get_mut(daemon)
            .ok_or_else(|| CommandError::UnknownDaemon(daemon.to_string()))?;
        let mut actions = Vec::new();
        t.command(daemon, command, now, &mut actions)?;
        actions.extend(self.tick(now));
        Ok(actions)
    }

    /// The earliest instant at which [`Machine::tick`] may act.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.daemons
            .iter()
            // A daemon held back by its siblings moves when they do: on an observation.
            .filter(|(name, t)| {
                !(t.phase.wants_restart()
                    && self.restart_gate(name).is_some_and(|gate| gate.blocks()))
            })
            .filter_map(|(_, t)| t.next_deadline())
            .min()
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            daemons: self
                .daemons
                .iter()
                .map(|(name, t)| t.view(name, self.deadlines(name)))
                .collect(),
            deadline_bounds: self.bounds,
            load_drain_percent: self.load_drain_percent,
        }
    }

    /// What to write to the state file.
    pub fn persisted(&self, now: Instant) -> BTreeMap<String, Persisted> {
        let mut out = self.persisted.clone();
        for (name, t) in &self.daemons {
            out.insert(name.clone(), t.persisted(now));
        }
        out.retain(|_, p| p.maintenance || p.drained || !p.restart_ages.is_empty());
        out
    }

    fn inventory(&mut self, list: Vec<Discovered>, now: Instant, actions: &mut Vec<Action>) {
        for tracked in self.daemons.values_mut() {
            tracked.listing.missing += 1;
        }
        for found in list {
            if let Some(t) = self.daemons.get_mut(&found.name) {
                t.listing.update(found, now);
                continue;
            }
            let policy = self
                .policies
                .get(&found.daemon_type)
                .unwrap_or(&self.default_policy)
                .clone();
            let saved = self.persisted.remove(&found.name).unwrap_or_default();
            let name = found.name.clone();
            let t = Tracked::new(found, policy, saved, now);
            let reason = format!("discovered ({})", t.why);
            actions.push(Action::Event(t.event(&name, State::Starting, reason)));
            self.daemons.insert(name, t);
        }
        // Forgotten only after two inventories in a row without it: one odd answer from the
        // orchestrator must not make us forget a drain in progress.
        let gone: Vec<String> = self
            .daemons
            .iter()
            .filter(|(_, t)| t.listing.missing >= 2)
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some(t) = self.daemons.remove(&name) {
                let event = t.event(&name, t.phase.state(), Reason::Forgotten.to_string());
                actions.push(Action::Event(event));
                if t.flags.maintenance || t.flags.drained {
                    actions.push(Action::Persist);
                }
            }
        }
        let daemons = &self.daemons;
        self.learned.retain(|name| daemons.contains_key(name));
    }
}
