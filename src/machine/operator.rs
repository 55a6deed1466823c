//! The operator's commands on one daemon (HTTP API and CLI): drain and undrain (persisted),
//! a planned restart (drain, wait for every HAProxy and the requests in flight, restart,
//! verify), maintenance (persisted) and the reset of a spent budget or a canary's hold.
//! Each is idempotent: repeating it changes nothing more.

use std::time::Instant;

use super::phase::{LeaseWait, Phase, Planned};
use super::reason::Reason;
use super::tracked::Tracked;
use super::{Action, Command, CommandError};

impl Tracked {
    pub(super) fn command(
        &mut self,
        name: &str,
        command: Command,
        now: Instant,
        actions: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        match command {
            Command::Drain => self.drain(name, now, actions),
            Command::Undrain => self.undrain(name, now, actions),
            Command::Restart => self.planned_restart(name, now, actions)?,
            Command::Maintenance(true) => self.maintenance_on(name, now, actions),
            Command::Maintenance(false) => self.maintenance_off(name, now, actions),
            Command::Reset => self.reset(name, now, actions),
        }
        Ok(())
    }

    /// Out of rotation until `undrain`, kept across sidecar restarts.
    fn drain(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        if !self.flags.drained {
            self.flags.drained = true;
            actions.push(Action::Persist);
        }
        if matches!(self.phase, Phase::Healthy | Phase::Busy | Phase::Suspect) {
            let draining = Phase::Draining { planned: None };
            self.set(name, draining, Reason::Drained, now, actions);
        } else {
            // The phase stays; its word now says drain where it served.
            self.refresh_word(now);
        }
    }

    fn undrain(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        if self.flags.drained {
            self.flags.drained = false;
            actions.push(Action::Persist);
        }
        if !matches!(self.phase, Phase::Draining { planned: None }) {
            self.refresh_word(now);
        } else if self.probes.streaks.failed() > 0 {
            let detail = self.probes.detail();
            let reason = Reason::UndrainedFailing { detail };
            self.set(name, Phase::Suspect, reason, now, actions);
        } else {
            self.serve(name, Reason::Undrained, now, actions);
        }
    }

    /// A daemon in service drains first; one already out of rotation (failed, held) is
    /// restarted at once, outside the automatic budget.
    fn planned_restart(
        &mut self,
        name: &str,
        now: Instant,
        actions: &mut Vec<Action>,
    ) -> Result<(), CommandError> {
        if self.flags.maintenance {
            return Err(CommandError::InMaintenance {
                daemon: name.to_string(),
            });
        }
        match self.phase {
            // Under way, or asked for (the lease has it waiting), or draining for one.
            Phase::Restarting(_)
            | Phase::Recovering(_)
            | Phase::WaitingForLease(LeaseWait::Asking(_) | LeaseWait::Idle(Some(_)))
            | Phase::Draining { planned: Some(_) } => {}
            Phase::Failed | Phase::Held | Phase::WaitingForLease(LeaseWait::Idle(None)) => {
                self.issue_restart(name, false, false, now, actions);
            }
            _ => {
                let planned = Planned {
                    started: now,
                    in_flight: None,
                };
                let draining = Phase::Draining {
                    planned: Some(planned),
                };
                self.set(name, draining, Reason::PlannedDraining, now, actions);
            }
        }
        Ok(())
    }

    fn maintenance_on(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        if !self.flags.maintenance {
            self.flags.maintenance = true;
            actions.push(Action::Persist);
        }
        self.set(
            name,
            Phase::Maintenance,
            Reason::MaintenanceOn,
            now,
            actions,
        );
    }

    /// Back from maintenance: `maint` until `rise` passing probes give a verdict.
    fn maintenance_off(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        if self.flags.maintenance {
            self.flags.maintenance = false;
            actions.push(Action::Persist);
        }
        if self.phase == Phase::Maintenance {
            self.probes.streaks.reset();
            let starting = Phase::Starting {
                leaving_maintenance: true,
            };
            let reason = Reason::MaintenanceOff {
                rise: self.policy.rise,
            };
            self.set(name, starting, reason, now, actions);
        }
    }

    /// A fresh restart budget, and the canary's hold on its service lifted.
    fn reset(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        if self.flags.holds_service {
            self.flags.holds_service = false;
            actions.push(Action::LiftServiceHold {
                daemon: name.to_string(),
            });
        }
        if self.budget.reset() {
            actions.push(Action::Persist);
        }
        if self.phase == Phase::Held {
            self.set(name, Phase::Failed, Reason::Reset, now, actions);
        }
    }
}
