//! `tuneguard generate`: man pages and shell completions rendered from the clap
//! definition in cli.rs, so they cannot drift from the command line they describe.
//! Hidden from `--help`; scripts/release and packagers call it. Everything goes to
//! stdout: the caller decides where files land (as `rg --generate` does).

use super::write_stdout;
use crate::cli::{Cli, CompletionShell, Generate};
use anyhow::{bail, Result};
use clap::CommandFactory;

pub fn run(what: Generate) -> Result<i32> {
    match what {
        Generate::Man { name: None } => {
            let names: Vec<String> = man_pages().into_iter().map(|(n, _)| n + "\n").collect();
            write_stdout(&names.concat())?;
        }
        Generate::Man { name: Some(want) } => {
            let want = want.strip_suffix(".1").unwrap_or(&want);
            let pages = man_pages();
            let Some((_, page)) = pages.iter().find(|(n, _)| n == want) else {
                let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
                bail!(
                    "no man page {want}{} (`tuneguard generate man` lists them)",
                    crate::suggest::did_you_mean(want, names.iter().copied())
                );
            };
            write_stdout(page)?;
        }
        Generate::Completions { shell } => write_stdout(&completions(shell))?,
    }
    Ok(0)
}

/// Every page: (`tuneguard-profiles-show`, its roff text), the top command first.
pub fn man_pages() -> Vec<(String, String)> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Names subcommands `tuneguard-audit` and propagates global flags (--color).
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, &mut pages);
    pages
}

fn collect(cmd: &clap::Command, pages: &mut Vec<(String, String)>) {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut roff)
        .expect("rendering into memory");
    pages.push((name, String::from_utf8_lossy(&roff).into_owned()));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, pages);
    }
}

/// The completion script for `shell`.
pub fn completions(shell: CompletionShell) -> String {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tuneguard", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}
