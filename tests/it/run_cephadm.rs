//! The sidecar against the faithful cephadm stand-in, `tests/lab/fake-cephadm` (selected by
//! the lab's mode file, `Lab::cephadm_model`): restarts queued behind a serve loop, podman's
//! stop (SIGTERM, SIGKILL after its timeout, never SIGCONT), an `orch ps` cache re-listed only
//! after a lag, release 20's ok-to-stop refusal, a mgr failover. The radosgw daemons and
//! HAProxy are real, as in `run_lab`, whose scenario helpers these use.

use std::time::Duration;

use crate::ingress::*;
use crate::lab::Lab;
use crate::run_lab::{haproxy_for, sidecar_for};
use crate::support::{blocking_command, now, repo_path, wait_for};

/// Against the faithful cephadm stand-in (`tests/lab/fake-cephadm`): the restart waits 5 s in
/// the serve loop's queue, podman's stop of the frozen RGW takes its 10 s SIGKILL timeout, and
/// `orch ps` shows the new process only 30 s after the restart. The sidecar sees the new
/// process on the host (its admin socket) and puts it back in rotation once it answers, long
/// before cephadm's cache shows it, without leaning on `orch ps --refresh`.
#[test]
fn against_cephadm_a_frozen_rgw_is_back_once_its_new_process_answers_not_when_orch_ps_shows_it() {
    let lab = Lab::up("cadm-frozen", 3);
    lab.cephadm_model(&[("SERVE_DELAY", "5"), ("CACHE_LAG", "30")]);
    let (sidecar, haproxy) = serving(&lab, "cadm-frozen", "");
    let pid_before = lab.pid("b");
    let port = haproxy.port;
    let load = std::thread::spawn(move || open_loop(port, "/", 50, Duration::from_secs(40), None));
    std::thread::sleep(Duration::from_secs(3));
    lab.ctl("freeze", "b");
    let frozen = now();
    haproxy.wait_status("rgw.b", "out of rotation", Duration::from_secs(15), |s| {
        s.starts_with("DOWN") || s.starts_with("MAINT") || s.starts_with("DRAIN")
    });
    let out = frozen.elapsed();
    // Meanwhile the agent and /status say what the sidecar waits for.
    let (mut words, mut reasons) = (Vec::new(), Vec::new());
    let mut look = || {
        let word = sidecar.agent(Some("rgw.b")).0;
        if words.last() != Some(&word) {
            words.push(word);
        }
        let reason = daemon_status(&sidecar, "rgw.b")["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if reasons.last() != Some(&reason) {
            reasons.push(reason);
        }
    };
    wait_for(
        "rgw.b's new process answering 200",
        Duration::from_secs(45),
        || {
            look();
            lab.pid("b").is_some_and(|p| Some(p) != pid_before) && lab.answers_200("b")
        },
    );
    let answered = frozen.elapsed();
    wait_for("HAProxy has rgw.b back UP", Duration::from_secs(30), || {
        look();
        haproxy.status("rgw.b").is_some_and(|s| s == "UP")
    });
    let back = frozen.elapsed();
    let state = lab.cephadm_state();
    let outcomes = load.join().expect("load");
    eprintln!(
        "freeze -> out {out:?}; new process answering {answered:?}; back in rotation {back:?}"
    );
    eprintln!("agent words: {words:?}");
    eprintln!("/status reasons: {reasons:#?}");
    eprintln!("load: {}", summary(&outcomes));
    let restart = &state["history"][0];
    assert_eq!(restart["daemon"], "rgw.b", "{state}");
    assert_eq!(
        restart["sigkill"], true,
        "podman's stop ended the frozen rgw.b"
    );
    // Back within 5 s of answering, and before cephadm re-listed the host after the restart.
    assert!(
        back < answered + Duration::from_secs(5),
        "back {back:?}, answering {answered:?}"
    );
    let done = restart["done"].as_f64().expect("done");
    let relisted_after = state["hosts"]
        .as_object()
        .expect("hosts")
        .values()
        .filter_map(|h| h["last_refresh"].as_f64())
        .any(|at| at > done);
    assert!(!relisted_after, "orch ps had re-listed the host: {state}");
    assert_eq!(errors(&outcomes), 0, "{}", summary(&outcomes));
    let refreshes = sidecar
        .ceph_calls()
        .lines()
        .filter(|l| l.contains("orch ps") && l.contains("--refresh"))
        .count();
    let allowed = 1 + usize::try_from(frozen.elapsed().as_secs() / 5).unwrap_or(0);
    assert!(
        refreshes <= allowed,
        "{refreshes} orch ps --refresh in {:?}",
        frozen.elapsed()
    );
    assert!(
        words.iter().all(|w| !w.starts_with("down #recovering 3")),
        "{words:?}"
    );
}

/// The sidecar (rgw keys `extra`, and the lab's admin sockets: how it sees a new process) and
/// HAProxy in front of the lab's RGWs, every RGW up ready.
fn serving(lab: &Lab, tag: &str, extra: &str) -> (crate::sidecar::Sidecar, Haproxy) {
    let keys = format!(
        "admin-socket = \"{}/run/ceph-client.{{name}}.asok\"\n{extra}",
        lab.dir.display()
    );
    let sidecar = sidecar_for(lab, tag, &keys);
    let haproxy = haproxy_for(lab, &sidecar);
    (sidecar, haproxy)
}

/// The RGW's `/status` row.
fn daemon_status(sidecar: &crate::sidecar::Sidecar, name: &str) -> serde_json::Value {
    sidecar.status()["daemons"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["name"] == name))
        .cloned()
        .unwrap_or_default()
}

/// Waits until rgw.`id` runs a process other than `before` and HAProxy has it UP again;
/// returns each `state: reason` its `/status` row went through meanwhile.
fn back_after_restart(
    lab: &Lab,
    sidecar: &crate::sidecar::Sidecar,
    haproxy: &Haproxy,
    id: &str,
    before: Option<u32>,
    limit: Duration,
) -> Vec<String> {
    let name = format!("rgw.{id}");
    let mut seen = Vec::new();
    wait_for(&format!("{name} restarted (new pid)"), limit, || {
        let row = daemon_status(sidecar, &name);
        let now = format!("{}: {}", row["state"], row["reason"]);
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        lab.pid(id).is_some_and(|p| Some(p) != before)
    });
    haproxy.wait_status(&name, "back UP", Duration::from_secs(30), |s| s == "UP");
    seen
}

/// What a restart cephadm took and did not run (within the 15 s restart-timeout of the test)
/// left, once the daemon is back: `/status` said so, the daemon was never held, and one
/// restart is counted, the one that was performed.
fn not_performed_then_back(sidecar: &crate::sidecar::Sidecar, name: &str, reasons: &[String]) {
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("took the restart but has not performed it in 15s")),
        "{reasons:#?}"
    );
    assert!(
        reasons.iter().all(|r| !r.starts_with("\"held\"")),
        "{reasons:#?}"
    );
    let row = daemon_status(sidecar, name);
    assert_eq!(row["state"], "healthy", "{row}");
    assert_eq!(
        row["restarts_in_window"], 1,
        "the restart that ran, once: {row}"
    );
}

/// Freezes rgw.`id` and waits until a new process of it is UP in HAProxy; returns the client
/// load's outcomes over that time.
fn frozen_then_back(lab: &Lab, haproxy: &Haproxy, id: &str) -> Vec<Outcome> {
    let before = lab.pid(id);
    let port = haproxy.port;
    let load = std::thread::spawn(move || open_loop(port, "/", 50, Duration::from_secs(35), None));
    std::thread::sleep(Duration::from_secs(2));
    lab.ctl("freeze", id);
    wait_for(
        &format!("rgw.{id} restarted (new pid)"),
        Duration::from_secs(60),
        || lab.pid(id).is_some_and(|p| Some(p) != before),
    );
    haproxy.wait_status(
        &format!("rgw.{id}"),
        "back UP",
        Duration::from_secs(30),
        |s| s == "UP",
    );
    load.join().expect("load")
}

/// cephadm 20.2 without a cephadm ingress refuses an RGW restart (ok-to-stop) and says the
/// warning can be bypassed with --force: the sidecar asks again with it. The same sidecar on
/// 18.2, which rejects the word, never sends it.
#[test]
fn against_cephadm_20_the_ok_to_stop_refusal_is_forced_and_18_never_sees_force() {
    let lab = Lab::up("cadm-force", 3);
    // A short podman stop timeout (3 s, not 10) keeps the two restarts quick.
    let knobs = |release| {
        [
            ("RELEASE", release),
            ("INGRESS", "0"),
            ("SERVE_DELAY", "1"),
            ("CACHE_LAG", "5"),
            ("STOP_TIMEOUT", "3"),
        ]
    };
    lab.cephadm_model(&knobs("20"));
    let (sidecar, haproxy) = serving(&lab, "cadm-force", "");

    let outcomes = frozen_then_back(&lab, &haproxy, "b");
    eprintln!("release 20, rgw.b: {}", summary(&outcomes));
    let calls = sidecar.ceph_calls();
    let asks: Vec<&str> = calls
        .lines()
        .filter(|l| l.contains("orch daemon restart"))
        .collect();
    assert!(
        asks.len() == 2
            && asks[0].ends_with("orch daemon restart rgw.b")
            && asks[1].ends_with("orch daemon restart rgw.b --force"),
        "asked, refused, asked again with --force: {calls}"
    );
    assert_eq!(errors(&outcomes), 0, "{}", summary(&outcomes));
    let b = daemon_status(&sidecar, "rgw.b");
    assert_eq!(b["state"], "healthy", "{b}");
    assert_eq!(b["restarts_in_window"], 1, "one attempt, forced: {b}");

    lab.cephadm_model(&knobs("18"));
    let outcomes = frozen_then_back(&lab, &haproxy, "c");
    eprintln!("release 18, rgw.c: {}", summary(&outcomes));
    let calls = sidecar.ceph_calls();
    assert_eq!(
        calls.matches("orch daemon restart rgw.c").count(),
        1,
        "{calls}"
    );
    assert!(!calls.contains("rgw.c --force"), "{calls}");
    assert_eq!(errors(&outcomes), 0, "{}", summary(&outcomes));
}

/// A mgr failover as the restart is asked for: the `ceph` CLI hangs (no active mgr), then the
/// new mgr says `no valid command found`, then `Module not found`. None of that is an attempt:
/// the daemon is never held, no restart budget is spent on it, and it is restarted once the mgr
/// answers.
#[test]
fn against_cephadm_a_mgr_failover_during_the_restart_holds_nothing_and_the_restart_follows() {
    let lab = Lab::up("cadm-failover", 3);
    lab.cephadm_model(&[
        ("SERVE_DELAY", "1"),
        ("CACHE_LAG", "5"),
        ("STOP_TIMEOUT", "3"),
    ]);
    let (sidecar, haproxy) = serving(&lab, "cadm-failover", "");
    let before = lab.pid("b");
    // The mgr fails over as rgw.b freezes: 8 s without a mgr (longer than finding rgw.b
    // failed and drained takes), then 6 s of each error.
    stand_in(&lab, &["failover", "8", "6", "6"]);
    lab.ctl("freeze", "b");
    let states = back_after_restart(
        &lab,
        &sidecar,
        &haproxy,
        "b",
        before,
        Duration::from_secs(90),
    );
    eprintln!("rgw.b through the failover: {states:#?}");
    let calls = sidecar.ceph_calls();
    eprintln!("{calls}");
    assert!(
        states.iter().all(|s| !s.starts_with("\"held\"")),
        "{states:#?}"
    );
    assert!(
        states
            .iter()
            .any(|s| s.contains("the orchestrator did not take the restart")),
        "{states:#?}"
    );
    assert!(
        calls.matches("orch daemon restart rgw.b").count() >= 2,
        "asked again after the failover: {calls}"
    );
    let b = daemon_status(&sidecar, "rgw.b");
    assert_eq!(
        b["restarts_in_window"], 1,
        "only the restart that was taken: {b}"
    );
}

/// `fake-cephadm -d DIR WORDS...`: the stand-in's own commands (`failover HANG NOCMD NOMOD`,
/// `orch pause`).
fn stand_in(lab: &Lab, words: &[&str]) {
    let status = blocking_command("python3")
        .arg(repo_path("tests/lab/fake-cephadm"))
        .arg("-d")
        .arg(&lab.dir)
        .args(words)
        .status()
        .expect("run fake-cephadm");
    assert!(status.success(), "fake-cephadm {words:?}");
}

/// The original incident with cephadm's serve loop busy (a reconfig after a monmap change, a
/// device scan): all three RGWs frozen, and the canary's restart runs 150 s after it was
/// scheduled, past the default 120 s restart-timeout. The host shows the old process all
/// along, so the timeout is no failed attempt and no failed canary: no restart budget is
/// spent on it and nothing holds; the restart is asked again (cephadm merges it with the
/// queued one) and proven when it runs, and the other two follow once the serve loop is idle
/// again (3 s). The stop timeout is 3 s here (the 10 s one is the all-frozen test's).
#[test]
fn against_cephadm_a_canary_restart_run_150_s_late_burns_no_budget_and_holds_nothing() {
    let lab = Lab::up("cadm-late", 3);
    lab.cephadm_model(&[("SERVE_DELAY", "150"), ("STOP_TIMEOUT", "3")]);
    let (sidecar, haproxy) = serving(&lab, "cadm-late", "");
    let before: Vec<Option<u32>> = lab.ids.iter().map(|id| lab.pid(id)).collect();
    for id in &lab.ids {
        lab.ctl("freeze", id);
    }
    let frozen = now();
    // Every `name: state: reason` the RGWs went through.
    let mut seen: Vec<String> = Vec::new();
    let mut look = || {
        let daemons = sidecar.status()["daemons"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for d in daemons {
            let line = format!("{}: {}: {}", d["name"], d["state"], d["reason"]);
            if !seen.contains(&line) {
                seen.push(line);
            }
        }
    };
    wait_for(
        "cephadm's serve loop restarting one RGW",
        Duration::from_secs(200),
        || {
            look();
            lab.ids
                .iter()
                .zip(&before)
                .any(|(id, pid)| lab.pid(id).is_some_and(|p| Some(p) != *pid))
        },
    );
    let canary_ran = frozen.elapsed();
    // The serve loop is idle again: the restarts asked from now on run 3 s after the ask.
    lab.cephadm_model(&[("SERVE_DELAY", "3"), ("STOP_TIMEOUT", "3")]);
    crate::run_lab::every_rgw_restarted_and_up(&lab, &haproxy, &before, &mut look);
    let state = lab.cephadm_state();
    eprintln!(
        "canary restarted by cephadm {canary_ran:?} after the freeze; all back {:?}",
        frozen.elapsed()
    );
    eprintln!("{seen:#?}");
    assert!(canary_ran >= Duration::from_secs(150), "{canary_ran:?}");
    assert!(
        seen.iter().any(|r| r.contains(
            "waiting to restart: the orchestrator took the restart but has not performed it in 2m (the same process runs)"
        )),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .all(|r| !r.contains("\"held\"") && !r.contains("holds until")),
        "{seen:#?}"
    );
    for d in sidecar.status()["daemons"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        assert_eq!(d["state"], "healthy", "{d}");
        assert_eq!(
            d["restarts_in_window"], 1,
            "one restart each, the one that ran: {d}"
        );
    }
    let runs = state["history"].as_array().expect("history");
    assert_eq!(runs.len(), 3, "cephadm ran three restarts: {state}");
    assert!(
        runs[0]["merged"].as_u64().is_some_and(|m| m >= 1),
        "the canary's second ask merged with the queued restart: {state}"
    );
}

/// The service unmanaged (rgw.c), then the orchestrator paused (rgw.b): cephadm says
/// `Scheduled to restart ...` and never runs it. At restart-timeout (15 s here) the host still
/// shows the old process, `/status` says so, and the restart goes to the next backend, which
/// restarts it. Stand-in for that backend, besides fake-cephadm: `command` running the lab's
/// `rgw-ctl.sh restart` where a host would have the `systemd` backend (`systemctl restart` of
/// cephadm's unit; no systemd runs here).
#[test]
fn against_cephadm_a_restart_accepted_and_never_run_falls_back_to_the_next_backend() {
    let lab = Lab::up("cadm-fallback", 3);
    let knobs = [("SERVE_DELAY", "1"), ("CACHE_LAG", "5"), ("UNMANAGED", "1")];
    lab.cephadm_model(&knobs);
    let lab_dir = lab.dir.display().to_string();
    let sidecar = crate::sidecar::Sidecar::start(
        "cadm-fallback",
        "orchestrators = [\"ceph-orch\", \"command\"]",
        &format!(
            "[command]\nrestart = [\"bash\", \"{}\", \"-d\", \"{lab_dir}\", \"restart\", \"{{id}}\"]\n\
             [daemon-types.rgw]\nadmin-socket = \"{lab_dir}/run/ceph-client.{{name}}.asok\"\n\
             restart-timeout = \"15s\"\n",
            repo_path("tests/lab/rgw-ctl.sh").display()
        ),
        &[("FAKE_CEPH_LAB_DIR", lab_dir.as_str())],
    );
    let haproxy = haproxy_for(&lab, &sidecar);
    for (id, obstacle) in [("c", "unmanaged"), ("b", "paused")] {
        if obstacle == "paused" {
            stand_in(&lab, &["orch", "pause"]);
        }
        let name = format!("rgw.{id}");
        let before = lab.pid(id);
        lab.ctl("freeze", id);
        let reasons = back_after_restart(
            &lab,
            &sidecar,
            &haproxy,
            id,
            before,
            Duration::from_secs(90),
        );
        eprintln!("{name} ({obstacle}): {reasons:#?}");
        not_performed_then_back(&sidecar, &name, &reasons);
        let state = lab.cephadm_state();
        assert!(
            state["history"]
                .as_array()
                .is_some_and(|h| h.iter().all(|r| r["daemon"] != name.as_str())),
            "cephadm never ran it ({obstacle}): {state}"
        );
    }
}

/// The original incident against cephadm as it behaves: all three RGWs frozen under load, each
/// restart queued behind the serve loop (3 s) and stopped by podman's stop, whose SIGKILL
/// comes 10 s after a SIGTERM a frozen process never acts on. With `kill-hung` the sidecar
/// kills each hung process itself once cephadm took its restart and HAProxy heard it is out,
/// so the stop finds it gone and the new process starts at once: the first 200 through
/// HAProxy comes within 10 s of the freeze, and the restarts go one at a time. Stand-ins:
/// fake-cephadm for cephadm, and `command` running the lab's `rgw-ctl.sh kill` (SIGKILL of
/// the RGW's recorded pid) where a host has `systemctl kill --signal=SIGKILL` of cephadm's
/// unit (no systemd runs here).
#[test]
fn against_cephadm_all_three_frozen_answer_within_10_s_because_the_hung_processes_are_killed() {
    let lab = Lab::up("cadm-all-frozen", 3);
    lab.cephadm_model(&[]);
    let lab_dir = lab.dir.display().to_string();
    let sidecar = crate::sidecar::Sidecar::start(
        "cadm-all-frozen",
        "kill-hung = \"command\"",
        &format!(
            "[command]\nkill = [\"bash\", \"{}\", \"-d\", \"{lab_dir}\", \"kill\", \"{{id}}\"]\n\
             [daemon-types.rgw]\nadmin-socket = \"{lab_dir}/run/ceph-client.{{name}}.asok\"\n",
            repo_path("tests/lab/rgw-ctl.sh").display()
        ),
        &[("FAKE_CEPH_LAB_DIR", lab_dir.as_str())],
    );
    let haproxy = haproxy_for(&lab, &sidecar);
    let before: Vec<Option<u32>> = lab.ids.iter().map(|id| lab.pid(id)).collect();
    let port = haproxy.port;
    let load = std::thread::spawn(move || open_loop(port, "/", 20, Duration::from_secs(25), None));
    std::thread::sleep(Duration::from_secs(2));
    for id in &lab.ids {
        lab.ctl("freeze", id);
    }
    let frozen = now();
    // What the agent says while the restarts go, sampled until the load ends (a request sent
    // now would be held by HAProxy, not answered: it cannot pace the sampling).
    let mut words = Vec::new();
    while !load.is_finished() && frozen.elapsed() < Duration::from_secs(40) {
        for name in ["rgw.a", "rgw.b", "rgw.c"] {
            let word = sidecar.agent(Some(name)).0;
            if word.starts_with("down #restarting") && !words.contains(&word) {
                words.push(word);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    crate::run_lab::every_rgw_restarted_and_up(&lab, &haproxy, &before, || {});
    let all_back = frozen.elapsed();
    let outcomes = load.join().expect("load");
    // The first 200 any client got after the freeze, counted from the freeze to its answer.
    let first_200 = outcomes
        .iter()
        .filter(|o| o.result == Ok(200) && o.sent + o.latency > frozen)
        .map(|o| (o.sent + o.latency).duration_since(frozen))
        .min();
    let events = sidecar.get("/events").1;
    let state = lab.cephadm_state();
    eprintln!("all three frozen -> first 200 through HAProxy after {first_200:?}; all back after {all_back:?}");
    eprintln!("agent words while restarting: {words:#?}");
    eprintln!("load: {}", summary(&outcomes));
    let first_200 =
        first_200.unwrap_or_else(|| panic!("no 200 after the freeze; events:\n{events}"));
    assert!(
        first_200 < Duration::from_secs(10),
        "first 200 after {first_200:?}; events:\n{events}"
    );
    // Clients' requests are held, not refused, while every RGW is frozen (issue 13): the ones
    // waiting their turn stay in rotation, so HAProxy keeps each request until the canary is
    // back and `retry-on` replays it there. Taking all three out gave 503s for every request
    // of the gap (the benchmark measured 813 of 6,000 at 100/s; about 8 s of the 25 here).
    let errors = crate::ingress::errors(&outcomes);
    assert!(
        errors * 50 <= outcomes.len(),
        "{errors} of {} requests failed (at most 2 %): {}; events:\n{events}",
        outcomes.len(),
        summary(&outcomes)
    );
    // Each hung process was killed by the sidecar: cephadm's stop found it gone and never
    // waited for podman's SIGKILL.
    let kills = events
        .lines()
        .filter(|l| l.contains("killed the hung process (its admin socket did not answer either)"))
        .count();
    assert_eq!(kills, 3, "{events}");
    let runs = state["history"].as_array().expect("history");
    assert_eq!(runs.len(), 3, "{state}");
    assert!(
        runs.iter().all(|r| r["sigkill"] != true),
        "podman's stop had to SIGKILL: {state}"
    );
    assert!(
        words.iter().any(|w| w
            == "down #restarting: hung process killed, waiting for the orchestrator to start a new one"),
        "{words:#?}"
    );
    // One at a time: each restart is asked only once the one before is back.
    let mut under_way = 0;
    for line in events.lines() {
        if line.contains("\"to\":\"restarting\"") && line.contains("\"from\":\"failed\"") {
            under_way += 1;
            assert_eq!(under_way, 1, "two restarts overlapped:\n{events}");
        } else if line.contains("back after the restart") {
            under_way -= 1;
        }
    }
}
