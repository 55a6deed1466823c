//! HAProxy's per-request log (`option httplog`, one line per request, the request's id in the
//! captured `X-Bench-Id` header), and the cause of each client error read from its line.
//!
//! The fields are those of HAProxy 2.6's configuration manual, §8.2.3 (HTTP log format); the
//! termination state's meaning is its §8.5 (session state at disconnection): first character
//! the event that ended the session (`C` client abort, `S` server abort or refusal, `s` server
//! timeout, `D` killed because the server was marked down with `on-marked-down
//! shutdown-sessions`, `K` killed by an admin, `-` normal...), second the session's phase then
//! (`Q` queue, `C` connecting, `H` waiting for the response headers, `D` data...).

use std::collections::HashMap;

use harness::ingress::Outcome;

/// One request's line.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// `backend/server`'s server (`<NOSRV>`: none was chosen).
    pub server: String,
    /// HTTP status HAProxy logged (-1: none).
    pub status: i32,
    /// The termination state, 4 characters (`----`, `sH--`, `SC--`, `SD--`, `CD--`...).
    pub term: String,
    /// Connection retries; `redispatched` when the count had HAProxy's `+` (sent to another
    /// server after the retries).
    pub retries: u32,
    pub redispatched: bool,
    /// TR/Tw/Tc/Tr/Ta in ms (-1: that phase was never reached).
    pub timers: [i64; 5],
}

/// The lines of a log that carry a request id, by id. Other lines (HAProxy's own notices,
/// server state changes) are skipped.
pub fn parse(text: &str) -> HashMap<String, LogLine> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<(String, LogLine)> {
    // client [date] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes - - term
    // act/fe/be/srv/retries queues {captured} "request"
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let id = tokens.get(12)?.strip_prefix('{')?.strip_suffix('}')?;
    if id.is_empty() || !tokens.get(1)?.starts_with('[') {
        return None;
    }
    let server = tokens.get(3)?.split_once('/')?.1.to_string();
    let mut timers = [-1i64; 5];
    for (slot, value) in timers.iter_mut().zip(tokens.get(4)?.split('/')) {
        *slot = value.trim_start_matches('+').parse().unwrap_or(-1);
    }
    let retries_field = tokens.get(10)?.rsplit('/').next()?;
    Some((
        id.to_string(),
        LogLine {
            server,
            status: tokens.get(5)?.parse().ok()?,
            term: (*tokens.get(9)?).to_string(),
            retries: retries_field.trim_start_matches('+').parse().unwrap_or(0),
            redispatched: retries_field.starts_with('+'),
            timers,
        },
    ))
}

/// The causes in the order the report lists them.
pub const CAUSES: [&str; 16] = [
    NO_SERVER,
    NO_SERVER_RETRIED,
    KILLED_DOWN,
    KILLED_ADMIN,
    TIMEOUT_HEADERS,
    TIMEOUT_BODY,
    QUEUE_TIMEOUT,
    CONNECT_TIMEOUT,
    REFUSED,
    CLOSED_HEADERS,
    CLOSED_BODY,
    CLIENT,
    RGW_ANSWER,
    TRUNCATED_COMPLETE,
    NO_LOG,
    OTHER,
];
pub const NO_SERVER: &str = "no server in rotation on arrival (`<NOSRV>` 503)";
pub const NO_SERVER_RETRIED: &str = "no server in rotation after HAProxy retried it (`<NOSRV>` 503, retries `+N`: its session on a server taken down was killed and replayed)";
pub const KILLED_DOWN: &str =
    "killed when HAProxy marked its server down (`D…`: `on-marked-down shutdown-sessions`)";
pub const KILLED_ADMIN: &str = "killed by an admin action (`K…`)";
pub const TIMEOUT_HEADERS: &str =
    "server timeout before the response headers (`sH` 504: `timeout server`)";
pub const TIMEOUT_BODY: &str = "server timeout in the body (`sD`)";
pub const QUEUE_TIMEOUT: &str = "queue timeout (`sQ` 503)";
pub const CONNECT_TIMEOUT: &str = "connect timeout (`sC`)";
pub const REFUSED: &str = "connection refused on every retry (`SC` 503)";
pub const CLOSED_HEADERS: &str = "server closed or reset before the headers (`SH` 502)";
pub const CLOSED_BODY: &str = "server closed or reset in the body: a truncated download (`SD`)";
pub const CLIENT: &str = "client-side abort or timeout (`C…`/`c…`)";
pub const RGW_ANSWER: &str = "the RGW's own error answer (`----`, e.g. 503 SlowDown)";
pub const TRUNCATED_COMPLETE: &str =
    "truncated at the client, HAProxy logged it complete (`----` 200)";
pub const NO_LOG: &str = "no log line (the client failed before HAProxy logged)";
pub const OTHER: &str = "other termination states";

/// Why client request `outcome` failed, from its log line (None: HAProxy logged none).
/// Returns the cause and, for the rare ones, a detail (the termination state and status, or
/// what the client saw).
pub fn cause(outcome: &Outcome, line: Option<&LogLine>) -> (&'static str, String) {
    let client = match &outcome.result {
        Ok(code) => format!("HTTP {code}"),
        Err(kind) => kind.clone(),
    };
    let Some(line) = line else {
        return (NO_LOG, format!("client saw `{client}`"));
    };
    let mut flags = line.term.chars();
    let (first, second) = (flags.next().unwrap_or('?'), flags.next().unwrap_or('?'));
    let detail = format!("`{}` {} (client saw `{client}`)", line.term, line.status);
    let cause = match (first, second) {
        _ if line.server == "<NOSRV>" && line.status == 503 => {
            if line.retries > 0 || line.redispatched {
                NO_SERVER_RETRIED
            } else {
                NO_SERVER
            }
        }
        ('D', _) => KILLED_DOWN,
        ('K', _) => KILLED_ADMIN,
        ('s', 'H') => TIMEOUT_HEADERS,
        ('s', 'D') => TIMEOUT_BODY,
        ('s', 'Q') => QUEUE_TIMEOUT,
        ('s', 'C') => CONNECT_TIMEOUT,
        ('S', 'C') => REFUSED,
        ('S', 'H') => CLOSED_HEADERS,
        ('S', 'D') => CLOSED_BODY,
        ('C' | 'c', _) => CLIENT,
        ('-', '-') if line.status != 200 => RGW_ANSWER,
        ('-', '-') => TRUNCATED_COMPLETE,
        _ => OTHER,
    };
    (cause, detail)
}
