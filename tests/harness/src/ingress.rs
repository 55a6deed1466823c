//! A real HAProxy (Debian's package) running the shipped `haproxy/haproxy.cfg`, rewritten only
//! where a test must (loopback ports, socket and state file in the test's directory, the lab's
//! RGWs as servers), plus an open-loop load generator that records every request's outcome.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::{blocking_command, closed_port, now, repo_path, wait_for};

pub struct Haproxy {
    pub port: u16,
    socket: PathBuf,
    /// The master CLI (`-S`), for `reload`.
    master: PathBuf,
    /// Where the shipped config's server-state-file points in the test.
    pub state_file: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

/// The shipped config with the test's ports and paths; panics if a line it must rewrite is
/// missing, so a change to the shipped file cannot silently escape the tests.
pub fn rewrite_config(
    shipped: &str,
    dir: &Path,
    port: u16,
    servers: &[(&str, u16)],
    agent_port: u16,
) -> String {
    let mut out = String::new();
    let mut hits = [0usize; 5];
    let mut servers_written = false;
    for line in shipped.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("log /dev/log") {
            hits[0] += 1;
            continue;
        } else if trimmed.starts_with("stats socket ") {
            hits[1] += 1;
            out.push_str(&format!(
                "    stats socket {}/admin.sock mode 600 level admin\n",
                dir.display()
            ));
        } else if trimmed.starts_with("server-state-file ") {
            hits[2] += 1;
            out.push_str(&format!(
                "    server-state-file {}/server-state\n",
                dir.display()
            ));
        } else if trimmed.starts_with("bind :8080") {
            hits[3] += 1;
            out.push_str(&format!("    bind 127.0.0.1:{port}\n"));
        } else if trimmed.starts_with("server rgw.") {
            if !servers_written {
                for (name, rgw_port) in servers {
                    out.push_str(&format!(
                        "    server {name} 127.0.0.1:{rgw_port} weight 100 agent-send \"{name}\\n\"\n"
                    ));
                }
                servers_written = true;
            }
        } else if trimmed.starts_with("default-server ") && trimmed.contains("agent-port 9480") {
            hits[4] += 1;
            out.push_str(&line.replace("agent-port 9480", &format!("agent-port {agent_port}")));
            out.push('\n');
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        servers_written && hits.iter().all(|h| *h == 1),
        "haproxy/haproxy.cfg changed shape: {hits:?}"
    );
    out
}

impl Haproxy {
    pub fn start(dir: &Path, servers: &[(&str, u16)], agent_port: u16) -> Self {
        let shipped =
            std::fs::read_to_string(repo_path("haproxy/haproxy.cfg")).expect("haproxy/haproxy.cfg");
        let port = closed_port();
        Self::launch(
            dir,
            port,
            &rewrite_config(&shipped, dir, port, servers, agent_port),
        )
    }

    /// As [`Haproxy::start`], with one sidecar per server: `(name, rgw port, agent port)`.
    pub fn start_per_host(dir: &Path, servers: &[(&str, u16, u16)]) -> Self {
        let shipped =
            std::fs::read_to_string(repo_path("haproxy/haproxy.cfg")).expect("haproxy/haproxy.cfg");
        let port = closed_port();
        let plain: Vec<(&str, u16)> = servers.iter().map(|(n, p, _)| (*n, *p)).collect();
        let mut config = rewrite_config(&shipped, dir, port, &plain, servers[0].2);
        for (name, rgw_port, agent_port) in servers {
            let line = format!(
                "    server {name} 127.0.0.1:{rgw_port} weight 100 agent-send \"{name}\\n\"\n"
            );
            assert!(config.contains(&line), "{line}");
            config = config.replace(
                &line,
                &format!("{} agent-port {agent_port}\n", line.trim_end()),
            );
        }
        Self::launch(dir, port, &config)
    }

    /// cephadm's stock ingress config (tests/harness/haproxy-cephadm.cfg) for `servers`, with
    /// no sidecar: what users run today (the benchmark's and the demo's comparison).
    pub fn start_cephadm_stock(dir: &Path, servers: &[(String, u16)]) -> Self {
        let template = include_str!("../haproxy-cephadm.cfg");
        let port = closed_port();
        let lines: String = servers
            .iter()
            .map(|(name, p)| format!("    server {name} 127.0.0.1:{p} check weight 100 inter 2s\n"))
            .collect();
        let text = template
            .replace("@SOCKET@", &format!("{}/admin.sock", dir.display()))
            .replace("@PORT@", &port.to_string())
            .replace("@SERVERS@\n", &lines);
        Self::launch(dir, port, &text)
    }

    /// Runs HAProxy with the config `text` (its frontend on `port`, its stats socket at
    /// `dir/admin.sock`, its master CLI at `dir/master.sock`).
    pub fn launch(dir: &Path, port: u16, text: &str) -> Self {
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, text).expect("write cfg");
        let check = blocking_command("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&config)
            .output()
            .expect("haproxy -c");
        assert!(
            check.status.success(),
            "haproxy -c: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let log = dir.join("haproxy.log");
        let out = std::fs::File::create(&log).expect("log");
        // Master-worker mode with a master CLI, as Debian's haproxy.service runs it (-Ws), so
        // the shipped reload path can be exercised.
        let master = dir.join("master.sock");
        let child = blocking_command("haproxy")
            .arg("-W")
            .arg("-db")
            .arg("-S")
            .arg(&master)
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start haproxy");
        let haproxy = Self {
            port,
            socket: dir.join("admin.sock"),
            master,
            state_file: dir.join("server-state"),
            child: Some(child),
            log,
        };
        wait_for("HAProxy's stats socket", Duration::from_secs(10), || {
            haproxy.command("show info").contains("Name: HAProxy")
        });
        haproxy
    }

    /// The master process's pid (the demo prints it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// One runtime API command; the answer, or "" when the socket does not answer.
    pub fn command(&self, command: &str) -> String {
        let Ok(mut stream) = UnixStream::connect(&self.socket) else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = writeln!(stream, "{command}");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    }

    /// The `status` column of `show stat` for server `name`: `UP`, `DOWN`,
    /// `DRAIN`, `MAINT`, `UP 1/3`, ...
    pub fn status(&self, name: &str) -> Option<String> {
        let stat = self.command("show stat");
        let mut lines = stat.lines();
        let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
        let column = header.iter().position(|h| *h == "status")?;
        lines.find_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            // Server names are unique across the backends (`rgw` in haproxy/haproxy.cfg,
            // `backend` in cephadm's).
            (fields.get(1) == Some(&name)).then(|| fields[column].to_string())
        })
    }

    /// The shipped reload path: dump `show servers state` into the state file, then reload
    /// (the master CLI's `reload`, what `systemctl reload haproxy` does). `with_state` false
    /// skips the dump (and removes an old file): the gap the dump closes.
    pub fn reload(&self, with_state: bool) {
        if with_state {
            let state = self.command("show servers state");
            assert!(state.contains("rgw"), "show servers state: {state}");
            std::fs::write(&self.state_file, state).expect("write the state file");
        } else {
            let _ = std::fs::remove_file(&self.state_file);
        }
        let Ok(mut master) = UnixStream::connect(&self.master) else {
            panic!("no master CLI at {}", self.master.display());
        };
        let _ = master.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = writeln!(master, "reload");
        let mut answer = String::new();
        let _ = master.read_to_string(&mut answer);
    }

    /// Sessions open right now on server `name` (`scur`).
    pub fn current_sessions(&self, name: &str) -> u64 {
        let stat = self.command("show stat");
        let mut lines = stat.lines();
        let Some(header) = lines.next() else { return 0 };
        let header: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
        let Some(column) = header.iter().position(|h| *h == "scur") else {
            return 0;
        };
        lines
            .find_map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                // Server names are unique across the backends (`rgw` in haproxy/haproxy.cfg,
                // `backend` in cephadm's).
                (fields.get(1) == Some(&name)).then(|| fields[column].parse().ok())?
            })
            .unwrap_or(0)
    }

    /// Polls every 20 ms until `want` holds for server `name`; returns the time it took.
    pub fn wait_status(
        &self,
        name: &str,
        what: &str,
        deadline: Duration,
        want: impl Fn(&str) -> bool,
    ) -> Duration {
        let start = now();
        loop {
            let status = self.status(name).unwrap_or_default();
            if want(&status) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < deadline,
                "{name} not {what} within {deadline:?} (last {status:?}); haproxy log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        // SIGTERM to the master stops its workers too (SIGKILL would orphan them).
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = now() + Duration::from_secs(5);
            while now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The outcome of one request of the load.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When it was sent (the benchmark's timelines read it).
    pub sent: Instant,
    pub latency: Duration,
    /// The HTTP status, or the kind of error (`connect`, `timeout`, `reset`, `short`).
    pub result: Result<u16, String>,
    pub body_len: usize,
}

/// Open-loop load: `rate` requests per second for `duration`, each on its own connection, sent
/// on schedule whatever the earlier ones do. Every request's outcome is returned, in send order.
pub fn open_loop(
    port: u16,
    path: &str,
    rate: u32,
    duration: Duration,
    read_rate: Option<usize>,
) -> Vec<Outcome> {
    let path = path.to_string();
    open_loop_with(
        rate,
        duration,
        Arc::new(move |_| request(port, &path, read_rate)),
        None,
        None,
    )
}

/// Open-loop load as [`open_loop`], cycling through `mix`: `(method, path, body bytes)`.
/// Request `i` is `mix[i % mix.len()]`; outcomes in send order.
pub fn open_loop_mix(
    port: u16,
    mix: &[(&'static str, String, usize)],
    rate: u32,
    duration: Duration,
) -> Vec<Outcome> {
    let mix = mix.to_vec();
    open_loop_with(
        rate,
        duration,
        Arc::new(move |i| {
            let (method, path, body) = &mix[usize::try_from(i).unwrap_or(0) % mix.len()];
            request_with(port, method, path, *body, None)
        }),
        None,
        None,
    )
}

/// The open-loop engine: request `i` (made by `send(i)`) is sent at `i / rate` seconds on its
/// own thread, for `duration` or until `stop`; each outcome also goes to `tap` as it arrives.
pub fn open_loop_with(
    rate: u32,
    duration: Duration,
    send: Arc<dyn Fn(u64) -> Outcome + Send + Sync>,
    tap: Option<mpsc::Sender<Outcome>>,
    stop: Option<Arc<AtomicBool>>,
) -> Vec<Outcome> {
    let (tx, rx) = mpsc::channel();
    let start = now();
    let total = u64::from(rate) * duration.as_secs();
    let gap = Duration::from_secs(1) / rate;
    let mut handles = Vec::new();
    for i in 0..total {
        if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        let due = gap * u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let (tx, tap, send) = (tx.clone(), tap.clone(), Arc::clone(&send));
        handles.push(std::thread::spawn(move || {
            let outcome = send(i);
            if let Some(tap) = tap {
                let _ = tap.send(outcome.clone());
            }
            let _ = tx.send((i, outcome));
        }));
    }
    drop(tx);
    for handle in handles {
        let _ = handle.join();
    }
    let mut outcomes: Vec<(u64, Outcome)> = rx.iter().collect();
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

/// One GET through HAProxy; `read_rate` (bytes/s) makes a slow client.
pub fn request(port: u16, path: &str, read_rate: Option<usize>) -> Outcome {
    request_with(port, "GET", path, 0, read_rate)
}

/// One request through HAProxy with a body of `body` bytes (`x`), anonymous.
pub fn request_with(
    port: u16,
    method: &str,
    path: &str,
    body: usize,
    read_rate: Option<usize>,
) -> Outcome {
    let begin = now();
    let result = (|| -> Result<(u16, usize), String> {
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|_| "connect".to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(35)))
            .map_err(|e| e.to_string())?;
        let length = if method == "GET" && body == 0 {
            String::new()
        } else {
            format!("Content-Length: {body}\r\n")
        };
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: s3.test\r\n{length}Connection: close\r\n\r\n{}",
            "x".repeat(body)
        )
        .map_err(|_| "write".to_string())?;
        let mut response = Vec::new();
        let mut chunk = vec![0u8; read_rate.map_or(64 * 1024, |r| (r / 10).max(1))];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return Err("timeout".into())
                }
                Err(_) => return Err("reset".into()),
            }
            if read_rate.is_some() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let status = response
            .get(9..12)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "short".to_string())?;
        let head_end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(response.len(), |p| p + 4);
        Ok((status, response.len() - head_end))
    })();
    let latency = begin.elapsed();
    match result {
        Ok((status, body_len)) => Outcome {
            sent: begin,
            latency,
            result: Ok(status),
            body_len,
        },
        Err(kind) => Outcome {
            sent: begin,
            latency,
            result: Err(kind),
            body_len: 0,
        },
    }
}

/// The `q` quantile (0.5, 0.99, 1.0) of sorted latencies; zero when there are none.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or_default()
}

/// `n requests, n errors (kinds), p50 / p99 / max latency`.
pub fn summary(outcomes: &[Outcome]) -> String {
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort();
    let pick = |q: f64| percentile(&latencies, q);
    let errors: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match &o.result {
            Ok(200) => None,
            Ok(code) => Some(format!("http {code}")),
            Err(kind) => Some(kind.clone()),
        })
        .collect();
    format!(
        "{} requests, {} errors {:?}, latency p50 {:?} p99 {:?} max {:?}",
        outcomes.len(),
        errors.len(),
        errors,
        pick(0.5),
        pick(0.99),
        pick(1.0)
    )
}

pub fn errors(outcomes: &[Outcome]) -> usize {
    outcomes.iter().filter(|o| o.result != Ok(200)).count()
}
