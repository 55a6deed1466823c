//! The names a configuration may use where a typo would otherwise be silent: daemon types and
//! `ceph health detail` check codes, and the nearest known name to one that is not.
//!
//! A misspelt type (`"rgww"`) watches nothing; a misspelt health check (`"SLOW_OP"`) never
//! gates anything. Both looked valid until the day they mattered, so both are refused.

/// The daemon types whose daemons answer plain HTTP on the first port `ceph orch ps` lists,
/// so that the HTTP probe can judge them: cephadm's names. `rgw` is the one this tool is for;
/// `node-exporter` is the seed cron job's other type.
pub const DAEMON_TYPES: &[&str] = &[
    "rgw",
    "node-exporter",
    "ceph-exporter",
    "prometheus",
    "alertmanager",
    "loki",
    "promtail",
];

/// The health check codes Ceph documents for `ceph health detail` (doc/rados/operations/
/// health-checks.rst; the CephFS and cephadm ones as their docs name them). `OSD_<crush
/// type>_DOWN` is listed for the default CRUSH types.
pub const HEALTH_CHECKS: &[&str] = &[
    // Monitor.
    "DAEMON_OLD_VERSION",
    "MON_DOWN",
    "MON_CLOCK_SKEW",
    "MON_MSGR2_NOT_ENABLED",
    "MON_DISK_LOW",
    "MON_DISK_CRIT",
    "MON_DISK_BIG",
    "MON_NETSPLIT",
    "AUTH_INSECURE_GLOBAL_ID_RECLAIM",
    "AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED",
    // Manager.
    "MGR_DOWN",
    "MGR_MODULE_DEPENDENCY",
    "MGR_MODULE_ERROR",
    // OSDs.
    "OSD_DOWN",
    "OSD_HOST_DOWN",
    "OSD_CHASSIS_DOWN",
    "OSD_RACK_DOWN",
    "OSD_ROW_DOWN",
    "OSD_PDU_DOWN",
    "OSD_POD_DOWN",
    "OSD_ROOM_DOWN",
    "OSD_DATACENTER_DOWN",
    "OSD_ZONE_DOWN",
    "OSD_REGION_DOWN",
    "OSD_ROOT_DOWN",
    "OSD_ORPHAN",
    "OSD_OUT_OF_ORDER_FULL",
    "OSD_FULL",
    "OSD_BACKFILLFULL",
    "OSD_NEARFULL",
    "OSDMAP_FLAGS",
    "OSD_FLAGS",
    "OLD_CRUSH_TUNABLES",
    "OLD_CRUSH_STRAW_CALC_VERSION",
    "CACHE_POOL_NO_HIT_SET",
    "OSD_NO_SORTBITWISE",
    "OSD_FILESTORE",
    "OSD_SLOW_PING_TIME_BACK",
    "OSD_SLOW_PING_TIME_FRONT",
    "OSD_UNREACHABLE",
    "POOL_FULL",
    "BLUEFS_SPILLOVER",
    "BLUEFS_AVAILABLE_SPACE",
    "BLUEFS_LOW_SPACE",
    "BLUESTORE_FRAGMENTATION",
    "BLUESTORE_LEGACY_STATFS",
    "BLUESTORE_NO_PER_POOL_OMAP",
    "BLUESTORE_NO_PER_PG_OMAP",
    "BLUESTORE_DISK_SIZE_MISMATCH",
    "BLUESTORE_NO_COMPRESSION",
    "BLUESTORE_SPURIOUS_READ_ERRORS",
    "BLUESTORE_SLOW_OP_ALERT",
    // Device health.
    "DEVICE_HEALTH",
    "DEVICE_HEALTH_IN_USE",
    "DEVICE_HEALTH_TOOMANY",
    // Data health: pools and placement groups.
    "PG_AVAILABILITY",
    "PG_DEGRADED",
    "PG_RECOVERY_FULL",
    "PG_BACKFILL_FULL",
    "PG_DAMAGED",
    "OSD_SCRUB_ERRORS",
    "OSD_TOO_MANY_REPAIRS",
    "LARGE_OMAP_OBJECTS",
    "CACHE_POOL_NEAR_FULL",
    "TOO_FEW_PGS",
    "POOL_PG_NUM_NOT_POWER_OF_TWO",
    "POOL_TOO_FEW_PGS",
    "TOO_MANY_PGS",
    "POOL_TOO_MANY_PGS",
    "POOL_TARGET_SIZE_BYTES_OVERCOMMITTED",
    "POOL_HAS_TARGET_SIZE_BYTES_AND_RATIO",
    "POOL_NO_REDUNDANCY",
    "TOO_FEW_OSDS",
    "SMALLER_PGP_NUM",
    "MANY_OBJECTS_PER_PG",
    "POOL_APP_NOT_ENABLED",
    "POOL_NEAR_FULL",
    "OBJECT_MISPLACED",
    "OBJECT_UNFOUND",
    "SLOW_OPS",
    "PG_NOT_SCRUBBED",
    "PG_NOT_DEEP_SCRUBBED",
    "PG_SLOW_SNAP_TRIMMING",
    // Stretch mode.
    "INCORRECT_NUM_BUCKETS_STRETCH_MODE",
    "UNEVEN_WEIGHTS_STRETCH_MODE",
    // Miscellaneous.
    "RECENT_CRASH",
    "RECENT_MGR_MODULE_CRASH",
    "TELEMETRY_CHANGED",
    "AUTH_BAD_CAPS",
    "OSD_NO_DOWN_OUT_INTERVAL",
    "DASHBOARD_DEBUG",
    // CephFS (MDS).
    "FS_DEGRADED",
    "FS_WITH_FAILED_MDS",
    "MDS_ALL_DOWN",
    "MDS_UP_LESS_THAN_MAX",
    "MDS_INSUFFICIENT_STANDBY",
    "MDS_DAMAGE",
    "MDS_HEALTH_READ_ONLY",
    "MDS_TRIM",
    "MDS_SLOW_REQUEST",
    "MDS_SLOW_METADATA_IO",
    "MDS_CLIENT_LATE_RELEASE",
    "MDS_CLIENT_RECALL",
    "MDS_CACHE_OVERSIZED",
    // cephadm.
    "CEPHADM_PAUSED",
    "CEPHADM_FAILED_DAEMON",
    "CEPHADM_STRAY_HOST",
    "CEPHADM_STRAY_DAEMON",
    "CEPHADM_HOST_CHECK_FAILED",
    "CEPHADM_REFRESH_FAILED",
    "CEPHADM_APPLY_SPEC_FAIL",
    "CEPHADM_DAEMON_PLACE_FAIL",
];

/// `"rgww" is not one of the daemon types ...; did you mean "rgw"?` and what to write.
pub fn unknown(name: &str, what: &str, known: &[&str], examples: &str) -> String {
    match nearest(name, known) {
        Some(near) => format!("{name:?} is not {what}; did you mean {near:?}? ({examples})"),
        None => format!("{name:?} is not {what} ({examples})"),
    }
}

/// The known name closest to `name` (case ignored, `-` and `_` alike), when it is close enough
/// to be a typo of it: at most a third of its letters differ, and at least two may.
pub fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let fold = |s: &str| -> Vec<char> {
        s.chars()
            .map(|c| {
                if c == '_' {
                    '-'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    };
    let wanted = fold(name);
    let limit = (wanted.len() / 3).max(2);
    known
        .iter()
        .map(|candidate| (edit_distance(&wanted, &fold(candidate)), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance: insertions, deletions and substitutions.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name_and_nonsense_finds_none() {
        assert_eq!(nearest("rgww", DAEMON_TYPES), Some("rgw"));
        assert_eq!(
            nearest("node_exporter", DAEMON_TYPES),
            Some("node-exporter")
        );
        assert_eq!(nearest("RGW", DAEMON_TYPES), Some("rgw"));
        assert_eq!(nearest("SLOW_OP", HEALTH_CHECKS), Some("SLOW_OPS"));
        assert_eq!(nearest("slow_ops", HEALTH_CHECKS), Some("SLOW_OPS"));
        assert_eq!(nearest("OSD_DWON", HEALTH_CHECKS), Some("OSD_DOWN"));
        assert_eq!(
            nearest("PG_AVAILABLE", HEALTH_CHECKS),
            Some("PG_AVAILABILITY")
        );
        assert_eq!(nearest("mds", DAEMON_TYPES), None);
        assert_eq!(nearest("WHATEVER_ELSE", HEALTH_CHECKS), None);
    }

    #[test]
    fn the_lists_hold_each_name_once_in_its_form() {
        for list in [DAEMON_TYPES, HEALTH_CHECKS] {
            let mut seen = std::collections::BTreeSet::new();
            for name in list {
                assert!(seen.insert(*name), "{name} twice");
            }
        }
        assert!(HEALTH_CHECKS.iter().all(|c| c
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')));
        assert!(DAEMON_TYPES
            .iter()
            .all(|t| t.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
    }
}
