//! Reading the machine. Nothing here writes, and nothing here knows about profiles: the
//! caller says which keys to read, and gets back what the kernel showed.

pub mod netns;
pub mod sysctl_d;
pub mod sysctl;

use crate::kversion::KernelVersion;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where live values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveSource {
    /// /proc/sys of the running kernel, in the current network namespace (after
    /// `netns::enter` when one was selected).
    Kernel,
    /// A captured proc tree (`DIR/sys/net/core/somaxconn`, ...): offline audit.
    ProcDir(PathBuf),
}

/// What reading one key gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// The value as the kernel printed it, fields separated by single spaces.
    Value(String),
    /// No such file: the key does not exist on this kernel or in this namespace.
    Absent,
    /// The file exists but could not be read (permission, or another I/O error).
    Unreadable {
        path: PathBuf,
        error: String,
        permission: bool,
    },
}

/// Which network namespace the values are from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsInfo {
    /// "self", the --netns argument, "pid:N", or "proc:DIR".
    pub label: String,
    /// Whether it is the host's initial network namespace; None when unknown (captured
    /// trees). Told by the kernel itself: global net.* keys (netdev_max_backlog) exist
    /// only in the initial namespace.
    pub initial: Option<bool>,
}

/// Everything audit needs from the host, read once.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub hostname: String,
    pub kernel_release: Option<String>,
    pub kernel: Option<KernelVersion>,
    pub netns: NetnsInfo,
    pub sysctl: BTreeMap<String, Reading>,
}

impl Snapshot {
    /// The value of a key, if it was read.
    pub fn value(&self, key: &str) -> Option<&str> {
        match self.sysctl.get(key) {
            Some(Reading::Value(v)) => Some(v),
            _ => None,
        }
    }
}

/// Reads the given keys plus the host facts audit needs.
pub fn snapshot(source: &LiveSource, netns_label: &str, keys: &[String]) -> Snapshot {
    let reader = sysctl::Reader::new(source.clone());
    let text = |k: &str| match reader.read(k) {
        Reading::Value(v) => Some(v),
        _ => None,
    };
    let kernel_release = text("kernel.osrelease");
    let hostname = text("kernel.hostname").unwrap_or_else(|| "unknown".into());
    let initial = match reader.read(sysctl::INITIAL_NETNS_WITNESS) {
        Reading::Value(_) => Some(true),
        Reading::Absent if *source == LiveSource::Kernel => Some(false),
        _ => None,
    };
    let label = match source {
        LiveSource::Kernel => netns_label.to_string(),
        LiveSource::ProcDir(d) => format!("proc:{}", d.display()),
    };
    Snapshot {
        hostname,
        kernel: kernel_release.as_deref().and_then(KernelVersion::parse),
        kernel_release,
        netns: NetnsInfo { label, initial },
        sysctl: keys.iter().map(|k| (k.clone(), reader.read(k))).collect(),
    }
}
