//! Runs one subcommand on a current-thread runtime and returns its exit code
//! ([`crate::exitcode`]). Config errors stop a command before it does anything. The man pages
//! and the shell completions are generated here from the CLI definition ([`crate::cli`]), so
//! they never drift from `--help`.

use std::io::Write;

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::{Cli, Command};
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
            report(Man::new(Cli::command()).render(&mut out))
        }
        Command::Completions { shell } => {
            report(std::io::stdout().write_all(completion_script(shell).as_bytes()))
        }
        other => runtime.block_on(client::main(other)),
    }
}

fn report(result: std::io::Result<()>) -> u8 {
    match result {
        Ok(()) => exitcode::OK,
        Err(err) => {
            eprintln!("ceph-warden: error: {err}");
            exitcode::INTERNAL
        }
    }
}

/// The binary's name: the completion scripts register for it.
const BIN: &str = "ceph-warden";

/// `ceph-warden completions SHELL`: clap_complete's script, with its bash bug mended.
pub fn completion_script(shell: clap_complete::Shell) -> String {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    match shell {
        clap_complete::Shell::Bash => mend_bash_case_labels(&script),
        _ => script,
    }
}

/// clap_complete's bash generator (4.6.12 and every earlier 4.x, clap-rs/clap#6421) spells a
/// subcommand's state two ways when the binary's name has a hyphen: the loop over the words
/// sets `cmd="ceph__warden__subcmd__check"` (the name's hyphen escaped as `__`), while the
/// `case` arm holding check's options reads `ceph__subcmd__warden__subcmd__check)` (escaped as
/// the subcommand separator). No arm ever matched, so no subcommand's options completed. This
/// respells the arms the loop's way; once clap_complete spells them alike it changes nothing.
/// tests/it/completions.rs sources the result in bash and completes with it.
fn mend_bash_case_labels(script: &str) -> String {
    const SEPARATOR: &str = "__subcmd__";
    let wrong = format!("{}{SEPARATOR}", BIN.replace('-', SEPARATOR));
    let right = format!("{}{SEPARATOR}", BIN.replace('-', "__"));
    script.replace(&wrong, &right)
}
