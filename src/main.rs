//! `ceph-warden`: parse the command line, set up logging, run the command.

use std::process::ExitCode;

use ceph_warden::cli::{Cli, Command};
use ceph_warden::{commands, exitcode};
use clap::Parser;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                exitcode::USAGE
            } else {
                exitcode::OK
            });
        }
    };
    // The sidecar logs its transitions at info; one-shot commands only warnings.
    let level = match (cli.verbose, &cli.command) {
        (0, Command::Run { .. }) => "info",
        (0, _) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    ExitCode::from(commands::run(cli.command))
}
