//! The Ceph admin socket (`.asok`): one JSON command per connection, framed as the daemon frames
//! it (ceph's `ceph_daemon.py` and `src/common/admin_socket.cc`, checked byte for byte against
//! a 16.2.15 radosgw): send the command terminated by `\0`; read a 4-byte big-endian length,
//! then that many bytes; the daemon closes. There is no status field: an error is a reply
//! starting `ERROR: (22) ...`.
//!
//! A frozen daemon accepts the first connects and never answers, and `ceph --admin-daemon` has
//! no timeout, so every step here has a deadline. The `asok` step of a probe chain builds on it
//! (`objecter_requests`: the age of the oldest RADOS operation). Not for in-flight requests:
//! see [`super::connections`] for why.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Replies larger than this are refused (`perf dump` of an RGW is ~12 KiB; `config show` 75 KiB).
const MAX_REPLY: u32 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AsokError {
    #[error("{path}: cannot connect: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no answer within {timeout:?}")]
    Timeout { path: PathBuf, timeout: Duration },
    #[error("{path}: {message}")]
    Protocol { path: PathBuf, message: String },
    #[error("{path}: the daemon said: {message}")]
    Daemon { path: PathBuf, message: String },
}

/// Sends one command (a JSON object) and returns the reply body.
pub async fn command(path: &Path, json: &str, timeout: Duration) -> Result<Vec<u8>, AsokError> {
    let exchange = async {
        let mut stream = UnixStream::connect(path)
            .await
            .map_err(|source| AsokError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        let protocol = |message: String| AsokError::Protocol {
            path: path.to_path_buf(),
            message,
        };
        let mut request = json.as_bytes().to_vec();
        request.push(0);
        stream
            .write_all(&request)
            .await
            .map_err(|e| protocol(format!("write: {e}")))?;
        let length = stream
            .read_u32()
            .await
            .map_err(|e| protocol(format!("no length: {e}")))?;
        if length > MAX_REPLY {
            return Err(protocol(format!("reply of {length} bytes is too large")));
        }
        let mut body = vec![0u8; length as usize];
        stream
            .read_exact(&mut body)
            .await
            .map_err(|e| protocol(format!("short reply: {e}")))?;
        if body.starts_with(b"ERROR:") {
            return Err(AsokError::Daemon {
                path: path.to_path_buf(),
                message: String::from_utf8_lossy(&body).trim().replace('\n', ": "),
            });
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(AsokError::Timeout {
                path: path.to_path_buf(),
                timeout,
            })
        })
}

/// RGW's own count of requests in progress: `perf dump` → `rgw.qactive`. Not what `run` waits
/// on before a planned restart: on 16.2.15 behind HAProxy it only grows (see
/// [`super::connections`]).
pub async fn in_flight(path: &Path, timeout: Duration) -> Result<u64, AsokError> {
    let body = perf_dump(path, timeout).await?;
    qactive(&body).ok_or_else(|| AsokError::Protocol {
        path: path.to_path_buf(),
        message: "no rgw qactive counter in perf dump".into(),
    })
}

/// The daemon's [`rados_replies`], from its `perf dump`; `None` when it does not say (why is
/// logged at debug).
pub async fn replies(path: &Path, timeout: Duration) -> Option<u64> {
    match perf_dump(path, timeout).await {
        Ok(body) => rados_replies(&body),
        Err(err) => {
            tracing::debug!("asok perf dump: {err}");
            None
        }
    }
}

async fn perf_dump(path: &Path, timeout: Duration) -> Result<Vec<u8>, AsokError> {
    command(
        path,
        r#"{"prefix": "perf dump", "format": "json"}"#,
        timeout,
    )
    .await
}

/// The oldest RADOS operation a daemon is waiting for (`objecter_requests`).
#[derive(Debug, Clone, PartialEq)]
pub struct OldestOp {
    /// Seconds since it was sent.
    pub age: f64,
    /// The OSD it waits on, when known.
    pub osd: Option<i64>,
    /// Operations in flight. Not a health signal by itself: watch pings pile up on idle RGWs
    /// during a stall too (about 1.8 a second per RGW without any client traffic, measured on
    /// 16.2.15), which is why the age decides.
    pub ops: usize,
}

/// An `objecter_requests` reply that is not what a radosgw answers.
#[derive(Debug, thiserror::Error)]
pub enum ObjecterError {
    #[error("objecter_requests is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("objecter_requests has no ops list")]
    NoOps,
}

/// The oldest op of an `objecter_requests` reply, or `None` when nothing is in flight.
/// `Err` when the reply is not the expected JSON.
pub fn oldest_op(objecter_requests: &[u8]) -> Result<Option<OldestOp>, ObjecterError> {
    let value: serde_json::Value = serde_json::from_slice(objecter_requests)?;
    let ops = value
        .get("ops")
        .and_then(|ops| ops.as_array())
        .ok_or(ObjecterError::NoOps)?;
    let oldest = ops
        .iter()
        .filter_map(|op| {
            Some((
                op.get("age")?.as_f64()?,
                op.get("osd").and_then(serde_json::Value::as_i64),
            ))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Ok(oldest.map(|(age, osd)| OldestOp {
        age,
        osd,
        ops: ops.len(),
    }))
}

/// `qactive` of the RGW section of a `perf dump`, tolerant of the section's name drifting
/// (`rgw`, or a name starting with `rgw`).
pub fn qactive(perf_dump: &[u8]) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(perf_dump).ok()?;
    let sections = value.as_object()?;
    sections
        .get("rgw")
        .into_iter()
        .chain(
            sections
                .iter()
                .filter(|(k, _)| k.starts_with("rgw"))
                .map(|(_, v)| v),
        )
        .find_map(|section| section.get("qactive")?.as_u64())
}

/// Replies the daemon's RADOS clients have had from the OSDs: `op_reply` summed over the
/// `perf dump` sections named `objecter*` (radosgw 16.2.15 has two, one per RADOS handle).
/// `None` when there is none. It moves while any OSD answers the daemon, its own background
/// work included, so a count that stands still while ops wait means no OSD answers it.
pub fn rados_replies(perf_dump: &[u8]) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(perf_dump).ok()?;
    let counts: Vec<u64> = value
        .as_object()?
        .iter()
        .filter(|(name, _)| name.starts_with("objecter"))
        .filter_map(|(_, section)| section.get("op_reply")?.as_u64())
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

/// The admin socket of `daemon` (`rgw.a`) from a template such as
/// `/var/run/ceph/*/ceph-client.{name}*.asok`: `{name}` is the daemon name, `{id}` the part
/// after the type, and `*` matches within one path component. The first match, sorted.
pub fn find(template: &str, daemon: &str) -> Option<PathBuf> {
    let id = daemon.split_once('.').map_or(daemon, |(_, id)| id);
    let pattern = template.replace("{name}", daemon).replace("{id}", id);
    let mut candidates = vec![PathBuf::from(if pattern.starts_with('/') {
        "/"
    } else {
        "."
    })];
    for component in Path::new(&pattern)
        .components()
        .skip(usize::from(pattern.starts_with('/')))
    {
        let part = component.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for base in &candidates {
            if !part.contains('*') {
                let path = base.join(&part);
                if path.exists() {
                    next.push(path);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(base) else {
                continue;
            };
            let mut matched: Vec<PathBuf> = entries
                .flatten()
                .filter(|e| wildcard(&part, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect();
            matched.sort();
            next.extend(matched);
        }
        candidates = next;
    }
    candidates.into_iter().next()
}

/// How long ago `daemon`'s admin socket (found as [`find`] does) was created: when its
/// running process started, since each process binds the socket anew, replacing the file
/// (connections do not touch its mtime), as of the wall-clock time `wall`. `None` when there
/// is no socket there.
pub fn created_ago(template: &str, daemon: &str, wall: std::time::SystemTime) -> Option<Duration> {
    use std::os::unix::fs::FileTypeExt;
    let path = find(template, daemon)?;
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_socket() {
        return None;
    }
    let created = meta.modified().ok()?;
    Some(wall.duration_since(created).unwrap_or_default())
}

/// `*` matches any run of characters; everything else matches itself.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qactive_comes_from_the_real_perf_dump() {
        let sample = include_bytes!("../../tests/fixtures/asok-rgw-perf-dump.json");
        assert_eq!(qactive(sample), Some(0));
        assert_eq!(qactive(br#"{"rgw-frontend": {"qactive": 3}}"#), Some(3));
        assert_eq!(qactive(br#"{"objecter": {}}"#), None);
        assert_eq!(qactive(b"ERROR: (22)"), None);
    }

    #[test]
    fn rados_replies_sum_every_objecter_of_the_real_perf_dump() {
        let sample = include_bytes!("../../tests/fixtures/asok-rgw-perf-dump.json");
        let value: serde_json::Value = serde_json::from_slice(sample).unwrap();
        let expected: u64 = ["objecter", "objecter-0x5618e8ac31c0"]
            .iter()
            .map(|s| value[s]["op_reply"].as_u64().unwrap())
            .sum();
        assert!(expected > value["objecter"]["op_reply"].as_u64().unwrap());
        assert_eq!(rados_replies(sample), Some(expected));
        assert_eq!(rados_replies(br#"{"rgw": {"qactive": 3}}"#), None);
        assert_eq!(rados_replies(b"ERROR: (22)"), None);
    }

    #[test]
    fn the_oldest_rados_op_and_its_osd_come_from_objecter_requests() {
        let idle = include_bytes!("../../tests/fixtures/asok-rgw-objecter_requests.json");
        assert_eq!(
            oldest_op(idle).unwrap(),
            None,
            "linger ops (watches) are not in flight"
        );
        // rgw.b 20 s into a frozen OSD, captured on a 16.2.15 lab cluster.
        let stalled =
            include_bytes!("../../tests/fixtures/asok-rgw-objecter_requests-osd-frozen-20s.json");
        let oldest = oldest_op(stalled).unwrap().unwrap();
        assert!((oldest.age - 19.292).abs() < 0.001, "{oldest:?}");
        assert_eq!(oldest.osd, Some(0));
        assert!(oldest.ops > 1);
        assert!(matches!(
            oldest_op(b"ERROR"),
            Err(ObjecterError::NotJson(_))
        ));
        assert!(matches!(
            oldest_op(br#"{"linger_ops": []}"#),
            Err(ObjecterError::NoOps)
        ));
    }

    #[test]
    fn wildcards_match_within_a_component() {
        assert!(wildcard(
            "ceph-client.rgw.a*.asok",
            "ceph-client.rgw.a.7.94.asok"
        ));
        assert!(wildcard(
            "ceph-client.rgw.a*.asok",
            "ceph-client.rgw.a.asok"
        ));
        assert!(!wildcard(
            "ceph-client.rgw.a*.asok",
            "ceph-client.rgw.b.asok"
        ));
        assert!(wildcard("*", "anything"));
        assert!(wildcard("a*b*c", "aXXbYYc"));
        assert!(!wildcard("a*b*c", "aXXcYYb"));
    }

    #[test]
    fn a_sockets_age_is_its_binding_and_a_new_binding_is_a_new_process() {
        let dir = std::env::temp_dir().join(format!("ceph-warden-asok-age-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let template = format!("{}/ceph-client.{{name}}.asok", dir.display());
        #[expect(
            clippy::disallowed_methods,
            reason = "the wall clock the shell would pass, in a test"
        )]
        let wall = std::time::SystemTime::now;
        let path = dir.join("ceph-client.rgw.a.asok");
        assert_eq!(
            created_ago(&template, "rgw.a", wall()),
            None,
            "no socket yet"
        );
        std::fs::write(&path, "not a socket").unwrap();
        assert_eq!(
            created_ago(&template, "rgw.a", wall()),
            None,
            "a plain file is no process"
        );
        std::fs::remove_file(&path).unwrap();
        let old = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // The old process's socket, bound an hour ago; connections leave its age alone.
        let hour_ago = nix::sys::time::TimeSpec::new(
            i64::try_from(
                wall()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs(),
            )
            .unwrap()
                - 3600,
            0,
        );
        nix::sys::stat::utimensat(
            None,
            &path,
            &hour_ago,
            &hour_ago,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
        drop(std::os::unix::net::UnixStream::connect(&path).unwrap());
        let age = created_ago(&template, "rgw.a", wall()).unwrap();
        assert!(
            (3599..3700).contains(&age.as_secs()),
            "an hour old after a connection: {age:?}"
        );
        // A new process unlinks it and binds its own.
        drop(old);
        std::fs::remove_file(&path).unwrap();
        let _new = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let age = created_ago(&template, "rgw.a", wall()).unwrap();
        assert!(age < Duration::from_secs(60), "{age:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fake admin socket that answers every connection with `reply` (raw bytes), or never
    /// answers when `reply` is `None`.
    async fn fake_socket(
        tag: &str,
        reply: Option<Vec<u8>>,
    ) -> (PathBuf, tokio::task::JoinHandle<()>) {
        let dir = std::env::temp_dir().join(format!(
            "ceph-warden-fake-asok-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fake.asok");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 1024];
                    let _ = stream.read(&mut request).await;
                    match reply {
                        Some(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        (path, task)
    }

    /// Stops a [`fake_socket`] and removes its directory.
    fn done(path: &Path, task: tokio::task::JoinHandle<()>) {
        task.abort();
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[tokio::test]
    async fn a_reply_is_framed_by_its_length() {
        let (path, task) = fake_socket("ok", Some(framed(br#"{"version":"16.2.15"}"#))).await;
        let body = command(&path, r#"{"prefix":"version"}"#, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(body, br#"{"version":"16.2.15"}"#);
        done(&path, task);
    }

    #[tokio::test]
    async fn an_error_reply_is_an_error() {
        let (path, task) = fake_socket(
            "err",
            Some(framed(
                b"ERROR: (22) Invalid argument\nunknown command prefix x\n",
            )),
        )
        .await;
        let err = command(&path, r#"{"prefix":"x"}"#, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(
            err.to_string().ends_with(
                "the daemon said: ERROR: (22) Invalid argument: unknown command prefix x"
            ),
            "{err}"
        );
        done(&path, task);
    }

    #[tokio::test]
    async fn a_short_reply_and_an_oversized_length_are_protocol_errors() {
        let mut short = 100u32.to_be_bytes().to_vec();
        short.extend_from_slice(b"{\"only\": 10}");
        let (path, task) = fake_socket("short", Some(short)).await;
        let err = command(&path, "{}", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(
            matches!(err, AsokError::Protocol { .. }) && err.to_string().contains("short reply"),
            "{err}"
        );
        done(&path, task);
        let (path, task) = fake_socket("huge", Some(u32::MAX.to_be_bytes().to_vec())).await;
        let err = command(&path, "{}", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("reply of 4294967295 bytes is too large"),
            "{err}"
        );
        done(&path, task);
    }

    #[tokio::test]
    async fn a_daemon_that_never_answers_costs_the_deadline_and_no_more() {
        let (path, task) = fake_socket("silent", None).await;
        let start = tokio::time::Instant::now();
        let err = command(&path, "{}", Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, AsokError::Timeout { .. }), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        done(&path, task);
    }

    #[test]
    fn the_socket_is_found_through_a_glob() {
        let dir = std::env::temp_dir().join(format!("ceph-warden-asok-{}", std::process::id()));
        let fsid = dir.join("1234-fsid");
        std::fs::create_dir_all(&fsid).unwrap();
        std::fs::write(fsid.join("ceph-client.rgw.lab.h1.x.7.94.asok"), "").unwrap();
        std::fs::write(fsid.join("ceph-client.rgw.other.asok"), "").unwrap();
        let template = format!("{}/*/ceph-client.{{name}}*.asok", dir.display());
        assert_eq!(
            find(&template, "rgw.lab.h1.x"),
            Some(fsid.join("ceph-client.rgw.lab.h1.x.7.94.asok"))
        );
        assert_eq!(find(&template, "rgw.nope"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
