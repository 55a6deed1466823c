//! What must hold before `run` may act: a state directory it can write and both listen
//! addresses, bound before anything else starts; then the readers served on them, the
//! HAProxy agent and the HTTP API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::exitcode;
use crate::http::Api;
use crate::machine::Observation;
use crate::statefile;

/// Why `run` could not start serving; each maps to a documented exit code.
#[derive(Debug, thiserror::Error)]
pub(super) enum ServeError {
    #[error("cannot write the state directory {}: {source}; drains, maintenance and restart budgets would not survive a restart (set state-directory in the config, or fix the directory's owner and mode)", .path.display())]
    StateDirectory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl ServeError {
    pub(super) fn exit_code(&self) -> u8 {
        match self {
            Self::StateDirectory { .. } => exitcode::CANT_CREATE,
            Self::Bind { .. } => exitcode::OS_ERROR,
        }
    }
}

/// The two listeners, bound before anything else starts.
pub(super) struct Listeners {
    agent: TcpListener,
    http: TcpListener,
}

impl Listeners {
    /// What must hold before the sidecar may act: a state directory it can write (exit 73
    /// otherwise) and both listen addresses (exit 71). Logs which configuration is in force.
    pub(super) async fn preflight(
        cfg: &Config,
        config_path: Option<&Path>,
    ) -> Result<Self, ServeError> {
        match config_path {
            Some(path) => tracing::info!("configuration from {}", path.display()),
            None => tracing::warn!(
                "no configuration file (no --config, and {} does not exist): running on the built-in defaults",
                crate::config::DEFAULT_PATH
            ),
        }
        statefile::check_writable(&cfg.state_directory).map_err(|source| {
            ServeError::StateDirectory {
                path: cfg.state_directory.clone(),
                source,
            }
        })?;
        let bind = |what: &'static str, addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind { what, addr, source })
        };
        Ok(Self {
            agent: bind("HAProxy agent checks", cfg.run.listen.agent).await?,
            http: bind("the HTTP API", cfg.run.listen.http).await?,
        })
    }

    /// Serves the agent (its polls go to `polls`) and the HTTP API until `token` is
    /// cancelled.
    pub(super) fn serve(
        self,
        cfg: &Config,
        host: &str,
        api: Api,
        polls: mpsc::Sender<Observation>,
        token: &CancellationToken,
        tracker: &TaskTracker,
    ) {
        let (agent_addr, http_addr) = (
            self.agent.local_addr().unwrap_or(cfg.run.listen.agent),
            self.http.local_addr().unwrap_or(cfg.run.listen.http),
        );
        tracker.spawn(crate::agent::serve(
            self.agent,
            api.view.clone(),
            polls,
            cfg.run.listen.max_agent_connections,
            Arc::clone(&api.metrics),
            token.clone(),
            tracker.clone(),
        ));
        tracker.spawn(crate::http::serve(
            self.http,
            api,
            token.clone(),
            tracker.clone(),
        ));
        tracing::info!(agent = %agent_addr, http = %http_addr, host = %host, "ceph-warden running");
    }
}
