//! `tuneguard capture -o DIR`: what audit and observe read from this host, written into
//! a new directory of root's (layout: host/capture.rs), for `audit --capture DIR`
//! elsewhere. Every write goes through txn::fsio; the directory's own checks are
//! safety::capture's.
//!
//! `capture -o FILE.tar.gz` (or `.tgz`): the same directory, built in a private directory
//! beside FILE (0700, removed on every path), then packed into a reproducible
//! gzip-compressed tar written as a new file (txn::archive).

use crate::cli::Select;
use crate::host::capture::{self, Boot, Entry, Manifest, Netns};
use crate::host::{self, netns, sysctl, NginxState, Reading};
use crate::profile::Library;
use crate::txn::fsio::{self, Meta};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Files of the capture: root's, readable by root alone (the directory is 0700 anyway).
const FILE: Meta = fsio::ROOT_ONLY;

/// The proc files the evidence and observe read, below /proc/thread-self (the
/// namespace entered) or /proc.
const NET_FILES: &[&str] = &["net/netstat", "net/snmp", "net/sockstat", "net/sockstat6"];
const HOST_FILES: &[&str] = &["meminfo", "slabinfo"];

pub fn capture(out: &Path, select: &Select) -> Result<i32> {
    if !host::is_root() {
        bail!(
            "capture -o {}: tuneguard capture runs as root (it reads what only root may, and writes a directory only root may read): run it with sudo",
            out.display()
        );
    }
    let refused: Vec<&str> = [
        (select.capture.is_some(), "--capture"),
        (select.proc.is_some(), "--proc"),
        (select.all_netns, "--all-netns"),
        (select.kernel.is_some(), "--kernel"),
    ]
    .into_iter()
    .filter_map(|(yes, f)| yes.then_some(f))
    .collect();
    if !refused.is_empty() {
        bail!(
            "capture reads the running kernel, one namespace at a time: it does not take {}",
            refused.join(", ")
        );
    }
    let sel = select.resolve()?;
    let library = Library::load(&sel.root)?;
    let profile = library.select(&sel.profiles)?;
    // An archive: the capture directory is built in a private directory beside it
    // (dropped, and so removed, on every return), then packed.
    let mut staging = None;
    let mut archive = None;
    let dir = if crate::safety::capture::is_archive(out) {
        let real = crate::safety::capture::output_file(out)?;
        let beside = real.parent().unwrap_or(Path::new("/"));
        let tmp = crate::safety::archive::PrivateDir::new_in(beside, "tuneguard-capture")
            .with_context(|| {
                format!(
                    "capture -o {}: making a private directory in {}",
                    out.display(),
                    beside.display()
                )
            })?;
        let top = tmp.path().join(top_name(out));
        crate::safety::capture::output_dir(&top)?;
        staging = Some(tmp);
        archive = Some(real);
        top
    } else {
        crate::safety::capture::output_dir(out)?;
        out.to_path_buf()
    };
    if let Some(t) = &sel.netns {
        netns::enter(t)?;
    }

    let mut keys = profile.keys_to_read();
    let extra = crate::catalog::CATALOG
        .iter()
        .map(|k| k.name)
        .chain(crate::observe::SETTINGS.iter().copied())
        .chain(crate::profile::KEEPALIVE_KEYS.iter().copied())
        .chain([
            "net.core.somaxconn",
            "kernel.hostname",
            "kernel.osrelease",
            sysctl::INITIAL_NETNS_WITNESS,
        ]);
    for k in extra {
        if crate::catalog::validate_key_name(k).is_ok() && !keys.iter().any(|x| x == k) {
            keys.push(k.to_string());
        }
    }
    let mut snap = host::snapshot(&super::request(&sel, sel.netns.as_ref(), &keys));
    if sel.netns.is_some() && snap.netns.initial == Some(false) {
        snap.netns.workload = host::namespaces::this_thread()
            .and_then(|id| host::namespaces::workload_of(&host::namespaces::pids_in(id)));
    }

    // observe's census, taken here too, with the owners of what its diagnoses name.
    let census = host::census::census(host::sockets::TCP_ALL_STATES)
        .map_err(|e| format!("reading sockets through sock_diag: {e}"));
    let census_owners = census.as_ref().ok().map(|c| {
        let sample = host::census::Sample {
            at: std::time::Instant::now(),
            counters: host::counters::Counters::read_net(Path::new(host::counters::THREAD_PROC)),
            sockets: Some(Ok(c.clone())),
        };
        let settings = host::read_values(&sel.live, crate::observe::SETTINGS);
        host::sockets::owners(&crate::observe::wanted_inodes(
            &crate::observe::Observation {
                first: &sample,
                second: None,
                settings: &settings,
            },
        ))
    });

    let mut w = Writer {
        out: &dir,
        files: Vec::new(),
        left_out: Vec::new(),
    };
    // The root tree is there even when no file is: `--root` wants a directory.
    fsio::create_dirs(&dir, Path::new(capture::ROOT), 0o700)?;
    let mut unreadable = BTreeMap::new();
    for (key, reading) in &snap.sysctl {
        match reading {
            Reading::Value(v) => {
                let rel = sysctl::key_path(&Path::new(capture::PROC).join("sys"), key);
                w.write(
                    &rel,
                    format!("{v}\n").as_bytes(),
                    &format!("the live value of {key}"),
                )?;
            }
            Reading::Unreadable { error, .. } => {
                unreadable.insert(key.clone(), error.clone());
            }
            Reading::Absent => {}
        }
    }
    let proc_files = NET_FILES
        .iter()
        .map(|f| (PathBuf::from(host::counters::THREAD_PROC).join(f), *f))
        .chain(HOST_FILES.iter().map(|f| (Path::new("/proc").join(f), *f)));
    for (from, rel) in proc_files {
        match crate::safety::tree::read_file(&from, crate::safety::tree::Cap::Config) {
            Ok(bytes) => w.write(
                &Path::new(capture::PROC).join(rel),
                &bytes,
                &format!("/proc/{rel} (evidence counters)"),
            )?,
            Err(e) => w.leave(&format!("/proc/{rel}"), &format!("could not be read: {e}")),
        }
    }
    if let Some(p) = &snap.persisted {
        let root = Path::new(capture::ROOT);
        let mut written = std::collections::HashSet::new();
        for f in &p.files {
            let Some(rel) = plain(&f.path) else {
                w.leave(&f.path.display().to_string(), "not a plain absolute path");
                continue;
            };
            // A link is kept a link (which files the loaders read, and in which order,
            // depends on it), pointing inside the root tree; the file it leads to is
            // written under its own name.
            let file = match &f.target {
                Some(t) => {
                    w.link(
                        &root.join(&rel),
                        &link_text(&f.path, t),
                        &format!(
                            "{} (a link to {} on the host)",
                            f.path.display(),
                            t.display()
                        ),
                    )?;
                    plain(t).filter(|_| t != Path::new(DEV_NULL))
                }
                None => Some(rel),
            };
            if let Some(rel) = file {
                if written.insert(rel.clone()) {
                    w.write(
                        &root.join(&rel),
                        &f.bytes,
                        &format!("/{} (persisted sysctl file)", rel.display()),
                    )?;
                }
            }
        }
        for (link, t) in &p.dangling {
            match plain(link) {
                Some(rel) => w.link(
                    &root.join(rel),
                    &link_text(link, t),
                    &format!(
                        "{} (a link to {}, which does not exist on the host)",
                        link.display(),
                        t.display()
                    ),
                )?,
                None => w.leave(&link.display().to_string(), "not a plain absolute path"),
            }
        }
        for prob in &p.problems {
            w.leave(
                &prob.path.display().to_string(),
                "could not be read on the host (the audit says why)",
            );
        }
    }
    let nginx = match &snap.nginx {
        NginxState::Off => capture::Nginx::Off,
        NginxState::NotFound(why) => capture::Nginx::NotFound { why: why.clone() },
        NginxState::Unreadable { path, error } => capture::Nginx::Unreadable {
            path: path.clone(),
            error: error.clone(),
        },
        NginxState::Read(r) => {
            if let Ok(conf) = &r.conf {
                let names: Vec<String> = conf
                    .files
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect();
                w.write(
                    Path::new(capture::NGINX_DUMP),
                    &capture::dump(conf),
                    &format!(
                        "nginx's configuration as `nginx -T` prints it: {}",
                        names.join(", ")
                    ),
                )?;
                for (file, directive) in capture::secrets(conf) {
                    w.leave(&file, &format!("named by {directive}: certificates, keys and password files are never copied"));
                }
            }
            capture::Nginx::Read {
                main: r.main.clone(),
                how: r.how.clone(),
                notes: r.notes.clone(),
                error: r.conf.as_ref().err().cloned(),
                version: r.version.clone(),
            }
        }
    };
    let captured_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let manifest = Manifest {
        format: capture::FORMAT,
        tuneguard: env!("CARGO_PKG_VERSION").into(),
        captured_at,
        hostname: snap.hostname.clone(),
        kernel_release: snap.kernel_release.clone(),
        netns: Netns {
            label: snap.netns.label.clone(),
            initial: snap.netns.initial,
            target: snap.netns.target.clone(),
            workload: snap.netns.workload.clone(),
        },
        per_netns: snap.per_netns.clone(),
        unreadable,
        persisted: snap.persisted.as_ref().map(|p| Boot {
            boot: p.boot,
            boot_known: p.boot_known,
            problems: p.problems.clone(),
        }),
        persisted_skipped: snap.persisted_skipped.clone(),
        new_netns: snap.new_netns.clone(),
        syn_backlog_default: snap.syn_backlog_default.clone(),
        nginx,
        listeners: snap.listeners.clone(),
        census: Some(census),
        census_owners,
        files: Vec::new(),
        left_out: Vec::new(),
    };
    w.finish(manifest)?;
    let listed = match &archive {
        Some(real) => {
            crate::txn::archive::pack(&dir, real, captured_at)
                .with_context(|| format!("capture -o {}", out.display()))?;
            format!("its {} lists them", capture::MANIFEST)
        }
        None => format!("{} lists them", out.join(capture::MANIFEST).display()),
    };
    println!(
        "tuneguard: captured {} (netns {}) into {}: {} files, {} left out; {listed}",
        snap.hostname,
        snap.netns.label,
        out.display(),
        w.files.len(),
        w.left_out.len(),
    );
    drop(staging);
    Ok(0)
}

/// The archive's top directory: its file name without `.tar.gz` or `.tgz`.
fn top_name(file: &Path) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStrExt;
    let name = file.file_name().map_or(&b""[..], |n| n.as_bytes());
    let stem = name
        .strip_suffix(b".tar.gz")
        .or_else(|| name.strip_suffix(b".tgz"))
        .unwrap_or(name);
    match stem {
        b"" | b"." | b".." => "capture".into(),
        s => std::ffi::OsStr::from_bytes(s).to_os_string(),
    }
}

const DEV_NULL: &str = "/dev/null";

/// What a link at host path `link` to host path `target` holds in the capture: relative,
/// so that it leads inside the root tree whoever follows it (`/dev/null`, a mask, as is).
fn link_text(link: &Path, target: &Path) -> PathBuf {
    if target == Path::new(DEV_NULL) {
        return target.to_path_buf();
    }
    let up = link
        .parent()
        .map_or(0, |d| d.components().count().saturating_sub(1));
    let mut out = PathBuf::new();
    for _ in 0..up {
        out.push("..");
    }
    out.join(target.strip_prefix("/").unwrap_or(target))
}

/// `/etc/sysctl.d/x.conf` as `etc/sysctl.d/x.conf`, when it has no `..` or `.`.
fn plain(path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix("/").ok()?;
    rel.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| rel.to_path_buf())
}

struct Writer<'a> {
    out: &'a Path,
    files: Vec<Entry>,
    left_out: Vec<Entry>,
}

impl Writer<'_> {
    fn write(&mut self, rel: &Path, bytes: &[u8], what: &str) -> Result<()> {
        if let Some(dir) = rel.parent().filter(|d| !d.as_os_str().is_empty()) {
            fsio::create_dirs(self.out, dir, 0o700)?;
        }
        fsio::write_atomic(self.out, &self.out.join(rel), bytes, FILE)?;
        self.files.push(Entry {
            path: rel.display().to_string(),
            what: what.to_string(),
        });
        Ok(())
    }

    fn link(&mut self, rel: &Path, target: &Path, what: &str) -> Result<()> {
        if let Some(dir) = rel.parent().filter(|d| !d.as_os_str().is_empty()) {
            fsio::create_dirs(self.out, dir, 0o700)?;
        }
        fsio::symlink(self.out, &self.out.join(rel), target)?;
        self.files.push(Entry {
            path: rel.display().to_string(),
            what: format!("{what}, kept as a link to {}", target.display()),
        });
        Ok(())
    }

    fn leave(&mut self, path: &str, why: &str) {
        self.left_out.push(Entry {
            path: path.to_string(),
            what: why.to_string(),
        });
    }

    /// manifest.json and MANIFEST, last: each lists every file, itself included.
    fn finish(&mut self, mut m: Manifest) -> Result<()> {
        self.files.push(Entry {
            path: capture::MANIFEST_JSON.into(),
            what: "what the kernel and the host told beyond these files (namespace, listeners and their owners, new-namespace defaults, nginx version), read back by `audit --capture`".into(),
        });
        self.files.push(Entry {
            path: capture::MANIFEST.into(),
            what: "this list".into(),
        });
        m.files = self.files.clone();
        m.left_out = self.left_out.clone();
        let json = serde_json::to_vec_pretty(&m)?;
        fsio::write_atomic(
            self.out,
            &self.out.join(capture::MANIFEST_JSON),
            &json,
            FILE,
        )?;
        let mut text = format!(
            "tuneguard {} capture of {} (netns {}), kernel {}\n\nFiles written:\n",
            m.tuneguard,
            m.hostname,
            m.netns.label,
            m.kernel_release.as_deref().unwrap_or("unknown")
        );
        for e in &m.files {
            text.push_str(&format!("  {}\t{}\n", e.path, e.what));
        }
        text.push_str("\nLeft out (never copied):\n");
        if m.left_out.is_empty() {
            text.push_str("  nothing the configuration names\n");
        }
        for e in &m.left_out {
            text.push_str(&format!("  {}\t{}\n", e.path, e.what));
        }
        text.push_str("\nNot captured at all: private keys and certificates, any file nginx's configuration names but does not include, site profiles, apply's journals, the contents of any connection.\n");
        fsio::write_atomic(
            self.out,
            &self.out.join(capture::MANIFEST),
            text.as_bytes(),
            FILE,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_lead_inside_the_root_tree() {
        let t = |l: &str, to: &str| link_text(Path::new(l), Path::new(to));
        assert_eq!(
            t("/etc/sysctl.d/99-sysctl.conf", "/etc/sysctl.conf"),
            Path::new("../../etc/sysctl.conf")
        );
        assert_eq!(
            t("/etc/sysctl.conf", "/opt/x.conf"),
            Path::new("../opt/x.conf")
        );
        assert_eq!(
            t("/etc/sysctl.d/10-x.conf", "/dev/null"),
            Path::new("/dev/null")
        );
    }

    #[test]
    fn only_plain_absolute_paths_are_written() {
        assert_eq!(
            plain(Path::new("/etc/sysctl.d/a.conf")),
            Some(PathBuf::from("etc/sysctl.d/a.conf"))
        );
        assert_eq!(plain(Path::new("/etc/../../x")), None);
        assert_eq!(plain(Path::new("etc/x")), None);
    }
}
