//! Which configuration nginx runs with. In order: the running master's own command line
//! (found through the listening sockets it holds), what the nginx binary says with `-V`,
//! then /etc/nginx/nginx.conf. The first that exists under the root wins. Only a master
//! running as root is believed, and a binary is run only when safety::exec allows it;
//! what was passed over is said in `Found::how` (or in the not-found text).

use super::super::sockets::Owners;
use super::super::Listeners;
use crate::safety::exec::{self, Process, Program};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A configuration path and how it was found, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub how: String,
    /// What was passed over on the way and why (a master not running as root, a binary
    /// that may not be run), one sentence each.
    pub notes: Vec<String>,
}

/// The nginx masters holding the listeners: the first one that runs as root, and why
/// each other one claiming to be a master was ignored.
#[derive(Debug, Default)]
pub struct Masters {
    pub trusted: Option<Process>,
    pub ignored: Vec<String>,
}

/// Reads the processes named `nginx` that hold listeners. Workers (not "master process"
/// in their title) are passed over without a word; a "master" not running as root is
/// ignored with the reason (safety::exec).
pub fn masters(listeners: &Listeners) -> Masters {
    let owners: &Owners = &listeners.owners;
    let mut pids: Vec<u32> = owners
        .by_inode
        .values()
        .flatten()
        .filter(|o| o.name == "nginx")
        .map(|o| o.pid)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    let mut out = Masters::default();
    for pid in pids {
        let Ok(p) = exec::read_process(pid) else {
            continue;
        };
        if !p.title.contains("master process") {
            continue;
        }
        match exec::believed(&p, MASTER) {
            Ok(()) if out.trusted.is_none() => out.trusted = Some(p),
            Ok(()) => {}
            Err(why) => out.ignored.push(why),
        }
    }
    out
}

/// How the notes name the master.
pub const MASTER: &str = "nginx master";

/// `-c` and `-p` from a master's title ("nginx: master process /usr/sbin/nginx -c FILE").
/// Returns the conf path if the title names one.
pub fn conf_from_title(title: &str) -> (Option<String>, Option<String>) {
    let words: Vec<&str> = title
        .split_once("master process")
        .map_or(title, |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let after = |flag: &str| {
        words
            .iter()
            .position(|w| *w == flag)
            .and_then(|i| words.get(i + 1))
            .map(|s| s.to_string())
    };
    (after("-c"), after("-p"))
}

/// `--prefix=` and `--conf-path=` from `nginx -V` (printed on stderr).
pub fn conf_from_v(output: &str) -> Option<PathBuf> {
    let arg = |name: &str| {
        output
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(|v| v.trim_matches('\'').to_string())
    };
    let prefix = arg("--prefix=").unwrap_or_else(|| "/usr/local/nginx".into());
    let conf = arg("--conf-path=").unwrap_or_else(|| "conf/nginx.conf".into());
    Some(Path::new(&prefix).join(conf))
}

fn exists_under(root: &Path, path: &Path) -> bool {
    root.join(path.strip_prefix("/").unwrap_or(path)).exists()
}

/// `--conf-path` from `PROGRAM -V`, a program safety::exec allowed.
fn ask_binary(binary: &Program) -> Option<PathBuf> {
    let out = Command::new(&binary.path).arg("-V").output().ok()?;
    conf_from_v(&String::from_utf8_lossy(&out.stderr))
}

/// `-V` of the running master's binary when it may be run; otherwise a note says why.
fn ask_master(p: &Process, notes: &mut Vec<String>) -> Option<PathBuf> {
    match exec::program_of(p, MASTER) {
        Ok(prog) => {
            notes.extend(exec::differs(&prog, p, MASTER));
            ask_binary(&prog)
        }
        Err(why) => {
            notes.push(why);
            None
        }
    }
}

/// `text`, followed by what was passed over on the way and why.
fn with_notes(text: String, notes: &[String]) -> String {
    if notes.is_empty() {
        text
    } else {
        format!("{text} ({})", notes.join("; "))
    }
}

/// The configuration to read, or the places that were looked at.
pub fn find(
    root: &Path,
    use_running: bool,
    listeners: Option<&Listeners>,
) -> Result<Found, String> {
    let mut looked = Vec::new();
    let mut notes = Vec::new();
    if use_running {
        let found = listeners.map(masters).unwrap_or_default();
        notes.extend(found.ignored);
        if let Some(p) = &found.trusted {
            let pid = p.pid;
            let (conf, prefix) = conf_from_title(&p.title);
            let path = match conf {
                Some(c) if c.starts_with('/') => Some(PathBuf::from(c)),
                Some(c) => prefix.map(|p| Path::new(&p).join(&c)).or_else(|| {
                    ask_master(p, &mut notes).and_then(|v| v.parent().map(|d| d.join(&c)))
                }),
                None => ask_master(p, &mut notes),
            };
            if let Some(path) = path {
                if exists_under(root, &path) {
                    return Ok(Found {
                        how: format!("the running nginx master (pid {pid}) uses it"),
                        path,
                        notes,
                    });
                }
                looked.push(format!("{} (nginx master pid {pid})", path.display()));
            }
        }
    }
    let searched = exec::in_path("nginx");
    notes.extend(searched.notes("nginx"));
    if let Some(binary) = &searched.found {
        if let Some(p) = ask_binary(binary) {
            if exists_under(root, &p) {
                return Ok(Found {
                    how: format!("`{} -V` names it", binary.path.display()),
                    path: p,
                    notes,
                });
            }
            looked.push(format!("{} (nginx -V)", p.display()));
        }
    }
    let default = PathBuf::from("/etc/nginx/nginx.conf");
    if exists_under(root, &default) {
        return Ok(Found {
            path: default,
            how: "the usual path".into(),
            notes,
        });
    }
    looked.push(default.display().to_string());
    Err(with_notes(
        format!(
            "no nginx configuration found (looked for {}{})",
            looked.join(", "),
            if root == Path::new("/") {
                String::new()
            } else {
                format!(" under {}", root.display())
            }
        ),
        &notes,
    ))
}

/// A master's arguments from its title ("nginx: master process /usr/sbin/nginx -p P -c
/// C -g daemon on;"): nginx overwrites argv with the title, so `-g`'s value is the words
/// up to the next flag.
pub fn master_args(title: &str) -> Vec<String> {
    let words: Vec<&str> = title
        .split_once("master process")
        .map_or(title, |(_, r)| r)
        .split_whitespace()
        .skip(1)
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        out.push(w.to_string());
        i += 1;
        if w == "-g" {
            let mut value = Vec::new();
            while i < words.len() && !words[i].starts_with('-') {
                value.push(words[i]);
                i += 1;
            }
            out.push(value.join(" "));
        }
    }
    out
}

/// The systemd unit of a process, when systemd runs the host and nginx is a service.
pub fn systemd_unit(p: &Process) -> Option<String> {
    if !Path::new("/run/systemd/system").is_dir() {
        return None;
    }
    p.cgroup
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .find(|u| u.ends_with(".service"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_titles() {
        assert_eq!(
            master_args("nginx: master process /usr/sbin/nginx -p /srv -c /srv/n.conf -g daemon on; worker_processes 2; -e stderr"),
            ["-p", "/srv", "-c", "/srv/n.conf", "-g", "daemon on; worker_processes 2;", "-e", "stderr"]
        );
    }

    #[test]
    fn titles_and_v_output() {
        assert_eq!(
            conf_from_title(
                "nginx: master process /usr/sbin/nginx -p /srv/n -c conf/x.conf -g daemon on;"
            ),
            (Some("conf/x.conf".into()), Some("/srv/n".into()))
        );
        assert_eq!(conf_from_title("nginx: master process nginx"), (None, None));
        let v = "nginx version: nginx/1.22.1\nconfigure arguments: --with-cc-opt='-g' --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --x";
        assert_eq!(conf_from_v(v), Some(PathBuf::from("/etc/nginx/nginx.conf")));
        assert_eq!(
            conf_from_v("configure arguments: --prefix=/opt/n"),
            Some(PathBuf::from("/opt/n/conf/nginx.conf"))
        );
    }
}
