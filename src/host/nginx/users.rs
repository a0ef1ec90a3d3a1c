//! The users and groups nginx's `user` directive names, as glibc would find them: nginx
//! (started as root) calls getpwnam and getgrnam while it reads the directive and stops
//! with `getpwnam("NAME") failed` when there is none. Only a host whose nsswitch.conf
//! sends passwd and group to `files` alone is judged: another source (systemd's
//! synthesized and dynamic users, LDAP, NIS), an action, or no line at all (glibc's
//! default then depends on its release) may know a user /etc/passwd lacks, and then
//! nothing is judged. Files are read inside the root (safety::tree, capped).

use crate::safety::tree::{Cap, Confine, Tree};
use std::collections::HashSet;
use std::path::Path;

/// The names in the root's /etc/passwd and /etc/group.
#[derive(Debug, Clone, Default)]
pub struct Users {
    pub users: HashSet<String>,
    pub groups: HashSet<String>,
}

/// The users and groups of the host under `root`, when glibc would look in its files
/// alone; None otherwise.
pub fn read(root: &Path) -> Option<Users> {
    let tree = Tree::open(root, Confine::InRoot).ok()?;
    let read = |p: &str| {
        tree.read(Path::new(p), Cap::Config)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let nss = read("/etc/nsswitch.conf")?;
    if !(files_only(&nss, "passwd") && files_only(&nss, "group")) {
        return None;
    }
    Some(Users {
        users: names(&read("/etc/passwd")?),
        groups: names(&read("/etc/group")?),
    })
}

/// Whether nsswitch.conf's line for `db` is exactly `files` (the last line counts, as
/// glibc reads it).
fn files_only(nss: &str, db: &str) -> bool {
    let mut last = None;
    for line in nss.lines() {
        let line = line.split('#').next().unwrap_or("");
        if let Some((name, services)) = line.split_once(':') {
            if name.trim() == db {
                last = Some(services.split_whitespace().collect::<Vec<_>>());
            }
        }
    }
    last.is_some_and(|s| s == ["files"])
}

/// The first field of every line: more than glibc's parser accepts (it skips malformed
/// entries), so a name counts as present when in doubt.
fn names(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|l| l.trim_start().split(':').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_alone_is_judged() {
        assert!(files_only("passwd: files\ngroup: files\n", "passwd"));
        assert!(!files_only("passwd: files systemd\n", "passwd"));
        assert!(!files_only(
            "passwd: files [NOTFOUND=return] ldap\n",
            "passwd"
        ));
        assert!(!files_only("hosts: files\n", "passwd"));
        assert!(files_only(
            "passwd: compat\npasswd: files # last\n",
            "passwd"
        ));
        let n = names("root:x:0:0::/root:/bin/sh\n\n  www-data:x:33:\n+nis\n");
        assert!(n.contains("root") && n.contains("www-data") && n.contains("+nis"));
    }
}
