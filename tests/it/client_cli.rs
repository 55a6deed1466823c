//! The operator's client commands (`status`, `drain`, `restart --wait`, ...) run as the real
//! binary against a real `ceph-warden run`: where they find the API (`--api HOST:PORT|URL`,
//! `--config`), what an unreachable sidecar looks like, and how `restart --wait` ends.
//!
//! Stand-in, named as the house rules ask: the "RGW" is [`Backend`], an HTTP server on
//! loopback that this test owns. The sidecar restarts it with the `command` backend, which
//! only appends the daemon's name to a file; the test then plays the restarted daemon (it
//! stops answering, and answers again or never does).

use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::sidecar::*;
use crate::support::*;

const UNREACHABLE: i32 = 3;
const USAGE: i32 = 64;
const CONFIG_ERROR: i32 = 78;

/// A client command started in the background; its pid is the child's.
struct Client(Child);

/// What a client command printed and how it exited.
#[derive(Debug)]
struct Done {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Client {
    fn start(args: &[&str]) -> Self {
        let child = blocking_command(BIN)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ceph-warden");
        Self(child)
    }

    /// Waits for the exit, at most `deadline` (then kills this child and fails).
    fn finish(mut self, deadline: Duration) -> Done {
        let start = now();
        let status = loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                break status;
            }
            if start.elapsed() > deadline {
                let _ = self.0.kill();
                let _ = self.0.wait();
                panic!(
                    "ceph-warden {:?} did not exit within {deadline:?}",
                    self.0.id()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut out) = self.0.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        if let Some(mut err) = self.0.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        Done {
            code: status.code(),
            stdout,
            stderr,
        }
    }
}

fn client(args: &[&str]) -> Done {
    Client::start(args).finish(Duration::from_secs(30))
}

/// A sidecar watching one static RGW (`rgw.a`, the [`Backend`] on `port`), restarted by
/// `restart_argv` (TOML array), verified within `restart_timeout`.
fn sidecar(tag: &str, port: u16, restart_argv: &str, restart_timeout: &str) -> Sidecar {
    let run = "inventory = \"static\"\norchestrators = [\"command\"]\nprobe-interval = \"200ms\"\nprobe-timeout = \"300ms\"\nagent-inter = \"1s\"\nshutdown-timeout = \"2s\"\nhealth-gate = []";
    let rest = format!(
        "[[static]]\nname = \"rgw.a\"\nurl = \"http://127.0.0.1:{port}/\"\n\
         [command]\nrestart = {restart_argv}\n\
         [lease]\nenabled = false\n\
         [daemon-types.rgw]\nfall = 2\nrise = 2\nrestart-timeout = \"{restart_timeout}\"\nstartup-grace = \"1ms\"\nbackoff = \"1s\"\ndrain-timeout = \"1s\"\n"
    );
    let sidecar = Sidecar::start(tag, run, &rest, &[]);
    sidecar.wait_word("rgw.a", "up ready", Duration::from_secs(10), |w| {
        w == "up ready"
    });
    sidecar
}

/// `["sh", "-c", "echo {name} >> FILE"]`: the command backend records the restart.
fn recording_restart(file: &Path) -> String {
    format!("[\"sh\", \"-c\", \"echo {{name}} >> {}\"]", file.display())
}

fn restarts_in(file: &Path) -> usize {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn the_api_is_found_by_host_port_by_url_and_by_the_config() {
    let backend = Backend::start(Mode::Ok);
    let marker = TempDir::new("client-find-restarts");
    let sidecar = sidecar(
        "client-find",
        backend.port,
        &recording_restart(&marker.path("restarts")),
        "10s",
    );
    let host_port = format!("127.0.0.1:{}", sidecar.http_port);

    // HOST:PORT, as an operator copies it from run.http-listen (it used to be a builder error).
    let done = client(&["status", "--api", &host_port]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert!(done.stdout.contains("rgw.a"), "{done:#?}");

    // A URL, as before.
    let done = client(&["status", "--json", "--api", &format!("http://{host_port}/")]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    let json: serde_json::Value = serde_json::from_str(&done.stdout).expect("status JSON");
    assert_eq!(json["daemons"][0]["name"], "rgw.a");

    // --config: the sidecar's own file says where its API is.
    let config = sidecar.config.display().to_string();
    let done = client(&["drain", "rgw.a", "--config", &config]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert_eq!(
        done.stdout,
        "rgw.a: draining, HAProxy is told \"drain\" (drained by the operator)\n"
    );
    let done = client(&["undrain", "rgw.a", "--config", &config]);
    assert_eq!(done.code, Some(0), "{done:#?}");
    assert!(done.stdout.starts_with("rgw.a: healthy"), "{done:#?}");

    // Refused by the sidecar: exit 1, the route and its answer.
    let done = client(&["drain", "rgw.zz", "--api", &host_port]);
    assert_eq!(done.code, Some(1), "{done:#?}");
    assert!(
        done.stderr
            .starts_with("ceph-warden: POST /daemons/rgw.zz/drain refused (404): "),
        "{done:#?}"
    );
}

#[test]
fn an_unreachable_sidecar_is_one_line_naming_the_address_and_exit_3() {
    let port = closed_port();
    let done = client(&["status", "--api", &format!("127.0.0.1:{port}")]);
    assert_eq!(done.code, Some(UNREACHABLE), "{done:#?}");
    assert_eq!(
        done.stderr,
        format!("ceph-warden: cannot reach the sidecar's API at http://127.0.0.1:{port} (connection refused): is ceph-warden running (systemctl status ceph-warden)? Is run.http-listen the address given to --api?\n")
    );
    assert!(done.stdout.is_empty(), "{done:#?}");

    // Through --config: a wildcard http-listen is reached on loopback, and the file is named.
    let dir = TempDir::new("client-unreachable");
    let file = dir.write(
        "c.toml",
        &format!("[run]\nhttp-listen = \"0.0.0.0:{port}\"\n"),
    );
    let done = client(&[
        "restart",
        "rgw.a",
        "--wait",
        "--config",
        &file.display().to_string(),
    ]);
    assert_eq!(done.code, Some(UNREACHABLE), "{done:#?}");
    assert_eq!(done.stderr.lines().count(), 1, "{done:#?}");
    assert!(
        done.stderr.starts_with(&format!(
            "ceph-warden: cannot reach the sidecar's API at http://127.0.0.1:{port} (connection refused): "
        )),
        "{done:#?}"
    );
    assert!(
        done.stderr
            .contains(&format!("run.http-listen in {} says", file.display())),
        "{done:#?}"
    );
}

#[test]
fn a_bad_api_flag_or_config_is_named_before_anything_is_sent() {
    let done = client(&["status", "--api", "localhost"]);
    assert_eq!(done.code, Some(USAGE), "{done:#?}");
    assert!(
        done.stderr
            .contains("invalid value 'localhost' for '--api <HOST:PORT|URL>': no port; write HOST:PORT like 127.0.0.1:9481"),
        "{done:#?}"
    );
    let done = client(&["drain", "rgw.a", "--api", "https://127.0.0.1:9481"]);
    assert_eq!(done.code, Some(USAGE), "{done:#?}");
    assert!(done.stderr.contains("'--api <HOST:PORT|URL>'"), "{done:#?}");

    let dir = TempDir::new("client-badconfig");
    let file = dir.write("c.toml", "[run]\nhttp-listen = \"localhost:9481\"\n");
    let done = client(&["status", "--config", &file.display().to_string()]);
    assert_eq!(done.code, Some(CONFIG_ERROR), "{done:#?}");
    assert!(
        done.stderr.contains(&format!(
            "{}: run.http-listen: \"localhost:9481\" is not an address:port",
            file.display()
        )),
        "{done:#?}"
    );
}

/// Starts `restart rgw.a --wait` (and `extra` flags) and plays the restart: while the daemon
/// drains, the stand-in stops answering (its old process is going away); this test, the one
/// HAProxy the sidecar knows (it polled the agent), confirms the drain; once the command
/// backend has recorded the restart and a probe has timed out on the stopped daemon, the
/// stand-in answers again if `comes_back`.
fn restart_and_play(
    sidecar: &Sidecar,
    backend: &Backend,
    restarts: &Path,
    extra: &[&str],
    comes_back: bool,
) -> Client {
    let api = format!("127.0.0.1:{}", sidecar.http_port);
    let mut args = vec!["restart", "rgw.a", "--wait", "--api", &api];
    args.extend_from_slice(extra);
    assert_eq!(sidecar.agent(Some("rgw.a")).0, "up ready");
    let waiting = Client::start(&args);
    // Draining lasts until this HAProxy has polled (at most 3 agent-inters of 1 s).
    wait_for("the planned drain", Duration::from_secs(10), || {
        sidecar.status()["daemons"][0]["planned_restart"] == true
    });
    backend.set(Mode::Hang);
    assert_eq!(sidecar.agent(Some("rgw.a")).0, "drain");
    wait_for("the restart command", Duration::from_secs(20), || {
        restarts_in(restarts) == 1
    });
    wait_for(
        "a probe of the stopped daemon",
        Duration::from_secs(10),
        || sidecar.status()["daemons"][0]["last_probe"]["class"] == "timeout",
    );
    if comes_back {
        backend.set(Mode::Ok);
    }
    waiting
}

#[test]
fn restart_wait_exits_0_once_the_restarted_daemon_is_back_in_rotation() {
    let backend = Backend::start(Mode::Ok);
    let marker = TempDir::new("client-wait-ok");
    let restarts = marker.path("restarts");
    let sidecar = sidecar(
        "client-wait-ok",
        backend.port,
        &recording_restart(&restarts),
        "10s",
    );
    let done =
        restart_and_play(&sidecar, &backend, &restarts, &[], true).finish(Duration::from_secs(30));
    assert_eq!(done.code, Some(0), "{done:#?}\n{}", sidecar.log());
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "rgw.a: draining, HAProxy is told \"drain\" (planned restart: draining)"
    );
    // One line per transition, in order, not one per 250 ms poll.
    let transitions: Vec<&str> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| l.split_once("  rgw.a ").map_or(*l, |(_, t)| t))
        .collect();
    // (A probe that timed out just before the stand-in answered again may send it back to
    // restarting once: the lines between are not fixed.)
    assert!(transitions.len() <= 6, "{}", done.stdout);
    assert_eq!(
        transitions[..2],
        [
            "healthy -> draining (drain): planned restart: draining",
            "draining -> restarting (drain): planned restart requested; asking the orchestrator",
        ],
        "{}",
        done.stdout
    );
    assert_eq!(
        transitions[transitions.len() - 1],
        "recovering -> healthy (up ready): back after the restart",
        "{}",
        done.stdout
    );
    let last = lines[lines.len() - 1];
    assert!(
        last.starts_with("rgw.a is back in rotation, ")
            && last.ends_with(" after the restart was asked for"),
        "{}",
        done.stdout
    );
    assert_eq!(restarts_in(&restarts), 1);
    assert_eq!(sidecar.status()["daemons"][0]["state"], "healthy");
}

#[test]
fn restart_wait_exits_1_when_the_restart_does_not_bring_the_daemon_back() {
    let backend = Backend::start(Mode::Ok);
    let marker = TempDir::new("client-wait-gone");
    let restarts = marker.path("restarts");
    let sidecar = sidecar(
        "client-wait-gone",
        backend.port,
        &recording_restart(&restarts),
        "1s",
    );
    let done =
        restart_and_play(&sidecar, &backend, &restarts, &[], false).finish(Duration::from_secs(30));
    assert_eq!(done.code, Some(1), "{done:#?}\n{}", sidecar.log());
    assert!(
        done.stderr.starts_with(
            "ceph-warden: rgw.a: the restart did not bring it back: failed: not back within 1s of the restart; "
        ),
        "{done:#?}"
    );
    assert!(!done.stdout.contains("back in rotation"), "{done:#?}");
}

#[test]
fn restart_wait_exits_1_when_the_restart_command_fails() {
    let backend = Backend::start(Mode::Ok);
    let sidecar = sidecar(
        "client-wait-fails",
        backend.port,
        "[\"sh\", \"-c\", \"echo no such unit >&2; exit 5\"]",
        "10s",
    );
    let api = format!("http://127.0.0.1:{}", sidecar.http_port);
    let done = Client::start(&["restart", "rgw.a", "--wait", "--api", &api])
        .finish(Duration::from_secs(30));
    assert_eq!(done.code, Some(1), "{done:#?}\n{}", sidecar.log());
    assert!(
        done.stderr.starts_with(
            "ceph-warden: rgw.a: the restart did not bring it back: failed: restart failed: "
        ),
        "{done:#?}"
    );
    assert!(done.stderr.contains("no such unit"), "{done:#?}");
}

#[test]
fn restart_wait_gives_up_at_its_timeout_saying_what_it_last_saw() {
    let backend = Backend::start(Mode::Ok);
    let marker = TempDir::new("client-wait-timeout");
    let restarts = marker.path("restarts");
    let sidecar = sidecar(
        "client-wait-timeout",
        backend.port,
        &recording_restart(&restarts),
        "30s",
    );
    let done = restart_and_play(&sidecar, &backend, &restarts, &["--timeout", "6s"], false)
        .finish(Duration::from_secs(20));
    assert_eq!(done.code, Some(1), "{done:#?}");
    assert!(
        done.stderr.starts_with(
            "ceph-warden: rgw.a: gave up waiting after 6s: last seen restarting (planned restart requested; the orchestrator took it; waiting for it to restart the daemon); "
        ),
        "{done:#?}"
    );
    // It only stopped waiting: the sidecar goes on with the restart.
    assert_eq!(sidecar.status()["daemons"][0]["state"], "restarting");
}
