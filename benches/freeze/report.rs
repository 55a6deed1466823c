//! docs/BENCHMARKS.md: per scenario, a table per figure with each setup's median and range over
//! the repeats, HAProxy's view per server, where the client errors came from, and a sentence
//! generated from the numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use harness::ingress::{percentile, render_cephadm_stock, rewrite_config, with_request_log};
use harness::sidecar::LAB_DEFAULTS_OVERRIDES;

use crate::cell::{Cell, Params, Scenario, Setup};
use crate::haproxy_log::CAUSES;
use crate::load::{self, Kind};

/// The median (the mean of the middle two for an even count) and the range.
pub fn stats(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return None;
    }
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((median, v[0], v[n - 1]))
}

/// `median [min–max]`, each value by `f`; `—` without values; one number when all agree.
fn show(values: &[f64], f: impl Fn(f64) -> String) -> String {
    match stats(values) {
        None => "—".to_string(),
        Some((m, lo, hi)) if f(lo) == f(hi) => f(m),
        Some((m, lo, hi)) => format!("{} [{}–{}]", f(m), f(lo), f(hi)),
    }
}

fn count(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// `median [min–max] unit`, in one unit: seconds with a decimal, or milliseconds when the
/// median is under 10 s (`ms` true: the values are milliseconds).
fn show_time(values: &[f64], ms: bool) -> String {
    let Some((m, _, _)) = stats(values) else {
        return "—".to_string();
    };
    let in_ms = if ms { m } else { m * 1000.0 };
    let (scale, decimals, unit) = if in_ms >= 10_000.0 || !ms {
        (if ms { 0.001 } else { 1.0 }, 1, "s")
    } else {
        (1.0, 0, "ms")
    };
    let scaled: Vec<f64> = values.iter().map(|v| v * scale).collect();
    format!("{} {unit}", show(&scaled, |v| format!("{v:.decimals$}")))
}

fn millis(values: &[f64]) -> String {
    show_time(values, true)
}

fn seconds(values: &[f64]) -> String {
    show_time(values, false)
}

/// The median run of a setup: the one whose client error count is the median (the lower
/// middle one for an even count).
pub fn median_run<'a>(runs: &[&'a Cell]) -> Option<&'a Cell> {
    let mut sorted = runs.to_vec();
    sorted.sort_by_key(|c| (c.errors(), c.repeat));
    sorted.get((sorted.len().max(1) - 1) / 2).copied()
}

/// The error kinds of a cell: HTTP status or the client's error kind.
fn kinds(cell: &Cell) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for r in &cell.requests {
        let kind = match &r.outcome.result {
            Ok(200) => continue,
            Ok(code) => format!("{code}"),
            Err(kind) => kind.clone(),
        };
        *kinds.entry(kind).or_insert(0) += 1;
    }
    kinds
}

/// GETs and PUTs that got their 200 only after more than 5 s: stalled behind a fault (most
/// clients would have given up by then), though not errors.
fn stalled(cell: &Cell) -> f64 {
    cell.requests
        .iter()
        .filter(|r| matches!(r.kind, Kind::Get | Kind::Put))
        .filter(|r| r.outcome.result == Ok(200) && r.outcome.latency > Duration::from_secs(5))
        .count() as f64
}

fn latency_ms(cell: &Cell, kind: Kind, q: f64) -> f64 {
    let mut l: Vec<Duration> = cell
        .requests
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.outcome.latency)
        .collect();
    l.sort();
    percentile(&l, q).as_secs_f64() * 1000.0
}

/// The figures of one setup over its runs.
struct Figures<'a> {
    runs: Vec<&'a Cell>,
}

impl Figures<'_> {
    fn of(&self, f: impl Fn(&Cell) -> f64) -> Vec<f64> {
        self.runs.iter().map(|c| f(c)).collect()
    }

    fn errors(&self) -> Vec<f64> {
        self.of(|c| c.errors() as f64)
    }
}

pub struct RunInfo {
    pub started: std::time::SystemTime,
    pub took: Duration,
    pub args: Vec<String>,
    pub setups: Vec<Setup>,
    pub lab_up: Vec<f64>,
    pub labs_replaced: usize,
    pub cell_walls: Vec<f64>,
    pub estimate: Duration,
    pub sidecar_config: String,
    pub maxconn: BTreeMap<&'static str, String>,
}

pub fn report(results: &[(Scenario, Vec<Cell>)], p: &Params, info: &RunInfo) -> String {
    let mut out = String::new();
    header(&mut out, p, info);
    for (scenario, cells) in results {
        scenario_section(&mut out, *scenario, cells, p, &info.setups);
    }
    out
}

fn version(cmd: &str, arg: &str) -> String {
    harness::blocking_command(cmd)
        .arg(arg)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

fn header(out: &mut String, p: &Params, info: &RunInfo) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(out, "# Benchmarks: a frozen RGW, side by side\n");
    let _ = writeln!(
        out,
        "Written by `bash scripts/bench.sh{}` on {} (took {:.0} min; estimated {:.0} min at the start). Do not edit: rerun it.\n",
        if info.args.is_empty() {
            String::new()
        } else {
            format!(" {}", info.args.join(" "))
        },
        humantime::format_rfc3339_seconds(info.started),
        info.took.as_secs_f64() / 60.0,
        info.estimate.as_secs_f64() / 60.0
    );
    let _ = writeln!(
        out,
        "Machine: {cpu}, {cores} cores. {}; {}; ceph-warden {}.\n",
        version("haproxy", "-v"),
        version("ceph", "--version"),
        env!("CARGO_PKG_VERSION")
    );
    let setups: Vec<String> = info
        .setups
        .iter()
        .map(|s| format!("`{}`", s.name()))
        .collect();
    let _ = writeln!(out, "## Method\n");
    let _ = writeln!(
        out,
        "Every scenario runs {} times in every setup ({}). The setups take turns: repeat r runs \
         them in order starting at setup r mod {}, so none always runs first. Each scenario has \
         its own lab (three real radosgw, one OSD, the stand-in orchestrator; `Lab::up` with the \
         objects took {} here; {} lab(s) replaced after a failed restore), restored before every \
         cell to the same state: every RGW restarted and answering a GET and a PUT, the OSD \
         running, the stand-in orchestrator idle and its model reset, no restart lease left in \
         RADOS. Each cell has its own HAProxy (and sidecar). A cell took {} of wall time \
         including the restore. Figures are the median over the repeats and, in brackets, the \
         range (min–max).\n",
        p.repeats,
        setups.join(", "),
        info.setups.len(),
        seconds(&info.lab_up),
        info.labs_replaced,
        seconds(&info.cell_walls),
    );
    let _ = writeln!(
        out,
        "Load: open loop, {} requests per second through HAProxy, each on its own connection, \
         each due at start + i/{} and sent then whatever earlier ones do; latency counts from \
         that scheduled instant, so a late load generator shows as latency (its own lag is in \
         the tables). 3 in 4 a GET of a 4 KiB object, 1 in 4 an anonymous 4 KiB PUT, 1 in 20 \
         instead a slow GET ({} MiB read at {} MiB/s, a 4 s request; none in the last {} s, so \
         that no run waits for them). Every body is checked against its Content-Length: a \
         shorter one is the client error `truncated`. The slow GET is smaller than what the \
         sockets between radosgw and the client hold (measured on this lab: a client that \
         stopped reading a 64 MiB object had 9.7 MiB queued between radosgw and itself, \
         radosgw's send queue 3.9, HAProxy's receive 0.6 and send 4.0, its own receive 1.2; \
         with a 64 KiB `SO_RCVBUF` still 7.7 MiB, the send queues being autotuned up to \
         `tcp_wmem`'s 4 MiB), so a restart does not cut it: making it outlast them would take ≥ 20 MiB per download, \
         some 100 of them open at once at this rate and 20 s more per cell (about 45 min over \
         the run); the planned-restart scenario's downloads are sized to be cut instead.\n",
        p.rate,
        p.rate,
        load::SLOW_OBJECT >> 20,
        load::SLOW_READ_RATE >> 20,
        load::SLOW_CUTOFF_SECONDS
    );
    let _ = writeln!(
        out,
        "Timing: {} s of load before the fault and {} s after the fault window (scenarios give \
         their windows); after the load HAProxy's view is followed up to {} s more until every \
         server that left the rotation is back.\n",
        p.lead.as_secs(),
        p.tail.as_secs(),
        p.settle.as_secs(),
    );
    let _ = writeln!(out, "### Setups\n");
    let _ = writeln!(out, "- `cephadm`: cephadm's stock ingress HAProxy config ([tests/harness/haproxy-cephadm.cfg](../tests/harness/haproxy-cephadm.cfg)), nothing else: what users run today.");
    if info.setups.contains(&Setup::Cron) {
        let _ = writeln!(
            out,
            "- `cron`: the same, plus `ceph-warden check --type rgw` (the seed cron script's job) every {} s, first {} s after the load starts (the seed ran every 300 s: its detection delay is up to the interval, so its figures scale with it).",
            p.cron_interval.as_secs(),
            p.cron_first.as_secs()
        );
    }
    let _ = writeln!(out, "- `haproxy-only`: the shipped [haproxy/haproxy.cfg](../haproxy/haproxy.cfg) with its agent port pointing where nothing listens, no sidecar: HAProxy's manual (agent-check) says a failure to connect to the agent is not an error, the server's state is left to its regular check, so this is the shipped config's own contribution, and `warden` minus it the sidecar's.");
    let _ = writeln!(out, "- `warden`: the shipped config plus `ceph-warden run` on its shipped defaults (below), with the hung-RGW kill.");
    if info.setups.contains(&Setup::WardenInstant) {
        let _ = writeln!(out, "- `warden-instant`: `warden` without the kill, against fake-ceph's instant orchestrator (a restart 0.3 s after the ask, a live `orch ps`): what the figures before issue 12 were measured against.");
    }
    let _ = writeln!(out, "\nThe orchestrator is the project's stand-in (cephadm cannot run here): [tests/lab/fake-cephadm](../tests/lab/fake-cephadm), cephadm as it behaves, with its defaults: `orch daemon restart` only queues the restart and the serve loop runs it 3 s later, stopping the RGW as `podman stop` does (SIGTERM, SIGKILL after 10 s, never SIGCONT); `orch ps` answers from a cache re-listed 5 s after an action.\n");
    let _ = writeln!(out, "Logging, for the benchmark only, in both configs: `log ring@requests local0` with a 16 MiB `ring requests` section (`format raw`), read after each cell through the runtime API (`show events requests`; logging to stdout instead lost up to 25 of 1,900 lines a run, `show info` DroppedLogs: HAProxy's manual says logs to a file descriptor \"may be dropped\"), `option httplog` and `log global` (both in cephadm's own template; the harness's copy of it leaves logging out) and `capture request header X-Bench-Id len 12` in the frontend: every request's log line carries its id, and every client error is matched with it. HAProxy's `show info` Maxconn: {}.\n",
        info.maxconn.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
    config_differences(out);
    let _ = writeln!(out, "### The sidecar's configuration\n");
    let _ = writeln!(out, "`ceph-warden run` on the defaults of [systemd/ceph-warden.example.toml](../systemd/ceph-warden.example.toml) (which the package ships), no `RUST_LOG` (it logs at info, as under systemd), with only these keys set:\n");
    let _ = writeln!(out, "| key | value | why |\n| --- | --- | --- |");
    for (key, value, why) in LAB_DEFAULTS_OVERRIDES {
        let _ = writeln!(out, "| `{key}` | `{value}` | {why} |");
    }
    let _ = writeln!(
        out,
        "\nThe file, as the `warden` setup wrote it:\n\n```toml\n{}```\n",
        info.sidecar_config
    );
    let _ = writeln!(out, "### Reading the tables\n");
    let _ = writeln!(out, "Per scenario: requests sent; client errors, and by HTTP status or client error kind; GETs and PUTs that did get a 200 but only after more than 5 s (stalled behind the fault: most clients would have given up; a freeze shorter than `timeout server` lets a setup that does nothing wait it out without errors, so read this beside the errors); latency p50 / p99 / max of GETs and of PUTs (errors included; the slow GETs are 4 s by design and left out); the load generator's own lag p99 (already inside those latencies); first 200 answered to a request sent after the fault (all-frozen only); `orch daemon restart` calls; drains (a server entering DRAIN/MAINT) and agent downs (`DOWN (agent)`), summed over the servers. Then HAProxy's `show stat` per server, polled every 100 ms: when it first left the rotation after the fault and when it was UP again (in how many runs, when not all). Then where the client errors came from: each one's HAProxy log line, by termination state (HAProxy 2.6's manual, §8.5: the first character is the event that ended the session, the second the phase it was in), and the 200s HAProxy got only by retrying or redispatching.\n");
}

/// Every directive that differs between cephadm's stock config and the shipped one (both as
/// the benchmark runs them, logging added), with its reason.
fn config_differences(out: &mut String) {
    let dir = std::path::Path::new("/DIR");
    let servers = [("rgw.a", 8001), ("rgw.b", 8002), ("rgw.c", 8003)];
    let shipped =
        std::fs::read_to_string(harness::repo_path("haproxy/haproxy.cfg")).unwrap_or_default();
    let shipped = with_request_log(&rewrite_config(&shipped, dir, 8080, &servers, 9480));
    let owned: Vec<(String, u16)> = servers
        .iter()
        .map(|(n, p)| ((*n).to_string(), *p))
        .collect();
    let stock = with_request_log(&render_cephadm_stock(dir, 8080, &owned));
    let (a, b) = (directives(&stock), directives(&shipped));
    let keys: BTreeSet<&(String, String)> = a.keys().chain(b.keys()).collect();
    let _ = writeln!(
        out,
        "### cephadm's stock config and the shipped one: every difference\n"
    );
    let _ = writeln!(out, "Both as the benchmark runs them; the stock config is not changed but for the logging lines above. Whatever is not listed is the same in both (`mode http`, `option http-server-close`, `retries 3`, `timeout connect 5s`, `timeout client 30s`, `timeout server 30s`, ...).\n");
    let _ = writeln!(out, "| section | cephadm stock | shipped (`haproxy-only`, `warden`) | why, and its effect here |\n| --- | --- | --- | --- |");
    for key in keys {
        let (x, y) = (a.get(key), b.get(key));
        if x == y {
            continue;
        }
        let cell = |v: Option<&Vec<String>>| {
            v.map_or("—".to_string(), |v| {
                v.iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join("<br>")
            })
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            key.0,
            cell(x),
            cell(y),
            reason(&key.0, &key.1)
        );
    }
    let _ = writeln!(out);
}

/// (section, key) → the directive lines, whitespace collapsed; server names and addresses
/// replaced by NAME and ADDR.
fn directives(text: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut map: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut words: Vec<String> = trimmed.split_whitespace().map(String::from).collect();
        if !line.starts_with(' ') && !line.starts_with('\t') {
            section = words[0].clone();
            continue;
        }
        let key = match words[0].as_str() {
            "option" | "timeout" | "stats" | "capture" | "http-request" if words.len() > 1 => {
                format!("{} {}", words[0], words[1])
            }
            _ => words[0].clone(),
        };
        if key == "server" && words.len() > 2 {
            let name = words[1].clone();
            words[1] = "NAME".into();
            words[2] = "ADDR".into();
            for w in &mut words {
                *w = w.replace(&name, "NAME");
            }
        }
        let line = words.join(" ");
        let lines = map.entry((section.clone(), key)).or_default();
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    map
}

fn reason(section: &str, key: &str) -> &'static str {
    match (section, key) {
        ("global" | "defaults", "maxconn") => "cephadm caps connections at 8,000 (process and frontend); the shipped config keeps HAProxy's default (from the file-descriptor limit: `show info` above). At 100 requests/s with 30 s stalls at most ~3,500 connections are open: below either limit, no effect here.",
        ("global", "server-state-file") | ("defaults", "load-server-state-from-file") => "the shipped reload path (agent drains survive `systemctl reload haproxy`); no reload happens here: no effect.",
        ("defaults", "option dontlognull") => "logging only: connections that sent nothing are not logged; every client here sends a request: no effect.",
        ("defaults" | "backend", "option forwardfor") => "an X-Forwarded-For header for the RGWs' logs (RGW reads it only with `rgw_remote_addr_param`): no effect on routing or health.",
        ("defaults", "option redispatch") => "shipped `redispatch 1`: a retry goes to another server every time (with leastconn it would otherwise stay on the same one); cephadm's form redispatches on the last retry only. Part of the shipped config's own contribution (`haproxy-only`).",
        ("defaults", "retry-on") => "shipped: requests that failed to connect or got an empty response (killed by `shutdown-sessions` when the agent says `down`) are replayed on another server, and so are an RGW's 503s (SlowDown: refused before any work, which every S3 SDK retries too). Part of the shipped config's contribution: the 503s replay in `haproxy-only` as in `warden` (the throttled RGW of `slowdown`, the RGWs' own 503s after the OSD thaw); the empty responses only when an agent says `down`, except for refused connections.",
        ("defaults", "timeout queue") => "cephadm 20 s; shipped 30 s (as `timeout server`). A request queues only for a free server slot, and neither config sets a server `maxconn`: only the sidecar's hold (`maxconn:2` while RADOS answers none of an RGW's operations) queues requests, so it matters in `warden` alone, in the OSD stalls.",
        ("defaults", "timeout http-request") => "cephadm: 1 s to receive a whole request; unset in the shipped config (`timeout client`, 30 s, then applies). The clients here send their request at once: no effect.",
        ("defaults", "timeout http-keep-alive") => "idle keep-alive connections; the clients here send `Connection: close`: no effect.",
        ("defaults", "timeout check") => "a check's timeout: cephadm 5 s (its HTTP check of a frozen RGW fails after 5 s), shipped 2 s (also the agent's read timeout: a hung agent costs one 2 s connection per poll).",
        ("backend", "balance") => "cephadm static-rr; shipped leastconn: a frozen RGW's stuck connections make it the most loaded server, so it gets no new requests even before any check; and a server that fails fast (SlowDown) gets more than its share. Part of the shipped config's contribution.",
        ("backend", "option httpchk") => "cephadm: HTTP check `HEAD /`; shipped: a TCP connect check (fail-open fallback: a dead RGW still goes out; an HTTP check under an OSD stall takes every RGW down, measured in the shipped config's comments).",
        ("backend", "default-server") => "shipped: TCP check every 2 s (1 s while down), fall 3 rise 2, agent-check every 0.5 s on the sidecar's port, `on-marked-down shutdown-sessions` (the agent's `down` kills the sessions stuck on a frozen RGW, `retry-on` replays them). In `haproxy-only` nothing listens on the agent port.",
        ("frontend", "default_backend") => "names only (the backend is `backend` in cephadm's, `rgw` in the shipped one).",
        ("backend", "server") => "cephadm: `check weight 100 inter 2s` per server (fall 3 rise 2 by default); shipped: the checks come from default-server, `agent-send` names the daemon for the sidecar.",
        _ => "(no reason recorded here: see the comments of haproxy/haproxy.cfg)",
    }
}

fn scenario_section(
    out: &mut String,
    scenario: Scenario,
    cells: &[Cell],
    p: &Params,
    setups: &[Setup],
) {
    let _ = writeln!(out, "## {}\n\n{}.\n", scenario.name(), scenario.title(p));
    let figures: Vec<(Setup, Figures)> = setups
        .iter()
        .map(|s| {
            (
                *s,
                Figures {
                    runs: cells.iter().filter(|c| c.setup == *s).collect(),
                },
            )
        })
        .filter(|(_, f)| !f.runs.is_empty())
        .collect();
    // Table 1: the client's side and the sidecar's actions.
    let _ = writeln!(out, "| setup | runs | requests | client errors | by kind | GET/PUT 200 after > 5 s | GET p50 / p99 / max | PUT p50 / p99 / max | load lag p99 | first 200 | restarts | drains | agent downs |");
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"
    );
    for (setup, f) in &figures {
        let all_kinds: BTreeSet<String> =
            f.runs.iter().flat_map(|c| kinds(c).into_keys()).collect();
        let by_kind = if all_kinds.is_empty() {
            "—".to_string()
        } else {
            all_kinds
                .iter()
                .map(|k| {
                    let v = f.of(|c| kinds(c).get(k).copied().unwrap_or(0) as f64);
                    format!("{} {k}", show(&v, count))
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let lat = |kind: Kind| {
            [0.5, 0.99, 1.0]
                .iter()
                .map(|q| millis(&f.of(|c| latency_ms(c, kind, *q))))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let lag = f.of(|c| {
            let mut l: Vec<Duration> = c.requests.iter().map(|r| r.outcome.lag).collect();
            l.sort();
            percentile(&l, 0.99).as_secs_f64() * 1000.0
        });
        let first: Vec<f64> = f.runs.iter().filter_map(|c| c.first_200).collect();
        let first_200 = if scenario == Scenario::AllFrozen {
            let never = f.runs.len() - first.len();
            let shown = seconds(&first);
            if never > 0 {
                format!("{shown} (never in {never})")
            } else {
                shown
            }
        } else {
            "—".to_string()
        };
        let errors = show(&f.errors(), count);
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            setup.name(),
            f.runs.len(),
            show(&f.of(|c| c.requests.len() as f64), count),
            if errors == "0" {
                "**0**".to_string()
            } else {
                errors
            },
            by_kind,
            show(&f.of(stalled), count),
            lat(Kind::Get),
            lat(Kind::Put),
            millis(&lag),
            first_200,
            show(&f.of(|c| c.restarts as f64), count),
            show(
                &f.of(|c| c.servers.values().map(|t| t.drains).sum::<usize>() as f64),
                count
            ),
            show(
                &f.of(|c| c.servers.values().map(|t| t.agent_downs).sum::<usize>() as f64),
                count
            ),
        );
    }
    if scenario == Scenario::Planned {
        let _ = write!(out, "\nThe downloads cut short:");
        for (n, (setup, f)) in figures.iter().enumerate() {
            let cut = f.of(|c| {
                c.requests
                    .iter()
                    .filter(|r| r.kind == Kind::Download && r.outcome.result != Ok(200))
                    .count() as f64
            });
            let _ = write!(
                out,
                "{} `{}` {} of {} ({} sent to rgw.b)",
                if n == 0 { "" } else { ";" },
                setup.name(),
                show(&cut, count),
                load::DOWNLOADS,
                show(&f.of(|c| c.downloads_on_b as f64), count)
            );
        }
        let _ = writeln!(out, ".");
    }
    // Table 2: HAProxy's view per server.
    let names: BTreeSet<String> = cells
        .iter()
        .flat_map(|c| c.servers.keys().cloned())
        .collect();
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| {
            scenario.watches_all()
                || n == "rgw.b"
                || cells
                    .iter()
                    .any(|c| c.servers.get(n).is_some_and(|t| t.out.is_some()))
        })
        .collect();
    let _ = writeln!(
        out,
        "\nHAProxy's view, seconds after the fault: out of rotation → UP again.\n"
    );
    let head: Vec<String> = names
        .iter()
        .map(|n| format!("{n} out | {n} back"))
        .collect();
    let _ = writeln!(out, "| setup | {} |", head.join(" | "));
    let _ = writeln!(out, "| --- |{}", " ---: | ---: |".repeat(names.len()));
    for (setup, f) in &figures {
        let mut row = format!("| `{}` |", setup.name());
        for name in &names {
            for pick in [0, 1] {
                let values: Vec<f64> = f
                    .runs
                    .iter()
                    .filter_map(|c| c.servers.get(name))
                    .filter_map(|t| if pick == 0 { t.out } else { t.back })
                    .collect();
                let mut cell = seconds(&values);
                if !values.is_empty() && values.len() < f.runs.len() {
                    cell = format!("{cell} ({}/{})", values.len(), f.runs.len());
                } else if values.is_empty() {
                    cell = if pick == 0 {
                        "never".into()
                    } else {
                        "—".into()
                    };
                }
                let _ = write!(row, " {cell} |");
            }
        }
        let _ = writeln!(out, "{row}");
    }
    // Table 3: where the errors came from.
    let causes: Vec<&str> = CAUSES
        .iter()
        .copied()
        .filter(|cause| {
            figures
                .iter()
                .any(|(_, f)| f.runs.iter().any(|c| c.causes.contains_key(cause)))
        })
        .collect();
    let _ = writeln!(
        out,
        "\nWhere the client errors came from (HAProxy's log line of each):\n"
    );
    let head: Vec<String> = figures
        .iter()
        .map(|(s, _)| format!("`{}`", s.name()))
        .collect();
    let _ = writeln!(
        out,
        "| cause | HAProxy's `Ta` p50 [min–max] | {} |",
        head.join(" | ")
    );
    let _ = writeln!(out, "| --- | ---: |{}", " ---: |".repeat(figures.len()));
    for cause in &causes {
        let row: Vec<String> = figures
            .iter()
            .map(|(_, f)| {
                show(
                    &f.of(|c| c.causes.get(cause).copied().unwrap_or(0) as f64),
                    count,
                )
            })
            .collect();
        let ta: Vec<f64> = figures
            .iter()
            .flat_map(|(_, f)| {
                f.runs
                    .iter()
                    .flat_map(|c| c.cause_ta.get(cause).into_iter().flatten().copied())
            })
            .collect();
        let ta = millis(&ta);
        let _ = writeln!(out, "| {cause} | {ta} | {} |", row.join(" | "));
    }
    let row: Vec<String> = figures
        .iter()
        .map(|(_, f)| show(&f.of(|c| c.retried_ok as f64), count))
        .collect();
    let _ = writeln!(
        out,
        "| *not errors:* 200 only after HAProxy retried or redispatched | | {} |",
        row.join(" | ")
    );
    let row: Vec<String> = figures
        .iter()
        .map(|(_, f)| {
            format!(
                "{} ({} dropped)",
                show(&f.of(|c| c.log_lines as f64), count),
                show(&f.of(|c| c.dropped_logs as f64), count)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "| *log lines with a request id (and lines HAProxy's `show info` says it dropped)* | | {} |",
        row.join(" | ")
    );
    for (setup, f) in &figures {
        let mut details: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &f.runs {
            for (d, n) in &c.details {
                *details.entry(d.as_str()).or_default() += n;
            }
        }
        if !details.is_empty() {
            let list: Vec<String> = details.iter().map(|(d, n)| format!("{n}× {d}")).collect();
            let _ = writeln!(
                out,
                "\n`{}`, the rarer causes over its {} runs: {}.",
                setup.name(),
                f.runs.len(),
                list.join("; ")
            );
        }
    }
    let _ = writeln!(out, "\n{}\n", verdict(&figures));
    let _ = writeln!(
        out,
        "![{} timeline](bench/{}.svg)\n",
        scenario.name(),
        scenario.name()
    );
}

/// The sentence: the setup with the fewest client errors (median), and whether warden's
/// median is at most the better of cephadm's and haproxy-only's, with the ranges.
fn verdict(figures: &[(Setup, Figures)]) -> String {
    let medians: Vec<(Setup, f64, String)> = figures
        .iter()
        .filter_map(|(s, f)| {
            let e = f.errors();
            stats(&e).map(|(m, _, _)| (*s, m, show(&e, count)))
        })
        .collect();
    let Some(best) = medians.iter().map(|(_, m, _)| *m).reduce(f64::min) else {
        return String::new();
    };
    let fewest: Vec<String> = medians
        .iter()
        .filter(|(_, m, _)| *m == best)
        .map(|(s, _, shown)| format!("`{}` ({shown})", s.name()))
        .collect();
    let mut text = format!("Fewest client errors (median): {}.", fewest.join(" and "));
    let get = |s: Setup| medians.iter().find(|(x, _, _)| *x == s);
    if let Some((_, w, w_shown)) = get(Setup::Warden) {
        let others: Vec<&(Setup, f64, String)> = [Setup::Cephadm, Setup::HaproxyOnly]
            .into_iter()
            .filter_map(get)
            .collect();
        if let Some(bar) = others.iter().map(|(_, m, _)| *m).reduce(f64::min) {
            let listed: Vec<String> = others
                .iter()
                .map(|(s, _, shown)| format!("`{}` {shown}", s.name()))
                .collect();
            let _ = write!(
                text,
                " `warden`'s median {} {} the better of {}: {}.",
                w_shown,
                if *w <= bar { "≤" } else { ">" },
                listed.join(" and "),
                if *w <= bar {
                    "never worse than doing nothing here"
                } else {
                    "worse than doing nothing here"
                }
            );
        }
    }
    text
}
