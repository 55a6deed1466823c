//! A real single-host Ceph lab (tests/lab/up.sh): mon, mgr, osd and real `radosgw` daemons on
//! loopback ports of its own, torn down (tests/lab/down.sh, by its own pid files) when dropped.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use crate::{blocking_command, http_status, now, repo_path, TempDir};

/// The caps of the cephx user in docs/operations.md and docs/install.md, exactly.
pub const DOCUMENTED_CAPS: [&str; 6] = [
    "mon",
    "profile simple-rados-client",
    "mgr",
    "allow command \"orch ps\", allow command \"orch daemon\" with action=restart",
    "osd",
    "allow pool=.rgw.root namespace=ceph-warden class lock",
];

pub struct Lab {
    pub dir: PathBuf,
    pub ids: Vec<String>,
    env: HashMap<String, String>,
}

/// A random port in 20000..32000 (below Linux's ephemeral range, so outgoing connections do
/// not take it meanwhile) such that it and the `extra` ports after it are free right now.
fn free_port_run(extra: u16) -> u16 {
    for _ in 0..200 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let port = 20000 + u16::try_from(hasher.finish() % 12000).unwrap_or(0);
        if (0..=extra).all(|i| TcpListener::bind(("127.0.0.1", port + i)).is_ok()) {
            return port;
        }
    }
    panic!("no free loopback port found");
}

impl Lab {
    /// Brings up a lab with RGWs `a`, `b`, `c`... (`count` of them). Panics, with the log
    /// location, when it does not come up.
    pub fn up(tag: &str, count: usize) -> Self {
        let dir =
            std::env::temp_dir().join(format!("ceph-warden-lab-{tag}-{}", std::process::id()));
        let ids: Vec<String> = "abcdefgh".chars().take(count).map(String::from).collect();
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < count {
            let port = free_port_run(0);
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        let status = blocking_command("bash")
            .arg(repo_path("tests/lab/up.sh"))
            .arg(&dir)
            .env("CEPH_LAB_RGW_IDS", ids.join(","))
            .env("CEPH_LAB_RGW_PORTS", ports.join(","))
            .env("CEPH_LAB_MON_PORT", free_port_run(1).to_string())
            .env("CEPH_LAB_NO_INSTALL", "1")
            .status()
            .expect("run tests/lab/up.sh");
        // Construct first, so a failed bring-up is still torn down by Drop.
        let mut lab = Self {
            dir,
            ids,
            env: HashMap::new(),
        };
        assert!(
            status.success(),
            "tests/lab/up.sh failed; logs in {}/log",
            lab.dir.display()
        );
        let text = std::fs::read_to_string(lab.dir.join("lab.env")).expect("lab.env");
        lab.env = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        lab
    }

    fn key(&self, id: &str, what: &str) -> String {
        let var = format!("CEPH_LAB_RGW_{}_{what}", id.to_uppercase());
        self.env
            .get(&var)
            .cloned()
            .unwrap_or_else(|| panic!("{var} not in lab.env"))
    }

    /// A lab.env value.
    pub fn env(&self, key: &str) -> String {
        self.env
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} not in lab.env"))
    }

    pub fn port(&self, id: &str) -> u16 {
        self.key(id, "PORT").parse().expect("port")
    }

    /// Every RGW as HAProxy names it: `(rgw.<id>, port)`.
    pub fn servers(&self) -> Vec<(String, u16)> {
        self.ids
            .iter()
            .map(|id| (format!("rgw.{id}"), self.port(id)))
            .collect()
    }

    /// The current pid of `client.rgw.<id>` (the pid file is rewritten on every restart).
    pub fn pid(&self, id: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir.join(format!("run/client.rgw.{id}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `tests/lab/rgw-ctl.sh -d DIR <command> <id>` (freeze, thaw, hc-off, ...).
    pub fn ctl(&self, command: &str, id: &str) {
        let status = self.rgw_ctl(command, id).status().expect("run rgw-ctl.sh");
        assert!(status.success(), "rgw-ctl.sh {command} {id} failed");
    }

    /// As [`Lab::ctl`], quietly and without insisting: for scripted scenarios where the
    /// daemon may already be in the wanted state (restarted by a sidecar, say).
    pub fn try_ctl(&self, command: &str, id: &str) {
        let _ = self
            .rgw_ctl(command, id)
            .stderr(std::process::Stdio::null())
            .status();
    }

    fn rgw_ctl(&self, command: &str, id: &str) -> std::process::Command {
        let mut ctl = blocking_command("bash");
        ctl.arg(repo_path("tests/lab/rgw-ctl.sh"))
            .arg("-d")
            .arg(&self.dir)
            .args([command, id]);
        ctl
    }

    /// Throttles RGW `id` in the lab's config database and restarts it, so that under load it
    /// answers most requests `503 SlowDown` at once: its request scheduler (dmclock, an
    /// experimental feature in Pacific) limits each request class to about 1 request/s
    /// (measured: 19 of 20 concurrent GETs answered 503 SlowDown within 25 ms; GETs one a
    /// second all 200). `rgw_max_concurrent_requests` alone is ignored by Pacific's default
    /// throttler. The scheduler is chosen at start, so this restarts it.
    pub fn throttle(&self, id: &str) {
        self.throttle_config(id);
        self.ctl("restart", id);
    }

    /// The settings of [`Lab::throttle`] in the lab's config database, without the restart
    /// that applies them (the benchmark restarts every RGW before each cell).
    pub fn throttle_config(&self, id: &str) {
        const THROTTLE: [(&str, &str); 7] = [
            (
                "enable_experimental_unrecoverable_data_corrupting_features",
                "dmclock",
            ),
            ("rgw_scheduler_type", "dmclock"),
            ("rgw_dmclock_data_lim", "1"),
            ("rgw_dmclock_data_res", "1"),
            ("rgw_dmclock_metadata_lim", "1"),
            ("rgw_dmclock_metadata_res", "1"),
            ("rgw_max_concurrent_requests", "2"),
        ];
        let conf = self.dir.join("ceph.conf");
        let who = format!("client.rgw.{id}");
        for (key, value) in THROTTLE {
            // Bounded: a `ceph` call against a sick lab must not hang the caller.
            let done = blocking_command("timeout")
                .arg("60")
                .arg("ceph")
                .arg("-c")
                .arg(&conf)
                .args(["config", "set", &who, key, value])
                .output()
                .expect("ceph config set");
            assert!(done.status.success(), "ceph config set {key}: {done:?}");
        }
    }

    /// Switches the lab's orchestrator stand-in to `tests/lab/fake-cephadm` (cephadm as it
    /// behaves: queued restarts, podman's stop, a cached `orch ps`) with these
    /// `FAKE_CEPH_<KEY>` knobs (`SERVE_DELAY`, `CACHE_LAG`, `STOP_TIMEOUT`, ...), through the
    /// lab's mode file, which every `fake-ceph` call reads: sidecars already running switch too.
    pub fn cephadm_model(&self, knobs: &[(&str, &str)]) {
        let mut text = String::from("FAKE_CEPH_MODEL=cephadm\n");
        for (key, value) in knobs {
            text.push_str(&format!("FAKE_CEPH_{key}={value}\n"));
        }
        std::fs::write(self.dir.join("fake-ceph.env"), text).expect("write fake-ceph.env");
    }

    /// The cephadm stand-in's state (`DIR/cephadm/state.json`, what `fake-cephadm -d DIR
    /// state` prints): queued actions, history, cache, serve-loop passes. Replaced by rename,
    /// so always whole.
    pub fn cephadm_state(&self) -> serde_json::Value {
        let text = std::fs::read(self.dir.join("cephadm/state.json")).expect("cephadm/state.json");
        serde_json::from_slice(&text).expect("state.json is JSON")
    }

    /// Kills the accept loop of RGW `id`'s beast frontend for good (`tests/lab/rgw-ctl.sh
    /// accept-dead`): one accept failed with EMFILE, which Pacific's beast logs and never
    /// re-arms (Ceph tracker 67338). The process and its admin socket live on, the port stays
    /// open (the kernel queues connections), `GET /` is never answered; a restart heals it.
    pub fn kill_accept_loop(&self, id: &str) {
        self.ctl("accept-dead", id);
    }

    /// Slows the RGWs `ids` without stalling them, for `duration`: a SIGSTOP/SIGCONT duty
    /// cycle (`stopped`, then `running`), all of them at once, so each answers late but
    /// answers (a 20 ms / 5 ms cycle adds ~8 ms on average and at most ~20 ms to a `GET /` that
    /// takes ~1 ms). Returns the driver, which leaves them running (SIGCONT) and says how many
    /// cycles it ran. The pids are the lab's own (its pid files).
    pub fn duty_cycle(
        &self,
        ids: &[&str],
        stopped: Duration,
        running: Duration,
        duration: Duration,
    ) -> std::thread::JoinHandle<u64> {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let pids: Vec<Pid> = ids
            .iter()
            .map(|id| {
                let pid = self
                    .pid(id)
                    .unwrap_or_else(|| panic!("rgw.{id} is not running"));
                Pid::from_raw(i32::try_from(pid).expect("pid"))
            })
            .collect();
        std::thread::spawn(move || {
            let start = now();
            let mut cycles = 0;
            // The fault's own schedule, bounded by `duration`.
            while start.elapsed() < duration {
                for pid in &pids {
                    let _ = kill(*pid, Signal::SIGSTOP);
                }
                std::thread::sleep(stopped);
                for pid in &pids {
                    let _ = kill(*pid, Signal::SIGCONT);
                }
                std::thread::sleep(running);
                cycles += 1;
            }
            cycles
        })
    }

    /// The admin socket of RGW `id`.
    pub fn asok(&self, id: &str) -> std::path::PathBuf {
        self.key(id, "ASOK").into()
    }

    pub fn answers_200(&self, id: &str) -> bool {
        http_status(self.port(id), "/", Duration::from_secs(2)) == Some(200)
    }

    /// The S3 canary credentials file (`[s3] credentials-file`) in `dir`, mode 0600.
    pub fn s3_credentials(&self, dir: &TempDir) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.write(
            "s3.toml",
            &format!(
                "access-key = \"{}\"\nsecret-key = \"{}\"\n",
                self.env("CEPH_LAB_S3_ACCESS_KEY"),
                self.env("CEPH_LAB_S3_SECRET_KEY")
            ),
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    /// A bucket with one object of `size` bytes, through rgw.`id`, with the bucket ACL `acl`
    /// (`public-read`; `public-read-write` lets anonymous clients PUT).
    pub fn bucket(&self, id: &str, bucket: &str, key: &str, size: usize, acl: &str) {
        let out = blocking_command("python3")
            .arg(repo_path("tests/lab/s3.py"))
            .arg(format!("http://127.0.0.1:{}", self.port(id)))
            .args([
                self.env("CEPH_LAB_S3_ACCESS_KEY"),
                self.env("CEPH_LAB_S3_SECRET_KEY"),
            ])
            .args([bucket, key, &size.to_string(), acl])
            .output()
            .expect("python3 tests/lab/s3.py");
        assert!(
            out.status.success(),
            "s3.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates the cephx user `client.<name>` with these caps (`["mon", "...", "osd", ...]`) in
    /// the lab's cluster; returns its keyring's path.
    pub fn cephx_user(&self, name: &str, caps: &[&str]) -> String {
        let keyring = format!("{}/client.{name}.keyring", self.dir.display());
        let created = blocking_command("ceph")
            .args(["-c", &format!("{}/ceph.conf", self.dir.display())])
            .args(["auth", "get-or-create", &format!("client.{name}")])
            .args(caps)
            .args(["-o", &keyring])
            .output()
            .expect("ceph auth get-or-create");
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        keyring
    }

    /// Waits (at most 60 s) until `healthy` holds after an OSD thaw. The lab's OSD read lease
    /// (96 s, `tests/lab/up.sh`) outlasts the tests' freezes, so its PGs are readable at once;
    /// when they are not, the panic says how many PGs are laggy (the lab's own wedge: after an
    /// OSD freeze of 40 s on 16.2.15, PGs stayed `active+clean+laggy` until `ceph osd down`),
    /// which tells the lab's fault from the sidecar's.
    pub fn wait_after_osd_thaw(&self, mut healthy: impl FnMut() -> bool) {
        let thawed = now();
        while thawed.elapsed() < Duration::from_secs(60) {
            if healthy() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let pgs = blocking_command("ceph")
            .args(["-c", &format!("{}/ceph.conf", self.dir.display())])
            .args(["pg", "ls", "--format", "json"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).matches("laggy").count())
            .unwrap_or_default();
        panic!("not healthy within 60 s of the OSD thaw ({pgs} PGs laggy)");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = blocking_command("bash")
            .arg(repo_path("tests/lab/down.sh"))
            .arg(&self.dir)
            .status();
    }
}
