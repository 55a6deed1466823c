//! The admin-socket client against a real radosgw of the lab, frozen with SIGSTOP: a frozen
//! daemon accepts the first connects and never answers (`ceph --admin-daemon` would hang
//! forever); every call must cost its deadline and no more.

use std::path::Path;
use std::time::Duration;

use ceph_warden::probe::asok;

use crate::lab::Lab;
use crate::support::now;

#[test]
fn the_admin_socket_of_a_frozen_radosgw_costs_the_deadline_and_no_more() {
    let lab = Lab::up("asok-frozen", 1);
    let path = lab.env("CEPH_LAB_RGW_A_ASOK");
    let path = Path::new(&path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let perf = runtime
        .block_on(asok::command(
            path,
            r#"{"prefix": "perf dump", "format": "json"}"#,
            Duration::from_secs(5),
        ))
        .expect("perf dump of a running radosgw");
    assert!(
        asok::qactive(&perf).is_some(),
        "an RGW perf dump has rgw.qactive"
    );
    let ops = runtime
        .block_on(asok::command(
            path,
            r#"{"prefix": "objecter_requests"}"#,
            Duration::from_secs(5),
        ))
        .expect("objecter_requests");
    assert!(asok::oldest_op(&ops).is_ok());
    let err = runtime
        .block_on(asok::command(
            path,
            r#"{"prefix": "no such command"}"#,
            Duration::from_secs(5),
        ))
        .expect_err("an unknown command");
    assert!(
        err.to_string()
            .contains("the daemon said: ERROR: (22) Invalid argument"),
        "{err}"
    );

    lab.ctl("freeze", "a");
    // More calls than the daemon's listen backlog (5): the first ones connect and wait, the
    // later ones cannot even connect; none may take longer than its deadline.
    let mut worst = Duration::ZERO;
    for _ in 0..8 {
        let start = now();
        let result = runtime.block_on(asok::command(
            path,
            r#"{"prefix": "perf dump"}"#,
            Duration::from_millis(500),
        ));
        let took = start.elapsed();
        assert!(result.is_err(), "a frozen daemon answered");
        worst = worst.max(took);
    }
    eprintln!("worst admin-socket call to a frozen radosgw with a 500 ms deadline: {worst:?}");
    assert!(worst < Duration::from_millis(1500), "{worst:?}");
    lab.ctl("thaw", "a");
}
