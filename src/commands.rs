//! Runs one subcommand on a current-thread runtime and returns its exit code
//! ([`crate::exitcode`]). Config errors stop a command before it does anything. The man pages
//! and the shell completions are generated here from the CLI definition ([`crate::cli`]), so
//! they never drift from `--help`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_mangen::roff::{bold, italic, roman, Roff};
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
        Command::Manpage { dir } => report(write_man_pages(dir.as_deref())),
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

/// The binary's name: the completion scripts register for it, the man pages are named after it.
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

/// `ceph-warden manpage [--dir DIR]`: the main page on stdout, or every page into DIR.
fn write_man_pages(dir: Option<&Path>) -> std::io::Result<()> {
    let pages = man_pages()?;
    let Some(dir) = dir else {
        let main = pages
            .iter()
            .find(|(name, _)| name == &format!("{BIN}.1"))
            .map(|(_, text)| text.as_slice())
            .unwrap_or_default();
        return std::io::stdout().write_all(main);
    };
    std::fs::create_dir_all(dir)?;
    for (name, text) in &pages {
        std::fs::write(dir.join(name), text)
            .map_err(|err| std::io::Error::new(err.kind(), format!("{name}: {err}")))?;
    }
    Ok(())
}

/// Every man page, as (file name, roff): `ceph-warden.1`, whose SUBCOMMANDS section names
/// `ceph-warden-<subcommand>(1)` for each subcommand, and that page for each of them.
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    // clap's `help` subcommand would be named `ceph-warden-help(1)` in the main page; `--help`
    // is on every command and every page says what it would.
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    let subcommands: Vec<clap::Command> = cli
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .collect();
    let mut pages = vec![(
        format!("{BIN}.1"),
        man_page(&cli, |roff| main_page_sections(roff, &subcommands))?,
    )];
    for sub in &subcommands {
        let name = format!("{BIN}-{}", sub.get_name());
        let page = man_page(sub, |roff| {
            roff.control("SH", ["SEE ALSO"]);
            roff.text([bold(BIN), roman("(1)")]);
        })?;
        pages.push((format!("{name}.1"), page));
    }
    Ok(pages)
}

/// clap_mangen's sections, the `after_help` text (the exit codes) as EXIT STATUS with its
/// layout kept, then the page's own sections.
fn man_page(command: &clap::Command, sections: impl FnOnce(&mut Roff)) -> std::io::Result<Vec<u8>> {
    // The footer names the package and its version on every page, not the subcommand.
    let man = Man::new(command.clone()).source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if command.get_subcommands().any(|sub| !sub.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    let mut roff = Roff::new();
    if let Some(text) = command.get_after_help() {
        roff.control("SH", ["EXIT STATUS"]);
        roff.control("nf", []);
        for line in text.to_string().lines() {
            roff.text([roman(line)]);
        }
        roff.control("fi", []);
    }
    sections(&mut roff);
    roff.to_writer(&mut out)?;
    // Only the main command has a version (clap_mangen panics rendering one that has none).
    if command.get_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    Ok(out)
}

/// FILES, CONFIGURATION and SEE ALSO of `ceph-warden(1)`: the paths are the Debian
/// package's (scripts/build-deb.sh, Cargo.toml's [package.metadata.deb]).
fn main_page_sections(roff: &mut Roff, subcommands: &[clap::Command]) {
    configuration_section(roff);
    files_section(roff);
    see_also_section(roff, subcommands);
}

/// Where the Debian package puts the documentation.
const DOC: &str = "/usr/share/doc/ceph-warden";

/// CONFIGURATION: which file, its syntax, and `check-config`.
fn configuration_section(roff: &mut Roff) {
    roff.control("SH", ["CONFIGURATION"]);
    roff.text([
        roman("One TOML file: the one "),
        bold("--config"),
        roman(" names, or "),
        italic(config::DEFAULT_PATH),
        roman(
            " when it exists (otherwise the built-in defaults). Keys are kebab-case, durations \
             strings with a unit (\"5s\", \"500ms\"); an unknown key is an error that names it. \
             Every key, with its default and why, is in ",
        ),
        italic(format!("{DOC}/examples/ceph-warden.toml")),
        roman(": copy it to "),
        italic(config::DEFAULT_PATH),
        roman(" and set the cephx user in "),
        bold("[ceph] args"),
        roman("."),
    ]);
    roff.control("PP", []);
    roff.text([
        bold("ceph-warden check-config"),
        roman(" "),
        italic("FILE"),
        roman(
            " validates a file with the same code (exit 0 when valid, 78 otherwise). The sidecar \
             rereads the file on SIGHUP (",
        ),
        bold("systemctl reload ceph-warden"),
        roman("); a file that does not validate is rejected and the running configuration stays."),
    ]);
}

/// FILES: the configuration, the state, the lock, the unit and the documentation.
fn files_section(roff: &mut Roff) {
    let entry = |roff: &mut Roff, path: &str, text: &str| {
        roff.control("TP", []);
        roff.text([bold(path)]);
        roff.text([roman(text)]);
    };
    roff.control("SH", ["FILES"]);
    entry(
        roff,
        config::DEFAULT_PATH,
        "The configuration file (root:ceph-warden 0640).",
    );
    entry(
        roff,
        "/var/lib/ceph-warden/state.json",
        "The sidecar's state: operator drains and maintenance, the restart history, the last \
         good inventory. It survives sidecar restarts and upgrades; one that cannot be read is \
         moved aside as state.json.unreadable-<time>.",
    );
    entry(
        roff,
        "/var/lib/ceph-warden/check.lock",
        "The lock of ceph-warden check (flock). Run check as the ceph-warden user: a check.lock \
         created by root makes the user's runs exit 3.",
    );
    entry(
        roff,
        "/usr/lib/systemd/system/ceph-warden.service",
        "The unit: ceph-warden run --config /etc/ceph-warden/ceph-warden.toml as user \
         ceph-warden; installed neither enabled nor started.",
    );
    entry(
        roff,
        &format!("{DOC}/examples/"),
        "ceph-warden.toml (every key), haproxy.cfg (HAProxy with agent-check), \
         cephadm-ingress-haproxy.cfg.j2 (the same for cephadm's ingress service), \
         ceph-warden-alerts.yml (Prometheus alert rules).",
    );
    entry(
        roff,
        &format!("{DOC}/"),
        "install.md (installing on a cephadm cluster, upgrading, removing), operations.md, \
         status.md (the HTTP API and the /status schema), troubleshooting.md (symptom, the \
         command that shows the cause, the fix), changelog.Debian.gz (what changed in each \
         version).",
    );
}

/// SEE ALSO: each subcommand's page, then HAProxy's, Ceph's and systemctl's.
fn see_also_section(roff: &mut Roff, subcommands: &[clap::Command]) {
    roff.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<(String, &str)> = subcommands
        .iter()
        .map(|sub| (format!("{BIN}-{}", sub.get_name()), "1"))
        .collect();
    refs.extend([
        ("haproxy".to_owned(), "1"),
        ("ceph".to_owned(), "8"),
        ("systemctl".to_owned(), "1"),
    ]);
    let mut line = Vec::new();
    for (i, (name, section)) in refs.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(bold(name.as_str()));
        line.push(roman(format!("({section})")));
    }
    roff.text(line);
}
