//! The `ceph health detail` gate of `run`: read every `run.health-interval`, published for the
//! probes (a fresh finding makes a probe timeout `degraded`) and for `/status` (what it found,
//! or why it cannot run).

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::world::World;
use crate::config::Config;
use crate::health::GateError;

/// The health gate's last finding and how long it may be believed.
#[derive(Debug, Clone)]
pub(super) struct HealthFinding {
    pub(super) finding: Option<String>,
    pub(super) valid_until: tokio::time::Instant,
    /// The last read failed (no `ceph.conf`, no caps, a hang): the gate is not running.
    pub(super) error: Option<String>,
}

impl HealthFinding {
    pub(super) fn none() -> Self {
        Self {
            finding: None,
            valid_until: tokio::time::Instant::now(),
            error: None,
        }
    }

    /// The finding, unless it is too old to count (then: no caution).
    pub(super) fn current(&self) -> Option<String> {
        self.finding
            .clone()
            .filter(|_| tokio::time::Instant::now() < self.valid_until)
    }
}

/// Reads `ceph health detail` every `run.health-interval` (bounded by the ceph timeout) and
/// publishes which gating checks are raised. Probes read the last finding and never wait for
/// it; a finding is believed for three intervals, and a failed read changes nothing.
pub(super) async fn health_loop<W: World>(
    world: Arc<W>,
    config: watch::Receiver<Arc<Config>>,
    findings: watch::Sender<HealthFinding>,
    token: CancellationToken,
) {
    loop {
        let cfg = Arc::clone(&config.borrow());
        if cfg.run.health_gate.checks.is_empty() {
            findings.send_replace(HealthFinding::none());
        } else {
            let read = world
                .health_detail(&cfg)
                .await
                .map_err(GateError::from)
                .and_then(|json| crate::health::gate(&json, &cfg.run.health_gate.checks));
            match read {
                Ok(finding) => {
                    if findings.borrow().error.is_some() {
                        tracing::info!("ceph health detail answers again");
                    }
                    let previous = findings.borrow().finding.clone();
                    if finding != previous {
                        match &finding {
                            Some(f) => tracing::warn!(
                                "health gate: {f}; probe timeouts are degraded, not failures"
                            ),
                            None => tracing::info!("health gate: clear"),
                        }
                    }
                    findings.send_replace(HealthFinding {
                        finding,
                        valid_until: tokio::time::Instant::now() + cfg.run.health_gate.interval * 3,
                        error: None,
                    });
                }
                Err(err) => {
                    // Once per distinct error: /status shows it for as long as it lasts.
                    let error = format!("cannot read ceph health detail: {err}");
                    if findings.borrow().error.as_ref() != Some(&error) {
                        tracing::warn!("health gate: {error}");
                    }
                    findings.send_modify(|f| f.error = Some(error));
                }
            }
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(cfg.run.health_gate.interval) => {}
        }
    }
}
