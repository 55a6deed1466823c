//! The signals `run` answers (SIGTERM and SIGINT stop it, SIGHUP reloads the config) and the
//! systemd watchdog it pings: the shell's conversation with its service manager.

use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::Interval;

/// SIGTERM, SIGINT and SIGHUP, received with `tokio::signal`.
pub(super) struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

pub(super) enum Received {
    Terminate,
    Interrupt,
    Hangup,
}

impl Signals {
    pub(super) fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal; never, without handlers (the shell's tests must not install any: the
    /// test binary would take them).
    pub(super) async fn recv(signals: Option<&mut Self>) -> Received {
        let Some(signals) = signals else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = signals.terminate.recv() => Received::Terminate,
            _ = signals.interrupt.recv() => Received::Interrupt,
            _ = signals.hangup.recv() => Received::Hangup,
        }
    }
}

/// systemd's `WatchdogSec=`: pinged at half its period from the shell's loop, so a stuck loop
/// stops pinging and is restarted.
pub(super) struct Watchdog {
    /// `None`: no watchdog asked for (then [`Watchdog::tick`] never fires).
    ticks: Option<Interval>,
}

impl Watchdog {
    pub(super) fn from_env() -> Self {
        Self {
            ticks: watchdog_period().map(|period| tokio::time::interval(period / 2)),
        }
    }

    /// The next time to ping; never, without a watchdog.
    pub(super) async fn tick(&mut self) {
        match &mut self.ticks {
            Some(ticks) => {
                ticks.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    pub(super) fn ping() {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
    }
}

/// systemd's `WatchdogSec=`, from `WATCHDOG_USEC`, when `WATCHDOG_PID` is unset or ours (as
/// libsystemd's `sd_watchdog_enabled` reads them).
fn watchdog_period() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    let ours = std::env::var("WATCHDOG_PID")
        .ok()
        .is_none_or(|pid| pid.parse() == Ok(std::process::id()));
    (ours && usec > 0).then(|| Duration::from_micros(usec).max(Duration::from_millis(20)))
}
