//! What nginx checks of every directive as it reads it (`ngx_conf_handler`), beyond the
//! sockets: names no module of this nginx has, and the argument count and form of the
//! main context's core directives; and what it checks of the main context once the
//! files are read (`no "events" section`, from the events module's init_conf). Where
//! an unknown variable (variables.rs) falls among these is decided here too.
//!
//! A name is unknown only when it is nowhere in the bytes of the modules that nginx has:
//! its binary (the static modules) and the files its `load_module` lines name. nginx
//! keeps each directive's name as a NUL-terminated C string, and the linker may keep a
//! name only as the tail of a longer one ("root" in "chroot"), so `NAME\0` anywhere
//! counts as known: a name this finds nowhere is one no loaded module has, and one it
//! finds may still be unknown (not claimed). Without the binary's bytes (the version
//! given with --nginx-version, or assumed) nothing is judged unknown.

use super::binary::Program;
use super::listen::{ListenModel, Problem, When};
use super::users::Users;
use super::{Body, Config, Directive, FileId};
use std::path::{Path, PathBuf};

/// nginx's own blocks whose bodies nginx reads directive by directive. Others (types,
/// map, geo, ... and any third-party block) may read their bodies with handlers of
/// their own, where any word starts an entry.
pub(super) const CHECKED_BLOCKS: &[&str] = &[
    "events",
    "http",
    "server",
    "location",
    "upstream",
    "if",
    "limit_except",
    "stream",
    "mail",
];

/// How many arguments a directive takes and whether it opens a block.
#[derive(Clone, Copy)]
enum Args {
    /// NGX_CONF_NOARGS | NGX_CONF_BLOCK.
    Block,
    /// NGX_CONF_TAKE1 and NGX_CONF_FLAG.
    One,
    /// NGX_CONF_TAKE12.
    OneOrTwo,
}

/// The main context's core directives (nginx.c's ngx_core_commands, ngx_event.c's
/// events), with their flags in nginx 1.22: a name not here is not counted.
const CORE: &[(&str, Args)] = &[
    ("daemon", Args::One),
    ("master_process", Args::One),
    ("pid", Args::One),
    ("lock_file", Args::One),
    ("worker_processes", Args::One),
    ("user", Args::OneOrTwo),
    ("working_directory", Args::One),
    ("load_module", Args::One),
    ("events", Args::Block),
];

/// The bytes of every module this nginx has for the configuration: the binary's, and
/// each `load_module` file's (inside `root` when given). None when one cannot be read.
pub fn modules(
    conf: &Config,
    program: Option<&Program>,
    root: Option<&Path>,
) -> Option<Vec<Program>> {
    let program = program?;
    let mut out = vec![program.clone()];
    for d in conf.top() {
        if &*d.name != "load_module" {
            continue;
        }
        let [arg] = conf.args(d) else {
            return None;
        };
        let path = Path::new(conf.value(arg));
        let host = if path.is_absolute() {
            path.to_path_buf()
        } else {
            prefix(&program.bytes)?.join(path)
        };
        let real = match root {
            Some(r) => crate::host::sysctl_d::resolve_in_root(r, &host),
            None => host.clone(),
        };
        let (bytes, _) = crate::safety::binary::read_believed(&real, root).ok()?;
        out.push(Program {
            path: host,
            bytes: bytes.into(),
        });
    }
    Some(out)
}

/// nginx's prefix, against which `load_module` resolves a relative path: configure's
/// `--prefix=`, compiled into the binary, else configure's default.
fn prefix(binary: &[u8]) -> Option<PathBuf> {
    const TAG: &[u8] = b"--prefix=";
    let Some(at) = memchr::memmem::find(binary, TAG) else {
        return Some(PathBuf::from("/usr/local/nginx"));
    };
    let rest = &binary[at + TAG.len()..];
    let end = rest.iter().position(|&b| b == b' ' || b == 0)?;
    let p = std::str::from_utf8(&rest[..end]).ok()?;
    p.starts_with('/').then(|| PathBuf::from(p))
}

/// Which names some module holds as a C string: each name is looked for once (a
/// configuration repeats a few dozen names; a binary is a megabyte or more).
struct Names<'m> {
    modules: &'m [Program],
    seen: std::collections::HashMap<&'m str, bool>,
}

impl<'m> Names<'m> {
    fn known(&mut self, name: &'m str) -> bool {
        let modules = self.modules;
        *self.seen.entry(name).or_insert_with(|| {
            let mut needle = name.as_bytes().to_vec();
            if needle.contains(&0) {
                return true;
            }
            needle.push(0);
            modules
                .iter()
                .any(|m| memchr::memmem::find(&m.bytes, &needle).is_some())
        })
    }
}

/// Adds what nginx -t says first, when it is one of these: a directive error, or an
/// unknown variable at the end of the http{} or stream{} block that used it, replaces
/// the refusals the model found after it (nginx stops at the first) and the start
/// failures (it never starts); the missing events{} comes after every other refusal.
pub fn judge(
    m: &mut ListenModel,
    conf: &Config,
    modules: Option<&[Program]>,
    users: Option<&Users>,
) {
    let order = parse_order(conf);
    // Ranks in nginx's order: a directive's is twice its place, the end of a block's
    // one more than its last directive's.
    let place = |file: FileId, line: u32| {
        2 * order
            .iter()
            .position(|d| d.file == file && d.line >= line)
            .unwrap_or(order.len())
    };
    let end = |block: &Directive| {
        let at = order
            .iter()
            .position(|d| std::ptr::eq(*d, block))
            .unwrap_or(order.len());
        2 * (at + descendants(block)) + 1
    };
    let directive = first_error(conf, modules, users)
        .map(|(d, message)| (place(d.file, d.line), Some(d), message));
    let variable = modules
        .and_then(|modules| super::variables::first_unknown(conf, modules))
        .map(|(block, message)| (end(block), None, message));
    let first = match (directive, variable) {
        (Some(d), Some(v)) => Some(if v.0 < d.0 { v } else { d }),
        (d, v) => d.or(v),
    };
    if let Some((at, d, message)) = first {
        m.problems
            .retain(|p| p.when == When::Test && place(p.file, p.line) <= at);
        if m.problems.is_empty() {
            match d {
                Some(d) => super::listen::problem(m, d, message),
                None => m.problems.push(placeless(conf, message)),
            }
        }
        return;
    }
    let refused = m.problems.iter().any(|p| p.when == When::Test);
    if !refused && !conf.top().iter().any(|d| &*d.name == "events") {
        m.problems.retain(|p| p.when == When::Test);
        m.problems.push(placeless(
            conf,
            "no \"events\" section in configuration".into(),
        ));
    }
}

/// A refusal nginx names no file or line for (it logs it without the configuration's
/// place): the main file's, line 0.
fn placeless(conf: &Config, message: String) -> Problem {
    Problem {
        when: When::Test,
        message,
        file: conf.main,
        line: 0,
        listens: Vec::new(),
        hint: None,
    }
}

/// Why nginx refuses, and what to do, for the refusals this file predicts (by nginx's
/// words, which are the problem's message).
pub fn explain(message: &str) -> Option<(&'static str, &'static str)> {
    const CONF: &str = "nginx checks every directive as it reads it (ngx_conf_handler): its name \
must be one a module of this nginx has (its binary's, or a load_module file's), and the main \
context's core directives take a fixed number of arguments; once every file is read, the main \
context must hold an events block. nginx -t stops at the first such error.";
    const USER: &str = "nginx started as root looks the user and group of the user directive up \
as it reads it (getpwnam, getgrnam; the group is the user's name when none is given) and stops \
when one does not exist; tuneguard judges this only when nsswitch.conf sends passwd and group to \
the files alone.";
    let found = if message.starts_with("unknown directive") {
        (CONF, "correct or remove the directive; one of a module this nginx lacks needs that module's load_module line first")
    } else if message.starts_with("invalid number of arguments")
        || message.starts_with("directive \"")
    {
        (
            CONF,
            "give the directive the arguments and form nginx's documentation lists",
        )
    } else if message.starts_with("no \"events\" section") {
        (
            CONF,
            "add an events block to the main context (`events {}` at the least)",
        )
    } else if message.starts_with("getpwnam") || message.starts_with("getgrnam") {
        (
            USER,
            "create the user or group, or name one that exists in the user directive",
        )
    } else if message == "\"user\" directive is duplicate" {
        (USER, "keep one user directive")
    } else {
        return super::variables::explain(message);
    };
    Some(found)
}

/// Every directive, in the order nginx reads them.
fn parse_order(conf: &Config) -> Vec<&Directive> {
    fn go<'c>(dirs: Vec<&'c Directive>, out: &mut Vec<&'c Directive>) {
        for d in dirs {
            out.push(d);
            go(d.children(), out);
        }
    }
    let mut out = Vec::new();
    go(conf.top(), &mut out);
    out
}

/// How many directives a block holds, at every depth.
fn descendants(d: &Directive) -> usize {
    d.children().iter().map(|c| 1 + descendants(c)).sum()
}

/// The first directive nginx stops at for its name, form or argument count, and what
/// it says.
fn first_error<'c>(
    conf: &'c Config,
    modules: Option<&'c [Program]>,
    users: Option<&Users>,
) -> Option<(&'c Directive, String)> {
    struct Walk<'c, 'u> {
        conf: &'c Config,
        names: Option<Names<'c>>,
        users: Option<&'u Users>,
        user_seen: bool,
    }
    fn go<'c>(
        w: &mut Walk<'c, '_>,
        dirs: Vec<&'c Directive>,
        main: bool,
    ) -> Option<(&'c Directive, String)> {
        for d in dirs {
            let name = &*d.name;
            if w.names.as_mut().is_some_and(|n| !n.known(name)) {
                return Some((d, format!("unknown directive \"{name}\"")));
            }
            if main {
                if let Some(message) = core_form(w.conf, d) {
                    return Some((d, message));
                }
                if name == "user" {
                    if let Some(message) = user(w, d) {
                        return Some((d, message));
                    }
                }
            }
            if matches!(d.body, Body::Block(_)) && CHECKED_BLOCKS.contains(&name) {
                if let Some(e) = go(w, d.children(), false) {
                    return Some(e);
                }
            }
        }
        None
    }
    /// ngx_set_user, as nginx started as root runs it (not as root, nginx ignores
    /// `user` with a warning).
    fn user(w: &mut Walk<'_, '_>, d: &Directive) -> Option<String> {
        if std::mem::replace(&mut w.user_seen, true) {
            return Some("\"user\" directive is duplicate".into());
        }
        let users = w.users?;
        let args = w.conf.values(d);
        let name = args[0];
        if !users.users.contains(name) {
            return Some(format!("getpwnam(\"{name}\") failed"));
        }
        let group = args.get(1).copied().unwrap_or(name);
        (!users.groups.contains(group)).then(|| format!("getgrnam(\"{group}\") failed"))
    }
    let mut w = Walk {
        conf,
        names: modules.map(|modules| Names {
            modules,
            seen: std::collections::HashMap::new(),
        }),
        users,
        user_seen: false,
    };
    go(&mut w, conf.top(), true)
}

/// A core directive of the main context with the wrong form or argument count.
fn core_form(conf: &Config, d: &Directive) -> Option<String> {
    let name = &*d.name;
    let (_, args) = CORE.iter().find(|(n, _)| *n == name)?;
    let block = matches!(d.body, Body::Block(_));
    let n = conf.args(d).len();
    match args {
        Args::Block if !block => Some(format!("directive \"{name}\" has no opening \"{{\"")),
        Args::One | Args::OneOrTwo if block => {
            Some(format!("directive \"{name}\" is not terminated by \";\""))
        }
        Args::Block if n != 0 => Some(count(name)),
        Args::One if n != 1 => Some(count(name)),
        Args::OneOrTwo if !(1..=2).contains(&n) => Some(count(name)),
        _ => None,
    }
}

fn count(name: &str) -> String {
    format!("invalid number of arguments in \"{name}\" directive")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::nginx::{listen, load_files, versions::NEWEST};

    fn judged(text: &str, names: &[&str]) -> Vec<(String, u32)> {
        let conf = load_files(
            [(PathBuf::from("/n.conf"), text.as_bytes().to_vec())].into(),
            Path::new("/n.conf"),
        )
        .unwrap();
        let mut m = listen::model(&conf, NEWEST);
        let bytes: Vec<u8> = names
            .iter()
            .flat_map(|n| [n.as_bytes(), b"\0"].concat())
            .collect();
        let modules = [Program {
            path: PathBuf::from("/nginx"),
            bytes: bytes.into(),
        }];
        let users = Users {
            users: ["www-data".to_string()].into(),
            groups: ["www-data".to_string(), "nogroup".to_string()].into(),
        };
        judge(
            &mut m,
            &conf,
            (!names.is_empty()).then_some(&modules[..]),
            Some(&users),
        );
        m.problems
            .iter()
            .map(|p| (p.message.clone(), p.line))
            .collect()
    }

    #[test]
    fn unknown_names_count_and_the_missing_events() {
        let all = [
            "events", "http", "server", "listen", "user", "types", "chroot",
        ];
        assert_eq!(
            judged("events {}\nhttp { server { listen 80; } }", &all),
            []
        );
        // "root" only as the tail of "chroot" still counts as known.
        assert_eq!(judged("events {}\nhttp { root /x; }", &all), []);
        assert_eq!(
            judged("events {}\nhttp {\nserver { lisen 80; } }", &all),
            [("unknown directive \"lisen\"".to_string(), 3)]
        );
        // The bodies of types{} (and of blocks nginx does not have) are not directives.
        assert_eq!(judged("events {}\nhttp { types { a/b c; } }", &all), []);
        // Without the binary's bytes, no name is judged.
        assert_eq!(judged("events {}\nhttp { lisen 80; }", &[]), []);
        assert_eq!(
            judged("user;\nevents {}", &all),
            [(
                "invalid number of arguments in \"user\" directive".to_string(),
                1
            )]
        );
        assert_eq!(judged("user www-data nogroup;\nevents {}", &all), []);
        assert_eq!(
            judged("user nobody;\nevents {}", &all),
            [("getpwnam(\"nobody\") failed".to_string(), 1)]
        );
        assert_eq!(judged("user www-data;\nevents {}", &all), []);
        assert_eq!(
            judged("user www-data staff;\nevents {}", &all),
            [("getgrnam(\"staff\") failed".to_string(), 1)]
        );
        assert_eq!(
            judged("user www-data;\nuser www-data;\nevents {}", &all),
            [("\"user\" directive is duplicate".to_string(), 2)]
        );
        assert_eq!(
            judged("events;", &all),
            [("directive \"events\" has no opening \"{\"".to_string(), 1)]
        );
        assert_eq!(
            judged("http {}", &all),
            [("no \"events\" section in configuration".to_string(), 0)]
        );
        // A refusal while reading comes first.
        assert_eq!(
            judged("http { server { listen 80 bogus; } }", &all).len(),
            1
        );
    }

    #[test]
    fn an_unknown_variable_comes_at_the_end_of_its_block() {
        let all = ["events", "http", "server", "listen", "return", "stream"];
        let unknown = || vec![("unknown \"nope\" variable".to_string(), 0)];
        assert_eq!(
            judged("events {}\nhttp { server { return 200 $nope; } }", &all),
            unknown()
        );
        // Before the missing events{}, and before what follows the block.
        assert_eq!(
            judged("http { server { return 200 $nope; } }", &all),
            unknown()
        );
        assert_eq!(
            judged(
                "events {}\nhttp { server { return 200 $nope; } }\nstream {\nbogus; }",
                &all
            ),
            unknown()
        );
        // After what nginx refuses inside the block, wherever the variable is.
        assert_eq!(
            judged(
                "events {}\nhttp { server { return 200 $nope; }\nbogus; }",
                &all
            ),
            [("unknown directive \"bogus\"".to_string(), 3)]
        );
        assert_eq!(
            judged(
                "events {}\nhttp { server { return 200 $nope;\nlisten 80 bogus; } }",
                &all
            )[0]
            .1,
            3
        );
        // Without the binary's bytes, nothing is judged.
        assert_eq!(
            judged("events {}\nhttp { server { return 200 $nope; } }", &[]),
            []
        );
    }
}
