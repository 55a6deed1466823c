//! `ceph-warden`: parse the command line, set up logging, load the config, run the command.

use std::process::ExitCode;

use ceph_warden::cli::{Cli, Command};
use ceph_warden::{check, config, exitcode};
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
    let default_level = ["warn", "info", "debug"][usize::from(cli.verbose.min(2))];
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    ExitCode::from(match cli.command {
        Command::CheckConfig { file } => config::check_file(&file),
        Command::Check(args) => match config::Config::load(args.config.as_deref()) {
            Err(err) => {
                eprintln!("ceph-warden: error: {err}");
                exitcode::CONFIG
            }
            Ok(cfg) => match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(check::main(cfg, args)),
                Err(err) => {
                    eprintln!("ceph-warden: error: cannot start the async runtime: {err}");
                    exitcode::INTERNAL
                }
            },
        },
    })
}
