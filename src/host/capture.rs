//! A captured host (`tuneguard capture -o DIR`, read back by `audit --capture DIR`):
//! the layout of the directory, and manifest.json, the facts an audit reads from the
//! kernel and the host that no file tree can hold (the namespace, the listeners and
//! their owners, the defaults a new namespace showed, the nginx version).
//!
//! DIR/proc is a proc tree (`--proc` reads it: sys/ keys, net/ counters), DIR/root a
//! root tree of the persisted sysctl files (`--root` reads it), DIR/nginx-T.conf
//! nginx's configuration as `nginx -T` prints it (`--nginx-dump` reads it).

use super::{
    defaults::NewNetns, netns::Target, nginx, sysctl_d::Loader, workload::Workload, Listeners,
    NetnsInfo, NginxRead, NginxState, Reading, Snapshot,
};
use crate::safety::tree::{read_file, Cap};
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const PROC: &str = "proc";
pub const ROOT: &str = "root";
pub const NGINX_DUMP: &str = "nginx-T.conf";
pub const MANIFEST_JSON: &str = "manifest.json";
pub const MANIFEST: &str = "MANIFEST";
/// Bumped when a field changes meaning; a reader refuses a format it does not know.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The tuneguard version that wrote it.
    pub tuneguard: String,
    /// Seconds since the epoch.
    pub captured_at: u64,
    pub hostname: String,
    pub kernel_release: Option<String>,
    pub netns: Netns,
    pub per_netns: BTreeSet<String>,
    /// Keys the kernel refused to show, and why (their files are not in proc/).
    pub unreadable: BTreeMap<String, String>,
    pub persisted: Option<Boot>,
    pub persisted_skipped: Option<String>,
    pub new_netns: Option<NewNetns>,
    pub syn_backlog_default: Option<(String, String)>,
    pub nginx: Nginx,
    pub listeners: Option<Result<Listeners, String>>,
    /// observe's socket census of the namespace (every state), and the owners of the
    /// sockets its diagnoses name.
    pub census: Option<Result<super::census::SocketSample, String>>,
    pub census_owners: Option<super::sockets::Owners>,
    /// Every file written, with what it holds.
    pub files: Vec<Entry>,
    /// What was deliberately not copied, and why.
    pub left_out: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Netns {
    pub label: String,
    pub initial: Option<bool>,
    pub target: Option<Target>,
    pub workload: Option<Workload>,
}

/// Which loader runs at boot: told by the loader binaries under the root, which a
/// capture does not copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Boot {
    pub boot: Loader,
    pub boot_known: bool,
    /// Files and directories that could not be read on the host (not in root/).
    pub problems: Vec<super::sysctl_d::Problem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Nginx {
    Off,
    NotFound {
        why: String,
    },
    Unreadable {
        path: PathBuf,
        error: String,
    },
    /// The configuration is in NGINX_DUMP (absent when it could not be parsed).
    Read {
        main: PathBuf,
        how: String,
        notes: Vec<String>,
        error: Option<nginx::ConfError>,
        version: nginx::binary::Assumed,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub what: String,
}

impl Manifest {
    /// Reads DIR/manifest.json (through safety::tree, as every file read).
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_JSON);
        let bytes = read_file(&path, Cap::Config).map_err(|e| {
            anyhow!(
                "--capture {}: {}: {e} (give a directory `tuneguard capture -o` wrote)",
                dir.display(),
                path.display()
            )
        })?;
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow!("--capture {}: {}: {e}", dir.display(), path.display()))?;
        if m.format != FORMAT {
            bail!(
                "--capture {}: format {} of tuneguard {}, this tuneguard reads format {FORMAT}",
                dir.display(),
                m.format,
                m.tuneguard
            );
        }
        Ok(m)
    }

    /// Puts back into a snapshot read from the capture's trees what the host told
    /// beyond them, so that the audit sees what it saw on the host.
    pub fn restore(&self, snap: &mut Snapshot) {
        snap.hostname = self.hostname.clone();
        snap.netns = NetnsInfo {
            label: self.netns.label.clone(),
            initial: self.netns.initial,
            target: self.netns.target.clone(),
            workload: self.netns.workload.clone(),
        };
        snap.per_netns = snap
            .sysctl
            .keys()
            .filter(|k| self.per_netns.contains(*k))
            .cloned()
            .collect();
        for (key, why) in &self.unreadable {
            if let Some(r) = snap.sysctl.get_mut(key) {
                *r = Reading::Unreadable {
                    path: super::sysctl::key_path(Path::new("/proc/sys"), key),
                    error: why.clone(),
                    permission: why.contains("ermission"),
                };
            }
        }
        match (&self.persisted, &mut snap.persisted) {
            (Some(b), Some(p)) => {
                p.boot = b.boot;
                p.boot_known = b.boot_known;
                p.problems = b.problems.clone();
            }
            (None, p) => {
                if p.is_some() {
                    *p = None;
                    snap.persisted_skipped = self.persisted_skipped.clone();
                }
            }
            (Some(_), None) => {}
        }
        self.restore_defaults(snap);
        if snap.nginx_off() {
            // `--no-nginx` or `--only sysctl` now: the listeners were not asked for.
            return;
        }
        snap.listeners = self.listeners.clone();
        snap.nginx = match &self.nginx {
            Nginx::Off => NginxState::Off,
            Nginx::NotFound { why } => NginxState::NotFound(why.clone()),
            Nginx::Unreadable { path, error } => NginxState::Unreadable {
                path: path.clone(),
                error: error.clone(),
            },
            Nginx::Read {
                main,
                how,
                notes,
                error,
                version,
            } => {
                let conf = match (error, std::mem::replace(&mut snap.nginx, NginxState::Off)) {
                    (Some(e), _) => Err(e.clone()),
                    (None, NginxState::Read(r)) => r.conf,
                    (None, other) => {
                        snap.nginx = other;
                        return;
                    }
                };
                let model = conf
                    .as_ref()
                    .map(|c| nginx::listen::model(c, version.version))
                    .unwrap_or_default();
                NginxState::Read(Box::new(NginxRead {
                    main: main.clone(),
                    how: how.clone(),
                    notes: notes.clone(),
                    conf,
                    model,
                    version: version.clone(),
                }))
            }
        };
    }
}

impl Manifest {
    /// The kernel defaults, as far as an audit of these keys on the host would have
    /// learned them: the capture learned them for every catalog key, and an audit uses
    /// a learned default where the host's audit would have taken the catalog's.
    fn restore_defaults(&self, snap: &mut Snapshot) {
        use super::defaults::SYN_BACKLOG;
        let Some(p) = &snap.persisted else {
            return;
        };
        if snap.sysctl.contains_key(SYN_BACKLOG) && !super::set_by_both(p, SYN_BACKLOG) {
            snap.syn_backlog_default = self.syn_backlog_default.clone();
        }
        let learn = snap.sysctl.keys().any(|k| super::needs_default(snap, p, k));
        snap.new_netns = self.new_netns.as_ref().filter(|_| learn).map(|n| {
            let asked = |k: &String| snap.sysctl.contains_key(k);
            NewNetns {
                values: n
                    .values
                    .iter()
                    .filter(|(k, _)| asked(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                not_default: n
                    .not_default
                    .iter()
                    .filter(|(k, _)| asked(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                failed: n.failed.clone(),
            }
        });
    }
}

impl Snapshot {
    fn nginx_off(&self) -> bool {
        matches!(self.nginx, NginxState::Off)
    }
}

/// nginx's configuration as `nginx -T` prints it: per file, a header line, its bytes,
/// and a newline.
pub fn dump(conf: &nginx::Config) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    for f in &conf.files {
        out.extend_from_slice(b"# configuration file ");
        out.extend_from_slice(f.path.as_os_str().as_bytes());
        out.extend_from_slice(b":\n");
        out.extend_from_slice(&f.bytes);
        out.push(b'\n');
    }
    out
}

/// Directives naming files a capture never copies (certificates, private keys, password
/// and ticket-key files), whatever the nginx version.
pub const SECRET_DIRECTIVES: &[&str] = &[
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_trusted_certificate",
    "ssl_client_certificate",
    "ssl_crl",
    "ssl_dhparam",
    "ssl_password_file",
    "ssl_session_ticket_key",
    "ssl_stapling_file",
    "ssl_ecdh_curve_file",
    "proxy_ssl_certificate",
    "proxy_ssl_certificate_key",
    "proxy_ssl_trusted_certificate",
    "proxy_ssl_password_file",
    "proxy_ssl_crl",
    "grpc_ssl_certificate",
    "grpc_ssl_certificate_key",
    "grpc_ssl_trusted_certificate",
    "uwsgi_ssl_certificate",
    "uwsgi_ssl_certificate_key",
    "auth_basic_user_file",
];

/// The files the configuration names in SECRET_DIRECTIVES, with the directive.
pub fn secrets(conf: &nginx::Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<&[nginx::Directive]> = vec![&conf.directives];
    while let Some(ds) = stack.pop() {
        for d in ds {
            let name: &str = &d.name;
            if SECRET_DIRECTIVES.contains(&name) {
                if let Some(a) = conf.args(d).first() {
                    out.push((conf.value(a).to_string(), name.to_string()));
                }
            }
            match &d.body {
                nginx::Body::Block(b) => stack.push(b),
                nginx::Body::Include(fs) => {
                    for f in fs.iter() {
                        stack.push(&f.directives);
                    }
                }
                nginx::Body::None => {}
            }
        }
    }
    out.sort();
    out.dedup();
    out
}
