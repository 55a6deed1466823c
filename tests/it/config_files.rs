//! The configuration file from the operator's side: `check-config`, and `check --config`.

use crate::cephadm_render::haproxy_check;
use crate::support::*;

const CONFIG_ERROR: i32 = 78;

fn check_config(path: &std::path::Path) -> (Option<i32>, String, String) {
    let out = blocking_command(BIN)
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_shipped_example_config_is_valid() {
    let example = repo_path("systemd/ceph-warden.example.toml");
    let (code, stdout, stderr) = check_config(&example);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), format!("{}: ok", example.display()));
}

#[test]
fn malformed_toml_names_the_line_in_one_line() {
    let dir = TempDir::new("cfgsyntax");
    let file = dir.write(
        "bad.toml",
        "[ceph]\nbinary = \"/usr/bin/ceph\"\n[check\ntimeout = \"5s\"\n",
    );
    let (code, _, stderr) = check_config(&file);
    assert_eq!(code, Some(CONFIG_ERROR));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("{}:3:", file.display())),
        "{stderr}"
    );
}

#[test]
fn an_unknown_key_is_named() {
    let dir = TempDir::new("cfgkey");
    let file = dir.write("bad.toml", "[check]\ntimeout = \"5s\"\nmax-restart = 1\n");
    let (code, _, stderr) = check_config(&file);
    assert_eq!(code, Some(CONFIG_ERROR));
    assert!(
        stderr.contains(":3:1: unknown field `max-restart`"),
        "{stderr}"
    );
}

#[test]
fn check_with_a_bad_config_calls_no_ceph_and_restarts_nothing() {
    let mut run = CheckRun::new("cfgcheck");
    let file = run.dir.write("bad.toml", "[ceph]\ntimeout = \"soon\"\n");
    let finished = run.args(["--config".as_ref(), file.as_os_str()]).run();
    assert_eq!(finished.code, Some(CONFIG_ERROR), "{finished:#?}");
    assert!(
        finished
            .stderr
            .contains("ceph.timeout: invalid duration \"soon\""),
        "{}",
        finished.stderr
    );
    assert!(finished.ceph_calls.is_empty(), "{:?}", finished.ceph_calls);
}

#[test]
fn a_missing_config_file_is_an_error_not_the_defaults() {
    let mut run = CheckRun::new("cfgmissing");
    let finished = run
        .args(["--config", "/nonexistent/ceph-warden.toml"])
        .run();
    assert_eq!(finished.code, Some(CONFIG_ERROR));
    assert!(
        finished
            .stderr
            .contains("/nonexistent/ceph-warden.toml: cannot read"),
        "{}",
        finished.stderr
    );
}

/// `[run]` with a static inventory restarted by a command, and one `[[static]]` RGW at `url`.
fn static_config(url: &str) -> String {
    format!(
        "[run]\ninventory = \"static\"\norchestrators = [\"command\"]\n[command]\nrestart = [\"true\"]\n[[static]]\nname = \"rgw.a\"\nurl = \"{url}\"\n"
    )
}

#[test]
fn mistakes_that_used_to_pass_are_refused_naming_the_key_and_what_to_write() {
    let dir = TempDir::new("cfgmistakes");
    for (tag, toml, want) in [
        (
            "no-scheme",
            static_config("localhost:38081"),
            "static[0].url: \"localhost:38081\" has no http:// scheme, so the probe could never request it (and the daemon would be restarted for it); write \"http://localhost:38081/\"",
        ),
        (
            "ftp",
            static_config("ftp://127.0.0.1:8080/"),
            "static[0].url: \"ftp://127.0.0.1:8080/\": the probe requests http:// URLs only; write \"http://127.0.0.1:8080/\"",
        ),
        (
            "health-gate",
            "[run]\nhealth-gate = [\"SLOW_OP\"]\n".to_string(),
            "run.health-gate: \"SLOW_OP\" is not a ceph health check code; did you mean \"SLOW_OPS\"?",
        ),
        (
            "run-types",
            "[run]\ntypes = [\"rgww\"]\n".to_string(),
            "run.types: \"rgww\" is not a daemon type ceph-warden can probe; did you mean \"rgw\"? (known: rgw, node-exporter,",
        ),
        (
            "check-types",
            "[check]\ntypes = [\"rgw\", \"node-exporer\"]\n".to_string(),
            "check.types: \"node-exporer\" is not a daemon type ceph-warden can probe; did you mean \"node-exporter\"?",
        ),
        (
            "daemon-types",
            "[daemon-types.rgww]\nfall = 3\n".to_string(),
            "daemon-types.rgww: \"rgww\" is not a daemon type ceph-warden can probe; did you mean \"rgw\"?",
        ),
        (
            "duplicate",
            format!(
                "{}[[static]]\nname = \"rgw.a\"\nurl = \"http://127.0.0.1:8081/\"\n",
                static_config("http://127.0.0.1:8080/")
            ),
            "static[1].name: \"rgw.a\" is also the name of static[0]; give each daemon its own name",
        ),
        (
            "same-socket",
            "[run]\nagent-listen = \"0.0.0.0:9480\"\nhttp-listen = \"127.0.0.1:9480\"\n".to_string(),
            "run.http-listen: \"127.0.0.1:9480\" takes the port of run.agent-listen \"0.0.0.0:9480\": the HTTP API needs a socket of its own; write e.g. http-listen = \"127.0.0.1:9481\"",
        ),
    ] {
        let file = dir.write(&format!("{tag}.toml"), &toml);
        let (code, stdout, stderr) = check_config(&file);
        assert_eq!(code, Some(CONFIG_ERROR), "{tag}: {stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{tag}: one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("ceph-warden: error: {}: {want}", file.display())),
            "{tag}: {stderr}"
        );
    }
}

/// `run` loads its configuration through the same code: a URL the probe cannot request stops
/// it before it listens, probes or restarts anything (it used to probe, fail with a reqwest
/// builder error, and restart the daemon).
#[test]
fn run_refuses_to_start_with_a_static_url_without_scheme() {
    let dir = TempDir::new("cfgrun");
    // What the URL points at: nothing may ever connect to it.
    let daemon = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = daemon.local_addr().expect("addr").port();
    let restarts = dir.path("restarts");
    let (agent_port, http_port) = (closed_port(), closed_port());
    let file = dir.write(
        "run.toml",
        &format!(
            "state-directory = \"{}\"\n[ceph]\nbinary = \"{}\"\n[lease]\nenabled = false\n[run]\nagent-listen = \"127.0.0.1:{agent_port}\"\nhttp-listen = \"127.0.0.1:{http_port}\"\ninventory = \"static\"\norchestrators = [\"command\"]\n[command]\nrestart = [\"sh\", \"-c\", \"echo {{name}} >> {}\"]\n[[static]]\nname = \"rgw.a\"\nurl = \"localhost:{port}\"\n",
            dir.path("state").display(),
            fake_ceph(),
            restarts.display(),
        ),
    );
    let mut child = blocking_command(BIN)
        .args(["run", "--config"])
        .arg(&file)
        .env("FAKE_CEPH_LOG", dir.path("ceph-argv.log"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn run");
    let mut status = None;
    wait_for("run to exit", std::time::Duration::from_secs(20), || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(CONFIG_ERROR),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}: static[0].url: \"localhost:{port}\" has no http:// scheme",
            file.display()
        )),
        "{stderr}"
    );
    daemon.set_nonblocking(true).expect("nonblocking");
    assert!(
        matches!(daemon.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing may have probed the daemon"
    );
    assert!(!restarts.exists(), "nothing may have been restarted");
    assert!(
        !dir.path("ceph-argv.log").exists(),
        "ceph was not even called"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", http_port)).is_err(),
        "no API was served"
    );
}

#[test]
fn haproxy_config_lines_for_the_real_inventory_pass_haproxy_check() {
    let dir = TempDir::new("haproxy-config");
    let out = blocking_command(BIN)
        .args(["haproxy-config", "--config"])
        .arg(dir.write(
            "cfg.toml",
            &format!("[ceph]\nbinary = \"{}\"\n", fake_ceph()),
        ))
        .env(
            "FAKE_CEPH_ORCH_PS_FILE",
            repo_path("tests/fixtures/orch-ps-json.stdout"),
        )
        .output()
        .expect("run");
    let lines = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{lines}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines.matches("    server rgw.").count(), 3, "{lines}");
    assert!(lines.contains(
        "server rgw.a 127.0.0.1:18080 weight 100 agent-port 9480 agent-send \"rgw.a\\n\""
    ));
    // In place of the shipped config's example servers, HAProxy accepts them.
    let shipped = std::fs::read_to_string(repo_path("haproxy/haproxy.cfg")).expect("shipped");
    let mut config: String = shipped
        .lines()
        .filter(|l| !l.trim_start().starts_with("server rgw."))
        .map(|l| format!("{l}\n"))
        .collect();
    config.push_str(&lines);
    haproxy_check(&dir, "haproxy.cfg", &config);
}

#[test]
fn the_man_page_and_the_bash_completions_come_from_the_cli() {
    let man = blocking_command(BIN)
        .arg("manpage")
        .output()
        .expect("manpage");
    let man = String::from_utf8_lossy(&man.stdout).into_owned();
    assert!(
        man.starts_with(".ie \\n(.g .ds Aq") || man.contains(".TH ceph-warden"),
        "{man}"
    );
    for subcommand in ["check", "run", "drain", "haproxy\\-config"] {
        assert!(man.contains(subcommand), "the man page lists {subcommand}");
    }
    let completions = blocking_command(BIN)
        .args(["completions", "bash"])
        .output()
        .expect("completions");
    assert!(completions.status.success());
    let dir = TempDir::new("completions");
    let script = dir.write(
        "ceph-warden.bash",
        &String::from_utf8_lossy(&completions.stdout),
    );
    let syntax = blocking_command("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash -n");
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    assert!(std::fs::read_to_string(&script)
        .unwrap_or_default()
        .contains("--dry-run"));
}
