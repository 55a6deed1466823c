//! `check` against the real `ceph orch ps` samples of a Ceph 16.2.15 cluster (tests/fixtures).

use crate::support::*;

fn rows(json: &serde_json::Value) -> Vec<&serde_json::Value> {
    json["daemons"]
        .as_array()
        .expect("daemons array")
        .iter()
        .collect()
}

#[test]
fn dry_run_on_the_real_sample_lists_every_rgw_and_node_exporter_and_nothing_else() {
    let mut run = CheckRun::new("sample");
    let sample = repo_path("tests/fixtures/orch-ps-json.stdout");
    let finished = run
        .orch_ps_file(&sample)
        .args(["--dry-run", "--format", "json", "--timeout", "1s"])
        .run();
    let json = finished.json();
    let listed: Vec<(String, String, String)> = rows(&json)
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["host"].as_str().unwrap_or_default().to_string(),
                r["url"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want = [
        (
            "node-exporter.localhost",
            "localhost",
            "http://localhost:9100/",
        ),
        ("rgw.a", "localhost", "http://127.0.0.1:18080/"),
        ("rgw.b", "localhost", "http://127.0.0.1:18081/"),
        ("rgw.c", "localhost", "http://127.0.0.1:18082/"),
    ]
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(listed, want, "{finished:#?}");
    assert_eq!(
        json["inventory"], 7,
        "mon, mgr and osd are in the inventory but not checked"
    );
    assert!(finished.restarts().is_empty(), "a dry run restarts nothing");
    assert_eq!(
        finished.ceph_calls.len(),
        1,
        "one `ceph orch ps`: {:?}",
        finished.ceph_calls
    );
    assert!(
        finished.ceph_calls[0].ends_with("orch ps --format json"),
        "{:?}",
        finished.ceph_calls
    );
}

#[test]
fn a_daemon_without_ports_is_skipped_with_the_reason_not_probed_on_port_0() {
    // The real sample with `ports` removed from rgw.c, as cephadm emits it when unknown.
    let sample =
        std::fs::read_to_string(repo_path("tests/fixtures/orch-ps-json.stdout")).expect("sample");
    let mut daemons: serde_json::Value = serde_json::from_str(&sample).expect("sample json");
    for daemon in daemons.as_array_mut().expect("array") {
        if daemon["daemon_name"] == "rgw.c" {
            daemon.as_object_mut().expect("object").remove("ports");
        }
    }
    let mut run = CheckRun::new("noports");
    let file = run.dir.write("orch-ps.json", &daemons.to_string());
    let finished = run
        .orch_ps_file(&file)
        .args(["--dry-run", "--type", "rgw", "--timeout", "1s"])
        .run();
    let line = finished
        .stdout
        .lines()
        .find(|l| l.starts_with("rgw.c "))
        .unwrap_or_else(|| panic!("no rgw.c row: {finished:#?}"));
    assert!(
        line.contains("skipped: no port in the inventory; not probed"),
        "{line}"
    );
    assert!(!line.contains(":0"), "{line}");
    assert!(finished.stdout.contains("1 skipped"), "{}", finished.stdout);
}

#[test]
fn an_unknown_type_is_fine_but_the_empty_result_says_so() {
    let mut run = CheckRun::new("unknowntype");
    let sample = repo_path("tests/fixtures/orch-ps-json.stdout");
    let finished = run.orch_ps_file(&sample).args(["--type", "mds"]).run();
    assert_eq!(finished.code, Some(0), "{finished:#?}");
    assert!(
        finished.stdout.contains(
            "note: no daemons of type mds in the inventory (7 daemons: mgr, mon, node-exporter, osd, rgw)"
        ),
        "{}",
        finished.stdout
    );
    assert!(finished.restarts().is_empty());
}

#[test]
fn a_503_slowdown_is_busy_and_not_restarted_while_a_refusing_daemon_is() {
    // A stub server answering what RGW's rate limiter answers.
    let slow = stub_server(
        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: 96\r\nConnection: close\r\n\r\n\
         <?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><RequestId>tx1</RequestId></Error>",
    );
    let plain_503 = stub_server(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope\n",
    );
    let dead = closed_port();
    let mut run = CheckRun::new("busy");
    let file = run.dir.write(
        "orch-ps.json",
        &orch_ps_json(&[
            ("rgw.slow", Some(slow)),
            ("rgw.broken", Some(plain_503)),
            ("rgw.dead", Some(dead)),
        ]),
    );
    let finished = run.orch_ps_file(&file).args(["--format", "json"]).run();
    let json = finished.json();
    let by_name = |name: &str| {
        rows(&json)
            .into_iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {json}"))
            .clone()
    };
    assert_eq!(by_name("rgw.slow")["probe"], "busy");
    assert_eq!(by_name("rgw.slow")["probe_detail"], "busy (SlowDown)");
    assert_eq!(by_name("rgw.slow")["action"], "none");
    assert_eq!(by_name("rgw.broken")["probe_detail"], "http 503");
    assert_eq!(by_name("rgw.dead")["probe"], "refused");
    assert_eq!(finished.restarts(), ["rgw.broken", "rgw.dead"]);
    assert_eq!(finished.code, Some(1), "unhealthy found, restarts accepted");
}
