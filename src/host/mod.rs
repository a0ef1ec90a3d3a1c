//! Reading the machine. Nothing here writes, and nothing here knows about profiles: the
//! caller says which keys to read, and gets back what the kernel showed.

pub mod capture;
pub mod census;
pub mod counters;
pub mod defaults;
pub mod fnmatch;
pub mod namespaces;
pub mod netns;
pub mod nginx;
pub mod owners;
pub mod sockets;
pub mod sysctl;
pub mod sysctl_d;
pub mod workload;

use crate::kversion::KernelVersion;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Where live values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveSource {
    /// /proc/sys of the running kernel, in the current network namespace (after
    /// `netns::enter` when one was selected).
    Kernel,
    /// A captured proc tree (`DIR/sys/net/core/somaxconn`, ...): offline audit.
    ProcDir(PathBuf),
    /// No live values at all (`--proc none`): audit what the persisted files under
    /// `--root` would give at boot, e.g. a repository's deploy tree in CI.
    Offline,
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
    /// The selected namespace, when one was (for remedies that must run there).
    pub target: Option<netns::Target>,
    /// The pod, container or unit running in a selected child namespace, told by its
    /// processes' cgroups (display-only; `namespaces::workload_of`): where its values
    /// are really set.
    pub workload: Option<workload::Workload>,
}

/// Everything audit needs from the host, read once.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub hostname: String,
    pub kernel_release: Option<String>,
    pub kernel: Option<KernelVersion>,
    pub netns: NetnsInfo,
    /// Live values, by key; empty when offline.
    pub sysctl: BTreeMap<String, Reading>,
    /// The keys read that the namespace holds itself: net.* keys present under its own
    /// /proc/sys/net. The kernel's answer to "this namespace's, or the host's?": /proc/sys/net
    /// follows the reader's network namespace, and a child's shows only its per-namespace
    /// keys (global net.* keys such as netdev_max_backlog are absent there), while
    /// kernel.*, vm.* and fs.* are the host's from anywhere. Meaningful for a child
    /// namespace; the initial one's /proc/sys/net also shows the global net.* keys.
    pub per_netns: BTreeSet<String>,
    /// False for `--proc none`: there are no live values, only persisted ones.
    pub live: bool,
    /// The persisted configuration, when it applies to the audited namespace.
    pub persisted: Option<sysctl_d::Persisted>,
    /// Why `persisted` is None.
    pub persisted_skipped: Option<String>,
    /// The kernel defaults a brand-new network namespace shows, read when a key no file
    /// sets needs them (the live kernel only; see `defaults.rs`).
    pub new_netns: Option<defaults::NewNetns>,
    /// tcp_max_syn_backlog's default from the hash size the kernel shows, (value, how):
    /// the live kernel only, when a file does not set it under some loader.
    pub syn_backlog_default: Option<(String, String)>,
    pub nginx: NginxState,
    /// Listening sockets of the audited namespace, from the kernel (sock_diag). None when
    /// there is no live kernel to ask or listeners were not asked for.
    pub listeners: Option<Result<Listeners, String>>,
    /// The evidence counters (netstat, snmp, sockstat) at the time of the audit; None
    /// when offline.
    pub counters: Option<counters::Counters>,
}

/// Listening sockets and who holds them.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Listeners {
    pub tcp: Vec<sockets::TcpSocket>,
    pub unix: Vec<sockets::UnixListener>,
    pub owners: sockets::Owners,
}

/// Which nginx configuration to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NginxWant {
    Off,
    /// Find it: the running master's, `nginx -V`'s, /etc/nginx/nginx.conf.
    Auto,
    Conf(PathBuf),
    /// An `nginx -T` output file.
    Dump(PathBuf),
}

#[derive(Debug, Clone)]
pub enum NginxState {
    /// Not asked for (`--no-nginx`, `--only sysctl`).
    Off,
    /// Asked for, none found: where we looked.
    NotFound(String),
    /// The main file (or dump) could not be read at all.
    Unreadable {
        path: PathBuf,
        error: String,
    },
    Read(Box<NginxRead>),
}

#[derive(Debug, Clone)]
pub struct NginxRead {
    pub main: PathBuf,
    /// How the configuration was found, for the report.
    pub how: String,
    /// What discovery passed over and why (nginx/discovery finding).
    pub notes: Vec<String>,
    /// The configuration, or what nginx would say refusing it.
    pub conf: Result<nginx::Config, nginx::ConfError>,
    /// The sockets it asks for (empty when the configuration could not be parsed).
    pub model: nginx::listen::ListenModel,
    /// The nginx version the configuration was judged by, and where it came from.
    pub version: nginx::binary::Assumed,
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

/// Refuses a source that cannot be read at all, before anything else is read.
pub fn check_source(source: &LiveSource) -> anyhow::Result<()> {
    if let LiveSource::ProcDir(d) = source {
        if !d.join("sys").is_dir() {
            anyhow::bail!(
                "--proc {}: no sys/ directory there (expected a captured proc tree such as DIR/sys/net/core/somaxconn, or `none`)",
                d.display()
            );
        }
    }
    Ok(())
}

/// Whether this process runs as root (permission advice depends on it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// What to read: the live source, the keys, and the root of the persisted files.
pub struct Request<'a> {
    pub source: &'a LiveSource,
    /// The namespace entered (already entered by the caller), if any.
    pub target: Option<&'a netns::Target>,
    pub keys: &'a [String],
    pub root: &'a std::path::Path,
    /// `--root` was given: its files are audited whatever namespace is selected.
    pub root_explicit: bool,
    /// `--kernel`: the version to assume when there is no live kernel.
    pub kernel: Option<KernelVersion>,
    pub nginx: &'a NginxWant,
    /// `--nginx-version`: judge the configuration by this nginx version.
    pub nginx_version: Option<nginx::versions::Version>,
    /// Read the namespace's listening sockets (when there is a live kernel).
    pub listeners: bool,
    /// Read the persisted sysctl files (not for `--only nginx`).
    pub persisted: bool,
}

/// Reads the given keys, the persisted configuration and the host facts audit needs.
pub fn snapshot(req: &Request) -> Snapshot {
    let mut snap = match req.source {
        LiveSource::Offline => Snapshot {
            hostname: "offline".into(),
            kernel_release: req.kernel.map(|k| k.to_string()),
            kernel: req.kernel,
            netns: NetnsInfo {
                label: "none".into(),
                initial: None,
                target: None,
                workload: None,
            },
            sysctl: BTreeMap::new(),
            per_netns: BTreeSet::new(),
            live: false,
            persisted: None,
            persisted_skipped: None,
            new_netns: None,
            syn_backlog_default: None,
            nginx: NginxState::Off,
            listeners: None,
            counters: None,
        },
        source => read_live(source, req),
    };
    // Boot-time loaders run in the host's initial namespace; a child namespace starts
    // from kernel defaults, so the host's files say nothing about it, unless the user
    // points --root at files meant for it.
    let applies = match req.source {
        LiveSource::Kernel => snap.netns.initial != Some(false),
        // A captured tree comes from another machine: this one's files say nothing
        // about it unless --root points at its files.
        LiveSource::ProcDir(_) => false,
        LiveSource::Offline => true,
    };
    if !req.persisted {
        snap.persisted_skipped = Some("persisted files were not checked: --only nginx".into());
    } else if req.root_explicit || applies {
        snap.persisted = Some(sysctl_d::read(req.root));
    } else {
        snap.persisted_skipped = Some(match req.source {
            LiveSource::ProcDir(_) => "persisted files were not checked: a captured proc tree is not this machine (give --root with its files)".to_string(),
            _ => format!(
                "persisted files were not checked: {} is a child network namespace, which starts from kernel defaults at creation, not from the host's sysctl.d (give --root to audit files meant for it)",
                snap.netns.label
            ),
        });
    }
    // Learning kernel defaults runs on a thread of its own while nginx and the
    // listeners are read here.
    if let (Some(p), LiveSource::Kernel) = (&snap.persisted, req.source) {
        if req.keys.iter().any(|k| k == defaults::SYN_BACKLOG)
            && !set_by_both(p, defaults::SYN_BACKLOG)
        {
            snap.syn_backlog_default =
                defaults::syn_backlog_from_hash(snap.kernel, snap.netns.initial == Some(true));
        }
    }
    let learning = match (&snap.persisted, req.source) {
        (Some(p), LiveSource::Kernel) if req.keys.iter().any(|k| needs_default(&snap, p, k)) => {
            Some(defaults::start(req.keys))
        }
        _ => None,
    };
    if req.listeners && *req.source == LiveSource::Kernel {
        snap.listeners = Some(read_listeners());
    }
    let running = snap.listeners.as_ref().and_then(|l| l.as_ref().ok());
    snap.nginx = read_nginx(req, running);
    snap.new_netns = learning.map(defaults::Learning::finish);
    snap
}

/// Whether what `key` returns to at boot takes learning the kernel default: no file sets
/// it under some loader, a new namespace would show its default, and the live value is
/// not the catalog's default for this kernel (which would settle it: a fixed default is
/// the same on every machine). Making a namespace costs about half a millisecond, so a
/// host whose files set every key, or whose values are the catalog's, never pays it.
pub(crate) fn needs_default(snap: &Snapshot, p: &sysctl_d::Persisted, key: &str) -> bool {
    let Some(live) = snap.value(key) else {
        return false;
    };
    if defaults::copied(key).is_some() {
        return false;
    }
    if set_by_both(p, key) {
        return false;
    }
    if key == defaults::SYN_BACKLOG
        && snap
            .syn_backlog_default
            .as_ref()
            .is_some_and(|(v, _)| v == live)
    {
        return false;
    }
    crate::catalog::lookup(key)
        .and_then(|i| i.default_for(snap.kernel))
        .is_none_or(|d| d != live)
}

/// Whether a file sets `key` under both loaders (what the kernel then keeps is audit's
/// business: a default is needed only where no file's value applies).
pub(crate) fn set_by_both(p: &sysctl_d::Persisted, key: &str) -> bool {
    let r = sysctl_d::resolve::resolve(p, key);
    r.procps.is_some() && r.systemd.is_some()
}

/// The values of these keys that could be read, as the kernel printed them.
pub fn read_values(source: &LiveSource, keys: &[&str]) -> BTreeMap<String, String> {
    let reader = sysctl::Reader::new(source.clone());
    keys.iter()
        .filter_map(|k| match reader.read(k) {
            Reading::Value(v) => Some((k.to_string(), v)),
            _ => None,
        })
        .collect()
}

/// Who we are looking at: the host's name, its kernel, and which network namespace.
#[derive(Debug, Clone)]
pub struct Identity {
    pub hostname: String,
    pub kernel_release: Option<String>,
    pub netns: NetnsInfo,
}

/// Reads the identity from the live source (after `netns::enter`, when a namespace was
/// selected).
pub fn identify(source: &LiveSource, target: Option<&netns::Target>) -> Identity {
    let reader = sysctl::Reader::new(source.clone());
    let text = |k: &str| match reader.read(k) {
        Reading::Value(v) => Some(v),
        _ => None,
    };
    let initial = match reader.read(sysctl::INITIAL_NETNS_WITNESS) {
        Reading::Value(_) => Some(true),
        Reading::Absent if *source == LiveSource::Kernel => Some(false),
        _ => None,
    };
    let label = match (source, target) {
        (LiveSource::ProcDir(d), _) => format!("proc:{}", d.display()),
        (_, Some(t)) => t.label(),
        (_, None) => "self".to_string(),
    };
    Identity {
        hostname: text("kernel.hostname").unwrap_or_else(|| "unknown".into()),
        kernel_release: text("kernel.osrelease"),
        netns: NetnsInfo {
            label,
            initial,
            target: target.cloned(),
            workload: None,
        },
    }
}

fn read_live(source: &LiveSource, req: &Request) -> Snapshot {
    let id = identify(source, req.target);
    let reader = sysctl::Reader::new(source.clone());
    Snapshot {
        hostname: id.hostname,
        kernel: id
            .kernel_release
            .as_deref()
            .and_then(KernelVersion::parse)
            .or(req.kernel),
        kernel_release: id.kernel_release,
        netns: id.netns,
        sysctl: req
            .keys
            .iter()
            .map(|k| (k.clone(), reader.read(k)))
            .collect(),
        per_netns: req
            .keys
            .iter()
            .filter(|k| reader.in_own_net(k))
            .cloned()
            .collect(),
        live: true,
        persisted: None,
        persisted_skipped: None,
        new_netns: None,
        syn_backlog_default: None,
        nginx: NginxState::Off,
        listeners: None,
        // /proc/net follows the process's main thread; thread-self/net this thread's
        // (the one `--all-netns` moved into the namespace).
        counters: Some(counters::Counters::read_net(&match source {
            LiveSource::ProcDir(d) => d.clone(),
            _ => PathBuf::from(counters::THREAD_PROC),
        })),
    }
}

pub fn read_listeners() -> Result<Listeners, String> {
    let why = |e: std::io::Error| format!("reading listening sockets through sock_diag: {e}");
    let tcp = sockets::tcp_listeners().map_err(why)?;
    let unix = sockets::unix_listeners().map_err(why)?;
    let inodes = tcp
        .iter()
        .map(|s| s.inode)
        .chain(unix.iter().map(|u| u.inode))
        .collect();
    Ok(Listeners {
        owners: sockets::owners(&inodes),
        tcp,
        unix,
    })
}

fn read_nginx(req: &Request, running: Option<&Listeners>) -> NginxState {
    let (main, how, notes, conf) = match req.nginx {
        NginxWant::Off => return NginxState::Off,
        NginxWant::Dump(path) => {
            match crate::safety::tree::read_file(path, crate::safety::tree::Cap::Dump) {
                Ok(bytes) => {
                    let conf = nginx::load_dump(&bytes);
                    let main = conf
                        .as_ref()
                        .map(|c| c.path(c.main).to_path_buf())
                        .unwrap_or_else(|_| path.clone());
                    let how = format!("the nginx -T dump {}", path.display());
                    (main, how, Vec::new(), conf)
                }
                Err(e) => {
                    return NginxState::Unreadable {
                        path: path.clone(),
                        error: e.to_string(),
                    }
                }
            }
        }
        want => {
            let found = match want {
                NginxWant::Conf(p) => nginx::discover::Found {
                    path: p.clone(),
                    how: "--nginx-conf".into(),
                    notes: Vec::new(),
                },
                _ => match nginx::discover::find(req.root, !req.root_explicit, running) {
                    Ok(f) => f,
                    Err(why) => return NginxState::NotFound(why),
                },
            };
            let conf = nginx::load(req.root, &found.path);
            if let Err(e) = &conf {
                if e.line == 0 && e.file == found.path {
                    return NginxState::Unreadable {
                        path: found.path,
                        error: e.message.clone(),
                    };
                }
                // An include tuneguard will not read: the audit cannot be trusted.
                if e.refused {
                    return NginxState::Unreadable {
                        path: e.file.clone(),
                        error: format!("line {}: {}", e.line, e.message),
                    };
                }
            }
            (found.path, found.how, found.notes, conf)
        }
    };
    // The master's binary is the nginx that runs this configuration (under --root,
    // the root's own binary is read instead).
    let master = match running {
        Some(l) if !req.root_explicit => nginx::discover::masters(l).trusted,
        _ => None,
    };
    let version = nginx::binary::assume(
        req.nginx_version,
        req.root,
        req.root_explicit,
        master.as_ref(),
    );
    let root = req.root_explicit.then_some(req.root);
    let model = conf
        .as_ref()
        .map(|c| {
            let mut m = nginx::listen::model(c, version.version);
            let modules = nginx::directives::modules(c, version.program.as_ref(), root);
            let users = nginx::users::read(req.root);
            nginx::directives::judge(&mut m, c, modules.as_deref(), users.as_ref());
            m
        })
        .unwrap_or_default();
    NginxState::Read(Box::new(NginxRead {
        main,
        how,
        notes,
        conf,
        model,
        version,
    }))
}
