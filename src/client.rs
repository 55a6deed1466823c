//! The operator commands `status`, `drain`, `undrain`, `restart`, `reset` and `maintenance`:
//! thin clients of the sidecar's HTTP API, with readable output.
//!
//! The API is found by `--api HOST:PORT|URL`, else by `run.http-listen` of the configuration
//! (`--config`, or the default file when it exists), else at the default `127.0.0.1:9481`.
//! `restart --wait` follows the daemon's transitions in `GET /events` until the restart is over.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::cli::{ApiArgs, Command, OnOff, RestartArgs};
use crate::exitcode;

/// The sidecar could not be reached (the exit code `check` uses for "the job could not be
/// done"; nothing was changed).
const UNREACHABLE: u8 = exitcode::ORCHESTRATOR;
/// One request, connection to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// `restart --wait`: how often the daemon's state is read.
const POLL_EVERY: Duration = Duration::from_millis(250);
/// `restart --wait`: the default bound; a restart is verified within `restart-timeout`
/// (default 120 s) after the drain (at most `drain-timeout`, 30 s), so this is generous.
const DEFAULT_WAIT: Duration = Duration::from_secs(600);
/// `restart --wait`: how long the API may stay unreachable (the sidecar restarting) before
/// the wait is given up.
const LOST_API_GRACE: Duration = Duration::from_secs(15);

/// The base URL of the sidecar's API, `http://HOST:PORT` (no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl(String);

impl ApiUrl {
    /// `--api`: `HOST:PORT` (`127.0.0.1:9481`, `[::1]:9481`, `localhost:9481`) or an
    /// `http://` URL. The error says what to write; clap puts the flag's name before it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let example = "write HOST:PORT like 127.0.0.1:9481 or [::1]:9481, or a URL like http://127.0.0.1:9481";
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{text} is a port alone; {example}"));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            let url =
                reqwest::Url::parse(text).map_err(|err| format!("not a URL ({err}); {example}"))?;
            return match scheme.to_ascii_lowercase().as_str() {
                "http" if url.host_str().is_some_and(|h| !h.is_empty()) => {
                    if url.query().is_some() || url.fragment().is_some() {
                        return Err(format!("a query or fragment has no place here; {example}"));
                    }
                    Ok(Self(url.as_str().trim_end_matches('/').to_string()))
                }
                "http" => Err(format!("no host; {example}")),
                "https" => Err(format!(
                    "the API speaks plain HTTP (it listens on loopback by default); {example}"
                )),
                other => Err(format!("{other}:// is not HTTP; {example}")),
            };
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(format!("no port; {example}"));
        };
        if host.is_empty() {
            return Err(format!("no host; {example}"));
        }
        if host.contains(':') && !host.starts_with('[') {
            return Err(format!(
                "an IPv6 address needs brackets, like [::1]:9481; {example}"
            ));
        }
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{port:?} is not a port; {example}"));
        }
        if text.contains(['/', '?', '#', '@']) {
            return Err(format!("HOST:PORT has no path; {example}"));
        }
        let url = reqwest::Url::parse(&format!("http://{text}"))
            .map_err(|err| format!("not HOST:PORT ({err}); {example}"))?;
        if url.port_or_known_default().is_none() {
            return Err(format!("no port; {example}"));
        }
        Ok(Self(format!("http://{text}")))
    }

    /// Where to connect for a listen address: a wildcard listens on loopback too.
    pub fn from_listen(addr: SocketAddr) -> Self {
        let ip = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Self(format!("http://{}", SocketAddr::new(ip, addr.port())))
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the API address came from, for the message when it does not answer.
enum Source {
    Flag,
    Config(PathBuf),
    Default,
}

/// Why a request did not get an answer from the API.
#[derive(Debug, thiserror::Error)]
enum ClientError {
    #[error("ceph-warden: cannot reach the sidecar's API at {api} ({cause}): is ceph-warden running (systemctl status ceph-warden)? {hint}")]
    Unreachable {
        api: ApiUrl,
        cause: String,
        hint: String,
    },
    #[error("ceph-warden: {api} did not answer as the sidecar's API does ({cause}): is it run.http-listen, not run.agent-listen?")]
    NotTheApi { api: ApiUrl, cause: String },
    #[error("ceph-warden: {what} refused ({status}): {body}")]
    Refused {
        what: String,
        status: u16,
        body: String,
    },
}

impl ClientError {
    /// Says it on stderr; the exit code.
    fn report(self) -> u8 {
        eprintln!("{self}");
        match self {
            Self::Unreachable { .. } | Self::NotTheApi { .. } => UNREACHABLE,
            Self::Refused { .. } => exitcode::UNHEALTHY,
        }
    }
}

/// The API, and how to talk to it.
struct Api {
    url: ApiUrl,
    source: Source,
    client: reqwest::Client,
}

impl Api {
    async fn request(&self, method: &str, path: &str) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.url);
        let request = if method == "GET" {
            self.client.get(&url)
        } else {
            self.client.post(&url)
        };
        let response = request.send().await.map_err(|err| self.unreachable(&err))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|err| self.unreachable(&err))?;
        if !status.is_success() {
            return Err(ClientError::Refused {
                what: format!("{method} {path}"),
                status: status.as_u16(),
                body: body.trim().to_string(),
            });
        }
        Ok(body)
    }

    /// The transitions after event `since`: (seq, daemon, transition).
    async fn events(&self, since: u64) -> Result<Vec<(u64, String, Transition)>, ClientError> {
        let body = self
            .request("GET", &format!("/events?since={since}"))
            .await?;
        Ok(body
            .lines()
            .filter_map(|line| {
                let e: Value = serde_json::from_str(line).ok()?;
                let text = |key: &str| e.get(key)?.as_str().map(str::to_string);
                Some((
                    e.get("seq")?.as_u64()?,
                    text("daemon")?,
                    Transition {
                        from: text("from")?,
                        to: text("to")?,
                        word: text("word").unwrap_or_default(),
                        reason: text("reason").unwrap_or_default(),
                    },
                ))
            })
            .collect())
    }

    /// The number of the latest event (0 when there is none).
    async fn last_event(&self) -> Result<u64, ClientError> {
        Ok(self.events(0).await?.last().map_or(0, |(seq, _, _)| *seq))
    }

    fn unreachable(&self, err: &reqwest::Error) -> ClientError {
        let cause = cause(err);
        if err.is_connect() || err.is_timeout() {
            ClientError::Unreachable {
                api: self.url.clone(),
                cause,
                hint: match &self.source {
                    Source::Flag => "Is run.http-listen the address given to --api?".into(),
                    Source::Config(path) => format!(
                        "Does it listen where run.http-listen in {} says (was the file changed since it started)?",
                        path.display()
                    ),
                    Source::Default => {
                        "Is run.http-listen this address (--api, or --config to read it)?".into()
                    }
                },
            }
        } else {
            ClientError::NotTheApi {
                api: self.url.clone(),
                cause,
            }
        }
    }
}

/// The innermost reason of a reqwest error, in a few words (`connection refused`).
fn cause(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {}s", REQUEST_TIMEOUT.as_secs());
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut innermost = err.to_string();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::TimedOut => "connection timed out".into(),
                _ => io.to_string(),
            };
        }
        innermost = e.to_string();
        source = e.source();
    }
    innermost
}

/// Runs a client command; returns the exit code (0 done, 1 refused by the sidecar or, for
/// `restart --wait`, the restart did not bring the daemon back, 3 the sidecar could not be
/// reached, 78 the configuration naming the API is wrong).
pub async fn main(command: Command) -> u8 {
    let Some((api_args, method, path)) = request_of(&command) else {
        return exitcode::INTERNAL;
    };
    let api = match connect(api_args) {
        Ok(api) => api,
        Err(code) => return code,
    };
    let done = match restart_wait(&command) {
        Some((daemon, timeout)) => restart_and_wait(&api, &path, daemon, timeout).await,
        None => ask(&api, method, &path).await,
    };
    done.unwrap_or_else(ClientError::report)
}

/// The request a client command makes: where the API is, the method and the path.
fn request_of(command: &Command) -> Option<(&ApiArgs, &'static str, String)> {
    Some(match command {
        Command::Status { api, json } => (api, "GET", if *json { "/status" } else { "/" }.into()),
        Command::Drain(t) => (&t.api, "POST", format!("/daemons/{}/drain", t.daemon)),
        Command::Undrain(t) => (&t.api, "POST", format!("/daemons/{}/undrain", t.daemon)),
        Command::Restart(r) => (
            &r.target.api,
            "POST",
            format!("/daemons/{}/restart", r.target.daemon),
        ),
        Command::Reset(t) => (&t.api, "POST", format!("/daemons/{}/reset", t.daemon)),
        Command::Maintenance { target, set } => (
            &target.api,
            "POST",
            format!(
                "/daemons/{}/maintenance?set={}",
                target.daemon,
                if *set == OnOff::On { "on" } else { "off" }
            ),
        ),
        _ => return None,
    })
}

/// `restart --wait`: the daemon, and how long to wait for it.
fn restart_wait(command: &Command) -> Option<(&str, Duration)> {
    match command {
        Command::Restart(RestartArgs {
            target,
            wait: true,
            timeout,
        }) => Some((&target.daemon, timeout.unwrap_or(DEFAULT_WAIT))),
        _ => None,
    }
}

/// One request; prints the answer (a POST's, the daemon's new state, as one readable line).
async fn ask(api: &Api, method: &str, path: &str) -> Result<u8, ClientError> {
    let body = api.request(method, path).await?;
    if method == "GET" {
        print!("{body}");
    } else {
        print!("{}", readable(&body));
    }
    Ok(exitcode::OK)
}

/// `restart --wait`: asks for the restart, then follows the daemon until it is back, is not
/// coming back, or `timeout` passed.
async fn restart_and_wait(
    api: &Api,
    path: &str,
    daemon: &str,
    timeout: Duration,
) -> Result<u8, ClientError> {
    // Only the transitions after this one can belong to the restart asked for now.
    let since = api.last_event().await?;
    let start = Instant::now();
    let body = api.request("POST", path).await?;
    print!("{}", readable(&body));
    let answer = serde_json::from_str::<Value>(&body).unwrap_or(Value::Null);
    let mut watch = RestartWatch::new(daemon, &answer);
    Ok(watch.follow(api, since, start, timeout).await)
}

/// The API the flags point at, with its HTTP client; or the exit code after saying why not.
fn connect(args: &ApiArgs) -> Result<Api, u8> {
    let (url, source) = match (&args.api, &args.config) {
        (Some(url), _) => (url.clone(), Source::Flag),
        (None, config) => match crate::config::http_listen(config.as_deref()) {
            Ok((addr, _)) if addr.port() == 0 => {
                eprintln!(
                    "ceph-warden: error: run.http-listen {addr} has port 0 (a free port chosen at start): pass --api HOST:PORT"
                );
                return Err(exitcode::CONFIG);
            }
            Ok((addr, file)) => (
                ApiUrl::from_listen(addr),
                file.map_or(Source::Default, Source::Config),
            ),
            Err(err) => {
                eprintln!("ceph-warden: error: {err} (needed to find the sidecar's API; or pass --api HOST:PORT)");
                return Err(exitcode::CONFIG);
            }
        },
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|err| {
            eprintln!("ceph-warden: error: cannot make an HTTP client: {err}");
            exitcode::INTERNAL
        })?;
    Ok(Api {
        url,
        source,
        client,
    })
}

/// A state change of the daemon, from `/events`.
#[derive(Debug, Clone, PartialEq)]
struct Transition {
    from: String,
    to: String,
    word: String,
    reason: String,
}

/// What `restart --wait` concludes from a transition.
#[derive(Debug, PartialEq)]
enum Outcome {
    Waiting,
    Back,
    NotBack(String),
}

/// `restart --wait`: follows one daemon's transitions in `/events` (every one of them, so a
/// short state between two polls is never missed). It counts the restart as begun only once
/// the daemon was seen `restarting` or `recovering`: the state from before (healthy) is never
/// taken for the restart's success, nor a failure from before for its failure.
#[derive(Debug)]
struct RestartWatch {
    name: String,
    began: bool,
    /// The last state seen, and why, for the message when the wait ends without an outcome.
    last: Option<(String, String)>,
}

impl RestartWatch {
    /// `answer`: the POST's answer, the daemon's state right after the request.
    fn new(name: &str, answer: &Value) -> Self {
        let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_string);
        let state = text("state");
        Self {
            name: name.to_string(),
            // Already restarting (an automatic restart): the command joined it.
            began: matches!(state.as_deref(), Some("restarting" | "recovering")),
            last: state.map(|s| (s, text("reason").unwrap_or_default())),
        }
    }

    fn observe(&mut self, t: &Transition) -> Outcome {
        self.last = Some((t.to.clone(), t.reason.clone()));
        match t.to.as_str() {
            "restarting" | "recovering" => {
                self.began = true;
                Outcome::Waiting
            }
            "healthy" | "busy" | "degraded" if self.began => Outcome::Back,
            "failed" | "held" if self.began => Outcome::NotBack(format!(
                "{}: {}; the sidecar goes on by itself (automatic restarts while the budget lasts; `ceph-warden reset` clears a hold)",
                t.to, t.reason
            )),
            "maintenance" => Outcome::NotBack(format!(
                "put in maintenance before it was back: {}",
                t.reason
            )),
            _ => Outcome::Waiting,
        }
    }

    /// Polls `/events` after `since` every [`POLL_EVERY`] until an outcome or `timeout`
    /// (counted from `start`, when the restart was asked for); prints each transition.
    async fn follow(&mut self, api: &Api, mut since: u64, start: Instant, timeout: Duration) -> u8 {
        let mut lost_since: Option<Instant> = None;
        loop {
            match api.events(since).await {
                Ok(records) => {
                    // The sidecar may have been restarted, numbering its events anew.
                    if lost_since.take().is_some()
                        && api.last_event().await.is_ok_and(|last| last < since)
                    {
                        since = 0;
                        continue;
                    }
                    if let Some(code) = self.show(records, &mut since, start) {
                        return code;
                    }
                }
                Err(err @ ClientError::Refused { .. }) => return err.report(),
                Err(err) => {
                    let lost = *lost_since.get_or_insert_with(Instant::now);
                    if lost.elapsed() >= LOST_API_GRACE {
                        return err.report();
                    }
                }
            }
            if start.elapsed() >= timeout {
                return self.gave_up(api, timeout).await;
            }
            tokio::time::sleep(POLL_EVERY.min(timeout.saturating_sub(start.elapsed()))).await;
        }
    }

    /// Prints the daemon's transitions among `records`, moving `since` past each record; the
    /// exit code when one ends the wait.
    fn show(
        &mut self,
        records: Vec<(u64, String, Transition)>,
        since: &mut u64,
        start: Instant,
    ) -> Option<u8> {
        for (seq, daemon, t) in records {
            *since = (*since).max(seq);
            if daemon != self.name || t.from == t.to {
                continue;
            }
            let name = &self.name;
            println!(
                "{:>7}  {name} {} -> {} ({}): {}",
                crate::status::short(start.elapsed()),
                t.from,
                t.to,
                t.word,
                t.reason
            );
            match self.observe(&t) {
                Outcome::Back => {
                    println!(
                        "{} is back in rotation, {} after the restart was asked for",
                        self.name,
                        crate::status::short(start.elapsed())
                    );
                    return Some(exitcode::OK);
                }
                Outcome::NotBack(why) => {
                    eprintln!(
                        "ceph-warden: {}: the restart did not bring it back: {why}",
                        self.name
                    );
                    return Some(exitcode::UNHEALTHY);
                }
                Outcome::Waiting => {}
            }
        }
        None
    }

    /// The timeout passed: say what the daemon is doing now (or was last seen doing).
    async fn gave_up(&self, api: &Api, timeout: Duration) -> u8 {
        let now = api.request("GET", "/status").await.ok().and_then(|body| {
            let status = serde_json::from_str::<Value>(&body).ok()?;
            let daemon = status
                .get("daemons")?
                .as_array()?
                .iter()
                .find(|d| d.get("name").and_then(Value::as_str) == Some(self.name.as_str()))?;
            let text = |key: &str| daemon.get(key)?.as_str().map(str::to_string);
            Some((text("state")?, text("reason").unwrap_or_default()))
        });
        let doing = now.or_else(|| self.last.clone()).map_or_else(
            || "nothing".to_string(),
            |(state, reason)| format!("{state} ({reason})"),
        );
        eprintln!(
            "ceph-warden: {}: gave up waiting after {}: last seen {doing}; the sidecar goes on with it (ceph-warden status)",
            self.name,
            humantime::format_duration(timeout)
        );
        exitcode::UNHEALTHY
    }
}

/// `rgw.a: draining, HAProxy is told "drain" (drained by the operator)` from the daemon JSON.
fn readable(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return body.to_string();
    };
    let text = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string()
    };
    format!(
        "{}: {}, HAProxy is told \"{}\" ({})\n",
        text("name"),
        text("state"),
        text("agent_word"),
        text("reason")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_from_flags_and_listen_addresses() {
        for (text, want) in [
            ("127.0.0.1:39481", "http://127.0.0.1:39481"),
            ("[::1]:9481", "http://[::1]:9481"),
            ("localhost:9481", "http://localhost:9481"),
            ("http://127.0.0.1:9481/", "http://127.0.0.1:9481"),
            ("HTTP://LOCALHOST:9481", "http://localhost:9481"),
            ("http://10.0.0.5", "http://10.0.0.5"),
        ] {
            assert_eq!(ApiUrl::parse(text).unwrap().to_string(), want, "{text}");
        }
        for (text, want) in [
            ("localhost", "no port"),
            ("9481", "9481 is a port alone"),
            ("127.0.0.1", "no port"),
            (":9481", "no host"),
            ("::1:9481", "needs brackets"),
            ("127.0.0.1:94x", "\"94x\" is not a port"),
            ("127.0.0.1:99999", "not HOST:PORT"),
            ("127.0.0.1:9481/status", "\"9481/status\" is not a port"),
            ("https://127.0.0.1:9481", "plain HTTP"),
            ("ftp://127.0.0.1:9481", "ftp:// is not HTTP"),
            ("http://", "not a URL"),
        ] {
            let err = ApiUrl::parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
            assert!(err.contains("write HOST:PORT like 127.0.0.1:9481"), "{err}");
        }
        assert_eq!(
            ApiUrl::from_listen("0.0.0.0:9481".parse().unwrap()).to_string(),
            "http://127.0.0.1:9481"
        );
        assert_eq!(
            ApiUrl::from_listen("[::]:9481".parse().unwrap()).to_string(),
            "http://[::1]:9481"
        );
        assert_eq!(
            ApiUrl::from_listen("10.1.2.3:9481".parse().unwrap()).to_string(),
            "http://10.1.2.3:9481"
        );
    }

    fn to(state: &str) -> Transition {
        Transition {
            from: "x".into(),
            to: state.into(),
            word: "w".into(),
            reason: format!("why {state}"),
        }
    }

    #[test]
    fn healthy_counts_only_after_the_restart_was_seen_under_way() {
        let draining =
            serde_json::json!({"state": "draining", "reason": "planned restart: draining"});
        // A healthy from before the restart began is not its success.
        let mut watch = RestartWatch::new("rgw.a", &draining);
        assert_eq!(watch.observe(&to("healthy")), Outcome::Waiting);
        assert_eq!(watch.observe(&to("draining")), Outcome::Waiting);
        assert_eq!(watch.observe(&to("restarting")), Outcome::Waiting);
        assert_eq!(watch.observe(&to("recovering")), Outcome::Waiting);
        assert_eq!(watch.observe(&to("healthy")), Outcome::Back);

        // A failure from before is not its failure; one after it is, even when the daemon
        // comes back by itself right after (a restart command that failed).
        let mut watch = RestartWatch::new("rgw.a", &draining);
        assert_eq!(watch.observe(&to("failed")), Outcome::Waiting);
        assert_eq!(watch.observe(&to("restarting")), Outcome::Waiting);
        let Outcome::NotBack(why) = watch.observe(&to("failed")) else {
            panic!("failed after the restart is the end");
        };
        assert!(
            why.starts_with("failed: why failed; the sidecar goes on"),
            "{why}"
        );

        // Joined an automatic restart under way: its end is this command's end.
        let restarting =
            serde_json::json!({"state": "restarting", "reason": "restart requested (attempt 1)"});
        let mut watch = RestartWatch::new("rgw.a", &restarting);
        assert!(matches!(watch.observe(&to("held")), Outcome::NotBack(_)));
        let mut watch = RestartWatch::new("rgw.a", &restarting);
        assert_eq!(watch.observe(&to("busy")), Outcome::Back);
        let mut watch = RestartWatch::new("rgw.a", &draining);
        assert!(matches!(
            watch.observe(&to("maintenance")),
            Outcome::NotBack(_)
        ));
        assert_eq!(
            watch.last,
            Some(("maintenance".to_string(), "why maintenance".to_string()))
        );
    }
}
