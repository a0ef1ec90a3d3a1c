//! `audit --all-netns`: every network namespace on the host, each audited once as
//! `audit --netns NAME` (an `ip netns` one) or `audit --pid PID` (its lowest pid) would,
//! then one report. Each namespace is entered by a worker thread (setns(2) moves only
//! the calling thread), so the main thread stays where it was and a few workers share
//! the waits on the kernel. A namespace gone before it is entered is reported as such.

use crate::audit;
use crate::cli::{Format, Selected};
use crate::host::namespaces::{self, Found};
use crate::host::netns::{self, Target};
use crate::host::LiveSource;
use crate::profile::{Library, Profile, Severity};
use crate::report::fleet::{self, Audited, Namespace, Outcome};
use crate::report::style::Style;
use crate::report::text::Verbosity;
use crate::safety::netns::{self as policy, Kind};
use anyhow::{bail, Result};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub struct How {
    pub format: Format,
    pub fail_on: Severity,
    pub style: Style,
    pub verbosity: Verbosity,
    /// `--output FILE`: written atomically instead of printed.
    pub output: Option<std::path::PathBuf>,
}

pub fn audit(sel: &Selected, library: &Library, profile: &Profile, how: How) -> Result<i32> {
    if sel.live != LiveSource::Kernel {
        bail!(
            "--all-netns reads the running kernel's namespaces; it cannot be combined with --proc"
        );
    }
    if how.format == Format::Junit {
        bail!("--all-netns prints text, JSON (one report per namespace) or Prometheus metrics (each namespace under its netns label)");
    }
    if !crate::host::is_root() {
        bail!("--all-netns enters every network namespace, which needs CAP_SYS_ADMIN: run tuneguard as root (sudo tuneguard audit --all-netns)");
    }
    let discovery = namespaces::discover();
    // Tests hold the run here and make namespaces vanish (fault-injection builds only).
    crate::txn::fault::boundary("all-netns:discovered")?;
    let outcomes = run_all(&discovery.found, sel, profile);
    let namespaces: Vec<Namespace> = discovery
        .found
        .into_iter()
        .zip(outcomes)
        .map(|(found, outcome)| Namespace { found, outcome })
        .chain(discovery.vanished.iter().map(|name| Namespace {
            found: vanished(name),
            outcome: Outcome::Vanished,
        }))
        .collect();
    let fleet = fleet::Fleet {
        namespaces: &namespaces,
        profiles: &profile.names,
        overrides: &library.overrides(),
        fail_on: how.fail_on,
        notes: &discovery.notes,
    };
    let out = match how.format {
        Format::Json => fleet::json(&fleet),
        Format::Prometheus => {
            let reports: Vec<_> = namespaces
                .iter()
                .filter_map(|n| Some((n.metric_label(), n.report(&fleet)?)))
                .collect();
            crate::report::prometheus::render_fleet(&reports)
        }
        _ => fleet::text(&fleet, how.style, how.verbosity),
    };
    super::write_output(&out, how.output.as_deref())?;
    let code = fleet.exit_code();
    // As `audit`: the process ends here, freeing nothing piece by piece.
    std::mem::forget(namespaces);
    Ok(code)
}

/// An `ip netns` name that vanished between the listing and the open: no id, no process.
pub(super) fn vanished(name: &str) -> Found {
    Found {
        id: policy::Id { dev: 0, ino: 0 },
        names: vec![name.to_string()],
        pids: Vec::new(),
        processes: Vec::new(),
        workload: None,
        own: false,
    }
}

/// Audits each namespace on a pool of worker threads; the outcomes in `found`'s order.
fn run_all(found: &[Found], sel: &Selected, profile: &Profile) -> Vec<Outcome> {
    on_workers(found, |f| audit_one(f, sel, profile))
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Outcome::Failed("the thread that audited it failed".into())))
        .collect()
}

/// Runs `each` on every item on a pool of worker threads, a few per core (each mostly
/// waits on the kernel), taking the items in order; the results in the items' order,
/// None where a worker panicked.
pub(super) fn on_workers<I: Sync, T: Send>(
    items: &[I],
    each: impl Fn(&I) -> T + Sync,
) -> Vec<Option<T>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .clamp(1, 16)
        .min(items.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = each(item);
                if let Ok(mut r) = results.lock() {
                    r[i] = Some(result);
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}

/// Opens the namespace by the first of its files that still refers to it: tuneguard's
/// own (as a plain `audit` reads it), its `ip netns` name, else its processes' lowest
/// pid first (as `--netns NAME` or `--pid PID`).
pub(super) fn open(f: &Found) -> Option<(OwnedFd, PathBuf, Option<Target>)> {
    if f.own {
        let path = PathBuf::from("/proc/self/ns/net");
        if let Ok((fd, _)) = policy::open(&path, Kind::Process, Some(f.id)) {
            return Some((fd, path, None));
        }
    }
    for name in &f.names {
        let path = PathBuf::from(policy::NAMED_DIR).join(name);
        if let Ok((fd, _)) = policy::open(&path, Kind::Named, Some(f.id)) {
            return Some((fd, path, Some(Target::Netns(name.clone()))));
        }
    }
    f.pids.iter().find_map(|&pid| {
        let t = Target::Pid(pid);
        let path = t.path();
        policy::open(&path, Kind::Process, Some(f.id))
            .ok()
            .map(|(fd, _)| (fd, path, Some(t)))
    })
}

fn audit_one(f: &Found, sel: &Selected, profile: &Profile) -> Outcome {
    let Some((fd, path, target)) = open(f) else {
        return Outcome::Vanished;
    };
    if let Err(e) = netns::enter_fd(fd.as_fd(), &path) {
        return Outcome::Failed(format!("{e:#}"));
    }
    drop(fd);
    match super::read_entered(sel, target.as_ref(), profile) {
        Ok(mut snapshot) => {
            if target.is_some() && snapshot.netns.initial == Some(false) {
                snapshot.netns.workload = f.workload.clone();
            }
            let findings = audit::audit(&snapshot, profile, audit::Scope { sysctl: sel.sysctl });
            Outcome::Audited(Box::new(Audited { snapshot, findings }))
        }
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}
