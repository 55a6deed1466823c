//! The S3 canary step of the probe chain against the lab's real radosgw: a signed read of a
//! canary object it creates on first use; wrong credentials are a configuration error that
//! drains nothing; the secret never shows anywhere.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::lab::Lab;
use crate::sidecar::Sidecar;
use crate::support::*;

fn s3_sidecar(lab: &Lab, tag: &str, secret: &str) -> Sidecar {
    let dir = TempDir::new(&format!("{tag}-secret"));
    let credentials = dir.write(
        "s3.toml",
        &format!(
            "access-key = \"{}\"\nsecret-key = \"{secret}\"\n",
            lab.env("CEPH_LAB_S3_ACCESS_KEY")
        ),
    );
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let lab_dir = lab.dir.display().to_string();
    let sidecar = Sidecar::start(
        tag,
        "",
        &format!(
            "[s3]\ncredentials-file = \"{}\"\n[daemon-types.rgw]\nprobes = [\"http\", \"s3\"]\n",
            credentials.display()
        ),
        &[("FAKE_CEPH_LAB_DIR", lab_dir.as_str())],
    );
    // The sidecar has read the file; the TempDir may go.
    drop(dir);
    sidecar
}

/// Everything the sidecar shows or writes where a secret could leak.
fn everything_it_says(sidecar: &Sidecar) -> String {
    let mut all = sidecar.log();
    for path in [
        "/",
        "/status",
        "/metrics",
        "/events",
        "/health",
        "/health/rgw.a",
    ] {
        all.push_str(&sidecar.get(path).1);
    }
    all
}

#[test]
fn the_s3_canary_is_created_and_read_through_a_signed_request() {
    let lab = Lab::up("s3-good", 2);
    let sidecar = s3_sidecar(&lab, "s3-good", &lab.env("CEPH_LAB_S3_SECRET_KEY"));
    for daemon in ["rgw.a", "rgw.b"] {
        sidecar.wait_word(daemon, "up ready", Duration::from_secs(20), |w| {
            w == "up ready"
        });
    }
    let status = sidecar.status();
    for daemon in status["daemons"].as_array().expect("daemons") {
        assert_eq!(daemon["last_probe"]["detail"], "s3: ok", "{daemon}");
        assert!(daemon["config_error"].is_null());
    }
    assert!(sidecar.log().contains("created the S3 canary object"));
    // The canary is really there: an anonymous read is refused, which only an existing,
    // private object answers with AccessDenied rather than NoSuchBucket.
    let anonymous = http_status(
        lab.port("a"),
        "/ceph-warden-canary/canary",
        Duration::from_secs(5),
    );
    assert_eq!(anonymous, Some(403));
    assert!(!everything_it_says(&sidecar).contains(&lab.env("CEPH_LAB_S3_SECRET_KEY")));
}

#[test]
fn wrong_s3_credentials_are_a_configuration_error_that_drains_nothing() {
    const WRONG: &str = "wrong-secret-d0nt-leak-7f3a9c";
    let lab = Lab::up("s3-wrong", 2);
    let sidecar = s3_sidecar(&lab, "s3-wrong", WRONG);
    wait_for("config errors in /status", Duration::from_secs(20), || {
        sidecar.status()["daemons"].as_array().is_some_and(|d| {
            d.len() == 2
                && d.iter().all(|x| {
                    x["config_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("SignatureDoesNotMatch"))
                })
        })
    });
    // Keep probing for a while (an absence of drains and restarts is watched, not polled):
    // still serving, never drained or restarted.
    std::thread::sleep(Duration::from_secs(3));
    for daemon in ["rgw.a", "rgw.b"] {
        assert_eq!(sidecar.agent(Some(daemon)).0, "up ready");
    }
    let status = sidecar.status();
    assert!(
        status["daemons"]
            .as_array()
            .is_some_and(|d| d.iter().all(|x| x["state"] == "healthy")),
        "{status}"
    );
    let calls = sidecar.ceph_calls();
    assert!(!calls.contains("orch daemon restart"), "{calls}");
    assert!(sidecar.log().contains(
        "configuration error (nothing is drained or restarted for it): s3 SignatureDoesNotMatch"
    ));
    assert!(sidecar
        .get("/metrics")
        .1
        .contains("ceph_warden_config_errors 2"));
    assert!(sidecar
        .get("/")
        .1
        .contains("CONFIG ERROR: s3 SignatureDoesNotMatch"));
    let said = everything_it_says(&sidecar);
    assert!(!said.contains(WRONG), "the secret leaked");
}

#[test]
fn a_frozen_osd_makes_every_rgw_degraded_with_no_drain_and_no_restart() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let lab = Lab::up("osd-frozen", 3);
    let dir = TempDir::new("osd-frozen-secret");
    let credentials = lab.s3_credentials(&dir);
    let lab_dir = lab.dir.display().to_string();
    let sidecar = Sidecar::start(
        "osd-frozen",
        "",
        &format!(
            "[s3]\ncredentials-file = \"{}\"\n[daemon-types.rgw]\nprobes = [\"http\", \"s3\", \"asok\"]\nadmin-socket = \"{}/run/ceph-client.{{name}}.asok\"\n",
            credentials.display(),
            lab.dir.display()
        ),
        &[("FAKE_CEPH_LAB_DIR", lab_dir.as_str())],
    );
    let names = ["rgw.a", "rgw.b", "rgw.c"];
    for name in names {
        sidecar.wait_word(name, "up ready", Duration::from_secs(20), |w| {
            w == "up ready"
        });
    }
    let osd = Pid::from_raw(lab.env("CEPH_LAB_OSD_PID").parse().expect("osd pid"));
    kill(osd, Signal::SIGSTOP).expect("freeze the OSD");
    let (all_degraded, words) =
        sidecar.watch_degraded(&names, Duration::from_secs(30), "rados: oldest op");
    kill(osd, Signal::SIGCONT).expect("thaw the OSD");
    assert!(
        all_degraded.is_some(),
        "every RGW degraded naming RADOS; /:\n{}",
        sidecar.get("/").1
    );
    crate::support::assert_in_rotation_and_held(&words, "never drained nor down");
    let thawed = now();
    // In rotation, the hold ended (HAProxy is told a bound no RGW reaches, not `maxconn:0`).
    for name in names {
        sidecar.wait_word(name, "up ready", Duration::from_secs(5), |w| {
            w == "up ready" || w == "up ready maxconn:10000"
        });
    }
    let all_healthy = || {
        sidecar.status()["daemons"]
            .as_array()
            .is_some_and(|d| d.iter().all(|x| x["state"] == "healthy"))
    };
    // Bounded; a failure says whether the lab's PGs stayed laggy (its own wedge, not the
    // sidecar's: the sidecar rightly keeps saying degraded while RADOS waits).
    lab.wait_after_osd_thaw(all_healthy);
    eprintln!("healthy again {:?} after the thaw", thawed.elapsed());
    let calls = sidecar.ceph_calls();
    assert!(
        !calls.contains("orch daemon restart"),
        "no restart: {calls}"
    );
    assert!(sidecar.get("/events").1.contains("\"to\":\"degraded\""));
}

#[test]
fn a_frozen_rgw_with_the_deep_chain_is_failed_and_restarted_not_degraded() {
    let lab = Lab::up("deep-frozen", 2);
    let dir = TempDir::new("deep-frozen-secret");
    let credentials = lab.s3_credentials(&dir);
    let lab_dir = lab.dir.display().to_string();
    let sidecar = Sidecar::start(
        "deep-frozen",
        "",
        &format!(
            "[s3]\ncredentials-file = \"{}\"\n[daemon-types.rgw]\nprobes = [\"http\", \"s3\", \"asok\"]\nadmin-socket = \"{}/run/ceph-client.{{name}}.asok\"\n",
            credentials.display(),
            lab.dir.display()
        ),
        &[("FAKE_CEPH_LAB_DIR", lab_dir.as_str())],
    );
    for name in ["rgw.a", "rgw.b"] {
        sidecar.wait_word(name, "up ready", Duration::from_secs(20), |w| {
            w == "up ready"
        });
    }
    let before = lab.pid("b");
    lab.ctl("freeze", "b");
    // A frozen RGW's admin socket does not answer either: the failure stands, it is the
    // daemon's, and the chain's failing step and class show in /status.
    let down = sidecar.wait_word("rgw.b", "down", Duration::from_secs(10), |w| {
        w.starts_with("down")
    });
    assert!(
        down == "down #timeout: process hung (its admin socket is silent too)"
            || down.starts_with("down #restarting: "),
        "the hang class named: {down}"
    );
    let status = sidecar.status();
    let b = status["daemons"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["name"] == "rgw.b"))
        .cloned()
        .unwrap_or_default();
    assert_ne!(b["state"], "degraded", "{b}");
    wait_for("rgw.b restarted", Duration::from_secs(30), || {
        lab.pid("b").is_some() && lab.pid("b") != before
    });
    sidecar.wait_word(
        "rgw.b",
        "up ready after the restart",
        Duration::from_secs(30),
        |w| w == "up ready",
    );
    let events = sidecar.get("/events").1;
    assert!(events.contains("\"daemon\":\"rgw.b\",\"from\":\"suspect\",\"to\":\"failed\",\"word\":\"down #timeout: process hung (its admin socket is silent too)\""), "{events}");
    assert!(!events.contains("\"to\":\"degraded\""), "{events}");
}
