//! docs/design.md §8, cluster-wide safety (and §4's "never the last one"): the last daemon,
//! the restart lease as the core sees it, the canary and the restart slots, probe pacing.

use super::*;
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator")
            .reason("a peer is healthy again: drained"),
    },
    // The canary that answers nothing is taken out before its restart: its own requests are
    // killed by `shutdown-sessions` and replayed on the others, and none waits on a process
    // about to be killed.
    Rule {
        rule: "§8 clients during the gap: with no healthy peer, the canary that answers \
               nothing is drained (`down`), and its restart waits for HAProxy to hear it",
        setup: ONE,
        script: &[HEALTHY, &[(2000, A, EverySecond(3, ALL_FROZEN))]],
        then: then(A, Failed, "down #timeout; no healthy peer (rgw.b: timeout)").restarts(&[]),
    },
    // issue 13: with every RGW out of rotation HAProxy answers 503 at once; with the waiting
    // ones in rotation it holds each request on them until the canary is back, and
    // `shutdown-sessions` + `retry-on` move them there when they go `down`.
    Rule {
        rule: "§8 clients during the gap: all failed at once: the first to fail is the canary; \
               the others wait for it in rotation (`up ready`), never `down`",
        setup: THREE,
        script: &[ALL_FROZEN_3],
        then: then(B, Failed, "up ready")
            .reason("kept in rotation")
            .never_out()
            .restarts(&[A]),
    },
    Rule {
        rule: "§8 clients during the gap: failed in one probe round, they wait for the first \
               to fail while HAProxy has yet to hear it is out",
        setup: THREE,
        script: &[
            &[(0, A, Poll(1)), (0, B, Poll(1)), (0, C, Poll(1))],
            ALL_FROZEN_3,
        ],
        then: then(C, Failed, "up ready")
            .reason("waiting to restart: rgw.a of the same service restarts first (the canary")
            .never_out()
            .restarts(&[]),
    },
    Rule {
        rule: "§8 clients during the gap: /status says why a failed daemon is in rotation",
        setup: THREE,
        script: &[ALL_FROZEN_3],
        then: then(C, Failed, "up ready").reason(
            "kept in rotation: no healthy peer (rgw.b: timeout); HAProxy holds its requests \
             until a peer is back",
        ),
    },
    Rule {
        rule: "§8 clients during the gap: the canary is drained and restarted",
        setup: THREE,
        script: &[ALL_FROZEN_3],
        then: then(A, Restarting, "down #restarting: asking the orchestrator").restarts(&[A]),
    },
    Rule {
        rule: "§8 clients during the gap: once the canary is back, the second failure in a row \
               of one kept in rotation that finds a healthy peer takes it out, then it restarts",
        setup: THREE,
        script: &[
            ALL_FROZEN_3,
            CANARY_BACK,
            &[
                (4500, B, Probe(TIMEOUT)),
                (6000, B, Probe(TIMEOUT)),
                (6100, B, Poll(1)),
                (6200, B, Tick),
            ],
        ],
        then: then(B, Restarting, "down #restarting: asking the orchestrator").restarts(&[A, B]),
    },
    Rule {
        rule: "§8 clients during the gap: the canary back, one kept in rotation stays until its \
               own probes find a healthy peer twice (HAProxy puts the canary back ~2 s after it \
               listens)",
        setup: THREE,
        script: &[
            ALL_FROZEN_3,
            &[(2500, B, Poll(1)), (2500, C, Poll(1))],
            CANARY_BACK,
            &[(4500, B, Probe(TIMEOUT))],
        ],
        then: then(B, Failed, "up ready")
            .reason("kept in rotation")
            .never_out()
            .restarts(&[A]),
    },
    Rule {
        rule: "§8 clients during the gap: a lease held on another host's account keeps the \
               canary in rotation while it waits",
        setup: ONE,
        script: &[
            HEALTHY,
            &[
                (2000, A, EverySecond(3, ALL_FROZEN)),
                (4500, A, Poll(1)),
                (4550, A, LeaseHeld),
            ],
        ],
        then: then(A, Failed, "up ready").reason("kept in rotation"),
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
        then: then(
            A,
            Restarting,
            "down #restarting: waiting for the daemon to answer",
        )
        .last(&["rgw.a -> restarting", "persist", "refresh"]),
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
        then: then(B, Restarting, "down #restarting: asking the orchestrator").last(&[
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
        then: then(A, Restarting, "down #restarting: asking the orchestrator").last(&[
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
        then: then(C, Restarting, "down #restarting: asking the orchestrator").restarts(&[B, C]),
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
        then: then(B, Restarting, "down #restarting: asking the orchestrator")
            .restarts(&[B, B, A, B]),
    }]);
}

/// §8 "a probe that gives up on a stalled RGW adds to its queue: back off probing a `degraded`
/// daemon": the core sets the pace, the shell's probe loop follows it.
#[test]
fn a_degraded_daemon_is_probed_one_tick_in_ten_and_every_other_state_every_tick() {
    for state in State::ALL {
        let want = if state == Degraded { 10 } else { 1 };
        assert_eq!(state.probe_one_tick_in(), want, "{state}");
    }
}

/// rgw.a, rgw.b and rgw.c healthy (two passes each).
const ALL_HEALTHY_3: &[At] = &[
    (0, A, Probe(PASS)),
    (0, B, Probe(PASS)),
    (0, C, Probe(PASS)),
    (1000, A, Probe(PASS)),
    (1000, B, Probe(PASS)),
    (1000, C, Probe(PASS)),
];

/// §4 busy (issue 13): a throttled RGW answers 503 SlowDown at once, so leastconn keeps giving
/// it a full share whatever its weight (measured: weight 10 %, 1 % and maxconn 1 each left
/// ~500 of 1,500 requests failing; a drain, 0). It is drained while the service can take its
/// share, never so far that the others cascade.
const BUSY: &[Rule] = &[
    Rule {
        rule: "§4 busy: drained while two peers of its service serve at full weight",
        setup: THREE,
        script: &[ALL_HEALTHY_3, &[(2000, A, Probe(SLOWDOWN))]],
        then: then(A, Busy, "drain")
            .reason("drained while its peers take its share")
            .restarts(&[]),
    },
    Rule {
        rule: "§4 busy: with one peer, never drained (it would carry everything)",
        setup: TWO,
        script: &[
            &[(0, A, Probe(PASS)), (0, B, Probe(PASS))],
            &[(1000, A, Probe(PASS)), (1000, B, Probe(PASS))],
            &[(2000, A, Probe(SLOWDOWN))],
        ],
        then: then(A, Busy, "up ready").never_out(),
    },
    Rule {
        rule: "§4 busy: at most a third of the service drained for load: a second busy one stays",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[(2000, B, Probe(SLOWDOWN)), (2100, A, Probe(SLOWDOWN))],
        ],
        then: then(A, Busy, "up ready").never_out(),
    },
    Rule {
        rule: "§4 busy: back in rotation at once when a peer stops serving",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[(2000, A, Probe(SLOWDOWN)), (3000, C, Probe(TIMEOUT))],
        ],
        then: then(A, Busy, "up ready").reason("its peers can no longer take its share"),
    },
    Rule {
        rule: "§4 busy: drained, its probes pass: still drained until 30 s after its last busy \
               answer",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[
                (2000, A, Probe(SLOWDOWN)),
                (2500, A, Probe(PASS)),
                (31_000, A, Probe(PASS)),
            ],
        ],
        then: then(A, Busy, "drain").reason("drained after shedding load"),
    },
    Rule {
        rule: "§4 busy: back in rotation once 30 s passed without a busy answer",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[
                (2000, A, Probe(SLOWDOWN)),
                (2500, A, Probe(PASS)),
                (32_500, A, Probe(PASS)),
            ],
        ],
        then: then(A, Healthy, "up ready"),
    },
];

#[test]
fn a_busy_daemon_is_drained_only_while_the_service_can_take_its_share() {
    check(BUSY);
}

/// A timeout beside a healthy peer whose admin socket answered (no old RADOS op).
const TIMEOUT_BESIDE_PEER: Facts = FRONTEND_HUNG.peers(Peers::Healthy);

/// §3 the RADOS stall's aftermath (issue 13): after an OSD stall every RGW works off the
/// requests it held; none of them is failed for a slow answer or drained for load meanwhile.
const STALL_AFTERMATH: &[Rule] = &[
    Rule {
        rule: "§3 after a RADOS stall: a timeout beside a healthy peer, its admin socket \
               answering, is the stall's backlog (degraded, in rotation)",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[
                (2000, A, Probe(RADOS_STALL)),
                (3000, A, EverySecond(3, TIMEOUT_BESIDE_PEER)),
            ],
        ],
        then: then(A, Degraded, "up ready")
            .reason("after RADOS stalled under the service: its backlog")
            .never_out()
            .restarts(&[]),
    },
    Rule {
        rule: "§3 after a RADOS stall: an admin socket silent for seconds (the host busy with \
               every RGW's backlog) is the backlog too (degraded, in rotation)",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[
                (2000, B, Probe(RADOS_STALL)),
                (3000, A, EverySecond(3, ASOK_SILENT.peers(Peers::Healthy))),
            ],
        ],
        then: then(A, Degraded, "up ready")
            .reason("its backlog; the admin socket silent for 2.0s")
            .never_out()
            .restarts(&[]),
    },
    Rule {
        rule: "§3 after a RADOS stall: an admin socket silent for 10 s (the process hung) fails",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[
                (2000, B, Probe(RADOS_STALL)),
                (3000, A, EverySecond(13, ASOK_SILENT.peers(Peers::Healthy))),
            ],
        ],
        then: then(A, Restarting, "down #restarting: asking the orchestrator").restarts(&[A]),
    },
    Rule {
        rule: "§3 after a RADOS stall: 30 s after the stall was last seen, a timeout beside a \
               healthy peer is the daemon's own again",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[
                (2000, B, Probe(RADOS_STALL)),
                (32_500, A, EverySecond(3, TIMEOUT_BESIDE_PEER)),
            ],
        ],
        then: then(A, Restarting, "down #restarting: asking the orchestrator").restarts(&[A]),
    },
    Rule {
        rule: "§4 busy after a RADOS stall: the whole service has the backlog, so a busy RGW \
               is not drained for load, its peers healthy again or not",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[
                (2000, B, Probe(RADOS_STALL)),
                (3000, B, Probe(PASS)),
                (4000, B, Probe(PASS)),
                (5000, A, Probe(SLOWDOWN)),
            ],
        ],
        then: then(A, Busy, "up ready").never_out(),
    },
];

#[test]
fn after_a_rados_stall_its_backlog_fails_and_drains_nothing() {
    check(STALL_AFTERMATH);
}

/// A RADOS stall whose RGW reads this count of replies from the OSDs.
const fn stalled_at(replies: u64) -> Facts {
    TIMEOUT.asok(Socket::StalledReplies(replies))
}

/// §3 the hold at HAProxy (issue 13): while RADOS answers none of an RGW's operations, new
/// requests wait in HAProxy's queue instead of in the RGW.
const HOLD: &[Rule] = &[
    Rule {
        rule: "§3 RADOS answers none of an RGW's ops (its reply count still across probes                2.5 s apart): HAProxy holds new requests for it (maxconn 2), in rotation,                degraded, not restarted",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[(2000, A, Probe(stalled_at(700))), (4500, A, Probe(stalled_at(700)))],
        ],
        then: then(A, Degraded, "up ready maxconn:2")
            .reason("RADOS answered none of its ops for 2s: new requests wait in HAProxy's queue")
            .never_out()
            .restarts(&[]),
    },
    Rule {
        rule: "§3 RADOS stalled under an RGW, its reply count moving (some OSD answers it: a                few placement groups stalled, not the cluster): no hold",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[(2000, A, Probe(stalled_at(700))), (4500, A, Probe(stalled_at(731)))],
        ],
        then: then(A, Degraded, "up ready").never_out().restarts(&[]),
    },
    Rule {
        rule: "§3 one probe that found RADOS stalled is no hold yet",
        setup: THREE,
        script: &[ALL_HEALTHY_3, &[(2000, A, Probe(stalled_at(700)))]],
        then: then(A, Degraded, "up ready").never_out(),
    },
    Rule {
        rule: "§3 a hold ends when probes pass: in rotation with a bound no RGW reaches                (`maxconn:0` would strand the requests HAProxy queued)",
        setup: THREE,
        script: &[
            ALL_HEALTHY_3,
            &[
                (2000, A, Probe(stalled_at(700))),
                (4500, A, Probe(stalled_at(700))),
                (7000, A, Probe(PASS)),
            ],
        ],
        then: then(A, Healthy, "up ready maxconn:10000").reason("probes pass"),
    },
    Rule {
        rule: "§3 a sidecar restarted during (or after) a hold ends it too: the state file \
               says HAProxy was told a maxconn, which HAProxy keeps",
        setup: Setup {
            saved: Saved::MaxconnTold,
            ..THREE
        },
        script: &[ALL_HEALTHY_3],
        then: then(A, Healthy, "up ready maxconn:10000"),
    },
];

#[test]
fn while_rados_answers_none_of_an_rgws_ops_haproxy_holds_its_new_requests() {
    check(HOLD);
}

/// Issue 14, slow but not hung (a CPU-starved RGW): drained while two peers of its service
/// serve at full weight (under `leastconn` a lower weight did not move its share at the
/// benchmark's load), else its HAProxy weight falls in proportion to how much slower than its
/// peers it answers; both end when it recovers.
const SLOW_20X: &[At] = &[
    (0, B, EverySecond(10, PASS)),
    (10_000, C, EverySecond(10, PASS)),
    (20_000, A, EverySecond(10, PASS.took(40))),
];
const SLOW: &[Rule] = &[
    Rule {
        rule: "§4 slow, not hung: 20x slower than its peers (median GET 40 ms vs 2 ms), two \
               peers at full weight: drained while they take its share, healthy, not restarted",
        setup: THREE,
        script: &[SLOW_20X],
        then: then(A, Healthy, "drain")
            .reason("slow, not hung: GET answers 20.0x slower than its peers'; drained while they take its share")
            .restarts(&[]),
    },
    Rule {
        rule: "§4 slow, not hung: 20x slower with one peer: weight 10 %, never out (the peer \
               would carry everything)",
        setup: TWO,
        script: &[&[
            (0, B, EverySecond(10, PASS)),
            (10_000, A, EverySecond(10, PASS.took(40))),
        ]],
        then: then(A, Healthy, "up ready 10%")
            .reason("slow, not hung: GET answers 20.0x slower than its peers'; HAProxy weight 10%")
            .never_out()
            .restarts(&[]),
    },
    Rule {
        rule: "§4 slow, not hung: drained, one probe times out: suspect, still drained (slower \
               still is the way to a hang; back in rotation it would take requests it may hang)",
        setup: THREE,
        script: &[SLOW_20X, &[(30_000, A, Probe(TIMEOUT))]],
        then: then(A, Suspect, "drain"),
    },
    Rule {
        rule: "§4 slow, not hung: `max-load-drain-percent` 0 drains none for load: weight 10 %",
        setup: Setup {
            load_drain_percent: 0,
            ..THREE
        },
        script: &[SLOW_20X],
        then: then(A, Healthy, "up ready 10%").never_out(),
    },
    Rule {
        rule: "§4 slow, not hung: drained, then a peer fails: back in rotation at its weight",
        setup: THREE,
        script: &[SLOW_20X, &[(30_000, B, EverySecond(3, TIMEOUT))]],
        then: then(A, Healthy, "up ready 10%")
            .reason("back in rotation at HAProxy weight 10%: its peers can no longer take its share"),
    },
    Rule {
        rule: "§4 slow, not hung: 4x its peers but 6 ms more is jitter: full weight",
        setup: THREE,
        script: &[&[
            (0, B, EverySecond(10, PASS)),
            (10_000, C, EverySecond(10, PASS)),
            (20_000, A, EverySecond(10, PASS.took(8))),
        ]],
        then: then(A, Healthy, "up ready"),
    },
    Rule {
        rule: "§4 slow, not hung: every RGW slower together changes no weight",
        setup: THREE,
        script: &[&[
            (0, B, EverySecond(10, PASS.took(40))),
            (10_000, C, EverySecond(10, PASS.took(40))),
            (20_000, A, EverySecond(10, PASS.took(40))),
        ]],
        then: then(A, Healthy, "up ready").never_out(),
    },
    Rule {
        rule: "§4 slow, not hung: as fast as its peers again, back in rotation at 100 % \
               (HAProxy keeps an agent-set weight until told another)",
        setup: THREE,
        script: &[SLOW_20X, &[(30_000, A, EverySecond(50, PASS))]],
        then: then(A, Healthy, "up ready 100%").reason("probes pass"),
    },
];

#[test]
fn a_slow_rgw_is_drained_or_weighted_and_back_when_it_recovers() {
    check(SLOW);
}
