//! The command line (README; the man pages are rendered from it). clap parses into these low-level structs; `Select::resolve`
//! turns the host-selection flags into strong types once, so the rest of the program
//! never sees strings from the command line.

use crate::host::netns::Target;
use crate::host::nginx::versions::Version;
use crate::host::LiveSource;
use crate::host::NginxWant;
use crate::kversion::KernelVersion;
use crate::profile::Severity;
use crate::report::style::ColorChoice;
use crate::report::text::Verbosity;
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "tuneguard",
    version,
    about = "Audit and fix the Linux and nginx settings that decide how a server accepts, keeps and closes TCP connections",
    propagate_version = true
)]
pub struct Cli {
    /// When to color the output.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub color: ColorArg,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compare this host with a profile and say what is wrong, worst first.
    Audit {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        talk: Talk,
        /// The report's format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Exit 1 when a finding is at or above this severity.
        #[arg(long, value_enum, default_value = "error")]
        fail_on: FailOn,
        /// Write the report to FILE instead of stdout, atomically: a temp file in FILE's
        /// directory, renamed over FILE (for node_exporter's textfile collector).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Bring the host to the profile, all or nothing: live values, persisted files, nginx.
    Apply {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        apply: ApplyFlags,
        /// The plan's and the outcome's format.
        #[arg(long, value_enum, default_value = "text")]
        format: PlanFormat,
    },
    /// Write what audit and observe read from this host into a new directory or a
    /// .tar.gz, for an audit elsewhere (`audit --capture DIR|FILE.tar.gz`): no private
    /// keys, no certificates.
    Capture {
        /// The directory to write (made 0700, or an empty directory of root's), or, for a
        /// name ending in .tar.gz or .tgz, a new archive file (mode 0600) holding that
        /// directory; an existing file is never replaced.
        #[arg(short = 'o', long = "output", value_name = "DIR|FILE.tar.gz")]
        output: PathBuf,
        #[command(flatten)]
        select: Select,
    },
    /// Undo a committed apply (or rollback), refusing if what it wrote changed since.
    Rollback {
        /// The transaction id, as `tuneguard history` lists it.
        id: Option<String>,
        /// The most recent committed apply not yet rolled back.
        #[arg(long, conflicts_with = "id")]
        last: bool,
        /// Roll back even though a value or file changed since the transaction.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        confirm: Confirm,
        /// Where the journals and the lock live (the --state-dir apply was given).
        #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// List past transactions: applies, rollbacks, their state.
    History {
        /// The list's format.
        #[arg(long, value_enum, default_value = "text")]
        format: PlanFormat,
        /// Where the journals and the lock live (the --state-dir apply was given).
        #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Undo a transaction a crash interrupted (every other apply refuses until then).
    Recover {
        #[command(flatten)]
        confirm: Confirm,
        /// Where the journals and the lock live (the --state-dir apply was given).
        #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// What a setting does, what goes wrong when it is wrong, and the evidence.
    Explain {
        /// A key (net.core.somaxconn) or `all`.
        key: String,
        /// The page's format.
        #[arg(long, value_enum, default_value = "text")]
        format: ExplainFormat,
    },
    /// List, show and validate profiles.
    Profiles {
        #[command(subcommand)]
        action: ProfilesAction,
        /// Read site profiles under DIR/etc/tuneguard/profiles.d.
        #[arg(long, global = true, value_name = "DIR", default_value = "/")]
        root: PathBuf,
    },
    /// The kernel's runtime evidence (counters, listeners, CLOSE_WAIT, stuck queues,
    /// connections to ourselves) and what it means, from two samples.
    Observe {
        #[command(flatten)]
        select: Select,
        /// Seconds between the two samples (rates, queues that do not move).
        #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_interval)]
        interval: f64,
        /// One sample: counters since the namespace started and a socket census, no
        /// rates (what a captured --proc tree gives anyway).
        #[arg(long)]
        once: bool,
        /// Look only at sockets in these states, as `ss state` names them (repeatable:
        /// established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, close-wait,
        /// last-ack, listening, closing). Default: all.
        #[arg(long = "state", value_name = "STATE", value_parser = parse_state)]
        states: Vec<u8>,
        /// Do not name the processes owning sockets (skips the /proc/*/fd scan, which
        /// costs about 1-3 us per open file on the host).
        #[arg(long)]
        no_owners: bool,
        #[command(flatten)]
        talk: Talk,
        /// The report's format.
        #[arg(long, value_enum, default_value = "text")]
        format: ObserveFormat,
        /// Exit 1 when a diagnosis is at or above this severity.
        #[arg(long, value_enum, default_value = "error")]
        fail_on: FailOn,
        /// Write the report to FILE instead of stdout, atomically: a temp file in FILE's
        /// directory, renamed over FILE (for node_exporter's textfile collector).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Man pages and shell completions, from this command line's own definition (for
    /// packagers: scripts/release).
    #[command(hide = true)]
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
}

#[derive(Subcommand, Debug)]
pub enum Generate {
    /// Print the man page NAME (`tuneguard`, `tuneguard-audit`, ...), or without NAME the
    /// names of every page, one a line.
    Man {
        /// The page, as listed without NAME (a trailing `.1` is accepted).
        name: Option<String>,
    },
    /// Print the completion script for SHELL.
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionShell {
    /// For /usr/share/bash-completion/completions/tuneguard.
    Bash,
    /// For /usr/share/zsh/vendor-completions/_tuneguard.
    Zsh,
    /// For /usr/share/fish/vendor_completions.d/tuneguard.fish.
    Fish,
}

/// How much a text report says: audit and observe.
#[derive(Args, Debug, Clone, Copy)]
pub struct Talk {
    /// Print only what fails (text format).
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Explain each finding (text format).
    #[arg(short, long)]
    pub verbose: bool,
}

impl Talk {
    pub fn verbosity(self) -> Verbosity {
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        }
    }
}

/// rollback's and recover's look-first and ask-first flags, as apply's.
#[derive(Args, Debug, Clone, Copy)]
pub struct Confirm {
    /// Show what would be restored (a table and a diff per file) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
}

fn parse_state(s: &str) -> Result<u8, String> {
    crate::host::sockets::state_by_name(s).ok_or_else(|| {
        format!("`{s}` is not a TCP state (established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, close-wait, last-ack, listening, closing)")
    })
}

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 3600.0 => Ok(x),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 3600 (e.g. 2 or 0.5)"
        )),
    }
}

#[derive(Subcommand, Debug)]
pub enum ProfilesAction {
    /// Every known profile: built-ins and site profiles.
    List,
    /// A profile's file and the rules it resolves to after `extends`.
    Show {
        /// A built-in or site profile, as `tuneguard profiles list` names them.
        name: String,
    },
    /// Check a profile file without a host; exit 2 with file:line:col on error.
    Validate {
        /// The profile file (YAML).
        file: PathBuf,
    },
}

/// Which host and which profile, shared by audit, observe, apply and capture.
#[derive(Args, Debug, Clone)]
pub struct Select {
    /// Profile name or file; repeatable, later ones override earlier ones (default: baseline).
    #[arg(long = "profile", value_name = "NAME|FILE")]
    pub profiles: Vec<String>,
    /// nginx's main config file (default: the running master's, `nginx -V`'s, or
    /// /etc/nginx/nginx.conf), read under --root.
    #[arg(long, value_name = "FILE")]
    pub nginx_conf: Option<PathBuf>,
    /// Read nginx's configuration from the output of `nginx -T` instead of its files.
    #[arg(long, value_name = "FILE", conflicts_with = "nginx_conf")]
    pub nginx_dump: Option<PathBuf>,
    /// Skip nginx and listener checks.
    #[arg(long, conflicts_with_all = ["nginx_conf", "nginx_dump"])]
    pub no_nginx: bool,
    /// Judge nginx's configuration by this nginx version (e.g. 1.25.0) instead of the
    /// one read from its binary (default: the running master's binary, nginx in PATH,
    /// /usr/sbin/nginx; under --root, the root's usr/sbin/nginx).
    #[arg(long, value_name = "X.Y.Z", conflicts_with = "no_nginx")]
    pub nginx_version: Option<String>,
    /// Check only one family: sysctl keys (live and persisted), or nginx and the
    /// namespace's listeners.
    #[arg(long, value_enum, conflicts_with = "no_nginx")]
    pub only: Option<Only>,
    /// Work on the network namespace NAME (under /run/netns) or PATH instead of this one.
    #[arg(long, value_name = "NAME|PATH", conflicts_with = "pid")]
    pub netns: Option<String>,
    /// Work on the network namespace of process PID.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Audit (or observe) every network namespace on the host once: the `ip netns` ones
    /// and every process's (containers, pods, services with PrivateNetwork=); needs root.
    #[arg(long, conflicts_with_all = ["netns", "pid", "proc"])]
    pub all_netns: bool,
    /// Read configuration files (site profiles, sysctl.d, nginx) under DIR.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Read live values from a captured proc tree (DIR/sys/net/...) instead of the
    /// kernel; `none` audits only what the files under --root persist.
    #[arg(long, value_name = "DIR|none", conflicts_with_all = ["netns", "pid"])]
    pub proc: Option<PathBuf>,
    /// The kernel version to assume where none can be read (`--proc none`), e.g. 6.1.
    #[arg(long, value_name = "VERSION")]
    pub kernel: Option<String>,
    /// Read the host from a directory or a .tar.gz `tuneguard capture -o` wrote, instead
    /// of this machine: its proc tree, its files and what the kernel told at capture
    /// time. An archive is hostile input: extracted by strict rules (docs/capture.md)
    /// into a private temporary directory, removed when the command ends.
    #[arg(long, value_name = "DIR|FILE.tar.gz", conflicts_with_all = ["netns", "pid", "proc", "all_netns", "nginx_conf", "nginx_dump", "kernel"])]
    pub capture: Option<PathBuf>,
    /// Where apply keeps its journals and lock (default /var/lib/tuneguard; rollback,
    /// history and recover read them there).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// The selection in strong types.
pub struct Selected {
    pub profiles: Vec<String>,
    pub netns: Option<Target>,
    pub live: LiveSource,
    pub kernel: Option<KernelVersion>,
    pub root: PathBuf,
    pub root_explicit: bool,
    pub nginx: NginxWant,
    /// `--nginx-version`.
    pub nginx_version: Option<Version>,
    /// Check sysctl keys (live and persisted).
    pub sysctl: bool,
    /// Journals and the lock (apply).
    pub state_dir: PathBuf,
    /// `--all-netns`: every namespace on the host, each entered on a thread of its own.
    pub all_netns: bool,
    /// `--capture DIR`: what the kernel told at capture time (manifest.json).
    pub capture: Option<crate::host::capture::Manifest>,
    /// `--capture FILE.tar.gz`: the private directory it was extracted into, removed
    /// when the selection is dropped (the command's end, an error included).
    pub extracted: Option<std::sync::Arc<crate::safety::archive::Extracted>>,
}

impl Select {
    pub fn resolve(&self) -> Result<Selected> {
        if let Some(n) = &self.netns {
            if n.is_empty() {
                bail!("--netns needs a name (see `ip netns list`) or a path");
            }
        }
        if let Some(dir) = &self.capture {
            return self.resolve_capture(dir);
        }
        check_root(&self.root)?;
        let cwd = || std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let nginx = match (&self.nginx_conf, &self.nginx_dump) {
            _ if self.no_nginx || self.only == Some(Only::Sysctl) => NginxWant::Off,
            // A relative --nginx-conf is relative to the current directory, as nginx's -c.
            (Some(c), _) if self.root == std::path::Path::new("/") => {
                NginxWant::Conf(cwd().join(c))
            }
            (Some(c), _) => NginxWant::Conf(std::path::Path::new("/").join(c)),
            (_, Some(d)) => NginxWant::Dump(d.clone()),
            (None, None) => NginxWant::Auto,
        };
        Ok(Selected {
            profiles: self.profiles.clone(),
            netns: match (&self.netns, self.pid) {
                (Some(n), _) => Some(Target::Netns(n.clone())),
                (None, Some(p)) => Some(Target::Pid(p)),
                (None, None) => None,
            },
            live: match &self.proc {
                Some(d) if d.as_os_str() == "none" => LiveSource::Offline,
                Some(d) => LiveSource::ProcDir(d.clone()),
                None => LiveSource::Kernel,
            },
            kernel: match &self.kernel {
                Some(k) => Some(KernelVersion::parse(k).ok_or_else(|| {
                    anyhow::anyhow!("--kernel {k}: expected MAJOR.MINOR, e.g. 6.1")
                })?),
                None => None,
            },
            root_explicit: self.root != std::path::Path::new("/"),
            root: self.root.clone(),
            nginx,
            nginx_version: match &self.nginx_version {
                Some(v) => Some(Version::parse(v).ok_or_else(|| {
                    anyhow::anyhow!("--nginx-version {v}: expected MAJOR.MINOR.PATCH, e.g. 1.22.1")
                })?),
                None => None,
            },
            sysctl: self.only != Some(Only::Nginx),
            all_netns: self.all_netns,
            capture: None,
            extracted: None,
            state_dir: self
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
        })
    }
}

impl Select {
    /// `--capture DIR`: the capture's proc tree, its root tree and its nginx dump, read as
    /// `--proc`, `--root` and `--nginx-dump` read them, and its manifest.
    /// `--capture FILE.tar.gz`: the same, from the archive extracted by
    /// `safety::archive`'s rules into a private directory that lives as long as the
    /// selection.
    fn resolve_capture(&self, dir: &std::path::Path) -> Result<Selected> {
        use crate::host::capture;
        if self.root != std::path::Path::new("/") {
            bail!("--capture holds its own root tree: give --capture or --root, not both");
        }
        if crate::safety::capture::is_archive(dir) && !dir.is_dir() {
            let x = crate::safety::archive::extract(dir)?;
            let mut sel = self.resolve_capture(&x.top).with_context(|| {
                format!(
                    "--capture {}: the archive holds no capture this tuneguard reads",
                    dir.display()
                )
            })?;
            sel.extracted = Some(std::sync::Arc::new(x));
            return Ok(sel);
        }
        let manifest = capture::Manifest::read(dir)?;
        let mut plain = self.clone();
        plain.capture = None;
        plain.proc = Some(dir.join(capture::PROC));
        plain.root = dir.join(capture::ROOT);
        if matches!(manifest.nginx, capture::Nginx::Read { error: None, .. }) {
            plain.nginx_dump = Some(dir.join(capture::NGINX_DUMP));
        }
        let mut sel = plain.resolve()?;
        sel.capture = Some(manifest);
        Ok(sel)
    }
}

/// A `--root` that is not a directory is a mistake (a typo in a CI job's deploy path),
/// never an empty tree: auditing built-in defaults there would pass and go green.
pub fn check_root(root: &std::path::Path) -> Result<()> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!(
            "--root {}: not a directory (give the directory that holds the tree's etc/, or / for this host)",
            root.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "--root {}: no such directory (give the directory that holds the tree's etc/, or / for this host)",
            root.display()
        ),
        Err(e) => bail!(
            "--root {}: {e} (give the directory that holds the tree's etc/, or / for this host)",
            root.display()
        ),
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// sysctl keys: live values and the persisted files.
    Sysctl,
    /// nginx's configuration and the namespace's listening sockets.
    Nginx,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorArg {
    /// On a terminal, unless NO_COLOR is set or TERM is dumb.
    Auto,
    /// Always, also into a pipe or file.
    Always,
    /// Never.
    Never,
}

impl From<ColorArg> for ColorChoice {
    fn from(c: ColorArg) -> Self {
        match c {
            ColorArg::Auto => ColorChoice::Auto,
            ColorArg::Always => ColorChoice::Always,
            ColorArg::Never => ColorChoice::Never,
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a person: worst first, colored on a terminal.
    Text,
    /// tuneguard.report/v1 (docs/json-schema.md), for scripts.
    Json,
    /// JUnit XML, one test case per check, for CI dashboards.
    Junit,
    /// The Prometheus text exposition format (docs/prometheus.md).
    Prometheus,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObserveFormat {
    /// For a person: diagnoses first, then the evidence, colored on a terminal.
    Text,
    /// tuneguard.observe/v1 (docs/json-schema.md), for scripts.
    Json,
    /// The Prometheus text exposition format (docs/prometheus.md).
    Prometheus,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFormat {
    /// For a person: tables and diffs, colored on a terminal.
    Text,
    /// One JSON document (docs/json-schema.md), for scripts and the Ansible module.
    Json,
}

/// Where journals and the lock live (docs/apply.md, "The state directory").
pub const DEFAULT_STATE_DIR: &str = "/var/lib/tuneguard";

/// What `apply` may do beyond the plan's own changes.
#[derive(Args, Debug, Clone)]
pub struct ApplyFlags {
    /// Print the plan (a table and a diff per file) and change nothing, not even the
    /// state directory.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Change live values only; leave the persisted sysctl files alone.
    #[arg(long)]
    pub no_persist: bool,
    /// Reload nginx after editing it (re-listens only sockets whose backlog= changed).
    #[arg(long, conflicts_with = "nginx_restart")]
    pub nginx_reload: bool,
    /// Restart nginx (every socket listens again with today's somaxconn).
    #[arg(long)]
    pub nginx_restart: bool,
    /// Reload or restart nginx with this command instead of systemd or signals. It is
    /// split into words as a shell would (quotes, backslashes) but run without a shell:
    /// `;`, `|`, `&`, redirections and `$` are refused (name a script for those).
    #[arg(long, value_name = "CMD", value_parser = CommandLine::parse)]
    pub nginx_cmd: Option<CommandLine>,
    /// The nginx binary for `nginx -t` and a start when no nginx master runs as root or
    /// its binary may not be run (default: the first nginx in PATH that may be). Refused
    /// unless owned by root and not writable by group or others, nor any directory above.
    #[arg(long, value_name = "FILE")]
    pub nginx_bin: Option<PathBuf>,
    /// Write host-wide keys (kernel.*, vm.*, fs.*: anything not under the target
    /// namespace's own /proc/sys/net) even when the target is a child network namespace,
    /// where they change the whole host.
    #[arg(long)]
    pub allow_global: bool,
}

/// A command as argv, split once here: never handed to a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine(pub Vec<String>);

impl CommandLine {
    /// Words as sh splits them: blanks separate, '...' is literal, "..." keeps blanks
    /// (backslash escapes `"`, `\`, `$`, `` ` ``), a backslash outside quotes escapes
    /// the next character. Unquoted shell syntax is refused rather than passed on as
    /// words the program would misread.
    pub fn parse(s: &str) -> std::result::Result<CommandLine, String> {
        let mut words = Vec::new();
        let mut word: Option<String> = None;
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                ' ' | '\t' | '\n' => {
                    if let Some(w) = word.take() {
                        words.push(w);
                    }
                }
                '\'' => {
                    let w = word.get_or_insert_with(String::new);
                    loop {
                        match chars.next() {
                            Some('\'') => break,
                            Some(c) => w.push(c),
                            None => return Err("an unclosed ' quote".into()),
                        }
                    }
                }
                '"' => {
                    let w = word.get_or_insert_with(String::new);
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                                Some(c) => {
                                    w.push('\\');
                                    w.push(c);
                                }
                                None => return Err("an unclosed \" quote".into()),
                            },
                            Some(c @ ('$' | '`')) => {
                                return Err(format!("`{c}` inside \"...\": the command is run without a shell, so nothing would expand it"))
                            }
                            Some(c) => w.push(c),
                            None => return Err("an unclosed \" quote".into()),
                        }
                    }
                }
                '\\' => match chars.next() {
                    Some(c) => word.get_or_insert_with(String::new).push(c),
                    None => return Err("a trailing backslash".into()),
                },
                ';' | '&' | '|' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' | '#' | '~' | '{' | '}' => {
                    return Err(format!(
                        "`{c}`: the command is run without a shell, so shell syntax cannot work; quote it if it is meant literally, or name a script"
                    ))
                }
                c => word.get_or_insert_with(String::new).push(c),
            }
        }
        if let Some(w) = word.take() {
            words.push(w);
        }
        if words.is_empty() {
            return Err("an empty command".into());
        }
        if let Some(why) = crate::safety::journal::shell(&words[0]) {
            return Err(why);
        }
        Ok(CommandLine(words))
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainFormat {
    /// For a terminal.
    Text,
    /// The page as docs/keys/ holds it.
    Markdown,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// Info, warnings and errors.
    Info,
    /// Warnings and errors.
    Warning,
    /// Errors only.
    Error,
}

impl From<FailOn> for Severity {
    fn from(f: FailOn) -> Self {
        match f {
            FailOn::Info => Severity::Info,
            FailOn::Warning => Severity::Warning,
            FailOn::Error => Severity::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CommandLine;

    #[test]
    fn nginx_cmd_is_split_once_and_shell_syntax_is_refused() {
        let w = |s: &str| CommandLine::parse(s).map(|c| c.0);
        assert_eq!(
            w("systemctl reload  nginx@blue.service").unwrap(),
            ["systemctl", "reload", "nginx@blue.service"]
        );
        assert_eq!(
            w(r#"/usr/sbin/nginx -g 'pid /run/a b.pid;' -p "/srv/x y" a\ b"#).unwrap(),
            [
                "/usr/sbin/nginx",
                "-g",
                "pid /run/a b.pid;",
                "-p",
                "/srv/x y",
                "a b"
            ]
        );
        for bad in [
            "nginx -s reload; touch /tmp/x",
            "a && b",
            "a | b",
            "a > /etc/x",
            "echo $(id)",
            "echo `id`",
            "echo \"$HOME\"",
            "sh -c 'touch /tmp/x'",
            "/usr/bin/env touch /tmp/x",
            "'unclosed",
            "",
            "   ",
        ] {
            assert!(w(bad).is_err(), "{bad}");
        }
    }
}
