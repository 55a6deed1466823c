//! The configuration file from the operator's side: `check-config`, and `check --config`.

use std::process::Command;

use crate::support::*;

const CONFIG_ERROR: i32 = 78;

fn check_config(path: &std::path::Path) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
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

#[test]
fn haproxy_config_lines_for_the_real_inventory_pass_haproxy_check() {
    let dir = TempDir::new("haproxy-config");
    let out = Command::new(BIN)
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
    let file = dir.write("haproxy.cfg", &config);
    let check = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(&file)
        .output()
        .expect("haproxy -c");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
