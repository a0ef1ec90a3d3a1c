//! `tuneguard observe`: read two samples of the namespace (or one of a captured tree),
//! the owners of the sockets worth naming, decide, tell. Exit 0, or 1 when a diagnosis
//! is at or above --fail-on; 2 when the sockets or the counters cannot be read.

use crate::cli::{PlanFormat, Selected};
use crate::host::{self, census, netns, sockets, LiveSource};
use crate::observe::{self, Observation};
use crate::profile::Severity;
use crate::report::observe::{self as render, ObserveReport};
use crate::report::style::Style;
use crate::report::text::Verbosity;
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::time::Duration;

pub struct Flags {
    /// Time between the two samples; None for one sample.
    pub interval: Option<Duration>,
    /// Name the processes owning the sockets a diagnosis points at.
    pub owners: bool,
    /// Which socket states to look at (1 << state).
    pub states: u32,
    pub format: PlanFormat,
    pub fail_on: Severity,
}

pub fn observe(sel: &Selected, flags: Flags, style: Style, verbosity: Verbosity) -> Result<i32> {
    if sel.all_netns {
        bail!("--all-netns is for audit for now: observe one namespace at a time (--netns NAME or --pid PID)");
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
    let id = host::identify(&sel.live, sel.netns.as_ref());
    let settings = host::read_values(&sel.live, observe::SETTINGS);

    let first = census::sample(&proc_root, live.then_some(flags.states));
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
            std::thread::sleep(d);
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
    let owners = (flags.owners && live).then(|| sockets::owners(&observe::wanted_inodes(&obs)));
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
        PlanFormat::Text => render::text(&report, style, verbosity),
        PlanFormat::Json => render::json(&report),
    };
    super::write_stdout(&out)?;
    let failing = analysis
        .diagnoses
        .iter()
        .any(|d| d.severity >= flags.fail_on);
    Ok(i32::from(failing))
}
