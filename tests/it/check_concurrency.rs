//! Probes run concurrently; overlapping runs are kept apart by the lock.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

#[test]
fn twenty_hanging_daemons_are_checked_in_about_one_timeout() {
    // A listener that never accepts: the kernel completes the TCP handshake (backlog), then
    // nothing answers, which is exactly what a frozen RGW looks like from outside.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let names: Vec<String> = (0..20).map(|i| format!("rgw.frozen{i}")).collect();
    let daemons: Vec<(&str, Option<u16>)> =
        names.iter().map(|n| (n.as_str(), Some(port))).collect();
    let mut run = CheckRun::new("twenty");
    let file = run.dir.write("orch-ps.json", &orch_ps_json(&daemons));
    let finished = run
        .orch_ps_file(&file)
        .args(["--dry-run", "--format", "json", "--timeout", "1s"])
        .run();
    drop(listener);
    let json = finished.json();
    let rows = json["daemons"].as_array().expect("rows");
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r["probe"] == "timeout"), "{json}");
    assert_eq!(finished.code, Some(1));
    // Serially this takes 20 s; concurrently about 1 s plus process start. Generous margin.
    eprintln!(
        "20 hanging daemons with a 1 s timeout checked in {:?}",
        finished.elapsed
    );
    assert!(
        finished.elapsed < Duration::from_secs(6),
        "took {:?}",
        finished.elapsed
    );
}

#[test]
fn two_runs_at_once_one_proceeds_the_other_reports_the_lock_and_restarts_nothing() {
    let dead = closed_port();
    let shared = TempDir::new("lock");
    let inventory = shared.write("orch-ps.json", &orch_ps_json(&[("rgw.a", Some(dead))]));
    let release = shared.path("release");
    let start = |tag: &str| {
        blocking_command(BIN)
            .args(["check", "--ceph", &fake_ceph(), "--state-directory"])
            .arg(shared.path("state"))
            .env("FAKE_CEPH_ORCH_PS_FILE", &inventory)
            .env(
                "FAKE_CEPH_LOG",
                shared.path(&format!("ceph-argv-{tag}.log")),
            )
            // The holder's `ceph orch ps` blocks until the test releases it, so the two
            // runs overlap for certain.
            .env("FAKE_CEPH_BLOCK_UNTIL", &release)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let mut first = start("first");
    let mut second = start("second");
    let begin = now();
    // Whichever did not get the lock exits at once, while the holder waits on `ceph`.
    let (loser, mut winner) = loop {
        if first.try_wait().expect("wait").is_some() {
            break (first, second);
        }
        if second.try_wait().expect("wait").is_some() {
            break (second, first);
        }
        assert!(
            begin.elapsed() < Duration::from_secs(30),
            "neither run finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        winner.try_wait().expect("wait").is_none(),
        "the lock holder is still waiting on ceph"
    );
    std::fs::write(&release, "").expect("release");
    let loser = loser.wait_with_output().expect("loser output");
    let deadline = now() + Duration::from_secs(30);
    while winner.try_wait().expect("wait").is_none() {
        assert!(now() < deadline, "the lock holder did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let winner = winner.wait_with_output().expect("winner output");

    assert_eq!(loser.status.code(), Some(4), "{loser:?}");
    let loser_err = String::from_utf8_lossy(&loser.stderr);
    assert!(
        // "(pid N)" follows when the holder had written its pid yet: best effort, not asserted.
        loser_err.contains("another ceph-warden check"),
        "{loser_err}"
    );
    assert!(
        loser_err.contains("check.lock; this run checks and restarts nothing"),
        "{loser_err}"
    );
    assert_eq!(winner.status.code(), Some(1), "{winner:?}");
    assert!(String::from_utf8_lossy(&winner.stdout).contains("restart requested"));
    let calls = |tag: &str| {
        std::fs::read_to_string(shared.path(&format!("ceph-argv-{tag}.log"))).unwrap_or_default()
    };
    let all = format!("{}{}", calls("first"), calls("second"));
    assert_eq!(all.matches("orch daemon restart rgw.a").count(), 1, "{all}");
    assert_eq!(
        all.matches("orch ps").count(),
        1,
        "the loser never called ceph: {all}"
    );
}
