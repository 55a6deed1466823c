//! What a probe chain's answers mean: the core's vocabulary for probe outcomes and its
//! judgement of a failure, pure (no I/O, no clock).
//!
//! The shell runs the chain's steps (`http`, `s3`, `asok`) one after the other and asks this
//! module, with the raw facts it gathered, what they mean: a failure while the admin socket
//! shows an old RADOS operation is the cluster's; a probe timeout while `ceph health detail`
//! raises a gating check is the cluster's; a failure beside a healthy peer is the daemon's own
//! (unless the same step passes when asked again at that moment); the peers failing the same
//! way is the cluster's; no peer healthy means restart it (and drain it only if it does not
//! answer `GET` at all). Every rule has a row in the tables of `tests` below.

use std::fmt;

use serde::Serialize;

use super::NoHealthyPeer;

/// A daemon that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It answered with an accepted status (200 by default).
    Ok,
    /// It answered 503 with an S3/Swift throttling or "service unavailable" error body (the
    /// code is kept). RGW produced that answer itself, so it is alive: restarting or draining
    /// a busy RGW only moves its load onto the others (Rook learned this: its operator no
    /// longer restarts RGWs for 503s).
    Busy { code: String },
    /// A deeper step failed because RADOS is stalled under it (its oldest operation is old):
    /// the cluster is the problem, not this daemon. Draining or restarting would not help.
    Degraded { reason: String },
}

/// A daemon that did not answer as a healthy one does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("http {0}")]
    Http(u16),
    #[error("timeout")]
    Timeout,
    #[error("refused")]
    Refused,
    #[error("dns: {0}")]
    Dns(String),
    #[error("other: {0}")]
    Other(String),
    /// The operator's configuration is wrong (the S3 canary's credentials, a URL the client
    /// cannot use, no admin socket where the config says): reported loudly, never a reason to
    /// drain or restart.
    #[error("config: {0}")]
    Config(String),
}

/// The one-word class of a probe outcome, for tables, JSON and metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeClass {
    Ok,
    Busy,
    Degraded,
    Http,
    Timeout,
    Refused,
    Dns,
    Other,
    Config,
}

impl ProbeClass {
    pub fn of(result: &Result<Verdict, ProbeError>) -> Self {
        match result {
            Ok(Verdict::Ok) => Self::Ok,
            Ok(Verdict::Busy { .. }) => Self::Busy,
            Ok(Verdict::Degraded { .. }) => Self::Degraded,
            Err(ProbeError::Http(_)) => Self::Http,
            Err(ProbeError::Timeout) => Self::Timeout,
            Err(ProbeError::Refused) => Self::Refused,
            Err(ProbeError::Dns(_)) => Self::Dns,
            Err(ProbeError::Other(_)) => Self::Other,
            Err(ProbeError::Config(_)) => Self::Config,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Busy { code } => write!(f, "busy ({code})"),
            Self::Degraded { reason } => write!(f, "degraded ({reason})"),
        }
    }
}

/// `ok`, `busy (SlowDown)`, `http 500`, `timeout`, ... : what a table cell shows.
pub fn describe(result: &Result<Verdict, ProbeError>) -> String {
    match result {
        Ok(verdict) => verdict.to_string(),
        Err(err) => err.to_string(),
    }
}

/// What decided a probe's outcome: a step of the chain, or a judgement made after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// `GET` of the daemon's URL.
    Http,
    /// The signed S3 canary read.
    S3,
    /// The admin socket: is RADOS stalled under the daemon?
    Asok,
    /// The peers fail the same way.
    Peers,
    /// `ceph health detail` raises a gating check.
    Health,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::S3 => "s3",
            Self::Asok => "asok",
            Self::Peers => "peers",
            Self::Health => "health",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the peers answered, by name, with the failure of those that did not. A peer that
/// answers the whole chain is healthy; one that answers `GET /` but not the S3 canary is
/// stalled (RADOS under it is slow: the anonymous `GET /` never touches RADOS); one that does
/// not answer `GET /` is dead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub healthy: Vec<String>,
    pub stalled: Vec<(String, String)>,
    pub dead: Vec<(String, String)>,
}

/// What the comparison makes of this daemon's failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// A peer is healthy: the failure is this daemon's.
    Alone,
    /// The peers fail the same way: the cluster's problem (the reason says which peers).
    ClusterWide(String),
    /// No peer could serve this daemon's clients: restart it; do not drain it while it still
    /// answers `GET`.
    NoHealthyPeer(String),
}

fn list(entries: &[(String, String)]) -> String {
    entries
        .iter()
        .map(|(name, failure)| format!("{name}: {failure}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Judges the failure (`failure`, of the chain step `step`) of this daemon by its peers. The
/// same 5xx from every RGW's `GET /` is a runtime configuration or cluster problem (docs/design.md
/// §4): reported, never drained nor restarted.
pub fn judge(step: Step, failure: &str, report: &Report) -> Judgement {
    if !report.healthy.is_empty() {
        return Judgement::Alone;
    }
    if step == Step::Http
        && failure.starts_with("http 5")
        && !report.dead.is_empty()
        && report.stalled.is_empty()
        && report.dead.iter().all(|(_, peer)| peer == failure)
    {
        return Judgement::ClusterWide(format!(
            "{failure} here and on every peer ({}): a runtime configuration or cluster problem, not this daemon",
            list(&report.dead)
        ));
    }
    if step == Step::S3 && !report.stalled.is_empty() {
        return Judgement::ClusterWide(format!(
            "s3 {failure} here and on every peer that answers GET ({}): RADOS requests stall on every RGW; the cluster, not this daemon",
            list(&report.stalled)
        ));
    }
    let mut failing = report.stalled.clone();
    failing.extend(report.dead.iter().cloned());
    Judgement::NoHealthyPeer(format!("no healthy peer ({})", list(&failing)))
}

/// The outcome of one probe chain, built step by step from the facts the shell gathers.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub result: Result<Verdict, ProbeError>,
    /// What decided it.
    pub step: Step,
    /// A step that found a configuration problem (and was skipped): the first one found.
    pub config_problem: Option<String>,
    /// Failed while no peer is healthy.
    pub no_healthy_peer: Option<NoHealthyPeer>,
    /// A `GET` that timed out, and what the admin socket said of the process: silent too (the
    /// whole process hung), or answering (only its HTTP frontend hangs).
    pub hang: Option<Hang>,
    /// How long each step that got an answer (or ran out its deadline) took: what the
    /// deadlines are learned from ([`super::deadline`]).
    pub times: Vec<super::deadline::Timed>,
    /// The admin socket found RADOS stalled under the daemon, and its count of replies from
    /// the OSDs (`perf dump` → `objecter*.op_reply`) read this: when it does not move from
    /// one probe to the next, RADOS answers none of the daemon's operations (a stall of the
    /// whole cluster as this RGW sees it, not of a few placement groups).
    pub rados_replies: Option<u64>,
    /// A step other than `asok` asked the daemon something.
    answered: bool,
}

/// Which part of a daemon hangs when its `GET` times out (issue 14's hang classes): the class
/// is named in the reason, the event and the agent's `down #...` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hang {
    /// The admin socket is silent too: the whole process (frozen, deadlocked). A restart
    /// helps; its kill need not wait for a graceful stop.
    Process,
    /// The admin socket answers and shows no old RADOS op: only the HTTP frontend hangs (e.g.
    /// beast's accept loop dead after running out of file descriptors, Ceph tracker 67338).
    /// A restart helps.
    Frontend,
}

impl fmt::Display for Hang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Process => "process hung (its admin socket is silent too)",
            Self::Frontend => {
                "frontend hung (the process answers its admin socket: accept loop dead?)"
            }
        })
    }
}

/// What a daemon's admin socket said after a failure that [`Outcome::waits_on_rados`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminSocket {
    /// Its oldest RADOS operation is this old: `rados: oldest op 4.2s on osd.0 (3 in flight)`;
    /// and its count of replies from the OSDs, when its `perf dump` gave one
    /// ([`Outcome::rados_replies`]).
    Stalled { stall: String, replies: Option<u64> },
    /// It answered, and RADOS is not stalled under it.
    Answered,
    /// It did not answer within its timeout: the process is hung, not only its frontend.
    Silent,
    /// Nothing listens on it (a dead process's stale socket): not hung, gone.
    Gone,
}

impl Default for Outcome {
    fn default() -> Self {
        Self {
            result: Ok(Verdict::Ok),
            step: Step::Http,
            config_problem: None,
            no_healthy_peer: None,
            hang: None,
            times: Vec::new(),
            rados_replies: None,
            answered: false,
        }
    }
}

impl Outcome {
    /// One step's result. Returns whether the chain goes on: the first step that does not
    /// pass decides (busy too: alive, and deeper steps would only add load). A step that
    /// finds a configuration problem is skipped: it says nothing of the daemon.
    pub fn step(&mut self, step: Step, result: Result<Verdict, ProbeError>) -> bool {
        if let Err(ProbeError::Config(problem)) = result {
            // The first problem is the one to fix first (the URL before the admin socket).
            self.config_problem.get_or_insert(problem);
            return true;
        }
        self.answered |= step != Step::Asok;
        self.result = result;
        self.step = step;
        matches!(self.result, Ok(Verdict::Ok))
    }

    /// After the steps: when none could ask the daemon anything (its URL is unusable, say),
    /// the chain knows nothing of its health and the outcome is the configuration problem,
    /// which never drains or restarts. Returns whether the outcome is final.
    pub fn steps_done(&mut self) -> bool {
        if let (false, Some(problem)) = (self.answered, &self.config_problem) {
            self.result = Err(ProbeError::Config(problem.clone()));
            return true;
        }
        self.result.is_ok()
    }

    /// Whether the admin socket may explain the failure: a RADOS-backed step (s3) failed, or
    /// a GET timed out. Under load a RADOS stall fills RGW's request slots and even `GET /`
    /// waits (measured: an OSD frozen under 100 req/s of GET/PUT, every RGW's GET / timed out
    /// after 27 s).
    pub fn waits_on_rados(&self) -> bool {
        matches!(
            (self.step, &self.result),
            (Step::S3, Err(_)) | (Step::Http, Err(ProbeError::Timeout))
        )
    }

    /// What the admin socket said after a failure that [`Outcome::waits_on_rados`]: an old
    /// RADOS operation makes it the cluster's (`degraded`); no answer (a frozen RGW's socket
    /// does not answer either) leaves the failure standing and marks the process hung; no
    /// socket is a configuration problem. Returns whether the outcome is final.
    pub fn rados(&mut self, socket: Result<AdminSocket, String>) -> bool {
        match socket {
            Ok(AdminSocket::Stalled { stall, replies }) => {
                let failure = describe(&self.result);
                self.result = Ok(Verdict::Degraded {
                    reason: format!("{} {failure} while {stall}", self.step),
                });
                self.step = Step::Asok;
                self.rados_replies = replies;
            }
            Ok(AdminSocket::Gone) => {}
            // A GET that timed out (a failed S3 step came after a GET that answered: neither
            // that process nor its frontend is hung): the socket tells which hangs.
            Ok(AdminSocket::Answered) if self.step == Step::Http => {
                self.hang = Some(Hang::Frontend);
            }
            Ok(AdminSocket::Answered) => {}
            Ok(AdminSocket::Silent) if self.step == Step::Http => self.hang = Some(Hang::Process),
            Ok(AdminSocket::Silent) => {}
            Err(missing) => {
                self.config_problem.get_or_insert(missing);
            }
        }
        self.result.is_ok()
    }

    /// The health gate's finding (`ceph health: SLOW_OPS (...)`), when fresh: a daemon that
    /// stops answering while the cluster reports slow ops, OSDs down or inactive PGs waits for
    /// the cluster. It only ever adds caution, and only to timeouts (a refused or 500 RGW is
    /// still restarted, so an OSD down for days does not stop every restart). Returns whether
    /// the outcome is final.
    pub fn health(&mut self, finding: Option<&str>) -> bool {
        if let (Err(ProbeError::Timeout), Some(health)) = (&self.result, finding) {
            self.result = Ok(Verdict::Degraded {
                reason: format!("{} timeout while {health}", self.step),
            });
            self.step = Step::Health;
        }
        self.result.is_ok()
    }

    /// The peers' judgement, and the failing step asked again at the same moment (`again`):
    /// - a healthy peer and the step passing again: a blip of the cluster that ended before
    ///   the peers were asked (PGs peering after an OSD went down and up), not counted;
    /// - a healthy peer otherwise: the daemon's own failure;
    /// - the peers stalling the same way: the cluster's (`degraded`);
    /// - no healthy peer: restart it; it is not drained while it still answers `GET` (it may
    ///   be the best there is). One that does not answer at all serves nobody: saying `down`
    ///   keeps HAProxy from queueing requests on it and sends them to the first peer back
    ///   (measured: all three frozen, first 200 after 10.6 s without the down, 4.2 s with it).
    ///
    /// Returns whether the failure was such a blip (the shell says so in its log).
    pub fn peers(&mut self, judgement: Judgement, again: &Result<Verdict, ProbeError>) -> bool {
        match judgement {
            Judgement::Alone if matches!(again, Ok(Verdict::Ok)) => {
                self.result = Ok(Verdict::Ok);
                return true;
            }
            Judgement::Alone => {}
            Judgement::ClusterWide(reason) => {
                self.result = Ok(Verdict::Degraded { reason });
                self.step = Step::Peers;
            }
            Judgement::NoHealthyPeer(why) => {
                self.no_healthy_peer = Some(NoHealthyPeer {
                    why,
                    answers: self.step != Step::Http,
                });
            }
        }
        false
    }

    /// The failure, as the peers' judgement and the log name it (`timeout`, `http 500`).
    pub fn failure(&self) -> String {
        describe(&self.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn degraded(reason: &str) -> Result<Verdict, ProbeError> {
        Ok(Verdict::Degraded {
            reason: reason.into(),
        })
    }

    fn config(problem: &str) -> Result<Verdict, ProbeError> {
        Err(ProbeError::Config(problem.into()))
    }

    /// The chain's steps: (steps and their results, whether the outcome is final after them,
    /// the outcome, the step that decided, the configuration problem).
    type ChainRow = (
        Vec<(Step, Result<Verdict, ProbeError>)>,
        bool,
        Result<Verdict, ProbeError>,
        Step,
        Option<&'static str>,
    );

    fn check_chain(rows: Vec<ChainRow>) {
        for (i, (steps, final_, result, step, problem)) in rows.into_iter().enumerate() {
            let mut chain = Outcome::default();
            for (s, r) in steps {
                if !chain.step(s, r) {
                    break;
                }
            }
            assert_eq!(chain.steps_done(), final_, "row {i}");
            assert_eq!(
                (&chain.result, chain.step, chain.config_problem.as_deref()),
                (&result, step, problem),
                "row {i}"
            );
        }
    }

    #[test]
    fn the_first_step_that_does_not_pass_decides() {
        let busy = || {
            Ok(Verdict::Busy {
                code: "SlowDown".into(),
            })
        };
        check_chain(vec![
            // All pass: ok, decided by the last step.
            (
                vec![(Step::Http, Ok(Verdict::Ok)), (Step::Asok, Ok(Verdict::Ok))],
                true,
                Ok(Verdict::Ok),
                Step::Asok,
                None,
            ),
            // A failure ends the chain and is not final yet (the socket, the gate, the peers).
            (
                vec![(Step::Http, Err(ProbeError::Timeout))],
                false,
                Err(ProbeError::Timeout),
                Step::Http,
                None,
            ),
            // Busy ends the chain: alive.
            (vec![(Step::Http, busy())], true, busy(), Step::Http, None),
        ]);
    }

    #[test]
    fn configuration_problems_are_skipped_and_never_a_failure() {
        check_chain(vec![
            // Wrong canary credentials: skipped, the http step's ok stands.
            (
                vec![
                    (Step::Http, Ok(Verdict::Ok)),
                    (Step::S3, config("s3 SignatureDoesNotMatch")),
                ],
                true,
                Ok(Verdict::Ok),
                Step::Http,
                Some("s3 SignatureDoesNotMatch"),
            ),
            // A URL no request can be built for: nothing asked the daemon anything, so the
            // outcome is the configuration problem (never a failure), the first one found.
            (
                vec![
                    (Step::Http, config("cannot probe \"localhost:38081\"")),
                    (Step::Asok, config("asok: no admin socket")),
                ],
                true,
                config("cannot probe \"localhost:38081\""),
                Step::Http,
                Some("cannot probe \"localhost:38081\""),
            ),
        ]);
    }

    /// After a failure: (failed step and result, the admin socket, the health gate) →
    /// (outcome, deciding step, configuration problem).
    type ClusterRow = (
        Step,
        Result<Verdict, ProbeError>,
        Option<Result<AdminSocket, String>>,
        Option<&'static str>,
        Result<Verdict, ProbeError>,
        Step,
        Option<&'static str>,
    );

    fn check_cluster(rows: Vec<ClusterRow>) {
        for (i, (step, failed, socket, health, result, decided, problem)) in
            rows.into_iter().enumerate()
        {
            let mut chain = Outcome::default();
            chain.step(step, failed);
            assert!(!chain.steps_done(), "row {i}");
            let silent = socket == Some(Ok(AdminSocket::Silent)) && step == Step::Http;
            if let Some(socket) = socket {
                assert!(chain.waits_on_rados(), "row {i}");
                chain.rados(socket);
            }
            assert_eq!(
                chain.hang == Some(Hang::Process),
                silent,
                "row {i}: hung only when the socket is silent"
            );
            chain.health(health);
            assert_eq!(
                (&chain.result, chain.step, chain.config_problem.as_deref()),
                (&result, decided, problem),
                "row {i}"
            );
        }
    }

    #[test]
    fn a_failure_while_rados_stalls_under_the_daemon_is_the_clusters() {
        let stall = || {
            Some(Ok(AdminSocket::Stalled {
                stall: "rados: oldest op 4.2s on osd.0 (3 in flight)".into(),
                replies: None,
            }))
        };
        let timeout = || Err(ProbeError::Timeout);
        check_cluster(vec![
            // GET timeout + old RADOS op: the cluster's.
            (
                Step::Http,
                timeout(),
                stall(),
                None,
                degraded("http timeout while rados: oldest op 4.2s on osd.0 (3 in flight)"),
                Step::Asok,
                None,
            ),
            // S3 failure (any) + old RADOS op: the cluster's.
            (
                Step::S3,
                Err(ProbeError::Http(500)),
                stall(),
                None,
                degraded("s3 http 500 while rados: oldest op 4.2s on osd.0 (3 in flight)"),
                Step::Asok,
                None,
            ),
            // The socket does not answer (a frozen RGW's does not): the failure stands, and
            // the process is hung.
            (
                Step::Http,
                timeout(),
                Some(Ok(AdminSocket::Silent)),
                None,
                timeout(),
                Step::Http,
                None,
            ),
            // A failed S3 step and a silent socket: the failure stands, but GET answered
            // before it: not hung.
            (
                Step::S3,
                Err(ProbeError::Http(500)),
                Some(Ok(AdminSocket::Silent)),
                None,
                Err(ProbeError::Http(500)),
                Step::S3,
                None,
            ),
            // Nothing listens on the socket (a dead process's): the failure stands, not hung.
            (
                Step::Http,
                timeout(),
                Some(Ok(AdminSocket::Gone)),
                None,
                timeout(),
                Step::Http,
                None,
            ),
            // The socket answers with no old op: the failure stands (the frontend's alone).
            (
                Step::Http,
                timeout(),
                Some(Ok(AdminSocket::Answered)),
                None,
                timeout(),
                Step::Http,
                None,
            ),
            // No socket where the config says: a configuration problem, the failure stands.
            (
                Step::Http,
                timeout(),
                Some(Err("asok: no admin socket matches /x".into())),
                None,
                timeout(),
                Step::Http,
                Some("asok: no admin socket matches /x"),
            ),
        ]);
    }

    #[test]
    fn the_health_gate_makes_only_a_timeout_the_clusters() {
        check_cluster(vec![
            // A timeout while the health gate raises a check: the cluster's.
            (
                Step::Http,
                Err(ProbeError::Timeout),
                None,
                Some("ceph health: SLOW_OPS (2 slow ops)"),
                degraded("http timeout while ceph health: SLOW_OPS (2 slow ops)"),
                Step::Health,
                None,
            ),
            // The gate only turns timeouts into degraded: a refused RGW is still failed.
            (
                Step::Http,
                Err(ProbeError::Refused),
                None,
                Some("ceph health: OSD_DOWN (1 osds down)"),
                Err(ProbeError::Refused),
                Step::Http,
                None,
            ),
        ]);
    }

    #[test]
    fn only_a_failed_s3_step_or_a_get_timeout_waits_on_rados() {
        let waits = |step, result| {
            let mut chain = Outcome::default();
            chain.step(step, result);
            chain.waits_on_rados()
        };
        assert!(waits(Step::Http, Err(ProbeError::Timeout)));
        assert!(waits(Step::S3, Err(ProbeError::Http(503))));
        assert!(!waits(Step::Http, Err(ProbeError::Refused)));
        assert!(!waits(Step::Http, Err(ProbeError::Http(500))));
    }

    /// (failed step, peers' report, the step asked again) → (outcome, deciding step, no
    /// healthy peer: (why, still answers GET)).
    type PeersRow = (
        Step,
        Result<Verdict, ProbeError>,
        Report,
        Result<Verdict, ProbeError>,
        Result<Verdict, ProbeError>,
        Step,
        Option<(&'static str, bool)>,
    );

    fn check_peers(rows: Vec<PeersRow>) {
        for (i, (step, failed, report, again, result, decided, lone)) in
            rows.into_iter().enumerate()
        {
            let mut chain = Outcome::default();
            chain.step(step, failed);
            let judgement = judge(chain.step, &chain.failure(), &report);
            let blip = chain.peers(judgement, &again);
            assert_eq!(
                blip,
                result == Ok(Verdict::Ok),
                "row {i}: a blip, not counted"
            );
            let lone_now = chain
                .no_healthy_peer
                .as_ref()
                .map(|n| (n.why.as_str(), n.answers));
            assert_eq!(
                (&chain.result, chain.step, lone_now),
                (&result, decided, lone),
                "row {i}"
            );
        }
    }

    fn stalled() -> Report {
        Report {
            stalled: vec![("rgw.b".into(), "s3 timeout".into())],
            ..Report::default()
        }
    }

    fn dead() -> Report {
        Report {
            dead: vec![("rgw.b".into(), "timeout".into())],
            ..Report::default()
        }
    }

    #[test]
    fn beside_a_healthy_peer_the_failure_is_the_daemons_own_unless_it_passes_again() {
        let healthy = || Report {
            healthy: vec!["rgw.b".into()],
            ..Report::default()
        };
        let timeout = || Err(ProbeError::Timeout);
        check_peers(vec![
            // A healthy peer: its own failure.
            (
                Step::Http,
                timeout(),
                healthy(),
                timeout(),
                timeout(),
                Step::Http,
                None,
            ),
            // A healthy peer, and it passes when asked again beside them: a blip, not counted.
            (
                Step::S3,
                timeout(),
                healthy(),
                Ok(Verdict::Ok),
                Ok(Verdict::Ok),
                Step::S3,
                None,
            ),
        ]);
    }

    #[test]
    fn an_s3_failure_every_peer_that_answers_get_shares_is_the_clusters() {
        check_peers(vec![(
            Step::S3,
            Err(ProbeError::Timeout),
            stalled(),
            Err(ProbeError::Timeout),
            degraded("s3 timeout here and on every peer that answers GET (rgw.b: s3 timeout): RADOS requests stall on every RGW; the cluster, not this daemon"),
            Step::Peers,
            None,
        )]);
    }

    #[test]
    fn with_no_healthy_peer_it_is_restarted_and_drained_only_if_it_does_not_answer_get() {
        let (timeout, refused) = (|| Err(ProbeError::Timeout), || Err(ProbeError::Refused));
        let lone = |why, answers| Some((why, answers));
        let dead_peer = "no healthy peer (rgw.b: timeout)";
        check_peers(vec![
            // It still answers GET, no peer is healthy: restart it, do not drain it.
            (
                Step::S3,
                timeout(),
                dead(),
                timeout(),
                timeout(),
                Step::S3,
                lone(dead_peer, true),
            ),
            // It answers nothing and neither does any peer (all frozen): restart, and drain.
            (
                Step::Http,
                timeout(),
                dead(),
                timeout(),
                timeout(),
                Step::Http,
                lone(dead_peer, false),
            ),
            // A GET that fails while a peer only stalls on S3: no healthy peer, not the
            // cluster (the s3 rule needs the s3 step to fail here too).
            (
                Step::Http,
                refused(),
                stalled(),
                refused(),
                refused(),
                Step::Http,
                lone("no healthy peer (rgw.b: s3 timeout)", false),
            ),
        ]);
    }
}
