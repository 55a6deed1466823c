//! ceph-warden's cephadm ingress template (haproxy/cephadm-ingress-haproxy.cfg.j2) against the
//! stock template of each Ceph release it replaces. The config-key replaces the stock template
//! for every ingress service of the cluster, so for each release the template, rendered with
//! exactly the context names that release passes (StrictUndefined, as cephadm renders), must
//! give every stock directive, plus only ceph-warden's listed additions and differences; and
//! the rendered config, run in a real HAProxy with the VIP and the host address on different
//! loopback addresses, must answer keepalived's check, serve Prometheus metrics and forward the
//! client's address to the RGW.
//!
//! The stock directives per release are in tests/fixtures/cephadm-stock-haproxy-*.txt, written
//! from reading each release's template (Ceph's text is LGPL and is not copied here); each
//! file's header names the text read: 16.2.15 from Debian 12's package; 18.2 and 20.2 from the
//! source index's nearest versions, because the 18.2.7 and 20.2.4 commits are not in it.
//!
//! ASSUMPTION (19.2): no Squid text was available. The 19.2.1 release notes list the IPv4 and
//! IPv6 bind change (v4v6_flag, `[::]`), and the NFS `check` was backported to Squid (ceph/ceph
//! PR 56315), so 19.2 (>= 19.2.1) is taken to pass 20.2's context and have 20.2's directives.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cephadm_render::*;
use crate::ingress::Haproxy;
use crate::support::*;

/// A self-signed certificate and its key in one PEM, standing in for cephadm's haproxy.pem.
fn self_signed_pem(dir: &TempDir) -> std::path::PathBuf {
    let pem = dir.path("haproxy.pem");
    let made = blocking_command("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=s3.test", "-keyout"])
        .arg(dir.path("key.pem"))
        .arg("-out")
        .arg(dir.path("cert.pem"))
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let both = std::fs::read_to_string(dir.path("cert.pem")).expect("cert")
        + &std::fs::read_to_string(dir.path("key.pem")).expect("key");
    std::fs::write(&pem, both).expect("pem");
    pem
}

/// The rendered config with what only a container provides taken out: no chroot, no daemon
/// mode (the test runs HAProxy in the foreground and stops it), the pidfile and both stats
/// sockets in `dir`; the agent port pointed at the test's stub agent. And the frontend's
/// `except 127.0.0.0/8`, under which no loopback client gets X-Forwarded-For, narrowed to
/// 127.0.0.1/32, so a client from 127.0.0.4 stands in for a remote one. Panics if a line it
/// rewrites is missing or repeated.
fn runnable(config: &str, dir: &Path, agent_port: u16) -> String {
    let rewrites: [(&str, Option<String>); 7] = [
        ("chroot /var/lib/haproxy", None),
        ("daemon", None),
        (
            "pidfile /var/lib/haproxy/haproxy.pid",
            Some(format!("pidfile {}/haproxy.pid", dir.display())),
        ),
        (
            "stats socket /var/lib/haproxy/stats",
            Some(format!("stats socket {}/stats", dir.display())),
        ),
        (
            "stats socket /var/lib/haproxy/admin.sock mode 600 level admin",
            Some(format!(
                "stats socket {}/admin.sock mode 600 level admin",
                dir.display()
            )),
        ),
        (
            "option forwardfor except 127.0.0.0/8",
            Some("option forwardfor except 127.0.0.1/32".to_string()),
        ),
        ("agent-port 9480", None),
    ];
    let mut hits = [0usize; 7];
    let mut out = String::new();
    for line in config.lines() {
        let normal = normalise(line);
        if normal.starts_with('#') {
            continue;
        }
        let mut line = Some(line.to_string());
        for (i, (from, to)) in rewrites.iter().enumerate() {
            if *from == "agent-port 9480" {
                if normal.contains(from) {
                    hits[i] += 1;
                    line = Some(format!(
                        "    {}",
                        normal.replace(from, &format!("agent-port {agent_port}"))
                    ));
                }
            } else if normal == *from {
                hits[i] += 1;
                line = to.as_ref().map(|to| format!("    {to}"));
            }
        }
        if let Some(line) = line {
            out.push_str(&line);
            out.push('\n');
        }
    }
    assert!(
        hits.iter().all(|h| *h == 1),
        "the rendered config changed shape ({hits:?}):\n{config}"
    );
    out
}

/// An HTTP server on 127.0.0.1 that answers 200 and records each request's head (health
/// checks, which send nothing, are not recorded).
struct Recorder {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind recorder");
        let port = listener.local_addr().expect("addr").port();
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let recorded = Arc::clone(&heads);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || {
                    let head = read_head(&mut stream);
                    if !head.is_empty() {
                        recorded.lock().expect("lock").push(head);
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        );
                    }
                });
            }
        });
        Self { port, heads }
    }
}

/// Reads up to the end of an HTTP head (or EOF, or 2 s).
fn read_head(stream: &mut TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A stand-in for the sidecar's agent on 127.0.0.1: records what HAProxy sends (agent-send)
/// and answers `up` (no admin word, so an operator's drain on the runtime API stays).
fn stub_agent() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind agent");
    let port = listener.local_addr().expect("addr").port();
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = Arc::clone(&sent);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while let Ok(1) = stream.read(&mut byte) {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    break;
                }
            }
            recorded
                .lock()
                .expect("lock")
                .push(String::from_utf8_lossy(&line).into_owned());
            let _ = stream.write_all(b"up\n");
        }
    });
    (port, sent)
}

/// A TCP connection to `to` from the loopback address `from` (std cannot bind before
/// connecting; tokio's TcpSocket can).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(IpAddr::V4(from), 0))
            .expect("bind the client's source address");
        let stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
            .await
            .expect("connect timed out")
            .expect("connect");
        let stream = stream.into_std().expect("into_std");
        stream.set_nonblocking(false).expect("blocking");
        stream
    })
}

/// `GET path` on `stream`; the status and the whole response, or None.
fn get(mut stream: TcpStream, path: &str) -> Option<(u16, String)> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: s3.test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.get(9..12)?.parse().ok()?;
    Some((status, response))
}

fn get_at(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    get(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?,
        path,
    )
}

/// One command on a runtime API socket; the answer.
fn runtime_api(socket: &Path, command: &str) -> String {
    let mut stream = UnixStream::connect(socket).expect("runtime API socket");
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = writeln!(stream, "{command}");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// The whole check for one release: the stock directives of its http (RGW, plain and TLS)
/// and tcp (NFS) renderings, then the RGW rendering live in HAProxy.
fn keeps_stock_and_works(release: Release) {
    let dir = TempDir::new(&format!("cephadm-{}", release.name()));
    let rgw = "rgw.lab.host1.abcdef".to_string();

    // A name the release does not pass is a render error, as on the cluster: the contexts
    // below are that release's exactly.
    let missing_name = match release {
        Release::Pacific16 => Some("local_host_ip"),
        Release::Reef18 => Some("v4v6_flag"),
        Release::Squid19 | Release::Tentacle20 => None,
    };

    // TLS on both sides, no VIP (`*`, or `[::]` from 19.2.1): text and `haproxy -c`.
    let tls = Case {
        release,
        mode: "http",
        ssl: true,
        vip: None,
        host_ip: "10.0.0.7",
        frontend_port: 443,
        monitor_port: 1967,
        servers: vec![
            (rgw.clone(), "10.0.0.1".into(), 8080),
            ("rgw.lab.host2.ghijkl".into(), "10.0.0.2".into(), 8080),
        ],
    };
    let config = render_ours(&dir, &tls);
    assert_stock_kept(&tls, &config);
    let pem = self_signed_pem(&dir);
    haproxy_check(
        &dir,
        "tls.cfg",
        &config.replace("/var/lib/haproxy/haproxy.pem", &pem.display().to_string()),
    );

    // An NFS ingress (tcp): the same config-key serves it too.
    let nfs = Case {
        release,
        mode: "tcp",
        ssl: false,
        vip: Some("10.0.0.100"),
        host_ip: "10.0.0.7",
        frontend_port: 2049,
        monitor_port: 9049,
        servers: vec![
            ("nfs.foo.0".into(), "10.0.0.1".into(), 12049),
            ("nfs.foo.1".into(), "10.0.0.2".into(), 12049),
        ],
    };
    let config = render_ours(&dir, &nfs);
    assert_stock_kept(&nfs, &config);
    haproxy_check(&dir, "nfs.cfg", &config);

    // RGW behind a VIP: the VIP and the host address on different loopback addresses (16.2
    // binds and checks `localhost` instead of the host address).
    let recorder = Recorder::start();
    let (agent_port, agent_heard) = stub_agent();
    let live = Case {
        release,
        mode: "http",
        ssl: false,
        vip: Some("127.0.0.2"),
        host_ip: "127.0.0.3",
        frontend_port: closed_port(),
        monitor_port: closed_port(),
        servers: vec![(rgw.clone(), "127.0.0.1".into(), recorder.port)],
    };
    let config = render_ours(&dir, &live);
    assert_stock_kept(&live, &config);
    if let Some(name) = missing_name {
        let template = std::fs::read_to_string(repo_path("haproxy/cephadm-ingress-haproxy.cfg.j2"))
            .expect("template");
        let broken = dir.write("broken.j2", &format!("{template}# {{{{ {name} }}}}\n"));
        let err = render(&dir, &broken, &live.context()).expect_err("StrictUndefined");
        assert!(err.contains(name), "{err}");
    }

    let haproxy = Haproxy::launch(
        &dir.0,
        live.frontend_port,
        &runnable(&config, &dir.0, agent_port),
    );
    let pid = haproxy.pid();
    haproxy.wait_status(&rgw, "UP", Duration::from_secs(10), |s| s == "UP");

    // keepalived's check, as cephadm writes it: `curl http://<host ip>:<monitor_port>/health`
    // (16.2: `d.ip or localhost`). Through the VIP only, it would fail on every host but the
    // VIP's owner, and keepalived could never move the VIP off a dead HAProxy.
    let host_ip: IpAddr = if release.since_reef() {
        live.host_ip.parse().expect("ip")
    } else {
        ("localhost", 0)
            .to_socket_addrs()
            .expect("resolve localhost")
            .map(|a| a.ip())
            .find(IpAddr::is_loopback)
            .expect("localhost is on loopback")
    };
    assert!(
        matches!(host_ip, IpAddr::V4(v4) if v4.octets()[0] == 127),
        "{host_ip}"
    );
    let keepalived = SocketAddr::new(host_ip, live.monitor_port);
    let health = get_at(keepalived, "/health");
    assert_eq!(
        health.as_ref().map(|h| h.0),
        Some(200),
        "{} (haproxy pid {pid}): keepalived's GET http://{keepalived}/health: {health:?}",
        release.name()
    );
    let vip_health = get_at(
        SocketAddr::new([127, 0, 0, 2].into(), live.monitor_port),
        "/health",
    );
    assert_eq!(vip_health.map(|h| h.0), Some(200));

    // Prometheus metrics on the monitor port (HAProxy's PROMEX service).
    let (status, metrics) = get_at(keepalived, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "{metrics}");
    assert!(
        metrics.contains("# TYPE haproxy_process_")
            && metrics.contains(&format!(
                "haproxy_server_status{{proxy=\"backend\",server=\"{rgw}\""
            )),
        "not Prometheus text:\n{}",
        &metrics[..metrics.len().min(2000)]
    );

    // The client's address reaches the RGW: a request from 127.0.0.4 (a remote client's stand-in)
    // to the VIP's frontend.
    let frontend = SocketAddr::new([127, 0, 0, 2].into(), live.frontend_port);
    let answer = get(
        connect_from(Ipv4Addr::new(127, 0, 0, 4), frontend),
        "/bucket/key",
    );
    assert_eq!(answer.as_ref().map(|a| a.0), Some(200), "{answer:?}");
    let heads = recorder.heads.lock().expect("lock").clone();
    let head = heads
        .iter()
        .find(|h| h.starts_with("GET /bucket/key "))
        .unwrap_or_else(|| panic!("the request did not reach the backend: {heads:?}"));
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("x-forwarded-for: 127.0.0.4")),
        "no X-Forwarded-For: 127.0.0.4 at the backend:\n{head}"
    );

    // ceph-warden's additions: the agent is asked by daemon name; the admin socket drains and
    // undrains by hand where cephadm's stats socket refuses.
    wait_for("an agent check", Duration::from_secs(5), || {
        !agent_heard.lock().expect("lock").is_empty()
    });
    assert_eq!(agent_heard.lock().expect("lock")[0], format!("{rgw}\n"));
    let refused = runtime_api(
        &dir.path("stats"),
        &format!("set server backend/{rgw} state drain"),
    );
    assert!(refused.contains("Permission denied"), "{refused:?}");
    let drained = haproxy.command(&format!("set server backend/{rgw} state drain"));
    assert_eq!(drained.trim(), "", "{drained:?}");
    haproxy.wait_status(&rgw, "DRAIN", Duration::from_secs(5), |s| {
        s.starts_with("DRAIN")
    });
    haproxy.command(&format!("set server backend/{rgw} state ready"));
    haproxy.wait_status(&rgw, "UP", Duration::from_secs(5), |s| s == "UP");
    // `haproxy` (pid `pid`) is stopped by its Drop, also when an assertion above fails.
}

#[test]
fn the_cephadm_template_keeps_ceph_16_2_stock_and_runs_in_haproxy() {
    keeps_stock_and_works(Release::Pacific16);
}

#[test]
fn the_cephadm_template_keeps_ceph_18_2_stock_and_runs_in_haproxy() {
    keeps_stock_and_works(Release::Reef18);
}

/// 19.2 is assumed to have 20.2's context and stock directives (module doc).
#[test]
fn the_cephadm_template_keeps_ceph_19_2_stock_and_runs_in_haproxy() {
    keeps_stock_and_works(Release::Squid19);
}

#[test]
fn the_cephadm_template_keeps_ceph_20_2_stock_and_runs_in_haproxy() {
    keeps_stock_and_works(Release::Tentacle20);
}
