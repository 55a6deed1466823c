//! A real HAProxy (Debian's package) running the shipped `haproxy/haproxy.cfg`, rewritten only
//! where a test must (loopback ports, socket and state file in the test's directory, the lab's
//! RGWs as servers), or cephadm's stock config; for the benchmark either with its per-request
//! log kept ([`with_request_log`]); plus an open-loop load generator that records every
//! request's outcome (latency from its scheduled instant, bodies checked against their
//! Content-Length).

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

/// cephadm's stock ingress config (tests/harness/haproxy-cephadm.cfg) with the test's stats
/// socket in `dir`, its frontend on `port` and `servers` (`server NAME 127.0.0.1:PORT check
/// weight 100 inter 2s`).
pub fn render_cephadm_stock(dir: &Path, port: u16, servers: &[(String, u16)]) -> String {
    let template = include_str!("../haproxy-cephadm.cfg");
    let lines: String = servers
        .iter()
        .map(|(name, p)| format!("    server {name} 127.0.0.1:{p} check weight 100 inter 2s\n"))
        .collect();
    template
        .replace("@SOCKET@", &format!("{}/admin.sock", dir.display()))
        .replace("@PORT@", &port.to_string())
        .replace("@SERVERS@\n", &lines)
}

/// The header that carries a benchmark request's id, captured into HAProxy's log line.
pub const REQUEST_ID_HEADER: &str = "X-Bench-Id";

/// The in-memory ring (a `ring` section) that [`with_request_log`] sends the request log to.
pub const REQUEST_LOG_RING: &str = "requests";

/// `config` (the shipped one after [`rewrite_config`], or cephadm's stock one) with HAProxy's
/// per-request log kept, for a benchmark: `log ring@requests local0` in `global` and a `ring
/// requests` section (`format raw`, 16 MiB: some 80,000 lines), `log global` and `option
/// httplog` in `defaults` when missing (cephadm's template has both, the harness's copy of it
/// leaves logging out; the shipped config has both), and `capture request header X-Bench-Id
/// len 12` in the frontend, so that each line carries the request's id in `{...}`. Nothing
/// else changes. Panics when a section is missing. [`Haproxy::request_log`] reads the ring.
///
/// A ring and not `log stdout`: HAProxy drops lines written to a file descriptor under load
/// (measured: up to 25 of 1,900 a run, `show info` DroppedLogs; HAProxy's manual says such
/// logs "may be dropped"), and a unix datagram socket drops more (the kernel queues 10
/// datagrams, `net.unix.max_dgram_qlen`); the ring lost none of 2,000 sent at once.
pub fn with_request_log(config: &str) -> String {
    let has = |directive: &str| {
        config
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == directive)
    };
    let (need_log_global, need_httplog) = (!has("log global"), !has("option httplog"));
    let mut out = String::new();
    let mut seen = [false; 3];
    for line in config.lines() {
        out.push_str(line);
        out.push('\n');
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            Some("global") if !line.starts_with(' ') => {
                seen[0] = true;
                out.push_str(&format!("    log ring@{REQUEST_LOG_RING} local0\n"));
            }
            Some("defaults") if !line.starts_with(' ') => {
                seen[1] = true;
                if need_log_global {
                    out.push_str("    log global\n");
                }
                if need_httplog {
                    out.push_str("    option httplog\n");
                }
            }
            Some("frontend") if !line.starts_with(' ') && !seen[2] => {
                seen[2] = true;
                out.push_str(&format!(
                    "    capture request header {REQUEST_ID_HEADER} len 12\n"
                ));
            }
            _ => {}
        }
    }
    assert!(
        seen.iter().all(|s| *s),
        "no global, defaults or frontend section: {seen:?}"
    );
    out.push_str(&format!(
        "\nring {REQUEST_LOG_RING}\n    format raw\n    maxlen 2048\n    size 16777216\n"
    ));
    out
}

/// One server's line of `show stat` (the columns of HAProxy 2.6's management guide, §9.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStat {
    /// `svname`.
    pub name: String,
    /// `status`: `UP`, `UP 1/3` (going down), `DOWN`, `DOWN 1/2` (going up), `DOWN (agent)`,
    /// `DRAIN`, `MAINT`, `NOLB`...
    pub status: String,
    /// `check_status` (`L4OK`, `L7STS`, `L4CON`, ... with `* ` while a check runs).
    pub check_status: String,
    /// `agent_status`: `L7OK` the agent said up, `L7STS` it said fail/stop/down, `L4CON` it
    /// was unreachable; empty without agent-check.
    pub agent_status: String,
    /// `agent_health`: 0 when the agent took the server down.
    pub agent_health: String,
    /// `scur`: sessions open on it.
    pub sessions: u64,
}

impl ServerStat {
    /// In rotation: UP (also `UP 1/3`, still taking traffic while its checks fail).
    pub fn in_rotation(&self) -> bool {
        self.status == "UP" || self.status.starts_with("UP ")
    }

    /// Drained or in maintenance (by the agent or an operator).
    pub fn drained(&self) -> bool {
        self.status.starts_with("DRAIN")
            || self.status.starts_with("MAINT")
            || self.status.starts_with("NOLB")
    }

    /// Taken down by the agent (`down`, `fail`, `stop`): `DOWN (agent)`, or the agent's last
    /// check `L7STS`.
    pub fn agent_down(&self) -> bool {
        self.status.starts_with("DOWN (agent)")
            || self.agent_status.trim_start_matches("* ") == "L7STS"
    }
}

/// The server lines of a `show stat` answer (frontends and backends left out).
pub fn parse_server_stats(stat: &str) -> Vec<ServerStat> {
    let mut lines = stat.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let header: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(name), Some(status), Some(kind)) =
        (column("svname"), column("status"), column("type"))
    else {
        return Vec::new();
    };
    let (check, agent, health, scur) = (
        column("check_status"),
        column("agent_status"),
        column("agent_health"),
        column("scur"),
    );
    lines
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            // type 2: a server.
            (fields.get(kind) == Some(&"2")).then(|| {
                let field = |c: Option<usize>| {
                    c.and_then(|c| fields.get(c))
                        .map_or(String::new(), |f| (*f).to_string())
                };
                ServerStat {
                    name: field(Some(name)),
                    status: field(Some(status)),
                    check_status: field(check),
                    agent_status: field(agent),
                    agent_health: field(health),
                    sessions: field(scur).parse().unwrap_or(0),
                }
            })
        })
        .collect()
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
        let port = closed_port();
        Self::launch(dir, port, &render_cephadm_stock(dir, port, servers))
    }

    /// As [`Haproxy::start`], with HAProxy's per-request log kept ([`with_request_log`]):
    /// the benchmark's variant of the shipped config. An `agent_port` where nothing listens
    /// leaves HAProxy on its own checks (the benchmark's `haproxy-only`).
    pub fn start_logged(dir: &Path, servers: &[(&str, u16)], agent_port: u16) -> Self {
        let shipped =
            std::fs::read_to_string(repo_path("haproxy/haproxy.cfg")).expect("haproxy/haproxy.cfg");
        let port = closed_port();
        let config = rewrite_config(&shipped, dir, port, servers, agent_port);
        Self::launch_logged(dir, port, &config)
    }

    /// As [`Haproxy::start_cephadm_stock`], with HAProxy's per-request log kept
    /// ([`with_request_log`]).
    pub fn start_cephadm_stock_logged(dir: &Path, servers: &[(String, u16)]) -> Self {
        let port = closed_port();
        let config = render_cephadm_stock(dir, port, servers);
        Self::launch_logged(dir, port, &config)
    }

    fn launch_logged(dir: &Path, port: u16, config: &str) -> Self {
        Self::launch(dir, port, &with_request_log(config))
    }

    /// Where HAProxy's stdout and stderr go (`dir/haproxy.log`).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The request log so far, a line per request ([`with_request_log`]'s ring, through the
    /// runtime API's `show events`); empty when the socket does not answer.
    pub fn request_log(&self) -> String {
        self.command(&format!("show events {REQUEST_LOG_RING}"))
    }

    /// Every server's line of `show stat`, one call of the runtime API; empty when the socket
    /// does not answer.
    pub fn server_stats(&self) -> Vec<ServerStat> {
        parse_server_stats(&self.command("show stat"))
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
        self.stat(name, "status")
    }

    /// Column `column` of `show stat` for server `name` (`stot`: the sessions it has served,
    /// `weight`: its current weight, ...).
    pub fn stat(&self, name: &str, column: &str) -> Option<String> {
        let stat = self.command("show stat");
        let mut lines = stat.lines();
        let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
        let column = header.iter().position(|h| *h == column)?;
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
    /// When it was due: in [`open_loop_with`] its scheduled instant (`start + i / rate`), so a
    /// load generator running late shows as latency; sent alone, when its thread began.
    pub sent: Instant,
    /// From `sent` to the end of the response (or the error).
    pub latency: Duration,
    /// The HTTP status, or the kind of error: `connect`, `write`, `timeout`, `reset`, `short`
    /// (no complete response head), `truncated` (the connection ended before the body had the
    /// bytes its Content-Length announced: a client notices).
    pub result: Result<u16, String>,
    /// Body bytes received (also for `truncated`, `reset` and `timeout` after the head).
    pub body_len: usize,
    /// How late its thread began after the scheduled instant ([`open_loop_with`]; zero for a
    /// request sent alone): the load generator's own delay, included in `latency`.
    pub lag: Duration,
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

/// The open-loop engine: request `i` (made by `send(i)`) is due at `start + i / rate` and sent
/// then on its own thread, for `duration` or until `stop`; each outcome also goes to `tap` as it
/// arrives. Each outcome's `sent` is its scheduled instant and its latency counts from there
/// (its `lag` says how late the thread began), so a generator that falls behind shows as
/// latency instead of hiding it.
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
        let due_at = start + due;
        let (tx, tap, send) = (tx.clone(), tap.clone(), Arc::clone(&send));
        handles.push(std::thread::spawn(move || {
            let mut outcome = send(i);
            let done = outcome.sent + outcome.latency;
            outcome.lag = outcome.sent.saturating_duration_since(due_at);
            outcome.sent = due_at;
            outcome.latency = done.saturating_duration_since(due_at);
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
    send_request(
        port,
        &RequestSpec {
            method,
            path,
            body,
            read_rate,
            ..RequestSpec::default()
        },
    )
}

/// One client request, as [`send_request`] sends it.
#[derive(Debug, Clone)]
pub struct RequestSpec<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Request body bytes (`x`); a `Content-Length` is sent unless this is a GET without one.
    pub body: usize,
    /// Bytes per second the client reads the response at (a slow client); None: as fast as
    /// it comes.
    pub read_rate: Option<usize>,
    /// Extra request headers, e.g. the benchmark's [`REQUEST_ID_HEADER`].
    pub headers: Vec<(String, String)>,
    /// The longest wait for any one read (no byte for this long: `timeout`).
    pub read_timeout: Duration,
    /// The whole request's bound: past it, `timeout` (so no request of a load runs forever).
    pub deadline: Duration,
}

impl Default for RequestSpec<'_> {
    fn default() -> Self {
        Self {
            method: "GET",
            path: "/",
            body: 0,
            read_rate: None,
            headers: Vec::new(),
            read_timeout: Duration::from_secs(35),
            deadline: Duration::from_secs(300),
        }
    }
}

/// The response head's status and Content-Length (None when absent, e.g. chunked).
fn parse_head(head: &[u8]) -> Option<(u16, Option<usize>)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status = lines.next()?.get(9..12)?.parse().ok()?;
    let length = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    });
    Some((status, length))
}

/// One request to 127.0.0.1:`port` on its own connection (`Connection: close`), anonymous.
/// The response is read to the end; when its head announced a Content-Length and fewer body
/// bytes came before the connection ended, the result is `Err("truncated")` (with `body_len`
/// the bytes that did come): a download cut short is an error a client notices, not a 200.
pub fn send_request(port: u16, spec: &RequestSpec) -> Outcome {
    let begin = now();
    let mut body_len = 0;
    let result = (|| -> Result<u16, String> {
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|_| "connect".to_string())?;
        stream
            .set_read_timeout(Some(spec.read_timeout))
            .map_err(|e| e.to_string())?;
        let length = if spec.method == "GET" && spec.body == 0 {
            String::new()
        } else {
            format!("Content-Length: {}\r\n", spec.body)
        };
        let extra: String = spec
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        write!(
            stream,
            "{} {} HTTP/1.1\r\nHost: s3.test\r\n{extra}{length}Connection: close\r\n\r\n{}",
            spec.method,
            spec.path,
            "x".repeat(spec.body)
        )
        .map_err(|_| "write".to_string())?;
        let mut head: Vec<u8> = Vec::new();
        let mut parsed: Option<(u16, Option<usize>)> = None;
        let mut chunk = vec![0u8; spec.read_rate.map_or(64 * 1024, |r| (r / 10).max(1))];
        // When the head was complete: the pace counts from there.
        let mut body_start = None;
        loop {
            if begin.elapsed() > spec.deadline {
                return Err("timeout".into());
            }
            let n = match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return Err("timeout".into())
                }
                Err(_) => return Err("reset".into()),
            };
            if parsed.is_some() {
                body_len += n;
            } else {
                head.extend_from_slice(&chunk[..n]);
                if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    parsed = Some(parse_head(&head[..end]).ok_or_else(|| "short".to_string())?);
                    body_len = head.len() - (end + 4);
                    body_start = Some(now());
                }
            }
            if let (Some(rate), Some(body_start)) = (spec.read_rate, body_start) {
                // Paced by the bytes read so far, so the average rate is `rate` whatever each
                // read returned.
                let due = body_start + Duration::from_secs_f64(body_len as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(now()) {
                    std::thread::sleep(wait);
                }
            }
        }
        let (status, length) = parsed.ok_or_else(|| "short".to_string())?;
        let bodiless = spec.method == "HEAD" || status < 200 || status == 204 || status == 304;
        match length {
            Some(length) if !bodiless && body_len < length => Err("truncated".into()),
            _ => Ok(status),
        }
    })();
    Outcome {
        sent: begin,
        latency: begin.elapsed(),
        result,
        body_len,
        lag: Duration::ZERO,
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
