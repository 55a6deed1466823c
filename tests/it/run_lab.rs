//! End to end, real parts: the lab's three real radosgw behind a real HAProxy running
//! `haproxy/haproxy.cfg`, one `ceph-warden run` serving all three (agent-send tags), and the
//! stand-in `tests/lab/fake-ceph` as the orchestrator (named in main.rs). Open-loop client load
//! through HAProxy, every request's outcome recorded.

use std::time::Duration;

use crate::ingress::*;
use crate::lab::Lab;
use crate::sidecar::Sidecar;
use crate::support::{blocking_command, now};

pub(crate) fn sidecar_for(lab: &Lab, tag: &str, rgw_keys: &str) -> Sidecar {
    let lab_dir = lab.dir.display().to_string();
    Sidecar::start(
        tag,
        "",
        &format!("[daemon-types.rgw]\n{rgw_keys}\n"),
        &[("FAKE_CEPH_LAB_DIR", lab_dir.as_str())],
    )
}

/// A real HAProxy with the lab's RGWs as servers and the sidecar as their agent; returns once
/// HAProxy has every server UP.
pub(crate) fn haproxy_for(lab: &Lab, sidecar: &Sidecar) -> Haproxy {
    let servers = lab.servers();
    let server_refs: Vec<(&str, u16)> = servers.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let haproxy = Haproxy::start(&sidecar.dir.0, &server_refs, sidecar.agent_port);
    for (name, _) in &server_refs {
        haproxy.wait_status(name, "UP", Duration::from_secs(20), |s| s == "UP");
        // HAProxy keeps a server UP while the agent knows no such daemon (`#unknown daemon`):
        // the scenario starts once the sidecar has listed and judged every RGW.
        crate::support::wait_for(
            &format!("the sidecar telling HAProxy {name} is up ready"),
            Duration::from_secs(30),
            || sidecar.agent(Some(name)).0 == "up ready",
        );
    }
    haproxy
}

/// Waits until every RGW of the lab runs a new process (its pid is not the one in `before`)
/// and HAProxy has it UP again; `each_poll` runs at every look.
pub(crate) fn every_rgw_restarted_and_up(
    lab: &Lab,
    haproxy: &Haproxy,
    before: &[Option<u32>],
    mut each_poll: impl FnMut(),
) {
    for (i, id) in lab.ids.iter().enumerate() {
        crate::support::wait_for("every RGW restarted", Duration::from_secs(60), || {
            each_poll();
            lab.pid(id).is_some() && lab.pid(id) != before[i]
        });
        haproxy.wait_status(
            &format!("rgw.{id}"),
            "back UP",
            Duration::from_secs(30),
            |s| s == "UP",
        );
    }
}

#[test]
fn a_frozen_rgw_under_load_is_drained_restarted_and_back_with_zero_client_errors() {
    let lab = Lab::up("e2e-frozen", 3);
    let sidecar = sidecar_for(&lab, "e2e-frozen", "");
    let haproxy = haproxy_for(&lab, &sidecar);
    let pid_before = lab.pid("b");
    let others = (lab.pid("a"), lab.pid("c"));

    let port = haproxy.port;
    let load = std::thread::spawn(move || open_loop(port, "/", 100, Duration::from_secs(25), None));
    // The scenario's schedule: five seconds of load, then the freeze.
    std::thread::sleep(Duration::from_secs(5));
    lab.ctl("freeze", "b");
    let frozen_at = now();
    haproxy.wait_status("rgw.b", "out of rotation", Duration::from_secs(15), |s| {
        s.starts_with("DOWN") || s.starts_with("MAINT") || s.starts_with("DRAIN")
    });
    let out = frozen_at.elapsed();
    crate::support::wait_for("rgw.b restarted (new pid)", Duration::from_secs(30), || {
        lab.pid("b").is_some() && lab.pid("b") != pid_before
    });
    haproxy.wait_status("rgw.b", "back UP", Duration::from_secs(30), |s| s == "UP");
    let back = frozen_at.elapsed();
    let outcomes = load.join().expect("load");
    eprintln!("freeze -> out of rotation {out:?}, freeze -> back in rotation {back:?}");
    eprintln!("load: {}", summary(&outcomes));
    assert!(
        back < Duration::from_secs(19),
        "back before the load ended (freeze at 5 s of 25 s): {back:?}"
    );
    assert_eq!(errors(&outcomes), 0, "{}", summary(&outcomes));
    assert!(outcomes.len() >= 2500, "{} requests", outcomes.len());
    assert_eq!(
        (lab.pid("a"), lab.pid("c")),
        others,
        "only rgw.b was restarted"
    );
    assert!(sidecar
        .get("/events")
        .1
        .contains("\"daemon\":\"rgw.b\",\"from\":\"restarting\""));
}

#[test]
fn a_planned_restart_with_slow_requests_in_flight_has_zero_client_errors() {
    // Large enough that RGW is still sending after the ~20 MB of buffers between it and a slow
    // client are full: the requests really are in flight on RGW when the restart is asked for.
    const SIZE: usize = 64 * 1024 * 1024;
    let lab = Lab::up("e2e-planned", 3);
    lab.bucket("a", "warden", "slow", SIZE, "public-read");
    let sidecar = sidecar_for(&lab, "e2e-planned", "drain-timeout = \"25s\"");
    let haproxy = haproxy_for(&lab, &sidecar);
    let pid_before = lab.pid("b");
    let port = haproxy.port;
    let load = std::thread::spawn(move || open_loop(port, "/", 50, Duration::from_secs(20), None));
    // The scenario's schedule: two seconds of load, then the slow clients.
    std::thread::sleep(Duration::from_secs(2));
    // Slow clients (16 MiB/s for 64 MiB: ~4 s each); leastconn spreads them over the RGWs.
    let slow: Vec<_> = (0..6)
        .map(|_| std::thread::spawn(move || request(port, "/warden/slow", Some(16 * 1024 * 1024))))
        .collect();
    crate::support::wait_for("a slow request on rgw.b", Duration::from_secs(5), || {
        haproxy.current_sessions("rgw.b") > 0
    });
    let restart = blocking_command(crate::support::BIN)
        .args([
            "restart",
            "rgw.b",
            "--api",
            &format!("http://127.0.0.1:{}", sidecar.http_port),
        ])
        .output()
        .expect("ceph-warden restart");
    let said = String::from_utf8_lossy(&restart.stdout);
    assert!(
        restart.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&restart.stderr)
    );
    assert!(
        said.starts_with("rgw.b: draining, HAProxy is told \"drain\""),
        "{said}"
    );
    let asked = now();
    haproxy.wait_status("rgw.b", "DRAIN", Duration::from_secs(5), |s| {
        s.starts_with("DRAIN")
    });
    crate::support::wait_for("rgw.b restarted (new pid)", Duration::from_secs(30), || {
        lab.pid("b").is_some() && lab.pid("b") != pid_before
    });
    let restarted_after = asked.elapsed();
    haproxy.wait_status("rgw.b", "back UP", Duration::from_secs(20), |s| s == "UP");
    let slow: Vec<Outcome> = slow
        .into_iter()
        .map(|h| h.join().expect("slow request"))
        .collect();
    let outcomes = load.join().expect("load");
    eprintln!(
        "restart asked -> new pid {restarted_after:?}; slow requests: {}",
        summary(&slow)
    );
    eprintln!("load: {}", summary(&outcomes));
    for outcome in &slow {
        assert_eq!(outcome.result, Ok(200), "{outcome:?}");
        assert_eq!(outcome.body_len, SIZE, "the whole object: {outcome:?}");
        assert!(
            outcome.latency >= Duration::from_secs(2),
            "slow indeed: {outcome:?}"
        );
    }
    assert_eq!(errors(&outcomes), 0, "{}", summary(&outcomes));
    // Waited for the in-flight requests (connections to rgw.b), not for drain-timeout.
    assert!(
        restarted_after > Duration::from_millis(1500) && restarted_after < Duration::from_secs(20),
        "restarted {restarted_after:?} after the command; drain-timeout is 25 s; in-flight seen:\n{}",
        sidecar.log().lines().filter(|l| l.contains("in-flight")).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn a_restart_that_never_happens_ends_held_and_haproxy_keeps_it_out() {
    let lab = Lab::up("e2e-held", 2);
    let lab_dir = lab.dir.display().to_string();
    // The stand-in orchestrator answers "Scheduled" and does nothing, like a stuck cephadm.
    let sidecar = Sidecar::start(
        "e2e-held",
        "",
        "[daemon-types.rgw]\nrestart-timeout = \"2s\"\nmax-restarts = 2\nbackoff = \"1s\"\n",
        &[
            ("FAKE_CEPH_LAB_DIR", lab_dir.as_str()),
            ("FAKE_CEPH_RESTART_NOOP", "1"),
        ],
    );
    let haproxy = haproxy_for(&lab, &sidecar);
    let pid = lab.pid("b");
    lab.ctl("freeze", "b");
    let held = sidecar.wait_word("rgw.b", "held", Duration::from_secs(40), |w| {
        w.starts_with("down #held")
    });
    assert_eq!(held, "down #held: 2 restarts in 30m did not bring it back");
    assert!(
        haproxy
            .status("rgw.b")
            .unwrap_or_default()
            .starts_with("DOWN"),
        "HAProxy keeps it out"
    );
    let status = sidecar.status();
    let b = status["daemons"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["name"] == "rgw.b"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(b["state"], "held");
    assert_eq!(b["restarts_in_window"], 2);
    assert!(sidecar
        .get("/")
        .1
        .contains("held: 2 restarts in 30m did not bring it back"));
    let calls = sidecar.ceph_calls();
    assert_eq!(
        calls.matches("orch daemon restart rgw.b").count(),
        2,
        "{calls}"
    );
    assert_eq!(lab.pid("b"), pid, "nothing restarted it");
    lab.ctl("thaw", "b");
}

#[test]
fn all_three_frozen_are_restarted_one_at_a_time_and_the_service_answers_within_10_s() {
    let lab = Lab::up("e2e-all-frozen", 3);
    let sidecar = sidecar_for(&lab, "e2e-all-frozen", "");
    let haproxy = haproxy_for(&lab, &sidecar);
    let before: Vec<Option<u32>> = lab.ids.iter().map(|id| lab.pid(id)).collect();
    // Client load all along (it also fills the frozen RGWs' queues, as in the incident).
    let port = haproxy.port;
    let load = std::thread::spawn(move || open_loop(port, "/", 20, Duration::from_secs(20), None));
    std::thread::sleep(Duration::from_secs(2));
    for id in &lab.ids {
        lab.ctl("freeze", id);
    }
    let frozen = now();
    // The service answers again as soon as the first RGW is back.
    let mut first_200 = None;
    while frozen.elapsed() < Duration::from_secs(30) {
        let answer = request(haproxy.port, "/", None);
        if answer.result == Ok(200) {
            first_200 = Some(frozen.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let first_200 = first_200.expect("the service answered 200 again");
    eprintln!("all three frozen -> first 200 through HAProxy after {first_200:?}");
    every_rgw_restarted_and_up(&lab, &haproxy, &before, || {});
    eprintln!("all three back in rotation after {:?}", frozen.elapsed());
    eprintln!("load: {}", summary(&load.join().expect("load")));
    let events = sidecar.get("/events").1;
    assert!(
        first_200 < Duration::from_secs(10),
        "first 200 after {first_200:?}; the sidecar's events:\n{events}"
    );
    // One restart at a time: each is asked only once the one before is back, and the lease
    // is taken and given back in turn, never twice at once.
    let (mut restarting, mut holders, mut taken) = (0, 0, 0);
    for line in events.lines() {
        // A restart starts at failed -> restarting; the events within `restarting` (taken,
        // killed, a new process) say "restart requested" too.
        if line.contains("restart requested") && line.contains("\"from\":\"failed\"") {
            restarting += 1;
            assert_eq!(restarting, 1, "two restarts overlapped:\n{events}");
        } else if line.contains("back after the restart") {
            restarting -= 1;
        } else if line.contains("took the restart lease") {
            holders += 1;
            taken += 1;
            assert_eq!(holders, 1, "two leases overlapped:\n{events}");
        } else if line.contains("gave back the restart lease") {
            holders -= 1;
        }
    }
    assert_eq!(taken, 3, "{events}");
}

/// One at a time and the canary are the core's rules, not the lease's: with the lease off,
/// three frozen RGWs of one service on one host are restarted one after the other (before the
/// rule moved into the core, all three were restarted within 0.4 s of each other).
#[test]
fn all_three_frozen_with_the_lease_off_are_restarted_one_at_a_time() {
    let lab = Lab::up("e2e-no-lease", 3);
    let sidecar = sidecar_for(&lab, "e2e-no-lease", "[lease]\nenabled = false");
    let haproxy = haproxy_for(&lab, &sidecar);
    let before: Vec<Option<u32>> = lab.ids.iter().map(|id| lab.pid(id)).collect();
    for id in &lab.ids {
        lab.ctl("freeze", id);
    }
    let frozen = now();
    // While one restarts, the others wait their turn and say so in /status.
    let mut waited_turn = false;
    every_rgw_restarted_and_up(&lab, &haproxy, &before, || {
        let status = sidecar.status();
        waited_turn |= status["daemons"].as_array().is_some_and(|d| {
            d.iter().any(|x| {
                x["reason"]
                    .as_str()
                    // `...; kept in rotation: ...` follows while no peer is healthy.
                    .is_some_and(|r| {
                        r.starts_with("waiting to restart: rgw.")
                            && (r.contains("of the same service restarting (one at a time)")
                                || r.contains("of the same service restarts first"))
                    })
            })
        });
    });
    eprintln!(
        "all three back in rotation after {:?} (lease off)",
        frozen.elapsed()
    );
    // From the events: a restart starts at failed -> restarting and ends when the daemon
    // leaves restarting/recovering; never two at once.
    let events = sidecar.get("/events").1;
    let (mut under_way, mut started) = (0, 0);
    for line in events.lines() {
        let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (from, to) = (
            e["from"].as_str().unwrap_or(""),
            e["to"].as_str().unwrap_or(""),
        );
        let busy = |s: &str| s == "restarting" || s == "recovering";
        if from == "failed" && to == "restarting" {
            under_way += 1;
            started += 1;
            assert_eq!(under_way, 1, "two restarts at once:\n{events}");
        } else if busy(from) && !busy(to) {
            under_way -= 1;
        }
    }
    assert_eq!(started, 3, "{events}");
    assert!(waited_turn, "no RGW said it waited its turn:\n{events}");
}

#[test]
fn two_sidecars_contending_for_the_lease_restart_one_at_a_time() {
    let lab = Lab::up("e2e-two-sidecars", 2);
    let lab_dir = lab.dir.display().to_string();
    // One sidecar per RGW, as on two hosts: static inventories, the command backend calling the
    // stand-in orchestrator, and one lease object (restart-lease.rgw) in the lab's cluster.
    let sidecar = |id: &str| {
        Sidecar::start(
            &format!("e2e-two-{id}"),
            "inventory = \"static\"\norchestrators = [\"command\"]",
            &format!(
                "[[static]]\nname = \"rgw.{id}\"\nurl = \"http://127.0.0.1:{}/\"\n[command]\nrestart = [\"{}\", \"orch\", \"daemon\", \"restart\", \"{{name}}\"]\n",
                lab.port(id),
                crate::support::fake_ceph()
            ),
            &[("FAKE_CEPH_LAB_DIR", lab_dir.as_str())],
        )
    };
    let (sidecar_a, sidecar_b) = (sidecar("a"), sidecar("b"));
    for (s, name) in [(&sidecar_a, "rgw.a"), (&sidecar_b, "rgw.b")] {
        s.wait_word(name, "up ready", Duration::from_secs(10), |w| {
            w == "up ready"
        });
    }
    let before = (lab.pid("a"), lab.pid("b"));
    lab.ctl("freeze", "a");
    lab.ctl("freeze", "b");
    crate::support::wait_for("both restarted", Duration::from_secs(60), || {
        lab.pid("a").is_some()
            && lab.pid("b").is_some()
            && lab.pid("a") != before.0
            && lab.pid("b") != before.1
    });
    for (s, name) in [(&sidecar_a, "rgw.a"), (&sidecar_b, "rgw.b")] {
        s.wait_word(
            name,
            "up ready after the restart",
            Duration::from_secs(30),
            |w| w == "up ready",
        );
    }
    for s in [&sidecar_a, &sidecar_b] {
        crate::support::wait_for("the lease given back", Duration::from_secs(10), || {
            s.get("/events").1.contains("gave back the restart lease")
        });
    }
    // The lease intervals of the two sidecars, by their event times, never overlap.
    let intervals = |s: &Sidecar| -> Vec<(String, String)> {
        let events = s.get("/events").1;
        let times = |what: &str| -> Vec<String> {
            events
                .lines()
                .filter(|l| l.contains(what))
                .filter_map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).ok()?["time"]
                        .as_str()
                        .map(String::from)
                })
                .collect()
        };
        times("took the restart lease")
            .into_iter()
            .zip(times("gave back the restart lease"))
            .collect()
    };
    let (a, b) = (intervals(&sidecar_a), intervals(&sidecar_b));
    eprintln!("lease held by sidecar a: {a:?}; by sidecar b: {b:?}");
    assert_eq!((a.len(), b.len()), (1, 1), "each restarted once");
    let (first, second) = if a[0].0 < b[0].0 {
        (&a[0], &b[0])
    } else {
        (&b[0], &a[0])
    };
    assert!(first.1 <= second.0, "overlap: {first:?} and {second:?}");
    let deferred = format!(
        "{}{}",
        sidecar_a.get("/events").1,
        sidecar_b.get("/events").1
    );
    assert!(
        deferred.contains("waiting to restart: every restart slot of restart-lease.rgw is held"),
        "{deferred}"
    );
}

#[test]
fn all_three_frozen_and_a_canary_restart_that_does_not_help_hold_every_restart_and_say_why() {
    let lab = Lab::up("e2e-canary", 3);
    let lab_dir = lab.dir.display().to_string();
    // The stand-in orchestrator says "Scheduled" and never restarts: the canary's restart
    // cannot help.
    let sidecar = Sidecar::start(
        "e2e-canary",
        "",
        "[daemon-types.rgw]\nrestart-timeout = \"4s\"\n",
        &[
            ("FAKE_CEPH_LAB_DIR", lab_dir.as_str()),
            ("FAKE_CEPH_RESTART_NOOP", "1"),
        ],
    );
    for id in &lab.ids {
        sidecar.wait_word(
            &format!("rgw.{id}"),
            "up ready",
            Duration::from_secs(20),
            |w| w == "up ready",
        );
    }
    let restarts = || sidecar.restarts_asked();
    for id in &lab.ids {
        lab.ctl("freeze", id);
    }
    let daemons = || {
        sidecar.status()["daemons"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let mut canary = String::new();
    crate::support::wait_for("the canary held", Duration::from_secs(30), || {
        daemons().iter().any(|d| {
            let held = d["state"] == "held"
                && d["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("the canary restart (every peer was down)"));
            if held {
                canary = d["name"].as_str().unwrap_or_default().to_string();
            }
            held
        })
    });
    // The others hold too, and say why.
    let others_say_why = || {
        daemons()
            .iter()
            .filter(|d| d["name"] != canary.as_str())
            .all(|d| {
                // This sidecar's own rule names the canary first; the lease's hold (for
                // the other hosts' sidecars) names it too.
                d["reason"].as_str().is_some_and(|r| {
                    r.starts_with(&format!(
                        "waiting to restart: the canary restart of {canary} did not bring it back"
                    )) || (r.starts_with("waiting to restart: every restart of rgw.lab holds:")
                        && r.contains(&format!("{canary} on ")))
                })
            })
    };
    let asked = now();
    while !others_say_why() {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "the others say why they hold within 10 s; they say: {:#?}\nevents: {}",
            daemons()
                .iter()
                .map(|d| format!("{} {}: {}", d["name"], d["state"], d["reason"]))
                .collect::<Vec<_>>(),
            sidecar.get("/events").1
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(restarts(), 1, "only the canary was restarted");
    // A window of several lease retries (one a second): still nobody else is restarted.
    let window = now();
    while window.elapsed() < Duration::from_secs(6) {
        assert_eq!(restarts(), 1, "a restart while the service holds");
        std::thread::sleep(Duration::from_millis(200));
    }
    let shown = sidecar.get("/").1;
    eprintln!("while the service holds, / says:\n{shown}");
    // The operator resets the canary: the hold is lifted and restarts go on, one at a time.
    let reset = blocking_command(crate::support::BIN)
        .args(["reset", &canary, "--api"])
        .arg(format!("http://127.0.0.1:{}", sidecar.http_port))
        .output()
        .expect("ceph-warden reset");
    assert!(reset.status.success(), "{reset:?}");
    crate::support::wait_for("a restart after the reset", Duration::from_secs(20), || {
        restarts() >= 2
    });
    assert!(sidecar
        .get("/events")
        .1
        .contains("lifted the hold on the restarts of rgw.lab"));
    for id in &lab.ids {
        lab.ctl("thaw", id);
    }
}

/// The default chain (http, then the admin socket): a GET that times out while the RGW's
/// oldest RADOS op is old is the cluster's. Here the probed path is an object, so its GET
/// waits on the frozen OSD at once (under heavy load even `GET /` does, once RGW's request
/// slots fill: measured at 27 s with 100 req/s of GET/PUT through HAProxy).
#[test]
fn a_get_that_waits_on_a_frozen_osd_is_the_clusters_fault_with_the_default_chain() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let lab = Lab::up("get-osd", 3);
    lab.bucket("a", "probe", "object", 1024, "public-read");
    // No `probes` key: the default chain.
    let sidecar = sidecar_for(
        &lab,
        "get-osd",
        &format!(
            "http-path = \"/probe/object\"\nadmin-socket = \"{}/run/ceph-client.{{name}}.asok\"",
            lab.dir.display()
        ),
    );
    let names = ["rgw.a", "rgw.b", "rgw.c"];
    for name in names {
        sidecar.wait_word(name, "up ready", Duration::from_secs(20), |w| {
            w == "up ready"
        });
    }
    let osd = Pid::from_raw(lab.env("CEPH_LAB_OSD_PID").parse().expect("osd pid"));
    kill(osd, Signal::SIGSTOP).expect("freeze the OSD");
    let (all_degraded, words) = sidecar.watch_degraded(
        &names,
        Duration::from_secs(15),
        "http timeout while rados: oldest op",
    );
    kill(osd, Signal::SIGCONT).expect("thaw the OSD");
    let thawed = now();
    let status = sidecar.get("/").1;
    lab.wait_after_osd_thaw(|| {
        sidecar.status()["daemons"]
            .as_array()
            .is_some_and(|d| d.iter().all(|x| x["state"] == "healthy"))
    });
    eprintln!("healthy again {:?} after the thaw", thawed.elapsed());
    assert!(
        all_degraded.is_some(),
        "every RGW degraded naming RADOS; / said:\n{status}"
    );
    crate::support::assert_in_rotation_and_held(&words, "never drained nor down");
    let calls = sidecar.ceph_calls();
    assert!(
        !calls.contains("orch daemon restart"),
        "no restart: {calls}"
    );
}

/// Busy (issue 13): rgw.b throttled, answering most requests `503 SlowDown` at once under
/// load, while rgw.a and rgw.c serve. Two decisions, each judged against doing nothing in the
/// same run (the same load through a second HAProxy with the shipped config whose agent port
/// nobody listens on):
/// - the shipped config replays an RGW's 503 on another server (`retry-on ... 503`): without
///   the sidecar the clients see (almost) none of rgw.b's refusals, where a third of the
///   requests failed before that line;
/// - the sidecar drains rgw.b while its two peers can take its share: under `balance
///   leastconn` a server that fails fast keeps its full share whatever its weight, so without
///   the drain every third request pays a refused round trip on rgw.b before its replay.
#[test]
fn a_throttled_rgw_is_drained_and_its_refusals_are_replayed_so_clients_see_none() {
    let lab = Lab::up("e2e-busy", 3);
    lab.bucket("a", "busy", "object", 4096, "public-read-write");
    lab.throttle("b");
    let sidecar = sidecar_for(&lab, "e2e-busy", "");
    let servers = lab.servers();
    let refs: Vec<(&str, u16)> = servers.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let haproxy = Haproxy::start(&sidecar.dir.0, &refs, sidecar.agent_port);
    // The lab's throttle is so tight (1 request/s a class) that the sidecar's own probes
    // (4/s) find rgw.b busy before any load: it may be drained from the start.
    for (name, _) in &refs {
        crate::support::wait_for(
            &format!("the sidecar judging {name}"),
            Duration::from_secs(30),
            || {
                let word = sidecar.agent(Some(name)).0;
                word == "up ready" || (*name == "rgw.b" && word == "drain")
            },
        );
        haproxy.wait_status(name, "in HAProxy's view", Duration::from_secs(20), |s| {
            s == "UP" || (*name == "rgw.b" && s == "DRAIN")
        });
    }
    let (alone, _alone_dir) = haproxy_without_agent(&lab, "e2e-busy-alone");
    let mix = vec![
        ("GET", "/busy/object".to_string(), 0),
        ("PUT", "/busy/put".to_string(), 4096),
        ("GET", "/busy/object".to_string(), 0),
    ];
    let counter = |h: &Haproxy, field: &str| -> Vec<u64> {
        ["rgw.a", "rgw.b", "rgw.c"]
            .iter()
            .map(|n| h.stat(n, field).and_then(|v| v.parse().ok()).unwrap_or(0))
            .collect()
    };
    // The fault is in place, from outside: rgw.b refuses most requests sent to it at 20/s.
    let direct = open_loop_mix(lab.port("b"), &mix, 20, Duration::from_secs(2));
    let refused = direct.iter().filter(|o| o.result == Ok(503)).count();
    assert!(
        refused * 2 >= direct.len(),
        "rgw.b refused only {refused} of {} requests sent to it: {}",
        direct.len(),
        summary(&direct)
    );
    let (with_before, alone_before) = (counter(&haproxy, "stot"), counter(&alone, "stot"));
    let (with, without) = (haproxy.port, alone.port);
    let mix2 = mix.clone();
    let baseline =
        std::thread::spawn(move || open_loop_mix(without, &mix2, 40, Duration::from_secs(20)));
    let outcomes = open_loop_mix(with, &mix, 40, Duration::from_secs(20));
    let baseline = baseline.join().expect("baseline load");
    let share = |after: Vec<u64>, before: Vec<u64>| {
        let sent: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        sent[1] as f64 / sent.iter().sum::<u64>().max(1) as f64
    };
    let (share_with, share_without) = (
        share(counter(&haproxy, "stot"), with_before),
        share(counter(&alone, "stot"), alone_before),
    );
    let row = sidecar.status()["daemons"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["name"] == "rgw.b").cloned())
        .unwrap_or_default();
    eprintln!("with the sidecar: {}", summary(&outcomes));
    eprintln!("without: {}", summary(&baseline));
    eprintln!("rgw.b's share of the requests sent: {share_with:.3} with the sidecar, {share_without:.3} without");
    eprintln!("rgw.b: {row}");
    let (errors, baseline_errors) = (errors(&outcomes), errors(&baseline));
    // Without the sidecar rgw.b was sent a fifth of the requests or more (its leastconn
    // share: it answers fastest), and HAProxy replayed its refusals: clients saw at most 1 in
    // 100 (a third failed before `retry-on ... 503`).
    assert!(
        share_without >= 0.2,
        "rgw.b's share without the sidecar {share_without:.3}"
    );
    assert!(
        baseline_errors * 100 <= baseline.len(),
        "{baseline_errors} of {} failed without the sidecar: rgw.b's 503s were not replayed",
        baseline.len()
    );
    // With the sidecar rgw.b is drained: it gets almost nothing (under a tenth of the share it
    // has without), and the clients see no more errors than without.
    assert!(
        share_with * 10.0 < share_without,
        "rgw.b's share {share_with:.3} with the sidecar, {share_without:.3} without; rgw.b: {row}"
    );
    assert!(
        errors * 100 <= outcomes.len() && errors <= baseline_errors.max(1),
        "{errors} errors with the sidecar, {baseline_errors} without; rgw.b: {row}"
    );
    assert_eq!(row["state"], "busy", "{row}");
    assert_eq!(row["agent_word"], "drain", "{row}");
    assert!(
        row["reason"]
            .as_str()
            .is_some_and(|r| r.contains("drained while its peers take its share")
                || r.contains("drained after shedding load")),
        "{row}"
    );
    assert_eq!(row["restarts_in_window"], 0, "{row}");
}

/// The same shipped HAProxy config with its agent port where nothing listens (doing nothing,
/// for comparison in the same run), once it has every server UP; and its directory, kept as
/// long as it runs.
fn haproxy_without_agent(lab: &Lab, tag: &str) -> (Haproxy, crate::support::TempDir) {
    let servers = lab.servers();
    let refs: Vec<(&str, u16)> = servers.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let dir = crate::support::TempDir::new(tag);
    let alone = Haproxy::start(&dir.0, &refs, crate::support::closed_port());
    for (name, _) in &refs {
        alone.wait_status(name, "UP", Duration::from_secs(20), |s| s == "UP");
    }
    (alone, dir)
}

/// `[daemon-types.rgw] admin-socket` for the lab's sockets: the chain's `asok` step, which
/// tells which part of a daemon hangs.
fn asok_key(lab: &Lab) -> String {
    format!(
        "admin-socket = \"{}/run/ceph-client.{{name}}.asok\"",
        lab.dir.display()
    )
}

/// Issue 14's hang classes, checked from outside on a real radosgw before anything relies on
/// it: beast's accept loop dead leaves the port open (TCP connects complete), `GET /`
/// unanswered, and the admin socket answering with no old RADOS op.
fn verified_accept_loop_dead(lab: &Lab, id: &str) {
    lab.kill_accept_loop(id);
    let port = lab.port(id);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the port still takes TCP connections"
    );
    assert_eq!(
        crate::support::http_status(port, "/", Duration::from_secs(2)),
        None,
        "GET / is not answered"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ops = runtime
        .block_on(ceph_warden::probe::asok::command(
            &lab.asok(id),
            r#"{"prefix": "objecter_requests"}"#,
            Duration::from_secs(2),
        ))
        .expect("the admin socket answers");
    let oldest = ceph_warden::probe::asok::oldest_op(&ops).expect("objecter_requests parses");
    assert!(
        oldest.as_ref().is_none_or(|op| op.age < 1.0),
        "no old RADOS op: {oldest:?}"
    );
}

/// Issue 14: an RGW whose accept loop died is failed with its class named (`frontend hung`,
/// its admin socket answering), drained and restarted with no client error, while the same
/// load through the same shipped HAProxy config without an agent, in the same run, is what
/// doing nothing gives. The orchestrator is the lab's command stand-in (rgw-ctl restart).
#[test]
fn an_rgw_whose_accept_loop_died_is_named_drained_and_restarted_with_zero_client_errors() {
    let lab = Lab::up("e2e-accept", 3);
    // The fault, from outside, then healed: the scenario relies on what was seen here.
    verified_accept_loop_dead(&lab, "b");
    lab.ctl("restart", "b");
    let sidecar = sidecar_for(&lab, "e2e-accept", &asok_key(&lab));
    let haproxy = haproxy_for(&lab, &sidecar);
    let (alone, _alone_dir) = haproxy_without_agent(&lab, "e2e-accept-alone");
    let pid_before = lab.pid("b");
    let others = (lab.pid("a"), lab.pid("c"));
    let (with, without) = (haproxy.port, alone.port);
    let baseline =
        std::thread::spawn(move || open_loop(without, "/", 40, Duration::from_secs(20), None));
    let load = std::thread::spawn(move || open_loop(with, "/", 40, Duration::from_secs(20), None));
    // The scenario's schedule: three seconds of load, then the fault.
    std::thread::sleep(Duration::from_secs(3));
    lab.kill_accept_loop("b");
    let dead_at = now();
    haproxy.wait_status("rgw.b", "out of rotation", Duration::from_secs(10), |s| {
        s.starts_with("DOWN") || s.starts_with("MAINT") || s.starts_with("DRAIN")
    });
    let out = dead_at.elapsed();
    crate::support::wait_for("rgw.b restarted (new pid)", Duration::from_secs(30), || {
        lab.pid("b").is_some() && lab.pid("b") != pid_before
    });
    haproxy.wait_status("rgw.b", "back UP", Duration::from_secs(30), |s| s == "UP");
    let outcomes = load.join().expect("load");
    let baseline = baseline.join().expect("baseline load");
    let slow = |o: &[Outcome]| {
        o.iter()
            .filter(|o| o.result != Ok(200) || o.latency > Duration::from_secs(5))
            .count()
    };
    eprintln!("accept loop dead -> out of rotation {out:?}");
    eprintln!("with the sidecar: {}", summary(&outcomes));
    eprintln!("without: {}", summary(&baseline));
    assert_eq!(errors(&outcomes), 0, "{}", summary(&outcomes));
    assert!(
        slow(&outcomes) <= slow(&baseline),
        "no worse than doing nothing: {} failed or slower than 5 s with the sidecar, {} without",
        slow(&outcomes),
        slow(&baseline)
    );
    assert_eq!(
        (lab.pid("a"), lab.pid("c")),
        others,
        "only rgw.b was restarted"
    );
    let events = sidecar.get("/events").1;
    assert!(
        events.contains(
            "\"daemon\":\"rgw.b\",\"from\":\"suspect\",\"to\":\"failed\",\"word\":\"down #timeout: frontend hung (the process answers its admin socket: accept loop dead?)\""
        ),
        "the class named in the event and the agent word: {events}"
    );
}

/// The median of `n` direct `GET /` to `port` (a timeout counts as 2 s), 11 to 47 ms apart in a
/// scrambled order, as clients and probes arrive: one right after another, or at a steady pace
/// near a SIGSTOP/SIGCONT duty cycle's, lands in the running slice the one before ended in and
/// sees no slowdown (measured: 0.7 ms with rgw.b stopped 90 ms of every 100).
fn direct_get_median(port: u16, n: usize) -> Duration {
    let mut took: Vec<Duration> = (0..n)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(11 + (i as u64 * 17) % 37));
            let start = now();
            let status = crate::support::http_status(port, "/", Duration::from_secs(2));
            if status == Some(200) {
                start.elapsed()
            } else {
                Duration::from_secs(2)
            }
        })
        .collect();
    took.sort();
    took[n / 2]
}

/// Issue 14: a service-wide latency spike that is not a stall (every RGW ~10x slower for 30 s,
/// a 30 ms / 5 ms SIGSTOP/SIGCONT duty cycle on all three, measured from outside first) changes nothing:
/// no drain, no restart, no agent `down`, and no more client errors than the same load through
/// the same shipped HAProxy config without an agent, in the same run.
#[test]
fn a_service_wide_latency_spike_drains_and_restarts_nothing() {
    let lab = Lab::up("e2e-spike", 3);
    let sidecar = sidecar_for(&lab, "e2e-spike", &asok_key(&lab));
    let haproxy = haproxy_for(&lab, &sidecar);
    let (alone, _alone_dir) = haproxy_without_agent(&lab, "e2e-spike-alone");
    let pids: Vec<Option<u32>> = lab.ids.iter().map(|id| lab.pid(id)).collect();
    let normal = direct_get_median(lab.port("a"), 21);
    let (with, without) = (haproxy.port, alone.port);
    let baseline =
        std::thread::spawn(move || open_loop(without, "/", 40, Duration::from_secs(40), None));
    let load = std::thread::spawn(move || open_loop(with, "/", 40, Duration::from_secs(40), None));
    // The scenario's schedule: five seconds of load, then 30 s of the spike.
    std::thread::sleep(Duration::from_secs(5));
    let spike = lab.duty_cycle(
        &["a", "b", "c"],
        Duration::from_millis(30),
        Duration::from_millis(5),
        Duration::from_secs(30),
    );
    let slowed = direct_get_median(lab.port("a"), 21);
    let servers = lab.servers();
    let mut left_up = true;
    while !spike.is_finished() {
        left_up &= servers
            .iter()
            .all(|(name, _)| haproxy.status(name).as_deref() == Some("UP"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let cycles = spike.join().expect("duty cycle");
    let outcomes = load.join().expect("load");
    let baseline = baseline.join().expect("baseline load");
    let events = sidecar.get("/events").1;
    eprintln!("GET / median {normal:?} before, {slowed:?} during ({cycles} cycles)");
    eprintln!("with the sidecar: {}", summary(&outcomes));
    eprintln!("without: {}", summary(&baseline));
    // The fault is in place: every RGW answers, ten times slower or more.
    assert!(
        slowed >= normal * 10 && slowed < Duration::from_secs(2),
        "GET / median {normal:?} before, {slowed:?} during"
    );
    assert!(
        left_up,
        "every server stayed UP in HAProxy's view: {events}"
    );
    for word in ["\"to\":\"failed\"", "\"word\":\"drain\"", "\"word\":\"down"] {
        assert!(!events.contains(word), "{word} in {events}");
    }
    assert_eq!(
        lab.ids.iter().map(|id| lab.pid(id)).collect::<Vec<_>>(),
        pids,
        "nothing restarted"
    );
    assert!(
        errors(&outcomes) <= errors(&baseline),
        "{} errors with the sidecar, {} without",
        errors(&outcomes),
        errors(&baseline)
    );
    // The learned deadlines stayed within their bounds and said so.
    let status = sidecar.status();
    let http = status["daemons"][0]["probe_deadlines_ms"]["http"]
        .as_u64()
        .unwrap_or_default();
    assert!((250..=1000).contains(&http), "{status}");
}

/// Issue 14, slow but not hung: rgw.b starved of CPU (a 90 ms / 10 ms SIGSTOP/SIGCONT duty
/// cycle: it answers, ~40x slower than its peers, measured from outside first) is drained while
/// rgw.a and rgw.c take its share (HAProxy shows it in DRAIN), is not restarted, and is back in
/// rotation at full weight once it recovers. The same load runs at once through the same
/// shipped config without an agent (the `haproxy-only` setup): rgw.b's share of the requests
/// (HAProxy's per-server session counters) must fall to under half of what it is there, and the
/// clients' p99 must be better, with no client error. (Told `up ready 10%` instead, its share
/// was 0.236 with and without the agent: `leastconn` ranks an idle server first whatever its
/// weight.)
#[test]
fn a_slow_rgw_is_drained_while_its_peers_take_its_share_and_is_not_restarted() {
    let lab = Lab::up("e2e-slow", 3);
    let sidecar = sidecar_for(&lab, "e2e-slow", &asok_key(&lab));
    let haproxy = haproxy_for(&lab, &sidecar);
    let (alone, _alone_dir) = haproxy_without_agent(&lab, "e2e-slow-alone");
    let pid_before = lab.pid("b");
    let normal = direct_get_median(lab.port("b"), 21);
    let slow = lab.duty_cycle(
        &["b"],
        Duration::from_millis(90),
        Duration::from_millis(10),
        Duration::from_secs(45),
    );
    let slowed = direct_get_median(lab.port("b"), 21);
    let peer = direct_get_median(lab.port("a"), 21);
    // The fault is in place: rgw.b answers, ten times slower than its peer or more.
    assert!(
        slowed >= peer * 10 && slowed >= normal * 10 && slowed < Duration::from_secs(1),
        "rgw.b GET / median {normal:?} before, {slowed:?} starved; rgw.a {peer:?}"
    );
    sidecar.wait_word(
        "rgw.b",
        "drained for being slow",
        Duration::from_secs(20),
        |w| w == "drain",
    );
    haproxy.wait_status("rgw.b", "in DRAIN", Duration::from_secs(5), |s| {
        s.starts_with("DRAIN")
    });
    let sessions = |h: &Haproxy| -> Vec<u64> {
        ["rgw.a", "rgw.b", "rgw.c"]
            .iter()
            .map(|n| h.stat(n, "stot").and_then(|v| v.parse().ok()).unwrap_or(0))
            .collect()
    };
    let (with_before, alone_before) = (sessions(&haproxy), sessions(&alone));
    let (with, without) = (haproxy.port, alone.port);
    let baseline =
        std::thread::spawn(move || open_loop(without, "/", 40, Duration::from_secs(20), None));
    let outcomes = open_loop(with, "/", 40, Duration::from_secs(20), None);
    let baseline = baseline.join().expect("baseline load");
    let share = |after: Vec<u64>, before: Vec<u64>| {
        let served: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        served[1] as f64 / served.iter().sum::<u64>().max(1) as f64
    };
    let (share_with, share_without) = (
        share(sessions(&haproxy), with_before),
        share(sessions(&alone), alone_before),
    );
    let p99 = |o: &[Outcome]| {
        let mut l: Vec<Duration> = o.iter().map(|o| o.latency).collect();
        l.sort();
        percentile(&l, 0.99)
    };
    let word = sidecar.agent(Some("rgw.b")).0;
    eprintln!("rgw.b: GET / {normal:?} -> {slowed:?} (rgw.a {peer:?}); agent: {word}");
    eprintln!("rgw.b's share: {share_with:.3} with the sidecar, {share_without:.3} without");
    eprintln!("with the sidecar: {}", summary(&outcomes));
    eprintln!("without: {}", summary(&baseline));
    let (p99_with, p99_without) = (p99(&outcomes), p99(&baseline));
    eprintln!("p99 {p99_with:?} with the sidecar, {p99_without:?} without");
    assert_eq!(word, "drain", "still drained through the load");
    assert!(
        share_with < share_without / 2.0,
        "rgw.b's share {share_with:.3} with the sidecar, {share_without:.3} without"
    );
    assert!(
        p99_with < p99_without,
        "p99 {p99_with:?} with the sidecar, {p99_without:?} without"
    );
    assert_eq!(errors(&outcomes), 0, "{}", summary(&outcomes));
    slow.join().expect("duty cycle");
    sidecar.wait_word(
        "rgw.b",
        "its full weight back",
        Duration::from_secs(40),
        |w| w == "up ready 100%",
    );
    assert_eq!(lab.pid("b"), pid_before, "not restarted");
    let events = sidecar.get("/events").1;
    assert!(
        events.contains("slow, not hung") && events.contains("drained while they take its share"),
        "{events}"
    );
}
