//! cephadm's render of the ingress HAProxy template, per Ceph release: the exact context each
//! release passes, its stock directives (tests/fixtures/cephadm-stock-haproxy-*.txt), ceph-warden's
//! listed differences and additions, and the comparison of a rendering with them. Used by
//! cephadm_template.rs.

use std::path::Path;

use crate::support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    Pacific16,
    Reef18,
    Squid19,
    Tentacle20,
}

impl Release {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pacific16 => "16.2",
            Self::Reef18 => "18.2",
            Self::Squid19 => "19.2",
            Self::Tentacle20 => "20.2",
        }
    }

    /// local_host_ip, default_server_opts and health_check_interval: from 18.2.
    pub fn since_reef(self) -> bool {
        self != Self::Pacific16
    }

    /// v4v6_flag, and `[::]` instead of `*` without a VIP: 19.2.1 and 20.2.
    pub fn v4v6(self) -> bool {
        matches!(self, Self::Squid19 | Self::Tentacle20)
    }

    /// The stock directives (tests/fixtures/cephadm-stock-haproxy-*.txt: sources and notation
    /// in each file's header).
    fn stock(self) -> String {
        let file = match self {
            Self::Pacific16 => "16.2",
            Self::Reef18 => "18.2",
            // The assumption in the module doc.
            Self::Squid19 | Self::Tentacle20 => "20.2",
        };
        let path = repo_path(&format!("tests/fixtures/cephadm-stock-haproxy-{file}.txt"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// Where ceph-warden deliberately differs from stock, each commented in the template:
/// (section, stock directive, ceph-warden's instead, or None: dropped).
const DIFFERENCES: &[(&str, &str, Option<&str>)] = &[
    (
        "defaults",
        "[http] option redispatch",
        Some("option redispatch 1"),
    ),
    (
        "defaults",
        "[http] timeout check 5s",
        Some("timeout check 2s"),
    ),
    (
        "defaults",
        "[http] timeout queue 20s",
        Some("timeout queue 30s"),
    ),
    (
        "backend backend",
        "[http] balance static-rr",
        Some("balance leastconn"),
    ),
    (
        "backend backend",
        "[http] option httpchk HEAD / HTTP/1.0",
        None,
    ),
];

/// ceph-warden's additions, each commented in the template, in the same notation as the stock
/// lists. On every http server line it also appends `agent-send "NAME\n"`.
const ADDITIONS: &str = "
global
  stats socket /var/lib/haproxy/admin.sock mode 600 level admin
defaults
  [http] retry-on conn-failure empty-response 503
backend backend
  [http] default-server check inter 2s downinter 1s fall 3 rise 2 agent-check agent-port 9480 agent-inter 500ms on-marked-down shutdown-sessions
";

/// One rendering: the context cephadm of `release` would pass for it.
pub struct Case {
    pub release: Release,
    pub mode: &'static str,
    pub ssl: bool,
    /// The VIP (`ip`), or None: `*` (`[::]` from 19.2.1).
    pub vip: Option<&'static str>,
    /// `local_host_ip` (from 18.2).
    pub host_ip: &'static str,
    pub frontend_port: u16,
    pub monitor_port: u16,
    /// name, ip, port
    pub servers: Vec<(String, String, u16)>,
}

impl Case {
    pub fn ip(&self) -> &'static str {
        match self.vip {
            Some(vip) => vip,
            None if self.release.v4v6() => "[::]",
            None => "*",
        }
    }

    /// Exactly the names `release` passes (TemplateMgr adds cephadm_managed); `spec` and
    /// `backend_spec` with only the attributes the stock templates read.
    pub fn context(&self) -> serde_json::Value {
        let mut context = serde_json::json!({
            "spec": {
                "ssl_cert": self.ssl.then_some("-----BEGIN CERTIFICATE-----..."),
                "ssl_dh_param": 2048,
                "ssl_ciphers": ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"],
                "ssl_options": ["no-sslv3", "no-tlsv10"],
            },
            // An RGWSpec has `ssl`; an NFSServiceSpec is read for nothing here.
            "backend_spec": if self.mode == "http" { serde_json::json!({"ssl": self.ssl}) } else { serde_json::json!({}) },
            "mode": self.mode,
            "servers": self.servers.iter().map(|(name, ip, port)| serde_json::json!({"name": name, "ip": ip, "port": port})).collect::<Vec<_>>(),
            "user": "admin",
            "password": "randompw",
            "ip": self.ip(),
            "frontend_port": self.frontend_port,
            "monitor_port": self.monitor_port,
        });
        if self.release.since_reef() {
            context["local_host_ip"] = self.host_ip.into();
            // An NFS ingress with enable_haproxy_protocol; only the tcp branch reads it.
            context["default_server_opts"] = if self.mode == "tcp" {
                serde_json::json!(["send-proxy-v2"])
            } else {
                serde_json::json!([])
            };
            // Not 2s, so the server line's inter shows where it came from.
            context["health_check_interval"] = "3s".into();
        }
        if self.release.v4v6() {
            context["v4v6_flag"] = if self.ip() == "[::]" { "v4v6" } else { "" }.into();
        }
        context
    }

    /// The directives of `list` (stock-list notation) that apply to this case, as
    /// (section, directive) with the context's values filled in.
    fn directives(&self, list: &str) -> Vec<(String, String)> {
        let context = self.context();
        let value = |name: &str| match &context[name] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => panic!("{}: no {name} in the context", self.release.name()),
            other => other.to_string(),
        };
        let mut out = Vec::new();
        let mut section = String::new();
        for line in list
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            if !line.starts_with(' ') {
                section = line.to_string();
                continue;
            }
            let Some((tags, directive)) = split_tags(line.trim()) else {
                continue;
            };
            let applies = tags.iter().all(|tag| match *tag {
                "http" | "tcp" => *tag == self.mode,
                "ssl" => self.ssl,
                "plain" => !self.ssl,
                other => panic!("unknown tag {other}"),
            });
            if !applies {
                continue;
            }
            let mut filled = directive.to_string();
            for name in [
                "monitor_port",
                "frontend_port",
                "local_host_ip",
                "health_check_interval",
                "v4v6_flag",
                "password",
                "user",
                "mode",
                "ip",
            ] {
                if filled.contains(&format!("${name}")) {
                    filled = filled.replace(&format!("${name}"), &value(name));
                }
            }
            if filled.contains("$server") {
                for (name, ip, port) in &self.servers {
                    out.push((
                        section.clone(),
                        normalise(&filled.replace("$server", &format!("{name} {ip}:{port}"))),
                    ));
                }
            } else {
                out.push((section.clone(), normalise(&filled)));
            }
        }
        out
    }

    /// What the template must render for this case: the stock directives, with ceph-warden's
    /// differences and additions.
    fn expected(&self) -> Vec<(String, String)> {
        let stock = self.release.stock();
        let mut expected = self.directives(&stock);
        for (section, stock_line, ours) in DIFFERENCES {
            let listed = format!("{section}\n  {stock_line}\n");
            let replaced = self.directives(&listed);
            if self.mode == "http" {
                // The table names a line the stock list really has.
                assert!(
                    replaced.iter().all(|d| self.directives(&stock).contains(d)),
                    "{}: DIFFERENCES names {stock_line:?}, not a stock directive",
                    self.release.name()
                );
            }
            for directive in replaced {
                expected.retain(|d| *d != directive);
                if let Some(ours) = ours {
                    expected.push((section.to_string(), ours.to_string()));
                }
            }
        }
        expected.extend(self.directives(ADDITIONS));
        if self.mode == "http" {
            for (section, directive) in &mut expected {
                if section == "backend backend" && directive.starts_with("server ") {
                    let name = directive.split(' ').nth(1).unwrap_or_default().to_string();
                    directive.push_str(&format!(" agent-send \"{name}\\n\""));
                }
            }
        }
        expected
    }
}

/// `[a b] rest` -> (["a", "b"], "rest"); no tags -> ([], line).
fn split_tags(line: &str) -> Option<(Vec<&str>, &str)> {
    match line.strip_prefix('[') {
        Some(rest) => {
            let (tags, directive) = rest.split_once(']')?;
            Some((tags.split_whitespace().collect(), directive.trim()))
        }
        None => Some((Vec::new(), line)),
    }
}

pub fn normalise(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A rendered config as (section, directive), comments and blank lines left out.
fn rendered_directives(config: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in config.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            out.push((section.clone(), normalise(trimmed)));
        } else {
            section = normalise(trimmed);
        }
    }
    out
}

/// Renders `template` with `context` as cephadm's TemplateMgr does (StrictUndefined).
pub fn render(
    dir: &TempDir,
    template: &Path,
    context: &serde_json::Value,
) -> Result<String, String> {
    let context_file = dir.write("context.json", &context.to_string());
    let out = blocking_command("python3")
        .arg(repo_path("tests/lab/render-cephadm-template.py"))
        .arg(template)
        .arg(&context_file)
        .output()
        .expect("python3 (with jinja2)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn render_ours(dir: &TempDir, case: &Case) -> String {
    render(
        dir,
        &repo_path("haproxy/cephadm-ingress-haproxy.cfg.j2"),
        &case.context(),
    )
    .unwrap_or_else(|err| {
        panic!(
            "{} ({} ssl={}): cephadm's render fails: {err}",
            case.release.name(),
            case.mode,
            case.ssl
        )
    })
}

/// Every stock directive of the release is in the rendering, and nothing else but
/// ceph-warden's listed differences and additions.
pub fn assert_stock_kept(case: &Case, config: &str) {
    let mut actual = rendered_directives(config);
    let mut expected = case.expected();
    actual.sort();
    expected.sort();
    let missing: Vec<_> = expected.iter().filter(|d| !actual.contains(d)).collect();
    let unexpected: Vec<_> = actual.iter().filter(|d| !expected.contains(d)).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty() && actual.len() == expected.len(),
        "{} ({} ssl={}): stock (or listed ceph-warden) directives missing: {missing:#?}\n\
         directives neither stock nor listed: {unexpected:#?}\nrendered:\n{config}",
        case.release.name(),
        case.mode,
        case.ssl
    );
}

/// `haproxy -c` on `config` (written to `dir/name`): it must pass.
pub fn haproxy_check(dir: &TempDir, name: &str, config: &str) {
    let file = dir.write(name, config);
    let check = blocking_command("haproxy")
        .args(["-c", "-f"])
        .arg(&file)
        .output()
        .expect("haproxy -c");
    assert!(
        check.status.success(),
        "{name}:\n{config}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
