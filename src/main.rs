//! `ceph-warden`: parse the command line, set up logging, load the config, run the command.

use std::process::ExitCode;

use ceph_warden::cli::{Cli, Command};
use ceph_warden::config::Config;
use ceph_warden::{check, client, config, daemon, exitcode};
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
    let level = ["warn", "info", "debug"][usize::from(cli.verbose.min(2))];
    let level = if matches!(cli.command, Command::Run { .. }) && cli.verbose == 0 {
        "info"
    } else {
        level
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("ceph-warden: error: cannot start the async runtime");
        return ExitCode::from(exitcode::INTERNAL);
    };
    let load = |path: Option<&std::path::Path>| {
        Config::load(path).map_err(|err| eprintln!("ceph-warden: error: {err}"))
    };
    ExitCode::from(match cli.command {
        Command::CheckConfig { file } => config::check_file(&file),
        Command::Check(args) => match load(args.config.as_deref()) {
            Ok(cfg) => runtime.block_on(check::main(cfg, args)),
            Err(()) => exitcode::CONFIG,
        },
        Command::Run { config } => match load(config.as_deref()) {
            Ok(cfg) => runtime.block_on(daemon::run(cfg, config)),
            Err(()) => exitcode::CONFIG,
        },
        other => runtime.block_on(client::main(other)),
    })
}
