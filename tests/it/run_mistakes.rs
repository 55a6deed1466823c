//! Operator mistakes and broken surroundings at run time: each is loud (an exit code, or
//! `/status`, `/metrics` and the log say it) and none drains or restarts a daemon.
//!
//! Stand-ins, named as the house rules ask: `tests/lab/fake-ceph` for the `ceph` CLI's
//! orchestrator (an `orch ps` file, or its "no orchestrator" error), `/bin/false` as the real
//! `ceph` where the test needs `ceph health detail` to fail, and [`Backend`] servers on
//! loopback for the RGWs. The run on the built-in defaults happens in a mount and network
//! namespace of its own (`unshare`), so its default paths and ports touch nothing of the host.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::sidecar::*;
use crate::support::*;

/// Watches for `how_long` that the daemon is never told `down`/`drain` and nothing is
/// restarted: an absence, so it is watched, not polled.
fn never_drained_or_restarted(sidecar: &Sidecar, daemon: &str, how_long: Duration) {
    let start = now();
    while start.elapsed() < how_long {
        let word = sidecar.agent(Some(daemon)).0;
        assert!(
            !word.starts_with("down") && word != "drain",
            "{daemon} told {word:?}: {}",
            sidecar.get("/").1
        );
        assert_eq!(sidecar.restarts_asked(), 0, "{}", sidecar.get("/").1);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `ceph-warden run --config CONFIG`, which must exit at once: its exit code and stderr.
fn run_refused(config: &std::path::Path) -> (Option<i32>, String) {
    let mut child = blocking_command(BIN)
        .args(["run", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceph-warden run");
    let mut status = None;
    wait_for("run to exit", Duration::from_secs(10), || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    let output = child.wait_with_output().expect("output");
    (
        status.and_then(|s| s.code()),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_unwritable_state_directory_refuses_to_start_with_exit_73() {
    let dir = TempDir::new("state-unwritable");
    // A path under a regular file can never be a directory, even for root.
    dir.write("not-a-directory", "");
    let config = dir.write(
        "ceph-warden.toml",
        &format!(
            "state-directory = \"{}\"\n[run]\nagent-listen = \"127.0.0.1:{}\"\nhttp-listen = \"127.0.0.1:{}\"\ninventory = \"static\"\n[[static]]\nname = \"rgw.a\"\nurl = \"http://127.0.0.1:{}/\"\n",
            dir.path("not-a-directory/state").display(),
            closed_port(),
            closed_port(),
            closed_port(),
        ),
    );
    let (code, stderr) = run_refused(&config);
    assert_eq!(code, Some(73), "{stderr}");
    assert!(
        stderr.contains("cannot write the state directory")
            && stderr.contains("not-a-directory/state"),
        "{stderr}"
    );
}

#[test]
fn an_agent_address_in_use_exits_71_naming_it() {
    let dir = TempDir::new("agent-in-use");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let config = dir.write(
        "ceph-warden.toml",
        &format!(
            "state-directory = \"{}\"\n[run]\nagent-listen = \"127.0.0.1:{port}\"\nhttp-listen = \"127.0.0.1:{}\"\ninventory = \"static\"\n[[static]]\nname = \"rgw.a\"\nurl = \"http://127.0.0.1:{}/\"\n",
            dir.path("state").display(),
            closed_port(),
            closed_port(),
        ),
    );
    let (code, stderr) = run_refused(&config);
    assert_eq!(code, Some(71), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot listen for HAProxy agent checks on 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    drop(taken);
}

#[test]
fn a_url_the_probe_cannot_use_is_a_config_error_that_drains_and_restarts_nothing() {
    let dir = TempDir::new("bad-url-inventory");
    // `ceph orch ps` gives an address no URL can hold: the probe cannot even be sent.
    let inventory = dir.write(
        "orch-ps.json",
        &orch_ps_json(&[("rgw.a", Some(closed_port()))]).replace("127.0.0.1", "bad host"),
    );
    let inventory = inventory.display().to_string();
    let sidecar = Sidecar::start(
        "bad-url",
        "host = \"host1\"\nprobe-interval = \"200ms\"\ninventory-interval = \"1s\"",
        "[lease]\nenabled = false\n[daemon-types.rgw]\nfall = 2\nstartup-grace = \"1ms\"\n",
        &[("FAKE_CEPH_ORCH_PS_FILE", inventory.as_str())],
    );
    wait_for(
        "the config error in /status",
        Duration::from_secs(10),
        || {
            sidecar.status()["daemons"][0]["config_error"]
                .as_str()
                .is_some_and(|e| e.contains("cannot probe"))
        },
    );
    never_drained_or_restarted(&sidecar, "rgw.a", Duration::from_secs(2));
    let status = sidecar.status();
    assert_eq!(
        status["daemons"][0]["last_probe"]["class"], "config",
        "{status}"
    );
    assert!(sidecar
        .get("/metrics")
        .1
        .contains("ceph_warden_config_errors 1"));
    assert!(sidecar
        .log()
        .contains("configuration error (nothing is drained or restarted for it)"));
}

#[test]
fn a_daemon_only_the_saved_inventory_lists_is_never_restarted() {
    let dir = TempDir::new("saved-inventory");
    // The first run sees rgw.x in a fresh inventory and saves it; rgw.x answers nothing.
    let inventory = dir.write(
        "orch-ps.json",
        &orch_ps_json(&[("rgw.x", Some(closed_port()))]),
    );
    let inventory = inventory.display().to_string();
    let run = "host = \"host1\"\nprobe-interval = \"200ms\"\ninventory-interval = \"300ms\"";
    let rest = "[lease]\nenabled = false\n[daemon-types.rgw]\nfall = 2\nstartup-grace = \"1ms\"\n";
    let mut sidecar = Sidecar::start(
        "saved-inventory",
        run,
        rest,
        &[
            ("FAKE_CEPH_ORCH_PS_FILE", inventory.as_str()),
            // Refuse every restart, so the first run does not end up restarting it.
            ("FAKE_CEPH_RESTART_RC", "22"),
            (
                "FAKE_CEPH_RESTART_STDERR",
                "Error EINVAL: refused by the test",
            ),
        ],
    );
    wait_for("the inventory saved", Duration::from_secs(10), || {
        std::fs::read_to_string(sidecar.dir.path("state/state.json"))
            .is_ok_and(|s| s.contains("rgw.x"))
    });
    sidecar.stop_with(Signal::SIGTERM);
    // The next start: `ceph orch ps` has no orchestrator to ask (fake-ceph's ENOENT).
    std::fs::remove_file(&inventory).expect("no inventory now");
    let _ = std::fs::remove_file(sidecar.dir.path("ceph-argv.log"));
    sidecar.set_env("FAKE_CEPH_ORCH_PS_FILE", "");
    sidecar.spawn();
    wait_for("rgw.x failed", Duration::from_secs(10), || {
        sidecar.status()["daemons"][0]["state"] == "failed"
    });
    let status = sidecar.status();
    assert_eq!(status["inventory"]["from_state_file"], true, "{status}");
    assert!(
        status["daemons"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("only the state file's inventory lists it")),
        "{status}"
    );
    // Failed and out of rotation, but never restarted: watched for longer than fall, the
    // drain confirmation and a retry would take.
    let start = now();
    while start.elapsed() < Duration::from_secs(3) {
        assert_eq!(sidecar.restarts_asked(), 0, "{}", sidecar.get("/").1);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_missing_admin_socket_is_named_in_status() {
    let backend = Backend::start(Mode::Ok);
    let dir = TempDir::new("no-asok");
    let rest = format!(
        "[[static]]\nname = \"rgw.a\"\nurl = \"http://127.0.0.1:{}/\"\n[lease]\nenabled = false\n[daemon-types.rgw]\nprobes = [\"http\", \"asok\"]\nadmin-socket = \"{}/ceph-client.{{name}}.asok\"\n",
        backend.port,
        dir.0.display()
    );
    let sidecar = Sidecar::start(
        "no-asok",
        "inventory = \"static\"\nprobe-interval = \"200ms\"",
        &rest,
        &[],
    );
    wait_for(
        "the missing socket in /status",
        Duration::from_secs(10),
        || {
            // Named, and nothing else changes: the daemon is judged by its http step.
            let daemon = &sidecar.status()["daemons"][0];
            daemon["state"] == "healthy"
                && daemon["config_error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("asok: no admin socket matches"))
        },
    );
    let status = sidecar.status();
    assert_eq!(status["daemons"][0]["state"], "healthy", "{status}");
    assert_eq!(
        status["config_file"],
        sidecar.config.display().to_string(),
        "/status names the file in force"
    );
    assert!(
        sidecar
            .get("/")
            .1
            .contains("CONFIG ERROR: asok: no admin socket matches"),
        "{}",
        sidecar.get("/").1
    );
    assert!(sidecar
        .get("/metrics")
        .1
        .contains("ceph_warden_config_errors 1"));
}

#[test]
fn a_health_gate_that_cannot_run_is_named_in_status() {
    let backend = Backend::start(Mode::Ok);
    let rest = format!(
        "[[static]]\nname = \"rgw.a\"\nurl = \"http://127.0.0.1:{}/\"\n[lease]\nenabled = false\n",
        backend.port
    );
    let sidecar = Sidecar::start(
        "no-health",
        "inventory = \"static\"\nprobe-interval = \"200ms\"\nhealth-interval = \"1s\"",
        &rest,
        // `ceph health detail` fails (the stand-in real ceph is /bin/false).
        &[("FAKE_CEPH_REAL", "/bin/false")],
    );
    wait_for(
        "the health gate's error in /status",
        Duration::from_secs(10),
        || {
            sidecar.status()["health_gate"]["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("cannot read ceph health detail"))
        },
    );
    let status = sidecar.status();
    assert!(
        status["health_gate"]["checks"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{status}"
    );
    assert!(sidecar.get("/").1.contains("health gate CANNOT RUN"));
    assert!(sidecar
        .get("/metrics")
        .1
        .contains("ceph_warden_health_gate_errors 1"));
}

#[test]
fn run_without_a_config_file_says_it_runs_on_the_defaults() {
    let dir = TempDir::new("no-config");
    let stderr = dir.path("stderr");
    // Inside: an empty /etc (no /etc/ceph-warden/ceph-warden.toml) and /var/lib (a fresh
    // state directory), a loopback of its own for the default ports, no `ceph` on PATH. The
    // sidecar's API is polled with a deadline, then it is stopped by its pid.
    let script = format!(
        r#"set -u
ip link set lo up
mount -t tmpfs none /etc
mount -t tmpfs none /var/lib
env PATH=/nonexistent "{bin}" run 2>"{stderr}" &
pid=$!
for _ in $(seq 100); do
  if /usr/bin/curl -sf http://127.0.0.1:9481/status; then break; fi
  sleep 0.1
done
kill -TERM "$pid"
wait "$pid"
"#,
        bin = BIN,
        stderr = stderr.display()
    );
    let output = blocking_command("unshare")
        .args(["--mount", "--net", "--fork", "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(output.status.success(), "{output:?}\n{log}");
    let status: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{err}: {output:?}"));
    assert!(status["config_file"].is_null(), "{status}");
    assert!(
        log.contains("no configuration file") && log.contains("running on the built-in defaults"),
        "{log}"
    );
}

#[test]
fn an_admin_socket_the_service_user_may_not_use_is_named_in_status() {
    use std::os::unix::fs::{chown, PermissionsExt};
    let backend = Backend::start(Mode::Ok);
    let dir = TempDir::new("asok-denied");
    // A socket only its owner (root, as the lab's RGWs' are) may use; the sidecar runs as
    // nobody (uid 65534), as a service user outside the socket's group would.
    let socket = dir.path("ceph-client.rgw.a.asok");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("socket");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let state = dir.path("state");
    std::fs::create_dir(&state).expect("state");
    chown(&state, Some(65534), Some(65534)).expect("chown");
    let http_port = closed_port();
    let config = dir.write(
        "ceph-warden.toml",
        &format!(
            "state-directory = \"{}\"\n[run]\nagent-listen = \"127.0.0.1:{}\"\nhttp-listen = \"127.0.0.1:{http_port}\"\ninventory = \"static\"\nprobe-interval = \"200ms\"\nhealth-gate = []\n[[static]]\nname = \"rgw.a\"\nurl = \"http://127.0.0.1:{}/\"\n[lease]\nenabled = false\n[daemon-types.rgw]\nprobes = [\"http\", \"asok\"]\nadmin-socket = \"{}/ceph-client.{{name}}.asok\"\n",
            state.display(),
            closed_port(),
            backend.port,
            dir.0.display()
        ),
    );
    let mut child = blocking_command("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "run",
            "--config",
        ])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("setpriv ceph-warden run");
    let mut status = String::new();
    let found = (0..100).any(|_| {
        status = http(http_port, "GET", "/status").1;
        // Named, and nothing else changes: judged by its http step.
        let named = status.contains("asok: permission denied on")
            && status.contains("\"state\": \"healthy\"");
        if !named {
            std::thread::sleep(Duration::from_millis(100));
        }
        named
    });
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        Signal::SIGTERM,
    );
    let _ = child.wait();
    assert!(found, "{status}");
}
