//! `ceph-warden run` with stand-in daemons ([`Backend`]: switchable HTTP servers on loopback)
//! and the `command` restart backend: every agent word read the way HAProxy reads it, hostile
//! agent peers, the HTTP API, persistence across SIGKILL, SIGTERM, a hanging `ceph`.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::sidecar::*;
use crate::support::*;

/// A static inventory of one RGW on `port`, restarted by a command that appends its name to
/// `restarts` (the test then plays the part of the restarted daemon).
fn static_rgw(port: u16, restarts: &std::path::Path, probe_interval: &str) -> (String, String) {
    let run = format!(
        "inventory = \"static\"\norchestrators = [\"command\"]\nprobe-interval = \"{probe_interval}\"\nprobe-timeout = \"300ms\"\nagent-inter = \"200ms\"\nshutdown-timeout = \"2s\""
    );
    let rest = format!(
        "[[static]]\nname = \"rgw.a\"\nurl = \"http://127.0.0.1:{port}/\"\n\
         [command]\nrestart = [\"sh\", \"-c\", \"echo {{name}} >> {}\"]\n\
         [lease]\nenabled = false\n\
         [daemon-types.rgw]\nfall = 2\nrise = 2\nrestart-timeout = \"10s\"\nstartup-grace = \"1ms\"\nbackoff = \"1s\"\n",
        restarts.display()
    );
    (run, rest)
}

fn restarts_in(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn every_agent_word_is_served_as_haproxy_reads_it() {
    let backend = Backend::start(Mode::Ok);
    let marker = TempDir::new("words-restarts");
    let restarts = marker.path("restarts");
    let (run, rest) = static_rgw(backend.port, &restarts, "500ms");
    let sidecar = Sidecar::start("words", &run, &rest, &[]);

    // Discovered, no verdict yet: `up` (changes nothing HAProxy already has).
    let first = sidecar.wait_word("rgw.a", "for a known daemon", Duration::from_secs(5), |w| {
        !w.starts_with('#')
    });
    assert_eq!(first, "up");
    sidecar.wait_word("rgw.a", "up ready", Duration::from_secs(5), |w| {
        w == "up ready"
    });
    assert_eq!(sidecar.agent(Some("rgw.zz")).0, "#unknown daemon rgw.zz");
    assert_eq!(
        sidecar.agent(None).0,
        "up ready",
        "one daemon here: no tag needed"
    );

    // Operator drain and undrain.
    let (code, body) = sidecar.post("/daemons/rgw.a/drain");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"state\": \"draining\""), "{body}");
    assert_eq!(sidecar.agent(Some("rgw.a")).0, "drain");
    assert_eq!(sidecar.post("/daemons/rgw.a/undrain").0, 200);
    assert_eq!(sidecar.agent(Some("rgw.a")).0, "up ready");

    // Maintenance: `maint`, and after it `maint` until rise passes, then `up ready`.
    assert_eq!(sidecar.post("/daemons/rgw.a/maintenance?set=on").0, 200);
    assert_eq!(sidecar.agent(Some("rgw.a")).0, "maint");
    assert_eq!(sidecar.post("/daemons/rgw.a/maintenance?set=off").0, 200);
    assert_eq!(sidecar.agent(Some("rgw.a")).0, "maint");
    sidecar.wait_word(
        "rgw.a",
        "up ready after maintenance",
        Duration::from_secs(5),
        |w| w == "up ready",
    );

    // Busy: alive, stays in rotation.
    backend.set(Mode::SlowDown);
    wait_for("busy in /status", Duration::from_secs(5), || {
        sidecar.status()["daemons"][0]["state"] == "busy"
    });
    assert_eq!(sidecar.agent(Some("rgw.a")).0, "up ready");

    // Frozen: down with the reason, restarted once this HAProxy (us) has seen the down.
    backend.set(Mode::Hang);
    let down = sidecar.wait_word("rgw.a", "down", Duration::from_secs(5), |w| {
        w.starts_with("down")
    });
    assert!(
        down == "down #timeout" || down.starts_with("down #restarting: "),
        "{down}"
    );
    wait_for("the restart command", Duration::from_secs(10), || {
        restarts_in(&restarts) == 1
    });
    let restarting = sidecar.agent(Some("rgw.a")).0;
    assert!(
        restarting == "down #restarting: asking the orchestrator"
            || restarting == "down #restarting: waiting for the daemon to answer",
        "{restarting}"
    );
    // The "restarted" daemon answers again: recovering, then up ready.
    backend.set(Mode::Ok);
    sidecar.wait_word(
        "rgw.a",
        "up ready after the restart",
        Duration::from_secs(5),
        |w| w == "up ready",
    );
    assert_eq!(restarts_in(&restarts), 1);
    let events = sidecar.get("/events").1;
    for transition in [
        "\"to\":\"failed\"",
        "\"to\":\"restarting\"",
        "\"from\":\"restarting\"",
        "\"to\":\"healthy\"",
    ] {
        assert!(
            events.contains(transition),
            "{transition} missing from /events:\n{events}"
        );
    }
}

#[test]
fn a_restart_that_never_helps_ends_held_and_says_why() {
    let backend = Backend::start(Mode::Hang);
    let marker = TempDir::new("held-restarts");
    let restarts = marker.path("restarts");
    let (run, rest) = static_rgw(backend.port, &restarts, "200ms");
    let rest = rest.replace(
        "restart-timeout = \"10s\"",
        "restart-timeout = \"1s\"\nmax-restarts = 2\nbackoff-max = \"2s\"",
    );
    let sidecar = Sidecar::start("held", &run, &rest, &[]);
    let start = now();
    let held = sidecar.wait_word("rgw.a", "held", Duration::from_secs(20), |w| {
        w.starts_with("down #held")
    });
    assert_eq!(held, "down #held: 2 restarts in 30m did not bring it back");
    assert_eq!(restarts_in(&restarts), 2, "max-restarts = 2");
    eprintln!("held after {:?}", start.elapsed());
    let status = sidecar.status();
    assert_eq!(status["daemons"][0]["state"], "held");
    assert_eq!(status["daemons"][0]["restarts_in_window"], 2);
    assert!(
        sidecar.get("/").1.contains("held"),
        "the text view says why"
    );
    assert_eq!(sidecar.get("/health/rgw.a").0, 503);
    // No third attempt while held: an absence, so it is watched for a while (longer than the
    // 1 s backoff and timeouts that would otherwise have made one), not polled.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(restarts_in(&restarts), 2);
    // An operator reset: restarted again.
    assert_eq!(sidecar.post("/daemons/rgw.a/reset").0, 200);
    wait_for("a restart after the reset", Duration::from_secs(5), || {
        restarts_in(&restarts) == 3
    });
}

#[test]
fn hostile_agent_peers_do_not_delay_replies_or_grow_memory() {
    let backend = Backend::start(Mode::Ok);
    let marker = TempDir::new("hostile-restarts");
    let (run, rest) = static_rgw(backend.port, &marker.path("restarts"), "500ms");
    let sidecar = Sidecar::start("hostile", &run, &rest, &[]);
    sidecar.wait_word("rgw.a", "up ready", Duration::from_secs(5), |w| {
        w == "up ready"
    });
    let rss_before = sidecar.rss_kib();

    // 1,000 connections that send nothing and stay open, and one that sends 1 MiB of garbage.
    let silent: Vec<TcpStream> = (0..1000)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", sidecar.agent_port)).ok())
        .collect();
    assert_eq!(silent.len(), 1000);
    let port = sidecar.agent_port;
    let garbage = std::thread::spawn(move || {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
            let junk = vec![b'x'; 1024 * 1024];
            let _ = stream.write_all(&junk);
        }
    });
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let (word, took) = sidecar.agent(Some("rgw.a"));
        assert_eq!(word, "up ready");
        worst = worst.max(took);
    }
    let _ = garbage.join();
    eprintln!("worst agent reply with 1,000 idle peers and a garbage peer: {worst:?}");
    assert!(
        worst < Duration::from_secs(1),
        "beyond the 1 s connection deadline: {worst:?}"
    );
    drop(silent);
    let rss_after = sidecar.rss_kib();
    eprintln!("sidecar RSS {rss_before} KiB before, {rss_after} KiB after");
    assert!(
        rss_after < rss_before + 16 * 1024,
        "{rss_before} -> {rss_after} KiB"
    );
}

#[test]
fn the_drain_survives_a_sigkill_and_sigterm_exits_within_the_bound() {
    let backend = Backend::start(Mode::Ok);
    let marker = TempDir::new("persist-restarts");
    let (run, rest) = static_rgw(backend.port, &marker.path("restarts"), "500ms");
    let mut sidecar = Sidecar::start("persist", &run, &rest, &[]);
    sidecar.wait_word("rgw.a", "up ready", Duration::from_secs(5), |w| {
        w == "up ready"
    });
    assert_eq!(sidecar.post("/daemons/rgw.a/drain").0, 200);
    assert_eq!(sidecar.agent(Some("rgw.a")).0, "drain");

    sidecar.stop_with(Signal::SIGKILL);
    sidecar.spawn();
    // The very first answer after the restart is the drain, not `up`.
    let first = sidecar.wait_word("rgw.a", "for a known daemon", Duration::from_secs(5), |w| {
        !w.starts_with('#')
    });
    assert_eq!(first, "drain");
    wait_for(
        "rise passing probes after the restart",
        Duration::from_secs(5),
        || sidecar.status()["daemons"][0]["state"] == "draining",
    );
    assert_eq!(
        sidecar.agent(Some("rgw.a")).0,
        "drain",
        "still drained once probes pass"
    );

    let (took, code) = sidecar.stop_with(Signal::SIGTERM);
    eprintln!("SIGTERM to exit: {took:?}");
    assert_eq!(code, Some(0));
    assert!(
        took < Duration::from_secs(3),
        "shutdown-timeout is 2 s: {took:?}"
    );
}

#[test]
fn a_hanging_ceph_during_an_inventory_refresh_leaves_probing_and_the_agent_running() {
    let backend = Backend::start(Mode::Ok);
    let dir = TempDir::new("inventory-hang");
    let inventory = dir.write(
        "orch-ps.json",
        &orch_ps_json(&[("rgw.a", Some(backend.port))]),
    );
    let hang_flag = dir.path("hang");
    let run = "host = \"host1\"\nprobe-interval = \"200ms\"\ninventory-interval = \"300ms\"";
    let inventory_file = inventory.display().to_string();
    let hang_file = hang_flag.display().to_string();
    let sidecar = Sidecar::start(
        "inventory-hang",
        run,
        "",
        &[
            ("FAKE_CEPH_ORCH_PS_FILE", inventory_file.as_str()),
            ("FAKE_CEPH_HANG_IF", hang_file.as_str()),
        ],
    );
    sidecar.wait_word("rgw.a", "up ready", Duration::from_secs(5), |w| {
        w == "up ready"
    });
    std::fs::write(&hang_flag, "").expect("hang flag");
    wait_for(
        "the refresh error in /status",
        Duration::from_secs(10),
        || {
            sidecar.status()["inventory"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("did not finish within 2s; killed it"))
        },
    );
    let status = sidecar.status();
    assert_eq!(
        status["daemons"][0]["name"], "rgw.a",
        "the last inventory stays in force"
    );
    assert!(
        status["daemons"][0]["last_probe"]["age_seconds"]
            .as_f64()
            .unwrap_or(99.0)
            < 1.0,
        "{status}"
    );
    assert_eq!(sidecar.agent(Some("rgw.a")).0, "up ready");
    assert!(
        sidecar.get("/").1.contains("last refresh FAILED"),
        "{}",
        sidecar.get("/").1
    );
    assert!(sidecar.log().contains("inventory refresh failed"), "logged");
    // It comes back when ceph does.
    std::fs::remove_file(&hang_flag).expect("unflag");
    wait_for("a good refresh", Duration::from_secs(10), || {
        sidecar.status()["inventory"]["error"].is_null()
    });
}

#[test]
fn the_http_api_answers_plain_curl_and_the_metrics_parse() {
    let backend = Backend::start(Mode::Ok);
    let marker = TempDir::new("api-restarts");
    let (run, rest) = static_rgw(backend.port, &marker.path("restarts"), "500ms");
    let sidecar = Sidecar::start("api", &run, &rest, &[]);
    sidecar.wait_word("rgw.a", "up ready", Duration::from_secs(5), |w| {
        w == "up ready"
    });
    let curl = |path: &str| {
        let out = blocking_command("curl")
            .args([
                "-s",
                "-w",
                "\n%{http_code}",
                &format!("http://127.0.0.1:{}{path}", sidecar.http_port),
            ])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let root = curl("/");
    assert!(root.contains("rgw.a   healthy  up ready"), "{root}");
    assert!(root.ends_with("\n200"), "{root}");
    assert!(curl("/health").ends_with("\n200"));
    assert!(curl("/health/rgw.a").starts_with("rgw.a healthy: up ready"));
    assert!(curl("/health/rgw.nope").ends_with("\n404"));
    assert!(curl("/events?since=0").contains("\"to\":\"healthy\""));
    let status: serde_json::Value =
        serde_json::from_str(curl("/status").trim_end_matches("200").trim()).expect("status JSON");
    assert_eq!(status["version"], 1);
    assert_eq!(status["daemons"][0]["agent_word"], "up ready");
    // Mutations from loopback work; the non-loopback refusal is tested at the handler level
    // (src/http.rs), since every address this test could connect from is loopback.
    assert_eq!(sidecar.post("/daemons/rgw.a/drain").0, 200);
    assert_eq!(sidecar.post("/daemons/rgw.nope/drain").0, 404);
    assert_eq!(sidecar.get("/health/rgw.a").0, 503, "drained: not serving");
    let metrics = curl("/metrics");
    let metrics = metrics.trim_end_matches("200");
    assert!(
        metrics.contains("ceph_warden_daemon_state{daemon=\"rgw.a\",state=\"draining\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ceph_warden_agent_replies_total{word=\"up_ready\"}"),
        "{metrics}"
    );
    // Every metric the shipped alert rules use is one the sidecar exports.
    let rules =
        std::fs::read_to_string(repo_path("monitoring/ceph-warden-alerts.yml")).expect("rules");
    for name in rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("ceph_warden_"))
    {
        assert!(
            metrics.contains(&format!("# TYPE {name} ")),
            "the alert rules use {name}, which /metrics lacks"
        );
    }
    let file = sidecar.dir.write("metrics.txt", metrics);
    let promtool = blocking_command("promtool")
        .arg("check")
        .arg("metrics")
        .stdin(std::fs::File::open(&file).expect("metrics file"))
        .output()
        .expect("promtool (apt-get install prometheus)");
    assert!(
        promtool.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr)
    );
}

#[test]
fn sighup_rejects_a_bad_config_keeps_the_old_one_and_applies_a_good_one() {
    let backend = Backend::start(Mode::Ok);
    let other = Backend::start(Mode::Ok);
    let marker = TempDir::new("reload-restarts");
    let (run, rest) = static_rgw(backend.port, &marker.path("restarts"), "200ms");
    let mut sidecar = Sidecar::start("reload", &run, &rest, &[]);
    sidecar.wait_word("rgw.a", "up ready", Duration::from_secs(5), |w| {
        w == "up ready"
    });
    let good = std::fs::read_to_string(&sidecar.config).expect("config");

    std::fs::write(
        &sidecar.config,
        format!("{good}\n[run]\nprobe-interval = \"soon\"\n"),
    )
    .expect("bad config");
    sidecar.signal(Signal::SIGHUP);
    wait_for("the rejection in the log", Duration::from_secs(5), || {
        sidecar
            .log()
            .contains("SIGHUP: the new config is rejected, the old one stays")
    });
    assert!(sidecar.running());
    assert_eq!(sidecar.agent(Some("rgw.a")).0, "up ready");

    let with_b = format!(
        "{good}\n[[static]]\nname = \"rgw.b\"\nurl = \"http://127.0.0.1:{}/\"\n",
        other.port
    );
    std::fs::write(&sidecar.config, with_b).expect("good config");
    sidecar.signal(Signal::SIGHUP);
    sidecar.wait_word(
        "rgw.b",
        "rgw.b served after the reload",
        Duration::from_secs(5),
        |w| w == "up ready",
    );
    assert!(sidecar.log().contains("SIGHUP: configuration reloaded"));
}

#[test]
fn systemd_hears_ready_watchdog_pings_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let backend = Backend::start(Mode::Ok);
    let dir = TempDir::new("notify");
    let socket_path = dir.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let (run, rest) = static_rgw(backend.port, &dir.path("restarts"), "500ms");
    let notify = socket_path.display().to_string();
    // WatchdogSec=400ms: pings every 200 ms.
    let mut sidecar = Sidecar::start(
        "notify",
        &run,
        &rest,
        &[
            ("NOTIFY_SOCKET", notify.as_str()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let receive = || {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).trim().to_string()
    };
    assert_eq!(receive(), "READY=1");
    let start = now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_secs(1) {
        assert_eq!(receive(), "WATCHDOG=1");
        pings += 1;
    }
    eprintln!("{pings} watchdog pings in {:?}", start.elapsed());
    assert!(
        (3..=8).contains(&pings),
        "about 5 pings a second at WatchdogSec=400ms: {pings}"
    );
    sidecar.signal(Signal::SIGTERM);
    let mut last = String::new();
    for _ in 0..10 {
        last = receive();
        if last != "WATCHDOG=1" {
            break;
        }
    }
    assert_eq!(last, "STOPPING=1");
    let _ = sidecar.stop_with(Signal::SIGTERM);
}

/// A network namespace of this test's own, joined to the host by a veth pair: the one way to
/// reach the sidecar from a non-loopback address on this machine. Removed when dropped.
struct Netns {
    name: String,
}

impl Netns {
    const HOST: &'static str = "169.254.203.1";

    fn create() -> Self {
        let name = format!("cw{}", std::process::id());
        let host_if = format!("{name}h");
        let ns_if = format!("{name}n");
        let netns = Self { name: name.clone() };
        let ip = |args: &[&str]| {
            let out = blocking_command("ip")
                .args(args)
                .output()
                .expect("ip (iproute2)");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", Self::HOST),
            "dev",
            &host_if,
        ]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&[
            "netns",
            "exec",
            &name,
            "ip",
            "addr",
            "add",
            "169.254.203.2/30",
            "dev",
            &ns_if,
        ]);
        ip(&["netns", "exec", &name, "ip", "link", "set", &ns_if, "up"]);
        netns
    }

    /// curl from inside the namespace; the HTTP status.
    fn curl(&self, method: &str, url: &str) -> String {
        let out = blocking_command("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-m",
                "5",
                "-X",
                method,
                url,
            ])
            .output()
            .expect("ip netns exec curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it the host's.
        let _ = blocking_command("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn mutating_routes_refuse_a_peer_from_another_host() {
    let netns = Netns::create();
    let backend = Backend::start(Mode::Ok);
    let marker = TempDir::new("netns-restarts");
    let (run, rest) = static_rgw(backend.port, &marker.path("restarts"), "500ms");
    let sidecar = Sidecar::start_on("netns", "0.0.0.0", &run, &rest, &[]);
    sidecar.wait_word("rgw.a", "up ready", Duration::from_secs(5), |w| {
        w == "up ready"
    });
    let base = format!("http://{}:{}", Netns::HOST, sidecar.http_port);
    assert_eq!(
        netns.curl("GET", &format!("{base}/status")),
        "200",
        "reading is allowed"
    );
    assert_eq!(
        netns.curl("POST", &format!("{base}/daemons/rgw.a/drain")),
        "403"
    );
    assert_eq!(
        sidecar.agent(Some("rgw.a")).0,
        "up ready",
        "the refused drain changed nothing"
    );
    assert_eq!(
        sidecar.post("/daemons/rgw.a/drain").0,
        200,
        "from loopback it is allowed"
    );
}

#[test]
fn a_drain_survives_an_haproxy_reload_only_with_the_state_dump_of_the_reload_path() {
    let backends: Vec<Backend> = (0..3).map(|_| Backend::start(Mode::Ok)).collect();
    let names = ["rgw.a", "rgw.b", "rgw.c"];
    let statics: String = names
        .iter()
        .zip(&backends)
        .map(|(name, b)| {
            format!(
                "[[static]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{}/\"\n",
                b.port
            )
        })
        .collect();
    let sidecar = Sidecar::start(
        "reload",
        "inventory = \"static\"\norchestrators = [\"command\"]",
        &format!("{statics}[command]\nrestart = [\"true\"]\n[lease]\nenabled = false\n"),
        &[],
    );
    let servers: Vec<(&str, u16)> = names
        .iter()
        .zip(&backends)
        .map(|(n, b)| (*n, b.port))
        .collect();
    let haproxy = crate::ingress::Haproxy::start(&sidecar.dir.0, &servers, sidecar.agent_port);
    for name in names {
        haproxy.wait_status(name, "UP", Duration::from_secs(20), |s| s == "UP");
    }
    assert_eq!(sidecar.post("/daemons/rgw.b/drain").0, 200);
    haproxy.wait_status("rgw.b", "drained", Duration::from_secs(5), |s| {
        s.starts_with("DRAIN")
    });

    let mut figures = Vec::new();
    for with_state in [true, false] {
        let port = haproxy.port;
        let load = std::thread::spawn(move || {
            crate::ingress::open_loop(port, "/load", 200, Duration::from_secs(3), None)
        });
        // The load's schedule: one second of traffic before the reload.
        std::thread::sleep(Duration::from_secs(1));
        let reloaded = now();
        haproxy.reload(with_state);
        let outcomes = load.join().expect("load");
        let to_drained = backends[1].hits_after(reloaded);
        figures.push((with_state, to_drained, crate::ingress::summary(&outcomes)));
        // The new process learns the drain from the agent either way; wait for it.
        haproxy.wait_status("rgw.b", "drained again", Duration::from_secs(10), |s| {
            s.starts_with("DRAIN")
        });
    }
    eprintln!(
        "requests to the drained RGW after a reload (with the state dump, without): {figures:?}"
    );
    assert_eq!(
        figures[0].1, 0,
        "with the shipped reload path, the drain holds across the reload"
    );
    assert!(
        figures[1].1 > 0,
        "without the state dump the drained RGW takes requests: the test can fail"
    );
}
