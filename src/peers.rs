//! Peer comparison: when a daemon's probe fails, the same probes against the other daemons of
//! its service tell a daemon that is sick from a cluster that is.
//!
//! A peer that answers the whole chain is **healthy**; one that answers `GET /` but not the S3
//! canary is **stalled** (RADOS under it is slow: the anonymous `GET /` never touches RADOS);
//! one that does not answer `GET /` is **dead**. What that means for the failing daemon is the
//! core's judgement ([`crate::machine::verdict::judge`]): some peer healthy → its own failure;
//! the S3 step failing here and stalling on a peer → the cluster's; none healthy otherwise →
//! restart it, and drain it only if it does not answer `GET` at all.

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

pub use crate::machine::verdict::{judge, Judgement, Report};

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

/// Comparisons reused for `REUSE_FOR` (1 s), by peer set.
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
