//! `[run]` validated, with the sections it points at: `[[static]]` for the static inventory,
//! `[systemd]` and `[command]` for those restart backends, and the health gate's check codes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::raw::{RawCommand, RawConfig, RawRun, RawStatic, RawSystemd};
use super::validate::{known_type, Origin};
use super::{
    names, Backend, ConfigError, HealthGateConfig, HungKill, InventoryConfig, InventorySource,
    ListenConfig, ProbeConfig, RunConfig, StaticDaemon,
};

/// `[run]`, with the sections it points at: `[[static]]` for the static inventory, `[systemd]`
/// and `[command]` for those restart backends.
pub(super) fn run_from(
    raw: &RawConfig,
    agent_inter: Duration,
    at: Origin<'_>,
) -> Result<RunConfig, ConfigError> {
    let run = &raw.run;
    if run.types.is_empty() || run.types.iter().any(|t| t.trim().is_empty()) {
        return Err(at.invalid("run.types", "list at least one daemon type"));
    }
    for daemon_type in &run.types {
        at.known_type("run.types", daemon_type)?;
    }
    let (agent_listen, http_listen) = listeners_from(run, at)?;
    at.at_least_one("run.max-agent-connections", run.max_agent_connections)?;
    let inventory = inventory_from(run, &raw.static_daemons, at)?;
    let orchestrators = orchestrators_from(raw, at)?;
    let kill_hung = kill_hung_from(raw, at)?;
    let probe_interval = at.duration("run.probe-interval", &run.probe_interval)?;
    let health_gate = health_gate_from(&run.health_gate, at)?;
    Ok(RunConfig {
        host: run.host.clone().filter(|h| !h.trim().is_empty()),
        types: run.types.clone(),
        listen: ListenConfig {
            agent: agent_listen,
            http: http_listen,
            max_agent_connections: usize::try_from(run.max_agent_connections).unwrap_or(usize::MAX),
        },
        probe: probe_from(run, probe_interval, at)?,
        inventory: InventoryConfig {
            source: inventory,
            interval: at.duration("run.inventory-interval", &run.inventory_interval)?,
        },
        orchestrators,
        kill_hung,
        agent_inter,
        shutdown_timeout: at.duration("run.shutdown-timeout", &run.shutdown_timeout)?,
        max_load_drain_percent: u8::try_from(run.max_load_drain_percent)
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| {
                at.invalid(
                    "run.max-load-drain-percent",
                    format!(
                        "{} is not a percentage from 0 to 100 (default 33; 0: never drain for load)",
                        run.max_load_drain_percent
                    ),
                )
            })?,
        health_gate: HealthGateConfig {
            checks: health_gate,
            interval: at.duration("run.health-interval", &run.health_interval)?,
        },
    })
}

/// `run.agent-listen` and `run.http-listen`: two addresses that do not take the same socket.
/// The probe interval and the learned deadlines' bounds: a floor above the ceiling is an error
/// (a zero duration is, for every key).
fn probe_from(
    run: &RawRun,
    interval: Duration,
    at: Origin<'_>,
) -> Result<ProbeConfig, ConfigError> {
    let timeout = at.duration("run.probe-timeout", &run.probe_timeout)?;
    let timeout_floor = at.duration("run.probe-timeout-floor", &run.probe_timeout_floor)?;
    if timeout_floor > timeout {
        return Err(at.invalid(
            "run.probe-timeout-floor",
            format!(
                "{} is more than run.probe-timeout ({}): the floor of the learned deadlines must not exceed their ceiling",
                run.probe_timeout_floor, run.probe_timeout
            ),
        ));
    }
    Ok(ProbeConfig {
        interval,
        timeout,
        timeout_floor,
    })
}

fn listeners_from(run: &RawRun, at: Origin<'_>) -> Result<(SocketAddr, SocketAddr), ConfigError> {
    let agent_listen = at.listen_addr("run.agent-listen", &run.agent_listen)?;
    let http_listen = at.listen_addr("run.http-listen", &run.http_listen)?;
    if same_socket(agent_listen, http_listen) {
        let free = if agent_listen.port() == 9481 {
            9482
        } else {
            9481
        };
        return Err(at.invalid(
            "run.http-listen",
            format!(
                "{:?} takes the port of run.agent-listen {:?}: the HTTP API needs a socket of its own; write e.g. http-listen = \"127.0.0.1:{free}\"",
                run.http_listen, run.agent_listen
            ),
        ));
    }
    Ok((agent_listen, http_listen))
}

/// `run.inventory`: the orchestrator's, or the `[[static]]` daemons.
fn inventory_from(
    run: &RawRun,
    statics: &[RawStatic],
    at: Origin<'_>,
) -> Result<InventorySource, ConfigError> {
    match run.inventory.as_str() {
        "ceph-orch" => Ok(InventorySource::CephOrch),
        "static" if statics.is_empty() => Err(at.invalid(
            "run.inventory",
            "\"static\" needs at least one [[static]] daemon",
        )),
        "static" => {
            let mut list: Vec<StaticDaemon> = Vec::new();
            for (i, daemon) in statics.iter().enumerate() {
                let daemon = static_from(i, daemon, &run.types, &list, at)?;
                list.push(daemon);
            }
            Ok(InventorySource::Static(list))
        }
        other => Err(at.invalid(
            "run.inventory",
            format!("{other:?}: expected \"ceph-orch\" or \"static\""),
        )),
    }
}

/// `[[static]]` number `i`: a `<type>.<id>` name of a watched type, not taken by an `earlier`
/// one, and a URL the probe can request.
fn static_from(
    i: usize,
    raw: &RawStatic,
    watched: &[String],
    earlier: &[StaticDaemon],
    at: Origin<'_>,
) -> Result<StaticDaemon, ConfigError> {
    let name_key = format!("static[{i}].name");
    let Some((daemon_type, _)) = raw.name.split_once('.') else {
        return Err(at.invalid(&name_key, format!("{:?} is not <type>.<id>", raw.name)));
    };
    known_type(daemon_type)
        .map_err(|message| at.invalid(&name_key, format!("{:?}: {message}", raw.name)))?;
    if !watched.iter().any(|t| t == daemon_type) {
        return Err(at.invalid(
            &name_key,
            format!(
                "{:?} is of type {daemon_type}, which run.types does not list, so it would never be watched; add {daemon_type:?} to run.types",
                raw.name
            ),
        ));
    }
    if let Some(first) = earlier.iter().position(|d| d.name == raw.name) {
        return Err(at.invalid(
            &name_key,
            format!(
                "{:?} is also the name of static[{first}]; give each daemon its own name (it is the tag HAProxy's agent-send asks for)",
                raw.name
            ),
        ));
    }
    probe_url(&raw.url).map_err(|message| at.invalid(&format!("static[{i}].url"), message))?;
    Ok(StaticDaemon {
        name: raw.name.clone(),
        daemon_type: daemon_type.to_string(),
        url: raw.url.clone(),
    })
}

/// `run.orchestrators`: the restart backends, in the order they are tried.
fn orchestrators_from(raw: &RawConfig, at: Origin<'_>) -> Result<Vec<Backend>, ConfigError> {
    if raw.run.orchestrators.is_empty() {
        return Err(at.invalid("run.orchestrators", "list at least one backend"));
    }
    raw.run
        .orchestrators
        .iter()
        .map(|name| backend_from(name, &raw.systemd, &raw.command, at))
        .collect()
}

/// One restart backend, with the section it needs.
fn backend_from(
    name: &str,
    systemd: &RawSystemd,
    command: &RawCommand,
    at: Origin<'_>,
) -> Result<Backend, ConfigError> {
    match name {
        "ceph-orch" => Ok(Backend::CephOrch),
        "systemd" => {
            let fsid = systemd.fsid.clone().filter(|f| !f.trim().is_empty());
            let fsid = fsid.ok_or_else(|| {
                at.invalid("systemd.fsid", "the systemd backend needs the cluster fsid")
            })?;
            Ok(Backend::Systemd { fsid })
        }
        "command" if command.restart.is_empty() => {
            Err(at.invalid("command.restart", "the command backend needs an argv"))
        }
        "command" => Ok(Backend::Command {
            argv: command.restart.clone(),
            timeout: at.duration("command.timeout", &command.timeout)?,
        }),
        other => Err(at.invalid(
            "run.orchestrators",
            format!("{other:?}: expected \"ceph-orch\", \"systemd\" or \"command\""),
        )),
    }
}

/// `run.kill-hung`: how a hung daemon is killed, with the section it needs. Unset: `systemd`
/// when `[systemd] fsid` is set (the sidecar can name cephadm's unit), else off.
fn kill_hung_from(raw: &RawConfig, at: Origin<'_>) -> Result<Option<HungKill>, ConfigError> {
    let fsid = raw.systemd.fsid.clone().filter(|f| !f.trim().is_empty());
    match (raw.run.kill_hung.as_deref(), fsid) {
        (None, None) | (Some("off"), _) => Ok(None),
        (None | Some("systemd"), Some(fsid)) => Ok(Some(HungKill::Systemd { fsid })),
        (Some("systemd"), None) => Err(at.invalid(
            "systemd.fsid",
            "run.kill-hung = \"systemd\" needs the cluster fsid (cephadm's unit is ceph-<fsid>@<name>.service)",
        )),
        (Some("command"), _) if raw.command.kill.is_empty() => Err(at.invalid(
            "command.kill",
            "run.kill-hung = \"command\" needs an argv, e.g. [\"systemctl\", \"kill\", \"--signal=SIGKILL\", \"my-{name}.service\"]",
        )),
        (Some("command"), _) => Ok(Some(HungKill::Command {
            argv: raw.command.kill.clone(),
            timeout: at.duration("command.timeout", &raw.command.timeout)?,
        })),
        (Some(other), _) => Err(at.invalid(
            "run.kill-hung",
            format!("{other:?}: expected \"systemd\", \"command\" or \"off\""),
        )),
    }
}

/// `run.health-gate`: `ceph health detail` check codes, every unknown one named at once (a run
/// of check-config per typo is a slow way to learn them).
fn health_gate_from(codes: &[String], at: Origin<'_>) -> Result<Vec<String>, ConfigError> {
    let unknown: Vec<String> = codes
        .iter()
        .filter(|code| !names::HEALTH_CHECKS.contains(&code.as_str()))
        .map(|bad| {
            names::unknown(
                bad,
                "a ceph health check code",
                names::HEALTH_CHECKS,
                "write the codes as `ceph health detail` names them, e.g. \"SLOW_OPS\", \"OSD_DOWN\", \"PG_AVAILABILITY\"; [] turns the gate off",
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(at.invalid("run.health-gate", unknown.join("; and ")));
    }
    Ok(codes.to_vec())
}

/// Whether two listen addresses take the same socket: the same port on the same address, or
/// on an address the other's wildcard covers (`0.0.0.0` every IPv4 address; `[::]` every
/// address, as Linux binds it dual-stack by default). Port 0 picks a free port each time.
fn same_socket(a: SocketAddr, b: SocketAddr) -> bool {
    let covers = |wide: IpAddr, narrow: IpAddr| {
        wide == narrow || (wide.is_unspecified() && (wide.is_ipv6() || narrow.is_ipv4()))
    };
    a.port() == b.port() && a.port() != 0 && (covers(a.ip(), b.ip()) || covers(b.ip(), a.ip()))
}

/// A `[[static]]` daemon's URL as the HTTP probe will request it (the same parser), or why it
/// cannot be: the probe would fail on every request, and the daemon be restarted for a
/// configuration error.
fn probe_url(text: &str) -> Result<reqwest::Url, String> {
    let example = "write it like \"http://127.0.0.1:8080/\"";
    let parsed = reqwest::Url::parse(text);
    if let Ok(url) = &parsed {
        match url.scheme() {
            "http" if url.host_str().is_some_and(|h| !h.is_empty()) => return Ok(url.clone()),
            "http" => return Err(format!("{text:?} names no host; {example}")),
            "https" => {
                let mut plain = url.clone();
                // https -> http is always allowed between special schemes.
                let _ = plain.set_scheme("http");
                return Err(format!(
                    "{text:?}: the probe speaks plain HTTP only (this build has no TLS); write {:?} with the daemon's plain HTTP port",
                    plain.as_str()
                ));
            }
            _ => {}
        }
    }
    // No scheme (`localhost:8080` parses as scheme "localhost"), or another one.
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let with_http = reqwest::Url::parse(&format!("http://{rest}")).ok();
    match (text.contains("://"), with_http) {
        (false, Some(url)) => Err(format!(
            "{text:?} has no http:// scheme, so the probe could never request it (and the daemon would be restarted for it); write {:?}",
            url.as_str()
        )),
        (true, Some(url)) => Err(format!(
            "{text:?}: the probe requests http:// URLs only; write {:?}",
            url.as_str()
        )),
        (_, None) => Err(match parsed {
            Err(err) => format!("{text:?} is not a URL ({err}); {example}"),
            Ok(_) => format!("{text:?} is not an http:// URL; {example}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::error_of;
    use crate::config::Config;

    const STATIC: &str = "[run]\ninventory = \"static\"\norchestrators = [\"command\"]\n[command]\nrestart = [\"true\"]\n";

    #[test]
    fn a_static_url_the_probe_cannot_request_is_refused_with_what_to_write() {
        for (url, want) in [
            (
                "localhost:38081",
                "t.toml: static[0].url: \"localhost:38081\" has no http:// scheme, so the probe could never request it (and the daemon would be restarted for it); write \"http://localhost:38081/\"",
            ),
            (
                "127.0.0.1:8080",
                "t.toml: static[0].url: \"127.0.0.1:8080\" has no http:// scheme, so the probe could never request it (and the daemon would be restarted for it); write \"http://127.0.0.1:8080/\"",
            ),
            (
                "ftp://127.0.0.1:8080/",
                "t.toml: static[0].url: \"ftp://127.0.0.1:8080/\": the probe requests http:// URLs only; write \"http://127.0.0.1:8080/\"",
            ),
            (
                "https://rgw1:8443/",
                "t.toml: static[0].url: \"https://rgw1:8443/\": the probe speaks plain HTTP only (this build has no TLS); write \"http://rgw1:8443/\" with the daemon's plain HTTP port",
            ),
            (
                "http://:8080/",
                "t.toml: static[0].url: \"http://:8080/\" is not a URL (empty host); write it like \"http://127.0.0.1:8080/\"",
            ),
        ] {
            let err = error_of(&format!("{STATIC}[[static]]\nname = \"rgw.a\"\nurl = {url:?}\n"));
            assert_eq!(err, want);
        }
        for url in [
            "http://127.0.0.1:8080/",
            "http://[::1]:8080",
            "http://rgw1.example:80/swift/healthcheck",
        ] {
            let cfg = Config::from_toml(
                &format!("{STATIC}[[static]]\nname = \"rgw.a\"\nurl = {url:?}\n"),
                "t.toml",
            )
            .unwrap();
            assert!(
                matches!(cfg.run.inventory.source, InventorySource::Static(_)),
                "{url}"
            );
        }
    }

    #[test]
    fn static_names_are_unique_and_of_a_watched_type() {
        let a = "[[static]]\nname = \"rgw.a\"\nurl = \"http://127.0.0.1:1/\"\n";
        let err = error_of(&format!(
            "{STATIC}{a}[[static]]\nname = \"rgw.b\"\nurl = \"http://127.0.0.1:2/\"\n{a}"
        ));
        assert_eq!(
            err,
            "t.toml: static[2].name: \"rgw.a\" is also the name of static[0]; give each daemon its own name (it is the tag HAProxy's agent-send asks for)"
        );
        let err = error_of(&format!(
            "{STATIC}[[static]]\nname = \"rgww.a\"\nurl = \"http://127.0.0.1:1/\"\n"
        ));
        assert!(
            err.starts_with("t.toml: static[0].name: \"rgww.a\": \"rgww\" is not a daemon type ceph-warden can probe; did you mean \"rgw\"?"),
            "{err}"
        );
        let err = error_of(&format!(
            "{STATIC}[[static]]\nname = \"node-exporter.h1\"\nurl = \"http://127.0.0.1:9100/\"\n"
        ));
        assert!(err.contains("static[0].name: \"node-exporter.h1\" is of type node-exporter, which run.types does not list, so it would never be watched; add \"node-exporter\" to run.types"), "{err}");
    }

    /// `run.kill-hung`: on wherever it can work (cephadm's unit named by `[systemd] fsid`),
    /// off otherwise, and every way it cannot work is an error naming what to write.
    #[test]
    fn kill_hung_defaults_to_cephadms_unit_when_the_fsid_is_known() {
        let kill = |toml: &str| Config::from_toml(toml, "t.toml").unwrap().run.kill_hung;
        assert_eq!(kill(""), None);
        assert_eq!(
            kill("[systemd]\nfsid = \"3f2a\"\n"),
            Some(HungKill::Systemd {
                fsid: "3f2a".into()
            })
        );
        assert_eq!(
            kill("[run]\nkill-hung = \"off\"\n[systemd]\nfsid = \"3f2a\"\n"),
            None
        );
        assert_eq!(
            kill("[run]\nkill-hung = \"command\"\n[command]\nkill = [\"rgw-ctl\", \"kill\", \"{id}\"]\ntimeout = \"5s\"\n"),
            Some(HungKill::Command {
                argv: vec!["rgw-ctl".into(), "kill".into(), "{id}".into()],
                timeout: Duration::from_secs(5),
            })
        );
        assert_eq!(
            error_of("[run]\nkill-hung = \"systemd\"\n"),
            "t.toml: systemd.fsid: run.kill-hung = \"systemd\" needs the cluster fsid (cephadm's unit is ceph-<fsid>@<name>.service)"
        );
        assert!(error_of("[run]\nkill-hung = \"command\"\n")
            .starts_with("t.toml: command.kill: run.kill-hung = \"command\" needs an argv"));
        assert_eq!(
            error_of("[run]\nkill-hung = \"yes\"\n"),
            "t.toml: run.kill-hung: \"yes\": expected \"systemd\", \"command\" or \"off\""
        );
    }

    #[test]
    fn the_learned_deadlines_floor_must_be_above_zero_and_under_the_ceiling() {
        let cfg = Config::from_toml("", "t.toml").unwrap();
        assert_eq!(
            (cfg.run.probe.timeout_floor, cfg.run.probe.timeout),
            (Duration::from_millis(250), Duration::from_secs(1))
        );
        assert_eq!(
            error_of("[run]\nprobe-timeout = \"200ms\"\n"),
            "t.toml: run.probe-timeout-floor: 250ms is more than run.probe-timeout (200ms): the floor of the learned deadlines must not exceed their ceiling"
        );
        assert_eq!(
            error_of("[run]\nprobe-timeout-floor = \"0s\"\n"),
            "t.toml: run.probe-timeout-floor: duration \"0s\" must be greater than zero"
        );
        let cfg = Config::from_toml(
            "[run]\nprobe-timeout = \"300ms\"\nprobe-timeout-floor = \"300ms\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(cfg.run.probe.timeout_floor, Duration::from_millis(300));
    }

    #[test]
    fn the_load_drain_share_is_a_percentage() {
        let cfg = Config::from_toml("", "t.toml").unwrap();
        assert_eq!(cfg.run.max_load_drain_percent, 33);
        assert_eq!(
            error_of("[run]\nmax-load-drain-percent = 150\n"),
            "t.toml: run.max-load-drain-percent: 150 is not a percentage from 0 to 100 (default 33; 0: never drain for load)"
        );
        let cfg = Config::from_toml("[run]\nmax-load-drain-percent = 0\n", "t.toml").unwrap();
        assert_eq!(cfg.run.max_load_drain_percent, 0);
    }

    #[test]
    fn an_unknown_health_check_is_refused_with_the_nearest_one() {
        assert_eq!(
            error_of("[run]\nhealth-gate = [\"SLOW_OP\", \"OSD_DOWN\"]\n"),
            "t.toml: run.health-gate: \"SLOW_OP\" is not a ceph health check code; did you mean \"SLOW_OPS\"? (write the codes as `ceph health detail` names them, e.g. \"SLOW_OPS\", \"OSD_DOWN\", \"PG_AVAILABILITY\"; [] turns the gate off)"
        );
        assert!(error_of("[run]\nhealth-gate = [\"slow ops\"]\n")
            .contains("did you mean \"SLOW_OPS\"?"));
        assert!(error_of("[run]\nhealth-gate = [\"\"]\n")
            .starts_with("t.toml: run.health-gate: \"\" is not a ceph health check code ("));
        let cfg = Config::from_toml(
            "[run]\nhealth-gate = [\"SLOW_OPS\", \"OSD_HOST_DOWN\", \"PG_DEGRADED\"]\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(cfg.run.health_gate.checks.len(), 3);
        assert!(Config::from_toml("[run]\nhealth-gate = []\n", "t.toml").is_ok());
        let bare = error_of("[run]\nprobe-interval = 500\n");
        assert!(bare.contains("e.g. \"500ms\""), "{bare}");
        // Every unknown code in one run, not one per run.
        let both = error_of("[run]\nhealth-gate = [\"SLOW_OP\", \"OSD_DWN\"]\n");
        assert!(
            both.contains("\"SLOW_OP\" is not") && both.contains("\"OSD_DWN\" is not"),
            "{both}"
        );
    }

    #[test]
    fn the_agent_and_the_api_cannot_share_a_socket() {
        for (agent, http) in [
            ("127.0.0.1:9480", "127.0.0.1:9480"),
            ("0.0.0.0:9480", "127.0.0.1:9480"),
            ("127.0.0.1:9480", "0.0.0.0:9480"),
            ("[::]:9480", "127.0.0.1:9480"),
            ("[::1]:9480", "[::]:9480"),
        ] {
            let err = error_of(&format!(
                "[run]\nagent-listen = {agent:?}\nhttp-listen = {http:?}\n"
            ));
            assert_eq!(
                err,
                format!("t.toml: run.http-listen: {http:?} takes the port of run.agent-listen {agent:?}: the HTTP API needs a socket of its own; write e.g. http-listen = \"127.0.0.1:9481\"")
            );
        }
        for (agent, http) in [
            ("0.0.0.0:9480", "127.0.0.1:9481"),
            ("127.0.0.1:9480", "127.0.0.2:9480"),
            ("0.0.0.0:9480", "[::1]:9480"),
            ("127.0.0.1:0", "127.0.0.1:0"),
        ] {
            let cfg = Config::from_toml(
                &format!("[run]\nagent-listen = {agent:?}\nhttp-listen = {http:?}\n"),
                "t.toml",
            );
            assert!(cfg.is_ok(), "{agent} {http}: {cfg:?}");
        }
        let err = error_of("[run]\nagent-listen = \"0.0.0.0:9481\"\n");
        assert!(
            err.ends_with("write e.g. http-listen = \"127.0.0.1:9482\""),
            "{err}"
        );
    }
}
