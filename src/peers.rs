//! Peer comparison: when a daemon's probe fails, the same probes against the other daemons of
//! its service tell a daemon that is sick from a cluster that is.
//!
//! A peer that answers the whole chain is **healthy**; one that answers `GET /` but not the S3
//! canary is **stalled** (RADOS under it is slow: the anonymous `GET /` never touches RADOS);
//! one that does not answer `GET /` is **dead**. Then (issue 5 §4):
//! - some peer is healthy → this daemon alone fails: failed, drained, restarted;
//! - none is healthy, the S3 step failed here and a peer stalls the same way → the cluster:
//!   degraded, never drained or restarted;
//! - none is healthy otherwise → failed and restarted; while this daemon still answers `GET`
//!   (only a deeper step fails) it is not drained: it may be the best the service has. One
//!   that does not answer at all (all frozen, the original incident) is taken out as usual:
//!   it serves nobody, and HAProxy then sends clients to the first peer that comes back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::probe::http::HttpProbe;
use crate::probe::s3::S3Canary;
use crate::probe::{self, ProbeError, Verdict};

/// How long one comparison is reused: probes of a failing daemon come every probe interval and
/// must not multiply the traffic to every peer.
const REUSE_FOR: Duration = Duration::from_secs(1);

/// Another daemon of the same service, on this host or another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    pub name: String,
    /// What the http step requests (its origin is the S3 endpoint).
    pub url: String,
}

/// What the peers answered, by name, with the failure of those that did not.
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

/// Judges the failure of the chain step `step` (`http`, `s3`) of this daemon by its peers.
pub fn judge(step: &str, failure: &str, report: &Report) -> Judgement {
    if !report.healthy.is_empty() {
        return Judgement::Alone;
    }
    if step == "s3" && !report.stalled.is_empty() {
        return Judgement::ClusterWide(format!(
            "s3 {failure} here and on every peer that answers GET ({}): RADOS requests stall on every RGW; the cluster, not this daemon",
            list(&report.stalled)
        ));
    }
    let mut failing = report.stalled.clone();
    failing.extend(report.dead.iter().cloned());
    Judgement::NoHealthyPeer(format!("no healthy peer ({})", list(&failing)))
}

/// Probes every peer at once: `GET` with the http probe, then the S3 canary when there is one.
pub async fn compare(peers: &[Peer], http: &HttpProbe, s3: Option<&S3Canary>) -> Report {
    let mut probes = tokio::task::JoinSet::new();
    for (index, peer) in peers.iter().enumerate() {
        let (peer, http, s3) = (peer.clone(), http.clone(), s3.cloned());
        probes.spawn(async move {
            (
                index,
                peer.name.clone(),
                probe_peer(&peer, &http, s3.as_ref()).await,
            )
        });
    }
    let mut answers = Vec::with_capacity(peers.len());
    while let Some(joined) = probes.join_next().await {
        if let Ok(answer) = joined {
            answers.push(answer);
        }
    }
    // In the inventory's order, whichever answered first.
    answers.sort_by_key(|(index, _, _)| *index);
    let mut report = Report::default();
    for (_, name, answer) in answers {
        match answer {
            PeerAnswer::Healthy => report.healthy.push(name),
            PeerAnswer::Stalled(failure) => report.stalled.push((name, failure)),
            PeerAnswer::Dead(failure) => report.dead.push((name, failure)),
        }
    }
    report
}

enum PeerAnswer {
    Healthy,
    Stalled(String),
    Dead(String),
}

async fn probe_peer(peer: &Peer, http: &HttpProbe, s3: Option<&S3Canary>) -> PeerAnswer {
    if let (Err(err), _) = http.probe(&peer.url).await {
        return PeerAnswer::Dead(err.to_string());
    }
    let Some(s3) = s3 else {
        return PeerAnswer::Healthy;
    };
    match s3.probe_daemon(&peer.url).await {
        // Busy is alive; a configuration problem is ours, not the peer's.
        Ok(Verdict::Ok | Verdict::Busy { .. }) | Err(ProbeError::Config(_)) => PeerAnswer::Healthy,
        other => PeerAnswer::Stalled(format!("s3 {}", probe::describe(&other))),
    }
}

/// Comparisons reused for [`REUSE_FOR`], by peer set.
#[derive(Debug, Default)]
pub struct Cache {
    recent: Mutex<HashMap<Vec<Peer>, (tokio::time::Instant, Report)>>,
}

impl Cache {
    pub async fn compare(&self, peers: &[Peer], http: &HttpProbe, s3: Option<&S3Canary>) -> Report {
        let key = peers.to_vec();
        if let Ok(recent) = self.recent.lock() {
            if let Some((at, report)) = recent.get(&key) {
                if at.elapsed() < REUSE_FOR {
                    return report.clone();
                }
            }
        }
        let report = compare(peers, http, s3).await;
        if let Ok(mut recent) = self.recent.lock() {
            recent.retain(|_, (at, _)| at.elapsed() < REUSE_FOR);
            recent.insert(key, (tokio::time::Instant::now(), report.clone()));
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(healthy: &[&str], stalled: &[&str], dead: &[&str]) -> Report {
        Report {
            healthy: healthy.iter().map(|s| s.to_string()).collect(),
            stalled: stalled
                .iter()
                .map(|s| (s.to_string(), "s3 timeout".to_string()))
                .collect(),
            dead: dead
                .iter()
                .map(|s| (s.to_string(), "timeout".to_string()))
                .collect(),
        }
    }

    #[test]
    fn one_healthy_peer_makes_the_failure_this_daemons_own() {
        for step in ["http", "s3"] {
            assert_eq!(
                judge(step, "timeout", &report(&["rgw.b"], &["rgw.c"], &[])),
                Judgement::Alone
            );
        }
    }

    #[test]
    fn an_s3_stall_on_the_peers_too_is_the_clusters() {
        let judged = judge("s3", "timeout", &report(&[], &["rgw.b", "rgw.c"], &[]));
        assert_eq!(
            judged,
            Judgement::ClusterWide(
                "s3 timeout here and on every peer that answers GET (rgw.b: s3 timeout, rgw.c: s3 timeout): RADOS requests stall on every RGW; the cluster, not this daemon".into()
            )
        );
    }

    #[test]
    fn all_peers_frozen_means_restart_without_drain() {
        let judged = judge("http", "timeout", &report(&[], &[], &["rgw.b", "rgw.c"]));
        assert_eq!(
            judged,
            Judgement::NoHealthyPeer("no healthy peer (rgw.b: timeout, rgw.c: timeout)".into())
        );
        // A daemon that does not even answer GET / while the peers only stall on S3 is worse
        // off than they are: its own failure, but nobody healthy to take its clients.
        assert!(matches!(
            judge("http", "timeout", &report(&[], &["rgw.b"], &[])),
            Judgement::NoHealthyPeer(_)
        ));
    }

    #[tokio::test]
    async fn compare_sorts_peers_by_what_they_answer() {
        // One peer answers, one refuses (a port nobody listens on).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let http = HttpProbe::new(Duration::from_secs(1), vec![200]).unwrap();
        let peers = vec![
            Peer {
                name: "rgw.b".into(),
                url: format!("http://127.0.0.1:{port}/"),
            },
            Peer {
                name: "rgw.c".into(),
                url: format!("http://127.0.0.1:{closed_port}/"),
            },
        ];
        let got = compare(&peers, &http, None).await;
        assert_eq!(got.healthy, vec!["rgw.b".to_string()]);
        assert_eq!(got.dead, vec![("rgw.c".to_string(), "refused".to_string())]);
        assert!(got.stalled.is_empty());
    }
}
