//! The sidecar's footprint and its agent's latency, on its shipped defaults against the lab
//! (the `warden` setup's sidecar: `ceph orch ps` through the cephadm stand-in, the health gate
//! reading `ceph health detail` every 10 s, the admin socket): CPU of the process and of the
//! children it waited for (`ceph` calls: /proc/PID/stat cutime + cstime), RSS, and the agent
//! polled the way HAProxy polls it, interleaved second by second with a trivial agent in the
//! same run, so the two latency distributions share the machine's state.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harness::ingress::percentile;
use harness::sidecar::{self, Sidecar};
use harness::{now, repo_path};

use crate::lab_ctx::LabCtx;
use crate::BIN;

const POLLERS: u32 = 4;
/// Seconds of polling: alternating 1 s blocks, sidecar first.
const BLOCKS: u64 = 20;
const IDLE_SECONDS: u64 = 10;

/// (utime + stime, cutime + cstime) of `pid`, in clock ticks (100 per second on Linux):
/// stat(5) fields 14-17. The children's are those it waited for.
fn cpu_ticks(pid: i32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    // `after` starts at field 3.
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    match fields.as_slice() {
        [u, s, cu, cs] => (u + s, cu + cs),
        _ => (0, 0),
    }
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A trivial agent: a plain thread answering every connection `up ready`, until `stop` (and
/// one more connection to wake it).
fn trivial_agent(stop: Arc<AtomicBool>) -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut buf = [0u8; 64];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"up ready\n");
        }
    });
    (port, handle)
}

pub fn footprint(ctx: &mut LabCtx) -> String {
    ctx.restore(true);
    let lab_dir = ctx.dir();
    let kill: Vec<String> = vec![
        "bash".into(),
        repo_path("tests/lab/rgw-ctl.sh").display().to_string(),
        "-d".into(),
        lab_dir.clone(),
        "kill".into(),
        "{id}".into(),
    ];
    let mut sidecar = Sidecar::start_lab_defaults("bench-footprint", BIN, &lab_dir, Some(&kill));
    let pid = sidecar.pid();
    crate::live::add_pid(pid);
    for id in &ctx.lab.ids {
        sidecar.wait_word(
            &format!("rgw.{id}"),
            "up ready",
            Duration::from_secs(30),
            |w| w == "up ready",
        );
    }
    let calls = |s: &Sidecar| s.ceph_calls().lines().count();
    // Idle: probing, inventory, health gate; nobody polls.
    let (cpu0, calls0, idle_start) = (cpu_ticks(pid), calls(&sidecar), now());
    std::thread::sleep(Duration::from_secs(IDLE_SECONDS));
    let idle_took = idle_start.elapsed().as_secs_f64();
    let cpu1 = cpu_ticks(pid);
    let idle_calls = calls(&sidecar) - calls0;
    let idle_rss = rss_kib(pid);
    let pct = |ticks: u64, secs: f64| ticks as f64 / secs;
    // Polled: 1 s blocks, even ones the sidecar's agent, odd ones the trivial agent.
    let stop = Arc::new(AtomicBool::new(false));
    let (trivial, trivial_thread) = trivial_agent(Arc::clone(&stop));
    let agent = sidecar.agent_port;
    let start = now() + Duration::from_millis(200);
    let pollers: Vec<_> = (0..POLLERS)
        .map(|t| {
            std::thread::spawn(move || {
                let gap = Duration::from_secs(1) * POLLERS / 1000;
                let mut seen: [(Vec<Duration>, usize); 2] = [(Vec::new(), 0), (Vec::new(), 0)];
                for n in 0..(BLOCKS * 1000 / u64::from(POLLERS)) {
                    let due = start
                        + gap * u32::try_from(n).unwrap_or(0)
                        + Duration::from_micros(u64::from(t) * 1000);
                    if let Some(wait) = due.checked_duration_since(now()) {
                        std::thread::sleep(wait);
                    }
                    let block = (due - start).as_secs() % 2;
                    let port = if block == 0 { agent } else { trivial };
                    let tag = ["rgw.a", "rgw.b", "rgw.c"][usize::try_from(n % 3).unwrap_or(0)];
                    let (word, took) = sidecar::agent_poll(port, Some(tag));
                    let slot = &mut seen[usize::from(block == 1)];
                    slot.0.push(took);
                    slot.1 += usize::from(word != "up ready");
                }
                seen
            })
        })
        .collect();
    // CPU at each block boundary; RSS every 50 ms.
    let mut boundaries = Vec::new();
    let mut peak_rss = idle_rss;
    for k in 0..=BLOCKS {
        let at = start + Duration::from_secs(k);
        while now() < at {
            peak_rss = peak_rss.max(rss_kib(pid));
            std::thread::sleep(Duration::from_millis(50).min(at.saturating_duration_since(now())));
        }
        boundaries.push((cpu_ticks(pid), calls(&sidecar)));
    }
    let mut latencies: [(Vec<Duration>, usize); 2] = [(Vec::new(), 0), (Vec::new(), 0)];
    for p in pollers {
        let seen = p.join().expect("poller");
        for (into, from) in latencies.iter_mut().zip(seen) {
            into.0.extend(from.0);
            into.1 += from.1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = std::net::TcpStream::connect(("127.0.0.1", trivial));
    let _ = trivial_thread.join();
    let _ = sidecar.stop_with(nix::sys::signal::Signal::SIGTERM);
    crate::live::remove_pid(pid);
    // Per block kind: (self ticks, children ticks, ceph calls).
    let mut per = [(0u64, 0u64, 0usize); 2];
    for (k, pair) in boundaries.windows(2).enumerate() {
        let ((a, ca), (b, cb)) = (pair[0], pair[1]);
        let slot = &mut per[k % 2];
        slot.0 += b.0 - a.0;
        slot.1 += b.1 - a.1;
        slot.2 += cb - ca;
    }
    let block_secs = (BLOCKS / 2) as f64;
    for l in &mut latencies {
        l.0.sort();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let lat = |l: &[Duration]| {
        format!(
            "{:.2} / {:.2} / {:.2} ms",
            ms(percentile(l, 0.5)),
            ms(percentile(l, 0.99)),
            ms(percentile(l, 1.0))
        )
    };
    let mut out = String::new();
    let _ = writeln!(out, "## Agent and footprint\n");
    let _ = writeln!(
        out,
        "`ceph-warden run` (release build) on its shipped defaults against the lab, exactly the \
         `warden` setup's sidecar (the overrides above): three RGWs probed every 250 ms with the \
         admin-socket step, `ceph orch ps` through the cephadm stand-in every 60 s, the health \
         gate's `ceph health detail` every 10 s (the real `ceph` CLI, behind the stand-in's bash \
         wrapper). CPU counts the process and, separately, the children it waited for (every \
         `ceph` call: /proc/PID/stat cutime + cstime). First {IDLE_SECONDS} s with nobody polling; \
         then {BLOCKS} s of polls by {POLLERS} threads, 1,000 polls/s in all, each its own \
         connection as HAProxy's agent-check makes them, alternating every second between the \
         sidecar's agent and a trivial agent (a plain thread answering `up ready`) in the same \
         run, so both see the same machine.\n"
    );
    let _ = writeln!(
        out,
        "| what | sidecar | trivial agent |\n| --- | ---: | ---: |"
    );
    let _ = writeln!(
        out,
        "| polls answered (not `up ready`) | {} ({}) | {} ({}) |",
        latencies[0].0.len(),
        latencies[0].1,
        latencies[1].0.len(),
        latencies[1].1
    );
    let _ = writeln!(
        out,
        "| reply latency p50 / p99 / max | {} | {} |",
        lat(&latencies[0].0),
        lat(&latencies[1].0)
    );
    let _ = writeln!(
        out,
        "| CPU of the sidecar in its polled seconds / in the trivial agent's seconds | {:.1} % / {:.1} % of a core | |",
        pct(per[0].0, block_secs),
        pct(per[1].0, block_secs)
    );
    let _ = writeln!(
        out,
        "| CPU of its children (`ceph` calls) over the {BLOCKS} s | {:.1} % of a core ({} `ceph` call(s)) | |",
        pct(per[0].1 + per[1].1, 2.0 * block_secs),
        per[0].2 + per[1].2
    );
    let _ = writeln!(
        out,
        "| CPU idle ({IDLE_SECONDS} s, nobody polling): itself / its children | {:.2} % / {:.1} % of a core ({idle_calls} `ceph` call(s)) | |",
        pct(cpu1.0 - cpu0.0, idle_took),
        pct(cpu1.1 - cpu0.1, idle_took)
    );
    let _ = writeln!(
        out,
        "| RSS idle / peak under the polls | {:.1} / {:.1} MiB | |\n",
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    let _ = writeln!(
        out,
        "The latency is the poller's: connect, send the tag, read the line. The children's CPU is \
         mostly the `ceph` CLI's Python start-up (each call); on a real host the same calls run, \
         without the stand-in's bash wrapper.\n"
    );
    eprintln!("{out}");
    out
}
