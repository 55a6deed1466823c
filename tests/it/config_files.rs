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
