//! Which configuration nginx runs with. In order: the running master's own command line
//! (found through the listening sockets it holds), what the nginx binary says with `-V`,
//! then /etc/nginx/nginx.conf. The first that exists under the root wins.

use super::super::sockets::Owners;
use super::super::Listeners;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A configuration path and how it was found, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub how: String,
}

/// The nginx master holding one of these listeners, if any: its pid and command line.
pub fn master(listeners: &Listeners) -> Option<(u32, String)> {
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
    pids.into_iter().find_map(|pid| {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let title = String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim()
            .to_string();
        title.contains("master process").then_some((pid, title))
    })
}

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

fn ask_binary(binary: &Path) -> Option<PathBuf> {
    let out = Command::new(binary).arg("-V").output().ok()?;
    conf_from_v(&String::from_utf8_lossy(&out.stderr))
}

/// The configuration to read, or the places that were looked at.
pub fn find(
    root: &Path,
    use_running: bool,
    listeners: Option<&Listeners>,
) -> Result<Found, String> {
    let mut looked = Vec::new();
    if use_running {
        if let Some((pid, title)) = listeners.and_then(master) {
            let (conf, prefix) = conf_from_title(&title);
            let exe = PathBuf::from(format!("/proc/{pid}/exe"));
            let path = match conf {
                Some(c) if c.starts_with('/') => Some(PathBuf::from(c)),
                Some(c) => prefix
                    .map(|p| Path::new(&p).join(&c))
                    .or_else(|| ask_binary(&exe).and_then(|v| v.parent().map(|d| d.join(&c)))),
                None => ask_binary(&exe),
            };
            if let Some(p) = path {
                if exists_under(root, &p) {
                    return Ok(Found {
                        how: format!("the running nginx master (pid {pid}) uses it"),
                        path: p,
                    });
                }
                looked.push(format!("{} (nginx master pid {pid})", p.display()));
            }
        }
    }
    if let Some(binary) = which("nginx") {
        if let Some(p) = ask_binary(&binary) {
            if exists_under(root, &p) {
                return Ok(Found {
                    how: format!("`{} -V` names it", binary.display()),
                    path: p,
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
        });
    }
    looked.push(default.display().to_string());
    Err(format!(
        "no nginx configuration found (looked for {}{})",
        looked.join(", "),
        if root == Path::new("/") {
            String::new()
        } else {
            format!(" under {}", root.display())
        }
    ))
}

/// The binary a running process was started from.
pub fn binary(pid: u32) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .with_context(|| format!("finding the binary of nginx pid {pid}"))
}

/// The first `name` in PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
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
pub fn systemd_unit(pid: u32) -> Option<String> {
    if !Path::new("/run/systemd/system").is_dir() {
        return None;
    }
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    cg.lines()
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
