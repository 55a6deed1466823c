//! Runs one subcommand on a current-thread runtime and returns its exit code
//! ([`crate::exitcode`]). Config errors stop a command before it does anything.

use crate::cli::Command;
use crate::config::{self, Config};
use crate::{check, client, daemon, exitcode, ingress};

pub fn run(command: Command) -> u8 {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("ceph-warden: error: cannot start the async runtime");
        return exitcode::INTERNAL;
    };
    let load = |path: Option<&std::path::Path>| {
        Config::load(path).map_err(|err| eprintln!("ceph-warden: error: {err}"))
    };
    match command {
        Command::CheckConfig { file } => config::check_file(&file),
        Command::Check(args) => match load(args.config.as_deref()) {
            Ok(cfg) => runtime.block_on(check::main(cfg, args)),
            Err(()) => exitcode::CONFIG,
        },
        Command::Run { config } => match load(config.as_deref()) {
            Ok(cfg) => runtime.block_on(daemon::run(cfg, config)),
            Err(()) => exitcode::CONFIG,
        },
        Command::HaproxyConfig {
            config,
            host,
            daemon_type,
        } => match load(config.as_deref()) {
            Ok(cfg) => runtime.block_on(ingress::print(&cfg, host.as_deref(), &daemon_type)),
            Err(()) => exitcode::CONFIG,
        },
        Command::Manpage => {
            let mut out = std::io::stdout();
            match clap_mangen::Man::new(<crate::cli::Cli as clap::CommandFactory>::command())
                .render(&mut out)
            {
                Ok(()) => exitcode::OK,
                Err(err) => {
                    eprintln!("ceph-warden: error: {err}");
                    exitcode::INTERNAL
                }
            }
        }
        Command::Completions { shell } => {
            let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "ceph-warden", &mut std::io::stdout());
            exitcode::OK
        }
        other => runtime.block_on(client::main(other)),
    }
}
