//! docs/design.md §4, the state machine of one daemon: the agent words, fall/rise, degraded or
//! failed, drain confirmation, the planned restart, verification and grace, the budget.

use super::*;
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
        rule: "§4 restarting: says `down #restarting: asking the orchestrator`",
        setup: ONE,
        script: &[HEALTHY, FALLS, HEARD],
        then: then(A, Restarting, "down #restarting: asking the orchestrator").last(RESTART_A),
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
        then: then(
            A,
            Failed,
            "down #timeout: process hung (its admin socket is silent too)",
        ),
    },
    // Issue 14's hang classes: beast's accept loop dead (tracker 67338) leaves the process and
    // its admin socket alive, the port open, and no HTTP answer.
    Rule {
        rule: "§4 hang classes: GET hangs while the admin socket answers with no old op: the \
               frontend hangs; failed (to be restarted), the class named",
        setup: ONE,
        script: &[
            HEALTHY,
            &[(2000, A, EverySecond(3, FRONTEND_HUNG.peers(Peers::Healthy)))],
        ],
        then: then(
            A,
            Failed,
            "down #timeout: frontend hung (the process answers its admin socket: accept loop dead?)",
        ),
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator").restarts(&[A]),
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator").restarts(&[A]),
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator").last(RESTART_A),
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator").last(RESTART_A),
    },
    // tests::a_daemon_without_a_load_balancer_restarts_without_waiting_for_haproxy
    Rule {
        rule: "§4 types without a load balancer skip the drain: fail -> restart at once",
        setup: Setup {
            daemons: &[X],
            ..ONE
        },
        script: &[&[(0, X, Poll(1)), (100, X, EverySecond(3, TIMEOUT))]],
        then: then(X, Restarting, "down #restarting: asking the orchestrator").restarts(&[X]),
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
        then: then(
            A,
            Restarting,
            "down #restarting: waiting for the daemon to answer",
        )
        .last(&["rgw.a -> restarting", "refresh"]),
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator"),
    },
    Rule {
        rule: "§4 verification: a failure while recovering goes back to restarting",
        setup: ONE,
        script: &[HUNG, &[(3000, A, Probe(PASS)), (4000, A, Probe(TIMEOUT))]],
        then: then(A, Restarting, "down #restarting: asking the orchestrator")
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator").restarts(&[A]),
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator").restarts(&[A]),
    },
    // tests::a_restart_that_does_not_help_backs_off_then_holds (its first rows)
    Rule {
        rule: "§4 startup grace: none for a daemon up long before the sidecar: failed after \
               `fall` probes",
        setup: ONE,
        script: &[HUNG],
        then: then(A, Restarting, "down #restarting: asking the orchestrator").restarts(&[A]),
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator").last(RESTART_A),
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator").last(&[
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator")
            .restarts(&[A, A, A, A]),
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
