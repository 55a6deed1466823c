//! `ceph-warden check` against real radosgw daemons of the project's lab; only the
//! orchestrator is the stand-in `tests/lab/fake-ceph` (see main.rs).

use std::time::Duration;

use crate::lab::Lab;
use crate::support::*;

fn check_on(lab: &Lab, tag: &str) -> CheckRun {
    let mut run = CheckRun::new(tag);
    run.env("FAKE_CEPH_LAB_DIR", &lab.dir).args([
        "--type",
        "rgw",
        "--timeout",
        "2s",
        "--format",
        "json",
    ]);
    run
}

fn row<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["daemons"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no row {name}: {json}"))
}

#[test]
fn a_frozen_rgw_is_restarted_and_only_that_one() {
    let lab = Lab::up("frozen", 3);
    let before: Vec<Option<u32>> = lab.ids.iter().map(|id| lab.pid(id)).collect();
    lab.ctl("freeze", "b");

    // Dry run: reported, exit code says unhealthy, nothing restarted.
    let dry = check_on(&lab, "frozen-dry").args(["--dry-run"]).run();
    assert_eq!(dry.code, Some(1), "{dry:#?}");
    let json = dry.json();
    assert_eq!(row(&json, "rgw.b")["probe"], "timeout");
    assert_eq!(
        row(&json, "rgw.b")["orch_status"],
        "running",
        "the orchestrator still says running"
    );
    assert_eq!(row(&json, "rgw.b")["action"], "would-restart");
    assert_eq!(row(&json, "rgw.a")["probe"], "ok");
    assert_eq!(row(&json, "rgw.c")["probe"], "ok");
    assert!(dry.restarts().is_empty(), "{:?}", dry.ceph_calls);
    let after_dry: Vec<Option<u32>> = lab.ids.iter().map(|id| lab.pid(id)).collect();
    assert_eq!(after_dry, before, "a dry run restarts nothing");
    assert!(!lab.answers_200("b"), "rgw.b is still frozen");

    // The real run: exactly rgw.b is restarted.
    let real = check_on(&lab, "frozen-real").run();
    assert_eq!(
        real.code,
        Some(1),
        "unhealthy found, restart accepted: {real:#?}"
    );
    assert_eq!(real.restarts(), ["rgw.b"]);
    let json = real.json();
    assert_eq!(row(&json, "rgw.b")["action"], "restart-requested");
    assert!(
        row(&json, "rgw.b")["action_detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Scheduled to restart rgw.b"),
        "{json}"
    );

    // cephadm restarts asynchronously: wait for the new process to answer.
    wait_for(
        "rgw.b to be restarted and answer 200",
        Duration::from_secs(60),
        || lab.pid("b").is_some() && lab.pid("b") != before[1] && lab.answers_200("b"),
    );
    assert_eq!(lab.pid("a"), before[0], "rgw.a kept its pid");
    assert_eq!(lab.pid("c"), before[2], "rgw.c kept its pid");
    assert!(
        lab.ids.iter().all(|id| lab.answers_200(id)),
        "all three answer 200"
    );

    let again = check_on(&lab, "frozen-after").run();
    assert_eq!(again.code, Some(0), "{again:#?}");
    assert!(again.restarts().is_empty());
}

#[test]
fn an_rgw_with_its_healthcheck_disabled_is_busy_and_not_restarted() {
    let lab = Lab::up("busy", 2);
    let pid_before = lab.pid("b");
    // rgw_healthcheck_disabling_path: /swift/healthcheck answers 503 while the file exists.
    lab.ctl("hc-off", "b");
    let mut run = check_on(&lab, "busy");
    let config = run.dir.write(
        "cfg.toml",
        "[daemon-types.rgw]\nhttp-path = \"/swift/healthcheck\"\n",
    );
    let finished = run.args(["--config".as_ref(), config.as_os_str()]).run();
    assert_eq!(finished.code, Some(0), "busy is alive: {finished:#?}");
    let json = finished.json();
    assert_eq!(row(&json, "rgw.b")["probe"], "busy");
    assert_eq!(
        row(&json, "rgw.b")["probe_detail"],
        "busy (ServiceUnavailable)"
    );
    assert_eq!(row(&json, "rgw.a")["probe"], "ok");
    assert!(finished.restarts().is_empty(), "{:?}", finished.ceph_calls);
    assert_eq!(lab.pid("b"), pid_before);
}
