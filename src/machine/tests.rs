//! Scenario tables for the state machine: `(ms since t0, input, state after, word after,
//! actions after)`, run by one [`check`] helper with a fake clock. Every row of docs/design.md §4
//! this machine implements has a scenario here.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;
use crate::probe::{ProbeError, Verdict};

const A: &str = "rgw.a";

pub(super) fn policy() -> Policy {
    Policy {
        fall: 3,
        // The scenarios below prove restarts by probes alone; the start-time proof has its own.
        prove_by_start_time: false,
        // HAProxy polls every second: drains are confirmed within 3 s, a silent one gone in 10 s.
        ..Policy::defaults(true, Duration::from_secs(1))
    }
}

fn exporter_policy() -> Policy {
    Policy {
        load_balanced: false,
        ..policy()
    }
}

/// One input of a scenario.
#[derive(Debug, Clone)]
enum In {
    Pass,
    SlowDown,
    Fail,
    /// A timeout, and the admin socket silent too: the process is hung.
    Hung,
    /// The kill of the hung process answered.
    Killed(Result<&'static str, &'static str>),
    /// A timeout while no peer is healthy; whether it still answers GET.
    FailNoPeer(bool),
    Refused,
    /// HAProxy `n` polls and is told the current word.
    Poll(u8),
    /// HAProxy `n` polls but was told an older word (its reply raced the change).
    StalePoll(u8),
    Answer(Result<&'static str, &'static str>),
    /// The orchestrator did not take the restart (refused it, or could not be asked).
    NotTaken(&'static str),
    Active(u64),
    Tick,
    Cmd(Command),
    /// An inventory with these daemons (long running).
    Inventory(&'static [&'static str]),
    /// The inventory saved in the state file, at start: these daemons, not confirmed.
    Saved(&'static [&'static str]),
    /// An inventory listing the daemon alone, started this long ago.
    StartedAgo(Duration),
    /// The host shows its running process started this long ago (its admin socket).
    Process(Duration),
}

type Row = (u64, In, State, &'static str, &'static [&'static str]);

struct Sim {
    machine: Machine,
    t0: Instant,
}

impl Sim {
    fn new(persisted: BTreeMap<String, Persisted>, started_ago: Option<Duration>) -> Self {
        Self::with(policy(), persisted, started_ago)
    }

    /// A machine that judges rgw daemons by `rgw`, with `rgw.a` discovered at t0.
    fn with(
        rgw: Policy,
        persisted: BTreeMap<String, Persisted>,
        started_ago: Option<Duration>,
    ) -> Self {
        let mut policies = BTreeMap::new();
        policies.insert("rgw".to_string(), rgw.clone());
        policies.insert("node-exporter".to_string(), exporter_policy());
        let mut machine = Machine::new(policies, rgw, persisted);
        #[expect(
            clippy::disallowed_methods,
            reason = "the fake clock needs one real origin; only offsets from it are used"
        )]
        let t0 = Instant::now();
        let found = listed(A, started_ago, false);
        machine.observe(Observation::Inventory(vec![found]), t0);
        Self { machine, t0 }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn word(&self, name: &str) -> String {
        self.machine
            .snapshot()
            .daemon(name)
            .map(|d| d.word.to_string())
            .unwrap_or_default()
    }

    fn feed(&mut self, name: &str, ms: u64, input: In) -> Result<Vec<Action>, CommandError> {
        let now = self.at(ms);
        let haproxy = |n: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
        let observation = match input {
            In::Poll(n) => Observation::Polled {
                daemon: name.into(),
                haproxy: haproxy(n),
                word: self
                    .machine
                    .snapshot()
                    .daemon(name)
                    .map_or(Word::Up, |d| d.word.clone()),
            },
            In::StalePoll(n) => Observation::Polled {
                daemon: name.into(),
                haproxy: haproxy(n),
                // A word it was told before the change (its reply raced it).
                word: Word::Down("an older word".into()),
            },
            In::Answer(result) => Observation::RestartAnswered {
                daemon: name.into(),
                result: result
                    .map(String::from)
                    .map_err(|err| RestartError::Orchestrator(err.into())),
            },
            In::NotTaken(said) => Observation::RestartAnswered {
                daemon: name.into(),
                result: Err(RestartError::NotTaken(said.into())),
            },
            In::Active(active) => Observation::InFlight {
                daemon: name.into(),
                active,
            },
            In::Tick => return Ok(self.machine.tick(now)),
            In::Cmd(command) => return self.machine.command(name, command, now),
            In::Inventory(names) => inventory(names, false),
            In::Saved(names) => inventory(names, true),
            In::StartedAgo(ago) => Observation::Inventory(vec![listed(name, Some(ago), false)]),
            In::Process(ago) => Observation::ProcessStarted {
                daemon: name.into(),
                ago,
            },
            In::Killed(result) => Observation::HungKilled {
                daemon: name.into(),
                result: result.map(String::from).map_err(String::from),
            },
            probe => probe_of(name, now, probe),
        };
        Ok(self.machine.observe(observation, now))
    }
}

/// A probe of `name` answered at `now`: probes take 1 ms here (the stale-answer scenario sends
/// its own).
fn probe_of(name: &str, now: Instant, input: In) -> Observation {
    let hang = matches!(input, In::Hung).then_some(verdict::Hang::Process);
    let (result, no_healthy_peer) = match input {
        In::Pass => (Ok(Verdict::Ok), None),
        In::Hung => (Err(ProbeError::Timeout), None),
        In::SlowDown => (
            Ok(Verdict::Busy {
                code: "SlowDown".into(),
            }),
            None,
        ),
        In::Fail => (Err(ProbeError::Timeout), None),
        In::FailNoPeer(answers) => (
            Err(ProbeError::Timeout),
            Some(NoHealthyPeer {
                why: "no healthy peer (rgw.b: s3 timeout)".into(),
                answers,
            }),
        ),
        In::Refused => (Err(ProbeError::Refused), None),
        other => unreachable!("{other:?} is not a probe"),
    };
    Observation::Probe {
        daemon: name.into(),
        result,
        sent: now - Duration::from_millis(1),
        step: verdict::Step::Http,
        config_problem: None,
        no_healthy_peer,
        hang,
        times: Vec::new(),
        rados_replies: None,
    }
}

/// A daemon as the inventory lists it; its type and service are its name's first part.
fn listed(name: &str, started_ago: Option<Duration>, stale: bool) -> Discovered {
    let kind = name.split('.').next().unwrap_or_default();
    Discovered {
        name: name.into(),
        daemon_type: kind.into(),
        started_ago,
        service: kind.into(),
        stale,
    }
}

/// Long-running daemons; the service is the type (`rgw.a` and `rgw.b` are one service).
fn inventory(names: &[&str], stale: bool) -> Observation {
    Observation::Inventory(
        names
            .iter()
            .map(|n| listed(n, Some(Duration::from_secs(3600)), stale))
            .collect(),
    )
}

/// The actions, events left out, as short words: `restart`, `persist`, `refresh`.
fn words(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Restart { .. } => Some("restart"),
            Action::KillHung { .. } => Some("kill"),
            Action::Persist => Some("persist"),
            Action::RefreshInventory => Some("refresh"),
            Action::ConfigProblem { .. } => Some("config"),
            Action::HoldService { .. } => Some("hold-service"),
            Action::LiftServiceHold { .. } => Some("lift-hold"),
            Action::RestartProven { .. } => Some("proven"),
            // Asserted on their own in the lease and the not-performed scenarios below.
            Action::ReleaseLease { .. } | Action::Event(_) | Action::NotPerformed { .. } => None,
        })
        .collect()
}

fn check_daemon(sim: &mut Sim, name: &str, rows: &[Row]) {
    for (i, (ms, input, state, word, actions)) in rows.iter().enumerate() {
        let got = sim
            .feed(name, *ms, input.clone())
            .unwrap_or_else(|err| panic!("row {i}: {err}"));
        let snapshot = sim.machine.snapshot();
        let view = snapshot
            .daemon(name)
            .unwrap_or_else(|| panic!("row {i}: {name} gone"));
        assert_eq!(
            (
                view.state,
                view.word.to_string().as_str(),
                words(&got).as_slice()
            ),
            (*state, *word, *actions),
            "row {i} (t={ms}ms, {input:?}); reason: {}",
            view.reason
        );
    }
}

/// Runs rows against rgw.a of a fresh machine (discovered long ago: no startup grace).
fn check(rows: &[Row]) -> Sim {
    let mut sim = Sim::new(BTreeMap::new(), Some(Duration::from_secs(3600)));
    check_daemon(&mut sim, A, rows);
    sim
}

use In::*;
use State::*;

/// Words and actions many rows share.
/// A restart asked for, the orchestrator's answer not in yet.
const DOWN_RESTARTING: &str = "down #restarting: asking the orchestrator";
/// The orchestrator took the restart; the host shows no process start (the scenarios that do
/// have their own words).
const DOWN_AWAITING: &str = "down #restarting: waiting for the daemon to answer";
const DOWN_NOT_BACK: &str = "down #not back within 2m of the restart";
const DOWN_HELD: &str = "down #held: 3 restarts in 30m did not bring it back";
const DOWN_WAITING: &str =
    "down #waiting to restart: every restart slot of restart-lease.rgw.lab is held";
/// A restart asked for: the request, and the state file written.
const ASK_RESTART: &[&str] = &["restart", "persist"];

/// Healthy after `rise` passes, with HAProxy 1 polling: the start of most scenarios.
const HEALTHY: &[Row] = &[
    (0, Pass, Starting, "up", &[]),
    (100, Poll(1), Starting, "up", &[]),
    (1000, Pass, Healthy, "up ready", &[]),
    (1100, Poll(1), Healthy, "up ready", &[]),
];

fn healthy_then(rows: &[Row]) -> Sim {
    let all: Vec<Row> = HEALTHY
        .iter()
        .cloned()
        .chain(rows.iter().cloned())
        .collect();
    check(&all)
}

#[test]
fn fall_failures_take_it_down_then_every_haproxy_confirms_then_restart_then_rise() {
    healthy_then(&[
        (2000, Fail, Suspect, "up ready", &[]),
        (3000, Fail, Suspect, "up ready", &[]),
        (4000, Fail, Failed, "down #timeout", &[]),
        // HAProxy 1 has not been told yet: no restart.
        (4500, Tick, Failed, "down #timeout", &[]),
        (4900, Poll(1), Restarting, DOWN_RESTARTING, ASK_RESTART),
        (
            5000,
            Answer(Ok("Scheduled to restart rgw.a on host 'h'")),
            Restarting,
            DOWN_AWAITING,
            &["refresh"],
        ),
        // Failures right after the restart are expected (startup grace).
        (6000, Fail, Restarting, DOWN_AWAITING, &[]),
        (7000, Pass, Recovering, "down #recovering 1/2", &[]),
        (8000, Pass, Healthy, "up ready", &["proven"]),
    ]);
}

#[test]
fn an_answer_to_a_probe_sent_before_the_restart_proves_nothing() {
    let mut sim = healthy_then(&[
        (2000, Fail, Suspect, "up ready", &[]),
        (3000, Fail, Suspect, "up ready", &[]),
        (4000, Fail, Failed, "down #timeout", &[]),
        (4900, Poll(1), Restarting, DOWN_RESTARTING, ASK_RESTART),
    ]);
    // A probe sent at 4.5 s sat in the frozen RGW's queue; the restart thaws it on its way
    // out and it answers 200: not the new process.
    let stale = Observation::Probe {
        daemon: A.into(),
        result: Ok(Verdict::Ok),
        sent: sim.at(4500),
        step: verdict::Step::Http,
        config_problem: None,
        no_healthy_peer: None,
        hang: None,
        times: Vec::new(),
        rados_replies: None,
    };
    sim.machine.observe(stale.clone(), sim.at(5200));
    sim.machine.observe(stale, sim.at(5201));
    let view = sim.machine.snapshot();
    assert_eq!(view.daemons[0].state, Restarting);
    check_daemon(
        &mut sim,
        A,
        &[
            (6000, Pass, Recovering, "down #recovering 1/2", &[]),
            (7000, Pass, Healthy, "up ready", &["proven"]),
        ],
    );
}

#[test]
fn a_single_failure_is_suspect_and_a_pass_clears_it() {
    healthy_then(&[
        (2000, Refused, Suspect, "up ready", &[]),
        (3000, Pass, Healthy, "up ready", &[]),
        (4000, Fail, Suspect, "up ready", &[]),
        (5000, Fail, Suspect, "up ready", &[]),
        (6000, SlowDown, Busy, "up ready", &[]),
    ]);
}

#[test]
fn a_poll_told_the_old_word_does_not_confirm_the_drain() {
    healthy_then(&[
        (2000, Fail, Suspect, "up ready", &[]),
        (3000, Fail, Suspect, "up ready", &[]),
        (4000, Fail, Failed, "down #timeout", &[]),
        (4100, StalePoll(1), Failed, "down #timeout", &[]),
        (4200, Poll(1), Restarting, DOWN_RESTARTING, ASK_RESTART),
    ]);
}

#[test]
fn every_haproxy_must_confirm_and_the_wait_is_bounded() {
    healthy_then(&[
        (1200, Poll(2), Healthy, "up ready", &[]),
        (2000, Fail, Suspect, "up ready", &[]),
        (3000, Fail, Suspect, "up ready", &[]),
        (4000, Fail, Failed, "down #timeout", &[]),
        (4500, Poll(1), Failed, "down #timeout", &[]),
        (6900, Tick, Failed, "down #timeout", &[]),
        // HAProxy 2 never polls again: drain-confirm-timeout (3 s) ends the wait.
        (7000, Tick, Restarting, DOWN_RESTARTING, ASK_RESTART),
    ]);
}

#[test]
fn an_haproxy_silent_for_peer_ttl_is_not_waited_for() {
    healthy_then(&[
        (11_200, Fail, Suspect, "up ready", &[]),
        (11_300, Fail, Suspect, "up ready", &[]),
        // HAProxy 1 last polled at 1.1 s, over 10 s ago: nobody left to wait for.
        (11_400, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
    ]);
}

#[test]
fn without_any_haproxy_polling_a_failure_restarts_at_once() {
    check(&[
        (0, Pass, Starting, "up", &[]),
        (1000, Pass, Healthy, "up ready", &[]),
        (2000, Fail, Suspect, "up ready", &[]),
        (3000, Fail, Suspect, "up ready", &[]),
        (4000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
    ]);
}

#[test]
fn a_restart_that_does_not_help_backs_off_then_holds() {
    let sim = check(&[
        (0, Fail, Starting, "up", &[]),
        (1000, Fail, Starting, "up", &[]),
        // A hung RGW found at sidecar start (up for an hour): no grace, failed after fall.
        (2000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
        (
            2100,
            Answer(Ok("Scheduled")),
            Restarting,
            DOWN_AWAITING,
            &["refresh"],
        ),
        (121_999, Tick, Restarting, DOWN_AWAITING, &[]),
        (122_000, Tick, Failed, DOWN_NOT_BACK, &[]),
        // Backoff: 10 s before the second attempt.
        (131_999, Tick, Failed, DOWN_NOT_BACK, &[]),
        (132_000, Tick, Restarting, DOWN_RESTARTING, ASK_RESTART),
        (252_000, Tick, Failed, DOWN_NOT_BACK, &[]),
        // 20 s before the third.
        (271_999, Tick, Failed, DOWN_NOT_BACK, &[]),
        (272_000, Tick, Restarting, DOWN_RESTARTING, ASK_RESTART),
        (392_000, Fail, Held, DOWN_HELD, &[]),
        (500_000, Tick, Held, DOWN_HELD, &[]),
    ]);
    let view = sim.machine.snapshot();
    assert_eq!(view.daemons[0].restarts_in_window, 3);
    // Held until the first attempt leaves the 30 min window (at 2 s + 30 min).
    assert_eq!(
        sim.machine.next_deadline(),
        Some(sim.at(2000 + 30 * 60 * 1000))
    );
}

/// Hung from the start: three attempts that do not bring it back, then held.
const HELD: &[Row] = &[
    (0, Fail, Starting, "up", &[]),
    (1000, Fail, Starting, "up", &[]),
    (2000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
    (122_000, Tick, Failed, DOWN_NOT_BACK, &[]),
    (132_000, Tick, Restarting, DOWN_RESTARTING, ASK_RESTART),
    (252_000, Tick, Failed, DOWN_NOT_BACK, &[]),
    (272_000, Tick, Restarting, DOWN_RESTARTING, ASK_RESTART),
    (392_000, Tick, Held, DOWN_HELD, &[]),
];

#[test]
fn held_is_cleared_by_a_reset_or_by_the_window() {
    let mut reset: Vec<Row> = HELD.to_vec();
    reset.push((
        400_000,
        Cmd(Command::Reset),
        Restarting,
        DOWN_RESTARTING,
        &["persist", "restart", "persist"],
    ));
    let sim = check(&reset);
    assert_eq!(sim.machine.snapshot().daemons[0].restarts_in_window, 1);

    let mut window: Vec<Row> = HELD.to_vec();
    window.push((2000 + 1_800_000 - 1, Tick, Held, DOWN_HELD, &[]));
    window.push((
        2000 + 1_800_000,
        Tick,
        Restarting,
        DOWN_RESTARTING,
        ASK_RESTART,
    ));
    check(&window);
}

#[test]
fn a_held_daemon_that_comes_back_by_itself_serves_again() {
    let mut rows: Vec<Row> = HELD.to_vec();
    rows.push((393_000, Pass, Held, DOWN_HELD, &[]));
    rows.push((394_000, Pass, Healthy, "up ready", &[]));
    check(&rows);
}

#[test]
fn a_failed_restart_command_is_an_attempt_and_backs_off() {
    check(&[
        (0, Fail, Starting, "up", &[]),
        (1000, Fail, Starting, "up", &[]),
        (2000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
        (
            2500,
            Answer(Err("`ceph orch daemon restart rgw.a` exited 2: Error ENOENT: No orchestrator configured")),
            Failed,
            "down #restart failed: `ceph orch daemon restart rgw.a` exited 2: Error ENOENT: No orchestrator configured",
            &[],
        ),
        (12_499, Tick, Failed, "down #restart failed: `ceph orch daemon restart rgw.a` exited 2: Error ENOENT: No orchestrator configured", &[]),
        (12_500, Tick, Restarting, DOWN_RESTARTING, ASK_RESTART),
    ]);
}

/// cephadm refusing (an unknown daemon while its inventory lags, a mgr failing over) or a
/// `ceph` CLI that timed out made no attempt: nothing is charged, no backoff, and the same
/// restart is asked again 10 s later, until one is taken.
#[test]
fn a_restart_the_orchestrator_did_not_take_is_asked_again_without_charging_the_budget() {
    const FAILOVER: &str =
        "`ceph orch daemon restart rgw.a` exited 2: Error ENOENT: Module not found";
    const WAITING: &str = "down #waiting to restart: the orchestrator did not take the restart, asked again in 10s (no restart budget spent): `ceph orch daemon restart rgw.a` exited 2: Error ENOENT: Module not found";
    let mut sim = Sim::new(BTreeMap::new(), None);
    check_daemon(
        &mut sim,
        A,
        &[
            (0, Fail, Starting, "up", &[]),
            (1000, Fail, Starting, "up", &[]),
            (2000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
            (2500, NotTaken(FAILOVER), Failed, WAITING, &["persist"]),
            (12_499, Tick, Failed, WAITING, &[]),
            // Asked again quietly: one wait, one word, until it is taken.
            (12_500, Tick, Failed, WAITING, &["restart"]),
        ],
    );
    // The lease taken for it goes back at once: another restart may take it meanwhile.
    let actions = sim.feed(A, 13_000, NotTaken(FAILOVER)).unwrap();
    assert!(
        actions.contains(&Action::ReleaseLease { daemon: A.into() }),
        "{actions:?}"
    );
    check_daemon(
        &mut sim,
        A,
        &[(23_000, Tick, Failed, WAITING, &["restart"])],
    );
    assert_eq!(
        sim.machine.snapshot().daemons[0].restarts_in_window,
        1,
        "only the restart under way counts"
    );
    check_daemon(
        &mut sim,
        A,
        &[
            (
                23_500,
                Answer(Ok("Scheduled")),
                Restarting,
                DOWN_AWAITING,
                &["persist", "refresh"],
            ),
            (24_000, Pass, Recovering, "down #recovering 1/2", &[]),
            (24_500, Pass, Healthy, "up ready", &["proven"]),
        ],
    );
}

#[test]
fn busy_is_alive_and_never_restarted() {
    let mut rows: Vec<Row> = vec![
        (0, SlowDown, Starting, "up", &[]),
        (1000, SlowDown, Busy, "up ready", &[]),
    ];
    for i in 2..20 {
        rows.push((i * 1000, SlowDown, Busy, "up ready", &[]));
    }
    rows.push((21_000, Pass, Healthy, "up ready", &[]));
    check(&rows);
}

#[test]
fn a_recently_started_daemon_gets_the_startup_grace() {
    // Started 5 s before discovery: 25 s of grace left.
    let mut sim = Sim::new(BTreeMap::new(), Some(Duration::from_secs(5)));
    check_daemon(
        &mut sim,
        A,
        &[
            (1000, Fail, Starting, "up", &[]),
            (10_000, Fail, Starting, "up", &[]),
            (20_000, Fail, Starting, "up", &[]),
            (24_999, Fail, Starting, "up", &[]),
            (25_000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
        ],
    );
}

#[test]
fn a_daemon_that_fails_and_comes_back_before_its_restart_is_not_restarted() {
    healthy_then(&[
        (2000, Fail, Suspect, "up ready", &[]),
        (3000, Fail, Suspect, "up ready", &[]),
        (4000, Fail, Failed, "down #timeout", &[]),
        (5000, Pass, Failed, "down #timeout", &[]),
        (6000, Pass, Healthy, "up ready", &[]),
        (7000, Tick, Healthy, "up ready", &[]),
    ]);
}

#[test]
fn a_planned_restart_drains_waits_for_haproxy_and_in_flight_then_verifies() {
    let sim = healthy_then(&[
        (2000, Cmd(Command::Restart), Draining, "drain", &[]),
        (2100, Active(2), Draining, "drain", &[]),
        (2500, Poll(1), Draining, "drain", &[]),
        (3000, Active(1), Draining, "drain", &[]),
        (4000, Active(0), Restarting, "drain", ASK_RESTART),
        (
            4100,
            Answer(Ok("Scheduled")),
            Restarting,
            "drain",
            &["refresh"],
        ),
        (5000, Pass, Recovering, "drain", &[]),
        (6000, Pass, Healthy, "up ready", &["proven"]),
    ]);
    assert_eq!(
        sim.machine.snapshot().daemons[0].restarts_in_window,
        0,
        "an operator's planned restart is not charged to the automatic budget"
    );
}

#[test]
fn a_planned_restart_waits_for_every_haproxy_even_when_idle() {
    healthy_then(&[
        (1200, Poll(2), Healthy, "up ready", &[]),
        (2000, Cmd(Command::Restart), Draining, "drain", &[]),
        (2100, Active(0), Draining, "drain", &[]),
        (2500, Poll(1), Draining, "drain", &[]),
        (2600, Poll(2), Restarting, "drain", ASK_RESTART),
    ]);
}

#[test]
fn a_planned_restart_stops_waiting_for_in_flight_requests_at_the_drain_timeout() {
    healthy_then(&[
        (2000, Cmd(Command::Restart), Draining, "drain", &[]),
        (2500, Poll(1), Draining, "drain", &[]),
        (3000, Active(4), Draining, "drain", &[]),
        (31_999, Tick, Draining, "drain", &[]),
        (32_000, Tick, Restarting, "drain", ASK_RESTART),
    ]);
}

#[test]
fn a_planned_restart_that_does_not_come_back_becomes_a_failure() {
    healthy_then(&[
        (2000, Cmd(Command::Restart), Draining, "drain", &[]),
        (2500, Poll(1), Draining, "drain", &[]),
        (2600, Active(0), Restarting, "drain", ASK_RESTART),
        (122_600, Tick, Failed, DOWN_NOT_BACK, &[]),
    ]);
}

#[test]
fn repeating_a_command_changes_nothing_more() {
    healthy_then(&[
        (2000, Cmd(Command::Restart), Draining, "drain", &[]),
        (2100, Cmd(Command::Restart), Draining, "drain", &[]),
        (2200, Cmd(Command::Drain), Draining, "drain", &["persist"]),
        (2300, Cmd(Command::Drain), Draining, "drain", &[]),
    ]);
}

#[test]
fn an_operator_drain_holds_until_undrain_and_survives_failures() {
    healthy_then(&[
        (2000, Cmd(Command::Drain), Draining, "drain", &["persist"]),
        (3000, Pass, Draining, "drain", &[]),
        (4000, Fail, Suspect, "drain", &[]),
        (5000, Pass, Draining, "drain", &[]),
        (
            6000,
            Cmd(Command::Undrain),
            Healthy,
            "up ready",
            &["persist"],
        ),
    ]);
}

#[test]
fn maintenance_ignores_probes_and_leaving_it_waits_for_rise() {
    healthy_then(&[
        (
            2000,
            Cmd(Command::Maintenance(true)),
            Maintenance,
            "maint",
            &["persist"],
        ),
        (3000, Fail, Maintenance, "maint", &[]),
        (4000, Fail, Maintenance, "maint", &[]),
        (5000, Fail, Maintenance, "maint", &[]),
        (5500, Tick, Maintenance, "maint", &[]),
        (
            6000,
            Cmd(Command::Maintenance(false)),
            Starting,
            "maint",
            &["persist"],
        ),
        (7000, Pass, Starting, "maint", &[]),
        (8000, Pass, Healthy, "up ready", &[]),
    ]);
}

#[test]
fn no_restart_in_maintenance() {
    let mut sim = Sim::new(BTreeMap::new(), None);
    sim.feed(A, 0, Cmd(Command::Maintenance(true))).unwrap();
    assert_eq!(
        sim.feed(A, 1, Cmd(Command::Restart)).unwrap_err(),
        CommandError::InMaintenance { daemon: A.into() }
    );
    assert_eq!(
        sim.feed("rgw.zzz", 2, Cmd(Command::Drain)).unwrap_err(),
        CommandError::UnknownDaemon("rgw.zzz".into())
    );
}

#[test]
fn persisted_flags_are_served_from_the_first_poll() {
    let mut persisted = BTreeMap::new();
    persisted.insert(
        A.to_string(),
        Persisted {
            maintenance: true,
            drained: false,
            restart_ages: vec![],
            maxconn_told: false,
        },
    );
    persisted.insert(
        "rgw.b".to_string(),
        Persisted {
            maintenance: false,
            drained: true,
            restart_ages: vec![],
            maxconn_told: false,
        },
    );
    let mut sim = Sim::new(persisted, None);
    sim.feed(A, 0, Inventory(&["rgw.a", "rgw.b"])).unwrap();
    assert_eq!(sim.word(A), "maint");
    assert_eq!(sim.word("rgw.b"), "drain");
    check_daemon(
        &mut sim,
        "rgw.b",
        &[
            (1000, Pass, Starting, "drain", &[]),
            (2000, Pass, Draining, "drain", &[]),
        ],
    );
    let saved = sim.machine.persisted(sim.at(3000));
    assert!(saved[A].maintenance && saved["rgw.b"].drained);
}

#[test]
fn persisted_restarts_count_against_the_budget() {
    let mut persisted = BTreeMap::new();
    persisted.insert(
        A.to_string(),
        Persisted {
            maintenance: false,
            drained: false,
            restart_ages: vec![
                Duration::from_secs(60),
                Duration::from_secs(120),
                Duration::from_secs(40 * 60),
            ],
            maxconn_told: false,
        },
    );
    let mut sim = Sim::new(persisted, Some(Duration::from_secs(3600)));
    // The 40 min old one is outside the window: two count, one attempt is left.
    check_daemon(
        &mut sim,
        A,
        &[
            (0, Fail, Starting, "up", &[]),
            (1000, Fail, Starting, "up", &[]),
            (
                2000,
                Fail,
                Restarting,
                DOWN_RESTARTING,
                ASK_RESTART,
            ),
            (
                122_000,
                Tick,
                Held,
                "down #held: restart budget spent: 3 restarts in 30m (max-restarts); the last 1 did not bring it back",
                &[],
            ),
        ],
    );
}

#[test]
fn a_daemon_missing_from_two_inventories_is_forgotten() {
    let mut sim = Sim::new(BTreeMap::new(), None);
    sim.feed(A, 0, Inventory(&["rgw.b"])).unwrap();
    assert!(
        sim.machine.snapshot().daemon(A).is_some(),
        "one inventory without it is not enough"
    );
    sim.feed(A, 1000, Inventory(&["rgw.a", "rgw.b"])).unwrap();
    sim.feed(A, 2000, Inventory(&["rgw.b"])).unwrap();
    assert!(
        sim.machine.snapshot().daemon(A).is_some(),
        "the count restarts when it is seen"
    );
    sim.feed(A, 3000, Inventory(&["rgw.b"])).unwrap();
    assert!(sim.machine.snapshot().daemon(A).is_none());
    assert!(sim.machine.snapshot().daemon("rgw.b").is_some());
}

#[test]
fn a_daemon_without_a_load_balancer_restarts_without_waiting_for_haproxy() {
    let mut sim = Sim::new(BTreeMap::new(), None);
    sim.feed(A, 0, Inventory(&["rgw.a", "node-exporter.h"]))
        .unwrap();
    check_daemon(
        &mut sim,
        "node-exporter.h",
        &[
            (100, Poll(1), Starting, "up", &[]),
            (1000, Pass, Starting, "up", &[]),
            (2000, Pass, Healthy, "up ready", &[]),
            (3000, Fail, Suspect, "up ready", &[]),
            (4000, Fail, Suspect, "up ready", &[]),
            (5000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
        ],
    );
}

#[test]
fn the_next_deadline_is_when_a_tick_would_act() {
    let sim = healthy_then(&[
        (2000, Fail, Suspect, "up ready", &[]),
        (3000, Fail, Suspect, "up ready", &[]),
        (4000, Fail, Failed, "down #timeout", &[]),
    ]);
    assert_eq!(
        sim.machine.next_deadline(),
        Some(sim.at(7000)),
        "drain-confirm-timeout"
    );
}

#[test]
fn a_down_reason_never_breaks_the_line() {
    let word = Word::Down("http 500\nup ready".into());
    assert_eq!(word.to_string(), "down #http 500 up ready");
}

#[test]
fn a_configuration_error_is_reported_and_changes_nothing() {
    let mut sim = healthy_then(&[]);
    let t0 = sim.t0;
    let config = |ms| Observation::Probe {
        daemon: A.into(),
        result: Err(ProbeError::Config("s3 InvalidAccessKeyId: wrong".into())),
        sent: t0 + Duration::from_millis(ms),
        step: verdict::Step::S3,
        config_problem: None,
        no_healthy_peer: None,
        hang: None,
        times: Vec::new(),
        rados_replies: None,
    };
    let (first, second) = (config(2000), config(3000));
    let actions = sim.machine.observe(first, sim.at(2001));
    assert_eq!(
        actions,
        [Action::ConfigProblem {
            daemon: A.into(),
            message: Some("s3 InvalidAccessKeyId: wrong".into())
        }]
    );
    assert!(
        sim.machine.observe(second, sim.at(3001)).is_empty(),
        "said once"
    );
    for ms in [4000, 5000, 6000, 7000] {
        let again = config(ms);
        sim.machine.observe(again, sim.at(ms + 1));
    }
    let view = sim.machine.snapshot();
    assert_eq!(
        (view.daemons[0].state, view.daemons[0].word.to_string()),
        (Healthy, "up ready".to_string())
    );
    assert_eq!(
        view.daemons[0].config_error.as_deref(),
        Some("s3 InvalidAccessKeyId: wrong")
    );
    let fixed = sim.feed(A, 8000, Pass).unwrap();
    assert!(fixed.contains(&Action::ConfigProblem {
        daemon: A.into(),
        message: None
    }));
    assert_eq!(sim.machine.snapshot().daemons[0].config_error, None);
}

#[test]
fn the_failing_step_names_the_reason() {
    let mut sim = healthy_then(&[]);
    let mut words = Vec::new();
    for ms in [2000, 3000, 4000] {
        let s3_timeout = Observation::Probe {
            daemon: A.into(),
            result: Err(ProbeError::Timeout),
            sent: sim.at(ms),
            step: verdict::Step::S3,
            config_problem: None,
            no_healthy_peer: None,
            hang: None,
            times: Vec::new(),
            rados_replies: None,
        };
        for action in sim.machine.observe(s3_timeout, sim.at(ms + 1)) {
            if let Action::Event(event) = action {
                words.push((event.to, event.word));
            }
        }
    }
    assert!(
        words.contains(&(Failed, "down #s3: timeout".to_string())),
        "{words:?}"
    );
}

#[test]
fn a_skipped_misconfigured_step_leaves_the_verdict_to_the_others() {
    let mut sim = Sim::new(BTreeMap::new(), Some(Duration::from_secs(3600)));
    let probe = |ms: u64, result| Observation::Probe {
        daemon: A.into(),
        result,
        sent: sim.t0 + Duration::from_millis(ms),
        step: verdict::Step::Http,
        config_problem: Some("s3 SignatureDoesNotMatch: wrong".into()),
        no_healthy_peer: None,
        hang: None,
        times: Vec::new(),
        rados_replies: None,
    };
    let (first, second) = (probe(0, Ok(Verdict::Ok)), probe(1000, Ok(Verdict::Ok)));
    sim.machine.observe(first, sim.at(1));
    sim.machine.observe(second, sim.at(1001));
    let view = sim.machine.snapshot();
    assert_eq!(view.daemons[0].state, Healthy, "the http step decided");
    assert_eq!(
        view.daemons[0].config_error.as_deref(),
        Some("s3 SignatureDoesNotMatch: wrong")
    );
}

#[test]
fn a_stalled_cluster_is_degraded_never_drained_and_clears_when_rados_does() {
    let mut sim = healthy_then(&[]);
    let degraded = |ms: u64| Observation::Probe {
        daemon: A.into(),
        result: Ok(Verdict::Degraded {
            reason: "rados: oldest op 4.2s on osd.0".into(),
        }),
        sent: sim.t0 + Duration::from_millis(ms),
        step: verdict::Step::Asok,
        config_problem: None,
        no_healthy_peer: None,
        hang: None,
        times: Vec::new(),
        rados_replies: None,
    };
    let probes: Vec<Observation> = (2..30).map(|s| degraded(s * 1000)).collect();
    let mut restarts = 0;
    for (i, probe) in probes.into_iter().enumerate() {
        let at = sim.at((i as u64 + 2) * 1000 + 1);
        restarts += words(&sim.machine.observe(probe, at))
            .iter()
            .filter(|w| **w == "restart")
            .count();
    }
    let view = sim.machine.snapshot();
    assert_eq!(restarts, 0);
    assert_eq!(
        (view.daemons[0].state, view.daemons[0].word.to_string()),
        (Degraded, "up ready".to_string())
    );
    assert!(
        view.daemons[0]
            .reason
            .contains("rados: oldest op 4.2s on osd.0"),
        "{}",
        view.daemons[0].reason
    );
    check_daemon(&mut sim, A, &[(31_000, Pass, Healthy, "up ready", &[])]);
}

/// Three failures restart A; the lease then defers it for `reason` (50 ms later).
fn restart_deferred(reason: &str, rados_unreachable: bool) -> Sim {
    let mut sim = check(&[
        (0, Fail, Starting, "up", &[]),
        (1000, Fail, Starting, "up", &[]),
        (2000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
    ]);
    let deferred = Observation::RestartDeferred {
        daemon: A.into(),
        reason: reason.into(),
        rados_unreachable,
    };
    sim.machine.observe(deferred, sim.at(2050));
    sim
}

#[test]
fn a_lease_rados_cannot_give_makes_the_failure_the_clusters_until_it_fails_afresh() {
    let mut sim = restart_deferred(
        "the restart lease cannot be taken, so nothing is restarted: (110)",
        true,
    );
    let view = sim.machine.snapshot();
    let a = view.daemon(A).unwrap();
    assert_eq!(a.state, Degraded, "{}", a.reason);
    assert_eq!(
        a.word,
        Word::UpReady,
        "back in rotation: not the daemon's fault"
    );
    assert!(
        a.reason.starts_with("the cluster, not this daemon: "),
        "{}",
        a.reason
    );
    assert_eq!(a.restarts_in_window, 0, "not an attempt");
    // No retry on a timer: a tick a minute later restarts nothing ...
    assert!(sim.feed(A, 60_000, Tick).unwrap().is_empty());
    // ... only `fall` fresh failures do.
    check_daemon(
        &mut sim,
        A,
        &[
            (61_000, Fail, Suspect, "up ready", &[]),
            (62_000, Fail, Suspect, "up ready", &[]),
            (63_000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
        ],
    );
}

#[test]
fn a_restart_deferred_by_the_lease_is_retried_without_charging_the_budget() {
    let mut sim = restart_deferred("every restart slot of restart-lease.rgw.lab is held", false);
    let view = sim.machine.snapshot();
    assert_eq!(view.daemons[0].state, Failed);
    assert_eq!(view.daemons[0].restarts_in_window, 0, "not an attempt");
    assert!(
        view.daemons[0]
            .reason
            .starts_with("waiting to restart: every restart slot"),
        "{}",
        view.daemons[0].reason
    );
    check_daemon(
        &mut sim,
        A,
        &[
            (3049, Tick, Failed, DOWN_WAITING, &[]),
            // The retry is quiet: same state, same word, nothing written.
            (3050, Tick, Failed, DOWN_WAITING, &["restart"]),
        ],
    );
    // Deferred again: still one phase, no event, nothing written.
    let again = sim.machine.observe(
        Observation::RestartDeferred {
            daemon: A.into(),
            reason: "every restart slot of restart-lease.rgw.lab is held".into(),
            rados_unreachable: false,
        },
        sim.at(3100),
    );
    assert!(again.is_empty(), "{again:?}");
    check_daemon(
        &mut sim,
        A,
        &[
            (4100, Tick, Failed, DOWN_WAITING, &["restart"]),
            // The lease came through and the orchestrator accepted: now it is restarting.
            (
                4200,
                Answer(Ok("Scheduled to restart rgw.a on host 'h1'")),
                Restarting,
                DOWN_AWAITING,
                &["persist", "refresh"],
            ),
        ],
    );
    assert_eq!(sim.machine.snapshot().daemons[0].restarts_in_window, 1);
}

/// Maintenance ends the wait for the lease with everything else of the restart: an answer to
/// the retry that was out does not take the daemon out of maintenance.
#[test]
fn maintenance_drops_a_restart_the_lease_keeps_waiting() {
    let mut sim = restart_deferred("every restart slot of restart-lease.rgw.lab is held", false);
    check_daemon(
        &mut sim,
        A,
        &[
            (3050, Tick, Failed, DOWN_WAITING, &["restart"]),
            (
                3060,
                Cmd(Command::Maintenance(true)),
                Maintenance,
                "maint",
                &["persist"],
            ),
            (3100, Answer(Ok("Scheduled")), Maintenance, "maint", &[]),
            (200_000, Tick, Maintenance, "maint", &[]),
        ],
    );
}

#[test]
fn the_lease_is_given_back_when_the_restart_is_proven_or_fails() {
    let mut sim = check(&[
        (0, Fail, Starting, "up", &[]),
        (1000, Fail, Starting, "up", &[]),
        (2000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
        (3000, Pass, Recovering, "down #recovering 1/2", &[]),
    ]);
    let release = Action::ReleaseLease { daemon: A.into() };
    assert!(
        sim.feed(A, 4000, Pass).unwrap().contains(&release),
        "proven: given back"
    );
    check_daemon(
        &mut sim,
        A,
        &[
            (5000, Fail, Suspect, "up ready", &[]),
            (6000, Fail, Suspect, "up ready", &[]),
            (7000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
        ],
    );
    assert!(
        sim.feed(A, 127_000, Tick).unwrap().contains(&release),
        "failed: given back"
    );
}

#[test]
fn with_no_healthy_peer_one_that_still_answers_get_is_restarted_without_a_drain_and_drained_once_a_peer_is_back(
) {
    let sim = healthy_then(&[
        (2000, FailNoPeer(true), Suspect, "up ready", &[]),
        (3000, FailNoPeer(true), Suspect, "up ready", &[]),
        // Failed, but no drain to confirm: the restart goes out at once.
        (4000, FailNoPeer(true), Restarting, "up ready", ASK_RESTART),
        // A peer is healthy again while this one still fails after its restart: now it is
        // drained.
        (5000, Fail, Restarting, DOWN_RESTARTING, &[]),
    ]);
    let view = sim.machine.snapshot();
    let a = view.daemon(A).unwrap();
    assert!(
        a.reason.ends_with("a peer is healthy again: drained"),
        "{}",
        a.reason
    );
}

#[test]
fn a_failure_with_no_healthy_peer_says_so_in_its_reason() {
    let reasons = |answers: bool| {
        let mut sim = Sim::new(BTreeMap::new(), Some(Duration::from_secs(3600)));
        let mut events = Vec::new();
        for (ms, input) in [
            (0, Pass),
            (1000, Pass),
            (2000, FailNoPeer(answers)),
            (3000, FailNoPeer(answers)),
            (4000, FailNoPeer(answers)),
        ] {
            for action in sim.feed(A, ms, input).unwrap() {
                if let Action::Event(event) = action {
                    events.push(event);
                }
            }
        }
        let failed = events
            .into_iter()
            .find(|e| e.to == Failed)
            .expect("a failed event");
        (failed.reason, failed.word)
    };
    assert_eq!(
        reasons(true),
        (
            "timeout; not drained: no healthy peer (rgw.b: s3 timeout)".to_string(),
            "up ready".to_string()
        )
    );
    // One that answers nothing is taken out as usual: it serves nobody.
    assert_eq!(
        reasons(false),
        (
            "timeout; no healthy peer (rgw.b: s3 timeout)".to_string(),
            "down #timeout; no healthy peer (rgw.b: s3 timeout)".to_string()
        )
    );
}

/// The peers' answer changing back and forth rewrites what it adds to the reason; it never
/// piles up (the reason's base is kept apart, not read back out of the text).
#[test]
fn the_peers_changing_their_answer_rewrites_the_reason_without_piling_up() {
    let mut sim = check(&[]);
    for ms in [0, 1000, 2000] {
        sim.feed(A, ms, FailNoPeer(true)).unwrap();
    }
    let reason = |sim: &Sim| sim.machine.snapshot().daemon(A).unwrap().reason.clone();
    let base = "restart requested (attempt 1); asking the orchestrator";
    let lone = format!("{base}; not drained: no healthy peer (rgw.b: s3 timeout)");
    // Restarted for want of a healthy peer, and it says so (docs/design.md §4).
    assert_eq!(reason(&sim), lone);
    // A peer is healthy again (a plain failure), then none is, then one is, then none is.
    let again = format!("{base}; a peer is healthy again: drained");
    for (ms, input, expected) in [
        (3000, Fail, &again),
        (3100, FailNoPeer(true), &lone),
        (3200, Fail, &again),
        (3300, FailNoPeer(true), &lone),
    ] {
        sim.feed(A, ms, input).unwrap();
        assert_eq!(&reason(&sim), expected, "at {ms} ms");
    }
}

/// Every peer down (the original incident): after a healthy start, the restart of this one is
/// asked for as the canary, and cephadm schedules it.
const CANARY_ASKED: &[Row] = &[
    (2000, FailNoPeer(false), Suspect, "up ready", &[]),
    (3000, FailNoPeer(false), Suspect, "up ready", &[]),
    (
        4000,
        FailNoPeer(false),
        Failed,
        "down #timeout; no healthy peer (rgw.b: s3 timeout)",
        &[],
    ),
    (4500, Poll(1), Restarting, DOWN_RESTARTING, ASK_RESTART),
    (
        5000,
        Answer(Ok("Scheduled")),
        Restarting,
        DOWN_AWAITING,
        &["refresh"],
    ),
];

/// Every peer down (the original incident): the restart of this one is the canary, and it
/// does not help (the policy's restart timeout is 120 s). Returns the actions of the tick that
/// gave up on it.
fn canary_not_back() -> (Sim, Vec<Action>) {
    let mut sim = healthy_then(CANARY_ASKED);
    let actions = sim.feed(A, 124_600, Tick).unwrap();
    (sim, actions)
}

/// cephadm took the canary's restart but its serve loop runs it only after the restart
/// timeout (busy with a reconfig, say): the host shows the same process all along, so the
/// timeout is no failed attempt and no failed canary. Asked again (cephadm merges it with the
/// queued one), it is proven by the new process when it comes, with one restart counted.
#[test]
fn a_canary_restart_cephadm_runs_after_the_timeout_is_no_failure_and_holds_nothing() {
    const NOT_PERFORMED: &str = "down #waiting to restart: the orchestrator took the restart but has not performed it in 2m (the same process runs); asked again in 10s, no restart budget spent";
    let day = Duration::from_secs(86_400);
    let mut rows: Vec<Row> = vec![(1500, Process(day), Healthy, "up ready", &[])];
    rows.extend_from_slice(but_the_answer(CANARY_ASKED));
    rows.extend_from_slice(&[
        (
            5000,
            Answer(Ok("Scheduled")),
            Restarting,
            DOWN_QUEUED,
            &["refresh"],
        ),
        (
            60_000,
            Process(day + Duration::from_secs(60)),
            Restarting,
            DOWN_QUEUED,
            &[],
        ),
    ]);
    let mut sim = healthy_then(&rows);
    // At the restart timeout: not performed, counted as such (not as a failure).
    let timed_out = sim.feed(A, 124_600, Tick).unwrap();
    assert!(
        timed_out.contains(&Action::NotPerformed { daemon: A.into() }),
        "{timed_out:?}"
    );
    assert!(timed_out.contains(&Action::Persist), "{timed_out:?}");
    check_daemon(&mut sim, A, &[(134_599, Tick, Failed, NOT_PERFORMED, &[])]);
    // Asked again, past the backend that took it and did nothing (systemd after ceph-orch).
    let asked = sim.feed(A, 134_600, Tick).unwrap();
    assert!(
        asked.contains(&Action::Restart {
            daemon: A.into(),
            fall_back: true
        }),
        "{asked:?}"
    );
    check_daemon(
        &mut sim,
        A,
        &[(
            135_000,
            Answer(Ok("Scheduled")),
            Restarting,
            DOWN_QUEUED,
            &["persist", "refresh"],
        )],
    );
    let view = sim.machine.snapshot();
    assert_eq!(
        view.daemon(A).unwrap().restarts_in_window,
        1,
        "the one under way"
    );
    check_daemon(
        &mut sim,
        A,
        &[
            // 150 s after the first ask the serve loop runs it: a new process.
            (
                155_000,
                Process(Duration::from_millis(100)),
                Restarting,
                DOWN_NEW_PROCESS,
                &[],
            ),
            (155_500, Pass, Recovering, "down #recovering 1/2", &[]),
            (156_000, Pass, Healthy, "up ready", &["proven"]),
        ],
    );
    assert_eq!(
        sim.machine.snapshot().daemon(A).unwrap().restarts_in_window,
        1
    );
}

#[test]
fn a_canary_restart_that_does_not_help_holds_the_whole_service() {
    let (sim, actions) = canary_not_back();
    let view = sim.machine.snapshot();
    let a = view.daemon(A).unwrap();
    assert_eq!(a.state, Held, "{}", a.reason);
    assert!(
        a.reason
            .starts_with("the canary restart (every peer was down) did not bring it back"),
        "{}",
        a.reason
    );
    assert!(
        actions
            .iter()
            .any(|x| matches!(x, Action::HoldService { daemon, .. } if daemon == A)),
        "{actions:?}"
    );
    // Its restart lease is given back by the hold, after the hold is up: a lease released on
    // its own could go to a peer that has not seen the hold yet.
    assert!(
        !actions
            .iter()
            .any(|x| matches!(x, Action::ReleaseLease { .. })),
        "{actions:?}"
    );
}

#[test]
fn a_canarys_hold_lasts_until_the_operator_resets_it() {
    let (mut sim, _) = canary_not_back();
    // It stays held while its budget has room, unlike an ordinary hold ...
    let later = sim.feed(A, 400_000, Tick).unwrap();
    assert_eq!(
        sim.machine.snapshot().daemon(A).unwrap().state,
        Held,
        "{later:?}"
    );
    // ... until the operator resets it, which lifts the service's hold.
    let reset = sim
        .machine
        .command(A, Command::Reset, sim.at(401_000))
        .unwrap();
    assert!(
        reset
            .iter()
            .any(|x| matches!(x, Action::LiftServiceHold { daemon } if daemon == A)),
        "{reset:?}"
    );
    assert_ne!(sim.machine.snapshot().daemon(A).unwrap().state, Held);
}

#[test]
fn a_restart_with_a_healthy_peer_that_does_not_help_is_an_ordinary_attempt() {
    let mut sim = healthy_then(&[
        (2000, Fail, Suspect, "up ready", &[]),
        (3000, Fail, Suspect, "up ready", &[]),
        (4000, Fail, Failed, "down #timeout", &[]),
        (4500, Poll(1), Restarting, DOWN_RESTARTING, ASK_RESTART),
    ]);
    let actions = sim.feed(A, 124_600, Tick).unwrap();
    assert_eq!(sim.machine.snapshot().daemon(A).unwrap().state, Failed);
    assert!(!actions
        .iter()
        .any(|x| matches!(x, Action::HoldService { .. })));
}

#[test]
fn a_restart_is_proven_only_once_the_inventory_shows_the_new_process() {
    let proving = Policy {
        prove_by_start_time: true,
        ..policy()
    };
    let mut sim = Sim::with(proving, BTreeMap::new(), Some(Duration::from_secs(3600)));
    let ms = Duration::from_millis;
    check_daemon(&mut sim, A, RESTART_ASKED_ALONE);
    check_daemon(
        &mut sim,
        A,
        &[
            // The old process, thawed on its way out, still answers: two passes prove
            // nothing yet, and a fresh inventory is asked for.
            (5600, Pass, Recovering, "down #recovering 1/2", &[]),
            // Enough passes, not yet from the new process: the word says what it waits for.
            (6100, Pass, Recovering, RECOVERING_UNPROVEN, &["refresh"]),
        ],
    );
    let reason = reason(&sim, A);
    assert!(reason.contains("waiting for the orchestrator"), "{reason}");
    check_daemon(
        &mut sim,
        A,
        &[
            // An inventory that still shows the old start time proves nothing either ...
            (
                6200,
                StartedAgo(ms(3_606_000)),
                Recovering,
                RECOVERING_UNPROVEN,
                &[],
            ),
            // ... one that shows a process started after the request does.
            (6500, StartedAgo(ms(500)), Healthy, "up ready", &["proven"]),
        ],
    );
}

/// Healthy, then failing, with no HAProxy polling it: the restart goes out at once (nothing to
/// wait for) and cephadm schedules it.
const RESTART_ASKED_ALONE: &[Row] = &[
    (1000, Pass, Starting, "up", &[]),
    (2000, Pass, Healthy, "up ready", &[]),
    (3000, Fail, Suspect, "up ready", &[]),
    (4000, Fail, Suspect, "up ready", &[]),
    (5000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
    (
        5100,
        Answer(Ok("Scheduled")),
        Restarting,
        DOWN_AWAITING,
        &["refresh"],
    ),
];

const RECOVERING_UNPROVEN: &str = "down #recovering: waiting to see the new process";
/// The host shows the process from before the restart, still running.
const DOWN_QUEUED: &str = "down #restarting: waiting for the orchestrator to restart it";
/// The host shows a process started after the restart was asked for.
const DOWN_NEW_PROCESS: &str = "down #restarting: waiting for the new process to answer";

/// Every row but the last (the orchestrator's answer, whose word depends on what the host
/// shows).
fn but_the_answer(rows: &[Row]) -> &[Row] {
    &rows[..rows.len() - 1]
}

/// On the daemon's host the new process shows at once (its admin socket is new): no wait for
/// the orchestrator's cache, which here never shows it (cephadm re-lists a host only on its
/// serve loop's next pass), and no more fresh inventories asked for once the host can tell.
#[test]
fn a_restart_is_proven_by_the_new_process_on_the_host_whatever_the_inventory_says() {
    let proving = Policy {
        prove_by_start_time: true,
        ..policy()
    };
    let ms = Duration::from_millis;
    let mut sim = Sim::with(proving, BTreeMap::new(), Some(ms(3_600_000)));
    check_daemon(
        &mut sim,
        A,
        &[(0, Process(ms(3_600_000)), Starting, "up", &[])],
    );
    check_daemon(&mut sim, A, but_the_answer(RESTART_ASKED_ALONE));
    check_daemon(
        &mut sim,
        A,
        &[
            (
                5100,
                Answer(Ok("Scheduled")),
                Restarting,
                DOWN_QUEUED,
                &["refresh"],
            ),
            // The old process (its socket an hour old), thawed on its way out, answers: the
            // passes prove nothing, and the inventory cannot overrule the host: none asked for.
            (5500, Process(ms(3_605_500)), Restarting, DOWN_QUEUED, &[]),
            (5600, Pass, Recovering, "down #recovering 1/2", &[]),
            (6100, Pass, Recovering, RECOVERING_UNPROVEN, &[]),
            (6600, Pass, Recovering, RECOVERING_UNPROVEN, &[]),
        ],
    );
    let reason = reason(&sim, A);
    assert!(
        reason.contains("from a process that started before the restart"),
        "{reason}"
    );
    check_daemon(
        &mut sim,
        A,
        &[
            // The new process binds its socket: the count starts again from it ...
            (7000, Process(ms(200)), Restarting, DOWN_NEW_PROCESS, &[]),
            // ... and its own passes prove it, while the inventory still lists the old one.
            (7100, Pass, Recovering, "down #recovering 1/2", &[]),
            (
                7200,
                StartedAgo(ms(3_607_200)),
                Recovering,
                "down #recovering 1/2",
                &[],
            ),
            (7600, Pass, Healthy, "up ready", &["proven"]),
        ],
    );
}

/// Three failures, then the restart: the start of the budget scenarios below.
const RESTARTED: &[Row] = &[
    (0, Fail, Starting, "up", &[]),
    (1000, Fail, Starting, "up", &[]),
    (2000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
];

fn restarted_then(rows: &[Row]) -> Sim {
    let all: Vec<Row> = RESTARTED
        .iter()
        .cloned()
        .chain(rows.iter().cloned())
        .collect();
    check(&all)
}

/// A machine with no daemon yet, for scenarios that bring their own inventory.
fn empty() -> Sim {
    let mut sim = Sim::new(BTreeMap::new(), None);
    sim.feed(A, 0, Inventory(&[])).unwrap();
    sim.feed(A, 0, Inventory(&[])).unwrap();
    assert!(sim.machine.snapshot().daemons.is_empty());
    sim
}

fn reason(sim: &Sim, name: &str) -> String {
    sim.machine
        .snapshot()
        .daemon(name)
        .map(|d| d.reason.clone())
        .unwrap_or_default()
}

/// Three RGWs of one service on this host, all hanging, no lease: one restart at a time, the
/// first one the canary; each of the others goes once the one before is proven back.
#[test]
fn one_service_restarts_one_daemon_at_a_time_without_a_lease() {
    let mut sim = empty();
    const ALL: &[&str] = &["rgw.a", "rgw.b", "rgw.c"];
    sim.feed(A, 0, Inventory(ALL)).unwrap();
    let mut restarts = Vec::new();
    for ms in [0, 1000, 2000] {
        for name in ALL {
            let actions = sim.feed(name, ms, Fail).unwrap();
            if actions.contains(&Action::Restart {
                daemon: (*name).into(),
                fall_back: false,
            }) {
                restarts.push(*name);
            }
        }
    }
    assert_eq!(restarts, ["rgw.a"], "one at a time");
    for name in ["rgw.b", "rgw.c"] {
        let view = sim.machine.snapshot();
        let d = view.daemon(name).unwrap();
        assert_eq!(d.state, Failed);
        assert_eq!(
            d.reason, "waiting to restart: rgw.a of the same service restarting (one at a time)",
            "{name}"
        );
    }
    // Nothing to do on a timer while rgw.a restarts: the others wait for it, not for a clock.
    assert_eq!(
        sim.machine.next_deadline(),
        Some(sim.at(2000) + Duration::from_secs(120)),
        "only rgw.a's restart deadline"
    );
    // rgw.a is back: rgw.b goes (the lowest name first), rgw.c still waits.
    sim.feed("rgw.a", 3000, Pass).unwrap();
    let actions = sim.feed("rgw.a", 4000, Pass).unwrap();
    assert!(
        actions.contains(&Action::Restart {
            daemon: "rgw.b".into(),
            fall_back: false,
        }),
        "{actions:?}"
    );
    assert!(!actions.contains(&Action::Restart {
        daemon: "rgw.c".into(),
        fall_back: false,
    }));
    assert_eq!(
        reason(&sim, "rgw.c"),
        "waiting to restart: rgw.b of the same service restarting (one at a time)"
    );
}

/// The first restart while no sibling serves is the canary: when it does not help, every
/// restart of the service holds on this host too (the lease only extends that across hosts).
#[test]
fn a_canary_that_does_not_come_back_holds_the_service_without_a_lease() {
    let mut sim = empty();
    sim.feed(A, 0, Inventory(&["rgw.a", "rgw.b"])).unwrap();
    for ms in [0, 1000, 2000] {
        sim.feed("rgw.a", ms, Fail).unwrap();
        sim.feed("rgw.b", ms, Fail).unwrap();
    }
    // rgw.a's restart (the canary) is not back within restart-timeout.
    let actions = sim.feed(A, 122_000, Tick).unwrap();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::HoldService { daemon, .. } if daemon == A)),
        "{actions:?}"
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Restart { .. })));
    assert_eq!(
        reason(&sim, "rgw.b"),
        "waiting to restart: the canary restart of rgw.a did not bring it back; every restart of the service holds until `ceph-warden reset rgw.a`"
    );
    assert!(sim.feed(A, 600_000, Tick).unwrap().is_empty(), "still held");
    // The operator resets the canary: the next restart goes at once.
    let actions = sim.feed(A, 601_000, Cmd(Command::Reset)).unwrap();
    assert!(actions.contains(&Action::LiftServiceHold { daemon: A.into() }));
    assert!(
        actions.iter().any(|a| matches!(a, Action::Restart { .. })),
        "{actions:?}"
    );
}

/// A daemon only the state file's inventory lists is watched and served, never restarted,
/// until a fresh inventory lists it.
#[test]
fn a_daemon_only_the_state_file_lists_is_not_restarted() {
    let mut sim = empty();
    sim.feed("rgw.x", 0, Saved(&["rgw.x"])).unwrap();
    for ms in [0, 1000, 2000, 60_000] {
        let actions = sim.feed("rgw.x", ms, Fail).unwrap();
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Restart { .. })),
            "{actions:?}"
        );
    }
    let view = sim.machine.snapshot();
    let x = view.daemon("rgw.x").unwrap();
    assert_eq!(x.state, Failed);
    assert!(
        x.reason
            .starts_with("waiting to restart: only the state file's inventory lists it"),
        "{}",
        x.reason
    );
    assert_eq!(sim.machine.next_deadline(), None, "no timer spins on it");
    // `ceph orch ps` answers and lists it: now it is restarted.
    let actions = sim.feed("rgw.x", 61_000, Inventory(&["rgw.x"])).unwrap();
    assert!(
        actions.contains(&Action::Restart {
            daemon: "rgw.x".into(),
            fall_back: false,
        }),
        "{actions:?}"
    );
}

/// `held` counts the restarts that did not help, not the ones that did.
#[test]
fn held_says_how_many_restarts_failed_not_how_many_were_made() {
    let mut sim = restarted_then(&[
        (3000, Pass, Recovering, "down #recovering 1/2", &[]),
        (4000, Pass, Healthy, "up ready", &["proven"]),
        // Healthy for a while, then it fails again: the second restart does not help.
        (28_000, Fail, Suspect, "up ready", &[]),
        (29_000, Fail, Suspect, "up ready", &[]),
        (32_000, Fail, Restarting, DOWN_RESTARTING, ASK_RESTART),
    ]);
    sim.feed(A, 152_000, Tick).unwrap();
    sim.feed(A, 152_001, Tick).unwrap();
    // The third (and last in the budget) attempt goes after the backoff, and fails too.
    sim.feed(A, 163_000, Tick).unwrap();
    assert_eq!(sim.machine.snapshot().daemons[0].state, Restarting);
    sim.feed(A, 284_000, Tick).unwrap();
    let view = sim.machine.snapshot();
    assert_eq!(view.daemons[0].state, Held);
    assert_eq!(
        view.daemons[0].reason,
        "restart budget spent: 3 restarts in 30m (max-restarts); the last 2 did not bring it back"
    );
}

/// A reload that shortens restart-timeout changes the next attempts, not the one under way,
/// and the reason says how long that one really waited.
#[test]
fn a_new_restart_timeout_applies_to_new_attempts_only() {
    let mut sim = restarted_then(&[]);
    let mut policies = BTreeMap::new();
    let short = Policy {
        restart_timeout: Duration::from_secs(5),
        ..policy()
    };
    policies.insert("rgw".to_string(), short.clone());
    sim.machine.set_policies(policies, short);
    assert!(
        sim.feed(A, 10_000, Tick).unwrap().is_empty(),
        "the attempt keeps its 2m"
    );
    sim.feed(A, 122_000, Tick).unwrap();
    assert_eq!(reason(&sim, A), "not back within 2m of the restart");
}

/// The operator took rgw.a into maintenance while its restart waited for the lease: it is no
/// longer restarting, so its sibling's restart does not wait for it.
#[test]
fn a_restart_given_up_for_maintenance_does_not_hold_back_the_siblings() {
    let mut sim = empty();
    sim.feed(A, 0, Inventory(&["rgw.a", "rgw.b"])).unwrap();
    for ms in [0, 1000, 2000] {
        sim.feed("rgw.b", ms, Pass).unwrap();
        sim.feed(A, ms, Fail).unwrap();
    }
    let deferred = Observation::RestartDeferred {
        daemon: A.into(),
        reason: "every restart slot of restart-lease.rgw.lab is held".into(),
        rados_unreachable: false,
    };
    sim.machine.observe(deferred, sim.at(2050));
    sim.feed(A, 2100, Cmd(Command::Maintenance(true))).unwrap();
    let mut actions = Vec::new();
    for ms in [3000, 4000, 5000] {
        actions = sim.feed("rgw.b", ms, Fail).unwrap();
    }
    let restart = Action::Restart {
        daemon: "rgw.b".into(),
        fall_back: false,
    };
    assert!(
        actions.contains(&restart),
        "{actions:?}; {}",
        reason(&sim, "rgw.b")
    );
}

/// An operator's drain keeps the reason as it is: the peers' note stays a note, and the next
/// change of their answer replaces it rather than adding to it.
#[test]
fn a_drain_command_keeps_the_peers_note_apart() {
    let mut sim = check(&[]);
    for ms in [0, 1000, 2000, 3000] {
        sim.feed(A, ms, FailNoPeer(true)).unwrap();
    }
    let lone = "restart requested (attempt 1); asking the orchestrator; not drained: no healthy peer (rgw.b: s3 timeout)";
    sim.feed(A, 3050, Cmd(Command::Drain)).unwrap();
    assert_eq!(reason(&sim, A), lone);
    sim.feed(A, 3100, Fail).unwrap();
    sim.feed(A, 3150, Cmd(Command::Drain)).unwrap();
    sim.feed(A, 3200, FailNoPeer(true)).unwrap();
    assert_eq!(reason(&sim, A), lone);
}

/// `kill-hung`: a hung RGW (its admin socket silent too) whose restart cephadm took is killed
/// at once, once, and only while the host shows the old process: podman's stop would wait
/// 10 s for a SIGTERM it never acts on. Before the orchestrator takes the restart, or once
/// the host shows a new process, nothing is killed; a daemon that only times out (its socket
/// answers) is left to the orchestrator's stop.
#[test]
fn a_hung_process_whose_restart_was_taken_is_killed_once_while_it_is_still_the_old_one() {
    let killing = Policy {
        kill_hung: true,
        ..policy()
    };
    let ms = Duration::from_millis;
    let hour = ms(3_600_000);
    let mut sim = Sim::with(killing.clone(), BTreeMap::new(), Some(hour));
    check_daemon(
        &mut sim,
        A,
        &[
            (0, Process(hour), Starting, "up", &[]),
            (1000, Pass, Starting, "up", &[]),
            (2000, Pass, Healthy, "up ready", &[]),
            (3000, Hung, Suspect, "up ready", &[]),
            (4000, Hung, Suspect, "up ready", &[]),
            // Failed and drained (no HAProxy polls): the restart is asked for; nothing is
            // killed before the orchestrator takes it.
            (5000, Hung, Restarting, DOWN_RESTARTING, ASK_RESTART),
            (
                5100,
                Answer(Ok("Scheduled")),
                Restarting,
                DOWN_QUEUED,
                &["refresh", "kill"],
            ),
            // Once: a second proof of the old process asks for nothing more.
            (5500, Process(ms(3_605_500)), Restarting, DOWN_QUEUED, &[]),
            (6000, Hung, Restarting, DOWN_QUEUED, &[]),
        ],
    );
    // The kill is an event, and the reason and the word say what the restart waits for now.
    let said = sim
        .feed(
            A,
            6100,
            Killed(Ok("systemctl kill --signal=SIGKILL ceph-f@rgw.a.service")),
        )
        .unwrap();
    let event = said.iter().find_map(|a| match a {
        Action::Event(e) => Some(e.reason.as_str()),
        _ => None,
    });
    let killed = "restart requested (attempt 1); killed the hung process (its admin socket did not answer either): systemctl kill --signal=SIGKILL ceph-f@rgw.a.service; waiting for the orchestrator to start a new one";
    assert_eq!(event, Some(killed));
    assert_eq!(reason(&sim, A), killed);
    check_daemon(
        &mut sim,
        A,
        &[
            (6200, Refused, Restarting, "down #restarting: hung process killed, waiting for the orchestrator to start a new one", &[]),
            (8000, Process(ms(100)), Restarting, DOWN_NEW_PROCESS, &[]),
            (8100, Pass, Recovering, "down #recovering 1/2", &[]),
            (8600, Pass, Healthy, "up ready", &["proven"]),
        ],
    );

    // The kill failed: said, and the orchestrator's stop does it later.
    let mut sim = Sim::with(killing.clone(), BTreeMap::new(), Some(hour));
    let mut rows: Vec<Row> = vec![(0, Process(hour), Starting, "up", &[])];
    rows.extend_from_slice(&[
        (1000, Pass, Starting, "up", &[]),
        (2000, Pass, Healthy, "up ready", &[]),
        (3000, Hung, Suspect, "up ready", &[]),
        (4000, Hung, Suspect, "up ready", &[]),
        (5000, Hung, Restarting, DOWN_RESTARTING, ASK_RESTART),
        (
            5100,
            Answer(Ok("Scheduled")),
            Restarting,
            DOWN_QUEUED,
            &["refresh", "kill"],
        ),
        (
            5200,
            Killed(Err("Access denied")),
            Restarting,
            DOWN_QUEUED,
            &[],
        ),
    ]);
    check_daemon(&mut sim, A, &rows);
    assert_eq!(
        reason(&sim, A),
        "restart requested (attempt 1); the orchestrator took it; killing the hung process failed (Access denied); waiting for the orchestrator to restart the daemon"
    );

    // Its admin socket answers (a frontend stuck, the process not): not killed.
    let mut sim = Sim::with(killing.clone(), BTreeMap::new(), Some(hour));
    check_daemon(&mut sim, A, &[(0, Process(hour), Starting, "up", &[])]);
    check_daemon(&mut sim, A, but_the_answer(RESTART_ASKED_ALONE));
    check_daemon(
        &mut sim,
        A,
        &[
            (
                5100,
                Answer(Ok("Scheduled")),
                Restarting,
                DOWN_QUEUED,
                &["refresh"],
            ),
            (6000, Fail, Restarting, DOWN_QUEUED, &[]),
        ],
    );

    // kill-hung off: never killed.
    let mut sim = Sim::with(policy(), BTreeMap::new(), Some(hour));
    check_daemon(
        &mut sim,
        A,
        &[
            (0, Process(hour), Starting, "up", &[]),
            (1000, Pass, Starting, "up", &[]),
            (2000, Pass, Healthy, "up ready", &[]),
            (3000, Hung, Suspect, "up ready", &[]),
            (4000, Hung, Suspect, "up ready", &[]),
            (5000, Hung, Restarting, DOWN_RESTARTING, ASK_RESTART),
            (
                5100,
                Answer(Ok("Scheduled")),
                Restarting,
                DOWN_QUEUED,
                &["refresh"],
            ),
        ],
    );

    // The host shows a new process already when the answer comes: never killed.
    let mut sim = Sim::with(killing, BTreeMap::new(), Some(hour));
    check_daemon(
        &mut sim,
        A,
        &[
            (0, Process(hour), Starting, "up", &[]),
            (1000, Pass, Starting, "up", &[]),
            (2000, Pass, Healthy, "up ready", &[]),
            (3000, Hung, Suspect, "up ready", &[]),
            (4000, Hung, Suspect, "up ready", &[]),
            (5000, Hung, Restarting, DOWN_RESTARTING, ASK_RESTART),
            (5050, Process(ms(10)), Restarting, DOWN_NEW_PROCESS, &[]),
            (
                5100,
                Answer(Ok("Scheduled")),
                Restarting,
                DOWN_NEW_PROCESS,
                &["refresh"],
            ),
        ],
    );
}

/// Issue 14: the deadlines the prober uses come from the answer times the probes report, per
/// service: the ceiling until enough are known, then 5x the service's typical 95th percentile
/// (at least the floor); one RGW's timeouts do not lengthen its service's, and a daemon
/// another service's answers never set.
#[test]
fn probe_deadlines_are_learned_per_service_from_the_answer_times() {
    let mut sim = Sim::new(BTreeMap::new(), None);
    let names = ["rgw.a", "rgw.b", "rgw.c", "node-exporter.h"];
    let found = names.iter().map(|n| listed(n, None, false)).collect();
    sim.machine.observe(Observation::Inventory(found), sim.t0);
    sim.machine.set_deadline_bounds(Bounds {
        floor: Duration::from_millis(100),
        ceiling: Duration::from_secs(2),
        s3_ceiling: Duration::from_secs(2),
    });
    let answer = |daemon: &str, took_ms: u64, result: Result<Verdict, ProbeError>| {
        let answered = result.is_ok();
        Observation::Probe {
            daemon: daemon.into(),
            result,
            sent: sim.t0,
            step: verdict::Step::Http,
            config_problem: None,
            no_healthy_peer: None,
            hang: None,
            times: vec![
                deadline::Timed {
                    step: verdict::Step::Http,
                    took: Duration::from_millis(took_ms),
                    answered,
                },
                deadline::Timed {
                    step: verdict::Step::Asok,
                    took: Duration::from_millis(1),
                    answered: true,
                },
            ],
            rados_replies: None,
        }
    };
    let deadlines = |sim: &Sim, name: &str| sim.machine.snapshot().daemon(name).unwrap().deadlines;
    assert_eq!(deadlines(&sim, "rgw.a").http, Duration::from_secs(2));
    for i in 0..10u64 {
        let now = sim.at(1000 + i * 250);
        for (rgw, took) in [("rgw.a", 40), ("rgw.b", 60), ("rgw.c", 50)] {
            sim.machine.observe(answer(rgw, took, Ok(Verdict::Ok)), now);
        }
    }
    let learned = deadlines(&sim, "rgw.c");
    assert_eq!(
        learned.http,
        Duration::from_millis(250),
        "5 x 50 ms, rgw.b's 60 and rgw.a's 40 aside"
    );
    assert_eq!(
        learned.asok,
        Duration::from_millis(100),
        "5 x 1 ms is under the floor"
    );
    assert_eq!(
        learned.s3,
        Duration::from_secs(2),
        "no S3 answer known: the ceiling"
    );
    assert_eq!(
        deadlines(&sim, "node-exporter.h").http,
        Duration::from_secs(2)
    );
    // rgw.b freezes: its probes run out their deadline, every one.
    for i in 0..70u64 {
        let now = sim.at(4000 + i * 250);
        sim.machine
            .observe(answer("rgw.b", 250, Err(ProbeError::Timeout)), now);
    }
    assert_eq!(deadlines(&sim, "rgw.b").http, Duration::from_millis(250));
    // rgw.c leaves the inventory: the service's deadline goes by rgw.a and rgw.b.
    let found: Vec<Discovered> = ["rgw.a", "rgw.b", "node-exporter.h"]
        .iter()
        .map(|n| listed(n, None, false))
        .collect();
    for ms in [30_000, 31_000] {
        sim.machine
            .observe(Observation::Inventory(found.clone()), sim.at(ms));
    }
    assert!(sim.machine.snapshot().daemon("rgw.c").is_none());
    assert_eq!(deadlines(&sim, "rgw.a").http, Duration::from_millis(200));
}

/// `[run] max-load-drain-percent` (Envoy's `max_ejection_percent`): how many of a service's
/// daemons may be drained for shedding load at once; 0 drains none, 100 lets two of three go
/// while one serves (it still needs two serving peers for each).
#[test]
fn the_load_drain_share_caps_how_many_busy_daemons_are_drained() {
    let words = |percent: u8| {
        let mut sim = Sim::new(BTreeMap::new(), None);
        sim.machine.set_load_drain_percent(percent);
        let names = ["rgw.a", "rgw.b", "rgw.c", "rgw.d"];
        let found = names.iter().map(|n| listed(n, None, false)).collect();
        sim.machine.observe(Observation::Inventory(found), sim.t0);
        for ms in [0, 1000] {
            for name in names {
                sim.feed(name, ms, In::Pass).unwrap();
            }
        }
        sim.feed("rgw.a", 2000, In::SlowDown).unwrap();
        sim.feed("rgw.b", 2100, In::SlowDown).unwrap();
        (sim.word("rgw.a"), sim.word("rgw.b"))
    };
    assert_eq!(words(0), ("up ready".into(), "up ready".into()));
    assert_eq!(words(33), ("drain".into(), "up ready".into()));
    assert_eq!(words(50), ("drain".into(), "drain".into()));
}
