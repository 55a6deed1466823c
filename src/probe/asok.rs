//! The Ceph admin socket (`.asok`): one JSON command per connection, framed as the daemon frames
//! it (facts/ceph-lab-notes.md, facts/samples/asok-raw-protocol-transcript.txt): send the
//! command terminated by `\0`; read a 4-byte big-endian length, then that many bytes; the
//! daemon closes. There is no status field: an error is a reply starting `ERROR: (22) ...`.
//!
//! A frozen daemon accepts the first connects and never answers, and `ceph --admin-daemon` has
//! no timeout, so every step here has a deadline. The deep probe builds on it (`perf dump`,
//! `objecter_requests`). Not for in-flight requests: see [`super::connections`] for why.

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

/// Requests RGW is serving right now: `perf dump` → `rgw.qactive`.
pub async fn in_flight(path: &Path, timeout: Duration) -> Result<u64, AsokError> {
    let body = command(
        path,
        r#"{"prefix": "perf dump", "format": "json"}"#,
        timeout,
    )
    .await?;
    qactive(&body).ok_or_else(|| AsokError::Protocol {
        path: path.to_path_buf(),
        message: "no rgw qactive counter in perf dump".into(),
    })
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
