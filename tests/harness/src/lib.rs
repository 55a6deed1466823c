//! The lab harness of ceph-warden's end-to-end tests (tests/it/), its benchmark
//! (benches/freeze.rs) and its demo (benches/demo.rs): real daemons driven from plain threads.
//!
//! - [`lab`]: a real single-host Ceph lab with real radosgw daemons (tests/lab/up.sh);
//! - [`ingress`]: a real HAProxy with the shipped or cephadm's stock config, and the open-loop
//!   load generator that records every client request's outcome;
//! - [`sidecar`]: `ceph-warden run` as a fixture, its agent read the way HAProxy reads it;
//! - this file: what all of them stand on (the repository's files, the binary, temp dirs,
//!   loopback ports, polling, the clock and child processes).
//!
//! The product's rules for the clock and for subprocesses (clippy.toml) are for the daemon,
//! whose core takes time as an argument and whose children must die with it. Here only [`now`]
//! reads the clock and only [`blocking_command`] makes a child process: each carries its
//! exception and says why it holds for this code.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub mod ingress;
pub mod lab;
pub mod sidecar;

/// The repository's root (this crate is tests/harness).
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/harness is two levels below the repository's root")
        .join(rel)
}

/// The stand-in for the `ceph` CLI's orchestrator commands (tests/it/main.rs says what it does).
pub fn fake_ceph() -> String {
    repo_path("tests/lab/fake-ceph").display().to_string()
}

/// The `ceph-warden` executable that cargo built for the running test or benchmark. A library
/// has no `env!("CARGO_BIN_EXE_ceph-warden")` (cargo sets it when it builds ceph-warden's own
/// tests and benches), so this reads the same variable at run time, where cargo (1.94 and
/// later) also sets it for `cargo test` and `cargo bench`.
pub fn warden_binary() -> String {
    std::env::var("CARGO_BIN_EXE_ceph-warden").expect(
        "CARGO_BIN_EXE_ceph-warden is set: run the tests and benches with `cargo test` or \
         `cargo bench` (cargo 1.94 or later)",
    )
}

/// The current time, from std's clock: the one place this code reads it.
#[expect(
    clippy::disallowed_methods,
    reason = "test code times real processes (radosgw, HAProxy, the sidecar) in real time: \
              there is no pure core here to pass time into, and tokio's paused clock, which \
              the rule protects, cannot pause them"
)]
pub fn now() -> Instant {
    Instant::now()
}

/// Seconds since the epoch, from the wall clock: the one place this code reads it.
#[expect(
    clippy::disallowed_methods,
    reason = "test code compares with wall-clock times real processes wrote (the stand-in \
              cephadm's `started` and `last_refresh`), which no argument can pass in"
)]
pub fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A blocking `std::process::Command` for `program`: the one place this code makes one.
#[expect(
    clippy::disallowed_methods,
    reason = "test code runs programs from plain threads, with no tokio runtime, and waits \
              on them; the long-lived ones are killed by their owner's Drop (Lab, Haproxy, \
              Sidecar), the part kill_on_drop plays in the daemon"
)]
pub fn blocking_command(program: impl AsRef<OsStr>) -> Command {
    Command::new(program)
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ceph-warden-it-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `GET path` on 127.0.0.1:port; the status, or None on connect failure or timeout.
pub fn http_status(port: u16, path: &str, timeout: Duration) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Polls `condition` every 100 ms until it holds or `deadline` passes.
pub fn wait_for(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let start = now();
    while !condition() {
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A loopback port with no listener (connections are refused).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port()
}

/// An HTTP server on loopback that answers every request with `response` (raw bytes), on a
/// thread that ends with the test process. Returns its port.
pub fn stub_server(response: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1000) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}
