//! The HTTP API (docs/design.md §6), an admin server on `127.0.0.1:9481` by default.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /` | plain text for `curl`: one line per daemon (state, agent word, last probe, restarts, reason) |
//! | `GET /health` | 200 when every daemon that should serve does, else 503; text |
//! | `GET /health/<daemon>` | 200 when HAProxy should send it requests, else 503; the reason |
//! | `GET /status` | the snapshot as JSON, schema version 1 (`docs/status.md`) |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /events?since=N` | transitions after event N, JSON lines |
//! | `POST /daemons/<daemon>/drain`, `/undrain`, `/restart`, `/reset`, `/maintenance?set=on\|off` | loopback peers only (403 otherwise); idempotent; the daemon's new state as JSON |
//!
//! Routing is a plain match; the GET handlers are functions of the published [`View`], tested
//! without a socket.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::machine::{Command, CommandError};
use crate::metrics::Metrics;
use crate::status::{serving, EventLog, View};

/// An operator command on its way to the shell, with where to send the answer.
#[derive(Debug)]
pub struct CommandRequest {
    pub daemon: String,
    pub command: Command,
    pub reply: oneshot::Sender<Result<(), CommandError>>,
}

/// What the handlers read and where commands go.
#[derive(Clone)]
pub struct Api {
    pub view: watch::Receiver<Arc<View>>,
    pub events: Arc<EventLog>,
    pub metrics: Arc<Metrics>,
    pub commands: mpsc::Sender<CommandRequest>,
}

/// A finished answer: status, content type, body.
pub type Reply = (StatusCode, &'static str, String);

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";
const METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Concurrent API connections; more wait for a slot.
const MAX_CONNECTIONS: usize = 64;
/// One connection, request and answer, within this.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

/// The read-only routes.
pub fn get(
    view: &View,
    events: &EventLog,
    metrics: &Metrics,
    path: &str,
    query: Option<&str>,
    now: std::time::Instant,
) -> Reply {
    match path {
        "/" => (StatusCode::OK, TEXT, view.text(now)),
        "/health" => health(view),
        "/status" => match serde_json::to_string_pretty(&view.status_json(now)) {
            Ok(json) => (StatusCode::OK, JSON, json + "\n"),
            Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, TEXT, format!("{err}\n")),
        },
        "/metrics" => (StatusCode::OK, METRICS, metrics.encode(view, now)),
        "/events" => {
            let since = query
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("since=")))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            (
                StatusCode::OK,
                "application/x-ndjson",
                events.json_lines(since),
            )
        }
        _ => match path.strip_prefix("/health/") {
            Some(name) => daemon_health(view, name),
            None => (
                StatusCode::NOT_FOUND,
                TEXT,
                format!("no route {path}; try GET /\n"),
            ),
        },
    }
}

/// `GET /health`: 200 when every daemon that should serve does (maintenance excepted).
fn health(view: &View) -> Reply {
    let daemons = &view.snapshot.daemons;
    let not_serving: Vec<String> = daemons
        .iter()
        .filter(|d| !serving(&d.word) && !d.operator.maintenance)
        .map(|d| format!("{} {}: {}", d.name, d.state, d.reason))
        .collect();
    if daemons.is_empty() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "no daemons known yet\n".into(),
        )
    } else if not_serving.is_empty() {
        let all = format!("ok: {} daemons serving\n", daemons.len());
        (StatusCode::OK, TEXT, all)
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            not_serving.join("\n") + "\n",
        )
    }
}

/// `GET /health/<daemon>`: 200 when HAProxy should send it requests.
fn daemon_health(view: &View, name: &str) -> Reply {
    match view.snapshot.daemon(name) {
        Some(d) if serving(&d.word) => (
            StatusCode::OK,
            TEXT,
            format!("{} {}: {}\n", d.name, d.state, d.word),
        ),
        Some(d) => (
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            format!("{} {}: {} ({})\n", d.name, d.state, d.word, d.reason),
        ),
        None => (
            StatusCode::NOT_FOUND,
            TEXT,
            format!("no daemon {name} on this host\n"),
        ),
    }
}

/// Parses `/daemons/<name>/<action>[?set=on|off]` into a command.
pub fn parse_command(path: &str, query: Option<&str>) -> Result<(String, Command), Reply> {
    let bad = |message: String| (StatusCode::NOT_FOUND, TEXT, message + "\n");
    let rest = path
        .strip_prefix("/daemons/")
        .ok_or_else(|| bad(format!("no route POST {path}")))?;
    let (name, action) = rest
        .rsplit_once('/')
        .ok_or_else(|| bad(format!("POST /daemons/<daemon>/<action>, not {path}")))?;
    let command = match action {
        "drain" => Command::Drain,
        "undrain" => Command::Undrain,
        "restart" => Command::Restart,
        "reset" => Command::Reset,
        "maintenance" => {
            match query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("set="))) {
                Some("on") => Command::Maintenance(true),
                Some("off") => Command::Maintenance(false),
                _ => {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        TEXT,
                        "maintenance needs ?set=on or ?set=off\n".into(),
                    ))
                }
            }
        }
        other => {
            return Err(bad(format!(
                "no action {other}; drain, undrain, restart, reset, maintenance"
            )))
        }
    };
    Ok((name.to_string(), command))
}

/// Answers one request.
pub async fn route(
    api: &Api,
    method: &Method,
    path: &str,
    query: Option<&str>,
    peer: SocketAddr,
) -> Reply {
    if method == Method::GET || method == Method::HEAD {
        let view = Arc::clone(&api.view.borrow());
        return get(
            &view,
            &api.events,
            &api.metrics,
            path,
            query,
            tokio::time::Instant::now().into_std(),
        );
    }
    if method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET or POST\n".into());
    }
    if !peer.ip().to_canonical().is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            TEXT,
            format!(
                "mutating routes are for loopback peers only, not {}\n",
                peer.ip()
            ),
        );
    }
    match parse_command(path, query) {
        Ok((daemon, command)) => command_reply(api, daemon, command).await,
        Err(reply) => reply,
    }
}

/// Sends an operator's command to the shell; the daemon's new state, or why not.
async fn command_reply(api: &Api, daemon: String, command: Command) -> Reply {
    let (reply, answer) = oneshot::channel();
    let request = CommandRequest {
        daemon: daemon.clone(),
        command,
        reply,
    };
    if api.commands.send(request).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "shutting down\n".into(),
        );
    }
    match tokio::time::timeout(Duration::from_secs(5), answer).await {
        Ok(Ok(Ok(()))) => daemon_status(api, &daemon).await,
        Ok(Ok(Err(err @ CommandError::UnknownDaemon(_)))) => {
            (StatusCode::NOT_FOUND, TEXT, format!("{err}\n"))
        }
        Ok(Ok(Err(err))) => (StatusCode::CONFLICT, TEXT, format!("{err}\n")),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "the sidecar did not answer in time\n".into(),
        ),
    }
}

/// The daemon's `/status` entry, from the snapshot the shell publishes right after a command.
async fn daemon_status(api: &Api, daemon: &str) -> Reply {
    let mut view = api.view.clone();
    let _ = tokio::time::timeout(Duration::from_millis(500), view.changed()).await;
    let view = Arc::clone(&view.borrow());
    let status = view.status_json(tokio::time::Instant::now().into_std());
    let found = status.daemons.iter().find(|d| d.name == daemon);
    match found.map(serde_json::to_string_pretty) {
        Some(Ok(json)) => (StatusCode::OK, JSON, json + "\n"),
        _ => (StatusCode::OK, JSON, "{}\n".into()),
    }
}

/// Serves the API until `token` is cancelled.
pub async fn serve(
    listener: TcpListener,
    api: Api,
    token: CancellationToken,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            () = token.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("http: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let connection = connection(stream, peer, api.clone(), token.clone());
        let span = tracing::info_span!("http", %peer);
        tracker.spawn(
            async move {
                let _permit = permit;
                connection.await;
            }
            .instrument(span),
        );
    }
}

/// One connection: one request and its answer (no keep-alive), within the deadline.
async fn connection(stream: TcpStream, peer: SocketAddr, api: Api, token: CancellationToken) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(respond(&api, &request, peer).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        () = token.cancelled() => {}
        _ = tokio::time::timeout(CONNECTION_DEADLINE, connection) => {}
    }
}

async fn respond(
    api: &Api,
    request: &Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let (method, uri) = (request.method(), request.uri());
    let (status, content_type, body) = route(api, method, uri.path(), uri.query(), peer).await;
    tracing::debug!(%method, path = uri.path(), status = status.as_u16(), "request");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_from_paths() {
        assert_eq!(
            parse_command("/daemons/rgw.a/drain", None).unwrap(),
            ("rgw.a".into(), Command::Drain)
        );
        assert_eq!(
            parse_command("/daemons/rgw.lab.h1.xyz/maintenance", Some("set=off")).unwrap(),
            ("rgw.lab.h1.xyz".into(), Command::Maintenance(false))
        );
        assert_eq!(
            parse_command("/daemons/rgw.a/maintenance", None)
                .unwrap_err()
                .0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_command("/daemons/rgw.a/explode", None).unwrap_err().0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            parse_command("/status", None).unwrap_err().0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn a_non_loopback_peer_may_not_mutate() {
        let (tx, mut rx) = mpsc::channel(1);
        #[expect(
            clippy::disallowed_methods,
            reason = "a fixed instant for a test value"
        )]
        let now = std::time::Instant::now();
        let view = View {
            snapshot: Default::default(),
            at: now,
            #[expect(
                clippy::disallowed_methods,
                reason = "a fixed wall time for a test value"
            )]
            wall: std::time::SystemTime::now(),
            host: "h".into(),
            config_file: None,
            inventory: Default::default(),
            health_gate: Default::default(),
        };
        let (_keep, view_rx) = watch::channel(Arc::new(view));
        let api = Api {
            view: view_rx,
            events: Arc::new(EventLog::default()),
            metrics: Arc::new(Metrics::new()),
            commands: tx,
        };
        let outside: SocketAddr = "192.0.2.7:5555".parse().unwrap();
        let (status, _, body) =
            route(&api, &Method::POST, "/daemons/rgw.a/drain", None, outside).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("loopback peers only"), "{body}");
        assert!(rx.try_recv().is_err(), "nothing reached the machine");
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:5555".parse().unwrap();
        let (status, _, _) = route(&api, &Method::POST, "/daemons/rgw.a/drain", None, mapped).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = route(&api, &Method::GET, "/status", None, outside).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "reading is fine from anywhere the listener allows"
        );
    }
}
