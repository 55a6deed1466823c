//! Prometheus metrics (`/metrics`), names `ceph_warden_*`, base units, label values from enums or
//! from the inventory, never from a request. Registered once; the state gauges are a view of
//! the published snapshot, refreshed when it is encoded.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

use crate::machine::verdict::ProbeClass;
use crate::machine::State;
use crate::status::View;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DaemonLabels {
    daemon: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeadlineLabels {
    daemon: String,
    step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BoundLabels {
    bound: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    daemon: String,
    state: StateLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    daemon: String,
    class: ClassLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WordLabels {
    word: WordLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RestartLabels {
    daemon: String,
    outcome: RestartOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[expect(
    non_camel_case_types,
    reason = "prometheus-client writes a label value as the variant's name: lowercase is the metric's value"
)]
enum StateLabel {
    starting,
    healthy,
    suspect,
    busy,
    draining,
    failed,
    restarting,
    recovering,
    held,
    degraded,
    maintenance,
}

impl From<State> for StateLabel {
    fn from(state: State) -> Self {
        match state {
            State::Starting => Self::starting,
            State::Healthy => Self::healthy,
            State::Suspect => Self::suspect,
            State::Busy => Self::busy,
            State::Draining => Self::draining,
            State::Failed => Self::failed,
            State::Restarting => Self::restarting,
            State::Recovering => Self::recovering,
            State::Held => Self::held,
            State::Degraded => Self::degraded,
            State::Maintenance => Self::maintenance,
        }
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[expect(
    non_camel_case_types,
    reason = "prometheus-client writes a label value as the variant's name: lowercase is the metric's value"
)]
enum ClassLabel {
    ok,
    busy,
    degraded,
    http,
    timeout,
    refused,
    dns,
    other,
    config,
}

impl From<ProbeClass> for ClassLabel {
    fn from(class: ProbeClass) -> Self {
        match class {
            ProbeClass::Ok => Self::ok,
            ProbeClass::Busy => Self::busy,
            ProbeClass::Degraded => Self::degraded,
            ProbeClass::Http => Self::http,
            ProbeClass::Timeout => Self::timeout,
            ProbeClass::Refused => Self::refused,
            ProbeClass::Dns => Self::dns,
            ProbeClass::Other => Self::other,
            ProbeClass::Config => Self::config,
        }
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[expect(
    non_camel_case_types,
    reason = "prometheus-client writes a label value as the variant's name: lowercase is the metric's value"
)]
enum WordLabel {
    up,
    up_ready,
    drain,
    down,
    maint,
    unknown_daemon,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[expect(
    non_camel_case_types,
    reason = "prometheus-client writes a label value as the variant's name: lowercase is the metric's value"
)]
pub enum RestartOutcome {
    requested,
    failed,
    /// Refused, or the orchestrator could not be asked: no attempt, no budget spent.
    not_taken,
    /// Taken, and at `restart-timeout` the same process still ran (cephadm paused, an
    /// unmanaged service, an offline host, a busy serve loop): no attempt, no budget spent.
    not_performed,
    /// The hung process of a restart under way was killed (`run.kill-hung`).
    hung_killed,
    verified,
}

pub struct Metrics {
    registry: Registry,
    state: Family<StateLabels, Gauge>,
    probes: ProbeMetrics,
    agent: AgentMetrics,
    restarts: Family<RestartLabels, Counter>,
    gauges: ViewGauges,
    /// Serialises encoding with the state refresh so a scrape sees one consistent snapshot.
    encode_lock: Mutex<()>,
}

/// Each probe's duration and outcome.
struct ProbeMetrics {
    seconds: Family<DaemonLabels, Histogram>,
    results: Family<ProbeLabels, Counter>,
}

/// The agent-check replies: the word sent and how long answering took.
struct AgentMetrics {
    replies: Family<WordLabels, Counter>,
    reply_seconds: Histogram,
}

/// Counts of the published view, set from it when the metrics are encoded.
struct ViewGauges {
    held: Gauge,
    config_errors: Gauge,
    health_gate_errors: Gauge,
    inventory_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    deadlines: Family<DeadlineLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    deadline_bounds: Family<BoundLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    load_drain_percent: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric once, in the order `/metrics` lists them.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ceph_warden");
        let r = &mut registry;
        let state = register(
            r,
            "daemon_state",
            "1 for the state each daemon is in",
            Family::default(),
        );
        let probes = ProbeMetrics::register(r);
        let agent = AgentMetrics::register(r);
        let restarts = register(r, "restarts", "Restarts by outcome", Family::default());
        let gauges = ViewGauges::register(r);
        register(r, "build_info", "The running version", build_info());
        Self {
            registry,
            state,
            probes,
            agent,
            restarts,
            gauges,
            encode_lock: Mutex::new(()),
        }
    }

    pub fn probe(&self, daemon: &str, class: ProbeClass, took: Duration) {
        self.probes
            .seconds
            .get_or_create(&DaemonLabels {
                daemon: daemon.to_string(),
            })
            .observe(took.as_secs_f64());
        self.probes
            .results
            .get_or_create(&ProbeLabels {
                daemon: daemon.to_string(),
                class: class.into(),
            })
            .inc();
    }

    pub fn agent_reply(&self, line: &str, took: Duration) {
        let word = match line {
            l if l.starts_with("up ready") => WordLabel::up_ready,
            "up" => WordLabel::up,
            "drain" => WordLabel::drain,
            "maint" => WordLabel::maint,
            l if l.starts_with("down") => WordLabel::down,
            _ => WordLabel::unknown_daemon,
        };
        self.agent.replies.get_or_create(&WordLabels { word }).inc();
        self.agent.reply_seconds.observe(took.as_secs_f64());
    }

    pub fn restart(&self, daemon: &str, outcome: RestartOutcome) {
        self.restarts
            .get_or_create(&RestartLabels {
                daemon: daemon.to_string(),
                outcome,
            })
            .inc();
    }

    /// The exposition text, with the state gauges refreshed from `view`.
    pub fn encode(&self, view: &View, now: std::time::Instant) -> String {
        let _guard = self.encode_lock.lock();
        self.state.clear();
        for daemon in &view.snapshot.daemons {
            for state in State::ALL {
                self.state
                    .get_or_create(&StateLabels {
                        daemon: daemon.name.clone(),
                        state: state.into(),
                    })
                    .set(i64::from(daemon.state == state));
            }
        }
        self.gauges.refresh(view, now);
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        to_prometheus_text(&out)
    }
}

impl ProbeMetrics {
    fn register(registry: &mut Registry) -> Self {
        Self {
            seconds: register(
                registry,
                "probe_duration_seconds",
                "How long probes took",
                Family::<DaemonLabels, Histogram>::new_with_constructor(|| {
                    Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0])
                }),
            ),
            results: register(
                registry,
                "probe_results",
                "Probe outcomes by class",
                Family::default(),
            ),
        }
    }
}

impl AgentMetrics {
    fn register(registry: &mut Registry) -> Self {
        Self {
            replies: register(
                registry,
                "agent_replies",
                "Agent-check replies by word",
                Family::default(),
            ),
            reply_seconds: register(
                registry,
                "agent_reply_duration_seconds",
                "From accept to the reply written",
                Histogram::new([0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05]),
            ),
        }
    }
}

impl ViewGauges {
    fn register(registry: &mut Registry) -> Self {
        Self {
            held: register(
                registry,
                "held_daemons",
                "Daemons held after their restarts did not help",
                Gauge::default(),
            ),
            config_errors: register(
                registry,
                "config_errors",
                "Daemons whose probes report a configuration problem (e.g. wrong S3 canary credentials)",
                Gauge::default(),
            ),
            health_gate_errors: register(
                registry,
                "health_gate_errors",
                "1 while the ceph health detail gate cannot run (its last read failed)",
                Gauge::default(),
            ),
            inventory_age: register(
                registry,
                "inventory_age_seconds",
                "Seconds since the inventory was last refreshed",
                Gauge::default(),
            ),
            deadlines: register(
                registry,
                "probe_deadline_seconds",
                "Each probe step's deadline now, learned from the daemon's service",
                Family::default(),
            ),
            deadline_bounds: register(
                registry,
                "probe_deadline_bound_seconds",
                "The floor and ceilings of the learned probe deadlines (run.probe-timeout-floor, run.probe-timeout, s3.timeout)",
                Family::default(),
            ),
            load_drain_percent: register(
                registry,
                "max_load_drain_percent",
                "At most this percentage of a service's daemons drained at once for shedding load (run.max-load-drain-percent)",
                Gauge::default(),
            ),
        }
    }

    fn refresh(&self, view: &View, now: std::time::Instant) {
        let daemons = &view.snapshot.daemons;
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.held.set(count(
            daemons.iter().filter(|d| d.state == State::Held).count(),
        ));
        self.config_errors.set(count(
            daemons.iter().filter(|d| d.config_error.is_some()).count(),
        ));
        self.health_gate_errors
            .set(i64::from(view.health_gate.error.is_some()));
        if let Some(at) = view.inventory.last_ok {
            self.inventory_age
                .set(now.saturating_duration_since(at).as_secs_f64());
        }
        self.deadlines.clear();
        for d in daemons {
            for (step, deadline) in [
                ("http", d.deadlines.http),
                ("s3", d.deadlines.s3),
                ("asok", d.deadlines.asok),
            ] {
                self.deadlines
                    .get_or_create(&DeadlineLabels {
                        daemon: d.name.clone(),
                        step: step.into(),
                    })
                    .set(deadline.as_secs_f64());
            }
        }
        self.load_drain_percent
            .set(i64::from(view.snapshot.load_drain_percent));
        let bounds = view.snapshot.deadline_bounds;
        for (bound, value) in [
            ("floor", bounds.floor),
            ("ceiling", bounds.ceiling),
            ("s3_ceiling", bounds.s3_ceiling),
        ] {
            self.deadline_bounds
                .get_or_create(&BoundLabels {
                    bound: bound.into(),
                })
                .set(value.as_secs_f64());
        }
    }
}

/// Registers `metric` under `name`; returns the handle that updates it.
fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// `build_info{version="..."} 1`.
fn build_info() -> Family<VersionLabels, Gauge> {
    let build = Family::<VersionLabels, Gauge>::default();
    build
        .get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
    build
}

/// prometheus-client writes OpenMetrics, where a counter family `x` has samples `x_total`. The
/// Prometheus text format (what `promtool check metrics` and every scraper read) wants the
/// HELP and TYPE lines under the sample name: rename them, and drop the OpenMetrics `# EOF`.
fn to_prometheus_text(open_metrics: &str) -> String {
    let counters: Vec<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len() + 64);
    for line in open_metrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = counters.iter().find_map(|name| {
            for prefix in ["# HELP ", "# TYPE "] {
                if let Some(rest) = line.strip_prefix(prefix).and_then(|r| r.strip_prefix(name)) {
                    if rest.starts_with(' ') {
                        return Some(format!("{prefix}{name}_total{rest}"));
                    }
                }
            }
            None
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_described_under_their_sample_names() {
        let open = "# HELP x_restarts Restarts.\n# TYPE x_restarts counter\nx_restarts_total{a=\"b\"} 1\n# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(open),
            "# HELP x_restarts_total Restarts.\n# TYPE x_restarts_total counter\nx_restarts_total{a=\"b\"} 1\n# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n"
        );
    }
}
