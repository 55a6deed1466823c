//! The operator's commands on one daemon (HTTP API and CLI): drain and undrain (persisted),
//! a planned restart (drain, wait for every HAProxy and the requests in flight, restart,
//! verify), maintenance (persisted) and the reset of a spent budget or a canary's hold.
//! Each is idempotent: repeating it changes nothing more.

use std::time::Instant;

use super::reason::Reason;
use super::verdict::ProbeClass;
use super::{Action, Command, CommandError, State, Tracked};

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
        if !self.drained {
            self.drained = true;
            actions.push(Action::Persist);
        }
        if matches!(self.state, State::Healthy | State::Busy | State::Suspect) {
            self.set(name, State::Draining, Reason::Drained, now, actions);
        } else {
            // The state stays; its word now says drain where it served.
            self.set(name, self.state, self.why.clone(), now, actions);
        }
    }

    fn undrain(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        if self.drained {
            self.drained = false;
            actions.push(Action::Persist);
        }
        if self.state == State::Draining && !self.planned {
            let busy = self
                .last_probe
                .as_ref()
                .is_some_and(|p| p.class == ProbeClass::Busy);
            if self.streaks.failed() > 0 {
                let detail = self.probe_detail();
                let reason = Reason::UndrainedFailing { detail };
                self.set(name, State::Suspect, reason, now, actions);
            } else {
                self.serve(name, busy, Reason::Undrained, now, actions);
            }
        } else {
            self.set(name, self.state, self.why.clone(), now, actions);
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
        if self.maintenance {
            return Err(CommandError::InMaintenance {
                daemon: name.to_string(),
            });
        }
        match self.state {
            State::Restarting | State::Recovering => {}
            State::Draining if self.planned => {}
            State::Failed | State::Held => {
                if !self.restart_outstanding {
                    self.issue_restart(name, false, false, now, actions);
                }
            }
            _ => {
                self.planned = true;
                self.drain_started = Some(now);
                self.in_flight = None;
                self.set(name, State::Draining, Reason::PlannedDraining, now, actions);
            }
        }
        Ok(())
    }

    fn maintenance_on(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        if !self.maintenance {
            self.maintenance = true;
            actions.push(Action::Persist);
        }
        self.planned = false;
        self.restart_deadline = None;
        self.drain_started = None;
        self.set(
            name,
            State::Maintenance,
            Reason::MaintenanceOn,
            now,
            actions,
        );
    }

    /// Back from maintenance: `maint` until `rise` passing probes give a verdict.
    fn maintenance_off(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        if self.maintenance {
            self.maintenance = false;
            actions.push(Action::Persist);
        }
        if self.state == State::Maintenance {
            self.leaving_maintenance = true;
            self.streaks.reset();
            let reason = Reason::MaintenanceOff {
                rise: self.policy.rise,
            };
            self.set(name, State::Starting, reason, now, actions);
        }
    }

    /// A fresh restart budget, and the canary's hold on its service lifted.
    fn reset(&mut self, name: &str, now: Instant, actions: &mut Vec<Action>) {
        if self.holds_service {
            self.holds_service = false;
            actions.push(Action::LiftServiceHold {
                daemon: name.to_string(),
            });
        }
        if self.budget.reset() {
            actions.push(Action::Persist);
        }
        if self.state == State::Held {
            self.set(name, State::Failed, Reason::Reset, now, actions);
        }
    }
}
