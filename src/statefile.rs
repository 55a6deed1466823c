//! The state file (`<state-directory>/state.json`): what must survive a sidecar restart.
//!
//! Operator flags (maintenance, drain) and restart history, so a SIGKILLed sidecar serves the
//! drain again from its first poll and cannot escape its restart budget by restarting; and the
//! last good `ceph orch ps` output, so probing goes on when the orchestrator does not answer at
//! start. Written atomically (temporary file, fsync, rename). A file that cannot be read is
//! moved aside, never deleted, and the sidecar starts without it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::machine::Persisted;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    #[serde(default)]
    daemons: BTreeMap<String, SavedDaemon>,
    /// The last good `ceph orch ps --format json` output, verbatim.
    #[serde(default)]
    inventory: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedDaemon {
    #[serde(default)]
    maintenance: bool,
    #[serde(default)]
    drained: bool,
    /// Unix times (seconds) of the restart attempts in the window.
    #[serde(default)]
    restarts: Vec<f64>,
    /// HAProxy was told a `maxconn` for it (a hold); written only when true, so a file
    /// without a hold reads the same to an older sidecar.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    maxconn_told: bool,
}

/// What was loaded.
#[derive(Debug, Default)]
pub struct Loaded {
    pub daemons: BTreeMap<String, Persisted>,
    pub inventory: Option<String>,
    /// Set when the file could not be used: what happened to it.
    pub warning: Option<String>,
}

pub fn path_in(state_directory: &Path) -> PathBuf {
    state_directory.join("state.json")
}

/// Reads the state file; `now` is the wall clock, to turn saved times into ages.
pub fn load(path: &Path, now: SystemTime) -> Loaded {
    let file = match read(path, now) {
        Ok(Some(file)) => file,
        Ok(None) => return Loaded::default(),
        Err(warning) => {
            return Loaded {
                warning: Some(warning),
                ..Loaded::default()
            }
        }
    };
    let now_secs = unix_seconds(now);
    Loaded {
        daemons: file
            .daemons
            .into_iter()
            .map(|(name, saved)| (name, saved.persisted(now_secs)))
            .collect(),
        inventory: file.inventory,
        warning: None,
    }
}

/// The file; `None` when there is none; `Err`: why it cannot be used, and what became of it.
fn read(path: &Path, now: SystemTime) -> Result<Option<StateFile>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(format!(
                "cannot read {}: {err}; starting without it",
                path.display()
            ))
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|err| set_aside(path, &err, now))
}

/// Moves a file that is not a state file aside, never deleting it; the warning that says so.
fn set_aside(path: &Path, err: &serde_json::Error, now: SystemTime) -> String {
    let aside = path.with_extension(format!(
        "json.unreadable-{}",
        now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
    ));
    let moved = std::fs::rename(path, &aside).is_ok();
    format!(
        "{} is not a state file ({err}); {}; starting without it",
        path.display(),
        if moved {
            format!("kept as {}", aside.display())
        } else {
            "left in place".to_string()
        }
    )
}

/// Writes the state file atomically.
pub fn save(
    path: &Path,
    daemons: &BTreeMap<String, Persisted>,
    inventory: Option<&str>,
    now: SystemTime,
) -> std::io::Result<()> {
    let now_secs = unix_seconds(now);
    let file = StateFile {
        version: 1,
        daemons: daemons
            .iter()
            .map(|(name, p)| (name.clone(), SavedDaemon::of(p, now_secs)))
            .collect(),
        inventory: inventory.map(str::to_string),
    };
    let json = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    {
        let mut out = std::fs::File::create(&tmp)?;
        out.write_all(json.as_bytes())?;
        out.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The saved times are Unix times; the machine counts ages.
fn unix_seconds(now: SystemTime) -> f64 {
    now.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl SavedDaemon {
    fn of(p: &Persisted, now_secs: f64) -> Self {
        Self {
            maintenance: p.maintenance,
            drained: p.drained,
            restarts: p
                .restart_ages
                .iter()
                .map(|age| now_secs - age.as_secs_f64())
                .collect(),
            maxconn_told: p.maxconn_told,
        }
    }

    fn persisted(self, now_secs: f64) -> Persisted {
        Persisted {
            maintenance: self.maintenance,
            drained: self.drained,
            restart_ages: self
                .restarts
                .iter()
                .filter_map(|at| Duration::try_from_secs_f64(now_secs - at).ok())
                .collect(),
            maxconn_told: self.maxconn_told,
        }
    }
}

/// Makes sure the state directory exists and takes a file, as [`save`] will need: a sidecar that
/// cannot persist would promise drains and restart budgets that a restart of it forgets.
pub fn check_writable(state_directory: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(state_directory)?;
    let probe = state_directory.join(".write-test");
    let written = std::fs::File::create(&probe).and_then(|mut f| {
        f.write_all(b"ceph-warden\n")?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ceph-warden-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn flags_history_and_inventory_survive_a_round_trip() {
        let dir = dir("roundtrip");
        let path = path_in(&dir);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut daemons = BTreeMap::new();
        daemons.insert(
            "rgw.a".to_string(),
            Persisted {
                maintenance: false,
                drained: true,
                restart_ages: vec![Duration::from_secs(60)],
                maxconn_told: false,
            },
        );
        daemons.insert(
            "rgw.b".to_string(),
            Persisted {
                maxconn_told: true,
                ..Persisted::default()
            },
        );
        save(&path, &daemons, Some("[]"), t0).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches("maxconn_told").count(),
            1,
            "only where a hold was told: {text}"
        );
        let loaded = load(&path, t0 + Duration::from_secs(30));
        assert!(loaded.warning.is_none());
        assert_eq!(loaded.inventory.as_deref(), Some("[]"));
        let a = &loaded.daemons["rgw.a"];
        assert!(a.drained && !a.maintenance && !a.maxconn_told);
        assert!(loaded.daemons["rgw.b"].maxconn_told);
        assert_eq!(a.restart_ages.len(), 1);
        assert!(
            (a.restart_ages[0].as_secs_f64() - 90.0).abs() < 0.01,
            "{:?}",
            a.restart_ages
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_is_a_fresh_start_and_a_corrupt_one_is_kept_aside() {
        let dir = dir("corrupt");
        let path = path_in(&dir);
        assert!(load(&path, UNIX_EPOCH).warning.is_none());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, "{\"version\": 1, \"daemons\": {").unwrap();
        let loaded = load(&path, UNIX_EPOCH + Duration::from_secs(5));
        let warning = loaded.warning.unwrap();
        assert!(warning.contains("is not a state file"), "{warning}");
        assert!(!path.exists());
        assert!(dir.join("state.json.unreadable-5").exists(), "{warning}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
