//! `observe --all-netns`: every network namespace on the host (the audit's discovery),
//! each observed as `observe --netns NAME` or `--pid PID` would, in one interval for all:
//! worker threads take every namespace's first sample, then every second sample, each
//! namespace's second `interval` after its own first, so the run costs one interval
//! however many namespaces there are. Everything per namespace is read by a thread
//! inside it (setns(2) moves only the calling thread): /proc/thread-self/net's
//! counters, the sock_diag sockets it opens, /proc/sys/net, the owner scan of the
//! processes sharing its namespace. A namespace gone before either sample is reported.

use super::all_netns::{on_workers, open, vanished};
use super::observe::Flags;
use crate::cli::{ObserveFormat, Selected};
use crate::host::census::{self, Sample};
use crate::host::namespaces::{self, Found};
use crate::host::netns::{self, Target};
use crate::host::{self, sockets, Identity, LiveSource};
use crate::observe::{self, Observation};
use crate::report::observe_fleet::{self as fleet, Gone, Namespace, Observed, Outcome};
use crate::report::style::Style;
use crate::report::text::Verbosity;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::time::{Instant, SystemTime};

/// A namespace after its first sample.
struct Started {
    identity: Identity,
    settings: BTreeMap<String, String>,
    first: Sample,
}

enum First {
    Taken(Box<Started>),
    Done(Outcome),
}

pub fn observe(sel: &Selected, flags: Flags, style: Style, verbosity: Verbosity) -> Result<i32> {
    if sel.live != LiveSource::Kernel {
        bail!(
            "--all-netns reads the running kernel's namespaces; it cannot be combined with --proc"
        );
    }
    if !host::is_root() {
        bail!("--all-netns enters every network namespace, which needs CAP_SYS_ADMIN: run tuneguard as root (sudo tuneguard observe --all-netns)");
    }
    let discovery = namespaces::discover();
    crate::txn::fault::boundary("all-netns:discovered")?;
    // Instants are what the samples carry; the report gives wall-clock times.
    let (t0, wall0) = (Instant::now(), SystemTime::now());
    let wall = |at: Instant| wall0 + at.saturating_duration_since(t0);
    let firsts = on_workers(&discovery.found, |f| first(f, &flags));
    // Tests make namespaces vanish between the two samples here (fault-injection builds).
    crate::txn::fault::boundary("observe-all-netns:first-samples")?;
    let pairs: Vec<(&Found, Option<First>)> = discovery.found.iter().zip(firsts).collect();
    let outcomes = on_workers(&pairs, |(f, started)| match started {
        Some(First::Taken(s)) => second(f, s, &flags, &wall),
        Some(First::Done(_)) | None => None,
    });
    let namespaces: Vec<Namespace> = pairs
        .into_iter()
        .zip(outcomes)
        .map(|((found, started), outcome)| {
            let outcome = match (started, outcome.flatten()) {
                (_, Some(o)) => o,
                (Some(First::Done(o)), None) => o,
                _ => Outcome::Failed("the thread that observed it failed".into()),
            };
            Namespace {
                found: found.clone(),
                outcome,
            }
        })
        .chain(discovery.vanished.iter().map(|name| Namespace {
            found: vanished(name),
            outcome: Outcome::Vanished(Gone::BeforeFirst),
        }))
        .collect();
    let fleet = fleet::Fleet {
        namespaces: &namespaces,
        fail_on: flags.fail_on,
        interval_s: flags.interval.map(|d| d.as_secs_f64()),
        owners_skipped: !flags.owners,
        states: flags.states,
        notes: &discovery.notes,
    };
    let out = match flags.format {
        ObserveFormat::Json => fleet::json(&fleet),
        ObserveFormat::Prometheus => {
            let reports: Vec<_> = namespaces
                .iter()
                .filter_map(|n| Some((n.metric_label(), n.report(&fleet)?)))
                .collect();
            crate::report::prometheus::render_observe_fleet(&reports)
        }
        ObserveFormat::Text => fleet::text(&fleet, style, verbosity),
    };
    super::write_output(&out, flags.output.as_deref())?;
    Ok(fleet.exit_code())
}

/// Enters the namespace on this thread; None when it is gone.
fn enter(f: &Found) -> Option<Result<Option<Target>, String>> {
    let (fd, path, target) = open(f)?;
    Some(
        netns::enter_fd(fd.as_fd(), &path)
            .map(|()| target)
            .map_err(|e| format!("{e:#}")),
    )
}

/// The first sample, from inside the namespace; with --once, the whole observation.
fn first(f: &Found, flags: &Flags) -> First {
    let target = match enter(f) {
        None => return First::Done(Outcome::Vanished(Gone::BeforeFirst)),
        Some(Err(why)) => return First::Done(Outcome::Failed(why)),
        Some(Ok(t)) => t,
    };
    let mut identity = host::identify(&LiveSource::Kernel, target.as_ref());
    if target.is_some() && identity.netns.initial == Some(false) {
        identity.netns.workload = f.workload.clone();
    }
    let settings = host::read_values(&LiveSource::Kernel, observe::SETTINGS);
    let first = census::sample(std::path::Path::new("/proc"), Some(flags.states));
    if let Some(why) = unusable(&first) {
        return First::Done(Outcome::Failed(why));
    }
    let started = Started {
        identity,
        settings,
        first,
    };
    match flags.interval {
        Some(_) => First::Taken(Box::new(started)),
        None => First::Done(finish(&started, None, flags, &|at| {
            SystemTime::now() - at.elapsed()
        })),
    }
}

/// The second sample, `interval` after the first, from inside the namespace again (this
/// worker may have sampled others meanwhile), and the diagnoses.
fn second(
    f: &Found,
    s: &Started,
    flags: &Flags,
    wall: &dyn Fn(Instant) -> SystemTime,
) -> Option<Outcome> {
    match enter(f) {
        None => return Some(Outcome::Vanished(Gone::BetweenSamples)),
        Some(Err(why)) => return Some(Outcome::Failed(why)),
        Some(Ok(_)) => {}
    }
    if let Some(d) = flags.interval {
        let due = s.first.at + d;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    let second = census::sample(std::path::Path::new("/proc"), Some(flags.states));
    if let Some(why) = unusable(&second) {
        return Some(Outcome::Failed(why));
    }
    Some(finish(s, Some(second), flags, wall))
}

/// Why a sample cannot be diagnosed, as a single `observe` would refuse it.
fn unusable(s: &Sample) -> Option<String> {
    if let Some(Err(e)) = &s.sockets {
        return Some(e.clone());
    }
    if s.counters.values.is_empty() {
        let why: Vec<String> = s
            .counters
            .problems
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display()))
            .collect();
        return Some(format!("no counters could be read ({})", why.join("; ")));
    }
    None
}

/// Owners (scanned from inside the namespace: only its processes) and the diagnoses.
fn finish(
    s: &Started,
    second: Option<Sample>,
    flags: &Flags,
    wall: &dyn Fn(Instant) -> SystemTime,
) -> Outcome {
    let obs = Observation {
        first: &s.first,
        second: second.as_ref(),
        settings: &s.settings,
    };
    let owners = flags
        .owners
        .then(|| sockets::owners(&observe::wanted_inodes(&obs)));
    let analysis = observe::analyze(&obs, owners.as_ref());
    let sampled = (wall(s.first.at), second.as_ref().map(|x| wall(x.at)));
    Outcome::Observed(Box::new(Observed {
        identity: s.identity.clone(),
        settings: s.settings.clone(),
        analysis,
        sampled,
    }))
}
