//! Running a parsed command line: read, decide, tell. Returns the exit code (README);
//! errors (exit 2) are printed by main.

mod all_netns;
pub mod apply;
mod capture;
pub mod generate;
pub mod observe;
mod observe_all;

use crate::audit;
use crate::catalog;
use crate::cli::{Cli, Command, ExplainFormat, Format, ProfilesAction, Selected};
use crate::host::{self, netns};
use crate::profile::Library;
use crate::profile::Profile;
use crate::report::style::Style;
use crate::report::{self, explain, json, junit, prometheus, text, AuditReport};
use anyhow::{bail, Context, Result};
use std::io::Write;

pub fn run(cli: Cli) -> Result<i32> {
    let style = Style::new(cli.color.into());
    match cli.command {
        Command::Audit {
            select,
            talk,
            format,
            fail_on,
            output,
        } => {
            let sel = select.resolve()?;
            let library = Library::load(&sel.root)?;
            let profile = library.select(&sel.profiles)?;
            if sel.all_netns {
                let how = all_netns::How {
                    format,
                    fail_on: fail_on.into(),
                    style,
                    verbosity: talk.verbosity(),
                    output: output.clone(),
                };
                return all_netns::audit(&sel, &library, &profile, how);
            }
            let snap = read_host(&sel, &profile)?;
            let findings = audit::audit(&snap, &profile, audit::Scope { sysctl: sel.sysctl });
            let fail_on = fail_on.into();
            let report = AuditReport {
                snapshot: &snap,
                profiles: &profile.names,
                findings: &findings,
                fail_on,
                overrides: &library.overrides(),
            };
            let out = match format {
                Format::Text => text::render(&report, style, talk.verbosity()),
                Format::Json => json::render(&report),
                Format::Junit => junit::render(&report),
                Format::Prometheus => prometheus::render_audit(&report),
            };
            write_output(&out, output.as_deref())?;
            let code = audit::exit_code(&findings, fail_on);
            // The process ends here: freeing a large nginx configuration and its
            // findings piece by piece costs a tenth of the audit, for nothing.
            std::mem::forget(findings);
            std::mem::forget(snap);
            Ok(code)
        }
        Command::Explain { key, format } => {
            let render = |k: &catalog::KeyInfo| match format {
                ExplainFormat::Text => explain::text(k, style),
                ExplainFormat::Markdown => explain::markdown(k),
            };
            if key == "all" {
                let pages: Vec<String> = catalog::CATALOG.iter().map(render).collect();
                write_stdout(&pages.join("\n"))?;
                return Ok(0);
            }
            catalog::validate_key_name(&key.replace('/', ".")).map_err(anyhow::Error::msg)?;
            match catalog::lookup(&key) {
                Some(k) => {
                    write_stdout(&render(k))?;
                    Ok(0)
                }
                None => bail!(
                    "{key} is not in the catalog: tuneguard has no explanation for it (it still works in profiles as a plain value); `tuneguard explain all` lists what it knows{}",
                    crate::suggest::did_you_mean(
                        &key.replace('/', "."),
                        catalog::CATALOG.iter().map(|k| k.name)
                    )
                ),
            }
        }
        Command::Profiles { action, root } => profiles(action, &root, style),
        Command::Apply {
            select,
            apply: flags,
            format,
        } => {
            if select.capture.is_some() {
                bail!("apply changes this host: it does not take --capture (audit a capture with `tuneguard audit --capture DIR`)");
            }
            apply::apply(select, flags, format, style)
        }
        Command::Capture { output, select } => capture::capture(&output, &select),
        Command::Rollback {
            id,
            last,
            force,
            confirm,
            state_dir,
        } => apply::rollback(id, last, force, confirm, &state_dir, style),
        Command::History { format, state_dir } => apply::history(&state_dir, format),
        Command::Recover { confirm, state_dir } => apply::recover(confirm, &state_dir, style),
        Command::Generate { what } => generate::run(what),
        Command::Observe {
            select,
            interval,
            once,
            states,
            no_owners,
            talk,
            format,
            fail_on,
            output,
        } => observe::observe(
            &{
                let sel = select.resolve()?;
                observe::refuse_ignored(&select)?;
                sel
            },
            observe::Flags {
                interval: (!once).then(|| std::time::Duration::from_secs_f64(interval)),
                owners: !no_owners,
                states: match states.as_slice() {
                    [] => crate::host::sockets::TCP_ALL_STATES,
                    some => some.iter().fold(0, |m, s| m | 1 << s),
                },
                format,
                fail_on: fail_on.into(),
                output,
            },
            style,
            talk.verbosity(),
        ),
    }
}

/// Enters the selected namespace and reads what the profile's checks need: the rules'
/// keys, somaxconn and the keepalive trio for the nginx checks, the persisted files, the
/// nginx configuration and the listening sockets. Exits 2 (an error) when a key cannot
/// be read.
fn read_host(sel: &Selected, profile: &Profile) -> Result<host::Snapshot> {
    host::check_source(&sel.live)?;
    if let Some(t) = &sel.netns {
        netns::enter(t)?;
    }
    let mut snap = read_entered(sel, sel.netns.as_ref(), profile)?;
    if sel.netns.is_some() && snap.netns.initial == Some(false) {
        snap.netns.workload = host::namespaces::this_thread()
            .and_then(|id| host::namespaces::workload_of(&host::namespaces::pids_in(id)));
    }
    Ok(snap)
}

/// `read_host` in the namespace this thread is already in (`target` says which, for the
/// report and the remedies).
pub(crate) fn read_entered(
    sel: &Selected,
    target: Option<&netns::Target>,
    profile: &Profile,
) -> Result<host::Snapshot> {
    let mut keys = if sel.sysctl {
        profile.keys_to_read()
    } else {
        Vec::new()
    };
    if sel.nginx != host::NginxWant::Off {
        // The live checks compare every listener with what listen() gives today;
        // so_keepalive falls back to the keepalive keys.
        for k in ["net.core.somaxconn"]
            .iter()
            .chain(crate::profile::KEEPALIVE_KEYS.iter())
        {
            if !keys.iter().any(|x| x == k) {
                keys.push(k.to_string());
            }
        }
    }
    let mut snap = host::snapshot(&request(sel, target, &keys));
    if let Some(m) = &sel.capture {
        m.restore(&mut snap);
    }
    if let Some(why) = audit::unreadable(&snap) {
        bail!("{why}");
    }
    Ok(snap)
}

/// What the selection asks the host for: `keys`, in `target` (None: this namespace).
pub(crate) fn request<'a>(
    sel: &'a crate::cli::Selected,
    target: Option<&'a netns::Target>,
    keys: &'a [String],
) -> host::Request<'a> {
    host::Request {
        source: &sel.live,
        target,
        keys,
        root: &sel.root,
        root_explicit: sel.root_explicit,
        kernel: sel.kernel,
        nginx: &sel.nginx,
        nginx_version: sel.nginx_version,
        listeners: sel.nginx != host::NginxWant::Off,
        persisted: sel.sysctl,
    }
}

fn profiles(action: ProfilesAction, root: &std::path::Path, style: Style) -> Result<i32> {
    crate::cli::check_root(root)?;
    let library = Library::load(root)?;
    match action {
        ProfilesAction::List => {
            let (out, broken) = report::profiles::list(&library.list(), style);
            write_stdout(&out)?;
            Ok(if broken { 2 } else { 0 })
        }
        ProfilesAction::Show { name } => {
            let (text, source) = library.text_of(&name).with_context(|| {
                format!(
                    "no profile named `{name}`{} (known: {})",
                    crate::suggest::did_you_mean(&name, library.names().iter().map(String::as_str)),
                    library.names().join(", ")
                )
            })?;
            let p = library.select(std::slice::from_ref(&name))?;
            write_stdout(&report::profiles::show(&name, &text, &source, &p, style))?;
            Ok(0)
        }
        ProfilesAction::Validate { file } => {
            let p = library.validate_file(&file)?;
            let said = format!(
                "{}: ok, profile {} with {} after extends",
                file.display(),
                p.names.join(", "),
                crate::words::count(p.rules.len(), "sysctl rule")
            );
            let mut out = format!("{}\n", report::escape::line(&said));
            // A key the catalog lacks is checked as a plain value where the kernel has
            // it; one a letter away from a catalog key is likely a typo the audit would
            // only report as missing.
            for r in &p.rules {
                if catalog::lookup(&r.key).is_none() {
                    let near = crate::suggest::did_you_mean(
                        &r.key,
                        catalog::CATALOG.iter().map(|k| k.name),
                    );
                    let note = format!(
                        "note: {} is not in tuneguard's catalog: checked as a plain value where the kernel has it{near}",
                        r.key
                    );
                    out.push_str(&report::escape::line(&note));
                    out.push('\n');
                }
            }
            write_stdout(&out)?;
            Ok(0)
        }
    }
}

/// The report on stdout, or in `--output FILE`: replaced atomically, so a reader
/// (node_exporter's textfile collector) sees the old file or the new one, never half.
pub(crate) fn write_output(s: &str, file: Option<&std::path::Path>) -> Result<()> {
    match file {
        None => write_stdout(s),
        Some(f) => crate::txn::fsio::publish(f, s.as_bytes()),
    }
}

pub(crate) fn write_stdout(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}
