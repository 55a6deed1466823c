//! What every test file uses: the binary, `ceph-warden check` runs with the fake `ceph`, and
//! stand-in backends on loopback; with the lab harness's basics (tests/harness: the repository's
//! files, temp dirs, ports, polling), so one `use crate::support::*` brings them all.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub use harness::{
    blocking_command, closed_port, fake_ceph, http_status, now, repo_path, stub_server, wait_for,
    TempDir,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_ceph-warden");

/// `ceph-warden check` with the fake `ceph`, a private state directory and the fake's argv log.
pub struct CheckRun {
    pub dir: TempDir,
    pub command: Command,
    ceph: String,
}

impl CheckRun {
    pub fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let mut command = blocking_command(BIN);
        command
            .arg("check")
            .arg("--state-directory")
            .arg(dir.path("state"))
            .env("FAKE_CEPH_LOG", dir.path("ceph-argv.log"))
            .env_remove("FAKE_CEPH_LAB_DIR")
            .env_remove("RUST_LOG");
        Self {
            dir,
            command,
            ceph: fake_ceph(),
        }
    }

    /// Use this `ceph` instead of the fake one.
    pub fn ceph(&mut self, path: &str) -> &mut Self {
        self.ceph = path.to_string();
        self
    }

    /// Serve `ceph orch ps` from this file.
    pub fn orch_ps_file(&mut self, path: &Path) -> &mut Self {
        self.command.env("FAKE_CEPH_ORCH_PS_FILE", path);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(
        &mut self,
        args: I,
    ) -> &mut Self {
        self.command.args(args);
        self
    }

    pub fn env(&mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.command.env(key, value);
        self
    }

    pub fn run(&mut self) -> Finished {
        self.command.arg("--ceph").arg(&self.ceph);
        let start = now();
        let output = self.command.output().expect("run ceph-warden");
        Finished::new(output, start.elapsed(), &self.dir)
    }
}

/// What a finished run printed, and what the fake `ceph` was asked.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub ceph_calls: Vec<String>,
}

impl Finished {
    pub fn new(output: Output, elapsed: Duration, dir: &TempDir) -> Self {
        let ceph_calls = std::fs::read_to_string(dir.path("ceph-argv.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed,
            ceph_calls,
        }
    }

    pub fn restarts(&self) -> Vec<&str> {
        self.ceph_calls
            .iter()
            .filter_map(|call| {
                call.split_once("orch daemon restart ")
                    .map(|(_, name)| name.trim())
            })
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {self:#?}"))
    }
}

/// A JSON array in `ceph orch ps` format: one entry per (name, port), on 127.0.0.1.
pub fn orch_ps_json(daemons: &[(&str, Option<u16>)]) -> String {
    let entries: Vec<serde_json::Value> = daemons
        .iter()
        .map(|(name, port)| {
            let (daemon_type, id) = name.split_once('.').expect("type.id");
            let mut entry = serde_json::json!({
                "daemon_type": daemon_type, "daemon_id": id, "daemon_name": name,
                "hostname": "host1", "ip": "127.0.0.1", "status": 1, "status_desc": "running",
                "service_name": format!("{daemon_type}.lab"), "started": "2026-11-24T09:30:00.862922Z",
            });
            if let Some(port) = port {
                entry["ports"] = serde_json::json!([port]);
            }
            entry
        })
        .collect();
    serde_json::Value::Array(entries).to_string()
}

/// What a [`Backend`] does with the requests it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 200 at once.
    Ok = 0,
    /// Accepts and does not answer (a frozen RGW); answers 200 if set back to `Ok` within 5 s,
    /// as a thawed RGW answers its queue.
    Hang = 1,
    /// 503 with an S3 SlowDown body.
    SlowDown = 2,
}

/// A stand-in HTTP daemon on loopback whose behaviour the test switches (for sidecar tests
/// that need no real RGW; the end-to-end tests use the lab's real ones).
pub struct Backend {
    pub port: u16,
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
    /// When each client request (`GET /load...`) arrived; probes and health checks are not counted.
    hits: std::sync::Arc<std::sync::Mutex<Vec<Instant>>>,
}

impl Backend {
    pub fn start(mode: Mode) -> Self {
        use std::sync::atomic::{AtomicU8, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let port = listener.local_addr().expect("addr").port();
        let state = std::sync::Arc::new(AtomicU8::new(mode as u8));
        let shared = std::sync::Arc::clone(&state);
        let hits: std::sync::Arc<std::sync::Mutex<Vec<Instant>>> = std::sync::Arc::default();
        let recorded = std::sync::Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mode = std::sync::Arc::clone(&shared);
                let recorded = std::sync::Arc::clone(&recorded);
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 2048];
                    let n = stream.read(&mut buf).unwrap_or(0);
                    if buf[..n].starts_with(b"GET /load") {
                        if let Ok(mut hits) = recorded.lock() {
                            hits.push(now());
                        }
                    }
                    let start = now();
                    while mode.load(Ordering::Relaxed) == Mode::Hang as u8 {
                        if start.elapsed() > Duration::from_secs(5) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let response = if mode.load(Ordering::Relaxed) == Mode::SlowDown as u8 {
                        "HTTP/1.1 503 Slow Down\r\nContent-Length: 63\r\nConnection: close\r\n\r\n<?xml version=\"1.0\"?><Error><Code>SlowDown</Code></Error>\n\n\n\n\n"
                    } else {
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    };
                    let _ = stream.write_all(response.as_bytes());
                });
            }
        });
        Self {
            port,
            mode: state,
            hits,
        }
    }

    /// Client requests (`GET /load...`) that arrived after `since`.
    pub fn hits_after(&self, since: Instant) -> usize {
        self.hits
            .lock()
            .map_or(0, |hits| hits.iter().filter(|at| **at > since).count())
    }

    pub fn set(&self, mode: Mode) {
        self.mode
            .store(mode as u8, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What the agent told HAProxy of the RGWs through an OSD stall (every word seen): always in
/// rotation (the cluster's stall is no RGW's fault), and the hold (docs/design.md §4: new
/// requests wait in HAProxy while RADOS answers none of an RGW's operations), judged on the
/// real RGWs' counts of RADOS replies. `what` says which test's "in rotation" this is.
pub fn assert_in_rotation_and_held(words: &std::collections::BTreeSet<String>, what: &str) {
    assert!(
        words.iter().all(|w| w.starts_with("up ready")),
        "{what}: {words:?}"
    );
    assert!(
        words.contains("up ready maxconn:2"),
        "HAProxy told to hold new requests while RADOS answered none of an RGW's ops: {words:?}"
    );
}
