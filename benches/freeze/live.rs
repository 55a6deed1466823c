//! What is running on the benchmark's behalf, so that a panic stops it. The bench profile
//! aborts on panic (`panic = "abort"`): no destructor runs, so `Lab`'s, `Haproxy`'s and
//! `Sidecar`'s would never stop their processes. The panic hook (installed by `main`) stops
//! exactly what is registered here: each process by its recorded pid (SIGTERM), each lab by
//! its own `tests/lab/down.sh`, which stops the lab's processes by their pid files.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use harness::{blocking_command, repo_path};

struct Live {
    labs: Vec<PathBuf>,
    pids: Vec<i32>,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    labs: Vec::new(),
    pids: Vec::new(),
});

fn with<T>(f: impl FnOnce(&mut Live) -> T) -> T {
    f(&mut LIVE.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The directory `Lab::up(tag, ..)` uses (tests/harness/src/lab.rs), registered before it
/// starts anything.
pub fn lab_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ceph-warden-lab-{tag}-{}", std::process::id()))
}

pub fn add_lab(dir: &Path) {
    with(|l| l.labs.push(dir.to_path_buf()));
}

pub fn remove_lab(dir: &Path) {
    with(|l| l.labs.retain(|d| d != dir));
}

pub fn add_pid(pid: i32) {
    if pid > 0 {
        with(|l| l.pids.push(pid));
    }
}

pub fn remove_pid(pid: i32) {
    with(|l| l.pids.retain(|p| *p != pid));
}

/// A panic hook that prints the panic as usual, then stops what is registered.
pub fn install_panic_cleanup() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let (labs, pids) = with(|l| (std::mem::take(&mut l.labs), std::mem::take(&mut l.pids)));
        for pid in pids {
            eprintln!("stopping pid {pid} (started by the benchmark)");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        for dir in labs {
            eprintln!("stopping the lab in {}", dir.display());
            let _ = blocking_command("timeout")
                .arg("120")
                .arg("bash")
                .arg(repo_path("tests/lab/down.sh"))
                .arg(&dir)
                .status();
        }
    }));
}
