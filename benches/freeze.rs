//! The freeze benchmark (docs/design.md §12-§13, issue 13): the lab's three real radosgw
//! behind a real HAProxy, under open-loop client load, each fault injected into each setup,
//! each cell several times with the setups taking turns:
//!
//! - `cephadm`: cephadm's stock ingress HAProxy config (tests/harness/haproxy-cephadm.cfg),
//!   nothing else: what users run today;
//! - `cron` (only when asked for with --setups): the same, plus `ceph-warden check` every
//!   `--cron-interval` seconds (the seed script's job, done by the project's `check`);
//! - `haproxy-only`: the shipped `haproxy/haproxy.cfg`, its agent unreachable, no sidecar: the
//!   shipped config's own contribution;
//! - `warden`: the shipped config plus `ceph-warden run` on its shipped defaults;
//! - `warden-instant` (only when asked for with --setups): `warden` against the instant
//!   orchestrator of earlier runs.
//!
//! The orchestrator is the project's stand-in (no cephadm here): `tests/lab/fake-cephadm`,
//! cephadm as it behaves (restarts queued behind a serve loop, podman's 10 s stop, a cached
//! `orch ps`). HAProxy's per-request log is kept for every cell and every client error is
//! attributed from it. It writes docs/BENCHMARKS.md and one SVG per scenario under
//! docs/bench/, and keeps the HAProxy logs under target/bench-logs/. Run: `bash
//! scripts/bench.sh` (or `cargo bench --bench freeze -- --help`).

// The modules live in benches/freeze/ (this file stays the entry point docs refer to).
#[path = "freeze/cell.rs"]
mod cell;
#[path = "freeze/footprint.rs"]
mod footprint;
#[path = "freeze/haproxy_log.rs"]
mod haproxy_log;
#[path = "freeze/lab_ctx.rs"]
mod lab_ctx;
#[path = "freeze/live.rs"]
mod live;
#[path = "freeze/load.rs"]
mod load;
#[path = "freeze/plot.rs"]
mod plot;
#[path = "freeze/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{now, repo_path};

use cell::{Params, Scenario, Setup};
use lab_ctx::LabCtx;

/// The ceph-warden that cargo built for this bench: the release build (`bench` inherits it).
pub const BIN: &str = env!("CARGO_BIN_EXE_ceph-warden");

/// Seconds a cell costs beyond its load (restore ~1.7 s, HAProxy, teardown, requests still in
/// flight after the load, HAProxy's view followed up to `--settle`), and what the sidecar's
/// start and stop add; `Lab::up` with the objects (4.8-5.6 s); the footprint section (~35 s).
/// Measured on the 2-core machine (the report's Method section gives each run's figures); a
/// smoke run of 4 cells and the footprint took 2.3 min against 2.4 estimated.
const CELL_OVERHEAD: f64 = 3.5;
const SIDECAR_OVERHEAD: f64 = 1.0;
const LAB_UP: f64 = 6.0;
const FOOTPRINT: f64 = 40.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Footprint {
    Yes,
    No,
    Only,
}

const USAGE: &str = "cargo bench --bench freeze -- [--repeats 5] [--rate 100] \
[--scenarios one-frozen,one-killed,all-frozen,planned-restart,osd-frozen-20,osd-frozen-45,slowdown] \
[--setups cephadm,haproxy-only,warden (also cron, warden-instant)] [--freeze 10] [--freeze-all 15] \
[--planned 12] [--slowdown 6] [--lead 1] [--tail 3] [--settle 2] [--cron-interval 60] \
[--cron-first 6] [--footprint yes|no|only] [--out docs/BENCHMARKS.md] [--estimate (print the \
estimated time and stop)]";

fn seconds(value: &str) -> Duration {
    Duration::from_secs(value.parse().unwrap_or_else(|_| panic!("{value}: seconds")))
}

/// The estimated wall time of the run.
fn estimate(
    scenarios: &[Scenario],
    setups: &[Setup],
    p: &Params,
    footprint: Footprint,
) -> Duration {
    let mut total = if footprint == Footprint::No {
        0.0
    } else {
        FOOTPRINT
    };
    if footprint == Footprint::Only {
        return Duration::from_secs_f64(total + LAB_UP);
    }
    for scenario in scenarios {
        total += LAB_UP;
        for setup in setups {
            let sidecar = if setup.has_sidecar() {
                SIDECAR_OVERHEAD
            } else {
                0.0
            };
            total += p.repeats as f64 * (scenario.load(p).as_secs_f64() + CELL_OVERHEAD + sidecar);
        }
    }
    Duration::from_secs_f64(total)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut p = Params {
        rate: 100,
        repeats: 5,
        lead: Duration::from_secs(1),
        tail: Duration::from_secs(3),
        freeze: Duration::from_secs(10),
        freeze_all: Duration::from_secs(15),
        planned: Duration::from_secs(12),
        slowdown: Duration::from_secs(6),
        cron_interval: Duration::from_secs(60),
        cron_first: Duration::from_secs(6),
        settle: Duration::from_secs(2),
        logs: repo_path("target/bench-logs"),
    };
    let mut scenarios: Vec<Scenario> = Scenario::ALL.to_vec();
    let mut setups = Setup::DEFAULT.to_vec();
    let mut out = repo_path("docs/BENCHMARKS.md");
    let mut footprint = Footprint::Yes;
    let mut dry_run = false;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--rate" => p.rate = value.parse().expect("requests per second"),
            "--repeats" => p.repeats = value.parse().expect("a count"),
            "--freeze" => p.freeze = seconds(&value),
            "--freeze-all" => p.freeze_all = seconds(&value),
            "--planned" => p.planned = seconds(&value),
            "--slowdown" => p.slowdown = seconds(&value),
            "--lead" => p.lead = seconds(&value),
            "--tail" => p.tail = seconds(&value),
            "--settle" => p.settle = seconds(&value),
            "--cron-interval" => p.cron_interval = seconds(&value),
            "--cron-first" => p.cron_first = seconds(&value),
            "--scenarios" => {
                scenarios = value
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(|n| {
                        *Scenario::ALL
                            .iter()
                            .chain(&Scenario::EXTRA)
                            .find(|s| s.name() == n)
                            .unwrap_or_else(|| panic!("unknown scenario {n}"))
                    })
                    .collect()
            }
            "--setups" => {
                setups = value
                    .split(',')
                    .map(|n| {
                        *Setup::ALL
                            .iter()
                            .find(|s| s.name() == n)
                            .unwrap_or_else(|| panic!("unknown setup {n}"))
                    })
                    .collect()
            }
            "--footprint" => {
                footprint = match value.as_str() {
                    "yes" => Footprint::Yes,
                    "no" => Footprint::No,
                    "only" => Footprint::Only,
                    other => panic!("--footprint yes|no|only, not {other}"),
                }
            }
            "--out" => out = PathBuf::from(value),
            "--estimate" => {
                dry_run = true;
                i += 1;
                continue;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            other => panic!("unknown argument {other}\n{USAGE}"),
        }
        i += 2;
    }
    assert!(
        p.repeats > 0 && p.rate > 0,
        "--repeats and --rate must be positive"
    );
    live::install_panic_cleanup();
    if footprint == Footprint::Only {
        scenarios.clear();
    }
    #[expect(
        clippy::disallowed_methods,
        reason = "the report says when the run began, in wall-clock time: the benchmark's own \
                  output, not a time the daemon acts on"
    )]
    let started = std::time::SystemTime::now();
    let begun = now();
    let estimated = estimate(&scenarios, &setups, &p, footprint);
    eprintln!(
        "== {} scenario(s) x {} setup(s) x {} repeat(s){}: estimated {:.0} min ({:.0} s)",
        scenarios.len(),
        setups.len(),
        p.repeats,
        if footprint == Footprint::No {
            ""
        } else {
            " + footprint"
        },
        estimated.as_secs_f64() / 60.0,
        estimated.as_secs_f64()
    );
    if dry_run {
        for scenario in &scenarios {
            eprintln!(
                "   {}: {} s of load per cell ({} s before the fault, {} s window, {} s after)",
                scenario.name(),
                scenario.load(&p).as_secs(),
                scenario.lead(&p).as_secs(),
                scenario.window(&p).as_secs(),
                scenario.tail(&p).as_secs()
            );
        }
        return;
    }
    let mut agent = String::new();
    let mut lab_up = Vec::new();
    let mut labs_replaced = 0;
    let mut results: Vec<(Scenario, Vec<cell::Cell>)> = Vec::new();
    let run_footprint = |ctx: &mut LabCtx, lab_up: &mut Vec<f64>| {
        eprintln!("== agent and footprint");
        let text = footprint::footprint(ctx);
        lab_up.append(&mut ctx.up_seconds);
        text
    };
    if footprint != Footprint::No && scenarios.first().is_none_or(|s| *s == Scenario::SlowDown) {
        let mut ctx = LabCtx::up("bench-footprint", false);
        agent = run_footprint(&mut ctx, &mut lab_up);
    }
    for (n, scenario) in scenarios.iter().copied().enumerate() {
        let mut ctx = LabCtx::up(
            &format!("bench-{}", scenario.name()),
            scenario == Scenario::SlowDown,
        );
        if n == 0 && footprint != Footprint::No && agent.is_empty() {
            agent = run_footprint(&mut ctx, &mut lab_up);
        }
        let mut cells = Vec::new();
        for repeat in 0..p.repeats {
            for k in 0..setups.len() {
                let setup = setups[(repeat + k) % setups.len()];
                eprintln!(
                    "== {} / {} (repeat {} of {}; {:.0} min in)",
                    scenario.name(),
                    setup.name(),
                    repeat + 1,
                    p.repeats,
                    begun.elapsed().as_secs_f64() / 60.0
                );
                let cell = cell::run_cell(&mut ctx, scenario, setup, &p, repeat);
                eprintln!(
                    "   {} requests, {} client errors {:?}; took {:.1} s",
                    cell.requests.len(),
                    cell.errors(),
                    cell.causes,
                    cell.wall
                );
                cells.push(cell);
            }
        }
        lab_up.append(&mut ctx.up_seconds);
        labs_replaced += ctx.replaced;
        results.push((scenario, cells));
    }
    let plots = out.parent().unwrap_or(Path::new(".")).join("bench");
    std::fs::create_dir_all(&plots).expect("the plots' directory");
    for (scenario, cells) in &results {
        let runs: Vec<&cell::Cell> = setups
            .iter()
            .filter_map(|s| {
                let of: Vec<&cell::Cell> = cells.iter().filter(|c| c.setup == *s).collect();
                report::median_run(&of)
            })
            .collect();
        let svg = plots.join(format!("{}.svg", scenario.name()));
        plot::plot(&svg, *scenario, &runs, &p)
            .unwrap_or_else(|err| panic!("cannot draw {}: {err}", svg.display()));
    }
    let all = || results.iter().flat_map(|(_, cells)| cells.iter());
    let maxconn: BTreeMap<&'static str, String> =
        all().map(|c| (c.setup.name(), c.maxconn.clone())).collect();
    let info = report::RunInfo {
        started,
        took: begun.elapsed(),
        args: args.clone(),
        setups: setups.clone(),
        lab_up,
        labs_replaced,
        cell_walls: all().map(|c| c.wall).collect(),
        estimate: estimated,
        sidecar_config: all()
            .find_map(|c| c.sidecar_config.clone())
            .unwrap_or_default(),
        maxconn,
    };
    let mut text = report::report(&results, &p, &info);
    text.push_str(&agent);
    std::fs::write(&out, text).expect("write the report");
    eprintln!(
        "wrote {} and {}/*.svg in {:.1} min (estimated {:.1} min)",
        out.display(),
        plots.display(),
        begun.elapsed().as_secs_f64() / 60.0,
        estimated.as_secs_f64() / 60.0
    );
}
