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

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

mod budget;
mod drain;
mod operator;
mod reason;
mod streaks;
pub mod verdict;

use budget::Budget;
use drain::Announced;
use reason::{PeerNote, Reason, Why};
use streaks::Streaks;
use verdict::{ProbeClass, ProbeError, Step, Verdict};

#[cfg(test)]
mod tests;

/// How soon a restart deferred by the lease is tried again.
const LEASE_RETRY: Duration = Duration::from_secs(1);

/// Start times come with whole-second or tick precision: a process that started this little
/// before the restart was asked for counts as the new one.
const START_SLACK: Duration = Duration::from_secs(1);

/// While probes pass but the inventory does not show the new process yet, ask for a fresh
/// inventory this often.
const PROOF_REFRESH: Duration = Duration::from_secs(1);

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
    /// No new requests; the ones in flight finish.
    Drain,
    /// Out of rotation at once, with the reason HAProxy shows in `last_agt`.
    Down(String),
    /// Maintenance: out of rotation, health checks stop.
    Maint,
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Up => f.write_str("up"),
            Self::UpReady => f.write_str("up ready"),
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
    /// The orchestrator failed or refused (its error in full: argv, exit status, stderr).
    #[error("{0}")]
    Orchestrator(String),
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
    Restart { daemon: String },
    /// Operator flags or restart history changed: write [`Machine::persisted`] to disk.
    Persist,
    /// Refresh the inventory now (after a restart: new start time).
    RefreshInventory,
    /// Log it and keep it for `/events`.
    Event(Event),
    /// Give back the restart lease taken for this daemon's restart, if any.
    ReleaseLease { daemon: String },
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
    pub ok_streak: u32,
    pub fail_streak: u32,
    pub restarts_in_window: u32,
    pub maintenance: bool,
    pub drained: bool,
    pub planned_restart: bool,
    pub last_event: Option<String>,
    /// The operator's configuration is wrong for this daemon (e.g. the S3 canary credentials).
    pub config_error: Option<String>,
}

/// Everything readers need, published after every change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub daemons: Vec<DaemonView>,
}

impl Snapshot {
    pub fn daemon(&self, name: &str) -> Option<&DaemonView> {
        self.daemons.iter().find(|d| d.name == name)
    }
}

#[derive(Debug)]
struct Tracked {
    daemon_type: String,
    policy: Policy,
    state: State,
    since: Instant,
    why: Why,
    /// Consecutive passed and failed probes (fall/rise).
    streaks: Streaks,
    last_probe: Option<LastProbe>,
    /// Operator flags, persisted.
    maintenance: bool,
    drained: bool,
    /// Left maintenance, no verdict yet: keep saying `maint` until there is one.
    leaving_maintenance: bool,
    /// The word HAProxy is told, and which HAProxies have heard it.
    announced: Announced,
    /// Restarts in the window, and the backoff.
    budget: Budget,
    restart_outstanding: bool,
    restart_deadline: Option<Instant>,
    /// Only probes sent after this prove a restart: a frozen RGW thawed on its way out (systemd
    /// sends SIGCONT after SIGTERM) still answers the requests queued before the restart.
    restart_issued: Option<Instant>,
    grace_until: Option<Instant>,
    planned: bool,
    drain_started: Option<Instant>,
    in_flight: Option<u64>,
    missing_inventories: u32,
    last_event: Option<String>,
    config_error: Option<String>,
    /// When the inventory last said the running process started.
    started_at: Option<Instant>,
    /// When a fresh inventory was last asked for to prove a restart.
    proof_refresh_at: Option<Instant>,
    /// Failing while no peer is healthy: restarted all the same; not drained while it
    /// still answers GET.
    no_healthy_peer: Option<NoHealthyPeer>,
    /// The restart under way was asked for while no peer was healthy: the canary of the
    /// service. If it does not bring the daemon back, the whole service holds.
    canary: bool,
    /// This daemon's failed canary restart holds the service (until reset).
    holds_service: bool,
    service: String,
    /// A fresh inventory (not the state file's) has listed it: only then may it be restarted.
    confirmed: bool,
    /// The restart under way waits for the lease: retried quietly, one event for the wait.
    awaiting_lease: bool,
}

/// What this host's daemons say about starting a restart of one of them now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Gate {
    /// Only the state file's inventory lists it.
    Unconfirmed,
    /// A canary restart of the service did not bring its daemon back.
    ServiceHeld { canary: String },
    /// `max_concurrent_restarts` of the service are restarting.
    OneAtATime { restarting: Vec<String> },
    /// Not a block: no other daemon of the service serves, so this restart is its canary.
    Canary,
}

impl Gate {
    fn blocks(&self) -> bool {
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
            Self::Canary => f.write_str("the canary of its service"),
        }
    }
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
        }
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
                .get(&tracked.daemon_type)
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
            } => {
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    t.config_problem(&daemon, &result, config_problem, &mut actions);
                    t.peers(&daemon, &result, no_healthy_peer, sent, now, &mut actions);
                    t.probe(&daemon, &result, step, sent, now, &mut actions);
                }
            }
            Observation::Polled {
                daemon,
                haproxy,
                word,
            } => {
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    t.announced.polled(haproxy, &word, now);
                }
            }
            Observation::RestartAnswered { daemon, result } => {
                if let Some(t) = self.daemons.get_mut(&daemon) {
                    t.restart_answered(&daemon, result, now, &mut actions);
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
                    t.in_flight = Some(active);
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

    /// Why `name` may not start a restart now, from what the machine knows of this host: a
    /// daemon only the state file lists; the service's other daemons restarting (one at a
    /// time, docs/design.md §8); a canary of the service that did not come back. `None`: go.
    fn restart_gate(&self, name: &str) -> Option<Gate> {
        let t = self.daemons.get(name)?;
        if !t.confirmed {
            return Some(Gate::Unconfirmed);
        }
        let siblings = || {
            self.daemons
                .iter()
                .filter(move |(other, o)| other.as_str() != name && o.service == t.service)
        };
        if let Some((canary, _)) = siblings().find(|(_, o)| o.holds_service) {
            return Some(Gate::ServiceHeld {
                canary: canary.clone(),
            });
        }
        let restarting: Vec<&String> = siblings()
            .filter(|(_, o)| o.restart_under_way())
            .map(|(other, _)| other)
            .collect();
        if restarting.len() >= self.max_concurrent_restarts {
            return Some(Gate::OneAtATime {
                restarting: restarting.iter().map(|n| n.to_string()).collect(),
            });
        }
        // No sibling serves (every other daemon of the service has failed or has no verdict
        // yet): a restart now is the service's canary.
        let mut others = siblings().peekable();
        if others.peek().is_some() && others.all(|(_, o)| !o.in_service()) {
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
                !(t.wants_restart() && self.restart_gate(name).is_some_and(|gate| gate.blocks()))
            })
            .filter_map(|(_, t)| t.next_deadline())
            .min()
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            daemons: self
                .daemons
                .iter()
                .map(|(name, t)| DaemonView {
                    name: name.clone(),
                    daemon_type: t.daemon_type.clone(),
                    state: t.state,
                    word: t.announced.word().clone(),
                    reason: t.why.to_string(),
                    since: t.since,
                    last_probe: t.last_probe.clone(),
                    ok_streak: t.streaks.ok(),
                    fail_streak: t.streaks.failed(),
                    restarts_in_window: u32::try_from(t.budget.used()).unwrap_or(u32::MAX),
                    maintenance: t.maintenance,
                    drained: t.drained,
                    planned_restart: t.planned,
                    last_event: t.last_event.clone(),
                    config_error: t.config_error.clone(),
                })
                .collect(),
        }
    }

    /// What to write to the state file.
    pub fn persisted(&self, now: Instant) -> BTreeMap<String, Persisted> {
        let mut out = self.persisted.clone();
        for (name, t) in &self.daemons {
            out.insert(
                name.clone(),
                Persisted {
                    maintenance: t.maintenance,
                    drained: t.drained,
                    restart_ages: t.budget.ages(now),
                },
            );
        }
        out.retain(|_, p| p.maintenance || p.drained || !p.restart_ages.is_empty());
        out
    }

    fn inventory(&mut self, list: Vec<Discovered>, now: Instant, actions: &mut Vec<Action>) {
        for tracked in self.daemons.values_mut() {
            tracked.missing_inventories += 1;
        }
        for found in list {
            if let Some(t) = self.daemons.get_mut(&found.name) {
                t.missing_inventories = 0;
                t.confirmed |= !found.stale;
                t.service.clone_from(&found.service);
                if let Some(ago) = found.started_ago {
                    t.started_at = now.checked_sub(ago);
                }
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
            actions.push(Action::Event(Event {
                daemon: name.clone(),
                from: State::Starting,
                to: t.state,
                word: t.announced.word().to_string(),
                reason: format!("discovered ({})", t.why),
            }));
            self.daemons.insert(name, t);
        }
        // Forgotten only after two inventories in a row without it: one odd answer from the
        // orchestrator must not make us forget a drain in progress.
        let gone: Vec<String> = self
            .daemons
            .iter()
            .filter(|(_, t)| t.missing_inventories >= 2)
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some(t) = self.daemons.remove(&name) {
                actions.push(Action::Event(Event {
                    daemon: name.clone(),
                    from: t.state,
                    to: t.state,
                    word: t.announced.word().to_string(),
                    reason: Reason::Forgotten.to_string(),
                }));
                if t.maintenance || t.drained {
                    actions.push(Action::Persist);
                }
            }
        }
    }
}

impl Tracked {
    fn new(found: Discovered, policy: Policy, saved: Persisted, now: Instant) -> Self {
        let grace_until = found
            .started_ago
            .filter(|ago| *ago < policy.startup_grace)
            .map(|ago| now + (policy.startup_grace - ago));
        let budget = Budget::from_ages(&saved.restart_ages, policy.restart_window, now);
        let mut t = Self {
            daemon_type: found.daemon_type,
            state: if saved.maintenance {
                State::Maintenance
            } else {
                State::Starting
            },
            since: now,
            why: Why::from(if saved.maintenance {
                Reason::MaintenancePersisted
            } else {
                Reason::NoVerdictYet
            }),
            streaks: Streaks::default(),
            last_probe: None,
            maintenance: saved.maintenance,
            drained: saved.drained,
            leaving_maintenance: false,
            announced: Announced::new(Word::Up, now),
            budget,
            restart_outstanding: false,
            restart_deadline: None,
            restart_issued: None,
            grace_until,
            planned: false,
            drain_started: None,
            in_flight: None,
            missing_inventories: 0,
            last_event: None,
            config_error: None,
            started_at: found.started_ago.and_then(|ago| now.checked_sub(ago)),
            proof_refresh_at: None,
            no_healthy_peer: None,
            canary: false,
            holds_service: false,
            service: found.service,
            confirmed: !found.stale,
            awaiting_lease: false,
            policy,
        };
        t.announced = Announced::new(t.desired_word(), now);
        t
    }
}

impl Tracked {
    /// Serving clients: what a canary's siblings are not.
    fn in_service(&self) -> bool {
        matches!(self.state, State::Healthy | State::Busy | State::Degraded)
    }

    /// A restart of it is asked for, or under way and not yet proven.
    fn restart_under_way(&self) -> bool {
        self.restart_outstanding
            || self.awaiting_lease
            || matches!(self.state, State::Restarting | State::Recovering)
    }

    /// Waiting for its turn to be restarted (failed, or a planned restart draining).
    fn wants_restart(&self) -> bool {
        !self.restart_outstanding
            && (self.state == State::Failed || (self.state == State::Draining && self.planned))
    }

    /// The word this state serves (docs/design.md §4 table).
    fn desired_word(&self) -> Word {
        match self.state {
            State::Maintenance => Word::Maint,
            State::Starting if self.leaving_maintenance => Word::Maint,
            State::Starting if self.drained => Word::Drain,
            State::Starting => Word::Up,
            State::Healthy | State::Suspect | State::Busy | State::Degraded if self.drained => {
                Word::Drain
            }
            // Degraded: the cluster is slow under every RGW; taking this one out helps nobody.
            State::Healthy | State::Suspect | State::Busy | State::Degraded => Word::UpReady,
            State::Draining => Word::Drain,
            // No peer can take its clients: draining it would only turn slow answers into
            // HAProxy's 503s. HAProxy's own health check still takes a dead one out.
            State::Failed | State::Restarting | State::Recovering if self.skip_drain() => {
                Word::UpReady
            }
            State::Failed => Word::Down(self.why.to_string()),
            State::Restarting | State::Recovering if self.planned => Word::Drain,
            State::Restarting => Word::Down("restarting".into()),
            State::Recovering => Word::Down(format!(
                "recovering {}/{}",
                self.streaks.ok(),
                self.policy.rise
            )),
            State::Held => Word::Down(format!("held: {}", self.why)),
        }
    }

    /// Moves to `to` with `reason`; one event per change of state.
    fn set(
        &mut self,
        name: &str,
        to: State,
        why: impl Into<Why>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let from = self.state;
        self.state = to;
        self.why = why.into();
        if from != to {
            self.since = now;
        }
        self.announced.set(self.desired_word(), now);
        if from != to {
            let event = Event {
                daemon: name.to_string(),
                from,
                to,
                word: self.announced.word().to_string(),
                reason: self.why.to_string(),
            };
            self.last_event = Some(format!("{from} -> {to}: {}", self.why));
            actions.push(Action::Event(event));
        }
    }

    /// Whether a restart may go: every HAProxy has heard the word taking it out of
    /// rotation (a daemon HAProxy does not balance, or one that is not drained because no peer
    /// could take its clients, has nothing to wait for).
    fn drain_confirmed(&self, now: Instant) -> bool {
        !self.policy.load_balanced
            || self.skip_drain()
            || self.announced.confirmed(
                now,
                self.policy.drain_confirm_timeout,
                self.policy.peer_ttl,
            )
    }

    /// Back in service: healthy, busy, or draining when the operator said so.
    fn serve(
        &mut self,
        name: &str,
        busy: bool,
        reason: Reason,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.leaving_maintenance = false;
        self.awaiting_lease = false;
        let degraded = self
            .last_probe
            .as_ref()
            .is_some_and(|p| p.class == ProbeClass::Degraded);
        let detail = self.probe_detail();
        let (to, reason) = if self.drained {
            (State::Draining, Reason::Drained)
        } else if degraded {
            (State::Degraded, Reason::Cluster { detail })
        } else if busy {
            (State::Busy, Reason::Shedding { detail })
        } else {
            (State::Healthy, reason)
        };
        self.set(name, to, reason, now, actions);
    }

    fn probe_detail(&self) -> String {
        self.last_probe
            .as_ref()
            .map_or_else(String::new, |p| p.detail.clone())
    }

    fn probe(
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
        let detail = if step == Step::Http {
            verdict::describe(result)
        } else {
            format!("{step}: {}", verdict::describe(result))
        };
        // A configuration problem is not the daemon's health: it decides nothing.
        if let Err(ProbeError::Config(_)) = result {
            self.last_probe = Some(LastProbe {
                class: ProbeClass::Config,
                detail,
                at: now,
            });
            return;
        }
        let pass = result.is_ok();
        let busy = matches!(result, Ok(Verdict::Busy { .. }));
        self.last_probe = Some(LastProbe {
            class: ProbeClass::of(result),
            detail,
            at: now,
        });
        self.streaks.observe(pass);
        let rise = self.policy.rise;
        let fall = self.policy.fall;
        let in_grace = self.grace_until.is_some_and(|until| now < until);
        let detail = self.probe_detail();
        match self.state {
            State::Maintenance => {}
            State::Starting => {
                if pass && self.streaks.risen(rise) {
                    self.serve(name, busy, Reason::ProbesPass, now, actions);
                } else if !pass && !in_grace && self.streaks.fallen(fall) {
                    self.fail(name, detail, now, actions);
                }
            }
            State::Draining if self.planned => {}
            State::Healthy | State::Busy | State::Degraded | State::Suspect | State::Draining => {
                self.probe_in_service(name, pass, busy, detail, now, actions);
            }
            State::Failed | State::Held => {
                if pass && self.streaks.risen(rise) {
                    self.budget.succeeded();
                    self.serve(name, busy, Reason::CameBack, now, actions);
                }
            }
            State::Restarting | State::Recovering => {
                self.probe_after_restart(name, pass, busy, detail, now, actions);
            }
        }
    }

    /// In service (or drained by the operator): a pass serves, `fall` failures fail it,
    /// fewer make it suspect.
    fn probe_in_service(
        &mut self,
        name: &str,
        pass: bool,
        busy: bool,
        detail: String,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let fall = self.policy.fall;
        if pass {
            let reason = if self.state == State::Suspect {
                Reason::ProbesPassAgain
            } else {
                Reason::ProbesPass
            };
            self.serve(name, busy, reason, now, actions);
        } else if self.streaks.fallen(fall) {
            self.fail(name, detail, now, actions);
        } else {
            let failed = self.streaks.failed();
            let reason = Reason::SomeFailed {
                failed,
                fall,
                detail,
            };
            self.set(name, State::Suspect, reason, now, actions);
        }
    }

    /// After a restart: `rise` passes prove it back only once the orchestrator shows the new
    /// process; a failure while recovering goes back to waiting.
    fn probe_after_restart(
        &mut self,
        name: &str,
        pass: bool,
        busy: bool,
        detail: String,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let (ok, rise) = (self.streaks.ok(), self.policy.rise);
        if pass && self.streaks.risen(rise) && self.new_process_seen() {
            self.recovered(name, busy, now, actions);
        } else if pass && self.streaks.risen(rise) {
            let reason = Reason::AwaitingNewProcess { ok, rise };
            self.set(name, State::Recovering, reason, now, actions);
            self.ask_for_proof(now, actions);
        } else if pass {
            let reason = Reason::PassAfterRestart { ok, rise };
            self.set(name, State::Recovering, reason, now, actions);
        } else if self.state == State::Recovering {
            let reason = Reason::FailedAgain { detail };
            self.set(name, State::Restarting, reason, now, actions);
        }
    }

    /// Keeps `no_healthy_peer` current from each probe: a failure says whether a peer was
    /// healthy, a pass clears it. While failed, restarting or recovering, a change turns the
    /// word between `down` (drain) and `up ready` (no peer to drain to).
    fn peers(
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
        if new == self.no_healthy_peer {
            return;
        }
        let was_lone = self.skip_drain();
        self.no_healthy_peer = new;
        if !matches!(
            self.state,
            State::Failed | State::Restarting | State::Recovering
        ) {
            return;
        }
        let peers = if was_lone && !self.skip_drain() {
            Some(PeerNote::HealthyAgain)
        } else {
            self.peer_note()
        };
        let why = Why {
            reason: self.why.reason.clone(),
            peers,
        };
        self.set(name, self.state, why, now, actions);
    }

    /// Failed, saying the probe's `detail` and why it is not drained when no peer is healthy.
    fn fail(&mut self, name: &str, detail: String, now: Instant, actions: &mut Vec<Action>) {
        let why = Why {
            reason: Reason::ProbeFailed { detail },
            peers: self.peer_note(),
        };
        self.set(name, State::Failed, why, now, actions);
    }

    /// A probe sent before the restart under way was asked for: the old process may have
    /// answered it, so it says nothing now.
    fn sent_before_restart(&self, sent: Instant) -> bool {
        matches!(self.state, State::Restarting | State::Recovering)
            && self.restart_issued.is_some_and(|issued| sent < issued)
    }

    /// No peer could take its clients and it still answers GET: not drained.
    fn skip_drain(&self) -> bool {
        !self.planned && self.no_healthy_peer.as_ref().is_some_and(|n| n.answers)
    }

    /// What a failure's reason adds when no peer is healthy: why it is (not) drained.
    fn peer_note(&self) -> Option<PeerNote> {
        self.no_healthy_peer.clone().map(PeerNote::NoHealthyPeer)
    }

    /// Keeps `config_error` current, saying so when it appears, changes or goes away.
    fn config_problem(
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
        if problem != self.config_error {
            self.config_error.clone_from(&problem);
            actions.push(Action::ConfigProblem {
                daemon: name.to_string(),
                message: problem,
            });
        }
    }

    /// The process answering now is the one started by the restart: the inventory shows a
    /// start after the request (or there are no start times to go by).
    fn new_process_seen(&self) -> bool {
        if !self.policy.prove_by_start_time {
            return true;
        }
        match (self.restart_issued, self.started_at) {
            (Some(issued), Some(started)) => started + START_SLACK >= issued,
            _ => true,
        }
    }

    fn ask_for_proof(&mut self, now: Instant, actions: &mut Vec<Action>) {
        if self
            .proof_refresh_at
            .is_none_or(|at| now >= at + PROOF_REFRESH)
        {
            self.proof_refresh_at = Some(now);
            actions.push(Action::RefreshInventory);
        }
    }

    fn recovered(&mut self, name: &str, busy: bool, now: Instant, actions: &mut Vec<Action>) {
        actions.push(Action::ReleaseLease {
            daemon: name.to_string(),
        });
        // Proven back: a late answer of the orchestrator changes nothing any more.
        self.restart_outstanding = false;
        self.awaiting_lease = false;
        self.canary = false;
        self.budget.succeeded();
        self.restart_deadline = None;
        self.grace_until = None;
        self.planned = false;
        self.drain_started = None;
        self.in_flight = None;
        self.serve(name, busy, Reason::BackAfterRestart, now, actions);
    }

    /// Asks for a restart. `canary`: no other daemon of the service on this host serves.
    /// While the lease keeps it waiting, a retry changes neither the state nor the word, and
    /// writes nothing: the wait is one phase with one event, not a flip a second.
    fn issue_restart(
        &mut self,
        name: &str,
        counted: bool,
        canary: bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.restart_outstanding = true;
        self.canary = !self.planned && (self.no_healthy_peer.is_some() || canary);
        if counted {
            self.budget.charge(now);
        }
        self.restart_deadline = Some(now + self.policy.restart_timeout);
        self.restart_issued = Some(now);
        self.grace_until = Some(now + self.policy.startup_grace);
        self.streaks.reset();
        actions.push(Action::Restart {
            daemon: name.to_string(),
        });
        if self.awaiting_lease {
            return;
        }
        self.set(name, State::Restarting, self.attempt_reason(), now, actions);
        actions.push(Action::Persist);
    }

    fn attempt_reason(&self) -> Reason {
        if self.planned {
            Reason::PlannedRestartRequested
        } else {
            Reason::RestartRequested {
                attempt: self.budget.attempt(),
            }
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
                let why = Why::from(Reason::WaitingForTurn(gate.clone()));
                if why != self.why {
                    self.set(name, self.state, why, now, actions);
                }
            }
            None => self.issue_restart(name, counted, canary, now, actions),
        }
    }

    /// The restart did not bring it back: back to `failed`, and wait before the next attempt.
    /// The caller gives back the restart lease (a canary's goes back only once its hold is up).
    fn attempt_failed(
        &mut self,
        name: &str,
        reason: Reason,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.canary = false;
        self.awaiting_lease = false;
        self.budget.attempt_failed(now, &self.policy);
        // The orchestrator call has its own, shorter timeout; should its answer still be
        // outstanding, it no longer matters.
        self.restart_outstanding = false;
        self.restart_deadline = None;
        self.planned = false;
        self.drain_started = None;
        self.in_flight = None;
        self.set(name, State::Failed, reason, now, actions);
    }

    /// The restart was not asked for (lease held or unavailable): undo the attempt and try
    /// again in a second, without backoff and without charging the budget. When RADOS does
    /// not answer, the failure is the cluster's: `degraded` (back in rotation), and only
    /// `fall` fresh failures make it failed again (right after a RADOS stall ends, a daemon
    /// that was waiting on it must not be restarted by a lease that works again).
    fn restart_deferred(
        &mut self,
        name: &str,
        reason: String,
        rados_unreachable: bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        if !self.restart_outstanding || !(self.state == State::Restarting || self.awaiting_lease) {
            return;
        }
        self.restart_outstanding = false;
        if !self.planned {
            if let Some(issued) = self.restart_issued {
                self.budget.refund(issued);
            }
        }
        self.restart_deadline = None;
        self.restart_issued = None;
        self.grace_until = None;
        self.budget.retry_at(Some(now + LEASE_RETRY));
        let first = !self.awaiting_lease;
        self.awaiting_lease = !rados_unreachable || self.planned;
        if rados_unreachable && !self.planned {
            self.canary = false;
            self.budget.retry_at(None);
            self.streaks.reset();
            let reason = Reason::Cluster { detail: reason };
            self.set(name, State::Degraded, reason, now, actions);
            actions.push(Action::Persist);
            return;
        }
        let why = Why::from(Reason::WaitingForLease(reason));
        let state = if self.planned {
            State::Draining
        } else {
            State::Failed
        };
        if first || why != self.why {
            self.set(name, state, why, now, actions);
        }
        if first {
            actions.push(Action::Persist);
        }
    }

    fn restart_answered(
        &mut self,
        name: &str,
        result: Result<String, RestartError>,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.restart_outstanding = false;
        if self.awaiting_lease {
            // The lease came through on a quiet retry: the restart is under way now.
            self.awaiting_lease = false;
            if result.is_ok() {
                self.set(name, State::Restarting, self.attempt_reason(), now, actions);
                actions.push(Action::Persist);
            }
        } else if !matches!(self.state, State::Restarting | State::Recovering) {
            return;
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

    fn tick(&mut self, name: &str, now: Instant, gate: Option<&Gate>, actions: &mut Vec<Action>) {
        self.budget.expire(now, self.policy.restart_window);
        let budget_left = self.budget.left(self.policy.max_restarts);
        match self.state {
            State::Failed if !self.restart_outstanding => {
                if !budget_left {
                    let spent = self.budget.spent(self.policy.restart_window);
                    self.set(name, State::Held, Reason::BudgetSpent(spent), now, actions);
                } else if self.budget.due(now) && self.drain_confirmed(now) {
                    self.restart_in_turn(name, gate, true, now, actions);
                }
            }
            State::Draining if self.planned && !self.restart_outstanding => {
                let started = self.drain_started.unwrap_or(self.announced.since());
                let idle = self.in_flight == Some(0);
                let waited_enough = now >= started + self.policy.drain_timeout;
                let retry_due = self.budget.due(now);
                if retry_due && self.drain_confirmed(now) && (idle || waited_enough) {
                    self.restart_in_turn(name, gate, false, now, actions);
                }
            }
            State::Recovering
                if self.streaks.risen(self.policy.rise)
                    && self.restart_deadline.is_none_or(|deadline| now < deadline) =>
            {
                if self.new_process_seen() {
                    let busy = self
                        .last_probe
                        .as_ref()
                        .is_some_and(|p| p.class == ProbeClass::Busy);
                    self.recovered(name, busy, now, actions);
                } else {
                    self.ask_for_proof(now, actions);
                }
            }
            State::Restarting | State::Recovering
                if self
                    .restart_deadline
                    .is_some_and(|deadline| now >= deadline) =>
            {
                let look_again = self.restart_timed_out(name, now, actions);
                if look_again {
                    // Out of budget: held at once, not at the next tick.
                    self.tick(name, now, gate, actions);
                }
            }
            State::Held if budget_left && !self.holds_service => {
                self.set(name, State::Failed, Reason::WindowRoom, now, actions);
                self.tick(name, now, gate, actions);
            }
            _ => {}
        }
    }

    /// The restart did not bring it back within its own timeout (a reload since changes only
    /// the next attempts). A canary's failure holds the whole service; any other attempt backs
    /// off and gives its lease back. Returns whether to look at the budget again at once.
    fn restart_timed_out(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) -> bool {
        let waited = self
            .restart_deadline
            .zip(self.restart_issued)
            .map_or(self.policy.restart_timeout, |(deadline, issued)| {
                deadline.saturating_duration_since(issued)
            });
        let canary = self.canary;
        self.attempt_failed(name, Reason::NotBack { waited }, now, actions);
        if canary {
            // Every peer was down and restarting this one did not help: restarting the others
            // will not either. Everyone holds, and says why.
            let reason = Reason::CanaryNotBack {
                waited,
                daemon: name.to_string(),
            };
            self.holds_service = true;
            self.set(name, State::Held, reason, now, actions);
            // No ReleaseLease: HoldService frees the lease once the hold is up. A lease freed
            // first lets a peer restart before it can see the hold.
            actions.push(Action::HoldService {
                daemon: name.to_string(),
                reason: self.why.to_string(),
            });
            return false;
        }
        actions.push(Action::ReleaseLease {
            daemon: name.to_string(),
        });
        true
    }

    fn next_deadline(&self) -> Option<Instant> {
        let confirm = || {
            (self.policy.load_balanced)
                .then_some(self.announced.since() + self.policy.drain_confirm_timeout)
        };
        match self.state {
            State::Failed if !self.restart_outstanding => {
                [self.budget.next_attempt_at(), confirm()]
                    .into_iter()
                    .flatten()
                    .max()
            }
            State::Draining if self.planned && !self.restart_outstanding => {
                let started = self.drain_started.unwrap_or(self.announced.since());
                [Some(started + self.policy.drain_timeout), confirm()]
                    .into_iter()
                    .flatten()
                    .max()
            }
            State::Restarting | State::Recovering => self.restart_deadline,
            State::Held => self.budget.frees_at(self.policy.restart_window),
            _ => None,
        }
    }
}
