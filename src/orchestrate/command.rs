//! The `command` backend: an argv template with `{name}`, `{type}`, `{id}` and `{host}`
//! replaced word by word, never handed to a shell, for deployments without cephadm and for tests.

use std::time::Duration;

use super::{run_checked, OrchestrateError, Orchestrator};
use crate::inventory::Daemon;

#[derive(Debug, Clone)]
pub struct CommandOrch {
    pub argv: Vec<String>,
    pub timeout: Duration,
}

impl CommandOrch {
    pub fn argv(&self, daemon: &Daemon) -> Vec<String> {
        fill(&self.argv, daemon)
    }
}

/// `template` with `{name}`, `{type}`, `{id}` and `{host}` replaced in each word.
pub(super) fn fill(template: &[String], daemon: &Daemon) -> Vec<String> {
    let id = daemon
        .name
        .split_once('.')
        .map_or(daemon.name.as_str(), |(_, id)| id);
    template
        .iter()
        .map(|word| {
            word.replace("{name}", &daemon.name)
                .replace("{type}", &daemon.daemon_type)
                .replace("{id}", id)
                .replace("{host}", daemon.hostname.as_deref().unwrap_or(""))
        })
        .collect()
}

impl Orchestrator for CommandOrch {
    async fn restart(&self, daemon: &Daemon) -> Result<String, OrchestrateError> {
        run_checked(&self.argv(daemon), self.timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_word_by_word() {
        let daemon =
            crate::inventory::parse(r#"[{"daemon_name": "rgw.lab.h1.x", "hostname": "h1"}]"#)
                .unwrap();
        let orch = CommandOrch {
            argv: [
                "restart-it",
                "--unit={type}@{id}",
                "{name}; rm -rf /",
                "{host}",
            ]
            .map(String::from)
            .to_vec(),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(
            orch.argv(&daemon[0]),
            [
                "restart-it",
                "--unit=rgw@lab.h1.x",
                "rgw.lab.h1.x; rm -rf /",
                "h1"
            ]
        );
    }

    #[tokio::test]
    async fn a_failing_command_reports_its_exit_and_stderr() {
        let daemon = crate::inventory::parse(r#"[{"daemon_name": "rgw.a"}]"#).unwrap();
        let orch = CommandOrch {
            argv: ["sh", "-c", "echo no such unit {name} >&2; exit 5"]
                .map(String::from)
                .to_vec(),
            timeout: Duration::from_secs(5),
        };
        let err = orch.restart(&daemon[0]).await.unwrap_err().to_string();
        assert!(err.ends_with("exited 5: no such unit rgw.a"), "{err}");
    }
}
