//! `ceph-warden run` as a test fixture: its own ports, state directory and log; read the agent
//! the way HAProxy does; talk to the HTTP API with a minimal client. Stopped by its own pid.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{blocking_command, closed_port, fake_ceph, now, wait_for, warden_binary, TempDir};

/// What [`Sidecar::start_lab_defaults`] sets, each with why (every other key keeps the
/// shipped default of systemd/ceph-warden.example.toml): `(key, value, why)`.
pub const LAB_DEFAULTS_OVERRIDES: [(&str, &str, &str); 8] = [
    (
        "state-directory",
        "the run's temp dir",
        "the default /var/lib/ceph-warden is the package's",
    ),
    (
        "[ceph] binary",
        "tests/lab/fake-ceph",
        "the orchestrator stand-in (cephadm cannot run here); every other ceph command goes to the real /usr/bin/ceph",
    ),
    (
        "[ceph] args",
        "[\"-c\", \"LAB/ceph.conf\"]",
        "the lab's cluster (also for `rados`, the restart lease)",
    ),
    (
        "[run] agent-listen",
        "127.0.0.1:PORT",
        "a free loopback port instead of 0.0.0.0:9480",
    ),
    (
        "[run] http-listen",
        "127.0.0.1:PORT",
        "a free loopback port instead of 127.0.0.1:9481",
    ),
    (
        "[run] kill-hung",
        "\"command\"",
        "the hung-RGW kill a cephadm host with `[systemd] fsid` has by default (\"systemd\"); no systemd units here (only when the setup kills)",
    ),
    (
        "[command] kill",
        "[\"bash\", \"tests/lab/rgw-ctl.sh\", \"-d\", \"LAB\", \"kill\", \"{id}\"]",
        "SIGKILL of the RGW's pid, standing in for `systemctl kill` of cephadm's unit (only when the setup kills)",
    ),
    (
        "[daemon-types.rgw] admin-socket",
        "\"LAB/run/ceph-client.{name}.asok\"",
        "where the lab keeps the sockets; the default is cephadm's /var/run/ceph/<fsid>/",
    ),
];

pub struct Sidecar {
    pub dir: TempDir,
    pub config: PathBuf,
    pub agent_port: u16,
    pub http_port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// The ceph-warden executable (the debug build the tests built, unless a benchmark says).
    binary: String,
    /// Debug logging (`RUST_LOG=ceph_warden=debug`), as the tests want it; false: the level
    /// `ceph-warden run` logs at by itself (info), as systemd runs it.
    debug_log: bool,
}

impl Sidecar {
    /// Starts it with `[run]` keys `run_keys` and the rest of the config `rest` (state
    /// directory, listen addresses and `[ceph]` are filled in). Waits until the API answers.
    pub fn start(tag: &str, run_keys: &str, rest: &str, env: &[(&str, &str)]) -> Self {
        Self::start_on(tag, "127.0.0.1", run_keys, rest, env)
    }

    /// As [`Sidecar::start`], with the HTTP API on `http_host` instead of loopback.
    pub fn start_on(
        tag: &str,
        http_host: &str,
        run_keys: &str,
        rest: &str,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_full(tag, http_host, &warden_binary(), &[], run_keys, rest, env)
    }

    /// As [`Sidecar::start`], with these `ceph.args` after the lab's `-c` (a cephx user).
    pub fn start_as(
        tag: &str,
        ceph_args: &[&str],
        run_keys: &str,
        rest: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let binary = warden_binary();
        Self::start_full(tag, "127.0.0.1", &binary, ceph_args, run_keys, rest, env)
    }

    /// As [`Sidecar::start`], running the binary at `binary` (the release build, for a
    /// benchmark: benches/freeze.rs).
    pub fn start_binary(
        tag: &str,
        binary: &str,
        run_keys: &str,
        rest: &str,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_full(tag, "127.0.0.1", binary, &[], run_keys, rest, env)
    }

    fn start_full(
        tag: &str,
        http_host: &str,
        binary: &str,
        extra_ceph_args: &[&str],
        run_keys: &str,
        rest: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = TempDir::new(tag);
        // Against a lab, the real `rados` and `ceph` commands (everything but the orchestrator)
        // use the lab's cluster.
        let ceph_args = env
            .iter()
            .find(|(key, _)| *key == "FAKE_CEPH_LAB_DIR")
            .map(|(_, lab)| {
                let mut args = vec![format!("\"-c\", \"{lab}/ceph.conf\"")];
                args.extend(extra_ceph_args.iter().map(|a| format!("\"{a}\"")));
                format!("args = [{}]\n", args.join(", "))
            })
            .unwrap_or_default();
        let agent_port = closed_port();
        let http_port = closed_port();
        // Under a cephx user every orchestrator call of the stand-in asks the real mgr first
        // (two ceph CLI runs per call): on two loaded cores that outlasted 2 s.
        let ceph_timeout = if extra_ceph_args.is_empty() {
            "2s"
        } else {
            "10s"
        };
        let config = dir.write(
            "ceph-warden.toml",
            &format!(
                "state-directory = \"{}\"\n[ceph]\nbinary = \"{}\"\ntimeout = \"{ceph_timeout}\"\n{ceph_args}[run]\nagent-listen = \"127.0.0.1:{agent_port}\"\nhttp-listen = \"{http_host}:{http_port}\"\n{run_keys}\n{rest}\n",
                dir.path("state").display(),
                fake_ceph(),
            ),
        );
        let mut sidecar = Self {
            dir,
            config,
            agent_port,
            http_port,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            child: None,
            binary: binary.to_string(),
            debug_log: true,
        };
        sidecar.spawn();
        sidecar
    }

    /// `ceph-warden run` (the executable at `binary`) on its shipped defaults against the lab
    /// in `lab_dir`: its config file holds only what the lab requires, and it logs at its own
    /// level (no `RUST_LOG`). Every key it sets is in [`LAB_DEFAULTS_OVERRIDES`]; the file
    /// itself is [`Sidecar::config_text`]. `kill`: the argv of `[command] kill` with
    /// `run.kill-hung = "command"` (the hung-RGW kill a host with `[systemd] fsid` has), or
    /// None for neither. The `FAKE_CEPH_*` environment is the stand-in's, not the sidecar's.
    pub fn start_lab_defaults(
        tag: &str,
        binary: &str,
        lab_dir: &str,
        kill: Option<&[String]>,
    ) -> Self {
        let dir = TempDir::new(tag);
        let agent_port = closed_port();
        let http_port = closed_port();
        let quote = |words: &[String]| {
            words
                .iter()
                .map(|w| format!("{w:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (kill_hung, command) = match kill {
            Some(argv) => (
                "kill-hung = \"command\"\n".to_string(),
                format!("[command]\nkill = [{}]\n", quote(argv)),
            ),
            None => (String::new(), String::new()),
        };
        let config = dir.write(
            "ceph-warden.toml",
            &format!(
                "state-directory = \"{}\"\n[ceph]\nbinary = \"{}\"\nargs = [\"-c\", \"{lab_dir}/ceph.conf\"]\n\
                 [run]\nagent-listen = \"127.0.0.1:{agent_port}\"\nhttp-listen = \"127.0.0.1:{http_port}\"\n\
                 {kill_hung}{command}[daemon-types.rgw]\nadmin-socket = \"{lab_dir}/run/ceph-client.{{name}}.asok\"\n",
                dir.path("state").display(),
                fake_ceph(),
            ),
        );
        let mut sidecar = Self {
            dir,
            config,
            agent_port,
            http_port,
            env: vec![("FAKE_CEPH_LAB_DIR".to_string(), lab_dir.to_string())],
            child: None,
            binary: binary.to_string(),
            debug_log: false,
        };
        sidecar.spawn();
        sidecar
    }

    /// Its configuration file, as written.
    pub fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config).unwrap_or_default()
    }

    /// How many `orch daemon restart` calls the fake `ceph` has seen from this sidecar.
    pub fn restarts_asked(&self) -> usize {
        self.ceph_calls().matches("orch daemon restart").count()
    }

    /// Every `ceph` call this sidecar made, one argv a line (as the fake `ceph` logs them).
    pub fn ceph_calls(&self) -> String {
        std::fs::read_to_string(self.dir.path("ceph-argv.log")).unwrap_or_default()
    }

    /// Sets (or replaces) an environment variable for the next [`Sidecar::spawn`].
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Starts the process (again) with the same config and ports.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path("sidecar.log"))
            .expect("log file");
        let mut run = blocking_command(&self.binary);
        run.args(["run", "--config"]).arg(&self.config);
        if self.debug_log {
            run.env("RUST_LOG", "ceph_warden=debug");
        } else {
            run.env_remove("RUST_LOG");
        }
        run.env("FAKE_CEPH_LOG", self.dir.path("ceph-argv.log"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, v) in &self.env {
            run.env(k, v);
        }
        self.child = Some(run.spawn().expect("spawn ceph-warden run"));
        wait_for("the sidecar's API", Duration::from_secs(20), || {
            self.assert_running();
            self.get("/status").0 == 200
        });
    }

    fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("ceph-warden run exited ({status}):\n{}", self.log());
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child
            .as_ref()
            .map_or(0, |c| i32::try_from(c.id()).unwrap_or(0))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("sidecar.log")).unwrap_or_default()
    }

    /// Sends `signal` and waits for the exit; returns how long that took and the exit code.
    pub fn stop_with(&mut self, signal: Signal) -> (Duration, Option<i32>) {
        let Some(mut child) = self.child.take() else {
            return (Duration::ZERO, None);
        };
        let start = now();
        let _ = kill(
            Pid::from_raw(i32::try_from(child.id()).unwrap_or(0)),
            signal,
        );
        let deadline = now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return (start.elapsed(), status.code());
            }
            if now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ceph-warden did not exit within 20 s of {signal}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` without waiting.
    pub fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.pid()), signal);
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// One agent poll, as HAProxy does it: connect, send the agent-send line, read one line.
    pub fn agent(&self, tag: Option<&str>) -> (String, Duration) {
        agent_poll(self.agent_port, tag)
    }

    /// Its `/events`, one readable line each: `rgw.b suspect -> failed (agent: down #timeout):
    /// timeout`, or the daemon and the reason alone when the state did not change (a lease
    /// taken or given back).
    pub fn event_lines(&self) -> Vec<String> {
        self.get("/events")
            .1
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .map(|e| {
                let field = |k: &str| e[k].as_str().unwrap_or("?").to_string();
                if e["from"] == e["to"] {
                    format!("{} {}", field("daemon"), field("reason"))
                } else {
                    format!(
                        "{} {} -> {} (agent: {}): {}",
                        field("daemon"),
                        field("from"),
                        field("to"),
                        field("word"),
                        field("reason")
                    )
                }
            })
            .collect()
    }

    /// Watches `names` for `span` (an OSD freeze under way): every agent word seen, and how
    /// long until all of them were `degraded` with a reason containing `needle` (if ever).
    pub fn watch_degraded(
        &self,
        names: &[&str],
        span: Duration,
        needle: &str,
    ) -> (Option<Duration>, std::collections::BTreeSet<String>) {
        let begin = now();
        let mut all_degraded = None;
        let mut words = std::collections::BTreeSet::new();
        while begin.elapsed() < span {
            for name in names {
                words.insert(self.agent(Some(name)).0);
            }
            let daemons = self.status()["daemons"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if all_degraded.is_none()
                && daemons.len() == names.len()
                && daemons.iter().all(|d| {
                    d["state"] == "degraded"
                        && d["reason"].as_str().is_some_and(|r| r.contains(needle))
                })
            {
                all_degraded = Some(begin.elapsed());
                eprintln!(
                    "all degraded after {:?}: {}",
                    begin.elapsed(),
                    daemons[0]["reason"]
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        (all_degraded, words)
    }

    /// Polls the agent until its reply satisfies `want`; returns that reply.
    pub fn wait_word(
        &self,
        tag: &str,
        what: &str,
        deadline: Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        let start = now();
        let mut last = String::new();
        while start.elapsed() < deadline {
            last = self.agent(Some(tag)).0;
            if want(&last) {
                return last;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{tag}: no reply {what} within {deadline:?}; last {last:?}\n/ says:\n{}\nlog:\n{}",
            self.get("/").1,
            self.log()
        );
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.http_port, "GET", path)
    }

    pub fn post(&self, path: &str) -> (u16, String) {
        http(self.http_port, "POST", path)
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/status").1).expect("status JSON")
    }

    /// Resident memory of the sidecar, from /proc.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One agent poll on `port` the way HAProxy does it.
pub fn agent_poll(port: u16, tag: Option<&str>) -> (String, Duration) {
    let start = now();
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return ("(refused)".into(), start.elapsed());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    if let Some(tag) = tag {
        let _ = writeln!(stream, "{tag}");
    }
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while let Ok(1) = stream.read(&mut byte) {
        reply.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&reply).into_owned();
    assert!(
        text.ends_with('\n') || text.is_empty(),
        "a reply must be one full line: {text:?}"
    );
    (text.trim_end_matches('\n').to_string(), took)
}

/// A minimal HTTP/1.0 request to 127.0.0.1:port; (status, body).
pub fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    );
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
