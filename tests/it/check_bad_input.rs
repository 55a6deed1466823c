//! Bad input from the `ceph` CLI: each gets a one-line error naming the cause, a non-zero exit,
//! and no restart.

use std::time::Duration;

use crate::support::*;

/// The exit code for "the inventory could not be read" (README, `--help`).
const ORCHESTRATOR_ERROR: i32 = 3;

fn error_line(finished: &Finished) -> &str {
    let lines: Vec<&str> = finished
        .stderr
        .lines()
        .filter(|l| l.contains("error:"))
        .collect();
    assert_eq!(lines.len(), 1, "exactly one error line: {finished:#?}");
    lines[0]
}

fn assert_refused(finished: &Finished, cause: &str) {
    assert_eq!(finished.code, Some(ORCHESTRATOR_ERROR), "{finished:#?}");
    let line = error_line(finished);
    assert!(
        line.contains(cause),
        "error line {line:?} should contain {cause:?}"
    );
    assert!(line.contains("nothing was restarted"), "{line}");
    assert!(finished.restarts().is_empty(), "{:?}", finished.ceph_calls);
}

#[test]
fn ceph_not_found() {
    let mut run = CheckRun::new("notfound");
    let finished = run.ceph("/nonexistent/bin/ceph").run();
    assert_refused(
        &finished,
        "the ceph CLI was not found: /nonexistent/bin/ceph",
    );
}

#[test]
fn ceph_without_an_orchestrator_exits_2_with_enoent() {
    let mut run = CheckRun::new("enoent");
    let stderr =
        std::fs::read_to_string(repo_path("tests/fixtures/orch-ps-json-no-backend.stderr"))
            .expect("fixture");
    let finished = run
        .orch_ps_file(&repo_path("tests/fixtures/orch-ps-json-no-backend.stdout"))
        .env("FAKE_CEPH_RC", "2")
        .env("FAKE_CEPH_STDERR", stderr.trim())
        .run();
    assert_refused(
        &finished,
        "orch ps --format json` exited 2: Error ENOENT: No orchestrator configured (try `ceph orch set backend`)",
    );
}

#[test]
fn ceph_printing_garbage() {
    let mut run = CheckRun::new("garbage");
    let file = run.dir.write(
        "garbage.txt",
        "Traceback (most recent call last):\n  File \"/usr/bin/ceph\"\n",
    );
    let finished = run.orch_ps_file(&file).run();
    assert_refused(&finished, "`ceph orch ps` printed invalid JSON");
}

#[test]
fn ceph_printing_truncated_json() {
    let sample =
        std::fs::read_to_string(repo_path("tests/fixtures/orch-ps-json.stdout")).expect("sample");
    let mut run = CheckRun::new("truncated");
    let file = run
        .dir
        .write("truncated.json", &sample[..sample.len() * 2 / 3]);
    let finished = run.orch_ps_file(&file).run();
    assert_refused(
        &finished,
        "`ceph orch ps` printed invalid JSON (EOF while parsing",
    );
}

#[test]
fn ceph_printing_an_object_instead_of_an_array() {
    let mut run = CheckRun::new("object");
    let file = run
        .dir
        .write("object.json", r#"{"daemons": [{"daemon_name": "rgw.a"}]}"#);
    let finished = run.orch_ps_file(&file).run();
    assert_refused(
        &finished,
        "printed a JSON object, not the array of daemons expected",
    );
}

#[test]
fn a_hanging_ceph_is_killed_at_the_timeout_and_leaves_no_process() {
    let mut run = CheckRun::new("hang");
    let config = run.dir.write("cfg.toml", "[ceph]\ntimeout = \"1s\"\n");
    let pidfile = run.dir.path("fake-ceph.pid");
    let finished = run
        .args(["--config".as_ref(), config.as_os_str()])
        .env("FAKE_CEPH_HANG", "1")
        .env("FAKE_CEPH_PIDFILE", &pidfile)
        .run();
    assert_refused(&finished, "did not finish within 1s; killed it");
    assert!(
        finished.elapsed < Duration::from_secs(20),
        "took {:?}",
        finished.elapsed
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    // The fake ceph ran in its own process group (pgid = its pid) with a `sleep` child: the
    // whole group must be gone, not just the direct child.
    wait_for(
        "the hung ceph's process group to be gone",
        Duration::from_secs(5),
        || group_members(pid).is_empty(),
    );
}

/// Live (non-zombie) processes whose process group is `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // stat: pid (comm) state ppid pgrp ...; comm may contain spaces, so split after ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            members.push(pid);
        }
    }
    members
}
