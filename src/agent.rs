//! The HAProxy agent-check listener (docs/design.md §5.1): connect → optional `agent-send` line →
//! one full reply line → close.
//!
//! HAProxy opens one TCP connection per poll, sends the `agent-send` string (if configured) right
//! after connecting, reads one line and closes (observed on HAProxy 2.6.12). The reply is built
//! from the latest published snapshot and never waits on a probe, a lock or the orchestrator.
//! Every reply is the complete desired state (`up ready`, `drain`, `down #reason`, `maint`,
//! `up`), because HAProxy only reverts what the agent said and ignores a line without `\n`.
//!
//! Which daemon: the `agent-send` tag (`agent-send "rgw.a\n"`); without one, the single daemon
//! of this host. An unknown or missing tag gets a comment-only reply (`#unknown daemon rgw.x`),
//! which changes nothing in HAProxy and does not show there either: with no word to apply,
//! HAProxy 2.6.12 drops the comment, `agent_status` reads `CHECKED` and `last_agt` stays empty.
//! Only asking the agent by hand shows it (docs/troubleshooting.md).
//!
//! Bounded: at most `max-agent-connections` at once (more wait in the kernel's listen backlog),
//! a deadline per connection, at most [`MAX_TAG`] bytes read. A slow or hostile peer costs one
//! slot for at most [`CONNECTION_DEADLINE`]; a silent one about 2 × [`TAG_WAIT`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::machine::{Observation, Snapshot, Word};
use crate::metrics::Metrics;
use crate::status::View;

/// The longest `agent-send` line read; HAProxy's are a few bytes.
pub const MAX_TAG: usize = 256;
/// How long to wait for the `agent-send` line. HAProxy sends it together with the connection;
/// a server line without `agent-send` sends nothing, and then this is the only delay.
pub const TAG_WAIT: Duration = Duration::from_millis(50);
/// Everything about one connection, reading, writing and closing, within this.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(1);

/// The reply for `tag` (the `agent-send` line, trimmed) and, when it names a known daemon, that
/// daemon's name.
pub fn reply(snapshot: &Snapshot, tag: Option<&str>) -> (Option<(String, Word)>, String) {
    let tag = tag.map(str::trim).filter(|t| !t.is_empty());
    let daemon = match tag {
        Some(tag) => snapshot.daemon(tag),
        None if snapshot.daemons.len() == 1 => snapshot.daemons.first(),
        None => None,
    };
    match (daemon, tag) {
        (Some(view), _) => (
            Some((view.name.clone(), view.word.clone())),
            view.word.to_string(),
        ),
        (None, Some(tag)) => {
            let shown: String = tag
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .take(64)
                .collect();
            (None, format!("#unknown daemon {shown}"))
        }
        (None, None) => (
            None,
            format!(
                "#no agent-send tag and {} daemons here; add agent-send \"<daemon>\\n\" to the server line",
                snapshot.daemons.len()
            ),
        ),
    }
}

/// Accepts agent connections until `token` is cancelled.
pub async fn serve(
    listener: TcpListener,
    view: watch::Receiver<Arc<View>>,
    polls: mpsc::Sender<Observation>,
    max_connections: usize,
    metrics: Arc<Metrics>,
    token: CancellationToken,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    loop {
        // Take a slot before accepting: past `max-agent-connections`, new connections wait in
        // the kernel's listen backlog (bounded, no memory of ours) until a slot frees, which
        // every connection does within CONNECTION_DEADLINE.
        let permit = tokio::select! {
            () = token.cancelled() => return,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            () = token.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    tracing::warn!("agent: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let view = view.clone();
        let polls = polls.clone();
        let metrics = Arc::clone(&metrics);
        let span = tracing::info_span!("agent", %peer);
        tracker.spawn(
            async move {
                let _permit = permit;
                let answer = answer(stream, peer, &view, &polls, &metrics);
                let _ = tokio::time::timeout(CONNECTION_DEADLINE, answer).await;
            }
            .instrument(span),
        );
    }
}

async fn answer(
    mut stream: TcpStream,
    peer: SocketAddr,
    view: &watch::Receiver<Arc<View>>,
    polls: &mpsc::Sender<Observation>,
    metrics: &Metrics,
) {
    let _ = stream.set_nodelay(true);
    let start = tokio::time::Instant::now();
    let tag = read_tag(&mut stream).await;
    let current = Arc::clone(&view.borrow());
    let (daemon, line) = reply(&current.snapshot, tag.as_deref());
    let mut out = line.clone();
    out.push('\n');
    if stream.write_all(out.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    metrics.agent_reply(&line, start.elapsed());
    if let Some((daemon, word)) = daemon {
        // Best effort: under overload a lost poll only delays a drain confirmation until its
        // timeout; it never blocks a reply.
        let _ = polls.try_send(Observation::Polled {
            daemon,
            haproxy: peer.ip(),
            word,
        });
    } else {
        tracing::debug!(reply = %line, "poll for no known daemon");
    }
    // Read what the peer may still send, so our close is a FIN, not an RST, for HAProxy.
    let mut sink = [0u8; 512];
    let _ = tokio::time::timeout(TAG_WAIT, async {
        let mut left = 4096usize;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Reads the `agent-send` line: up to `\n`, at most [`MAX_TAG`] bytes, within [`TAG_WAIT`].
async fn read_tag(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; MAX_TAG];
    let read = tokio::time::timeout(TAG_WAIT, async {
        while buf.len() < MAX_TAG && !buf.contains(&b'\n') {
            match stream.read(&mut chunk[..MAX_TAG - buf.len()]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let _ = read;
    if buf.is_empty() {
        return None;
    }
    let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    Some(String::from_utf8_lossy(line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{DaemonView, OperatorView, State, StreakView, Word};

    fn view(name: &str, word: Word) -> DaemonView {
        #[expect(
            clippy::disallowed_methods,
            reason = "a fixed instant for a test value"
        )]
        let now = std::time::Instant::now();
        DaemonView {
            name: name.into(),
            daemon_type: "rgw".into(),
            state: State::Healthy,
            word,
            reason: String::new(),
            since: now,
            last_probe: None,
            streaks: StreakView::default(),
            restarts_in_window: 0,
            operator: OperatorView::default(),
            last_event: None,
            config_error: None,
            deadlines: crate::machine::Deadlines::default(),
        }
    }

    #[test]
    fn the_tag_picks_the_daemon_and_its_word() {
        let snapshot = Snapshot {
            daemons: vec![
                view("rgw.a", Word::UpReady),
                view("rgw.b", Word::Down("timeout".into())),
            ],
            ..Snapshot::default()
        };
        assert_eq!(
            reply(&snapshot, Some("rgw.b")),
            (
                Some(("rgw.b".into(), Word::Down("timeout".into()))),
                "down #timeout".into()
            )
        );
        assert_eq!(
            reply(&snapshot, Some(" rgw.a\r")),
            (Some(("rgw.a".into(), Word::UpReady)), "up ready".into())
        );
        assert_eq!(
            reply(&snapshot, Some("rgw.x")),
            (None, "#unknown daemon rgw.x".into())
        );
        let (daemon, line) = reply(&snapshot, None);
        assert_eq!(daemon, None);
        assert!(
            line.starts_with("#no agent-send tag and 2 daemons here"),
            "{line}"
        );
    }

    #[test]
    fn without_a_tag_the_single_daemon_answers() {
        let snapshot = Snapshot {
            daemons: vec![view("rgw.a", Word::Drain)],
            ..Snapshot::default()
        };
        assert_eq!(
            reply(&snapshot, None),
            (Some(("rgw.a".into(), Word::Drain)), "drain".into())
        );
        assert_eq!(
            reply(&snapshot, Some("")),
            (Some(("rgw.a".into(), Word::Drain)), "drain".into())
        );
    }

    #[test]
    fn a_hostile_tag_cannot_inject_words() {
        let snapshot = Snapshot::default();
        let (_, line) = reply(&snapshot, Some("x\rdown"));
        assert_eq!(line, "#unknown daemon x?down");
    }
}
