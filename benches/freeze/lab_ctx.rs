//! One lab per scenario, restored between its cells so that every cell starts from the same
//! state: every RGW freshly restarted and answering, the OSD running, the orchestrator
//! stand-in idle and reset, no restart lease left in RADOS, the same objects in the bucket.
//! `Lab::up` costs some 3.4 s (and `down.sh` 1-2 s); a restore about 1.5 s.

use std::path::Path;
use std::time::Duration;

use harness::ingress::{self, RequestSpec};
use harness::lab::Lab;
use harness::{blocking_command, now, repo_path};

use crate::load::{DOWNLOAD_OBJECT, OBJECT, SLOW_OBJECT};

pub struct LabCtx {
    pub lab: Lab,
    tag: String,
    /// rgw.b throttled (the slowdown scenario): set again on a replacement lab.
    throttled: bool,
    /// Seconds each `Lab::up` (with the bucket's objects) took.
    pub up_seconds: Vec<f64>,
    /// Labs brought up again because a restore failed.
    pub replaced: usize,
}

impl Drop for LabCtx {
    fn drop(&mut self) {
        // `Lab`'s own Drop runs down.sh.
        crate::live::remove_lab(&self.lab.dir);
    }
}

impl LabCtx {
    pub fn up(tag: &str, throttled: bool) -> Self {
        let (lab, took) = bring_up(tag);
        let ctx = Self {
            lab,
            tag: tag.to_string(),
            throttled,
            up_seconds: vec![took],
            replaced: 0,
        };
        if throttled {
            ctx.throttle("b");
        }
        ctx
    }

    pub fn dir(&self) -> String {
        self.lab.dir.display().to_string()
    }

    /// Restores the lab for the next cell, with the stand-in orchestrator in `cephadm` model
    /// (else fake-ceph's instant one). A lab that cannot be restored is replaced.
    pub fn restore(&mut self, cephadm: bool) {
        if let Err(why) = self.try_restore(cephadm) {
            eprintln!("   lab restore failed ({why}); bringing up a new lab");
            let (lab, took) = bring_up(&format!("{}-{}", self.tag, self.replaced + 1));
            let old = std::mem::replace(&mut self.lab, lab);
            crate::live::remove_lab(&old.dir);
            drop(old);
            self.up_seconds.push(took);
            self.replaced += 1;
            if self.throttled {
                self.throttle("b");
            }
            if let Err(why) = self.try_restore(cephadm) {
                panic!("a new lab could not be restored either: {why}");
            }
        }
    }

    fn try_restore(&self, cephadm: bool) -> Result<(), String> {
        let lab = &self.lab;
        let dir = lab.dir.clone();
        // 1. The stand-in orchestrator idle: nothing queued or running in the cephadm model,
        //    no detached restart of the instant model under way.
        poll(
            "the stand-in orchestrator idle",
            Duration::from_secs(30),
            || orchestrator_idle(&dir),
        )?;
        // 2. The OSD running (an OSD scenario may have ended with it frozen).
        let osd: i32 = lab
            .env("CEPH_LAB_OSD_PID")
            .parse()
            .map_err(|_| "no OSD pid")?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(osd),
            nix::sys::signal::Signal::SIGCONT,
        );
        // 3. Every RGW restarted (SIGCONT, SIGTERM, start, first 200), in parallel; then
        //    `start` one after the other, which only waits for the 200 and rewrites lab.env
        //    (parallel restarts race on it).
        let ctl = |command: &str, id: &str| {
            blocking_command("timeout")
                .arg("60")
                .arg("bash")
                .arg(repo_path("tests/lab/rgw-ctl.sh"))
                .arg("-d")
                .arg(&dir)
                .args([command, id])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        std::thread::scope(|scope| {
            for id in &lab.ids {
                scope.spawn(|| ctl("restart", id));
            }
        });
        for id in &lab.ids {
            // The throttled RGW answers its restart's first GET / and then 503 SlowDown to a
            // poll every 0.2 s (measured): `start` would wait for a 200 that never comes. Its
            // restart above waited for that first 200; running is enough here.
            let started = if self.throttled && id == "b" {
                lab.pid(id)
                    .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
            } else {
                ctl("start", id)
            };
            if !started {
                return Err(format!("rgw.{id} did not start"));
            }
        }
        // 4. No restart lease left behind by a sidecar stopped in a restart.
        clear_leases(&dir)?;
        // 5. The stand-in's model state reset, and its model chosen.
        reset_stand_in(&dir, cephadm)?;
        // 6. Every RGW serves reads and writes (after an OSD freeze RADOS may need a moment).
        // The throttled RGW answers most requests 503 SlowDown by design: it need only answer.
        let ports: Vec<(u16, bool)> = lab
            .ids
            .iter()
            .map(|id| (lab.port(id), self.throttled && id == "b"))
            .collect();
        poll(
            "every RGW reading and writing",
            Duration::from_secs(60),
            || {
                ports
                    .iter()
                    .all(|(port, throttled)| serves(*port, *throttled))
            },
        )
    }

    /// Throttles RGW `id` in the lab's config database (the next restore restarts it with it).
    fn throttle(&self, id: &str) {
        self.lab.throttle_config(id);
    }
}

/// A lab with the benchmark's objects; how long it took. Registered for the panic hook
/// before it starts.
fn bring_up(tag: &str) -> (Lab, f64) {
    let begun = now();
    crate::live::add_lab(&crate::live::lab_dir(tag));
    let lab = Lab::up(tag, 3);
    lab.bucket("a", "bench", "object", OBJECT, "public-read-write");
    lab.bucket("a", "bench", "slow", SLOW_OBJECT, "public-read-write");
    lab.bucket(
        "a",
        "bench",
        "download",
        DOWNLOAD_OBJECT,
        "public-read-write",
    );
    let took = begun.elapsed().as_secs_f64();
    eprintln!("   lab up with its objects in {took:.1} s");
    (lab, took)
}

/// Polls `ok` every 100 ms for at most `deadline`.
fn poll(what: &str, deadline: Duration, mut ok: impl FnMut() -> bool) -> Result<(), String> {
    let begun = now();
    while !ok() {
        if begun.elapsed() > deadline {
            return Err(format!("not {what} within {deadline:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn orchestrator_idle(dir: &Path) -> bool {
    let queued = std::fs::read(dir.join("cephadm/state.json"))
        .ok()
        .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
        .and_then(|state| state["actions"].as_object().map(|a| !a.is_empty()))
        .unwrap_or(false);
    let restarting = std::fs::read_dir(dir.join("run"))
        .map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with("restarter-")
                    && name.ends_with(".pending")
                    && std::fs::read_to_string(e.path())
                        .ok()
                        .and_then(|pid| pid.trim().parse::<i32>().ok())
                        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
            })
        })
        .unwrap_or(false);
    !queued && !restarting
}

/// Removes the sidecars' restart-lease objects (`.rgw.root`, namespace `ceph-warden`): a
/// sidecar stopped while holding one would leave the next cell's waiting for its expiry.
fn clear_leases(dir: &Path) -> Result<(), String> {
    let conf = format!("{}/ceph.conf", dir.display());
    let rados = |args: &[&str]| {
        blocking_command("timeout")
            .args([
                "20",
                "rados",
                "-c",
                &conf,
                "-p",
                ".rgw.root",
                "-N",
                "ceph-warden",
            ])
            .args(args)
            .output()
            .map_err(|e| format!("rados: {e}"))
    };
    let listed = rados(&["ls"])?;
    for object in String::from_utf8_lossy(&listed.stdout).lines() {
        let removed = rados(&["rm", object.trim()])?;
        if !removed.status.success() {
            return Err(format!(
                "rados rm {object}: {}",
                String::from_utf8_lossy(&removed.stderr)
            ));
        }
    }
    Ok(())
}

/// The cephadm stand-in's state removed (under its lock: the serve loop and the CLI take it),
/// so its next `orch` call starts from a fresh model (cache listed from the running RGWs,
/// nothing queued, no history); and the lab's mode file written (cephadm model with its
/// defaults) or removed (instant model).
fn reset_stand_in(dir: &Path, cephadm: bool) -> Result<(), String> {
    let home = dir.join("cephadm");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(home.join("lock"))
        .map_err(|e| e.to_string())?;
    let locked = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("flock: {e}"))?;
    match std::fs::remove_file(home.join("state.json")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.to_string()),
    }
    drop(locked);
    let mode = dir.join("fake-ceph.env");
    if cephadm {
        std::fs::write(&mode, "FAKE_CEPH_MODEL=cephadm\n").map_err(|e| e.to_string())
    } else {
        match std::fs::remove_file(&mode) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        }
    }
}

/// RGW on `port` answers a GET of the object whole and takes a PUT (`throttled`: it answers
/// a GET, 200 or 503).
fn serves(port: u16, throttled: bool) -> bool {
    let get = ingress::send_request(
        port,
        &RequestSpec {
            path: "/bench/object",
            deadline: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            ..RequestSpec::default()
        },
    );
    if throttled {
        return matches!(get.result, Ok(200 | 503));
    }
    let put = ingress::send_request(
        port,
        &RequestSpec {
            method: "PUT",
            path: "/bench/put-restore",
            body: OBJECT,
            deadline: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            ..RequestSpec::default()
        },
    );
    get.result == Ok(200) && get.body_len == OBJECT && put.result == Ok(200)
}
