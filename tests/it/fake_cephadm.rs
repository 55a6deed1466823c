//! The stand-in cephadm itself, against a real lab: `tests/lab/fake-cephadm` (a TEST STAND-IN
//! for cephadm, which cannot run here), reached through the stand-in `ceph` CLI
//! `tests/lab/fake-ceph` with `FAKE_CEPH_MODEL=cephadm`, and its serve loop (one background
//! process per lab). The radosgw daemons it restarts are real. Each test sets the model's knobs
//! in the lab's mode file (`DIR/fake-ceph.env`), with delays shorter than the realistic defaults.

use std::time::Duration;

use serde_json::Value;

use crate::lab::Lab;
use harness::{blocking_command, epoch_seconds, now};

const FAKE_CEPH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/fake-ceph");
const FAKE_CEPHADM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/fake-cephadm");

struct Reply {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `ceph ARGS` through the stand-in: only the lab dir in the environment, the rest (the
/// cephadm model and its knobs) from the lab's mode file.
fn ceph(lab: &Lab, args: &[&str]) -> Reply {
    let out = blocking_command(FAKE_CEPH)
        .args(args)
        .env("FAKE_CEPH_LAB_DIR", &lab.dir)
        .output()
        .expect("run tests/lab/fake-ceph");
    Reply {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `orch ps --format json` row of `name`.
fn row(lab: &Lab, name: &str, refresh: bool) -> Value {
    let mut args = vec!["orch", "ps", "--format", "json"];
    if refresh {
        args.push("--refresh");
    }
    let reply = ceph(lab, &args);
    assert_eq!(reply.code, 0, "orch ps: {}", reply.stderr);
    assert!(
        reply.stdout.starts_with('\n'),
        "the CLI's blank line before JSON"
    );
    let rows: Vec<Value> = serde_json::from_str(&reply.stdout).expect("orch ps JSON");
    rows.into_iter()
        .find(|r| r["daemon_name"] == name)
        .unwrap_or_else(|| panic!("{name} not in orch ps"))
}

fn epoch() -> f64 {
    epoch_seconds()
}

/// Polls `probe` every 100 ms until it gives a value; panics naming `what` after `limit`.
fn poll<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(start.elapsed() < limit, "no {what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the serve loop has made a pass after `t` (epoch seconds): by then it has
/// looked at every action and refresh due at `t`. How "nothing happened" is observed without
/// sleeping for a guessed time.
fn serve_pass_after(lab: &Lab, t: f64) {
    poll("serve-loop pass", Duration::from_secs(10), || {
        (lab.cephadm_state()["last_pass"].as_f64().unwrap_or(0.0) > t).then_some(())
    });
}

fn history_len(lab: &Lab) -> usize {
    lab.cephadm_state()["history"]
        .as_array()
        .map_or(0, Vec::len)
}

fn last_history(lab: &Lab) -> Value {
    lab.cephadm_state()["history"]
        .as_array()
        .and_then(|h| h.last().cloned())
        .expect("a history entry")
}

/// `ceph orch daemon ACTION NAME`, which cephadm only schedules: says so, exit 0.
fn ask(lab: &Lab, action: &str, name: &str, host: &str) {
    scheduled(
        &ceph(lab, &["orch", "daemon", action, name]),
        action,
        name,
        host,
    );
}

fn scheduled(reply: &Reply, action: &str, name: &str, host: &str) {
    assert_eq!(
        (reply.code, reply.stdout.as_str(), reply.stderr.as_str()),
        (
            0,
            format!("Scheduled to {action} {name} on host '{host}'\n").as_str(),
            ""
        ),
    );
}

#[test]
fn restart_is_queued_the_cache_lags_and_a_frozen_rgw_takes_podmans_sigkill_timeout() {
    let lab = Lab::up("cadm-queue", 1);
    lab.cephadm_model(&[
        ("SERVE_DELAY", "2"),
        ("CACHE_LAG", "4"),
        ("STOP_TIMEOUT", "10"),
    ]);
    let before = row(&lab, "rgw.a", false);
    let host = before["hostname"].as_str().expect("hostname").to_string();
    assert_eq!(
        (&before["status"], &before["status_desc"]),
        (&Value::from(1), &Value::from("running"))
    );
    let old_pid = lab.pid("a").expect("rgw.a pid");

    // Queued: "Scheduled", exit 0, and nothing has happened yet.
    let asked = now();
    let asked_epoch = epoch();
    ask(&lab, "restart", "rgw.a", &host);
    assert_eq!(
        lab.pid("a"),
        Some(old_pid),
        "restarted before the serve loop ran"
    );
    let new_pid = poll("new rgw.a process", Duration::from_secs(20), || {
        lab.pid("a").filter(|p| *p != old_pid)
    });
    let after = asked.elapsed();
    assert!(
        after >= Duration::from_millis(1950),
        "restarted {after:?} after the request, before the 2 s serve-loop delay"
    );

    // The event is live at once; the row is the cached one until the re-listing.
    let event = format!("daemon:rgw.a [INFO] \"restart rgw.a from host '{host}'\"");
    let stale = poll("the restart event", Duration::from_secs(5), || {
        let r = row(&lab, "rgw.a", false);
        r["events"]
            .as_array()
            .is_some_and(|e| {
                e.iter()
                    .any(|e| e.as_str().is_some_and(|e| e.ends_with(&event)))
            })
            .then_some(r)
    });
    for key in ["started", "container_id", "last_refresh", "status"] {
        assert_eq!(
            stale[key], before[key],
            "{key} changed before the cache refresh"
        );
    }
    let fresh = poll("the re-listed row", Duration::from_secs(20), || {
        let r = row(&lab, "rgw.a", false);
        (r["started"] != before["started"]).then_some(r)
    });
    assert_ne!(
        fresh["container_id"], before["container_id"],
        "a new container"
    );
    assert_ne!(fresh["last_refresh"], before["last_refresh"]);
    let restart = last_history(&lab);
    let refreshed_at = lab.cephadm_state()["hosts"][&host]["last_refresh"]
        .as_f64()
        .expect("last_refresh");
    let lag = refreshed_at - restart["done"].as_f64().expect("done");
    assert!(
        lag >= 3.95,
        "re-listed {lag:.2} s after the restart, not after the 4 s lag"
    );
    assert!(restart["ran"].as_f64().expect("ran") - asked_epoch >= 1.95);
    assert_eq!(restart["sigkill"], false, "a healthy RGW stops on SIGTERM");
    let healthy_stop = restart["stop_seconds"].as_f64().expect("stop_seconds");
    assert!(healthy_stop < 10.0);
    poll("rgw.a answering 200", Duration::from_secs(30), || {
        lab.answers_200("a").then_some(())
    });
    eprintln!(
        "restart asked -> new process {after:?} (serve delay 2 s); SIGTERM stop {healthy_stop:.2} s; \
         re-listed {lag:.2} s after the restart (cache lag 4 s); new pid {new_pid}"
    );

    // --refresh returns the stale cache and only queues a re-listing.
    lab.cephadm_model(&[
        ("SERVE_DELAY", "0.5"),
        ("CACHE_LAG", "60"),
        ("REFRESH_LAG", "1"),
        ("STOP_TIMEOUT", "3"),
    ]);
    let before = row(&lab, "rgw.a", false);
    let requests = lab.cephadm_state()["refresh_requests"]
        .as_u64()
        .expect("count");
    let done = history_len(&lab);
    ask(&lab, "restart", "rgw.a", &host);
    poll("the second restart", Duration::from_secs(20), || {
        (history_len(&lab) > done).then_some(())
    });
    let refreshed = now();
    let stale = row(&lab, "rgw.a", true);
    assert_eq!(
        stale["started"], before["started"],
        "--refresh answered from the cache"
    );
    let fresh = poll("the row after --refresh", Duration::from_secs(10), || {
        let r = row(&lab, "rgw.a", false);
        (r["started"] != before["started"]).then_some(r)
    });
    let took = refreshed.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "long before the 60 s cache lag"
    );
    assert_eq!(fresh["status_desc"], "running");
    assert_eq!(
        lab.cephadm_state()["refresh_requests"].as_u64(),
        Some(requests + 1),
        "one --refresh call, one queued refresh"
    );
    eprintln!(
        "orch ps --refresh: stale answer, new process listed {took:?} later (refresh lag 1 s)"
    );

    // podman stop of a frozen RGW: SIGTERM stays pending, SIGKILL after the timeout; the old
    // process is never continued, so it never answers again.
    lab.ctl("freeze", "a");
    let frozen = lab.pid("a").expect("rgw.a pid");
    let done = history_len(&lab);
    ask(&lab, "restart", "rgw.a", &host);
    // It must stay stopped (state T) until the SIGKILL: a process killed while stopped runs
    // its exit path (R or D for a moment, longer on a loaded machine) before it is a zombie,
    // so leaving T is not proof of a SIGCONT; leaving it before the timeout is.
    let mut saw_sigterm_pending = false;
    let mut left_stopped = None;
    let watch = now();
    loop {
        let status = std::fs::read_to_string(format!("/proc/{frozen}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        match field("State:").as_deref().and_then(|s| s.chars().next()) {
            Some('T') => {}
            None | Some('Z') => break,
            Some(_) => {
                left_stopped.get_or_insert_with(epoch);
            }
        }
        let pending = field("ShdPnd:").and_then(|m| u64::from_str_radix(&m, 16).ok());
        saw_sigterm_pending |= pending.is_some_and(|mask| mask & (1 << 14) != 0);
        assert!(
            watch.elapsed() < Duration::from_secs(30),
            "the frozen rgw.a (pid {frozen}) still there 30 s after the restart was asked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let gone = epoch();
    assert!(
        saw_sigterm_pending,
        "SIGTERM was sent (pending while stopped)"
    );
    poll(
        "the frozen restart's record",
        Duration::from_secs(20),
        || (history_len(&lab) > done).then_some(()),
    );
    let restart = last_history(&lab);
    assert_eq!(restart["old_pid"], frozen);
    assert_eq!(restart["sigkill"], true, "SIGKILL ended it");
    let stop = restart["stop_seconds"].as_f64().expect("stop_seconds");
    assert!(
        (3.0..6.0).contains(&stop),
        "stopped in {stop:.2} s, not after the 3 s podman timeout"
    );
    let ran = restart["ran"].as_f64().expect("ran");
    let still_stopped = left_stopped.unwrap_or(gone) - ran;
    assert!(
        still_stopped >= 2.9,
        "the frozen rgw.a ran again {still_stopped:.2} s after the stop began, before the 3 s \
         timeout's SIGKILL: it was continued"
    );
    poll(
        "the new rgw.a answering 200",
        Duration::from_secs(30),
        || lab.answers_200("a").then_some(()),
    );
    eprintln!("frozen rgw.a: podman stop took {stop:.2} s (timeout 3 s, SIGKILL), never thawed");

    // Rows older than daemon_cache_timeout are re-listed with no action and no --refresh.
    let listed = row(&lab, "rgw.a", false)["last_refresh"].clone();
    lab.cephadm_model(&[("CACHE_LAG", "60"), ("DAEMON_CACHE_TIMEOUT", "1")]);
    poll(
        "a re-listing on the cache timeout",
        Duration::from_secs(10),
        || (row(&lab, "rgw.a", false)["last_refresh"] != listed).then_some(()),
    );
}

#[test]
fn paused_unmanaged_offline_and_a_queued_stop_say_scheduled_and_do_not_restart() {
    let lab = Lab::up("cadm-noop", 1);
    lab.cephadm_model(&[("SERVE_DELAY", "0.5"), ("CACHE_LAG", "0.5")]);
    let host = row(&lab, "rgw.a", false)["hostname"]
        .as_str()
        .expect("hostname")
        .to_string();
    let restart = || ceph(&lab, &["orch", "daemon", "restart", "rgw.a"]);
    let pid = || lab.pid("a").expect("rgw.a pid");
    // Scheduled, exit 0, then a serve-loop pass after the action fell due: nothing ran.
    // Returns the pid and the number of actions run so far, for `runs_later`.
    let accepted_not_run = |why: &str| {
        let before = pid();
        scheduled(&restart(), "restart", "rgw.a", &host);
        let due = lab.cephadm_state()["actions"]["rgw.a"]["run_at"]
            .as_f64()
            .unwrap_or_else(|| panic!("{why}: the restart is not queued"));
        serve_pass_after(&lab, due + 0.2);
        assert_eq!(pid(), before, "{why}: restarted");
        assert!(
            lab.cephadm_state()["actions"]["rgw.a"].is_object(),
            "{why}: still queued"
        );
        (before, history_len(&lab))
    };
    // The action's record is written after the new process started: wait for the record.
    let runs_later = |(before, runs): (u32, usize), why: &str| {
        poll(why, Duration::from_secs(20), || {
            (history_len(&lab) > runs).then_some(())
        });
        assert_ne!(lab.pid("a"), Some(before), "{why}: no new process");
    };

    // Paused: `orch status` says so; the queued restart runs after `orch resume`.
    let paused = ceph(&lab, &["orch", "pause"]);
    assert_eq!((paused.code, paused.stdout.as_str()), (0, ""));
    assert_eq!(
        ceph(&lab, &["orch", "status"]).stdout,
        "Backend: cephadm\nAvailable: Yes\nPaused: Yes\n"
    );
    let status: Value =
        serde_json::from_str(&ceph(&lab, &["orch", "status", "--format", "json"]).stdout)
            .expect("json");
    assert_eq!(status["paused"], true);
    let before = accepted_not_run("paused");
    // A second restart merges with the queued one: one restart in all.
    scheduled(&restart(), "restart", "rgw.a", &host);
    assert_eq!(lab.cephadm_state()["actions"]["rgw.a"]["merged"], 1);
    assert_eq!(ceph(&lab, &["orch", "resume"]).code, 0);
    runs_later(before, "the restart queued while paused");
    let last = last_history(&lab);
    assert_eq!(last["merged"], 1);
    serve_pass_after(&lab, last["done"].as_f64().expect("done") + 1.0);
    assert_eq!(history_len(&lab), before.1 + 1, "two requests, one restart");

    // Unmanaged: `orch ls` says so; the restart waits until the service is managed again.
    lab.cephadm_model(&[
        ("SERVE_DELAY", "0.5"),
        ("CACHE_LAG", "0.5"),
        ("UNMANAGED", "1"),
    ]);
    let services: Vec<Value> =
        serde_json::from_str(&ceph(&lab, &["orch", "ls", "--format", "json"]).stdout)
            .expect("json");
    let rgw = services
        .iter()
        .find(|s| s["service_name"] == "rgw.lab")
        .expect("rgw.lab in orch ls");
    assert_eq!(rgw["unmanaged"], true);
    assert!(ceph(&lab, &["orch", "ls"]).stdout.contains("<unmanaged>"));
    let before = accepted_not_run("unmanaged");
    lab.cephadm_model(&[("SERVE_DELAY", "0.5"), ("CACHE_LAG", "0.5")]);
    runs_later(before, "the restart once managed again");

    // An offline host: its rows say so; the restart waits for the host.
    lab.cephadm_model(&[
        ("SERVE_DELAY", "0.5"),
        ("CACHE_LAG", "0.5"),
        ("OFFLINE_HOSTS", &host),
    ]);
    let offline = row(&lab, "rgw.a", false);
    assert_eq!(
        (&offline["status"], &offline["status_desc"]),
        (&Value::from(-1), &Value::from("host is offline"))
    );
    let before = accepted_not_run("host offline");
    lab.cephadm_model(&[("SERVE_DELAY", "0.5"), ("CACHE_LAG", "0.5")]);
    runs_later(before, "the restart once the host is back");

    // A stop already queued outranks the restart: the RGW is stopped, not restarted.
    assert_eq!(ceph(&lab, &["orch", "pause"]).code, 0);
    ask(&lab, "stop", "rgw.a", &host);
    scheduled(&restart(), "restart", "rgw.a", &host);
    assert_eq!(lab.cephadm_state()["actions"]["rgw.a"]["action"], "stop");
    assert_eq!(ceph(&lab, &["orch", "resume"]).code, 0);
    poll("rgw.a stopped in orch ps", Duration::from_secs(20), || {
        (row(&lab, "rgw.a", false)["status_desc"] == "stopped").then_some(())
    });
    let stopped = last_history(&lab);
    assert_eq!(stopped["action"], "stop");
    serve_pass_after(&lab, stopped["done"].as_f64().expect("done") + 1.0);
    assert_eq!(lab.pid("a"), None, "restarted although a stop was queued");
    assert!(!lab.answers_200("a"));
    ask(&lab, "start", "rgw.a", &host);
    poll("rgw.a started again", Duration::from_secs(30), || {
        lab.answers_200("a").then_some(())
    });
}

#[test]
fn releases_differ_on_force_and_ok_to_stop_and_unknown_daemons_fail_with_exit_22() {
    let lab = Lab::up("cadm-release", 2);
    let knobs = |release: &str, ingress: &str| {
        // Nothing queued here needs to run: the CLI's answers are the point.
        lab.cephadm_model(&[
            ("SERVE_DELAY", "600"),
            ("REFRESH_LAG", "0.3"),
            ("RELEASE", release),
            ("INGRESS", ingress),
        ]);
    };
    knobs("16", "0");
    let host = row(&lab, "rgw.a", false)["hostname"]
        .as_str()
        .expect("hostname")
        .to_string();
    let refused = |reply: Reply, stderr: &str| {
        assert_eq!(
            (reply.code, reply.stdout.as_str(), reply.stderr.as_str()),
            (22, "", stderr)
        );
    };
    let warning = "WARNING: Removing RGW daemons can cause clients to lose connectivity. \n\
                   Note: Warnings can be bypassed with the --force flag\n";

    // 20.2: ok-to-stop first; two RGWs but no cephadm ingress: refused, nothing queued.
    knobs("20", "0");
    for action in ["restart", "stop"] {
        refused(
            ceph(&lab, &["orch", "daemon", action, "rgw.a"]),
            &format!("Error EINVAL: Unable to {action} daemon rgw.a: {warning}"),
        );
    }
    assert_eq!(lab.cephadm_state()["actions"], serde_json::json!({}));
    for reply in [
        ceph(&lab, &["orch", "daemon", "restart", "rgw.a", "--force"]),
        ceph(&lab, &["orch", "daemon", "restart", "--force", "rgw.a"]),
    ] {
        scheduled(&reply, "restart", "rgw.a", &host);
    }
    // With an ingress and two running RGWs it passes.
    knobs("20", "1");
    ask(&lab, "restart", "rgw.b", &host);
    assert!(ceph(&lab, &["orch", "ls"])
        .stdout
        .contains("ingress.rgw.lab"));
    // One RGW running (as the cache says, once re-listed): the ALERT, ingress or not.
    lab.ctl("kill", "b");
    poll("rgw.b listed as error", Duration::from_secs(10), || {
        (row(&lab, "rgw.b", true)["status_desc"] == "error").then_some(())
    });
    refused(
        ceph(&lab, &["orch", "daemon", "restart", "rgw.a"]),
        "Error EINVAL: Unable to restart daemon rgw.a: ALERT: Cannot stop ['rgw.a'] in RGW service. \
         Not enough remaining RGW daemons. Please deploy at least 2 RGW daemons before stopping ['rgw.a']. \n\
         Note: Warnings can be bypassed with the --force flag\n",
    );

    // 16.2 and 18.2 have no --force: the CLI rejects it as any unknown argument.
    knobs("18", "0");
    refused(
        ceph(&lab, &["orch", "daemon", "restart", "rgw.a", "--force"]),
        "Invalid command: unused arguments: ['--force']\n\
         orch daemon start|stop|restart|reconfig|rotate-key <name> :  Start, stop, restart, redeploy, reconfig, or rotate-key for a specific daemon\n\
         Error EINVAL: invalid command\n",
    );
    knobs("16", "0");
    refused(
        ceph(&lab, &["orch", "daemon", "restart", "rgw.a", "--force"]),
        "Invalid command: unused arguments: ['--force']\n\
         orch daemon start|stop|restart|reconfig <name> :  Start, stop, restart, (redeploy,) or reconfig a specific daemon\n\
         Error EINVAL: invalid command\n",
    );
    // Without it, no ok-to-stop: accepted with one RGW running.
    ask(&lab, "restart", "rgw.a", &host);
    let versions: Vec<Value> =
        serde_json::from_str(&ceph(&lab, &["orch", "ps", "--format", "json"]).stdout)
            .expect("json");
    assert!(versions.iter().all(|r| r["version"] == "16.2.15"));

    // An unknown daemon, in every release.
    for release in ["16", "18", "20"] {
        knobs(release, "0");
        refused(
            ceph(&lab, &["orch", "daemon", "restart", "rgw.zz"]),
            "Error EINVAL: Unable to find rgw.zz daemon(s)\n",
        );
    }
}

#[test]
fn mgr_failover_hangs_then_says_no_valid_command_then_module_not_found() {
    let lab = Lab::up("cadm-failover", 1);
    // The serve-loop delay leaves time to start the failover before the restart runs.
    lab.cephadm_model(&[
        ("SERVE_DELAY", "3"),
        ("CACHE_LAG", "0.5"),
        ("RELEASE", "16"),
    ]);
    let host = row(&lab, "rgw.a", false)["hostname"]
        .as_str()
        .expect("hostname")
        .to_string();
    let failover = |windows: [&str; 3]| {
        let status = blocking_command(FAKE_CEPHADM)
            .arg("-d")
            .arg(&lab.dir)
            .arg("failover")
            .args(windows)
            .status()
            .expect("fake-cephadm failover");
        assert!(status.success());
    };
    let before = lab.pid("a").expect("rgw.a pid");

    // 16.2: a restart queued just before the failover is lost with the old mgr.
    ask(&lab, "restart", "rgw.a", &host);
    let started = now();
    failover(["2", "2", "2"]);
    let first = ceph(&lab, &["orch", "ps", "--format", "json"]);
    let hung = started.elapsed();
    assert!(
        hung >= Duration::from_millis(1900),
        "answered after {hung:?}, during the hang"
    );
    assert_eq!(first.code, 22);
    assert_eq!(first.stdout, "\n", "the CLI's blank line before (no) JSON");
    assert!(
        first
            .stderr
            .starts_with("no valid command found; 10 closest matches:\npg stat\n")
            && first.stderr.ends_with("\nError EINVAL: invalid command\n"),
        "{}",
        first.stderr
    );
    let enoent = poll("Module not found", Duration::from_secs(10), || {
        let reply = ceph(&lab, &["orch", "daemon", "restart", "rgw.a"]);
        (reply.code != 22).then_some(reply)
    });
    assert_eq!(
        (enoent.code, enoent.stderr.as_str()),
        (2, "Error ENOENT: Module not found\n")
    );
    poll("an answering orchestrator", Duration::from_secs(10), || {
        (ceph(&lab, &["orch", "ps"]).code == 0).then_some(())
    });
    let lost = last_history(&lab);
    assert_eq!(lost["outcome"], "lost in the mgr failover");
    serve_pass_after(&lab, epoch() + 1.5);
    assert_eq!(lab.pid("a"), Some(before), "the lost restart ran");
    eprintln!(
        "failover: orch ps hung {hung:?}, then EINVAL, ENOENT, answers; the 16.2 restart was lost"
    );

    // 18.2 persists the queued action: it runs once cephadm is back, not during the failover.
    lab.cephadm_model(&[
        ("SERVE_DELAY", "2"),
        ("CACHE_LAG", "0.5"),
        ("RELEASE", "18"),
    ]);
    let runs = history_len(&lab);
    ask(&lab, "restart", "rgw.a", &host);
    let failed_over = epoch();
    failover(["1", "1", "1"]);
    poll(
        "the restart after the failover",
        Duration::from_secs(20),
        || (history_len(&lab) > runs).then_some(()),
    );
    assert_ne!(lab.pid("a"), Some(before), "no new process");
    let ran = last_history(&lab)["ran"].as_f64().expect("ran");
    assert!(
        ran >= failed_over + 2.9,
        "ran {:.2} s into a 3 s failover",
        ran - failed_over
    );
}
