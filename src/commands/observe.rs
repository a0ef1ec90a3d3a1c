//! `tuneguard observe`: read two samples of the namespace (or one of a captured tree),
//! the owners of the sockets worth naming, decide, tell. Exit 0, or 1 when a diagnosis
//! is at or above --fail-on; 2 when the sockets or the counters cannot be read.

use crate::cli::{ObserveFormat, Select, Selected};
use crate::host::{self, census, netns, sockets, LiveSource};
use crate::observe::{self, Observation};
use crate::profile::Severity;
use crate::report::observe::{self as render, ObserveReport};
use crate::report::style::Style;
use crate::report::text::Verbosity;
use anyhow::{bail, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Flags {
    /// Time between the two samples; None for one sample.
    pub interval: Option<Duration>,
    /// Name the processes owning the sockets a diagnosis points at.
    pub owners: bool,
    /// Which socket states to look at (1 << state).
    pub states: u32,
    pub format: ObserveFormat,
    pub fail_on: Severity,
    /// `--output FILE` instead of stdout.
    pub output: Option<PathBuf>,
}

/// observe reads the running kernel (or a captured proc tree), never configuration
/// files, a profile or journals: flags that choose those would be silently ignored, so
/// they are refused. Runs after `Select::resolve`, so a `--root` that does not exist
/// is still reported as such.
pub fn refuse_ignored(select: &Select) -> Result<()> {
    let given: Vec<&str> = [
        (!select.profiles.is_empty(), "--profile"),
        (select.root != Path::new("/"), "--root"),
        (select.state_dir.is_some(), "--state-dir"),
        (select.nginx_conf.is_some(), "--nginx-conf"),
        (select.nginx_dump.is_some(), "--nginx-dump"),
        (select.no_nginx, "--no-nginx"),
        (select.only.is_some(), "--only"),
        (select.kernel.is_some(), "--kernel"),
    ]
    .into_iter()
    .filter_map(|(yes, flag)| yes.then_some(flag))
    .collect();
    if !given.is_empty() {
        bail!(
            "observe does not use {}: it reads the running kernel's evidence (or a captured tree with --proc), not profiles, configuration files or journals; drop the flag, or use `tuneguard audit` for those",
            given.join(", ")
        );
    }
    Ok(())
}

/// Sleeps `d`; on a terminal, says on stderr what it waits for, counting down, and
/// clears the line after (stdout, the report, is untouched).
fn wait(d: Duration, what: &str) {
    if !std::io::stderr().is_terminal() {
        std::thread::sleep(d);
        return;
    }
    let end = Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        eprint!(
            "\r\x1b[Kobserve: first sample of {what} taken; second in {:.0} s",
            left.as_secs_f64().ceil()
        );
        std::thread::sleep(left.min(Duration::from_secs(1)));
    }
    eprint!("\r\x1b[K");
}

pub fn observe(sel: &Selected, flags: Flags, style: Style, verbosity: Verbosity) -> Result<i32> {
    if sel.all_netns {
        return super::observe_all::observe(sel, flags, style, verbosity);
    }
    host::check_source(&sel.live)?;
    let (proc_root, live) = match &sel.live {
        LiveSource::Kernel => (PathBuf::from("/proc"), true),
        LiveSource::ProcDir(d) => (d.clone(), false),
        LiveSource::Offline => bail!(
            "observe reads the kernel's runtime evidence: it needs the running kernel or a captured proc tree (--proc DIR), not `--proc none`"
        ),
    };
    if let Some(t) = &sel.netns {
        netns::enter(t)?;
    }
    let mut id = host::identify(&sel.live, sel.netns.as_ref());
    if let Some(m) = &sel.capture {
        // Who was captured, as the host named it (the tree alone says "proc:DIR").
        id.hostname = m.hostname.clone();
        id.netns.label = m.netns.label.clone();
        id.netns.initial = m.netns.initial;
    }
    let settings = host::read_values(&sel.live, observe::SETTINGS);

    let mut first = census::sample(&proc_root, live.then_some(flags.states));
    if let Some(m) = &sel.capture {
        if flags.states != sockets::TCP_ALL_STATES {
            bail!("--state is for a live observe: a capture holds the census of every state (observe --capture DIR shows them all)");
        }
        first.sockets = m.census.clone();
    }
    if let Some(Err(e)) = &first.sockets {
        bail!("{e}");
    }
    if first.counters.values.is_empty() {
        let why: Vec<String> = first
            .counters
            .problems
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display()))
            .collect();
        bail!(
            "no counters could be read under {} ({})",
            proc_root.display(),
            why.join("; ")
        );
    }
    // A captured tree is one instant: there is nothing to wait for.
    let second = match flags.interval {
        Some(d) if live => {
            wait(d, &format!("netns {}", id.netns.label));
            Some(census::sample(&proc_root, live.then_some(flags.states)))
        }
        _ => None,
    };
    if let Some(Some(Err(e))) = second.as_ref().map(|s| &s.sockets) {
        bail!("{e}");
    }
    let obs = Observation {
        first: &first,
        second: second.as_ref(),
        settings: &settings,
    };
    let owners = match &sel.capture {
        Some(m) if flags.owners => m.census_owners.clone(),
        _ => (flags.owners && live).then(|| sockets::owners(&observe::wanted_inodes(&obs))),
    };
    let analysis = observe::analyze(&obs, owners.as_ref());
    let report = ObserveReport {
        identity: &id,
        settings: &settings,
        analysis: &analysis,
        fail_on: flags.fail_on,
        owners_skipped: !flags.owners,
        states: flags.states,
    };
    let out = match flags.format {
        ObserveFormat::Text => render::text(&report, style, verbosity),
        ObserveFormat::Json => render::json(&report),
        ObserveFormat::Prometheus => crate::report::prometheus::render_observe(&report),
    };
    super::write_output(&out, flags.output.as_deref())?;
    let failing = analysis
        .diagnoses
        .iter()
        .any(|d| d.severity >= flags.fail_on);
    Ok(i32::from(failing))
}
