//! Deciding what the kernel's runtime evidence says: pure functions over one or two
//! samples (host::census), the live settings, and the owners of the sockets that
//! matter. `views` arranges the evidence (listeners, CLOSE_WAIT groups, stuck queues,
//! connections to ourselves, counters); `diagnose` turns patterns into diagnoses that
//! name the setting or the application behaviour at fault.
//!
//! The command reads in two steps: first the samples, then the owners of only the
//! sockets `wanted_inodes` names (scanning /proc/PID/fd of the namespace's processes
//! costs about as much as the whole census, so it is done only when something is to be
//! attributed).

pub mod diagnose;
mod listen;
mod stalls;
pub mod views;

use crate::host::census::Sample;
use crate::host::sockets::Owners;
use std::collections::{BTreeMap, HashSet};

pub use diagnose::Diagnosis;
pub use views::Views;

/// The live settings observe reads to explain what it sees (absent ones are skipped).
pub const SETTINGS: &[&str] = &[
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_max_orphans",
    "net.ipv4.tcp_mem",
];

/// Everything read, in one place.
pub struct Observation<'a> {
    pub first: &'a Sample,
    /// The second sample, `interval` after the first; None with `--once` or a captured tree.
    pub second: Option<&'a Sample>,
    /// Live values of SETTINGS that could be read.
    pub settings: &'a BTreeMap<String, String>,
}

impl Observation<'_> {
    /// The latest sample.
    pub fn last(&self) -> &Sample {
        self.second.unwrap_or(self.first)
    }

    /// Seconds between the two samples.
    pub fn seconds(&self) -> Option<f64> {
        self.second
            .map(|s| s.at.duration_since(self.first.at).as_secs_f64().max(1e-3))
    }

    pub fn setting(&self, key: &str) -> Option<i64> {
        self.settings
            .get(key)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    pub fn setting_fields(&self, key: &str) -> Option<Vec<i64>> {
        self.settings
            .get(key)?
            .split_whitespace()
            .map(|f| f.parse().ok())
            .collect()
    }
}

/// The analysis: views of the evidence, and the diagnoses made from them.
pub struct Analysis {
    pub views: Views,
    pub diagnoses: Vec<Diagnosis>,
}

/// The socket inodes whose owning processes the analysis would name: listeners that
/// drop or are full, CLOSE_WAIT sockets, stuck queues, and new connections to our own
/// listeners (with those listeners). Empty when nothing needs attributing.
pub fn wanted_inodes(obs: &Observation) -> HashSet<u64> {
    views::Views::build(obs, None).inodes()
}

/// Builds the views and the diagnoses. `owners` None means they were not looked up.
pub fn analyze(obs: &Observation, owners: Option<&Owners>) -> Analysis {
    let views = views::Views::build(obs, owners);
    let mut diagnoses = diagnose::all(obs, &views);
    diagnoses.sort_by_key(|d| std::cmp::Reverse(d.severity));
    Analysis { views, diagnoses }
}
