//! Deciding what `apply` changes: a pure function of the Snapshot, the Profile and the
//! audit's findings. Live writes for the sysctl rules the audit failed, persisted edits
//! so a reboot keeps the profile's values (`persist.rs`), nginx `backlog=` edits
//! (`nginx.rs`), and what a reload or only a restart will make real. `txn` carries it
//! out; `report::plan` shows it.

pub mod nginx;
pub mod persist;

use crate::audit::{Absence, Finding, Status};
use crate::catalog::{self, Scope};
use crate::host::{NginxState, Snapshot};
use crate::profile::{Profile, Value};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveChange {
    pub key: String,
    /// As /proc/sys shows it (fields separated by one space).
    pub before: String,
    pub after: String,
    /// The audit's message for the rule.
    pub why: String,
    /// The write changes the whole host, not only the target namespace (`host_wide`).
    #[serde(default)]
    pub host_wide: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Sysctl,
    Nginx,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub kind: FileKind,
    /// As the host names it (`/etc/sysctl.d/99-x.conf`).
    pub path: PathBuf,
    /// On disk: under `--root`, symlinks followed. What is written.
    pub real: PathBuf,
    /// None: the file is created.
    pub before: Option<Vec<u8>>,
    pub after: Vec<u8>,
    /// The file is deleted, not written (a rollback of the transaction that created it):
    /// `after` is empty, and its diff ends at /dev/null.
    pub removed: bool,
    /// One line per changed setting.
    pub why: Vec<String>,
}

/// What apply will do, before it does anything.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub live: Vec<LiveChange>,
    pub files: Vec<FileChange>,
    /// nginx sockets whose backlog changes or whose live cap is stale.
    pub sockets: Vec<nginx::SocketPlan>,
    /// The main nginx configuration, when nginx files are edited (for `nginx -t`).
    pub nginx_main: Option<PathBuf>,
    /// What the plan cannot do, and what still needs a restart.
    pub notes: Vec<String>,
    /// Reasons apply must refuse (exit 2) before changing anything.
    pub refusals: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.live.is_empty() && self.files.is_empty()
    }

    /// Sockets whose live cap only a restart changes.
    pub fn restart_needed(&self) -> Vec<&nginx::SocketPlan> {
        self.sockets.iter().filter(|s| s.needs_restart()).collect()
    }

    /// Whether a reload would re-listen any socket (its backlog number changes).
    pub fn relistens(&self) -> bool {
        self.sockets.iter().any(|s| s.relisten)
    }
}

pub struct Options {
    /// Edit the persisted files too (`--no-persist` turns it off).
    pub persist: bool,
    /// Write global keys even when the target is a child namespace (`--allow-global`).
    pub allow_global: bool,
    /// `--root`: where the nginx files are on disk.
    pub root: PathBuf,
}

/// Whether the target is a child network namespace, or may be one: a namespace was
/// selected and the kernel did not say it is the initial one.
fn child(snap: &Snapshot) -> bool {
    match snap.netns.initial {
        Some(initial) => !initial,
        None => snap.netns.target.is_some(),
    }
}

/// Whether writing `key` changes the whole host rather than the target namespace. From
/// a child namespace the kernel decides (what host/ read): only net.* keys present under
/// the namespace's own /proc/sys/net are its own; kernel.*, vm.*, fs.* and the global
/// net.* keys are the host's. In the initial namespace every key is the host's anyway;
/// the ones that also reach every container (all but net.*, and the catalog's global
/// net.* keys) are marked, so a plan never changes them unannounced.
pub fn host_wide(snap: &Snapshot, key: &str) -> bool {
    if child(snap) {
        return !snap.per_netns.contains(key);
    }
    !key.starts_with("net.") || catalog::lookup(key).is_some_and(|i| i.scope == Scope::Global)
}

/// The plan that brings the host to the profile.
pub fn plan(snap: &Snapshot, profile: &Profile, findings: &[Finding], opts: &Options) -> Plan {
    let mut plan = Plan::default();
    let failed = |id: &str| {
        findings
            .iter()
            .find(|f| f.id == id)
            .filter(|f| f.status == Status::Fail)
    };
    // Live writes, in the profile's order.
    let mut wants = Vec::new();
    for rule in &profile.rules {
        let id = format!("sysctl/{}", rule.key);
        let finding = findings.iter().find(|f| f.id == id);
        if let Some(f) = finding.filter(|f| f.status == Status::Skip) {
            if f.absent == Some(Absence::GlobalHidden) && child(snap) {
                plan.notes.push(format!(
                    "{}: not under network namespace {}'s own /proc/sys/net (a global key of the host), so not written from here; apply it on the host",
                    rule.key, snap.netns.label
                ));
            }
            continue;
        }
        let info = catalog::lookup(&rule.key);
        let live = snap.value(&rule.key).map(|v| Value::Text(v.to_string()));
        // The audit's remedies rest on the same decision (audit::Targets).
        let change = failed(&id).filter(|f| crate::audit::changes(rule, Some(f), live.as_ref()));
        let changed = change.is_some();
        let target = match change {
            Some(f) => {
                let Some(after) = rule.fix_for(live.as_ref()) else {
                    plan.notes.push(format!(
                        "{}: the profile says only what it must not be and names no `apply:` value; not changed",
                        rule.key
                    ));
                    continue;
                };
                if let Some(before) = &live {
                    let host_wide = host_wide(snap, &rule.key);
                    if host_wide && child(snap) && !opts.allow_global {
                        plan.refusals.push(format!(
                            "{} is a global key: it is not under network namespace {}'s own /proc/sys/net, so writing it from there changes it for the whole host; pass --allow-global to do that on purpose",
                            rule.key, snap.netns.label
                        ));
                        continue;
                    }
                    plan.live.push(LiveChange {
                        key: rule.key.clone(),
                        before: before.to_sysctl_string(),
                        after: after.to_sysctl_string(),
                        why: f.message.clone(),
                        host_wide,
                    });
                }
                after
            }
            None => match live {
                Some(v) => v,
                None => continue,
            },
        };
        wants.push(persist::Want {
            key: &rule.key,
            value: target,
            constraint: &rule.constraint,
            info,
            changed,
        });
    }
    // Persisted edits.
    match (&snap.persisted, opts.persist) {
        (Some(p), true) => {
            let needed = persist::needs(p, wants, snap.kernel);
            let e = persist::edits(p, &needed, snap.kernel);
            plan.files.extend(e.changes);
            plan.notes.extend(e.notes);
            plan.refusals.extend(e.refusals);
            if !p.problems.is_empty() {
                plan.refusals.extend(p.problems.iter().map(|pr| {
                    format!(
                        "{} could not be read ({}): which line wins for a key is unknown while it stands",
                        pr.path.display(),
                        pr.error
                    )
                }));
            }
        }
        (Some(_), false) => {
            if !plan.live.is_empty() {
                plan.notes.push("--no-persist: the persisted files are not changed, so a reboot brings the old values back".into());
            }
        }
        (None, _) => {
            if let Some(why) = &snap.persisted_skipped {
                if !plan.live.is_empty() {
                    plan.notes.push(format!("not persisted: {why}"));
                }
            }
        }
    }
    // nginx edits, with somaxconn as it will be.
    // Without a backlog rule nothing is edited, but stale live caps still want a restart.
    if let NginxState::Read(read) = &snap.nginx {
        let cap = plan
            .live
            .iter()
            .find(|c| c.key == "net.core.somaxconn")
            .map(|c| c.after.as_str())
            .or_else(|| snap.value("net.core.somaxconn"))
            .and_then(|v| v.parse().ok());
        let live = snap.listeners.as_ref().and_then(|l| l.as_ref().ok());
        let e = nginx::edits(read, &opts.root, profile.listen_backlog.as_ref(), cap, live);
        if !e.changes.is_empty() {
            plan.nginx_main = Some(read.main.clone());
        }
        plan.files.extend(e.changes);
        plan.sockets = e.sockets;
        plan.notes.extend(e.notes);
    }
    plan
}
