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
//! hold's check (`daemon::leases`). The tests at the end are four rules the core did not follow
//! until this table found them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::verdict::{self, Outcome, ProbeError, Report, Step, Verdict};
use super::{Action, Command, Discovered, Machine, Observation, Persisted, Policy, State, Word};

use Input::*;
use State::*;

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

/// The raw facts of one probe of a daemon.
#[derive(Debug, Clone, Copy)]
struct Facts {
    /// `GET /`.
    get: Res,
    /// The signed S3 canary read, when the chain has it (asked only after `GET` passed).
    s3: Option<Res>,
    /// The admin socket, when the chain has it: `true` when its oldest RADOS op is old,
    /// `false` when it does not answer (a frozen RGW's does not).
    rados_stall: Option<bool>,
    /// `ceph health detail`'s fresh finding.
    health: Option<&'static str>,
    /// The peers' answers; `None`: the daemon has no peers to compare with.
    peers: Option<Peers>,
    /// The failing step asked again beside the peers.
    again: Res,
}

const fn get(res: Res) -> Facts {
    Facts {
        get: res,
        s3: None,
        rados_stall: None,
        health: None,
        peers: None,
        again: res,
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
    /// The admin socket: its oldest RADOS op is old (`true`), or it does not answer.
    const fn asok(self, stall: bool) -> Self {
        Self {
            rados_stall: Some(stall),
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
}

const PASS: Facts = get(Res::Ok);
const TIMEOUT: Facts = get(Res::Timeout);
const REFUSED: Facts = get(Res::Refused);
const HTTP_500: Facts = get(Res::Http(500));
const SLOWDOWN: Facts = get(Res::SlowDown);
const S3_TIMEOUT: Facts = s3(Res::Timeout);
/// The canary's keys are wrong: the S3 probe classifies a 403 as a configuration problem.
const FORBIDDEN: Facts = s3(Res::Config("s3 403 InvalidAccessKeyId"));
const RADOS_STALL: Facts = TIMEOUT.asok(true);
const ASOK_SILENT: Facts = TIMEOUT.asok(false);
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
}

/// rgw.a alone, up for an hour.
const ONE: Setup = Setup {
    daemons: &[A],
    started_s: 3600,
    saved: Saved::Nothing,
    slots: 1,
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
    /// Never out of rotation (its word `up` or `up ready` throughout), when the rule says so.
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
        Action::Restart { daemon } => format!("restart {daemon}"),
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
    if outcome.step(Step::Http, facts.get.result()) {
        if let Some(s3) = facts.s3 {
            outcome.step(Step::S3, s3.result());
        }
    }
    if outcome.steps_done() {
        return outcome;
    }
    if let Some(stall) = facts.rados_stall {
        let oldest = stall.then(|| "rados: oldest op 4.2s on osd.0 (3 in flight)".to_string());
        if outcome.waits_on_rados() && outcome.rados(Ok(oldest)) {
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
                Action::Restart { daemon } => Some(daemon.clone()),
                _ => None,
            }));
        self.out |= !matches!(self.word(self.who), Word::Up | Word::UpReady);
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

/// §4's table: the word each state serves. Rows for `held`, `degraded` and the planned
/// restart's `drain` are in the groups below.
const AGENT_WORDS: &[Rule] = &[
    Rule {
        rule: "§4 starting: no verdict yet says `up`, which changes nothing HAProxy has",
        setup: ONE,
        script: &[&[(0, A, Probe(PASS))]],
        then: then(A, Starting, "up"),
    },
    // tests::persisted_flags_are_served_from_the_first_poll
    Rule {
        rule: "§4 starting: a drain persisted across a sidecar restart is said from the start",
        setup: Setup {
            saved: Saved::Drained,
            ..ONE
        },
        script: &[&[(0, A, Probe(PASS))]],
        then: then(A, Starting, "drain"),
    },
    // tests::maintenance_ignores_probes_and_leaving_it_waits_for_rise
    Rule {
        rule: "§4 maintenance: persisted across sidecar restarts, says `maint`, ignores probes",
        setup: Setup {
            saved: Saved::Maintenance,
            ..ONE
        },
        script: &[HUNG, &[(10_000, A, Tick)]],
        then: then(A, Maintenance, "maint").restarts(&[]),
    },
    Rule {
        rule: "§4 healthy: `rise` passes say `up ready` (one flip, one event)",
        setup: ONE,
        script: &[&[(0, A, Probe(PASS)), (1000, A, Probe(PASS))]],
        then: then(A, Healthy, "up ready").last(&["rgw.a -> healthy"]),
    },
    Rule {
        rule: "§4 suspect: fewer than `fall` failures still say `up ready`",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, Probe(TIMEOUT))]],
        then: then(A, Suspect, "up ready").last(&["rgw.a -> suspect"]),
    },
    // tests::busy_is_alive_and_never_restarted
    Rule {
        rule: "§4 busy: 503 SlowDown is alive, says `up ready`, never drained or restarted",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(10, SLOWDOWN))]],
        then: then(A, Busy, "up ready").left_alone(),
    },
    // tests::an_operator_drain_holds_until_undrain_and_survives_failures
    Rule {
        rule: "§4 draining: the operator's drain says `drain`, kept in the state file",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, Cmd(Command::Drain))]],
        then: then(A, Draining, "drain").last(&["persist", "rgw.a -> draining"]),
    },
    Rule {
        rule: "§4 failed: `fall` failures say `down #<reason>`",
        setup: ONE,
        script: &[HEALTHY, FALLS],
        then: then(A, Failed, "down #timeout").last(&["rgw.a -> suspect", "rgw.a -> failed"]),
    },
    Rule {
        rule: "§4 restarting: says `down #restarting`",
        setup: ONE,
        script: &[HEALTHY, FALLS, HEARD],
        then: then(A, Restarting, "down #restarting").last(RESTART_A),
    },
    Rule {
        rule: "§4 recovering: passes after the restart say `down #recovering n/rise`",
        setup: ONE,
        script: &[HUNG, &[(3000, A, Probe(PASS))]],
        then: then(A, Recovering, "down #recovering 1/2").last(&["rgw.a -> recovering"]),
    },
];

#[test]
fn each_state_says_the_agent_word_of_the_design_table() {
    check(AGENT_WORDS);
}

/// §4 fall/rise, one event per flip, and the failure classes.
const HYSTERESIS: &[Rule] = &[
    // tests::a_single_failure_is_suspect_and_a_pass_clears_it
    Rule {
        rule: "§4 fall: only `fall` failures in a row count; a pass between them starts afresh",
        setup: ONE,
        script: &[
            HEALTHY,
            &[(2000, A, EverySecond(2, TIMEOUT)), (3500, A, Probe(PASS))],
            &[(4000, A, EverySecond(2, TIMEOUT))],
        ],
        then: then(A, Suspect, "up ready").reason("2 of 3 probes failed"),
    },
    // tests::a_daemon_that_fails_and_comes_back_before_its_restart_is_not_restarted
    Rule {
        rule: "§4 rise: `rise` passes in a row put a failed daemon back before its restart",
        setup: ONE,
        script: &[HEALTHY, FALLS, &[(4200, A, EverySecond(2, PASS))]],
        then: then(A, Healthy, "up ready")
            .reason("came back without a restart")
            .restarts(&[]),
    },
    Rule {
        rule: "§4 one flip = one event: a result that changes no state makes none",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(5, PASS))]],
        then: then(A, Healthy, "up ready").last(&[]),
    },
    Rule {
        rule: "§4 one flip = one event: a second failure while suspect makes none",
        setup: ONE,
        script: &[
            HEALTHY,
            &[(2000, A, Probe(TIMEOUT)), (3000, A, Probe(TIMEOUT))],
        ],
        then: then(A, Suspect, "up ready").last(&[]),
    },
    Rule {
        rule: "§4 failure classes: `refused`",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(3, REFUSED))]],
        then: then(A, Failed, "down #refused"),
    },
    Rule {
        rule: "§4 failure classes: `http <code>`",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(3, HTTP_500))]],
        then: then(A, Failed, "down #http 500"),
    },
    // tests::the_failing_step_names_the_reason
    Rule {
        rule: "§4 failure classes: `s3 <error>` (the failing step names the reason)",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(3, S3_TIMEOUT))]],
        then: then(A, Failed, "down #s3: timeout"),
    },
];

#[test]
fn fall_and_rise_flip_the_state_once_and_the_reason_names_the_failure() {
    check(HYSTERESIS);
}

/// §4 failure classes and §8 "is it the cluster?": degraded or failed, from the facts.
/// verdict::tests judge the same facts one chain at a time.
const CLUSTER_OR_DAEMON: &[Rule] = &[
    // verdict::tests::a_failure_the_cluster_explains_is_degraded;
    // tests::a_stalled_cluster_is_degraded_never_drained_and_clears_when_rados_does
    Rule {
        rule: "§4 rados-stall / §8: a timeout while the admin socket's oldest RADOS op is old is \
               `degraded`: `up ready`, not drained, not restarted, with the reason",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(5, RADOS_STALL))]],
        then: then(A, Degraded, "up ready")
            .reason("rados: oldest op 4.2s on osd.0")
            .left_alone(),
    },
    Rule {
        rule: "§4 degraded until the ops clear: then `healthy`",
        setup: ONE,
        script: &[
            HEALTHY,
            &[(2000, A, EverySecond(5, RADOS_STALL))],
            &[(8000, A, Probe(PASS))],
        ],
        then: then(A, Healthy, "up ready").last(&["rgw.a -> healthy"]),
    },
    Rule {
        rule: "§4 a frozen RGW's admin socket does not answer either: the failure stands",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(3, ASOK_SILENT))]],
        then: then(A, Failed, "down #timeout"),
    },
    // verdict::tests::the_peers_tell_a_sick_daemon_from_a_sick_cluster (every row)
    Rule {
        rule: "§4 peers stall too (S3 fails on every RGW that answers GET): the cluster's, \
               `degraded`, no drain, no restart",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(5, PEERS_STALL))]],
        then: then(A, Degraded, "up ready")
            .reason("RADOS requests stall on every RGW")
            .left_alone(),
    },
    Rule {
        rule: "§4 only this RGW stalls (a peer is healthy): its own fault: fail, drain, restart",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(3, PEER_HEALTHY))], HEARD],
        then: then(A, Restarting, "down #restarting").restarts(&[A]),
    },
    Rule {
        rule: "§4 peers: a failure gone when asked again beside a healthy peer is a blip, not \
               counted",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(5, BLIP))]],
        then: then(A, Healthy, "up ready").left_alone(),
    },
    // verdict::tests::a_failure_the_cluster_explains_is_degraded (the gate's rows)
    Rule {
        rule: "§8 `ceph health detail` raising a check makes a probe timeout `degraded`",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(5, TIMEOUT_SLOW_OPS))]],
        then: then(A, Degraded, "up ready")
            .reason("ceph health: SLOW_OPS")
            .left_alone(),
    },
    Rule {
        rule: "§8 the health gate only adds caution, to timeouts only: a refused RGW still fails",
        setup: ONE,
        script: &[
            HEALTHY,
            &[(2000, A, EverySecond(3, REFUSED_SLOW_OPS))],
            HEARD,
        ],
        then: then(A, Restarting, "down #restarting").restarts(&[A]),
    },
    Rule {
        rule: "§8 goal: a RADOS outage (socket, peers, health all say cluster) makes zero \
               restarts and zero drains",
        setup: ONE,
        script: &[
            HEALTHY,
            &[(2000, A, EverySecond(5, RADOS_STALL))],
            &[(7000, A, EverySecond(5, PEERS_STALL))],
            &[
                (12_000, A, EverySecond(5, TIMEOUT_SLOW_OPS)),
                (600_000, A, Tick),
            ],
        ],
        then: then(A, Degraded, "up ready").left_alone(),
    },
    // tests::a_configuration_error_is_reported_and_changes_nothing
    Rule {
        rule: "§4 auth errors: a 403 on the canary (wrong keys) is reported loudly, once",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, Probe(FORBIDDEN))]],
        then: then(A, Healthy, "up ready").last(&["config problem rgw.a"]),
    },
    Rule {
        rule: "§4 auth errors are not daemon failures: nothing drained, nothing restarted",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(5, FORBIDDEN))]],
        then: then(A, Healthy, "up ready").left_alone(),
    },
    Rule {
        rule: "§4 config errors: an S3 500 on every RGW at once drains nothing",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(5, ALL_S3_500))]],
        then: then(A, Degraded, "up ready").left_alone(),
    },
];

#[test]
fn a_failure_the_cluster_explains_is_degraded_and_the_daemons_own_is_failed() {
    check(CLUSTER_OR_DAEMON);
}

/// §4 drain confirmation, and the types without a load balancer.
const DRAIN_CONFIRMATION: &[Rule] = &[
    // tests::every_haproxy_must_confirm_and_the_wait_is_bounded
    Rule {
        rule: "§4 drain confirmation: no restart until every known HAProxy has polled since the \
               word changed",
        setup: ONE,
        script: &[HEALTHY, &[(1200, A, Poll(2))], FALLS, HEARD],
        then: then(A, Failed, "down #timeout").restarts(&[]),
    },
    Rule {
        rule: "§4 drain confirmation: the last HAProxy to hear it lets the restart go",
        setup: ONE,
        script: &[
            HEALTHY,
            &[(1200, A, Poll(2))],
            FALLS,
            HEARD,
            &[(4600, A, Poll(2))],
        ],
        then: then(A, Restarting, "down #restarting").last(RESTART_A),
    },
    // tests::a_poll_told_the_old_word_does_not_confirm_the_drain
    Rule {
        rule: "§4 drain confirmation: a poll told the old word confirms nothing",
        setup: ONE,
        script: &[HEALTHY, FALLS, &[(4100, A, OldPoll(1)), (6999, A, Tick)]],
        then: then(A, Failed, "down #timeout").restarts(&[]),
    },
    Rule {
        rule: "§4 drain confirmation: bounded by `drain-confirm-timeout` (3 × agent-inter)",
        setup: ONE,
        script: &[
            HEALTHY,
            &[(1200, A, Poll(2))],
            FALLS,
            HEARD,
            &[(7000, A, Tick)],
        ],
        then: then(A, Restarting, "down #restarting").last(RESTART_A),
    },
    // tests::a_daemon_without_a_load_balancer_restarts_without_waiting_for_haproxy
    Rule {
        rule: "§4 types without a load balancer skip the drain: fail -> restart at once",
        setup: Setup {
            daemons: &[X],
            ..ONE
        },
        script: &[&[(0, X, Poll(1)), (100, X, EverySecond(3, TIMEOUT))]],
        then: then(X, Restarting, "down #restarting").restarts(&[X]),
    },
];

#[test]
fn a_restart_waits_until_every_haproxy_has_heard_the_word() {
    check(DRAIN_CONFIRMATION);
}

/// §4 drain confirmation for a planned restart (the operator's `restart`, §6).
const PLANNED_RESTART: &[Rule] = &[
    // tests::a_planned_restart_drains_waits_for_haproxy_and_in_flight_then_verifies
    Rule {
        rule: "§4 planned restart: drained, then waits for in-flight requests even once every \
               HAProxy heard",
        setup: ONE,
        script: &[HEALTHY, PLANNED, &[(3000, A, InFlight(1))]],
        then: then(A, Draining, "drain").restarts(&[]),
    },
    Rule {
        rule: "§4 planned restart: no request in flight: restarted, still `drain`, never `down`",
        setup: ONE,
        script: &[HEALTHY, PLANNED, &[(3000, A, InFlight(0))]],
        then: then(A, Restarting, "drain").last(RESTART_A),
    },
    // tests::a_planned_restart_stops_waiting_for_in_flight_requests_at_the_drain_timeout
    Rule {
        rule: "§4 planned restart: in-flight requests are waited for `drain-timeout` (30 s)",
        setup: ONE,
        script: &[HEALTHY, PLANNED, &[(31_999, A, Tick), (32_000, A, Tick)]],
        then: then(A, Restarting, "drain").last(RESTART_A),
    },
    Rule {
        rule: "§4 planned restart: verified by `rise` probes, then `up ready`",
        setup: ONE,
        script: &[
            HEALTHY,
            PLANNED,
            &[(3000, A, InFlight(0)), (3100, A, Answer(Ok("Scheduled")))],
            &[(4000, A, Probe(PASS)), (5000, A, Probe(PASS))],
        ],
        then: then(A, Healthy, "up ready").last(&[
            "release rgw.a",
            "proven rgw.a",
            "rgw.a -> healthy",
        ]),
    },
];

#[test]
fn a_planned_restart_drains_waits_for_in_flight_requests_then_verifies() {
    check(PLANNED_RESTART);
}

/// §4 restart verification and startup grace.
const VERIFICATION_AND_GRACE: &[Rule] = &[
    Rule {
        rule: "§4 verification: the orchestrator's answer is not proof",
        setup: ONE,
        script: &[HUNG, &[(2100, A, Answer(Ok("Scheduled to restart rgw.a")))]],
        then: then(A, Restarting, "down #restarting").last(&["refresh"]),
    },
    // tests::fall_failures_take_it_down_then_every_haproxy_confirms_then_restart_then_rise
    Rule {
        rule: "§4 verification: `rise` passes within `restart-timeout` prove it back",
        setup: ONE,
        script: &[HUNG, &[(3000, A, EverySecond(2, PASS))]],
        then: then(A, Healthy, "up ready")
            .reason("back after the restart")
            .last(&[
                "rgw.a -> recovering",
                "release rgw.a",
                "proven rgw.a",
                "rgw.a -> healthy",
            ]),
    },
    // tests::an_answer_to_a_probe_sent_before_the_restart_proves_nothing
    Rule {
        rule: "§4 verification: a probe sent before the restart (the old process) proves nothing",
        setup: ONE,
        script: &[
            HUNG,
            &[(2200, A, PassSentAt(1500)), (2300, A, PassSentAt(1600))],
        ],
        then: then(A, Restarting, "down #restarting"),
    },
    Rule {
        rule: "§4 verification: a failure while recovering goes back to restarting",
        setup: ONE,
        script: &[HUNG, &[(3000, A, Probe(PASS)), (4000, A, Probe(TIMEOUT))]],
        then: then(A, Restarting, "down #restarting")
            .reason("failed again after the restart: timeout"),
    },
    // tests::a_restart_that_does_not_help_backs_off_then_holds
    Rule {
        rule: "§4 verification: not back within `restart-timeout` (120 s): the attempt failed",
        setup: ONE,
        script: &[HUNG, &[(121_999, A, Tick), (122_000, A, Tick)]],
        then: then(A, Failed, "down #not back within 2m of the restart")
            .last(&["rgw.a -> failed", "release rgw.a"]),
    },
    Rule {
        rule: "§4 startup grace after a restart: failures keep it `restarting`, not `failed`",
        setup: ONE,
        script: &[HUNG, &[(3000, A, EverySecond(28, TIMEOUT))]],
        then: then(A, Restarting, "down #restarting").restarts(&[A]),
    },
    // tests::a_recently_started_daemon_gets_the_startup_grace
    Rule {
        rule: "§4 startup grace: a daemon found 5 s after it started keeps `starting` for the \
               rest of the 30 s",
        setup: Setup {
            started_s: 5,
            ..ONE
        },
        script: &[
            &[(0, A, Probe(TIMEOUT)), (10_000, A, Probe(TIMEOUT))],
            &[(24_999, A, Probe(TIMEOUT))],
        ],
        then: then(A, Starting, "up").left_alone(),
    },
    Rule {
        rule: "§4 startup grace: after it, `fall` failures fail it",
        setup: Setup {
            started_s: 5,
            ..ONE
        },
        script: &[&[(0, A, EverySecond(2, TIMEOUT)), (25_000, A, Probe(TIMEOUT))]],
        then: then(A, Restarting, "down #restarting").restarts(&[A]),
    },
    // tests::a_restart_that_does_not_help_backs_off_then_holds (its first rows)
    Rule {
        rule: "§4 startup grace: none for a daemon up long before the sidecar: failed after \
               `fall` probes",
        setup: ONE,
        script: &[HUNG],
        then: then(A, Restarting, "down #restarting").restarts(&[A]),
    },
];

#[test]
fn a_restart_is_proven_by_probes_and_failures_in_the_grace_are_expected() {
    check(VERIFICATION_AND_GRACE);
}

/// §4 budget, backoff and `held`.
const BUDGET: &[Rule] = &[
    // tests::a_restart_that_does_not_help_backs_off_then_holds
    Rule {
        rule: "§4 backoff: no second attempt within 10 s of the first one failing",
        setup: ONE,
        script: &[HUNG, &[(122_000, A, Tick), (131_999, A, Tick)]],
        then: then(A, Failed, "down #not back within 2m of the restart").restarts(&[A]),
    },
    Rule {
        rule: "§4 backoff: the second attempt 10 s after the first one failed",
        setup: ONE,
        script: &[HUNG, &[(122_000, A, Tick), (132_000, A, Tick)]],
        then: then(A, Restarting, "down #restarting").last(RESTART_A),
    },
    Rule {
        rule: "§4 backoff: doubled, 20 s before the third attempt",
        setup: ONE,
        script: &[
            HUNG,
            &[(122_000, A, Tick), (132_000, A, Tick)],
            &[(252_000, A, Tick), (271_999, A, Tick)],
        ],
        then: then(A, Failed, "down #not back within 2m of the restart").restarts(&[A, A]),
    },
    Rule {
        rule: "§4 budget: `max-restarts` (3) per window, then `held` with the reason",
        setup: ONE,
        script: &[HUNG, HELD],
        then: then(
            A,
            Held,
            "down #held: 3 restarts in 30m did not bring it back",
        )
        .restarts(&[A, A, A]),
    },
    // tests::held_is_cleared_by_a_reset_or_by_the_window
    Rule {
        rule: "§4 held: the operator's reset clears it (a fresh budget)",
        setup: ONE,
        script: &[HUNG, HELD, &[(400_000, A, Cmd(Command::Reset))]],
        then: then(A, Restarting, "down #restarting").last(&[
            "persist",
            "rgw.a -> failed",
            "restart rgw.a",
            "rgw.a -> restarting",
            "persist",
        ]),
    },
    Rule {
        rule: "§4 held: the window expiring frees a slot",
        setup: ONE,
        script: &[HUNG, HELD, &[(1_801_999, A, Tick), (1_802_000, A, Tick)]],
        then: then(A, Restarting, "down #restarting").restarts(&[A, A, A, A]),
    },
    // tests::persisted_restarts_count_against_the_budget
    Rule {
        rule: "§4 budget: restarts kept in the state file count (those inside the window)",
        setup: Setup {
            saved: Saved::Restarts(&[60, 120, 2400]),
            ..ONE
        },
        script: &[HUNG, &[(122_000, A, Tick)]],
        then: then(A, Held, "down #held: restart budget spent…").restarts(&[A]),
    },
];

#[test]
fn restarts_back_off_and_a_spent_budget_holds_until_reset_or_the_window() {
    check(BUDGET);
}

/// §4 "never the last one" and §8 "clients during the gap".
const LAST_ONE: &[Rule] = &[
    // tests::with_no_healthy_peer_one_that_still_answers_get_is_restarted_without_a_drain_and_drained_once_a_peer_is_back
    Rule {
        rule: "§4 never the last one: with no healthy peer, one that still answers GET is \
               restarted at once and not drained (`up ready`)",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(3, NO_PEER_ANSWERS_GET))]],
        then: then(A, Restarting, "up ready").restarts(&[A]),
    },
    Rule {
        rule: "§4 never the last one: once a peer is healthy again, it is drained",
        setup: ONE,
        script: &[
            HEALTHY,
            &[
                (2000, A, EverySecond(3, NO_PEER_ANSWERS_GET)),
                (5000, A, Probe(TIMEOUT)),
            ],
        ],
        then: then(A, Restarting, "down #restarting").reason("a peer is healthy again: drained"),
    },
    // Measured, and recorded as a deviation in the closing note of the issue that built it:
    // with every RGW frozen, leaving them in rotation made HAProxy queue requests on them
    // (first 200 after 10.6 s instead of 4.2 s).
    Rule {
        rule: "§8 clients during the gap: with no healthy peer, one that answers nothing is \
               drained (`down`), and its restart waits for HAProxy to hear it",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(3, ALL_FROZEN))]],
        then: then(A, Failed, "down #timeout; no healthy peer (rgw.b: timeout)").restarts(&[]),
    },
];

#[test]
fn the_last_daemon_is_restarted_and_drained_only_when_it_answers_nothing() {
    check(LAST_ONE);
}

/// §8 restart lease, as the core sees it: the shell takes the lease for each `Restart` and
/// reports when it cannot; the core says when to give it back.
const LEASE: &[Rule] = &[
    // tests::a_restart_deferred_by_the_lease_is_retried_without_charging_the_budget
    Rule {
        rule: "§8 lease held by another (errno 16): not restarted now; `failed`, saying it waits",
        setup: ONE,
        script: &[HUNG, &[(2050, A, LeaseHeld)]],
        then: then(A, Failed, "down #waiting to restart: every restart slot…")
            .last(&["rgw.a -> failed", "persist"]),
    },
    Rule {
        rule: "§8 lease held: tried again a second later, quietly (same word, no event, nothing \
               written)",
        setup: ONE,
        script: &[
            HUNG,
            &[(2050, A, LeaseHeld), (3049, A, Tick), (3050, A, Tick)],
        ],
        then: then(A, Failed, "down #waiting to restart: every restart slot…")
            .last(&["restart rgw.a"]),
    },
    Rule {
        rule: "§8 lease held: waiting is one phase: deferred again, nothing is said",
        setup: ONE,
        script: &[
            HUNG,
            &[(2050, A, LeaseHeld), (3050, A, Tick), (3100, A, LeaseHeld)],
        ],
        then: then(A, Failed, "down #waiting to restart: every restart slot…").last(&[]),
    },
    Rule {
        rule: "§8 lease taken at last: `restarting` once the orchestrator accepts",
        setup: ONE,
        script: &[
            HUNG,
            &[
                (2050, A, LeaseHeld),
                (3050, A, Tick),
                (3100, A, Answer(Ok("Scheduled"))),
            ],
        ],
        then: then(A, Restarting, "down #restarting").last(&[
            "rgw.a -> restarting",
            "persist",
            "refresh",
        ]),
    },
    // tests::a_lease_rados_cannot_give_makes_the_failure_the_clusters_until_it_fails_afresh
    Rule {
        rule: "§8 lease unavailable (errno 110, timeout): RADOS is sick, do not restart: \
               `degraded`, back in rotation, no retry on a timer",
        setup: ONE,
        script: &[HUNG, &[(2050, A, LeaseUnreachable), (60_000, A, Tick)]],
        then: then(A, Degraded, "up ready").restarts(&[A]),
    },
    // tests::the_lease_is_given_back_when_the_restart_is_proven_or_fails (the proof: rows of
    // VERIFICATION_AND_GRACE and PLANNED_RESTART; the timeout: VERIFICATION_AND_GRACE)
    Rule {
        rule: "§8 lease order: given back when the orchestrator refuses the restart",
        setup: ONE,
        script: &[HUNG, &[(2500, A, Answer(Err("exited 22: Error EINVAL")))]],
        then: then(A, Failed, "down #restart failed: exited 22: Error EINVAL")
            .last(&["release rgw.a", "rgw.a -> failed"]),
    },
    Rule {
        rule: "§8 lease order: the canary's is given back by the service hold, after it is up \
               (no release of its own)",
        setup: TWO,
        script: &[ALL_HUNG_2, CANARY_LOST],
        then: then(A, Held, "down #held: the canary restart…").last(&[
            "rgw.a -> failed",
            "rgw.a -> held",
            "hold rgw.a",
        ]),
    },
    Rule {
        rule: "§8 lease order: given back before the next daemon's restart is asked for",
        setup: THREE,
        script: &[ALL_HUNG_3, CANARY_BACK],
        then: then(B, Restarting, "down #restarting").last(&[
            "release rgw.a",
            "proven rgw.a",
            "rgw.a -> healthy",
            "restart rgw.b",
            "rgw.b -> restarting",
            "persist",
        ]),
    },
];

#[test]
fn the_restart_lease_defers_without_charging_and_is_given_back_in_order() {
    check(LEASE);
}

/// §8 all failed: the canary, then one by one; a canary that does not help holds the service.
/// On one host, with no lease: the core's own rules.
const CANARY: &[Rule] = &[
    // tests::one_service_restarts_one_daemon_at_a_time_without_a_lease
    Rule {
        rule: "§8 all failed: one restart (the canary) at once; the others wait their turn",
        setup: THREE,
        script: &[ALL_HUNG_3],
        then: then(
            B,
            Failed,
            "down #waiting to restart: rgw.a of the same service restarting…",
        )
        .restarts(&[A]),
    },
    Rule {
        rule: "§8 canary back within `restart-timeout`: the next follows at once, then one by one",
        setup: THREE,
        script: &[ALL_HUNG_3, CANARY_BACK],
        then: then(
            C,
            Failed,
            "down #waiting to restart: rgw.b of the same service restarting…",
        )
        .restarts(&[A, B]),
    },
    // tests::a_canary_that_does_not_come_back_holds_the_service_without_a_lease
    Rule {
        rule: "§8 canary not back: stop and hold every restart of the service, and say so",
        setup: TWO,
        script: &[ALL_HUNG_2, CANARY_LOST, &[(600_000, A, Tick)]],
        then: then(
            B,
            Failed,
            "down #waiting to restart: the canary restart of rgw.a…",
        )
        .restarts(&[A]),
    },
    // tests::a_canary_restart_that_does_not_help_holds_the_whole_service_until_reset
    Rule {
        rule: "§8 canary not back: it is `held` until the operator resets it, window or not",
        setup: TWO,
        script: &[ALL_HUNG_2, CANARY_LOST, &[(2_000_000, A, Tick)]],
        then: then(A, Held, "down #held: the canary restart…").restarts(&[A]),
    },
    Rule {
        rule: "§8 canary reset by the operator: the hold is lifted, the next restart goes",
        setup: TWO,
        script: &[
            ALL_HUNG_2,
            CANARY_LOST,
            &[(600_000, A, Cmd(Command::Reset))],
        ],
        then: then(A, Restarting, "down #restarting").last(&[
            "lift rgw.a",
            "persist",
            "rgw.a -> failed",
            "restart rgw.a",
            "rgw.a -> restarting",
            "persist",
        ]),
    },
    Rule {
        rule: "§8 `max-concurrent-restarts` (N slots) bounds the restarts of a service at once",
        setup: Setup { slots: 2, ..THREE },
        script: &[
            HEALTHY,
            &[(2000, B, Probe(TIMEOUT)), (2000, C, Probe(TIMEOUT))],
            &[(3000, B, Probe(TIMEOUT)), (3000, C, Probe(TIMEOUT))],
            &[(4000, B, Probe(TIMEOUT)), (4000, C, Probe(TIMEOUT))],
        ],
        then: then(C, Restarting, "down #restarting").restarts(&[B, C]),
    },
];

#[test]
fn restarts_of_a_service_go_by_the_canary_and_the_restart_slots() {
    check(CANARY);
}

/// Rules the core did not follow when this table was first written (each test failed then):
/// a GET 5xx everywhere was restarted as a canary; the restart's reason dropped the peers' note;
/// two restart slots gave two canaries; followers kept their backoff after the canary was back.
#[test]
fn design_4_a_500_on_every_rgw_at_once_drains_nothing() {
    let play = play(&Rule {
        rule: "§4 config errors: a GET 500 on every RGW at once drains nothing",
        setup: ONE,
        script: &[
            HEALTHY,
            &[(2000, A, EverySecond(3, ALL_GET_500))],
            &[(4500, A, Poll(1)), (7000, A, Tick)],
        ],
        then: then(A, Healthy, "up ready"),
    });
    assert!(
        !play.out,
        "drained: {:?}",
        play.machine.snapshot().daemon(A)
    );
    assert!(play.restarts.is_empty(), "restarted: {:?}", play.restarts);
}

#[test]
fn design_4_a_daemon_left_in_rotation_for_want_of_a_peer_says_so_while_restarting() {
    check(&[Rule {
        rule: "§4 never the last one: restarted without a drain, and /status says why",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(3, NO_PEER_ANSWERS_GET))]],
        then: then(A, Restarting, "up ready").reason("not drained: no healthy peer"),
    }]);
}

#[test]
fn design_8_the_canary_is_one_restart_whatever_the_slots() {
    check(&[Rule {
        rule: "§8 all failed: one canary, even with two restart slots",
        setup: Setup { slots: 2, ..THREE },
        script: &[ALL_HUNG_3],
        then: then(B, Failed, "down #waiting to restart…").restarts(&[A]),
    }]);
}

/// rgw.b hangs alone (rgw.a healthy): two attempts fail, the second backs off 20 s from 252 s.
/// Then rgw.a hangs too: its restart at 255 s is the canary, back at 257 s.
const B_BACKING_OFF_THEN_A_CANARY: &[At] = &[
    (0, A, Probe(PASS)),
    (0, B, Probe(TIMEOUT)),
    (1000, A, Probe(PASS)),
    (1000, B, Probe(TIMEOUT)),
    (2000, B, Probe(TIMEOUT)),
    (122_000, B, Tick),
    (132_000, B, Tick),
    (252_000, B, Tick),
    (253_000, A, EverySecond(3, TIMEOUT)),
    (256_000, A, EverySecond(2, PASS)),
];

#[test]
fn design_8_after_the_canary_the_others_follow_without_their_backoff() {
    check(&[Rule {
        rule: "§8 canary back: the next follows at once, even one backing off",
        setup: TWO,
        script: &[B_BACKING_OFF_THEN_A_CANARY],
        then: then(B, Restarting, "down #restarting").restarts(&[B, B, A, B]),
    }]);
}

/// §8 "a probe that gives up on a stalled RGW adds to its queue: back off probing a `degraded`
/// daemon": the core sets the pace, the shell's probe loop follows it.
#[test]
fn a_degraded_daemon_is_probed_one_tick_in_five_and_every_other_state_every_tick() {
    for state in State::ALL {
        let want = if state == Degraded { 5 } else { 1 };
        assert_eq!(state.probe_one_tick_in(), want, "{state}");
    }
}
