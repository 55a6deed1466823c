//! The restart lease against the lab's real cluster (`rados lock` on `.rgw.root`, namespace
//! `ceph-warden`): exclusive, expiring on its own, given back by cookie, and refused within its
//! timeout when RADOS is stalled.

use std::time::Duration;

use ceph_warden::lease::{LeaseError, LeaseSettings};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::lab::Lab;
use crate::support::now;

fn settings(lab: &Lab) -> LeaseSettings {
    LeaseSettings {
        rados: "rados".into(),
        args: vec!["-c".into(), format!("{}/ceph.conf", lab.dir.display())],
        pool: ".rgw.root".into(),
        namespace: "ceph-warden".into(),
        slots: 1,
        op_timeout: Duration::from_secs(3),
    }
}

#[test]
fn one_holder_at_a_time_given_back_by_cookie_expiring_by_itself_refused_when_rados_stalls() {
    let lab = Lab::up("lease", 1);
    let lease = settings(&lab);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let take = |cookie: &str, seconds: u64| {
        runtime.block_on(lease.acquire("rgw.lab", cookie, "test", Duration::from_secs(seconds)))
    };

    let a = take("host-a:1:1", 60).expect("the first holder");
    assert_eq!(
        (a.object.as_str(), a.slot.as_str()),
        ("restart-lease.rgw.lab", "slot-0")
    );
    assert!(
        matches!(take("host-b:2:2", 60), Err(LeaseError::Busy { .. })),
        "exclusive"
    );
    runtime.block_on(lease.release(&a)).expect("give it back");
    runtime
        .block_on(lease.release(&a))
        .expect("giving back twice is fine");
    let b = take("host-b:2:2", 3).expect("free again after the release");

    // A holder that dies never gives it back: the lease expires by itself.
    assert!(matches!(
        take("host-c:3:3", 60),
        Err(LeaseError::Busy { .. })
    ));
    let expired = now();
    crate::support::wait_for("the lease to expire", Duration::from_secs(15), || {
        take("host-c:3:3", 60).is_ok()
    });
    eprintln!(
        "a 3 s lease was free again {:?} after we started waiting",
        expired.elapsed()
    );
    drop(b);

    // RADOS stalled: the call gives up within its timeout, and says nothing can be restarted.
    let osd = Pid::from_raw(lab.env("CEPH_LAB_OSD_PID").parse().expect("osd pid"));
    kill(osd, Signal::SIGSTOP).expect("freeze the OSD");
    let start = now();
    let stalled = take("host-d:4:4", 60);
    let took = start.elapsed();
    kill(osd, Signal::SIGCONT).expect("thaw the OSD");
    eprintln!("lease with the OSD frozen: {stalled:?} after {took:?}");
    assert!(
        matches!(stalled, Err(LeaseError::Unreachable(_))),
        "{stalled:?}"
    );
    assert!(
        took < Duration::from_secs(9),
        "bounded by op-timeout: {took:?}"
    );
}

#[test]
fn the_documented_cephx_caps_are_enough_for_the_lease_and_no_more() {
    let lab = Lab::up("lease-caps", 1);
    let conf = format!("{}/ceph.conf", lab.dir.display());
    // The user of the docs (docs/operations.md), exactly.
    let keyring = lab.cephx_user("ceph-warden", &crate::lab::DOCUMENTED_CAPS);
    let mut lease = settings(&lab);
    lease.args = vec![
        "-c".into(),
        conf,
        "--name".into(),
        "client.ceph-warden".into(),
        "--keyring".into(),
        keyring,
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let held = runtime
        .block_on(lease.acquire(
            "rgw.lab",
            "host-a:1:1",
            "caps test",
            Duration::from_secs(30),
        ))
        .expect("the lease with the documented caps");
    runtime
        .block_on(lease.release(&held))
        .expect("given back with the documented caps");
    // And nothing beyond its namespace.
    lease.namespace = "elsewhere".into();
    let denied = runtime.block_on(lease.acquire(
        "rgw.lab",
        "host-a:1:1",
        "caps test",
        Duration::from_secs(30),
    ));
    assert!(
        matches!(&denied, Err(LeaseError::Unavailable(e)) if e.contains("(1) Operation not permitted")),
        "{denied:?}"
    );
}
