//! The rules of docs/design.md §4 (one daemon's state machine) and §8 (cluster-wide safety), one
//! row each, played on the pure core with a fake clock: the reader's index from a sentence of the
//! design to what the machine does with it.
//!
//! A row names its rule, plays a script (what the shell would observe, at milliseconds after
//! the start) and states what is visible after it: the daemon's state, its agent word, a part of
//! its reason, the actions of the script's last line, and, where the rule is about them, every
//! restart asked for and whether the daemon was ever out of rotation. A probe is given as raw
//! facts (what each step, the admin socket, `ceph health detail` and the peers answered), judged
//! by [`verdict::Outcome`] in the order the shell asks (`daemon::probing::run_chain`), so a row
//! reads from the facts to the outcome. Longer scenarios of the same rules are named beside the
//! rows (`machine/tests.rs`, and the judgement tables of `machine/verdict.rs`).
//!
//! No row can see what the shell decides today: how long a health finding is believed
//! (`daemon::health_gate`), taking the lease before the orchestrator call and the service
//! hold's check (`daemon::leases`). The tables are in `rules/daemon.rs` (§4) and
//! `rules/cluster.rs` (§8); four tests near the end of the latter (`design_4_*`, `design_8_*`)
//! are rules the core did not follow until this table found them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::verdict::{self, Outcome, ProbeError, Report, Step, Verdict};
use super::{Action, Command, Discovered, Machine, Observation, Persisted, Policy, State, Word};

use Input::*;
use State::*;

mod cluster;
mod daemon;

const A: &str = "rgw.a";
const B: &str = "rgw.b";
const C: &str = "rgw.c";
/// A daemon no HAProxy balances.
const X: &str = "node-exporter.h";

/// The design's numbers, as `machine/tests.rs` has them: `fall` 3, `rise` 2,
/// `drain-confirm-timeout` 3 × agent-inter (1 s), `drain-timeout` 30 s, `restart-timeout` 120 s,
/// `startup-grace` 30 s, 3 restarts in 30 min, backoff from 10 s. A restart is proven by probes
/// alone (§7's start-time proof has its own test).
fn policy(load_balanced: bool) -> Policy {
    Policy {
        load_balanced,
        ..super::tests::policy()
    }
}

/// What one step of the probe chain answered.
#[derive(Debug, Clone, Copy)]
enum Res {
    Ok,
    SlowDown,
    Timeout,
    Refused,
    Http(u16),
    Config(&'static str),
}

impl Res {
    fn result(self) -> Result<Verdict, ProbeError> {
        match self {
            Self::Ok => Ok(Verdict::Ok),
            Self::SlowDown => Ok(Verdict::Busy {
                code: "SlowDown".into(),
            }),
            Self::Timeout => Err(ProbeError::Timeout),
            Self::Refused => Err(ProbeError::Refused),
            Self::Http(code) => Err(ProbeError::Http(code)),
            Self::Config(problem) => Err(ProbeError::Config(problem.into())),
        }
    }
}

/// What the other daemons of the service answered (one peer, `rgw.b`, with its failure).
#[derive(Debug, Clone, Copy)]
enum Peers {
    Healthy,
    /// Answers `GET` but not the S3 canary.
    Stalled(&'static str),
    /// Does not answer `GET`.
    Dead(&'static str),
}

impl Peers {
    fn report(self) -> Report {
        let peer = |failure: &str| vec![(B.to_string(), failure.to_string())];
        match self {
            Self::Healthy => Report {
                healthy: vec![B.into()],
                ..Report::default()
            },
            Self::Stalled(failure) => Report {
                stalled: peer(failure),
                ..Report::default()
            },
            Self::Dead(failure) => Report {
                dead: peer(failure),
                ..Report::default()
            },
        }
    }
}

/// What the admin socket says when a failure asks it.
#[derive(Debug, Clone, Copy)]
enum Socket {
    /// Its oldest RADOS op is old.
    Stalled,
    /// Its oldest RADOS op is old, and its count of replies from the OSDs reads this.
    StalledReplies(u64),
    /// It does not answer (a frozen RGW's does not).
    Silent,
    /// It answers, no old op.
    Answers,
}

/// The raw facts of one probe of a daemon.
#[derive(Debug, Clone, Copy)]
struct Facts {
    /// `GET /`.
    get: Res,
    /// The signed S3 canary read, when the chain has it (asked only after `GET` passed).
    s3: Option<Res>,
    /// The admin socket, when the chain has it and the failure asks it.
    socket: Option<Socket>,
    /// `ceph health detail`'s fresh finding.
    health: Option<&'static str>,
    /// The peers' answers; `None`: the daemon has no peers to compare with.
    peers: Option<Peers>,
    /// The failing step asked again beside the peers.
    again: Res,
    /// How long its `GET` took, in ms, when it answered.
    took_ms: u64,
}

const fn get(res: Res) -> Facts {
    Facts {
        get: res,
        s3: None,
        socket: None,
        health: None,
        peers: None,
        again: res,
        took_ms: 2,
    }
}

const fn s3(res: Res) -> Facts {
    Facts {
        s3: Some(res),
        again: res,
        ..get(Res::Ok)
    }
}

impl Facts {
    /// What the admin socket says.
    const fn asok(self, socket: Socket) -> Self {
        Self {
            socket: Some(socket),
            ..self
        }
    }
    const fn health(self, finding: &'static str) -> Self {
        Self {
            health: Some(finding),
            ..self
        }
    }
    const fn peers(self, peers: Peers) -> Self {
        Self {
            peers: Some(peers),
            ..self
        }
    }
    const fn again(self, again: Res) -> Self {
        Self { again, ..self }
    }
    /// Its `GET` answered in this many ms.
    const fn took(self, took_ms: u64) -> Self {
        Self { took_ms, ..self }
    }
}

const PASS: Facts = get(Res::Ok);
const TIMEOUT: Facts = get(Res::Timeout);
const REFUSED: Facts = get(Res::Refused);
const HTTP_500: Facts = get(Res::Http(500));
const SLOWDOWN: Facts = get(Res::SlowDown);
const S3_TIMEOUT: Facts = s3(Res::Timeout);
/// The canary's keys are wrong: the S3 probe classifies a 403 as a configuration problem.
const FORBIDDEN: Facts = s3(Res::Config("s3 403 InvalidAccessKeyId"));
const RADOS_STALL: Facts = TIMEOUT.asok(Socket::Stalled);
const ASOK_SILENT: Facts = TIMEOUT.asok(Socket::Silent);
/// `GET /` hangs, the process answers its admin socket (no old op): the frontend hangs.
const FRONTEND_HUNG: Facts = TIMEOUT.asok(Socket::Answers);
const SLOW_OPS: &str = "ceph health: SLOW_OPS (2 slow ops)";
const TIMEOUT_SLOW_OPS: Facts = TIMEOUT.health(SLOW_OPS);
const REFUSED_SLOW_OPS: Facts = REFUSED.health(SLOW_OPS);
const PEER_HEALTHY: Facts = S3_TIMEOUT.peers(Peers::Healthy);
const BLIP: Facts = PEER_HEALTHY.again(Res::Ok);
const PEERS_STALL: Facts = S3_TIMEOUT.peers(Peers::Stalled("s3 timeout"));
const NO_PEER_ANSWERS_GET: Facts = S3_TIMEOUT.peers(Peers::Dead("timeout"));
const ALL_FROZEN: Facts = TIMEOUT.peers(Peers::Dead("timeout"));
const ALL_GET_500: Facts = HTTP_500.peers(Peers::Dead("http 500"));
const ALL_S3_500: Facts = s3(Res::Http(500)).peers(Peers::Stalled("s3 http 500"));

/// One line of a script: what the shell observes, or the operator asks.
#[derive(Debug, Clone, Copy)]
enum Input {
    Probe(Facts),
    /// This many probes, one a second from the line's time.
    EverySecond(u64, Facts),
    /// A passing probe sent at this many ms: before the restart, so the old process answered.
    PassSentAt(u64),
    /// HAProxy `n` polls and is told the current word.
    Poll(u8),
    /// HAProxy `n` polls, but its reply raced the change: it was told `up ready`.
    OldPoll(u8),
    Answer(Result<&'static str, &'static str>),
    /// The restart lease is held by another restart (errno 16).
    LeaseHeld,
    /// The restart lease cannot be taken: RADOS does not answer (errno 110, a timeout).
    LeaseUnreachable,
    InFlight(u64),
    Tick,
    Cmd(Command),
}

/// Milliseconds after the start, the daemon, the input.
type At = (u64, &'static str, Input);

#[derive(Debug, Clone, Copy)]
enum Saved {
    Nothing,
    Drained,
    Maintenance,
    /// Ages in seconds of rgw.a's restarts, as the state file kept them.
    Restarts(&'static [u64]),
    /// HAProxy was told a `maxconn` for rgw.a (a hold) before the sidecar restarted.
    MaxconnTold,
}

#[derive(Debug, Clone, Copy)]
struct Setup {
    /// The inventory, one service per type; each daemon started `started_s` before discovery.
    daemons: &'static [&'static str],
    started_s: u64,
    /// What the state file kept for rgw.a.
    saved: Saved,
    /// `max-concurrent-restarts`.
    slots: u32,
    /// `max-load-drain-percent`.
    load_drain_percent: u8,
}

/// rgw.a alone, up for an hour.
const ONE: Setup = Setup {
    daemons: &[A],
    started_s: 3600,
    saved: Saved::Nothing,
    slots: 1,
    load_drain_percent: 33,
};
const TWO: Setup = Setup {
    daemons: &[A, B],
    ..ONE
};
const THREE: Setup = Setup {
    daemons: &[A, B, C],
    ..ONE
};

/// What is visible after the script.
#[derive(Debug, Clone, Copy)]
struct Then {
    who: &'static str,
    state: State,
    /// The agent word; one ending in `…`: a word that starts so (a `down` reason may be long).
    word: &'static str,
    /// A part of the reason.
    reason: &'static str,
    /// The actions of the script's last line, as [`said`] writes them, when the rule is
    /// about them.
    last: Option<&'static [&'static str]>,
    /// Every restart asked for, in order, when the rule is about them.
    restarts: Option<&'static [&'static str]>,
    /// Never out of rotation (its word `up` or `up ready`, at any weight, throughout), when the
    /// rule says so.
    never_out: bool,
}

const fn then(who: &'static str, state: State, word: &'static str) -> Then {
    Then {
        who,
        state,
        word,
        reason: "",
        last: None,
        restarts: None,
        never_out: false,
    }
}

impl Then {
    const fn last(self, last: &'static [&'static str]) -> Self {
        Self {
            last: Some(last),
            ..self
        }
    }
    const fn reason(self, reason: &'static str) -> Self {
        Self { reason, ..self }
    }
    const fn restarts(self, restarts: &'static [&'static str]) -> Self {
        Self {
            restarts: Some(restarts),
            ..self
        }
    }
    /// Never out of rotation (its word `up` or `up ready` throughout).
    const fn never_out(self) -> Self {
        Self {
            never_out: true,
            ..self
        }
    }

    /// Never drained, never down, and nothing restarted.
    const fn left_alone(self) -> Self {
        Self {
            never_out: true,
            restarts: Some(&[]),
            ..self
        }
    }
}

struct Rule {
    /// The design's section and its rule, in short.
    rule: &'static str,
    setup: Setup,
    /// Parts played one after the other.
    script: &'static [&'static [At]],
    then: Then,
}

/// What rgw.a's restart asks of the shell.
const RESTART_A: &[&str] = &["restart rgw.a", "rgw.a -> restarting", "persist"];

/// rgw.a healthy after `rise` passes, HAProxy 1 polling it.
const HEALTHY: &[At] = &[
    (0, A, Probe(PASS)),
    (100, A, Poll(1)),
    (1000, A, Probe(PASS)),
    (1100, A, Poll(1)),
];
/// Then `fall` GET timeouts: failed at 4 s, `down` not yet heard by HAProxy 1.
const FALLS: &[At] = &[(2000, A, EverySecond(3, TIMEOUT))];
/// HAProxy 1 hears `down`: the restart goes.
const HEARD: &[At] = &[(4500, A, Poll(1))];
/// rgw.a hung from the start, no HAProxy polling: restarted at 2 s, the first attempt.
const HUNG: &[At] = &[(0, A, EverySecond(3, TIMEOUT))];
/// Three attempts, none back within `restart-timeout`, 10 s and 20 s of backoff: held at 392 s.
const HELD: &[At] = &[
    (122_000, A, Tick),
    (132_000, A, Tick),
    (252_000, A, Tick),
    (272_000, A, Tick),
    (392_000, A, Tick),
];
/// Every daemon of the service hangs (no HAProxy polling): rgw.a, the first to fail, is the
/// canary; the others wait.
const ALL_HUNG_2: &[At] = &[
    (0, A, Probe(TIMEOUT)),
    (0, B, Probe(TIMEOUT)),
    (1000, A, Probe(TIMEOUT)),
    (1000, B, Probe(TIMEOUT)),
    (2000, A, Probe(TIMEOUT)),
    (2000, B, Probe(TIMEOUT)),
];
/// rgw.a, rgw.b and rgw.c all hang; rgw.a is the canary.
const ALL_HUNG_3: &[At] = &[
    (0, A, Probe(TIMEOUT)),
    (0, B, Probe(TIMEOUT)),
    (0, C, Probe(TIMEOUT)),
    (1000, A, Probe(TIMEOUT)),
    (1000, B, Probe(TIMEOUT)),
    (1000, C, Probe(TIMEOUT)),
    (2000, A, Probe(TIMEOUT)),
    (2000, B, Probe(TIMEOUT)),
    (2000, C, Probe(TIMEOUT)),
];
/// rgw.a, rgw.b and rgw.c all frozen, every peer dead too: rgw.a is the canary.
const ALL_FROZEN_3: &[At] = &[
    (0, A, Probe(ALL_FROZEN)),
    (0, B, Probe(ALL_FROZEN)),
    (0, C, Probe(ALL_FROZEN)),
    (1000, A, Probe(ALL_FROZEN)),
    (1000, B, Probe(ALL_FROZEN)),
    (1000, C, Probe(ALL_FROZEN)),
    (2000, A, Probe(ALL_FROZEN)),
    (2000, B, Probe(ALL_FROZEN)),
    (2000, C, Probe(ALL_FROZEN)),
];
/// The canary rgw.a is back at 4 s.
const CANARY_BACK: &[At] = &[(3000, A, Probe(PASS)), (4000, A, Probe(PASS))];
/// The canary rgw.a is not back within `restart-timeout`.
const CANARY_LOST: &[At] = &[(122_000, A, Tick)];
/// A planned restart of healthy rgw.a, heard by HAProxy 1, requests in flight.
const PLANNED: &[At] = &[
    (2000, A, Cmd(Command::Restart)),
    (2100, A, InFlight(2)),
    (2500, A, Poll(1)),
];

/// The actions as the rows write them.
fn said(action: &Action) -> String {
    match action {
        Action::Restart { daemon, .. } => format!("restart {daemon}"),
        Action::KillHung { daemon, .. } => format!("kill {daemon}"),
        Action::NotPerformed { daemon } => format!("not performed {daemon}"),
        Action::Persist => "persist".into(),
        Action::RefreshInventory => "refresh".into(),
        Action::Event(event) => format!("{} -> {}", event.daemon, event.to),
        Action::ReleaseLease { daemon } => format!("release {daemon}"),
        Action::RestartProven { daemon } => format!("proven {daemon}"),
        Action::HoldService { daemon, .. } => format!("hold {daemon}"),
        Action::LiftServiceHold { daemon } => format!("lift {daemon}"),
        Action::ConfigProblem {
            daemon,
            message: Some(_),
        } => format!("config problem {daemon}"),
        Action::ConfigProblem {
            daemon,
            message: None,
        } => format!("config fixed {daemon}"),
    }
}

/// The outcome of one probe chain on these facts, asked in the shell's order: the steps, then
/// the admin socket, the health gate, the peers.
fn judged(facts: &Facts) -> Outcome {
    let mut outcome = Outcome::default();
    if !matches!(facts.get, Res::Refused | Res::Config(_)) {
        outcome.times.push(super::deadline::Timed {
            step: Step::Http,
            took: Duration::from_millis(facts.took_ms),
            answered: !matches!(facts.get, Res::Timeout),
        });
    }
    if outcome.step(Step::Http, facts.get.result()) {
        if let Some(s3) = facts.s3 {
            outcome.step(Step::S3, s3.result());
        }
    }
    if outcome.steps_done() {
        return outcome;
    }
    if let Some(socket) = facts.socket {
        let stalled = |replies| verdict::AdminSocket::Stalled {
            stall: "rados: oldest op 4.2s on osd.0 (3 in flight)".into(),
            replies,
        };
        let socket = match socket {
            Socket::Stalled => stalled(None),
            Socket::StalledReplies(count) => stalled(Some(count)),
            Socket::Silent => verdict::AdminSocket::Silent,
            Socket::Answers => verdict::AdminSocket::Answered,
        };
        if outcome.waits_on_rados() && outcome.rados(Ok(socket)) {
            return outcome;
        }
    }
    if outcome.health(facts.health) {
        return outcome;
    }
    if let Some(peers) = facts.peers {
        let judgement = verdict::judge(outcome.step, &outcome.failure(), &peers.report());
        outcome.peers(judgement, &facts.again.result());
    }
    outcome
}

fn probe(daemon: &str, outcome: Outcome, sent: Instant) -> Observation {
    Observation::Probe {
        daemon: daemon.into(),
        result: outcome.result,
        sent,
        step: outcome.step,
        config_problem: outcome.config_problem,
        no_healthy_peer: outcome.no_healthy_peer,
        hang: outcome.hang,
        times: outcome.times,
        rados_replies: outcome.rados_replies,
    }
}

fn saved(saved: Saved) -> BTreeMap<String, Persisted> {
    let flags = match saved {
        Saved::Nothing => return BTreeMap::new(),
        Saved::Drained => Persisted {
            drained: true,
            ..Persisted::default()
        },
        Saved::Maintenance => Persisted {
            maintenance: true,
            ..Persisted::default()
        },
        Saved::Restarts(ages) => Persisted {
            restart_ages: ages.iter().map(|s| Duration::from_secs(*s)).collect(),
            ..Persisted::default()
        },
        Saved::MaxconnTold => Persisted {
            maxconn_told: true,
            ..Persisted::default()
        },
    };
    BTreeMap::from([(A.to_string(), flags)])
}

/// A machine playing one rule's script, and what it did.
struct Play {
    machine: Machine,
    t0: Instant,
    /// The time of the last input, in ms: a script never goes back.
    clock: u64,
    who: &'static str,
    last: Vec<String>,
    restarts: Vec<String>,
    /// The watched daemon's word was neither `up` nor `up ready` at some point.
    out: bool,
}

impl Play {
    fn new(setup: &Setup, who: &'static str) -> Self {
        let policies = BTreeMap::from([
            ("rgw".to_string(), policy(true)),
            ("node-exporter".to_string(), policy(false)),
        ]);
        let mut machine = Machine::new(policies, policy(true), saved(setup.saved));
        machine.set_max_concurrent_restarts(setup.slots);
        machine.set_load_drain_percent(setup.load_drain_percent);
        #[expect(
            clippy::disallowed_methods,
            reason = "the fake clock needs one real origin; only offsets from it are used"
        )]
        let t0 = Instant::now();
        let found = setup.daemons.iter().map(|name| {
            let daemon_type = name.split('.').next().unwrap_or_default().to_string();
            Discovered {
                name: (*name).into(),
                service: daemon_type.clone(),
                daemon_type,
                started_ago: Some(Duration::from_secs(setup.started_s)),
                stale: false,
            }
        });
        machine.observe(Observation::Inventory(found.collect()), t0);
        Self {
            machine,
            t0,
            clock: 0,
            who,
            last: Vec::new(),
            restarts: Vec::new(),
            out: false,
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn word(&self, name: &str) -> Word {
        self.machine
            .snapshot()
            .daemon(name)
            .map_or(Word::Up, |d| d.word.clone())
    }

    /// Plays one line; `last` keeps what it returned (every probe of an `EverySecond`).
    fn line(&mut self, &(ms, name, input): &At) {
        self.last.clear();
        match input {
            EverySecond(n, facts) => {
                for i in 0..n {
                    self.input(ms + i * 1000, name, Probe(facts));
                }
            }
            input => self.input(ms, name, input),
        }
    }

    fn input(&mut self, ms: u64, name: &str, input: Input) {
        assert!(ms >= self.clock, "the script goes back in time at {ms} ms");
        self.clock = ms;
        let actions = self.actions(self.at(ms), name, input);
        self.last.extend(actions.iter().map(said));
        self.restarts
            .extend(actions.iter().filter_map(|action| match action {
                Action::Restart { daemon, .. } => Some(daemon.clone()),
                _ => None,
            }));
        self.out |= !self.word(self.who).in_rotation();
    }

    fn actions(&mut self, now: Instant, name: &str, input: Input) -> Vec<Action> {
        let daemon = name.to_string();
        let haproxy = |n| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
        let observation = match input {
            Probe(facts) | EverySecond(_, facts) => {
                probe(name, judged(&facts), now - Duration::from_millis(1))
            }
            PassSentAt(ms) => probe(name, judged(&PASS), self.at(ms)),
            Poll(n) => Observation::Polled {
                word: self.word(name),
                haproxy: haproxy(n),
                daemon,
            },
            OldPoll(n) => Observation::Polled {
                word: Word::UpReady,
                haproxy: haproxy(n),
                daemon,
            },
            Answer(result) => Observation::RestartAnswered {
                daemon,
                result: result
                    .map(String::from)
                    .map_err(|err| super::RestartError::Orchestrator(err.into())),
            },
            LeaseHeld | LeaseUnreachable => Observation::RestartDeferred {
                daemon,
                reason: "every restart slot of restart-lease.rgw is held".into(),
                rados_unreachable: matches!(input, LeaseUnreachable),
            },
            InFlight(active) => Observation::InFlight { daemon, active },
            Tick => return self.machine.tick(now),
            Cmd(command) => {
                return (self.machine.command(name, command, now))
                    .unwrap_or_else(|err| panic!("{command:?} {name}: {err}"))
            }
        };
        self.machine.observe(observation, now)
    }
}

fn play(rule: &Rule) -> Play {
    let mut play = Play::new(&rule.setup, rule.then.who);
    for line in rule.script.iter().copied().flatten() {
        play.line(line);
    }
    play
}

/// How the rule's outcome differs from what it states, if it does.
fn mismatch(rule: &Rule) -> Option<String> {
    let play = play(rule);
    let then = &rule.then;
    let snapshot = play.machine.snapshot();
    let Some(view) = snapshot.daemon(then.who) else {
        return Some(format!("{}: {} is gone", rule.rule, then.who));
    };
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let word = view.word.to_string();
    let word_ok = match then.word.strip_suffix('…') {
        Some(start) => word.starts_with(start),
        None => word == then.word,
    };
    let mut differs = Vec::new();
    if view.state != then.state {
        differs.push(format!("state {} (want {})", view.state, then.state));
    }
    if !word_ok {
        differs.push(format!("word {word:?} (want {:?})", then.word));
    }
    if !view.reason.contains(then.reason) {
        differs.push(format!(
            "reason {:?} (want one with {:?})",
            view.reason, then.reason
        ));
    }
    if let Some(last) = then.last.map(strings).filter(|last| *last != play.last) {
        differs.push(format!("last {:?} (want {last:?})", play.last));
    }
    if let Some(restarts) = then.restarts.map(strings).filter(|r| *r != play.restarts) {
        differs.push(format!("restarts {:?} (want {restarts:?})", play.restarts));
    }
    if then.never_out && play.out {
        differs.push("out of rotation at some point (want never)".into());
    }
    (!differs.is_empty()).then(|| format!("{}\n    {}", rule.rule, differs.join("\n    ")))
}

/// Every rule of the table, each with what differs: all at once, not the first only.
fn check(rules: &[Rule]) {
    let broken: Vec<String> = rules.iter().filter_map(mismatch).collect();
    assert!(
        broken.is_empty(),
        "{} of {} rules broken:\n{}",
        broken.len(),
        rules.len(),
        broken.join("\n")
    );
}
